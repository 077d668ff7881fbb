package messages

import "time"

// Report is one report received on the reporter API for a push node (Load
// set) or a local node (Health set).
// Sent by: the web layer. Received by: the node actor of its node, which
// answers on Reply.
type Report struct {
	Replica  string
	Interval time.Duration
	// Load is set for a push (Vigil Reporter) load report.
	Load *Load
	// Health is set for a local (Vigil Local) health report.
	Health *Status
	At     time.Time
	// Reply receives nil, or ErrTooManyReplicas. It must have room for one
	// value: the node actor never blocks on it.
	Reply chan<- error
	// Visible, when set, travels with the accepted report to the state
	// actor (in ReplicaUpdated), which sends on it the generation of the
	// first published snapshot that shows the report. It must have room for
	// one value; nothing is sent when the report is refused.
	Visible chan<- uint64
}

func (Report) nodeMessage() {}

// Flush removes one replica of a push or local node.
// Sent by: the web layer. Received by: the node actor, which answers on
// Reply with nil or ErrUnknownReplica.
type Flush struct {
	Replica string
	Reply   chan<- error
	// Visible, when set, travels with an accepted flush to the state actor
	// (in ReplicaRemoved); see Report.Visible.
	Visible chan<- uint64
}

func (Flush) nodeMessage() {}

// NodeMessage is the sealed set of messages a node actor accepts.
type NodeMessage interface{ nodeMessage() }

// ReplicaUpdated carries the current state of a push or local replica; the
// state actor creates the replica on first sight (in order of first report).
// Sent by: node actors. Received by: the state actor.
type ReplicaUpdated struct {
	Key    ReplicaKey
	Status Status
	// Err says why the replica is not healthy.
	Err  string
	Load *Load
	// Queue is the node's last RabbitMQ queue reading (nil when none).
	Queue    *Queue
	Reported time.Time
	Interval time.Duration
	// Visible, when set, receives the generation of the first published
	// snapshot that contains this update; the state actor then publishes
	// without waiting for its usual coalescing delay, and never blocks on
	// the send (it must have room for one value).
	Visible chan<- uint64
}

func (ReplicaUpdated) stateMessage() {}

// ReplicaRemoved removes a flushed push or local replica.
// Sent by: node actors. Received by: the state actor.
type ReplicaRemoved struct {
	Key ReplicaKey
	// Visible: as in ReplicaUpdated.
	Visible chan<- uint64
}

func (ReplicaRemoved) stateMessage() {}
