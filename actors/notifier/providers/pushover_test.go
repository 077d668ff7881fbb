package providers

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/vigil-go/vigil/actors/notifier"
	"github.com/vigil-go/vigil/messages"
)

// ---- helpers shared by the pushover, gotify, matrix and webex tests ----

// recCall is one request as the API server saw it.
type recCall struct {
	Method     string
	Host       string // Host header
	RequestURI string // exactly as sent on the wire (escaped path + query)
	Path       string // decoded path
	RawQuery   string
	Header     http.Header
	Body       string
}

// recAPI is a loopback API server that records every request and answers
// with reply.
type recAPI struct {
	srv   *httptest.Server
	mu    sync.Mutex
	calls []recCall
}

func newRecAPI(t *testing.T, reply func(c recCall) (status int, body string)) *recAPI {
	t.Helper()
	a := &recAPI{}
	a.srv = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		c := recCall{Method: r.Method, Host: r.Host, RequestURI: r.RequestURI, Path: r.URL.Path,
			RawQuery: r.URL.RawQuery, Header: r.Header.Clone(), Body: string(b)}
		a.mu.Lock()
		a.calls = append(a.calls, c)
		a.mu.Unlock()
		status, body := reply(c)
		w.Header().Set("Content-Type", "application/json; charset=utf-8")
		w.WriteHeader(status)
		_, _ = io.WriteString(w, body)
	}))
	t.Cleanup(a.srv.Close)
	return a
}

// take returns and forgets the recorded calls.
func (a *recAPI) take() []recCall {
	a.mu.Lock()
	defer a.mu.Unlock()
	c := a.calls
	a.calls = nil
	return c
}

// formFields parses a form body, failing on repeated keys.
func formFields(t *testing.T, body string) map[string]string {
	t.Helper()
	v, err := url.ParseQuery(body)
	if err != nil {
		t.Fatalf("body is not a form: %v (%q)", err, body)
	}
	out := map[string]string{}
	for k, vs := range v {
		if len(vs) != 1 {
			t.Fatalf("form field %q sent %d times", k, len(vs))
		}
		out[k] = vs[0]
	}
	return out
}

// sameFields compares every field and reports missing and unknown ones.
func sameFields(t *testing.T, label string, got, want map[string]string) {
	t.Helper()
	for k, w := range want {
		g, ok := got[k]
		if !ok {
			t.Errorf("%s: field %q missing", label, k)
		} else if g != w {
			t.Errorf("%s: field %q =\n%q\nwant\n%q", label, k, g, w)
		}
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			t.Errorf("%s: unexpected field %q = %q", label, k, got[k])
		}
	}
}

const (
	tPageTitle = "Acme Status"
	tPageURL   = "https://status.acme.test/"
	tTime      = "08:58:28 UTC+00:00"
)

var tAt = time.Date(2026, 7, 4, 8, 58, 28, 0, time.UTC)

func tDeps(client *http.Client) Deps {
	if client == nil {
		client = http.DefaultClient
	}
	return Deps{HTTPClient: client, PageTitle: tPageTitle, PageURL: tPageURL, Logger: slog.New(slog.DiscardHandler)}
}

// Notifications used by every provider test. The dead list has two
// replicas in two nodes of one probe.
var tDeadReplicas = []string{"web:api:http://10.0.0.1/health", "web:db:tcp://10.0.0.2:5432"}

func tStartup() messages.Notification {
	return messages.Notification{Kind: messages.Startup, Status: messages.Healthy, Replicas: []string{}, Time: tAt}
}

func tDead() messages.Notification {
	return messages.Notification{Kind: messages.Changed, Status: messages.Dead, Replicas: tDeadReplicas, Time: tAt}
}

func tSick() messages.Notification {
	return messages.Notification{Kind: messages.Changed, Status: messages.Sick, Replicas: []string{}, Time: tAt}
}

