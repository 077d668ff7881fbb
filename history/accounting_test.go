package history

import (
	"testing"
	"time"

	"github.com/vigil-go/vigil/messages"
)

// storedBucket decodes the stored hourly (or daily) bucket of subject that
// contains at; zero when there is none.
func storedBucket(t *testing.T, m memStore, daily bool, at time.Time, subject string) bucket {
	t.Helper()
	ms := at.UnixMilli()
	key, length := hourKey(hourOf(ms), subject), uint32(hourMs)
	if daily {
		key, length = dayKey(dayOf(ms), subject), dayMs
	}
	v, ok := m[key]
	if !ok {
		return bucket{}
	}
	rec, err := decodeBucketRecord(v, length)
	if err != nil {
		t.Fatalf("%s: %v", key, err)
	}
	return rec.b
}

func bk(h, s, d time.Duration) bucket {
	return bucket{healthy: uint32(h.Milliseconds()), sick: uint32(s.Milliseconds()), dead: uint32(d.Milliseconds())}
}

func TestAccountingSplitsAtBoundaries(t *testing.T) {
	type ev struct {
		at time.Time
		st messages.Status
		no bool // no data
	}
	day1 := t0
	day2 := t0.Add(24 * time.Hour)
	cases := []struct {
		name   string
		events []ev
		end    time.Time
		hours  map[time.Time]bucket // hour start → stored bucket
		days   map[time.Time]times  // day → view bar
	}{
		{
			name:   "within one hour",
			events: []ev{{at: day1.Add(10 * time.Hour), st: messages.Healthy}, {at: day1.Add(10*time.Hour + 15*time.Minute), st: messages.Sick}},
			end:    day1.Add(10*time.Hour + 45*time.Minute),
			hours:  map[time.Time]bucket{day1.Add(10 * time.Hour): bk(15*time.Minute, 30*time.Minute, 0)},
			days:   map[time.Time]times{day1: {healthy: 15 * time.Minute, sick: 30 * time.Minute, noData: 10 * time.Hour}},
		},
		{
			name:   "hour roll-over",
			events: []ev{{at: day1.Add(10*time.Hour + 50*time.Minute), st: messages.Healthy}},
			end:    day1.Add(11*time.Hour + 10*time.Minute),
			hours: map[time.Time]bucket{
				day1.Add(10 * time.Hour): bk(10*time.Minute, 0, 0),
				day1.Add(11 * time.Hour): bk(10*time.Minute, 0, 0),
			},
			days: map[time.Time]times{day1: {healthy: 20 * time.Minute, noData: 10*time.Hour + 50*time.Minute}},
		},
		{
			name: "interval spanning midnight",
			events: []ev{
				{at: day1.Add(23*time.Hour + 30*time.Minute), st: messages.Healthy},
				{at: day2.Add(10 * time.Minute), st: messages.Dead},
			},
			end: day2.Add(40 * time.Minute),
			hours: map[time.Time]bucket{
				day1.Add(23 * time.Hour): bk(30*time.Minute, 0, 0),
				day2:                     bk(10*time.Minute, 0, 30*time.Minute),
			},
			days: map[time.Time]times{
				day1: {healthy: 30 * time.Minute, noData: 23*time.Hour + 30*time.Minute},
				day2: {healthy: 10 * time.Minute, dead: 30 * time.Minute},
			},
		},
		{
			name:   "exact hour boundaries",
			events: []ev{{at: day1.Add(11 * time.Hour), st: messages.Healthy}, {at: day1.Add(12 * time.Hour), no: true}},
			end:    day1.Add(13 * time.Hour),
			hours: map[time.Time]bucket{
				day1.Add(10 * time.Hour): {},
				day1.Add(11 * time.Hour): bk(time.Hour, 0, 0),
				day1.Add(12 * time.Hour): {},
			},
			days: map[time.Time]times{day1: {healthy: time.Hour, noData: 12 * time.Hour}},
		},
		{
			name: "millisecond either side of midnight",
			events: []ev{
				{at: day2.Add(-time.Millisecond), st: messages.Sick},
				{at: day2.Add(time.Millisecond), no: true},
			},
			end: day2.Add(time.Hour),
			hours: map[time.Time]bucket{
				day1.Add(23 * time.Hour): bk(0, time.Millisecond, 0),
				day2:                     bk(0, time.Millisecond, 0),
			},
			days: map[time.Time]times{
				day1: {sick: time.Millisecond, noData: 24*time.Hour - time.Millisecond},
				day2: {sick: time.Millisecond, noData: time.Hour - time.Millisecond},
			},
		},
		{
			name:   "dead for days",
			events: []ev{{at: day1.Add(12 * time.Hour), st: messages.Dead}},
			end:    day1.Add(3*24*time.Hour + 6*time.Hour),
			hours: map[time.Time]bucket{
				day1.Add(3*24*time.Hour + 5*time.Hour): bk(0, 0, time.Hour),
				day1.Add(3*24*time.Hour + 6*time.Hour): {},
			},
			days: map[time.Time]times{
				day1:                         {dead: 12 * time.Hour, noData: 12 * time.Hour},
				day1.Add(24 * time.Hour):     {dead: 24 * time.Hour},
				day1.Add(2 * 24 * time.Hour): {dead: 24 * time.Hour},
				day1.Add(3 * 24 * time.Hour): {dead: 6 * time.Hour},
			},
		},
	}
	one := Layout{Interval: time.Minute, Services: []ServiceLayout{{ID: "s", Nodes: []NodeLayout{{ID: "n"}}}}}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			g := newRig(t, one, t0.Add(-time.Hour))
			for _, e := range tc.events {
				g.now = e.at
				g.r.Node(0, 0, e.st, !e.no, e.at)
			}
			g.now = tc.end
			v := g.view()
			for day, want := range tc.days {
				for name, s := range map[string]messages.HistorySeries{"node": v.Services[0].Nodes[0].HistorySeries,
					"service": v.Services[0].HistorySeries, "page": v.Page} {
					if got := dayTimes(dayAt(t, s, day)); got != want {
						t.Errorf("%s %s: %+v, want %+v", name, day.Format(time.DateOnly), got, want)
					}
				}
			}
			g.flush()
			for hour, want := range tc.hours {
				for _, subject := range []string{nodeSubject("s", "n"), serviceSubject("s"), subjectPage} {
					if got := storedBucket(t, g.store, false, hour, subject); got != want {
						t.Errorf("%s hour %s: %+v, want %+v", subject, hour.Format(time.DateTime), got, want)
					}
				}
			}
			// The view after the Flush settled everything is the same.
			if got := g.view(); !equalSeries(got.Page, v.Page) {
				t.Errorf("view changed by Flush")
			}
		})
	}
}

