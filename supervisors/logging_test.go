package supervisors

import (
	"context"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/vigil-go/vigil/config"
	"github.com/vigil-go/vigil/testkit"
)

// startLoggedTree builds and runs a tree whose log goes to logs.
func startLoggedTree(t *testing.T, cfg *config.Config, deps Deps, logs *testkit.Logs) *Tree {
	t.Helper()
	deps.Logger, deps.DisableWeb, deps.NotifierBackoff = logs.Logger(), true, 50*time.Millisecond
	tree, err := Build(cfg, deps)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tree.Serve(ctx) }()
	t.Cleanup(func() {
		cancel()
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			t.Error("tree did not stop")
		}
	})
	return tree
}

// TestReloadLogsOneSummary: a reload is one info record listing the
// services added and removed, the nodes, notifiers and tables changed.
func TestReloadLogsOneSummary(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	defer srv.Close()
	withServices := func(c *config.Config, extra ...config.Service) *config.Config {
		c.Probe.Services = append(c.Probe.Services, extra...)
		return c
	}
	node := func(id string, replicas ...string) config.Node {
		n := config.Node{ID: id, Label: id, Mode: config.ModePoll}
		for _, r := range replicas {
			n.Replicas = append(n.Replicas, config.Replica{ID: r, Kind: config.KindTCP})
		}
		return n
	}
	running := withServices(treeConfig(srv.URL),
		config.Service{ID: "db", Label: "DB", Nodes: []config.Node{node("main", "tcp://db:5432"), node("spare", "tcp://db:5433"), node("gone", "tcp://db:1")}},
		config.Service{ID: "old", Label: "Old", Nodes: []config.Node{node("n", "tcp://old:1")}})
	var logs testkit.Logs
	tree := startLoggedTree(t, running, Deps{ProbeFactory: &fakeFactory{probes: map[string]*switchable{}}}, &logs)

	next := withServices(treeConfig(srv.URL+"/other"),
		config.Service{ID: "db", Label: "DB", Nodes: []config.Node{node("main", "tcp://db:5432", "tcp://db2:5432"), node("spare", "tcp://db:5433"), node("added", "tcp://db:2")}},
		config.Service{ID: "new", Label: "New", Nodes: []config.Node{node("n", "tcp://new:1")}})
	next.Metrics.PollInterval = time.Second
	if err := tree.Reload(context.Background(), next); err != nil {
		t.Fatal(err)
	}

	got := logs.Matching(t, func(msg string) bool { return strings.Contains(msg, "reloaded") })
	if len(got) != 1 {
		t.Fatalf("%d reload records, want 1: %v", len(got), got)
	}
	r := got[0]
	want := map[string][]any{
		"services_added":    {"new"},
		"services_removed":  {"old"},
		"nodes_changed":     {"db/main", "db/added", "db/gone"},
		"notifiers_changed": {"webhook"},
		"tables_changed":    {"metrics"},
	}
	if r["level"] != "INFO" || r["msg"] != "configuration reloaded" {
		t.Fatalf("record %v", r)
	}
	for key, w := range want {
		if !reflect.DeepEqual(r[key], w) {
			t.Errorf("%s = %v, want %v", key, r[key], w)
		}
	}
}

func TestReloadChangesAreCapped(t *testing.T) {
	var many []string
	for i := range maxLoggedChanges + 5 {
		many = append(many, string(rune('a'+i)))
	}
	got := capped(many)
	if len(got) != maxLoggedChanges+1 || got[maxLoggedChanges] != "+5 more" || len(many) != maxLoggedChanges+5 || many[maxLoggedChanges] != "u" {
		t.Fatalf("capped %v (input now %v)", got, many)
	}
	if got := capped(nil); got == nil || len(got) != 0 {
		t.Fatalf("capped(nil) = %#v, want an empty list", got)
	}
}

// TestICMPModeLoggedOncePerProcess: the line saying which ICMP sockets
// are used comes once, at start, however many reloads follow.
func TestICMPModeLoggedOncePerProcess(t *testing.T) {
	icmpConfig := func(replicas ...string) *config.Config {
		c := treeConfig("http://127.0.0.1:1/")
		c.Notify = nil
		c.Metrics.PollInterval = time.Hour
		n := config.Node{ID: "ping", Label: "Ping", Mode: config.ModePoll}
		for _, r := range replicas {
			n.Replicas = append(n.Replicas, config.Replica{ID: "icmp://" + r, Kind: config.KindICMP, Host: r})
		}
		c.Probe.Services = []config.Service{{ID: "net", Label: "Net", Nodes: []config.Node{n}}}
		return c
	}
	var logs testkit.Logs
	tree := startLoggedTree(t, icmpConfig("127.0.0.1"), Deps{}, &logs)
	for _, next := range []*config.Config{icmpConfig("127.0.0.1"), icmpConfig("127.0.0.1", "127.0.0.2")} {
		if err := tree.Reload(context.Background(), next); err != nil {
			t.Fatal(err)
		}
	}
	lines := logs.Matching(t, func(msg string) bool { return strings.HasPrefix(msg, "ICMP probes") })
	if len(lines) != 1 {
		t.Fatalf("%d ICMP mode records after a start and two reloads, want 1: %v", len(lines), lines)
	}
	if reloads := logs.Matching(t, func(msg string) bool { return msg == "configuration reloaded" }); len(reloads) != 2 {
		t.Fatalf("%d reload records, want 2", len(reloads))
	}
}
