package probe

import (
	"context"
	"errors"
	"os"
	"runtime"
	"strings"
	"testing"
	"time"

	"github.com/vigil-go/vigil/config"
	"github.com/vigil-go/vigil/messages"
	"github.com/vigil-go/vigil/testkit"
)

// metrics returns poll metrics with the default status range.
func metrics(dead, sick time.Duration) config.Metrics {
	return config.Metrics{
		PollDelayDead:              dead,
		PollDelaySick:              sick,
		PollHTTPStatusHealthyAbove: 200,
		PollHTTPStatusHealthyBelow: 400,
	}
}

func expect(t *testing.T, got messages.ProbeResult, status messages.Status, errSubstr string) {
	t.Helper()
	if got.Status != status {
		t.Fatalf("status = %v (err %q), want %v", got.Status, got.Err, status)
	}
	if errSubstr == "" && got.Err != "" && status == messages.Healthy {
		t.Fatalf("healthy result carries err %q", got.Err)
	}
	if !strings.Contains(got.Err, errSubstr) {
		t.Fatalf("err = %q, want it to contain %q", got.Err, errSubstr)
	}
}

func TestClassify(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		in   Outcome
		want messages.ProbeResult
	}{
		{"down with error", Outcome{Latency: 3 * time.Second, Err: errors.New("HTTP 500")},
			messages.ProbeResult{Status: messages.Dead, Latency: 3 * time.Second, Err: "HTTP 500"}},
		{"down without error", Outcome{}, messages.ProbeResult{Status: messages.Dead, Err: "down"}},
		{"fast", Outcome{Up: true, Latency: 4999 * time.Millisecond},
			messages.ProbeResult{Status: messages.Healthy, Latency: 4999 * time.Millisecond}},
		{"exactly at threshold", Outcome{Up: true, Latency: 5 * time.Second},
			messages.ProbeResult{Status: messages.Sick, Latency: 5 * time.Second, Err: "slow: 5s >= 5s"}},
		{"slow", Outcome{Up: true, Latency: 5200 * time.Millisecond},
			messages.ProbeResult{Status: messages.Sick, Latency: 5200 * time.Millisecond, Err: "slow: 5.2s >= 5s"}},
		{"down beats slow", Outcome{Latency: time.Minute, Err: errors.New("x")},
			messages.ProbeResult{Status: messages.Dead, Latency: time.Minute, Err: "x"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Classify(tt.in, 5*time.Second); got != tt.want {
				t.Fatalf("Classify = %+v, want %+v", got, tt.want)
			}
		})
	}
}

func TestNewDispatchesOnKind(t *testing.T) {
	t.Parallel()
	m := metrics(time.Second, time.Second)
	d := Deps{HTTPClient: NewHTTPClient(time.Second), UserAgent: "ua"}
	cases := []struct {
		kind config.ReplicaKind
		want string
	}{
		{config.KindHTTP, "*probe.httpProber"},
		{config.KindTCP, "*probe.tcpProber"},
		{config.KindSSH, "*probe.sshProber"},
		{config.KindICMP, "*probe.icmpProber"},
	}
	for _, c := range cases {
		p := New(config.Replica{ID: "x", Kind: c.kind, URL: "http://127.0.0.1/", Host: "127.0.0.1", Port: "1"}, config.Node{}, m, d)
		if got := typeName(p); got != c.want {
			t.Errorf("kind %s: got %s, want %s", c.kind, got, c.want)
		}
	}
	p := New(config.Replica{ID: "ftp://x", Kind: "ftp"}, config.Node{}, m, d)
	expect(t, p.Probe(context.Background()), messages.Dead, `unsupported replica kind "ftp"`)
}

func typeName(v any) string {
	switch v.(type) {
	case *httpProber:
		return "*probe.httpProber"
	case *tcpProber:
		return "*probe.tcpProber"
	case *sshProber:
		return "*probe.sshProber"
	case *icmpProber:
		return "*probe.icmpProber"
	}
	return "other"
}

func TestDeadAfterDefault(t *testing.T) {
	t.Parallel()
	if got := deadAfter(config.Metrics{}); got != DefaultPollDelayDead {
		t.Fatalf("deadAfter(0) = %s", got)
	}
	if got := deadAfter(config.Metrics{PollDelayDead: 3 * time.Second}); got != 3*time.Second {
		t.Fatalf("deadAfter(3s) = %s", got)
	}
}

// openFDs counts this process's open file descriptors.
func openFDs(t *testing.T) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skipf("cannot list fds: %v", err)
	}
	return len(ents)
}

// TestNoLeaks runs every prober kind, successful and failing, and checks that
// goroutines and file descriptors return to their baseline. It is not
// parallel, so no other test's goroutines interfere (parallel tests only
// start after all sequential ones).
func TestNoLeaks(t *testing.T) {
	httpSrv, _ := recorder(t, okHandler)
	sshAddr := startSSHServer(t, false)
	tcpLn := listenTCP(t)
	closed := closedPort(t)
	client := NewHTTPClient(time.Second)
	m := metrics(time.Second, time.Second)
	ctx := context.Background()

	probers := []Prober{
		NewHTTP(config.Replica{Kind: config.KindHTTP, URL: httpSrv.URL + "/"}, config.Node{}, m, client, "ua"),
		NewHTTP(config.Replica{Kind: config.KindHTTP, URL: "http://" + closed + "/"}, config.Node{}, m, client, "ua"),
		NewTCP(hostPort(config.KindTCP, tcpLn.Addr().String()), m),
		NewTCP(hostPort(config.KindTCP, closed), m),
		NewSSH(hostPort(config.KindSSH, sshAddr), m),
		NewSSH(hostPort(config.KindSSH, tcpLn.Addr().String()), metrics(200*time.Millisecond, time.Second)),
		NewScript(0, "exit 0", config.Metrics{}),
		NewScript(1, "sleep 5 & wait", config.Metrics{ScriptTimeout: 100 * time.Millisecond}),
	}
	if rawICMPAllowed() {
		probers = append(probers, NewICMP(config.Replica{Kind: config.KindICMP, Host: "127.0.0.1"}, m, true, nil))
	}
	// Warm up lazily started runtime and library goroutines.
	for _, p := range probers {
		p.Probe(ctx)
	}
	client.CloseIdleConnections()
	// The baseline is taken once closed connections' goroutines are gone:
	// two readings in a row agree.
	prev := -1
	testkit.Within(time.Second, func() bool {
		g := runtime.NumGoroutine()
		settled := g == prev
		prev = g
		return settled
	})
	baseG, baseFD := runtime.NumGoroutine(), openFDs(t)

	for range 2 {
		for _, p := range probers {
			p.Probe(ctx)
		}
	}
	client.CloseIdleConnections()
	var g, fd int
	if !testkit.Within(2*time.Second, func() bool {
		g, fd = runtime.NumGoroutine(), openFDs(t)
		return g <= baseG && fd <= baseFD
	}) {
		buf := make([]byte, 1<<20)
		n := runtime.Stack(buf, true)
		t.Fatalf("leak: goroutines %d (baseline %d), fds %d (baseline %d)\n%s", g, baseG, fd, baseFD, buf[:n])
	}
}
