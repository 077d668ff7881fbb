package providers

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/vigil-go/vigil/actors/notifier"
	"github.com/vigil-go/vigil/messages"
)

// ---- sending the real clients to a local server ----

// hostRewriter sends every request to a local server, keeping method, path,
// query, headers and body. The original host stays in the Host header and
// the original scheme goes in X-Forwarded-Proto, so the server can check
// them.
type hostRewriter struct {
	target *url.URL
	base   http.RoundTripper
}

func (h hostRewriter) RoundTrip(req *http.Request) (*http.Response, error) {
	r := req.Clone(req.Context())
	r.Header.Set("X-Forwarded-Proto", req.URL.Scheme)
	r.Host = req.URL.Host
	r.URL.Scheme = h.target.Scheme
	r.URL.Host = h.target.Host
	return h.base.RoundTrip(r)
}

// clientTo returns an http.Client whose requests all go to srv.
func clientTo(t *testing.T, srv *httptest.Server) *http.Client {
	t.Helper()
	u, err := url.Parse(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	return &http.Client{Transport: hostRewriter{target: u, base: srv.Client().Transport}}
}

// apiRequest is what a local API server saw.
type apiRequest struct {
	method, host, proto, path, rawQuery string
	contentType                         string
	user, pass                          string
	basic                               bool
	header                              http.Header
	body                                string
}

func recordRequest(r *http.Request) apiRequest {
	b, _ := io.ReadAll(io.LimitReader(r.Body, 1<<20))
	user, pass, ok := r.BasicAuth()
	return apiRequest{method: r.Method, host: r.Host, proto: r.Header.Get("X-Forwarded-Proto"), path: r.URL.EscapedPath(),
		rawQuery: r.URL.RawQuery, contentType: r.Header.Get("Content-Type"), user: user, pass: pass, basic: ok,
		header: r.Header.Clone(), body: string(b)}
}

// apiRecorder collects requests; the handler decides the answer.
type apiRecorder struct {
	mu   sync.Mutex
	reqs []apiRequest
}

func (a *apiRecorder) add(r apiRequest) {
	a.mu.Lock()
	a.reqs = append(a.reqs, r)
	a.mu.Unlock()
}

func (a *apiRecorder) all() []apiRequest {
	a.mu.Lock()
	defer a.mu.Unlock()
	return append([]apiRequest(nil), a.reqs...)
}

// ---- shared notification fixtures ----

var provAt = time.Date(2026, 7, 4, 8, 58, 28, 0, time.FixedZone("CEST", 2*3600))

type provCase struct {
	name string
	n    messages.Notification
}

// provCases are the four kinds every provider is tested with.
func provCases() []provCase {
	return []provCase{
		{"startup", messages.Notification{Kind: messages.Startup, Status: messages.Healthy, Replicas: []string{}, Time: provAt}},
		{"changed dead", messages.Notification{Kind: messages.Changed, Status: messages.Dead,
			Replicas: []string{"web:api:http://a/", "relay:socket:10.0.0.1"}, Time: provAt}},
		{"recovery", messages.Notification{Kind: messages.Changed, Status: messages.Healthy, Time: provAt}},
		{"reminder", messages.Notification{Kind: messages.Reminder, Status: messages.Dead, Replicas: []string{"a:b:c"}, Escalated: 2, Time: provAt}},
	}
}

// ---- Twilio ----

const (
	twTestAccount = "AC0123456789abcdef0123456789abcdef"
	twTestToken   = "f00dfeed0123456789abcdef01234567"
	twTestService = "MG0123456789abcdef0123456789abcdef"
)

// twilioServer answers like the Messages API: 201 with a message resource,
// or 400 with a Twilio error for numbers in failing.
type twilioServer struct {
	apiRecorder
	seq atomic.Int64

	fmu  sync.Mutex
	fail map[string]int // number -> failures left (-1: always)
}

func (ts *twilioServer) setFail(number string, times int) {
	ts.fmu.Lock()
	defer ts.fmu.Unlock()
	if ts.fail == nil {
		ts.fail = map[string]int{}
	}
	ts.fail[number] = times
}

func (ts *twilioServer) fails(number string) bool {
	ts.fmu.Lock()
	defer ts.fmu.Unlock()
	switch left := ts.fail[number]; {
	case left < 0:
		return true
	case left > 0:
		ts.fail[number] = left - 1
		return true
	}
	return false
}

func startTwilio(t *testing.T) (*twilioServer, *httptest.Server) {
	t.Helper()
	ts := &twilioServer{}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		req := recordRequest(r)
		ts.add(req)
		form, _ := url.ParseQuery(req.body)
		w.Header().Set("Content-Type", "application/json")
		to := form.Get("To")
		if ts.fails(to) {
			w.WriteHeader(http.StatusBadRequest)
			fmt.Fprintf(w, `{"code": 21211, "message": "The 'To' number %s is not a valid phone number.", "more_info": "https://www.twilio.com/docs/errors/21211", "status": 400}`, to)
			return
		}
		sid := fmt.Sprintf("SM%032d", ts.seq.Add(1))
		w.WriteHeader(http.StatusCreated)
		fmt.Fprintf(w, `{"account_sid": %q, "api_version": "2010-04-01", "body": %q, "date_created": "Sat, 04 Jul 2026 06:58:29 +0000", "date_sent": null, "date_updated": "Sat, 04 Jul 2026 06:58:29 +0000", "direction": "outbound-api", "error_code": null, "error_message": null, "from": null, "messaging_service_sid": %q, "num_media": "0", "num_segments": "0", "price": null, "price_unit": null, "sid": %q, "status": "accepted", "subresource_uris": {"media": "/2010-04-01/Accounts/%s/Messages/%s/Media.json"}, "to": %q, "uri": "/2010-04-01/Accounts/%s/Messages/%s.json"}`,
			twTestAccount, form.Get("Body"), form.Get("MessagingServiceSid"), sid, twTestAccount, sid, to, twTestAccount, sid)
	}))
	t.Cleanup(srv.Close)
	return ts, srv
}

