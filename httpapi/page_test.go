package httpapi

import (
	"bytes"
	"encoding/xml"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigil-go/vigil/config"
	"github.com/vigil-go/vigil/messages"
)

// swapSnapshots is a Snapshots whose snapshot a test can replace.
type swapSnapshots struct {
	p atomic.Pointer[messages.Snapshot]
}

func (s *swapSnapshots) Latest() *messages.Snapshot { return s.p.Load() }

func newSwapSnapshots(s *messages.Snapshot) *swapSnapshots {
	h := &swapSnapshots{}
	h.p.Store(s)
	return h
}

func testBranding() config.Branding {
	return config.Branding{
		PageTitle: "Acme Status", PageURL: "https://status.example.com/", CompanyName: "Acme Inc.",
		IconColor: "#112233", IconURL: "https://cdn.example.com/icon.svg", LogoColor: "#1972F5",
		LogoURL: "https://cdn.example.com/logo.svg", WebsiteURL: "https://example.com/",
		SupportURL: "mailto:support@example.com",
	}
}

func pageServer(snaps Snapshots, b config.Branding) *Server {
	return New(Options{Addr: "127.0.0.1:0", Snapshots: snaps, Branding: b, Version: "1.2.3",
		Page: Page{Title: b.PageTitle, URL: b.PageURL}, Logger: slog.New(slog.DiscardHandler)})
}

// pageSnapshot has two services covering every replica mode and metric.
func pageSnapshot(general messages.Status) *messages.Snapshot {
	return &messages.Snapshot{
		Generation: 7, Status: general,
		Refreshed: time.Date(2025, 7, 4, 8, 58, 28, 0, time.UTC),
		Probes: []messages.ProbeSnapshot{
			{ID: "web", Label: "Web", Status: messages.Sick, Nodes: []*messages.NodeSnapshot{
				{ID: "api", Label: "API", Mode: "poll", Status: messages.Sick, RevealReplicaName: true,
					LinkURL: "https://api.example.com/", LinkLabel: "API docs",
					Replicas: []messages.ReplicaSnapshot{
						{ID: "https://a.example.com/health", Status: messages.Healthy, HasLatency: true, Latency: 0},
						{ID: "tcp://b.example.com:443", Status: messages.Sick, HasLatency: true,
							Latency: 1234 * time.Millisecond, Err: "took 1234ms, above 1000ms"},
					}},
				{ID: "cdn", Label: "CDN", Mode: "script", Status: messages.Healthy, LinkURL: "https://cdn.example.com/",
					Replicas: []messages.ReplicaSnapshot{{ID: "check-cdn.sh", Status: messages.Healthy, Err: "old failure"}}},
			}},
			{ID: "relay", Label: "Relay", Status: messages.Dead, Nodes: []*messages.NodeSnapshot{
				{ID: "socket", Label: "Socket", Mode: "push", Status: messages.Dead, Replicas: []messages.ReplicaSnapshot{
					{ID: "10.0.0.1", Status: messages.Healthy, Load: &messages.Load{CPU: 0.3, RAM: 0.804}},
					{ID: "10.0.0.2", Status: messages.Dead, Load: &messages.Load{CPU: 1.25, RAM: 0.5},
						Queue: &messages.Queue{Ready: 5, Unacked: 2}, Err: "no report for 60s"},
				}},
				{ID: "gateway", Label: "Gateway", Mode: "local", Status: messages.Healthy},
			}},
		},
	}
}

func getPage(t *testing.T, h http.Handler) string {
	t.Helper()
	rec := do(t, h, http.MethodGet, "/")
	if rec.Code != http.StatusOK {
		t.Fatalf("GET /: %d %s", rec.Code, rec.Body.String())
	}
	return rec.Body.String()
}

func mustContain(t *testing.T, body string, wants ...string) {
	t.Helper()
	for _, w := range wants {
		if !strings.Contains(body, w) {
			t.Errorf("page lacks %q", w)
		}
	}
}

func mustNotContain(t *testing.T, body string, nots ...string) {
	t.Helper()
	for _, n := range nots {
		if strings.Contains(body, n) {
			t.Errorf("page contains %q", n)
		}
	}
}

