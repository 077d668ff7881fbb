package node

import (
	"context"
	"log/slog"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/vigil-go/vigil/config"
	"github.com/vigil-go/vigil/messages"
)

// queueNode starts a push node actor with a queue signal channel that no
// checker reads: the test plays the checker.
type queueNode struct {
	actor   *Actor
	signals chan messages.QueueSignal
	out     chan messages.StateMessage
	router  *Router
}

func startQueueNode(t *testing.T) *queueNode {
	t.Helper()
	q := &queueNode{signals: make(chan messages.QueueSignal, 1), out: make(chan messages.StateMessage, 100)}
	q.actor = New(Spec{Probe: "relay", Node: "socket", Mode: config.ModePush, DelayDead: 20 * time.Second,
		CPUSickAbove: 0.9, RAMSickAbove: 0.9, Out: q.out, Logger: slog.New(slog.DiscardHandler), QueueSignals: q.signals})
	ctx, cancel := context.WithCancel(t.Context())
	t.Cleanup(cancel)
	go q.actor.Serve(ctx)
	q.router = NewRouter(testCfg(), []*Actor{q.actor})
	return q
}

func (q *queueNode) report(t *testing.T, replica string, cpu float64) {
	t.Helper()
	err := q.router.Report(t.Context(), "relay", "socket", messages.Report{Replica: replica, Interval: 30 * time.Second,
		Load: &messages.Load{CPU: cpu, RAM: 0.1}, At: time.Now()})
	if err != nil {
		t.Fatal(err)
	}
}

// inject delivers a reading the way the checker does, and waits for the
// actor to handle it.
func (q *queueNode) inject(t *testing.T, r messages.QueueReading) {
	t.Helper()
	r.At = time.Now()
	select {
	case q.actor.Mailbox() <- r:
	default:
		t.Fatal("mailbox full")
	}
	synctest.Wait()
}

// updates drains the updates sent so far: the last one of each replica.
func (q *queueNode) updates() map[string]messages.ReplicaUpdated {
	u := map[string]messages.ReplicaUpdated{}
	for {
		select {
		case m := <-q.out:
			if up, ok := m.(messages.ReplicaUpdated); ok {
				u[up.Key.Replica] = up
			}
		default:
			return u
		}
	}
}

func (q *queueNode) signal(t *testing.T) (messages.QueueSignal, bool) {
	t.Helper()
	select {
	case s := <-q.signals:
		return s, true
	default:
		return messages.QueueSignal{}, false
	}
}

func TestQueueReadingDrivesPushStatus(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := startQueueNode(t)
		synctest.Wait()
		q.report(t, "a", 0.1)
		q.report(t, "b", 0.95) // sick by CPU
		synctest.Wait()
		u := q.updates()
		if u["a"].Status != messages.Healthy || u["a"].Queue != nil || u["b"].Status != messages.Sick {
			t.Fatalf("before any reading: %+v", u)
		}

		// Loaded: the healthy replica turns sick; b is already sick for its
		// CPU (which wins), so only its queue information changes.
		q.inject(t, messages.QueueReading{Ready: 5, Loaded: true})
		u = q.updates()
		if len(u) != 2 || u["a"].Status != messages.Sick || !strings.Contains(u["a"].Err, "queue loaded") ||
			u["a"].Queue == nil || u["a"].Queue.Ready != 5 || !u["a"].Queue.Loaded {
			t.Fatalf("loaded: %+v", u)
		}
		if u["b"].Status != messages.Sick || !strings.Contains(u["b"].Err, "cpu") || u["b"].Queue.Ready != 5 {
			t.Fatalf("loaded, cpu-sick replica: %+v", u["b"])
		}

		// The same reading again changes nothing: nothing is sent.
		q.inject(t, messages.QueueReading{Ready: 5, Loaded: true})
		if u = q.updates(); len(u) != 0 {
			t.Fatalf("unchanged reading sent %+v", u)
		}

		// Stalled: dead, except where the CPU already made it sick.
		q.inject(t, messages.QueueReading{Ready: 11, Unacked: 2, Loaded: true, Stalled: true})
		u = q.updates()
		if u["a"].Status != messages.Dead || !strings.Contains(u["a"].Err, "stalled (11 ready, 2 unacknowledged)") {
			t.Fatalf("stalled: %+v", u["a"])
		}
		if u["b"].Status != messages.Sick {
			t.Fatalf("stalled, cpu-sick replica: %+v, want sick (cpu is checked first)", u["b"])
		}

		// A report from a live replica while stalled keeps it dead.
		q.report(t, "a", 0.1)
		synctest.Wait()
		if u = q.updates(); u["a"].Status != messages.Dead || u["a"].Queue.Ready != 11 {
			t.Fatalf("report while stalled: %+v", u)
		}

		// An unreadable queue changes no status by itself and shows its error.
		q.inject(t, messages.QueueReading{Err: "RabbitMQ management API: HTTP 401 Unauthorized"})
		u = q.updates()
		if u["a"].Status != messages.Healthy || u["a"].Err != "" || u["a"].Queue == nil ||
			!strings.Contains(u["a"].Queue.Err, "401") || u["a"].Queue.Loaded || u["a"].Queue.Ready != 0 {
			t.Fatalf("error reading: %+v", u["a"])
		}
		if u["b"].Status != messages.Sick || u["b"].Queue.Err == "" {
			t.Fatalf("error reading, cpu-sick replica: %+v", u["b"])
		}

		// Drained: healthy again.
		q.inject(t, messages.QueueReading{})
		u = q.updates()
		if u["a"].Status != messages.Healthy || u["a"].Queue.Err != "" || len(u) != 2 {
			t.Fatalf("drained: %+v", u)
		}
	})
}

