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
	"strconv"
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
//
// It looks at the page during an incident, as a desktop (1280x800) and a
// phone (390x844) show it, light and dark, and writes screenshots to
// $VIGIL_SCREENSHOT_DIR (a temporary directory when unset).

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
		"--headless=new", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
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

// browserHooks is custom_html for the tests: on load, "#tip" in the URL
// focuses the first replica of a failing node (its tooltip opens), "day"
// focuses the longest outage's daily bar of the first service with one
// (its tooltip opens), "row" the first row of daily bars, "keys" presses
// End then the left arrow there (the refresh script's keys), "open" opens
// every fold, "measure" writes the page's widths and where the first
// failing node ends into #measure, and "watch" keeps the focused replica's
// node and number in <html data-focus> (to see focus survive a refresh).
const browserHooks = `<script>addEventListener("load", function () {
  var h = location.hash, d = document.documentElement;
  if (h.indexOf("tip") >= 0) { var r = document.querySelector(".nodes > li.dead ol > li, .nodes > li.sick ol > li"); if (r) { r.focus(); } }
  if (h.indexOf("day") >= 0) { var b = document.querySelector(".days i.d3"); if (b) { b.tabIndex = -1; b.focus(); } }
  if (h.indexOf("row") >= 0 || h.indexOf("keys") >= 0) { var row = document.querySelector(".days"); if (row) { row.focus(); } }
  if (h.indexOf("keys") >= 0) {
    ["End", "ArrowLeft"].forEach(function (k) { document.activeElement.dispatchEvent(new KeyboardEvent("keydown", { key: k, bubbles: true })); });
    var a = document.activeElement;
    d.setAttribute("data-day", a.matches(".days i") ? a.getAttribute("aria-label") : a.tagName);
  }
  if (h.indexOf("open") >= 0) { document.querySelectorAll("details").forEach(function (x) { x.open = true; }); }
  if (h.indexOf("measure") >= 0) {
    var f = document.querySelector(".nodes > li.dead, .nodes > li.sick"), p = document.createElement("p");
    p.id = "measure";
    p.textContent = "scrollWidth=" + d.scrollWidth + " clientWidth=" + d.clientWidth +
      " failingBottom=" + Math.round(f.getBoundingClientRect().bottom) + " innerHeight=" + innerHeight;
    document.body.appendChild(p);
  }
  if (h.indexOf("watch") >= 0) {
    setInterval(function () {
      var a = document.activeElement, box = a && a.matches(".nodes ol > li");
      d.setAttribute("data-focus", box ? a.parentNode.parentNode.querySelector("p").firstChild.textContent + " " + a.firstChild.textContent : a.tagName);
    }, 500);
  }
});</script>`

