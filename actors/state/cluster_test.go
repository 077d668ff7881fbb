package state

import (
	"context"
	"errors"
	"log/slog"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/vigil-go/vigil/messages"
	"github.com/vigil-go/vigil/storage"
	"github.com/vigil-go/vigil/storage/storagetest"
)

// serveUntilDone runs a on w; the returned function stops it, answering
// its last writes.
func serveUntilDone(t *testing.T, a *Actor, w *fakeWriter) func() {
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { a.Serve(ctx); close(done) }()
	return func() {
		cancel()
		for {
			select {
			case q := <-w.queue:
				if q.reply != nil {
					q.reply <- nil
				}
			case <-done:
				return
			}
		}
	}
}

// TestStoreFirstHoldsNotificationsUntilStored: with StoreFirst a change
// notification reaches the notifiers only once the batch that puts it in
// the outbox is durable; when that batch fails, only once the rebuild
// that follows is.
func TestStoreFirstHoldsNotificationsUntilStored(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newFakeWriter(8)
		n := newNotifiers()
		startup := &atomic.Bool{}
		startup.Store(true) // sent by an earlier term of this process
		a := New(testConfig(), &Published{}, slog.New(slog.DiscardHandler),
			Options{Writer: w, Subscribers: n.subscribers(), StoreFirst: true, StartupSent: startup})
		defer serveUntilDone(t, a, w)()
		synctest.Wait()
		if got := taken(n.hook); len(got) != 0 {
			t.Fatalf("startup notification sent again in a later term: %+v", got)
		}

		a.Inbox() <- probed("jobs", "0", messages.Dead)
		synctest.Wait()
		if got := taken(n.hook); len(got) != 0 {
			t.Fatalf("notification handed over before it was stored: %+v", got)
		}
		q := <-w.queue
		if len(q.batch.PutOutbox) != 2 || q.reply == nil || q.batch.Alerting == nil {
			t.Fatalf("batch %+v: want the outbox slots and the alerting state, with a reply", q.batch)
		}
		q.reply <- nil
		synctest.Wait()
		got := taken(n.hook)
		if len(got) != 1 || got[0].Status != messages.Dead || got[0].ID != q.batch.PutOutbox[0].ID {
			t.Fatalf("webhook got %+v once stored, want the dead notification", got)
		}

		// The recovery's batch fails: nothing is sent; the rebuild that
		// follows carries it, and once durable it is handed over.
		a.Inbox() <- probed("jobs", "0", messages.Healthy)
		synctest.Wait()
		q = <-w.queue
		q.reply <- errors.New("connection refused")
		synctest.Wait()
		if got := taken(n.hook); len(got) != 0 {
			t.Fatalf("notification handed over after its batch failed: %+v", got)
		}
		r := <-w.queue
		if !r.rebuild || len(r.state.Outbox) != 2 || r.state.Outbox[0].Status != messages.Healthy {
			t.Fatalf("after the failure: %+v, want a rebuild holding the recovery in the outbox", r)
		}
		r.reply <- nil
		synctest.Wait()
		if got := taken(n.hook); len(got) != 1 || got[0].Status != messages.Healthy {
			t.Fatalf("webhook got %+v after the rebuild, want the recovery", got)
		}
	})
}

// TestWithoutStoreFirstNotificationsGoAtOnce keeps today's order for a
// single instance: the notifiers hear of a change before it is stored.
func TestWithoutStoreFirstNotificationsGoAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newFakeWriter(8)
		n := newNotifiers()
		a := New(testConfig(), &Published{}, slog.New(slog.DiscardHandler), Options{Writer: w, Subscribers: n.subscribers()})
		defer serveUntilDone(t, a, w)()
		synctest.Wait()
		taken(n.hook)
		a.Inbox() <- probed("jobs", "0", messages.Dead)
		synctest.Wait()
		if got := taken(n.hook); len(got) != 1 {
			t.Fatalf("webhook got %+v, want the dead notification at once", got)
		}
	})
}

// countingLoader counts loads of a real store.
type countingLoader struct {
	store storage.Store
	loads atomic.Int32
	fail  atomic.Bool
}

