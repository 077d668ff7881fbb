package messages

import "time"

// StateMessage is the sealed set of messages the state actor accepts.
type StateMessage interface{ stateMessage() }

// ReplicaProbed reports a finished probe of a poll or script replica.
// Sent by: replica actors. Received by: the state actor.
type ReplicaProbed struct {
	Key    ReplicaKey
	Result ProbeResult
	At     time.Time
}

func (ReplicaProbed) stateMessage() {}

// Tick is the state actor's own periodic heartbeat; it refreshes the
// "refreshed" time once every replica has been probed at least once.
// Sent by: the state actor to its own reducer. Received by: the state reducer.
type Tick struct {
	At time.Time
}

func (Tick) stateMessage() {}
