package httpapi

import (
	"bytes"
	"fmt"
	"html/template"
	"math"
	"path"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-go/vigil/messages"
	"github.com/vigil-go/vigil/templates"
)

// The status page (spec §8) is rendered from the embedded template with
// html/template: every value is escaped by context except custom_html.
//
// renderPage is the page's prepared view (prepared.go): the renderer runs
// it once per snapshot change (at most once per RenderEvery) and when the
// UTC year changes, and at once when the site configuration changes; never
// on a request. Its entity tag is the revision the page carries in
// data-revision, which the refresh script sends back in If-None-Match.

// pageTemplate is parsed once; a syntax error is a build defect. It holds
// the status page (status.html, the template it executes), the incident
// history page (history.html) and their shared parts (parts.html).
var pageTemplate = template.Must(template.New("status.html").ParseFS(templates.FS, "status.html", "history.html", "parts.html"))

// pageRevision names one rendering of the page: boot id, snapshot
// generation and footer year ("<boot>-<generation>-<year>"); after a
// reload, the boot id carries the site configuration's epoch
// ("<boot>.<epoch>-…"), so that a page with new branding is not answered
// 304.
func (s *Server) pageRevision(site *siteConfig, snap *messages.Snapshot, now time.Time) string {
	boot := s.bootID
	if site.epoch > 0 {
		boot += "." + strconv.FormatUint(site.epoch, 10)
	}
	return boot + "-" + strconv.FormatUint(snap.Generation, 10) + "-" + strconv.Itoa(now.Year())
}

// renderPage is the view of GET /.
func (s *Server) renderPage(site *siteConfig, snap *messages.Snapshot, now time.Time) ([]byte, string, error) {
	var buf bytes.Buffer
	// The page of a large configuration takes tens of milliseconds to
	// execute: it yields to requests as it goes (yielder).
	if err := s.pageTmpl.Execute(&yielder{w: &buf}, s.pageView(site, snap, now, s.pageRevision(site, snap, now))); err != nil {
		return nil, "", err
	}
	return buf.Bytes(), "text/html; charset=utf-8", nil
}

// The data handed to the template. Strings are escaped by html/template;
// fields typed any hold either a vetted template.URL / template.CSS or a
// plain string that the template engine sanitises.
//
// What the page shows during an incident, and how the view model arranges
// it: the banner names the services that are not healthy (affected
// services), and those services come first on the page, in store order,
// followed by the healthy ones in store order; the same order on every
// screen, so reading order, keyboard order and what is seen agree. Inside a
// service, failing nodes (sick or dead) come first; when a service has more
// than foldAbove other nodes, those are folded into a <details> element
// that works without JavaScript. A node without any replica (a push or
// local node that never reported) shows "No data" in grey rather than
// passing for healthy.
type pageView struct {
	// siteView is the title, icon, top bar and footer (history_views.go).
	siteView
	Description string

	Status, Headline, Advice string
	// Affected names, for the banner, the services that are not healthy:
	// the first maxAffectedNamed of them, then how many more there are.
	Affected     []serviceLink
	AffectedMore int
	// Refreshed is the time of the last refresh as "15:04:05 UTC" and
	// RefreshedAt the same instant in RFC 3339; both empty before the first.
	Refreshed, RefreshedAt string
	Generation             uint64
	Revision               string
	Announcements          []announcementView
	Probes                 []probeView
	// PastIncidents is the "Past incidents" section (history.go); empty
	// until a history is recorded.
	PastIncidents template.HTML
}

// serviceLink points at a service card from the banner.
type serviceLink struct{ ID, Label string }

type announcementView struct {
	Title        string
	Lines        []string
	Date, DateAt string
}

// probeView is one service card. Nodes are the nodes shown: failing ones
// first; Folded are the others when they are too many to show (then
// FoldSummary counts them).
type probeView struct {
	ID, Label         string
	Class, StatusText string
	Nodes, Folded     []nodeView
	FoldSummary       string
	// HistoryBars and HistoryNodes are the service's history fragments
	// (history.go); empty without a recorded history.
	HistoryBars, HistoryNodes template.HTML
}

type nodeView struct {
	Label string
	// Class is the status class (healthy, sick, dead or nodata) and
	// StatusText its words; Mode (poll, push, script, local) selects the
	// tooltips' mode line in the stylesheet.
	Class, StatusText, Mode string
	LinkURL                 any
	LinkText                string
	// Empty is shown in place of the replicas when there is none.
	Empty    string
	Replicas []replicaView
}

