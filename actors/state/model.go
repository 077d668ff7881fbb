package state

import (
	"strconv"
	"time"

	"github.com/vigil-go/vigil/config"
	"github.com/vigil-go/vigil/history"
	"github.com/vigil-go/vigil/messages"
	"github.com/vigil-go/vigil/storage"
)

// Model is every status the state actor owns. Apply is its only mutator; it
// performs no I/O, starts no goroutine and reads no clock (the caller passes
// the time), so it is tested on its own with scripted message sequences.
//
// A Model is owned by exactly one goroutine.
type Model struct {
	probes []probeModel
	index  map[messages.ReplicaKey]ref
	// nodes finds a node by (probe id, node id).
	nodes   map[[2]string][2]int
	general messages.Status
	// unprobed counts poll and script replicas that have no result yet.
	unprobed  int
	refreshed time.Time
	gen       uint64
	// dirty is set when something visible changed since the last Snapshot.
	dirty bool

	alerts alerting

	announcements []messages.Announcement
	// announcementSeqs holds the Seq of each announcement, in the same
	// order.
	announcementSeqs []uint64
	// seq numbers announcements and push/local replicas in creation order.
	seq uint64

	// outbox is the newest undelivered notification of each notifier, by
	// notifier kind (see Enqueue).
	outbox map[string]messages.Notification

	// pending collects what changed since the last TakeBatch, for the store.
	pending pendingWrites

	// layout is the configuration as the history recorder sees it; hist
	// records from StartHistory on (nil before), histView is its latest
	// view, built at histBuilt (see history.go).
	layout    history.Layout
	hist      *history.Recorder
	histView  *messages.HistoryView
	histBuilt time.Time
}

// pendingWrites is the part of the model not yet handed to the store.
type pendingWrites struct {
	replicas map[messages.ReplicaKey]bool // true: put, false: delete
	alerting bool
	outbox   map[string]bool // notifier kind → true: put, false: delete
	history  map[string][]byte
	prune    []storage.KeyRange
}

// alerting is the notification state of spec §5.4–5.5: one set of counters
// for the whole page.
type alerting struct {
	policy AlertPolicy
	// escalate is reminder_escalate_counter, backoff reminder_backoff_counter.
	escalate, backoff int
	lastNotified      time.Time
	ignoreUntil       time.Time
}

// AlertPolicy is the [notify] table as the reducer needs it.
type AlertPolicy struct {
	// Enabled is false when [notify] is absent: nothing is ever sent.
	Enabled  bool
	Startup  bool
	Interval time.Duration // reminder_interval, 0 = no reminders
	// Exponent is 0, 1, 2 or 3 for none, linear, square, cubic.
	Exponent int
	Limit    int
	Escalate bool
}

// PolicyFrom extracts the alert policy from a configuration.
func PolicyFrom(cfg *config.Config) AlertPolicy {
	n := cfg.Notify
	if n == nil {
		return AlertPolicy{}
	}
	exp := map[string]int{"none": 0, "linear": 1, "square": 2, "cubic": 3}[n.ReminderBackoffFunction]
	return AlertPolicy{
		Enabled: true, Startup: n.StartupNotification, Interval: n.ReminderInterval,
		Exponent: exp, Limit: n.ReminderBackoffLimit, Escalate: n.ReminderEscalate,
	}
}

type ref struct{ probe, node, replica int }

type probeModel struct {
	id, label string
	status    messages.Status
	nodes     []nodeModel
}

type nodeModel struct {
	id, label, mode string
	status          messages.Status
	reveal          bool
	// hasData is set by recompute once a replica has a result of this run
	// or a push or local report (the history's "no data" otherwise).
	hasData           bool
	linkURL, linkText string
	replicas          []replicaModel
	// snap caches the published view of this node; nil when stale.
	snap *messages.NodeSnapshot
}

