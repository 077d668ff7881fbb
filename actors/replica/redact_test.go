package replica

import (
	"bytes"
	"context"
	"log/slog"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/thejerf/suture/v4"

	"github.com/vigil-go/vigil/messages"
)

// failing is a prober whose every attempt is dead.
type failing struct{}

func (failing) Probe(context.Context) messages.ProbeResult {
	return messages.ProbeResult{Status: messages.Dead, Err: "HTTP 503"}
}

// The actor's name (what the supervisor logs) and its result log line
// show the replica without the credentials of its URL.
func TestLogsMaskReplicaSecrets(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		var logs bytes.Buffer
		logger := slog.New(slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		sup := newTree(t, suture.Spec{PassThroughPanics: true})
		pool := startPool(sup, 1)
		inbox := make(chan messages.StateMessage, 10)
		a := New(Spec{Key: messages.ReplicaKey{Probe: "web", Node: "api", Replica: "https://admin:hunter2@api.example.com/?api_key=sekret"},
			Prober: failing{}, Pool: pool, Interval: 30 * time.Second, Out: inbox, Logger: logger})
		sup.Add(a)
		done := sup.ServeBackground(ctx)
		time.Sleep(FirstRoundWithin + time.Second)
		synctest.Wait()
		cancel()
		<-done
		out := logs.String() + "\n" + a.String()
		if !strings.Contains(out, "probe result") || !strings.Contains(out, "https://admin:***@api.example.com/?api_key=***") {
			t.Fatalf("no masked result line in\n%s", out)
		}
		for _, secret := range []string{"hunter2", "sekret"} {
			if strings.Contains(out, secret) {
				t.Errorf("logs show %q:\n%s", secret, out)
			}
		}
	})
}
