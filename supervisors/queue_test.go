package supervisors

import (
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigil-go/vigil/config"
	"github.com/vigil-go/vigil/messages"
)

// TestTreeWiresQueueCheckers: one checker per push node with
// rabbitmq_queue; its readings reach the page's replicas through the node
// actor and the state actor.
func TestTreeWiresQueueCheckers(t *testing.T) {
	var path atomic.Value
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		path.Store(r.URL.EscapedPath())
		fmt.Fprint(w, `{"messages_ready":7,"messages_unacknowledged":1}`)
	}))
	defer srv.Close()
	cfg := &config.Config{
		Server:   config.Server{Inet: "127.0.0.1:0"},
		Branding: config.Branding{PageTitle: "Tree", PageURL: "http://tree.test/"},
		Metrics: config.Metrics{PollInterval: time.Second, PollParallelism: 1, ScriptParallelism: 1, ScriptInterval: time.Second,
			PollDelayDead: 2 * time.Second, PushDelayDead: time.Minute, LocalDelayDead: time.Minute,
			PushSystemCPUSickAbove: 0.99, PushSystemRAMSickAbove: 0.99},
		Plugins: config.Plugins{RabbitMQ: &config.RabbitMQ{APIURL: srv.URL, AuthUsername: "u", AuthPassword: "p", Virtualhost: "/",
			QueueReadyHealthyBelow: 5, QueueNackHealthyBelow: 5, QueueReadyDeadAbove: 10, QueueNackDeadAbove: 10}},
		Probe: config.Probe{Services: []config.Service{{ID: "relay", Label: "Relay", Nodes: []config.Node{
			{ID: "socket", Label: "Socket", Mode: config.ModePush, RabbitMQQueue: "jobs"},
			{ID: "plain", Label: "Plain", Mode: config.ModePush},
			{ID: "gw", Label: "Gateway", Mode: config.ModeLocal, RabbitMQQueue: "ignored"},
		}}}},
	}
	tree := startTree(t, cfg, &fakeFactory{probes: map[string]*switchable{}})
	if len(tree.QueueCheckers) != 1 {
		t.Fatalf("%d queue checkers, want 1", len(tree.QueueCheckers))
	}
	for _, n := range []string{"socket", "plain"} {
		err := tree.Router.Report(t.Context(), "relay", n, messages.Report{Replica: "r", Interval: time.Minute,
			Load: &messages.Load{CPU: 0.1, RAM: 0.1}, At: time.Now()})
		if err != nil {
			t.Fatal(err)
		}
	}
	deadline := time.Now().Add(5 * time.Second)
	for {
		nodes := tree.Published.Latest().Probes[0].Nodes
		socket, plain := nodes[0], nodes[1]
		if len(socket.Replicas) == 1 && len(plain.Replicas) == 1 && socket.Replicas[0].Queue != nil {
			q := socket.Replicas[0].Queue
			if q.Ready != 7 || q.Unacked != 1 || !q.Loaded || socket.Replicas[0].Status != messages.Sick {
				t.Fatalf("socket replica %+v queue %+v", socket.Replicas[0], q)
			}
			if plain.Replicas[0].Queue != nil || plain.Replicas[0].Status != messages.Healthy {
				t.Fatalf("plain replica %+v", plain.Replicas[0])
			}
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("no queue reading on the page: %+v", tree.Published.Latest().Probes[0].Nodes[0])
		}
		time.Sleep(20 * time.Millisecond)
	}
	if p, _ := path.Load().(string); p != "/api/queues/%2F/jobs" {
		t.Fatalf("API path %q", p)
	}
}
