package httpapi

import (
	"bytes"
	"fmt"
	"html/template"
	"math"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/vigil-go/vigil/messages"
)

// Recorded history on the status page: per service a row of daily bars,
// the uptime of the usual windows and the error budget; per node its own
// bars, uptime and, for poll nodes, a 24-hour median latency sparkline;
// below the services the incidents of the last two weeks. Its own routes (/history,
// /status/history, the feeds) are in history_views.go.
//
// Speed: the history changes at most once a minute (a new HistoryView
// pointer), the statuses up to once a second. The history parts of the page
// are rendered once per HistoryView (historyParts, cached by pointer) and
// spliced into every rendering of the page as they are.
//
// Size: a service's bar is one element whose data attribute is its tooltip
// (date, uptime, time down and degraded, incidents; a healthy day without
// gaps or incidents only its date, the stylesheet adds the rest), and the
// row of bars is named by a summary of its days for screen readers. Node
// bars are one small SVG per node: the healthy days are its background,
// and only the other days are drawn, each with a <title>; a run of days
// without data is one rectangle.

// pastIncidentDays is how far back "Past incidents" goes on the page.
const pastIncidentDays = 14

// historyParts are the page's history fragments for one HistoryView.
type historyParts struct {
	hist *messages.HistoryView
	// services holds each service's fragments by service id.
	services map[string]serviceParts
	// past is the "Past incidents" section.
	past template.HTML
}

// serviceParts are one service's fragments: Bars (uptime, daily bars,
// error budget) under the service's name, Nodes (the nodes' bars, uptime
// and latency, folded) at the end of its card.
type serviceParts struct{ Bars, Nodes template.HTML }

// historyCache holds the fragments of the last HistoryView rendered. It is
// immutable once stored; a newer view replaces it whole (concurrent
// renderings would only build the same fragments twice).
type historyCache struct {
	parts atomic.Pointer[historyParts]
}

// get returns the fragments of hist, rendering them when hist is not the
// view they were made from. nil hist has none. A rendering that fails is
// reported once and leaves that view without fragments.
func (c *historyCache) get(tmpl *template.Template, hist *messages.HistoryView) (*historyParts, error) {
	if hist == nil {
		return nil, nil
	}
	if p := c.parts.Load(); p != nil && p.hist == hist {
		return p, nil
	}
	p, err := renderHistoryParts(tmpl, hist)
	if err != nil {
		p = &historyParts{hist: hist}
	}
	c.parts.Store(p)
	return p, err
}

// historyParts returns the page's fragments of hist (nil without a
// history; none when they cannot be rendered: the page is then shown
// without them and the error logged).
func (s *Server) historyParts(hist *messages.HistoryView) *historyParts {
	p, err := s.hist.get(s.pageTmpl, hist)
	if err != nil {
		s.logger.Error("rendering the history failed", "error", err)
	}
	return p
}

func renderHistoryParts(tmpl *template.Template, hist *messages.HistoryView) (*historyParts, error) {
	p := &historyParts{hist: hist, services: make(map[string]serviceParts, len(hist.Services))}
	var buf bytes.Buffer
	part := func(name string, data any) (template.HTML, error) {
		buf.Reset()
		err := tmpl.ExecuteTemplate(&yielder{w: &buf}, name, data)
		return template.HTML(buf.String()), err
	}
	for i := range hist.Services {
		sh := &hist.Services[i]
		v := serviceHistoryView(sh)
		var sp serviceParts
		var err error
		if sp.Bars, err = part("service-history", v); err != nil {
			return nil, err
		}
		if sp.Nodes, err = part("node-history", v); err != nil {
			return nil, err
		}
		p.services[sh.ID] = sp
	}
	buf.Reset()
	if err := tmpl.ExecuteTemplate(&buf, "past-incidents", pastIncidents(hist)); err != nil {
		return nil, err
	}
	p.past = template.HTML(buf.String())
	return p, nil
}

// The views of the history templates.

// uptimeCell is one window's uptime: "24 h", "99.95 %".
type uptimeCell struct{ Window, Value string }

