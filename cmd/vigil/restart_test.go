package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-go/vigil/testkit"
)

const restartConfig = `
[server]
log_level = "info"
inet = "127.0.0.1:%d"
manager_token = "m"
reporter_token = "r"

` + testBranding + `

[metrics]
poll_interval = 1
poll_retry = 0
poll_delay_dead = 2
poll_delay_sick = 1
push_delay_dead = 1

[notify]
startup_notification = true

[notify.webhook]
hook_url = "%s"

[[probe.service]]
id = "web"
label = "Web"

[[probe.service.node]]
id = "api"
label = "API"
mode = "poll"
replicas = ["%s"]

[[probe.service]]
id = "relay"
label = "Relay"

[[probe.service.node]]
id = "socket"
label = "Socket"
mode = "push"
`

// webhookLog records every delivery.
type webhookLog struct {
	mu    sync.Mutex
	kinds []string
}

func (l *webhookLog) add(kind string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.kinds = append(l.kinds, kind)
}

func (l *webhookLog) count(kind string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	n := 0
	for _, k := range l.kinds {
		if k == kind {
			n++
		}
	}
	return n
}

func (l *webhookLog) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return strings.Join(l.kinds, ", ")
}

// syncBuffer collects a child process's output; the test may read it
// while the process still writes.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

type server struct {
	t    *testing.T
	cmd  *exec.Cmd
	base string
	logs *syncBuffer
}

func startServer(t *testing.T, cfg, dataDir string, port int) *server {
	t.Helper()
	logs := &syncBuffer{}
	cmd := exec.Command(binary, "-c", cfg, "--data-dir", dataDir)
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &server{t: t, cmd: cmd, base: fmt.Sprintf("http://127.0.0.1:%d", port), logs: logs}
	t.Cleanup(func() { cmd.Process.Kill(); cmd.Wait() })
	s.waitFor("server up", func() bool {
		resp, err := http.Get(s.base + "/status/text")
		if err == nil {
			resp.Body.Close()
		}
		return err == nil
	})
	return s
}

// waitFor polls the child process until cond holds (at most 20 s).
func (s *server) waitFor(what string, cond func() bool) {
	s.t.Helper()
	if !testkit.Within(20*time.Second, cond) {
		s.t.Fatalf("timed out waiting for %s; server log:\n%s", what, s.logs.String())
	}
}

// metric reads one series from /metrics, written as the exposition format
// writes it (labels in name order), e.g.
// vigil_probe_results_total{kind="http",status="dead"}; 0 when absent.
func (s *server) metric(series string) float64 {
	s.t.Helper()
	_, text := s.request("GET", "/metrics", "", "")
	for _, line := range strings.Split(text, "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			f, err := strconv.ParseFloat(strings.TrimSpace(v), 64)
			if err != nil {
				s.t.Fatalf("metric %s: %v", series, err)
			}
			return f
		}
	}
	return 0
}

// waitForMetric waits until series has grown by at least n from now.
func (s *server) waitForMetric(series string, n float64) {
	s.t.Helper()
	from := s.metric(series)
	s.waitFor(fmt.Sprintf("%s to grow by %v from %v", series, n, from), func() bool { return s.metric(series) >= from+n })
}

// waitForStoreFlush waits until what the server had applied when it was
// called is durable. The periodic flush hands every pending change to the
// store writer, which writes batches in order; a batch taken just before
// the call may still be on its way, so the flush that follows it is the
// one to wait for: two more writes.
func (s *server) waitForStoreFlush() {
	s.t.Helper()
	s.waitForMetric("vigil_store_writes_total", 2)
}

