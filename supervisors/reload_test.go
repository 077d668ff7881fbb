package supervisors

import (
	"context"
	"io"
	"log/slog"
	"maps"
	"net"
	"net/http"
	"net/http/httptest"
	"slices"
	"strings"
	"testing"
	"testing/synctest"
	"time"

	"github.com/thejerf/suture/v4"

	nodeactor "github.com/vigil-go/vigil/actors/node"
	"github.com/vigil-go/vigil/actors/notifier"
	"github.com/vigil-go/vigil/actors/notifier/providers"
	"github.com/vigil-go/vigil/config"
	"github.com/vigil-go/vigil/messages"
)

// TestReloadRebuildsOnlyWhatChanged: an unchanged service keeps its
// supervisor and replica statuses, a changed one is rebuilt, a removed one
// disappears, a new one starts; an unchanged notifier keeps its actor and
// no startup notification is sent again.
func TestReloadRebuildsOnlyWhatChanged(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		sink := newHookSink(t)
		startups := func() int {
			n := 0
			for len(sink.hooks) > 0 {
				if h := <-sink.hooks; h.Type == "startup" {
					n++
				}
			}
			return n
		}
		cfg := treeConfig("http://hooks.test/")
		cfg.Probe.Services = append(cfg.Probe.Services,
			config.Service{ID: "db", Label: "DB", Nodes: []config.Node{{ID: "main", Label: "Main", Mode: config.ModePoll,
				Replicas: []config.Replica{{ID: "tcp://db:5432", Kind: config.KindTCP}}}}},
			config.Service{ID: "old", Label: "Old", Nodes: []config.Node{{ID: "n", Label: "N", Mode: config.ModePoll,
				Replicas: []config.Replica{{ID: "tcp://old:1", Kind: config.KindTCP}}}}})
		f := &fakeFactory{probes: map[string]*switchable{}}
		f.get("tcp://db:5432").status.Store(uint32(messages.Sick))
		tree := startTree(t, cfg, f, sink)
		waitStatus(t, tree, messages.Sick)
		if n := startups(); n != 1 {
			t.Fatalf("%d startup notifications, want 1", n)
		}
		webUnit := tree.services["web"]
		webActors := maps.Clone(webUnit.actors)
		dbKept := tree.services["db"].actors["poll main tcp://db:5432"]
		hookActor := tree.notes["webhook"].actor

		next := treeConfig("http://hooks.test/")
		next.Probe.Services = append(next.Probe.Services,
			config.Service{ID: "db", Label: "DB", Nodes: []config.Node{{ID: "main", Label: "Main", Mode: config.ModePoll,
				Replicas: []config.Replica{{ID: "tcp://db:5432", Kind: config.KindTCP}, {ID: "tcp://db2:5432", Kind: config.KindTCP}}}}},
			config.Service{ID: "new", Label: "New", Nodes: []config.Node{{ID: "n", Label: "N", Mode: config.ModePoll,
				Replicas: []config.Replica{{ID: "tcp://new:1", Kind: config.KindTCP}}}}})
		if err := tree.Reload(context.Background(), next); err != nil {
			t.Fatal(err)
		}
		if tree.services["web"] != webUnit || !maps.Equal(webUnit.actors, webActors) {
			t.Fatal("an unchanged service or one of its actors was rebuilt")
		}
		db := tree.services["db"].actors
		if db["poll main tcp://db:5432"] != dbKept {
			t.Fatal("an unchanged replica of a changed service was rebuilt")
		}
		if _, ok := db["poll main tcp://db2:5432"]; !ok || len(db) != 2 {
			t.Fatalf("added replica missing: %v", db)
		}
		if _, ok := tree.services["old"]; ok {
			t.Fatal("removed service still present")
		}
		if tree.notes["webhook"].actor != hookActor {
			t.Fatal("unchanged notifier was rebuilt")
		}
		snap := tree.Published.Latest()
		var names []string
		for _, p := range snap.Probes {
			names = append(names, p.ID)
		}
		if !slices.Equal(names, []string{"web", "db", "new"}) {
			t.Fatalf("services after reload %v", names)
		}
		if r := snap.Probes[1].Nodes[0].Replicas[0]; r.ID != "tcp://db:5432" || r.Status != messages.Sick {
			t.Fatalf("kept replica lost its status: %+v", r)
		}
		// The new replicas get probed by their new actors.
		advanceUntil(t, 5*time.Second, func() bool {
			s := tree.Published.Latest()
			return !s.Probes[2].Nodes[0].Replicas[0].Updated.IsZero() && !s.Probes[1].Nodes[0].Replicas[1].Updated.IsZero()
		}, "new replicas probed")
		// A changed notifier section swaps the actor, still without a startup.
		changed := *next
		notify := *next.Notify
		notify.Notifiers = maps.Clone(notify.Notifiers)
		notify.Notifiers["webhook"] = &providers.Webhook{HookURL: "http://hooks.test/other"}
		changed.Notify = &notify
		if err := tree.Reload(context.Background(), &changed); err != nil {
			t.Fatal(err)
		}
		if tree.notes["webhook"].actor == hookActor {
			t.Fatal("changed notifier kept its old actor")
		}
		time.Sleep(time.Second)
		synctest.Wait()
		if n := startups(); n != 0 {
			t.Fatalf("%d startup notifications after the reloads, want none", n)
		}
		// A notifier section that cannot be built (a URL that does not parse;
		// values the original accepts, such as an ftp:// hook, only warn when
		// loading) is refused and changes nothing.
		bad := changed
		badNotify := notify
		badNotify.Notifiers = maps.Clone(notify.Notifiers)
		badNotify.Notifiers["gotify"] = &providers.Gotify{AppURL: "http://[::1", AppToken: "t"}
		bad.Notify = &badNotify
		if err := tree.Reload(context.Background(), &bad); err == nil {
			t.Fatal("invalid notifier accepted")
		}
		if tree.cfg != &changed {
			t.Fatal("a refused reload changed the running configuration")
		}
	})
}

