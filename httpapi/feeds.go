package httpapi

import (
	"encoding/xml"
	"slices"
	"strings"
	"time"

	"github.com/vigil-go/vigil/messages"
)

// Feeds of the incidents and announcements of the last 90 days, newest
// first: GET /history.atom (Atom, RFC 4287) and GET /history.rss (RSS 2.0).
//
// Every entry keeps its id across rebuilds of the history: an incident's
// is a name-based UUID of its service and start, an announcement's its own
// UUID (history.go), both as urn:uuid: (Atom id, RSS guid). An entry's
// updated time is when it last changed (an incident's end, an
// announcement's retraction); the feed's is the latest of them, so an
// unchanged history gives the same bytes. Links point at the entry on
// /history, under the configured page_url.

// feedEntry is one incident or announcement, as both feeds show it.
type feedEntry struct {
	id                 string
	title, text        string
	link               string
	published, updated time.Time
	category           string
}

// feedEntries lists the feed's entries, newest first (by the time they
// were published or started).
func feedEntries(hist *messages.HistoryView, base string) []feedEntry {
	if hist == nil {
		return nil
	}
	labels := nodeLabels(hist)
	var out []feedEntry
	for i := range hist.Incidents {
		in := &hist.Incidents[i]
		v := incidentViewOf(in, hist.Built, labels)
		e := feedEntry{id: "urn:uuid:" + incidentID(in).String(), link: base + "/history#" + v.Anchor,
			published: in.Start, updated: in.Start, category: "incident"}
		what := "Outage"
		if in.Worst != messages.Dead {
			what = "Degraded service"
		}
		e.title = what + ": " + in.ServiceLabel
		// Nothing in an entry depends on when the history was built: an
		// unchanged history gives the same feed.
		var text strings.Builder
		if v.Ongoing {
			e.title += " (ongoing)"
			text.WriteString(what + " of " + in.ServiceLabel + " since " + v.Start + ", ongoing.")
		} else {
			e.title += " (resolved)"
			e.updated = in.End
			text.WriteString(what + " of " + in.ServiceLabel + " from " + v.Start + " to " + v.End + " (" + v.Duration + ").")
		}
		if v.Nodes != "" {
			text.WriteString(" Affected: " + v.Nodes + ".")
		}
		e.text = text.String()
		out = append(out, e)
	}
	for i := range hist.Announcements {
		a := &hist.Announcements[i]
		e := feedEntry{id: "urn:uuid:" + announcementID(a).String(), link: base + "/history#" + announcementAnchor(a),
			title: a.Title, text: a.Text, published: a.Published, updated: a.Published, category: "announcement"}
		if !a.Retracted.IsZero() {
			e.title += " (withdrawn)"
			e.text += "\n\nWithdrawn " + announcementDate(a.Retracted) + "."
			e.updated = a.Retracted
		}
		out = append(out, e)
	}
	slices.SortStableFunc(out, func(a, b feedEntry) int { return b.published.Compare(a.published) })
	return out
}

// feedUpdated is the latest update of the entries, or the start of the
// history's first day when there is none.
func feedUpdated(hist *messages.HistoryView, entries []feedEntry) time.Time {
	var t time.Time
	for _, e := range entries {
		if e.updated.After(t) {
			t = e.updated
		}
	}
	if t.IsZero() && hist != nil && len(hist.Page.Days) > 0 {
		t = hist.Page.Days[0].Date
	}
	if t.IsZero() {
		t = time.Unix(0, 0)
	}
	return t
}

// feedBase is the configured page URL without its trailing slash.
func feedBase(site *siteConfig) string { return strings.TrimRight(site.page.URL, "/") }

func feedTitle(site *siteConfig) string {
	return site.page.Title + ": incidents and announcements"
}

type atomFeed struct {
	XMLName  xml.Name    `xml:"http://www.w3.org/2005/Atom feed"`
	ID       string      `xml:"id"`
	Title    string      `xml:"title"`
	Subtitle string      `xml:"subtitle"`
	Updated  string      `xml:"updated"`
	Links    []atomLink  `xml:"link"`
	Author   atomPerson  `xml:"author"`
	Gen      string      `xml:"generator"`
	Entries  []atomEntry `xml:"entry"`
}

type atomLink struct {
	Rel  string `xml:"rel,attr"`
	Type string `xml:"type,attr,omitempty"`
	Href string `xml:"href,attr"`
}

type atomPerson struct {
	Name string `xml:"name"`
}

type atomText struct {
	Type string `xml:"type,attr"`
	Body string `xml:",chardata"`
}

