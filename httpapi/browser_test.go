//go:build linux

package httpapi

import (
	"bytes"
	"context"
	"fmt"
	"image/png"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-go/vigil/messages"
)

// The browser test drives the system Chromium through its command line
// (--dump-dom, --screenshot, --virtual-time-budget): no extra dependency.
// It skips when Chromium is missing, except in CI (CI=true) where it fails.

const chromiumBin = "/usr/bin/chromium"

func needChromium(t *testing.T) {
	t.Helper()
	if _, err := os.Stat(chromiumBin); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI needs %s: %v", chromiumBin, err)
		}
		t.Skipf("%s not installed: %v", chromiumBin, err)
	}
}

// chromium runs one headless Chromium command, bounded in time, and returns
// its standard output. The whole process group is killed afterwards, so no
// helper process outlives the call.
func chromium(t *testing.T, args ...string) []byte {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	base := []string{
		"--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
		"--disable-background-networking", "--disable-component-update", "--disable-sync",
		"--disable-dev-shm-usage", "--disable-extensions", "--hide-scrollbars", "--mute-audio",
		"--user-data-dir=" + t.TempDir(),
	}
	cmd := exec.CommandContext(ctx, chromiumBin, append(base, args...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if cmd.Process != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // stragglers of its group, if any
	}
	if err != nil {
		errText := stderr.String()
		if len(errText) > 4000 {
			errText = errText[len(errText)-4000:]
		}
		t.Fatalf("chromium %s: %v (timeout: %v)\n%s", strings.Join(args, " "), err, ctx.Err() != nil, errText)
	}
	return stdout.Bytes()
}

// browserSnapshot is a realistic page: one announcement, three services.
func browserSnapshot(gen uint64, apiStatus, cdnStatus messages.Status, refreshed time.Time) *messages.Snapshot {
	load := func(cpu, ram float64) *messages.Load { return &messages.Load{CPU: cpu, RAM: ram} }
	rep := func(id string, s messages.Status, ms int, err string) messages.ReplicaSnapshot {
		return messages.ReplicaSnapshot{ID: id, Status: s, HasLatency: true, Latency: time.Duration(ms) * time.Millisecond, Err: err}
	}
	webStatus := messages.Worst(apiStatus, cdnStatus)
	apiErr, cdnErr := "", ""
	if apiStatus != messages.Healthy {
		apiErr = "HTTP response took 2310ms (sick above 1500ms)"
	}
	if cdnStatus != messages.Healthy {
		cdnErr = "HTTP response took 1870ms (sick above 1500ms)"
	}
	return &messages.Snapshot{
		Generation: gen, Status: webStatus, Refreshed: refreshed,
		Announcements: []messages.Announcement{{ID: "a1", Title: "Scheduled database maintenance",
			Text: "The primary database will be upgraded on Saturday between 02:00 and 03:00 UTC.\nWrites may be briefly delayed.",
			Date: time.Date(2025, 7, 4, 16, 30, 0, 0, time.UTC)}},
		Probes: []messages.ProbeSnapshot{
			{ID: "web", Label: "Website & API", Status: webStatus, Nodes: []*messages.NodeSnapshot{
				{ID: "api", Label: "Public API", Mode: "poll", Status: apiStatus, RevealReplicaName: true,
					LinkURL: "https://status.example.com/docs", LinkLabel: "API documentation",
					Replicas: []messages.ReplicaSnapshot{rep("https://api-1.example.com/health", apiStatus, 2310, apiErr),
						rep("https://api-2.example.com/health", messages.Healthy, 184, ""),
						rep("https://api-3.example.com/health", messages.Healthy, 0, "")}},
				{ID: "cdn", Label: "Static files (CDN)", Mode: "poll", Status: cdnStatus,
					Replicas: []messages.ReplicaSnapshot{rep("https://cdn.example.com/", cdnStatus, 1870, cdnErr)}},
			}},
			{ID: "relay", Label: "Realtime relay", Status: messages.Healthy, Nodes: []*messages.NodeSnapshot{
				{ID: "socket", Label: "Socket servers", Mode: "push", Status: messages.Healthy, Replicas: []messages.ReplicaSnapshot{
					{ID: "10.0.0.1", Status: messages.Healthy, Load: load(0.31, 0.62), Queue: &messages.Queue{Ready: 12, Unacked: 0}},
					{ID: "10.0.0.2", Status: messages.Healthy, Load: load(0.27, 0.58)},
					{ID: "10.0.0.3", Status: messages.Healthy, Load: load(0.44, 0.71)},
					{ID: "10.0.0.4", Status: messages.Healthy, Load: load(0.12, 0.40)},
				}},
			}},
			{ID: "internal", Label: "Internal network", Status: messages.Healthy, Nodes: []*messages.NodeSnapshot{
				{ID: "gateway", Label: "Gateway", Mode: "local", Status: messages.Healthy,
					Replicas: []messages.ReplicaSnapshot{rep("icmp://10.1.0.1", messages.Healthy, 3, "")}},
				{ID: "backup", Label: "Backup jobs", Mode: "script", Status: messages.Healthy,
					Replicas: []messages.ReplicaSnapshot{rep("check-backups.sh", messages.Healthy, 912, "")}},
				{ID: "mail", Label: "Mail relay", Mode: "push", Status: messages.Healthy},
			}},
		},
	}
}

const testLogo = `<svg xmlns="http://www.w3.org/2000/svg" width="120" height="32" viewBox="0 0 120 32">` +
	`<rect width="32" height="32" rx="8" fill="#4f46e5"/><path d="M9 17l5 5 9-11" fill="none" stroke="#fff" stroke-width="3.2" stroke-linecap="round" stroke-linejoin="round"/>` +
	`<text x="40" y="22" font-family="system-ui, sans-serif" font-size="17" font-weight="700" fill="#4f46e5">Acme</text></svg>`

// phoneFrame shows "/" in a 390 px wide iframe (Chromium windows cannot be
// narrower than 500 px) and reports the framed page's widths once loaded.
const phoneFrame = `<!DOCTYPE html><html><head><meta charset="utf-8"><style>
body{margin:0;background:#8a94a3}iframe{display:block;width:390px;height:%dpx;border:0}</style></head><body>
<iframe id="phone" src="/%s"></iframe><p id="result" hidden>pending</p><script>
addEventListener("load", function () {
  var d = document.getElementById("phone").contentDocument.documentElement;
  document.getElementById("result").textContent = "scrollWidth=" + d.scrollWidth + " clientWidth=" + d.clientWidth;
});
</script></body></html>`

type browserRig struct {
	url     string
	holder  *swapSnapshots
	armed   atomic.Bool // swap to next at the script's first /status/text poll
	next    *messages.Snapshot
	swapped atomic.Bool

	mu  sync.Mutex
	log []string // "METHOD path If-None-Match -> status"
}

type statusRecorder struct {
	http.ResponseWriter
	code int
}

func (r *statusRecorder) WriteHeader(code int) { r.code = code; r.ResponseWriter.WriteHeader(code) }

func startBrowserRig(t *testing.T) *browserRig {
	t.Helper()
	assets := t.TempDir()
	if err := os.MkdirAll(filepath.Join(assets, "images", "brand"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(assets, "images", "brand", "logo.svg"), []byte(testLogo), 0o644); err != nil {
		t.Fatal(err)
	}
	b := testBranding()
	b.PageTitle = "Acme Status"
	b.LogoURL = "/assets/images/brand/logo.svg"
	b.IconURL = "/badge/icon"
	b.LogoColor = "#4F46E5"
	b.WebsiteURL = "https://example.com/"
	// custom_html: a hook for the tooltip screenshot (focus a sick replica).
	b.CustomHTML = `<script>addEventListener("load", function () { if (location.hash === "#tip") {` +
		` var r = document.querySelector(".replica.status-sick"); if (r) { r.focus(); } } });</script>`

	rig := &browserRig{holder: newSwapSnapshots(browserSnapshot(1, messages.Sick, messages.Healthy,
		time.Date(2025, 7, 4, 8, 58, 28, 0, time.UTC)))}
	// Next generation: a NODE changes (API recovers, CDN slows down) while
	// the general status stays "sick".
	rig.next = browserSnapshot(2, messages.Healthy, messages.Sick, time.Date(2025, 7, 4, 9, 0, 8, 0, time.UTC))

	srv := New(Options{Addr: "127.0.0.1:0", Snapshots: rig.holder, Branding: b, AssetsDir: assets, Version: "test",
		Page: Page{Title: b.PageTitle, URL: b.PageURL}, Logger: slog.New(slog.DiscardHandler)})
	h := srv.Handler()
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/__phone") {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			frag := ""
			if r.URL.Query().Has("tip") {
				frag = "#tip"
			}
			fmt.Fprintf(w, phoneFrame, 1900, frag)
			return
		}
		if strings.HasPrefix(r.URL.Path, "/status/text") && rig.armed.Load() && rig.swapped.CompareAndSwap(false, true) {
			rig.holder.p.Store(rig.next)
			showLatest(srv) // the next GET / shows it, as after a write
		}
		path := r.URL.Path // before the router normalises it
		rec := &statusRecorder{ResponseWriter: w, code: 200}
		h.ServeHTTP(rec, r)
		rig.mu.Lock()
		rig.log = append(rig.log, fmt.Sprintf("%s %s inm=%s -> %d", r.Method, path, r.Header.Get("If-None-Match"), rec.code))
		rig.mu.Unlock()
	})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	hs := &http.Server{Handler: handler, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = hs.Serve(ln) }()
	t.Cleanup(func() { _ = hs.Close() })
	rig.url = "http://" + ln.Addr().String()
	return rig
}

