package state

import (
	"context"
	"log/slog"
	"reflect"
	"sync"
	"testing"
	"testing/synctest"
	"time"

	"github.com/vigil-go/vigil/messages"
	"github.com/vigil-go/vigil/storage"
	"github.com/vigil-go/vigil/storage/storagetest"
)

// storeWriter writes every batch to a real store as it is handed over
// and remembers the batches.
type storeWriter struct {
	store   storage.Store
	mu      sync.Mutex
	batches []storage.Batch
}

func (w *storeWriter) Room() bool { return true }

func (w *storeWriter) Write(_ context.Context, b storage.Batch, reply chan<- error) error {
	err := w.store.Apply(context.Background(), b)
	w.mu.Lock()
	w.batches = append(w.batches, b)
	w.mu.Unlock()
	if reply != nil {
		reply <- err
	}
	return nil
}

// Rebuild and Stale complete the Writer interface (the store stays
// healthy in these tests).
func (w *storeWriter) Rebuild(_ context.Context, st *storage.State, reply chan<- error) error {
	_, err := w.store.(storage.Repairable).Rebuild(context.Background(), st)
	if reply != nil {
		reply <- err
	}
	return nil
}

func (w *storeWriter) Stale() <-chan struct{} { return nil }

func (w *storeWriter) written() []storage.Batch {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]storage.Batch(nil), w.batches...)
}

// notifiers are two notifier mailboxes as the state actor sees them.
type notifiers struct {
	hook, mail chan messages.Notification
}

func newNotifiers() notifiers {
	return notifiers{make(chan messages.Notification, 32), make(chan messages.Notification, 32)}
}

func (n notifiers) subscribers() []Subscriber {
	return []Subscriber{{Kind: "email", Mailbox: n.mail}, {Kind: "webhook", Mailbox: n.hook}}
}

func taken(mb chan messages.Notification) []messages.Notification {
	var out []messages.Notification
	for len(mb) > 0 {
		out = append(out, <-mb)
	}
	return out
}

// process is one run of the state actor on a store, as one process of
// the server would run it.
type process struct {
	actor  *Actor
	writer *storeWriter
	cancel context.CancelFunc
	done   chan struct{}
}

func start(t *testing.T, store storage.Store, subs []Subscriber) *process {
	t.Helper()
	w := &storeWriter{store: store}
	a := New(testConfig(), &Published{}, slog.New(slog.DiscardHandler), Options{Subscribers: subs, Store: store, Writer: w})
	ctx, cancel := context.WithCancel(t.Context())
	p := &process{actor: a, writer: w, cancel: cancel, done: make(chan struct{})}
	go func() { a.Serve(ctx); close(p.done) }()
	synctest.Wait()
	return p
}

// stop is a graceful stop (SIGTERM): the actor writes its last batch.
func (p *process) stop() {
	p.cancel()
	<-p.done
}

// same reports whether a and b are the same notification: every field
// equal, the time as an instant (a stored time has no monotonic reading).
func same(a, b messages.Notification) bool {
	ta, tb := a.Time, b.Time
	a.Time, b.Time = time.Time{}, time.Time{}
	return ta.Equal(tb) && reflect.DeepEqual(a, b)
}

// goDead makes replica jobs/0 dead and returns the change notification
// the webhook received for it, the newest in its mailbox (which it
// empties).
func (p *process) goDead(t *testing.T, n notifiers) messages.Notification {
	t.Helper()
	p.actor.Inbox() <- probed("jobs", "0", messages.Dead)
	synctest.Wait()
	got := taken(n.hook)
	if len(got) == 0 || got[len(got)-1].Kind != messages.Changed || got[len(got)-1].Status != messages.Dead {
		t.Fatalf("webhook got %+v, want a dead change notification last", got)
	}
	return got[len(got)-1]
}

// flushed lets the periodic store flush run.
func flushed() {
	time.Sleep(FlushEvery)
	synctest.Wait()
}

func loadOutbox(t *testing.T, store storage.Store) map[string]string {
	t.Helper()
	st, err := store.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	out := map[string]string{}
	for _, o := range st.Outbox {
		out[o.Notifier] = o.ID
	}
	return out
}

