package notifier

import (
	"context"
	"errors"
	"log/slog"
	"reflect"
	"strconv"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/thejerf/suture/v4"

	"github.com/vigil-go/vigil/messages"
)

// fakeProvider fails its first `fail` calls and every call while down,
// optionally hangs until its context ends, and records every call.
type fakeProvider struct {
	kind string
	fail atomic.Int64
	down atomic.Bool
	hang bool
	// hold, when not nil, holds every call until it is closed.
	hold  chan struct{}
	calls chan call
	// partial makes a failing call report recipients 1 and 2 as failed.
	partial bool
}

type call struct {
	at   time.Time
	n    messages.Notification
	only []int
	ok   bool
}

func newFake(kind string) *fakeProvider {
	return &fakeProvider{kind: kind, calls: make(chan call, 1000)}
}

func (f *fakeProvider) Kind() string { return f.kind }

func (f *fakeProvider) Send(ctx context.Context, n messages.Notification, only []int) error {
	c := call{at: time.Now(), n: n, only: only}
	defer func() { f.calls <- c }()
	if f.hold != nil {
		<-f.hold
	}
	if f.hang {
		<-ctx.Done()
		return ctx.Err()
	}
	if f.down.Load() || f.fail.Add(-1) >= 0 {
		if f.partial {
			return &PartialError{Failed: []int{1, 2}, Err: errors.New("two recipients failed")}
		}
		return errors.New("endpoint down")
	}
	c.ok = true
	return nil
}

func drain(ch chan call) []call {
	var out []call
	for {
		select {
		case c := <-ch:
			out = append(out, c)
		default:
			return out
		}
	}
}

func successes(calls []call) []call {
	var out []call
	for _, c := range calls {
		if c.ok {
			out = append(out, c)
		}
	}
	return out
}

func run(t *testing.T, actors ...*Actor) (cancel func()) {
	t.Helper()
	ctx, stop := context.WithCancel(t.Context())
	sup := suture.New("notifiers", suture.Spec{PassThroughPanics: true})
	for _, a := range actors {
		sup.Add(a)
	}
	done := sup.ServeBackground(ctx)
	return func() { stop(); <-done }
}

var quiet = slog.New(slog.DiscardHandler)

// noJitter takes the computed pauses as they are, for exact timings.
func noJitter(d time.Duration) time.Duration { return d }

func note(id string, s messages.Status) messages.Notification {
	return messages.Notification{ID: id, Kind: messages.Changed, Status: s, Replicas: []string{}}
}

func TestRetriesWithBackoffThenDelivers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newFake("webhook")
		p.fail.Store(2)
		a := New(p, Options{Jitter: noJitter}, quiet)
		stop := run(t, a)
		defer stop()
		start := time.Now()
		a.Mailbox() <- messages.Notification{Kind: messages.Changed, Status: messages.Dead}
		time.Sleep(time.Minute)
		synctest.Wait()
		calls := drain(p.calls)
		if len(calls) != 3 {
			t.Fatalf("%d attempts, want 3", len(calls))
		}
		// Attempts at 0 s, 2 s, 2+4 s.
		for i, want := range []time.Duration{0, 2 * time.Second, 6 * time.Second} {
			if got := calls[i].at.Sub(start); got != want {
				t.Fatalf("attempt %d at %v, want %v", i+1, got, want)
			}
		}
		if s := a.Stats(); s.Delivered != 1 || s.Failed != 2 || s.Retried != 2 || s.Dropped != 0 {
			t.Fatalf("stats %+v", s)
		}
	})
}

// TestBackoffDoublesToItsCap: 2 s doubling to 5 minutes, then every 5
// minutes; the default jitter shortens each pause by at most a quarter.
func TestBackoffDoublesToItsCap(t *testing.T) {
	a := New(newFake("webhook"), Options{}, quiet)
	var got []time.Duration
	for n := 1; n <= 10; n++ {
		got = append(got, a.backoff(n))
	}
	s := time.Second
	want := []time.Duration{2 * s, 4 * s, 8 * s, 16 * s, 32 * s, 64 * s, 128 * s, 256 * s, 300 * s, 300 * s}
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("pauses %v, want %v", got, want)
	}
	varied := false
	for range 1000 {
		j := a.opt.Jitter(4 * time.Minute)
		if j < 3*time.Minute || j > 4*time.Minute {
			t.Fatalf("jittered pause %v outside [3m, 4m]", j)
		}
		varied = varied || j != 4*time.Minute
	}
	if !varied {
		t.Fatal("the default jitter never changed a pause")
	}
}

