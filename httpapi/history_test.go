package httpapi

import (
	"encoding/json"
	"fmt"
	"html/template"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/vigil-go/vigil/messages"
	"github.com/vigil-go/vigil/templates"
	"github.com/vigil-go/vigil/testkit"
)

// historyNow is the rendering time of the history tests.
var historyNow = time.Date(2026, 11, 30, 16, 20, 0, 0, time.UTC)

func historySnapshot() *messages.Snapshot {
	return withHistory(incidentSnapshot(historyNow), historyNow)
}

func TestDayClassWeighsDeadTime(t *testing.T) {
	day := func(healthy, sick, dead, noData time.Duration) messages.HistoryDay {
		return messages.HistoryDay{Healthy: healthy, Sick: sick, Dead: dead, NoData: noData}
	}
	for _, tc := range []struct {
		d    messages.HistoryDay
		want string
	}{
		{day(24*time.Hour, 0, 0, 0), "h"},
		{day(time.Hour, 0, 0, 23*time.Hour), "h"}, // partly observed, all healthy
		{day(0, 0, 0, 24*time.Hour), "n"},
		{day(0, 0, 0, 0), "n"},
		{day(20*time.Hour, 4*time.Hour, 0, 0), "s"}, // degraded only
		{day(24*time.Hour, 0, time.Nanosecond, 0), "d1"},
		{day(24*time.Hour, 0, 59*time.Second, 0), "d1"},
		{day(24*time.Hour, 0, time.Minute, 0), "d2"},
		{day(24*time.Hour, time.Hour, 29*time.Minute+59*time.Second, 0), "d2"},
		{day(24*time.Hour, 0, 30*time.Minute, 0), "d3"},
		{day(0, 0, 24*time.Hour, 0), "d3"},
	} {
		if got := dayClass(tc.d); got != tc.want {
			t.Errorf("%+v: class %s, want %s", tc.d, got, tc.want)
		}
	}
}

func TestDaysSummary(t *testing.T) {
	day := func(date string, healthy, sick, dead time.Duration) messages.HistoryDay {
		d, _ := time.Parse(time.DateOnly, date)
		return messages.HistoryDay{Date: d, Healthy: healthy, Sick: sick, Dead: dead, NoData: 24*time.Hour - healthy - sick - dead}
	}
	var many []messages.HistoryDay
	for i := range 12 {
		many = append(many, day(fmt.Sprintf("2026-11-%02d", i+1), time.Hour, 0, time.Minute))
	}
	for _, tc := range []struct {
		days []messages.HistoryDay
		want string
	}{
		{[]messages.HistoryDay{day("2026-11-29", 24*time.Hour, 0, 0), day("2026-11-30", time.Hour, 0, 0)},
			"S, last 2 days: 100.00 % uptime, no downtime"},
		{[]messages.HistoryDay{day("2026-11-29", 0, 0, 0), day("2026-11-30", 0, 0, 0)}, "S, last 2 days: no data"},
		{[]messages.HistoryDay{day("2026-11-29", 0, 0, 0), day("2026-11-30", time.Hour, 2*time.Minute, 0)},
			"S, last 2 days: 100.00 % uptime; degraded on 1 day: 30 Nov 2 m; no data on 1 day"},
		{many, "S, last 12 days: 98.36 % uptime; down on 12 days: 12 Nov 1 m, 11 Nov 1 m, 10 Nov 1 m, 9 Nov 1 m, " +
			"8 Nov 1 m, 7 Nov 1 m, 6 Nov 1 m, 5 Nov 1 m and 4 more"},
		{append(append([]messages.HistoryDay{}, many...), day("2026-11-13", 0, time.Minute, 0)), "S, last 13 days: 98.36 % uptime; " +
			"down on 12 days: 12 Nov 1 m, 11 Nov 1 m, 10 Nov 1 m, 9 Nov 1 m, 8 Nov 1 m, 7 Nov 1 m, 6 Nov 1 m and 5 more; degraded on 1 day: 13 Nov 1 m"},
	} {
		var u messages.Uptime
		for _, d := range tc.days {
			u.Observed += d.Healthy + d.Sick + d.Dead
			u.Dead += d.Dead
		}
		if got := daysSummary("S", u, tc.days); got != tc.want {
			t.Errorf("got  %s\nwant %s", got, tc.want)
		}
	}
}

