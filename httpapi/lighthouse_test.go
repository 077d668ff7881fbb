//go:build linux

package httpapi

import (
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-go/vigil/config"
)

// The Lighthouse test audits the status page during an incident (dead and
// sick nodes, a node without data, an announcement) with 90 days of
// recorded history (daily bars, error budgets, the nodes' history, past
// incidents; historyFor), and the incident history page, with the npm
// "lighthouse" package driving the system Chromium, in the mobile form
// factor, once in light and once in dark mode. Every category must score
// 100; the failing audits are printed otherwise.
//
// Lighthouse is looked for in $VIGIL_LIGHTHOUSE (the CLI script), then in
// ~/.cache/vigil-lighthouse (where .ci/run installs it). The test skips
// when Node.js, Lighthouse or Chromium is missing, except in CI (CI=true)
// where it fails.

// lighthouseCategories are the audited categories, in report order.
var lighthouseCategories = []string{"performance", "accessibility", "best-practices", "seo"}

// lighthouseChromeFlags are the Chromium flags for a quiet headless run.
const lighthouseChromeFlags = "--headless=new --no-sandbox --disable-gpu --disable-background-networking " +
	"--disable-component-update --disable-sync --no-first-run --disable-dev-shm-usage"

// needLighthouse returns the paths of node and of the Lighthouse CLI.
func needLighthouse(t *testing.T) (node, cli string) {
	t.Helper()
	missing := func(format string, args ...any) {
		t.Helper()
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI needs "+format, args...)
		}
		t.Skipf("not installed: "+format, args...)
	}
	if _, err := os.Stat(chromiumBin); err != nil {
		missing("%s: %v", chromiumBin, err)
	}
	node, err := exec.LookPath("node")
	if err != nil {
		missing("node: %v", err)
	}
	cli = os.Getenv("VIGIL_LIGHTHOUSE")
	if cli == "" {
		home, err := os.UserHomeDir()
		if err != nil {
			missing("lighthouse (no home directory: %v)", err)
		}
		cli = filepath.Join(home, ".cache", "vigil-lighthouse", "node_modules", "lighthouse", "cli", "index.js")
	}
	if _, err := os.Stat(cli); err != nil {
		missing("lighthouse (npm install --prefix ~/.cache/vigil-lighthouse lighthouse): %v", err)
	}
	return node, cli
}

// lighthouseReport is the part of Lighthouse's JSON report the test reads.
type lighthouseReport struct {
	RuntimeError *struct{ Code, Message string } `json:"runtimeError"`
	Categories   map[string]struct {
		Score     *float64 `json:"score"`
		AuditRefs []struct {
			ID     string  `json:"id"`
			Weight float64 `json:"weight"`
		} `json:"auditRefs"`
	} `json:"categories"`
	Audits map[string]struct {
		Title        string          `json:"title"`
		Score        *float64        `json:"score"`
		DisplayValue string          `json:"displayValue"`
		Details      json.RawMessage `json:"details"`
	} `json:"audits"`
}

// runLighthouse audits url and returns the parsed report.
func runLighthouse(t *testing.T, node, cli, url string, extraChromeFlags string) *lighthouseReport {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 4*time.Minute)
	defer cancel()
	out := filepath.Join(t.TempDir(), "report.json")
	cmd := exec.CommandContext(ctx, node, cli, url,
		"--output=json", "--output-path="+out, "--quiet",
		"--form-factor=mobile",
		"--only-categories="+strings.Join(lighthouseCategories, ","),
		"--chrome-flags="+strings.TrimSpace(lighthouseChromeFlags+" "+extraChromeFlags+" --user-data-dir="+t.TempDir()),
	)
	cmd.Env = append(os.Environ(), "CHROME_PATH="+chromiumBin)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	cmd.WaitDelay = 5 * time.Second
	output, err := cmd.CombinedOutput()
	if cmd.Process != nil {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) // a Chromium left behind, if any
	}
	if err != nil {
		t.Fatalf("lighthouse: %v (timeout: %v)\n%s", err, ctx.Err() != nil, tail(string(output), 4000))
	}
	raw, err := os.ReadFile(out)
	if err != nil {
		t.Fatalf("lighthouse report: %v\n%s", err, tail(string(output), 4000))
	}
	var rep lighthouseReport
	if err := json.Unmarshal(raw, &rep); err != nil {
		t.Fatalf("lighthouse report: %v", err)
	}
	if rep.RuntimeError != nil && rep.RuntimeError.Code != "" && rep.RuntimeError.Code != "NO_ERROR" {
		t.Fatalf("lighthouse runtime error %s: %s", rep.RuntimeError.Code, rep.RuntimeError.Message)
	}
	return &rep
}

// detailItems summarises the items of an audit's details table: the
// element (selector, snippet, explanation) or the URL and message.
func detailItems(raw json.RawMessage) []string {
	var d struct {
		Items []struct {
			Node *struct {
				Selector    string `json:"selector"`
				Snippet     string `json:"snippet"`
				Explanation string `json:"explanation"`
			} `json:"node"`
			URL            string `json:"url"`
			Description    string `json:"description"`
			SourceLocation *struct {
				URL string `json:"url"`
			} `json:"sourceLocation"`
		} `json:"items"`
	}
	if len(raw) == 0 || json.Unmarshal(raw, &d) != nil {
		return nil
	}
	var out []string
	for i, it := range d.Items {
		if i == 12 {
			out = append(out, fmt.Sprintf("… %d more", len(d.Items)-i))
			break
		}
		var parts []string
		if it.Node != nil {
			parts = append(parts, it.Node.Selector, tail(it.Node.Snippet, 200), strings.ReplaceAll(it.Node.Explanation, "\n", " "))
		}
		if it.SourceLocation != nil {
			parts = append(parts, it.SourceLocation.URL)
		}
		parts = append(parts, it.URL, it.Description)
		var kept []string
		for _, p := range parts {
			if p != "" {
				kept = append(kept, p)
			}
		}
		if len(kept) > 0 {
			out = append(out, strings.Join(kept, " | "))
		}
	}
	return out
}

