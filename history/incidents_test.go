package history

import (
	"slices"
	"testing"
	"time"

	"github.com/vigil-go/vigil/messages"
)

func TestIncidentMerging(t *testing.T) {
	const interval = 2 * time.Minute
	type step struct {
		after  time.Duration // since the previous step
		ni     int
		st     messages.Status
		noData bool
	}
	start := t0.Add(8 * time.Hour)
	cases := []struct {
		name  string
		steps []step
		want  []messages.Incident // newest first; Service and label filled in below
	}{
		{
			name: "one period",
			steps: []step{{ni: 0, st: messages.Healthy}, {after: time.Minute, ni: 0, st: messages.Sick},
				{after: 5 * time.Minute, ni: 0, st: messages.Healthy}},
			want: []messages.Incident{{Start: start.Add(time.Minute), End: start.Add(6 * time.Minute), Worst: messages.Sick, Nodes: []string{"a"}}},
		},
		{
			name: "gap shorter than the interval merges",
			steps: []step{{ni: 0, st: messages.Sick}, {after: time.Minute, ni: 0, st: messages.Healthy},
				{after: interval - time.Millisecond, ni: 1, st: messages.Dead}, {after: time.Minute, ni: 1, st: messages.Healthy}},
			want: []messages.Incident{{Start: start, End: start.Add(4*time.Minute - time.Millisecond), Worst: messages.Dead, Nodes: []string{"a", "b"}}},
		},
		{
			name: "gap of exactly the interval does not merge",
			steps: []step{{ni: 0, st: messages.Sick}, {after: time.Minute, ni: 0, st: messages.Healthy},
				{after: interval, ni: 1, st: messages.Dead}, {after: time.Minute, ni: 1, st: messages.Healthy}},
			want: []messages.Incident{
				{Start: start.Add(time.Minute + interval), End: start.Add(2*time.Minute + interval), Worst: messages.Dead, Nodes: []string{"b"}},
				{Start: start, End: start.Add(time.Minute), Worst: messages.Sick, Nodes: []string{"a"}},
			},
		},
		{
			name: "no data does not end an incident",
			steps: []step{{ni: 0, st: messages.Dead}, {after: time.Hour, ni: 0, noData: true},
				{after: time.Hour, ni: 0, st: messages.Sick}, {after: time.Hour, ni: 0, st: messages.Healthy}},
			want: []messages.Incident{{Start: start, End: start.Add(3 * time.Hour), Worst: messages.Dead, Nodes: []string{"a"}}},
		},
		{
			name:  "ongoing",
			steps: []step{{ni: 1, st: messages.Sick}, {after: time.Minute, ni: 0, st: messages.Sick}, {after: time.Minute, ni: 1, st: messages.Healthy}},
			want:  []messages.Incident{{Start: start, Worst: messages.Sick, Nodes: []string{"a", "b"}}},
		},
		{
			name: "a healthy node during an incident is not affected",
			steps: []step{{ni: 1, st: messages.Healthy}, {ni: 0, st: messages.Dead},
				{after: time.Minute, ni: 0, st: messages.Healthy}},
			want: []messages.Incident{{Start: start, End: start.Add(time.Minute), Worst: messages.Dead, Nodes: []string{"a"}}},
		},
		{
			name: "healthy node with the other without data ends it",
			steps: []step{{ni: 0, st: messages.Dead}, {after: time.Minute, ni: 1, st: messages.Healthy},
				{after: time.Minute, ni: 0, noData: true}},
			want: []messages.Incident{{Start: start, End: start.Add(2 * time.Minute), Worst: messages.Dead, Nodes: []string{"a"}}},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := newRig(t, webLayout(), start)
			for _, s := range tc.steps {
				g.at(s.after)
				if s.noData {
					g.noData(0, s.ni)
				} else {
					g.node(0, s.ni, s.st)
				}
			}
			g.at(time.Hour)
			check := func(when string, v *messages.HistoryView) {
				t.Helper()
				want := slices.Clone(tc.want)
				for i := range want {
					want[i].Service, want[i].ServiceLabel = "web", "Web"
				}
				if !slices.EqualFunc(v.Incidents, want, equalIncident) {
					t.Errorf("%s: incidents\n got %+v\nwant %+v", when, v.Incidents, want)
				}
			}
			check("live", g.view())
			g.flush()
			g.restart(webLayout())
			check("after a restart", g.view())
		})
	}
}