func TestPageStructurePerStatus(t *testing.T) {
	for _, tc := range []struct {
		status           messages.Status
		headline, advice string
	}{
		{messages.Healthy, "All systems operational", "No problem is detected at the moment."},
		{messages.Sick, "Some services are degraded", "You may notice delays until this is resolved."},
		{messages.Dead, "Service disruption in progress", "Our team has been alerted and is working on it."},
	} {
		t.Run(tc.status.String(), func(t *testing.T) {
			rec := do(t, pageServer(fixedSnapshots{pageSnapshot(tc.status)}, testBranding()).Handler(), http.MethodGet, "/")
			body := rec.Body.String()
			if rec.Code != 200 {
				t.Fatalf("status %d", rec.Code)
			}
			if ct := rec.Header().Get("Content-Type"); ct != "text/html; charset=utf-8" {
				t.Errorf("content type %q", ct)
			}
			if n := strings.Count(body, "<aside"); n != 1 {
				t.Errorf("%d <aside> elements", n)
			}
			if n := strings.Count(body, "<main"); n != 1 {
				t.Errorf("%d <main> elements", n)
			}
			s := tc.status.String()
			mustContain(t, body,
				`window.STATUS_GENERAL = "`+s+`";`,
				`<aside class="status-`+s+`-background banner" aria-label="Current status">`,
				"<h1>"+tc.headline+"</h1>",
				`data-status="`+s+`" data-generation="7"`,
				`<section class="card general status-`+s+`">`,
				"<p>"+tc.advice,
				`<a href="mailto:support@example.com">Contact our support team</a>`,
				`<title>Acme Status</title>`,
				`<meta name="description" content="`+tc.headline+`. Live status of the services of Acme Inc., checked around the clock.">`,
				`href="/assets/stylesheets/status.css?v=1.2.3"`,
				`src="/assets/javascripts/status.js?v=1.2.3"`,
				`<meta name="viewport" content="width=device-width, initial-scale=1">`,
				`<link rel="icon" href="https://cdn.example.com/icon.svg" type="image/svg+xml">`,
				`<link rel="apple-touch-icon" href="https://cdn.example.com/icon.svg" type="image/svg+xml">`,
				`<meta name="msapplication-TileColor" content="#112233">`,
				`<meta name="msapplication-TileImage" content="https://cdn.example.com/icon.svg">`,
				`<meta property="og:image" content="https://cdn.example.com/icon.svg">`,
				`<a class="brand" href="/"><img class="brand-logo" src="https://cdn.example.com/logo.svg" alt="Acme Inc."`,
				`onerror="this.parentNode.classList.add('no-logo')"><span class="brand-name">Acme Inc.</span>`,
				`<a class="btn btn-solid" href="mailto:support@example.com" style="background-color: #1972F5; color: #ffffff">`,
				`<a class="btn btn-ghost" href="https://example.com/" target="_blank" rel="noopener">`,
				`<span>Contact support</span>`, `<span>Go to website</span>`,
				`<p class="refreshed">refreshed <time datetime="2025-07-04T08:58:28Z">08:58:28 UTC</time></p>`,
				"powered by <a href=\"https://github.com/vigil-go/vigil\"",
			)
			mustNotContain(t, body, "not yet refreshed", "announcement-preceding", `class="card announcements"`,
				"UTC+00:00", "<h4", "<h3")
		})
	}
}

func TestPageNotYetRefreshed(t *testing.T) {
	snap := pageSnapshot(messages.Healthy)
	snap.Refreshed = time.Time{}
	body := getPage(t, pageServer(fixedSnapshots{snap}, testBranding()).Handler())
	mustContain(t, body, `<p class="refreshed">not yet refreshed</p>`)
	mustNotContain(t, body, "refreshed <time")
}

func TestPageServicesNodesReplicas(t *testing.T) {
	body := getPage(t, pageServer(fixedSnapshots{pageSnapshot(messages.Dead)}, testBranding()).Handler())
	mustContain(t, body,
		// the banner names both affected services, in store order
		`<p class="affected">Affected: <a href="#probe-web">Web</a>, <a href="#probe-relay">Relay</a></p>`,
		// services, anchors, status classes and words
		`<section class="card service sick">`+"\n"+`<div class="service-head"><h2><a href="#probe-web" id="probe-web">Web</a></h2><span class="pill">Degraded</span></div>`,
		`<section class="card service dead">`+"\n"+`<div class="service-head"><h2><a href="#probe-relay" id="probe-relay">Relay</a></h2><span class="pill">Outage</span></div>`,
		// a degraded node: link, words, replicas numbered 1..n; the
		// healthy one carries its class, the sick one takes its node's;
		// reveal_replica_name; latency also when 0; the error
		`<li class="sick"><p>API<a class="link" href="https://api.example.com/">API docs</a></p><span>Degraded</span>`+
			`<ol class="poll"><li class="healthy" tabindex="0">1<span><code>https://a.example.com/health</code>Latency 0 ms</span></li>`+
			`<li tabindex="0">2<span><code>tcp://b.example.com:443</code>Latency 1234 ms<em>took 1234ms, above 1000ms</em></span></li></ol></li>`,
		// a healthy script node linked by its URL; a healthy replica's old
		// error is not shown
		`<li class="healthy"><p>CDN<a class="link" href="https://cdn.example.com/">https://cdn.example.com/</a></p><span>Operational</span>`+
			`<ol class="script"><li tabindex="0">1<span></span></li></ol></li>`,
		// a push node: load, memory (rounded) and queue counts
		`<li class="dead"><p>Socket</p><span>Down</span><ol class="push"><li class="healthy" tabindex="0">1<span>Load 30% · Memory 80%</span></li>`+
			`<li tabindex="0">2<span>Load 125% · Memory 50% · Queue 5 ready, 2 unacked<em>no report for 60s</em></span></li></ol></li>`,
		// a local node that never reported: no data, not healthy
		`<li class="nodata"><p>Gateway</p><span>No data</span><p class="empty">Waiting for a first report from Vigil Local.</p></li>`,
	)
	mustNotContain(t, body,
		"check-cdn.sh", "10.0.0.1", "10.0.0.2", // reveal_replica_name off
		"old failure", // error text of a healthy replica
		"<details",    // small services are not folded
	)
	// Both services are affected: store order.
	if strings.Index(body, `id="probe-web"`) > strings.Index(body, `id="probe-relay"`) {
		t.Error("services out of order")
	}
}

