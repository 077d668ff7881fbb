package httpapi

import (
	"bytes"
	"encoding/xml"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/mmcdole/gofeed"

	"github.com/vigil-go/vigil/messages"
)

// The feeds are read back with a feed parser (gofeed), which must find the
// same entries, and checked against the specifications' required elements
// directly: Atom (RFC 4287) feed id, title, updated, author, self link,
// entry id, title, updated; RSS 2.0 channel title, link, description, item
// guid; dates in RFC 3339 (Atom) and RFC 1123 with a numeric zone (RSS).

// atomDoc and rssDoc are the feeds as XML, for the structural checks.
type atomDoc struct {
	XMLName xml.Name `xml:"http://www.w3.org/2005/Atom feed"`
	ID      string   `xml:"id"`
	Title   string   `xml:"title"`
	Updated string   `xml:"updated"`
	Author  []struct {
		Name string `xml:"name"`
	} `xml:"author"`
	Links []struct {
		Rel  string `xml:"rel,attr"`
		Href string `xml:"href,attr"`
	} `xml:"link"`
	Entries []struct {
		ID        string `xml:"id"`
		Title     string `xml:"title"`
		Updated   string `xml:"updated"`
		Published string `xml:"published"`
		Link      struct {
			Href string `xml:"href,attr"`
		} `xml:"link"`
		Content string `xml:"content"`
	} `xml:"entry"`
}

type rssDoc struct {
	XMLName xml.Name `xml:"rss"`
	Version string   `xml:"version,attr"`
	Channel struct {
		Title         string `xml:"title"`
		Description   string `xml:"description"`
		LastBuildDate string `xml:"lastBuildDate"`
		// Links are the RSS link and the Atom self link (by namespace).
		Links []struct {
			XMLName xml.Name
			Href    string `xml:"href,attr"`
			Rel     string `xml:"rel,attr"`
			Value   string `xml:",chardata"`
		} `xml:"link"`
		Items []struct {
			Title       string `xml:"title"`
			Link        string `xml:"link"`
			Description string `xml:"description"`
			PubDate     string `xml:"pubDate"`
			GUID        struct {
				IsPermaLink string `xml:"isPermaLink,attr"`
				Value       string `xml:",chardata"`
			} `xml:"guid"`
		} `xml:"item"`
	} `xml:"channel"`
}

func getFeed(t *testing.T, h http.Handler, path, contentType string) []byte {
	t.Helper()
	rec := do(t, h, http.MethodGet, path)
	if rec.Code != 200 || rec.Header().Get("Content-Type") != contentType {
		t.Fatalf("GET %s: %d %s", path, rec.Code, rec.Header().Get("Content-Type"))
	}
	return rec.Body.Bytes()
}

