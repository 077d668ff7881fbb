package storage

import (
	"encoding/binary"
	"encoding/json"
	"fmt"

	"github.com/vigil-go/vigil/messages"
)

// Values are stored as JSON (the struct tags of Announcement, Replica and
// Alerting); keys are binary. What Load returns is what went through this
// file: times keep their instant but not their monotonic reading or
// Location (UTC stays UTC), strings that are not valid UTF-8 come back with
// U+FFFD in place of the bad bytes (except replica keys, which are taken
// from the binary key and round-trip byte for byte).

// maxKeySize is the largest key bbolt accepts (bbolt.MaxKeySize).
const maxKeySize = 32768

// alertingKey is the one key of the alerting bucket.
var alertingKey = []byte("state")

// seqKey encodes an announcement's Seq big-endian, so that byte order is
// publication order.
func seqKey(seq uint64) []byte {
	return binary.BigEndian.AppendUint64(make([]byte, 0, 8), seq)
}

// parseSeqKey decodes seqKey.
func parseSeqKey(k []byte) (uint64, error) {
	if len(k) != 8 {
		return 0, fmt.Errorf("announcement key %x is %d bytes, want 8", k, len(k))
	}
	return binary.BigEndian.Uint64(k), nil
}

// replicaKey encodes probe, node and replica ids each as a uvarint length
// followed by the bytes, so that ids containing any byte (':' '/' NUL ...)
// cannot collide.
func replicaKey(k messages.ReplicaKey) ([]byte, error) {
	n := len(k.Probe) + len(k.Node) + len(k.Replica) + 3*binary.MaxVarintLen64
	b := make([]byte, 0, n)
	for _, s := range [...]string{k.Probe, k.Node, k.Replica} {
		b = binary.AppendUvarint(b, uint64(len(s)))
		b = append(b, s...)
	}
	if len(b) > maxKeySize {
		return nil, fmt.Errorf("key is %d bytes encoded, max %d", len(b), maxKeySize)
	}
	return b, nil
}

// parseReplicaKey decodes replicaKey.
func parseReplicaKey(b []byte) (messages.ReplicaKey, error) {
	var parts [3]string
	rest := b
	for i := range parts {
		n, w := binary.Uvarint(rest)
		if w <= 0 || n > uint64(len(rest)-w) {
			return messages.ReplicaKey{}, fmt.Errorf("replica key %x: bad length prefix", b)
		}
		parts[i] = string(rest[w : w+int(n)])
		rest = rest[w+int(n):]
	}
	if len(rest) != 0 {
		return messages.ReplicaKey{}, fmt.Errorf("replica key %x: %d trailing bytes", b, len(rest))
	}
	return messages.ReplicaKey{Probe: parts[0], Node: parts[1], Replica: parts[2]}, nil
}

// validStatus rejects a Status that would encode but not decode (its
// UnmarshalText only knows healthy, sick and dead); writing one would make
// the whole store undecodable at the next start.
func validStatus(what string, s messages.Status) error {
	if s > messages.Dead {
		return fmt.Errorf("%s has invalid status %d", what, uint8(s))
	}
	return nil
}

// announcementIDKey is the key of an announcement in the ID index: a zero
// byte, then the ID (so that the empty ID is a key too).
func announcementIDKey(id string) []byte {
	return append(append(make([]byte, 0, 1+len(id)), 0), id...)
}

// kv is one encoded record.
type kv struct {
	key, value []byte
	// id is the announcement ID (announcements only).
	id string
}

// encodedBatch is a Batch with every key and value encoded, so that
// records that cannot be stored are found before anything is written.
type encodedBatch struct {
	putAnnouncements    []kv
	deleteAnnouncements []string
	putReplicas         []kv
	deleteReplicas      [][]byte
	alerting            []byte // nil: leave alone
	putOutbox           []kv
	deleteOutbox        [][]byte
	putHistory          []kv
	pruneHistory        []KeyRange
}

func (e *encodedBatch) empty() bool {
	return len(e.putAnnouncements) == 0 && len(e.deleteAnnouncements) == 0 &&
		len(e.putReplicas) == 0 && len(e.deleteReplicas) == 0 && e.alerting == nil &&
		len(e.putOutbox) == 0 && len(e.deleteOutbox) == 0 &&
		len(e.putHistory) == 0 && len(e.pruneHistory) == 0
}