// treeState is what a reload may change in a tree's bookkeeping.
type treeState struct {
	cfg      *config.Config
	notes    map[string]*notifierUnit
	notifier []suture.Service
	services map[string]*serviceUnit
	actors   map[string]*actorUnit
	router   *nodeactor.Router
	live     map[string]*notifier.Actor
	probes   []string
}

func captureTree(tree *Tree) treeState {
	s := treeState{cfg: tree.cfg, notes: maps.Clone(tree.notes), notifier: tree.notifiers.Services(),
		services: maps.Clone(tree.services), actors: map[string]*actorUnit{}, router: tree.Router.p.Load(),
		live: maps.Clone(*tree.live.Load())}
	for id, u := range tree.services {
		for aid, a := range u.actors {
			s.actors[id+"/"+aid] = a
		}
	}
	for _, p := range tree.Published.Latest().Probes {
		s.probes = append(s.probes, p.ID)
	}
	return s
}

func sameServices(a, b []suture.Service) bool {
	if len(a) != len(b) {
		return false
	}
	for _, s := range a {
		if !slices.Contains(b, s) {
			return false
		}
	}
	return true
}

func (s treeState) equal(o treeState) bool {
	return s.cfg == o.cfg && maps.Equal(s.notes, o.notes) && sameServices(s.notifier, o.notifier) &&
		maps.Equal(s.services, o.services) && maps.Equal(s.actors, o.actors) && s.router == o.router &&
		maps.Equal(s.live, o.live) && slices.Equal(s.probes, o.probes)
}

// get fetches base+path with the manager token (if any); it returns the
// status code and body.
func get(t *testing.T, base, path, token string) (int, string) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), http.MethodGet, base+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	if token != "" {
		req.SetBasicAuth("", token)
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// TestFailedReloadChangesNothing: when the state actor does not take the
// new configuration (the reload's context has already ended, or the actor
// is busy past the reload's deadline), the reload fails and nothing has
// changed: notifier actors, services and their actors, the router, the
// page, the web layer's tokens and the running configuration.
func TestFailedReloadChangesNothing(t *testing.T) {
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {}))
	defer srv.Close()
	cfg := treeConfig(srv.URL)
	cfg.Branding.PageTitle, cfg.Server.ManagerToken = "Running title", "running-token"
	addrs := make(chan net.Addr, 1)
	tree, err := Build(cfg, Deps{Logger: slog.New(slog.DiscardHandler), ProbeFactory: &fakeFactory{probes: map[string]*switchable{}},
		Listening: func(a net.Addr) { addrs <- a }})
	if err != nil {
		t.Fatal(err)
	}
	runTree(t, tree)
	var base string
	select {
	case a := <-addrs:
		base = "http://" + a.String()
	case <-time.After(5 * time.Second):
		t.Fatal("the web server did not listen")
	}

	next := treeConfig(srv.URL + "/other") // a changed notifier section
	next.Branding.PageTitle, next.Server.ManagerToken = "Next title", "next-token"
	next.Probe.Services = append(next.Probe.Services, config.Service{ID: "new", Label: "New", Nodes: []config.Node{
		{ID: "n", Label: "N", Mode: config.ModePoll, Replicas: []config.Replica{{ID: "tcp://new:1", Kind: config.KindTCP}}}}})
	next.Probe.Services[0].Nodes[0].Replicas = next.Probe.Services[0].Nodes[0].Replicas[:1]

	unchanged := func(t *testing.T) {
		t.Helper()
		if _, page := get(t, base, "/", ""); !strings.Contains(page, "Running title") || strings.Contains(page, "Next title") {
			t.Fatal("the page changed its title")
		}
		if code, _ := get(t, base, "/manager/announcements", "running-token"); code != http.StatusOK {
			t.Fatalf("the running manager token gets %d", code)
		}
		if code, _ := get(t, base, "/manager/announcements", "next-token"); code == http.StatusOK {
			t.Fatal("the next manager token is accepted")
		}
	}
	unchanged(t)
	before := captureTree(tree)

	ended, end := context.WithCancel(t.Context())
	end()
	if err := tree.Reload(ended, next); err == nil {
		t.Fatal("reload with an ended context succeeded")
	}
	if !captureTree(tree).equal(before) {
		t.Fatal("a reload refused by the state actor changed the tree")
	}
	unchanged(t)

	// The actor holds another change, so it cannot take this one.
	held, err := tree.State.Prepare(t.Context(), cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	deadline, cancel := context.WithTimeout(t.Context(), 200*time.Millisecond)
	defer cancel()
	err = tree.Reload(deadline, next)
	held.Abort()
	if err == nil {
		t.Fatal("reload succeeded while the state actor was busy")
	}
	if !captureTree(tree).equal(before) {
		t.Fatal("a reload the state actor did not take changed the tree")
	}
	unchanged(t)

	// The same reload with a live context applies everything.
	if err := tree.Reload(t.Context(), next); err != nil {
		t.Fatal(err)
	}
	after := captureTree(tree)
	if after.cfg != next || after.notes["webhook"] == before.notes["webhook"] || after.services["new"] == nil ||
		!slices.Equal(after.probes, []string{"web", "new"}) {
		t.Fatalf("the reload did not apply: %+v", after)
	}
	if code, _ := get(t, base, "/manager/announcements", "next-token"); code != http.StatusOK {
		t.Fatalf("the next manager token gets %d after the reload", code)
	}
}