// dayBar is one daily bar of a service with its tooltip.
type dayBar struct {
	// Tip is the tooltip: the date and one line each for the uptime, the
	// time down, degraded and without data, and the incidents. A day fully
	// observed and healthy (most days) has no class and only its date: the
	// stylesheet adds "100.00 % uptime" and "No incidents".
	Tip string
	// Class is the bar's colour: h (healthy), s (degraded), d1, d2, d3
	// (down less than a minute, less than 30 minutes, longer), n (no
	// data: only the date, or the first and last of a run of such days, to
	// which the stylesheet adds "No data"); empty for a healthy day without
	// gaps or incidents.
	Class string
	Date  string
	// Grow is how many days a bar stands for when more than one (a run of
	// days without data).
	Grow  int
	lines []string
}

// recentDays is how many of the last days phones show.
const recentDays = 30

type serviceHistView struct {
	ID, Label string
	// Summary is the text equivalent of the bars: the 90-day uptime and
	// the days that were not healthy.
	Summary string
	Uptimes []uptimeCell
	// Old are the bars before the last recentDays days, Recent those.
	Old, Recent []dayBar
	Budget      *budgetView
	Nodes       []nodeHistView
	// Poll is set when a node is a poll node (the latency column).
	Poll bool
}

type budgetView struct {
	// Class is ok, low (under a quarter left) or out (exhausted).
	Class string
	// Title is "Error budget" with the objective; Text what is left.
	Title, Text string
	// Left is the share left as a whole percentage (0 when exhausted),
	// for the meter.
	Left int
}

type nodeHistView struct {
	Label string
	// Strip is the node's 90 daily bars as one SVG.
	Strip   template.HTML
	Uptimes []string
	// Poll nodes have a latency sparkline (Spark, empty without data) and
	// the median of their last hour with data (Latency).
	Poll    bool
	Spark   template.HTML
	Latency string
}

// windows names the uptime windows in display order.
var windows = [...]string{"24 h", "7 d", "30 d", "90 d"}

func uptimeList(u *messages.Uptimes) [4]messages.Uptime {
	return [4]messages.Uptime{u.H24, u.D7, u.D30, u.D90}
}

func serviceHistoryView(sh *messages.ServiceHistory) serviceHistView {
	v := serviceHistView{ID: sh.ID, Label: sh.Label}
	for i, u := range uptimeList(&sh.Uptime) {
		v.Uptimes = append(v.Uptimes, uptimeCell{Window: windows[i], Value: uptimeText(u)})
	}
	split := max(len(sh.Days)-recentDays, 0)
	v.Old, v.Recent = dayBars(sh.Days[:split]), dayBars(sh.Days[split:])
	v.Summary = daysSummary(sh.Label, sh.Uptime.D90, sh.Days)
	if sh.Budget != nil {
		v.Budget = budgetOf(sh.Budget)
	}
	v.Nodes = make([]nodeHistView, 0, len(sh.Nodes))
	for i := range sh.Nodes {
		v.Nodes = append(v.Nodes, nodeHistoryView(&sh.Nodes[i]))
		v.Poll = v.Poll || sh.Nodes[i].Poll
	}
	return v
}

// uptimeText is an uptime as the page shows it: "99.95 %", or "No data"
// when nothing was observed.
func uptimeText(u messages.Uptime) string {
	if _, ok := u.Ratio(); !ok {
		return "No data"
	}
	return u.Percent()
}

// dayUptime is the uptime of one day.
func dayUptime(d messages.HistoryDay) messages.Uptime {
	return messages.Uptime{Observed: d.Healthy + d.Sick + d.Dead, Dead: d.Dead}
}

// dayClass weighs a day by the time it was dead: a blip of seconds is not
// painted like an outage of hours.
func dayClass(d messages.HistoryDay) string {
	switch {
	case d.Dead >= 30*time.Minute:
		return "d3"
	case d.Dead >= time.Minute:
		return "d2"
	case d.Dead > 0:
		return "d1"
	case d.Sick > 0:
		return "s"
	case d.Healthy == 0:
		return "n"
	}
	return "h"
}