// sectionOrder returns the service ids in page order.
func sectionOrder(body string) []string {
	var ids []string
	for _, m := range regexp.MustCompile(`<h2><a href="#probe-([^"]+)"`).FindAllStringSubmatch(body, -1) {
		ids = append(ids, m[1])
	}
	return ids
}

func TestPageIncidentLayout(t *testing.T) {
	body := getPage(t, pageServer(fixedSnapshots{incidentSnapshot(time.Date(2025, 7, 4, 4, 15, 15, 0, time.UTC))}, testBranding()).Handler())
	// Affected services first (store order among them), then the others.
	if got := strings.Join(sectionOrder(body), " "); got != "payments edge web relay internal" {
		t.Errorf("service order %q", got)
	}
	mustContain(t, body,
		`<h1>Service disruption in progress</h1>`+"\n"+
			`<p class="affected">Affected: <a href="#probe-payments">Payments</a>, <a href="#probe-edge">Edge network</a></p>`+"\n"+
			`<p class="refreshed">refreshed <time datetime="2025-07-04T04:15:15Z">04:15:15 UTC</time></p>`,
		// The large service shows its degraded node, then folds the rest.
		`<ul class="nodes">`+"\n"+`<li class="sick"><p>Frankfurt</p><span>Degraded</span>`,
		`</ul>`+"\n"+`<details class="fold"><summary>23 other nodes operational</summary>`+"\n"+`<ul class="nodes">`+"\n"+`<li class="healthy"><p>Amsterdam</p>`,
		// The failing node comes before the healthy one of its service.
		`<li class="dead"><p>Card processing</p><span>Down</span>`,
		// A healthy replica whose queue could not be read says so, and shows
		// no made-up counts.
		`<li tabindex="0">1<span>Load 27% · Memory 58%<em>RabbitMQ queue not read: queue check: 503 Service Unavailable</em></span></li>`,
		// A push node that never reported.
		`<li class="nodata"><p>Mail relay</p><span>No data</span><p class="empty">Waiting for a first report from Vigil Reporter.</p></li>`,
		// Announcement: its own heading level below the page's.
		`<h2 class="pill pill-accent">`, `<h3>Checkout errors under investigation</h3>`,
		`<p class="meta">Published <time datetime="2025-07-04T04:09:00Z">4 Jul 2025, 04:09 UTC</time></p>`,
	)
	mustNotContain(t, body, "Queue 0 ready")
	if i, j := strings.Index(body, "Card processing"), strings.Index(body, "Payment webhooks"); i > j {
		t.Error("failing node after a healthy one")
	}
	// The internal tools service has data from one node: still operational.
	mustContain(t, body, `id="probe-internal">Internal tools</a></h2><span class="pill">Operational</span>`)
}

func TestPageAffectedServicesNamedAtMost(t *testing.T) {
	snap := &messages.Snapshot{Generation: 1, Status: messages.Sick}
	for i := range 7 {
		st := messages.Sick
		if i == 2 {
			st = messages.Healthy
		}
		snap.Probes = append(snap.Probes, messages.ProbeSnapshot{ID: fmt.Sprintf("s%d", i), Label: fmt.Sprintf("S%d", i), Status: st,
			Nodes: []*messages.NodeSnapshot{{ID: "n", Label: "N", Status: st, Replicas: []messages.ReplicaSnapshot{{ID: "r", Status: st}}}}})
	}
	body := getPage(t, pageServer(fixedSnapshots{snap}, testBranding()).Handler())
	mustContain(t, body, `Affected: <a href="#probe-s0">S0</a>, <a href="#probe-s1">S1</a>, <a href="#probe-s3">S3</a>, <a href="#probe-s4">S4</a> and 2 more</p>`)
	if got := strings.Join(sectionOrder(body), " "); got != "s0 s1 s3 s4 s5 s6 s2" {
		t.Errorf("service order %q", got)
	}
}

