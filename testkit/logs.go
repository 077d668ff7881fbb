package testkit

import (
	"bytes"
	"encoding/json"
	"log/slog"
	"strings"
	"sync"
	"testing"
)

// Logs captures what a logger writes, as JSON records. The zero value is
// ready; it is safe for concurrent use.
type Logs struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

// Write appends p (one or more JSON records).
func (l *Logs) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.buf.Write(p)
}

// Logger returns a debug-level logger writing to l.
func (l *Logs) Logger() *slog.Logger {
	return slog.New(slog.NewJSONHandler(l, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// Matching returns the records whose message satisfies ok, in order.
func (l *Logs) Matching(tb testing.TB, ok func(msg string) bool) []map[string]any {
	tb.Helper()
	l.mu.Lock()
	defer l.mu.Unlock()
	var out []map[string]any
	for line := range strings.Lines(l.buf.String()) {
		var rec map[string]any
		if err := json.Unmarshal([]byte(line), &rec); err != nil {
			tb.Fatalf("log line %q: %v", line, err)
		}
		if msg, _ := rec["msg"].(string); ok(msg) {
			out = append(out, rec)
		}
	}
	return out
}

// With returns the records whose message is msg.
func (l *Logs) With(tb testing.TB, msg string) []map[string]any {
	tb.Helper()
	return l.Matching(tb, func(m string) bool { return m == msg })
}
