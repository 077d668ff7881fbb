package node

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"testing/synctest"
	"time"

	"github.com/vigil-go/vigil/config"
	"github.com/vigil-go/vigil/messages"
	"github.com/vigil-go/vigil/storage"
)

func testCfg() *config.Config {
	return &config.Config{Probe: config.Probe{Services: []config.Service{
		{ID: "relay", Nodes: []config.Node{{ID: "socket", Mode: config.ModePush}, {ID: "web", Mode: config.ModePoll}}},
		{ID: "internal", Nodes: []config.Node{{ID: "gateway", Mode: config.ModeLocal}}},
	}}}
}

type harness struct {
	router *Router
	out    chan messages.StateMessage
}

func start(t *testing.T, max int) *harness {
	t.Helper()
	out := make(chan messages.StateMessage, 100)
	quiet := slog.New(slog.DiscardHandler)
	push := New(Spec{Probe: "relay", Node: "socket", Mode: config.ModePush, DelayDead: 20 * time.Second,
		CPUSickAbove: 0.99, RAMSickAbove: 0.99, MaxReplicas: max, Out: out, Logger: quiet})
	local := New(Spec{Probe: "internal", Node: "gateway", Mode: config.ModeLocal, DelayDead: 40 * time.Second, Out: out, Logger: quiet})
	ctx, cancel := context.WithCancel(t.Context())
	t.Cleanup(cancel)
	go push.Serve(ctx)
	go local.Serve(ctx)
	return &harness{router: NewRouter(testCfg(), []*Actor{push, local}), out: out}
}

func (h *harness) load(t *testing.T, replica string, cpu, ram float64, interval time.Duration) error {
	t.Helper()
	return h.router.Report(t.Context(), "relay", "socket", messages.Report{Replica: replica, Interval: interval,
		Load: &messages.Load{CPU: cpu, RAM: ram}, At: time.Now()})
}

func (h *harness) updates() []messages.ReplicaUpdated {
	var u []messages.ReplicaUpdated
	for {
		select {
		case m := <-h.out:
			if up, ok := m.(messages.ReplicaUpdated); ok {
				u = append(u, up)
			}
		default:
			return u
		}
	}
}

func TestPushReplicaExpiresAfterIntervalPlusGrace(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := start(t, 0)
		if err := h.load(t, "10.0.0.1", 0.3, 0.5, 30*time.Second); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if u := h.updates(); len(u) != 1 || u[0].Status != messages.Healthy || u[0].Key.Replica != "10.0.0.1" || u[0].Load.CPU != 0.3 {
			t.Fatalf("first update %+v", u)
		}
		time.Sleep(50*time.Second - time.Nanosecond)
		synctest.Wait()
		if u := h.updates(); len(u) != 0 {
			t.Fatalf("dead too early: %+v", u)
		}
		time.Sleep(time.Nanosecond)
		synctest.Wait()
		u := h.updates()
		if len(u) != 1 || u[0].Status != messages.Dead || u[0].Err == "" {
			t.Fatalf("at 50 s: %+v, want dead", u)
		}
		// A new report revives it.
		if err := h.load(t, "10.0.0.1", 0.3, 0.5, 30*time.Second); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if u := h.updates(); len(u) != 1 || u[0].Status != messages.Healthy {
			t.Fatalf("revival %+v", u)
		}
	})
}

func TestPushSickThresholdsAsFloat32(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := start(t, 0)
		cases := []struct {
			cpu, ram float64
			want     messages.Status
		}{
			{0.99, 0.5, messages.Healthy}, {0.995, 0.5, messages.Sick}, {0.5, 0.995, messages.Sick},
			{0.5, 0.99, messages.Healthy}, {1.7, 0.1, messages.Sick},
		}
		for _, tc := range cases {
			if err := h.load(t, "r", tc.cpu, tc.ram, time.Minute); err != nil {
				t.Fatal(err)
			}
			synctest.Wait()
			if u := h.updates(); len(u) != 1 || u[0].Status != tc.want {
				t.Fatalf("cpu %v ram %v: %+v, want %v", tc.cpu, tc.ram, u, tc.want)
			}
		}
	})
}

func TestLocalHealthAndExpiry(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := start(t, 0)
		sick := messages.Sick
		err := h.router.Report(t.Context(), "internal", "gateway", messages.Report{Replica: "icmp://127.0.0.1", Interval: time.Minute, Health: &sick, At: time.Now()})
		if err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if u := h.updates(); len(u) != 1 || u[0].Status != messages.Sick {
			t.Fatalf("local %+v", u)
		}
		time.Sleep(100 * time.Second)
		synctest.Wait()
		if u := h.updates(); len(u) != 1 || u[0].Status != messages.Dead {
			t.Fatalf("local after 100 s %+v, want dead", u)
		}
	})
}

