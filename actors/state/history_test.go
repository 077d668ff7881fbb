package state

import (
	"testing"
	"time"

	"github.com/vigil-go/vigil/config"
	"github.com/vigil-go/vigil/messages"
	"github.com/vigil-go/vigil/storage"
)

// historyRun drives a model with history through scripted results.
type historyRun struct {
	m       *Model
	records map[string][]byte // what the store would hold
}

func (h *historyRun) at(now time.Time, msgs ...messages.StateMessage) {
	for _, msg := range msgs {
		if p, ok := msg.(messages.ReplicaProbed); ok {
			p.At = now
			msg = p
		}
		h.m.Apply(msg, now)
	}
}

// flush moves the model's pending history into the fake store.
func (h *historyRun) flush(now time.Time) {
	h.m.FlushHistory(now)
	b := h.m.TakeBatch()
	for _, r := range b.PutHistory {
		h.records[r.Key] = r.Value
	}
	for _, kr := range b.PruneHistory {
		for k := range h.records {
			if k >= kr.From && k < kr.To {
				delete(h.records, k)
			}
		}
	}
}

func (h *historyRun) stored() []storage.HistoryRecord {
	var out []storage.HistoryRecord
	for k, v := range h.records {
		out = append(out, storage.HistoryRecord{Key: k, Value: v})
	}
	return out
}

func today(v *messages.HistoryView, service string, node string) messages.HistoryDay {
	for _, s := range v.Services {
		if s.ID != service {
			continue
		}
		if node == "" {
			return s.Days[len(s.Days)-1]
		}
		for _, n := range s.Nodes {
			if n.ID == node {
				return n.Days[len(n.Days)-1]
			}
		}
	}
	return messages.HistoryDay{Date: time.Unix(-1, 0)}
}

func TestModelRecordsHistory(t *testing.T) {
	t0 := time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC)
	h := &historyRun{m: NewModel(testConfig()), records: map[string][]byte{}}
	h.m.StartHistory(nil, t0)
	if v := h.m.Snapshot().History; v == nil || len(v.Services) != 2 || len(v.Page.Days) != messages.HistoryDays {
		t.Fatalf("first view: %+v", v)
	}
	h.at(t0, probed("api", "http://a/", messages.Healthy), probed("api", "tcp://b:1", messages.Healthy), probed("jobs", "0", messages.Healthy))
	h.at(t0.Add(time.Hour), probed("api", "tcp://b:1", messages.Dead))
	h.at(t0.Add(90*time.Minute), probed("api", "tcp://b:1", messages.Healthy))
	h.flush(t0.Add(2 * time.Hour))
	if len(h.records) == 0 {
		t.Fatal("no history records in the store batches")
	}
	h.at(t0.Add(2*time.Hour), messages.Tick{At: t0.Add(2 * time.Hour)})
	v := h.m.Snapshot().History
	if d := today(v, "web", ""); d.Dead != 30*time.Minute || d.Healthy != 90*time.Minute {
		t.Fatalf("web today: %+v, want 30m dead and 1h30m healthy", d)
	}
	if d := today(v, "web", "spare"); d.Healthy+d.Sick+d.Dead != 0 {
		t.Fatalf("a node without replicas has data: %+v", d)
	}
	if len(v.Incidents) != 1 || v.Incidents[0].Service != "web" || !v.Incidents[0].Start.Equal(t0.Add(time.Hour)) ||
		!v.Incidents[0].End.Equal(t0.Add(90*time.Minute)) || v.Incidents[0].Worst != messages.Dead ||
		len(v.Incidents[0].Nodes) != 1 || v.Incidents[0].Nodes[0] != "api" {
		t.Fatalf("incidents: %+v", v.Incidents)
	}
	if v.Page.Uptime.H24.Dead != 30*time.Minute {
		t.Fatalf("page uptime 24h: %+v", v.Page.Uptime.H24)
	}

	// A restart an hour later: the stored history comes back, the hour in
	// between is no data, and nodes are no data until probed again.
	restart := t0.Add(3 * time.Hour)
	back := &historyRun{m: NewModel(testConfig()), records: h.records}
	back.m.StartHistory(back.stored(), restart)
	back.at(restart.Add(time.Hour), messages.Tick{At: restart.Add(time.Hour)})
	v = back.m.Snapshot().History
	if d := today(v, "web", ""); d.Dead != 30*time.Minute || d.Healthy != 90*time.Minute {
		t.Fatalf("after a restart, web today: %+v", d)
	}
	if len(v.Incidents) != 1 {
		t.Fatalf("after a restart, incidents: %+v", v.Incidents)
	}

	// A reload removing node jobs and adding node extra.
	cfg := testConfig()
	web := &cfg.Probe.Services[0]
	web.Nodes = append(web.Nodes[:1:1], config.Node{ID: "extra", Label: "Extra", Mode: config.ModePoll, Replicas: []config.Replica{{ID: "http://e/", Kind: config.KindHTTP}}})
	back.m.Reconfigure(cfg, restart.Add(time.Hour))
	v = back.m.Snapshot().History
	var ids []string
	for _, n := range v.Services[0].Nodes {
		ids = append(ids, n.ID)
	}
	if len(ids) != 2 || ids[0] != "api" || ids[1] != "extra" {
		t.Fatalf("nodes after the reload: %v", ids)
	}
	if d := today(v, "web", "extra"); d.Healthy+d.Sick+d.Dead != 0 {
		t.Fatalf("an added node has data: %+v", d)
	}
	if d := today(v, "web", "api"); d.Dead != 30*time.Minute {
		t.Fatalf("a kept node lost its history: %+v", d)
	}
}