func TestPageFolding(t *testing.T) {
	nodes := func(healthy, noData, sick int) []*messages.NodeSnapshot {
		var ns []*messages.NodeSnapshot
		add := func(k int, st messages.Status, mode string, reps int) {
			for i := range k {
				n := &messages.NodeSnapshot{ID: fmt.Sprintf("%s%d", mode, i), Label: fmt.Sprintf("%s-%s-%d", st, mode, i), Mode: mode, Status: st}
				for range reps {
					n.Replicas = append(n.Replicas, messages.ReplicaSnapshot{ID: "r", Status: st})
				}
				ns = append(ns, n)
			}
		}
		add(healthy, messages.Healthy, "poll", 1)
		add(noData, messages.Healthy, "push", 0)
		add(sick, messages.Sick, "script", 1)
		return ns
	}
	for _, tc := range []struct {
		name                string
		healthy, noData, ok int
		sick                int
		pill, summary       string
	}{
		{name: "small", healthy: foldAbove, pill: "Operational"},
		{name: "large", healthy: foldAbove + 1, pill: "Operational", summary: "All 9 nodes operational"},
		{name: "after failing", healthy: 10, sick: 2, pill: "Degraded", summary: "10 other nodes operational"},
		{name: "mixed", healthy: 7, noData: 3, pill: "Operational", summary: "10 nodes: 7 operational, 3 without data"},
		{name: "mixed after failing", healthy: 7, noData: 3, sick: 1, pill: "Degraded", summary: "10 other nodes: 7 operational, 3 without data"},
		{name: "no data", noData: 12, pill: "No data", summary: "All 12 nodes without data"},
		{name: "small no data", noData: 2, pill: "No data"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			st := messages.Healthy
			if tc.sick > 0 {
				st = messages.Sick
			}
			snap := &messages.Snapshot{Generation: 1, Status: st, Probes: []messages.ProbeSnapshot{
				{ID: "p", Label: "P", Status: st, Nodes: nodes(tc.healthy, tc.noData, tc.sick)}}}
			body := getPage(t, pageServer(fixedSnapshots{snap}, testBranding()).Handler())
			mustContain(t, body, `<span class="pill">`+tc.pill+`</span>`)
			if tc.summary == "" {
				mustNotContain(t, body, "<details")
				return
			}
			mustContain(t, body, `<details class="fold"><summary>`+tc.summary+`</summary>`)
			// Failing nodes are shown, the others folded.
			folded := body[strings.Index(body, "<details"):]
			if tc.sick > 0 && (strings.Contains(folded, `<li class="sick">`) || !strings.Contains(body, `<li class="sick">`)) {
				t.Error("a failing node is folded")
			}
			if n := strings.Count(folded, `<li class="healthy">`) + strings.Count(folded, `<li class="nodata">`); n != tc.healthy+tc.noData {
				t.Errorf("%d nodes folded, want %d", n, tc.healthy+tc.noData)
			}
		})
	}
}

func TestInkOn(t *testing.T) {
	for c, want := range map[string]string{
		"#1972F5": "#ffffff", "#1d4ed8": "#ffffff", "#000": "#ffffff", " #c81e1e ": "#ffffff",
		"#ffffff": "#111827", "#FFD400": "#111827", "#fe0": "#111827", "#ffd400cc": "#111827", "#7dd3fc": "#111827",
		"rebeccapurple": "#ffffff", "rgb(255,255,255)": "#ffffff", "#12345": "#ffffff", "#ggg": "#ffffff", "": "#ffffff",
	} {
		if got := inkOn(c); got != want {
			t.Errorf("inkOn(%q) = %s, want %s", c, got, want)
		}
	}
	b := testBranding()
	b.LogoColor = "#FFD400"
	body := getPage(t, pageServer(fixedSnapshots{pageSnapshot(messages.Healthy)}, b).Handler())
	mustContain(t, body, `style="background-color: #FFD400; color: #111827"`)
}