func tRecovery() messages.Notification {
	return messages.Notification{Kind: messages.Changed, Status: messages.Healthy, Time: tAt}
}

func tReminder(escalated int) messages.Notification {
	return messages.Notification{Kind: messages.Reminder, Status: messages.Dead, Replicas: tDeadReplicas, Escalated: escalated, Time: tAt}
}

// ---- pushover ----

const tPushoverToken = "azGDORePK8gMaC0QOYAMyEEuzJnyUi"

var tPushoverKeys = []string{"uQiRzpo4DXghDmr9QzzfQu27cmVRsG", "gznej3rKEVAvPUxu9vvNnqpmZpokzF", "pQiRzpo4DXghDmr9QzzfQu27cmVRsH"}

// rewriteTransport sends every request to a test server, keeping method,
// path, query, headers, body and the Host header the real API would see.
type rewriteTransport struct {
	to   *url.URL
	base http.RoundTripper
}

func (rt rewriteTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	r := req.Clone(req.Context())
	r.Host = req.URL.Host
	r.URL.Scheme, r.URL.Host = rt.to.Scheme, rt.to.Host
	return rt.base.RoundTrip(r)
}

// pushoverAPI is a fake Pushover: it answers like the real API and rejects
// the user keys in bad.
func pushoverAPI(t *testing.T, bad func(user string) bool) (*recAPI, *http.Client) {
	t.Helper()
	a := newRecAPI(t, func(c recCall) (int, string) {
		f, _ := url.ParseQuery(c.Body)
		if bad != nil && bad(f.Get("user")) {
			return http.StatusBadRequest, `{"user":"invalid","errors":["user identifier is invalid"],"status":0,"request":"5042853c-402d-4a18-abcb-168734a801de"}`
		}
		return http.StatusOK, `{"status":1,"request":"647d2300-702c-4b38-8b2f-d56326ae460b"}`
	})
	u, _ := url.Parse(a.srv.URL)
	return a, &http.Client{Transport: rewriteTransport{to: u, base: http.DefaultTransport}}
}

func newTestPushover(t *testing.T, client *http.Client, keys ...string) *pushover {
	t.Helper()
	p, errs := (&Pushover{AppToken: tPushoverToken, UserKeys: keys}).Build(tDeps(client))
	if errs != nil {
		t.Fatal(errs)
	}
	return p.(*pushover)
}

// checkPushoverCall asserts one request is exactly what api.pushover.net
// expects, for user key i.
func checkPushoverCall(t *testing.T, label string, c recCall, user, message string, priority bool) {
	t.Helper()
	if c.Method != http.MethodPost || c.Host != "api.pushover.net" || c.RequestURI != "/1/messages.json" {
		t.Fatalf("%s: request %s %s%s", label, c.Method, c.Host, c.RequestURI)
	}
	if ct := c.Header.Get("Content-Type"); ct != "application/x-www-form-urlencoded" {
		t.Fatalf("%s: Content-Type %q", label, ct)
	}
	if c.Header.Get("Authorization") != "" {
		t.Fatalf("%s: unexpected Authorization header", label)
	}
	want := map[string]string{
		"token": tPushoverToken, "user": user, "title": tPageTitle, "message": message, "html": "1",
		"url_title": "Details on " + tPageTitle, "url": tPageURL,
	}
	if priority {
		want["priority"] = "1"
	}
	sameFields(t, label, formFields(t, c.Body), want)
}

