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
	"regexp"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-go/vigil/testkit"
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
	// Two hits on the HTTP target mean the first result has been delivered
	// (the interval is 1 s).
	rep := waitReport(t, base+"/status/report/", logs, func(rep report) bool {
		return rep.Health == "sick" && hits.Load() >= 2
	})
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

	stopWithSIGTERM(t, cmd, logs)
}

func runBinary(t *testing.T, args ...string) (int, string, string) {
	t.Helper()
	return runBinaryEnv(t, nil, args...)
}

// runBinaryEnv runs the binary with environ (nil: the test's environment).
func runBinaryEnv(t *testing.T, environ []string, args ...string) (int, string, string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
	defer cancel()
	cmd := exec.CommandContext(ctx, binary, args...)
	cmd.Env = environ
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
	path := writeFile(t, "good.cfg", good)
	code, stdout, stderr := runBinary(t, "check", "--config", path)
	if code != 0 || stdout != path+": configuration is valid (1 warning)\n" ||
		stderr != path+": warning: notify.nosuch: unknown table, ignored\n" {
		t.Fatalf("exit %d stdout %q stderr %q", code, stdout, stderr)
	}
}

// TestCheckPrintsErrorsThenWarnings: errors and warnings are printed
// together, errors first, then a count; a misspelt key's warning names the
// key it probably stands for, at check time and when the server refuses to
// start.
func TestCheckPrintsErrorsThenWarnings(t *testing.T) {
	text := fmt.Sprintf(configTemplate, 8080, "http://127.0.0.1/", 1)
	text = strings.Replace(text, `reporter_token = "r"`, `reporter_tokn = "r"`, 1)
	text = strings.Replace(text, `inet = "127.0.0.1:8080"`, `inet = "localhost:8080"`, 1)
	text += "\n[notify.slak]\nhook_url = \"https://hooks.slack.com/services/T0/B0/x\"\n"
	path := writeFile(t, "typo.cfg", text)
	want := path + `: server.inet: must be an IP address and port, e.g. 0.0.0.0:8080 (got "localhost:8080")
` + path + `: server.reporter_token: required key missing
` + path + `: warning: server.reporter_tokn: unknown key (did you mean "reporter_token"?)
` + path + `: warning: notify.slak: unknown table (did you mean "slack"?)
` + path + `: configuration is invalid: 2 errors, 2 warnings
`
	code, stdout, stderr := runBinary(t, "check", "-c", path)
	if code != 2 || stdout != "" || stderr != want {
		t.Fatalf("exit %d, stdout %q, stderr:\n%s\nwant:\n%s", code, stdout, stderr, want)
	}
	code, _, stderr = runBinary(t, "-c", path)
	if code != 2 || stderr != want {
		t.Fatalf("server start: exit %d, stderr:\n%s", code, stderr)
	}
}

