package state

import (
	"reflect"
	"testing"
	"time"

	"github.com/vigil-go/vigil/config"
	"github.com/vigil-go/vigil/messages"
)

// testConfig has two services: web (poll node api with two replicas, script
// node jobs with one script, empty poll node spare) and relay (push node).
func testConfig() *config.Config {
	return &config.Config{Probe: config.Probe{Services: []config.Service{
		{ID: "web", Label: "Web", Nodes: []config.Node{
			{ID: "api", Label: "API", Mode: config.ModePoll, Replicas: []config.Replica{
				{ID: "http://a/", Kind: config.KindHTTP}, {ID: "tcp://b:1", Kind: config.KindTCP},
			}},
			{ID: "jobs", Label: "Jobs", Mode: config.ModeScript, Scripts: []string{"exit 0"}},
			{ID: "spare", Label: "Spare", Mode: config.ModePoll},
		}},
		{ID: "relay", Label: "Relay", Nodes: []config.Node{
			{ID: "socket", Label: "Socket", Mode: config.ModePush},
		}},
	}}}
}

func probed(node, replica string, s messages.Status) messages.ReplicaProbed {
	service := "web"
	return messages.ReplicaProbed{
		Key:    messages.ReplicaKey{Probe: service, Node: node, Replica: replica},
		Result: messages.ProbeResult{Status: s, Latency: 12 * time.Millisecond},
	}
}

func TestModelInitialState(t *testing.T) {
	m := NewModel(testConfig())
	s := m.Snapshot()
	if s.Status != messages.Healthy || !s.Refreshed.IsZero() {
		t.Fatalf("initial: status %v refreshed %v", s.Status, s.Refreshed)
	}
	var ids []string
	for _, p := range s.Probes {
		for _, n := range p.Nodes {
			for _, r := range n.Replicas {
				ids = append(ids, p.ID+":"+n.ID+":"+r.ID)
			}
		}
	}
	want := []string{"web:api:http://a/", "web:api:tcp://b:1", "web:jobs:0"}
	if !reflect.DeepEqual(ids, want) {
		t.Fatalf("replicas %v, want %v", ids, want)
	}
	if n := s.Probes[1].Nodes[0]; len(n.Replicas) != 0 || n.Status != messages.Healthy {
		t.Fatalf("push node starts with replicas or unhealthy: %+v", n)
	}
}

// TestModelSequence feeds a scripted sequence and checks the roll-up and the
// transitions after every step.
func TestModelSequence(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	steps := []struct {
		msg         messages.StateMessage
		general     messages.Status
		webStatus   messages.Status
		apiStatus   messages.Status
		transition  *messages.Transition
		refreshedAt bool
	}{
		{msg: probed("api", "http://a/", messages.Sick), general: messages.Sick, webStatus: messages.Sick, apiStatus: messages.Sick,
			transition: &messages.Transition{From: messages.Healthy, To: messages.Sick}},
		{msg: probed("api", "tcp://b:1", messages.Dead), general: messages.Dead, webStatus: messages.Dead, apiStatus: messages.Dead,
			transition: &messages.Transition{From: messages.Sick, To: messages.Dead, Dead: []string{"web:api:tcp://b:1"}}},
		{msg: probed("jobs", "0", messages.Dead), general: messages.Dead, webStatus: messages.Dead, apiStatus: messages.Dead, refreshedAt: true},
		{msg: probed("api", "tcp://b:1", messages.Healthy), general: messages.Dead, webStatus: messages.Dead, apiStatus: messages.Sick, refreshedAt: true},
		{msg: probed("jobs", "0", messages.Healthy), general: messages.Sick, webStatus: messages.Sick, apiStatus: messages.Sick, refreshedAt: true,
			transition: &messages.Transition{From: messages.Dead, To: messages.Sick}},
		{msg: probed("api", "http://a/", messages.Healthy), general: messages.Healthy, webStatus: messages.Healthy, apiStatus: messages.Healthy, refreshedAt: true,
			transition: &messages.Transition{From: messages.Sick, To: messages.Healthy}},
		// A result for a replica that is not configured changes nothing.
		{msg: probed("api", "http://gone/", messages.Dead), general: messages.Healthy, webStatus: messages.Healthy, apiStatus: messages.Healthy, refreshedAt: true},
	}
	m := NewModel(testConfig())
	for i, st := range steps {
		now := t0.Add(time.Duration(i) * time.Second)
		got := m.Apply(st.msg, now)
		s := m.Snapshot()
		if s.Status != st.general || s.Probes[0].Status != st.webStatus || s.Probes[0].Nodes[0].Status != st.apiStatus {
			t.Fatalf("step %d: general %v web %v api %v; want %v %v %v", i, s.Status, s.Probes[0].Status,
				s.Probes[0].Nodes[0].Status, st.general, st.webStatus, st.apiStatus)
		}
		if s.Probes[1].Status != messages.Healthy || s.Probes[0].Nodes[2].Status != messages.Healthy {
			t.Fatalf("step %d: nodes without replicas must stay healthy", i)
		}
		if st.transition == nil {
			if len(got) != 0 {
				t.Fatalf("step %d: unexpected transitions %+v", i, got)
			}
		} else {
			want := *st.transition
			want.At = now
			if len(got) != 1 || !reflect.DeepEqual(got[0], want) {
				t.Fatalf("step %d: transitions %+v, want %+v", i, got, want)
			}
		}
		if st.refreshedAt != !s.Refreshed.IsZero() {
			t.Fatalf("step %d: refreshed %v, want set=%v", i, s.Refreshed, st.refreshedAt)
		}
	}
}

func TestModelTickRefreshesOnlyAfterFirstRound(t *testing.T) {
	t0 := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	m := NewModel(testConfig())
	m.Apply(messages.Tick{At: t0}, t0)
	if !m.Snapshot().Refreshed.IsZero() {
		t.Fatal("tick before the first round must not mark the page refreshed")
	}
	m.Apply(probed("api", "http://a/", messages.Healthy), t0)
	m.Apply(probed("api", "tcp://b:1", messages.Healthy), t0)
	m.Apply(probed("jobs", "0", messages.Healthy), t0)
	later := t0.Add(10 * time.Second)
	m.Apply(messages.Tick{At: later}, later)
	if got := m.Snapshot().Refreshed; !got.Equal(later) {
		t.Fatalf("refreshed %v, want %v", got, later)
	}
}

func TestModelSnapshotIsImmutableAndShared(t *testing.T) {
	m := NewModel(testConfig())
	m.Apply(probed("api", "http://a/", messages.Sick), time.Now())
	s1 := m.Snapshot()
	m.Apply(probed("jobs", "0", messages.Dead), time.Now())
	s2 := m.Snapshot()
	if s1.Probes[0].Nodes[1].Replicas[0].Status != messages.Healthy {
		t.Fatal("published snapshot changed after a later message")
	}
	if s1.Probes[0].Nodes[0] != s2.Probes[0].Nodes[0] {
		t.Fatal("unchanged node should be shared between snapshots")
	}
	if s1.Probes[0].Nodes[1] == s2.Probes[0].Nodes[1] {
		t.Fatal("changed node must get a new snapshot")
	}
	if s2.Generation <= s1.Generation {
		t.Fatal("generation must increase")
	}
	if got := s2.Probes[0].Nodes[0].Replicas[0]; !got.HasLatency || got.Latency != 12*time.Millisecond {
		t.Fatalf("latency not recorded: %+v", got)
	}
}
