package history

import (
	"fmt"
	"maps"
	"reflect"
	"slices"
	"testing"
	"time"

	"github.com/vigil-go/vigil/messages"
	"github.com/vigil-go/vigil/storage"
)

// t0 is a Tuesday, 00:00 UTC.
var t0 = time.Date(2026, 3, 10, 0, 0, 0, 0, time.UTC)

// webLayout is one service "web" with a poll node "a" and a push node "b",
// and a second service "db" with one poll node "main".
func webLayout() Layout {
	return Layout{Interval: 2 * time.Minute, Services: []ServiceLayout{
		{ID: "web", Label: "Web", SLO: 99.9, Nodes: []NodeLayout{
			{ID: "a", Label: "A", Poll: true},
			{ID: "b", Label: "B"},
		}},
		{ID: "db", Label: "Database", Nodes: []NodeLayout{{ID: "main", Label: "Main", Poll: true}}},
	}}
}

// memStore applies Flush output the way a store applies a batch: puts,
// then prune ranges.
type memStore map[string][]byte

func (m memStore) apply(puts []storage.HistoryRecord, prune []storage.KeyRange) {
	for _, p := range puts {
		m[p.Key] = slices.Clone(p.Value)
	}
	for _, kr := range prune {
		for k := range m {
			if k >= kr.From && k < kr.To {
				delete(m, k)
			}
		}
	}
}

func (m memStore) records() []storage.HistoryRecord {
	out := make([]storage.HistoryRecord, 0, len(m))
	for _, k := range slices.Sorted(maps.Keys(m)) {
		out = append(out, storage.HistoryRecord{Key: k, Value: m[k]})
	}
	return out
}

// rig is a recorder with a fake clock and a store.
type rig struct {
	t     *testing.T
	r     *Recorder
	now   time.Time
	store memStore
}

func newRig(t *testing.T, l Layout, now time.Time) *rig {
	return &rig{t: t, r: New(l, nil, now), now: now, store: memStore{}}
}

// at moves the clock to now+d.
func (g *rig) at(d time.Duration) *rig { g.now = g.now.Add(d); return g }

func (g *rig) node(si, ni int, st messages.Status) { g.r.Node(si, ni, st, true, g.now) }

func (g *rig) noData(si, ni int) { g.r.Node(si, ni, messages.Healthy, false, g.now) }

func (g *rig) flush() {
	puts, prune := g.r.Flush(g.now)
	g.store.apply(puts, prune)
}

// restart builds a new recorder from the stored records at now.
func (g *rig) restart(l Layout) {
	g.r = New(l, g.store.records(), g.now)
}

func (g *rig) view() *messages.HistoryView { return g.r.View(g.now) }

// today is the last daily bar of a series.
func today(s messages.HistorySeries) messages.HistoryDay { return s.Days[len(s.Days)-1] }

// dayAt is the daily bar of s for the day of t.
func dayAt(t *testing.T, s messages.HistorySeries, at time.Time) messages.HistoryDay {
	t.Helper()
	d := at.UTC().Truncate(24 * time.Hour)
	for _, day := range s.Days {
		if day.Date.Equal(d) {
			return day
		}
	}
	t.Fatalf("no bar for %v", d)
	return messages.HistoryDay{}
}

type times struct{ healthy, sick, dead, noData time.Duration }

func dayTimes(d messages.HistoryDay) times { return times{d.Healthy, d.Sick, d.Dead, d.NoData} }

// viewDiff names the first part in which two views differ ("" when they
// are equal).
func viewDiff(a, b *messages.HistoryView) string {
	if !a.Built.Equal(b.Built) {
		return fmt.Sprintf("built %v / %v", a.Built, b.Built)
	}
	if d := seriesDiff("page", a.Page, b.Page); d != "" {
		return d
	}
	if len(a.Services) != len(b.Services) {
		return fmt.Sprintf("%d / %d services", len(a.Services), len(b.Services))
	}
	for i := range a.Services {
		sa, sb := a.Services[i], b.Services[i]
		if d := seriesDiff("service "+sa.ID, sa.HistorySeries, sb.HistorySeries); d != "" {
			return d
		}
		if sa.ID != sb.ID || sa.Label != sb.Label || !reflect.DeepEqual(sa.Budget, sb.Budget) || len(sa.Nodes) != len(sb.Nodes) {
			return fmt.Sprintf("service %d: %s %+v %d / %s %+v %d", i, sa.ID, sa.Budget, len(sa.Nodes), sb.ID, sb.Budget, len(sb.Nodes))
		}
		for j := range sa.Nodes {
			na, nb := sa.Nodes[j], sb.Nodes[j]
			if d := seriesDiff("node "+sa.ID+"/"+na.ID, na.HistorySeries, nb.HistorySeries); d != "" {
				return d
			}
			if na.ID != nb.ID || na.Label != nb.Label || na.Poll != nb.Poll || !reflect.DeepEqual(na.Latency, nb.Latency) {
				return fmt.Sprintf("node %s/%s: %+v\n / %+v", sa.ID, na.ID, na.Latency, nb.Latency)
			}
		}
	}
	if !reflect.DeepEqual(a.Incidents, b.Incidents) {
		return fmt.Sprintf("incidents\n%+v\n / %+v", a.Incidents, b.Incidents)
	}
	if !reflect.DeepEqual(a.Announcements, b.Announcements) {
		return fmt.Sprintf("announcements\n%+v\n / %+v", a.Announcements, b.Announcements)
	}
	return ""
}

func seriesDiff(name string, a, b messages.HistorySeries) string {
	if a.Uptime != b.Uptime {
		return fmt.Sprintf("%s uptime %+v / %+v", name, a.Uptime, b.Uptime)
	}
	if len(a.Days) != len(b.Days) {
		return fmt.Sprintf("%s: %d / %d days", name, len(a.Days), len(b.Days))
	}
	for i := range a.Days {
		if a.Days[i] != b.Days[i] {
			return fmt.Sprintf("%s day %d: %+v / %+v", name, i, a.Days[i], b.Days[i])
		}
	}
	return ""
}
