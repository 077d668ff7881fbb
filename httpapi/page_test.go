package httpapi

import (
	"bytes"
	"fmt"
	"html/template"
	"log/slog"
	"net/http"
	"net/http/httptest"
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
		status            messages.Status
		headline, summary string
	}{
		{messages.Healthy, "All systems operational", "Everything is running smoothly."},
		{messages.Sick, "Some services are degraded", "Some services are responding slower than usual."},
		{messages.Dead, "Service disruption in progress", "Some services are currently unavailable."},
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
				`<aside class="status-`+s+`-background banner">`,
				"<h1>"+tc.headline+"</h1>",
				"<h2>"+tc.summary+"</h2>",
				`data-status="`+s+`" data-generation="7"`,
				`<section class="card general status-`+s+`">`,
				`<title>Acme Status</title>`,
				`href="/assets/stylesheets/status.css?v=1.2.3"`,
				`src="/assets/javascripts/status.js?v=1.2.3"`,
				`<meta name="viewport" content="width=device-width, initial-scale=1">`,
				`<link rel="icon" href="https://cdn.example.com/icon.svg" type="image/svg+xml">`,
				`<link rel="apple-touch-icon" href="https://cdn.example.com/icon.svg" type="image/svg+xml">`,
				`<meta name="msapplication-TileColor" content="#112233">`,
				`<meta name="msapplication-TileImage" content="https://cdn.example.com/icon.svg">`,
				`<meta property="og:image" content="https://cdn.example.com/icon.svg">`,
				`<a class="brand" href="/"><img class="brand-logo" src="https://cdn.example.com/logo.svg"`,
				`<a class="btn btn-solid" href="mailto:support@example.com" style="background-color: #1972F5">`,
				`<a class="btn btn-ghost" href="https://example.com/" target="_blank" rel="noopener">`,
				`<span>Contact support</span>`, `<span>Go to website</span>`,
				`<a href="mailto:support@example.com">Get in touch with our support team</a>`,
				"refreshed 08:58:28 UTC+00:00",
				"powered by <a href=\"https://github.com/vigil-go/vigil\"",
			)
			mustNotContain(t, body, "not yet refreshed", "announcement-preceding", `class="card announcements"`)
		})
	}
}

func TestPageNotYetRefreshed(t *testing.T) {
	snap := pageSnapshot(messages.Healthy)
	snap.Refreshed = time.Time{}
	body := getPage(t, pageServer(fixedSnapshots{snap}, testBranding()).Handler())
	mustContain(t, body, "<h4>not yet refreshed</h4>")
	mustNotContain(t, body, "refreshed 0")
}

func TestPageServicesNodesReplicas(t *testing.T) {
	body := getPage(t, pageServer(fixedSnapshots{pageSnapshot(messages.Dead)}, testBranding()).Handler())
	mustContain(t, body,
		// services, anchors and status classes
		`<section class="card service status-sick">`,
		`<a href="#probe-web" id="probe-web">Web</a>`,
		`<a href="#probe-relay" id="probe-relay">Relay</a>`,
		`<span class="pill pill-status">Outage</span>`,
		`<li class="node status-sick">`, `<li class="node status-dead">`, `<li class="node status-healthy">`,
		// replicas numbered 1..n with their tooltips
		`<li class="replica status-healthy" tabindex="0" aria-describedby="tip-0-0-1"><span class="replica-num">1</span>`,
		`<li class="replica status-sick" tabindex="0" aria-describedby="tip-0-0-2"><span class="replica-num">2</span>`,
		`<li class="replica status-dead" tabindex="0" aria-describedby="tip-1-0-2"><span class="replica-num">2</span>`,
		"This replica reports as healthy.", "This replica reports as sick.", "This replica reports as dead.",
		// mode lines
		modeLines["poll"], modeLines["script"], modeLines["push"],
		// reveal_replica_name on for web/api only
		`<code class="tip-line tip-name">https://a.example.com/health</code>`,
		`<code class="tip-line tip-name">tcp://b.example.com:443</code>`,
		// details: latency (also 0), load, memory (rounded), queue
		"<span>Latency: 0ms</span>", "<span>Latency: 1234ms</span>",
		"<span>Load: 30%</span><span>Memory: 80%</span>",
		"<span>Load: 125%</span><span>Memory: 50%</span><span>Queue: 5R 2N</span>",
		// errors of unhealthy replicas
		`<span class="tip-line tip-error">took 1234ms, above 1000ms</span>`,
		`<span class="tip-line tip-error">no report for 60s</span>`,
		// links: label, or the URL itself
		`<a class="link" href="https://api.example.com/">`, `</svg>API docs</a>`,
		`<a class="link" href="https://cdn.example.com/">`, `</svg>https://cdn.example.com/</a>`,
		// a node without replicas
		"No replica has reported yet.",
	)
	mustNotContain(t, body,
		"check-cdn.sh", "10.0.0.1", "10.0.0.2", // reveal_replica_name off
		"old failure",      // error text of a healthy replica
		modeLines["local"], // the local node has no replica, hence no tooltip
	)
	// Store order of services.
	if strings.Index(body, `id="probe-web"`) > strings.Index(body, `id="probe-relay"`) {
		t.Error("services out of order")
	}
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
		"<h4>Older notice</h4>", "<p>line1<br>line2</p>", "Published on 4 Jul 2025, 16:30:00 UTC+00:00",
		"<h4>Newer notice</h4>", "<p>a<br>b<br><br>c</p>", "Published on 25 Dec 2025, 09:05:07 UTC+00:00",
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
		"<h4>"+escaped+"</h4>",
		"<p>"+escaped+"<br>"+escaped+"</p>",
		`<code class="tip-line tip-name">`+escaped+`</code>`,
		`<span class="tip-line tip-error">`+escaped+`</span>`,
		`<span class="node-label">`+escaped+`</span>`,
		fmt.Sprintf("<p>© %d %s</p>", time.Now().UTC().Year(), escaped),
	)
	mustNotContain(t, body, `href="javascript:`, `href=" java`, `href="%20java`)
	if n := strings.Count(body, `href="#ZgotmplZ"`); n != 2 {
		t.Errorf("%d neutralised links, want 2", n)
	}
}

func TestPageColourAndURLSanitising(t *testing.T) {
	for _, tc := range []struct{ colour, want string }{
		{"#1972F5", `style="background-color: #1972F5"`},
		{"rebeccapurple", `style="background-color: rebeccapurple"`},
		{"rgb(25, 114, 245)", `style="background-color: rgb(25, 114, 245)"`},
		{"red; background-image: url(https://evil/)", `style="background-color: ZgotmplZ"`},
		{`red" onmouseover="alert(1)`, `style="background-color: ZgotmplZ"`},
		{"expression(alert(1))", `style="background-color: ZgotmplZ"`},
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
		if err := s.pageTmpl.Execute(&buf, s.pageView(snap, now, "r")); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(buf.Len()), "bytes/page")
}