// replicaView is one numbered replica box and its tooltip. The tooltip's
// first line (number and status) and last line (how the replica is
// checked) come from the stylesheet, which keeps large pages small.
type replicaView struct {
	N int
	// Class is the replica's status class when it differs from its node's
	// (a replica without one takes its node's colour and words).
	Class   string
	Name    string
	Details string
	// Notes are error texts: why the replica is unhealthy, why its queue
	// could not be read.
	Notes []string
}

// noData is the class and words of a node that has no replica yet.
const (
	noDataClass = "nodata"
	noDataText  = "No data"
)

// foldAbove is how many healthy (or no-data) nodes a service shows before
// folding them; maxAffectedNamed is how many affected services the banner
// names before counting the rest.
const (
	foldAbove        = 8
	maxAffectedNamed = 4
)

// statusWords is how the page words one status: the banner's headline
// and advice (page status), and the status text of a service card and of
// a node. The class (colour and icon, in the stylesheet) is the status's
// wire name.
type statusWords struct {
	headline, advice, service, node string
}

// statusStyle is the page's one table of per-status wording, indexed by
// status.
var statusStyle = [...]statusWords{
	messages.Healthy: {
		headline: "All systems operational",
		advice:   "No problem is detected at the moment. Something still not working for you?",
		service:  "Operational", node: "Operational",
	},
	messages.Sick: {
		headline: "Some services are degraded",
		advice:   "You may notice delays until this is resolved. Stuck?",
		service:  "Degraded", node: "Degraded",
	},
	messages.Dead: {
		headline: "Service disruption in progress",
		advice:   "Our team has been alerted and is working on it. Need help in the meantime?",
		service:  "Outage", node: "Down",
	},
}

// wording returns the words of st (empty for a status outside the table).
func wording(st messages.Status) statusWords {
	if int(st) < len(statusStyle) {
		return statusStyle[st]
	}
	return statusWords{}
}

// Other wording of the page.
var (
	waitingFor = map[string]string{
		"push":  "Waiting for a first report from Vigil Reporter.",
		"local": "Waiting for a first report from Vigil Local.",
	}
	knownModes = map[string]bool{"poll": true, "push": true, "script": true, "local": true}
)

func (s *Server) pageView(site *siteConfig, snap *messages.Snapshot, now time.Time, revision string) pageView {
	words := wording(snap.Status)
	v := pageView{
		siteView: s.siteView(site, now),
		Status:   snap.Status.String(), Headline: words.headline, Advice: words.advice,
		Generation: snap.Generation, Revision: revision,
	}
	v.Description = words.headline + ". Live status of the services of " + v.BrandName + ", checked around the clock."
	if !snap.Refreshed.IsZero() {
		v.Refreshed = timestamp(snap.Refreshed)
		v.RefreshedAt = snap.Refreshed.UTC().Format(time.RFC3339)
	}
	for i := len(snap.Announcements) - 1; i >= 0; i-- {
		a := snap.Announcements[i]
		v.Announcements = append(v.Announcements, announcementView{
			Title:  a.Title,
			Lines:  strings.Split(strings.ReplaceAll(a.Text, "\r\n", "\n"), "\n"),
			Date:   announcementDate(a.Date),
			DateAt: a.Date.UTC().Format(time.RFC3339),
		})
	}
	parts := s.historyParts(snap.History)
	if parts != nil {
		v.PastIncidents = parts.past
	}
	card := func(p *messages.ProbeSnapshot) probeView {
		pv := probeCard(p)
		if parts != nil {
			sp := parts.services[p.ID]
			pv.HistoryBars, pv.HistoryNodes = sp.Bars, sp.Nodes
		}
		return pv
	}
	v.Probes = make([]probeView, 0, len(snap.Probes))
	var calm []probeView
	for i := range snap.Probes {
		p := &snap.Probes[i]
		if p.Status == messages.Healthy {
			calm = append(calm, card(p))
			continue
		}
		v.Probes = append(v.Probes, card(p))
		if len(v.Affected) < maxAffectedNamed {
			v.Affected = append(v.Affected, serviceLink{ID: p.ID, Label: p.Label})
		} else {
			v.AffectedMore++
		}
	}
	v.Probes = append(v.Probes, calm...)
	return v
}

