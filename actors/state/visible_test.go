package state

import (
	"context"
	"log/slog"
	"testing"
	"testing/synctest"
	"time"

	"github.com/vigil-go/vigil/messages"
)

func hasReplica(s *messages.Snapshot, probe, node, replica string) bool {
	for _, p := range s.Probes {
		for _, n := range p.Nodes {
			for _, r := range n.Replicas {
				if p.ID == probe && n.ID == node && r.ID == replica {
					return true
				}
			}
		}
	}
	return false
}

// A reporter write that carries a Visible channel is published at once
// (not after PublishEvery) and answered with a generation that shows it.
func TestVisibleReceiptPublishesAtOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pub := &Published{}
		a := New(testConfig(), pub, slog.New(slog.DiscardHandler), Options{PublishEvery: time.Hour})
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		go a.Serve(ctx)
		// A first change is published at once; the next one without a
		// receipt would wait an hour.
		a.Inbox() <- probed("jobs", "0", messages.Dead)
		synctest.Wait()
		before := pub.Latest().Generation

		key := messages.ReplicaKey{Probe: "relay", Node: "socket", Replica: "r1"}
		visible := make(chan uint64, 1)
		start := time.Now()
		a.Inbox() <- messages.ReplicaUpdated{Key: key, Status: messages.Healthy, Reported: start, Interval: time.Minute, Visible: visible}
		gen := <-visible
		if waited := time.Since(start); waited != 0 {
			t.Fatalf("receipt after %v, want at once", waited)
		}
		snap := pub.Latest()
		if gen <= before || snap.Generation < gen || !hasReplica(snap, "relay", "socket", "r1") {
			t.Fatalf("receipt %d (before %d), latest %d, replica shown %v", gen, before, snap.Generation, hasReplica(snap, "relay", "socket", "r1"))
		}

		removed := make(chan uint64, 1)
		start = time.Now()
		a.Inbox() <- messages.ReplicaRemoved{Key: key, Visible: removed}
		gen2 := <-removed
		if waited := time.Since(start); waited != 0 {
			t.Fatalf("removal receipt after %v, want at once", waited)
		}
		if snap := pub.Latest(); gen2 <= gen || snap.Generation < gen2 || hasReplica(snap, "relay", "socket", "r1") {
			t.Fatalf("removal receipt %d, latest %d, replica still shown %v", gen2, snap.Generation, hasReplica(snap, "relay", "socket", "r1"))
		}
	})
}

// A burst of writes queued together shares publications, and every
// receipt names a snapshot that shows its write.
func TestVisibleReceiptBurst(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pub := &Published{}
		a := New(testConfig(), pub, slog.New(slog.DiscardHandler), Options{PublishEvery: time.Hour})
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		const n = 100
		receipts := make([]chan uint64, n)
		first := pub.Latest().Generation
		// Queued before the actor runs: one drain, few publications.
		for i := range n {
			receipts[i] = make(chan uint64, 1)
			a.Inbox() <- messages.ReplicaUpdated{Key: messages.ReplicaKey{Probe: "relay", Node: "socket", Replica: string(rune('a'+i%26)) + string(rune('a'+i/26))},
				Reported: time.Now(), Interval: time.Minute, Visible: receipts[i]}
		}
		go a.Serve(ctx)
		synctest.Wait()
		var last uint64
		for i, ch := range receipts {
			select {
			case g := <-ch:
				last = max(last, g)
			default:
				t.Fatalf("write %d not answered", i)
			}
		}
		snap := pub.Latest()
		if snap.Generation < last || len(snap.Probes[1].Nodes[0].Replicas) != n {
			t.Fatalf("latest %d, last receipt %d, %d replicas", snap.Generation, last, len(snap.Probes[1].Nodes[0].Replicas))
		}
		// The startup publication, the first change after a quiet period
		// (published at once anyway), and one for the rest of the burst.
		if pubs := snap.Generation - first; pubs > 3 {
			t.Fatalf("%d publications for %d queued writes", pubs, n)
		}
	})
}

// Generations keep increasing when the actor is restarted, so the web
// layer never sees an older generation number for a newer snapshot.
func TestGenerationsContinueAcrossRestart(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pub := &Published{}
		a := New(testConfig(), pub, slog.New(slog.DiscardHandler), Options{})
		var last uint64
		for run := range 3 {
			ctx, cancel := context.WithCancel(t.Context())
			done := make(chan struct{})
			go func() { a.Serve(ctx); close(done) }()
			synctest.Wait()
			a.Inbox() <- probed("jobs", "0", messages.Dead)
			synctest.Wait()
			time.Sleep(time.Second)
			synctest.Wait()
			if g := pub.Latest().Generation; g <= last {
				t.Fatalf("run %d: generation %d after %d", run, g, last)
			}
			last = pub.Latest().Generation
			cancel()
			<-done
		}
	})
}
