package storage

import (
	"context"
	"fmt"
	"path/filepath"
	"testing"
	"time"

	"github.com/vigil-go/vigil/messages"
)

// BenchmarkApplyReplicas measures one Apply of a batch of replica puts
// (ns/op is ns per Apply, fsync included for bolt). Batch size 1 shows the
// fixed cost of a durable commit; 1000 the cost of a large state flush.
func BenchmarkApplyReplicas(b *testing.B) {
	for _, size := range []int{1, 1000} {
		for _, impl := range []struct {
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
		} {
			b.Run(fmt.Sprintf("%s/batch=%d", impl.name, size), func(b *testing.B) {
				s := impl.open(b)
				defer s.Close()
				batch := Batch{PutReplicas: make([]Replica, size)}
				for i := range batch.PutReplicas {
					batch.PutReplicas[i] = Replica{
						Key:     messages.ReplicaKey{Probe: fmt.Sprintf("service-%d", i%20), Node: fmt.Sprintf("node-%d", i%50), Replica: fmt.Sprintf("https://replica-%d.example.com/health", i)},
						Status:  messages.Healthy,
						Latency: 42 * time.Millisecond, HasLatency: true,
						Position: uint64(i),
					}
				}
				ctx := context.Background()
				b.ReportAllocs()
				n := 0
				for b.Loop() {
					n++
					for i := range batch.PutReplicas {
						batch.PutReplicas[i].Updated = at(int64(n))
					}
					if err := s.Apply(ctx, batch); err != nil {
						b.Fatal(err)
					}
				}
				b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(n*size), "ns/replica")
			})
		}
	}
}

// BenchmarkApplyAnnouncement measures publishing one announcement and
// retracting it again (two Applies per op) with n announcements already
// stored: the cost must not grow with n.
func BenchmarkApplyAnnouncement(b *testing.B) {
	for _, n := range []int{200, 2000} {
		b.Run(fmt.Sprintf("present=%d", n), func(b *testing.B) {
			s, err := OpenBolt(filepath.Join(b.TempDir(), "vigil.db"), discard())
			if err != nil {
				b.Fatal(err)
			}
			defer s.Close()
			ctx := context.Background()
			var present Batch
			for i := range n {
				present.PutAnnouncements = append(present.PutAnnouncements, ann(fmt.Sprintf("present-%d", i), uint64(i+1)))
			}
			if err := s.Apply(ctx, present); err != nil {
				b.Fatal(err)
			}
			seq := uint64(n)
			for b.Loop() {
				seq++
				a := ann(fmt.Sprintf("new-%d", seq), seq)
				if err := s.Apply(ctx, Batch{PutAnnouncements: []Announcement{a}}); err != nil {
					b.Fatal(err)
				}
				if err := s.Apply(ctx, Batch{DeleteAnnouncements: []string{a.ID}}); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(2*b.N), "ns/apply")
		})
	}
}
