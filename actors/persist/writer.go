// Package persist holds the store writer actor.
//
// Owns: the write side of the store (storage.Store.Apply). It is the only
// code that writes the store, so batches reach the disk in the order they
// were handed over and a newer batch is never overwritten by an older one.
//
// Receives, through Write, batches from the state actor (its only
// producer): the periodic batches of changed replicas and alerting state,
// the batches behind Manager API calls and the last batch of a shutdown,
// the latter two with a reply channel that gets the outcome once the batch
// is durable.
//
// Sends: nothing but replies. A failed batch without a reply is retried
// once a second later, then dropped with an error log (the next periodic
// batch carries newer values of the same records); every failure is
// counted (Errors), and so is every write (Writes).
//
// Backpressure: the queue is bounded. The state actor never waits on it
// while running: it checks Room first and keeps its changes pending
// otherwise. Only its last batch, at shutdown, waits for room.
//
// Stopping: when its context ends the writer writes what is still queued,
// then returns. The supervisor tree stops it only after the state actor
// has stopped, so that the state actor's last batch finds it running.
package persist

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/vigil-go/vigil/storage"
)

// request is one batch to write.
type request struct {
	batch storage.Batch
	// reply, when set, receives the result (it must have room for one).
	reply chan<- error
}

// Writer is the store writer actor.
type Writer struct {
	store  storage.Store
	inbox  chan request
	logger *slog.Logger
	errors atomic.Uint64
	writes atomic.Uint64
}

// queueSize bounds the batches waiting to be written.
const queueSize = 64

// New builds a writer for store.
func New(store storage.Store, logger *slog.Logger) *Writer {
	return &Writer{store: store, inbox: make(chan request, queueSize), logger: logger.With("actor", "store-writer")}
}

// Room reports whether Write would queue a batch at once (only meaningful
// to the single producer).
func (w *Writer) Room() bool { return len(w.inbox) < cap(w.inbox) }

// Write queues b behind the batches already handed over, waiting for room
// until ctx ends (it returns ctx's error then, and b is not written).
// reply, when not nil, must have room for one value: it receives the
// outcome once b is durable or has failed.
func (w *Writer) Write(ctx context.Context, b storage.Batch, reply chan<- error) error {
	r := request{batch: b, reply: reply}
	select { // room wins over a context that has just ended
	case w.inbox <- r:
		return nil
	default:
	}
	select {
	case w.inbox <- r:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// Errors counts failed writes.
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

// drainTimeout bounds how long a stopping writer keeps writing.
const drainTimeout = 3 * time.Second

// drain writes what is queued, for at most drainTimeout.
func (w *Writer) drain() {
	ctx, cancel := context.WithTimeout(context.Background(), drainTimeout)
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

func (w *Writer) write(ctx context.Context, r request) {
	err := w.apply(r.batch)
	if err != nil && r.reply == nil && ctx.Err() == nil {
		t := time.NewTimer(time.Second)
		select {
		case <-t.C:
			err = w.apply(r.batch)
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
	if r.reply != nil {
		r.reply <- err
	}
}
