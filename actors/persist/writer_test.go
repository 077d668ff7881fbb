package persist

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/vigil-go/vigil/messages"
	"github.com/vigil-go/vigil/storage"
	"github.com/vigil-go/vigil/storage/storagetest"
)

// failing fails its first n Applies, then delegates to a real store; it
// counts the Applies it sees.
type failing struct {
	storage.Repairable
	n     atomic.Int64
	calls atomic.Int64
}

func (f *failing) Apply(ctx context.Context, b storage.Batch) error {
	f.calls.Add(1)
	if f.n.Add(-1) >= 0 {
		return errors.New("disk full")
	}
	return f.Repairable.Apply(ctx, b)
}

// hanging holds every Apply until release is closed.
type hanging struct {
	storage.Repairable
	release chan struct{}
	once    sync.Once
}

func newHanging(t *testing.T) *hanging {
	return &hanging{Repairable: storagetest.New(t), release: make(chan struct{})}
}

// free lets the held Applies go (more calls do nothing).
func (h *hanging) free() { h.once.Do(func() { close(h.release) }) }

func (h *hanging) Apply(ctx context.Context, b storage.Batch) error {
	<-h.release
	return h.Repairable.Apply(ctx, b)
}

func batch(id string) storage.Batch {
	return storage.Batch{PutReplicas: []storage.Replica{{Key: messages.ReplicaKey{Probe: "p", Node: "n", Replica: id}, Status: messages.Dead}}}
}

// write hands b to w, which must have room.
func write(t *testing.T, w *Writer, b storage.Batch, reply chan<- error) {
	t.Helper()
	if !w.Room() {
		t.Fatal("no room in the writer's queue")
	}
	if err := w.Write(t.Context(), b, reply); err != nil {
		t.Fatal(err)
	}
}

// ask writes b and returns the reply.
func ask(t *testing.T, w *Writer, b storage.Batch) error {
	t.Helper()
	reply := make(chan error, 1)
	write(t, w, b, reply)
	return <-reply
}

// run serves w until the test ends.
func run(t *testing.T, w *Writer) {
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan struct{})
	go func() { w.Serve(ctx); close(done) }()
	t.Cleanup(func() { cancel(); <-done })
}

func stored(t *testing.T, s storage.Store) []string {
	t.Helper()
	st, err := s.Load(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	var ids []string
	for _, r := range st.Replicas {
		ids = append(ids, r.Key.Replica)
	}
	return ids
}

// logs collects a writer's log records as text.
type logs struct{ buf bytes.Buffer }

func (l *logs) logger() *slog.Logger { return slog.New(slog.NewTextHandler(&l.buf, nil)) }

func (l *logs) count(s string) int { return strings.Count(l.buf.String(), s) }

func signalled(w *Writer) bool {
	select {
	case <-w.Stale():
		return true
	default:
		return false
	}
}

func TestWriterRepliesAfterTheWrite(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := storagetest.New(t)
		w := New(store, slog.New(slog.DiscardHandler))
		run(t, w)
		if err := ask(t, w, batch("a")); err != nil {
			t.Fatal(err)
		}
		if got := stored(t, store); len(got) != 1 || got[0] != "a" {
			t.Fatalf("stored %v", got)
		}
		if w.Writes() != 1 || w.Errors() != 0 || w.Health() != nil {
			t.Fatalf("writes %d errors %d health %v", w.Writes(), w.Errors(), w.Health())
		}
	})
}

// TestWriterSignalsLostBatch: a failed batch without a reply is not
// retried (the producer rebuilds the store instead): it is counted, the
// producer is signalled, and Health reports the error until a write
// succeeds. A failed batch with a reply is answered, not signalled.
func TestWriterSignalsLostBatch(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := &failing{Repairable: storagetest.New(t)}
		store.n.Store(1)
		w := New(store, slog.New(slog.DiscardHandler))
		run(t, w)
		write(t, w, batch("a"), nil)
		synctest.Wait()
		if !signalled(w) || w.Errors() != 1 || store.calls.Load() != 1 {
			t.Fatalf("lost batch: signalled %v, errors %d, applies %d; want signalled, 1, 1", signalled(w), w.Errors(), store.calls.Load())
		}
		if err := w.Health(); err == nil || !strings.Contains(err.Error(), "disk full") {
			t.Fatalf("health after a failure: %v", err)
		}
		time.Sleep(time.Minute)
		synctest.Wait()
		if store.calls.Load() != 1 || len(stored(t, store)) != 0 {
			t.Fatal("a failed batch was retried")
		}
		store.n.Store(1)
		if err := ask(t, w, batch("b")); err == nil {
			t.Fatal("failed write answered nil")
		}
		if signalled(w) {
			t.Fatal("a failed batch with a reply was signalled")
		}
		if err := ask(t, w, batch("c")); err != nil {
			t.Fatal(err)
		}
		if err := w.Health(); err != nil {
			t.Fatalf("health after a success: %v", err)
		}
	})
}

