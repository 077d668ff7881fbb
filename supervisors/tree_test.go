package supervisors

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"sync/atomic"
	"testing"
	"time"

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
		Notify: &config.Notify{StartupNotification: true, ReminderBackoffFunction: "none", Webhook: &config.Webhook{HookURL: hook}},
		Probe: config.Probe{Services: []config.Service{{ID: "web", Label: "Web", Nodes: []config.Node{
			{ID: "api", Label: "API", Mode: config.ModePoll, Replicas: []config.Replica{{ID: "http://a/", Kind: config.KindHTTP}, {ID: "http://b/", Kind: config.KindHTTP}}},
		}}}},
	}
}

type hook struct {
	Type     string   `json:"type"`
	Status   string   `json:"status"`
	Replicas []string `json:"replicas"`
}

func startTree(t *testing.T, cfg *config.Config, f *fakeFactory) *Tree {
	t.Helper()
	tree, err := Build(cfg, Deps{Logger: slog.New(slog.DiscardHandler), ProbeFactory: f, DisableWeb: true, NotifierBackoff: 50 * time.Millisecond})
	if err != nil {
		t.Fatal(err)
	}
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
	return tree
}

func waitStatus(t *testing.T, tree *Tree, want messages.Status) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for tree.Published.Latest().Status != want {
		if time.Now().After(deadline) {
			t.Fatalf("general status %v, want %v", tree.Published.Latest().Status, want)
		}
		time.Sleep(20 * time.Millisecond)
	}
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
	hooks := make(chan hook, 16)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var h hook
		body, _ := io.ReadAll(r.Body)
		if err := json.Unmarshal(body, &h); err != nil {
			t.Errorf("bad webhook body %q", body)
		}
		hooks <- h
	}))
	defer srv.Close()
	f := &fakeFactory{probes: map[string]*switchable{}}
	tree := startTree(t, treeConfig(srv.URL), f)

	if h := nextHook(t, hooks); h.Type != "startup" || h.Status != "healthy" || len(h.Replicas) != 0 {
		t.Fatalf("first webhook %+v", h)
	}
	waitStatus(t, tree, messages.Healthy)
	f.get("http://b/").status.Store(uint32(messages.Dead))
	if h := nextHook(t, hooks); h.Type != "changed" || h.Status != "dead" || len(h.Replicas) != 1 || h.Replicas[0] != "web:api:http://b/" {
		t.Fatalf("dead webhook %+v", h)
	}
	f.get("http://b/").status.Store(uint32(messages.Healthy))
	if h := nextHook(t, hooks); h.Type != "changed" || h.Status != "healthy" || len(h.Replicas) != 0 {
		t.Fatalf("recovery webhook %+v", h)
	}
	f.get("http://a/").status.Store(uint32(messages.Sick))
	waitStatus(t, tree, messages.Sick)
	select {
	case h := <-hooks:
		t.Fatalf("healthy->sick sent a webhook: %+v", h)
	case <-time.After(time.Second):
	}
}

// TestTreeHangingWebhook: a webhook endpoint that never answers does not
// delay probing or the published status.
func TestTreeHangingWebhook(t *testing.T) {
	release := make(chan struct{})
	var hits atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		<-release
	}))
	defer srv.Close()
	defer close(release)
	f := &fakeFactory{probes: map[string]*switchable{}}
	tree := startTree(t, treeConfig(srv.URL), f)
	deadline := time.Now().Add(5 * time.Second)
	for hits.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	if hits.Load() == 0 {
		t.Fatal("startup webhook never attempted")
	}
	// While the startup notification hangs, statuses keep flowing.
	for _, s := range []messages.Status{messages.Dead, messages.Healthy, messages.Sick, messages.Dead} {
		f.get("http://a/").status.Store(uint32(s))
		start := time.Now()
		waitStatus(t, tree, s)
		if d := time.Since(start); d > 2*time.Second {
			t.Fatalf("status %v took %v to publish behind a hanging webhook", s, d)
		}
	}
}
