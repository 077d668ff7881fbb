package probe

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/vigil-go/vigil/config"
	"github.com/vigil-go/vigil/messages"
	"github.com/vigil-go/vigil/testkit"
)

func TestScriptExitCodes(t *testing.T) {
	t.Parallel()
	cases := []struct {
		body   string
		status messages.Status
		err    string
	}{
		{"exit 0", messages.Healthy, ""},
		{"true", messages.Healthy, ""},
		{"echo lots of output; echo err >&2; exit 0", messages.Healthy, ""},
		{"exit 1", messages.Sick, "exit status 1"},
		{"exit 2", messages.Dead, "exit status 2"},
		{"exit 137", messages.Dead, "exit status 137"},
		{"kill -9 $$", messages.Dead, "killed by signal 9 (killed)"},
		{"this-command-does-not-exist-vigil", messages.Dead, "exit status 127"},
	}
	for _, c := range cases {
		res := NewScript(0, c.body, config.Metrics{ScriptTimeout: 5 * time.Second}).Probe(context.Background())
		if res.Status != c.status || res.Err != c.err {
			t.Errorf("%q: got %v %q, want %v %q", c.body, res.Status, res.Err, c.status, c.err)
		}
		if res.Latency <= 0 || res.Latency > time.Second {
			t.Errorf("%q: latency %s", c.body, res.Latency)
		}
	}
}

func TestScriptLatencyDoesNotMakeSick(t *testing.T) {
	t.Parallel()
	res := NewScript(0, "sleep 0.2", config.Metrics{ScriptTimeout: 5 * time.Second}).Probe(context.Background())
	expect(t, res, messages.Healthy, "")
	if res.Latency < 200*time.Millisecond {
		t.Errorf("latency = %s, want >= 200ms", res.Latency)
	}
}

// pidGone reports whether pid no longer runs (absent or a zombie awaiting a
// reaper).
func pidGone(pid int) bool {
	if err := syscall.Kill(pid, 0); errors.Is(err, syscall.ESRCH) {
		return true
	}
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return true
	}
	// Format: pid (comm) state ...
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	return i >= 0 && i+2 < len(s) && s[i+2] == 'Z'
}

func waitGone(t *testing.T, pid int) {
	t.Helper()
	if !testkit.Within(2*time.Second, func() bool { return pidGone(pid) }) {
		_ = syscall.Kill(pid, syscall.SIGKILL)
		t.Fatalf("process %d still runs after the probe", pid)
	}
}

func readPid(t *testing.T, path string) int {
	t.Helper()
	var pid int
	testkit.Eventually(t, time.Second, func() bool {
		b, err := os.ReadFile(path)
		n, perr := strconv.Atoi(strings.TrimSpace(string(b)))
		pid = n
		return err == nil && perr == nil && n > 0
	}, "no pid in %s", path)
	return pid
}

func TestScriptTimeoutKillsProcessGroup(t *testing.T) {
	t.Parallel()
	for name, tmpl := range map[string]string{
		"background child and wait": "sleep 60 & echo $! > %s; wait",
		"foreground child":          "sh -c 'echo $$ > %s; exec sleep 30'; exit 0",
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			pidFile := filepath.Join(t.TempDir(), "pid")
			body := fmt.Sprintf(tmpl, pidFile)
			start := time.Now()
			res := NewScript(3, body, config.Metrics{ScriptTimeout: 300 * time.Millisecond, ScriptInterval: time.Hour}).Probe(context.Background())
			elapsed := time.Since(start)
			if res.Status != messages.Dead || res.Err != "timed out after 300ms" {
				t.Fatalf("got %v %q, want dead %q", res.Status, res.Err, "timed out after 300ms")
			}
			if elapsed > 1500*time.Millisecond || res.Latency < 300*time.Millisecond {
				t.Errorf("elapsed %s, latency %s", elapsed, res.Latency)
			}
			waitGone(t, readPid(t, pidFile))
		})
	}
}

func TestScriptCancelKillsProcessGroup(t *testing.T) {
	t.Parallel()
	pidFile := filepath.Join(t.TempDir(), "pid")
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(200*time.Millisecond, cancel)
	start := time.Now()
	res := NewScript(0, fmt.Sprintf("sleep 60 & echo $! > %s; wait", pidFile), config.Metrics{ScriptTimeout: time.Minute}).Probe(ctx)
	if res.Status != messages.Dead || !strings.HasPrefix(res.Err, "cancelled") {
		t.Fatalf("got %v %q", res.Status, res.Err)
	}
	if time.Since(start) > 1500*time.Millisecond {
		t.Errorf("took %s", time.Since(start))
	}
	waitGone(t, readPid(t, pidFile))
}

func TestScriptBackgroundChildDoesNotBlock(t *testing.T) {
	t.Parallel()
	pidFile := filepath.Join(t.TempDir(), "pid")
	start := time.Now()
	// The child inherits stdout/stderr; with pipes, Wait would block on it.
	res := NewScript(0, fmt.Sprintf("sleep 5 & echo $! > %s; exit 0", pidFile), config.Metrics{ScriptTimeout: 10 * time.Second}).Probe(context.Background())
	pid := readPid(t, pidFile)
	t.Cleanup(func() { _ = syscall.Kill(pid, syscall.SIGKILL) })
	expect(t, res, messages.Healthy, "")
	if time.Since(start) > time.Second {
		t.Errorf("took %s: waited for the background child", time.Since(start))
	}
}

func TestScriptCancelledBeforeStart(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	res := NewScript(0, "exit 0", config.Metrics{}).Probe(ctx)
	if res.Status != messages.Dead || !strings.HasPrefix(res.Err, "cancelled") {
		t.Fatalf("got %v %q", res.Status, res.Err)
	}
}

// TestScriptEnvironment is not parallel: it changes the environment and the
// working directory.
func TestScriptEnvironment(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	t.Setenv("VIGIL_PROBE_TEST", "yes please")
	out := filepath.Join(dir, "out")
	body := fmt.Sprintf(`
[ "$VIGIL_PROBE_TEST" = "yes please" ] || exit 11
[ "$(pwd -P)" = "$(cd %q && pwd -P)" ] || exit 12
read line && exit 13
echo "$0" > %q
stat -c %%a "$0" >> %q
exit 0
`, dir, out, out)
	res := NewScript(0, body, config.Metrics{ScriptTimeout: 5 * time.Second}).Probe(context.Background())
	expect(t, res, messages.Healthy, "")
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Fields(string(b))
	if len(lines) != 2 {
		t.Fatalf("script output %q", b)
	}
	if lines[1] != "600" {
		t.Errorf("temp file mode %s, want 600", lines[1])
	}
	if _, err := os.Stat(lines[0]); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("temp file %s not removed: %v", lines[0], err)
	}
}

func TestScriptTimeoutDefaults(t *testing.T) {
	t.Parallel()
	cases := []struct {
		m    config.Metrics
		want time.Duration
	}{
		{config.Metrics{ScriptTimeout: time.Second, ScriptInterval: time.Hour}, time.Second},
		{config.Metrics{ScriptInterval: time.Hour}, time.Hour},
		{config.Metrics{}, DefaultScriptTimeout},
	}
	for _, c := range cases {
		if got := scriptTimeout(c.m); got != c.want {
			t.Errorf("scriptTimeout(%+v) = %s, want %s", c.m, got, c.want)
		}
	}
}
