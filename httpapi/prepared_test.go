package httpapi

import (
	"bytes"
	"context"
	"html/template"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/gzip"

	"github.com/vigil-go/vigil/config"
	"github.com/vigil-go/vigil/messages"
	"github.com/vigil-go/vigil/testkit"
)

// showLatest makes the next requests wait for a rendering of the current
// snapshot, as an answered write does.
func showLatest(s *Server) { s.views.expect(s.snapshots.Latest().Generation) }

func decode(t *testing.T, coding string, body []byte) []byte {
	t.Helper()
	var r io.Reader
	switch coding {
	case "br":
		r = brotli.NewReader(bytes.NewReader(body))
	case "gzip":
		zr, err := gzip.NewReader(bytes.NewReader(body))
		if err != nil {
			t.Fatal(err)
		}
		r = zr
	default:
		return body
	}
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("%s: %v", coding, err)
	}
	return out
}

func TestAcceptEncodingNegotiation(t *testing.T) {
	body := bytes.Repeat([]byte("<li>healthy replica</li>\n"), 400)
	var enc encoders
	p := enc.prepare(body, "text/html; charset=utf-8", "base")
	if len(p.variants) != 3 || p.variants[1].coding != "br" || p.variants[2].coding != "gzip" {
		t.Fatalf("variants %v", p.variants)
	}
	for _, v := range p.variants {
		if got := decode(t, v.coding, v.body); !bytes.Equal(got, body) {
			t.Fatalf("%s variant does not decode to the body", v.coding)
		}
	}
	for _, tc := range []struct {
		fields []string
		want   string
	}{
		{nil, ""},
		{[]string{""}, ""},
		{[]string{"gzip, deflate, br, zstd"}, "br"},
		{[]string{"gzip"}, "gzip"},
		{[]string{"x-gzip"}, "gzip"},
		{[]string{"deflate"}, ""},
		{[]string{"zstd"}, ""},
		{[]string{"br;q=0.5, gzip;q=0.8"}, "gzip"},
		{[]string{"BR;Q=1, GZIP;q=1"}, "br"},
		{[]string{"br;q=0, gzip"}, "gzip"},
		{[]string{"br;q=0, gzip;q=0"}, ""},
		{[]string{"*"}, "br"},
		{[]string{"*;q=0.5, gzip"}, "gzip"},
		{[]string{"*;q=0"}, ""}, // nothing acceptable: identity anyway
		{[]string{"identity;q=0, gzip;q=0.1"}, "gzip"},
		{[]string{"identity, gzip;q=0.5"}, ""},
		{[]string{"gzip, identity"}, "gzip"},
		{[]string{"gzip;q=0.001"}, "gzip"},
		{[]string{"br;q=abc, gzip"}, "gzip"},
		{[]string{"br;q=2"}, ""},
		{[]string{"deflate", "br"}, "br"},
		{[]string{" br ; q=0.9 ,gzip;q=0.8"}, "br"},
	} {
		if got := p.choose(tc.fields).coding; got != tc.want {
			t.Errorf("Accept-Encoding %q: %q, want %q", tc.fields, got, tc.want)
		}
	}
	// Small bodies have no compressed variant, nor Vary.
	small := enc.prepare([]byte("healthy"), "text/plain", "x")
	if len(small.variants) != 1 || small.vary != nil || small.choose([]string{"br"}).coding != "" {
		t.Fatalf("small body: %d variants, vary %v", len(small.variants), small.vary)
	}
}

func TestIfNoneMatch(t *testing.T) {
	var enc encoders
	p := enc.prepare(bytes.Repeat([]byte("status "), 500), "text/plain", "rev-1")
	id, br, gz := &p.variants[0], &p.variants[1], &p.variants[2]
	for _, tc := range []struct {
		fields   []string
		selected *variant
		tag      string
		ok       bool
	}{
		{[]string{`"rev-1-br"`}, br, `"rev-1-br"`, true},
		{[]string{`W/"rev-1-br"`}, br, `"rev-1-br"`, true},
		{[]string{`"other", W/"rev-1-gz"`}, gz, `"rev-1-gz"`, true},
		{[]string{`"other"`, `"rev-1-br"`}, br, `"rev-1-br"`, true},
		// The refresh script sends the identity tag; a brotli request
		// still gets 304, naming the tag it sent.
		{[]string{`"rev-1"`}, br, `"rev-1"`, true},
		{[]string{`"rev-1", "rev-1-br"`}, br, `"rev-1-br"`, true},
		{[]string{"*"}, gz, `"rev-1-gz"`, true},
		{[]string{`"rev-0"`}, id, "", false},
		{[]string{`"rev-1`}, id, "", false},
		{[]string{`rev-1`}, id, "", false},
		{[]string{``}, id, "", false},
	} {
		tag, ok := p.notModified(tc.fields, tc.selected)
		if tag != tc.tag || ok != tc.ok {
			t.Errorf("If-None-Match %q (%q selected): %q %v, want %q %v", tc.fields, tc.selected.coding, tag, ok, tc.tag, tc.ok)
		}
	}
}

