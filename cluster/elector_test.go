package cluster

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"testing"
	"testing/synctest"
	"time"
)

// fakeLease is a LeaseBackend in memory, on the (fake) clock of the test's
// bubble. hang makes every call wait until ctx ends; fail makes every
// call fail.
type fakeLease struct {
	mu      sync.Mutex
	holder  string
	epoch   int64
	expires time.Time
	hang    bool
	fail    error
	calls   int
	// extra lengthens every lease on the backend (a lease the backend
	// still holds after the instance's own deadline).
	extra time.Duration
}

func (f *fakeLease) enter(ctx context.Context) error {
	f.mu.Lock()
	f.calls++
	hang, fail := f.hang, f.fail
	f.mu.Unlock()
	if hang {
		<-ctx.Done()
		return ctx.Err()
	}
	return fail
}

func (f *fakeLease) Acquire(ctx context.Context, id string, ttl time.Duration) (int64, bool, string, error) {
	if err := f.enter(ctx); err != nil {
		return 0, false, "", err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	now := time.Now()
	if now.Before(f.expires) && f.holder != id {
		return 0, false, f.holder, nil
	}
	f.holder, f.epoch, f.expires = id, f.epoch+1, now.Add(ttl+f.extra)
	return f.epoch, true, id, nil
}

func (f *fakeLease) Renew(ctx context.Context, id string, epoch int64, ttl time.Duration) (bool, error) {
	if err := f.enter(ctx); err != nil {
		return false, err
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	now := time.Now()
	if f.holder != id || f.epoch != epoch || !now.Before(f.expires) {
		return false, nil
	}
	f.expires = now.Add(ttl + f.extra)
	return true, nil
}

func (f *fakeLease) Release(ctx context.Context, id string, epoch int64) error {
	f.mu.Lock()
	defer f.mu.Unlock()
	if f.holder == id && f.epoch == epoch {
		f.expires = time.Time{}
	}
	return nil
}

func (f *fakeLease) set(do func(f *fakeLease)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	do(f)
}

func (f *fakeLease) state() (string, int64, time.Time) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.holder, f.epoch, f.expires
}

var testLease = ElectorOptions{TTL: 10 * time.Second, Renew: 2 * time.Second}

func quiet() *slog.Logger { return slog.New(slog.DiscardHandler) }

// run starts e in the bubble; the returned function stops it.
func run(e *Elector) context.CancelFunc {
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan struct{})
	go func() {
		_ = e.Serve(ctx)
		close(done)
	}()
	return func() {
		cancel()
		<-done
	}
}

// drain empties a signal channel and reports whether it held a signal.
func drain(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

// TestElectorLeadsAndRenews: a lone instance takes the lease at once,
// signals it, and keeps it by renewing every Renew interval.
func TestElectorLeadsAndRenews(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeLease{}
		e := NewElector("a", f, testLease, quiet())
		stop := run(e)
		defer stop()
		synctest.Wait()
		if epoch, ok := e.Leading(); !ok || epoch != 1 {
			t.Fatalf("Leading = %d, %v; want 1, true", epoch, ok)
		}
		if !drain(e.Changes()) || e.Leader() != "a" {
			t.Fatalf("no signal, or leader %q", e.Leader())
		}
		time.Sleep(time.Minute)
		synctest.Wait()
		if !e.Holds(1) || drain(e.Changes()) {
			t.Fatal("lost or re-signalled the lease while renewing")
		}
		if _, _, expires := f.state(); time.Until(expires) < testLease.TTL-testLease.Renew {
			t.Fatalf("lease expires in %v: not renewed", time.Until(expires))
		}
		if f.calls < 30 {
			t.Fatalf("%d calls in a minute, want one every 2 s", f.calls)
		}
	})
}

