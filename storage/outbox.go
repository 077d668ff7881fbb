package storage

import (
	"encoding/json"
	"fmt"
	"time"

	bolt "go.etcd.io/bbolt"

	"github.com/vigil-go/vigil/messages"
)

// The outbox keeps the notifications that are decided but not yet
// delivered: one slot per notifier kind, holding the newest undelivered
// notification for that notifier. The state actor puts a notification in
// the slots of every notifier in the same batch as the alerting state that
// decided it, and deletes a slot once its notifier has delivered what it
// holds; after a restart it hands the stored slots back to the notifiers.
//
// Layout: bucket "outbox", key = the notifier kind's bytes, value =
// OutboxEntry as JSON. The bucket came after schema version 2 shipped
// without a version change: opening a file that lacks it creates it
// empty (see ensureBuckets), and older binaries ignore it.

// bucketOutbox holds one record per notifier kind with an undelivered
// notification.
var bucketOutbox = []byte("outbox")

// OutboxEntry is the newest undelivered notification of one notifier.
type OutboxEntry struct {
	// Notifier is the notifier's kind ("webhook", "slack"…), the key.
	Notifier string `json:"notifier"`
	// ID is the notification's ID (messages.Notification.ID).
	ID        string                    `json:"id"`
	Kind      messages.NotificationKind `json:"kind"`
	Status    messages.Status           `json:"status"`
	Replicas  []string                  `json:"replicas"`
	Escalated int                       `json:"escalated,omitempty"`
	Time      time.Time                 `json:"time"`
}

// Notification returns the entry as the notification it holds.
func (e OutboxEntry) Notification() messages.Notification {
	replicas := e.Replicas
	if replicas == nil {
		replicas = []string{}
	}
	return messages.Notification{ID: e.ID, Kind: e.Kind, Status: e.Status, Replicas: replicas, Escalated: e.Escalated, Time: e.Time}
}

// NewOutboxEntry is the slot of notifier holding n.
func NewOutboxEntry(notifier string, n messages.Notification) OutboxEntry {
	return OutboxEntry{Notifier: notifier, ID: n.ID, Kind: n.Kind, Status: n.Status,
		Replicas: n.Replicas, Escalated: n.Escalated, Time: n.Time}
}

// outboxKey is the key of a notifier's slot.
func outboxKey(notifier string) ([]byte, error) {
	switch {
	case notifier == "":
		return nil, fmt.Errorf("empty notifier kind")
	case len(notifier) > maxKeySize:
		return nil, fmt.Errorf("notifier kind is %d bytes, max %d", len(notifier), maxKeySize)
	}
	return []byte(notifier), nil
}

// encodeOutbox encodes the outbox part of b into e; entries that cannot be
// stored are left out and added to rejected, as encodeBatch does for
// other records. Deleting a slot whose key cannot exist is a no-op.
func encodeOutbox(b Batch, e *encodedBatch, rejected []RejectedRecord) []RejectedRecord {
	for _, o := range b.PutOutbox {
		k, err := outboxKey(o.Notifier)
		if err == nil {
			err = validStatus("outbox", o.Status)
		}
		var v []byte
		if err == nil {
			v, err = json.Marshal(o) // fails on a kind without a wire name
		}
		if err != nil {
			rejected = append(rejected, RejectedRecord{Kind: "outbox", ID: o.Notifier, Err: err})
			continue
		}
		e.putOutbox = append(e.putOutbox, kv{key: k, value: v})
	}
	for _, n := range b.DeleteOutbox {
		if k, err := outboxKey(n); err == nil {
			e.deleteOutbox = append(e.deleteOutbox, k)
		}
	}
	return rejected
}

// applyOutbox writes the outbox part of an encoded batch: puts, then
// deletes. A file opened before the bucket existed has it (prepare).
func applyOutbox(tx *bolt.Tx, e *encodedBatch) error {
	if len(e.putOutbox) == 0 && len(e.deleteOutbox) == 0 {
		return nil
	}
	ob := tx.Bucket(bucketOutbox)
	if ob == nil {
		return corruptf("missing bucket")
	}
	for _, o := range e.putOutbox {
		if err := ob.Put(o.key, o.value); err != nil {
			return fmt.Errorf("put outbox: %w", err)
		}
	}
	for _, k := range e.deleteOutbox {
		if err := ob.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// readOutbox decodes every outbox entry, in notifier order. Errors are
// corruption.
func readOutbox(tx *bolt.Tx) ([]OutboxEntry, error) {
	ob := tx.Bucket(bucketOutbox)
	if ob == nil {
		return nil, corruptf("missing bucket")
	}
	var out []OutboxEntry
	err := ob.ForEach(func(k, v []byte) error {
		if v == nil {
			return corruptf("outbox %q: nested bucket instead of a value", shorten(string(k)))
		}
		var o OutboxEntry
		if err := json.Unmarshal(v, &o); err != nil {
			return corruptf("outbox %q: %w", shorten(string(k)), err)
		}
		o.Notifier = string(k)
		out = append(out, o)
		return nil
	})
	return out, err
}