func equalIncident(a, b messages.Incident) bool {
	return a.Service == b.Service && a.ServiceLabel == b.ServiceLabel && a.Start.Equal(b.Start) &&
		a.End.Equal(b.End) && a.Worst == b.Worst && slices.Equal(a.Nodes, b.Nodes)
}

func TestOngoingIncidentSurvivesRestart(t *testing.T) {
	g := newRig(t, webLayout(), t0.Add(10*time.Hour))
	g.node(0, 0, messages.Dead)
	g.at(time.Minute).flush()
	g.at(3 * time.Hour).restart(webLayout()) // down for 3 hours
	v := g.view()
	if len(v.Incidents) != 1 || !v.Incidents[0].End.IsZero() {
		t.Fatalf("after restart: %+v, want one ongoing incident", v.Incidents)
	}
	g.at(time.Minute).node(0, 0, messages.Dead) // still dead: goes on
	g.at(time.Minute).node(0, 0, messages.Healthy)
	v = g.view()
	if len(v.Incidents) != 1 || !v.Incidents[0].End.Equal(g.now) || !v.Incidents[0].Start.Equal(t0.Add(10*time.Hour)) {
		t.Fatalf("incidents %+v, want one from 10:00 ending at %v", v.Incidents, g.now)
	}
	// The service was dead 1 min before and 1 min after the restart; the
	// 3 hours in between are no data.
	if d := today(v.Services[0].HistorySeries); d.Dead != 2*time.Minute || d.Healthy != 0 {
		t.Errorf("today %+v", dayTimes(d))
	}
}

func TestIncidentCountsPerDay(t *testing.T) {
	// Day 0: incident A 22:00–02:00 (spans midnight) on web; day 1: B on
	// db 10:00–11:00 and C on web 12:00, ongoing; ends exactly at
	// midnight don't count the next day.
	start := t0
	g := newRig(t, webLayout(), start)
	g.node(0, 0, messages.Healthy)
	g.node(1, 0, messages.Healthy)
	g.now = start.Add(22 * time.Hour)
	g.node(0, 0, messages.Sick)
	g.now = start.Add(26 * time.Hour)
	g.node(0, 0, messages.Healthy)
	g.now = start.Add(34 * time.Hour)
	g.node(1, 0, messages.Dead)
	g.now = start.Add(35 * time.Hour)
	g.node(1, 0, messages.Healthy)
	g.now = start.Add(36 * time.Hour)
	g.node(0, 0, messages.Dead)
	g.now = start.Add(47 * time.Hour)
	g.node(1, 0, messages.Dead)
	g.now = start.Add(48 * time.Hour) // ends at midnight of day 2
	g.node(1, 0, messages.Healthy)
	g.now = start.Add(50 * time.Hour)
	v := g.view()
	day0, day1, day2 := start, start.Add(24*time.Hour), start.Add(48*time.Hour)
	want := map[string][3]int{
		"page": {1, 4, 1}, "web": {1, 2, 1}, "db": {0, 2, 0}, "web/a": {1, 2, 1}, "db/main": {0, 2, 0},
		"web/b": {0, 0, 0}, // never failed: its service's incidents are not its own
	}
	got := map[string][3]int{}
	count := func(s messages.HistorySeries) [3]int {
		return [3]int{dayAt(t, s, day0).Incidents, dayAt(t, s, day1).Incidents, dayAt(t, s, day2).Incidents}
	}
	got["page"] = count(v.Page)
	for _, sv := range v.Services {
		got[sv.ID] = count(sv.HistorySeries)
		for _, n := range sv.Nodes {
			got[sv.ID+"/"+n.ID] = count(n.HistorySeries)
		}
	}
	for k, w := range want {
		if got[k] != w {
			t.Errorf("%s: %v, want %v", k, got[k], w)
		}
	}
	if dayAt(t, v.Page, day0.Add(-24*time.Hour)).Incidents != 0 {
		t.Errorf("incident counted before it began")
	}
}

