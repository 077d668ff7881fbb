package main

import (
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vigil-go/vigil/testkit"
)

// localServerConfig is a server with two local nodes, fed by the agent.
const localServerConfig = `
[server]
log_level = "info"
inet = "127.0.0.1:%d"
manager_token = "m"
reporter_token = "r"

` + testBranding + `

[metrics]
local_delay_dead = 2

[[probe.service]]
id = "internal"
label = "Internal"

[[probe.service.node]]
id = "gateway"
label = "Gateway"
mode = "local"

[[probe.service.node]]
id = "jobs"
label = "Jobs"
mode = "local"
`

// agentConfig is a Vigil Local file: the endpoint with a trailing slash (as
// many are written), the token from the environment, a 1 s interval.
const agentConfig = `
[server]
log_level = "%s"
inet = "127.0.0.1:%d"

[report]
endpoint = "http://127.0.0.1:%d/"
token = "${AGENT_TOKEN}"

[metrics]
interval = 1
poll_retry = 0
poll_delay_dead = 2
poll_delay_sick = 1

[probe]

[[probe.service]]
id = "internal"

[[probe.service.node]]
id = "%s"
mode = "poll"
replicas = [%s]

[[probe.service.node]]
id = "jobs"
mode = "script"
scripts = [%s]
`

type agentProcess struct {
	t    *testing.T
	cmd  *exec.Cmd
	logs *syncBuffer
	base string
}

// startAgent runs `vigil local -c cfg` with the token in its environment.
func startAgent(t *testing.T, cfg, token string, port int) *agentProcess {
	t.Helper()
	logs := &syncBuffer{}
	cmd := exec.Command(binary, "local", "-c", cfg)
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "AGENT_TOKEN=" + token}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	return &agentProcess{t: t, cmd: cmd, logs: logs, base: fmt.Sprintf("http://127.0.0.1:%d", port)}
}