// TestDayBarsMergeDaysWithoutData: a run of days without data is one bar
// as wide as its days, dated by its first and last.
func TestDayBarsMergeDaysWithoutData(t *testing.T) {
	start := time.Date(2025, 12, 29, 0, 0, 0, 0, time.UTC)
	var days []messages.HistoryDay
	for i := range 8 {
		d := messages.HistoryDay{Date: start.AddDate(0, 0, i), NoData: 24 * time.Hour}
		if i == 5 || i == 7 {
			d.NoData, d.Healthy = 0, 24*time.Hour
		}
		days = append(days, d)
	}
	var got []string
	for _, b := range dayBars(days) {
		got = append(got, fmt.Sprintf("%s/%d/%s", b.Class, b.Grow, b.Tip))
	}
	want := "n/5/29 Dec 2025 – 2 Jan 2026 /0/3 Jan 2026 n/0/4 Jan 2026 /0/5 Jan 2026"
	if strings.Join(got, " ") != want {
		t.Errorf("bars %q\nwant  %q", strings.Join(got, " "), want)
	}
	if got := dateRange(start, start.AddDate(0, 0, 1)); got != "29 Dec – 30 Dec 2025" {
		t.Errorf("dateRange %q", got)
	}
}

func TestSpanWords(t *testing.T) {
	for d, want := range map[time.Duration]string{
		0: "0 s", time.Millisecond: "under 1 s", 45 * time.Second: "45 s", time.Minute: "1 m",
		21*time.Minute + 36*time.Second: "21 m 36 s", 43*time.Minute + 12*time.Second: "43 m 12 s",
		3*time.Hour + 5*time.Minute + 59*time.Second: "3 h 5 m", 2 * time.Hour: "2 h",
		50 * time.Hour: "2 d 2 h", 90 * 24 * time.Hour: "90 d",
	} {
		if got := spanWords(d); got != want {
			t.Errorf("spanWords(%v) = %q, want %q", d, got, want)
		}
	}
}

func TestBudgetWording(t *testing.T) {
	allowed := 43*time.Minute + 12*time.Second
	for _, tc := range []struct {
		b           messages.ErrorBudget
		class, text string
		left        int
	}{
		{messages.ErrorBudget{SLO: 99.9, Allowed: allowed, Used: allowed / 2}, "ok", "21 m 36 s of 43 m 12 s left this 30 days", 50},
		{messages.ErrorBudget{SLO: 99.9, Allowed: allowed, Used: allowed - time.Minute}, "low", "1 m of 43 m 12 s left this 30 days", 2},
		{messages.ErrorBudget{SLO: 99.9, Allowed: allowed, Used: allowed}, "out", "exhausted: 43 m 12 s down of 43 m 12 s allowed in 30 days", 0},
		{messages.ErrorBudget{SLO: 99.9, Allowed: allowed, Used: allowed + 5*time.Minute + 2*time.Second}, "out",
			"exhausted: 48 m 14 s down of 43 m 12 s allowed in 30 days, over by 5 m 2 s", 0},
		{messages.ErrorBudget{SLO: 100}, "ok", "no downtime allowed, none in the last 30 days", 100},
		{messages.ErrorBudget{SLO: 100, Used: time.Second}, "out", "exhausted: 1 s down of 0 s allowed in 30 days, over by 1 s", 0},
	} {
		v := budgetOf(&tc.b)
		if v.Class != tc.class || v.Text != tc.text || v.Left != tc.left {
			t.Errorf("%+v: %+v, want %s %q %d", tc.b, v, tc.class, tc.text, tc.left)
		}
		if want := "Error budget, SLO " + sloText(tc.b.SLO) + " %"; v.Title != want {
			t.Errorf("title %q", v.Title)
		}
	}
}

