package state

import (
	"sort"

	"github.com/vigil-go/vigil/config"
	"github.com/vigil-go/vigil/messages"
	"github.com/vigil-go/vigil/storage"
)

// HasPending reports whether TakeBatch would return changes.
func (m *Model) HasPending() bool {
	p := &m.pending
	return len(p.replicas) > 0 || p.alerting || len(p.outbox) > 0 || len(p.history) > 0 || len(p.prune) > 0
}

// TakeBatch returns what changed since the previous call, ready for the
// store, and forgets it. A notification's outbox slots and the alerting
// state that decided it are always in the same batch: both are pending
// from the same Apply until the next TakeBatch.
func (m *Model) TakeBatch() storage.Batch {
	b := m.pendingBatch()
	m.pending = newPendingWrites()
	return b
}

// pendingBatch is what changed since the last TakeBatch, ready for the
// store (Manager commands are not in it: see CommandBatch).
func (m *Model) pendingBatch() storage.Batch {
	p := &m.pending
	var b storage.Batch
	for key, put := range p.replicas {
		if !put {
			b.DeleteReplicas = append(b.DeleteReplicas, key)
			continue
		}
		r, ok := m.index[key]
		if !ok {
			continue
		}
		b.PutReplicas = append(b.PutReplicas, m.storedReplica(key, &m.probes[r.probe].nodes[r.node].replicas[r.replica]))
	}
	if p.alerting {
		b.Alerting = m.storedAlerting()
	}
	for kind, put := range p.outbox {
		n, ok := m.outbox[kind]
		if !put || !ok {
			b.DeleteOutbox = append(b.DeleteOutbox, kind)
			continue
		}
		b.PutOutbox = append(b.PutOutbox, storage.NewOutboxEntry(kind, n))
	}
	sort.Slice(b.PutOutbox, func(i, j int) bool { return b.PutOutbox[i].Notifier < b.PutOutbox[j].Notifier })
	sort.Strings(b.DeleteOutbox)
	for k, v := range p.history {
		b.PutHistory = append(b.PutHistory, storage.HistoryRecord{Key: k, Value: v})
	}
	sort.Slice(b.PutHistory, func(i, j int) bool { return b.PutHistory[i].Key < b.PutHistory[j].Key })
	b.PruneHistory = p.prune
	return b
}

// Restore seeds a fresh model with stored state: announcements, the last
// status of every replica that still exists in the configuration, the push
// and local replicas in their original order, the alerting state and the
// outbox (the caller hands it to the notifiers, see Undelivered). The
// general status is the stored one, so that an outage that went on across
// the restart is not announced again while a recovery that happened during
// the downtime is (spec §5.4 applied across restarts).
func (m *Model) Restore(st *storage.State) {
	if st == nil {
		return
	}
	for _, a := range st.Announcements {
		m.announcements = append(m.announcements, messages.Announcement{ID: a.ID, Title: a.Title, Text: a.Text, Date: a.Date})
		m.announcementSeqs = append(m.announcementSeqs, a.Seq)
		m.seq = max(m.seq, a.Seq)
	}
	reps := append([]storage.Replica(nil), st.Replicas...)
	sort.SliceStable(reps, func(i, j int) bool { return reps[i].Position < reps[j].Position })
	touched := map[[2]int]bool{}
	for _, sr := range reps {
		r, ok := m.index[sr.Key]
		if !ok {
			pn, known := m.nodes[[2]string{sr.Key.Probe, sr.Key.Node}]
			if !known {
				m.pending.replicas[sr.Key] = false // no longer configured
				continue
			}
			node := &m.probes[pn[0]].nodes[pn[1]]
			if node.mode != string(config.ModePush) && node.mode != string(config.ModeLocal) {
				m.pending.replicas[sr.Key] = false
				continue
			}
			r = ref{pn[0], pn[1], len(node.replicas)}
			node.replicas = append(node.replicas, replicaModel{id: sr.Key.Replica})
			m.index[sr.Key] = r
		}
		node := &m.probes[r.probe].nodes[r.node]
		rep := &node.replicas[r.replica]
		rep.status, rep.err, rep.latency, rep.hasLatency = sr.Status, sr.Err, sr.Latency, sr.HasLatency
		rep.load, rep.reported, rep.interval, rep.pos = sr.Load, sr.Reported, sr.Interval, sr.Position
		rep.updated = sr.Updated
		// Restored results are shown but do not count as this run's first
		// round: the page stays "not yet refreshed" until probes report.
		m.seq = max(m.seq, sr.Position)
		node.snap = nil
		touched[[2]int{r.probe, r.node}] = true
	}
	for pn := range touched {
		m.general = m.recompute(pn[0], pn[1])
	}
	if a := st.Alerting; a != nil {
		m.general = a.Status
		m.alerts.escalate, m.alerts.backoff = a.Escalate, max(a.Backoff, 1)
		m.alerts.lastNotified, m.alerts.ignoreUntil = a.LastNotified, a.IgnoreUntil
	}
	for _, o := range st.Outbox {
		m.outbox[o.Notifier] = o.Notification()
	}
	m.pending.alerting = false
	m.dirty = true
}
