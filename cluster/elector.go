package cluster

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"
)

// Why a lease row and not a session advisory lock. A session-level
// advisory lock is released by the server only when the holder's session
// ends. A leader that is paused (SIGSTOP, a stalled VM, a long GC pause
// of the whole machine) keeps its TCP connection alive: the kernel still
// answers keepalives for it, so the server never ends the session, the
// lock is never released, and no other instance can take over for as
// long as the pause lasts; worse, when the leader resumes it does not
// know that anything happened. A lease expires by time, whatever the
// holder's connection does: another instance takes over once it has
// expired, and the paused leader, which measures its lease on its own
// monotonic clock, knows on resuming that its term is over before it
// sends or writes anything. The epoch, bumped at every takeover, is the
// fencing token every write of the leader checks (storage.Fenced).

// LeaseBackend is where the lease lives: PostgreSQL (DB.Lease), or a fake
// in tests.
type LeaseBackend interface {
	// Acquire starts a term for id when the lease has expired or is
	// already id's: the epoch is bumped and the lease runs ttl from now on
	// the backend's clock. ok false means another instance holds it;
	// holder then names it ("" when no lease is current).
	Acquire(ctx context.Context, id string, ttl time.Duration) (epoch int64, ok bool, holder string, err error)
	// Renew extends id's term epoch to ttl from now; false when id no
	// longer holds that term (taken over, or expired).
	Renew(ctx context.Context, id string, epoch int64, ttl time.Duration) (ok bool, err error)
	// Release ends id's term epoch at once, so that another instance may
	// take over without waiting for the lease to expire.
	Release(ctx context.Context, id string, epoch int64) error
}

// Elector is the actor that keeps this instance's claim on the leader
// lease.
//
// Owns: the current term (its epoch and its local deadline), the identity
// of the leader as last seen, and what it has announced.
//
// Does: every Renew interval (measured from the start of one attempt to
// the next), renews the lease while it leads, and otherwise tries to take
// it (which succeeds once the lease has expired). Each successful attempt
// sets the local deadline to the start of that attempt plus TTL minus
// Margin, on the process's monotonic clock: the database's expiry, set
// later by the server, is at least TTL after that start, so the leader
// stops at least Margin before anyone can take over. An attempt never
// runs past the local deadline.
//
// Sends: a signal on Changes whenever it starts or ends leading (a
// one-slot channel: readers then ask Leading, so signals coalesce).
//
// Leading is read from any goroutine and compares the deadline with the
// monotonic clock at the moment of the call: a leader that was paused past
// its deadline knows it no longer leads before any of its goroutines
// does anything else, even before the elector's own timer has fired.
//
// Restart: the term lives in the Elector, so a restarted Serve goes on
// renewing it.
type Elector struct {
	id      string
	backend LeaseBackend
	ttl     time.Duration
	renew   time.Duration
	margin  time.Duration
	logger  *slog.Logger
	// base is the origin of the monotonic offsets below.
	base    time.Time
	term    atomic.Pointer[term]
	leader  atomic.Pointer[string]
	changed chan struct{}

	// Owned by Serve: the epoch announced as leading (0: none), and the
	// last backend error logged.
	announced int64
	lastErr   string
}

// term is one leadership term: its epoch, and its local deadline as an
// offset from the Elector's base on the monotonic clock.
type term struct {
	epoch    int64
	deadline time.Duration
}

// ElectorOptions configure an Elector.
type ElectorOptions struct {
	// TTL is the lease's length, Renew the interval between attempts
	// (the [storage] lease_ttl and lease_renew).
	TTL, Renew time.Duration
	// Margin is how long before its lease could expire on the database the
	// leader stops leading (default: Renew). It covers the drift between
	// the clocks' rates and the time between a check of Leading and the
	// action it allows.
	Margin time.Duration
}

// NewElector builds the elector of identity id.
func NewElector(id string, backend LeaseBackend, o ElectorOptions, logger *slog.Logger) *Elector {
	if o.Margin <= 0 {
		o.Margin = o.Renew
	}
	e := &Elector{
		id: id, backend: backend, ttl: o.TTL, renew: o.Renew, margin: min(o.Margin, o.TTL/2),
		logger: logger.With("actor", "elector", "instance", id), base: time.Now(), changed: make(chan struct{}, 1),
	}
	none := ""
	e.leader.Store(&none)
	return e
}

func (e *Elector) String() string { return "elector" }

// ID is this instance's identity.
func (e *Elector) ID() string { return e.id }

