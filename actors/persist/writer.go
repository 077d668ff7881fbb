// Package persist holds the store writer actor.
//
// Owns: the write side of the store (storage.Store.Apply).
//
// Receives: Requests on its inbox from the state actor: periodic batches of
// changed replicas and alerting state, and the batches behind Manager API
// calls, whose Reply channel gets the outcome once the batch is durable.
//
// Sends: nothing but replies. A failed periodic write is retried once a
// second later, then dropped with an error log (the next periodic batch
// carries newer values of the same records); every failure is counted.
//
// Backpressure: the inbox is bounded and the state actor never blocks on
// it: it checks for room first and keeps its changes pending otherwise.
package persist

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/vigil-go/vigil/storage"
)

// Request is one batch to write.
type Request struct {
	Batch storage.Batch
	// Reply, when set, receives the result (it must have room for one).
	Reply chan<- error
}

// Writer is the store writer actor.
type Writer struct {
	store  storage.Store
	inbox  chan Request
	logger *slog.Logger
	errors atomic.Uint64
	writes atomic.Uint64
}

// New builds a writer for store.
func New(store storage.Store, logger *slog.Logger) *Writer {
	return &Writer{store: store, inbox: make(chan Request, 64), logger: logger.With("actor", "store-writer")}
}

// Inbox is where the state actor sends requests. Check Room first.
func (w *Writer) Inbox() chan<- Request { return w.inbox }

// Room reports whether a request can be queued without blocking (only
// meaningful to the single producer).
func (w *Writer) Room() bool { return len(w.inbox) < cap(w.inbox) }

// Errors counts failed writes; Writes counts successful ones.
func (w *Writer) Errors() uint64 { return w.errors.Load() }

// Writes counts successful writes.
func (w *Writer) Writes() uint64 { return w.writes.Load() }

func (w *Writer) String() string { return "store writer" }

// Serve writes batches in arrival order until ctx ends, then writes what
// is still queued.
func (w *Writer) Serve(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			w.drain()
			return ctx.Err()
		case r := <-w.inbox:
			w.write(ctx, r)
		}
	}
}

func (w *Writer) drain() {
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Second)
	defer cancel()
	for ctx.Err() == nil {
		select {
		case r := <-w.inbox:
			w.write(ctx, r)
		default:
			return
		}
	}
}

// writeTimeout bounds one store write. Writes do not use the actor's
// context: a batch received while the actor is being stopped must still be
// written, not failed for a cancellation.
const writeTimeout = 10 * time.Second

func (w *Writer) apply(b storage.Batch) error {
	ctx, cancel := context.WithTimeout(context.Background(), writeTimeout)
	defer cancel()
	return w.store.Apply(ctx, b)
}

func (w *Writer) write(ctx context.Context, r Request) {
	err := w.apply(r.Batch)
	if err != nil && r.Reply == nil && ctx.Err() == nil {
		t := time.NewTimer(time.Second)
		select {
		case <-t.C:
			err = w.apply(r.Batch)
		case <-ctx.Done():
			t.Stop()
		}
	}
	if err != nil {
		w.errors.Add(1)
		w.logger.Error("store write failed", "error", err.Error())
	} else {
		w.writes.Add(1)
	}
	if r.Reply != nil {
		r.Reply <- err
	}
}
