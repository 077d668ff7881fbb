package cluster

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/vigil-go/vigil/messages"
	"github.com/vigil-go/vigil/storage"
)

// Commands are the writes an instance that does not lead receives: a
// Reporter API report or flush, a Manager API change. The instance checks
// what it can against its configuration (the HTTP layer's 400, 401, 404
// and 412), then records the write in vigil_commands and answers 200 once
// that has committed; the leader applies each command to its actors
// exactly as its own HTTP handlers would, then deletes it under its lease.
// A command survives a failover: a leader that dies before deleting it
// leaves it to the next one, which applies it again. Applying twice is
// harmless: a report sets what it says, a flush of a replica that is gone
// and a retraction of an announcement that is gone do nothing, a window
// is set to the same end, and an announcement already published (by its
// id) is not published again.

// Command kinds, as stored.
const (
	KindReport             = "report"
	KindFlush              = "flush"
	KindAnnouncementAdd    = "announcement_add"
	KindAnnouncementRemove = "announcement_remove"
	KindIgnoreSet          = "ignore_set"
)

// reportPayload is a report (KindReport) or a flush (KindFlush, with only
// the ids).
type reportPayload struct {
	Probe    string           `json:"probe"`
	Node     string           `json:"node"`
	Replica  string           `json:"replica"`
	Interval time.Duration    `json:"interval,omitempty"`
	Load     *messages.Load   `json:"load,omitempty"`
	Health   *messages.Status `json:"health,omitempty"`
	At       time.Time        `json:"at,omitzero"`
}

type announcementPayload struct {
	ID    string    `json:"id"`
	Title string    `json:"title,omitempty"`
	Text  string    `json:"text,omitempty"`
	Date  time.Time `json:"date,omitzero"`
}

type ignorePayload struct {
	Until time.Time `json:"until,omitzero"`
}

// Queue records commands; every method returns once the command has
// committed (or failed, and then nothing was recorded).
type Queue struct{ pool *pgxpool.Pool }

// Queue is the commands table.
func (db *DB) Queue() *Queue { return &Queue{db.pool} }

// Report queues a report of replica m.Replica of probe/node.
func (q *Queue) Report(ctx context.Context, probe, node string, m messages.Report) error {
	return q.insert(ctx, KindReport, reportPayload{Probe: probe, Node: node, Replica: m.Replica, Interval: m.Interval,
		Load: m.Load, Health: m.Health, At: m.At})
}

// Flush queues the removal of a replica.
func (q *Queue) Flush(ctx context.Context, probe, node, replica string) error {
	return q.insert(ctx, KindFlush, reportPayload{Probe: probe, Node: node, Replica: replica})
}

// AddAnnouncement queues the publication of a (the id is the caller's).
func (q *Queue) AddAnnouncement(ctx context.Context, a messages.Announcement) error {
	return q.insert(ctx, KindAnnouncementAdd, announcementPayload{ID: a.ID, Title: a.Title, Text: a.Text, Date: a.Date})
}

// RemoveAnnouncement queues the retraction of announcement id.
func (q *Queue) RemoveAnnouncement(ctx context.Context, id string) error {
	return q.insert(ctx, KindAnnouncementRemove, announcementPayload{ID: id})
}

// SetIgnore queues a reminder ignore window ending at until (zero: none).
func (q *Queue) SetIgnore(ctx context.Context, until time.Time) error {
	return q.insert(ctx, KindIgnoreSet, ignorePayload{Until: until})
}

// insert records one command and notifies CommandsChannel, in one
// statement (one transaction).
func (q *Queue) insert(ctx context.Context, kind string, payload any) error {
	b, err := json.Marshal(payload)
	if err != nil {
		return err
	}
	_, err = q.pool.Exec(ctx, `WITH c AS (INSERT INTO vigil_commands (kind, payload) VALUES ($1, $2::text::jsonb) RETURNING id)
		SELECT pg_notify('`+CommandsChannel+`', '') FROM c`, kind, string(b))
	if err != nil {
		return fmt.Errorf("recording the %s for the leader: %w", kind, err)
	}
	return nil
}

// Command is one recorded command.
type Command struct {
	ID      int64
	Kind    string
	Payload []byte
}

// Pending returns the oldest commands, at most limit, in the order they
// were recorded.
func (q *Queue) Pending(ctx context.Context, limit int) ([]Command, error) {
	rows, _ := q.pool.Query(ctx, "SELECT id, kind, payload::text FROM vigil_commands ORDER BY id LIMIT $1", limit)
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (Command, error) {
		var c Command
		var payload string
		err := r.Scan(&c.ID, &c.Kind, &payload)
		c.Payload = []byte(payload)
		return c, err
	})
}

