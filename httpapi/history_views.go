package httpapi

import (
	"bytes"
	"encoding/json"
	"html/template"
	"strings"
	"sync/atomic"
	"time"

	"github.com/vigil-go/vigil/messages"
)

// The history's own prepared views: the incident history page (/history),
// the history as JSON (/status/history, also the MCP tool get_history) and
// the Atom and RSS feeds of incidents and announcements (feeds.go).
//
// They change with the recorded history (at most once a minute) and the
// site configuration, not with the statuses: each keeps its last rendering
// with what it was made from (historyMemo) and hands the same bytes back
// while those are unchanged, so the renderer's once-a-second pass costs
// nothing for them (equal bytes keep their compressed variants and entity
// tags, prepared.go).

// historyMemo is one rendering of a history view and what it was made
// from. Immutable once stored.
type historyMemo struct {
	hist        *messages.HistoryView
	site        *siteConfig
	year        int
	body        []byte
	contentType string
}

// historyMemos are the memos of the history views, one slot each.
type historyMemos struct {
	page, json, atom, rss atomic.Pointer[historyMemo]
}

// memoized wraps a view of the history so that it renders only when the
// history, the site configuration or the year changed.
func memoized(slot *atomic.Pointer[historyMemo], render view) view {
	return func(site *siteConfig, snap *messages.Snapshot, now time.Time) ([]byte, string, error) {
		m := slot.Load()
		if m != nil && m.hist == snap.History && m.site == site && m.year == now.Year() {
			return m.body, m.contentType, nil
		}
		body, ct, err := render(site, snap, now)
		if err != nil {
			return nil, "", err
		}
		slot.Store(&historyMemo{hist: snap.History, site: site, year: now.Year(), body: body, contentType: ct})
		return body, ct, nil
	}
}

// historyViews are the history's entries of the view registry
// (publicViews).
func (s *Server) historyViews() []namedView {
	return []namedView{
		{name: "history", path: "/history", render: memoized(&s.memos.page, s.renderHistoryPage)},
		{name: "history-json", path: "/status/history", render: memoized(&s.memos.json, renderHistoryJSON)},
		{name: "history-atom", path: "/history.atom", render: memoized(&s.memos.atom, renderAtom)},
		{name: "history-rss", path: "/history.rss", render: memoized(&s.memos.rss, renderRSS)},
	}
}

// siteView is what every page shows of the site configuration: title,
// icon, top bar and footer (parts.html).
type siteView struct {
	Title, IconColor string
	IconType         template.HTMLAttr
	IconURL, LogoURL any
	WebsiteURL       any
	SupportURL       any
	LogoColor        any
	LogoInk          template.CSS
	BrandName        string
	CustomHTML       template.HTML
	Version          string
	Year             int
	Company          string
}

func (s *Server) siteView(site *siteConfig, now time.Time) siteView {
	b := &site.branding
	brand := strings.TrimSpace(b.CompanyName)
	if brand == "" {
		brand = b.PageTitle
	}
	return siteView{
		Title: b.PageTitle, IconType: template.HTMLAttr(`type="` + iconMIME(b.IconURL) + `"`), IconColor: b.IconColor,
		IconURL: trustedURL(b.IconURL), LogoURL: trustedURL(b.LogoURL),
		WebsiteURL: trustedURL(b.WebsiteURL), SupportURL: trustedURL(b.SupportURL),
		LogoColor: trustedColor(b.LogoColor), LogoInk: template.CSS(inkOn(b.LogoColor)),
		BrandName:  brand,
		CustomHTML: template.HTML(b.CustomHTML), // raw by design (spec §2.5)
		Version:    s.version, Year: now.Year(), Company: b.CompanyName,
	}
}

// historyPageView is the data of history.html.
type historyPageView struct {
	siteView
	Description string
	// Recorded is false until a first history is built.
	Recorded bool
	// Days are the last 90 days, newest first.
	Days []historyDayView
}

