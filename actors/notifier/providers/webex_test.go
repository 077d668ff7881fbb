package providers

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/vigil-go/vigil/messages"
)

const (
	tWebexToken = "ZDPcN2M4YzAtNWY0Yi00ZjJhLTgwMjQtN2QyZDRkNDI2MjE5"
	tWebexRoom  = "Y2lzY29zcGFyazovL3VzL1JPT00vYmJjZWIxYWQtNDNmMS0zYjU4LTkxNDctZjE0YmIwYzRkMTU0"
)

func webexAPI(t *testing.T) *recAPI {
	return newRecAPI(t, func(c recCall) (int, string) {
		if c.Header.Get("Authorization") != "Bearer "+tWebexToken {
			return http.StatusUnauthorized, `{"message":"The request requires a valid access token set in the Authorization request header.","errors":[{"description":"The request requires a valid access token set in the Authorization request header."}],"trackingId":"ROUTER_6504A0E4"}`
		}
		return http.StatusOK, `{"id":"Y2lzY29zcGFyazovL3VzL01FU1NBR0UvOTJkYjNiZTAtNDNiZC0xMWU2LThhZTktZGQ1YjNkZmM1NjVk","roomId":"` + tWebexRoom +
			`","roomType":"group","text":"x","personId":"Y2lzY29zcGFyazovL3VzL1BFT1BMRS9mNWIzNjE4Ny1jOGRkLTQ3MjctOGIyZi1mOWM0NDdmMjkwNDY","personEmail":"vigil@acme.test","created":"2026-07-04T08:58:28.000Z"}`
	})
}

func newTestWebex(t *testing.T, endpoint, token string, d Deps) *webex {
	t.Helper()
	p, errs := (&Webex{EndpointURL: endpoint, Token: token, RoomID: tWebexRoom}).Build(d)
	if errs != nil {
		t.Fatal(errs)
	}
	return p.(*webex)
}

// webexBody checks the request and returns its text.
func webexBody(t *testing.T, label string, c recCall) string {
	t.Helper()
	if c.Method != http.MethodPost || c.RequestURI != "/v1/messages" {
		t.Fatalf("%s: request %s %s", label, c.Method, c.RequestURI)
	}
	if got := c.Header.Get("Authorization"); got != "Bearer "+tWebexToken {
		t.Fatalf("%s: Authorization %q", label, got)
	}
	if ct := c.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("%s: Content-Type %q", label, ct)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(c.Body), &got); err != nil {
		t.Fatalf("%s: body is not JSON: %v", label, err)
	}
	if len(got) != 2 || got["roomId"] != tWebexRoom {
		t.Fatalf("%s: body %s, want exactly roomId and text", label, c.Body)
	}
	text, ok := got["text"].(string)
	if !ok {
		t.Fatalf("%s: text is %T", label, got["text"])
	}
	return text
}

func TestWebexRequests(t *testing.T) {
	const tail = "\nTime: " + tTime + "\nURL: " + tPageURL
	const deadNodes = "web:api:http://10.0.0.1/health, web:db:tcp://10.0.0.2:5432"
	cases := []struct {
		name string
		n    messages.Notification
		want string
	}{
		{"startup", tStartup(), "Status startup alert from: Acme Status\nStatus: Healthy\nNodes: " + tail},
		{"changed dead", tDead(), "Status change report from: Acme Status\nStatus: Dead\nNodes: " + deadNodes + tail},
		{"changed sick", tSick(), "Status change report from: Acme Status\nStatus: Sick\nNodes: " + tail},
		{"recovery", tRecovery(), "Status change report from: Acme Status\nStatus: Healthy\nNodes: " + tail},
		{"reminder", tReminder(1), "Status unchanged reminder from: Acme Status\nStatus: Dead\nNodes: " + deadNodes + tail},
	}
	api := webexAPI(t)
	w := newTestWebex(t, api.srv.URL+"/v1/messages", tWebexToken, tDeps(nil))
	for _, tc := range cases {
		if err := w.Send(context.Background(), tc.n, nil); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		calls := api.take()
		if len(calls) != 1 {
			t.Fatalf("%s: %d requests", tc.name, len(calls))
		}
		if got := webexBody(t, tc.name, calls[0]); got != tc.want {
			t.Fatalf("%s: text\n%q\nwant\n%q", tc.name, got, tc.want)
		}
	}
}

// Webex rejects texts over 7439 bytes: the node list is shortened, other
// lines survive, and no cut splits a UTF-8 sequence.
func TestWebexTruncation(t *testing.T) {
	var replicas []string
	for i := range 1000 {
		replicas = append(replicas, fmt.Sprintf("svc:nœud-%d:http://10.0.%d.%d/état", i, i/250, i%250))
	}
	n := messages.Notification{Kind: messages.Changed, Status: messages.Dead, Replicas: replicas, Time: tAt}
	api := webexAPI(t)
	w := newTestWebex(t, api.srv.URL+"/v1/messages", tWebexToken, tDeps(nil))
	if err := w.Send(context.Background(), n, nil); err != nil {
		t.Fatal(err)
	}
	text := webexBody(t, "long list", api.take()[0])
	if len(text) > 7439 || !utf8.ValidString(text) {
		t.Fatalf("text is %d bytes (valid UTF-8: %v), limit 7439", len(text), utf8.ValidString(text))
	}
	if !strings.HasPrefix(text, "Status change report from: Acme Status\nStatus: Dead\nNodes: svc:nœud-0:") ||
		!strings.HasSuffix(text, "\nTime: "+tTime+"\nURL: "+tPageURL) || !strings.Contains(text, " more)") {
		t.Fatalf("shortened text lost a line or the marker:\n%s", text)
	}

	// Even a page title over the limit gives a valid, bounded text.
	d := tDeps(nil)
	d.PageTitle = strings.Repeat("€", 3000) // 9000 bytes
	w = newTestWebex(t, api.srv.URL+"/v1/messages", tWebexToken, d)
	if err := w.Send(context.Background(), tDead(), nil); err != nil {
		t.Fatal(err)
	}
	text = webexBody(t, "long title", api.take()[0])
	if len(text) > 7439 || !utf8.ValidString(text) || !strings.HasSuffix(text, "…") {
		t.Fatalf("text is %d bytes (valid UTF-8: %v)", len(text), utf8.ValidString(text))
	}
}

func TestWebexFailure(t *testing.T) {
	api := webexAPI(t)
	err := newTestWebex(t, api.srv.URL+"/v1/messages", "wrong", tDeps(nil)).Send(context.Background(), tDead(), nil)
	if err == nil || !strings.Contains(err.Error(), "401") {
		t.Fatalf("a 401 answer must fail the attempt, got %v", err)
	}
}