func TestPageShowsHistory(t *testing.T) {
	snap := historySnapshot()
	body := getPage(t, pageServer(fixedSnapshots{snap}, testBranding()).Handler())
	mustContain(t, body,
		// Feeds announced in the head.
		`<link rel="alternate" type="application/atom+xml" title="Acme Status: incidents and announcements (Atom)" href="/history.atom">`,
		`<link rel="alternate" type="application/rss+xml" title="Acme Status: incidents and announcements (RSS)" href="/history.rss">`,
		// Under the service's name: the uptime of each window, one tab
		// stop for the row of bars.
		`<span class="pill">Outage</span></div>`+"\n"+`<div class="hist">`+"\n"+
			`<dl class="uptimes"><div><dt>24 h</dt><dd>98.67 %</dd></div><div><dt>7 d</dt>`,
		`<div class="days" tabindex="0" role="group" aria-label="Payments, last 90 days: 99.83 % uptime; `+
			`down on 4 days: 30 Nov 13 m, 28 Nov 3 h 5 m, 20 Nov 30 s, 10 Nov 12 m 36 s; degraded on 1 day: 28 Oct 47 m">`+
			`<span class="old"><i data-t="2 Sep 2026"></i>`,
		// The last 30 days, which phones show, after the older ones.
		`<i data-t="31 Oct 2026"></i></span><i data-t="1 Nov 2026"></i>`,
		// Weighted colours: 30 s, 12 minutes, 3 hours down; degraded.
		`<i class="d1" data-t="20 Nov 2026`+"\n"+`99.96 % uptime`+"\n"+`Down 30 s`+"\n"+`1 incident"></i>`,
		`<i class="d2" data-t="10 Nov 2026`+"\n"+`99.12 % uptime`+"\n"+`Down 12 m 36 s`+"\n"+`1 incident"></i>`,
		`<i class="d3" data-t="28 Nov 2026`+"\n"+`87.15 % uptime`+"\n"+`Down 3 h 5 m`+"\n"+`1 incident"></i>`,
		`<i class="s" data-t="28 Oct 2026`+"\n"+`100.00 % uptime`+"\n"+`Degraded 47 m`+"\n"+`1 incident"></i>`,
		// Today so far, and a service without data for its first days.
		`<i class="d2" data-t="30 Nov 2026`+"\n"+`98.67 % uptime`+"\n"+`Down 13 m`+"\n"+`1 incident"></i></div>`,
		// A run of days without data is one bar.
		`<span class="old"><i class="n" style="flex-grow: 20" data-t="2 Sep – 21 Sep 2026"></i><i data-t="22 Sep 2026"></i>`,
		`aria-label="Website &amp; API, last 90 days: 99.98 % uptime; down on 2 days: 27 Nov 30 s, 21 Nov 12 m 36 s; degraded on 1 day: 10 Nov 47 m; no data on 20 days"`,
		`<p class="axis" aria-hidden="true"><span class="far">90 days ago</span><span class="near">30 days ago</span><span>Today</span></p>`,
		// The error budget of a service with an objective.
		`<p class="budget out"><svg viewBox="0 0 100 1" preserveAspectRatio="none" aria-hidden="true"><rect width="0" height="1"/></svg>`+
			`<span>Error budget, SLO 99.9 %:</span> exhausted: 3 h 31 m down of 43 m 12 s allowed in 30 days, over by 2 h 47 m</p>`,
		// The nodes' history, folded: one SVG per node, days other than
		// healthy drawn with a title, latency of poll nodes.
		`<details class="node-hist"><summary>Uptime by node</summary>`,
		`<tr><th>Card processing</th><td><svg role="img" aria-label="Down on 4 days, degraded on 1 day">`+
			`<rect x="62.222%" width="1.111%" height="100%" class="s"><title>28 Oct: 100.00 %, degraded 47 m</title></rect>`,
		`<rect x="96.667%" width="1.111%" height="100%" class="d3"><title>28 Nov: 87.15 %, down 3 h 5 m</title></rect>`,
		`<tr><th>Payment webhooks</th><td><svg role="img" aria-label="No downtime"></svg></td><td>100.00 %</td><td>100.00 %</td><td>100.00 %</td><td>100.00 %</td><td></td></tr>`,
		`<rect x="0%" width="22.222%" height="100%" class="n"><title>No data, 2 Sep to 21 Sep</title></rect>`,
		// The median latency of the last 24 hours (an hour without probes
		// breaks the line) and of the last hour.
		`<svg class="spark" viewBox="0 0 69 20" aria-hidden="true"><path d="M0 9l3-3 3-4 3 5 3-4M18 4l3 5 3-4 3-3 3 4 3-3 3 4 3-3 3 5 3-4 3-3 3 4 3-3 3 4 3-3 3 4 3-3 3-4"/></svg>69 ms</td></tr>`,
		// Past incidents, newest first, ongoing ones marked.
		`<section class="card past" aria-labelledby="past-incidents">`+"\n"+`<h2 id="past-incidents">Past incidents</h2>`,
		`<p><b>Payments</b> <span class="pill">Outage</span> <span class="pill ongoing">Ongoing</span></p>`+"\n"+
			`<p class="meta"><time datetime="2026-11-30T16:07:00Z">30 Nov 2026, 16:07 UTC</time> – now · 13 m · Card processing</p></li>`,
		`<p><b>Payments</b> <span class="pill">Outage</span></p>`+"\n"+
			`<p class="meta"><time datetime="2026-11-28T10:00:00Z">28 Nov 2026, 10:00 UTC</time> – <time datetime="2026-11-28T13:05:00Z">13:05 UTC</time> · 3 h 5 m · Card processing</p></li>`,
		`<p class="more"><a href="/history">Incident history of the last 90 days</a></p>`,
	)
	// 90 days per service (20 of them one bar); only the past two weeks of
	// incidents.
	if n := len(regexp.MustCompile(`<i(?: class="(?:h|s|d1|d2|d3|n)")?(?: style="[^"]*")? data-t="`).FindAllString(body, -1)); n != 5*90-19 {
		t.Errorf("%d daily bars, want 431", n)
	}
	past := body[strings.Index(body, `id="past-incidents"`):]
	for _, m := range regexp.MustCompile(`datetime="(2026-\d\d-\d\d)T[^"]+">[^<]+</time> – `).FindAllStringSubmatch(past, -1) {
		if m[1] < "2026-11-17" {
			t.Errorf("incident of %s among the past two weeks' ones", m[1])
		}
	}
	if strings.Contains(past, "2026-10-") {
		t.Error("an incident older than 14 days on the page")
	}
	// Nothing of it without a history.
	body = getPage(t, pageServer(fixedSnapshots{incidentSnapshot(historyNow)}, testBranding()).Handler())
	mustNotContain(t, body, `class="hist"`, `class="days"`, `node-hist`, `Past incidents`)
	mustContain(t, body, `href="/history.atom"`)
}