// encodeBatch encodes b. Records that cannot be stored are left out and
// returned as rejected; deleting a record whose key is too long to exist
// is a no-op, as deleting any unknown record is.
func encodeBatch(b Batch) (*encodedBatch, []RejectedRecord) {
	e := &encodedBatch{deleteAnnouncements: b.DeleteAnnouncements}
	var rejected []RejectedRecord
	for _, a := range b.PutAnnouncements {
		if n := len(announcementIDKey(a.ID)); n > maxKeySize {
			rejected = append(rejected, RejectedRecord{Kind: "announcement", ID: a.ID,
				Err: fmt.Errorf("id is %d bytes, max %d", len(a.ID), maxKeySize-1)})
			continue
		}
		v, err := json.Marshal(a)
		if err != nil {
			rejected = append(rejected, RejectedRecord{Kind: "announcement", ID: a.ID, Err: err})
			continue
		}
		e.putAnnouncements = append(e.putAnnouncements, kv{key: seqKey(a.Seq), value: v, id: a.ID})
	}
	for _, r := range b.PutReplicas {
		k, err := replicaKey(r.Key)
		if err == nil {
			err = validStatus("replica", r.Status)
		}
		var v []byte
		if err == nil {
			v, err = json.Marshal(r)
		}
		if err != nil {
			rejected = append(rejected, RejectedRecord{Kind: "replica", Replica: r.Key, Err: err})
			continue
		}
		e.putReplicas = append(e.putReplicas, kv{key: k, value: v})
	}
	for _, rk := range b.DeleteReplicas {
		if k, err := replicaKey(rk); err == nil {
			e.deleteReplicas = append(e.deleteReplicas, k)
		}
	}
	if b.Alerting != nil {
		err := validStatus("alerting", b.Alerting.Status)
		var v []byte
		if err == nil {
			v, err = json.Marshal(b.Alerting)
		}
		if err != nil {
			rejected = append(rejected, RejectedRecord{Kind: "alerting", Err: err})
		} else {
			e.alerting = v
		}
	}
	rejected = encodeOutbox(b, e, rejected)
	rejected = encodeHistory(b, e, rejected)
	return e, rejected
}

// stateBatch is the batch that writes all of st into an empty store.
func stateBatch(st *State) Batch {
	if st == nil {
		return Batch{}
	}
	return Batch{PutAnnouncements: st.Announcements, PutReplicas: st.Replicas, Alerting: st.Alerting, PutOutbox: st.Outbox, PutHistory: st.History}
}

// decodeAnnouncement decodes a stored announcement. The key is
// authoritative for Seq. Errors are corruption.
func decodeAnnouncement(k, v []byte) (Announcement, error) {
	seq, err := parseSeqKey(k)
	if err != nil {
		return Announcement{}, corrupt(err)
	}
	if v == nil {
		return Announcement{}, corruptf("announcement %d: nested bucket instead of a value", seq)
	}
	var a Announcement
	if err := json.Unmarshal(v, &a); err != nil {
		return Announcement{}, corruptf("announcement %d: %w", seq, err)
	}
	a.Seq = seq
	return a, nil
}

// announcementID decodes only the ID of a stored announcement.
func announcementID(v []byte) (string, error) {
	var a struct {
		ID string `json:"id"`
	}
	if err := json.Unmarshal(v, &a); err != nil {
		return "", corruptf("announcement: %w", err)
	}
	return a.ID, nil
}

// decodeReplica decodes a stored replica. The key is authoritative for
// Replica.Key. Errors are corruption.
func decodeReplica(k, v []byte) (Replica, error) {
	key, err := parseReplicaKey(k)
	if err != nil {
		return Replica{}, corrupt(err)
	}
	if v == nil {
		return Replica{}, corruptf("replica %s: nested bucket instead of a value", key)
	}
	var r Replica
	if err := json.Unmarshal(v, &r); err != nil {
		return Replica{}, corruptf("replica %s: %w", key, err)
	}
	r.Key = key
	return r, nil
}

// decodeAlerting decodes the stored alerting state (nil when absent).
func decodeAlerting(v []byte) (*Alerting, error) {
	if v == nil {
		return nil, nil
	}
	var a Alerting
	if err := json.Unmarshal(v, &a); err != nil {
		return nil, corruptf("alerting: %w", err)
	}
	return &a, nil
}