func TestModelRecordsAnnouncements(t *testing.T) {
	t0 := time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC)
	m := NewModel(testConfig())
	m.StartHistory(nil, t0)
	m.Apply(messages.AnnouncementAdd{Announcement: messages.Announcement{ID: "a1", Title: "Maintenance", Date: t0}}, t0)
	v := m.Snapshot().History
	if len(v.Announcements) != 1 || v.Announcements[0].ID != "a1" || !v.Announcements[0].Retracted.IsZero() {
		t.Fatalf("after publishing: %+v", v.Announcements)
	}
	m.Apply(messages.AnnouncementRemove{ID: "a1"}, t0.Add(time.Hour))
	v = m.Snapshot().History
	if len(v.Announcements) != 1 || !v.Announcements[0].Retracted.Equal(t0.Add(time.Hour)) {
		t.Fatalf("after retracting: %+v", v.Announcements)
	}
}

func TestModelLatencyOnlyForReachedPollTargets(t *testing.T) {
	t0 := time.Date(2026, 11, 30, 8, 0, 0, 0, time.UTC)
	m := NewModel(testConfig())
	m.StartHistory(nil, t0)
	slow := probed("api", "http://a/", messages.Healthy)
	slow.Result.Latency = 40 * time.Millisecond
	timeout := probed("api", "tcp://b:1", messages.Dead)
	timeout.Result.Latency = 10 * time.Second
	m.Apply(slow, t0)
	m.Apply(timeout, t0)
	m.Apply(probed("jobs", "0", messages.Healthy), t0)
	m.Apply(messages.Tick{At: t0.Add(time.Minute)}, t0.Add(time.Minute))
	m.buildHistory(t0.Add(time.Minute))
	for _, n := range m.Snapshot().History.Services[0].Nodes {
		var count uint64
		var top time.Duration
		for _, p := range n.Latency {
			count += p.Count
			top = max(top, p.Max)
		}
		switch {
		case n.ID == "api" && (count != 1 || top < 40*time.Millisecond || top > 50*time.Millisecond):
			t.Fatalf("api latency: %d samples, max %v; want the one reached result", count, top)
		case n.ID == "jobs" && count != 0:
			t.Fatalf("a script node has latencies: %+v", n.Latency)
		}
	}
}