// dayBars makes the bars of days, a run of days without data one bar.
func dayBars(days []messages.HistoryDay) []dayBar {
	bars := make([]dayBar, 0, len(days))
	for i := 0; i < len(days); i++ {
		b := dayBarOf(days[i])
		if b.Class == "n" {
			j := i
			for j+1 < len(days) && dayClass(days[j+1]) == "n" {
				j++
			}
			if j > i {
				b.Grow, b.Tip = j-i+1, dateRange(days[i].Date, days[j].Date)
				i = j
			}
		}
		bars = append(bars, b)
	}
	return bars
}

// dateRange writes two days: "2 Sep – 30 Oct 2026", "30 Dec 2025 – 2 Jan
// 2026".
func dateRange(from, to time.Time) string {
	if from.Year() == to.Year() {
		return from.UTC().Format("2 Jan") + " – " + longDate(to)
	}
	return longDate(from) + " – " + longDate(to)
}

func dayBarOf(d messages.HistoryDay) dayBar {
	b := dayBar{Class: dayClass(d), Date: longDate(d.Date)}
	if b.Class == "n" || b.Class == "h" && d.NoData == 0 && d.Incidents == 0 {
		if b.Class == "h" {
			b.Class = ""
		}
		b.Tip = b.Date
		return b
	}
	b.lines = append(b.lines, uptimeText(dayUptime(d))+" uptime")
	if d.Dead > 0 {
		b.lines = append(b.lines, "Down "+spanWords(d.Dead))
	}
	if d.Sick > 0 {
		b.lines = append(b.lines, "Degraded "+spanWords(d.Sick))
	}
	if d.NoData > 0 {
		b.lines = append(b.lines, "No data "+spanWords(d.NoData))
	}
	b.lines = append(b.lines, incidentCount(d.Incidents))
	b.Tip = b.Date + "\n" + strings.Join(b.lines, "\n")
	return b
}

// summaryDays is how many days down or degraded a row's summary names.
const summaryDays = 8

// daysSummary is the text equivalent of a row of bars: "Payments, last 90
// days: 99.83 % uptime; down on 2 days: 30 Nov 13 m, 28 Nov 3 h 5 m;
// degraded on 1 day: 28 Oct 47 m; no data on 20 days", the days newest
// first, at most summaryDays of them named.
func daysSummary(label string, d90 messages.Uptime, days []messages.HistoryDay) string {
	var down, degraded []string
	var downDays, degradedDays, noData int
	named := 0
	for i := len(days) - 1; i >= 0; i-- {
		d := days[i]
		switch dayClass(d) {
		case "n":
			noData++
		case "s":
			degradedDays++
			if named < summaryDays {
				degraded = append(degraded, shortDate(d.Date)+" "+spanWords(d.Sick))
				named++
			}
		case "d1", "d2", "d3":
			downDays++
			if named < summaryDays {
				down = append(down, shortDate(d.Date)+" "+spanWords(d.Dead))
				named++
			}
		}
	}
	var b strings.Builder
	b.WriteString(label + ", last " + strconv.Itoa(len(days)) + " days: ")
	if _, ok := d90.Ratio(); ok {
		b.WriteString(d90.Percent() + " uptime")
	} else {
		b.WriteString("no data")
	}
	list := func(what string, n int, named []string) {
		if n == 0 {
			return
		}
		b.WriteString("; " + what + " on " + dayCount(n))
		if len(named) == 0 {
			return
		}
		b.WriteString(": " + strings.Join(named, ", "))
		if more := n - len(named); more > 0 {
			b.WriteString(" and " + strconv.Itoa(more) + " more")
		}
	}
	list("down", downDays, down)
	list("degraded", degradedDays, degraded)
	if downDays == 0 && degradedDays == 0 && noData < len(days) {
		b.WriteString(", no downtime")
	}
	if noData > 0 && noData < len(days) {
		b.WriteString("; no data on " + dayCount(noData))
	}
	return b.String()
}

