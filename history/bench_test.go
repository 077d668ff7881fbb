package history

import (
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/vigil-go/vigil/messages"
)

// bigLayout is services × nodes poll nodes.
func bigLayout(services, nodes int) Layout {
	l := Layout{Interval: time.Minute}
	for s := range services {
		sl := ServiceLayout{ID: fmt.Sprint("service-", s), Label: fmt.Sprint("Service ", s), SLO: 99.9}
		for n := range nodes {
			sl.Nodes = append(sl.Nodes, NodeLayout{ID: fmt.Sprint("node-", n), Label: fmt.Sprint("Node ", n), Poll: true})
		}
		l.Services = append(l.Services, sl)
	}
	return l
}

// busyRecorder is 1,000 poll nodes, all healthy since now, with a day of
// latencies.
func busyRecorder(now time.Time) (*Recorder, Layout) {
	l := bigLayout(20, 50)
	r := New(l, nil, now.Add(-24*time.Hour))
	for si, sl := range l.Services {
		for ni := range sl.Nodes {
			r.Node(si, ni, messages.Healthy, true, now.Add(-24*time.Hour))
			for m := 0; m < 24*60; m += 10 {
				r.Latency(si, ni, time.Duration(10+m%50)*time.Millisecond, now.Add(time.Duration(m-24*60)*time.Minute))
			}
		}
	}
	r.Flush(now)
	return r, l
}

func BenchmarkLatency(b *testing.B) {
	r, _ := busyRecorder(t0)
	now := t0
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		now = now.Add(time.Millisecond)
		r.Latency(i%20, i%50, time.Duration(i%300)*time.Millisecond, now)
		i++
	}
}

func BenchmarkNodeUnchanged(b *testing.B) {
	r, _ := busyRecorder(t0)
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		r.Node(i%20, i%50, messages.Healthy, true, t0)
		i++
	}
}

// BenchmarkNodeChanged flips one node of each service between healthy and
// sick: every call also changes its service (opening or closing an
// incident).
func BenchmarkNodeChanged(b *testing.B) {
	r, _ := busyRecorder(t0)
	now := t0
	b.ReportAllocs()
	i := 0
	for b.Loop() {
		now = now.Add(time.Second)
		r.Node(i%20, 0, messages.Status((i/20)%2), true, now)
		i++
	}
}

// BenchmarkFlush is the Flush every 5 s within an hour, with 1,000 poll
// nodes probed every 60 s (about 83 latencies per Flush) and one status
// change per Flush.
func BenchmarkFlush(b *testing.B) {
	r, _ := busyRecorder(t0)
	now := t0.Add(time.Second)
	node := 0
	records := 0
	b.ReportAllocs()
	for b.Loop() {
		for range 83 {
			node = (node + 1) % 1000
			r.Latency(node/50, node%50, 25*time.Millisecond, now)
		}
		r.Node(node/50, node%50, messages.Status(node%2), true, now)
		now = now.Add(5 * time.Second)
		if hourOf(now.UnixMilli()) != hourOf(t0.UnixMilli()) {
			now = t0.Add(time.Second) // stay within the hour
		}
		puts, _ := r.Flush(now)
		records += len(puts)
	}
	b.ReportMetric(float64(records)/float64(b.N), "records/op")
}

// BenchmarkFlushHour is the first Flush of an hour, which writes the
// buckets of every subject with data.
func BenchmarkFlushHour(b *testing.B) {
	r, _ := busyRecorder(t0)
	now := t0
	records := 0
	b.ReportAllocs()
	for b.Loop() {
		now = now.Add(time.Hour)
		puts, _ := r.Flush(now)
		records += len(puts)
	}
	b.ReportMetric(float64(records)/float64(b.N), "records/op")
}

func BenchmarkView(b *testing.B) {
	r, _ := busyRecorder(t0)
	now := t0.Add(time.Minute)
	b.ReportAllocs()
	for b.Loop() {
		r.View(now)
	}
}

func BenchmarkNew(b *testing.B) {
	r, l := busyRecorder(t0)
	recs := r.Records(t0)
	b.ReportAllocs()
	for b.Loop() {
		New(l, recs, t0)
	}
	b.ReportMetric(float64(len(recs)), "records")
}

// TestMemoryPerNode measures the heap a recorder of 1,000 poll nodes holds
// (20 services of 50), per node.
func TestMemoryPerNode(t *testing.T) {
	if testing.Short() {
		t.Skip("measures the heap")
	}
	l := bigLayout(20, 50)
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	r := New(l, nil, t0)
	runtime.GC()
	runtime.ReadMemStats(&after)
	perNode := float64(after.HeapAlloc-before.HeapAlloc) / 1000
	runtime.KeepAlive(r)
	t.Logf("%.0f bytes per poll node (series %d B, latency %d B); a push node is about %d B less",
		perNode, sizeofSeries, sizeofLatency, sizeofLatency)
	if perNode > 6000 {
		t.Errorf("%.0f bytes per node, want at most 6000", perNode)
	}
}
