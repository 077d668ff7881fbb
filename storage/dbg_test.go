package storage

import (
	"fmt"
	"os"
	"path/filepath"
	"testing"
	"time"

	"github.com/vigil-go/vigil/messages"
)

func TestDbgOpenCost(t *testing.T) {
	path := filepath.Join(t.TempDir(), "vigil.db")
	s, _ := OpenBolt(path, discard())
	var b Batch
	for i := range 5000 {
		b.PutReplicas = append(b.PutReplicas, Replica{Key: messages.ReplicaKey{Probe: fmt.Sprintf("service-%d", i%40), Node: fmt.Sprintf("node-%d", i%100), Replica: fmt.Sprintf("https://replica-%d.example.com/health", i)}, Updated: at(1), Latency: time.Millisecond, HasLatency: true, Load: &messages.Load{CPU: 0.5, RAM: 0.25}, Reported: at(2), Interval: time.Minute})
	}
	for i := range 500 {
		b.PutAnnouncements = append(b.PutAnnouncements, ann(fmt.Sprint(i), uint64(i+1)))
	}
	mustApply(t, s, b)
	s.Close()
	fi, _ := os.Stat(path)
	for range 3 {
		start := time.Now()
		s, err := Open(path, discard())
		d := time.Since(start)
		if err != nil {
			t.Fatal(err)
		}
		t.Logf("file %d KiB, hwm %d KiB: Open %v", fi.Size()>>10, hwm(t, path)>>10, d)
		s.Close()
	}
}