func incidentCount(n int) string {
	switch n {
	case 0:
		return "No incidents"
	case 1:
		return "1 incident"
	}
	return strconv.Itoa(n) + " incidents"
}

func budgetOf(b *messages.ErrorBudget) *budgetView {
	v := &budgetView{Title: "Error budget, SLO " + sloText(b.SLO) + " %"}
	left := b.Remaining()
	switch {
	case b.Allowed <= 0 && b.Used <= 0:
		v.Class, v.Text, v.Left = "ok", "no downtime allowed, none in the last 30 days", 100
	case left <= 0:
		v.Class = "out"
		v.Text = "exhausted: " + spanWords(b.Used) + " down of " + spanWords(b.Allowed) + " allowed in 30 days"
		if left < 0 {
			v.Text += ", over by " + spanWords(-left)
		}
	default:
		ratio := b.RemainingRatio()
		v.Class = "ok"
		if ratio < 0.25 {
			v.Class = "low"
		}
		v.Left = int(ratio * 100)
		v.Text = spanWords(left) + " of " + spanWords(b.Allowed) + " left this 30 days"
	}
	return v
}

// sloText writes an objective without trailing zeros: 99.9, 99.95, 99.
func sloText(slo float64) string { return strconv.FormatFloat(slo, 'f', -1, 64) }

func nodeHistoryView(n *messages.NodeHistory) nodeHistView {
	v := nodeHistView{Label: n.Label, Strip: dayStrip(n.Days), Poll: n.Poll}
	for _, u := range uptimeList(&n.Uptime) {
		v.Uptimes = append(v.Uptimes, uptimeText(u))
	}
	if n.Poll {
		v.Spark, v.Latency = sparkline(n.Latency)
	}
	return v
}

// dayStrip draws a node's daily bars as one SVG without a view box: its
// background (CSS) is the healthy colour, and each other day is a
// rectangle placed in percent of the width, with a <title>; a run of days
// without data is one rectangle. Its text equivalent (aria-label) counts
// the days down and degraded.
func dayStrip(days []messages.HistoryDay) template.HTML {
	var b strings.Builder
	var down, degraded, observed int
	n := len(days)
	rect := func(from, count int, class, title string) {
		fmt.Fprintf(&b, `<rect x="%s%%" width="%s%%" height="100%%" class="%s"><title>%s</title></rect>`,
			percentOf(from, n), percentOf(count, n), class, template.HTMLEscapeString(title))
	}
	for i := 0; i < n; i++ {
		d := days[i]
		class := dayClass(d)
		switch class {
		case "h":
			observed++
			continue
		case "n":
			j := i
			for j+1 < n && dayClass(days[j+1]) == "n" {
				j++
			}
			title := "No data, " + shortDate(d.Date)
			if j > i {
				title += " to " + shortDate(days[j].Date)
			}
			rect(i, j-i+1, "n", title)
			i = j
			continue
		case "s":
			degraded++
		default:
			down++
		}
		observed++
		title := shortDate(d.Date) + ": " + uptimeText(dayUptime(d))
		if d.Dead > 0 {
			title += ", down " + spanWords(d.Dead)
		}
		if d.Sick > 0 {
			title += ", degraded " + spanWords(d.Sick)
		}
		rect(i, 1, class, title)
	}
	var label string
	switch {
	case observed == 0:
		label = "No data"
	case down == 0 && degraded == 0:
		label = "No downtime"
	default:
		var parts []string
		if down > 0 {
			parts = append(parts, "down on "+dayCount(down))
		}
		if degraded > 0 {
			parts = append(parts, "degraded on "+dayCount(degraded))
		}
		label = strings.ToUpper(parts[0][:1]) + strings.Join(parts, ", ")[1:]
	}
	return template.HTML(`<svg role="img" aria-label="` + template.HTMLEscapeString(label) + `">` + b.String() + `</svg>`)
}