// TestOutboxWrittenWithTheDecision: a change notification goes into every
// notifier's outbox slot in the same batch as the alerting state that
// decided it, under the ID the notifiers receive.
func TestOutboxWrittenWithTheDecision(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := storagetest.New(t)
		n := newNotifiers()
		p := start(t, store, n.subscribers())
		defer p.stop()
		taken(n.hook) // startup
		taken(n.mail)
		p.actor.Inbox() <- probed("jobs", "0", messages.Dead)
		synctest.Wait()
		got := taken(n.hook)
		if len(got) != 1 || got[0].Kind != messages.Changed || got[0].ID == "" {
			t.Fatalf("webhook got %+v, want one change notification with an ID", got)
		}
		id := got[0].ID
		if m := taken(n.mail); len(m) != 1 || m[0].ID != id {
			t.Fatalf("email got %+v, want the same notification", m)
		}
		var decision *storage.Batch
		for _, b := range p.writer.written() {
			if b.Alerting != nil && b.Alerting.Status == messages.Dead {
				decision = &b
			}
		}
		if decision == nil {
			t.Fatal("the dead alerting state was not handed to the writer at once")
		}
		var slots []string
		for _, o := range decision.PutOutbox {
			if o.ID != id || o.Status != messages.Dead || o.Kind != messages.Changed || !reflect.DeepEqual(o.Replicas, []string{"web:jobs:0"}) {
				t.Fatalf("outbox entry %+v, want the notification sent", o)
			}
			slots = append(slots, o.Notifier)
		}
		if !reflect.DeepEqual(slots, []string{"email", "webhook"}) {
			t.Fatalf("slots %v written with the decision, want email and webhook", slots)
		}
		if got := loadOutbox(t, store); !reflect.DeepEqual(got, map[string]string{"email": id, "webhook": id}) {
			t.Fatalf("stored outbox %v", got)
		}
	})
}

// TestDeliveredClearsOnlyItsOwnSlot: a delivery report clears the slot of
// its notifier only while the slot holds that notification; a report of
// an older one leaves a newer one in place.
func TestDeliveredClearsOnlyItsOwnSlot(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := storagetest.New(t)
		n := newNotifiers()
		p := start(t, store, n.subscribers())
		defer p.stop()
		p.actor.Inbox() <- probed("jobs", "0", messages.Dead)
		synctest.Wait()
		p.actor.Inbox() <- probed("jobs", "0", messages.Healthy)
		synctest.Wait()
		got := taken(n.hook)
		dead, healthy := got[len(got)-2], got[len(got)-1]
		p.actor.Delivered() <- messages.NotificationDelivered{Notifier: "webhook", ID: dead.ID}
		flushed()
		if got := loadOutbox(t, store); got["webhook"] != healthy.ID || got["email"] != healthy.ID {
			t.Fatalf("stored outbox %v after a report of the superseded notification, want the recovery in both slots", got)
		}
		p.actor.Delivered() <- messages.NotificationDelivered{Notifier: "webhook", ID: healthy.ID}
		flushed()
		if got := loadOutbox(t, store); !reflect.DeepEqual(got, map[string]string{"email": healthy.ID}) {
			t.Fatalf("stored outbox %v, want only the email slot left", got)
		}
	})
}

// TestStopWithAnAlertInFlight: the process stops (SIGTERM) before the
// notifiers delivered the dead alert; the next process hands it to them
// again, after its own startup notification, with the same ID, content
// and time.
func TestStopWithAnAlertInFlight(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := storagetest.New(t)
		n := newNotifiers()
		p := start(t, store, n.subscribers())
		sent := p.goDead(t, n)
		// The email notifier delivered it; the webhook did not.
		p.actor.Delivered() <- messages.NotificationDelivered{Notifier: "email", ID: sent.ID}
		p.stop()

		n = newNotifiers()
		q := start(t, store, n.subscribers())
		defer q.stop()
		got := taken(n.hook)
		if len(got) != 2 || got[0].Kind != messages.Startup {
			t.Fatalf("webhook after the restart got %+v, want the startup notification, then the undelivered alert", got)
		}
		if resumed := got[1]; !same(resumed, sent) {
			t.Fatalf("resumed %+v, want exactly what was sent: %+v", resumed, sent)
		}
		if m := taken(n.mail); len(m) != 1 || m[0].Kind != messages.Startup {
			t.Fatalf("email after the restart got %+v, want only the startup notification", m)
		}
	})
}