// TestOutageOfTwoMinutesThenDelivered: the endpoint is down for two
// minutes; the change is retried (with the default jitter) and delivered
// once it is back, within one capped pause.
func TestOutageOfTwoMinutesThenDelivered(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newFake("slack")
		p.down.Store(true)
		reports := make(chan messages.NotificationDelivered, 4)
		a := New(p, Options{Delivered: reports}, quiet)
		stop := run(t, a)
		defer stop()
		start := time.Now()
		a.Mailbox() <- note("n-1", messages.Dead)
		time.Sleep(2 * time.Minute)
		p.down.Store(false)
		time.Sleep(5 * time.Minute)
		synctest.Wait()
		calls := drain(p.calls)
		ok := successes(calls)
		if len(ok) != 1 || ok[0].n.ID != "n-1" {
			t.Fatalf("%d deliveries (%d attempts), want n-1 delivered once", len(ok), len(calls))
		}
		// The pause after the attempts of two minutes is at most 128 s.
		if at := ok[0].at.Sub(start); at < 2*time.Minute || at > 2*time.Minute+128*time.Second {
			t.Fatalf("delivered %v after the change, want within a pause after the outage", at)
		}
		if len(calls) > 9 {
			t.Fatalf("%d attempts for a 2-minute outage, want at most 9 (backoff)", len(calls))
		}
		if r := <-reports; r != (messages.NotificationDelivered{Notifier: "slack", ID: "n-1"}) {
			t.Fatalf("report %+v", r)
		}
		if s := a.Stats(); s.Delivered != 1 || s.Dropped != 0 || s.Failed != uint64(len(calls)-1) {
			t.Fatalf("stats %+v", s)
		}
	})
}

// TestLongOutageSendsCurrentPictureOnce: 32 status changes while the
// endpoint is down; once it is back, exactly one delivery, of the last
// one, and no attempt was ever more than 5 minutes after the previous.
func TestLongOutageSendsCurrentPictureOnce(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newFake("webhook")
		p.down.Store(true)
		reports := make(chan messages.NotificationDelivered, 4)
		a := New(p, Options{Delivered: reports}, quiet)
		stop := run(t, a)
		defer stop()
		status := messages.Healthy
		for i := 1; i <= 32; i++ {
			status = messages.Dead
			if i%2 == 0 {
				status = messages.Healthy
			}
			a.Mailbox() <- note("n-"+strconv.Itoa(i), status)
			time.Sleep(time.Duration(i) * 17 * time.Second) // 2.5 hours in all
		}
		time.Sleep(time.Hour)
		p.down.Store(false)
		time.Sleep(10 * time.Minute)
		synctest.Wait()
		calls := drain(p.calls)
		ok := successes(calls)
		if len(ok) != 1 || ok[0].n.ID != "n-32" || ok[0].n.Status != status {
			t.Fatalf("deliveries %+v, want one, of n-32 (%v)", ok, status)
		}
		for i := 1; i < len(calls); i++ {
			if gap := calls[i].at.Sub(calls[i-1].at); gap > 5*time.Minute {
				t.Fatalf("attempts %d and %d are %v apart, more than the 5-minute cap", i, i+1, gap)
			}
		}
		if r := <-reports; r.ID != "n-32" || len(reports) != 0 {
			t.Fatalf("report %+v (and %d more), want only n-32", r, len(reports))
		}
		if s := a.Stats(); s.Superseded != 31 || s.Delivered != 1 {
			t.Fatalf("stats %+v, want 31 superseded and 1 delivered", s)
		}
	})
}

// TestNewerSupersedesQueued: notifications queued behind a slow, failing
// attempt are not sent one by one: only the newest follows.
func TestNewerSupersedesQueued(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newFake("webhook")
		p.fail.Store(1)
		p.hold = make(chan struct{})
		a := New(p, Options{Jitter: noJitter}, quiet)
		stop := run(t, a)
		defer stop()
		a.Mailbox() <- note("n-1", messages.Dead)
		synctest.Wait() // the attempt at n-1 is held
		for i, s := range []messages.Status{messages.Healthy, messages.Dead, messages.Healthy} {
			a.Mailbox() <- note("n-"+strconv.Itoa(i+2), s)
		}
		close(p.hold) // n-1 fails
		time.Sleep(time.Minute)
		synctest.Wait()
		calls := drain(p.calls)
		if len(calls) != 2 || calls[0].n.ID != "n-1" || !calls[1].ok || calls[1].n.ID != "n-4" {
			t.Fatalf("calls %+v, want n-1 failing then n-4 delivered", calls)
		}
	})
}