// percentOf writes part/whole as a percentage with at most three decimals
// ("96.667", "1.111", "0").
func percentOf(part, whole int) string {
	if whole <= 0 {
		return "0"
	}
	return strconv.FormatFloat(math.Round(float64(part)*100000/float64(whole))/1000, 'f', -1, 64)
}

func dayCount(n int) string {
	if n == 1 {
		return "1 day"
	}
	return strconv.Itoa(n) + " days"
}

// sparkline draws the hourly median latency of the last 24 hours, three
// units an hour in a 69×20 view box (the size the stylesheet gives it),
// scaled to the highest median; hours without probes break the line. It
// is decoration (aria-hidden): its text is the median of the last hour
// with data, which it returns too ("" and "" when no hour has any).
func sparkline(points []messages.LatencyPoint) (template.HTML, string) {
	var top time.Duration
	last := -1
	for i, p := range points {
		if p.Count == 0 {
			continue
		}
		top = max(top, p.P50)
		last = i
	}
	if last < 0 {
		return "", ""
	}
	if top <= 0 {
		top = 1
	}
	// The line is relative, "M0 14l3-1 3 2 …": each hour three units right.
	var b strings.Builder
	prev := 0
	for i, p := range points {
		if p.Count == 0 {
			continue
		}
		y := 19 - int(p.P50*18/top)
		joined := i > 0 && points[i-1].Count > 0
		next := i+1 < len(points) && points[i+1].Count > 0
		switch {
		case joined:
			if s := b.String(); s[len(s)-1] != 'l' {
				b.WriteByte(' ')
			}
			b.WriteByte('3')
			if y >= prev {
				b.WriteByte(' ')
			}
			b.WriteString(strconv.Itoa(y - prev))
		case next:
			fmt.Fprintf(&b, "M%d %dl", 3*i, y)
		default:
			// A lone hour is a dot: a zero-length line with round caps.
			fmt.Fprintf(&b, "M%d %dh0", 3*i, y)
		}
		prev = y
	}
	svg := `<svg class="spark" viewBox="0 0 ` + strconv.Itoa(3*max(len(points)-1, 1)) + ` 20" aria-hidden="true"><path d="` +
		b.String() + `"/></svg>`
	return template.HTML(svg), msText(points[last].P50)
}

// msText writes a latency in milliseconds: "120 ms", "3.4 ms", "< 0.1 ms".
func msText(d time.Duration) string {
	ms := float64(d) / float64(time.Millisecond)
	switch {
	case ms >= 10:
		return strconv.FormatInt(int64(ms+0.5), 10) + " ms"
	case ms >= 0.1:
		return strconv.FormatFloat(ms, 'f', 1, 64) + " ms"
	}
	return "< 0.1 ms"
}

// spanWords writes a duration in its two largest units: "45 s",
// "21 m 36 s", "3 h 5 m", "2 d 4 h" ("under 1 s" for less than a second
// but more than nothing).
func spanWords(d time.Duration) string {
	if d > 0 && d < time.Second {
		return "under 1 s"
	}
	s := int64(d / time.Second)
	two := func(a int64, ua string, b int64, ub string) string {
		if b == 0 {
			return strconv.FormatInt(a, 10) + " " + ua
		}
		return strconv.FormatInt(a, 10) + " " + ua + " " + strconv.FormatInt(b, 10) + " " + ub
	}
	switch {
	case s < 60:
		return strconv.FormatInt(s, 10) + " s"
	case s < 3600:
		return two(s/60, "m", s%60, "s")
	case s < 86400:
		return two(s/3600, "h", s%3600/60, "m")
	}
	return two(s/86400, "d", s%86400/3600, "h")
}

// longDate is "30 Nov 2026", shortDate "30 Nov" (UTC days).
func longDate(t time.Time) string  { return t.UTC().Format("2 Jan 2006") }
func shortDate(t time.Time) string { return t.UTC().Format("2 Jan") }

// Incidents: on the page (the last two weeks) and on /history.

