package state

import (
	"context"
	"errors"
	"log/slog"
	"testing"
	"testing/synctest"
	"time"

	"github.com/vigil-go/vigil/config"
	"github.com/vigil-go/vigil/messages"
)

func probeIDs(s *messages.Snapshot) []string {
	var ids []string
	for _, p := range s.Probes {
		ids = append(ids, p.ID)
	}
	return ids
}

func withService(id string) *config.Config {
	cfg := testConfig()
	cfg.Probe.Services = append(cfg.Probe.Services, config.Service{ID: id, Label: id, Nodes: []config.Node{
		{ID: "n", Label: "N", Mode: config.ModePoll, Replicas: []config.Replica{{ID: "tcp://" + id + ":1", Kind: config.KindTCP}}},
	}})
	return cfg
}

// TestPrepareHoldsTheActorUntilCommitOrAbort: a prepared reconfiguration
// changes nothing until Commit, which publishes the new layout before it
// returns; Abort leaves the running one; meanwhile the actor handles
// nothing else.
func TestPrepareHoldsTheActorUntilCommitOrAbort(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		pub := &Published{}
		mb := make(chan messages.Notification, 8)
		a := New(testConfig(), pub, slog.New(slog.DiscardHandler), Options{})
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		go a.Serve(ctx)
		synctest.Wait()

		r, err := a.Prepare(t.Context(), withService("db"), []Subscriber{{Kind: "webhook", Mailbox: mb}})
		if err != nil {
			t.Fatal(err)
		}
		a.Inbox() <- probed("jobs", "0", messages.Dead)
		time.Sleep(time.Second)
		synctest.Wait()
		if s := pub.Latest(); s.Status != messages.Healthy || len(s.Probes) != 2 {
			t.Fatalf("a held actor changed the page: %v %v", s.Status, probeIDs(s))
		}
		r.Abort()
		time.Sleep(time.Second)
		synctest.Wait()
		if s := pub.Latest(); s.Status != messages.Dead || len(s.Probes) != 2 {
			t.Fatalf("after Abort: %v %v, want dead with the running layout", s.Status, probeIDs(s))
		}
		if len(mb) != 0 {
			t.Fatal("an aborted reconfiguration's subscribers got a notification")
		}

		r, err = a.Prepare(t.Context(), withService("db"), []Subscriber{{Kind: "webhook", Mailbox: mb}})
		if err != nil {
			t.Fatal(err)
		}
		r.Commit()
		if ids := probeIDs(pub.Latest()); len(ids) != 3 || ids[2] != "db" {
			t.Fatalf("layout after Commit returned: %v", ids)
		}
		a.Inbox() <- probed("jobs", "0", messages.Healthy)
		synctest.Wait()
		if n := <-mb; n.Kind != messages.Changed || n.Status != messages.Healthy {
			t.Fatalf("the new subscribers got %+v", n)
		}
	})
}

// TestPrepareFailsWithoutTheActor: Prepare fails, and so nothing can be
// committed, when the actor does not take the change: it is not running,
// or the caller's context has ended.
func TestPrepareFailsWithoutTheActor(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := New(testConfig(), &Published{}, slog.New(slog.DiscardHandler), Options{})
		ctx, cancel := context.WithTimeout(t.Context(), time.Second)
		defer cancel()
		if _, err := a.Prepare(ctx, withService("db"), nil); !errors.Is(err, ErrStopped) {
			t.Fatalf("Prepare on an actor that does not run: %v", err)
		}

		run, stop := context.WithCancel(t.Context())
		defer stop()
		go a.Serve(run)
		synctest.Wait()
		ended, end := context.WithCancel(t.Context())
		end()
		for range 20 { // the actor is ready to take it: the ended context must still win
			if _, err := a.Prepare(ended, withService("db"), nil); !errors.Is(err, ErrStopped) {
				t.Fatalf("Prepare with an ended context: %v", err)
			}
		}
	})
}

// TestCommitAfterStopReturns: an actor stopped while it holds a prepared
// reconfiguration releases it, so Commit does not hang.
func TestCommitAfterStopReturns(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		a := New(testConfig(), &Published{}, slog.New(slog.DiscardHandler), Options{})
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() { a.Serve(ctx); close(done) }()
		r, err := a.Prepare(t.Context(), withService("db"), nil)
		if err != nil {
			t.Fatal(err)
		}
		cancel()
		<-done
		r.Commit()
	})
}