func (s *server) request(method, path, token, body string) (int, string) {
	s.t.Helper()
	req, _ := http.NewRequest(method, s.base+path, strings.NewReader(body))
	req.SetBasicAuth("", token)
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		s.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

func (s *server) kill() {
	s.cmd.Process.Signal(syscall.SIGKILL)
	s.cmd.Wait()
}

func (s *server) status() string {
	_, body := s.request("GET", "/status/text", "", "")
	return body
}

// The probe results of the poll replica, by status.
const (
	deadProbes    = `vigil_probe_results_total{kind="http",status="dead"}`
	healthyProbes = `vigil_probe_results_total{kind="http",status="healthy"}`
)

// TestRestartKeepsStateAndAlertsOnce kills the real binary with SIGKILL
// between runs and checks that announcements and replicas survive, that an
// outage going on across a restart is not alerted again, and that a
// recovery that happened while the server was down is alerted once.
func TestRestartKeepsStateAndAlertsOnce(t *testing.T) {
	target, healthy := switchableTarget(t)
	hooks := &webhookLog{}
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var p struct{ Type, Status string }
		json.NewDecoder(r.Body).Decode(&p)
		hooks.add(p.Type + "/" + p.Status)
	}))
	defer hook.Close()
	port := freePort(t)
	cfg := writeFile(t, "config.cfg", fmt.Sprintf(restartConfig, port, hook.URL, target.URL+"/health"))
	dataDir := filepath.Join(t.TempDir(), "data")

	// Run 1: an outage starts; an announcement and a push replica appear.
	s := startServer(t, cfg, dataDir, port)
	s.waitFor("first outage alert", func() bool { return hooks.count("changed/dead") == 1 })
	code, body := s.request("POST", "/manager/announcement", "m", `{"title":"Maintenance","text":"tonight"}`)
	if code != 200 {
		t.Fatalf("announcement: %d %s", code, body)
	}
	if code, _ := s.request("POST", "/reporter/relay/socket/", "r", `{"replica":"10.0.0.9","interval":3,"load":{"cpu":0.1,"ram":0.1}}`); code != 200 {
		t.Fatalf("push report: %d", code)
	}
	s.waitForStoreFlush() // the push replica is stored by the periodic flush
	s.kill()

	// Run 2: same outage; nothing alerted again; state restored.
	s = startServer(t, cfg, dataDir, port)
	_, list := s.request("GET", "/manager/announcements", "m", "")
	if !strings.Contains(list, `"title":"Maintenance"`) {
		t.Fatalf("announcement lost across SIGKILL: %s", list)
	}
	s.waitFor("restored push replica to expire", func() bool {
		_, alerts := s.request("GET", "/manager/prober/alerts", "m", "")
		return strings.Contains(alerts, `"replica":"10.0.0.9"`) && strings.Contains(alerts, `"replica":"`+target.URL+`/health"`)
	})
	s.waitForMetric(deadProbes, 3) // several probe rounds that confirm the outage
	if n := hooks.count("changed/dead"); n != 1 {
		t.Fatalf("outage alerted %d times across the restart: %s", n, hooks)
	}
	if code, _ := s.request("DELETE", "/reporter/relay/socket/10.0.0.9/", "r", ""); code != 200 {
		t.Fatalf("flush: %d", code)
	}
	s.waitForStoreFlush()
	s.kill()

	// Down time: the service recovers. Run 3 alerts the recovery once.
	healthy.Store(true)
	s = startServer(t, cfg, dataDir, port)
	s.waitFor("recovery alert", func() bool { return hooks.count("changed/healthy") == 1 })
	s.waitFor("healthy page", func() bool { return s.status() == "healthy" })
	s.waitForMetric(healthyProbes, 2) // rounds that could alert the recovery again
	if got := fmt.Sprint(hooks.count("startup/healthy"), hooks.count("changed/dead"), hooks.count("changed/healthy")); got != "3 1 1" {
		t.Fatalf("webhooks (startup, dead, recovery) = %s, want 3 1 1; all: %s", got, hooks)
	}
	_, list = s.request("GET", "/manager/announcements", "m", "")
	if !strings.Contains(list, "Maintenance") {
		t.Fatalf("announcement lost in run 3: %s", list)
	}
	// A graceful stop exits 0.
	s.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- s.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("SIGTERM exit: %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("no exit within 10 s of SIGTERM")
	}
}

// switchableTarget is an HTTP target that answers 500 until healthy is
// set, then 200; it is closed when the test ends.
func switchableTarget(t *testing.T) (target *httptest.Server, healthy *atomic.Bool) {
	healthy = new(atomic.Bool)
	target = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if !healthy.Load() {
			w.WriteHeader(http.StatusInternalServerError)
		}
	}))
	t.Cleanup(target.Close)
	return target, healthy
}
