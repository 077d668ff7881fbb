package supervisors

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/vigil-go/vigil/actors/notifier/providers"
	"github.com/vigil-go/vigil/actors/replica"
	"github.com/vigil-go/vigil/config"
	"github.com/vigil-go/vigil/messages"
)

// switchable probes report whatever status the test sets.
type switchable struct{ status atomic.Uint32 }

func (s *switchable) Probe(context.Context) messages.ProbeResult {
	st := messages.Status(s.status.Load())
	r := messages.ProbeResult{Status: st, Latency: time.Millisecond}
	if st != messages.Healthy {
		r.Err = "test says " + st.String()
	}
	return r
}

type fakeFactory struct{ probes map[string]*switchable }

func (f *fakeFactory) get(id string) *switchable {
	if p, ok := f.probes[id]; ok {
		return p
	}
	p := &switchable{}
	f.probes[id] = p
	return p
}

func (f *fakeFactory) Poll(_ config.Service, _ config.Node, r config.Replica) replica.Prober {
	return f.get(r.ID)
}

func (f *fakeFactory) Script(_ config.Service, n config.Node, i int) replica.Prober {
	return f.get(n.ID + "#" + strconv.Itoa(i))
}

func treeConfig(hook string) *config.Config {
	return &config.Config{
		Server:   config.Server{Inet: "127.0.0.1:0"},
		Branding: config.Branding{PageTitle: "Tree", PageURL: "http://tree.test/"},
		Metrics: config.Metrics{PollInterval: 200 * time.Millisecond, PollParallelism: 2, ScriptParallelism: 1,
			ScriptInterval: time.Second},
		Notify: &config.Notify{StartupNotification: true, ReminderBackoffFunction: "none", Notifiers: map[string]any{"webhook": &providers.Webhook{HookURL: hook}}},
		Probe: config.Probe{Services: []config.Service{{ID: "web", Label: "Web", Nodes: []config.Node{
			{ID: "api", Label: "API", Mode: config.ModePoll, Replicas: []config.Replica{{ID: "http://a/", Kind: config.KindHTTP}, {ID: "http://b/", Kind: config.KindHTTP}}},
		}}}},
	}
}

type hook struct {
	Type     string   `json:"type"`
	Status   string   `json:"status"`
	Replicas []string `json:"replicas"`
	// Path is the request's URL path.
	Path string `json:"-"`
}

// hookSink is a webhook endpoint inside the test: the tree's notifier HTTP
// client hands it each request without a socket, so that a tree using it
// runs in a synctest bubble.
type hookSink struct {
	t     *testing.T
	hooks chan hook
	hits  atomic.Int64
	// hang, when not nil, holds every request until it is closed or the
	// request's context ends.
	hang chan struct{}
}

func newHookSink(t *testing.T) *hookSink { return &hookSink{t: t, hooks: make(chan hook, 64)} }

func (s *hookSink) client() *http.Client { return &http.Client{Transport: s} }

func (s *hookSink) RoundTrip(r *http.Request) (*http.Response, error) {
	s.hits.Add(1)
	if s.hang != nil {
		select {
		case <-s.hang:
		case <-r.Context().Done():
			return nil, r.Context().Err()
		}
	}
	body, _ := io.ReadAll(r.Body)
	r.Body.Close()
	var h hook
	if err := json.Unmarshal(body, &h); err != nil {
		s.t.Errorf("bad webhook body %q", body)
	}
	h.Path = r.URL.Path
	s.hooks <- h
	return &http.Response{StatusCode: http.StatusOK, Header: http.Header{}, Body: http.NoBody, Request: r}, nil
}

