package main

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

var binary string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "vigil-bin")
	if err != nil {
		panic(err)
	}
	binary = filepath.Join(dir, "vigil")
	build := exec.Command("go", "build", "-o", binary, ".")
	build.Env = append(os.Environ(), "CGO_ENABLED=0")
	build.Stderr = os.Stderr
	if err := build.Run(); err != nil {
		panic("building vigil: " + err.Error())
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

func freePort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// testBranding is the [assets] and [branding] part of every test config.
const testBranding = `[assets]

[branding]
page_title = "E2E"
page_url = "http://status.test"
company_name = "Test"
icon_color = "#000"
icon_url = "http://status.test/icon.png"
logo_color = "#000"
logo_url = "http://status.test/logo.png"
website_url = "http://status.test"
support_url = "mailto:ops@status.test"
`

const configTemplate = `
[server]
log_level = "debug"
inet = "127.0.0.1:%d"
manager_token = "m"
reporter_token = "r"

` + testBranding + `

[metrics]
poll_interval = 1
poll_retry = 0
poll_delay_dead = 2
poll_delay_sick = 1
script_interval = 1

[[probe.service]]
id = "web"
label = "Web"

[[probe.service.node]]
id = "api"
label = "API"
mode = "poll"
replicas = ["%s", "tcp://127.0.0.1:%d"]

[[probe.service.node]]
id = "jobs"
label = "Jobs"
mode = "script"
scripts = ["exit 0", "exit 1"]
`

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

type report struct {
	Health string `json:"health"`
	Page   struct{ Name, URL string }
	Probes []struct {
		Name   string
		Status string
		Nodes  []struct {
			Name     string
			Status   string
			Replicas []string
		}
	}
}

// TestServerEndToEnd starts the real binary against loopback targets and
// reads its status, then stops it with SIGTERM.
func TestServerEndToEnd(t *testing.T) {
	var hits atomic.Int64
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hits.Add(1)
		if r.Method != http.MethodHead || r.UserAgent() != "vigil (+http://status.test/)" {
			w.WriteHeader(http.StatusTeapot)
		}
	}))
	defer target.Close()
	tcpTarget, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer tcpTarget.Close()
	go func() {
		for {
			c, err := tcpTarget.Accept()
			if err != nil {
				return
			}
			c.Close()
		}
	}()
	port := freePort(t)
	cfg := writeFile(t, "config.cfg", fmt.Sprintf(configTemplate, port, target.URL+"/health", tcpTarget.Addr().(*net.TCPAddr).Port))

	logs := &syncBuffer{}
	cmd := exec.Command(binary, "-c", cfg)
	cmd.Stderr = logs
	cmd.Stdout = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()

	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	var rep report
	deadline := time.Now().Add(20 * time.Second)
	for {
		if time.Now().After(deadline) {
			t.Fatalf("no complete report in time: %+v\nlogs:\n%s", rep, logs.String())
		}
		time.Sleep(200 * time.Millisecond)
		resp, err := http.Get(base + "/status/report/")
		if err != nil {
			continue
		}
		err = json.NewDecoder(resp.Body).Decode(&rep)
		resp.Body.Close()
		// Two hits on the HTTP target mean the first result has been
		// delivered (the interval is 1 s).
		if err == nil && rep.Health == "sick" && hits.Load() >= 2 {
			break
		}
	}
	if rep.Page.URL != "http://status.test/" || len(rep.Probes) != 1 || len(rep.Probes[0].Nodes) != 2 {
		t.Fatalf("unexpected report %+v", rep)
	}
	api, jobs := rep.Probes[0].Nodes[0], rep.Probes[0].Nodes[1]
	if api.Status != "healthy" || strings.Join(api.Replicas, ",") != "healthy,healthy" {
		t.Fatalf("api node %+v", api)
	}
	if jobs.Status != "sick" || strings.Join(jobs.Replicas, ",") != "healthy,sick" {
		t.Fatalf("jobs node %+v", jobs)
	}
	resp, err := http.Get(base + "//status/text/")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if string(body) != "sick" {
		t.Fatalf("/status/text = %q", body)
	}

	// Metrics: statuses, probe histograms, API counters, runtime.
	req, _ := http.NewRequest(http.MethodPost, base+"/reporter/web/api/", strings.NewReader("{}"))
	req.SetBasicAuth("", "wrong")
	if resp, err := http.DefaultClient.Do(req); err == nil {
		resp.Body.Close()
	}
	resp, err = http.Get(base + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metricsText, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{
		"vigil_status 1", `vigil_node_status{node="jobs",service="web"} 1`,
		`vigil_replica_status{node="jobs",replica="1",service="web"} 1`,
		`vigil_probe_duration_seconds_bucket{kind="http",le=`, `vigil_probe_results_total{kind="script",status="sick"}`,
		`vigil_probe_results_total{kind="tcp",status="healthy"}`,
		`vigil_api_requests_total{api="reporter",code="403"} 1`, "go_goroutines", "process_resident_memory_bytes",
	} {
		if !strings.Contains(string(metricsText), want) {
			t.Errorf("/metrics lacks %q", want)
		}
	}
	for _, path := range []string{"/healthz", "/readyz"} {
		resp, err := http.Get(base + path)
		if err != nil || resp.StatusCode != 200 {
			t.Fatalf("%s: %v %v", path, err, resp)
		}
		resp.Body.Close()
	}

	if err := cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	done := make(chan error, 1)
	go func() { done <- cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("exit after SIGTERM: %v\nlogs:\n%s", err, logs.String())
		}
	case <-time.After(10 * time.Second):
		t.Fatal("server did not stop within 10 s of SIGTERM")
	}
}

