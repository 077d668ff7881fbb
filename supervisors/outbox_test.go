package supervisors

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/vigil-go/vigil/config"
	"github.com/vigil-go/vigil/messages"
	"github.com/vigil-go/vigil/storage"
)

// flakySink is a webhook endpoint inside the test that answers 503 while
// down and records what it accepted.
type flakySink struct {
	down     atomic.Bool
	attempts atomic.Int64
	mu       sync.Mutex
	got      []hook
}

func (s *flakySink) client() *http.Client { return &http.Client{Transport: s} }

func (s *flakySink) RoundTrip(r *http.Request) (*http.Response, error) {
	s.attempts.Add(1)
	body, _ := io.ReadAll(r.Body)
	r.Body.Close()
	code := http.StatusServiceUnavailable
	if !s.down.Load() {
		var h hook
		if err := json.Unmarshal(body, &h); err != nil {
			return nil, err
		}
		s.mu.Lock()
		s.got = append(s.got, h)
		s.mu.Unlock()
		code = http.StatusOK
	}
	return &http.Response{StatusCode: code, Header: http.Header{}, Body: http.NoBody, Request: r}, nil
}

// accepted returns and forgets the webhooks accepted so far.
func (s *flakySink) accepted() []hook {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := s.got
	s.got = nil
	return out
}

// outboxConfig watches one poll replica and notifies a webhook.
func outboxConfig() *config.Config {
	cfg := treeConfig("http://hooks.test/")
	cfg.Probe.Services[0].Nodes[0].Replicas = cfg.Probe.Services[0].Nodes[0].Replicas[:1]
	return cfg
}

// serveProcess runs a tree on store as one process of the server would,
// until the returned stop (SIGTERM) is called.
func serveProcess(t *testing.T, store storage.Repairable, f *fakeFactory, sink *flakySink) (*Tree, func()) {
	t.Helper()
	tree, err := Build(outboxConfig(), Deps{Logger: slog.New(slog.DiscardHandler), ProbeFactory: f, DisableWeb: true,
		Store: store, NotifierClient: sink.client()})
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() { done <- tree.Serve(ctx) }()
	return tree, func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("tree stopped with %v", err)
		}
	}
}

func storedOutbox(t *testing.T, store storage.Store) []storage.OutboxEntry {
	t.Helper()
	st, err := store.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return st.Outbox
}

// TestTreeStopWithAlertInFlightResumes: the webhook is down when the
// replica dies; the server stops (SIGTERM) with the alert undelivered;
// the next process on the same store sends it, once the webhook is back.
func TestTreeStopWithAlertInFlightResumes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		db := openBolt(t)
		sink := &flakySink{}
		f := &fakeFactory{probes: map[string]*switchable{}}
		tree, stop := serveProcess(t, db, f, sink)
		advanceUntil(t, 30*time.Second, func() bool { return len(sink.accepted()) == 1 }, "startup notification")
		waitStatus(t, tree, messages.Healthy)
		sink.down.Store(true)
		f.get("http://a/").status.Store(uint32(messages.Dead))
		waitStatus(t, tree, messages.Dead)
		advanceUntil(t, 30*time.Second, func() bool { return sink.attempts.Load() >= 3 }, "attempts at the dead alert")
		stop()
		if out := storedOutbox(t, db); len(out) != 1 || out[0].Notifier != "webhook" || out[0].Status != messages.Dead {
			t.Fatalf("stored outbox %+v, want the undelivered dead alert for the webhook", out)
		}

		sink.down.Store(false)
		_, stop = serveProcess(t, db, f, sink)
		defer stop()
		var got []hook
		advanceUntil(t, 30*time.Second, func() bool { got = append(got, sink.accepted()...); return len(got) >= 2 }, "the resumed alert")
		if got[0].Type != "startup" || got[1].Type != "changed" || got[1].Status != "dead" || len(got[1].Replicas) != 1 {
			t.Fatalf("webhooks after the restart %+v, want the startup notification, then the dead alert", got)
		}
		advanceUntil(t, 5*time.Second, func() bool { return len(storedOutbox(t, db)) == 0 }, "the delivery stored")
		time.Sleep(time.Minute)
		synctest.Wait()
		if more := sink.accepted(); len(more) != 0 {
			t.Fatalf("webhooks after the resumed alert: %+v", more)
		}
	})
}

// TestTreeRestartAfterDeliveryResendsNothing: an alert delivered before
// the stop is not sent again by the next process.
func TestTreeRestartAfterDeliveryResendsNothing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		db := openBolt(t)
		sink := &flakySink{}
		f := &fakeFactory{probes: map[string]*switchable{}}
		tree, stop := serveProcess(t, db, f, sink)
		waitStatus(t, tree, messages.Healthy)
		f.get("http://a/").status.Store(uint32(messages.Dead))
		var got []hook
		advanceUntil(t, 30*time.Second, func() bool { got = append(got, sink.accepted()...); return len(got) >= 2 }, "the dead alert")
		if got[1].Status != "dead" {
			t.Fatalf("webhooks %+v", got)
		}
		stop()
		if out := storedOutbox(t, db); len(out) != 0 {
			t.Fatalf("stored outbox %+v after the delivery, want none", out)
		}

		tree, stop = serveProcess(t, db, f, sink)
		defer stop()
		waitStatus(t, tree, messages.Dead)
		time.Sleep(time.Minute)
		synctest.Wait()
		if got := sink.accepted(); len(got) != 1 || got[0].Type != "startup" {
			t.Fatalf("webhooks after the restart %+v, want only the startup notification", got)
		}
	})
}

// TestTreeWebhookOutageThenDelivered: a webhook outage of two minutes
// delays the alert; it is delivered once the endpoint is back.
func TestTreeWebhookOutageThenDelivered(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		db := openBolt(t)
		sink := &flakySink{}
		f := &fakeFactory{probes: map[string]*switchable{}}
		tree, stop := serveProcess(t, db, f, sink)
		defer stop()
		waitStatus(t, tree, messages.Healthy)
		advanceUntil(t, 30*time.Second, func() bool { return len(sink.accepted()) == 1 }, "startup notification")
		sink.down.Store(true)
		f.get("http://a/").status.Store(uint32(messages.Dead))
		waitStatus(t, tree, messages.Dead)
		time.Sleep(2 * time.Minute)
		sink.down.Store(false)
		var got []hook
		advanceUntil(t, 3*time.Minute, func() bool { got = append(got, sink.accepted()...); return len(got) > 0 }, "the alert after the outage")
		if len(got) != 1 || got[0].Type != "changed" || got[0].Status != "dead" {
			t.Fatalf("webhooks after the outage %+v, want the dead alert", got)
		}
	})
}
