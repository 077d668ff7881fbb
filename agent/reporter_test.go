package agent

import (
	"context"
	"io"
	"log"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"

	"github.com/vigil-go/vigil/messages"
	"github.com/vigil-go/vigil/testkit"
)

// recorded is one request as the recording server saw it.
type recorded struct {
	method, uri, proto string
	header             http.Header
	body               string
	contentLength      int64
}

// recorder is a status page stand-in that records every request and
// answers with the status that answer returns (200 when nil).
type recorder struct {
	mu     sync.Mutex
	reqs   []recorded
	answer func(r *http.Request, body string) int
}

func (rc *recorder) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	rc.mu.Lock()
	rc.reqs = append(rc.reqs, recorded{method: r.Method, uri: r.RequestURI, proto: r.Proto, header: r.Header.Clone(), body: string(b), contentLength: r.ContentLength})
	answer := rc.answer
	rc.mu.Unlock()
	code := http.StatusOK
	if answer != nil {
		code = answer(r, string(b))
	}
	w.WriteHeader(code)
}

func (rc *recorder) requests() []recorded {
	rc.mu.Lock()
	defer rc.mu.Unlock()
	return append([]recorded(nil), rc.reqs...)
}

// startReporter runs a reporter for targets until the test ends.
func startReporter(t *testing.T, targets Targets, policy Policy, logs *testkit.Logs) *Reporter {
	t.Helper()
	r := NewReporter(ReporterSpec{Targets: targets, UserAgent: "vigil-local/1.2.3-go", Policy: policy, Logger: logs.Logger()})
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- r.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Error("reporter did not stop within 5 s")
		}
	})
	return r
}

func probed(key messages.ReplicaKey, s messages.Status) messages.ReplicaProbed {
	return messages.ReplicaProbed{Key: key, Result: messages.ProbeResult{Status: s}, At: time.Now()}
}

var (
	icmpKey   = messages.ReplicaKey{Probe: "internal", Node: "gateway", Replica: "icmp://127.0.0.1"}
	scriptKey = messages.ReplicaKey{Probe: "internal", Node: "capacity", Replica: "0"}
)

func fastPolicy() Policy {
	return Policy{Attempts: 4, Wait: 20 * time.Millisecond, Timeout: 2 * time.Second}
}

// TestRequestMatchesOriginal: the request is the original agent's, byte
// for byte where it matters: POST, the path with its trailing slash (one
// slash after the host even when the endpoint ends with one), Basic auth
// with an empty user, the JSON content type and length, the User-Agent
// product, and the body's field names, order and types.
func TestRequestMatchesOriginal(t *testing.T) {
	rec := &recorder{}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	endpoint, err := normalizeEndpoint(srv.URL + "/")
	if err != nil {
		t.Fatal(err)
	}
	r := startReporter(t, Targets{Endpoint: endpoint, Token: "tok:en/+", Intervals: map[messages.ReplicaKey]time.Duration{
		icmpKey: 120 * time.Second, scriptKey: 300 * time.Second,
	}}, fastPolicy(), &testkit.Logs{})
	r.Inbox() <- probed(icmpKey, messages.Healthy)
	testkit.Eventually(t, 5*time.Second, func() bool { return len(rec.requests()) == 1 }, "first report")
	r.Inbox() <- probed(scriptKey, messages.Sick)
	testkit.Eventually(t, 5*time.Second, func() bool { return len(rec.requests()) == 2 }, "second report")

	want := []struct{ uri, body string }{
		{"/reporter/internal/gateway/", `{"replica":"icmp://127.0.0.1","health":"healthy","interval":120}`},
		{"/reporter/internal/capacity/", `{"replica":"0","health":"sick","interval":300}`},
	}
	for i, got := range rec.requests() {
		if got.method != http.MethodPost || got.uri != want[i].uri || got.body != want[i].body {
			t.Errorf("request %d: %s %s %s, want POST %s %s", i, got.method, got.uri, got.body, want[i].uri, want[i].body)
		}
		h := got.header
		// base64(":tok:en/+")
		if a := h.Get("Authorization"); a != "Basic OnRvazplbi8r" {
			t.Errorf("Authorization %q", a)
		}
		if h.Get("Content-Type") != "application/json" || h.Get("User-Agent") != "vigil-local/1.2.3-go" {
			t.Errorf("headers %v", h)
		}
		if got.contentLength != int64(len(want[i].body)) {
			t.Errorf("Content-Length %d, want %d", got.contentLength, len(want[i].body))
		}
		if got.proto != "HTTP/1.1" || h.Get("Accept-Encoding") != "" || h.Get("Transfer-Encoding") != "" {
			t.Errorf("headers the original does not send: %v", h)
		}
	}
}