func twilioFor(t *testing.T, srv *httptest.Server, title string, to ...string) *twilioSMS {
	t.Helper()
	p, errs := (&Twilio{To: to, ServiceSID: twTestService, AccountSID: twTestAccount, AuthToken: twTestToken}).Build(Deps{HTTPClient: clientTo(t, srv), PageTitle: title, PageURL: "https://status.acme.test/", Logger: slog.New(slog.DiscardHandler)})
	if errs != nil {
		t.Fatal(errs)
	}
	return p.(*twilioSMS)
}

// checkTwilioRequest asserts the request is exactly the Messages create call.
func checkTwilioRequest(t *testing.T, r apiRequest, to, body string) {
	t.Helper()
	if r.method != http.MethodPost || r.host != "api.twilio.com" || r.proto != "https" ||
		r.path != "/2010-04-01/Accounts/"+twTestAccount+"/Messages.json" || r.rawQuery != "" {
		t.Fatalf("request %s %s://%s%s?%s", r.method, r.proto, r.host, r.path, r.rawQuery)
	}
	if !r.basic || r.user != twTestAccount || r.pass != twTestToken {
		t.Fatalf("basic auth %v %q %q", r.basic, r.user, r.pass)
	}
	if r.contentType != "application/x-www-form-urlencoded" {
		t.Fatalf("Content-Type %q", r.contentType)
	}
	form, err := url.ParseQuery(r.body)
	if err != nil {
		t.Fatal(err)
	}
	want := url.Values{"MessagingServiceSid": {twTestService}, "To": {to}, "Body": {body}}
	if !reflect.DeepEqual(form, want) {
		t.Fatalf("form\n%q\nwant\n%q", form, want)
	}
}

func TestTwilioAllKinds(t *testing.T) {
	ts, srv := startTwilio(t)
	p := twilioFor(t, srv, "Acme Status", "+15550000001", "+15550000002")
	want := map[string]string{
		"startup":      "Startup alert for: Acme Status\n\nStatus: Healthy\nNodes: \nTime: 06:58:28 UTC+00:00\n",
		"changed dead": "Acme Status\n\nStatus: Dead\nNodes: web:api:http://a/, relay:socket:10.0.0.1\nTime: 06:58:28 UTC+00:00\n",
		"recovery":     "Acme Status\n\nStatus: Healthy\nNodes: \nTime: 06:58:28 UTC+00:00\n",
		"reminder":     "Reminder for: Acme Status\n\nStatus: Dead\nNodes: a:b:c\nTime: 06:58:28 UTC+00:00\n",
	}
	for i, tc := range provCases() {
		if err := p.Send(context.Background(), tc.n, nil); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		reqs := ts.all()
		if len(reqs) != 2*(i+1) {
			t.Fatalf("%s: %d requests", tc.name, len(reqs))
		}
		checkTwilioRequest(t, reqs[2*i], "+15550000001", want[tc.name])
		checkTwilioRequest(t, reqs[2*i+1], "+15550000002", want[tc.name])
	}
}

func TestTwilioRetriesOnlyFailedRecipients(t *testing.T) {
	ts, srv := startTwilio(t)
	p := twilioFor(t, srv, "Acme", "+15550000001", "+15550000002", "+15550000003")
	ts.setFail("+15550000002", -1)
	n := messages.Notification{Kind: messages.Changed, Status: messages.Dead, Replicas: []string{"a:b:c"}, Time: provAt}
	err := p.Send(context.Background(), n, nil)
	var pe *notifier.PartialError
	if !errors.As(err, &pe) || !reflect.DeepEqual(pe.Failed, []int{1}) {
		t.Fatalf("want PartialError{Failed: [1]}, got %#v", err)
	}
	if !strings.Contains(err.Error(), "21211") {
		t.Fatalf("error does not carry Twilio's answer: %v", err)
	}
	if got := len(ts.all()); got != 3 {
		t.Fatalf("%d requests", got)
	}
	ts.setFail("+15550000002", 0)
	if err := p.Send(context.Background(), n, pe.Failed); err != nil {
		t.Fatal(err)
	}
	reqs := ts.all()
	if len(reqs) != 4 {
		t.Fatalf("the retry sent %d requests, want 1", len(reqs)-3)
	}
	checkTwilioRequest(t, reqs[3], "+15550000002", "Acme\n\nStatus: Dead\nNodes: a:b:c\nTime: 06:58:28 UTC+00:00\n")

	// Every recipient failing: all indices, in order; an out-of-range
	// index is ignored.
	ts.setFail("+15550000001", -1)
	ts.setFail("+15550000003", -1)
	err = p.Send(context.Background(), n, []int{2, 0, 7})
	if !errors.As(err, &pe) || !reflect.DeepEqual(pe.Failed, []int{2, 0}) {
		t.Fatalf("got %v", err)
	}
}