func (r *browserRig) requests() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.log...)
}

func count(s, sub string) int { return strings.Count(s, sub) }

func TestBrowserStatusPage(t *testing.T) {
	needChromium(t)
	rig := startBrowserRig(t)

	// 1. The page as loaded: hooks and classes.
	dom := string(chromium(t, "--window-size=1280,900", "--dump-dom", rig.url+"/"))
	if count(dom, "<aside") != 1 || count(dom, "<main") != 1 {
		t.Fatalf("want one aside and one main:\n%s", dom)
	}
	for _, want := range []string{
		`<aside class="status-sick-background banner">`,
		`data-status="sick" data-generation="1"`,
		`window.STATUS_GENERAL = "sick";`,
		"<h1>Some services are degraded</h1>",
		"refreshed 08:58:28 UTC+00:00",
		"Scheduled database maintenance",
	} {
		if !strings.Contains(dom, want) {
			t.Errorf("loaded DOM lacks %q", want)
		}
	}
	nodeClass := regexp.MustCompile(`<li class="node (status-[a-z]+)">\s*<div class="node-info">\s*<span class="node-label">([^<]+)</span>`)
	nodes := func(dom string) map[string]string {
		m := map[string]string{}
		for _, g := range nodeClass.FindAllStringSubmatch(dom, -1) {
			m[g[2]] = g[1]
		}
		return m
	}
	if n := nodes(dom); n["Public API"] != "status-sick" || n["Static files (CDN)"] != "status-healthy" || len(n) != 6 {
		t.Fatalf("loaded node classes: %v", n)
	}

	// 2. Per-node refresh (spec §11 item 21): at the script's first poll the
	// snapshot moves to generation 2, where two nodes changed but the
	// general status did not. 45 s of virtual time = two polling rounds.
	rig.armed.Store(true)
	dom = string(chromium(t, "--window-size=1280,900", "--virtual-time-budget=45000", "--dump-dom", rig.url+"/"))
	log := rig.requests()
	if !rig.swapped.Load() {
		t.Fatalf("the script never polled /status/text/; requests:\n%s", strings.Join(log, "\n"))
	}
	if count(dom, "<aside") != 1 || count(dom, "<main") != 1 {
		t.Fatalf("after refresh, want one aside and one main:\n%s", dom)
	}
	if n := nodes(dom); n["Public API"] != "status-healthy" || n["Static files (CDN)"] != "status-sick" {
		t.Fatalf("node change not applied (classes %v); requests:\n%s", n, strings.Join(log, "\n"))
	}
	for _, want := range []string{
		`<aside class="status-sick-background banner">`,
		`data-status="sick" data-generation="2"`,
		"refreshed 09:00:08 UTC+00:00",
	} {
		if !strings.Contains(dom, want) {
			t.Errorf("refreshed DOM lacks %q", want)
		}
	}
	// The script polled /status/text/ and revalidated "/" with its ETag; the
	// second round found nothing new (304).
	joined := strings.Join(log, "\n")
	if !strings.Contains(joined, "GET /status/text/ inm= -> 200") ||
		!regexp.MustCompile(`GET / inm="[^"]+-1-\d+" -> 200`).MatchString(joined) ||
		!regexp.MustCompile(`GET / inm="[^"]+-2-\d+" -> 304`).MatchString(joined) {
		t.Errorf("unexpected request sequence:\n%s", joined)
	}

	// 3. A 390 px wide viewport must not scroll sideways.
	frame := string(chromium(t, "--window-size=500,1000", "--virtual-time-budget=3000", "--dump-dom", rig.url+"/__phone"))
	m := regexp.MustCompile(`scrollWidth=(\d+) clientWidth=(\d+)`).FindStringSubmatch(frame)
	if m == nil || m[1] != m[2] || m[2] != "390" {
		t.Fatalf("phone layout: %v\n%s", m, frame)
	}

	// 4. Screenshots: desktop and phone, light and dark, plus an open tooltip.
	dir := os.Getenv("VIGIL_SCREENSHOT_DIR")
	if dir == "" {
		dir = t.TempDir()
	} else if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	dark := "--force-dark-mode"
	for _, shot := range []struct {
		name  string
		width int
		args  []string
	}{
		{"desktop-light.png", 1280, []string{"--window-size=1280,1700", rig.url + "/"}},
		{"desktop-dark.png", 1280, []string{"--window-size=1280,1700", dark, rig.url + "/"}},
		{"desktop-tooltip.png", 1280, []string{"--window-size=1280,1000", rig.url + "/#tip"}},
		{"phone-light.png", 500, []string{"--window-size=500,1900", rig.url + "/__phone"}},
		{"phone-dark.png", 500, []string{"--window-size=500,1900", dark, rig.url + "/__phone"}},
		{"phone-tooltip.png", 500, []string{"--window-size=500,1100", rig.url + "/__phone?tip"}},
	} {
		file := filepath.Join(dir, shot.name)
		args := append([]string{"--virtual-time-budget=3000", "--screenshot=" + file}, shot.args...)
		chromium(t, args...)
		checkPNG(t, file, shot.width)
	}
	t.Logf("screenshots in %s", dir)
}

func checkPNG(t *testing.T, file string, width int) {
	t.Helper()
	st, err := os.Stat(file)
	if err != nil {
		t.Fatalf("screenshot %s: %v", file, err)
	}
	if st.Size() < 5*1024 {
		t.Fatalf("screenshot %s is only %d bytes", file, st.Size())
	}
	f, err := os.Open(file)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cfg, err := png.DecodeConfig(f)
	if err != nil || cfg.Width != width {
		t.Fatalf("screenshot %s: %v, width %d want %d", file, err, cfg.Width, width)
	}
}