// Every prepared route: 200 with the negotiated variant and its headers,
// HEAD with the same headers and no body, 304 on its tag.
func TestPreparedResponses(t *testing.T) {
	snap := largeSnapshot(40, 2)
	s := testServerWith(t, fixedSnapshots{snap})
	h := s.Handler()
	for _, path := range []string{"/", "/status/text", "/status/report", "/badge/color", "/badge/icon"} {
		identity := doWith(t, h, http.MethodGet, path, nil)
		if identity.Code != 200 {
			t.Fatalf("GET %s: %d", path, identity.Code)
		}
		for _, ae := range []string{"", "gzip", "br, gzip", "identity"} {
			header := map[string]string{"Accept-Encoding": ae}
			get := doWith(t, h, http.MethodGet, path, header)
			head := doWith(t, h, http.MethodHead, path, header)
			gh, hh := get.Header(), head.Header()
			if get.Code != 200 || head.Code != 200 || head.Body.Len() != 0 {
				t.Fatalf("%s %q: GET %d, HEAD %d with %d bytes", path, ae, get.Code, head.Code, head.Body.Len())
			}
			for _, k := range []string{"Content-Type", "Content-Length", "Content-Encoding", "ETag", "Vary", "Cache-Control", "X-Content-Type-Options"} {
				if gh.Get(k) != hh.Get(k) {
					t.Fatalf("%s %q: %s differs: GET %q, HEAD %q", path, ae, k, gh.Get(k), hh.Get(k))
				}
			}
			if gh.Get("Content-Length") != strconv.Itoa(get.Body.Len()) || gh.Get("Cache-Control") != cacheControl {
				t.Fatalf("%s %q: headers %v for %d bytes", path, ae, gh, get.Body.Len())
			}
			if got := decode(t, gh.Get("Content-Encoding"), get.Body.Bytes()); !bytes.Equal(got, identity.Body.Bytes()) {
				t.Fatalf("%s %q: %s body differs from identity", path, ae, gh.Get("Content-Encoding"))
			}
			compressible := identity.Body.Len() >= compressMin
			if wantVary := compressible; (gh.Get("Vary") == "Accept-Encoding") != wantVary {
				t.Fatalf("%s: Vary %q for %d bytes", path, gh.Get("Vary"), identity.Body.Len())
			}
			if compressible && (ae == "gzip") != (gh.Get("Content-Encoding") == "gzip") {
				t.Fatalf("%s %q: Content-Encoding %q", path, ae, gh.Get("Content-Encoding"))
			}
			for _, method := range []string{http.MethodGet, http.MethodHead} {
				nm := doWith(t, h, method, path, map[string]string{"Accept-Encoding": ae, "If-None-Match": gh.Get("ETag")})
				if nm.Code != http.StatusNotModified || nm.Body.Len() != 0 || nm.Header().Get("ETag") != gh.Get("ETag") ||
					nm.Header().Get("Cache-Control") != cacheControl || nm.Header().Get("Vary") != gh.Get("Vary") {
					t.Fatalf("%s %s %q conditional: %d %v", method, path, ae, nm.Code, nm.Header())
				}
			}
		}
	}
}

func testServerWith(t *testing.T, snaps Snapshots) *Server {
	t.Helper()
	return New(Options{Addr: "127.0.0.1:0", Snapshots: snaps, Branding: testBranding(), Version: "1.2.3",
		Page: Page{Title: "Acme", URL: "https://status.example.com/"}, Logger: slog.New(slog.DiscardHandler)})
}

