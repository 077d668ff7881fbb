package state

import (
	"context"
	"log/slog"
	"testing"
	"testing/synctest"
	"time"

	"github.com/vigil-go/vigil/messages"
	"github.com/vigil-go/vigil/storage"
)

// queuedWrite is one request handed to a fakeWriter: a batch, or a
// rebuild with state.
type queuedWrite struct {
	batch   storage.Batch
	rebuild bool
	state   *storage.State
	reply   chan<- error
}

// fakeWriter queues what the actor hands it; the test plays the writer.
type fakeWriter struct {
	queue chan queuedWrite
	stale chan struct{}
}

func newFakeWriter(size int) *fakeWriter {
	return &fakeWriter{queue: make(chan queuedWrite, size), stale: make(chan struct{}, 1)}
}

func (w *fakeWriter) Room() bool { return len(w.queue) < cap(w.queue) }

func (w *fakeWriter) Write(ctx context.Context, b storage.Batch, reply chan<- error) error {
	return w.put(ctx, queuedWrite{batch: b, reply: reply})
}

func (w *fakeWriter) Rebuild(ctx context.Context, st *storage.State, reply chan<- error) error {
	return w.put(ctx, queuedWrite{rebuild: true, state: st, reply: reply})
}

func (w *fakeWriter) Stale() <-chan struct{} { return w.stale }

func (w *fakeWriter) put(ctx context.Context, q queuedWrite) error {
	select {
	case w.queue <- q:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func replicaIn(b storage.Batch, key string) (storage.Replica, bool) {
	for _, r := range b.PutReplicas {
		if r.Key.String() == key {
			return r, true
		}
	}
	return storage.Replica{}, false
}

// TestStopHandsLastBatchToTheWriter: what is pending when the actor stops
// goes to the writer, behind what was queued before, and the actor waits
// for it to be written before it returns.
func TestStopHandsLastBatchToTheWriter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newFakeWriter(8)
		a := New(testConfig(), &Published{}, slog.New(slog.DiscardHandler), Options{Writer: w})
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() { a.Serve(ctx); close(done) }()
		// Dead and the recovery are notified, so each is handed over at
		// once; healthy to sick is not, so it stays pending (no time
		// passes, so no periodic flush).
		for _, s := range []messages.Status{messages.Dead, messages.Healthy, messages.Sick} {
			a.Inbox() <- probed("jobs", "0", s)
		}
		synctest.Wait()
		if len(w.queue) != 2 {
			t.Fatalf("%d batches queued before the stop, want 2", len(w.queue))
		}
		cancel()
		synctest.Wait()
		select {
		case <-done:
			t.Fatal("the actor stopped before its last batch was written")
		default:
		}
		for _, want := range []messages.Status{messages.Dead, messages.Healthy} {
			q := <-w.queue
			if r, ok := replicaIn(q.batch, "web:jobs:0"); !ok || r.Status != want || q.reply != nil {
				t.Fatalf("queued batch %+v, want %v without a reply channel", q, want)
			}
		}
		last := <-w.queue
		if r, ok := replicaIn(last.batch, "web:jobs:0"); !ok || r.Status != messages.Sick || last.reply == nil {
			t.Fatalf("last batch %+v, want the sick status with a reply channel", last)
		}
		last.reply <- nil
		<-done
	})
}

// TestStopGivesUpOnASilentWriter: a writer that never answers holds a
// stopping actor for finalFlushTimeout at most.
func TestStopGivesUpOnASilentWriter(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newFakeWriter(1)
		a := New(testConfig(), &Published{}, slog.New(slog.DiscardHandler), Options{Writer: w})
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() { a.Serve(ctx); close(done) }()
		a.Inbox() <- probed("jobs", "0", messages.Sick)
		synctest.Wait()
		start := time.Now()
		cancel()
		<-done
		if waited := time.Since(start); waited != finalFlushTimeout {
			t.Fatalf("stopped after %v, want %v", waited, finalFlushTimeout)
		}
		if len(w.queue) != 1 {
			t.Fatalf("%d batches handed over, want the last one", len(w.queue))
		}
	})
}

// TestManagerCommandRefusedWhenWriterFull: with no room in the writer, a
// Manager API change is refused before it changes anything.
func TestManagerCommandRefusedWhenWriterFull(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		w := newFakeWriter(1)
		r := serveWithWriter(t, w)
		a, pub := r.actor, r.pub
		w.queue <- queuedWrite{} // the writer is busy
		if err := a.AddAnnouncement(t.Context(), messages.Announcement{ID: "a1", Title: "T"}); err != messages.ErrBusy {
			t.Fatalf("AddAnnouncement with a full writer: %v, want ErrBusy", err)
		}
		if n := len(pub.Latest().Announcements); n != 0 {
			t.Fatalf("%d announcements published by a refused command", n)
		}
		<-w.queue
		errc := make(chan error, 1)
		go func() { errc <- a.AddAnnouncement(t.Context(), messages.Announcement{ID: "a1", Title: "T"}) }()
		q := <-w.queue
		if len(q.batch.PutAnnouncements) != 1 || q.reply == nil {
			t.Fatalf("batch %+v", q)
		}
		synctest.Wait()
		if n := len(pub.Latest().Announcements); n != 0 {
			t.Fatalf("%d announcements published before the write", n)
		}
		q.reply <- nil
		if err := <-errc; err != nil {
			t.Fatal(err)
		}
		if n := len(pub.Latest().Announcements); n != 1 {
			t.Fatalf("%d announcements published after the write was answered, want 1", n)
		}
	})
}

// TestStopWithNothingPendingStillWritesAlerting: when nothing changed
// since the last flush, the last batch still carries the alerting state
// (with a reply), so the store is checked at shutdown all the same.
func TestStopWithNothingPendingStillWritesAlerting(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		r := serveWithWriter(t, newFakeWriter(8))
		time.Sleep(FlushEvery)
		synctest.Wait()
		for len(r.w.queue) > 0 { // what the start left pending
			if q := <-r.w.queue; q.reply != nil {
				q.reply <- nil
			}
		}
		r.idle(t, "nothing changed")
		r.stop()
		last := r.next(t)
		if last.rebuild || last.batch.Alerting == nil || last.reply == nil {
			t.Fatalf("last request %+v, want a batch with the alerting state and a reply channel", last)
		}
		last.reply <- nil
		<-r.done
	})
}
