package storage

import (
	"context"
	"errors"
	"fmt"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
)

// Fencing: when several server instances share one PostgreSQL database,
// only the leader writes the state, and only while it holds the leader
// lease (the row of vigil_leader, migrations/0003_cluster.sql, kept by
// package cluster). A leader that was paused, or cut off from the
// database, past its lease must not overwrite what the next leader
// writes: every write of the store returned by Fenced first calls
// vigil_fence(holder, epoch) in its transaction, which fails unless that
// lease is current and then share-locks the lease row until the commit, so
// a takeover waits for the write to end and every later write of the old
// leader fails. The epoch is the fencing token: it grows at every
// takeover, so even an instance that takes the lease back fences off its
// own writes of the previous term.

// ErrFenced is wrapped by the error of a write of a fenced store made
// without the lease: the caller does not lead (any more). Nothing was
// written.
var ErrFenced = errors.New("not the leader: write fenced off")

// pgFenceCode is the SQLSTATE vigil_fence raises.
const pgFenceCode = "VF001"

// LeaseFunc tells under which lease a fenced store writes: the holder's
// identity and the epoch of its term. ok false fails the write at once,
// without asking the database (the caller knows it no longer leads).
type LeaseFunc func() (holder string, epoch int64, ok bool)

// pgFence is what a fenced write checks and whom it notifies.
type pgFence struct {
	holder string
	epoch  int64
	// notify is the channel told (NOTIFY, at commit) about every write;
	// "" tells no one.
	notify string
}

// queueCheck queues the fence check (nothing for a nil fence).
func (f *pgFence) queueCheck(q *pgx.Batch) {
	if f != nil {
		q.Queue("SELECT vigil_fence($1, $2)", f.holder, f.epoch)
	}
}

// queueNotify queues the notification (nothing for a nil fence).
func (f *pgFence) queueNotify(q *pgx.Batch) {
	if f != nil && f.notify != "" {
		q.Queue("SELECT pg_notify($1, '')", f.notify)
	}
}

// fencedStore is a PostgreSQL store whose writes are fenced.
type fencedStore struct {
	*pgStore
	lease  LeaseFunc
	notify string
}

// Fenced returns a view of s, a store OpenPostgres returned, whose Apply and
// Rebuild run only under the lease lease gives (see above) and, when notify
// is not "", send NOTIFY notify in their transaction, so that other
// instances hear of every write when it commits. A write without the lease
// fails with an error wrapping ErrFenced and changes nothing. Load and
// Health are s's. Close does nothing: s stays open for its owner.
func Fenced(s Repairable, lease LeaseFunc, notify string) (Repairable, error) {
	pg, ok := s.(*pgStore)
	if !ok {
		return nil, fmt.Errorf("storage: only a PostgreSQL store can be fenced, not %T", s)
	}
	return &fencedStore{pgStore: pg, lease: lease, notify: notify}, nil
}

// fence returns the fence of a write now, or ErrFenced.
func (s *fencedStore) fence() (*pgFence, error) {
	holder, epoch, ok := s.lease()
	if !ok {
		return nil, fmt.Errorf("postgres store %s: %w (the lease has expired)", s.target, ErrFenced)
	}
	return &pgFence{holder: holder, epoch: epoch, notify: s.notify}, nil
}

// fenced turns the database's refusal into ErrFenced.
func (s *fencedStore) fenced(err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == pgFenceCode {
		return fmt.Errorf("postgres store %s: %w (%s)", s.target, ErrFenced, pe.Message)
	}
	return err
}

// Apply is the PostgreSQL store's Apply, fenced.
func (s *fencedStore) Apply(ctx context.Context, b Batch) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	if s.closed.Load() {
		return ErrClosed
	}
	if b.Empty() {
		return nil
	}
	f, err := s.fence()
	if err != nil {
		return err
	}
	e, rejected := encodeBatch(b)
	if e.empty() {
		return rejectedError(rejected)
	}
	if err := s.writeFenced(ctx, "apply", false, e, f); err != nil {
		return s.fenced(err)
	}
	return rejectedError(rejected)
}

// Rebuild is the PostgreSQL store's Rebuild, fenced.
func (s *fencedStore) Rebuild(ctx context.Context, st *State) (string, error) {
	if err := ctx.Err(); err != nil {
		return "", err
	}
	if s.closed.Load() {
		return "", ErrClosed
	}
	f, err := s.fence()
	if err != nil {
		return "", err
	}
	e, rejected := encodeBatch(stateBatch(st))
	if err := s.writeFenced(ctx, "rebuild", true, e, f); err != nil {
		return "", s.fenced(err)
	}
	s.logger.Info("store contents replaced by the leader's state", "target", s.target,
		"announcements", len(e.putAnnouncements), "replicas", len(e.putReplicas))
	return "", rejectedError(rejected)
}

// Close does nothing (see Fenced).
func (s *fencedStore) Close() error { return nil }
