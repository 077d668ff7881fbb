package testkit

import (
	"sync/atomic"
	"testing"
	"time"
)

func TestWithin(t *testing.T) {
	var n atomic.Int32
	if !Within(time.Second, func() bool { return n.Add(1) >= 3 }) {
		t.Fatal("condition true on the third call not seen")
	}
	if got := n.Load(); got != 3 {
		t.Fatalf("cond called %d times after it held, want 3", got)
	}
	start := time.Now()
	if Within(20*time.Millisecond, func() bool { return false }) {
		t.Fatal("a false condition reported true")
	}
	if time.Since(start) < 20*time.Millisecond {
		t.Fatal("gave up before the timeout")
	}
}

func TestLogs(t *testing.T) {
	var l Logs
	log := l.Logger()
	log.Info("a", "n", 1)
	log.Debug("b")
	log.Info("a", "n", 2)
	got := l.With(t, "a")
	if len(got) != 2 || got[0]["n"] != float64(1) || got[1]["n"] != float64(2) {
		t.Fatalf("With(a) = %v", got)
	}
	if n := len(l.Matching(t, func(string) bool { return true })); n != 3 {
		t.Fatalf("Matching(all) = %d records, want 3", n)
	}
}
