package state

import (
	"context"
	"log/slog"
	"testing"
	"testing/synctest"
	"time"

	"github.com/vigil-go/vigil/messages"
)

func TestStartupNotificationOncePerProcess(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		mb := make(chan messages.Notification, 8)
		a := New(testConfig(), &Published{}, slog.New(slog.DiscardHandler), Options{Subscribers: []chan messages.Notification{mb}})
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
		a := New(cfg, pub, slog.New(slog.DiscardHandler), Options{Subscribers: []chan messages.Notification{mb}})
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
