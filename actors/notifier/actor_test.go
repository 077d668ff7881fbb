package notifier

import (
	"context"
	"errors"
	"log/slog"
	"reflect"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/thejerf/suture/v4"

	"github.com/vigil-go/vigil/messages"
)

// fakeProvider fails its first `fail` calls, optionally hangs until its
// context ends, and records every call.
type fakeProvider struct {
	kind  string
	fail  atomic.Int64
	hang  bool
	calls chan call
	// partial makes a failing call report recipients 1 and 2 as failed.
	partial bool
}

type call struct {
	at   time.Time
	n    messages.Notification
	only []int
}

func newFake(kind string) *fakeProvider {
	return &fakeProvider{kind: kind, calls: make(chan call, 100)}
}

func (f *fakeProvider) Kind() string { return f.kind }

func (f *fakeProvider) Send(ctx context.Context, n messages.Notification, only []int) error {
	f.calls <- call{time.Now(), n, only}
	if f.hang {
		<-ctx.Done()
		return ctx.Err()
	}
	if f.fail.Add(-1) >= 0 {
		if f.partial {
			return &PartialError{Failed: []int{1, 2}, Err: errors.New("two recipients failed")}
		}
		return errors.New("endpoint down")
	}
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

func TestRetriesWithBackoffThenDelivers(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newFake("webhook")
		p.fail.Store(2)
		a := New(p, Options{}, quiet)
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
		if s := a.Stats(); s.Delivered != 1 || s.Failed != 0 || s.Retried != 2 {
			t.Fatalf("stats %+v", s)
		}
	})
}

func TestGivesUpAfterAttempts(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newFake("webhook")
		p.fail.Store(100)
		a := New(p, Options{Attempts: 3}, quiet)
		stop := run(t, a)
		defer stop()
		a.Mailbox() <- messages.Notification{Kind: messages.Changed, Status: messages.Dead}
		a.Mailbox() <- messages.Notification{Kind: messages.Changed, Status: messages.Healthy}
		time.Sleep(time.Minute)
		synctest.Wait()
		calls := drain(p.calls)
		if len(calls) != 6 || calls[3].n.Status != messages.Healthy {
			t.Fatalf("%d calls, want 3 per notification in order", len(calls))
		}
		if s := a.Stats(); s.Failed != 2 || s.Delivered != 0 {
			t.Fatalf("stats %+v", s)
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

func TestRemindersOnly(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newFake("slack")
		a := New(p, Options{RemindersOnly: true}, quiet)
		stop := run(t, a)
		defer stop()
		for _, k := range []messages.NotificationKind{messages.Startup, messages.Changed, messages.Reminder} {
			a.Mailbox() <- messages.Notification{Kind: k, Status: messages.Dead}
		}
		time.Sleep(time.Second)
		synctest.Wait()
		calls := drain(p.calls)
		if len(calls) != 1 || calls[0].n.Kind != messages.Reminder {
			t.Fatalf("calls %+v, want only the reminder", calls)
		}
		if a.Stats().Skipped != 2 {
			t.Fatalf("skipped %d", a.Stats().Skipped)
		}
	})
}

// TestHangingEndpointIsolated: a notifier whose endpoint never answers
// delays only itself; another notifier delivers at once.
func TestHangingEndpointIsolated(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		hanging, fine := newFake("webhook"), newFake("slack")
		hanging.hang = true
		ha, fa := New(hanging, Options{Timeout: 10 * time.Second}, quiet), New(fine, Options{}, quiet)
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
		// The hanging one times out after 10 s per attempt: 3 attempts with
		// 2 s and 4 s pauses = 36 s, then gives up.
		time.Sleep(37 * time.Second)
		synctest.Wait()
		if c := drain(hanging.calls); len(c) != 3 {
			t.Fatalf("hanging notifier attempts %d, want 3", len(c))
		}
		if ha.Stats().Failed != 1 {
			t.Fatalf("hanging stats %+v", ha.Stats())
		}
	})
}
