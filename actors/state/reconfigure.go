package state

import (
	"time"

	"github.com/vigil-go/vigil/config"
	"github.com/vigil-go/vigil/messages"
)

// Reconfigure moves the model to a new configuration: services, nodes and
// replicas follow the new file; every replica that exists in both keeps its
// status, latency and last result; push and local replicas stay with their
// node when it still exists with the same mode; announcements, the ignore
// window, the reminder counters (with the new reminder policy) and the
// outbox are kept (the caller drops the slots of removed notifiers, see
// KeepNotifiers).
// Replicas that disappeared are deleted from the store. If the general
// status changes because of the new layout, the change rule applies as for
// any other change.
func (m *Model) Reconfigure(cfg *config.Config, now time.Time) []messages.Notification {
	next := NewModel(cfg)
	next.announcements = m.announcements
	next.announcementSeqs = m.announcementSeqs
	next.seq = m.seq
	policy := next.alerts.policy
	next.alerts = m.alerts
	next.alerts.policy = policy
	next.general = m.general
	next.refreshed = m.refreshed
	next.gen = m.gen
	next.pending = m.pending
	next.outbox = m.outbox
	next.hist = m.hist

	for pi := range m.probes {
		p := &m.probes[pi]
		for ni := range p.nodes {
			n := &p.nodes[ni]
			pn, nodeKept := next.nodes[[2]string{p.id, n.id}]
			for _, rep := range n.replicas {
				key := messages.ReplicaKey{Probe: p.id, Node: n.id, Replica: rep.id}
				if r, ok := next.index[key]; ok {
					dst := &next.probes[r.probe].nodes[r.node].replicas[r.replica]
					*dst = rep
					if rep.seen {
						next.unprobed--
					}
					continue
				}
				target := (*nodeModel)(nil)
				if nodeKept {
					target = &next.probes[pn[0]].nodes[pn[1]]
				}
				if target != nil && target.mode == n.mode && (n.mode == string(config.ModePush) || n.mode == string(config.ModeLocal)) {
					next.index[key] = ref{pn[0], pn[1], len(target.replicas)}
					target.replicas = append(target.replicas, rep)
					continue
				}
				next.pending.replicas[key] = false
			}
		}
	}
	var notes []messages.Notification
	for pi := range next.probes {
		for ni := range next.probes[pi].nodes {
			next.recompute(pi, ni)
		}
	}
	general := messages.Healthy
	for i := range next.probes {
		general = messages.Worst(general, next.probes[i].status)
	}
	if general != next.general {
		from := next.general
		next.general = general
		next.pending.alerting = true
		notes = next.changed(from, general, now)
	}
	if next.unprobed == 0 && next.refreshed.IsZero() {
		next.refreshed = now
	}
	if next.hist != nil {
		next.hist.Reconfigure(next.layout, now)
		next.observeAll(now)
		next.buildHistory(now)
	}
	*m = *next
	m.dirty = true
	return notes
}
