package notifier

import (
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/vigil-go/vigil/messages"
)

// A provider never sees replica URL secrets: whatever text it builds from
// the notification cannot show them.
func TestProvidersGetMaskedReplicas(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		p := newFake("webhook")
		a := New(p, Options{}, quiet)
		stop := run(t, a)
		defer stop()
		replicas := []string{"web:api:https://admin:hunter2@api.example.com/", "web:api:https://api.example.com/?api_key=sekret", "db:main:tcp://db:5432"}
		a.Mailbox() <- messages.Notification{Kind: messages.Changed, Status: messages.Dead, Replicas: replicas}
		time.Sleep(time.Minute)
		synctest.Wait()
		calls := drain(p.calls)
		if len(calls) != 1 {
			t.Fatalf("%d calls, want 1", len(calls))
		}
		text := strings.Join(calls[0].n.Replicas, ", ")
		if want := "web:api:https://admin:***@api.example.com/, web:api:https://api.example.com/?api_key=***, db:main:tcp://db:5432"; text != want {
			t.Fatalf("provider got %q, want %q", text, want)
		}
		if replicas[0] != "web:api:https://admin:hunter2@api.example.com/" {
			t.Fatal("the sender's notification was changed")
		}
	})
}
