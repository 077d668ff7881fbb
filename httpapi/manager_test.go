package httpapi

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/vigil-go/vigil/actors/state"
	"github.com/vigil-go/vigil/config"
	"github.com/vigil-go/vigil/messages"
)

const managerToken = "M-secret"

// newManagerHarness runs a real state actor (without a store) behind the
// Manager API.
func newManagerHarness(t *testing.T) (*reporterHarness, *state.Actor) {
	t.Helper()
	cfg := &config.Config{Probe: config.Probe{Services: []config.Service{
		{ID: "web", Label: "Web", Nodes: []config.Node{{ID: "api", Label: "API", Mode: config.ModePoll, Replicas: []config.Replica{
			{ID: "http://a/", Kind: config.KindHTTP}, {ID: "http://b/", Kind: config.KindHTTP}, {ID: "http://c/", Kind: config.KindHTTP}}}}},
	}}}
	pub := &state.Published{}
	a := state.New(cfg, pub, slog.New(slog.DiscardHandler), state.Options{})
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	go a.Serve(ctx)
	s := New(Options{Addr: "127.0.0.1:0", Snapshots: pub, Manager: a, ManagerToken: managerToken, Logger: slog.New(slog.DiscardHandler)})
	return &reporterHarness{h: s.Handler()}, a
}

func TestManagerAnnouncements(t *testing.T) {
	h, _ := newManagerHarness(t)
	auth := basic("", managerToken)
	rec := h.do(req{"POST", "/manager/announcement/", auth, "application/json", `{"title":"T","text":"line1\nline2"}`})
	var created struct{ ID string }
	if rec.Code != 200 || json.Unmarshal(rec.Body.Bytes(), &created) != nil {
		t.Fatalf("create: %d %q", rec.Code, rec.Body.String())
	}
	if !regexp.MustCompile(`^[0-9a-f]{8}-[0-9a-f]{4}-4[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}$`).MatchString(created.ID) {
		t.Fatalf("id %q is not a lowercase UUID v4", created.ID)
	}
	rec = h.do(req{"POST", "/manager/announcement", auth, "application/json", `{"title":"Second","text":"x"}`})
	var second struct{ ID string }
	json.Unmarshal(rec.Body.Bytes(), &second)
	rec = h.do(req{"GET", "/manager/announcements/", auth, "", ""})
	want := `[{"id":"` + created.ID + `","title":"T"},{"id":"` + second.ID + `","title":"Second"}]`
	if rec.Code != 200 || strings.TrimSpace(rec.Body.String()) != want {
		t.Fatalf("list: %d %s, want %s", rec.Code, rec.Body.String(), want)
	}
	for _, tc := range []struct {
		name string
		r    req
		want int
	}{
		{"empty title", req{"POST", "/manager/announcement", auth, "application/json", `{"title":"","text":"x"}`}, 400},
		{"missing text", req{"POST", "/manager/announcement", auth, "application/json", `{"title":"x"}`}, 400},
		{"invalid json", req{"POST", "/manager/announcement", auth, "application/json", `{`}, 400},
		{"whitespace title accepted", req{"POST", "/manager/announcement", auth, "application/json", `{"title":" ","text":" "}`}, 200},
		{"reporter token", req{"GET", "/manager/announcements", basic("", reporterToken), "", ""}, 403},
		{"no auth", req{"GET", "/manager/announcements", "", "", ""}, 401},
		{"delete", req{"DELETE", "/manager/announcement/" + created.ID, auth, "", ""}, 200},
		{"delete again", req{"DELETE", "/manager/announcement/" + created.ID + "/", auth, "", ""}, 404},
		{"wrong method", req{"PUT", "/manager/announcements", auth, "", ""}, 404},
	} {
		if rec := h.do(tc.r); rec.Code != tc.want {
			t.Errorf("%s: %d %q, want %d", tc.name, rec.Code, rec.Body.String(), tc.want)
		}
	}
	rec = h.do(req{"GET", "/manager/announcements", auth, "", ""})
	if !strings.Contains(rec.Body.String(), second.ID) || strings.Contains(rec.Body.String(), created.ID) {
		t.Fatalf("after delete: %s", rec.Body.String())
	}
}

func TestManagerAlertsAndIgnore(t *testing.T) {
	h, a := newManagerHarness(t)
	auth := basic("", managerToken)
	a.Inbox() <- messages.ReplicaProbed{Key: messages.ReplicaKey{Probe: "web", Node: "api", Replica: "http://b/"}, Result: messages.ProbeResult{Status: messages.Dead}}
	a.Inbox() <- messages.ReplicaProbed{Key: messages.ReplicaKey{Probe: "web", Node: "api", Replica: "http://c/"}, Result: messages.ProbeResult{Status: messages.Sick}}
	want := `{"dead":[{"probe":"web","node":"api","replica":"http://b/"}],"sick":[{"probe":"web","node":"api","replica":"http://c/"}]}`
	deadline := time.Now().Add(3 * time.Second)
	for {
		rec := h.do(req{"GET", "/manager/prober/alerts", auth, "", ""})
		if strings.TrimSpace(rec.Body.String()) == want {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("alerts %s, want %s", rec.Body.String(), want)
		}
		time.Sleep(20 * time.Millisecond)
	}
	get := func() string {
		return strings.TrimSpace(h.do(req{"GET", "/manager/prober/alerts/ignored", auth, "", ""}).Body.String())
	}
	if got := get(); got != `{"reminders_seconds":null}` {
		t.Fatalf("initial ignored %s", got)
	}
	if rec := h.do(req{"PUT", "/manager/prober/alerts/ignored", auth, "application/json", `{"reminders_seconds":600}`}); rec.Code != 200 || rec.Body.Len() != 0 {
		t.Fatalf("put: %d %q", rec.Code, rec.Body.String())
	}
	if got := get(); got != `{"reminders_seconds":599}` && got != `{"reminders_seconds":600}` {
		t.Fatalf("after put 600: %s", got)
	}
	for _, tc := range []struct {
		body string
		want int
	}{
		{`{"reminders_seconds":70000}`, 400}, {`{"reminders_seconds":-1}`, 400}, {`{"reminders_seconds":1.5}`, 400},
		{`{"reminders_seconds":"5"}`, 400}, {`nope`, 400}, {`{"reminders_seconds":65535}`, 200},
	} {
		if rec := h.do(req{"PUT", "/manager/prober/alerts/ignored", auth, "application/json", tc.body}); rec.Code != tc.want {
			t.Errorf("PUT %s: %d, want %d", tc.body, rec.Code, tc.want)
		}
	}
	if rec := h.do(req{"PUT", "/manager/prober/alerts/ignored", auth, "application/json", `{}`}); rec.Code != 200 {
		t.Fatalf("clear: %d", rec.Code)
	}
	if got := get(); got != `{"reminders_seconds":null}` {
		t.Fatalf("after clear %s", got)
	}
	h.do(req{"PUT", "/manager/prober/alerts/ignored", auth, "application/json", `{"reminders_seconds":0}`})
	if got := get(); got != `{"reminders_seconds":null}` {
		t.Fatalf("after 0 %s", got)
	}
	if rec := h.do(req{"GET", "/manager/prober/alerts", basic("", "x"), "", ""}); rec.Code != http.StatusForbidden {
		t.Fatalf("wrong token: %d", rec.Code)
	}
}