type replicaModel struct {
	id string
	// pos orders push and local replicas across restarts.
	pos        uint64
	reported   time.Time
	interval   time.Duration
	status     messages.Status
	latency    time.Duration
	hasLatency bool
	err        string
	updated    time.Time
	load       *messages.Load
	queue      *messages.Queue
	// seen is set by the first result of this run.
	seen bool
}

// NewModel builds the initial model from a configuration: every service, node
// and poll/script replica in file order, all healthy and not yet probed
// (spec §3.4). Push and local nodes start without replicas.
func NewModel(cfg *config.Config) *Model {
	m := &Model{index: make(map[messages.ReplicaKey]ref), nodes: map[[2]string][2]int{}, alerts: alerting{policy: PolicyFrom(cfg), backoff: 1},
		outbox: map[string]messages.Notification{}, layout: LayoutOf(cfg)}
	m.pending = newPendingWrites()
	for pi, svc := range cfg.Probe.Services {
		p := probeModel{id: svc.ID, label: svc.Label}
		for ni, n := range svc.Nodes {
			nm := nodeModel{
				id: n.ID, label: n.Label, mode: string(n.Mode),
				reveal: n.RevealReplicaName, linkURL: n.LinkURL, linkText: n.LinkLabel,
			}
			var ids []string
			switch n.Mode {
			case config.ModePoll:
				for _, r := range n.Replicas {
					ids = append(ids, r.ID)
				}
			case config.ModeScript:
				for i := range n.Scripts {
					ids = append(ids, strconv.Itoa(i))
				}
			}
			for _, id := range ids {
				key := messages.ReplicaKey{Probe: svc.ID, Node: n.ID, Replica: id}
				if _, dup := m.index[key]; dup {
					continue
				}
				m.index[key] = ref{pi, ni, len(nm.replicas)}
				nm.replicas = append(nm.replicas, replicaModel{id: id})
				m.unprobed++
			}
			m.nodes[[2]string{svc.ID, n.ID}] = [2]int{pi, ni}
			p.nodes = append(p.nodes, nm)
		}
		m.probes = append(m.probes, p)
	}
	m.dirty = true
	return m
}

// Status returns the general status.
func (m *Model) Status() messages.Status { return m.general }

// Apply folds one message into the model and returns the notifications it
// causes: a change notification when the general status enters or leaves
// dead, or a reminder on a tick during an outage.
func (m *Model) Apply(msg messages.StateMessage, now time.Time) []messages.Notification {
	switch msg := msg.(type) {
	case messages.ReplicaProbed:
		return m.replicaProbed(msg, now)
	case messages.ReplicaUpdated:
		return m.replicaUpdated(msg, now)
	case messages.ReplicaRemoved:
		return m.replicaRemoved(msg, now)
	case messages.AnnouncementAdd, messages.AnnouncementRemove, messages.IgnoreSet:
		// Without a store; with one, the actor stores the command's batch
		// first and applies it with ApplyStored.
		m.ApplyStored(msg, m.CommandBatch(msg))
		m.RecordCommand(msg, now)
	case messages.Tick:
		m.refreshHistory(msg.At)
		if m.unprobed == 0 {
			m.refreshed = msg.At
			m.dirty = true
		}
		return m.remind(msg.At)
	case messages.NotificationDelivered:
		m.delivered(msg)
	}
	return nil
}

// StartupNotification is the notification sent once per process start when
// [notify] exists and startup_notification is on (spec §5.6). It always
// says healthy and does not move the reminder clock.
func (m *Model) StartupNotification(now time.Time) (messages.Notification, bool) {
	p := m.alerts.policy
	if !p.Enabled || !p.Startup {
		return messages.Notification{}, false
	}
	return messages.Notification{Kind: messages.Startup, Status: messages.Healthy, Replicas: []string{}, Time: now}, true
}