// TestBodyEncoding: ids are sent as written, without HTML escaping.
func TestBodyEncoding(t *testing.T) {
	got := string(Body(`https://h/?a=1&b=<2>`, messages.Dead, 90*time.Second))
	if want := `{"replica":"https://h/?a=1&b=<2>","health":"dead","interval":90}`; got != want {
		t.Errorf("body %s, want %s", got, want)
	}
	if u := ReportURL("https://h/status", "my service", "a/b"); u != "https://h/status/reporter/my%20service/a%2Fb/" {
		t.Errorf("url %s", u)
	}
}

// TestServerAnswers: each refusal of the server is logged once, in words
// that say what to fix (naming the service and node when it concerns
// one), however many results keep coming; it is counted by code; and
// reports go on on schedule. Refusals are not retried within a report.
func TestServerAnswers(t *testing.T) {
	for _, tc := range []struct {
		code int
		want string
	}{
		{http.StatusUnauthorized, "refused the token (HTTP 401)"},
		{http.StatusForbidden, "refused the token (HTTP 403): report.token must be the server's reporter_token"},
		{http.StatusNotFound, `no node "gateway" of service "internal" (HTTP 404)`},
		{http.StatusPreconditionFailed, `node "gateway" of service "internal" is not a local node on the status page (HTTP 412)`},
		{http.StatusRequestEntityTooLarge, "too large (HTTP 413)"},
		{http.StatusConflict, "push_replicas_max"},
	} {
		t.Run(http.StatusText(tc.code), func(t *testing.T) {
			rec := &recorder{answer: func(*http.Request, string) int { return tc.code }}
			srv := httptest.NewServer(rec)
			defer srv.Close()
			logs := &testkit.Logs{}
			r := startReporter(t, Targets{Endpoint: srv.URL, Token: "t", Intervals: map[messages.ReplicaKey]time.Duration{icmpKey: time.Second}}, fastPolicy(), logs)
			for i := 1; i <= 3; i++ {
				r.Inbox() <- probed(icmpKey, messages.Healthy)
				testkit.Eventually(t, 5*time.Second, func() bool {
					return testutil.ToFloat64(r.metrics.Reports.WithLabelValues("failed")) == float64(i)
				}, "report %d failed", i)
			}
			if n := len(rec.requests()); n != 3 {
				t.Errorf("%d requests for 3 results, want 3 (no retry of a refusal)", n)
			}
			errs := logs.With(t, "cannot report to the status page")
			if len(errs) != 1 {
				t.Fatalf("%d error records, want 1: %v", len(errs), errs)
			}
			if msg, _ := errs[0]["error"].(string); !strings.Contains(msg, tc.want) {
				t.Errorf("error %q lacks %q", msg, tc.want)
			}
			if errs[0]["service"] != "internal" || errs[0]["node"] != "gateway" {
				t.Errorf("record %v does not name the node", errs[0])
			}
			code := strconv.Itoa(tc.code)
			if got := testutil.ToFloat64(r.metrics.Attempts.WithLabelValues(code)); got != 3 {
				t.Errorf("attempts{code=%s} = %v, want 3", code, got)
			}
		})
	}
}

// TestRecoveryLoggedOnce: once the server accepts reports again, that is
// logged once, and a new problem is logged again.
func TestRecoveryLoggedOnce(t *testing.T) {
	var mu sync.Mutex
	code := http.StatusForbidden
	rec := &recorder{answer: func(*http.Request, string) int { mu.Lock(); defer mu.Unlock(); return code }}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	logs := &testkit.Logs{}
	r := startReporter(t, Targets{Endpoint: srv.URL, Token: "t", Intervals: map[messages.ReplicaKey]time.Duration{icmpKey: time.Second}}, fastPolicy(), logs)
	send := func(n int) {
		r.Inbox() <- probed(icmpKey, messages.Healthy)
		testkit.Eventually(t, 5*time.Second, func() bool { return len(rec.requests()) == n }, "request %d", n)
	}
	send(1)
	mu.Lock()
	code = http.StatusOK
	mu.Unlock()
	send(2)
	send(3)
	mu.Lock()
	code = http.StatusForbidden
	mu.Unlock()
	send(4)
	testkit.Eventually(t, 5*time.Second, func() bool {
		return len(logs.With(t, "cannot report to the status page")) == 2 && len(logs.With(t, "the status page accepts reports again")) == 1
	}, "two problems and one recovery logged")
}