type historyDayView struct {
	// ID is the date as 2006-01-02; Date as the page shows it.
	ID, Date      string
	Incidents     []incidentView
	Announcements []announcementRecordView
}

type announcementRecordView struct {
	Anchor, Title          string
	Lines                  []string
	Published, PublishedAt string
	Retracted, RetractedAt string
}

// renderHistoryPage is the view of GET /history: every incident and
// announcement of the last 90 days by day (the day an incident started, an
// announcement was published), newest day first; an incident that started
// before the window and one announced earlier but still published are
// under the oldest day.
func (s *Server) renderHistoryPage(site *siteConfig, snap *messages.Snapshot, now time.Time) ([]byte, string, error) {
	v := historyPageView{siteView: s.siteView(site, now)}
	v.Description = "Incidents and announcements of the last 90 days of the services of " + v.BrandName + "."
	if hist := snap.History; hist != nil {
		v.Recorded = true
		v.Days = historyDays(hist)
	}
	var buf bytes.Buffer
	if err := s.pageTmpl.ExecuteTemplate(&yielder{w: &buf}, "history.html", v); err != nil {
		return nil, "", err
	}
	return buf.Bytes(), "text/html; charset=utf-8", nil
}

// historyDays groups the incidents and announcements of hist by day.
func historyDays(hist *messages.HistoryView) []historyDayView {
	today := dayStart(hist.Built)
	days := make([]historyDayView, messages.HistoryDays)
	for i := range days {
		d := today.AddDate(0, 0, -i)
		days[i] = historyDayView{ID: d.Format(time.DateOnly), Date: longDate(d)}
	}
	// slot is the index of t's day, the oldest for anything older.
	slot := func(t time.Time) int {
		i := int(today.Sub(dayStart(t)) / (24 * time.Hour))
		return min(max(i, 0), len(days)-1)
	}
	labels := nodeLabels(hist)
	for i := range hist.Incidents {
		in := &hist.Incidents[i]
		d := &days[slot(in.Start)]
		d.Incidents = append(d.Incidents, incidentViewOf(in, hist.Built, labels))
	}
	for i := range hist.Announcements {
		a := &hist.Announcements[i]
		d := &days[slot(a.Published)]
		av := announcementRecordView{
			Anchor: announcementAnchor(a), Title: a.Title,
			Lines:     strings.Split(strings.ReplaceAll(a.Text, "\r\n", "\n"), "\n"),
			Published: announcementDate(a.Published), PublishedAt: a.Published.UTC().Format(time.RFC3339),
		}
		if !a.Retracted.IsZero() {
			av.Retracted, av.RetractedAt = announcementDate(a.Retracted), a.Retracted.UTC().Format(time.RFC3339)
		}
		d.Announcements = append(d.Announcements, av)
	}
	return days
}

// HistoryReport is the body of GET /status/history and the result of the
// MCP tool get_history. Uptimes are ratios from 0 to 1 (null where nothing
// was observed); durations are in seconds; times are RFC 3339 in UTC.
type HistoryReport struct {
	// Built is when the history was computed (null before the first one).
	Built         *string               `json:"built"`
	Page          HistoryPage           `json:"page"`
	Services      []HistoryService      `json:"services"`
	Announcements []HistoryAnnouncement `json:"announcements"`
}

// HistoryPage is the whole page: every service together.
type HistoryPage struct {
	Name   string        `json:"name"`
	URL    string        `json:"url"`
	Uptime HistoryUptime `json:"uptime"`
	Days   []HistoryDay  `json:"days"`
}

// HistoryUptime is the uptime ratio of the usual windows.
type HistoryUptime struct {
	H24 *float64 `json:"24h"`
	D7  *float64 `json:"7d"`
	D30 *float64 `json:"30d"`
	D90 *float64 `json:"90d"`
}

