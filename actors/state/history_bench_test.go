package state

import (
	"fmt"
	"testing"
	"time"

	"github.com/vigil-go/vigil/config"
	"github.com/vigil-go/vigil/messages"
)

// BenchmarkModelProbe is the state actor's work per probe result at 10,000
// poll replicas (100 services × 10 nodes × 10 replicas), without and with
// the history recorder. Every 1,000th result is dead (so statuses change
// and incidents open and close), time advances 3 ms per result (333
// probes/s), and the recorder is flushed every 5 s of that time, as the
// actor does; the flush cost is included.
func BenchmarkModelProbe(b *testing.B) {
	cfg, keys := tenThousandReplicas()
	for _, withHistory := range []bool{false, true} {
		b.Run(fmt.Sprintf("history=%v", withHistory), func(b *testing.B) {
			t0 := time.Date(2026, 11, 30, 0, 0, 0, 0, time.UTC)
			m := NewModel(cfg)
			if withHistory {
				m.StartHistory(nil, t0)
			}
			now, nextFlush := t0, t0.Add(HistoryFlushEvery)
			b.ReportAllocs()
			b.ResetTimer()
			for i := range b.N {
				now = now.Add(3 * time.Millisecond)
				st := messages.Healthy
				if i%1000 == 999 {
					st = messages.Dead
				}
				m.Apply(messages.ReplicaProbed{Key: keys[i%len(keys)], At: now,
					Result: messages.ProbeResult{Status: st, Latency: time.Duration(1+i%50) * time.Millisecond}}, now)
				if now.After(nextFlush) {
					m.FlushHistory(now)
					m.TakeBatch()
					nextFlush = now.Add(HistoryFlushEvery)
				}
			}
		})
	}
}

// tenThousandReplicas is a configuration of 10,000 poll replicas (100
// services × 10 nodes × 10 replicas) and their keys, in order.
func tenThousandReplicas() (*config.Config, []messages.ReplicaKey) {
	cfg := &config.Config{Metrics: config.Metrics{PollInterval: 30 * time.Second}}
	var keys []messages.ReplicaKey
	for s := range 100 {
		svc := config.Service{ID: fmt.Sprintf("svc%d", s), Label: "Service"}
		for n := range 10 {
			node := config.Node{ID: fmt.Sprintf("node%d", n), Label: "Node", Mode: config.ModePoll}
			for r := range 10 {
				id := fmt.Sprintf("http://10.0.%d.%d:8080/health?r=%d", s, n, r)
				node.Replicas = append(node.Replicas, config.Replica{ID: id, Kind: config.KindHTTP})
				keys = append(keys, messages.ReplicaKey{Probe: svc.ID, Node: node.ID, Replica: id})
			}
			svc.Nodes = append(svc.Nodes, node)
		}
		cfg.Probe.Services = append(cfg.Probe.Services, svc)
	}
	return cfg, keys
}