func TestTwilioThroughTheActor(t *testing.T) {
	ts, srv := startTwilio(t)
	p := twilioFor(t, srv, "Acme", "+15550000001", "+15550000002")
	ts.setFail("+15550000002", 1) // the second number fails once
	a := notifier.New(p, notifier.Options{Attempts: 3, Backoff: 50 * time.Millisecond, Timeout: 5 * time.Second}, slog.New(slog.DiscardHandler))
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = a.Serve(ctx) }()
	defer func() { cancel(); <-done }()
	a.Mailbox() <- messages.Notification{Kind: messages.Reminder, Status: messages.Dead, Replicas: []string{"a:b:c"}, Time: provAt}
	deadline := time.Now().Add(5 * time.Second)
	for a.Stats().Delivered == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if s := a.Stats(); s.Delivered != 1 || s.Retried != 1 {
		t.Fatalf("stats %+v", s)
	}
	reqs := ts.all()
	if len(reqs) != 3 {
		t.Fatalf("%d requests, want 3 (2 + retry of the failed one)", len(reqs))
	}
	form, _ := url.ParseQuery(reqs[2].body)
	if form.Get("To") != "+15550000002" {
		t.Fatalf("retry went to %q", form.Get("To"))
	}
}

func TestTwilioTruncationIsRuneSafe(t *testing.T) {
	ts, srv := startTwilio(t)
	for _, ch := range []string{"é", "❌", "🚨"} {
		title := strings.Repeat(ch, 1200/len(ch))
		p := twilioFor(t, srv, title, "+15550000001")
		n := messages.Notification{Kind: messages.Startup, Status: messages.Healthy, Time: provAt}
		full := "Startup alert for: " + title + "\n\nStatus: Healthy\nNodes: \nTime: 06:58:28 UTC+00:00\n"
		if err := p.Send(context.Background(), n, nil); err != nil {
			t.Fatal(err)
		}
		reqs := ts.all()
		form, _ := url.ParseQuery(reqs[len(reqs)-1].body)
		body := form.Get("Body")
		if len(body) > 1000 || len(body) < 1000-utf8.UTFMax || !utf8.ValidString(body) || !strings.HasSuffix(body, "[..]") {
			t.Fatalf("%s: body of %d bytes, valid %v: %q", ch, len(body), utf8.ValidString(body), body[len(body)-10:])
		}
		if !strings.HasPrefix(full, strings.TrimSuffix(body, "[..]")) {
			t.Fatalf("%s: body is not a prefix of the text", ch)
		}
	}
	// "é" after the 19-byte prefix: byte 996 falls inside a character.
	p := twilioFor(t, srv, strings.Repeat("é", 600), "+1")
	got := p.text(messages.Notification{Kind: messages.Startup, Time: provAt})
	if len(got) != 999 || got[len(got)-4:] != "[..]" {
		t.Fatalf("cut at %d bytes", len(got))
	}
	// A text of exactly 1000 bytes is left alone.
	title := strings.Repeat("x", 1000-len("\n\nStatus: Healthy\nNodes: \nTime: 06:58:28 UTC+00:00\n"))
	if got := twilioFor(t, srv, title, "+1").text(messages.Notification{Kind: messages.Changed, Time: provAt}); len(got) != 1000 || strings.HasSuffix(got, "[..]") {
		t.Fatalf("%d bytes: %q", len(got), got[len(got)-10:])
	}
}

func TestTwilioBoundedByContext(t *testing.T) {
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		_, _ = io.ReadAll(r.Body) // then the server notices the client going away
		select {
		case <-r.Context().Done():
		case <-time.After(5 * time.Second):
		}
	}))
	defer srv.Close()
	p := twilioFor(t, srv, "Acme", "+15550000001", "+15550000002")
	ctx, cancel := context.WithTimeout(context.Background(), 200*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := p.Send(ctx, messages.Notification{Kind: messages.Startup, Time: provAt}, nil)
	var pe *notifier.PartialError
	if !errors.As(err, &pe) || !reflect.DeepEqual(pe.Failed, []int{0, 1}) || time.Since(start) > 3*time.Second {
		t.Fatalf("err %v after %v", err, time.Since(start))
	}
	if hits.Load() != 1 {
		t.Fatalf("%d requests after the deadline", hits.Load())
	}
}