// TestRetriesTransientFailures: no answer or a 5xx is tried again, Wait
// apart, at most Attempts times in all; a success ends it.
func TestRetriesTransientFailures(t *testing.T) {
	var mu sync.Mutex
	n := 0
	rec := &recorder{answer: func(*http.Request, string) int {
		mu.Lock()
		defer mu.Unlock()
		n++
		if n <= 2 {
			return http.StatusBadGateway
		}
		return http.StatusOK
	}}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	logs := &testkit.Logs{}
	r := startReporter(t, Targets{Endpoint: srv.URL, Token: "t", Intervals: map[messages.ReplicaKey]time.Duration{icmpKey: time.Second}}, fastPolicy(), logs)
	r.Inbox() <- probed(icmpKey, messages.Dead)
	testkit.Eventually(t, 5*time.Second, func() bool { return testutil.ToFloat64(r.metrics.Reports.WithLabelValues("sent")) == 1 }, "sent after retries")
	reqs := rec.requests()
	if len(reqs) != 3 || reqs[0].body != reqs[2].body {
		t.Errorf("%d requests, want 3 identical", len(reqs))
	}
	if len(logs.With(t, "cannot report to the status page; retrying")) != 1 || len(logs.With(t, "the status page accepts reports again")) != 1 {
		t.Error("the 502 and the recovery are not logged once each")
	}

	// A server that always fails: exactly Attempts requests, then failed.
	mu.Lock()
	n = -100
	mu.Unlock()
	before := len(rec.requests())
	r.Inbox() <- probed(icmpKey, messages.Dead)
	testkit.Eventually(t, 5*time.Second, func() bool { return testutil.ToFloat64(r.metrics.Reports.WithLabelValues("failed")) == 1 }, "failed after 4 attempts")
	if got := len(rec.requests()) - before; got != 4 {
		t.Errorf("%d attempts, want 4", got)
	}
}

// TestNetworkErrors: connection refused and TLS failures are worded as
// such, counted, and retried.
func TestNetworkErrors(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closed := "http://" + ln.Addr().String()
	ln.Close()
	tlsSrv := httptest.NewUnstartedServer(&recorder{})
	tlsSrv.Config.ErrorLog = log.New(io.Discard, "", 0) // the handshake errors are expected
	tlsSrv.StartTLS()
	defer tlsSrv.Close()
	for _, tc := range []struct {
		endpoint, code, want string
	}{
		{closed, "refused", "connection refused"},
		{tlsSrv.URL, "tls", "TLS with " + tlsSrv.URL + " failed"},
		{strings.Replace(tlsSrv.URL, "https:", "http:", 1), "400", "HTTP 400"},
	} {
		t.Run(tc.code, func(t *testing.T) {
			logs := &testkit.Logs{}
			r := startReporter(t, Targets{Endpoint: tc.endpoint, Token: "t", Intervals: map[messages.ReplicaKey]time.Duration{icmpKey: time.Second}}, fastPolicy(), logs)
			r.Inbox() <- probed(icmpKey, messages.Healthy)
			testkit.Eventually(t, 5*time.Second, func() bool { return testutil.ToFloat64(r.metrics.Reports.WithLabelValues("failed")) == 1 }, "failed")
			errs := logs.Matching(t, func(m string) bool { return strings.HasPrefix(m, "cannot report") })
			if len(errs) != 1 || !strings.Contains(errs[0]["error"].(string), tc.want) {
				t.Fatalf("records %v, want one with %q", errs, tc.want)
			}
			want := 4.0
			if tc.code == "400" {
				want = 1
			}
			if got := testutil.ToFloat64(r.metrics.Attempts.WithLabelValues(tc.code)); got != want {
				t.Errorf("attempts{code=%s} = %v, want %v", tc.code, got, want)
			}
		})
	}
}

