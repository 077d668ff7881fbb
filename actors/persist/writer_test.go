package persist

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

func TestWriterRepliesAfterTheWrite(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		store := storagetest.New(t)
		w := New(store, slog.New(slog.DiscardHandler))
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		go w.Serve(ctx)
		reply := make(chan error, 1)
		w.Inbox() <- Request{Batch: batch("a"), Reply: reply}
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
		w.Inbox() <- Request{Batch: batch("a")}
		time.Sleep(2 * time.Second)
		synctest.Wait()
		st, _ := store.Load(t.Context())
		if len(st.Replicas) != 1 || w.Errors() != 0 {
			t.Fatalf("retry lost the batch: %+v errors %d", st.Replicas, w.Errors())
		}
		// Two failures in a row drop the batch and count one error.
		store.n.Store(2)
		w.Inbox() <- Request{Batch: batch("b")}
		time.Sleep(2 * time.Second)
		synctest.Wait()
		if w.Errors() != 1 {
			t.Fatalf("errors %d, want 1", w.Errors())
		}
		// An acknowledged write is not retried: its caller gets the error.
		store.n.Store(1)
		reply := make(chan error, 1)
		w.Inbox() <- Request{Batch: batch("c"), Reply: reply}
		if err := <-reply; err == nil {
			t.Fatal("failed write answered nil")
		}
	})
}

func TestWriterDrainsOnStop(t *testing.T) {
	store := storagetest.New(t)
	w := New(store, slog.New(slog.DiscardHandler))
	for _, id := range []string{"a", "b", "c"} {
		w.Inbox() <- Request{Batch: batch(id)}
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