func TestQueueReadingKeepsExpiredReplicasDead(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := startQueueNode(t)
		q.report(t, "a", 0.1)
		synctest.Wait()
		time.Sleep(40 * time.Second) // a: 30 s interval + 20 s grace
		q.report(t, "b", 0.1)
		time.Sleep(15 * time.Second)
		synctest.Wait()
		if u := q.updates(); u["a"].Status != messages.Dead || u["b"].Status != messages.Healthy {
			t.Fatalf("setup: %+v", u)
		}
		q.inject(t, messages.QueueReading{Ready: 1})
		u := q.updates()
		if u["a"].Status != messages.Dead || !strings.Contains(u["a"].Err, "no report") || u["a"].Queue.Ready != 1 {
			t.Fatalf("expired replica: %+v, want dead with the new counts", u["a"])
		}
		q.inject(t, messages.QueueReading{Ready: 12, Stalled: true, Loaded: true})
		u = q.updates()
		if !strings.Contains(u["a"].Err, "no report") || u["b"].Status != messages.Dead || !strings.Contains(u["b"].Err, "stalled") {
			t.Fatalf("stalled: %+v", u)
		}
		// b expires too while stalled: its cause becomes the expiry.
		time.Sleep(40 * time.Second)
		synctest.Wait()
		if u = q.updates(); !strings.Contains(u["b"].Err, "no report") {
			t.Fatalf("b expired: %+v", u)
		}
		// A reading that drains the queue does not revive expired replicas.
		q.inject(t, messages.QueueReading{})
		for id, up := range q.updates() {
			if up.Status != messages.Dead {
				t.Fatalf("%s revived by a reading: %+v", id, up)
			}
		}
	})
}

func TestQueueSignals(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		q := startQueueNode(t)
		synctest.Wait()
		if s, ok := q.signal(t); !ok || s.Check || s.Active {
			t.Fatalf("start without replicas: %+v %v, want an inactive signal", s, ok)
		}
		// A burst of reports leaves one merged signal.
		for range 60 { // the out channel holds 100
			q.report(t, "a", 0.1)
		}
		q.report(t, "b", 0.1)
		synctest.Wait()
		if s, ok := q.signal(t); !ok || !s.Check || !s.Active {
			t.Fatalf("after reports: %+v %v", s, ok)
		}
		if _, ok := q.signal(t); ok {
			t.Fatal("more than one signal pending")
		}
		q.updates()
		// Flushing one of two live replicas says nothing; expiry of the
		// last one says inactive.
		if err := q.router.Flush(t.Context(), "relay", "socket", messages.Flush{Replica: "b"}); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if s, ok := q.signal(t); ok {
			t.Fatalf("flush of a non-last replica signalled %+v", s)
		}
		time.Sleep(51 * time.Second)
		synctest.Wait()
		if s, ok := q.signal(t); !ok || s.Check || s.Active {
			t.Fatalf("after expiry: %+v %v, want inactive", s, ok)
		}
		// A report while a check request is still pending: the request
		// survives the merge with a later inactive notice.
		q.report(t, "a", 0.1)
		synctest.Wait()
		if err := q.router.Flush(t.Context(), "relay", "socket", messages.Flush{Replica: "a"}); err != nil {
			t.Fatal(err)
		}
		synctest.Wait()
		if s, ok := q.signal(t); !ok || !s.Check || s.Active {
			t.Fatalf("report then flush of the last replica: %+v %v, want check, inactive", s, ok)
		}
	})
}

func TestLocalNodeIgnoresQueue(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		out := make(chan messages.StateMessage, 10)
		sig := make(chan messages.QueueSignal, 1)
		a := New(Spec{Probe: "internal", Node: "gateway", Mode: config.ModeLocal, DelayDead: time.Minute, Out: out,
			Logger: slog.New(slog.DiscardHandler), QueueSignals: sig})
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		go a.Serve(ctx)
		r := NewRouter(testCfg(), []*Actor{a})
		healthy := messages.Healthy
		if err := r.Report(t.Context(), "internal", "gateway", messages.Report{Replica: "x", Interval: time.Minute, Health: &healthy, At: time.Now()}); err != nil {
			t.Fatal(err)
		}
		a.Mailbox() <- messages.QueueReading{Stalled: true}
		synctest.Wait()
		if len(sig) != 0 {
			t.Fatal("local node signalled a queue checker")
		}
		if len(out) != 1 {
			t.Fatalf("%d updates, want the report's only", len(out))
		}
		if u := (<-out).(messages.ReplicaUpdated); u.Status != messages.Healthy || u.Queue != nil {
			t.Fatalf("local replica %+v", u)
		}
	})
}
