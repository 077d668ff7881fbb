package providers

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/vigil-go/vigil/messages"
)

const slackTestPath = "/services/T0000/B0000/XXXXsecretXXXX"

func startSlack(t *testing.T, status int) (*apiRecorder, *httptest.Server) {
	t.Helper()
	rec := &apiRecorder{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rec.add(recordRequest(r))
		w.Header().Set("Content-Type", "text/html")
		w.WriteHeader(status)
		if status == http.StatusOK {
			_, _ = w.Write([]byte("ok"))
		}
	}))
	t.Cleanup(srv.Close)
	return rec, srv
}

func slackFor(t *testing.T, hookURL string, mention bool) *slackHook {
	t.Helper()
	p, errs := (&Slack{HookURL: hookURL, MentionChannel: mention}).Build(Deps{HTTPClient: http.DefaultClient, PageTitle: "Acme", PageURL: "https://status.acme.test/", Logger: slog.New(slog.DiscardHandler)})
	if errs != nil {
		t.Fatal(errs)
	}
	return p.(*slackHook)
}

// slackSameJSON compares a posted body with the §6.4 payload. slack-go
// always adds three neutral keys (attachments[].blocks = null,
// replace_original = false, delete_original = false); they must have exactly
// those values and nothing else may differ.
func slackSameJSON(t *testing.T, name, got, want string) {
	t.Helper()
	var g, w map[string]any
	if err := json.Unmarshal([]byte(got), &g); err != nil {
		t.Fatalf("%s: %v: %s", name, err, got)
	}
	if err := json.Unmarshal([]byte(want), &w); err != nil {
		t.Fatalf("%s: bad expectation: %v", name, err)
	}
	if g["replace_original"] != false || g["delete_original"] != false {
		t.Fatalf("%s: unexpected library keys in %s", name, got)
	}
	delete(g, "replace_original")
	delete(g, "delete_original")
	if atts, ok := g["attachments"].([]any); ok {
		for _, a := range atts {
			m := a.(map[string]any)
			if b, present := m["blocks"]; present && b != nil {
				t.Fatalf("%s: attachment blocks %v", name, b)
			}
			delete(m, "blocks")
		}
	}
	if !reflect.DeepEqual(g, w) {
		t.Fatalf("%s: body\n%s\nwant\n%s", name, got, want)
	}
}