// Leading returns the epoch of this instance's term and whether it leads
// now. It is safe from any goroutine and never waits.
func (e *Elector) Leading() (epoch int64, ok bool) {
	t := e.term.Load()
	if t == nil {
		return 0, false
	}
	return t.epoch, e.since() < t.deadline
}

// Holds reports whether this instance leads now in term epoch.
func (e *Elector) Holds(epoch int64) bool {
	ep, ok := e.Leading()
	return ok && ep == epoch
}

// Leader names the leader as this instance last saw it: itself while it
// leads, "" when no instance held a current lease at the last attempt.
func (e *Elector) Leader() string {
	if _, ok := e.Leading(); ok {
		return e.id
	}
	return *e.leader.Load()
}

// Changes receives a signal when this instance starts or stops leading.
func (e *Elector) Changes() <-chan struct{} { return e.changed }

// since is the time elapsed since base on the monotonic clock.
func (e *Elector) since() time.Duration { return time.Since(e.base) }

// Serve renews or takes the lease every Renew interval until ctx ends. It
// does not release the lease: the caller does (Release) once the leader's
// actors have stopped, so that their last writes still hold it.
func (e *Elector) Serve(ctx context.Context) error {
	timer := time.NewTimer(0)
	defer timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-timer.C:
		}
		timer.Reset(e.round(ctx))
	}
}

// round makes one attempt and returns the wait before the next one.
func (e *Elector) round(ctx context.Context) time.Duration {
	e.sync() // a term that ran out while the elector waited (or was paused)
	start := e.since()
	if epoch, ok := e.Leading(); ok {
		rctx, cancel := context.WithTimeout(ctx, e.term.Load().deadline-start)
		held, err := e.backend.Renew(rctx, e.id, epoch, e.ttl)
		cancel()
		switch {
		case ctx.Err() != nil:
		case err != nil:
			e.failed("renew the lease", err)
		case held:
			e.extend(epoch, start)
			e.reachable()
		default:
			e.reachable()
			e.term.Store(nil)
			e.logger.Warn("the lease was taken over or expired", "epoch", epoch)
		}
	} else {
		rctx, cancel := context.WithTimeout(ctx, e.renew)
		epoch, ok, holder, err := e.backend.Acquire(rctx, e.id, e.ttl)
		cancel()
		switch {
		case ctx.Err() != nil:
		case err != nil:
			e.failed("take the lease", err)
		case ok:
			e.extend(epoch, start)
			e.reachable()
		default:
			e.reachable()
			e.leader.Store(&holder)
		}
	}
	e.sync()
	next := e.renew - (e.since() - start)
	if t := e.term.Load(); t != nil {
		if left := t.deadline - e.since(); left > 0 {
			next = min(next, left)
		}
	}
	return max(next, 0)
}

// extend starts or extends term epoch from an attempt made at start.
func (e *Elector) extend(epoch int64, start time.Duration) {
	e.term.Store(&term{epoch: epoch, deadline: start + e.ttl - e.margin})
	id := e.id
	e.leader.Store(&id)
}

// sync announces a term that started or ended since the last call.
func (e *Elector) sync() {
	epoch, ok := e.Leading()
	if e.announced != 0 && (!ok || epoch != e.announced) {
		e.logger.Warn("leadership lost: stopped deciding and sending", "epoch", e.announced)
		e.announced = 0
		e.signal()
	}
	if ok && e.announced == 0 {
		e.announced = epoch
		e.logger.Info("leading", "epoch", epoch)
		e.signal()
	}
}

func (e *Elector) signal() {
	select {
	case e.changed <- struct{}{}:
	default:
	}
}

// failed logs a backend error once until it changes or the backend
// answers again.
func (e *Elector) failed(what string, err error) {
	if msg := err.Error(); msg != e.lastErr {
		e.lastErr = msg
		e.logger.Error("cannot "+what+"; retrying", "every", e.renew.String(), "error", msg)
	}
}

func (e *Elector) reachable() {
	if e.lastErr != "" {
		e.lastErr = ""
		e.logger.Info("lease database answers again")
	}
}

// Release ends this instance's term at once (after its leader's actors
// have stopped), so that another instance takes over without waiting for
// the lease to expire. It does nothing when this instance does not lead.
func (e *Elector) Release(ctx context.Context) error {
	epoch, ok := e.Leading()
	if !ok {
		return nil
	}
	e.term.Store(nil)
	if err := e.backend.Release(ctx, e.id, epoch); err != nil {
		return err
	}
	e.logger.Info("lease released", "epoch", epoch)
	return nil
}
