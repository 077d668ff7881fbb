package messages

import "time"

// Snapshot is an immutable view of every status. Nothing reachable from a
// Snapshot is ever modified after publication; a newer state is a new
// Snapshot (unchanged nodes are shared between generations).
// Sent by: the state actor, which stores each one in its Published holder
// (an atomic pointer, not a channel). Received by: the web layer and the
// metrics, which load the latest from that holder; the supervisor tree
// reads it on a reload to seed rebuilt push and local nodes.
type Snapshot struct {
	// Generation increases with every publication.
	Generation uint64
	// Status is the general (page-wide) status.
	Status Status
	// Refreshed is when the statuses were last brought up to date; zero
	// until the first probe round has completed ("not yet refreshed").
	Refreshed time.Time
	Probes    []ProbeSnapshot
	// Announcements are in publication order (oldest first).
	Announcements []Announcement
	// IgnoreUntil is the end of the reminder ignore window (zero: none).
	IgnoreUntil time.Time
	// History is the recorded history (nil until the first one is built);
	// one value is shared by successive snapshots until it is rebuilt.
	History *HistoryView
}

// Announcement is a message published through the Manager API.
// Travels: from the web layer to the state actor inside AnnouncementAdd,
// and from the state actor to readers inside Snapshot.
type Announcement struct {
	ID    string
	Title string
	Text  string
	Date  time.Time
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
	// Interval is the reporting interval of a push or local replica.
	Interval time.Duration
	// Load is the last load report of a push replica (nil otherwise).
	Load *Load
	// Queue is the last RabbitMQ queue reading of a push replica's node
	// (nil when the plugin is off or the node has no queue).
	Queue *Queue
}

// Load is what a Vigil Reporter sends: CPU and RAM as fractions (1.0 =
// 100 %; values above 1 are allowed).
// Travels: from the web layer to a node actor inside Report, from the node
// actor to the state actor inside ReplicaUpdated, then in Snapshot.
type Load struct {
	CPU, RAM float64
}

// Queue is a RabbitMQ queue reading, in the form replicas carry it.
// Travels: from a node actor (made from its last QueueReading) to the state
// actor inside ReplicaUpdated, then in Snapshot.
type Queue struct {
	Ready, Unacked  uint64
	Loaded, Stalled bool
	// Err says why the queue could not be read ("" when it was).
	Err string
}