// TestRestartAfterDeliveryResendsNothing: everything was delivered before
// the stop, so the next process sends only its startup notification.
func TestRestartAfterDeliveryResendsNothing(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := storagetest.New(t)
		n := newNotifiers()
		p := start(t, store, n.subscribers())
		sent := p.goDead(t, n)
		// The reports are still queued when the stop comes, and the actor
		// takes ready channels in random order: repeating the email report
		// (a notifier reports again what is handed over again) queues the
		// webhook's behind eight, so the stop is all but sure to be seen
		// first, and the last batch must take the reports in itself.
		for range 8 {
			p.actor.Delivered() <- messages.NotificationDelivered{Notifier: "email", ID: sent.ID}
		}
		p.actor.Delivered() <- messages.NotificationDelivered{Notifier: "webhook", ID: sent.ID}
		p.stop()

		n = newNotifiers()
		q := start(t, store, n.subscribers())
		defer q.stop()
		time.Sleep(time.Minute)
		synctest.Wait()
		for _, mb := range []chan messages.Notification{n.hook, n.mail} {
			if got := taken(mb); len(got) != 1 || got[0].Kind != messages.Startup {
				t.Fatalf("after the restart %+v, want only the startup notification", got)
			}
		}
	})
}

// TestRemovedNotifierLosesItsSlot: a notifier that is no longer
// configured at the next start has nothing kept for it.
func TestRemovedNotifierLosesItsSlot(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := storagetest.New(t)
		n := newNotifiers()
		p := start(t, store, n.subscribers())
		p.goDead(t, n)
		p.stop()
		q := start(t, store, []Subscriber{{Kind: "webhook", Mailbox: n.hook}})
		q.stop()
		if got := loadOutbox(t, store); len(got) != 1 || got["webhook"] == "" {
			t.Fatalf("stored outbox %v, want only the webhook slot", got)
		}
	})
}

// TestReloadHandsTheSlotToARebuiltNotifier: a reload that rebuilds a
// notifier (new mailbox) gives it the undelivered notification; a
// notifier removed by the reload loses its slot.
func TestReloadHandsTheSlotToARebuiltNotifier(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := storagetest.New(t)
		n := newNotifiers()
		p := start(t, store, n.subscribers())
		defer p.stop()
		sent := p.goDead(t, n)
		rebuilt := make(chan messages.Notification, 8)
		r, err := p.actor.Prepare(t.Context(), testConfig(), []Subscriber{{Kind: "webhook", Mailbox: rebuilt}})
		if err != nil {
			t.Fatal(err)
		}
		r.Commit()
		synctest.Wait()
		if got := taken(rebuilt); len(got) != 1 || !same(got[0], sent) {
			t.Fatalf("rebuilt webhook got %+v, want the undelivered %+v", got, sent)
		}
		flushed()
		if got := loadOutbox(t, store); !reflect.DeepEqual(got, map[string]string{"webhook": sent.ID}) {
			t.Fatalf("stored outbox %v, want only the webhook slot", got)
		}
	})
}

// TestNotificationIDsNeverRepeat: IDs differ between notifications, and
// between two actors (two processes) that each start counting.
func TestNotificationIDsNeverRepeat(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		seen := map[string]bool{}
		for range 2 {
			n := newNotifiers()
			p := start(t, storagetest.New(t), n.subscribers())
			for _, s := range []messages.Status{messages.Dead, messages.Healthy, messages.Dead} {
				p.actor.Inbox() <- probed("jobs", "0", s)
				synctest.Wait()
			}
			p.stop()
			for _, got := range taken(n.hook) {
				if seen[got.ID] {
					t.Fatalf("ID %q used twice", got.ID)
				}
				seen[got.ID] = true
			}
		}
		if len(seen) != 8 {
			t.Fatalf("%d distinct IDs, want 8 (startup and three changes, twice)", len(seen))
		}
	})
}
