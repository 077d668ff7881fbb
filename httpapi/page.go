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
// UTC year changes, never on a request. Its entity tag is the revision the
// page carries in data-revision, which the refresh script sends back in
// If-None-Match.

// pageTemplate is parsed once; a syntax error is a build defect.
var pageTemplate = template.Must(template.New("status.html").ParseFS(templates.FS, "status.html"))

// initPage prepares the page state; called once from routes().
func (s *Server) initPage() {
	if s.pageTmpl == nil {
		s.pageTmpl = pageTemplate
	}
	// The boot id keeps entity tags of an earlier process (whose generations
	// restarted from zero) from matching this one's.
	s.bootID = strconv.FormatInt(time.Now().UnixNano(), 36)
}

// pageRevision names one rendering of the page: boot id, snapshot
// generation and footer year.
func (s *Server) pageRevision(snap *messages.Snapshot, now time.Time) string {
	return s.bootID + "-" + strconv.FormatUint(snap.Generation, 10) + "-" + strconv.Itoa(now.Year())
}

// renderPage is the View of GET /.
func (s *Server) renderPage(snap *messages.Snapshot, now time.Time) ([]byte, string, error) {
	var buf bytes.Buffer
	if err := s.pageTmpl.Execute(&buf, s.pageView(snap, now, s.pageRevision(snap, now))); err != nil {
		return nil, "", err
	}
	return buf.Bytes(), "text/html; charset=utf-8", nil
}

// The data handed to the template. Strings are escaped by html/template;
// fields typed any hold either a vetted template.URL / template.CSS or a
// plain string that the template engine sanitises.
type pageView struct {
	Title, IconColor string
	// IconType is the whole type="…" attribute, from a fixed set of types
	// (an attribute value would show "+" as "&#43;").
	IconType               template.HTMLAttr
	IconURL, LogoURL       any
	WebsiteURL, SupportURL any
	LogoColor              any
	CustomHTML             template.HTML
	Version                string

	Status          string
	Headline        string
	Summary, Advice string
	// Refreshed and announcement dates are built by timestamp and
	// announcementDate from digits, letters and ":+, " only; as HTML they
	// keep their literal "+" (html/template writes "&#43;" otherwise).
	Refreshed     template.HTML
	Generation    uint64
	Revision      string
	Announcements []announcementView
	Probes        []probeView
	Year          int
	Company       string
}

type announcementView struct {
	Title string
	Lines []string
	Date  template.HTML
}

type probeView struct {
	ID, Label, Status, StatusText string
	Nodes                         []nodeView
}

type nodeView struct {
	Label, Status string
	LinkURL       any
	LinkText      string
	Replicas      []replicaView
}

type replicaView struct {
	N        int
	TipID    string
	Status   string
	ModeLine string
	Name     string
	Details  []string
	Err      string
}

// Wording of the page, per general status.
var (
	headlines = map[messages.Status]string{
		messages.Healthy: "All systems operational",
		messages.Sick:    "Some services are degraded",
		messages.Dead:    "Service disruption in progress",
	}
	summaries = map[messages.Status]string{
		messages.Healthy: "Everything is running smoothly.",
		messages.Sick:    "Some services are responding slower than usual.",
		messages.Dead:    "Some services are currently unavailable.",
	}
	advice = map[messages.Status]string{
		messages.Healthy: "No problem is detected at the moment. Something still not working for you?",
		messages.Sick:    "You may notice delays while we are under high load. Still stuck?",
		messages.Dead:    "Our team has been alerted and is working on it. Need help in the meantime?",
	}
	statusWords = map[messages.Status]string{
		messages.Healthy: "Operational",
		messages.Sick:    "Degraded",
		messages.Dead:    "Outage",
	}
	modeLines = map[string]string{
		"poll":   "Polled by Vigil (HTTP, TCP, SSH or ICMP).",
		"push":   "Reports in through Vigil Reporter (push).",
		"script": "Checked by a script run by Vigil.",
		"local":  "Checked from inside the network by Vigil Local.",
	}
)