// changed applies the change rule of spec §5.4 to a general transition.
func (m *Model) changed(from, to messages.Status, now time.Time) []messages.Notification {
	a := &m.alerts
	if to != messages.Dead {
		a.escalate, a.backoff = 0, 1
	}
	if (from == messages.Dead) == (to == messages.Dead) {
		return nil // healthy <-> sick: shown, never notified
	}
	a.lastNotified = now
	if !a.policy.Enabled {
		return nil
	}
	return []messages.Notification{{Kind: messages.Changed, Status: to, Replicas: m.deadReplicas(), Time: now}}
}

// remind evaluates a reminder (spec §5.5) during an unchanged outage.
func (m *Model) remind(now time.Time) []messages.Notification {
	a := &m.alerts
	p := a.policy
	if !p.Enabled || p.Interval <= 0 || a.lastNotified.IsZero() || m.general != messages.Dead {
		return nil
	}
	every := p.Interval
	for range p.Exponent {
		every *= time.Duration(a.backoff)
	}
	if now.Sub(a.lastNotified) < every || now.Before(a.ignoreUntil) {
		return nil
	}
	if p.Escalate && a.escalate < 65535 {
		a.escalate++
	}
	if p.Exponent > 0 && a.backoff < p.Limit {
		a.backoff++
	}
	a.lastNotified = now
	m.pending.alerting = true
	n := messages.Notification{Kind: messages.Reminder, Status: messages.Dead, Replicas: m.deadReplicas(), Time: now}
	if a.escalate > 0 {
		n.Escalated = a.escalate
	}
	return []messages.Notification{n}
}

func (m *Model) replicaProbed(msg messages.ReplicaProbed, now time.Time) []messages.Notification {
	r, ok := m.index[msg.Key]
	if !ok {
		return nil // replica removed since the probe started
	}
	node := &m.probes[r.probe].nodes[r.node]
	rep := &node.replicas[r.replica]
	if !rep.seen {
		rep.seen = true
		m.unprobed--
	}
	m.pending.replicas[msg.Key] = true
	rep.status = msg.Result.Status
	rep.latency = msg.Result.Latency
	rep.hasLatency = true
	rep.err = msg.Result.Err
	rep.updated = msg.At
	m.recordLatency(r, msg.Result, now)
	node.snap = nil
	m.dirty = true
	if m.unprobed == 0 {
		m.refreshed = now
	}
	return m.rollUp(r.probe, r.node, now)
}

// replicaUpdated records the state of a push or local replica, creating it
// (after the node's existing replicas) on its first report.
func (m *Model) replicaUpdated(msg messages.ReplicaUpdated, now time.Time) []messages.Notification {
	r, ok := m.index[msg.Key]
	if !ok {
		pn, known := m.nodes[[2]string{msg.Key.Probe, msg.Key.Node}]
		if !known {
			return nil
		}
		node := &m.probes[pn[0]].nodes[pn[1]]
		r = ref{pn[0], pn[1], len(node.replicas)}
		m.seq++
		node.replicas = append(node.replicas, replicaModel{id: msg.Key.Replica, pos: m.seq})
		m.index[msg.Key] = r
	}
	m.pending.replicas[msg.Key] = true
	node := &m.probes[r.probe].nodes[r.node]
	rep := &node.replicas[r.replica]
	rep.status, rep.err, rep.load, rep.queue, rep.updated = msg.Status, msg.Err, msg.Load, msg.Queue, msg.Reported
	rep.reported, rep.interval = msg.Reported, msg.Interval
	node.snap = nil
	m.dirty = true
	return m.rollUp(r.probe, r.node, now)
}

// replicaRemoved drops a flushed replica, keeping the order of the others.
func (m *Model) replicaRemoved(msg messages.ReplicaRemoved, now time.Time) []messages.Notification {
	r, ok := m.index[msg.Key]
	if !ok {
		return nil
	}
	node := &m.probes[r.probe].nodes[r.node]
	node.replicas = append(node.replicas[:r.replica], node.replicas[r.replica+1:]...)
	delete(m.index, msg.Key)
	m.pending.replicas[msg.Key] = false
	for i := r.replica; i < len(node.replicas); i++ {
		k := messages.ReplicaKey{Probe: msg.Key.Probe, Node: msg.Key.Node, Replica: node.replicas[i].id}
		m.index[k] = ref{r.probe, r.node, i}
	}
	node.snap = nil
	m.dirty = true
	return m.rollUp(r.probe, r.node, now)
}

