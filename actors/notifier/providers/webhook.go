package providers

import (
	"context"
	"net/http"

	"github.com/vigil-go/vigil/actors/notifier"
	"github.com/vigil-go/vigil/config"
	"github.com/vigil-go/vigil/messages"
)

// webhook posts the notification as JSON to hook_url (spec §6.12).
type webhook struct {
	url    string
	client *http.Client
	page   webhookPage
}

// webhookPayload's field order is the wire order.
type webhookPayload struct {
	Type     string      `json:"type"`
	Status   string      `json:"status"`
	Time     string      `json:"time"`
	Replicas []string    `json:"replicas"`
	Page     webhookPage `json:"page"`
}

type webhookPage struct {
	Title string `json:"title"`
	URL   string `json:"url"`
}

// Webhook is the [notify.webhook] table. It has no reminders_only option.
type Webhook struct {
	// HookURL usually embeds a token: it is a secret.
	HookURL string `toml:"hook_url,required,url,secret"`
	// Ignored holds a reminders_only key, which only gets a warning.
	Ignored any `toml:"reminders_only" json:"-"`
}

func (*Webhook) options() Options { return Options{} }

// Check warns about a URL that is not http or https and about
// reminders_only.
func (c *Webhook) Check(r *config.Report) {
	warnNotHTTP(r, "hook_url", c.HookURL, "no payload can be posted", true)
	r.Warn("reminders_only", "the webhook notifier has no reminders_only option; key ignored")
}

// Build makes the webhook notifier; any URL builds, as in the original.
func (c *Webhook) Build(d Deps) (notifier.Provider, config.Errors) {
	return &webhook{url: c.HookURL, client: d.HTTPClient, page: webhookPage{Title: d.PageTitle, URL: d.PageURL}}, nil
}

func (w *webhook) Kind() string { return "webhook" }

func (w *webhook) Send(ctx context.Context, n messages.Notification, _ []int) error {
	replicas := n.Replicas
	if replicas == nil {
		replicas = []string{}
	}
	return postJSON(ctx, w.client, w.url, webhookPayload{
		Type: n.Kind.String(), Status: n.Status.String(), Time: messages.FormatTS(n.Time),
		Replicas: replicas, Page: w.page,
	}, deliveryHeader(n))
}

// deliveryHeader carries the notification's id, the same on every attempt
// and after a restart, so that a receiver can drop a duplicate delivery.
func deliveryHeader(n messages.Notification) http.Header {
	if n.ID == "" {
		return nil
	}
	return http.Header{"X-Vigil-Delivery-Id": {n.ID}}
}

var _ notifier.Provider = (*webhook)(nil)
