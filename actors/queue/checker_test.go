package queue_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/vigil-go/vigil/actors/node"
	"github.com/vigil-go/vigil/actors/queue"
	"github.com/vigil-go/vigil/config"
	"github.com/vigil-go/vigil/messages"
)

const wait = 10 * time.Second // bound of every wait on a fake server

func plugin(apiURL string) config.RabbitMQ {
	return config.RabbitMQ{
		APIURL: apiURL, AuthUsername: "watcher", AuthPassword: "s3cret", Virtualhost: "%2F",
		QueueReadyHealthyBelow: 5, QueueNackHealthyBelow: 3, QueueReadyDeadAbove: 10, QueueNackDeadAbove: 6,
	}
}

// rig runs one checker whose node actor is played by the test.
type rig struct {
	c      *queue.Checker
	out    chan messages.NodeMessage
	counts *queue.Counters
}

func startChecker(t *testing.T, s queue.Spec) *rig {
	t.Helper()
	r := &rig{out: make(chan messages.NodeMessage, 64)}
	if s.Out == nil {
		s.Out = r.out
	}
	if s.Queue == "" {
		s.Queue = "jobs"
	}
	if s.Timeout == 0 {
		s.Timeout = 2 * time.Second
	}
	if s.MinGap == 0 {
		s.MinGap = -1
	}
	if s.Recheck == 0 {
		s.Recheck = time.Hour
	}
	s.Probe, s.Node, s.PageURL = "relay", "socket", "https://status.example.com/"
	if s.Counters == nil {
		s.Counters = &queue.Counters{}
	}
	r.counts = s.Counters
	r.c = queue.New(s)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() { defer close(done); _ = r.c.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(wait):
			t.Error("checker did not stop")
		}
	})
	return r
}

// poke signals the way the node actor does: merge with a pending signal.
func (r *rig) poke(check, active bool) {
	s := messages.QueueSignal{Check: check, Active: active}
	ch := r.c.Signals()
	select {
	case old := <-ch:
		s = old.Merge(s)
	default:
	}
	ch <- s
}

func (r *rig) next(t *testing.T) messages.QueueReading {
	t.Helper()
	select {
	case m := <-r.out:
		return m.(messages.QueueReading)
	case <-time.After(wait):
		t.Fatal("no queue reading")
	}
	panic("unreachable")
}

func (r *rig) readOnce(t *testing.T) messages.QueueReading {
	t.Helper()
	r.poke(true, false)
	return r.next(t)
}

