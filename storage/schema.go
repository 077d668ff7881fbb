package storage

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"log/slog"

	bolt "go.etcd.io/bbolt"
)

// Bucket and key names of the bbolt layout (schema version 2):
//
//	meta              "schema_version" → uint64, big-endian
//	announcements     Seq (uint64, big-endian) → Announcement as JSON
//	announcement_ids  0x00 + ID → Seq key of that announcement (version 2)
//	replicas          replicaKey(probe, node, replica) → Replica as JSON
//	alerting          "state" → Alerting as JSON
//	outbox            notifier kind → OutboxEntry as JSON (see outbox.go)
//	history           HistoryRecord.Key → HistoryRecord.Value (history.go)
//
// Every announcement has exactly one entry in announcement_ids, so that
// publishing or retracting one announcement reads and writes only its own
// records, however many are stored (version 1 found an ID by decoding
// every stored announcement).
var (
	bucketMeta            = []byte("meta")
	bucketAnnouncements   = []byte("announcements")
	bucketAnnouncementIDs = []byte("announcement_ids")
	bucketReplicas        = []byte("replicas")
	bucketAlerting        = []byte("alerting")

	keySchemaVersion = []byte("schema_version")

	// dataBuckets are the buckets of the current layout besides meta.
	dataBuckets = [][]byte{bucketAnnouncements, bucketAnnouncementIDs, bucketReplicas, bucketAlerting, bucketOutbox, bucketHistory}
)

// migration upgrades the layout by one version inside the opening
// transaction. It must leave every bucket of the next version in place (or
// leave it missing, in which case it is created empty).
type migration func(tx *bolt.Tx, logger *slog.Logger) error

// schema is a layout version and how to reach it from older versions.
type schema struct {
	// version is the version this binary reads and writes.
	version uint64
	// migrations[v] upgrades a version v file to version v+1. A missing or
	// nil entry means that version cannot be migrated (it never shipped).
	migrations []migration
}

// currentSchema is the production layout. Version 1 is the first shipped
// version; version 2 adds the announcement ID index. To change the layout:
// bump version to N, append the migration from N-1 at index N-1 (keep nil
// entries below the first shipped version), and add a test that builds an
// N-1 file by hand and opens it.
var currentSchema = schema{
	version:    2,
	migrations: []migration{0: nil, 1: indexAnnouncements},
}

