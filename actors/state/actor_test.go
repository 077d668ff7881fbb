package state

import (
	"context"
	"log/slog"
	"testing"
	"testing/synctest"
	"time"

	"github.com/vigil-go/vigil/config"
	"github.com/vigil-go/vigil/messages"
)

func TestStartupNotificationOncePerProcess(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		mb := make(chan messages.Notification, 8)
		a := New(testConfig(), &Published{}, slog.New(slog.DiscardHandler), Options{Subscribers: []Subscriber{{Kind: "webhook", Mailbox: mb}}})
		for range 3 { // the first run, then two restarts
			ctx, cancel := context.WithCancel(t.Context())
			done := make(chan struct{})
			go func() { a.Serve(ctx); close(done) }()
			synctest.Wait()
			cancel()
			<-done
		}
		if n := len(mb); n != 1 {
			t.Fatalf("%d startup notifications, want 1", n)
		}
		if got := <-mb; got.Kind != messages.Startup {
			t.Fatalf("got %+v", got)
		}
	})
}

func TestFullMailboxDropsOldest(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		mb := make(chan messages.Notification, 2)
		cfg := testConfig()
		cfg.Notify.StartupNotification = false
		pub := &Published{}
		a := New(cfg, pub, slog.New(slog.DiscardHandler), Options{Subscribers: []Subscriber{{Kind: "webhook", Mailbox: mb}}})
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		go a.Serve(ctx)
		// Nobody reads mb: dead, healthy, dead, healthy -> 4 notifications.
		for _, s := range []messages.Status{messages.Dead, messages.Healthy, messages.Dead, messages.Healthy} {
			a.Inbox() <- probed("jobs", "0", s)
			synctest.Wait()
		}
		if a.Dropped() != 2 || len(mb) != 2 {
			t.Fatalf("dropped %d, queued %d", a.Dropped(), len(mb))
		}
		first, second := <-mb, <-mb
		if first.Status != messages.Dead || second.Status != messages.Healthy {
			t.Fatalf("kept %v then %v, want the newest two (dead, healthy)", first.Status, second.Status)
		}
		time.Sleep(time.Second)
		synctest.Wait()
		if pub.Latest().Status != messages.Healthy {
			t.Fatalf("published %v", pub.Latest().Status)
		}
	})
}

// TestReminderScheduleWithTicker runs the real actor and its 10 s ticker in
// a synctest bubble: linear backoff 300 s, limit 3 gives reminders 300 s,
// 600 s, 900 s, 900 s apart (each on the first tick at or after its due
// time); an ignore window silences them, and a recovery is still sent.
func TestReminderScheduleWithTicker(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		cfg := testConfig()
		cfg.Notify = &config.Notify{ReminderInterval: 300 * time.Second, ReminderBackoffFunction: "linear", ReminderBackoffLimit: 3}
		mb := make(chan messages.Notification, 64)
		a := New(cfg, &Published{}, slog.New(slog.DiscardHandler), Options{Subscribers: []Subscriber{{Kind: "webhook", Mailbox: mb}}})
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		go a.Serve(ctx)
		start := time.Now()
		a.Inbox() <- probed("jobs", "0", messages.Dead)
		synctest.Wait()
		if n := <-mb; n.Kind != messages.Changed || n.Status != messages.Dead {
			t.Fatalf("first notification %+v", n)
		}
		time.Sleep(2800 * time.Second)
		synctest.Wait()
		var at []time.Duration
		for len(mb) > 0 {
			n := <-mb
			if n.Kind != messages.Reminder {
				t.Fatalf("unexpected %+v", n)
			}
			at = append(at, n.Time.Sub(start).Round(time.Second))
		}
		want := []time.Duration{300 * time.Second, 900 * time.Second, 1800 * time.Second, 2700 * time.Second}
		if len(at) != len(want) {
			t.Fatalf("reminders at %v, want %v", at, want)
		}
		for i := range want {
			// Due times fall on the actor's 10 s ticks.
			if at[i] < want[i] || at[i] >= want[i]+10*time.Second {
				t.Fatalf("reminder %d at %v, want within 10 s after %v (all: %v)", i, at[i], want[i], at)
			}
		}
		// Ignore reminders for an hour: none arrive, but recovery does.
		if err := a.SetIgnore(t.Context(), time.Now().Add(time.Hour)); err != nil {
			t.Fatal(err)
		}
		time.Sleep(2000 * time.Second)
		synctest.Wait()
		if len(mb) != 0 {
			t.Fatalf("reminder during the ignore window: %+v", <-mb)
		}
		a.Inbox() <- probed("jobs", "0", messages.Healthy)
		synctest.Wait()
		if n := <-mb; n.Kind != messages.Changed || n.Status != messages.Healthy {
			t.Fatalf("recovery during the ignore window: %+v", n)
		}
	})
}
