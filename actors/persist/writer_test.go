package persist

import (
	"context"
	"errors"
	"log/slog"
	"strconv"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/vigil-go/vigil/messages"
	"github.com/vigil-go/vigil/storage"
	"github.com/vigil-go/vigil/storage/storagetest"
)

// failing fails its first n Applies, then delegates to a real store.
type failing struct {
	storage.Store
	n atomic.Int64
}

func (f *failing) Apply(ctx context.Context, b storage.Batch) error {
	if f.n.Add(-1) >= 0 {
		return errors.New("disk full")
	}
	return f.Store.Apply(ctx, b)
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

func TestWriterRepliesAfterTheWrite(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := storagetest.New(t)
		w := New(store, slog.New(slog.DiscardHandler))
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		go w.Serve(ctx)
		reply := make(chan error, 1)
		if err := w.Write(t.Context(), batch("a"), reply); err != nil {
			t.Fatal(err)
		}
		if err := <-reply; err != nil {
			t.Fatal(err)
		}
		st, _ := store.Load(t.Context())
		if len(st.Replicas) != 1 || st.Replicas[0].Key.Replica != "a" {
			t.Fatalf("stored %+v", st.Replicas)
		}
		if w.Writes() != 1 || w.Errors() != 0 {
			t.Fatalf("writes %d errors %d", w.Writes(), w.Errors())
		}
	})
}

func TestWriterRetriesPeriodicBatchesOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := &failing{Store: storagetest.New(t)}
		store.n.Store(1)
		w := New(store, slog.New(slog.DiscardHandler))
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		go w.Serve(ctx)
		write(t, w, batch("a"), nil)
		time.Sleep(2 * time.Second)
		synctest.Wait()
		st, _ := store.Load(t.Context())
		if len(st.Replicas) != 1 || w.Errors() != 0 {
			t.Fatalf("retry lost the batch: %+v errors %d", st.Replicas, w.Errors())
		}
		// Two failures in a row drop the batch and count one error.
		store.n.Store(2)
		write(t, w, batch("b"), nil)
		time.Sleep(2 * time.Second)
		synctest.Wait()
		if w.Errors() != 1 {
			t.Fatalf("errors %d, want 1", w.Errors())
		}
		// An acknowledged write is not retried: its caller gets the error.
		store.n.Store(1)
		reply := make(chan error, 1)
		write(t, w, batch("c"), reply)
		if err := <-reply; err == nil {
			t.Fatal("failed write answered nil")
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
	st, _ := store.Load(context.Background())
	if len(st.Replicas) != 3 {
		t.Fatalf("drained %d of 3 batches", len(st.Replicas))
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