// TestWriterRejectedRecords: a record the store cannot hold is left out,
// the rest of its batch is written, the batch counts as a write and is not
// retried; the record is counted every time and logged once.
func TestWriterRejectedRecords(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := &failing{Repairable: storagetest.New(t)}
		var l logs
		w := New(store, l.logger())
		run(t, w)
		huge := strings.Repeat("x", 40000)
		b := batch("good")
		b.PutReplicas = append(b.PutReplicas, batch(huge).PutReplicas...)
		var rejected *storage.RejectedError
		if err := ask(t, w, b); !errors.As(err, &rejected) || len(rejected.Records) != 1 {
			t.Fatalf("reply %v, want a RejectedError with one record", err)
		}
		write(t, w, b, nil) // the same again, without a reply
		synctest.Wait()
		if got := stored(t, store); len(got) != 1 || got[0] != "good" {
			t.Fatalf("stored %v, want the good record only", got)
		}
		if w.Writes() != 2 || w.Errors() != 0 || w.Rejected() != 2 || store.calls.Load() != 2 {
			t.Fatalf("writes %d errors %d rejected %d applies %d; want 2 0 2 2", w.Writes(), w.Errors(), w.Rejected(), store.calls.Load())
		}
		if n := l.count("store left a record out"); n != 1 {
			t.Fatalf("rejected record logged %d times, want once:\n%s", n, l.buf.String())
		}
		if signalled(w) || w.Health() != nil {
			t.Fatalf("a rejected record signalled a rebuild or made the store unhealthy: %v", w.Health())
		}
	})
}

func openBolt(t *testing.T) (storage.Repairable, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "state.db")
	s, err := storage.OpenBolt(path, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { s.Close() })
	return s, path
}

func truncate(t *testing.T, path string) {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.Truncate(path, fi.Size()/2); err != nil {
		t.Fatal(err)
	}
}

// TestWriterRebuildsDamagedStore: a write to a store truncated under it
// fails with ErrDamaged; the damage is logged and counted once and
// signalled, Health reports it, and a Rebuild moves the file aside and
// writes the producer's state, after which writes are durable again.
func TestWriterRebuildsDamagedStore(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store, path := openBolt(t)
		var l logs
		w := New(store, l.logger())
		run(t, w)
		if err := ask(t, w, batch("a")); err != nil {
			t.Fatal(err)
		}
		truncate(t, path)
		if err := ask(t, w, batch("b")); !errors.Is(err, storage.ErrDamaged) {
			t.Fatalf("write to a truncated store: %v, want ErrDamaged", err)
		}
		write(t, w, batch("c"), nil)
		synctest.Wait()
		if !signalled(w) || w.Damage() != 1 || l.count("store damaged") != 1 {
			t.Fatalf("signalled %v, damage %d, damage logs %d; want true 1 1:\n%s", signalled(w), w.Damage(), l.count("store damaged"), l.buf.String())
		}
		if err := w.Health(); !errors.Is(err, storage.ErrDamaged) {
			t.Fatalf("health: %v, want ErrDamaged", err)
		}
		reply := make(chan error, 1)
		st := &storage.State{Replicas: append(batch("a").PutReplicas, append(batch("b").PutReplicas, batch("c").PutReplicas...)...)}
		if err := w.Rebuild(t.Context(), st, reply); err != nil {
			t.Fatal(err)
		}
		if err := <-reply; err != nil {
			t.Fatalf("rebuild: %v", err)
		}
		if w.Health() != nil || w.Rebuilds() != 1 {
			t.Fatalf("after the rebuild: health %v, rebuilds %d", w.Health(), w.Rebuilds())
		}
		aside, _ := filepath.Glob(path + ".damaged-*")
		if len(aside) != 1 || l.count("moved_to="+aside[0]) != 1 {
			t.Fatalf("moved aside %v; log:\n%s", aside, l.buf.String())
		}
		if err := ask(t, w, batch("d")); err != nil {
			t.Fatal(err)
		}
		if got := strings.Join(stored(t, store), ","); got != "a,b,c,d" {
			t.Fatalf("stored %s, want a,b,c,d", got)
		}
	})
}

// TestWriterFindsDamageWhileIdle: a store nobody writes to is checked, so
// that its damage is repaired too.
func TestWriterFindsDamageWhileIdle(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store, path := openBolt(t)
		w := New(store, slog.New(slog.DiscardHandler))
		run(t, w)
		if err := ask(t, w, batch("a")); err != nil {
			t.Fatal(err)
		}
		truncate(t, path)
		time.Sleep(healthEvery)
		synctest.Wait()
		if !signalled(w) || w.Damage() != 1 {
			t.Fatalf("idle damage: signalled %v, damage %d", signalled(w), w.Damage())
		}
		time.Sleep(healthEvery)
		synctest.Wait()
		if signalled(w) || w.Damage() != 1 {
			t.Fatal("the same damage was signalled or counted twice")
		}
	})
}