// TestPageHistoryFragmentsCached: the history parts are rendered once per
// recorded history, whatever the statuses do, and again for a new one.
func TestPageHistoryFragmentsCached(t *testing.T) {
	snap := historySnapshot()
	holder := newSwapSnapshots(snap)
	s := pageServer(holder, testBranding())
	h := s.Handler()
	first := getPage(t, h)
	parts := s.hist.parts.Load()
	if parts == nil || parts.hist != snap.History {
		t.Fatal("no history parts cached")
	}
	next := incidentSnapshot(historyNow.Add(time.Second))
	next.Generation = snap.Generation + 1
	next.History = snap.History
	next.Probes[1].Status = messages.Healthy
	holder.p.Store(next)
	showLatest(s)
	second := getPage(t, h)
	if s.hist.parts.Load() != parts {
		t.Fatal("the same history was rendered again")
	}
	if second == first || !strings.Contains(second, string(parts.services["payments"].Bars)) {
		t.Fatal("the new generation does not show the cached history")
	}
	// A new history (a rebuild) replaces them.
	newer := incidentSnapshot(historyNow.Add(time.Minute))
	newer.Generation = next.Generation + 1
	newer.History = historyFor(newer, historyNow.Add(time.Minute))
	holder.p.Store(newer)
	showLatest(s)
	getPage(t, h)
	if p := s.hist.parts.Load(); p == parts || p.hist != newer.History {
		t.Fatal("a new history was not rendered")
	}
}