func TestPushoverMessages(t *testing.T) {
	const deadNodes = "web:api:http://10.0.0.1/health, web:db:tcp://10.0.0.2:5432"
	cases := []struct {
		name string
		n    messages.Notification
		want string
	}{
		{"startup", tStartup(), "<b><i>This is a startup alert.</i></b>\n\n" +
			"<u>Status:</u> <b><font color=\"#54A158\">HEALTHY</font></b>\n<u>Nodes:</u> \n<u>Time:</u> " + tTime},
		{"changed dead", tDead(),
			"<u>Status:</u> <b><font color=\"#C4291C\">DEAD</font></b>\n<u>Nodes:</u> " + deadNodes + "\n<u>Time:</u> " + tTime},
		{"changed sick", tSick(),
			"<u>Status:</u> <b><font color=\"#D5A048\">SICK</font></b>\n<u>Nodes:</u> \n<u>Time:</u> " + tTime},
		{"recovery", tRecovery(),
			"<u>Status:</u> <b><font color=\"#54A158\">HEALTHY</font></b>\n<u>Nodes:</u> \n<u>Time:</u> " + tTime},
		{"reminder", tReminder(0), "<b><i>This is a reminder.</i></b>\n\n" +
			"<u>Status:</u> <b><font color=\"#C4291C\">DEAD</font></b>\n<u>Nodes:</u> " + deadNodes + "\n<u>Time:</u> " + tTime},
	}
	api, client := pushoverAPI(t, nil)
	p := newTestPushover(t, client, tPushoverKeys[0])
	for _, tc := range cases {
		if err := p.Send(context.Background(), tc.n, nil); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		calls := api.take()
		if len(calls) != 1 {
			t.Fatalf("%s: %d requests", tc.name, len(calls))
		}
		// Only reminders are high priority (with escalation off).
		checkPushoverCall(t, tc.name, calls[0], tPushoverKeys[0], tc.want, tc.n.Kind == messages.Reminder)
	}
}

// Spec §12 check 28: with reminder_escalate and three keys, the Nth
// reminder gives priority=1 to the first N keys; with escalation off every
// key of every reminder; changes and startup never.
func TestPushoverEscalation(t *testing.T) {
	cases := []struct {
		name string
		n    messages.Notification
		prio []bool
	}{
		{"startup", tStartup(), []bool{false, false, false}},
		{"changed dead", tDead(), []bool{false, false, false}},
		{"recovery", tRecovery(), []bool{false, false, false}},
		{"reminder escalated 1", tReminder(1), []bool{true, false, false}},
		{"reminder escalated 2", tReminder(2), []bool{true, true, false}},
		{"reminder escalated 3", tReminder(3), []bool{true, true, true}},
		{"reminder escalation off", tReminder(0), []bool{true, true, true}},
	}
	api, client := pushoverAPI(t, nil)
	p := newTestPushover(t, client, tPushoverKeys...)
	for _, tc := range cases {
		if err := p.Send(context.Background(), tc.n, nil); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		calls := api.take()
		if len(calls) != 3 {
			t.Fatalf("%s: %d requests, want one per key", tc.name, len(calls))
		}
		for i, c := range calls {
			checkPushoverCall(t, tc.name, c, tPushoverKeys[i], pushoverMessage(tc.n), tc.prio[i])
		}
	}
}

// Spec §11 item 24: only the failed recipient is retried.
func TestPushoverPartialFailure(t *testing.T) {
	var mu sync.Mutex
	reject := true
	api, client := pushoverAPI(t, func(user string) bool {
		mu.Lock()
		defer mu.Unlock()
		return reject && user == tPushoverKeys[1]
	})
	p := newTestPushover(t, client, tPushoverKeys...)
	n := tReminder(2)

	err := p.Send(context.Background(), n, nil)
	var pe *notifier.PartialError
	if !errors.As(err, &pe) {
		t.Fatalf("error %v is not a *notifier.PartialError", err)
	}
	if !slices.Equal(pe.Failed, []int{1}) {
		t.Fatalf("failed %v, want [1]", pe.Failed)
	}
	if !strings.Contains(err.Error(), "user identifier is invalid") || !strings.Contains(err.Error(), "user_keys[1]") {
		t.Fatalf("error lacks the API's reason or the key index: %v", err)
	}
	if calls := api.take(); len(calls) != 3 {
		t.Fatalf("first attempt made %d requests, want 3", len(calls))
	}

	mu.Lock()
	reject = false
	mu.Unlock()
	if err := p.Send(context.Background(), n, pe.Failed); err != nil {
		t.Fatal(err)
	}
	calls := api.take()
	if len(calls) != 1 {
		t.Fatalf("retry made %d requests, want 1", len(calls))
	}
	// Index 1 keeps its escalation (Escalated=2 → keys 0 and 1).
	checkPushoverCall(t, "retry", calls[0], tPushoverKeys[1], pushoverMessage(n), true)
}