// series reads one series of a /metrics page, written as the exposition
// format writes it (labels in name order); ok is false when it is absent.
func series(t *testing.T, url, name string) (v float64, ok bool) {
	t.Helper()
	resp, err := http.Get(url)
	if err != nil {
		return 0, false
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	for _, line := range strings.Split(string(body), "\n") {
		if rest, found := strings.CutPrefix(line, name+" "); found {
			f, err := strconv.ParseFloat(strings.TrimSpace(rest), 64)
			return f, err == nil
		}
	}
	return 0, false
}

func replicaSeries(node, replica string) string {
	return fmt.Sprintf(`vigil_replica_status{node=%q,replica=%q,service="internal"}`, node, replica)
}

// TestLocalAgentEndToEnd runs the real binary twice, as the server and as
// the agent: the agent probes an HTTP target that is up, a TCP port that
// is closed and scripts, and the server shows each replica, under the
// agent's ids, with its status; a reload of the agent's file adds a
// replica; once the agent stops, its replicas go dead after interval +
// local_delay_dead.
func TestLocalAgentEndToEnd(t *testing.T) {
	target := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.UserAgent() != "vigil-local/"+Version {
			w.WriteHeader(http.StatusTeapot)
		}
	}))
	defer target.Close()
	closed, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	closedPort := closed.Addr().(*net.TCPAddr).Port
	closed.Close()

	port := freePort(t)
	s := startServer(t, writeFile(t, "server.cfg", fmt.Sprintf(localServerConfig, port)), filepath.Join(t.TempDir(), "data"), port)
	httpID, tcpID := target.URL+"/health", fmt.Sprintf("tcp://127.0.0.1:%d", closedPort)
	agentPort := freePort(t)
	text := fmt.Sprintf(agentConfig, "info", agentPort, port, "gateway", fmt.Sprintf("%q, %q", httpID, tcpID), `"exit 1"`)
	agentFile := writeFile(t, "vigil-local.cfg", text)
	a := startAgent(t, agentFile, "r", agentPort)

	want := map[string]float64{
		replicaSeries("gateway", httpID): 0, // healthy
		replicaSeries("gateway", tcpID):  2, // dead
		replicaSeries("jobs", "0"):       1, // sick
	}
	seen := func(want map[string]float64) bool {
		for name, v := range want {
			if got, ok := series(t, s.base+"/metrics", name); !ok || got != v {
				return false
			}
		}
		return true
	}
	if !testkit.Within(20*time.Second, func() bool { return seen(want) }) {
		_, m := s.request("GET", "/metrics", "", "")
		t.Fatalf("replicas not shown as healthy/dead/sick:\n%s\nagent log:\n%s", grepLines(m, "vigil_replica_status"), a.logs.String())
	}
	// The Manager API lists the unhealthy ones with the agent's ids.
	_, body := s.request("GET", "/manager/prober/alerts", "m", "")
	var alerts struct {
		Dead, Sick []struct{ Probe, Node, Replica string }
	}
	if err := json.Unmarshal([]byte(body), &alerts); err != nil {
		t.Fatal(err)
	}
	if len(alerts.Dead) != 1 || alerts.Dead[0].Replica != tcpID || alerts.Dead[0].Node != "gateway" ||
		len(alerts.Sick) != 1 || alerts.Sick[0].Replica != "0" || alerts.Sick[0].Node != "jobs" {
		t.Errorf("alerts %s", body)
	}

	// The agent's own endpoint.
	resp, err := http.Get(a.base + "/healthz")
	if err != nil || resp.StatusCode != 200 {
		t.Fatalf("agent /healthz: %v %v", err, resp)
	}
	resp.Body.Close()
	if v, _ := series(t, a.base+"/metrics", `vigil_local_reports_total{result="sent"}`); v < 3 {
		t.Errorf("agent metrics: %v reports sent", v)
	}
	if v, _ := series(t, a.base+"/metrics", `vigil_local_report_attempts_total{code="200"}`); v < 3 {
		t.Errorf("agent metrics: %v attempts with 200", v)
	}
	if _, ok := series(t, a.base+"/metrics", `vigil_local_probe_duration_seconds_count{kind="script"}`); !ok {
		t.Error("agent metrics lack the script probe durations")
	}

	// A changed file is reloaded: a second script reports as replica "1".
	if err := os.WriteFile(agentFile, []byte(strings.Replace(text, `scripts = ["exit 1"]`, `scripts = ["exit 1", "exit 0"]`, 1)), 0o600); err != nil {
		t.Fatal(err)
	}
	if !testkit.Within(20*time.Second, func() bool { return seen(map[string]float64{replicaSeries("jobs", "1"): 0}) }) {
		t.Fatalf("script added by a reload not reported; agent log:\n%s", a.logs.String())
	}
	if !strings.Contains(a.logs.String(), `msg="configuration reloaded" replicas_added=1`) {
		t.Errorf("reload not logged:\n%s", a.logs.String())
	}

	// The agent stops cleanly; its replicas go dead interval (1 s) +
	// local_delay_dead (2 s) after their last report.
	stopWithSIGTERM(t, a.cmd, a.logs)
	stopped := time.Now()
	deadAll := map[string]float64{replicaSeries("gateway", httpID): 2, replicaSeries("jobs", "0"): 2, replicaSeries("jobs", "1"): 2}
	if !testkit.Within(10*time.Second, func() bool { return seen(deadAll) }) {
		t.Fatal("replicas not dead after the agent stopped")
	}
	// Last report at most one interval before the stop: dead between 2 s
	// and 3 s after it (plus the time to read /metrics).
	took := time.Since(stopped)
	t.Logf("replicas dead %s after the agent stopped", took.Round(10*time.Millisecond))
	if took < 1500*time.Millisecond || took > 6*time.Second {
		t.Errorf("replicas dead %s after the agent stopped, want about 2-3 s (interval + local_delay_dead after the last report)", took)
	}
	if st := s.status(); st != "dead" {
		t.Errorf("status %q, want dead", st)
	}
}

// TestLocalAgentWrongToken: the server refuses the token; the agent logs it
// once, keeps running and keeps reporting on schedule.
func TestLocalAgentWrongToken(t *testing.T) {
	target := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer target.Close()
	port := freePort(t)
	s := startServer(t, writeFile(t, "server.cfg", fmt.Sprintf(localServerConfig, port)), filepath.Join(t.TempDir(), "data"), port)
	agentPort := freePort(t)
	text := fmt.Sprintf(agentConfig, "error", agentPort, port, "gateway", fmt.Sprintf("%q", target.URL), `"exit 0"`)
	a := startAgent(t, writeFile(t, "vigil-local.cfg", text), "not-the-token", agentPort)

	refused := `vigil_api_requests_total{api="reporter",code="403"}`
	// Two replicas, one report a second each: 8 refusals take about 4 s.
	s.waitFor("refused reports", func() bool { v, _ := series(t, s.base+"/metrics", refused); return v >= 8 })
	if n := strings.Count(a.logs.String(), "HTTP 403"); n != 1 {
		t.Errorf("the 403 logged %d times, want once:\n%s", n, a.logs.String())
	}
	if !strings.Contains(a.logs.String(), "report.token must be the server's reporter_token") {
		t.Errorf("the log does not say what to fix:\n%s", a.logs.String())
	}
	if v, _ := series(t, a.base+"/metrics", `vigil_local_report_attempts_total{code="403"}`); v < 8 {
		t.Errorf("agent counted %v refusals", v)
	}
	stopWithSIGTERM(t, a.cmd, a.logs)
}