// phoneFrame shows "/#measure" in a 390x844 frame (a Chromium window that
// dumps its DOM is never narrower than 500 px) and copies what the page
// measured into #result.
const phoneFrame = `<!DOCTYPE html><html><head><meta charset="utf-8"><style>
body{margin:0}iframe{display:block;width:390px;height:844px;border:0}</style></head><body>
<iframe id="phone" src="/#measure"></iframe><p id="result">pending</p><script>
addEventListener("load", function () {
  var m = document.getElementById("phone").contentDocument.getElementById("measure");
  document.getElementById("result").textContent = m ? m.textContent : "no measure";
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

// startBrowserRig serves the incident page (incidentSnapshot) branded with
// the embedded logo and icon, or with a logo that answers 404 when
// brokenLogo is set; with history, a recorded history too (historyFor).
// Its next snapshot keeps the general status and moves one node of the
// large service from degraded to healthy and another one the other way.
func startBrowserRig(t *testing.T, brokenLogo, history bool) *browserRig {
	t.Helper()
	b := testBranding()
	b.PageTitle, b.CompanyName = "Example Status", "Example Ltd"
	b.LogoURL, b.IconURL = "/assets/images/brand/logo.svg", "/assets/images/brand/icon.svg"
	if brokenLogo {
		b.LogoURL = "/assets/images/brand/missing.svg"
	}
	b.LogoColor = "#1d4ed8"
	b.CustomHTML = browserHooks

	first := time.Date(2025, 7, 4, 4, 15, 15, 0, time.UTC)
	rig := &browserRig{holder: newSwapSnapshots(incidentSnapshot(first))}
	rig.next = incidentSnapshot(first.Add(20 * time.Second))
	rig.next.Generation++
	if history {
		hist := historyFor(rig.holder.p.Load(), first)
		rig.holder.p.Load().History, rig.next.History = hist, hist
	}
	for _, n := range rig.next.Probes[2].Nodes {
		switch n.Label {
		case "Frankfurt":
			n.Status, n.Replicas[0].Status = messages.Healthy, messages.Healthy
		case "Sydney":
			n.Status, n.Replicas[0].Status, n.Replicas[0].Err = messages.Sick, messages.Sick, "HTTP response took 1630ms (sick above 1500ms)"
		}
	}

	srv := New(Options{Addr: "127.0.0.1:0", Snapshots: rig.holder, Branding: b, Version: "test",
		Page: Page{Title: b.PageTitle, URL: b.PageURL}, Logger: slog.New(slog.DiscardHandler)})
	h := srv.Handler()
	handler := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/__phone" {
			w.Header().Set("Content-Type", "text/html; charset=utf-8")
			fmt.Fprint(w, phoneFrame)
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

// nodeClasses maps node names to their status class in a dumped DOM.
func nodeClasses(dom string) map[string]string {
	m := map[string]string{}
	for _, g := range regexp.MustCompile(`<li class="(healthy|sick|dead|nodata)"><p>([^<]+)`).FindAllStringSubmatch(dom, -1) {
		m[g[2]] = g[1]
	}
	return m
}

// screenshotDir is $VIGIL_SCREENSHOT_DIR, created if needed, or a
// temporary directory.
func screenshotDir(t *testing.T) string {
	t.Helper()
	dir := os.Getenv("VIGIL_SCREENSHOT_DIR")
	if dir == "" {
		return t.TempDir()
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	return dir
}

func TestBrowserStatusPage(t *testing.T) {
	needChromium(t)
	rig := startBrowserRig(t, false, false)

	// 1. The page as loaded: hooks for the refresh script, the banner
	// naming the affected services, affected services first, failing nodes
	// first, the healthy nodes of the large service folded.
	dom := string(chromium(t, "--window-size=1280,800", "--virtual-time-budget=3000", "--dump-dom", rig.url+"/"))
	if count(dom, "<aside") != 1 || count(dom, "<main") != 1 {
		t.Fatalf("want one aside and one main:\n%s", dom)
	}
	for _, want := range []string{
		`<aside class="status-dead-background banner"`,
		`data-status="dead" data-generation="3"`,
		`window.STATUS_GENERAL = "dead";`,
		"<h1>Service disruption in progress</h1>",
		`Affected: <a href="#probe-payments">Payments</a>, <a href="#probe-edge">Edge network</a>`,
		`refreshed <time datetime="2025-07-04T04:15:15Z">04:15:15 UTC</time>`,
		"Checkout errors under investigation",
		`<details class="fold"><summary>23 other nodes operational</summary>`,
		`<li class="nodata"><p>Mail relay</p><span>No data</span>`,
		`<a class="brand" href="/"><img class="brand-logo"`, // the logo loaded: no fallback
	} {
		if !strings.Contains(dom, want) {
			t.Errorf("loaded DOM lacks %q", want)
		}
	}
	if strings.Contains(dom, `class="brand no-logo"`) {
		t.Error("the embedded logo did not load")
	}
	order := []string{`id="probe-payments"`, `id="probe-edge"`, `id="probe-web"`, `id="probe-relay"`, `id="probe-internal"`}
	for i := 1; i < len(order); i++ {
		if strings.Index(dom, order[i-1]) > strings.Index(dom, order[i]) {
			t.Errorf("%s should come before %s", order[i-1], order[i])
		}
	}
	if n := nodeClasses(dom); n["Frankfurt"] != "sick" || n["Sydney"] != "healthy" || n["Card processing"] != "dead" || len(n) != 31 {
		t.Fatalf("loaded node classes: %v", n)
	}

	// 2. Refresh: at the script's first poll the snapshot moves to the next
	// generation, where two nodes changed but the general status did not.
	// 45 s of virtual time = two polling rounds. The fold opened before and
	// the focused replica box stay so.
	rig.armed.Store(true)
	dom = string(chromium(t, "--window-size=1280,800", "--virtual-time-budget=45000", "--dump-dom", rig.url+"/#open-tip-watch"))
	log := rig.requests()
	if !rig.swapped.Load() {
		t.Fatalf("the script never polled /status/text/; requests:\n%s", strings.Join(log, "\n"))
	}
	if count(dom, "<aside") != 1 || count(dom, "<main") != 1 {
		t.Fatalf("after refresh, want one aside and one main:\n%s", dom)
	}
	if n := nodeClasses(dom); n["Frankfurt"] != "healthy" || n["Sydney"] != "sick" {
		t.Fatalf("node change not applied (classes %v); requests:\n%s", n, strings.Join(log, "\n"))
	}
	for _, want := range []string{
		`data-status="dead" data-generation="4"`,
		`refreshed <time datetime="2025-07-04T04:15:35Z">04:15:35 UTC</time>`,
		`<details class="fold" open=""><summary>23 other nodes operational</summary>`,
		`data-focus="Card processing 1"`,
	} {
		if !strings.Contains(dom, want) {
			t.Errorf("refreshed DOM lacks %q", want)
		}
	}
	// The script polled /status/text/ and revalidated "/" with its ETag; the
	// second round found nothing new (304).
	joined := strings.Join(log, "\n")
	if !strings.Contains(joined, "GET /status/text/ inm= -> 200") ||
		!regexp.MustCompile(`GET / inm="[^"]+-3-\d+" -> 200`).MatchString(joined) ||
		!regexp.MustCompile(`GET / inm="[^"]+-4-\d+" -> 304`).MatchString(joined) {
		t.Errorf("unexpected request sequence:\n%s", joined)
	}

	// 3. A phone: no sideways scrolling, and the first failing node is on
	// the first screen, below the banner and the announcement.
	rig.armed.Store(false)
	rig.holder.p.Store(incidentSnapshot(time.Date(2025, 7, 4, 4, 15, 15, 0, time.UTC)))
	frame := string(chromium(t, "--window-size=500,1000", "--virtual-time-budget=3000", "--dump-dom", rig.url+"/__phone"))
	m := regexp.MustCompile(`scrollWidth=(\d+) clientWidth=(\d+) failingBottom=(\d+) innerHeight=(\d+)`).FindStringSubmatch(frame)
	if m == nil || m[1] != m[2] || m[2] != "390" {
		t.Fatalf("phone layout: %v\n%s", m, frame)
	}
	if bottom, height := atoi(t, m[3]), atoi(t, m[4]); bottom > height {
		t.Errorf("the first failing node ends at %d px, below the first screen (%d px)", bottom, height)
	}

	// 4. Screenshots: desktop and phone, light and dark, tooltips, folds open.
	dir := screenshotDir(t)
	dark := "--force-dark-mode"
	for _, shot := range []struct {
		name          string
		width, height int
		args          []string
	}{
		{"desktop-light.png", 1280, 800, []string{rig.url + "/"}},
		{"desktop-dark.png", 1280, 800, []string{dark, rig.url + "/"}},
		{"desktop-tooltip.png", 1280, 800, []string{rig.url + "/#tip"}},
		{"desktop-full-open.png", 1280, 2000, []string{rig.url + "/#open"}},
		{"phone-light.png", 390, 844, []string{rig.url + "/"}},
		{"phone-dark.png", 390, 844, []string{dark, rig.url + "/"}},
		{"phone-tooltip.png", 390, 844, []string{dark, rig.url + "/#tip"}},
	} {
		file := filepath.Join(dir, shot.name)
		args := append([]string{fmt.Sprintf("--window-size=%d,%d", shot.width, shot.height),
			"--virtual-time-budget=3000", "--screenshot=" + file}, shot.args...)
		chromium(t, args...)
		checkPNG(t, file, shot.width, shot.height)
	}
	t.Logf("screenshots in %s", dir)
}