// indexAnnouncements is the version 1 → 2 migration: it fills
// announcement_ids from the stored announcements. Version 1 never stored
// two announcements with one ID; should a file hold some anyway, the one
// published last (highest Seq) is kept and the others are dropped, with a
// warning, since they could no longer be retracted. An announcement whose
// ID is too long to be a key (version 1 stored IDs only inside values) is
// dropped the same way. A value that does not decode fails the migration
// as corruption.
func indexAnnouncements(tx *bolt.Tx, logger *slog.Logger) error {
	ab := tx.Bucket(bucketAnnouncements)
	idx, err := tx.CreateBucketIfNotExists(bucketAnnouncementIDs)
	if err != nil || ab == nil {
		return err
	}
	var drop [][]byte
	if err := ab.ForEach(func(k, v []byte) error {
		a, err := decodeAnnouncement(k, v)
		if err != nil {
			return err
		}
		ik := announcementIDKey(a.ID)
		if len(ik) > maxKeySize {
			logger.Warn("store migration: dropped an announcement whose ID is too long", "seq", a.Seq, "id", shorten(a.ID))
			drop = append(drop, bytes.Clone(k))
			return nil
		}
		if old := idx.Get(ik); old != nil {
			seq, _ := parseSeqKey(old)
			logger.Warn("store migration: dropped an announcement with the ID of a later one", "seq", seq, "id", shorten(a.ID), "kept_seq", a.Seq)
			drop = append(drop, bytes.Clone(old))
		}
		return idx.Put(ik, bytes.Clone(k))
	}); err != nil {
		return err
	}
	for _, k := range drop {
		if err := ab.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// verifyAnnouncementIndex checks that announcement_ids holds exactly one
// entry per announcement, pointing at it. Errors are corruption.
func verifyAnnouncementIndex(tx *bolt.Tx) error {
	ab, idx := tx.Bucket(bucketAnnouncements), tx.Bucket(bucketAnnouncementIDs)
	if ab == nil || idx == nil {
		return corruptf("missing bucket")
	}
	if n, m := ab.Stats().KeyN, idx.Stats().KeyN; n != m {
		return corruptf("announcement index has %d entries for %d announcements", m, n)
	}
	return idx.ForEach(func(ik, k []byte) error {
		if k == nil {
			return corruptf("announcement index entry %q is a bucket", shorten(string(ik)))
		}
		v := ab.Get(k)
		if v == nil {
			return corruptf("announcement index entry %q points at no announcement", shorten(string(ik)))
		}
		id, err := announcementID(v)
		if err != nil {
			return err
		}
		if !bytes.Equal(announcementIDKey(id), ik) {
			return corruptf("announcement index entry %q points at announcement %q", shorten(string(ik)), shorten(id))
		}
		return nil
	})
}

// prepare runs inside the opening read-write transaction: it initialises a
// new file, refuses a file from a newer binary, or migrates an older file
// one version at a time. Any error rolls the whole transaction back, so a
// file is either fully migrated or untouched.
func (s schema) prepare(tx *bolt.Tx, path string, logger *slog.Logger) error {
	meta := tx.Bucket(bucketMeta)
	if meta == nil {
		// A new file, unless it holds buckets we did not write: then it is
		// some other program's database and must not be touched.
		var foreign []string
		_ = tx.ForEach(func(name []byte, _ *bolt.Bucket) error {
			foreign = append(foreign, string(name))
			return nil
		})
		if len(foreign) > 0 {
			return fmt.Errorf("store %s has no schema version but holds buckets %q: not a vigil store, refusing to use it", path, foreign)
		}
		if err := s.writeVersion(tx); err != nil {
			return err
		}
		logger.Info("created store", "path", path, "schema_version", s.version)
		return ensureBuckets(tx)
	}

	raw := meta.Get(keySchemaVersion)
	if len(raw) != 8 {
		return corruptf("schema version is %d bytes, want 8", len(raw))
	}
	from := binary.BigEndian.Uint64(raw)
	switch {
	case from > s.version:
		return fmt.Errorf("store %s has schema version %d, this binary knows up to %d: %w", path, from, s.version, ErrSchemaTooNew)
	case from == s.version:
		return ensureBuckets(tx)
	}
	for v := from; v < s.version; v++ {
		var m migration
		if v < uint64(len(s.migrations)) {
			m = s.migrations[v]
		}
		if m == nil {
			return fmt.Errorf("store %s has schema version %d, no migration from %d to %d: %w", path, from, v, v+1, ErrSchemaTooOld)
		}
		if err := m(tx, logger); err != nil {
			return fmt.Errorf("store %s: migrate schema version %d to %d: %w", path, v, v+1, err)
		}
	}
	if err := s.writeVersion(tx); err != nil {
		return err
	}
	logger.Info("migrated store", "path", path, "from_schema_version", from, "to_schema_version", s.version)
	return ensureBuckets(tx)
}

// needsPrepare reports whether prepare has anything to do: the file is
// new, has another version, or misses a bucket.
func (s schema) needsPrepare(tx *bolt.Tx) bool {
	if v, ok := schemaVersion(tx); !ok || v != s.version {
		return true
	}
	for _, name := range dataBuckets {
		if tx.Bucket(name) == nil {
			return true
		}
	}
	return false
}

func (s schema) writeVersion(tx *bolt.Tx) error {
	meta, err := tx.CreateBucketIfNotExists(bucketMeta)
	if err != nil {
		return err
	}
	return meta.Put(keySchemaVersion, binary.BigEndian.AppendUint64(nil, s.version))
}

func ensureBuckets(tx *bolt.Tx) error {
	for _, name := range dataBuckets {
		if _, err := tx.CreateBucketIfNotExists(name); err != nil {
			return fmt.Errorf("create bucket %s: %w", name, err)
		}
	}
	return nil
}

// schemaVersion reads the stored version; ok is false when there is none
// or it is malformed.
func schemaVersion(tx *bolt.Tx) (uint64, bool) {
	meta := tx.Bucket(bucketMeta)
	if meta == nil {
		return 0, false
	}
	raw := meta.Get(keySchemaVersion)
	if len(raw) != 8 {
		return 0, false
	}
	return binary.BigEndian.Uint64(raw), true
}