func TestGivesUpAfterAttempts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newFake("webhook")
		p.down.Store(true)
		reports := make(chan messages.NotificationDelivered, 1)
		a := New(p, Options{Attempts: 3, Delivered: reports}, quiet)
		stop := run(t, a)
		defer stop()
		a.Mailbox() <- note("n-1", messages.Dead)
		time.Sleep(time.Hour)
		synctest.Wait()
		if calls := drain(p.calls); len(calls) != 3 {
			t.Fatalf("%d attempts, want 3", len(calls))
		}
		if s := a.Stats(); s.Dropped != 1 || s.Failed != 3 || s.Delivered != 0 || len(reports) != 0 {
			t.Fatalf("stats %+v, %d reports: want dropped, unreported", s, len(reports))
		}
	})
}

func TestRetryOnlyFailedRecipients(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newFake("pushover")
		p.partial = true
		p.fail.Store(1)
		a := New(p, Options{}, quiet)
		stop := run(t, a)
		defer stop()
		a.Mailbox() <- messages.Notification{Kind: messages.Reminder, Status: messages.Dead}
		time.Sleep(time.Minute)
		synctest.Wait()
		calls := drain(p.calls)
		if len(calls) != 2 || calls[0].only != nil || !reflect.DeepEqual(calls[1].only, []int{1, 2}) {
			t.Fatalf("calls %+v", calls)
		}
	})
}

// TestRemindersOnly: startup and change notifications are skipped, and
// reported done so that the outbox lets go of them.
func TestRemindersOnly(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newFake("slack")
		reports := make(chan messages.NotificationDelivered, 4)
		a := New(p, Options{RemindersOnly: true, Delivered: reports}, quiet)
		stop := run(t, a)
		defer stop()
		a.Mailbox() <- messages.Notification{ID: "s", Kind: messages.Startup}
		synctest.Wait()
		a.Mailbox() <- messages.Notification{ID: "c", Kind: messages.Changed, Status: messages.Dead}
		synctest.Wait()
		a.Mailbox() <- messages.Notification{ID: "r", Kind: messages.Reminder, Status: messages.Dead}
		time.Sleep(time.Second)
		synctest.Wait()
		calls := drain(p.calls)
		if len(calls) != 1 || calls[0].n.Kind != messages.Reminder {
			t.Fatalf("calls %+v, want only the reminder", calls)
		}
		if a.Stats().Skipped != 2 {
			t.Fatalf("skipped %d", a.Stats().Skipped)
		}
		var ids []string
		for len(reports) > 0 {
			ids = append(ids, (<-reports).ID)
		}
		if !reflect.DeepEqual(ids, []string{"s", "c", "r"}) {
			t.Fatalf("reported %v, want s, c and r", ids)
		}
	})
}

// TestHandedOverAgain: a notification handed over again while it is being
// retried keeps its schedule; one handed over again after its delivery is
// reported again, not resent.
func TestHandedOverAgain(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newFake("webhook")
		p.fail.Store(1)
		reports := make(chan messages.NotificationDelivered, 4)
		a := New(p, Options{Jitter: noJitter, Delivered: reports}, quiet)
		stop := run(t, a)
		defer stop()
		start := time.Now()
		a.Mailbox() <- note("n-1", messages.Dead)
		synctest.Wait()
		a.Mailbox() <- note("n-1", messages.Dead) // e.g. the state actor restarted
		time.Sleep(time.Minute)
		synctest.Wait()
		calls := drain(p.calls)
		if len(calls) != 2 || calls[1].at.Sub(start) != 2*time.Second || !calls[1].ok {
			t.Fatalf("calls %+v, want a failure then the delivery 2 s later", calls)
		}
		<-reports
		a.Mailbox() <- note("n-1", messages.Dead)
		synctest.Wait()
		if calls := drain(p.calls); len(calls) != 0 {
			t.Fatalf("a delivered notification handed over again was resent: %+v", calls)
		}
		if r := <-reports; r.ID != "n-1" {
			t.Fatalf("report %+v", r)
		}
	})
}

// TestReportsNeverHoldDeliveries: nobody takes the reports; deliveries go
// on, and only the newest report waits.
func TestReportsNeverHoldDeliveries(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newFake("webhook")
		reports := make(chan messages.NotificationDelivered) // never read until the end
		a := New(p, Options{Delivered: reports}, quiet)
		stop := run(t, a)
		defer stop()
		for i := range 5 {
			a.Mailbox() <- note("n-"+strconv.Itoa(i), messages.Dead)
			synctest.Wait()
		}
		if ok := successes(drain(p.calls)); len(ok) != 5 {
			t.Fatalf("%d deliveries while the reports wait, want 5", len(ok))
		}
		if r := <-reports; r.ID != "n-4" {
			t.Fatalf("report %+v, want the newest", r)
		}
	})
}

