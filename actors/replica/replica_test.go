package replica

import (
	"context"
	"log/slog"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/thejerf/suture/v4"

	"github.com/vigil-go/vigil/messages"
)

// scripted answers each attempt with the next status of its script (the
// last one repeats) and counts attempts and concurrency.
type scripted struct {
	statuses []messages.Status
	calls    atomic.Int64
	running  atomic.Int64
	maxSeen  atomic.Int64
	hold     time.Duration
	panics   atomic.Int64 // panic while > 0, decrementing
}

func (s *scripted) Probe(ctx context.Context) messages.ProbeResult {
	n := s.calls.Add(1)
	if s.panics.Add(-1) >= 0 {
		panic("boom")
	}
	cur := s.running.Add(1)
	defer s.running.Add(-1)
	for {
		m := s.maxSeen.Load()
		if cur <= m || s.maxSeen.CompareAndSwap(m, cur) {
			break
		}
	}
	if s.hold > 0 {
		select {
		case <-time.After(s.hold):
		case <-ctx.Done():
		}
	}
	i := min(int(n-1), len(s.statuses)-1)
	return messages.ProbeResult{Status: s.statuses[i], Latency: time.Millisecond}
}

func newTree(t *testing.T, spec suture.Spec) *suture.Supervisor {
	t.Helper()
	return suture.New("test", spec)
}

func startPool(sup *suture.Supervisor, size int) *Pool {
	p := NewPool("test", size, 64)
	for _, w := range p.Workers() {
		sup.Add(w)
	}
	return p
}

func collect(inbox chan messages.StateMessage) []messages.ReplicaProbed {
	var out []messages.ReplicaProbed
	for {
		select {
		case m := <-inbox:
			out = append(out, m.(messages.ReplicaProbed))
		default:
			return out
		}
	}
}

func TestScheduleEveryInterval(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		sup := newTree(t, suture.Spec{PassThroughPanics: true})
		pool := startPool(sup, 1)
		inbox := make(chan messages.StateMessage, 100)
		p := &scripted{statuses: []messages.Status{messages.Healthy}}
		a := New(Spec{Key: messages.ReplicaKey{Probe: "p", Node: "n", Replica: "r"}, Prober: p, Pool: pool,
			Interval: 30 * time.Second, Out: inbox, Logger: slog.New(slog.DiscardHandler)})
		sup.Add(a)
		done := sup.ServeBackground(ctx)
		first, phase := a.offsets()
		if first > FirstRoundWithin || phase >= 30*time.Second {
			t.Fatalf("offsets out of range: first %v phase %v", first, phase)
		}
		time.Sleep(first + time.Millisecond)
		synctest.Wait()
		if got := len(collect(inbox)); got != 1 {
			t.Fatalf("after first offset: %d results, want 1", got)
		}
		// 10 more intervals give exactly 10 more probes.
		time.Sleep(phase - first + 10*30*time.Second)
		synctest.Wait()
		res := collect(inbox)
		if len(res) != 10 {
			t.Fatalf("after 10 intervals: %d results, want 10", len(res))
		}
		if res[0].Key.Replica != "r" || res[0].Result.Status != messages.Healthy {
			t.Fatalf("bad result %+v", res[0])
		}
		cancel()
		<-done
	})
}

