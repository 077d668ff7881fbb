package providers

import (
	"context"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"github.com/slack-go/slack"

	"github.com/vigil-go/vigil/actors/notifier"
	"github.com/vigil-go/vigil/config"
	"github.com/vigil-go/vigil/messages"
)

// slackNodesMax bounds the nodes list, which appears three times in a
// message (text, fallback, Nodes field), well under Slack's 40,000
// character text limit (spec §11 item 27).
const slackNodesMax = 10 << 10

// slackHook posts to a Slack incoming webhook (spec §6.4).
type slackHook struct {
	url            string
	mentionChannel bool
	pageURL        string
	client         *http.Client
}

// Slack is the [notify.slack] table.
type Slack struct {
	// HookURL is the incoming webhook URL, itself the credential.
	HookURL string `toml:"hook_url,required,url,secret"`
	// MentionChannel adds @channel to messages.
	MentionChannel bool `toml:"mention_channel"`
	Options
}

// Check warns about a hook that is not http or https.
func (c *Slack) Check(r *config.Report) {
	warnNotHTTP(r, "hook_url", c.HookURL, "no message can be posted", true)
}

// Build makes the Slack notifier; any URL builds, as in the original.
func (c *Slack) Build(d Deps) (notifier.Provider, config.Errors) {
	return &slackHook{url: c.HookURL, mentionChannel: c.MentionChannel, pageURL: d.PageURL, client: d.HTTPClient}, nil
}

func (s *slackHook) Kind() string { return "slack" }

// slackColor is the attachment colour of a status.
func slackColor(st messages.Status) string {
	switch st {
	case messages.Sick:
		return "warning"
	case messages.Dead:
		return "danger"
	}
	return "good"
}

func (s *slackHook) message(n messages.Notification) *slack.WebhookMessage {
	text := lead(n) + ": *" + n.Status.String() + "*."
	var fields []slack.AttachmentField
	if len(n.Replicas) > 0 {
		nodes := nodesTextCapped(n.Replicas, slackNodesMax)
		text += " Nodes: *" + nodes + "*."
		fields = append(fields, slack.AttachmentField{Title: "Nodes", Value: nodes, Short: false})
	}
	fields = append(fields,
		slack.AttachmentField{Title: "Status", Value: statusTitle(n.Status), Short: true},
		slack.AttachmentField{Title: "Time", Value: messages.FormatTS(n.Time), Short: true},
		slack.AttachmentField{Title: "Monitor Page", Value: s.pageURL, Short: false},
	)
	payload := text
	if s.mentionChannel {
		payload = "<!channel> " + text
	}
	return &slack.WebhookMessage{
		Text:        payload,
		Attachments: []slack.Attachment{{Fallback: text, Color: slackColor(n.Status), Fields: fields}},
	}
}

func (s *slackHook) Send(ctx context.Context, n messages.Notification, _ []int) error {
	client := s.client
	if client == nil {
		client = http.DefaultClient
	}
	err := slack.PostWebhookCustomHTTPContext(ctx, s.url, client, s.message(n))
	// slack-go accepts only 200; any 2xx is a delivery (spec §6.1).
	var sce slack.StatusCodeError
	if errors.As(err, &sce) && sce.Code >= 200 && sce.Code <= 299 {
		return nil
	}
	if err != nil {
		// The hook URL's path is its secret.
		return fmt.Errorf("slack: %w", hideURLInError(err, s.url))
	}
	return nil
}

// hideURLInError hides, in err's message, a URL that carries a secret in
// its path (Slack hook, Telegram bot token), showing only its origin
// ("https://hooks.slack.com/…"). The result still unwraps to err.
func hideURLInError(err error, target string) error {
	shown := "(url hidden)"
	msg := err.Error()
	if u, perr := url.Parse(target); perr == nil {
		shown = u.Scheme + "://" + u.Host + "/…"
		msg = strings.ReplaceAll(msg, u.String(), shown)
	}
	return &hiddenURLError{msg: strings.ReplaceAll(msg, target, shown), err: err}
}

type hiddenURLError struct {
	msg string
	err error
}

func (e *hiddenURLError) Error() string { return e.msg }
func (e *hiddenURLError) Unwrap() error { return e.err }

var _ notifier.Provider = (*slackHook)(nil)
