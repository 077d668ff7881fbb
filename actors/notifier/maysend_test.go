package notifier

import (
	"context"
	"log/slog"
	"sync/atomic"
	"testing"
	"testing/synctest"
	"time"

	"github.com/vigil-go/vigil/messages"
)

// TestMaySendIsAskedBeforeEveryAttempt: a notifier whose instance stops
// leading between two attempts makes no further attempt and reports
// nothing delivered (the outbox keeps the notification for the leader);
// while it may send, it sends.
func TestMaySendIsAskedBeforeEveryAttempt(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newFake("webhook")
		p.fail.Store(1)
		var may atomic.Bool
		may.Store(true)
		delivered := make(chan messages.NotificationDelivered, 8)
		a := New(p, Options{MaySend: may.Load, Delivered: delivered, Jitter: func(d time.Duration) time.Duration { return d }},
			slog.New(slog.DiscardHandler))
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		go a.Serve(ctx)

		a.Mailbox() <- messages.Notification{ID: "n-1", Kind: messages.Changed, Status: messages.Dead}
		synctest.Wait()
		if calls := drain(p.calls); len(calls) != 1 || calls[0].ok {
			t.Fatalf("first attempt: %+v, want one failed call", calls)
		}
		may.Store(false) // the lease runs out before the retry
		time.Sleep(time.Minute)
		synctest.Wait()
		if calls := drain(p.calls); len(calls) != 0 {
			t.Fatalf("attempts without the lease: %+v", calls)
		}
		if len(delivered) != 0 {
			t.Fatal("a notification not sent was reported delivered")
		}

		a.Mailbox() <- messages.Notification{ID: "n-2", Kind: messages.Changed, Status: messages.Healthy}
		synctest.Wait()
		if calls := drain(p.calls); len(calls) != 0 {
			t.Fatalf("new notification sent without the lease: %+v", calls)
		}
		may.Store(true)
		a.Mailbox() <- messages.Notification{ID: "n-3", Kind: messages.Changed, Status: messages.Healthy}
		synctest.Wait()
		if calls := successes(drain(p.calls)); len(calls) != 1 || calls[0].n.ID != "n-3" {
			t.Fatalf("with the lease: %+v, want n-3 delivered", calls)
		}
	})
}