func TestChanged(t *testing.T) {
	g := newRig(t, webLayout(), t0)
	steps := []struct {
		name string
		do   func()
		want bool
	}{
		{"new recorder", func() {}, true},
		{"healthy node", func() { g.node(0, 0, messages.Healthy) }, false},
		{"sick node opens an incident", func() { g.node(0, 0, messages.Sick) }, true},
		{"same status again", func() { g.node(0, 0, messages.Sick) }, false},
		{"latency", func() { g.r.Latency(0, 0, time.Millisecond, g.now) }, false},
		{"worse", func() { g.node(0, 0, messages.Dead) }, true},
		{"second node joins", func() { g.node(0, 1, messages.Sick) }, true},
		{"recovery closes it", func() { g.node(0, 0, messages.Healthy); g.node(0, 1, messages.Healthy) }, true},
		{"announcement", func() { g.r.Announced(messages.Announcement{ID: "1", Title: "T", Date: t0}, g.now) }, true},
		{"same announcement", func() { g.r.Announced(messages.Announcement{ID: "1", Title: "T", Date: t0}, g.now) }, false},
		{"edited announcement", func() { g.r.Announced(messages.Announcement{ID: "1", Title: "T2", Date: t0}, g.now) }, true},
		{"retraction", func() { g.r.Retracted("1", g.now) }, true},
		{"second retraction", func() { g.r.Retracted("1", g.now) }, false},
		{"unknown retraction", func() { g.r.Retracted("2", g.now) }, false},
		{"flush", func() { g.flush() }, false},
		{"reload", func() { g.r.Reconfigure(webLayout(), g.now) }, true},
	}
	for _, s := range steps {
		g.at(time.Minute)
		s.do()
		if got := g.r.Changed(); got != s.want {
			t.Errorf("%s: Changed() = %v, want %v", s.name, got, s.want)
		}
		g.view()
		if g.r.Changed() {
			t.Errorf("%s: Changed() after View", s.name)
		}
	}
}

func TestAnnouncements(t *testing.T) {
	g := newRig(t, webLayout(), t0)
	ann := func(id string, at time.Time) {
		g.r.Announced(messages.Announcement{ID: id, Title: "title " + id, Text: "text " + id, Date: at}, g.now)
	}
	ann("old-retracted", t0)
	g.at(time.Hour)
	g.r.Retracted("old-retracted", g.now)
	ann("old-published", t0.Add(time.Minute))
	g.at(24 * time.Hour)
	ann("a/b%c", g.now) // an id with the escaped characters
	g.flush()
	g.at(100 * 24 * time.Hour)
	ann("new", g.now)
	g.at(time.Hour)
	g.r.Retracted("new", g.now)
	g.flush()
	check := func(when string) {
		t.Helper()
		v := g.view()
		var ids []string
		for _, a := range v.Announcements {
			ids = append(ids, a.ID)
		}
		// old-retracted was published and retracted 100 days ago: gone.
		if want := []string{"new", "a/b%c", "old-published"}; !slices.Equal(ids, want) {
			t.Fatalf("%s: announcements %q, want %q", when, ids, want)
		}
		a := v.Announcements[0]
		if a.Title != "title new" || a.Text != "text new" || !a.Retracted.Equal(g.now) || !a.Published.Equal(g.now.Add(-time.Hour)) {
			t.Errorf("%s: %+v", when, a)
		}
		if !v.Announcements[1].Retracted.IsZero() {
			t.Errorf("%s: %+v retracted", when, v.Announcements[1])
		}
	}
	check("live")
	g.restart(webLayout())
	check("after a restart")
	// Syncing with the published ones retracts those missing: the
	// retracted one, published over 90 days ago, leaves the view.
	g.at(time.Minute)
	g.r.SyncAnnouncements([]messages.Announcement{{ID: "a/b%c", Title: "title a/b%c", Text: "text a/b%c", Date: t0.Add(25 * time.Hour)}}, g.now)
	if g.r.Changed() != true {
		t.Errorf("sync changed nothing")
	}
	var ids []string
	for _, a := range g.view().Announcements {
		ids = append(ids, a.ID)
		if a.ID == "a/b%c" && !a.Retracted.IsZero() {
			t.Errorf("after sync: %+v retracted", a)
		}
	}
	if want := []string{"new", "a/b%c"}; !slices.Equal(ids, want) {
		t.Errorf("after sync: %q, want %q", ids, want)
	}
	puts, _ := g.r.Flush(g.now)
	for _, p := range puts {
		if p.Key == announcementKey(t0.Add(time.Minute).UnixMilli(), "old-published") {
			rec, err := decodeAnnouncementRecord(p.Value)
			if err != nil || rec.retracted != g.now.UnixMilli() {
				t.Errorf("stored %+v, %v; want retracted at %v", rec, err, g.now)
			}
			return
		}
	}
	t.Errorf("retraction not stored")
}