func TestRoutingErrorsAndFlush(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		h := start(t, 2)
		ctx := t.Context()
		healthy := messages.Healthy
		checks := []struct {
			name string
			err  error
			want error
		}{
			{"unknown node", h.router.Report(ctx, "relay", "nope", messages.Report{Load: &messages.Load{}}), messages.ErrUnknownNode},
			{"unknown probe", h.router.Report(ctx, "nope", "socket", messages.Report{Load: &messages.Load{}}), messages.ErrUnknownNode},
			{"load to poll node", h.router.Report(ctx, "relay", "web", messages.Report{Load: &messages.Load{}}), messages.ErrWrongMode},
			{"health to push node", h.router.Report(ctx, "relay", "socket", messages.Report{Health: &healthy}), messages.ErrWrongMode},
			{"load to local node", h.router.Report(ctx, "internal", "gateway", messages.Report{Load: &messages.Load{}}), messages.ErrWrongMode},
			{"flush on poll node", h.router.Flush(ctx, "relay", "web", messages.Flush{Replica: "x"}), messages.ErrWrongMode},
			{"flush unknown replica", h.router.Flush(ctx, "relay", "socket", messages.Flush{Replica: "x"}), messages.ErrUnknownReplica},
			{"first", h.load(t, "a", 0, 0, time.Minute), nil},
			{"second", h.load(t, "b", 0, 0, time.Minute), nil},
			{"over the cap", h.load(t, "c", 0, 0, time.Minute), messages.ErrTooManyReplicas},
			{"known replica under cap", h.load(t, "a", 0, 0, time.Minute), nil},
			{"flush", h.router.Flush(ctx, "relay", "socket", messages.Flush{Replica: "a"}), nil},
			{"flush again", h.router.Flush(ctx, "relay", "socket", messages.Flush{Replica: "a"}), messages.ErrUnknownReplica},
			{"room again", h.load(t, "c", 0, 0, time.Minute), nil},
		}
		for _, c := range checks {
			if !errors.Is(c.err, c.want) && c.err != c.want {
				t.Fatalf("%s: %v, want %v", c.name, c.err, c.want)
			}
		}
		synctest.Wait()
		var removed int
		for len(h.out) > 0 {
			if _, ok := (<-h.out).(messages.ReplicaRemoved); ok {
				removed++
			}
		}
		if removed != 1 {
			t.Fatalf("%d removals sent, want 1", removed)
		}
	})
}

func TestRestoredReplicaExpiresFromItsLastReport(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		out := make(chan messages.StateMessage, 10)
		last := time.Now().Add(-40 * time.Second) // reported 40 s ago, interval 30 s, grace 20 s
		a := New(Spec{Probe: "relay", Node: "socket", Mode: config.ModePush, DelayDead: 20 * time.Second,
			CPUSickAbove: 0.99, RAMSickAbove: 0.99, Out: out, Logger: slog.New(slog.DiscardHandler),
			Restore: []storage.Replica{{Key: messages.ReplicaKey{Probe: "relay", Node: "socket", Replica: "r1"},
				Status: messages.Healthy, Reported: last, Interval: 30 * time.Second}}})
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		go a.Serve(ctx)
		time.Sleep(10*time.Second - time.Millisecond)
		synctest.Wait()
		if len(out) != 0 {
			t.Fatal("restored replica expired early")
		}
		time.Sleep(time.Millisecond)
		synctest.Wait()
		if len(out) != 1 {
			t.Fatalf("restored replica not expired at its deadline (%d messages)", len(out))
		}
		if u := (<-out).(messages.ReplicaUpdated); u.Status != messages.Dead || u.Key.Replica != "r1" {
			t.Fatalf("got %+v", u)
		}
	})
}

// TestInternalRestartReseeds: after a panic-restart the actor starts from
// Reseed, so a replica that stops reporting still expires.
func TestInternalRestartReseeds(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		out := make(chan messages.StateMessage, 10)
		reported := time.Now()
		a := New(Spec{Probe: "relay", Node: "socket", Mode: config.ModePush, DelayDead: 20 * time.Second,
			CPUSickAbove: 0.99, RAMSickAbove: 0.99, Out: out, Logger: slog.New(slog.DiscardHandler),
			Reseed: func() []storage.Replica {
				return []storage.Replica{{Key: messages.ReplicaKey{Probe: "relay", Node: "socket", Replica: "r"},
					Status: messages.Healthy, Reported: reported, Interval: 30 * time.Second}}
			}})
		// First run: no Restore, nothing known.
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() { a.Serve(ctx); close(done) }()
		synctest.Wait()
		cancel()
		<-done
		// Second run (what the supervisor does after a failure): reseeded.
		ctx2, cancel2 := context.WithCancel(t.Context())
		defer cancel2()
		go a.Serve(ctx2)
		time.Sleep(51 * time.Second)
		synctest.Wait()
		if len(out) != 1 {
			t.Fatalf("%d messages, want the reseeded replica's expiry", len(out))
		}
		if u := (<-out).(messages.ReplicaUpdated); u.Status != messages.Dead || u.Key.Replica != "r" {
			t.Fatalf("got %+v", u)
		}
	})
}
