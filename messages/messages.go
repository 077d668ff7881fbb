// Package messages holds the value types that actors exchange: statuses,
// probe results, the messages the state actor accepts, the transitions it
// broadcasts, and the immutable snapshots it publishes. It has no goroutines
// and no I/O, and imports no other package of this project.
//
// Every message is a plain value. A sender never keeps a reference to
// anything it put in a message, and a receiver never mutates one.
package messages

import (
	"encoding/json"
	"fmt"
	"time"
)

// Status is the health of a replica, node, service or the whole page. Its
// numeric order is its severity: Dead > Sick > Healthy.
type Status uint8

const (
	Healthy Status = iota
	Sick
	Dead
)

// String returns the lowercase wire name: healthy, sick or dead.
func (s Status) String() string {
	switch s {
	case Healthy:
		return "healthy"
	case Sick:
		return "sick"
	case Dead:
		return "dead"
	}
	return fmt.Sprintf("status(%d)", uint8(s))
}

// ParseStatus parses a lowercase wire name.
func ParseStatus(s string) (Status, error) {
	switch s {
	case "healthy":
		return Healthy, nil
	case "sick":
		return Sick, nil
	case "dead":
		return Dead, nil
	}
	return Healthy, fmt.Errorf("unknown status %q", s)
}

// MarshalText encodes the wire name.
func (s Status) MarshalText() ([]byte, error) { return []byte(s.String()), nil }

// UnmarshalText decodes the wire name.
func (s *Status) UnmarshalText(b []byte) error {
	v, err := ParseStatus(string(b))
	if err != nil {
		return err
	}
	*s = v
	return nil
}

// Worst returns the more severe of a and b.
func Worst(a, b Status) Status {
	if b > a {
		return b
	}
	return a
}

var _ json.Marshaler = Status(0)

// MarshalJSON encodes the wire name as a JSON string.
func (s Status) MarshalJSON() ([]byte, error) { return json.Marshal(s.String()) }

// ProbeResult is the outcome of one probe of a poll or script replica, after
// retries.
// Made by: the prober (package actors/probe) that a replica actor runs.
// Travels: from the replica actor to the state actor, inside ReplicaProbed.
type ProbeResult struct {
	Status Status
	// Latency is the wall-clock duration of the last attempt.
	Latency time.Duration
	// Err says why the replica is not healthy ("" when healthy).
	Err string
}

// ReplicaKey names one replica: probe (service) id, node id, replica id.
type ReplicaKey struct {
	Probe, Node, Replica string
}