// TestPageHistoryRenderingFails: history fragments that cannot be
// rendered leave the page without them (still 200), logged once per
// history, not once per rendering.
func TestPageHistoryRenderingFails(t *testing.T) {
	snap := historySnapshot()
	holder := newSwapSnapshots(snap)
	var logs testkit.Logs
	s := New(Options{Addr: "127.0.0.1:0", Snapshots: holder, Branding: testBranding(), Version: "1",
		Page: Page{Title: "Acme Status", URL: "https://status.example.com/"}, Logger: logs.Logger()})
	broken := template.Must(template.New("status.html").ParseFS(templates.FS, "status.html", "history.html", "parts.html"))
	template.Must(broken.New("service-history").Parse(`{{.NoSuchField}}`))
	s.pageTmpl = broken
	h := s.Handler()
	body := getPage(t, h)
	mustNotContain(t, body, `class="hist"`, `node-hist`)
	mustContain(t, body, `id="probe-payments"`)
	for gen := snap.Generation + 1; gen < snap.Generation+3; gen++ {
		next := incidentSnapshot(historyNow)
		next.Generation, next.History = gen, snap.History
		holder.p.Store(next)
		showLatest(s)
		getPage(t, h)
	}
	if n := len(logs.With(t, "rendering the history failed")); n != 1 {
		t.Errorf("logged %d times, want once", n)
	}
}

func TestHistoryPage(t *testing.T) {
	h := pageServer(fixedSnapshots{historySnapshot()}, testBranding()).Handler()
	rec := do(t, h, http.MethodGet, "/history")
	body := rec.Body.String()
	if rec.Code != 200 || rec.Header().Get("Content-Type") != "text/html; charset=utf-8" {
		t.Fatalf("%d %s", rec.Code, rec.Header().Get("Content-Type"))
	}
	mustContain(t, body,
		`<title>Incident history · Acme Status</title>`,
		`<link rel="alternate" type="application/atom+xml"`,
		`<h1>Incident history</h1>`,
		`<a href="/history.atom">Atom</a>, <a href="/history.rss">RSS</a>`,
		`<h2 id="day-2026-11-30"><time datetime="2026-11-30">30 Nov 2026</time></h2>`,
		`<p><b>Payments</b> <span class="pill">Outage</span> <span class="pill ongoing">Ongoing</span></p>`,
		`<h2 id="day-2026-09-03"><time datetime="2026-09-03">3 Sep 2026</time></h2>`+"\n"+`<p class="none">No incidents</p>`,
		// An announcement older than the window, still published: under
		// the oldest day.
		`<h2 id="day-2026-09-02"><time datetime="2026-09-02">2 Sep 2026</time></h2>`+"\n"+`<ol class="incidents">`+"\n"+
			`<li class="announced" id="announcement-`,
		// An announcement on the day it was published, and one withdrawn.
		`<p><b>Scheduled database maintenance</b> <span class="pill pill-accent">Announcement</span> <span class="pill">Withdrawn</span></p>`,
		`<p>The database is upgraded on Saturday from 02:00 to 03:00 UTC.<br>No downtime is expected.</p>`,
		`<p class="meta">Published <time datetime="2026-11-18T09:00:00Z">18 Nov 2026, 09:00 UTC</time> · withdrawn <time datetime="2026-11-20T03:00:00Z">20 Nov 2026, 03:00 UTC</time></p></li>`,
		`© 2026 Acme Inc.`,
	)
	days := regexp.MustCompile(`<h2 id="day-(\d{4}-\d\d-\d\d)">`).FindAllStringSubmatch(body, -1)
	if len(days) != 90 {
		t.Fatalf("%d days, want 90", len(days))
	}
	for i := 1; i < len(days); i++ {
		if days[i-1][1] <= days[i][1] {
			t.Fatalf("days not newest first: %s then %s", days[i-1][1], days[i][1])
		}
	}
	// Every incident of the 90 days is there, each once, under its day.
	hist := historySnapshot().History
	if n := strings.Count(body, `" id="incident-`); n != len(hist.Incidents) {
		t.Errorf("%d incidents, want %d", n, len(hist.Incidents))
	}
	sept := body[strings.Index(body, `id="day-2026-09-27"`):strings.Index(body, `id="day-2026-09-26"`)]
	if strings.Contains(sept, "No incidents") == strings.Contains(sept, `id="incident-`) {
		t.Errorf("27 Sep: %s", sept)
	}
	// Before a first history.
	body = do(t, pageServer(fixedSnapshots{incidentSnapshot(historyNow)}, testBranding()).Handler(), http.MethodGet, "/history").Body.String()
	mustContain(t, body, "No history has been recorded yet.")
}

