package state

import (
	"time"

	"github.com/vigil-go/vigil/config"
	"github.com/vigil-go/vigil/history"
	"github.com/vigil-go/vigil/messages"
	"github.com/vigil-go/vigil/storage"
)

// HistoryFlushEvery is how often the history recorder's changed records
// join the store batches: a kill -9 loses at most this much history.
const HistoryFlushEvery = 5 * time.Second

// HistoryViewEvery bounds how often the published history view is rebuilt
// while nothing but time passes; an incident or announcement change
// rebuilds it at the next tick.
const HistoryViewEvery = time.Minute

// LayoutOf is the history layout of a configuration: every service and
// node in file order, with the services' objectives.
func LayoutOf(cfg *config.Config) history.Layout {
	l := history.Layout{Interval: cfg.Metrics.PollInterval}
	for _, svc := range cfg.Probe.Services {
		s := history.ServiceLayout{ID: svc.ID, Label: svc.Label, SLO: svc.SLO}
		for _, n := range svc.Nodes {
			s.Nodes = append(s.Nodes, history.NodeLayout{ID: n.ID, Label: n.Label, Poll: n.Mode == config.ModePoll})
		}
		l.Services = append(l.Services, s)
	}
	return l
}

// StartHistory starts recording from the stored history records (none for
// a new store), after Restore: the announcement log is brought in line
// with the restored announcements, every node's current status is recorded
// from now, and the first view is built.
func (m *Model) StartHistory(records []storage.HistoryRecord, now time.Time) {
	m.hist = history.New(m.layout, records, now)
	m.hist.SyncAnnouncements(m.announcements, now)
	m.observeAll(now)
	m.buildHistory(now)
}

// observeAll tells the recorder the status of every node.
func (m *Model) observeAll(now time.Time) {
	for pi := range m.probes {
		for ni := range m.probes[pi].nodes {
			m.observe(pi, ni, now)
		}
	}
}

// observe tells the recorder the status of one node as recompute left it
// (a no-op when it did not change).
func (m *Model) observe(pi, ni int, now time.Time) {
	if m.hist == nil {
		return
	}
	n := &m.probes[pi].nodes[ni]
	m.hist.Node(pi, ni, n.status, n.hasData, now)
}

// recordLatency records the latency of a poll result that reached its
// target (a dead result's latency is a timeout or a refusal, not the
// service's speed).
func (m *Model) recordLatency(r ref, res messages.ProbeResult, now time.Time) {
	if m.hist == nil || res.Status == messages.Dead || m.probes[r.probe].nodes[r.node].mode != string(config.ModePoll) {
		return
	}
	m.hist.Latency(r.probe, r.node, res.Latency, now)
}

// RecordCommand records a stored Manager command in the announcement log
// and rebuilds the history view at once, so feeds show it on the next
// read.
func (m *Model) RecordCommand(msg messages.StateMessage, now time.Time) {
	if m.hist == nil {
		return
	}
	switch msg := msg.(type) {
	case messages.AnnouncementAdd:
		m.hist.Announced(msg.Announcement, now)
	case messages.AnnouncementRemove:
		m.hist.Retracted(msg.ID, now)
	default:
		return
	}
	m.buildHistory(now)
}

// FlushHistory settles the recorder up to now and queues its changed
// records (and the ranges past retention) for the next store batch.
func (m *Model) FlushHistory(now time.Time) {
	if m.hist == nil {
		return
	}
	puts, prune := m.hist.Flush(now)
	p := &m.pending
	for _, r := range puts {
		p.history[r.Key] = r.Value
	}
	p.prune = append(p.prune, prune...)
}

// refreshHistory rebuilds the view when an incident or announcement
// changed, or HistoryViewEvery has passed.
func (m *Model) refreshHistory(now time.Time) {
	if m.hist != nil && (m.hist.Changed() || now.Sub(m.histBuilt) >= HistoryViewEvery) {
		m.buildHistory(now)
	}
}

func (m *Model) buildHistory(now time.Time) {
	m.histView = m.hist.View(now)
	m.histBuilt = now
	m.dirty = true
}