func runBinary(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	var exit *exec.ExitError
	if errors.As(err, &exit) {
		return exit.ExitCode(), stdout.String(), stderr.String()
	}
	if err != nil {
		t.Fatal(err)
	}
	return 0, stdout.String(), stderr.String()
}

func TestCheckReportsEveryProblem(t *testing.T) {
	bad := fmt.Sprintf(configTemplate, 8080, "tcp://127.0.0.1:80/", 1)
	bad = strings.Replace(bad, `inet = "127.0.0.1:8080"`, `inet = "localhost:8080"`, 1)
	path := writeFile(t, "bad.cfg", bad)
	code, _, stderr := runBinary(t, "check", "-c", path)
	if code != 2 {
		t.Fatalf("exit %d, want 2; stderr:\n%s", code, stderr)
	}
	for _, want := range []string{"server.inet", "probe.service[0].node[0].replicas[0]"} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, stderr)
		}
	}
	// Starting the server on the same file fails the same way.
	code, _, stderr2 := runBinary(t, "-c", path)
	if code != 2 || !strings.Contains(stderr2, "server.inet") {
		t.Fatalf("server start: exit %d, stderr:\n%s", code, stderr2)
	}
}

func TestCheckValidAndWarnings(t *testing.T) {
	good := fmt.Sprintf(configTemplate, 8080, "http://127.0.0.1/", 1) + "\n[notify.nosuch]\nfoo = 1\n"
	code, stdout, stderr := runBinary(t, "check", "--config", writeFile(t, "good.cfg", good))
	if code != 0 || !strings.Contains(stdout, "valid") || !strings.Contains(stderr, "notify.nosuch") {
		t.Fatalf("exit %d stdout %q stderr %q", code, stdout, stderr)
	}
}

func TestCommandLine(t *testing.T) {
	if code, stdout, _ := runBinary(t, "-V"); code != 0 || !strings.HasPrefix(stdout, "vigil-server ") {
		t.Fatalf("-V: %d %q", code, stdout)
	}
	if code, _, _ := runBinary(t, "--bogus"); code != 2 {
		t.Fatalf("unknown flag: exit %d, want 2", code)
	}
	if code, _, stderr := runBinary(t, "-c", filepath.Join(t.TempDir(), "missing.cfg")); code != 2 || !strings.Contains(stderr, "missing.cfg") {
		t.Fatalf("missing file: exit %d stderr %q", code, stderr)
	}
}

func TestBindFailureExits(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	cfg := writeFile(t, "config.cfg", fmt.Sprintf(configTemplate, port, "http://127.0.0.1:1/", 1))
	code, _, stderr := runBinary(t, "-c", cfg)
	if code != 3 || !strings.Contains(stderr, "cannot listen") {
		t.Fatalf("exit %d, want 3; stderr:\n%s", code, stderr)
	}
}