func TestHistoryJSON(t *testing.T) {
	snap := historySnapshot()
	h := pageServer(fixedSnapshots{snap}, testBranding()).Handler()
	rec := do(t, h, http.MethodGet, "/status/history")
	if rec.Code != 200 || rec.Header().Get("Content-Type") != "application/json" {
		t.Fatalf("%d %s", rec.Code, rec.Header().Get("Content-Type"))
	}
	var got struct {
		Built *string `json:"built"`
		Page  struct {
			Name   string              `json:"name"`
			URL    string              `json:"url"`
			Uptime map[string]*float64 `json:"uptime"`
			Days   []map[string]any    `json:"days"`
		} `json:"page"`
		Services []struct {
			ID, Label   string
			Uptime      map[string]*float64 `json:"uptime"`
			Days        []map[string]any    `json:"days"`
			Incidents   []map[string]any    `json:"incidents"`
			ErrorBudget map[string]float64  `json:"error_budget"`
			Nodes       []struct {
				ID, Label string
				Uptime    map[string]*float64 `json:"uptime"`
				Days      []map[string]any    `json:"days"`
				Latency   []map[string]any    `json:"latency"`
			} `json:"nodes"`
		} `json:"services"`
		Announcements []map[string]any `json:"announcements"`
	}
	if err := json.Unmarshal(rec.Body.Bytes(), &got); err != nil {
		t.Fatal(err)
	}
	if got.Built == nil || *got.Built != "2026-11-30T16:20:00Z" || got.Page.Name != "Acme Status" || len(got.Page.Days) != 90 {
		t.Fatalf("page: %v %+v", got.Built, got.Page.Name)
	}
	if len(got.Services) != 5 || got.Services[1].ID != "payments" {
		t.Fatalf("%d services", len(got.Services))
	}
	pay := got.Services[1]
	for _, w := range []string{"24h", "7d", "30d", "90d"} {
		if pay.Uptime[w] == nil || *pay.Uptime[w] <= 0.9 || *pay.Uptime[w] >= 1 {
			t.Errorf("payments uptime %s: %v", w, pay.Uptime[w])
		}
	}
	if d := pay.Days[89]; d["date"] != "2026-11-30" || d["dead_seconds"] != 780.0 || d["incidents"] != 1.0 {
		t.Errorf("today: %v", d)
	}
	if d := got.Services[0].Days[0]; d["uptime"] != nil || d["no_data_seconds"] != 86400.0 {
		t.Errorf("a day without data: %v", d)
	}
	if got.Services[0].ErrorBudget != nil || pay.ErrorBudget == nil || pay.ErrorBudget["slo"] != 99.9 ||
		pay.ErrorBudget["window_days"] != 30 || pay.ErrorBudget["remaining_seconds"] >= 0 || pay.ErrorBudget["remaining_ratio"] >= 0 {
		t.Errorf("error budgets: %v %v", got.Services[0].ErrorBudget, pay.ErrorBudget)
	}
	if in := pay.Incidents[0]; in["ongoing"] != true || in["end"] != nil || in["worst"] != "dead" || in["duration_seconds"] != 780.0 {
		t.Errorf("ongoing incident: %v", in)
	}
	if in := pay.Incidents[1]; in["ongoing"] != false || in["end"] != "2026-11-28T13:05:00Z" || in["start"] != "2026-11-28T10:00:00Z" {
		t.Errorf("ended incident: %v", in)
	}
	if n := pay.Nodes[0]; n.ID != "cards" || len(n.Days) != 90 || len(n.Latency) != 24 || pay.Nodes[1].Latency != nil {
		t.Errorf("nodes: %+v", pay.Nodes)
	}
	if l := pay.Nodes[0].Latency[5]; l["count"] != 0.0 || l["p50_ms"] != nil {
		t.Errorf("an hour without probes: %v", l)
	}
	if len(got.Announcements) != 2 || got.Announcements[1]["retracted"] != "2026-11-20T03:00:00Z" {
		t.Errorf("announcements: %v", got.Announcements)
	}

	// Before the first history: no services, nulls.
	body := do(t, pageServer(fixedSnapshots{incidentSnapshot(historyNow)}, testBranding()).Handler(), http.MethodGet, "/status/history").Body.String()
	if want := `{"built":null,"page":{"name":"Acme Status","url":"https://status.example.com/","uptime":{"24h":null,"7d":null,"30d":null,"90d":null},"days":[]},"services":[],"announcements":[]}` + "\n"; body != want {
		t.Errorf("without history:\n%s\nwant\n%s", body, want)
	}
}

