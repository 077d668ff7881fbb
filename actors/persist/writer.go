// Package persist holds the store writer actor.
//
// Owns: the write side of the store (storage.Repairable Apply and
// Rebuild). It is the only code that writes the store, so batches reach the
// disk in the order they were handed over and a newer batch is never
// overwritten by an older one. It also owns what it knows of the store's
// health: the error of the last store call that failed, whether the store
// is damaged, and a store call that overran its time.
//
// Receives, through Write and Rebuild, requests from the state actor (its
// only producer): the periodic batches of changed replicas and alerting
// state, the batches behind Manager API calls, the last batch of a
// shutdown, and "rebuild the store from this state" requests, the last
// three with a reply channel that gets the outcome once the request is
// durable or has failed.
//
// Sends: replies, and a signal on Stale when the store may no longer hold
// what it was handed: a batch without a reply failed (it is dropped, not
// retried), the store was found damaged (by a write, or by the health
// check it runs every healthEvery, so that an idle store is repaired too),
// or a store call that overran its time has ended (its outcome is unknown
// to the producer). The producer answers the signal with a Rebuild from
// its in-memory state, which is the authority.
//
// A record the store cannot hold (storage.RejectedError: the rest of its
// batch was written) is logged once per record, counted, and never
// retried; its batch counts as written and its reply is the RejectedError.
//
// Counters: Writes (batches and rebuilds stored), Errors (store calls that
// failed), Damage (times the store was found damaged), Rejected (records
// left out) and Rebuilds.
//
// Backpressure: the queue is bounded. The state actor never waits on it
// while running: it checks Room first and keeps its changes pending
// otherwise. Only its last batch, at shutdown, waits for room. One store
// call runs at a time; a call that takes longer than writeTimeout is given
// up on (its request fails) and, until it ends, every request fails at once
// instead of queueing behind it.
//
// Stopping: when its context ends the writer writes what is still queued,
// for at most drainTimeout, then returns, even if a store call hangs. The
// supervisor tree stops it only after the state actor has stopped, so that
// the state actor's last batch finds it running.
package persist

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/vigil-go/vigil/storage"
)

// request is one batch to write, or one rebuild.
type request struct {
	batch storage.Batch
	// rebuild, when set, asks for Rebuild(state) instead of Apply(batch).
	rebuild bool
	state   *storage.State
	// reply, when set, receives the result (it must have room for one).
	reply chan<- error
}

// Writer is the store writer actor.
type Writer struct {
	store  storage.Repairable
	inbox  chan request
	stale  chan struct{}
	logger *slog.Logger

	errors, writes, damage, rejected, rebuilds atomic.Uint64

	// lastErr is the error of the last store call when it failed (nil
	// after a success); read by Health.
	lastErr atomic.Pointer[error]
	// runningSince is when the store call in progress started (UnixNano,
	// 0 when none); read by Health.
	runningSince atomic.Int64

	// Owned by Serve.
	damaged bool
	// stopBy is when a stopping writer returns (zero while running).
	stopBy time.Time
	// overrun receives the outcome of the store call that overran its
	// time when that call ends (nil when no call overran).
	overrun <-chan callResult
	// logged are the rejected records already logged (bounded).
	logged map[string]bool
}

const (
	// queueSize bounds the requests waiting to be handled.
	queueSize = 64
	// writeTimeout bounds one store call.
	writeTimeout = 10 * time.Second
	// drainTimeout bounds how long a stopping writer keeps writing.
	drainTimeout = 3 * time.Second
	// healthEvery is how often an idle writer checks the store for damage.
	healthEvery = 5 * time.Second
	// maxLogged bounds the rejected records remembered as logged.
	maxLogged = 1024
)

// ErrOverrun is the error of a request given up on because a store call
// did not end within writeTimeout, and of every request that comes before
// that call has ended.
var ErrOverrun = errors.New("the store did not answer in time")

// New builds a writer for store.
func New(store storage.Repairable, logger *slog.Logger) *Writer {
	return &Writer{
		store: store, inbox: make(chan request, queueSize), stale: make(chan struct{}, 1),
		logger: logger.With("actor", "store-writer"), logged: map[string]bool{},
	}
}

// Room reports whether Write or Rebuild would queue a request at once (only
// meaningful to the single producer).
func (w *Writer) Room() bool { return len(w.inbox) < cap(w.inbox) }