// TestLocalAgentUnknownNode: a node the server does not have is named in
// the error; a server that is down is reported as such; neither stops the
// agent.
func TestLocalAgentUnknownNode(t *testing.T) {
	target := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer target.Close()
	port := freePort(t)
	agentPort := freePort(t)
	text := fmt.Sprintf(agentConfig, "error", agentPort, port, "nosuch", fmt.Sprintf("%q", target.URL), `"exit 0"`)
	a := startAgent(t, writeFile(t, "vigil-local.cfg", text), "r", agentPort)
	// No server yet: connection refused, logged once.
	if !testkit.Within(20*time.Second, func() bool { return strings.Contains(a.logs.String(), "connection refused") }) {
		t.Fatalf("no connection refused error:\n%s", a.logs.String())
	}
	s := startServer(t, writeFile(t, "server.cfg", fmt.Sprintf(localServerConfig, port)), filepath.Join(t.TempDir(), "data"), port)
	s.waitFor("the unknown node's error", func() bool {
		return strings.Contains(a.logs.String(), `the status page has no node \"nosuch\" of service \"internal\" (HTTP 404)`)
	})
	s.waitFor("the known node's reports", func() bool {
		v, ok := series(t, s.base+"/metrics", replicaSeries("jobs", "0"))
		return ok && v == 0
	})
	if n := strings.Count(a.logs.String(), "connection refused"); n != 1 {
		t.Errorf("connection refused logged %d times, want once:\n%s", n, a.logs.String())
	}
	stopWithSIGTERM(t, a.cmd, a.logs)
}

// TestLocalCheck: `vigil local check` prints what `vigil check` prints.
func TestLocalCheck(t *testing.T) {
	good := writeFile(t, "vigil-local.cfg", fmt.Sprintf(agentConfig, "error", 9, 8080, "gateway", `"icmp://127.0.0.1"`, `"exit 0"`)+"\n[metrics.extra]\n")
	code, stdout, stderr := runBinaryEnv(t, []string{"AGENT_TOKEN=x"}, "local", "check", "-c", good)
	if code != 0 || stdout != good+": configuration is valid (1 warning)\n" || stderr != good+": warning: metrics.extra: unknown table, ignored\n" {
		t.Errorf("valid: exit %d stdout %q stderr %q", code, stdout, stderr)
	}
	code, _, stderr = runBinaryEnv(t, []string{"PATH=" + os.Getenv("PATH")}, "local", "check", "-c", good)
	want := good + ": report.token: environment variable AGENT_TOKEN is not set\n" + good + ": warning: metrics.extra: unknown table, ignored\n" +
		good + ": configuration is invalid: 1 error, 1 warning\n"
	if code != 2 || stderr != want {
		t.Errorf("unset token: exit %d stderr:\n%s\nwant:\n%s", code, stderr, want)
	}
	// The agent refuses to start on it the same way.
	if code, _, stderr2 := runBinaryEnv(t, []string{"PATH=" + os.Getenv("PATH")}, "local", "-c", good); code != 2 || stderr2 != want {
		t.Errorf("start: exit %d stderr:\n%s", code, stderr2)
	}
	if code, stdout, _ := runBinary(t, "local", "-V"); code != 0 || stdout != "vigil-local/"+Version+"\n" {
		t.Errorf("-V: %d %q", code, stdout)
	}
	if code, _, _ := runBinary(t, "local", "check", "-c", filepath.Join(t.TempDir(), "missing.cfg")); code != 2 {
		t.Errorf("missing file: exit %d", code)
	}
}

// TestLocalAgentBindFailure: [server] inet that cannot be bound exits 3.
func TestLocalAgentBindFailure(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	text := fmt.Sprintf(agentConfig, "error", ln.Addr().(*net.TCPAddr).Port, 1, "gateway", `"tcp://127.0.0.1:1"`, `"exit 0"`)
	code, _, stderr := runBinaryEnv(t, []string{"AGENT_TOKEN=x"}, "local", "-c", writeFile(t, "vigil-local.cfg", text))
	if code != 3 || strings.Count(stderr, "address already in use") != 1 {
		t.Errorf("exit %d, stderr:\n%s", code, stderr)
	}
}
