package storage

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/vigil-go/vigil/messages"
	"github.com/vigil-go/vigil/storage/pgtest"
)

// benchStores are the stores the comparison benchmarks run on: the bbolt
// file (fsync per commit) and the machine's PostgreSQL (a committed
// transaction, synchronous_commit as the server has it).
func benchStores() []struct {
	name string
	open func(b *testing.B) Store
} {
	return []struct {
		name string
		open func(b *testing.B) Store
	}{
		{"bolt", func(b *testing.B) Store {
			s, err := OpenBolt(filepath.Join(b.TempDir(), "vigil.db"), discard())
			if err != nil {
				b.Fatal(err)
			}
			return s
		}},
		{"postgres", func(b *testing.B) Store {
			s, err := OpenPostgres(context.Background(), pgtest.New(b), discard())
			if err != nil {
				b.Fatal(err)
			}
			return s
		}},
	}
}

// typicalBatch is what the state actor writes on a busy round: replicas
// whose status or last report changed, history records of the current
// buckets, and the alerting state.
func typicalBatch(replicas, history, round int) Batch {
	b := Batch{Alerting: &Alerting{Status: messages.Sick, Escalate: round % 3, LastNotified: at(int64(round))}}
	for i := range replicas {
		b.PutReplicas = append(b.PutReplicas, Replica{
			Key:     messages.ReplicaKey{Probe: fmt.Sprintf("service-%d", i%20), Node: fmt.Sprintf("node-%d", i%50), Replica: fmt.Sprintf("https://replica-%d.example.com/health", i)},
			Status:  messages.Status(round % 3),
			Latency: 42 * time.Millisecond, HasLatency: true,
			Updated: at(int64(round)), Position: uint64(i),
		})
	}
	for i := range history {
		b.PutHistory = append(b.PutHistory, HistoryRecord{
			Key:   fmt.Sprintf("h/%010d/service-%d", round/60, i),
			Value: fmt.Appendf(nil, `{"up":%d,"sick":%d,"dead":0,"samples":%d}`, round, i, round+i),
		})
	}
	return b
}

// BenchmarkApplyTypical compares one Apply of a typical batch (100 replica
// puts, 20 history puts and the alerting state) on each store; ns/op is
// the time until the batch is durable.
func BenchmarkApplyTypical(b *testing.B) {
	for _, impl := range benchStores() {
		b.Run(impl.name, func(b *testing.B) {
			s := impl.open(b)
			defer s.Close()
			ctx := context.Background()
			round := 0
			b.ReportAllocs()
			for b.Loop() {
				round++
				if err := s.Apply(ctx, typicalBatch(100, 20, round)); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkLoadTypical compares loading a state of 1,000 replicas, 20
// announcements and 2,000 history records (a server's start).
func BenchmarkLoadTypical(b *testing.B) {
	for _, impl := range benchStores() {
		b.Run(impl.name, func(b *testing.B) {
			s := impl.open(b)
			defer s.Close()
			ctx := context.Background()
			for round := range 100 {
				batch := typicalBatch(1000, 20, round*60)
				if round == 0 {
					batch.PutAnnouncements = bigBatch(200).PutAnnouncements
				}
				if err := s.Apply(ctx, batch); err != nil {
					b.Fatal(err)
				}
			}
			for b.Loop() {
				if _, err := s.Load(ctx); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}