// The renderer renders on snapshot changes at most once per cadence, again
// when the UTC year turns (footer), and keeps the last good rendering of a
// view whose rendering fails. Driven step by step, without its goroutine.
func TestRendererSteps(t *testing.T) {
	holder := newSwapSnapshots(pageSnapshot(messages.Sick))
	s := pageServer(holder, testBranding())
	r := s.views
	page := r.index("page")
	t0 := time.Date(2025, 12, 31, 23, 59, 58, 0, time.UTC)
	if wait := r.step(t0); wait != r.every || r.renders.Load() != 1 {
		t.Fatalf("first step: %d renderings, next look in %v", r.renders.Load(), wait)
	}
	if r.step(t0.Add(100 * time.Millisecond)); r.renders.Load() != 1 {
		t.Fatal("rendered an unchanged snapshot")
	}
	next := pageSnapshot(messages.Healthy)
	next.Generation = 8
	holder.p.Store(next)
	if wait := r.step(t0.Add(400 * time.Millisecond)); r.renders.Load() != 1 || wait != 600*time.Millisecond {
		t.Fatalf("change within the cadence: %d renderings, next look in %v", r.renders.Load(), wait)
	}
	if r.step(t0.Add(time.Second)); r.renders.Load() != 2 || r.current.Load().gen != 8 {
		t.Fatalf("change after the cadence: %d renderings", r.renders.Load())
	}
	// New Year: same snapshot, new footer.
	if r.step(t0.Add(2 * time.Second)); r.renders.Load() != 3 || r.current.Load().year != 2026 ||
		!strings.Contains(string(r.current.Load().views[page].variants[0].body), "2026") {
		t.Fatalf("year change: %d renderings, year %d", r.renders.Load(), r.current.Load().year)
	}
	// A write to show skips the cadence.
	third := pageSnapshot(messages.Dead)
	third.Generation = 9
	holder.p.Store(third)
	showLatest(s)
	if r.step(t0.Add(2100 * time.Millisecond)); r.renders.Load() != 4 || r.current.Load().gen != 9 {
		t.Fatalf("watermark: %d renderings, generation %d", r.renders.Load(), r.current.Load().gen)
	}
	// A failing template keeps the last good page; other views move on.
	good := r.current.Load().views[page]
	s.pageTmpl = template.Must(template.New("broken").Parse(`<p>{{.NoSuchField}}</p>`))
	fourth := pageSnapshot(messages.Healthy)
	fourth.Generation = 10
	holder.p.Store(fourth)
	r.step(t0.Add(4 * time.Second))
	cur := r.current.Load()
	if cur.gen != 10 || cur.views[page] != good || string(cur.views[r.index("text")].variants[0].body) != "healthy" {
		t.Fatalf("after a template failure: generation %d, page kept %v", cur.gen, cur.views[page] == good)
	}
}

// Serve keeps the views rendered without any request; Reconfigure has the
// same renderer render the new configuration at once, still without a
// request; the renderer stops with Serve.
func TestRendererLifecycle(t *testing.T) {
	addrs := make(chan net.Addr, 1)
	s := New(Options{Addr: "127.0.0.1:0", Snapshots: fixedSnapshots{pageSnapshot(messages.Healthy)}, Logger: slog.New(slog.DiscardHandler),
		Listening: func(a net.Addr) { addrs <- a }})
	s.views.every = time.Hour // no rendering but the first and the one Reconfigure asks for
	ctx, cancel := context.WithCancel(context.Background())
	served := make(chan error, 1)
	go func() { served <- s.Serve(ctx) }()
	defer cancel()
	addr := (<-addrs).String()
	testkit.Eventually(t, 5*time.Second, func() bool { return s.views.current.Load().snap != nil }, "no rendering before any request")

	s.Reconfigure(siteTestConfig(func(c *config.Config) { c.Branding.PageTitle = "Globex Status" }))
	testkit.Eventually(t, 5*time.Second, func() bool { return s.views.current.Load().site.epoch == 1 }, "the new configuration is not rendered")
	if n := s.views.renders.Load(); n != 2 {
		t.Fatalf("%d renderings, want 2", n)
	}
	resp, err := http.Get("http://" + addr + "/status/report")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `"name":"Globex Status"`) {
		t.Fatalf("after Reconfigure: %s", body)
	}
	cancel()
	<-served
	if s.views.running.Load() {
		t.Fatal("Serve returned before its renderer stopped")
	}
}

// A handler used on its own starts its renderer on the first request and
// stops it when idle; the next request starts it again and gets a fresh
// rendering.
func TestRendererIdleStop(t *testing.T) {
	holder := newSwapSnapshots(&messages.Snapshot{Generation: 1, Status: messages.Healthy})
	s := New(Options{Addr: "127.0.0.1:0", Snapshots: holder, Logger: slog.New(slog.DiscardHandler)})
	s.views.idle = 50 * time.Millisecond
	s.views.every = 10 * time.Millisecond
	h := s.Handler()
	if got := do(t, h, http.MethodGet, "/status/text").Body.String(); got != "healthy" {
		t.Fatalf("first: %q", got)
	}
	deadline := time.Now().Add(5 * time.Second)
	for s.views.running.Load() {
		if time.Now().After(deadline) {
			t.Fatal("the renderer did not stop when idle")
		}
		time.Sleep(5 * time.Millisecond)
	}
	holder.p.Store(&messages.Snapshot{Generation: 2, Status: messages.Sick})
	if got := do(t, h, http.MethodGet, "/status/text").Body.String(); got != "sick" {
		t.Fatalf("after the idle stop: %q, want a fresh rendering", got)
	}
}

// The first request may wait for the first rendering; later ones do not
// render. A request whose client is gone before the first rendering gets
// 503.
func TestFirstRequestWaits(t *testing.T) {
	s := testServerWith(t, fixedSnapshots{pageSnapshot(messages.Healthy)})
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	rec := httptest.NewRecorder()
	s.Handler().ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/", nil).WithContext(ctx))
	if rec.Code != http.StatusServiceUnavailable && rec.Code != http.StatusOK {
		t.Fatalf("gone client: %d", rec.Code)
	}
	if rec := do(t, s.Handler(), http.MethodGet, "/"); rec.Code != 200 || s.views.renders.Load() != 1 {
		t.Fatalf("first request: %d after %d renderings", rec.Code, s.views.renders.Load())
	}
}
