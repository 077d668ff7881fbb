package agent

import (
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/vigil-go/vigil/config"
)

// sample is an agent file in the original agent's format, every table
// used, as an operator would have it next to the original daemon.
const sample = `
[server]
log_level = "debug"

[report]
endpoint = "https://status.example.com/"
token = "${VIGIL_REPORTER_TOKEN}"

[metrics]
interval = 60
poll_retry = 3
poll_http_status_healthy_above = 200
poll_http_status_healthy_below = 300
poll_delay_dead = 5
poll_delay_sick = 2

[probe]

[[probe.service]]
id = "internal"

[[probe.service.node]]
id = "gateway"
mode = "poll"
replicas = ["icmp://127.0.0.1", "tcp://10.0.0.1:22", "https://intranet.local/health", "icmp://127.0.0.1"]
http_body_healthy_match = "OK"

[[probe.service.node]]
id = "capacity"
mode = "script"
scripts = [
  '''
  # Consider as up
  exit 0
  ''',
  "exit 1",
]
`

var env = []string{"VIGIL_REPORTER_TOKEN=s3cret"}

func TestParseSample(t *testing.T) {
	cfg, warnings, err := Parse([]byte(sample), env)
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) != 0 {
		t.Errorf("warnings: %v", warnings)
	}
	if cfg.Server.LogLevel != "debug" || cfg.Server.Inet != "" {
		t.Errorf("server %+v", cfg.Server)
	}
	if cfg.Report.Endpoint != "https://status.example.com" || cfg.Report.Token != "s3cret" {
		t.Errorf("report %+v", cfg.Report)
	}
	m := cfg.Metrics
	if m.PollEvery() != time.Minute || m.ScriptEvery() != time.Minute || m.PollRetry != 3 || m.PollHTTPStatusHealthyBelow != 300 ||
		m.PollDelayDead != 5*time.Second || m.PollDelaySick != 2*time.Second {
		t.Errorf("metrics %+v", m)
	}
	gw := cfg.Probe.Services[0].Nodes[0]
	var ids []string
	for _, r := range gw.Replicas {
		ids = append(ids, r.ID)
	}
	if strings.Join(ids, " ") != "icmp://127.0.0.1 tcp://10.0.0.1:22 https://intranet.local/health" {
		t.Errorf("replicas %v (duplicates collapse, ids as written)", ids)
	}
	if gw.HTTPBodyHealthyMatch == nil || gw.HTTPBodyHealthyMatch.String() != "OK" {
		t.Errorf("http_body_healthy_match %v", gw.HTTPBodyHealthyMatch)
	}
	if n := cfg.Probe.Services[0].Nodes[1]; n.Mode != config.ModeScript || len(n.Scripts) != 2 {
		t.Errorf("script node %+v", n)
	}
	intervals := targetsOf(cfg).Intervals
	if len(intervals) != 5 {
		t.Errorf("targets %v", intervals)
	}
}

// TestDefaults: a minimal file gets the original agent's defaults.
func TestDefaults(t *testing.T) {
	cfg, warnings, err := Parse([]byte(`
[report]
endpoint = "http://10.1.2.3:8080"
token = "t"
[[probe.service]]
id = "s"
[[probe.service.node]]
id = "n"
mode = "script"
scripts = ["exit 0"]
`), nil)
	if err != nil || len(warnings) != 0 {
		t.Fatalf("err %v warnings %v", err, warnings)
	}
	m := cfg.Metrics
	if cfg.Server.LogLevel != "error" || m.PollEvery() != 120*time.Second || m.ScriptEvery() != 120*time.Second || m.PollRetry != 2 ||
		m.PollHTTPStatusHealthyAbove != 200 || m.PollHTTPStatusHealthyBelow != 400 || m.PollDelayDead != 10*time.Second || m.PollDelaySick != time.Second {
		t.Errorf("defaults: server %+v metrics %+v", cfg.Server, m)
	}
	if cfg.Report.Endpoint != "http://10.1.2.3:8080" {
		t.Errorf("endpoint %q", cfg.Report.Endpoint)
	}
	sm := cfg.serverMetrics()
	if sm.ScriptTimeout != 120*time.Second || sm.PollRetryWait != RetryWait {
		t.Errorf("server metrics %+v", sm)
	}
}