// TestCheckUnsetSecretVariable: a secret whose ${NAME} is not set is an
// error naming the variable; once set, the file is valid.
func TestCheckUnsetSecretVariable(t *testing.T) {
	text := fmt.Sprintf(configTemplate, 8080, "http://127.0.0.1/", 1)
	text = strings.Replace(text, `manager_token = "m"`, `manager_token = "${VIGIL_MANAGER_TOKEN}"`, 1)
	path := writeFile(t, "env.cfg", text)
	env := []string{"PATH=" + os.Getenv("PATH")}
	code, _, stderr := runBinaryEnv(t, env, "check", "-c", path)
	if code != 2 || !strings.HasPrefix(stderr, path+": server.manager_token: environment variable VIGIL_MANAGER_TOKEN is not set\n") {
		t.Fatalf("exit %d, stderr:\n%s", code, stderr)
	}
	code, stdout, stderr := runBinaryEnv(t, append(env, "VIGIL_MANAGER_TOKEN=0f1e2d3c"), "check", "-c", path)
	if code != 0 || stdout != path+": configuration is valid\n" || stderr != "" {
		t.Fatalf("with the variable: exit %d, stdout %q, stderr %q", code, stdout, stderr)
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

// sampleFile is the original Vigil's published sample, every section enabled.
const sampleFile = "../../testdata/config/valid/original-sample.cfg"

// TestOriginalSampleChecks: `vigil check` accepts the original's published
// sample, placeholders and all, with one warning per value that cannot work.
func TestOriginalSampleChecks(t *testing.T) {
	code, stdout, stderr := runBinary(t, "check", "-c", sampleFile)
	if code != 0 || stdout != sampleFile+": configuration is valid (15 warnings)\n" {
		t.Fatalf("exit %d, stdout %q, stderr:\n%s", code, stdout, stderr)
	}
	lines := strings.Split(strings.TrimSuffix(stderr, "\n"), "\n")
	if len(lines) != 15 {
		t.Fatalf("%d lines on stderr:\n%s", len(lines), stderr)
	}
	for _, l := range lines {
		if !strings.HasPrefix(l, sampleFile+": warning: ") {
			t.Errorf("not a warning: %q", l)
		}
	}
	for _, want := range []string{
		`warning: notify.twilio.account_sid: must be letters and digits only, such as AC followed by 32 hexadecimal digits (got "account-sid")`,
		"warning: server.manager_token: is the example value from the original Vigil's sample config.cfg",
		"warning: notify.webhook.hook_url: is the placeholder from the original Vigil's sample config.cfg",
	} {
		if !strings.Contains(stderr, want) {
			t.Errorf("stderr lacks %q", want)
		}
	}
}

// TestOriginalSampleStarts starts the server on the sample with loopback
// addresses: host names become 127.0.0.1, the listen address a free port,
// every notifier request to a fixed API host (Telegram, Pushover) goes to a
// closed loopback proxy, and the XMPP notifier (which would look up DNS) is
// limited to reminders. The server serves every probe of the sample and logs
// the warnings with their paths.
func TestOriginalSampleStarts(t *testing.T) {
	data, err := os.ReadFile(sampleFile)
	if err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	text := strings.Replace(string(data), `inet = "[::1]:8080"`, fmt.Sprintf(`inet = "127.0.0.1:%d"`, port), 1)
	hosts := regexp.MustCompile(`[A-Za-z0-9.-]*acme\.example|hooks\.slack\.com|domain\.zulipchat\.com|push\.gotify\.net|matrix\.org|webexapis\.com|domain\.com`)
	text = hosts.ReplaceAllString(text, "127.0.0.1")
	text = strings.Replace(text, `xmpp_password = "xmpp-password"`, "xmpp_password = \"xmpp-password\"\nreminders_only = true", 1)
	cfg := writeFile(t, "config.cfg", text)

	logs := &syncBuffer{}
	cmd := exec.Command(binary, "-c", cfg)
	proxy := fmt.Sprintf("http://127.0.0.1:%d", freePort(t))
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(), "HTTP_PROXY=" + proxy, "HTTPS_PROXY=" + proxy}
	cmd.Stdout, cmd.Stderr = logs, logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Process.Kill()

	base := fmt.Sprintf("http://127.0.0.1:%d", port)
	rep := waitReport(t, base+"/status/report", logs, func(rep report) bool { return len(rep.Probes) > 0 })
	var got []string
	for _, p := range rep.Probes {
		got = append(got, fmt.Sprintf("%s:%d", p.Name, len(p.Nodes)))
	}
	if want := "Web nodes:5 Relay nodes:1 Internal nodes:2 Plugin nodes:1"; strings.Join(got, " ") != want {
		t.Errorf("probes %v, want %s", got, want)
	}
	if rep.Page.Name != "Acme Status" {
		t.Errorf("page %+v", rep.Page)
	}
	for _, want := range []string{"path=notify.twilio.account_sid", "path=server.reporter_token"} {
		if !strings.Contains(logs.String(), want) {
			t.Errorf("startup log lacks %q:\n%s", want, logs.String())
		}
	}

	stopWithSIGTERM(t, cmd, logs)
}

// waitReport polls the report at url until done accepts one (at most 20 s)
// and returns that report; logs are the server's, shown on a time-out.
func waitReport(t *testing.T, url string, logs *syncBuffer, done func(report) bool) report {
	t.Helper()
	var last report
	ok := testkit.Within(20*time.Second, func() bool {
		resp, err := http.Get(url)
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var rep report
		if json.NewDecoder(resp.Body).Decode(&rep) != nil {
			return false
		}
		last = rep
		return done(rep)
	})
	if !ok {
		t.Fatalf("no report in time from %s; last %+v\nlogs:\n%s", url, last, logs.String())
	}
	return last
}

// stopWithSIGTERM sends the server SIGTERM and fails unless it exits with
// code 0 within 10 s.
func stopWithSIGTERM(t *testing.T, cmd *exec.Cmd, logs *syncBuffer) {
	t.Helper()
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
