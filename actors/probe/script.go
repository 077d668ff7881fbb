package probe

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"strconv"
	"syscall"
	"time"

	"github.com/vigil-go/vigil/config"
	"github.com/vigil-go/vigil/messages"
)

// DefaultScriptTimeout applies when neither metrics.script_timeout nor
// metrics.script_interval is set.
const DefaultScriptTimeout = 5 * time.Minute

// scriptShell runs every script, as in the original ("sh <tempfile>").
const scriptShell = "/bin/sh"

type scriptProber struct {
	index   int
	body    string
	timeout time.Duration
}

// NewScript returns the prober for script number index of a script node
// (spec §4.7). Each attempt writes body to a fresh temporary file (mode 0600,
// removed afterwards) and runs "/bin/sh <file>" with Vigil's environment and
// working directory, stdin, stdout and stderr on /dev/null. The exit code
// decides: 0 healthy, 1 sick, anything else, death by a signal or failure to
// start dead. Latency is the wall-clock run time and does not affect the
// status.
//
// The script runs in its own process group. When the timeout expires
// (metrics.script_timeout, else script_interval, else DefaultScriptTimeout) or
// ctx is cancelled, the whole group gets SIGKILL and the result is dead.
// Processes a script leaves behind after exiting on its own are not touched.
func NewScript(index int, body string, m config.Metrics) Prober {
	return &scriptProber{index: index, body: body, timeout: scriptTimeout(m)}
}

func scriptTimeout(m config.Metrics) time.Duration {
	switch {
	case m.ScriptTimeout > 0:
		return m.ScriptTimeout
	case m.ScriptInterval > 0:
		return m.ScriptInterval
	}
	return DefaultScriptTimeout
}

// Probe runs the script once.
func (p *scriptProber) Probe(parent context.Context) messages.ProbeResult {
	dead := func(latency time.Duration, format string, a ...any) messages.ProbeResult {
		return messages.ProbeResult{Status: messages.Dead, Latency: latency, Err: fmt.Sprintf(format, a...)}
	}
	if err := parent.Err(); err != nil {
		return dead(0, "cancelled: %v", context.Cause(parent))
	}
	path, err := p.writeFile()
	if err != nil {
		return dead(0, "script %d: %v", p.index, err)
	}
	defer os.Remove(path)

	ctx, cancel := context.WithTimeout(parent, p.timeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, scriptShell, path)
	// Stdin, Stdout and Stderr stay nil: /dev/null, no pipes, so a background
	// grandchild can never keep Wait from returning.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error {
		// Pgid == pid thanks to Setpgid; kill the whole group.
		return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
	}
	cmd.WaitDelay = time.Second

	start := time.Now()
	if err := cmd.Start(); err != nil {
		return dead(time.Since(start), "script %d: start: %v", p.index, err)
	}
	err = cmd.Wait()
	latency := time.Since(start)

	if err == nil {
		return messages.ProbeResult{Status: messages.Healthy, Latency: latency}
	}
	// stopped explains a failure caused by our own kill, if there was one.
	stopped := func() (messages.ProbeResult, bool) {
		switch {
		case parent.Err() != nil:
			return dead(latency, "cancelled: %v", context.Cause(parent)), true
		case errors.Is(ctx.Err(), context.DeadlineExceeded):
			return dead(latency, "timed out after %s", p.timeout), true
		}
		return messages.ProbeResult{}, false
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) {
		// e.g. the context error reported for a script that exited 0 just
		// as it was being killed, or an exec.ErrWaitDelay.
		if res, ok := stopped(); ok {
			return res
		}
		return dead(latency, "script %d: %v", p.index, err)
	}
	if ws, ok := ee.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		if res, ok := stopped(); ok {
			return res
		}
		return dead(latency, "killed by signal %d (%s)", int(ws.Signal()), ws.Signal())
	}
	// An exit code wins over a deadline that expired after the exit.
	switch code := ee.ExitCode(); code {
	case 1:
		return messages.ProbeResult{Status: messages.Sick, Latency: latency, Err: "exit status 1"}
	default:
		return dead(latency, "exit status %d", code)
	}
}

// writeFile stores the script body in a new private temporary file.
func (p *scriptProber) writeFile() (string, error) {
	f, err := os.CreateTemp("", "vigil-script-"+strconv.Itoa(p.index)+"-*.sh")
	if err != nil {
		return "", err
	}
	_, werr := f.WriteString(p.body)
	cerr := f.Close()
	if err := errors.Join(werr, cerr); err != nil {
		_ = os.Remove(f.Name())
		return "", err
	}
	return f.Name(), nil
}