type atomCategory struct {
	Term string `xml:"term,attr"`
}

type atomEntry struct {
	ID        string       `xml:"id"`
	Title     string       `xml:"title"`
	Updated   string       `xml:"updated"`
	Published string       `xml:"published"`
	Link      atomLink     `xml:"link"`
	Category  atomCategory `xml:"category"`
	Content   atomText     `xml:"content"`
}

// renderAtom is the view of GET /history.atom.
func renderAtom(site *siteConfig, snap *messages.Snapshot, _ time.Time) ([]byte, string, error) {
	base := feedBase(site)
	entries := feedEntries(snap.History, base)
	author := strings.TrimSpace(site.branding.CompanyName)
	if author == "" {
		author = site.page.Title
	}
	f := atomFeed{
		ID: base + "/history", Title: feedTitle(site),
		Subtitle: "Incidents and announcements of the last 90 days",
		Updated:  feedUpdated(snap.History, entries).UTC().Format(time.RFC3339),
		Links: []atomLink{
			{Rel: "self", Type: "application/atom+xml", Href: base + "/history.atom"},
			{Rel: "alternate", Type: "text/html", Href: base + "/history"},
		},
		Author: atomPerson{Name: author}, Gen: "Vigil",
	}
	for _, e := range entries {
		f.Entries = append(f.Entries, atomEntry{
			ID: e.id, Title: e.title,
			Updated: e.updated.UTC().Format(time.RFC3339), Published: e.published.UTC().Format(time.RFC3339),
			Link:     atomLink{Rel: "alternate", Type: "text/html", Href: e.link},
			Category: atomCategory{Term: e.category}, Content: atomText{Type: "text", Body: e.text},
		})
	}
	return marshalFeed(f, "application/atom+xml; charset=utf-8")
}

type rssFeed struct {
	XMLName xml.Name   `xml:"rss"`
	Version string     `xml:"version,attr"`
	AtomNS  string     `xml:"xmlns:atom,attr"`
	Channel rssChannel `xml:"channel"`
}

type rssChannel struct {
	Title         string    `xml:"title"`
	Link          string    `xml:"link"`
	Description   string    `xml:"description"`
	Language      string    `xml:"language"`
	LastBuildDate string    `xml:"lastBuildDate"`
	Generator     string    `xml:"generator"`
	Self          rssSelf   `xml:"atom:link"`
	Items         []rssItem `xml:"item"`
}

type rssSelf struct {
	Href string `xml:"href,attr"`
	Rel  string `xml:"rel,attr"`
	Type string `xml:"type,attr"`
}

type rssItem struct {
	Title       string  `xml:"title"`
	Link        string  `xml:"link"`
	Description string  `xml:"description"`
	Category    string  `xml:"category"`
	PubDate     string  `xml:"pubDate"`
	GUID        rssGUID `xml:"guid"`
}

type rssGUID struct {
	IsPermaLink string `xml:"isPermaLink,attr"`
	Value       string `xml:",chardata"`
}

// renderRSS is the view of GET /history.rss.
func renderRSS(site *siteConfig, snap *messages.Snapshot, _ time.Time) ([]byte, string, error) {
	base := feedBase(site)
	entries := feedEntries(snap.History, base)
	f := rssFeed{Version: "2.0", AtomNS: "http://www.w3.org/2005/Atom", Channel: rssChannel{
		Title: feedTitle(site), Link: base + "/history",
		Description:   "Incidents and announcements of the last 90 days",
		Language:      "en",
		LastBuildDate: feedUpdated(snap.History, entries).UTC().Format(time.RFC1123Z),
		Generator:     "Vigil",
		Self:          rssSelf{Href: base + "/history.rss", Rel: "self", Type: "application/rss+xml"},
	}}
	for _, e := range entries {
		f.Channel.Items = append(f.Channel.Items, rssItem{
			Title: e.title, Link: e.link, Description: e.text, Category: e.category,
			PubDate: e.published.UTC().Format(time.RFC1123Z),
			GUID:    rssGUID{IsPermaLink: "false", Value: e.id},
		})
	}
	return marshalFeed(f, "application/rss+xml; charset=utf-8")
}

func marshalFeed(f any, contentType string) ([]byte, string, error) {
	body, err := xml.MarshalIndent(f, "", " ")
	if err != nil {
		return nil, "", err
	}
	out := make([]byte, 0, len(xml.Header)+len(body)+1)
	out = append(append(append(out, xml.Header...), body...), '\n')
	return out, contentType, nil
}