// TestLegacyIntervals: poll_interval and script_interval of older files
// still set the intervals; interval wins over them, with a warning.
func TestLegacyIntervals(t *testing.T) {
	base := "[report]\nendpoint = \"http://h\"\ntoken = \"t\"\n[[probe.service]]\nid = \"s\"\n[[probe.service.node]]\nid = \"n\"\nmode = \"script\"\nscripts = [\"exit 0\"]\n"
	cfg, warnings, err := Parse([]byte(base+"[metrics]\npoll_interval = 30\nscript_interval = 90\n"), nil)
	if err != nil || len(warnings) != 0 {
		t.Fatalf("err %v warnings %v", err, warnings)
	}
	if cfg.Metrics.PollEvery() != 30*time.Second || cfg.Metrics.ScriptEvery() != 90*time.Second {
		t.Errorf("poll %s script %s", cfg.Metrics.PollEvery(), cfg.Metrics.ScriptEvery())
	}
	cfg, warnings, err = Parse([]byte(base+"[metrics]\ninterval = 10\npoll_interval = 30\nscript_interval = 90\n"), nil)
	if err != nil {
		t.Fatal(err)
	}
	if cfg.Metrics.PollEvery() != 10*time.Second || cfg.Metrics.ScriptEvery() != 10*time.Second {
		t.Errorf("poll %s script %s", cfg.Metrics.PollEvery(), cfg.Metrics.ScriptEvery())
	}
	if len(warnings) != 2 || warnings[0].Path != "metrics.poll_interval" || warnings[1].Path != "metrics.script_interval" {
		t.Errorf("warnings %v", warnings)
	}
}

// TestProblems: every problem comes out at once, with its TOML path and
// the server loader's wording.
func TestProblems(t *testing.T) {
	_, warnings, err := Parse([]byte(`
[server]
log_level = "loud"
inet = "localhost:9"
[report]
endpoint = "ftp://status.example.com"
token = "${UNSET_TOKEN}"
[metrics]
interval = 0
intervall = 3
[[probe.service]]
id = "s"
[[probe.service.node]]
id = "n"
mode = "push"
[[probe.service.node]]
id = "n"
mode = "script"
replicas = ["tcp://127.0.0.1:1"]
[[probe.service.node]]
id = "p"
mode = "poll"
replicas = ["tcp://127.0.0.1"]
[[probe.service]]
id = "s"
node = []
`), nil)
	var problems config.Errors
	if !errors.As(err, &problems) {
		t.Fatalf("err = %v", err)
	}
	want := []string{
		`server.log_level: must be one of off, error, warn, info, debug, trace (got "loud")`,
		`server.inet: must be an IP address and port, e.g. 127.0.0.1:9080 (got "localhost:9")`,
		`report.endpoint: must be an http:// or https:// URL, the status page's base URL (got "ftp://status.example.com")`,
		`report.token: environment variable UNSET_TOKEN is not set`,
		`metrics.interval: must be at least 1 second`,
		`probe.service[0].node[0].mode: must be poll or script in an agent configuration (got "push"; push and local are modes of the server's configuration)`,
		`probe.service[0].node[1].id: configuration has duplicate node identifier: n in service: s`,
		`probe.service[0].node[1].replicas: non-poll node cannot have replicas`,
		`probe.service[0].node[2].replicas[0]: tcp replica needs host:port without a path (port missing in "tcp://127.0.0.1")`,
		`probe.service[1].id: configuration has duplicate service identifier: s`,
	}
	var got []string
	for _, p := range problems {
		got = append(got, p.String())
	}
	for _, w := range want {
		found := false
		for _, g := range got {
			found = found || g == w
		}
		if !found {
			t.Errorf("missing problem %q", w)
		}
	}
	if len(got) != len(want) {
		t.Errorf("%d problems, want %d:\n%s", len(got), len(want), strings.Join(got, "\n"))
	}
	if len(warnings) == 0 || warnings[0].String() != `metrics.intervall: unknown key (did you mean "interval"?)` {
		t.Errorf("warnings %v", warnings)
	}
}

// TestRequiredTables: [report] and [probe] are required, as in the
// original; a server configuration given by mistake says so.
func TestRequiredTables(t *testing.T) {
	_, _, err := Parse([]byte("[server]\nreporter_token = \"x\"\n"), nil)
	if err == nil || !strings.Contains(err.Error(), "report: required table missing") || !strings.Contains(err.Error(), "probe: required table missing") {
		t.Fatalf("err = %v", err)
	}
}

func TestEndpointForms(t *testing.T) {
	for in, want := range map[string]string{
		"http://127.0.0.1:8080":        "http://127.0.0.1:8080",
		"http://127.0.0.1:8080/":       "http://127.0.0.1:8080",
		"https://example.com/status//": "https://example.com/status",
		" https://[::1]:9/ ":           "https://[::1]:9",
	} {
		got, err := normalizeEndpoint(in)
		if err != nil || got != want {
			t.Errorf("%q: got %q, %v; want %q", in, got, err, want)
		}
	}
	for _, bad := range []string{"", "status.example.com", "http://", "https://h/?token=1", "http://h:99999/"} {
		if got, err := normalizeEndpoint(bad); err == nil {
			t.Errorf("%q accepted as %q", bad, got)
		}
	}
}

// TestPlaceholderToken: the original sample's token placeholder is a
// warning, as the server's example secrets are.
func TestPlaceholderToken(t *testing.T) {
	text := strings.Replace(sample, "${VIGIL_REPORTER_TOKEN}", "YOUR_TOKEN_SECRET", 1)
	_, warnings, err := Parse([]byte(text), nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(warnings) != 1 || warnings[0].Path != "report.token" {
		t.Errorf("warnings %v", warnings)
	}
}