func (l *countingLoader) Load(ctx context.Context) (*storage.State, error) {
	l.loads.Add(1)
	if l.fail.Load() {
		return nil, errors.New("store is unavailable")
	}
	return l.store.Load(ctx)
}

// TestMirrorShowsTheStore: the mirror publishes what the store holds (as
// refreshed, with statuses, push replicas, announcements, the ignore
// window), loads once per burst of signals, on its timer, and at once
// when woken; while inactive it publishes nothing; a failed load keeps
// the last snapshot and is reported by Health.
func TestMirrorShowsTheStore(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := storagetest.New(t)
		at := time.Now()
		write := func(b storage.Batch) {
			if err := store.Apply(context.Background(), b); err != nil {
				t.Fatal(err)
			}
		}
		write(storage.Batch{
			PutReplicas: []storage.Replica{
				{Key: messages.ReplicaKey{Probe: "web", Node: "jobs", Replica: "0"}, Status: messages.Dead, Err: "exit 2", Updated: at},
				{Key: messages.ReplicaKey{Probe: "relay", Node: "socket", Replica: "10.0.0.1"}, Status: messages.Healthy, Updated: at,
					Reported: at, Interval: time.Minute, Position: 1},
			},
			Alerting:         &storage.Alerting{Status: messages.Dead, IgnoreUntil: at.Add(time.Hour)},
			PutAnnouncements: []storage.Announcement{{ID: "a1", Title: "Maintenance", Text: "x", Date: at, Seq: 1}},
		})
		loader := &countingLoader{store: store}
		published := &Published{}
		signals := make(chan struct{}, 1)
		var active atomic.Bool
		active.Store(true)
		var shown atomic.Uint64
		m := NewMirror(testConfig(), published, loader, MirrorOptions{Signals: signals, Active: active.Load,
			OnPublish: func(gen uint64) { shown.Store(gen) }}, slog.New(slog.DiscardHandler))
		if published.Latest().Refreshed.IsZero() != true {
			t.Fatal("the layout is published as refreshed")
		}
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		go m.Serve(ctx)
		synctest.Wait()
		s := published.Latest()
		if !m.Loaded() || s.Status != messages.Dead || !s.Refreshed.Equal(at) || len(s.Announcements) != 1 ||
			!s.IgnoreUntil.Equal(at.Add(time.Hour)) || shown.Load() != s.Generation {
			t.Fatalf("first load: %+v", s)
		}
		if r := s.Probes[1].Nodes[0].Replicas; len(r) != 1 || r[0].ID != "10.0.0.1" {
			t.Fatalf("push replicas: %+v", r)
		}

		write(storage.Batch{DeleteAnnouncements: []string{"a1"}})
		for range 5 {
			select {
			case signals <- struct{}{}:
			default:
			}
			time.Sleep(MirrorDebounce / 10)
		}
		time.Sleep(MirrorDebounce)
		synctest.Wait()
		if n := loader.loads.Load(); n != 2 {
			t.Fatalf("%d loads after a burst of signals, want 2", n)
		}
		if len(published.Latest().Announcements) != 0 || published.Latest().Generation <= s.Generation {
			t.Fatal("the retraction is not shown")
		}

		time.Sleep(MirrorEvery)
		synctest.Wait()
		if n := loader.loads.Load(); n != 3 {
			t.Fatalf("%d loads after MirrorEvery, want 3", n)
		}

		active.Store(false)
		before := published.Latest()
		m.Wake()
		time.Sleep(MirrorEvery)
		synctest.Wait()
		if published.Latest() != before {
			t.Fatal("an inactive mirror published")
		}

		active.Store(true)
		loader.fail.Store(true)
		m.Wake()
		synctest.Wait()
		if m.Health() == nil || published.Latest() != before {
			t.Fatalf("failed load: health %v, snapshot replaced", m.Health())
		}
		loader.fail.Store(false)
		m.Wake()
		synctest.Wait()
		if m.Health() != nil || published.Latest() == before {
			t.Fatal("the mirror did not recover")
		}
	})
}
