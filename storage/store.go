// Package storage keeps what must survive a restart: announcements, the
// reminder ignore window, the last status of every replica, the alerting
// state, and the push and local replicas with their last reports.
//
// Store is a small interface so that a networked database can be added
// beside the embedded one. Every Apply is atomic and durable (synced to
// disk) before it returns.
//
// Implementations:
//
//   - Open: the server's entry point. A bbolt file (OpenBolt) that is
//     verified when opened; a corrupt file is moved aside to
//     "<path>.corrupt-<UTC timestamp>" and replaced by an empty store.
//   - OpenBolt: the same file without the recovery.
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

// State is everything a store holds.
type State struct {
	// Announcements in publication order (oldest first).
	Announcements []Announcement
	// Replicas in no particular order; Position orders them within a node.
	Replicas []Replica
	// Alerting is nil when never saved.
	Alerting *Alerting
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
}

// Empty reports whether the batch changes nothing.
func (b Batch) Empty() bool {
	return len(b.PutAnnouncements) == 0 && len(b.DeleteAnnouncements) == 0 &&
		len(b.PutReplicas) == 0 && len(b.DeleteReplicas) == 0 && b.Alerting == nil
}
