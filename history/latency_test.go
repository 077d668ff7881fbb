package history

import (
	"math/rand/v2"
	"slices"
	"testing"
	"time"
)

func TestBins(t *testing.T) {
	prevHi := uint32(0)
	for i := range nBins {
		lo, hi := binBounds(i)
		if lo != prevHi || hi <= lo {
			t.Fatalf("bin %d: [%d, %d) after %d", i, lo, hi, prevHi)
		}
		if binOf(lo) != i || binOf(hi-1) != i {
			t.Fatalf("bin %d: binOf(%d)=%d binOf(%d)=%d", i, lo, binOf(lo), hi-1, binOf(hi-1))
		}
		if i >= subBins && float64(hi-lo)/float64(lo) > 0.25 {
			t.Fatalf("bin %d: [%d, %d) wider than 25 %%", i, lo, hi)
		}
		prevHi = hi
	}
	if prevHi != maxLatencyUs+1 {
		t.Fatalf("bins end at %d, want %d", prevHi, maxLatencyUs+1)
	}
}

// exactQuantile is the nearest-rank quantile (q percent) of sorted xs.
func exactQuantile(xs []uint32, q int) uint32 {
	rank := (len(xs)*q + 99) / 100
	return xs[max(rank, 1)-1]
}

func TestLatencyQuantiles(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	cases := []struct {
		name string
		gen  func(i int) time.Duration
		n    int
	}{
		{name: "one sample", n: 1, gen: func(int) time.Duration { return 42 * time.Millisecond }},
		{name: "constant", n: 500, gen: func(int) time.Duration { return 123456 * time.Microsecond }},
		{name: "uniform 1–100 ms", n: 1000, gen: func(int) time.Duration { return time.Duration(1+rng.IntN(100)) * time.Millisecond }},
		{name: "sub-millisecond", n: 300, gen: func(int) time.Duration { return time.Duration(rng.IntN(900)) * time.Microsecond }},
		{name: "long tail", n: 2000, gen: func(i int) time.Duration {
			if i%25 == 0 {
				return time.Duration(2+rng.IntN(8)) * time.Second
			}
			return time.Duration(10+rng.IntN(20)) * time.Millisecond
		}},
		{name: "beyond the last bin", n: 10, gen: func(int) time.Duration { return 10 * time.Minute }},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			l := Layout{Services: []ServiceLayout{{ID: "s", Nodes: []NodeLayout{{ID: "n", Poll: true}}}}}
			start := t0.Add(10 * time.Hour)
			g := newRig(t, l, start)
			var xs []uint32
			for i := range tc.n {
				d := tc.gen(i)
				xs = append(xs, uint32(d.Microseconds()))
				g.r.Latency(0, 0, d, start.Add(time.Duration(i)*time.Hour/time.Duration(tc.n)))
			}
			slices.Sort(xs)
			want := latSum{count: uint32(len(xs)), p50: exactQuantile(xs, 50), p95: exactQuantile(xs, 95), max: xs[len(xs)-1]}
			check := func(when string, got latSum) {
				t.Helper()
				if got.count != want.count || got.max != want.max {
					t.Fatalf("%s: %+v, want %+v", when, got, want)
				}
				for _, q := range [][2]uint32{{got.p50, want.p50}, {got.p95, want.p95}} {
					if diff := float64(q[0]) - float64(q[1]); diff > 0.125*float64(q[1])+1 || -diff > 0.125*float64(q[1])+1 {
						t.Errorf("%s: %+v, want within 12.5 %% of %+v", when, got, want)
					}
				}
			}
			g.now = start.Add(90 * time.Minute)
			v := g.view()
			p := v.Services[0].Nodes[0].Latency[22] // 10:00
			check("open hour", latSum{count: uint32(p.Count), p50: uint32(p.P50.Microseconds()), p95: uint32(p.P95.Microseconds()), max: uint32(p.Max.Microseconds())})
			// Closed by the next hour's first latency, and after a restart.
			g.r.Latency(0, 0, time.Millisecond, g.now)
			if p2 := g.view().Services[0].Nodes[0].Latency[22]; p2 != p {
				t.Errorf("closed hour %+v, was %+v while open", p2, p)
			}
			g.flush()
			g.restart(l)
			if p2 := g.view().Services[0].Nodes[0].Latency[22]; p2 != p {
				t.Errorf("after restart %+v, was %+v", p2, p)
			}
			// The daily record holds the whole day so far (plus the 1 ms).
			rec, err := decodeBucketRecord(g.store[dayKey(dayOf(start.UnixMilli()), nodeSubject("s", "n"))], dayMs)
			if err != nil || !rec.hasLat || rec.lat.count != want.count+1 || rec.hist == nil {
				t.Fatalf("day record %+v, %v", rec, err)
			}
			// A restart within the same hour continues the open histogram.
			g.r.Latency(0, 0, time.Millisecond, g.now)
			g.flush()
			g.restart(l)
			if p := g.view().Services[0].Nodes[0].Latency[23]; p.Count != 2 {
				t.Errorf("open hour after restart: %+v, want 2 latencies", p)
			}
		})
	}
}

func TestLatencyDoesNotAllocate(t *testing.T) {
	r := New(webLayout(), nil, t0)
	now := t0
	allocs := testing.AllocsPerRun(1000, func() {
		now = now.Add(17 * time.Second) // crosses hours and days
		r.Latency(0, 0, 35*time.Millisecond, now)
	})
	if allocs != 0 {
		t.Errorf("Latency allocates %v times per call", allocs)
	}
	allocs = testing.AllocsPerRun(1000, func() {
		r.Node(0, 0, 0, true, now)
	})
	if allocs != 0 {
		t.Errorf("unchanged Node allocates %v times per call", allocs)
	}
}