func TestPageAnnouncements(t *testing.T) {
	snap := pageSnapshot(messages.Healthy)
	snap.Announcements = []messages.Announcement{
		{ID: "1", Title: "Older notice", Text: "line1\nline2", Date: time.Date(2025, 7, 4, 16, 30, 0, 0, time.UTC)},
		{ID: "2", Title: "Newer notice", Text: "a\r\nb\n\nc", Date: time.Date(2025, 12, 25, 9, 5, 7, 0, time.UTC)},
	}
	body := getPage(t, pageServer(fixedSnapshots{snap}, testBranding()).Handler())
	mustContain(t, body,
		`class="card general status-healthy announcement-preceding"`,
		`<section class="card announcements" aria-label="Announcements">`,
		`</svg>Announcements</h2>`,
		"<h3>Older notice</h3>", "<p>line1<br>line2</p>",
		`Published <time datetime="2025-07-04T16:30:00Z">4 Jul 2025, 16:30 UTC</time>`,
		"<h3>Newer notice</h3>", "<p>a<br>b<br><br>c</p>",
		`Published <time datetime="2025-12-25T09:05:07Z">25 Dec 2025, 09:05 UTC</time>`,
	)
	if strings.Index(body, "Newer notice") > strings.Index(body, "Older notice") {
		t.Error("announcements must be newest first")
	}
}

func TestPageEscaping(t *testing.T) {
	const xss = `<script>alert(1)</script>`
	const escaped = `&lt;script&gt;alert(1)&lt;/script&gt;`
	snap := &messages.Snapshot{Generation: 1, Status: messages.Sick,
		Probes: []messages.ProbeSnapshot{{ID: `p"><script>alert(1)</script>`, Label: xss, Status: messages.Sick,
			Nodes: []*messages.NodeSnapshot{
				{ID: "n", Label: xss, Mode: "push", Status: messages.Sick, RevealReplicaName: true,
					LinkURL: "https://example.com/?q=<script>alert(1)</script>", LinkLabel: xss,
					Replicas: []messages.ReplicaSnapshot{{ID: xss, Status: messages.Sick, Err: xss}}},
				{ID: "m", Label: "js link", LinkURL: "javascript:alert(1)"},
				{ID: "o", Label: "tab js link", LinkURL: " java\tscript:alert(2)"},
			}}},
		Announcements: []messages.Announcement{{ID: "a", Title: xss, Text: xss + "\n" + xss}},
	}
	b := testBranding()
	b.PageTitle = xss
	b.CompanyName = xss
	b.CustomHTML = `<script>window.CUSTOM = 1;</script>`
	body := getPage(t, pageServer(fixedSnapshots{snap}, b).Handler())
	if strings.Contains(body, xss) {
		i := strings.Index(body, xss)
		t.Fatalf("unescaped payload at %d: …%s…", i, body[max(0, i-200):i+len(xss)])
	}
	mustContain(t, body,
		`<script>window.CUSTOM = 1;</script>`+"\n</head>", // custom_html raw, at the end of <head>
		"<title>"+escaped+"</title>",
		"<h3>"+escaped+"</h3>",
		"<p>"+escaped+"<br>"+escaped+"</p>",
		`<code>`+escaped+`</code>`,
		`<em>`+escaped+`</em>`,
		`<p>`+escaped+`<a class="link"`,
		`<h2><a href="#probe-p%22%3e%3cscript%3ealert%281%29%3c%2fscript%3e" id="probe-p&#34;&gt;&lt;script&gt;alert(1)&lt;/script&gt;">`+escaped+`</a></h2>`,
		fmt.Sprintf("<p>© %d %s</p>", time.Now().UTC().Year(), escaped),
	)
	mustNotContain(t, body, `href="javascript:`, `href=" java`, `href="%20java`)
	if n := strings.Count(body, `href="#ZgotmplZ"`); n != 2 {
		t.Errorf("%d neutralised links, want 2", n)
	}
}

func TestPageColourAndURLSanitising(t *testing.T) {
	for _, tc := range []struct{ colour, want string }{
		{"#1972F5", `style="background-color: #1972F5; color: #ffffff"`},
		{"rebeccapurple", `style="background-color: rebeccapurple; color: #ffffff"`},
		{"rgb(25, 114, 245)", `style="background-color: rgb(25, 114, 245); color: #ffffff"`},
		{"red; background-image: url(https://evil/)", `style="background-color: ZgotmplZ; color: #ffffff"`},
		{`red" onmouseover="alert(1)`, `style="background-color: ZgotmplZ; color: #ffffff"`},
		{"expression(alert(1))", `style="background-color: ZgotmplZ; color: #ffffff"`},
	} {
		b := testBranding()
		b.LogoColor = tc.colour
		body := getPage(t, pageServer(fixedSnapshots{pageSnapshot(messages.Healthy)}, b).Handler())
		if !strings.Contains(body, tc.want) {
			i := strings.Index(body, "btn-solid")
			t.Errorf("colour %q: want %s in %s", tc.colour, tc.want, body[i:i+160])
		}
	}
	for _, tc := range []struct {
		url  string
		safe bool
	}{
		{"https://example.com/support", true}, {"mailto:help@example.com", true}, {"tel:+123456", true},
		{"/support", true}, {"support?x=1:2", true},
		{"javascript:alert(1)", false}, {"JavaScript:alert(1)", false}, {"\x01java\nscript:alert(1)", false},
		{"vbscript:x", false}, {"data:text/html,<script>", false},
	} {
		_, isURL := trustedURL(tc.url).(template.URL)
		if isURL != tc.safe {
			t.Errorf("trustedURL(%q) trusted=%v, want %v", tc.url, isURL, tc.safe)
		}
	}
}

