package state

import (
	"context"
	"log/slog"
	"testing"
	"time"

	"github.com/vigil-go/vigil/messages"
	"github.com/vigil-go/vigil/storage"
	"github.com/vigil-go/vigil/storage/pgtest"
)

// BenchmarkMirrorLoadTenThousandReplicas is a follower's work per write
// of the leader at 10,000 poll replicas (100 services × 10 nodes × 10
// replicas, with a day of history recorded): one load of the whole state
// from PostgreSQL and the snapshot built from it. A follower does this at
// most once per MirrorDebounce, in practice once per leader batch (about
// once a second while results arrive).
func BenchmarkMirrorLoadTenThousandReplicas(b *testing.B) {
	cfg, keys := tenThousandReplicas()
	// A leader's model after a day of results, stored.
	t0 := time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)
	m := NewModel(cfg)
	m.StartHistory(nil, t0)
	now := t0
	for i := range 24 * 120 * len(keys) / 100 { // a sample of a day's results
		now = now.Add(300 * time.Millisecond)
		st := messages.Healthy
		if i%5000 == 4999 {
			st = messages.Dead
		}
		m.Apply(messages.ReplicaProbed{Key: keys[i%len(keys)], At: now, Result: messages.ProbeResult{Status: st, Latency: time.Millisecond}}, now)
	}
	store, err := storage.OpenPostgres(context.Background(), pgtest.New(b), slog.New(slog.DiscardHandler))
	if err != nil {
		b.Fatal(err)
	}
	defer store.Close()
	st := m.FullState(now)
	if _, err := store.Rebuild(context.Background(), st); err != nil {
		b.Fatal(err)
	}
	published := &Published{}
	mirror := NewMirror(cfg, published, store, MirrorOptions{}, slog.New(slog.DiscardHandler))
	b.ReportMetric(float64(len(st.History)), "history-records")
	b.ResetTimer()
	for range b.N {
		mirror.load(context.Background())
	}
	b.StopTimer()
	if mirror.Health() != nil || published.Latest().Refreshed.IsZero() {
		b.Fatalf("load failed: %v", mirror.Health())
	}
}