func (s *Server) pageView(snap *messages.Snapshot, now time.Time, revision string) pageView {
	b := &s.branding
	v := pageView{
		Title: b.PageTitle, IconType: template.HTMLAttr(`type="` + iconMIME(b.IconURL) + `"`), IconColor: b.IconColor,
		IconURL: trustedURL(b.IconURL), LogoURL: trustedURL(b.LogoURL),
		WebsiteURL: trustedURL(b.WebsiteURL), SupportURL: trustedURL(b.SupportURL),
		LogoColor:  trustedColor(b.LogoColor),
		CustomHTML: template.HTML(b.CustomHTML), // raw by design (spec §2.5)
		Version:    s.version,
		Status:     snap.Status.String(), Headline: headlines[snap.Status],
		Summary: summaries[snap.Status], Advice: advice[snap.Status],
		Generation: snap.Generation, Revision: revision,
		Year: now.Year(), Company: b.CompanyName,
	}
	if !snap.Refreshed.IsZero() {
		v.Refreshed = template.HTML(timestamp(snap.Refreshed))
	}
	for i := len(snap.Announcements) - 1; i >= 0; i-- {
		a := snap.Announcements[i]
		v.Announcements = append(v.Announcements, announcementView{
			Title: a.Title,
			Lines: strings.Split(strings.ReplaceAll(a.Text, "\r\n", "\n"), "\n"),
			Date:  template.HTML(announcementDate(a.Date)),
		})
	}
	v.Probes = make([]probeView, 0, len(snap.Probes))
	for pi, p := range snap.Probes {
		pv := probeView{ID: p.ID, Label: p.Label, Status: p.Status.String(), StatusText: statusWords[p.Status],
			Nodes: make([]nodeView, 0, len(p.Nodes))}
		for ni, n := range p.Nodes {
			nv := nodeView{Label: n.Label, Status: n.Status.String()}
			if n.LinkURL != "" {
				nv.LinkURL = trustedURL(n.LinkURL)
				nv.LinkText = n.LinkLabel
				if nv.LinkText == "" {
					nv.LinkText = n.LinkURL
				}
			}
			mode, ok := modeLines[n.Mode]
			if !ok {
				mode = modeLines["poll"]
			}
			nv.Replicas = make([]replicaView, 0, len(n.Replicas))
			for ri, r := range n.Replicas {
				rv := replicaView{N: ri + 1, TipID: fmt.Sprintf("tip-%d-%d-%d", pi, ni, ri+1),
					Status: r.Status.String(), ModeLine: mode, Details: replicaDetails(&r)}
				if n.RevealReplicaName {
					rv.Name = r.ID
				}
				if r.Status != messages.Healthy {
					rv.Err = r.Err
				}
				nv.Replicas = append(nv.Replicas, rv)
			}
			pv.Nodes = append(pv.Nodes, nv)
		}
		v.Probes = append(v.Probes, pv)
	}
	return v
}

// replicaDetails lists the metrics a replica has: push load, probe latency
// (also when 0) and RabbitMQ queue counts.
func replicaDetails(r *messages.ReplicaSnapshot) []string {
	var d []string
	if r.Load != nil {
		d = append(d, fmt.Sprintf("Load: %d%%", percent(r.Load.CPU)), fmt.Sprintf("Memory: %d%%", percent(r.Load.RAM)))
	}
	if r.HasLatency {
		d = append(d, fmt.Sprintf("Latency: %dms", r.Latency.Milliseconds()))
	}
	if r.Queue != nil {
		d = append(d, fmt.Sprintf("Queue: %dR %dN", r.Queue.Ready, r.Queue.Unacked))
	}
	return d
}

func percent(f float64) int64 {
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0
	}
	return int64(math.Round(f * 100))
}

// timestamp is the spec's TS format: HH:MM:SS UTC+00:00.
func timestamp(t time.Time) string { return t.UTC().Format("15:04:05") + " UTC+00:00" }

// announcementDate is the spec §9 format: 4 Jul 2025, 16:30:00 UTC+00:00.
func announcementDate(t time.Time) string {
	return t.UTC().Format("2 Jan 2006, 15:04:05") + " UTC+00:00"
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