// Done deletes the commands ids under the lease lease gives, in one
// transaction that first checks it (vigil_fence); without the lease it
// fails with an error wrapping storage.ErrFenced and deletes nothing.
func (q *Queue) Done(ctx context.Context, lease storage.LeaseFunc, ids []int64) error {
	holder, epoch, ok := lease()
	if !ok {
		return fmt.Errorf("deleting applied commands: %w (the lease has expired)", storage.ErrFenced)
	}
	err := pgx.BeginFunc(ctx, q.pool, func(tx pgx.Tx) error {
		if _, err := tx.Exec(ctx, "SELECT vigil_fence($1, $2)", holder, epoch); err != nil {
			return err
		}
		_, err := tx.Exec(ctx, "DELETE FROM vigil_commands WHERE id = ANY($1)", ids)
		return err
	})
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "VF001" {
		return fmt.Errorf("deleting applied commands: %w (%s)", storage.ErrFenced, pe.Message)
	}
	return err
}

// Target is where the leader applies commands: its node actors' router
// and its state actor, the doors its own HTTP handlers use.
type Target interface {
	Report(ctx context.Context, probe, node string, m messages.Report) error
	Flush(ctx context.Context, probe, node string, m messages.Flush) error
	AddAnnouncement(ctx context.Context, a messages.Announcement) error
	RemoveAnnouncement(ctx context.Context, id string) error
	SetIgnore(ctx context.Context, until time.Time) error
}

// Consumer is the leader's actor that applies the recorded commands.
//
// Owns: nothing but its timer; the commands are in the table.
//
// Receives: a signal (Listener.Commands) when a command was queued, and
// reads the table every PollEvery as well (a notification may be missed
// while the listener reconnects). It starts with whatever is queued: the
// writes other instances took while no instance led.
//
// Sends: each command, oldest first, to the Target, waiting for its
// answer; then deletes the applied ones under the lease (Queue.Done). A
// command the target refuses for good (an unknown node, a replica limit,
// an announcement already retracted) is logged and deleted; one refused
// for now (a busy actor, a timeout) stops the round and is tried again
// with everything after it, so commands apply in order. A deletion
// fenced off means the term is over: the consumer stops reading (the
// supervisor tree stops it with the rest of the term).
type Consumer struct {
	Queue   *Queue
	Target  Target
	Signals <-chan struct{}
	Lease   storage.LeaseFunc
	// Published reports whether an announcement with this id is already
	// published (a command applied before the last failover).
	Published func(id string) bool
	Logger    *slog.Logger
	// Shown, when set, is called once the changes of a round of commands
	// are published (the web layer then shows them promptly).
	Shown func()
	// PollEvery defaults to DefaultPollEvery.
	PollEvery time.Duration
}

// DefaultPollEvery is how often the leader reads the commands table
// without a notification.
const DefaultPollEvery = time.Second

const (
	// batchSize bounds the commands read at once.
	batchSize = 256
	// applyTimeout bounds the answer to one command.
	applyTimeout = 10 * time.Second
)

func (c *Consumer) String() string { return "command consumer" }

// Serve applies commands until ctx ends.
func (c *Consumer) Serve(ctx context.Context) error {
	every := c.PollEvery
	if every <= 0 {
		every = DefaultPollEvery
	}
	logger := c.Logger.With("actor", "commands")
	tick := time.NewTicker(every)
	defer tick.Stop()
	for {
		if c.round(ctx, logger) {
			return nil
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-c.Signals:
		case <-tick.C:
		}
	}
}

// round applies what is queued; it reports true when the term is over.
func (c *Consumer) round(ctx context.Context, logger *slog.Logger) bool {
	for ctx.Err() == nil {
		cmds, err := c.Queue.Pending(ctx, batchSize)
		if err != nil {
			if ctx.Err() == nil {
				logger.Warn("cannot read the queued commands; retrying", "error", err.Error())
			}
			return false
		}
		var done []int64
		var visible chan uint64
		for _, cmd := range cmds {
			v, err := c.apply(ctx, cmd)
			if v != nil && err == nil {
				visible = v
			}
			if retryable(err) {
				logger.Warn("queued command not applied now; retrying", "kind", cmd.Kind, "id", cmd.ID, "error", err.Error())
				break
			}
			if err != nil {
				logger.Warn("queued command refused", "kind", cmd.Kind, "id", cmd.ID, "error", err.Error())
			}
			done = append(done, cmd.ID)
		}
		if len(done) > 0 {
			if err := c.Queue.Done(ctx, c.Lease, done); err != nil {
				if errors.Is(err, storage.ErrFenced) {
					logger.Warn("applied commands not deleted: no longer leading", "error", err.Error())
					return true
				}
				logger.Warn("cannot delete the applied commands; they will be applied again", "error", err.Error())
				return false
			}
			logger.Debug("queued commands applied", "count", len(done))
			c.shown(ctx, visible)
		}
		if len(done) < batchSize {
			return false
		}
	}
	return false
}

