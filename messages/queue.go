package messages

import "time"

// QueueReading is the result of one RabbitMQ queue check (spec §4.10).
// Sent by: the queue checker of a push node (package actors/queue).
// Received by: that node's actor, which keeps the last one, applies it to
// its replicas' statuses (§5.2) and shows it in their tooltips.
type QueueReading struct {
	// Ready and Unacked are messages_ready and messages_unacknowledged;
	// both 0 when Err is set.
	Ready, Unacked uint64
	// Loaded and Stalled are the threshold verdicts; both false when Err
	// is set (an unreadable queue never changes a status).
	Loaded, Stalled bool
	// Err says why the queue could not be read ("" when it was).
	Err string
	// At is when the check finished.
	At time.Time
}

func (QueueReading) nodeMessage() {}

// Queue returns the reading in the form replicas carry.
func (r QueueReading) Queue() *Queue {
	return &Queue{Ready: r.Ready, Unacked: r.Unacked, Loaded: r.Loaded, Stalled: r.Stalled, Err: r.Err}
}

// QueueSignal is what a push node actor tells its queue checker.
// Sent by: the node actor, on a channel of capacity 1 that it alone writes
// and that it keeps holding only the latest signal (it takes a pending one
// back out, merges it, and puts the merge in: see Merge). Received by: the
// node's queue checker.
type QueueSignal struct {
	// Check asks for a check soon (an accepted report arrived).
	Check bool
	// Active says whether the node has a live (not expired) replica; the
	// checker re-checks on its timer only while it does.
	Active bool
}

// Merge folds a newer signal into a pending one: a pending check request
// survives, the newer Active wins.
func (s QueueSignal) Merge(newer QueueSignal) QueueSignal {
	return QueueSignal{Check: s.Check || newer.Check, Active: newer.Active}
}