// rollUp recomputes one node, its service and the general status (worst
// wins, spec §5.3) and applies the change rule if the general status moved.
func (m *Model) rollUp(pi, ni int, now time.Time) []messages.Notification {
	general := m.recompute(pi, ni)
	m.observe(pi, ni, now)
	if general == m.general {
		return nil
	}
	from := m.general
	m.general = general
	m.pending.alerting = true
	return m.changed(from, general, now)
}

// recompute refreshes the status of one node and its service and returns
// the general status they imply (without storing it).
func (m *Model) recompute(pi, ni int) messages.Status {
	p := &m.probes[pi]
	n := &p.nodes[ni]
	n.status, n.hasData = messages.Healthy, false
	for i := range n.replicas {
		r := &n.replicas[i]
		n.status = messages.Worst(n.status, r.status)
		n.hasData = n.hasData || r.seen || !r.reported.IsZero()
	}
	p.status = messages.Healthy
	for i := range p.nodes {
		p.status = messages.Worst(p.status, p.nodes[i].status)
	}
	general := messages.Healthy
	for i := range m.probes {
		general = messages.Worst(general, m.probes[i].status)
	}
	return general
}

// deadReplicas lists every dead replica as "probe:node:replica" in order.
func (m *Model) deadReplicas() []string {
	dead := []string{}
	for _, p := range m.probes {
		for _, n := range p.nodes {
			for _, r := range n.replicas {
				if r.status == messages.Dead {
					dead = append(dead, p.id+":"+n.id+":"+r.id)
				}
			}
		}
	}
	return dead
}

// Dirty reports whether a Snapshot would differ from the last one taken.
func (m *Model) Dirty() bool { return m.dirty }

// Snapshot returns an immutable view of the model. Nodes whose replicas did
// not change since the previous call are shared with the previous snapshot,
// so the cost is proportional to the number of nodes plus the replicas of
// changed nodes.
func (m *Model) Snapshot() *messages.Snapshot {
	m.gen++
	m.dirty = false
	s := &messages.Snapshot{
		Generation: m.gen,
		Status:     m.general,
		Refreshed:  m.refreshed,
		Probes:     make([]messages.ProbeSnapshot, len(m.probes)),
		// The slice is never appended to in place after publication
		// (removal copies), so sharing it is safe.
		Announcements: m.announcements[:len(m.announcements):len(m.announcements)],
		IgnoreUntil:   m.alerts.ignoreUntil,
		History:       m.histView,
	}
	for pi := range m.probes {
		p := &m.probes[pi]
		ps := messages.ProbeSnapshot{ID: p.id, Label: p.label, Status: p.status, Nodes: make([]*messages.NodeSnapshot, len(p.nodes))}
		for ni := range p.nodes {
			n := &p.nodes[ni]
			if n.snap == nil {
				n.snap = n.snapshot()
			}
			ps.Nodes[ni] = n.snap
		}
		s.Probes[pi] = ps
	}
	return s
}

func (n *nodeModel) snapshot() *messages.NodeSnapshot {
	ns := &messages.NodeSnapshot{
		ID: n.id, Label: n.label, Mode: n.mode, Status: n.status,
		RevealReplicaName: n.reveal, LinkURL: n.linkURL, LinkLabel: n.linkText,
		Replicas: make([]messages.ReplicaSnapshot, len(n.replicas)),
	}
	for i, r := range n.replicas {
		ns.Replicas[i] = messages.ReplicaSnapshot{
			ID: r.id, Status: r.status, Latency: r.latency, HasLatency: r.hasLatency,
			Err: r.err, Updated: r.updated, Load: r.load, Queue: r.queue, Interval: r.interval,
		}
	}
	return ns
}
