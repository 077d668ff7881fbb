package providers

import (
	"context"
	"encoding/json"
	"net/http"
	"regexp"
	"strings"
	"testing"

	"github.com/vigil-go/vigil/messages"
)

const (
	tMatrixToken = "syt_dmlnaWw_KOxqBnPhWZJVSnMpOGfT_1ZzJkM"
	tMatrixRoom  = "!abcDEF:matrix.example.org"
	// tMatrixRoomPath is the room id as one escaped path segment.
	tMatrixRoomPath = "%21abcDEF%3Amatrix.example.org"
)

var matrixSendPath = regexp.MustCompile(`^(.*)/_matrix/client/v3/rooms/([^/]+)/send/m\.room\.message/(vigil-[0-9a-f]{32})$`)

func matrixAPI(t *testing.T) *recAPI {
	return newRecAPI(t, func(c recCall) (int, string) {
		if c.Header.Get("Authorization") != "Bearer "+tMatrixToken {
			return http.StatusUnauthorized, `{"errcode":"M_UNKNOWN_TOKEN","error":"Invalid access token passed."}`
		}
		return http.StatusOK, `{"event_id":"$abc"}`
	})
}

func newTestMatrix(t *testing.T, homeserver, token string) *matrix {
	t.Helper()
	p, errs := (&Matrix{HomeserverURL: homeserver, AccessToken: token, RoomID: tMatrixRoom}).Build(tDeps(nil))
	if errs != nil {
		t.Fatal(errs)
	}
	return p.(*matrix)
}

// checkMatrixCall asserts the request is exactly what a homeserver expects
// and returns its transaction id.
func checkMatrixCall(t *testing.T, label string, c recCall, prefix, wantHTML string) string {
	t.Helper()
	if c.Method != http.MethodPut {
		t.Fatalf("%s: method %s", label, c.Method)
	}
	m := matrixSendPath.FindStringSubmatch(c.RequestURI)
	if m == nil || m[1] != prefix || m[2] != tMatrixRoomPath {
		t.Fatalf("%s: request URI %q (want prefix %q, room segment %q, no query)", label, c.RequestURI, prefix, tMatrixRoomPath)
	}
	if c.RawQuery != "" {
		t.Fatalf("%s: query %q (the token belongs in the header)", label, c.RawQuery)
	}
	if got := c.Header.Get("Authorization"); got != "Bearer "+tMatrixToken {
		t.Fatalf("%s: Authorization %q", label, got)
	}
	if ct := c.Header.Get("Content-Type"); ct != "application/json" {
		t.Fatalf("%s: Content-Type %q", label, ct)
	}
	var got map[string]any
	if err := json.Unmarshal([]byte(c.Body), &got); err != nil {
		t.Fatalf("%s: body is not JSON: %v", label, err)
	}
	want := map[string]string{
		"body": "You received a Vigil alert.", "msgtype": "m.text",
		"format": "org.matrix.custom.html", "formatted_body": wantHTML,
	}
	gotS := map[string]string{}
	for k, v := range got {
		s, ok := v.(string)
		if !ok {
			t.Fatalf("%s: field %q is %T, want a string", label, k, v)
		}
		gotS[k] = s
	}
	sameFields(t, label, gotS, want)
	raw, _ := marshalNoHTMLEscape(want["formatted_body"])
	if wantBody := `{"body":"You received a Vigil alert.","msgtype":"m.text","format":"org.matrix.custom.html","formatted_body":` + string(raw) + `}`; c.Body != wantBody {
		t.Fatalf("%s: body\n%s\nwant\n%s", label, c.Body, wantBody)
	}
	return m[3]
}