// startTree builds a tree without the web layer, whose notifiers deliver
// to sink (nil: the real HTTP client), and serves it until the test ends.
func startTree(t *testing.T, cfg *config.Config, f *fakeFactory, sink *hookSink) *Tree {
	t.Helper()
	deps := Deps{Logger: slog.New(slog.DiscardHandler), ProbeFactory: f, DisableWeb: true, NotifierBackoff: 50 * time.Millisecond}
	if sink != nil {
		deps.NotifierClient = sink.client()
	}
	tree, err := Build(cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	runTree(t, tree)
	return tree
}

// runTree serves tree until the test ends.
func runTree(t *testing.T, tree *Tree) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tree.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("tree did not stop")
		}
	})
}

// advanceUntil moves a synctest bubble's clock in small steps until cond
// holds; it fails the test after limit of bubble time.
func advanceUntil(t *testing.T, limit time.Duration, cond func() bool, what string) {
	t.Helper()
	synctest.Wait()
	for start := time.Now(); !cond(); synctest.Wait() {
		if time.Since(start) > limit {
			t.Fatalf("%s: not after %v", what, limit)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// waitStatus waits (in a synctest bubble) for the published general status.
func waitStatus(t *testing.T, tree *Tree, want messages.Status) {
	t.Helper()
	advanceUntil(t, 5*time.Second, func() bool { return tree.Published.Latest().Status == want },
		"general status "+want.String())
}

func nextHook(t *testing.T, hooks <-chan hook) hook {
	t.Helper()
	select {
	case h := <-hooks:
		return h
	case <-time.After(5 * time.Second):
		t.Fatal("no webhook")
	}
	return hook{}
}

// TestTreeWebhookScenario: startup once; dead and recovery notified with the
// right replica lists; healthy->sick silent.
func TestTreeWebhookScenario(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sink := newHookSink(t)
		f := &fakeFactory{probes: map[string]*switchable{}}
		tree := startTree(t, treeConfig("http://hooks.test/"), f, sink)

		if h := nextHook(t, sink.hooks); h.Type != "startup" || h.Status != "healthy" || len(h.Replicas) != 0 {
			t.Fatalf("first webhook %+v", h)
		}
		waitStatus(t, tree, messages.Healthy)
		f.get("http://b/").status.Store(uint32(messages.Dead))
		if h := nextHook(t, sink.hooks); h.Type != "changed" || h.Status != "dead" || len(h.Replicas) != 1 || h.Replicas[0] != "web:api:http://b/" {
			t.Fatalf("dead webhook %+v", h)
		}
		f.get("http://b/").status.Store(uint32(messages.Healthy))
		if h := nextHook(t, sink.hooks); h.Type != "changed" || h.Status != "healthy" || len(h.Replicas) != 0 {
			t.Fatalf("recovery webhook %+v", h)
		}
		f.get("http://a/").status.Store(uint32(messages.Sick))
		waitStatus(t, tree, messages.Sick)
		time.Sleep(10 * time.Second) // many probe rounds, and a reminder tick
		synctest.Wait()
		if len(sink.hooks) != 0 {
			t.Fatalf("healthy->sick sent a webhook: %+v", <-sink.hooks)
		}
	})
}

// TestTreeHangingWebhook: a webhook endpoint that never answers does not
// delay probing or the published status.
func TestTreeHangingWebhook(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sink := newHookSink(t)
		sink.hang = make(chan struct{})
		defer close(sink.hang)
		f := &fakeFactory{probes: map[string]*switchable{}}
		tree := startTree(t, treeConfig("http://hooks.test/"), f, sink)
		synctest.Wait()
		if sink.hits.Load() != 1 {
			t.Fatalf("%d webhook attempts, want the startup one, hanging", sink.hits.Load())
		}
		// While the startup notification hangs, statuses keep flowing, at
		// the pace of the probes (every 200 ms).
		for _, s := range []messages.Status{messages.Dead, messages.Healthy, messages.Sick, messages.Dead} {
			f.get("http://a/").status.Store(uint32(s))
			start := time.Now()
			waitStatus(t, tree, s)
			if d := time.Since(start); d > 500*time.Millisecond {
				t.Fatalf("status %v took %v to publish behind a hanging webhook", s, d)
			}
		}
	})
}
