package history

import (
	"slices"
	"testing"
	"time"

	"github.com/vigil-go/vigil/messages"
)

func TestReconfigure(t *testing.T) {
	base := webLayout()
	// web: a, b; db: main. Each case builds a new layout from base.
	cases := []struct {
		name   string
		change func(l *Layout)
		check  func(t *testing.T, g *rig, v *messages.HistoryView)
	}{
		{
			name: "node removed",
			change: func(l *Layout) {
				l.Services[0].Nodes = l.Services[0].Nodes[:1] // drop b (dead)
			},
			check: func(t *testing.T, g *rig, v *messages.HistoryView) {
				web := v.Services[0]
				if len(web.Nodes) != 1 || web.Nodes[0].ID != "a" {
					t.Fatalf("nodes %v", web.Nodes)
				}
				// Without b the service is healthy: its incident ended at the
				// reload.
				if len(v.Incidents) != 1 || !v.Incidents[0].End.Equal(t0.Add(11*time.Hour)) {
					t.Errorf("incidents %+v", v.Incidents)
				}
				if d := today(web.HistorySeries); d.Dead != time.Hour || d.Healthy != time.Hour {
					t.Errorf("web today %+v", dayTimes(d))
				}
				// The incident lists only nodes still configured.
				if !slices.Equal(v.Incidents[0].Nodes, []string(nil)) {
					t.Errorf("incident nodes %q", v.Incidents[0].Nodes)
				}
			},
		},
		{
			name: "node added",
			change: func(l *Layout) {
				l.Services[0].Nodes = append([]NodeLayout{{ID: "new", Label: "New", Poll: true}}, l.Services[0].Nodes...)
			},
			check: func(t *testing.T, g *rig, v *messages.HistoryView) {
				web := v.Services[0]
				if ids := nodeIDs(web); !slices.Equal(ids, []string{"new", "a", "b"}) {
					t.Fatalf("nodes %q", ids)
				}
				if d := today(web.Nodes[0].HistorySeries); d.NoData != 12*time.Hour {
					t.Errorf("new node today %+v", dayTimes(d))
				}
				// Indexes follow the new layout: (0, 1) is now a.
				if d := today(web.Nodes[1].HistorySeries); d.Healthy != 2*time.Hour {
					t.Errorf("a today %+v", dayTimes(d))
				}
				// a's latency at 10:30 is the point of 10:00 (the last point
				// is 12:00).
				if web.Nodes[0].Latency[21].Count != 0 || web.Nodes[1].Latency[21].Count != 1 {
					t.Errorf("latencies: new %+v, a %+v", web.Nodes[0].Latency[21], web.Nodes[1].Latency[21])
				}
			},
		},
		{
			name: "node kept, service renamed and reordered",
			change: func(l *Layout) {
				l.Services[0].Label = "Website"
				l.Services[0], l.Services[1] = l.Services[1], l.Services[0]
			},
			check: func(t *testing.T, g *rig, v *messages.HistoryView) {
				web := v.Services[1]
				if web.ID != "web" || web.Label != "Website" {
					t.Fatalf("service %s %q", web.ID, web.Label)
				}
				if d := today(web.Nodes[1].HistorySeries); d.Dead != 2*time.Hour {
					t.Errorf("b today %+v", dayTimes(d))
				}
				if len(v.Incidents) != 1 || !v.Incidents[0].End.IsZero() || v.Incidents[0].ServiceLabel != "Website" {
					t.Errorf("incidents %+v", v.Incidents)
				}
			},
		},
		{
			name: "service removed and added",
			change: func(l *Layout) {
				l.Services = []ServiceLayout{{ID: "cache", Label: "Cache", Nodes: []NodeLayout{{ID: "x"}}}, l.Services[1]}
			},
			check: func(t *testing.T, g *rig, v *messages.HistoryView) {
				if v.Services[0].ID != "cache" || len(v.Incidents) != 0 {
					t.Fatalf("services %s, incidents %+v", v.Services[0].ID, v.Incidents)
				}
				if d := today(v.Services[0].HistorySeries); d.NoData != 12*time.Hour {
					t.Errorf("cache today %+v", dayTimes(d))
				}
				// The page is now db alone (healthy since 10:00), plus web's
				// part before the reload.
				if d := today(v.Page); d.Dead != time.Hour || d.Healthy != time.Hour {
					t.Errorf("page today %+v", dayTimes(d))
				}
			},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			// 10:00 a healthy, b dead, main healthy; 10:30 a latency; 11:00
			// reload; 12:00 view.
			g := newRig(t, base, t0.Add(10*time.Hour))
			g.node(0, 0, messages.Healthy)
			g.node(0, 1, messages.Dead)
			g.node(1, 0, messages.Healthy)
			g.at(30 * time.Minute)
			g.r.Latency(0, 0, 20*time.Millisecond, g.now)
			g.flush()
			g.at(30 * time.Minute)
			l := webLayout()
			tc.change(&l)
			g.r.Reconfigure(l, g.now)
			// The state actor tells the recorder the statuses again (a
			// repeat of an unchanged status is a no-op).
			for si, sl := range l.Services {
				for ni, nl := range sl.Nodes {
					switch nl.ID {
					case "a", "main":
						g.node(si, ni, messages.Healthy)
					case "b":
						g.node(si, ni, messages.Dead)
					default:
						g.noData(si, ni)
					}
				}
			}
			g.at(time.Hour)
			tc.check(t, g, g.view())
			g.flush()
			g.restart(l)
			t.Run("after restart", func(t *testing.T) { tc.check(t, g, g.view()) })
		})
	}
}

func nodeIDs(s messages.ServiceHistory) []string {
	var ids []string
	for _, n := range s.Nodes {
		ids = append(ids, n.ID)
	}
	return ids
}

// TestRemovedNodeKeepsItsRecords: records of subjects outside the layout
// are left alone (New ignores them, Flush does not delete them) and come
// back when the node does.
func TestRemovedNodeKeepsItsRecords(t *testing.T) {
	full := webLayout()
	g := newRig(t, full, t0.Add(10*time.Hour))
	g.node(0, 1, messages.Sick)
	g.at(time.Hour).flush()
	less := webLayout()
	less.Services[0].Nodes = less.Services[0].Nodes[:1]
	g.r.Reconfigure(less, g.now)
	g.at(time.Minute).flush()
	g.at(time.Minute).restart(less)
	g.at(time.Minute).flush()
	g.restart(full)
	b := g.view().Services[0].Nodes[1]
	if d := today(b.HistorySeries); d.Sick != time.Hour {
		t.Errorf("b today %+v, want 1h sick", dayTimes(d))
	}
}
