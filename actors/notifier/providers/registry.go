// Package providers holds one file per notifier kind and the registry that
// lists them. The registry is the only list of kinds: configuration checks
// and construction both go through it.
package providers

import (
	"fmt"
	"log/slog"
	"net/http"

	"github.com/vigil-go/vigil/actors/notifier"
	"github.com/vigil-go/vigil/config"
)

// Deps are what providers need from the outside world.
type Deps struct {
	// HTTPClient is used by every HTTP-based provider (tests point it at
	// local servers).
	HTTPClient *http.Client
	// PageTitle and PageURL brand the messages.
	PageTitle, PageURL string
	Logger             *slog.Logger
}

// Kind is one notifier kind.
type Kind struct {
	// Name is the table name under [notify].
	Name string
	// Section reports whether the kind is configured, and its
	// reminders_only flag.
	Section func(n *config.Notify) (configured, remindersOnly bool)
	// New checks the section and builds the provider; problems name their
	// key path. Nil while the kind is not available in this build.
	New func(n *config.Notify, d Deps) (notifier.Provider, config.Errors)
}

// Registry lists every notifier kind in the original's dispatch order.
func Registry() []Kind {
	return []Kind{
		{Name: "email", Section: func(n *config.Notify) (bool, bool) { return n.Email != nil, n.Email != nil && n.Email.RemindersOnly }, New: newEmail},
		{Name: "twilio", Section: func(n *config.Notify) (bool, bool) { return n.Twilio != nil, n.Twilio != nil && n.Twilio.RemindersOnly }, New: newTwilio},
		{Name: "slack", Section: func(n *config.Notify) (bool, bool) { return n.Slack != nil, n.Slack != nil && n.Slack.RemindersOnly }, New: newSlack},
		{Name: "zulip", Section: func(n *config.Notify) (bool, bool) { return n.Zulip != nil, n.Zulip != nil && n.Zulip.RemindersOnly }, New: newZulip},
		{Name: "telegram", Section: func(n *config.Notify) (bool, bool) {
			return n.Telegram != nil, n.Telegram != nil && n.Telegram.RemindersOnly
		}, New: newTelegram},
		{Name: "pushover", Section: func(n *config.Notify) (bool, bool) {
			return n.Pushover != nil, n.Pushover != nil && n.Pushover.RemindersOnly
		}, New: newPushover},
		{Name: "gotify", Section: func(n *config.Notify) (bool, bool) { return n.Gotify != nil, n.Gotify != nil && n.Gotify.RemindersOnly }, New: newGotify},
		{Name: "xmpp", Section: func(n *config.Notify) (bool, bool) { return n.XMPP != nil, n.XMPP != nil && n.XMPP.RemindersOnly }, New: newXMPP},
		{Name: "matrix", Section: func(n *config.Notify) (bool, bool) { return n.Matrix != nil, n.Matrix != nil && n.Matrix.RemindersOnly }, New: newMatrix},
		{Name: "webex", Section: func(n *config.Notify) (bool, bool) { return n.Webex != nil, n.Webex != nil && n.Webex.RemindersOnly }, New: newWebex},
		{Name: "webhook", Section: func(n *config.Notify) (bool, bool) { return n.Webhook != nil, false }, New: newWebhook},
	}
}

// Built is a constructed provider with its delivery options.
type Built struct {
	Provider      notifier.Provider
	RemindersOnly bool
}

// Build constructs every configured notifier. Problems (bad sections) are
// returned all at once; notes list configured kinds this build cannot send
// to, which are ignored.
func Build(cfg *config.Config, d Deps) (built []Built, notes []string, problems config.Errors) {
	if cfg.Notify == nil {
		return nil, nil, nil
	}
	for _, k := range Registry() {
		configured, remindersOnly := k.Section(cfg.Notify)
		if !configured {
			continue
		}
		if k.New == nil {
			notes = append(notes, fmt.Sprintf("notify.%s: this notifier is not available in this version; the table is ignored", k.Name))
			continue
		}
		p, errs := k.New(cfg.Notify, d)
		if len(errs) > 0 {
			problems = append(problems, errs...)
			continue
		}
		built = append(built, Built{Provider: p, RemindersOnly: remindersOnly})
	}
	return built, notes, problems
}

// Check validates every configured notifier section without keeping the
// providers (used by `vigil check` and at start).
func Check(cfg *config.Config) ([]string, config.Errors) {
	_, notes, problems := Build(cfg, Deps{HTTPClient: http.DefaultClient, Logger: slog.New(slog.DiscardHandler)})
	return notes, problems
}
