package supervisors

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigil-go/vigil/config"
	"github.com/vigil-go/vigil/messages"
)

// TestReloadRebuildsOnlyWhatChanged: an unchanged service keeps its
// supervisor and replica statuses, a changed one is rebuilt, a removed one
// disappears, a new one starts; an unchanged notifier keeps its actor and
// no startup notification is sent again.
func TestReloadRebuildsOnlyWhatChanged(t *testing.T) {
	var startups atomic.Int64
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		var h struct{ Type string }
		b, _ := io.ReadAll(r.Body)
		json.Unmarshal(b, &h)
		if h.Type == "startup" {
			startups.Add(1)
		}
	}))
	defer srv.Close()
	cfg := treeConfig(srv.URL)
	cfg.Probe.Services = append(cfg.Probe.Services,
		config.Service{ID: "db", Label: "DB", Nodes: []config.Node{{ID: "main", Label: "Main", Mode: config.ModePoll,
			Replicas: []config.Replica{{ID: "tcp://db:5432", Kind: config.KindTCP}}}}},
		config.Service{ID: "old", Label: "Old", Nodes: []config.Node{{ID: "n", Label: "N", Mode: config.ModePoll,
			Replicas: []config.Replica{{ID: "tcp://old:1", Kind: config.KindTCP}}}}})
	f := &fakeFactory{probes: map[string]*switchable{}}
	f.get("tcp://db:5432").status.Store(uint32(messages.Sick))
	tree := startTree(t, cfg, f)
	waitStatus(t, tree, messages.Sick)
	deadline := time.Now().Add(5 * time.Second)
	for startups.Load() == 0 && time.Now().Before(deadline) {
		time.Sleep(10 * time.Millisecond)
	}
	webUnit := tree.services["web"]
	webActors := map[string]*actorUnit{}
	for id, a := range webUnit.actors {
		webActors[id] = a
	}
	dbKept := tree.services["db"].actors["poll main tcp://db:5432"]
	hookActor := tree.notes["webhook"].actor

	next := treeConfig(srv.URL)
	next.Probe.Services = append(next.Probe.Services,
		config.Service{ID: "db", Label: "DB", Nodes: []config.Node{{ID: "main", Label: "Main", Mode: config.ModePoll,
			Replicas: []config.Replica{{ID: "tcp://db:5432", Kind: config.KindTCP}, {ID: "tcp://db2:5432", Kind: config.KindTCP}}}}},
		config.Service{ID: "new", Label: "New", Nodes: []config.Node{{ID: "n", Label: "N", Mode: config.ModePoll,
			Replicas: []config.Replica{{ID: "tcp://new:1", Kind: config.KindTCP}}}}})
	if err := tree.Reload(context.Background(), next); err != nil {
		t.Fatal(err)
	}
	if tree.services["web"] != webUnit || len(webUnit.actors) != len(webActors) {
		t.Fatal("unchanged service was rebuilt")
	}
	for id, a := range webActors {
		if webUnit.actors[id] != a {
			t.Fatalf("unchanged actor %s was rebuilt", id)
		}
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
	if len(names) != 3 || names[0] != "web" || names[1] != "db" || names[2] != "new" {
		t.Fatalf("services after reload %v", names)
	}
	if r := snap.Probes[1].Nodes[0].Replicas[0]; r.ID != "tcp://db:5432" || r.Status != messages.Sick {
		t.Fatalf("kept replica lost its status: %+v", r)
	}
	// The new replicas get probed by their new actors.
	deadline = time.Now().Add(5 * time.Second)
	for {
		s := tree.Published.Latest()
		if !s.Probes[2].Nodes[0].Replicas[0].Updated.IsZero() && !s.Probes[1].Nodes[0].Replicas[1].Updated.IsZero() {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("new replicas never probed")
		}
		time.Sleep(20 * time.Millisecond)
	}
	// A changed notifier section swaps the actor, still without a startup.
	changed := *next
	notify := *next.Notify
	notify.Webhook = &config.Webhook{HookURL: srv.URL + "/other"}
	changed.Notify = &notify
	if err := tree.Reload(context.Background(), &changed); err != nil {
		t.Fatal(err)
	}
	if tree.notes["webhook"].actor == hookActor {
		t.Fatal("changed notifier kept its old actor")
	}
	time.Sleep(300 * time.Millisecond)
	if n := startups.Load(); n != 1 {
		t.Fatalf("%d startup notifications, want 1", n)
	}
	// A notifier section that cannot be built (a URL that does not parse;
	// values the original accepts, such as an ftp:// hook, only warn when
	// loading) is refused and changes nothing.
	bad := changed
	badNotify := notify
	badNotify.Gotify = &config.Gotify{AppURL: "http://[::1", AppToken: "t"}
	bad.Notify = &badNotify
	if err := tree.Reload(context.Background(), &bad); err == nil {
		t.Fatal("invalid notifier accepted")
	}
	if tree.cfg != &changed {
		t.Fatal("a refused reload changed the running configuration")
	}
}