type incidentView struct {
	// Anchor is the incident's id on /history (and in the feeds).
	Anchor, Service, ServiceID string
	// Class is the worst status (sick or dead); Worst its words.
	Class, Worst string
	Ongoing      bool
	// Start and End are "30 Nov 2026, 04:02 UTC" (End without the date
	// when on the same day); StartAt and EndAt RFC 3339.
	Start, StartAt, End, EndAt string
	// Duration is how long it lasted (so far).
	Duration string
	// Nodes names the nodes that were not healthy.
	Nodes string
}

type pastIncidentsView struct {
	Days      int
	Incidents []incidentView
}

func pastIncidents(hist *messages.HistoryView) pastIncidentsView {
	v := pastIncidentsView{Days: pastIncidentDays}
	since := dayStart(hist.Built).AddDate(0, 0, -(pastIncidentDays - 1))
	labels := nodeLabels(hist)
	for i := range hist.Incidents {
		in := &hist.Incidents[i]
		if in.End.IsZero() || !in.End.Before(since) {
			v.Incidents = append(v.Incidents, incidentViewOf(in, hist.Built, labels))
		}
	}
	return v
}

// dayStart is 00:00 UTC of t's day.
func dayStart(t time.Time) time.Time {
	y, m, d := t.UTC().Date()
	return time.Date(y, m, d, 0, 0, 0, 0, time.UTC)
}

// nodeLabels maps service id and node id to the node's label.
func nodeLabels(hist *messages.HistoryView) map[[2]string]string {
	m := map[[2]string]string{}
	for _, s := range hist.Services {
		for _, n := range s.Nodes {
			m[[2]string{s.ID, n.ID}] = n.Label
		}
	}
	return m
}

func incidentViewOf(in *messages.Incident, now time.Time, labels map[[2]string]string) incidentView {
	v := incidentView{
		Anchor: incidentAnchor(in), Service: in.ServiceLabel, ServiceID: in.Service,
		Class: in.Worst.String(), Worst: wording(in.Worst).service,
		Ongoing: in.End.IsZero(),
		Start:   announcementDate(in.Start), StartAt: in.Start.UTC().Format(time.RFC3339),
	}
	end := in.End
	if v.Ongoing {
		end = now
	} else {
		v.EndAt = in.End.UTC().Format(time.RFC3339)
		if dayStart(in.End).Equal(dayStart(in.Start)) {
			v.End = in.End.UTC().Format("15:04") + " UTC"
		} else {
			v.End = announcementDate(in.End)
		}
	}
	if end.After(in.Start) {
		v.Duration = spanWords(end.Sub(in.Start))
	} else {
		v.Duration = "0 s"
	}
	names := make([]string, 0, len(in.Nodes))
	for _, id := range in.Nodes {
		if l, ok := labels[[2]string{in.Service, id}]; ok && l != "" {
			names = append(names, l)
		} else {
			names = append(names, id)
		}
	}
	v.Nodes = strings.Join(names, ", ")
	return v
}

// feedNamespace makes the stable ids of incidents and announcements
// (name-based UUIDs) that /history anchors and the feeds share.
var feedNamespace = uuid.MustParse("5f0c3e52-8f43-4a43-9a51-0d7a5c0e9b61")

// incidentID is an incident's stable id: the same service and start give
// the same id in every rebuild of the history.
func incidentID(in *messages.Incident) uuid.UUID {
	return uuid.NewSHA1(feedNamespace, []byte("incident\x00"+in.Service+"\x00"+in.Start.UTC().Format(time.RFC3339Nano)))
}

// announcementID is an announcement's stable id: its own when it is a
// UUID (the Manager API makes them so), otherwise one made from it.
func announcementID(a *messages.AnnouncementRecord) uuid.UUID {
	if id, err := uuid.Parse(a.ID); err == nil {
		return id
	}
	return uuid.NewSHA1(feedNamespace, []byte("announcement\x00"+a.ID))
}

func incidentAnchor(in *messages.Incident) string {
	return "incident-" + incidentID(in).String()[:13]
}

func announcementAnchor(a *messages.AnnouncementRecord) string {
	return "announcement-" + announcementID(a).String()[:13]
}
