package supervisors

import (
	"testing"
	"time"

	"github.com/vigil-go/vigil/cluster"
	"github.com/vigil-go/vigil/messages"
	"github.com/vigil-go/vigil/storage"
)

// TestFoldReports: a new term's node actors start from the newest queued
// report of each stored replica; older reports and replicas not stored
// yet change nothing.
func TestFoldReports(t *testing.T) {
	at := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	key := func(r string) messages.ReplicaKey { return messages.ReplicaKey{Probe: "p", Node: "n", Replica: r} }
	st := &storage.State{Replicas: []storage.Replica{
		{Key: key("a"), Reported: at, Interval: time.Minute, Load: &messages.Load{CPU: 0.1}},
		{Key: key("b"), Reported: at, Interval: time.Minute},
	}}
	foldReports(st, []cluster.QueuedReport{
		{Key: key("a"), At: at.Add(30 * time.Second), Interval: 2 * time.Minute, Load: &messages.Load{CPU: 0.9}},
		{Key: key("b"), At: at.Add(-time.Second), Interval: time.Hour},
		{Key: key("c"), At: at.Add(time.Hour), Interval: time.Hour},
	})
	a, b := st.Replicas[0], st.Replicas[1]
	if !a.Reported.Equal(at.Add(30*time.Second)) || a.Interval != 2*time.Minute || a.Load.CPU != 0.9 {
		t.Fatalf("a = %+v, want the queued report", a)
	}
	if !b.Reported.Equal(at) || b.Interval != time.Minute {
		t.Fatalf("b = %+v, moved back by an older report", b)
	}
	if len(st.Replicas) != 2 {
		t.Fatalf("a replica was added: %+v", st.Replicas)
	}
}