func tail(s string, n int) string {
	if len(s) > n {
		return "…" + s[len(s)-n:]
	}
	return s
}

// scores returns each category's score out of 100 (-1 when missing).
func (r *lighthouseReport) scores() map[string]int {
	m := map[string]int{}
	for _, c := range lighthouseCategories {
		m[c] = -1
		if cat, ok := r.Categories[c]; ok && cat.Score != nil {
			m[c] = int(*cat.Score*100 + 0.5)
		}
	}
	return m
}

// failures describes the weighted audits of category c that did not pass.
func (r *lighthouseReport) failures(c string) []string {
	var out []string
	for _, ref := range r.Categories[c].AuditRefs {
		a, ok := r.Audits[ref.ID]
		if !ok || a.Score == nil || *a.Score >= 1 || (ref.Weight == 0 && c != "performance") {
			continue
		}
		line := fmt.Sprintf("%s (%s): score %.2f %s", ref.ID, a.Title, *a.Score, a.DisplayValue)
		for _, item := range detailItems(a.Details) {
			line += "\n      - " + item
		}
		out = append(out, line)
	}
	sort.Strings(out)
	return out
}

// lighthouseServer serves the incident page with its history on a
// loopback port, branded like the bundled config.cfg: logo and icon are the embedded brand files,
// addressed by absolute URLs as a configuration must write them.
func lighthouseServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	b := config.Branding{
		PageTitle: "Example Status", PageURL: base, CompanyName: "Example Ltd",
		IconColor: "#1d4ed8", IconURL: base + "/assets/images/brand/icon.svg",
		LogoColor: "#1d4ed8", LogoURL: base + "/assets/images/brand/logo.svg",
		WebsiteURL: "https://example.com/", SupportURL: "mailto:support@example.com",
	}
	now := time.Now().UTC()
	srv := New(Options{Addr: ln.Addr().String(), Snapshots: fixedSnapshots{withHistory(incidentSnapshot(now), now)},
		Branding: b, Version: "test", Page: Page{Title: b.PageTitle, URL: b.PageURL},
		Logger: slog.New(slog.DiscardHandler)})
	hs := &http.Server{Handler: srv.Handler(), ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = hs.Serve(ln) }()
	t.Cleanup(func() { _ = hs.Close() })
	return base + "/"
}

// lighthouseRuns bounds the runs per colour scheme: performance is timed
// on a machine that other work shares, so a run that only misses on
// performance is repeated and the best performance score counts. The other
// categories do not depend on timing and must be 100 in every run. The
// test task runs this test alone, after the rest of the suite; even so, on
// a shared two-processor virtual machine whose neighbours load the host,
// runs score 95-99 for minutes at a time (total blocking time 90-260 ms
// instead of 40-80), so a scheme gets up to ten runs (about 20 s each).
const lighthouseRuns = 10

func TestLighthouseIncidentPage(t *testing.T) {
	node, cli := needLighthouse(t)
	base := lighthouseServer(t)
	dir := screenshotDir(t)
	for _, mode := range []struct{ name, flags, path string }{
		{"light", "", ""},
		{"dark", "--force-dark-mode", ""},
		{"history", "", "history"},
	} {
		url := base + mode.path
		t.Run(mode.name, func(t *testing.T) {
			var rep *lighthouseReport
			best := 0
			for run := 1; run <= lighthouseRuns; run++ {
				rep = runLighthouse(t, node, cli, url, mode.flags)
				scores := rep.scores()
				best = max(best, scores["performance"])
				t.Logf("%s, run %d: performance %d, accessibility %d, best practices %d, SEO %d", mode.name, run,
					scores["performance"], scores["accessibility"], scores["best-practices"], scores["seo"])
				for _, c := range lighthouseCategories[1:] {
					if scores[c] < 100 {
						t.Errorf("%s scores %d:\n  %s", c, scores[c], strings.Join(rep.failures(c), "\n  "))
					}
				}
				if t.Failed() || scores["performance"] == 100 {
					break
				}
				if run == lighthouseRuns {
					t.Errorf("performance scores %d at best over %d runs (last run's audits):\n  %s", best, run,
						strings.Join(rep.failures("performance"), "\n  "))
				}
			}
			rep.saveScreenshot(t, filepath.Join(dir, "lighthouse-"+mode.name+".jpg"))
		})
	}
}

// saveScreenshot writes the report's final screenshot (what Lighthouse saw
// on its emulated phone) to file.
func (r *lighthouseReport) saveScreenshot(t *testing.T, file string) {
	t.Helper()
	a, ok := r.Audits["final-screenshot"]
	if !ok {
		return
	}
	var d struct {
		Data string `json:"data"`
	}
	if json.Unmarshal(a.Details, &d) != nil {
		return
	}
	raw, ok := strings.CutPrefix(d.Data, "data:image/jpeg;base64,")
	if !ok {
		return
	}
	img, err := base64.StdEncoding.DecodeString(raw)
	if err != nil {
		t.Errorf("final screenshot: %v", err)
		return
	}
	if err := os.WriteFile(file, img, 0o644); err != nil {
		t.Error(err)
	}
}