// counts answers a queue object with the given counts.
func counts(ready, unacked uint64) http.HandlerFunc {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"name":"jobs","vhost":"/","messages":%d,"messages_ready":%d,"messages_unacknowledged":%d,"consumers":1}`,
			ready+unacked, ready, unacked)
	}
}

func TestQueueURLEscaping(t *testing.T) {
	cases := []struct{ api, vhost, queue, want string }{
		{"http://127.0.0.1:15672", "/", "jobs", "http://127.0.0.1:15672/api/queues/%2F/jobs"},
		{"http://127.0.0.1:15672", "%2F", "jobs", "http://127.0.0.1:15672/api/queues/%2F/jobs"},
		{"http://127.0.0.1:15672", "%2f", "jobs", "http://127.0.0.1:15672/api/queues/%2F/jobs"},
		{"http://127.0.0.1:15672/", "vigil/test", "jobs", "http://127.0.0.1:15672/api/queues/vigil%2Ftest/jobs"},
		{"http://127.0.0.1:15672", "vigil%2Ftest", "jobs", "http://127.0.0.1:15672/api/queues/vigil%2Ftest/jobs"},
		{"http://127.0.0.1:15672", "prod", "my queue/high?x#y", "http://127.0.0.1:15672/api/queues/prod/my%20queue%2Fhigh%3Fx%23y"},
		{"http://127.0.0.1:15672", "prod", "my%20queue", "http://127.0.0.1:15672/api/queues/prod/my%20queue"},
		{"http://127.0.0.1:15672", "100%", "q", "http://127.0.0.1:15672/api/queues/100%25/q"},
		{"http://127.0.0.1:15672", "%2F%zz", "q", "http://127.0.0.1:15672/api/queues/%252F%25zz/q"},
		{"https://u:p@mq.example.com:8443/mgmt/?x=1#frag", "/", "q", "https://mq.example.com:8443/api/queues/%2F/q"},
	}
	for _, c := range cases {
		got, err := queue.QueueURL(c.api, c.vhost, c.queue)
		if err != nil || got != c.want {
			t.Errorf("QueueURL(%q, %q, %q) = %q, %v; want %q", c.api, c.vhost, c.queue, got, err, c.want)
		}
	}
	for _, bad := range []string{"ftp://h/", "127.0.0.1:15672", "http://"} {
		if got, err := queue.QueueURL(bad, "/", "q"); err == nil {
			t.Errorf("QueueURL(%q) = %q, want an error", bad, got)
		}
	}
}

func TestRequestAsSent(t *testing.T) {
	var got struct {
		sync.Mutex
		method, path, user, pass, agent string
		ok                              bool
	}
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		got.Lock()
		got.method, got.path, got.agent = r.Method, r.URL.EscapedPath(), r.UserAgent()
		got.user, got.pass, got.ok = r.BasicAuth()
		got.Unlock()
		counts(0, 0)(w, r)
	}))
	defer srv.Close()
	p := plugin(srv.URL + "/ignored/path")
	p.Virtualhost = "/"
	rd := startChecker(t, queue.Spec{Plugin: p, Queue: "orders in"}).readOnce(t)
	if rd.Err != "" {
		t.Fatal(rd.Err)
	}
	got.Lock()
	defer got.Unlock()
	if got.method != "GET" || got.path != "/api/queues/%2F/orders%20in" || !got.ok || got.user != "watcher" ||
		got.pass != "s3cret" || got.agent != "vigil (+https://status.example.com/)" {
		t.Fatalf("request %+v", &got)
	}
}

func TestThresholds(t *testing.T) {
	nack := func(v uint32) *uint32 { return &v }
	cases := []struct {
		ready, unacked  uint64
		healthy, dead   *uint32 // node overrides
		loaded, stalled bool
	}{
		{4, 2, nil, nil, false, false},
		{5, 0, nil, nil, true, false},  // ready >= 5
		{0, 3, nil, nil, true, false},  // unacked >= 3
		{10, 6, nil, nil, true, false}, // at the dead thresholds: not above
		{11, 0, nil, nil, true, true},  // ready > 10
		{0, 7, nil, nil, true, true},   // unacked > 6
		{0, 7, nack(100), nack(200), false, false},
		{0, 100, nack(100), nack(200), true, false},
		{0, 201, nack(100), nack(200), true, true},
		{11, 0, nack(100), nack(200), true, true}, // the ready thresholds have no override
		{0, 1, nack(1), nack(0), true, true},
	}
	for _, c := range cases {
		srv := httptest.NewServer(counts(c.ready, c.unacked))
		rd := startChecker(t, queue.Spec{Plugin: plugin(srv.URL), NackHealthyBelow: c.healthy, NackDeadAbove: c.dead}).readOnce(t)
		srv.Close()
		if rd.Err != "" || rd.Ready != c.ready || rd.Unacked != c.unacked || rd.Loaded != c.loaded || rd.Stalled != c.stalled || rd.At.IsZero() {
			t.Errorf("ready %d unacked %d overrides %v/%v: %+v; want loaded %v stalled %v",
				c.ready, c.unacked, c.healthy, c.dead, rd, c.loaded, c.stalled)
		}
	}
}

func TestFailuresGiveAnErrorReading(t *testing.T) {
	slow := make(chan struct{})
	defer close(slow)
	var redirectHit atomic.Bool
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		redirectHit.Store(true)
		counts(50, 50)(w, r)
	}))
	defer target.Close()
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedURL := "http://" + closed.Addr().String()
	closed.Close()

	body := func(status int, s string) http.HandlerFunc {
		return func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(status)
			fmt.Fprint(w, s)
		}
	}
	cases := []struct {
		name    string
		handler http.HandlerFunc
		url     string
		want    string
	}{
		{"wrong password", body(401, `{"error":"not_authorised","reason":"Login failed"}`), "", "HTTP 401 Unauthorized"},
		{"unknown queue", body(404, `{"error":"Object Not Found","reason":"Not Found"}`), "", "HTTP 404"},
		{"server error", body(500, `oops`), "", "HTTP 500"},
		{"204 is not 200", body(204, ``), "", "HTTP 204"},
		{"redirect not followed", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, target.URL+"/api/queues/%2F/jobs", http.StatusFound)
		}, "", "HTTP 302"},
		{"not JSON", body(200, `<html>`), "", "bad JSON"},
		{"truncated JSON", body(200, `{"messages_ready":1,`), "", "bad JSON"},
		{"float count", body(200, `{"messages_ready":1.5,"messages_unacknowledged":0}`), "", "bad JSON"},
		{"negative count", body(200, `{"messages_ready":-1,"messages_unacknowledged":0}`), "", "bad JSON"},
		{"string count", body(200, `{"messages_ready":"1","messages_unacknowledged":0}`), "", "bad JSON"},
		{"no counts yet", body(200, `{"name":"jobs","vhost":"/"}`), "", "no messages_ready"},
		{"null count", body(200, `{"messages_ready":null,"messages_unacknowledged":0}`), "", "no messages_ready"},
		{"timeout", func(w http.ResponseWriter, r *http.Request) {
			select {
			case <-slow:
			case <-r.Context().Done():
			}
		}, "", "timed out after 200ms"},
		{"stopped endpoint", nil, closedURL, "connection refused"},
		{"invalid api_url", nil, "ftp://127.0.0.1/", "invalid api_url"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			u := c.url
			if c.handler != nil {
				srv := httptest.NewServer(c.handler)
				defer srv.Close()
				u = srv.URL
			}
			r := startChecker(t, queue.Spec{Plugin: plugin(u), Timeout: 200 * time.Millisecond})
			rd := r.readOnce(t)
			if !strings.Contains(rd.Err, c.want) || rd.Loaded || rd.Stalled || rd.Ready != 0 || rd.Unacked != 0 {
				t.Fatalf("reading %+v; want Err containing %q and nothing else", rd, c.want)
			}
			if strings.Contains(rd.Err, "/api/queues") || strings.Contains(rd.Err, "s3cret") {
				t.Fatalf("error %q leaks the URL or the password (it is shown on the page)", rd.Err)
			}
			if r.counts.Failures() != 1 || r.counts.Calls() != 1 {
				t.Fatalf("failures %d calls %d, want 1 and 1", r.counts.Failures(), r.counts.Calls())
			}
		})
	}
	if redirectHit.Load() {
		t.Fatal("a redirect was followed")
	}
}

func TestLoadedRetryDelay(t *testing.T) {
	// The server answers the successive calls from a script.
	script := func(answers ...[2]uint64) (*httptest.Server, *atomic.Int32) {
		var n atomic.Int32
		return httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			i := min(int(n.Add(1))-1, len(answers)-1)
			counts(answers[i][0], answers[i][1])(w, r)
		})), &n
	}
	cases := []struct {
		name    string
		answers [][2]uint64
		delay   time.Duration
		calls   int32
		want    messages.QueueReading
	}{
		{"loaded then fine: second wins", [][2]uint64{{6, 0}, {1, 0}}, 50 * time.Millisecond, 2, messages.QueueReading{Ready: 1}},
		{"loaded twice", [][2]uint64{{6, 0}, {7, 0}}, 50 * time.Millisecond, 2, messages.QueueReading{Ready: 7, Loaded: true}},
		{"loaded then stalled", [][2]uint64{{6, 0}, {20, 0}}, 50 * time.Millisecond, 2, messages.QueueReading{Ready: 20, Loaded: true, Stalled: true}},
		{"not loaded: no retry", [][2]uint64{{1, 0}, {9, 0}}, 50 * time.Millisecond, 1, messages.QueueReading{Ready: 1}},
		{"loaded, no delay set: no retry", [][2]uint64{{6, 0}, {1, 0}}, 0, 1, messages.QueueReading{Ready: 6, Loaded: true}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			srv, n := script(c.answers...)
			defer srv.Close()
			p := plugin(srv.URL)
			p.QueueLoadedRetryDelay = c.delay
			start := time.Now()
			rd := startChecker(t, queue.Spec{Plugin: p}).readOnce(t)
			rd.At = time.Time{}
			if rd != c.want || n.Load() != c.calls {
				t.Fatalf("reading %+v after %d calls; want %+v after %d", rd, n.Load(), c.want, c.calls)
			}
			if c.calls == 2 && time.Since(start) < c.delay {
				t.Fatal("re-checked before the delay")
			}
		})
	}
	t.Run("error on the re-check replaces the first reading", func(t *testing.T) {
		var n atomic.Int32
		srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			if n.Add(1) == 1 {
				counts(8, 0)(w, r)
				return
			}
			w.WriteHeader(503)
		}))
		defer srv.Close()
		p := plugin(srv.URL)
		p.QueueLoadedRetryDelay = 10 * time.Millisecond
		rd := startChecker(t, queue.Spec{Plugin: p}).readOnce(t)
		if !strings.Contains(rd.Err, "503") || rd.Loaded || rd.Ready != 0 {
			t.Fatalf("reading %+v", rd)
		}
	})
}

// fakeAPI plays the management API in memory, so that a test can run in a
// synctest bubble (a goroutine waiting on a real socket is not durably
// blocked, so the bubble's clock and synctest.Wait could not be used).
// answer gives the response to the n-th call (from 1).
type fakeAPI struct {
	calls  atomic.Int32
	answer func(n int32, r *http.Request) (*http.Response, error)
}

// fakeURL is the api_url of a checker that talks to a fakeAPI.
const fakeURL = "http://rabbitmq.invalid:15672"

func (f *fakeAPI) RoundTrip(r *http.Request) (*http.Response, error) {
	return f.answer(f.calls.Add(1), r)
}

func (f *fakeAPI) client() *http.Client { return &http.Client{Transport: f} }

// countsResponse is the answer of counts(ready, unacked) to r.
func countsResponse(r *http.Request, ready, unacked uint64) *http.Response {
	rec := httptest.NewRecorder()
	counts(ready, unacked)(rec, r)
	return rec.Result()
}

// blockUntil waits for release, or fails the call when its context ends.
func blockUntil(release <-chan struct{}, r *http.Request) error {
	select {
	case <-release:
		return nil
	case <-r.Context().Done():
		return r.Context().Err()
	}
}

// TestCoalescing drives a real node actor: 100 reports in a burst while
// the first check is in flight cost exactly two API calls (the one in
// flight and one pending). It runs in a synctest bubble so that "the burst
// has been handled" and "nothing else is going to happen" are facts
// (synctest.Wait), not guesses from a pause.
func TestCoalescing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		release := make(chan struct{})
		api := &fakeAPI{answer: func(n int32, r *http.Request) (*http.Response, error) {
			if n == 1 {
				if err := blockUntil(release, r); err != nil {
					return nil, err
				}
			}
			return countsResponse(r, 0, 0), nil
		}}
		n := startNode(t, queue.Spec{Plugin: plugin(fakeURL), Client: api.client(), Timeout: wait})
		n.report(t, "r1")
		synctest.Wait() // the first check is in flight, blocked on release
		if c := api.calls.Load(); c != 1 {
			t.Fatalf("%d API calls after the first report, want 1", c)
		}
		for i := range 100 {
			n.report(t, fmt.Sprintf("r%d", i%7))
		}
		synctest.Wait() // every report handled and its check request merged
		close(release)
		// Far past MinGap, well before Recheck (1 h) and any report deadline.
		time.Sleep(time.Minute)
		synctest.Wait()
		if c := api.calls.Load(); c != 2 {
			t.Fatalf("%d API calls for a burst of 101 reports, want 2 (the one in flight, then the pending one)", c)
		}
	})
}

func TestMinGapSpacesChecks(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var at []time.Time // appended by the checker's goroutine, read after synctest.Wait
		api := &fakeAPI{answer: func(_ int32, r *http.Request) (*http.Response, error) {
			at = append(at, time.Now())
			return countsResponse(r, 0, 0), nil
		}}
		r := startChecker(t, queue.Spec{Plugin: plugin(fakeURL), Client: api.client(), MinGap: 300 * time.Millisecond})
		start := time.Now()
		r.poke(true, true)
		r.next(t)
		r.poke(true, true) // right after: deferred to the end of the gap
		r.next(t)
		synctest.Wait()
		// The gap runs between check starts; the bubble's clock makes it exact.
		if len(at) != 2 || !at[0].Equal(start) || at[1].Sub(at[0]) != 300*time.Millisecond {
			t.Fatalf("checks at %v (started %v), want two exactly 300ms apart from the start", at, start)
		}
	})
}

func TestBoundedConcurrencyAcrossNodes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var cur, peak atomic.Int32
		release := make(chan struct{})
		api := &fakeAPI{answer: func(_ int32, r *http.Request) (*http.Response, error) {
			c := cur.Add(1)
			defer cur.Add(-1)
			for {
				p := peak.Load()
				if c <= p || peak.CompareAndSwap(p, c) {
					break
				}
			}
			if err := blockUntil(release, r); err != nil {
				return nil, err
			}
			return countsResponse(r, 0, 0), nil
		}}
		lim := queue.NewLimiter(2)
		var rigs []*rig
		for i := range 6 {
			rigs = append(rigs, startChecker(t, queue.Spec{Plugin: plugin(fakeURL), Client: api.client(),
				Queue: fmt.Sprintf("q%d", i), Limiter: lim, Timeout: wait}))
		}
		for _, r := range rigs {
			r.poke(true, false)
		}
		synctest.Wait() // every checker is either in a call or waiting for a slot
		if c := cur.Load(); c != 2 {
			t.Fatalf("%d calls in flight with a limiter of 2", c)
		}
		close(release)
		for _, r := range rigs {
			if rd := r.next(t); rd.Err != "" {
				t.Fatal(rd.Err)
			}
		}
		if p, c := peak.Load(), api.calls.Load(); p != 2 || c != 6 {
			t.Fatalf("peak concurrency %d over %d calls, want 2 over 6", p, c)
		}
	})
}

func TestTimerRechecksWhileActive(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		api := &fakeAPI{answer: func(_ int32, r *http.Request) (*http.Response, error) {
			return countsResponse(r, 0, 0), nil
		}}
		r := startChecker(t, queue.Spec{Plugin: plugin(fakeURL), Client: api.client(), Recheck: 50 * time.Millisecond})
		// Inactive: no check at all, however long.
		time.Sleep(time.Hour)
		synctest.Wait()
		if c := api.calls.Load(); c != 0 {
			t.Fatalf("%d checks without being asked", c)
		}
		// Active without a report: checks at once, then every Recheck
		// (0, 50, 100 and 150 ms into the wait).
		r.poke(false, true)
		time.Sleep(175 * time.Millisecond)
		synctest.Wait()
		if c := api.calls.Load(); c != 4 {
			t.Fatalf("%d checks in 175ms with a 50ms re-check, want 4", c)
		}
		// Inactive again: the timer stops.
		r.poke(false, false)
		synctest.Wait()
		before := api.calls.Load()
		time.Sleep(time.Hour)
		synctest.Wait()
		if after := api.calls.Load(); after != before {
			t.Fatalf("%d checks after the node went inactive", after-before)
		}
		// A report on an inactive node still gets exactly one check.
		for len(r.out) > 0 {
			<-r.out
		}
		r.poke(true, false)
		r.next(t)
		time.Sleep(time.Hour)
		synctest.Wait()
		if after := api.calls.Load(); after != before+1 {
			t.Fatalf("%d checks for one report on an inactive node", after-before)
		}
	})
}

func TestLogsFailureChangesOnly(t *testing.T) {
	var failing atomic.Bool
	failing.Store(true)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if failing.Load() {
			w.WriteHeader(401)
			return
		}
		counts(0, 0)(w, r)
	}))
	defer srv.Close()
	var mu sync.Mutex
	var buf bytes.Buffer
	logger := slog.New(slog.NewJSONHandler(&lockedWriter{mu: &mu, w: &buf}, nil))
	r := startChecker(t, queue.Spec{Plugin: plugin(srv.URL), Recheck: 10 * time.Millisecond, Logger: logger})
	r.poke(true, true)
	for range 5 {
		r.next(t)
	}
	failing.Store(false)
	for rd := r.next(t); rd.Err != ""; rd = r.next(t) {
	}
	for range 3 {
		r.next(t)
	}
	if f := r.counts.Failures(); f < 5 {
		t.Fatalf("failures %d, want at least 5", f)
	}
	mu.Lock()
	defer mu.Unlock()
	var warns, infos int
	for line := range strings.Lines(buf.String()) {
		var rec struct{ Level, Msg, Error string }
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			t.Fatal(err)
		}
		switch rec.Level {
		case "WARN":
			warns++
			if !strings.Contains(rec.Error, "401") {
				t.Errorf("warning %q", line)
			}
		case "INFO":
			infos++
		}
	}
	if warns != 1 || infos != 1 {
		t.Fatalf("%d warnings and %d infos, want one of each:\n%s", warns, infos, buf.String())
	}
}

type lockedWriter struct {
	mu *sync.Mutex
	w  *bytes.Buffer
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

func TestFullMailboxDropsReading(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		api := &fakeAPI{answer: func(_ int32, r *http.Request) (*http.Response, error) {
			return countsResponse(r, 1, 0), nil
		}}
		full := make(chan messages.NodeMessage) // nobody receives
		r := startChecker(t, queue.Spec{Plugin: plugin(fakeURL), Client: api.client(), Out: full})
		r.poke(true, false)
		synctest.Wait()
		if d := r.counts.Dropped(); d != 1 {
			t.Fatalf("%d readings dropped, want 1", d)
		}
		r.poke(true, false) // the checker is not stuck
		synctest.Wait()
		if d := r.counts.Dropped(); d != 2 {
			t.Fatalf("%d readings dropped, want 2", d)
		}
	})
}

// nodeRig is a push node actor wired to a checker, as the tree wires them.
type nodeRig struct {
	checker *queue.Checker
	counts  *queue.Counters
	router  *node.Router
	out     chan messages.StateMessage
}

func startNode(t *testing.T, s queue.Spec) *nodeRig {
	t.Helper()
	n := &nodeRig{out: make(chan messages.StateMessage, 1024)}
	sig := queue.NewSignals()
	a := node.New(node.Spec{Probe: "relay", Node: "socket", Mode: config.ModePush, DelayDead: time.Minute,
		CPUSickAbove: 0.99, RAMSickAbove: 0.99, Out: n.out, Logger: slog.New(slog.DiscardHandler), QueueSignals: sig})
	s.Signals, s.Out = sig, a.Mailbox()
	s.Probe, s.Node, s.PageURL = "relay", "socket", "https://status.example.com/"
	if s.Queue == "" {
		s.Queue = "jobs"
	}
	if s.MinGap == 0 {
		s.MinGap = -1
	}
	if s.Recheck == 0 {
		s.Recheck = time.Hour
	}
	if s.Counters == nil {
		s.Counters = &queue.Counters{}
	}
	n.counts = s.Counters
	n.checker = queue.New(s)
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Go(func() { _ = a.Serve(ctx) })
	wg.Go(func() { _ = n.checker.Serve(ctx) })
	t.Cleanup(func() { cancel(); wg.Wait() })
	n.router = node.NewRouter(&config.Config{Probe: config.Probe{Services: []config.Service{
		{ID: "relay", Nodes: []config.Node{{ID: "socket", Mode: config.ModePush}}},
	}}}, []*node.Actor{a})
	return n
}

func (n *nodeRig) report(t *testing.T, replica string) {
	t.Helper()
	err := n.router.Report(t.Context(), "relay", "socket", messages.Report{Replica: replica, Interval: 10 * time.Minute,
		Load: &messages.Load{CPU: 0.1, RAM: 0.1}, At: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
}

// waitUpdate returns the first update (within bound) that satisfies ok.
func (n *nodeRig) waitUpdate(t *testing.T, what string, bound time.Duration, ok func(messages.ReplicaUpdated) bool) messages.ReplicaUpdated {
	t.Helper()
	deadline := time.After(bound)
	var last messages.ReplicaUpdated
	for {
		select {
		case m := <-n.out:
			if u, isUpdate := m.(messages.ReplicaUpdated); isUpdate {
				last = u
				if ok(u) {
					return u
				}
			}
		case <-deadline:
			t.Fatalf("timed out waiting for %s; last update %+v queue %+v", what, last, last.Queue)
		}
	}
}
