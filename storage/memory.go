package storage

import (
	"context"
	"slices"
	"sync"
)

// memoryStore keeps the encoded records the bbolt store would keep, so
// that both behave identically (same validation, same JSON round trip,
// same ordering); it just forgets everything when the process exits.
type memoryStore struct {
	mu            sync.Mutex
	closed        bool
	announcements map[uint64]memAnnouncement // by Seq
	replicas      map[string][]byte          // by replicaKey
	alerting      []byte
}

type memAnnouncement struct {
	id    string
	value []byte
}

// NewMemory returns an empty in-memory Store with the same semantics as
// the bbolt store (ordering, replacement rules, validation, and what a
// value looks like after a round trip), minus durability. It is safe for
// concurrent use.
func NewMemory() Store {
	return &memoryStore{
		announcements: map[uint64]memAnnouncement{},
		replicas:      map[string][]byte{},
	}
}

// Load returns announcements by Seq, replicas in the bbolt store's key
// order, and alerting or nil.
func (m *memoryStore) Load(ctx context.Context) (*State, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return nil, ErrClosed
	}
	st := &State{}
	seqs := make([]uint64, 0, len(m.announcements))
	for seq := range m.announcements {
		seqs = append(seqs, seq)
	}
	slices.Sort(seqs)
	for _, seq := range seqs {
		a, err := decodeAnnouncement(seqKey(seq), m.announcements[seq].value)
		if err != nil {
			return nil, err
		}
		st.Announcements = append(st.Announcements, a)
	}
	keys := make([]string, 0, len(m.replicas))
	for k := range m.replicas {
		keys = append(keys, k)
	}
	slices.Sort(keys) // bytewise, like bbolt
	for _, k := range keys {
		r, err := decodeReplica([]byte(k), m.replicas[k])
		if err != nil {
			return nil, err
		}
		st.Replicas = append(st.Replicas, r)
	}
	a, err := decodeAlerting(m.alerting)
	if err != nil {
		return nil, err
	}
	st.Alerting = a
	return st, nil
}

// Apply has the semantics of the bbolt store's Apply, atomically: every
// value is encoded before anything changes.
func (m *memoryStore) Apply(ctx context.Context, b Batch) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.closed {
		return ErrClosed
	}
	if b.Empty() {
		return nil
	}
	e, err := encodeBatch(b)
	if err != nil {
		return err
	}
	if len(e.putAnnouncements) > 0 || len(e.deleteAnnouncements) > 0 {
		byID := make(map[string]uint64, len(m.announcements))
		for seq, a := range m.announcements {
			byID[a.id] = seq
		}
		for _, a := range e.putAnnouncements {
			seq, _ := parseSeqKey(a.key)
			if old, ok := byID[a.id]; ok && old != seq {
				delete(m.announcements, old)
			}
			if prev, ok := m.announcements[seq]; ok && prev.id != a.id {
				delete(byID, prev.id)
			}
			m.announcements[seq] = memAnnouncement{id: a.id, value: a.value}
			byID[a.id] = seq
		}
		for _, id := range e.deleteAnnouncements {
			if seq, ok := byID[id]; ok {
				delete(m.announcements, seq)
				delete(byID, id)
			}
		}
	}
	for _, r := range e.putReplicas {
		m.replicas[string(r.key)] = r.value
	}
	for _, k := range e.deleteReplicas {
		delete(m.replicas, string(k))
	}
	if e.alerting != nil {
		m.alerting = e.alerting
	}
	return nil
}

// Close makes later Load and Apply calls fail with ErrClosed.
func (m *memoryStore) Close() error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.closed = true
	return nil
}