func TestMatrixRequests(t *testing.T) {
	const tail = "<p>Status page: " + tPageURL + "</p><p>Time: " + tTime + "</p>"
	const deadList = "<ul><li><code>web:api</code>: 1 dead</li><li><code>web:db</code>: 1 dead</li></ul>"
	cases := []struct {
		name string
		n    messages.Notification
		html string
	}{
		{"startup", tStartup(), "<p>✅ Status started up, as: <em>HEALTHY</em>.</p>" + tail},
		{"changed dead", tDead(), "<p>❌ Status changed to: <em>DEAD</em>.</p>" + deadList + tail},
		{"changed sick", tSick(), "<p>⚠ Status changed to: <em>SICK</em>.</p>" + tail},
		{"recovery", tRecovery(), "<p>✅ Status changed to: <em>HEALTHY</em>.</p>" + tail},
		{"reminder", tReminder(2), "<p>❌ Status is still: <em>DEAD</em>.</p>" + deadList + tail},
		{"grouping in first-appearance order", messages.Notification{Kind: messages.Changed, Status: messages.Dead, Time: tAt,
			Replicas: []string{"web:db:tcp://10.0.0.2:5432", "web:api:http://10.0.0.1/", "relay:socket:10.0.0.9", "web:api:http://10.0.0.3/", "web:db:tcp://10.0.0.4:5432", "web:db:tcp://10.0.0.5:5432"}},
			"<p>❌ Status changed to: <em>DEAD</em>.</p><ul><li><code>web:db</code>: 3 dead</li><li><code>web:api</code>: 2 dead</li>" +
				"<li><code>relay:socket</code>: 1 dead</li></ul>" + tail},
	}
	api := matrixAPI(t)
	for _, base := range []struct{ url, prefix string }{
		{api.srv.URL + "/", ""},
		{api.srv.URL + "/synapse", "/synapse"},
		{api.srv.URL + "/synapse/", "/synapse"},
	} {
		m := newTestMatrix(t, base.url, tMatrixToken)
		seen := map[string]string{}
		for _, tc := range cases {
			if err := m.Send(context.Background(), tc.n, nil); err != nil {
				t.Fatalf("%s %s: %v", base.url, tc.name, err)
			}
			calls := api.take()
			if len(calls) != 1 {
				t.Fatalf("%s: %d requests", tc.name, len(calls))
			}
			txn := checkMatrixCall(t, base.url+" "+tc.name, calls[0], base.prefix, tc.html)
			if other, dup := seen[txn]; dup {
				t.Fatalf("%s and %s share the transaction id %s", other, tc.name, txn)
			}
			seen[txn] = tc.name
		}
	}
}

// A retried notification reuses its transaction id, so the homeserver
// deduplicates it; another notification gets a new one.
func TestMatrixTransactionIDs(t *testing.T) {
	api := matrixAPI(t)
	m := newTestMatrix(t, api.srv.URL, tMatrixToken)
	n := tDead()
	for range 2 {
		if err := m.Send(context.Background(), n, nil); err != nil {
			t.Fatal(err)
		}
	}
	other := tDead()
	other.Time = other.Time.Add(10e9)
	if err := m.Send(context.Background(), other, nil); err != nil {
		t.Fatal(err)
	}
	rem1, rem2 := tReminder(1), tReminder(2)
	for _, r := range []messages.Notification{rem1, rem2} {
		if err := m.Send(context.Background(), r, nil); err != nil {
			t.Fatal(err)
		}
	}
	calls := api.take()
	var txns []string
	for _, c := range calls {
		txns = append(txns, matrixSendPath.FindStringSubmatch(c.RequestURI)[3])
	}
	if len(txns) != 5 || txns[0] != txns[1] {
		t.Fatalf("two sends of one notification used %v", txns[:2])
	}
	if txns[2] == txns[0] || txns[3] == txns[4] || txns[3] == txns[0] {
		t.Fatalf("different notifications share a transaction id: %v", txns)
	}
	if id := matrixTxnID(n); id != txns[0] {
		t.Fatalf("transaction id %s, want %s", txns[0], id)
	}
}

func TestMatrixEscapesHTML(t *testing.T) {
	n := messages.Notification{Kind: messages.Changed, Status: messages.Dead, Time: tAt,
		Replicas: []string{`we<b>:a&"b":x`, "solo"}}
	got := matrixHTML(n, "https://status.acme.test/?a=1&b=<2>")
	want := "<p>❌ Status changed to: <em>DEAD</em>.</p><ul><li><code>we&lt;b&gt;:a&amp;&#34;b&#34;</code>: 1 dead</li>" +
		"<li><code>solo</code>: 1 dead</li></ul><p>Status page: https://status.acme.test/?a=1&amp;b=&lt;2&gt;</p><p>Time: " + tTime + "</p>"
	if got != want {
		t.Fatalf("html\n%s\nwant\n%s", got, want)
	}
}

func TestMatrixFailure(t *testing.T) {
	api := matrixAPI(t)
	err := newTestMatrix(t, api.srv.URL, "wrong-token").Send(context.Background(), tDead(), nil)
	if err == nil || !strings.Contains(err.Error(), "M_UNKNOWN_TOKEN") {
		t.Fatalf("a 401 answer must fail the attempt, got %v", err)
	}
	if strings.Contains(err.Error(), "wrong-token") {
		t.Fatalf("error leaks the token: %v", err)
	}
}
