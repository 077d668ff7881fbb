package state

import (
	"strconv"
	"time"

	"github.com/vigil-go/vigil/config"
	"github.com/vigil-go/vigil/messages"
)

// Model is every status the state actor owns. Apply is its only mutator; it
// performs no I/O, starts no goroutine and reads no clock (the caller passes
// the time), so it is tested on its own with scripted message sequences.
//
// A Model is owned by exactly one goroutine.
type Model struct {
	probes  []probeModel
	index   map[messages.ReplicaKey]ref
	general messages.Status
	// unprobed counts poll and script replicas that have no result yet.
	unprobed  int
	refreshed time.Time
	gen       uint64
	// dirty is set when something visible changed since the last Snapshot.
	dirty bool
}

type ref struct{ probe, node, replica int }

type probeModel struct {
	id, label string
	status    messages.Status
	nodes     []nodeModel
}

type nodeModel struct {
	id, label, mode   string
	status            messages.Status
	reveal            bool
	linkURL, linkText string
	replicas          []replicaModel
	// snap caches the published view of this node; nil when stale.
	snap *messages.NodeSnapshot
}

type replicaModel struct {
	id         string
	status     messages.Status
	latency    time.Duration
	hasLatency bool
	err        string
	updated    time.Time
}

// NewModel builds the initial model from a configuration: every service, node
// and poll/script replica in file order, all healthy and not yet probed
// (spec §3.4). Push and local nodes start without replicas.
func NewModel(cfg *config.Config) *Model {
	m := &Model{index: make(map[messages.ReplicaKey]ref)}
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
			p.nodes = append(p.nodes, nm)
		}
		m.probes = append(m.probes, p)
	}
	m.dirty = true
	return m
}

// Status returns the general status.
func (m *Model) Status() messages.Status { return m.general }

// Apply folds one message into the model and returns the general-status
// transitions it caused (at most one).
func (m *Model) Apply(msg messages.StateMessage, now time.Time) []messages.Transition {
	switch msg := msg.(type) {
	case messages.ReplicaProbed:
		return m.replicaProbed(msg, now)
	case messages.Tick:
		if m.unprobed == 0 {
			m.refreshed = msg.At
			m.dirty = true
		}
	}
	return nil
}

func (m *Model) replicaProbed(msg messages.ReplicaProbed, now time.Time) []messages.Transition {
	r, ok := m.index[msg.Key]
	if !ok {
		return nil // replica removed since the probe started
	}
	node := &m.probes[r.probe].nodes[r.node]
	rep := &node.replicas[r.replica]
	if rep.updated.IsZero() {
		m.unprobed--
	}
	rep.status = msg.Result.Status
	rep.latency = msg.Result.Latency
	rep.hasLatency = true
	rep.err = msg.Result.Err
	rep.updated = msg.At
	node.snap = nil
	m.dirty = true
	if m.unprobed == 0 {
		m.refreshed = now
	}
	return m.rollUp(r.probe, r.node, now)
}

// rollUp recomputes one node, its service and the general status (worst
// wins, spec §5.3) and reports a general transition if there was one.
func (m *Model) rollUp(pi, ni int, now time.Time) []messages.Transition {
	p := &m.probes[pi]
	n := &p.nodes[ni]
	n.status = messages.Healthy
	for i := range n.replicas {
		n.status = messages.Worst(n.status, n.replicas[i].status)
	}
	p.status = messages.Healthy
	for i := range p.nodes {
		p.status = messages.Worst(p.status, p.nodes[i].status)
	}
	general := messages.Healthy
	for i := range m.probes {
		general = messages.Worst(general, m.probes[i].status)
	}
	if general == m.general {
		return nil
	}
	t := messages.Transition{From: m.general, To: general, Dead: m.deadReplicas(), At: now}
	m.general = general
	return []messages.Transition{t}
}

// deadReplicas lists every dead replica as "probe:node:replica" in order.
func (m *Model) deadReplicas() []string {
	var dead []string
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
			Err: r.err, Updated: r.updated,
		}
	}
	return ns
}
