package httpapi

import (
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/vigil-go/vigil/config"
	"github.com/vigil-go/vigil/messages"
)

// siteTestConfig is a configuration with every site setting, changed by
// edit.
func siteTestConfig(edit func(*config.Config)) *config.Config {
	cfg := &config.Config{
		Server: config.Server{Inet: "127.0.0.1:0", ReporterToken: "r1", ManagerToken: "m1",
			MetricsEnabled: true, MetricsToken: "t1"},
		Branding: testBranding(),
	}
	if edit != nil {
		edit(cfg)
	}
	return cfg
}

// stubActors stands in for the node and state actors: every report is
// for an unknown node, every Manager write succeeds.
type stubActors struct{}

func (stubActors) Report(context.Context, string, string, messages.Report) error {
	return messages.ErrUnknownNode
}
func (stubActors) Flush(context.Context, string, string, messages.Flush) error {
	return messages.ErrUnknownNode
}
func (stubActors) AddAnnouncement(context.Context, messages.Announcement) error { return nil }
func (stubActors) RemoveAnnouncement(context.Context, string) error             { return nil }
func (stubActors) SetIgnore(context.Context, time.Time) error                   { return nil }

// observed records the request observer's calls.
type observed struct {
	mu    sync.Mutex
	calls []string
}

func (o *observed) observe(api string, code int) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.calls = append(o.calls, api+" "+http.StatusText(code))
}

func (o *observed) count() int {
	o.mu.Lock()
	defer o.mu.Unlock()
	return len(o.calls)
}

func reconfigServer(cfg *config.Config, obs *observed) *Server {
	s := New(Options{Addr: "127.0.0.1:0", Snapshots: fixedSnapshots{pageSnapshot(messages.Sick)}, Config: cfg,
		Reporter: stubActors{}, Manager: stubActors{}, Observe: obs.observe,
		Metrics: http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) { _, _ = w.Write([]byte("vigil_up 1\n")) }),
		Version: "1.2.3", Logger: slog.New(slog.DiscardHandler)})
	// Only the first rendering and those a read must wait for: a page
	// showing the new branding can only come from Reconfigure's kick.
	s.views.every = time.Hour
	return s
}

func authed(t *testing.T, h http.Handler, method, target, auth string) *httptest.ResponseRecorder {
	t.Helper()
	return doWith(t, h, method, target, map[string]string{"Authorization": auth})
}