// HistoryDay is one day (00:00 to 24:00 UTC).
type HistoryDay struct {
	Date string `json:"date"`
	// Uptime is null for a day without any observation.
	Uptime        *float64 `json:"uptime"`
	DeadSeconds   float64  `json:"dead_seconds"`
	SickSeconds   float64  `json:"sick_seconds"`
	NoDataSeconds float64  `json:"no_data_seconds"`
	// Incidents counts the incidents open during the day.
	Incidents int `json:"incidents"`
}

// HistoryService is one service with its nodes.
type HistoryService struct {
	ID        string            `json:"id"`
	Label     string            `json:"label"`
	Uptime    HistoryUptime     `json:"uptime"`
	Days      []HistoryDay      `json:"days"`
	Incidents []HistoryIncident `json:"incidents"`
	// ErrorBudget is present when the service has an slo.
	ErrorBudget *HistoryBudget `json:"error_budget,omitempty"`
	Nodes       []HistoryNode  `json:"nodes"`
}

// HistoryNode is one node.
type HistoryNode struct {
	ID     string        `json:"id"`
	Label  string        `json:"label"`
	Uptime HistoryUptime `json:"uptime"`
	Days   []HistoryDay  `json:"days"`
	// Latency is present for poll nodes: the last 24 hours, hourly,
	// oldest first.
	Latency []HistoryLatency `json:"latency,omitempty"`
}

// HistoryLatency summarises one hour's probe latencies (milliseconds;
// null when no probe ran in the hour).
type HistoryLatency struct {
	Start string   `json:"start"`
	Count uint64   `json:"count"`
	P50   *float64 `json:"p50_ms"`
	P95   *float64 `json:"p95_ms"`
	Max   *float64 `json:"max_ms"`
}

// HistoryIncident is a period in which a service was not healthy.
type HistoryIncident struct {
	ID    string `json:"id"`
	Start string `json:"start"`
	// End is null while the incident is ongoing.
	End     *string         `json:"end"`
	Ongoing bool            `json:"ongoing"`
	Worst   messages.Status `json:"worst"`
	// DurationSeconds runs to the end, or to when the history was built.
	DurationSeconds float64  `json:"duration_seconds"`
	Nodes           []string `json:"nodes"`
}

// HistoryBudget is a service's error budget over 30 rolling days.
type HistoryBudget struct {
	SLO            float64 `json:"slo"`
	WindowDays     int     `json:"window_days"`
	AllowedSeconds float64 `json:"allowed_seconds"`
	UsedSeconds    float64 `json:"used_seconds"`
	// RemainingSeconds is negative when the budget is overspent;
	// RemainingRatio is it divided by the allowed time.
	RemainingSeconds float64 `json:"remaining_seconds"`
	RemainingRatio   float64 `json:"remaining_ratio"`
}

// HistoryAnnouncement is an announcement of the last 90 days.
type HistoryAnnouncement struct {
	ID        string `json:"id"`
	Title     string `json:"title"`
	Text      string `json:"text"`
	Published string `json:"published"`
	// Retracted is null while it is still published.
	Retracted *string `json:"retracted"`
}