// TestHistoryViewsMemoized: the history's views render once per recorded
// history and site configuration; a new status generation hands back the
// same bytes (and so the same entity tags).
func TestHistoryViewsMemoized(t *testing.T) {
	snap := historySnapshot()
	holder := newSwapSnapshots(snap)
	s := pageServer(holder, testBranding())
	h := s.Handler()
	tags := map[string]string{}
	for _, p := range []string{"/history", "/status/history", "/history.atom", "/history.rss"} {
		tags[p] = do(t, h, http.MethodGet, p).Header().Get("ETag")
	}
	memo := s.memos.page.Load()
	next := incidentSnapshot(historyNow)
	next.Generation, next.History = snap.Generation+1, snap.History
	holder.p.Store(next)
	showLatest(s)
	for p, tag := range tags {
		if got := do(t, h, http.MethodGet, p).Header().Get("ETag"); got != tag || tag == "" {
			t.Errorf("%s: entity tag %s, then %s", p, tag, got)
		}
	}
	if s.memos.page.Load() != memo {
		t.Error("/history rendered again for the same history")
	}
	newer := incidentSnapshot(historyNow)
	newer.Generation, newer.History = next.Generation+1, historyFor(newer, historyNow.Add(time.Minute))
	holder.p.Store(newer)
	showLatest(s)
	if got := do(t, h, http.MethodGet, "/status/history").Header().Get("ETag"); got == tags["/status/history"] {
		t.Error("a new history kept the entity tag")
	}
}

func BenchmarkPageRenderHistory(b *testing.B) {
	snap := budgetSnapshot(1000, 1)
	snap.History = historyFor(snap, historyNow)
	s := pageServer(fixedSnapshots{snap}, testBranding())
	site := s.site.Load()
	b.Run("without", func(b *testing.B) {
		plain := *snap
		plain.History = nil
		for b.Loop() {
			if _, _, err := s.renderPage(site, &plain, historyNow); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("cached", func(b *testing.B) {
		var n int
		for b.Loop() {
			body, _, err := s.renderPage(site, snap, historyNow)
			if err != nil {
				b.Fatal(err)
			}
			n = len(body)
		}
		b.ReportMetric(float64(n), "bytes/page")
	})
	b.Run("fragments", func(b *testing.B) {
		for b.Loop() {
			if _, err := renderHistoryParts(s.pageTmpl, snap.History); err != nil {
				b.Fatal(err)
			}
		}
	})
}

func ExampleBuildHistoryReport() {
	r, _ := BuildHistoryReport(nil, Page{Title: "Acme Status"}, "")
	fmt.Println(len(r.Services), r.Built == nil)
	// Output: 0 true
}
