// Package testkit is what the tests of every package share: bounded waits
// for a condition that another goroutine or process makes true. Timing
// tests inside one process use testing/synctest instead; these waits are
// for what synctest cannot cover (real sockets, child processes, files).
package testkit

import (
	"fmt"
	"testing"
	"time"
)

// Within polls cond, starting fast and backing off to every 50 ms, until it
// returns true (true) or timeout has passed (false). cond runs at least
// once.
func Within(timeout time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(timeout)
	wait := time.Millisecond
	for {
		if cond() {
			return true
		}
		if time.Now().After(deadline) {
			return false
		}
		time.Sleep(wait)
		wait = min(2*wait, 50*time.Millisecond)
	}
}

// Eventually is Within that fails tb, with the formatted message, when
// cond is still false after timeout.
func Eventually(tb testing.TB, timeout time.Duration, cond func() bool, format string, args ...any) {
	tb.Helper()
	if !Within(timeout, cond) {
		tb.Fatalf("after %s: %s", timeout, fmt.Sprintf(format, args...))
	}
}