// probeCard builds one service card: failing nodes first, then the
// others, folded when there are more than foldAbove of them.
func probeCard(p *messages.ProbeSnapshot) probeView {
	pv := probeView{ID: p.ID, Label: p.Label, Class: p.Status.String(), StatusText: wording(p.Status).service}
	var failing, others []nodeView
	noData := 0
	for _, n := range p.Nodes {
		nv := nodeCard(n)
		switch {
		case nv.Class == noDataClass:
			noData++
			others = append(others, nv)
		case n.Status == messages.Healthy:
			others = append(others, nv)
		default:
			failing = append(failing, nv)
		}
	}
	if p.Status == messages.Healthy && noData > 0 && noData == len(p.Nodes) {
		pv.Class, pv.StatusText = noDataClass, noDataText
	}
	if len(others) <= foldAbove {
		pv.Nodes = append(failing, others...)
		return pv
	}
	pv.Nodes, pv.Folded = failing, others
	pv.FoldSummary = foldSummary(len(failing) > 0, len(others), noData)
	return pv
}

// foldSummary labels the folded nodes: "All 24 nodes operational", "23
// other nodes operational", "23 other nodes: 21 operational, 2 without
// data", "All 12 nodes without data".
func foldSummary(afterFailing bool, folded, noData int) string {
	what := "operational"
	switch {
	case noData == folded:
		what = "without data"
	case noData > 0:
		what = fmt.Sprintf("%d operational, %d without data", folded-noData, noData)
		if afterFailing {
			return fmt.Sprintf("%d other nodes: %s", folded, what)
		}
		return fmt.Sprintf("%d nodes: %s", folded, what)
	}
	if afterFailing {
		return fmt.Sprintf("%d other nodes %s", folded, what)
	}
	return fmt.Sprintf("All %d nodes %s", folded, what)
}

func nodeCard(n *messages.NodeSnapshot) nodeView {
	nv := nodeView{Label: n.Label, Class: n.Status.String(), StatusText: wording(n.Status).node, Mode: n.Mode}
	if !knownModes[nv.Mode] {
		nv.Mode = "poll"
	}
	if n.LinkURL != "" {
		nv.LinkURL = trustedURL(n.LinkURL)
		nv.LinkText = n.LinkLabel
		if nv.LinkText == "" {
			nv.LinkText = n.LinkURL
		}
	}
	if len(n.Replicas) == 0 {
		// Nothing reported yet: the roll-up counts the node healthy, but
		// the page must not claim so.
		nv.Class, nv.StatusText = noDataClass, noDataText
		nv.Empty = waitingFor[nv.Mode]
		if nv.Empty == "" {
			nv.Empty = "No replica to check."
		}
		return nv
	}
	nv.Replicas = make([]replicaView, 0, len(n.Replicas))
	for ri := range n.Replicas {
		r := &n.Replicas[ri]
		rv := replicaView{N: ri + 1, Details: replicaDetails(r)}
		if r.Status != n.Status {
			rv.Class = r.Status.String()
		}
		if n.RevealReplicaName {
			rv.Name = messages.RedactURL(r.ID)
		}
		if r.Status != messages.Healthy && r.Err != "" {
			rv.Notes = append(rv.Notes, r.Err)
		}
		if r.Queue != nil && r.Queue.Err != "" {
			rv.Notes = append(rv.Notes, "RabbitMQ queue not read: "+r.Queue.Err)
		}
		nv.Replicas = append(nv.Replicas, rv)
	}
	return nv
}

// replicaDetails is the line of metrics a replica has: push load, probe
// latency (also when 0) and RabbitMQ queue counts (when the queue could be
// read).
func replicaDetails(r *messages.ReplicaSnapshot) string {
	var d []string
	if r.Load != nil {
		d = append(d, fmt.Sprintf("Load %d%%", percent(r.Load.CPU)), fmt.Sprintf("Memory %d%%", percent(r.Load.RAM)))
	}
	if r.HasLatency {
		d = append(d, fmt.Sprintf("Latency %d ms", r.Latency.Milliseconds()))
	}
	if r.Queue != nil && r.Queue.Err == "" {
		d = append(d, fmt.Sprintf("Queue %d ready, %d unacked", r.Queue.Ready, r.Queue.Unacked))
	}
	return strings.Join(d, " · ")
}