func TestRetryProcedure(t *testing.T) {
	cases := []struct {
		name     string
		statuses []messages.Status
		retries  int
		want     messages.Status
		attempts int64
	}{
		{"dead then healthy", []messages.Status{messages.Dead, messages.Dead, messages.Healthy}, 2, messages.Healthy, 3},
		{"dead exhausted", []messages.Status{messages.Dead}, 2, messages.Dead, 3},
		{"sick is final", []messages.Status{messages.Sick, messages.Healthy}, 2, messages.Sick, 1},
		{"no retries", []messages.Status{messages.Dead, messages.Healthy}, 0, messages.Dead, 1},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			synctest.Test(t, func(t *testing.T) {
				ctx, cancel := context.WithCancel(t.Context())
				defer cancel()
				sup := newTree(t, suture.Spec{PassThroughPanics: true})
				pool := startPool(sup, 1)
				inbox := make(chan messages.StateMessage, 10)
				p := &scripted{statuses: tc.statuses}
				a := New(Spec{Key: messages.ReplicaKey{Replica: "x"}, Prober: p, Pool: pool, Interval: time.Hour,
					Retries: tc.retries, RetryWait: 500 * time.Millisecond, Out: inbox, Logger: slog.New(slog.DiscardHandler)})
				sup.Add(a)
				done := sup.ServeBackground(ctx)
				start := time.Now()
				m := (<-inbox).(messages.ReplicaProbed)
				elapsed := time.Since(start)
				if m.Result.Status != tc.want || p.calls.Load() != tc.attempts {
					t.Fatalf("status %v after %d attempts, want %v after %d", m.Result.Status, p.calls.Load(), tc.want, tc.attempts)
				}
				first, _ := a.offsets()
				if wantWait := first + time.Duration(tc.attempts-1)*500*time.Millisecond; elapsed != wantWait {
					t.Fatalf("result after %v, want %v (retry wait only between attempts)", elapsed, wantWait)
				}
				cancel()
				<-done
			})
		})
	}
}

func TestPoolBoundsConcurrency(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		sup := newTree(t, suture.Spec{PassThroughPanics: true})
		pool := startPool(sup, 3)
		inbox := make(chan messages.StateMessage, 1000)
		p := &scripted{statuses: []messages.Status{messages.Healthy}, hold: 2 * time.Second}
		for i := range 40 {
			sup.Add(New(Spec{Key: messages.ReplicaKey{Replica: string(rune('a' + i))}, Prober: p, Pool: pool,
				Interval: time.Minute, Out: inbox, Logger: slog.New(slog.DiscardHandler)}))
		}
		done := sup.ServeBackground(ctx)
		time.Sleep(5 * time.Minute)
		synctest.Wait()
		if got := p.maxSeen.Load(); got != 3 {
			t.Fatalf("max concurrent probes %d, want 3", got)
		}
		if got := len(collect(inbox)); got < 40*4 {
			t.Fatalf("only %d results in 5 minutes for 40 replicas", got)
		}
		cancel()
		<-done
	})
}

// TestPanickingReplicaRestarts: a replica whose probe panics is restarted by
// its supervisor (after backoff once failures pile up) and its neighbour
// keeps its schedule.
func TestPanickingReplicaRestarts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		var panics, backoffs atomic.Int64
		sup := suture.New("service", suture.Spec{
			FailureThreshold: 2, FailureBackoff: 15 * time.Second, FailureDecay: 30,
			EventHook: func(e suture.Event) {
				switch e.(type) {
				case suture.EventServicePanic:
					panics.Add(1)
				case suture.EventBackoff:
					backoffs.Add(1)
				}
			},
		})
		pool := startPool(sup, 2)
		inbox := make(chan messages.StateMessage, 1000)
		bad := &scripted{statuses: []messages.Status{messages.Healthy}}
		bad.panics.Store(5)
		good := &scripted{statuses: []messages.Status{messages.Healthy}}
		sup.Add(New(Spec{Key: messages.ReplicaKey{Replica: "bad"}, Prober: bad, Pool: pool, Interval: 10 * time.Second, Out: inbox, Logger: slog.New(slog.DiscardHandler)}))
		sup.Add(New(Spec{Key: messages.ReplicaKey{Replica: "good"}, Prober: good, Pool: pool, Interval: 10 * time.Second, Out: inbox, Logger: slog.New(slog.DiscardHandler)}))
		done := sup.ServeBackground(ctx)
		time.Sleep(10*time.Minute + time.Second)
		synctest.Wait()
		var goodN, badN int
		for _, m := range collect(inbox) {
			switch m.Key.Replica {
			case "good":
				goodN++
			case "bad":
				badN++
			}
		}
		if panics.Load() != 5 {
			t.Fatalf("saw %d panics, want 5", panics.Load())
		}
		if backoffs.Load() == 0 {
			t.Fatal("repeated panics never made the supervisor back off")
		}
		if badN == 0 {
			t.Fatal("panicking replica was never restarted into a working state")
		}
		// The good replica ran on schedule all along: 60 intervals of 10 s.
		if goodN < 59 || goodN > 61 {
			t.Fatalf("healthy neighbour produced %d results in 10 min, want about 60", goodN)
		}
		cancel()
		<-done
	})
}