// The notifier actor retries only the recipient that failed.
func TestPushoverActorRetriesOnlyFailedKey(t *testing.T) {
	var mu sync.Mutex
	failures := 1
	api, client := pushoverAPI(t, func(user string) bool {
		mu.Lock()
		defer mu.Unlock()
		if user == tPushoverKeys[2] && failures > 0 {
			failures--
			return true
		}
		return false
	})
	a := notifier.New(newTestPushover(t, client, tPushoverKeys...),
		notifier.Options{Attempts: 3, Backoff: 10 * time.Millisecond, Timeout: 5 * time.Second}, slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { _ = a.Serve(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
	a.Mailbox() <- tDead()
	deadline := time.Now().Add(10 * time.Second)
	for a.Stats().Delivered != 1 {
		if time.Now().After(deadline) {
			t.Fatalf("not delivered: %+v", a.Stats())
		}
		time.Sleep(5 * time.Millisecond)
	}
	var users []string
	for _, c := range api.take() {
		users = append(users, formFields(t, c.Body)["user"])
	}
	want := []string{tPushoverKeys[0], tPushoverKeys[1], tPushoverKeys[2], tPushoverKeys[2]}
	if !slices.Equal(users, want) {
		t.Fatalf("requests went to %v, want %v", users, want)
	}
}

func TestPushoverLimitsAndEscaping(t *testing.T) {
	var replicas []string
	for i := range 300 {
		replicas = append(replicas, "svc:node:http://10.0.0."+strings.Repeat("é", i%7)+"/?a=1&b=<2>")
	}
	n := messages.Notification{Kind: messages.Changed, Status: messages.Dead, Replicas: replicas, Time: tAt}
	msg := pushoverMessage(n)
	if c := utf8.RuneCountInString(msg); c > 1024 || !utf8.ValidString(msg) {
		t.Fatalf("message has %d characters (valid UTF-8: %v), limit 1024", c, utf8.ValidString(msg))
	}
	if !strings.HasSuffix(msg, "\n<u>Time:</u> "+tTime) || !strings.Contains(msg, " more)") {
		t.Fatalf("shortened message lost its time line or marker:\n%s", msg)
	}
	if !strings.Contains(msg, "svc:node:http://10.0.0./?a=1&amp;b=&lt;2&gt;, ") || strings.Contains(msg, "<2>") {
		t.Fatalf("replica ids are not HTML-escaped:\n%s", msg)
	}

	api, client := pushoverAPI(t, nil)
	d := tDeps(client)
	d.PageTitle = strings.Repeat("é", 300)
	p, errs := (&Pushover{AppToken: tPushoverToken, UserKeys: tPushoverKeys[:1]}).Build(d)
	if errs != nil {
		t.Fatal(errs)
	}
	if err := p.Send(context.Background(), n, nil); err != nil {
		t.Fatal(err)
	}
	f := formFields(t, api.take()[0].Body)
	if c := utf8.RuneCountInString(f["title"]); c != 250 || !strings.HasSuffix(f["title"], "…") {
		t.Fatalf("title has %d characters, want 250 ending in …", c)
	}
	if c := utf8.RuneCountInString(f["url_title"]); c != 100 {
		t.Fatalf("url_title has %d characters, want 100", c)
	}
	if f["message"] != msg {
		t.Fatal("sent message differs from the shortened one")
	}
}
