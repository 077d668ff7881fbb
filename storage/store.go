// Package storage keeps what must survive a restart: announcements, the
// reminder ignore window, the last status of every replica, the alerting
// state and its outbox, the push and local replicas with their last
// reports, and the uptime history.
//
// Store is a small interface served by the embedded database and by
// PostgreSQL. Every Apply is atomic and durable (synced to disk, or
// committed) before it returns.
//
// Implementations:
//
//   - Open: the server's entry point. A bbolt file (OpenBolt) that is
//     verified when opened; a corrupt file is moved aside to
//     "<path>.corrupt-<UTC timestamp>" and replaced by an empty store.
//   - OpenBolt: the same file without the recovery.
//   - OpenPostgres: tables in a PostgreSQL database, shared by several
//     server instances (postgres.go), migrated on open.
//
// All three also implement Repairable. The bbolt stores check before and
// after every write that their file is still the one they opened and is
// whole, and fail (ErrDamaged) instead of writing to a damaged or replaced
// file; Health reports that, and Rebuild starts a fresh file from the
// caller's state. The PostgreSQL store's Health reports ErrUnavailable
// while the database does not answer. A record that cannot be stored is left out of its
// batch (RejectedError) instead of failing the whole batch.
//
// The bbolt layout and its schema versioning are described in schema.go.
package storage

import (
	"context"
	"time"

	"github.com/vigil-go/vigil/messages"
)

// Store persists the server's state.
type Store interface {
	// Load returns everything stored (an empty State for a new store).
	Load(ctx context.Context) (*State, error)
	// Apply writes one batch atomically and durably.
	Apply(ctx context.Context, b Batch) error
	// Close releases the store.
	Close() error
}

// Repairable is a Store that can tell whether it still works and start
// over from the state its caller holds. The stores Open and OpenBolt
// return implement it.
type Repairable interface {
	Store
	// Health returns nil while the store can read and write, ErrClosed
	// after Close, and otherwise an error wrapping ErrDamaged that says
	// what happened to the file. It checks the file (a few stat calls and
	// one read of its two meta pages), never waits for a running write,
	// and is safe to call often (readiness probes).
	Health() error
	// Rebuild makes the store hold exactly st (nil is an empty state),
	// which the caller vouches for: it is the authority over whatever the
	// file holds. On a healthy store the contents are replaced in one
	// transaction and moved is "". On a damaged one, whatever is at the
	// store's path is renamed to "<path>.damaged-<UTC timestamp>" (moved;
	// "" when nothing was there), a new file is created at the path, st is
	// written to it, and the store is healthy again. On error the store
	// stays as it was (damaged) and Rebuild may be called again. Records
	// of st that cannot be stored are left out and reported with a
	// *RejectedError, as by Apply; the store is healthy then.
	Rebuild(ctx context.Context, st *State) (moved string, err error)
}

// MaxReplicaIDBytes is the longest replica id, in bytes, that the server
// accepts from push reporters (the Reporter API answers 400 above it).
// Stored keys hold the probe, node and replica ids and bbolt caps keys at
// 32 KiB; with this cap on the one id that clients choose, a report can
// never make a key the store has to reject. The store itself only rejects
// keys over bbolt's limit, record by record (RejectedError).
const MaxReplicaIDBytes = 1024

// State is everything a store holds.
type State struct {
	// Announcements in publication order (oldest first).
	Announcements []Announcement
	// Replicas in no particular order; Position orders them within a node.
	Replicas []Replica
	// Alerting is nil when never saved.
	Alerting *Alerting
	// Outbox holds the undelivered notifications, at most one per
	// notifier, in notifier order.
	Outbox []OutboxEntry
	// History holds the uptime history records, in key order.
	History []HistoryRecord
}

// HistoryRecord is one record of the uptime history. The store keeps it as
// opaque bytes under its key; package history chooses the keys (ordered so
// that old records form key ranges) and the encoding.
type HistoryRecord struct {
	Key   string
	Value []byte
}

// KeyRange is the history keys k with From <= k < To.
type KeyRange struct {
	From, To string
}

// Announcement is one published announcement.
type Announcement struct {
	ID    string    `json:"id"`
	Title string    `json:"title"`
	Text  string    `json:"text"`
	Date  time.Time `json:"date"`
	// Seq orders announcements by publication.
	Seq uint64 `json:"seq"`
}

// Replica is the last known state of one replica.
type Replica struct {
	Key        messages.ReplicaKey `json:"key"`
	Status     messages.Status     `json:"status"`
	Err        string              `json:"err,omitempty"`
	Latency    time.Duration       `json:"latency,omitempty"`
	HasLatency bool                `json:"has_latency,omitempty"`
	Updated    time.Time           `json:"updated"`
	// Push and local replicas: the last report and its interval, and the
	// load of a push report.
	Reported time.Time      `json:"reported,omitzero"`
	Interval time.Duration  `json:"interval,omitempty"`
	Load     *messages.Load `json:"load,omitempty"`
	// Position orders push and local replicas within their node (order of
	// first report).
	Position uint64 `json:"position"`
}

// Alerting is the page-wide notification state (spec §5.4–5.5).
type Alerting struct {
	// Status is the general status as of the last change evaluation.
	Status messages.Status `json:"status"`
	// Escalate and Backoff are the reminder counters.
	Escalate     int       `json:"escalate"`
	Backoff      int       `json:"backoff"`
	LastNotified time.Time `json:"last_notified,omitzero"`
	IgnoreUntil  time.Time `json:"ignore_until,omitzero"`
}

// Batch is a set of changes applied atomically.
type Batch struct {
	PutAnnouncements    []Announcement
	DeleteAnnouncements []string
	PutReplicas         []Replica
	DeleteReplicas      []messages.ReplicaKey
	// Alerting replaces the stored alerting state when not nil.
	Alerting *Alerting
	// PutOutbox replaces the outbox slot of each entry's notifier;
	// DeleteOutbox empties the slots of these notifiers (after the puts).
	PutOutbox    []OutboxEntry
	DeleteOutbox []string
	// PutHistory writes history records (replacing any with the same
	// key); PruneHistory then deletes every record in these ranges.
	PutHistory   []HistoryRecord
	PruneHistory []KeyRange
}

// Empty reports whether the batch changes nothing.
func (b Batch) Empty() bool {
	return len(b.PutAnnouncements) == 0 && len(b.DeleteAnnouncements) == 0 &&
		len(b.PutReplicas) == 0 && len(b.DeleteReplicas) == 0 && b.Alerting == nil &&
		len(b.PutOutbox) == 0 && len(b.DeleteOutbox) == 0 &&
		len(b.PutHistory) == 0 && len(b.PruneHistory) == 0
}
