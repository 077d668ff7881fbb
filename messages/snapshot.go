package messages

import "time"

// Snapshot is an immutable view of every status, published by the state
// actor and read by the web layer. Nothing reachable from a Snapshot is ever
// modified after publication; a newer state is a new Snapshot (unchanged
// nodes are shared between generations).
type Snapshot struct {
	// Generation increases with every publication.
	Generation uint64
	// Status is the general (page-wide) status.
	Status Status
	// Refreshed is when the statuses were last brought up to date; zero
	// until the first probe round has completed ("not yet refreshed").
	Refreshed time.Time
	Probes    []ProbeSnapshot
}

// ProbeSnapshot is one configured service.
type ProbeSnapshot struct {
	ID, Label string
	Status    Status
	Nodes     []*NodeSnapshot
}

// NodeSnapshot is one node and its replicas.
type NodeSnapshot struct {
	ID, Label         string
	Mode              string
	Status            Status
	RevealReplicaName bool
	LinkURL           string
	LinkLabel         string
	Replicas          []ReplicaSnapshot
}

// ReplicaSnapshot is one replica.
type ReplicaSnapshot struct {
	ID     string
	Status Status
	// Latency is set (HasLatency) once a poll or script probe has run.
	Latency    time.Duration
	HasLatency bool
	// Err is the cause of the last unhealthy result.
	Err string
	// Updated is when the last result arrived; zero before the first one.
	Updated time.Time
}
