package state

import (
	"context"
	"reflect"
	"strconv"
	"testing"
	"testing/synctest"
	"time"

	"github.com/vigil-go/vigil/config"
	"github.com/vigil-go/vigil/messages"
	"github.com/vigil-go/vigil/testkit"
)

func updated(probe, node, replica string, s messages.Status) messages.ReplicaUpdated {
	return messages.ReplicaUpdated{Key: messages.ReplicaKey{Probe: probe, Node: node, Replica: replica}, Status: s,
		Reported: time.Now(), Interval: time.Minute}
}

// TestGeneralStatusLogNamesNodes: every change of the general status is
// one info record naming the nodes behind it, and only changes are logged.
func TestGeneralStatusLogNamesNodes(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var logs testkit.Logs
		cfg := testConfig()
		cfg.Notify = nil
		a := New(cfg, &Published{}, logs.Logger(), Options{})
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		go a.Serve(ctx)
		steps := []messages.StateMessage{
			probed("api", "http://a/", messages.Sick), // healthy -> sick
			probed("jobs", "0", messages.Sick),        // still sick: no record
			updated("relay", "socket", "r1", messages.Dead),
			probed("api", "http://a/", messages.Dead), // still dead: no record
			updated("relay", "socket", "r1", messages.Healthy),
			probed("api", "http://a/", messages.Healthy), // dead -> sick (jobs)
			probed("jobs", "0", messages.Healthy),        // sick -> healthy
		}
		for _, m := range steps {
			a.Inbox() <- m
			synctest.Wait()
		}
		want := []struct {
			from, to string
			nodes    []any
		}{
			{"healthy", "sick", []any{"web/api"}},
			{"sick", "dead", []any{"relay/socket"}},
			{"dead", "sick", []any{"web/jobs"}},
			{"sick", "healthy", []any{"web/jobs"}},
		}
		got := logs.With(t, "general status changed")
		if len(got) != len(want) {
			t.Fatalf("%d records, want %d: %v", len(got), len(want), got)
		}
		for i, w := range want {
			r := got[i]
			if r["level"] != "INFO" || r["from"] != w.from || r["to"] != w.to || !reflect.DeepEqual(r["nodes"], w.nodes) {
				t.Errorf("record %d: %v; want %s -> %s nodes %v", i, r, w.from, w.to, w.nodes)
			}
		}
	})
}

// TestCausesListsEveryNodeAtTheStatus: a dead page names every dead node
// in file order, up to maxLoggedNodes, and counts the rest.
func TestCausesListsEveryNodeAtTheStatus(t *testing.T) {
	cfg := &config.Config{}
	for s := range 3 {
		svc := config.Service{ID: "s" + strconv.Itoa(s)}
		for n := range 10 {
			svc.Nodes = append(svc.Nodes, config.Node{ID: "n" + strconv.Itoa(n), Mode: config.ModePoll,
				Replicas: []config.Replica{{ID: "tcp://h:1", Kind: config.KindTCP}}})
		}
		cfg.Probe.Services = append(cfg.Probe.Services, svc)
	}
	m := NewModel(cfg)
	dead := func(s, n int) messages.ReplicaProbed {
		return messages.ReplicaProbed{Key: messages.ReplicaKey{Probe: "s" + strconv.Itoa(s), Node: "n" + strconv.Itoa(n), Replica: "tcp://h:1"},
			Result: messages.ProbeResult{Status: messages.Dead}}
	}
	m.Apply(dead(2, 4), time.Now())
	m.Apply(dead(0, 7), time.Now())
	nodes, more := m.causes(messages.Dead, nil)
	if !reflect.DeepEqual(nodes, []string{"s0/n7", "s2/n4"}) || more != 0 {
		t.Fatalf("causes %v (+%d), want [s0/n7 s2/n4]", nodes, more)
	}
	for s := range 3 {
		for n := range 10 {
			m.Apply(dead(s, n), time.Now())
		}
	}
	nodes, more = m.causes(messages.Dead, nil)
	if len(nodes) != maxLoggedNodes || nodes[0] != "s0/n0" || nodes[maxLoggedNodes-1] != "s1/n9" || more != 30-maxLoggedNodes {
		t.Fatalf("causes %v (+%d), want the first %d and a count of the rest", nodes, more, maxLoggedNodes)
	}
	if nodes, more := m.causes(messages.Healthy, nil); len(nodes) != 0 || more != 0 {
		t.Fatalf("a reload's recovery names %v (+%d)", nodes, more)
	}
}

// TestAnnouncementsLogged: publishing and retracting an announcement are
// info records with its id and title; a refused retraction logs nothing.
func TestAnnouncementsLogged(t *testing.T) {
	synctest.Test(t, func(t *testing.T) {
		var logs testkit.Logs
		a := New(testConfig(), &Published{}, logs.Logger(), Options{})
		ctx, cancel := context.WithCancel(t.Context())
		defer cancel()
		go a.Serve(ctx)
		ann := messages.Announcement{ID: "a1", Title: "Database maintenance", Text: "Tonight.", Date: time.Now()}
		if err := a.AddAnnouncement(ctx, ann); err != nil {
			t.Fatal(err)
		}
		if err := a.RemoveAnnouncement(ctx, "nope"); err != messages.ErrUnknownAnnouncement {
			t.Fatalf("unknown retraction: %v", err)
		}
		if err := a.RemoveAnnouncement(ctx, "a1"); err != nil {
			t.Fatal(err)
		}
		for _, msg := range []string{"announcement published", "announcement retracted"} {
			got := logs.With(t, msg)
			if len(got) != 1 || got[0]["level"] != "INFO" || got[0]["id"] != "a1" || got[0]["title"] != "Database maintenance" {
				t.Errorf("%q records: %v; want one info record with id a1 and its title", msg, got)
			}
		}
	})
}