func TestIconMIME(t *testing.T) {
	for in, want := range map[string]string{
		"https://x/icon.svg": "image/svg+xml", "https://x/icon.SVG": "image/svg+xml",
		"https://x/icon.png": "image/png", "https://x/icon.jpg": "image/jpeg",
		"https://x/icon.jpeg?x=1": "image/jpeg", "https://x/icon.webp": "image/webp",
		"https://x/icon.gif#frag": "image/gif", "https://x/favicon.ico": "image/x-icon",
		"https://x/icon": "image/png", "https://x/icon.svg.txt?v=.svg": "image/png", "https://x/i.php?f=a.svg": "image/png",
	} {
		if got := iconMIME(in); got != want {
			t.Errorf("iconMIME(%q) = %q, want %q", in, got, want)
		}
	}
	b := testBranding()
	b.IconURL = "https://cdn.example.com/icon.jpeg?x=1"
	body := getPage(t, pageServer(fixedSnapshots{pageSnapshot(messages.Healthy)}, b).Handler())
	mustContain(t, body, `<link rel="icon" href="https://cdn.example.com/icon.jpeg?x=1" type="image/jpeg">`)
}

func TestPageFooterYear(t *testing.T) {
	body := getPage(t, pageServer(fixedSnapshots{pageSnapshot(messages.Healthy)}, testBranding()).Handler())
	mustContain(t, body, fmt.Sprintf("<p>© %d Acme Inc.</p>", time.Now().UTC().Year()))
}

func TestPageCachePerGeneration(t *testing.T) {
	holder := newSwapSnapshots(pageSnapshot(messages.Sick))
	s := pageServer(holder, testBranding())
	// No rendering on the cadence: only the first one and those a read
	// must wait for.
	s.views.every = time.Hour
	h := s.Handler()
	first := getPage(t, h)
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			for range 25 {
				rec := httptest.NewRecorder()
				h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil))
				if rec.Body.String() != first {
					t.Error("same generation served different bytes")
					return
				}
			}
		})
	}
	wg.Wait()
	if n := s.views.renders.Load(); n != 1 {
		t.Fatalf("%d renderings for one generation, want 1", n)
	}
	next := pageSnapshot(messages.Healthy)
	next.Generation = 8
	holder.p.Store(next)
	// A read that follows no write gets the current rendering at once.
	if getPage(t, h) != first || s.views.renders.Load() != 1 {
		t.Fatal("a request rendered the page")
	}
	showLatest(s)
	second := getPage(t, h)
	if second == first || !strings.Contains(second, `data-generation="8"`) {
		t.Fatal("new generation not rendered")
	}
	getPage(t, h)
	if n := s.views.renders.Load(); n != 2 {
		t.Fatalf("%d renderings after a new generation, want 2", n)
	}
}

func TestPageETag(t *testing.T) {
	holder := newSwapSnapshots(pageSnapshot(messages.Sick))
	s := pageServer(holder, testBranding())
	h := s.Handler()
	rec := do(t, h, http.MethodGet, "/")
	etag := rec.Header().Get("ETag")
	if etag == "" || !strings.HasPrefix(etag, `"`) || rec.Header().Get("Last-Modified") != "" || rec.Header().Get("Cache-Control") != cacheControl {
		t.Fatalf("headers %v", rec.Header())
	}
	for _, inm := range []string{etag, "W/" + etag, `"other", ` + etag, "*"} {
		req := httptest.NewRequest(http.MethodGet, "/", nil)
		req.Header.Set("If-None-Match", inm)
		rec := httptest.NewRecorder()
		h.ServeHTTP(rec, req)
		if rec.Code != http.StatusNotModified || rec.Body.Len() != 0 || rec.Header().Get("ETag") != etag {
			t.Fatalf("If-None-Match %s: %d %q", inm, rec.Code, rec.Body.String())
		}
	}
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req.Header.Set("If-None-Match", `"stale"`)
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != 200 {
		t.Fatalf("stale tag: %d", rec.Code)
	}
	next := pageSnapshot(messages.Sick)
	next.Generation = 99
	holder.p.Store(next)
	showLatest(s)
	req = httptest.NewRequest(http.MethodGet, "/", nil)
	req.Header.Set("If-None-Match", etag)
	rec = httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	if rec.Code != 200 || rec.Header().Get("ETag") == etag || !strings.Contains(rec.Body.String(), `data-generation="99"`) {
		t.Fatalf("new generation: %d %s", rec.Code, rec.Header().Get("ETag"))
	}
	// The revision on <main> is what the script sends back.
	rev := strings.Trim(rec.Header().Get("ETag"), `"`)
	mustContain(t, rec.Body.String(), `data-revision="`+rev+`"`)
}