// TestSlowServerBlocksNoOne: while the server holds one replica's report,
// the other replicas' reports go through, and of the held replica's
// results only the newest is sent once the server answers.
func TestSlowServerBlocksNoOne(t *testing.T) {
	release := make(chan struct{})
	rec := &recorder{answer: func(r *http.Request, body string) int {
		if strings.Contains(body, `"replica":"icmp://127.0.0.1","health":"healthy"`) {
			<-release
		}
		return http.StatusOK
	}}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	defer close(release)
	others := map[messages.ReplicaKey]time.Duration{icmpKey: time.Second}
	for _, id := range []string{"0", "1", "2"} {
		others[messages.ReplicaKey{Probe: "internal", Node: "capacity", Replica: id}] = time.Second
	}
	r := startReporter(t, Targets{Endpoint: srv.URL, Token: "t", Intervals: others}, Policy{Attempts: 4, Wait: 20 * time.Millisecond, Timeout: 30 * time.Second}, &testkit.Logs{})
	r.Inbox() <- probed(icmpKey, messages.Healthy) // held by the server
	testkit.Eventually(t, 5*time.Second, func() bool { return len(rec.requests()) == 1 }, "held request")
	r.Inbox() <- probed(icmpKey, messages.Sick) // waits, then replaced
	r.Inbox() <- probed(icmpKey, messages.Dead) // the newest
	for _, id := range []string{"0", "1", "2"} {
		r.Inbox() <- probed(messages.ReplicaKey{Probe: "internal", Node: "capacity", Replica: id}, messages.Healthy)
	}
	testkit.Eventually(t, 5*time.Second, func() bool { return len(rec.requests()) == 4 }, "other replicas' reports while one is held")
	release <- struct{}{}
	testkit.Eventually(t, 5*time.Second, func() bool { return len(rec.requests()) == 5 }, "the newest held result")
	last := rec.requests()[4]
	if last.body != `{"replica":"icmp://127.0.0.1","health":"dead","interval":1}` {
		t.Errorf("after the held one, sent %s, want the newest (dead)", last.body)
	}
	if got := testutil.ToFloat64(r.metrics.Reports.WithLabelValues("superseded")); got != 1 {
		t.Errorf("superseded = %v, want 1", got)
	}
}

// TestRemovedReplicas: after SetTargets, results of replicas that are gone
// are dropped, and the new endpoint and token apply.
func TestRemovedReplicas(t *testing.T) {
	rec := &recorder{}
	srv := httptest.NewServer(rec)
	defer srv.Close()
	r := startReporter(t, Targets{Endpoint: srv.URL, Token: "a", Intervals: map[messages.ReplicaKey]time.Duration{icmpKey: time.Second}}, fastPolicy(), &testkit.Logs{})
	r.Inbox() <- probed(icmpKey, messages.Healthy)
	testkit.Eventually(t, 5*time.Second, func() bool { return len(rec.requests()) == 1 }, "first")
	r.SetTargets(Targets{Endpoint: srv.URL + "/status", Token: "b", Intervals: map[messages.ReplicaKey]time.Duration{scriptKey: time.Minute}})
	r.Inbox() <- probed(icmpKey, messages.Healthy)
	r.Inbox() <- probed(scriptKey, messages.Healthy)
	testkit.Eventually(t, 5*time.Second, func() bool { return len(rec.requests()) == 2 }, "second")
	got := rec.requests()[1]
	if got.uri != "/status/reporter/internal/capacity/" || got.header.Get("Authorization") != BasicAuth("b") ||
		got.body != `{"replica":"0","health":"healthy","interval":60}` {
		t.Errorf("after SetTargets: %s %s %v", got.uri, got.body, got.header)
	}
	// The removed replica's result was dropped, not sent late.
	r.Inbox() <- probed(scriptKey, messages.Sick)
	testkit.Eventually(t, 5*time.Second, func() bool { return len(rec.requests()) == 3 }, "third")
	for _, q := range rec.requests()[1:] {
		if strings.Contains(q.body, "icmp") {
			t.Errorf("removed replica reported: %s", q.body)
		}
	}
}