// shown waits (boundedly) until the last report applied is published,
// then calls Shown.
func (c *Consumer) shown(ctx context.Context, visible <-chan uint64) {
	if c.Shown == nil {
		return
	}
	if visible != nil {
		t := time.NewTimer(applyTimeout)
		defer t.Stop()
		select {
		case <-visible:
		case <-t.C:
		case <-ctx.Done():
			return
		}
	}
	c.Shown()
}

// retryable tells whether the target may take a command later.
func retryable(err error) bool {
	return errors.Is(err, messages.ErrBusy) || errors.Is(err, context.Canceled) ||
		errors.Is(err, context.DeadlineExceeded) || errors.Is(err, errRetry)
}

// errRetry marks other temporary refusals (a Manager change the store did
// not take).
var errRetry = errors.New("try again later")

// apply gives one command to the target. A report or flush returns the
// channel that receives the generation of the snapshot that shows it.
func (c *Consumer) apply(ctx context.Context, cmd Command) (chan uint64, error) {
	ctx, cancel := context.WithTimeout(ctx, applyTimeout)
	defer cancel()
	switch cmd.Kind {
	case KindReport, KindFlush:
		var p reportPayload
		if err := json.Unmarshal(cmd.Payload, &p); err != nil {
			return nil, fmt.Errorf("bad payload: %w", err)
		}
		// A Visible channel also marks the change as an API write, which
		// the state actor stores (and so shows everywhere) promptly.
		visible := make(chan uint64, 1)
		if cmd.Kind == KindFlush {
			return visible, c.Target.Flush(ctx, p.Probe, p.Node, messages.Flush{Replica: p.Replica, Visible: visible})
		}
		return visible, c.Target.Report(ctx, p.Probe, p.Node, messages.Report{Replica: p.Replica, Interval: p.Interval, Load: p.Load,
			Health: p.Health, At: p.At, Visible: visible})
	case KindAnnouncementAdd, KindAnnouncementRemove:
		var p announcementPayload
		if err := json.Unmarshal(cmd.Payload, &p); err != nil {
			return nil, fmt.Errorf("bad payload: %w", err)
		}
		if cmd.Kind == KindAnnouncementRemove {
			return nil, manager(c.Target.RemoveAnnouncement(ctx, p.ID))
		}
		if c.Published != nil && c.Published(p.ID) {
			return nil, nil
		}
		return nil, manager(c.Target.AddAnnouncement(ctx, messages.Announcement{ID: p.ID, Title: p.Title, Text: p.Text, Date: p.Date}))
	case KindIgnoreSet:
		var p ignorePayload
		if err := json.Unmarshal(cmd.Payload, &p); err != nil {
			return nil, fmt.Errorf("bad payload: %w", err)
		}
		return nil, manager(c.Target.SetIgnore(ctx, p.Until))
	}
	return nil, fmt.Errorf("unknown command kind %q", cmd.Kind)
}

// manager classifies a Manager change's answer: an unknown announcement
// is final, any other error (the store did not take it, the state actor
// did not answer) is worth another try.
func manager(err error) error {
	if err == nil || errors.Is(err, messages.ErrUnknownAnnouncement) {
		return err
	}
	return fmt.Errorf("%w: %w", errRetry, err)
}

// QueuedReport is a queued report as a leader starting its term needs it
// to seed its node actors (see Queue.PendingReports).
type QueuedReport struct {
	Key      messages.ReplicaKey
	At       time.Time
	Interval time.Duration
	Load     *messages.Load
}

// PendingReports returns the newest queued report of each replica.
func (q *Queue) PendingReports(ctx context.Context) ([]QueuedReport, error) {
	rows, _ := q.pool.Query(ctx, "SELECT payload::text FROM vigil_commands WHERE kind = $1 ORDER BY id", KindReport)
	payloads, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return nil, err
	}
	newest := map[messages.ReplicaKey]int{}
	var out []QueuedReport
	for _, raw := range payloads {
		var p reportPayload
		if json.Unmarshal([]byte(raw), &p) != nil {
			continue // the consumer logs and drops it
		}
		r := QueuedReport{Key: messages.ReplicaKey{Probe: p.Probe, Node: p.Node, Replica: p.Replica}, At: p.At, Interval: p.Interval, Load: p.Load}
		if i, ok := newest[r.Key]; ok {
			out[i] = r
			continue
		}
		newest[r.Key] = len(out)
		out = append(out, r)
	}
	return out, nil
}