func TestPageHEADAndPaths(t *testing.T) {
	h := pageServer(fixedSnapshots{pageSnapshot(messages.Healthy)}, testBranding()).Handler()
	full := getPage(t, h)
	rec := do(t, h, http.MethodHead, "/")
	if rec.Code != 200 || rec.Body.Len() != 0 || rec.Header().Get("Content-Length") != fmt.Sprint(len(full)) {
		t.Fatalf("HEAD: %d len=%d %v", rec.Code, rec.Body.Len(), rec.Header())
	}
	for _, p := range []string{"/?x=1", "//"} {
		if got := do(t, h, http.MethodGet, p).Body.String(); got != full {
			t.Fatalf("GET %s differs", p)
		}
	}
	if rec := do(t, h, http.MethodPost, "/"); rec.Code != 404 || rec.Body.Len() != 0 {
		t.Fatalf("POST /: %d", rec.Code)
	}
}

func TestPageTemplateError(t *testing.T) {
	s := pageServer(fixedSnapshots{pageSnapshot(messages.Healthy)}, testBranding())
	s.pageTmpl = template.Must(template.New("broken").Parse(`<p>{{.NoSuchField}}</p>`))
	rec := do(t, s.Handler(), http.MethodGet, "/")
	if rec.Code != 500 || !strings.HasPrefix(rec.Body.String(), "Template Error") {
		t.Fatalf("%d %q", rec.Code, rec.Body.String())
	}
	if ct := rec.Header().Get("Content-Type"); !strings.HasPrefix(ct, "text/plain") {
		t.Fatalf("content type %q", ct)
	}
}

func BenchmarkPageRender(b *testing.B) {
	snap := pageSnapshot(messages.Sick)
	for i := range 40 {
		p := snap.Probes[i%2]
		p.ID = fmt.Sprintf("svc-%d", i)
		snap.Probes = append(snap.Probes, p)
	}
	s := pageServer(fixedSnapshots{snap}, testBranding())
	now := time.Now()
	var buf bytes.Buffer
	b.ReportAllocs()
	for b.Loop() {
		buf.Reset()
		if err := s.pageTmpl.Execute(&buf, s.pageView(s.site.Load(), snap, now, "r")); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(buf.Len()), "bytes/page")
}

