package testkit

import (
	"os/exec"
	"strings"
	"testing"
)

const module = "github.com/vigil-go/vigil"

// TestImportGraph holds the design's one-way flow in place: messages is a
// leaf; the web layer reads snapshots and sends messages but imports no
// actor; an actor package talks to other actors only through messages and
// small interfaces (a sub-package may import its parent, as notifier
// providers import the notifier actor); the schema, the store and the
// history recorder import no actor, web or supervisor package. Only
// supervisors, the Vigil Local agent (agent) and commands wire everything
// together; the agent never imports the web layer or the state actor (it
// reports over HTTP instead).
func TestImportGraph(t *testing.T) {
	out, err := exec.Command("go", "list", "-f", `{{.ImportPath}} {{join .Imports " "}}`, module+"/...").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	graph := map[string][]string{}
	for _, line := range strings.Split(strings.TrimSpace(string(out)), "\n") {
		f := strings.Fields(line)
		pkg := strings.TrimPrefix(f[0], module+"/")
		for _, imp := range f[1:] {
			if rel, ok := strings.CutPrefix(imp, module+"/"); ok {
				graph[pkg] = append(graph[pkg], rel)
			}
		}
	}
	if len(graph) == 0 {
		t.Fatal("no package of the module imports another: go list output not understood")
	}
	for _, v := range importViolations(graph) {
		t.Error(v)
	}
}

// importViolations lists every import the design forbids.
func importViolations(graph map[string][]string) []string {
	var out []string
	for pkg, imports := range graph {
		for _, imp := range imports {
			if why := forbidden(pkg, imp); why != "" {
				out = append(out, pkg+" imports "+imp+": "+why)
			}
		}
	}
	return out
}

func forbidden(pkg, imp string) string {
	under := func(p, root string) bool { return p == root || strings.HasPrefix(p, root+"/") }
	switch {
	case pkg == "messages":
		return "messages is the leaf every actor shares"
	case under(pkg, "httpapi") && under(imp, "actors"):
		return "the web layer talks to actors only through messages and small interfaces"
	case under(pkg, "actors") && under(imp, "actors"):
		if actorRoot(pkg) == actorRoot(imp) && strings.HasPrefix(pkg, imp+"/") {
			return "" // a sub-package may use its parent actor
		}
		if actorRoot(pkg) != actorRoot(imp) {
			return "actors talk to each other only through messages and small interfaces"
		}
	case (under(pkg, "config") || under(pkg, "storage") || under(pkg, "messages") || under(pkg, "history")) &&
		(under(imp, "actors") || under(imp, "httpapi") || under(imp, "supervisors")):
		return "the schema, the store and the history recorder sit below every actor"
	case under(pkg, "agent") && (under(imp, "httpapi") || under(imp, "actors/state") || under(imp, "actors/persist")):
		return "the agent probes and reports over HTTP; it holds no server state"
	}
	return ""
}

// actorRoot is the actor package a package belongs to (actors/notifier for
// actors/notifier/providers).
func actorRoot(p string) string {
	parts := strings.SplitN(p, "/", 3)
	if len(parts) < 2 {
		return p
	}
	return parts[0] + "/" + parts[1]
}

// TestImportRulesCatchViolations proves the rules see what they must.
func TestImportRulesCatchViolations(t *testing.T) {
	bad := map[string][]string{
		"messages":                  {"config"},
		"httpapi":                   {"actors/node"},
		"actors/state":              {"actors/persist"},
		"config":                    {"supervisors"},
		"actors/notifier/providers": {"actors/notifier", "config", "messages"},
		"supervisors":               {"actors/state", "httpapi"},
		"history":                   {"actors/state", "messages", "storage"},
		"agent":                     {"actors/replica", "httpapi", "supervisors"},
	}
	got := importViolations(bad)
	if len(got) != 6 {
		t.Fatalf("violations = %d, want 6 (messages, httpapi, state→persist, config, history→state, agent→httpapi):\n%s", len(got), strings.Join(got, "\n"))
	}
}