func TestFeeds(t *testing.T) {
	snap := historySnapshot()
	hist := snap.History
	h := pageServer(fixedSnapshots{snap}, testBranding()).Handler()
	atomBody := getFeed(t, h, "/history.atom", "application/atom+xml; charset=utf-8")
	rssBody := getFeed(t, h, "/history.rss", "application/rss+xml; charset=utf-8")
	entries := len(hist.Incidents) + len(hist.Announcements)

	// A feed parser reads both, with every entry.
	for name, body := range map[string][]byte{"atom": atomBody, "rss": rssBody} {
		f, err := gofeed.NewParser().Parse(bytes.NewReader(body))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if f.FeedType != name || f.Title != "Acme Status: incidents and announcements" || len(f.Items) != entries {
			t.Fatalf("%s: type %s, title %q, %d items (want %d)", name, f.FeedType, f.Title, len(f.Items), entries)
		}
		if f.UpdatedParsed == nil || !f.UpdatedParsed.Equal(time.Date(2026, 11, 30, 16, 7, 0, 0, time.UTC)) {
			t.Errorf("%s: updated %v", name, f.UpdatedParsed)
		}
		first := f.Items[0]
		if first.Title != "Outage: Payments (ongoing)" || first.Link != "https://status.example.com/history#"+incidentAnchor(&hist.Incidents[0]) ||
			first.PublishedParsed == nil || !first.PublishedParsed.Equal(hist.Incidents[0].Start) ||
			!strings.Contains(first.Description+first.Content, "Outage of Payments since 30 Nov 2026, 16:07 UTC, ongoing. Affected: Card processing.") {
			t.Errorf("%s: first item %+v", name, first)
		}
		var withdrawn *gofeed.Item
		for _, it := range f.Items {
			if strings.HasPrefix(it.Title, "Scheduled database maintenance") {
				withdrawn = it
			}
		}
		if withdrawn == nil || withdrawn.Title != "Scheduled database maintenance (withdrawn)" ||
			!strings.Contains(withdrawn.Description+withdrawn.Content, "Withdrawn 20 Nov 2026, 03:00 UTC.") {
			t.Errorf("%s: withdrawn announcement %+v", name, withdrawn)
		}
		for i := 1; i < len(f.Items); i++ {
			if f.Items[i].PublishedParsed.After(*f.Items[i-1].PublishedParsed) {
				t.Errorf("%s: items not newest first at %d", name, i)
			}
		}
	}

	// Atom, element by element.
	var a atomDoc
	if err := xml.Unmarshal(atomBody, &a); err != nil {
		t.Fatal(err)
	}
	if a.ID != "https://status.example.com/history" || a.Title == "" || len(a.Author) != 1 || a.Author[0].Name != "Acme Inc." {
		t.Errorf("atom feed: %q %q %v", a.ID, a.Title, a.Author)
	}
	rfc3339 := func(what, s string) {
		if ts, err := time.Parse(time.RFC3339, s); err != nil || ts.Location() != time.UTC {
			t.Errorf("%s %q is not RFC 3339 in UTC: %v", what, s, err)
		}
	}
	rfc3339("feed updated", a.Updated)
	if len(a.Links) != 2 || a.Links[0].Rel != "self" || a.Links[0].Href != "https://status.example.com/history.atom" {
		t.Errorf("atom links %+v", a.Links)
	}
	ids := map[string]bool{}
	for _, e := range a.Entries {
		if !strings.HasPrefix(e.ID, "urn:uuid:") || ids[e.ID] || e.Title == "" || e.Content == "" {
			t.Errorf("atom entry %+v", e)
		}
		ids[e.ID] = true
		rfc3339("entry updated", e.Updated)
		rfc3339("entry published", e.Published)
		if e.Updated < e.Published {
			t.Errorf("entry %s updated before published", e.ID)
		}
	}
	if !ids["urn:uuid:"+hist.Announcements[1].ID] {
		t.Error("an announcement's own UUID is not its entry id")
	}

	// RSS, element by element.
	var r rssDoc
	if err := xml.Unmarshal(rssBody, &r); err != nil {
		t.Fatal(err)
	}
	c := r.Channel
	if r.Version != "2.0" || c.Title == "" || c.Description == "" || len(c.Items) != entries || len(c.Links) != 2 ||
		c.Links[0].XMLName.Space != "" || c.Links[0].Value != "https://status.example.com/history" ||
		c.Links[1].XMLName.Space != "http://www.w3.org/2005/Atom" || c.Links[1].Rel != "self" || c.Links[1].Href != "https://status.example.com/history.rss" {
		t.Errorf("rss channel %+v", c)
	}
	rfc1123z := func(what, s string) {
		if _, err := time.Parse(time.RFC1123Z, s); err != nil {
			t.Errorf("%s %q is not RFC 1123 with a numeric zone: %v", what, s, err)
		}
	}
	rfc1123z("lastBuildDate", c.LastBuildDate)
	for i, it := range c.Items {
		rfc1123z("pubDate", it.PubDate)
		if it.GUID.IsPermaLink != "false" || it.GUID.Value != a.Entries[i].ID || it.Title == "" || it.Link == "" {
			t.Errorf("rss item %+v", it)
		}
	}

	// A rebuild of the same history (later, ids and entries unchanged)
	// keeps every id, and the bytes when nothing changed.
	later := historyFor(incidentSnapshot(historyNow), historyNow)
	later.Built = historyNow.Add(time.Minute)
	snap2 := incidentSnapshot(historyNow)
	snap2.History = later
	h2 := pageServer(fixedSnapshots{snap2}, testBranding()).Handler()
	var a2 atomDoc
	if err := xml.Unmarshal(getFeed(t, h2, "/history.atom", "application/atom+xml; charset=utf-8"), &a2); err != nil {
		t.Fatal(err)
	}
	for i := range a.Entries {
		if a2.Entries[i].ID != a.Entries[i].ID {
			t.Errorf("entry %d: id %s, then %s", i, a.Entries[i].ID, a2.Entries[i].ID)
		}
	}
	if !bytes.Equal(getFeed(t, h2, "/history.rss", "application/rss+xml; charset=utf-8"), rssBody) {
		t.Error("the same incidents gave another RSS feed")
	}

	// An incident that ends keeps its id; its entry is updated.
	ended := historyFor(incidentSnapshot(historyNow), historyNow)
	ended.Incidents[0].End = historyNow
	snap3 := incidentSnapshot(historyNow)
	snap3.History = ended
	var a3 atomDoc
	if err := xml.Unmarshal(getFeed(t, pageServer(fixedSnapshots{snap3}, testBranding()).Handler(), "/history.atom", "application/atom+xml; charset=utf-8"), &a3); err != nil {
		t.Fatal(err)
	}
	if e := a3.Entries[0]; e.ID != a.Entries[0].ID || e.Updated != "2026-11-30T16:20:00Z" || e.Title != "Outage: Payments (resolved)" || a3.Updated != e.Updated {
		t.Errorf("ended incident: %+v (feed updated %s)", e, a3.Updated)
	}
}

// TestFeedsWithoutHistory: before the first history, both feeds are valid
// and empty.
func TestFeedsWithoutHistory(t *testing.T) {
	h := pageServer(fixedSnapshots{&messages.Snapshot{}}, testBranding()).Handler()
	for _, p := range []string{"/history.atom", "/history.rss"} {
		rec := do(t, h, http.MethodGet, p)
		f, err := gofeed.NewParser().Parse(bytes.NewReader(rec.Body.Bytes()))
		if rec.Code != 200 || err != nil || len(f.Items) != 0 || f.Title == "" {
			t.Fatalf("%s: %d %v %+v", p, rec.Code, err, f)
		}
	}
}