// TestRestartedServeResumes: a Serve that stops while retrying leaves the
// notification in the actor; the next Serve tries it again at once.
func TestRestartedServeResumes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newFake("webhook")
		p.fail.Store(1)
		a := New(p, Options{}, quiet)
		ctx, cancel := context.WithCancel(t.Context())
		done := make(chan struct{})
		go func() { a.Serve(ctx); close(done) }()
		a.Mailbox() <- note("n-1", messages.Dead)
		synctest.Wait()
		cancel()
		<-done
		resumed := time.Now()
		ctx, cancel = context.WithCancel(t.Context())
		defer cancel()
		go a.Serve(ctx)
		synctest.Wait()
		calls := drain(p.calls)
		if len(calls) != 2 || !calls[1].ok || calls[1].at != resumed {
			t.Fatalf("calls %+v, want the failure, then the delivery at the restart", calls)
		}
	})
}

// TestHangingEndpointIsolated: a notifier whose endpoint never answers
// delays only itself; another notifier delivers at once.
func TestHangingEndpointIsolated(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		hanging, fine := newFake("webhook"), newFake("slack")
		hanging.hang = true
		ha, fa := New(hanging, Options{Timeout: 10 * time.Second, Jitter: noJitter}, quiet), New(fine, Options{}, quiet)
		stop := run(t, ha, fa)
		defer stop()
		start := time.Now()
		for _, mb := range []chan messages.Notification{ha.Mailbox(), fa.Mailbox()} {
			mb <- messages.Notification{Kind: messages.Changed, Status: messages.Dead}
		}
		synctest.Wait()
		if c := drain(fine.calls); len(c) != 1 || c[0].at != start {
			t.Fatalf("healthy notifier calls %+v, want one at once", c)
		}
		// The hanging one times out after 10 s per attempt: attempts start
		// at 0, 12 and 26 s (10 s each, then 2 and 4 s pauses), and go on.
		time.Sleep(37 * time.Second)
		synctest.Wait()
		if c := drain(hanging.calls); len(c) != 3 {
			t.Fatalf("hanging notifier attempts %d, want 3", len(c))
		}
		if s := ha.Stats(); s.Failed != 3 || s.Dropped != 0 {
			t.Fatalf("hanging stats %+v", s)
		}
	})
}

// TestStartupDeliveredBeforeNewer: a startup notification is not
// superseded: while it is retried, newer notifications wait behind it
// (superseding each other), and the newest follows it.
func TestStartupDeliveredBeforeNewer(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newFake("webhook")
		p.down.Store(true)
		a := New(p, Options{}, quiet)
		stop := run(t, a)
		defer stop()
		a.Mailbox() <- messages.Notification{ID: "s", Kind: messages.Startup, Status: messages.Healthy}
		synctest.Wait()
		a.Mailbox() <- note("n-1", messages.Dead)
		a.Mailbox() <- note("n-2", messages.Healthy)
		time.Sleep(time.Minute)
		p.down.Store(false)
		time.Sleep(5 * time.Minute)
		synctest.Wait()
		ok := successes(drain(p.calls))
		if len(ok) != 2 || ok[0].n.ID != "s" || ok[1].n.ID != "n-2" {
			t.Fatalf("deliveries %+v, want the startup notification, then n-2", ok)
		}
		if s := a.Stats(); s.Superseded != 1 {
			t.Fatalf("stats %+v, want n-1 superseded", s)
		}
	})
}

// TestProviderGetsRedactedReplicas: the provider never sees the secrets
// of a replica URL; the notification keeps its ID.
func TestProviderGetsRedactedReplicas(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newFake("webhook")
		a := New(p, Options{}, quiet)
		stop := run(t, a)
		defer stop()
		n := note("n-1", messages.Dead)
		n.Replicas = []string{"web:api:https://u:pw@example.com/?key=k"}
		a.Mailbox() <- n
		synctest.Wait()
		calls := drain(p.calls)
		want := []string{"web:api:https://u:***@example.com/?key=***"}
		if len(calls) != 1 || !reflect.DeepEqual(calls[0].n.Replicas, want) || calls[0].n.ID != "n-1" {
			t.Fatalf("calls %+v, want the replica masked as %v", calls, want)
		}
	})
}