// TestElectorStopsAtItsDeadline: when renewals stop answering, the leader
// stops leading TTL - Margin after the start of its last successful
// renewal, before the lease can expire on the backend, and says so.
func TestElectorStopsAtItsDeadline(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeLease{}
		e := NewElector("a", f, testLease, quiet())
		stop := run(e)
		defer stop()
		synctest.Wait()
		drain(e.Changes())
		time.Sleep(5 * time.Second) // renewed at 2 s and 4 s
		synctest.Wait()
		f.set(func(f *fakeLease) { f.hang = true })
		lastRenewal := 4 * time.Second
		deadline := lastRenewal + testLease.TTL - testLease.Renew // 12 s from the start
		_, _, expires := f.state()
		time.Sleep(deadline - 5*time.Second - time.Millisecond)
		if !e.Holds(1) {
			t.Fatal("stopped leading before its deadline")
		}
		time.Sleep(time.Millisecond)
		if e.Holds(1) {
			t.Fatal("still leading at its deadline")
		}
		if margin := time.Until(expires); margin < testLease.Renew {
			t.Fatalf("stopped leading %v before the backend's expiry, want at least %v", margin, testLease.Renew)
		}
		synctest.Wait()
		if !drain(e.Changes()) {
			t.Fatal("the end of the term was not signalled")
		}
	})
}

// TestElectorPausedLeaderKnows: a leader whose goroutines do not run
// (paused) past its deadline is not leading when asked, before its
// elector has done anything.
func TestElectorPausedLeaderKnows(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeLease{}
		e := NewElector("a", f, testLease, quiet())
		stop := run(e)
		synctest.Wait()
		stop() // nothing of the elector runs any more
		time.Sleep(testLease.TTL)
		if _, ok := e.Leading(); ok {
			t.Fatal("a paused leader still leads past its lease")
		}
	})
}

// TestElectorTakeover: of two instances one leads; when it dies another
// takes over once the lease has expired, in a new epoch, within TTL +
// Renew; a released lease is taken over at the next attempt.
func TestElectorTakeover(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeLease{}
		a := NewElector("a", f, testLease, quiet())
		stopA := run(a)
		synctest.Wait()
		b := NewElector("b", f, testLease, quiet())
		stopB := run(b)
		defer stopB()
		time.Sleep(time.Minute)
		synctest.Wait()
		if !a.Holds(1) || b.Holds(1) {
			t.Fatal("want a leading, b following")
		}
		if b.Leader() != "a" {
			t.Fatalf("b sees leader %q", b.Leader())
		}
		stopA() // dies without releasing
		died := time.Now()
		for !b.Holds(2) {
			time.Sleep(100 * time.Millisecond)
			if time.Since(died) > testLease.TTL+testLease.Renew {
				t.Fatalf("no takeover %v after the leader died", time.Since(died))
			}
		}
		if _, ok := a.Leading(); ok {
			t.Fatal("two leaders")
		}
		// b releases: a new instance takes over at its first attempt.
		if err := b.Release(context.Background()); err != nil || b.Holds(2) {
			t.Fatalf("release: %v", err)
		}
		c := NewElector("c", f, testLease, quiet())
		stopC := run(c)
		defer stopC()
		synctest.Wait()
		if !c.Holds(3) {
			t.Fatal("a released lease was not taken over at once")
		}
	})
}

// TestElectorRetakesAfterLocalLoss: an instance whose term ran out while
// the backend still had it as holder takes the lease back in a new epoch,
// which fences off the old term's writes.
func TestElectorRetakesAfterLocalLoss(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		f := &fakeLease{extra: time.Minute}
		e := NewElector("a", f, testLease, quiet())
		stop := run(e)
		defer stop()
		synctest.Wait()
		f.set(func(f *fakeLease) { f.fail = errors.New("connection refused") })
		time.Sleep(testLease.TTL)
		synctest.Wait()
		if _, ok := e.Leading(); ok {
			t.Fatal("leading without renewals past its deadline")
		}
		f.set(func(f *fakeLease) { f.fail = nil })
		time.Sleep(testLease.Renew)
		synctest.Wait()
		if epoch, ok := e.Leading(); !ok || epoch != 2 {
			t.Fatalf("Leading = %d, %v; want the lease back in epoch 2", epoch, ok)
		}
		if holder, _, expires := f.state(); holder != "a" || !expires.After(time.Now().Add(testLease.TTL)) {
			t.Fatal("the backend's lease had expired: the test did not take it back from itself")
		}
	})
}