func TestSlackPayloads(t *testing.T) {
	rec, srv := startSlack(t, http.StatusOK)
	fields := func(nodes string, status string) string {
		f := ""
		if nodes != "" {
			f = `{"title":"Nodes","value":"` + nodes + `","short":false},`
		}
		return f + `{"title":"Status","value":"` + status + `","short":true},{"title":"Time","value":"06:58:28 UTC+00:00","short":true},` +
			`{"title":"Monitor Page","value":"https://status.acme.test/","short":false}`
	}
	payload := func(text, fallback, color, fields string) string {
		return `{"text":"` + text + `","attachments":[{"fallback":"` + fallback + `","color":"` + color + `","fields":[` + fields + `]}]}`
	}
	const deadNodes = "web:api:http://a/, relay:socket:10.0.0.1"
	want := map[string]string{
		"startup": payload("Status started up, as: *healthy*.", "Status started up, as: *healthy*.", "good", fields("", "Healthy")),
		"changed dead": payload("Status changed to: *dead*. Nodes: *"+deadNodes+"*.", "Status changed to: *dead*. Nodes: *"+deadNodes+"*.",
			"danger", fields(deadNodes, "Dead")),
		"recovery": payload("Status changed to: *healthy*.", "Status changed to: *healthy*.", "good", fields("", "Healthy")),
		"reminder": payload("Status is still: *dead*. Nodes: *a:b:c*.", "Status is still: *dead*. Nodes: *a:b:c*.", "danger", fields("a:b:c", "Dead")),
	}
	p := slackFor(t, srv.URL+slackTestPath, false)
	for i, tc := range provCases() {
		if err := p.Send(context.Background(), tc.n, nil); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		reqs := rec.all()
		if len(reqs) != i+1 {
			t.Fatalf("%s: %d requests", tc.name, len(reqs))
		}
		r := reqs[i]
		if r.method != http.MethodPost || r.path != slackTestPath || r.rawQuery != "" || r.contentType != "application/json" {
			t.Fatalf("%s: %s %s %q", tc.name, r.method, r.path, r.contentType)
		}
		slackSameJSON(t, tc.name, r.body, want[tc.name])
	}

	// dead -> sick: warning, no Nodes field.
	if err := p.Send(context.Background(), messages.Notification{Kind: messages.Changed, Status: messages.Sick, Time: provAt}, nil); err != nil {
		t.Fatal(err)
	}
	reqs := rec.all()
	slackSameJSON(t, "sick", reqs[len(reqs)-1].body,
		payload("Status changed to: *sick*.", "Status changed to: *sick*.", "warning", fields("", "Sick")))

	// mention_channel prefixes the text only, not the fallback.
	m := slackFor(t, srv.URL+slackTestPath, true)
	for _, tc := range []struct {
		n    messages.Notification
		want string
	}{
		{provCases()[1].n, payload("<!channel> Status changed to: *dead*. Nodes: *"+deadNodes+"*.", "Status changed to: *dead*. Nodes: *"+deadNodes+"*.",
			"danger", fields(deadNodes, "Dead"))},
		{provCases()[0].n, payload("<!channel> Status started up, as: *healthy*.", "Status started up, as: *healthy*.", "good", fields("", "Healthy"))},
	} {
		if err := m.Send(context.Background(), tc.n, nil); err != nil {
			t.Fatal(err)
		}
		reqs := rec.all()
		slackSameJSON(t, "mention", reqs[len(reqs)-1].body, tc.want)
	}
	// The Nodes field comes first when present.
	if b := rec.all()[1].body; !strings.Contains(b, `"fields":[{"title":"Nodes"`) {
		t.Fatalf("Nodes is not the first field: %s", b)
	}
}

func TestSlackStatuses(t *testing.T) {
	_, ok := startSlack(t, http.StatusNoContent)
	if err := slackFor(t, ok.URL+slackTestPath, false).Send(context.Background(), provCases()[0].n, nil); err != nil {
		t.Fatalf("a 204 is a delivery: %v", err)
	}
	_, bad := startSlack(t, http.StatusNotFound)
	if err := slackFor(t, bad.URL+slackTestPath, false).Send(context.Background(), provCases()[0].n, nil); err == nil {
		t.Fatal("a 404 must fail")
	}
	// Transport errors do not show the hook's secret path.
	gone := httptest.NewServer(http.NotFoundHandler())
	gone.Close()
	err := slackFor(t, gone.URL+slackTestPath, false).Send(context.Background(), provCases()[0].n, nil)
	if err == nil || strings.Contains(err.Error(), "secret") {
		t.Fatalf("error %v", err)
	}
}

func TestSlackSizeBound(t *testing.T) {
	reps := make([]string, 3000)
	for i := range reps {
		reps[i] = "probe:node:" + strings.Repeat("ü", 30)
	}
	msg := slackFor(t, "https://hooks.slack.test/x", false).message(messages.Notification{Kind: messages.Reminder, Status: messages.Dead, Replicas: reps, Time: provAt})
	b, _ := json.Marshal(msg)
	if n := utf8.RuneCountInString(msg.Text); n > 12000 || !strings.Contains(msg.Text, " more)*.") {
		t.Fatalf("text of %d runes", n)
	}
	if len(b) > 40000*2 || !utf8.ValidString(msg.Attachments[0].Fields[0].Value) {
		t.Fatalf("payload of %d bytes", len(b))
	}
}