// TestWriterGivesUpOnAHungStore: a store call that does not end in
// writeTimeout fails its request; later requests fail at once while it
// hangs (Health says so); once it ends the producer is signalled, since
// the outcome of the call it was told had failed is unknown.
func TestWriterGivesUpOnAHungStore(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := newHanging(t)
		defer store.free()
		w := New(store, slog.New(slog.DiscardHandler))
		run(t, w)
		start := time.Now()
		if err := ask(t, w, batch("a")); !errors.Is(err, ErrOverrun) || time.Since(start) != writeTimeout {
			t.Fatalf("hung write: %v after %v, want ErrOverrun after %v", err, time.Since(start), writeTimeout)
		}
		start = time.Now()
		if err := ask(t, w, batch("b")); !errors.Is(err, ErrOverrun) || time.Since(start) != 0 {
			t.Fatalf("write behind a hung one: %v after %v, want ErrOverrun at once", err, time.Since(start))
		}
		if err := w.Health(); err == nil || !strings.Contains(err.Error(), "running for") {
			t.Fatalf("health while hung: %v", err)
		}
		store.free()
		time.Sleep(time.Second)
		synctest.Wait()
		if err := ask(t, w, batch("c")); err != nil {
			t.Fatal(err)
		}
		if !signalled(w) {
			t.Fatal("the end of a hung call was not signalled")
		}
	})
}

// TestWriterStopsWhateverTheStoreDoes: a stopping writer gives up on a
// hung store drainTimeout after it is told to stop, whether the store call
// was running then or is one of the queued requests.
func TestWriterStopsWhateverTheStoreDoes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := newHanging(t)
		defer store.free()
		w := New(store, slog.New(slog.DiscardHandler))
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() { w.Serve(ctx); close(done) }()
		write(t, w, batch("a"), nil) // hangs
		time.Sleep(time.Second)
		write(t, w, batch("b"), nil) // queued
		start := time.Now()
		cancel()
		<-done
		if waited := time.Since(start); waited != drainTimeout {
			t.Fatalf("stopped %v after the cancellation, during a hung call; want %v", waited, drainTimeout)
		}

		store2 := newHanging(t)
		defer store2.free()
		w = New(store2, slog.New(slog.DiscardHandler))
		for _, id := range []string{"a", "b"} {
			write(t, w, batch(id), nil)
		}
		ended, cancelEnded := context.WithCancel(t.Context())
		cancelEnded()
		start = time.Now()
		w.Serve(ended)
		if waited := time.Since(start); waited != drainTimeout {
			t.Fatalf("stopped after %v with hung calls queued, want %v", waited, drainTimeout)
		}
	})
}

func TestWriterDrainsOnStop(t *testing.T) {
	store := storagetest.New(t)
	w := New(store, slog.New(slog.DiscardHandler))
	for _, id := range []string{"a", "b", "c"} {
		write(t, w, batch(id), nil)
	}
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	w.Serve(ctx) // already cancelled: writes what is queued, then returns
	if got := stored(t, store); len(got) != 3 {
		t.Fatalf("drained %d of 3 batches", len(got))
	}
	if !w.Room() {
		t.Fatal("inbox still full after drain")
	}
}

// TestWriteWaitsForRoom: with a full queue, Write waits until the writer
// takes a batch, or gives up when its context ends; a batch that finds room
// is queued even when the context has already ended.
func TestWriteWaitsForRoom(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := storagetest.New(t)
		w := New(store, slog.New(slog.DiscardHandler))
		for i := range queueSize {
			write(t, w, batch(strconv.Itoa(i)), nil)
		}
		if w.Room() {
			t.Fatal("room in a full queue")
		}
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		if err := w.Write(ctx, batch("late"), nil); !errors.Is(err, context.DeadlineExceeded) {
			t.Fatalf("Write on a full queue: %v, want the context's deadline", err)
		}
		// The writer starts: the waiting batch gets in, after the others.
		wctx, stop := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() { w.Serve(wctx); close(done) }()
		reply := make(chan error, 1)
		if err := w.Write(t.Context(), batch("last"), reply); err != nil {
			t.Fatal(err)
		}
		if err := <-reply; err != nil {
			t.Fatal(err)
		}
		if n := w.Writes(); n != queueSize+1 {
			t.Fatalf("%d writes before the last batch's reply, want %d", n, queueSize+1)
		}
		stop()
		<-done
		ended, cancelEnded := context.WithCancel(t.Context())
		cancelEnded()
		if err := w.Write(ended, batch("x"), nil); err != nil {
			t.Fatalf("Write with room and an ended context: %v", err)
		}
	})
}
