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
	"github.com/vigil-go/vigil/testkit"
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
	tree := startTree(t, cfg, &fakeFactory{probes: map[string]*switchable{}}, nil)
	if n := queueCheckers(tree); n != 1 {
		t.Fatalf("%d queue checkers, want 1", n)
	}
	for _, n := range []string{"socket", "plain"} {
		err := tree.Router.Report(t.Context(), "relay", n, messages.Report{Replica: "r", Interval: time.Minute,
			Load: &messages.Load{CPU: 0.1, RAM: 0.1}, At: time.Now()})
		if err != nil {
			t.Fatal(err)
		}
	}
	// The checker calls a real (loopback) server: a bounded wait.
	testkit.Eventually(t, 5*time.Second, func() bool {
		nodes := tree.Published.Latest().Probes[0].Nodes
		return len(nodes[0].Replicas) == 1 && len(nodes[1].Replicas) == 1 && nodes[0].Replicas[0].Queue != nil
	}, "no queue reading on the page: %+v", tree.Published.Latest().Probes[0].Nodes[0])
	nodes := tree.Published.Latest().Probes[0].Nodes
	socket, plain := nodes[0], nodes[1]
	if q := socket.Replicas[0].Queue; q.Ready != 7 || q.Unacked != 1 || !q.Loaded || socket.Replicas[0].Status != messages.Sick {
		t.Fatalf("socket replica %+v queue %+v", socket.Replicas[0], q)
	}
	if plain.Replicas[0].Queue != nil || plain.Replicas[0].Status != messages.Healthy {
		t.Fatalf("plain replica %+v", plain.Replicas[0])
	}
	if p, _ := path.Load().(string); p != "/api/queues/%2F/jobs" {
		t.Fatalf("API path %q", p)
	}

	// The checkers' counters are on /metrics, and keep counting across a
	// reload that rebuilds the checker.
	calls := counterValue(t, tree, "vigil_queue_checks_total")
	if calls < 1 || counterValue(t, tree, "vigil_queue_check_failures_total") != 0 {
		t.Fatalf("vigil_queue_checks_total %v, failures %v", calls, counterValue(t, tree, "vigil_queue_check_failures_total"))
	}
	next := *cfg
	rabbit := *cfg.Plugins.RabbitMQ
	rabbit.APIURL = srv.URL + "/elsewhere"
	next.Plugins.RabbitMQ = &rabbit
	if err := tree.Reload(t.Context(), &next); err != nil {
		t.Fatal(err)
	}
	if err := tree.Router.Report(t.Context(), "relay", "socket", messages.Report{Replica: "r", Interval: time.Minute,
		Load: &messages.Load{CPU: 0.1, RAM: 0.1}, At: time.Now()}); err != nil {
		t.Fatal(err)
	}
	testkit.Eventually(t, 5*time.Second, func() bool { return counterValue(t, tree, "vigil_queue_checks_total") > calls },
		"vigil_queue_checks_total stayed at %v after a reload", calls)
}

// queueCheckers counts the running queue checkers.
func queueCheckers(tree *Tree) int {
	n := 0
	for _, u := range tree.services {
		for _, a := range u.actors {
			if a.checker != nil {
				n++
			}
		}
	}
	return n
}

// counterValue reads one unlabelled counter from the tree's registry.
func counterValue(t *testing.T, tree *Tree, name string) float64 {
	t.Helper()
	families, err := tree.Metrics.Registry.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, f := range families {
		if f.GetName() == name && len(f.GetMetric()) == 1 {
			return f.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatalf("no counter %s", name)
	return 0
}
