package providers

import (
	"context"
	"net/http"

	"github.com/vigil-go/vigil/actors/notifier"
	"github.com/vigil-go/vigil/config"
	"github.com/vigil-go/vigil/messages"
)

// webexMaxText is the largest "text" the Webex messages API accepts, in
// bytes.
const webexMaxText = 7439

// webex posts {"roomId","text"} to endpoint_url with a bearer token (spec
// §6.11).
type webex struct {
	endpoint string
	token    string
	room     string
	client   *http.Client
	title    string
	pageURL  string
}

// webexMessage's field order is the wire order.
type webexMessage struct {
	RoomID string `json:"roomId"`
	Text   string `json:"text"`
}

// Webex is the [notify.webex] table.
type Webex struct {
	EndpointURL string `toml:"endpoint_url,required,url"`
	Token       string `toml:"token,required,secret"`
	RoomID      string `toml:"room_id,required"`
	Options
}

// Check warns about values that cannot work.
func (c *Webex) Check(r *config.Report) {
	const lost = "no message can be sent"
	warnNotHTTP(r, "endpoint_url", c.EndpointURL, lost, false)
	warnEmpty(r, "token", c.Token, lost)
	warnEmpty(r, "room_id", c.RoomID, lost)
}

// Build makes the Webex notifier. Like the original it accepts any URL,
// token and room.
func (c *Webex) Build(d Deps) (notifier.Provider, config.Errors) {
	return &webex{endpoint: c.EndpointURL, token: c.Token, room: c.RoomID, client: d.HTTPClient, title: d.PageTitle, pageURL: d.PageURL}, nil
}

func (w *webex) Kind() string { return "webex" }

func (w *webex) Send(ctx context.Context, n messages.Notification, _ []int) error {
	return postJSON(ctx, w.client, w.endpoint, webexMessage{RoomID: w.room, Text: webexText(n, w.title, w.pageURL)},
		http.Header{"Authorization": {"Bearer " + w.token}})
}

// webexText is the text of spec §6.11, at most webexMaxText bytes: a long
// node list is shortened (whole entries, "… (+N more)") so that the other
// lines always survive; a cut never splits a UTF-8 sequence.
func webexText(n messages.Notification, title, pageURL string) string {
	head := reportLine(n, title) + "\nStatus: " + statusTitle(n.Status) + "\nNodes: "
	tail := "\nTime: " + messages.FormatTS(n.Time) + "\nURL: " + pageURL
	nodes := joinFitting(n.Replicas, ", ", webexMaxText-len(head)-len(tail), func(s string) int { return len(s) })
	return truncateBytes(head+nodes+tail, webexMaxText, "…")
}

var _ notifier.Provider = (*webex)(nil)
