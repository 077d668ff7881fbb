package providers

import (
	"bytes"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"html"
	"net/http"
	"net/url"
	"strconv"
	"strings"

	"github.com/vigil-go/vigil/actors/notifier"
	"github.com/vigil-go/vigil/config"
	"github.com/vigil-go/vigil/messages"
)

// matrix sends one m.room.message event with the current client-server API
// (spec §6.10, §11 item 25):
//
//	PUT <homeserver>/_matrix/client/v3/rooms/<room_id>/send/m.room.message/<txnId>
//
// with the access token in an Authorization header, never in the URL. The
// transaction id is derived from the notification itself, so a retried PUT
// of the same notification is idempotent on the homeserver (no duplicate
// message), while every new notification gets a new one.
type matrix struct {
	base   *url.URL
	token  string
	room   string
	client *http.Client
	page   string
}

// matrixEvent is the event content; field order is the wire order.
type matrixEvent struct {
	Body          string `json:"body"`
	MsgType       string `json:"msgtype"`
	Format        string `json:"format"`
	FormattedBody string `json:"formatted_body"`
}

// Matrix is the [notify.matrix] table.
type Matrix struct {
	HomeserverURL string `toml:"homeserver_url,required,url"`
	AccessToken   string `toml:"access_token,required,secret"`
	RoomID        string `toml:"room_id,required"`
	Options
}

// Check warns about values that cannot work.
func (c *Matrix) Check(r *config.Report) {
	const lost = "no message can be sent"
	warnNotHTTP(r, "homeserver_url", c.HomeserverURL, lost, false)
	warnEmpty(r, "access_token", c.AccessToken, lost)
	warnEmpty(r, "room_id", c.RoomID, lost)
}

// Build makes the Matrix notifier. Like the original it accepts any URL,
// token and room; only a URL that does not parse is a problem.
func (c *Matrix) Build(d Deps) (notifier.Provider, config.Errors) {
	base, err := url.Parse(c.HomeserverURL)
	if err != nil {
		return nil, config.Errors{{Path: "notify.matrix.homeserver_url", Message: err.Error()}}
	}
	return &matrix{base: base, token: c.AccessToken, room: c.RoomID, client: d.HTTPClient, page: d.PageURL}, nil
}

func (m *matrix) Kind() string { return "matrix" }

func (m *matrix) Send(ctx context.Context, n messages.Notification, _ []int) error {
	body, err := marshalNoHTMLEscape(matrixEvent{
		Body:          "You received a Vigil alert.",
		MsgType:       "m.text",
		Format:        "org.matrix.custom.html",
		FormattedBody: matrixHTML(n, m.page),
	})
	if err != nil {
		return err
	}
	return send(ctx, m.client, http.MethodPut, m.target(matrixTxnID(n)), "application/json", body,
		http.Header{"Authorization": {"Bearer " + m.token}})
}

// target is the send URL for one transaction; the room id and the
// transaction id are escaped as single path segments.
func (m *matrix) target(txnID string) string {
	return appendURLPath(m.base, "_matrix/client/v3/rooms/"+escapeSegment(m.room)+
		"/send/m.room.message/"+escapeSegment(txnID), "")
}

// matrixTxnID identifies a notification: the same notification (retried)
// always gives the same id, different notifications give different ids.
func matrixTxnID(n messages.Notification) string {
	h := sha256.New()
	fmt.Fprintf(h, "%s\x00%s\x00%d\x00%d\x00%d", n.Kind, n.Status, n.Escalated, n.Time.UnixNano(), len(n.Replicas))
	for _, r := range n.Replicas {
		h.Write([]byte{0})
		h.Write([]byte(r))
	}
	return "vigil-" + hex.EncodeToString(h.Sum(nil)[:16])
}

// matrixHTML is the formatted body of spec §6.10; every inserted value is
// HTML-escaped and the probe:node groups keep their first-appearance order.
func matrixHTML(n messages.Notification, pageURL string) string {
	var b strings.Builder
	b.WriteString("<p>" + statusIcon(n.Status) + " " + lead(n) + ": <em>" + strings.ToUpper(n.Status.String()) + "</em>.</p>")
	if len(n.Replicas) > 0 {
		var order []string
		counts := map[string]int{}
		for _, r := range n.Replicas {
			parts := strings.SplitN(r, ":", 3)
			if len(parts) > 2 {
				parts = parts[:2]
			}
			key := strings.Join(parts, ":")
			if counts[key] == 0 {
				order = append(order, key)
			}
			counts[key]++
		}
		b.WriteString("<ul>")
		for _, key := range order {
			b.WriteString("<li><code>" + html.EscapeString(key) + "</code>: " + strconv.Itoa(counts[key]) + " " + n.Status.String() + "</li>")
		}
		b.WriteString("</ul>")
	}
	b.WriteString("<p>Status page: " + html.EscapeString(pageURL) + "</p>")
	b.WriteString("<p>Time: " + html.EscapeString(messages.FormatTS(n.Time)) + "</p>")
	return b.String()
}

// escapeSegment percent-encodes everything but RFC 3986 unreserved
// characters, so a Matrix id such as "!room:example.org" is one unambiguous
// path segment ("%21room%3Aexample.org").
func escapeSegment(s string) string {
	const hexDigits = "0123456789ABCDEF"
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		c := s[i]
		if 'a' <= c && c <= 'z' || 'A' <= c && c <= 'Z' || '0' <= c && c <= '9' || c == '-' || c == '_' || c == '.' || c == '~' {
			b.WriteByte(c)
			continue
		}
		b.WriteByte('%')
		b.WriteByte(hexDigits[c>>4])
		b.WriteByte(hexDigits[c&15])
	}
	return b.String()
}

// marshalNoHTMLEscape is json.Marshal without the \u003c escaping of <, >
// and & (the formatted body is HTML), and without a trailing newline.
func marshalNoHTMLEscape(v any) ([]byte, error) {
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(buf.Bytes(), []byte("\n")), nil
}

var _ notifier.Provider = (*matrix)(nil)
