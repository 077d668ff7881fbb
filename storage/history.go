package storage

import (
	"bytes"
	"fmt"

	bolt "go.etcd.io/bbolt"
)

// The history bucket keeps the uptime history records (package history
// chooses their keys and encodes their values; the store sees opaque
// bytes). Keys are ordered so that records older than their retention form
// key ranges, which a batch prunes with PruneHistory.
//
// Layout: bucket "history", key = HistoryRecord.Key's bytes, value =
// HistoryRecord.Value. Like the outbox, the bucket came after schema
// version 2 without a version change: opening a file that lacks it creates
// it empty (ensureBuckets), and older binaries ignore it.
var bucketHistory = []byte("history")

// encodeHistory copies the history part of b into e; a record whose key
// is empty or too long for bbolt is left out and added to rejected.
func encodeHistory(b Batch, e *encodedBatch, rejected []RejectedRecord) []RejectedRecord {
	for _, r := range b.PutHistory {
		if r.Key == "" || len(r.Key) > maxKeySize {
			rejected = append(rejected, RejectedRecord{Kind: "history", ID: shorten(r.Key),
				Err: fmt.Errorf("key is %d bytes, want 1 to %d", len(r.Key), maxKeySize)})
			continue
		}
		e.putHistory = append(e.putHistory, kv{key: []byte(r.Key), value: r.Value})
	}
	e.pruneHistory = b.PruneHistory
	return rejected
}

// applyHistory writes the puts, then deletes every key in the prune ranges.
func applyHistory(tx *bolt.Tx, e *encodedBatch) error {
	if len(e.putHistory) == 0 && len(e.pruneHistory) == 0 {
		return nil
	}
	hb := tx.Bucket(bucketHistory)
	if hb == nil {
		return corruptf("missing bucket")
	}
	for _, r := range e.putHistory {
		if err := hb.Put(r.key, r.value); err != nil {
			return fmt.Errorf("put history: %w", err)
		}
	}
	for _, kr := range e.pruneHistory {
		// Collect first: deleting under a moving cursor can skip keys.
		var doomed [][]byte
		to, c := []byte(kr.To), hb.Cursor()
		for k, _ := c.Seek([]byte(kr.From)); k != nil && bytes.Compare(k, to) < 0; k, _ = c.Next() {
			doomed = append(doomed, bytes.Clone(k))
		}
		for _, k := range doomed {
			if err := hb.Delete(k); err != nil {
				return err
			}
		}
	}
	return nil
}

// readHistory returns every history record in key order. Errors are
// corruption.
func readHistory(tx *bolt.Tx) ([]HistoryRecord, error) {
	hb := tx.Bucket(bucketHistory)
	if hb == nil {
		return nil, corruptf("missing bucket")
	}
	var out []HistoryRecord
	err := hb.ForEach(func(k, v []byte) error {
		if v == nil {
			return corruptf("history %q: nested bucket instead of a value", shorten(string(k)))
		}
		out = append(out, HistoryRecord{Key: string(k), Value: bytes.Clone(v)})
		return nil
	})
	return out, err
}