func equalSeries(a, b messages.HistorySeries) bool {
	if a.Uptime != b.Uptime || len(a.Days) != len(b.Days) {
		return false
	}
	for i := range a.Days {
		if a.Days[i] != b.Days[i] {
			return false
		}
	}
	return true
}

func TestServiceAndPageAreWorstOfSubjectsWithData(t *testing.T) {
	type set struct {
		si, ni int
		st     messages.Status
		data   bool
	}
	cases := []struct {
		name       string
		sets       []set
		web, db, p state
	}{
		{name: "nothing has data", web: noData, db: noData, p: noData},
		{name: "one healthy node", sets: []set{{0, 0, messages.Healthy, true}}, web: stHealthy, db: noData, p: stHealthy},
		{name: "node without data does not count", sets: []set{{0, 0, messages.Sick, true}, {0, 1, messages.Dead, false}},
			web: stSick, db: noData, p: stSick},
		{name: "worst node", sets: []set{{0, 0, messages.Sick, true}, {0, 1, messages.Dead, true}, {1, 0, messages.Healthy, true}},
			web: stDead, db: stHealthy, p: stDead},
		{name: "dead node loses its data", sets: []set{{0, 0, messages.Healthy, true}, {0, 1, messages.Dead, true}, {0, 1, messages.Dead, false}},
			web: stHealthy, db: noData, p: stHealthy},
		{name: "page is worst of services", sets: []set{{0, 0, messages.Healthy, true}, {1, 0, messages.Sick, true}},
			web: stHealthy, db: stSick, p: stSick},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			r := New(webLayout(), nil, t0)
			for _, s := range tc.sets {
				r.Node(s.si, s.ni, s.st, s.data, t0.Add(time.Minute))
			}
			if got := [3]state{r.services[0].ser.cur, r.services[1].ser.cur, r.page.cur}; got != [3]state{tc.web, tc.db, tc.p} {
				t.Errorf("web, db, page = %v, want %v", got, [3]state{tc.web, tc.db, tc.p})
			}
		})
	}
}

func TestUnknownIndexesAreIgnored(t *testing.T) {
	r := New(webLayout(), nil, t0)
	for _, idx := range [][2]int{{-1, 0}, {2, 0}, {0, -1}, {0, 2}, {1, 1}} {
		r.Node(idx[0], idx[1], messages.Dead, true, t0)
		r.Latency(idx[0], idx[1], time.Second, t0)
	}
	r.Latency(0, 1, time.Second, t0) // push node: no latency
	v := r.View(t0.Add(time.Hour))
	if u := v.Page.Uptime.H24; u.Observed != 0 {
		t.Errorf("page observed %v after calls with unknown indexes", u.Observed)
	}
	if p := v.Services[0].Nodes[0].Latency[23]; p.Count != 0 {
		t.Errorf("latency recorded for an unknown index: %+v", p)
	}
	if v.Services[0].Nodes[1].Latency != nil || v.Services[0].Nodes[1].Poll {
		t.Errorf("push node has latency points")
	}
}

func TestUptimeWindows(t *testing.T) {
	// Dead 12:00–13:00 on each of 101 days, healthy otherwise; the view
	// is at 18:30 on the last day.
	one := Layout{Services: []ServiceLayout{{ID: "s", Nodes: []NodeLayout{{ID: "n"}}}}}
	start := t0
	g := newRig(t, one, start)
	for d := range 101 {
		day := start.Add(time.Duration(d) * 24 * time.Hour)
		g.now = day
		g.node(0, 0, messages.Healthy)
		g.now = day.Add(12 * time.Hour)
		g.node(0, 0, messages.Dead)
		g.now = day.Add(13 * time.Hour)
		g.node(0, 0, messages.Healthy)
		if d%3 == 0 {
			g.flush()
		}
	}
	g.now = start.Add(100*24*time.Hour + 18*time.Hour + 30*time.Minute)
	u := g.view().Page.Uptime
	const day = 24 * time.Hour
	todaySoFar := 18*time.Hour + 30*time.Minute
	want := messages.Uptimes{
		// The current hour so far (30 min) and the 23 before it.
		H24: messages.Uptime{Observed: 23*time.Hour + 30*time.Minute, Dead: time.Hour},
		// The current hour so far and the 167 before it: from 19:00 seven
		// days ago, so seven dead hours.
		D7:  messages.Uptime{Observed: 167*time.Hour + 30*time.Minute, Dead: 7 * time.Hour},
		D30: messages.Uptime{Observed: 29*day + todaySoFar, Dead: 30 * time.Hour},
		D90: messages.Uptime{Observed: 89*day + todaySoFar, Dead: 90 * time.Hour},
	}
	if u != want {
		t.Errorf("uptimes\n got %+v\nwant %+v", u, want)
	}
}
