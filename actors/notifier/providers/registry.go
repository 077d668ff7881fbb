// Package providers holds one file per notifier kind and the registry that
// lists them. Each file owns its [notify.<name>] table (a struct with toml
// tags and defaults, decoded by package config), the checks of its values
// and the provider it builds. The registry is the only list of kinds:
// loading, `vigil check`, construction and reload fingerprints all go
// through it.
//
// Adding a notifier is one new file and one line in Kinds:
//
//	// Foo is the [notify.foo] table.
//	type Foo struct {
//		URL   string `toml:"url,required,url"`
//		Token string `toml:"token,required,secret"`
//		Options
//	}
//
//	func (c *Foo) Check(r *config.Report) {
//		warnNotHTTP(r, "url", c.URL, "no message can be sent", false)
//	}
//
//	func (c *Foo) Build(d Deps) (notifier.Provider, config.Errors) {
//		return &foo{url: c.URL, token: c.Token, client: d.HTTPClient}, nil
//	}
//
// plus {Name: "foo", Section: func() Section { return new(Foo) }}.
package providers

import (
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"

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

// Section is one decoded [notify.<name>] table: a pointer to a struct with
// toml tags (see package config).
type Section interface {
	// Check warns about values the original accepts but that cannot work,
	// naming the key and why; such values still load and build.
	Check(r *config.Report)
	// Build makes the provider; problems name their key path.
	Build(d Deps) (notifier.Provider, config.Errors)
	options() Options
}

// Options are the delivery options of a notifier table.
type Options struct {
	// RemindersOnly restricts the notifier to reminders.
	RemindersOnly bool `toml:"reminders_only"`
}

func (o Options) options() Options { return o }

// Kind is one notifier kind: the name of its table under [notify] and a
// function returning a new section to decode that table into.
type Kind struct {
	Name    string
	Section func() Section
}

// Registry lists notifier kinds in dispatch order.
type Registry []Kind

// Kinds is the registry of every notifier kind, in the original's dispatch
// order.
func Kinds() Registry {
	return Registry{
		{Name: "email", Section: func() Section { return new(Email) }},
		{Name: "twilio", Section: func() Section { return new(Twilio) }},
		{Name: "slack", Section: func() Section { return new(Slack) }},
		{Name: "zulip", Section: func() Section { return new(Zulip) }},
		{Name: "telegram", Section: func() Section { return new(Telegram) }},
		{Name: "pushover", Section: func() Section { return new(Pushover) }},
		{Name: "gotify", Section: func() Section { return new(Gotify) }},
		{Name: "xmpp", Section: func() Section { return new(XMPP) }},
		{Name: "matrix", Section: func() Section { return new(Matrix) }},
		{Name: "webex", Section: func() Section { return new(Webex) }},
		{Name: "webhook", Section: func() Section { return new(Webhook) }},
	}
}

// Notifiers declares the tables of the registry to config.Load.
func (r Registry) Notifiers() []config.Notifier {
	out := make([]config.Notifier, len(r))
	for i, k := range r {
		out[i] = config.Notifier{Name: k.Name, New: func() any { return k.Section() }}
	}
	return out
}

// Built is a constructed provider with its delivery options.
type Built struct {
	Provider      notifier.Provider
	RemindersOnly bool
}

// Build constructs every configured notifier, in registry order. Problems
// (sections their provider refuses) are returned all at once.
func (r Registry) Build(cfg *config.Config, d Deps) (built []Built, problems config.Errors) {
	if cfg.Notify == nil {
		return nil, nil
	}
	for _, k := range r {
		v, ok := cfg.Notify.Notifiers[k.Name]
		if !ok {
			continue
		}
		s, ok := v.(Section)
		if !ok {
			problems = append(problems, config.Issue{Path: "notify." + k.Name, Message: fmt.Sprintf("internal error: a %T is not a notifier section", v)})
			continue
		}
		p, errs := s.Build(d)
		if len(errs) > 0 {
			problems = append(problems, errs...)
			continue
		}
		built = append(built, Built{Provider: p, RemindersOnly: s.options().RemindersOnly})
	}
	return built, problems
}

// Check builds every configured notifier without keeping it (used by
// `vigil check` and at start).
func (r Registry) Check(cfg *config.Config) config.Errors {
	_, problems := r.Build(cfg, Deps{HTTPClient: http.DefaultClient, Logger: slog.New(slog.DiscardHandler)})
	return problems
}

// warnEmpty warns when a value is blank: the original accepts it, but the
// notifier cannot work with it.
func warnEmpty(r *config.Report, key, value, lost string) {
	if strings.TrimSpace(value) == "" {
		r.Warn(key, "is empty: %s", lost)
	}
}

// warnNotHTTP warns when an HTTP notifier's URL (valid and normalised) is
// not http or https: the original accepts any URL there and fails when it
// posts. A secret URL is not quoted.
func warnNotHTTP(r *config.Report, key, value, lost string, secret bool) {
	u, err := url.Parse(value)
	switch {
	case err != nil || u.Scheme == "http" || u.Scheme == "https":
	case secret:
		r.Warn(key, "is a %s: URL, not http or https: %s", u.Scheme, lost)
	default:
		r.Warn(key, "is not an http or https URL (got %q): %s", value, lost)
	}
}

// alphanumeric reports whether s is a non-empty string of ASCII letters and
// digits.
func alphanumeric(s string) bool {
	return s != "" && strings.Trim(s, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789") == ""
}