func percent(f float64) int64 {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0
	}
	return int64(math.Round(f * 100))
}

// timestamp is how the page shows the refresh time: 04:15:15 UTC.
func timestamp(t time.Time) string { return t.UTC().Format("15:04:05") + " UTC" }

// announcementDate is how the page shows an announcement's date:
// 4 Jul 2025, 16:30 UTC.
func announcementDate(t time.Time) string {
	return t.UTC().Format("2 Jan 2006, 15:04") + " UTC"
}

// inkOn returns a text colour readable on the background colour c: white,
// or near black when c is a light colour in hex notation (#rgb, #rrggbb,
// with or without alpha). Other notations keep white.
func inkOn(c string) string {
	const light, dark = "#ffffff", "#111827"
	h := strings.TrimPrefix(strings.TrimSpace(c), "#")
	if len(h) == 3 || len(h) == 4 {
		h = string([]byte{h[0], h[0], h[1], h[1], h[2], h[2]})
	}
	if len(h) == 8 {
		h = h[:6]
	}
	if len(h) != 6 || !strings.HasPrefix(strings.TrimSpace(c), "#") {
		return light
	}
	var lum float64
	for i, weight := range []float64{0.2126, 0.7152, 0.0722} {
		v, err := strconv.ParseUint(h[2*i:2*i+2], 16, 8)
		if err != nil {
			return light
		}
		ch := float64(v) / 255
		if ch <= 0.04045 {
			ch /= 12.92
		} else {
			ch = math.Pow((ch+0.055)/1.055, 2.4)
		}
		lum += weight * ch
	}
	// Contrast with white is 1.05/(lum+0.05), with #111827 (luminance
	// 0.0089) (lum+0.05)/0.0589: pick the larger.
	if 1.05/(lum+0.05) >= (lum+0.05)/0.0589 {
		return light
	}
	return dark
}

// iconMIME guesses the icon's media type from the URL path's extension,
// ignoring the query and fragment; image/png when unknown.
func iconMIME(raw string) string {
	p := raw
	if i := strings.IndexAny(p, "?#"); i >= 0 {
		p = p[:i]
	}
	switch strings.ToLower(path.Ext(p)) {
	case ".svg":
		return "image/svg+xml"
	case ".jpg", ".jpeg":
		return "image/jpeg"
	case ".gif":
		return "image/gif"
	case ".webp":
		return "image/webp"
	case ".ico":
		return "image/x-icon"
	case ".avif":
		return "image/avif"
	}
	return "image/png"
}

// trustedURL marks an operator-configured URL as safe for href/src unless
// its scheme is one that runs code or embeds content (javascript:, vbscript:,
// data:); those stay plain strings for html/template to neutralise. Any
// other scheme (https, mailto, tel, …) is kept as configured.
func trustedURL(raw string) any {
	u := strings.Map(func(r rune) rune {
		if r == '\t' || r == '\n' || r == '\r' {
			return -1 // browsers drop these anywhere in a URL
		}
		return r
	}, raw)
	u = strings.TrimLeftFunc(u, func(r rune) bool { return r <= ' ' })
	colon := strings.IndexByte(u, ':')
	if colon < 0 || strings.ContainsAny(u[:colon], "/?#") {
		return template.URL(raw) // relative reference
	}
	if !validScheme.MatchString(u[:colon]) {
		return raw
	}
	switch strings.ToLower(u[:colon]) {
	case "javascript", "vbscript", "data":
		return raw
	}
	return template.URL(raw)
}

var validScheme = regexp.MustCompile(`^[A-Za-z][A-Za-z0-9+.\-]*$`)

// safeColor accepts the usual CSS colour notations; nothing in it can leave
// the declaration (no quotes, semicolons, braces, angle brackets, nested
// parentheses or backslashes).
var safeColor = regexp.MustCompile(`^\s*(#[0-9A-Fa-f]{3,8}|[A-Za-z]{1,40}|(?i:rgba?|hsla?|hwb|lab|lch|oklab|oklch|color)\([0-9A-Za-z.,%+\-/ ]{1,80}\))\s*$`)

// trustedColor passes a recognised colour as template.CSS; anything else
// stays a string that html/template's CSS sanitiser checks.
func trustedColor(c string) any {
	if safeColor.MatchString(c) {
		return template.CSS(strings.TrimSpace(c))
	}
	return c
}
