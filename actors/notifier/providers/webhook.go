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

// newWebhook builds the webhook notifier; any URL loads, as in the original
// (the configuration loader warns about one that is not http or https).
func newWebhook(n *config.Notify, d Deps) (notifier.Provider, config.Errors) {
	return &webhook{url: n.Webhook.HookURL, client: d.HTTPClient, page: webhookPage{Title: d.PageTitle, URL: d.PageURL}}, nil
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
	}, nil)
}

var _ notifier.Provider = (*webhook)(nil)