// incidentSnapshot is a page during an incident: a dead and a degraded
// service, a large service with one degraded node among many healthy ones,
// a push node that never reported, a healthy replica whose RabbitMQ queue
// could not be read, and an announcement.
func incidentSnapshot(refreshed time.Time) *messages.Snapshot {
	rep := func(id string, s messages.Status, ms int, err string) messages.ReplicaSnapshot {
		return messages.ReplicaSnapshot{ID: id, Status: s, HasLatency: true, Latency: time.Duration(ms) * time.Millisecond, Err: err}
	}
	push := func(id string, s messages.Status, cpu, ram float64, err string) messages.ReplicaSnapshot {
		return messages.ReplicaSnapshot{ID: id, Status: s, Load: &messages.Load{CPU: cpu, RAM: ram}, Err: err}
	}
	edge := make([]*messages.NodeSnapshot, 0, 24)
	for i, city := range []string{"Amsterdam", "Ashburn", "Atlanta", "Chicago", "Dallas", "Frankfurt", "Hong Kong",
		"Johannesburg", "London", "Los Angeles", "Madrid", "Miami", "Milan", "Mumbai", "New York", "Paris",
		"São Paulo", "Seattle", "Seoul", "Singapore", "Stockholm", "Sydney", "Tokyo", "Toronto"} {
		st, err := messages.Healthy, ""
		if city == "Frankfurt" {
			st, err = messages.Sick, "HTTP response took 1870ms (sick above 1500ms)"
		}
		edge = append(edge, &messages.NodeSnapshot{ID: fmt.Sprintf("pop-%d", i), Label: city, Mode: "poll", Status: st,
			Replicas: []messages.ReplicaSnapshot{rep(fmt.Sprintf("https://pop-%d.example.net/health", i), st, 40+i*7, err)}})
	}
	return &messages.Snapshot{
		Generation: 3, Status: messages.Dead, Refreshed: refreshed,
		Announcements: []messages.Announcement{{ID: "a1", Title: "Checkout errors under investigation",
			Text: "Some card payments fail since 04:02 UTC. We are working with our payment provider.\nNo payment is charged twice.",
			Date: time.Date(2025, 7, 4, 4, 9, 0, 0, time.UTC)}},
		Probes: []messages.ProbeSnapshot{
			{ID: "web", Label: "Website & API", Status: messages.Healthy, Nodes: []*messages.NodeSnapshot{
				{ID: "api", Label: "Public API", Mode: "poll", Status: messages.Healthy, RevealReplicaName: true,
					LinkURL: "https://example.com/docs", LinkLabel: "API documentation",
					Replicas: []messages.ReplicaSnapshot{rep("https://api-1.example.com/health", messages.Healthy, 184, ""),
						rep("https://api-2.example.com/health", messages.Healthy, 201, "")}},
				{ID: "site", Label: "Website", Mode: "poll", Status: messages.Healthy,
					Replicas: []messages.ReplicaSnapshot{rep("https://example.com/", messages.Healthy, 96, "")}},
			}},
			{ID: "payments", Label: "Payments", Status: messages.Dead, Nodes: []*messages.NodeSnapshot{
				{ID: "cards", Label: "Card processing", Mode: "poll", Status: messages.Dead,
					Replicas: []messages.ReplicaSnapshot{rep("https://pay-1.example.com/health", messages.Dead, 0, "connection refused"),
						rep("https://pay-2.example.com/health", messages.Healthy, 233, "")}},
				{ID: "webhooks", Label: "Payment webhooks", Mode: "push", Status: messages.Healthy,
					Replicas: []messages.ReplicaSnapshot{push("hooks-1", messages.Healthy, 0.31, 0.62, "")}},
			}},
			{ID: "edge", Label: "Edge network", Status: messages.Sick, Nodes: edge},
			{ID: "relay", Label: "Realtime relay", Status: messages.Healthy, Nodes: []*messages.NodeSnapshot{
				{ID: "socket", Label: "Socket servers", Mode: "push", Status: messages.Healthy, Replicas: []messages.ReplicaSnapshot{
					{ID: "10.0.0.1", Status: messages.Healthy, Load: &messages.Load{CPU: 0.27, RAM: 0.58},
						Queue: &messages.Queue{Err: "queue check: 503 Service Unavailable"}},
					push("10.0.0.2", messages.Healthy, 0.44, 0.71, ""),
				}},
			}},
			{ID: "internal", Label: "Internal tools", Status: messages.Healthy, Nodes: []*messages.NodeSnapshot{
				{ID: "backup", Label: "Backup jobs", Mode: "script", Status: messages.Healthy,
					Replicas: []messages.ReplicaSnapshot{rep("check-backups.sh", messages.Healthy, 912, "")}},
				{ID: "mail", Label: "Mail relay", Mode: "push", Status: messages.Healthy},
			}},
		},
	}
}

// TestBundledConfigBranding: the logo and icon of the example config.cfg
// are files the server itself serves (from the embedded assets), so the
// example page loads no missing image.
func TestBundledConfigBranding(t *testing.T) {
	cfg, _, err := config.Load(filepath.Join("..", "config.cfg"), nil)
	if err != nil {
		t.Fatal(err)
	}
	h := pageServer(fixedSnapshots{pageSnapshot(messages.Healthy)}, cfg.Branding).Handler()
	for key, raw := range map[string]string{"logo_url": cfg.Branding.LogoURL, "icon_url": cfg.Branding.IconURL} {
		u, err := url.Parse(raw)
		if err != nil {
			t.Fatalf("%s: %v", key, err)
		}
		if u.Host != cfg.Server.Inet || !strings.HasPrefix(u.Path, "/assets/images/") {
			t.Errorf("%s = %s: not an image of this server (%s)", key, raw, cfg.Server.Inet)
			continue
		}
		rec := do(t, h, http.MethodGet, u.Path)
		if rec.Code != 200 || rec.Header().Get("Content-Type") != "image/svg+xml" {
			t.Errorf("%s: GET %s: %d %s", key, u.Path, rec.Code, rec.Header().Get("Content-Type"))
			continue
		}
		var root struct{ XMLName xml.Name }
		if err := xml.Unmarshal(rec.Body.Bytes(), &root); err != nil || root.XMLName.Local != "svg" {
			t.Errorf("%s: not an SVG image: %v %v", key, err, root.XMLName)
		}
	}
}