// Write queues b behind the requests already handed over, waiting for room
// until ctx ends (it returns ctx's error then, and b is not written).
// reply, when not nil, must have room for one value: it receives the
// outcome once b is durable or has failed. A failed batch without a reply
// is dropped and signalled on Stale.
func (w *Writer) Write(ctx context.Context, b storage.Batch, reply chan<- error) error {
	return w.enqueue(ctx, request{batch: b, reply: reply})
}

// Rebuild queues a request to make the store hold exactly st (see
// storage.Repairable.Rebuild; a damaged file is moved aside), as Write
// does. The writer does not use st after the reply.
func (w *Writer) Rebuild(ctx context.Context, st *storage.State, reply chan<- error) error {
	return w.enqueue(ctx, request{rebuild: true, state: st, reply: reply})
}

func (w *Writer) enqueue(ctx context.Context, r request) error {
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

// Stale receives a value when the store may no longer hold everything the
// writer was handed (see the package documentation); the producer answers
// with Rebuild.
func (w *Writer) Stale() <-chan struct{} { return w.stale }

// Health returns nil while the store works: otherwise the store's own
// report (damaged, closed), a store call running for longer than
// writeTimeout, or the error of the last store call when it failed.
func (w *Writer) Health() error {
	if err := w.store.Health(); err != nil {
		return err
	}
	if since := w.runningSince.Load(); since != 0 {
		if d := time.Since(time.Unix(0, since)); d >= writeTimeout {
			return fmt.Errorf("a store call has been running for %v", d.Round(time.Second))
		}
	}
	if p := w.lastErr.Load(); p != nil {
		return *p
	}
	return nil
}

// Errors counts failed store calls.
func (w *Writer) Errors() uint64 { return w.errors.Load() }

// Writes counts batches and rebuilds stored (also those with records left
// out).
func (w *Writer) Writes() uint64 { return w.writes.Load() }

// Damage counts the times the store was found damaged.
func (w *Writer) Damage() uint64 { return w.damage.Load() }

// Rejected counts records the store left out of their batch.
func (w *Writer) Rejected() uint64 { return w.rejected.Load() }

// Rebuilds counts successful rebuilds.
func (w *Writer) Rebuilds() uint64 { return w.rebuilds.Load() }

func (w *Writer) String() string { return "store writer" }

// Serve handles requests in arrival order until ctx ends, then writes what
// is still queued.
func (w *Writer) Serve(ctx context.Context) error {
	health := time.NewTicker(healthEvery)
	defer health.Stop()
	w.stopBy = time.Time{}
	for ctx.Err() == nil {
		select {
		case <-ctx.Done():
		case r := <-w.inbox:
			w.handle(ctx, r)
		case <-health.C:
			w.checkHealth()
		}
	}
	w.stopping()
	w.drain(ctx)
	return ctx.Err()
}

// stopping sets the time by which a stopping writer returns: drainTimeout
// after it noticed it must stop.
func (w *Writer) stopping() {
	if w.stopBy.IsZero() {
		w.stopBy = time.Now().Add(drainTimeout)
	}
}

// drain handles what is queued until stopBy.
func (w *Writer) drain(ctx context.Context) {
	for time.Now().Before(w.stopBy) {
		select {
		case r := <-w.inbox:
			w.handle(ctx, r)
		default:
			return
		}
	}
}

// checkHealth looks for damage, so that a store nobody writes to is
// repaired too.
func (w *Writer) checkHealth() {
	w.settleOverrun()
	if err := w.store.Health(); errors.Is(err, storage.ErrDamaged) {
		w.found(err)
	}
}

// handle runs one request and replies; ctx is the writer's.
func (w *Writer) handle(ctx context.Context, r request) {
	var moved string
	var err error
	if r.rebuild {
		moved, err = w.call(ctx, func(ctx context.Context) (string, error) { return w.store.Rebuild(ctx, r.state) })
	} else {
		_, err = w.call(ctx, func(ctx context.Context) (string, error) { return "", w.store.Apply(ctx, r.batch) })
	}
	w.record(r, moved, err)
	if r.reply != nil {
		r.reply <- err
	}
}

// callResult is what a store call returned.
type callResult struct {
	moved string
	err   error
}

// call runs fn, a store call, for at most writeTimeout, and once the
// writer's ctx has ended, not past stopBy. fn's own context does not end
// with the writer's: a request received while stopping must still be
// written, not failed for a cancellation. A call that overruns keeps
// running in its own goroutine and its request fails with ErrOverrun;
// until it ends, calls fail at once with ErrOverrun (the store serialises
// its calls, so they would only queue behind it).
func (w *Writer) call(ctx context.Context, fn func(ctx context.Context) (string, error)) (string, error) {
	w.settleOverrun()
	if w.overrun != nil {
		return "", ErrOverrun
	}
	start := time.Now()
	deadline := start.Add(writeTimeout)
	if !w.stopBy.IsZero() && w.stopBy.Before(deadline) {
		deadline = w.stopBy
	}
	done := make(chan callResult, 1)
	w.runningSince.Store(start.UnixNano())
	go func(deadline time.Time) {
		cctx, cancel := context.WithDeadline(context.Background(), deadline)
		defer cancel()
		moved, err := fn(cctx)
		done <- callResult{moved, err}
	}(deadline)
	t := time.NewTimer(time.Until(deadline))
	defer t.Stop()
	stop := ctx.Done()
wait:
	for {
		select {
		case r := <-done:
			w.runningSince.Store(0)
			return r.moved, r.err
		case <-stop:
			stop = nil
			w.stopping()
			if w.stopBy.Before(deadline) {
				deadline = w.stopBy
				t.Reset(time.Until(deadline))
			}
		case <-t.C:
			break wait
		}
	}
	limit := deadline.Sub(start)
	w.overrun = done // the call's goroutine still sends on it (one slot)
	w.logger.Error("store call did not end in time: failing requests until it does", "timeout", limit.String())
	return "", fmt.Errorf("%w (no answer within %v)", ErrOverrun, limit)
}

// settleOverrun notices the end of a call that overran: its outcome is
// unknown, so the producer is asked for a rebuild.
func (w *Writer) settleOverrun() {
	if w.overrun == nil {
		return
	}
	select {
	case <-w.overrun:
	default:
		return
	}
	w.overrun = nil
	w.runningSince.Store(0)
	w.logger.Warn("store call that did not end in time has ended: asking for a rebuild")
	w.signal()
}

// record counts and logs the outcome of r.
func (w *Writer) record(r request, moved string, err error) {
	var rejected *storage.RejectedError
	if err != nil && !errors.As(err, &rejected) {
		w.errors.Add(1)
		w.lastErr.Store(&err)
		switch {
		case errors.Is(err, storage.ErrDamaged):
			w.found(err)
		case errors.Is(err, storage.ErrFenced):
			w.logger.Warn("store write fenced off: this instance no longer leads", "error", err.Error())
		case r.rebuild:
			w.logger.Error("store rebuild failed", "error", err.Error())
		default:
			w.logger.Error("store write failed", "error", err.Error())
		}
		if r.reply == nil {
			w.signal() // the batch is lost: the producer rewrites everything
		}
		return
	}
	w.writes.Add(1)
	w.lastErr.Store(nil)
	if rejected != nil {
		w.reject(rejected.Records)
	}
	if r.rebuild {
		w.rebuilds.Add(1)
		if w.damaged {
			w.logger.Warn("store rebuilt from the state in memory; the damaged file was moved aside", "moved_to", moved)
		} else {
			w.logger.Warn("store contents rewritten from the state in memory")
		}
		w.damaged = false
	}
}

// found handles damage: logged, counted and signalled once until a
// rebuild succeeds.
func (w *Writer) found(err error) {
	if w.damaged {
		return
	}
	w.damaged = true
	w.damage.Add(1)
	w.lastErr.Store(&err)
	w.logger.Error("store damaged: rebuilding it from the state in memory", "error", err.Error())
	w.signal()
}

// reject logs each record the store left out, the first time it is left
// out, and counts them all.
func (w *Writer) reject(records []storage.RejectedRecord) {
	w.rejected.Add(uint64(len(records)))
	for _, rec := range records {
		key := rec.Kind + " " + rec.Key()
		if w.logged[key] {
			continue
		}
		if len(w.logged) >= maxLogged {
			clear(w.logged)
		}
		w.logged[key] = true
		w.logger.Error("store left a record out", "kind", rec.Kind, "record", rec.Key(), "error", rec.Err.Error())
	}
}

// signal tells the producer that the store needs a rebuild, without
// waiting.
func (w *Writer) signal() {
	select {
	case w.stale <- struct{}{}:
	default:
	}
}