// BuildHistoryReport maps the recorded history to the report structure;
// service, when not empty, keeps only that service (ok is false when
// there is none of that id). Without a history yet, the report has no
// service and every uptime is null.
func BuildHistoryReport(hist *messages.HistoryView, page Page, service string) (r HistoryReport, ok bool) {
	r = HistoryReport{Page: HistoryPage{Name: page.Title, URL: page.URL, Days: []HistoryDay{}},
		Services: []HistoryService{}, Announcements: []HistoryAnnouncement{}}
	if hist == nil {
		return r, service == ""
	}
	built := rfc3339(hist.Built)
	r.Built = &built
	r.Page.Uptime, r.Page.Days = uptimeReport(&hist.Page.Uptime), daysReport(hist.Page.Days)
	ok = service == ""
	for i := range hist.Services {
		sh := &hist.Services[i]
		if service != "" && sh.ID != service {
			continue
		}
		ok = true
		hs := HistoryService{ID: sh.ID, Label: sh.Label, Uptime: uptimeReport(&sh.Uptime), Days: daysReport(sh.Days),
			Incidents: []HistoryIncident{}, Nodes: make([]HistoryNode, 0, len(sh.Nodes))}
		for j := range hist.Incidents {
			if in := &hist.Incidents[j]; in.Service == sh.ID {
				hs.Incidents = append(hs.Incidents, incidentReport(in, hist.Built))
			}
		}
		if b := sh.Budget; b != nil {
			hs.ErrorBudget = &HistoryBudget{SLO: b.SLO, WindowDays: 30,
				AllowedSeconds: b.Allowed.Seconds(), UsedSeconds: b.Used.Seconds(),
				RemainingSeconds: b.Remaining().Seconds(), RemainingRatio: b.RemainingRatio()}
		}
		for k := range sh.Nodes {
			n := &sh.Nodes[k]
			hn := HistoryNode{ID: n.ID, Label: n.Label, Uptime: uptimeReport(&n.Uptime), Days: daysReport(n.Days)}
			if n.Poll {
				hn.Latency = make([]HistoryLatency, 0, len(n.Latency))
				for _, p := range n.Latency {
					l := HistoryLatency{Start: rfc3339(p.Start), Count: p.Count}
					if p.Count > 0 {
						l.P50, l.P95, l.Max = msOf(p.P50), msOf(p.P95), msOf(p.Max)
					}
					hn.Latency = append(hn.Latency, l)
				}
			}
			hs.Nodes = append(hs.Nodes, hn)
		}
		r.Services = append(r.Services, hs)
	}
	for i := range hist.Announcements {
		a := &hist.Announcements[i]
		ha := HistoryAnnouncement{ID: a.ID, Title: a.Title, Text: a.Text, Published: rfc3339(a.Published)}
		if !a.Retracted.IsZero() {
			t := rfc3339(a.Retracted)
			ha.Retracted = &t
		}
		r.Announcements = append(r.Announcements, ha)
	}
	return r, ok
}

func rfc3339(t time.Time) string { return t.UTC().Format(time.RFC3339) }

func msOf(d time.Duration) *float64 {
	ms := float64(d) / float64(time.Millisecond)
	return &ms
}

func ratioOf(u messages.Uptime) *float64 {
	r, ok := u.Ratio()
	if !ok {
		return nil
	}
	return &r
}

func uptimeReport(u *messages.Uptimes) HistoryUptime {
	return HistoryUptime{H24: ratioOf(u.H24), D7: ratioOf(u.D7), D30: ratioOf(u.D30), D90: ratioOf(u.D90)}
}

func daysReport(days []messages.HistoryDay) []HistoryDay {
	out := make([]HistoryDay, 0, len(days))
	for _, d := range days {
		out = append(out, HistoryDay{Date: d.Date.UTC().Format(time.DateOnly), Uptime: ratioOf(dayUptime(d)),
			DeadSeconds: d.Dead.Seconds(), SickSeconds: d.Sick.Seconds(), NoDataSeconds: d.NoData.Seconds(),
			Incidents: d.Incidents})
	}
	return out
}

func incidentReport(in *messages.Incident, now time.Time) HistoryIncident {
	hi := HistoryIncident{ID: incidentID(in).String(), Start: rfc3339(in.Start), Ongoing: in.End.IsZero(),
		Worst: in.Worst, Nodes: append([]string{}, in.Nodes...)}
	end := now
	if !hi.Ongoing {
		e := rfc3339(in.End)
		hi.End, end = &e, in.End
	}
	hi.DurationSeconds = max(end.Sub(in.Start), 0).Seconds()
	return hi
}

// renderHistoryJSON is the view of GET /status/history.
func renderHistoryJSON(site *siteConfig, snap *messages.Snapshot, _ time.Time) ([]byte, string, error) {
	r, _ := BuildHistoryReport(snap.History, site.page, "")
	body, err := json.Marshal(r)
	if err != nil {
		return nil, "", err
	}
	return append(body, '\n'), "application/json", nil
}