// TestBrowserLogoFallback: a logo that cannot be loaded gives way to the
// company name.
func TestBrowserLogoFallback(t *testing.T) {
	needChromium(t)
	rig := startBrowserRig(t, true, false)
	dom := string(chromium(t, "--window-size=1280,800", "--virtual-time-budget=3000", "--dump-dom", rig.url+"/"))
	if !strings.Contains(dom, `<a class="brand no-logo" href="/">`) ||
		!strings.Contains(dom, `<span class="brand-name">Example Ltd</span>`) {
		i := strings.Index(dom, `class="brand`)
		t.Fatalf("no fallback to the name: %s", dom[i:min(len(dom), i+400)])
	}
	file := filepath.Join(screenshotDir(t), "desktop-no-logo.png")
	chromium(t, "--window-size=1280,800", "--virtual-time-budget=3000", "--screenshot="+file, rig.url+"/")
	checkPNG(t, file, 1280, 800)
}

func atoi(t *testing.T, s string) int {
	t.Helper()
	n, err := strconv.Atoi(s)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func checkPNG(t *testing.T, file string, width, height int) {
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
	if err != nil || cfg.Width != width || cfg.Height != height {
		t.Fatalf("screenshot %s: %v, %dx%d want %dx%d", file, err, cfg.Width, cfg.Height, width, height)
	}
}

// TestBrowserHistory looks at the page with a recorded history: daily bars
// with their tooltips on focus, the keyboard walk between days, the nodes'
// history unfolded, a phone without sideways scrolling, dark mode, and the
// incident history page; it writes screenshots of each.
func TestBrowserHistory(t *testing.T) {
	needChromium(t)
	rig := startBrowserRig(t, false, true)

	dom := string(chromium(t, "--window-size=1280,800", "--virtual-time-budget=3000", "--dump-dom", rig.url+"/#keys"))
	for _, want := range []string{
		`<div class="days" tabindex="0" role="group" aria-label="Payments, last 90 days: `,
		`<section class="card past" aria-labelledby="past-incidents">`,
		`<details class="node-hist"><summary>Uptime by node</summary>`,
		`<link rel="alternate" type="application/atom+xml"`,
		// End, then the left arrow: the day before today has the focus,
		// named by its tooltip.
		`data-day="3 Jul 2025, `,
	} {
		if !strings.Contains(dom, want) {
			t.Errorf("DOM lacks %q", want)
		}
	}
	if n := count(dom, "<div class=\"days\""); n != 5 {
		t.Errorf("%d rows of daily bars, want 5", n)
	}

	// A phone: 30 days a row, no sideways scrolling, also with the nodes'
	// history open.
	frame := string(chromium(t, "--window-size=500,1000", "--virtual-time-budget=3000", "--dump-dom", rig.url+"/__phone"))
	m := regexp.MustCompile(`scrollWidth=(\d+) clientWidth=(\d+)`).FindStringSubmatch(frame)
	if m == nil || m[1] != m[2] || m[2] != "390" {
		t.Fatalf("phone layout: %v\n%s", m, frame)
	}

	dir := screenshotDir(t)
	dark := "--force-dark-mode"
	for _, shot := range []struct {
		name          string
		width, height int
		args          []string
	}{
		{"history-desktop-light.png", 1280, 1400, []string{rig.url + "/"}},
		{"history-desktop-dark.png", 1280, 1400, []string{dark, rig.url + "/"}},
		{"history-desktop-tooltip.png", 1280, 1000, []string{rig.url + "/#day"}},
		{"history-desktop-nodes.png", 1280, 2400, []string{rig.url + "/#open"}},
		{"history-phone-light.png", 390, 1600, []string{rig.url + "/"}},
		{"history-phone-dark.png", 390, 1600, []string{dark, rig.url + "/#open"}},
		{"history-phone-tooltip.png", 390, 1000, []string{rig.url + "/#day"}},
		{"history-page-light.png", 1280, 1200, []string{rig.url + "/history"}},
		{"history-page-phone-dark.png", 390, 1200, []string{dark, rig.url + "/history"}},
	} {
		file := filepath.Join(dir, shot.name)
		args := append([]string{fmt.Sprintf("--window-size=%d,%d", shot.width, shot.height),
			"--virtual-time-budget=3000", "--screenshot=" + file}, shot.args...)
		chromium(t, args...)
		checkPNG(t, file, shot.width, shot.height)
	}
	t.Logf("screenshots in %s", dir)
}