// A reload with new branding: the next page shows it, rendered by the same
// renderer (its count goes on, the entity tags keep the boot id, an old
// tag no longer matches); new tokens apply to the next request; MCP and
// metrics follow the configuration.
func TestReconfigure(t *testing.T) {
	obs := &observed{}
	s := reconfigServer(siteTestConfig(nil), obs)
	h := s.Handler()

	first := do(t, h, http.MethodGet, "/")
	oldTag := first.Header().Get("ETag")
	mustContain(t, first.Body.String(), "<title>Acme Status</title>")
	if renders := s.views.renders.Load(); renders != 1 {
		t.Fatalf("%d renderings before the reload", renders)
	}
	if rec := authed(t, h, http.MethodGet, "/manager/announcements", basic("", "m1")); rec.Code != 200 {
		t.Fatalf("manager with its token: %d", rec.Code)
	}
	if rec := authed(t, h, http.MethodGet, "/metrics", "Bearer t1"); rec.Code != 200 || rec.Body.String() != "vigil_up 1\n" {
		t.Fatalf("metrics with its token: %d %q", rec.Code, rec.Body.String())
	}
	if rec := do(t, h, http.MethodPost, MCPPath); rec.Code != 404 {
		t.Fatalf("MCP while off: %d", rec.Code)
	}
	counted := obs.count()

	s.Reconfigure(siteTestConfig(func(c *config.Config) {
		c.Branding.PageTitle, c.Branding.CompanyName, c.Branding.PageURL = "Globex Status", "Globex", "https://status.globex.test/"
		c.Server.ReporterToken, c.Server.ManagerToken = "r2", "m2"
		c.Server.MCPServer = true
		c.Server.MetricsToken = "t2"
	}))

	page := do(t, h, http.MethodGet, "/")
	mustContain(t, page.Body.String(), "<title>Globex Status</title>")
	mustContain(t, page.Body.String(), "© ")
	mustContain(t, page.Body.String(), " Globex</p>")
	if renders := s.views.renders.Load(); renders != 2 {
		t.Fatalf("%d renderings after the reload, want 2 (the count goes on)", renders)
	}
	newTag := page.Header().Get("ETag")
	if !strings.HasPrefix(oldTag, `"`+s.bootID+"-") || !strings.HasPrefix(newTag, `"`+s.bootID+".1-") {
		t.Fatalf("entity tags %s then %s, want both with boot id %s and different", oldTag, newTag, s.bootID)
	}
	if rec := doWith(t, h, http.MethodGet, "/", map[string]string{"If-None-Match": oldTag}); rec.Code != 200 {
		t.Fatalf("the tag of the old branding: %d, want 200", rec.Code)
	}
	mustContain(t, do(t, h, http.MethodGet, "/status/report").Body.String(), `"page":{"name":"Globex Status","url":"https://status.globex.test/"}`)

	for _, tc := range []struct {
		name, method, path, auth string
		want                     int
	}{
		{"old reporter token", http.MethodPost, "/reporter/web/api", basic("", "r1"), 403},
		{"new reporter token", http.MethodDelete, "/reporter/web/api/r", basic("", "r2"), 404},
		{"old manager token", http.MethodGet, "/manager/announcements", basic("", "m1"), 403},
		{"new manager token", http.MethodGet, "/manager/announcements", basic("", "m2"), 200},
		{"old metrics token", http.MethodGet, "/metrics", "Bearer t1", 401},
		{"new metrics token", http.MethodGet, "/metrics", "Bearer t2", 200},
	} {
		if rec := authed(t, h, tc.method, tc.path, tc.auth); rec.Code != tc.want {
			t.Errorf("%s: %d, want %d", tc.name, rec.Code, tc.want)
		}
	}
	if got := obs.count() - counted; got != 4 {
		t.Errorf("%d API requests counted after the reload, want 4", got)
	}

	// MCP on: a client connects and calls the tool. Off again: 404.
	ts := httptest.NewServer(h)
	defer ts.Close()
	ctx, cancel := context.WithTimeout(t.Context(), mcpTestTimeout)
	defer cancel()
	cs := mcpConnect(ctx, t, ts.URL+MCPPath, true)
	defer func() { _ = cs.Close() }()
	if _, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: MCPToolName}); err != nil {
		t.Fatalf("get_report with MCP on: %v", err)
	}
	s.Reconfigure(siteTestConfig(func(c *config.Config) { c.Server.MetricsEnabled = false }))
	for _, path := range []string{MCPPath, "/metrics"} {
		if rec := authed(t, h, http.MethodPost, path, "Bearer t1"); rec.Code != 404 || rec.Body.Len() != 0 {
			t.Errorf("POST %s when off: %d %q", path, rec.Code, rec.Body.String())
		}
	}
	if rec := authed(t, h, http.MethodGet, "/metrics", "Bearer t1"); rec.Code != 404 {
		t.Errorf("metrics when off: %d", rec.Code)
	}
	mustContain(t, do(t, h, http.MethodGet, "/").Body.String(), "<title>Acme Status</title>")
}

// A new site configuration is rendered at the next step, inside the
// cadence (like a write to show).
func TestRendererRendersNewSiteAtOnce(t *testing.T) {
	s := pageServer(fixedSnapshots{pageSnapshot(messages.Healthy)}, testBranding())
	r := s.views
	t0 := time.Date(2025, 7, 4, 12, 0, 0, 0, time.UTC)
	r.step(t0)
	if wait := r.step(t0.Add(100 * time.Millisecond)); r.renders.Load() != 1 || wait != r.every {
		t.Fatalf("unchanged: %d renderings", r.renders.Load())
	}
	s.Reconfigure(siteTestConfig(func(c *config.Config) { c.Branding.PageTitle = "Globex Status" }))
	r.step(t0.Add(200 * time.Millisecond))
	cur := r.current.Load()
	if r.renders.Load() != 2 || cur.site.epoch != 1 ||
		!strings.Contains(string(cur.views[r.index("page")].variants[0].body), "<title>Globex Status</title>") {
		t.Fatalf("after Reconfigure: %d renderings, epoch %d", r.renders.Load(), cur.site.epoch)
	}
}

// A read after Reconfigure whose rendering does not come in time gets the
// latest rendering there is, and later reads no longer wait for it.
func TestReconfigureLateRendering(t *testing.T) {
	s := pageServer(fixedSnapshots{pageSnapshot(messages.Healthy)}, testBranding())
	r := s.views
	r.step(time.Now())
	r.wait = 10 * time.Millisecond
	r.running.Store(true) // no goroutine: nothing renders the new configuration
	s.Reconfigure(siteTestConfig(nil))
	cur, err := r.ready(context.Background())
	if err != nil || cur.site.epoch != 0 {
		t.Fatalf("late read: %v, epoch %d", err, cur.site.epoch)
	}
	if got := r.visibleSite.Load(); got != 0 {
		t.Fatalf("site watermark %d after a late read, want it dropped to 0", got)
	}
}
