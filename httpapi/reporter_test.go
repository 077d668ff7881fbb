package httpapi

import (
	"context"
	"encoding/base64"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/vigil-go/vigil/actors/node"
	"github.com/vigil-go/vigil/config"
	"github.com/vigil-go/vigil/messages"
)

const reporterToken = "R-secret"

// reporterHarness runs real node actors behind the reporter API; the
// messages they send to the state actor land in out.
type reporterHarness struct {
	h   http.Handler
	out chan messages.StateMessage
}

func newReporterHarness(t testing.TB, maxReplicas int) *reporterHarness {
	t.Helper()
	cfg := &config.Config{Probe: config.Probe{Services: []config.Service{
		{ID: "relay", Nodes: []config.Node{{ID: "socket-client", Mode: config.ModePush}}},
		{ID: "internal", Nodes: []config.Node{{ID: "gateway", Mode: config.ModeLocal}}},
		{ID: "web", Nodes: []config.Node{{ID: "api", Mode: config.ModePoll}}},
		{ID: "my service", Nodes: []config.Node{{ID: "a/b", Mode: config.ModePush}}},
	}}}
	out := make(chan messages.StateMessage, 1000)
	quiet := slog.New(slog.DiscardHandler)
	var actors []*node.Actor
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	// Stand-in for the state actor's receipt: a write counts as published
	// (generation 0) once it reaches out.
	toState := make(chan messages.StateMessage, 1000)
	go func() {
		for {
			select {
			case m := <-toState:
				answerVisible(m)
				select {
				case out <- m:
				case <-ctx.Done():
					return
				}
			case <-ctx.Done():
				return
			}
		}
	}()
	for _, svc := range cfg.Probe.Services {
		for _, n := range svc.Nodes {
			if n.Mode != config.ModePush && n.Mode != config.ModeLocal {
				continue
			}
			a := node.New(node.Spec{Probe: svc.ID, Node: n.ID, Mode: n.Mode, DelayDead: 20 * time.Second,
				CPUSickAbove: 0.99, RAMSickAbove: 0.99, MaxReplicas: maxReplicas, Out: toState, Logger: quiet})
			go a.Serve(ctx)
			actors = append(actors, a)
		}
	}
	o := testOptions(&messages.Snapshot{})
	o.Reporter, o.ReporterToken = node.NewRouter(cfg, actors), reporterToken
	return &reporterHarness{h: New(o).Handler(), out: out}
}

// answerVisible answers the Visible receipt of a reporter write, as the
// state actor does once it has published it.
func answerVisible(m messages.StateMessage) {
	var v chan<- uint64
	switch m := m.(type) {
	case messages.ReplicaUpdated:
		v = m.Visible
	case messages.ReplicaRemoved:
		v = m.Visible
	}
	if v != nil {
		v <- 0
	}
}

func basic(user, pass string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(user+":"+pass))
}

type req struct {
	method, path, auth, contentType, body string
}

func (h *reporterHarness) do(r req) *httptest.ResponseRecorder {
	hr := httptest.NewRequest(r.method, r.path, strings.NewReader(r.body))
	if r.auth != "" {
		hr.Header.Set("Authorization", r.auth)
	}
	if r.contentType != "" {
		hr.Header.Set("Content-Type", r.contentType)
	}
	rec := httptest.NewRecorder()
	h.h.ServeHTTP(rec, hr)
	return rec
}

const (
	goBody   = `{"replica":"10.0.0.1","interval":30,"load":{"cpu":0.445,"ram":0.019230425}}` + "\n"
	nodeBody = `{"replica":"10.0.0.2","interval":30,"load":{"cpu":0.445,"ram":0.0010802515685328184}}`
)

func TestReporterAcceptsPublishedClients(t *testing.T) {
	h := newReporterHarness(t, 0)
	auth := basic("", reporterToken)
	cases := []struct {
		name string
		r    req
	}{
		{"go library", req{"POST", "/reporter/relay/socket-client/", auth, "application/json", goBody}},
		{"node library", req{"POST", "/reporter/relay/socket-client/", auth, "application/json; charset=utf-8", nodeBody}},
		{"any username", req{"POST", "/reporter/relay/socket-client", basic("x", reporterToken), "application/json", goBody}},
		{"vigil local double slash", req{"POST", "//reporter/internal/gateway/", auth, "application/json",
			`{"replica":"icmp://127.0.0.1","health":"healthy","interval":120}`}},
		{"+json media type", req{"POST", "/reporter/relay/socket-client/", auth, "application/vnd.vigil+json", goBody}},
		{"go library query-escaped ids", req{"POST", "/reporter/my+service/a%2Fb/", auth, "application/json", goBody}},
		{"integers for load", req{"POST", "/reporter/relay/socket-client/", auth, "application/json",
			`{"replica":"r","interval":0,"load":{"cpu":1,"ram":0}}`}},
		{"load wins over health", req{"POST", "/reporter/relay/socket-client/", auth, "application/json",
			`{"replica":"r","interval":5,"load":{"cpu":0.1,"ram":0.1},"health":"dead"}`}},
		{"null health with load", req{"POST", "/reporter/relay/socket-client/", auth, "application/json",
			`{"replica":"r","interval":5,"load":{"cpu":0.1,"ram":0.1},"health":null}`}},
	}
	for _, tc := range cases {
		rec := h.do(tc.r)
		if rec.Code != http.StatusOK || rec.Body.Len() != 0 {
			t.Errorf("%s: %d %q, want 200 with an empty body", tc.name, rec.Code, rec.Body.String())
		}
	}
	// The reports reached the node actors, which told the state actor.
	seen := map[string]messages.Status{}
	deadline := time.After(2 * time.Second)
	for len(seen) < 5 {
		select {
		case m := <-h.out:
			if u, ok := m.(messages.ReplicaUpdated); ok {
				seen[u.Key.String()] = u.Status
			}
		case <-deadline:
			t.Fatalf("updates seen: %v", seen)
		}
	}
	for _, k := range []string{"relay:socket-client:10.0.0.1", "relay:socket-client:10.0.0.2", "internal:gateway:icmp://127.0.0.1", "my service:a/b:10.0.0.1", "relay:socket-client:r"} {
		if _, ok := seen[k]; !ok {
			t.Errorf("no update for %s (seen %v)", k, seen)
		}
	}
}

func TestReporterErrors(t *testing.T) {
	h := newReporterHarness(t, 2)
	auth := basic("", reporterToken)
	json := "application/json"
	p := "/reporter/relay/socket-client/"
	cases := []struct {
		name     string
		r        req
		want     int
		wwwAuth  bool
		bodyPart string
	}{
		{"no auth", req{"POST", p, "", json, goBody}, 401, true, ""},
		{"lowercase scheme", req{"POST", p, "basic " + base64.StdEncoding.EncodeToString([]byte(":"+reporterToken)), json, goBody}, 401, true, ""},
		{"garbled base64", req{"POST", p, "Basic !!!", json, goBody}, 401, true, ""},
		{"no colon", req{"POST", p, "Basic " + base64.StdEncoding.EncodeToString([]byte(reporterToken)), json, goBody}, 401, true, ""},
		{"wrong password", req{"POST", p, basic("", "nope"), json, goBody}, 403, true, ""},
		{"wrong password beats bad json", req{"POST", p, basic("", "nope"), json, "{"}, 403, true, ""},
		{"poll node", req{"POST", "/reporter/web/api/", auth, json, goBody}, 412, false, ""},
		{"unknown node", req{"POST", "/reporter/relay/unknown/", auth, json, goBody}, 404, false, ""},
		{"unknown probe", req{"POST", "/reporter/unknown/x/", auth, json, goBody}, 404, false, ""},
		{"negative cpu anywhere", req{"POST", "/reporter/unknown/x/", auth, json, `{"replica":"a","interval":30,"load":{"cpu":-0.1,"ram":0.5}}`}, 400, false, "negative"},
		{"neither load nor health", req{"POST", p, auth, json, `{"replica":"a","interval":30}`}, 400, false, "load or health"},
		{"no interval", req{"POST", p, auth, json, `{"replica":"a","load":{"cpu":0.1,"ram":0.1}}`}, 400, false, "interval"},
		{"float interval", req{"POST", p, auth, json, `{"replica":"a","interval":1.5,"load":{"cpu":0.1,"ram":0.1}}`}, 400, false, "interval"},
		{"negative interval", req{"POST", p, auth, json, `{"replica":"a","interval":-1,"load":{"cpu":0.1,"ram":0.1}}`}, 400, false, "interval"},
		{"no replica", req{"POST", p, auth, json, `{"interval":1,"load":{"cpu":0.1,"ram":0.1}}`}, 400, false, "replica"},
		{"numeric replica", req{"POST", p, auth, json, `{"replica":5,"interval":1,"load":{"cpu":0.1,"ram":0.1}}`}, 400, false, "replica"},
		{"load without ram", req{"POST", p, auth, json, `{"replica":"a","interval":1,"load":{"cpu":0.1}}`}, 400, false, "load"},
		{"text content type", req{"POST", p, auth, "text/plain", goBody}, 400, false, "Content-Type"},
		{"no content type", req{"POST", p, auth, "", goBody}, 400, false, "Content-Type"},
		{"not json", req{"POST", p, auth, json, "hello"}, 400, false, "JSON"},
		{"bad health", req{"POST", "/reporter/internal/gateway/", auth, json, `{"replica":"a","interval":1,"health":"ok"}`}, 400, false, "health"},
		{"health to push node", req{"POST", p, auth, json, `{"replica":"a","interval":1,"health":"sick"}`}, 412, false, ""},
		{"load to local node", req{"POST", "/reporter/internal/gateway/", auth, json, goBody}, 412, false, ""},
		{"too large", req{"POST", p, auth, json, `{"replica":"` + strings.Repeat("x", MaxBodyBytes) + `"}`}, 413, false, ""},
		{"wrong method", req{"GET", p, auth, "", ""}, 404, false, ""},
		{"flush unknown", req{"DELETE", "/reporter/relay/socket-client/10.0.0.1/", auth, "", ""}, 404, false, ""},
		{"flush poll node", req{"DELETE", "/reporter/web/api/x/", auth, "", ""}, 412, false, ""},
		{"flush unauthorised", req{"DELETE", "/reporter/relay/socket-client/x/", "", "", ""}, 401, true, ""},
	}
	for _, tc := range cases {
		rec := h.do(tc.r)
		if rec.Code != tc.want {
			t.Errorf("%s: %d %q, want %d", tc.name, rec.Code, rec.Body.String(), tc.want)
			continue
		}
		if got := rec.Header().Get("WWW-Authenticate"); tc.wwwAuth != (got == `Basic realm="Reporter Token"`) {
			t.Errorf("%s: WWW-Authenticate %q", tc.name, got)
		}
		if !strings.Contains(rec.Body.String(), tc.bodyPart) {
			t.Errorf("%s: body %q lacks %q", tc.name, rec.Body.String(), tc.bodyPart)
		}
	}
}

func TestReporterFlushAndCap(t *testing.T) {
	h := newReporterHarness(t, 2)
	auth := basic("", reporterToken)
	post := func(replica string) int {
		return h.do(req{"POST", "/reporter/relay/socket-client/", auth, "application/json",
			`{"replica":"` + replica + `","interval":30,"load":{"cpu":0.1,"ram":0.1}}`}).Code
	}
	if post("10.0.0.1:80") != 200 || post("a/b") != 200 {
		t.Fatal("reports refused")
	}
	if code := post("third"); code != http.StatusConflict {
		t.Fatalf("third replica over a cap of 2: %d, want 409", code)
	}
	for _, step := range []struct {
		path string
		want int
	}{
		{"/reporter/relay/socket-client/10.0.0.1%3A80/", 200},
		{"/reporter/relay/socket-client/10.0.0.1%3A80/", 404},
		{"/reporter/relay/socket-client/a%2Fb", 200},
	} {
		if rec := h.do(req{"DELETE", step.path, auth, "", ""}); rec.Code != step.want || rec.Body.Len() != 0 {
			t.Fatalf("DELETE %s: %d %q, want %d", step.path, rec.Code, rec.Body.String(), step.want)
		}
	}
	if post("third") != 200 {
		t.Fatal("room after flush not reused")
	}
}

// A Vigil Local replica id is a URL ("icmp://host"): its escaped "%2F%2F"
// must survive path normalisation so the replica can be flushed, while
// doubled slashes between segments are still merged.
func TestReporterFlushURLReplicaID(t *testing.T) {
	h := newReporterHarness(t, 0)
	auth := basic("", reporterToken)
	for _, id := range []string{"icmp://10.1.0.1", "http://a//b"} {
		body := `{"replica":"` + id + `","health":"healthy","interval":30}`
		if rec := h.do(req{"POST", "/reporter//internal/gateway//", auth, "application/json", body}); rec.Code != 200 {
			t.Fatalf("report %s: %d %s", id, rec.Code, rec.Body.String())
		}
		path := "/reporter/internal//gateway/" + url.PathEscape(id) + "/"
		if rec := h.do(req{"DELETE", path, auth, "", ""}); rec.Code != 200 {
			t.Fatalf("DELETE %s: %d, want 200", path, rec.Code)
		}
		if rec := h.do(req{"DELETE", path, auth, "", ""}); rec.Code != 404 {
			t.Fatalf("second DELETE %s: %d, want 404", path, rec.Code)
		}
	}
}

// Replica ids, and the probe and node ids in the path, are held to
// maxIDBytes (counted in bytes, not characters).
func TestReporterIDLimits(t *testing.T) {
	h := newReporterHarness(t, 0)
	auth := basic("", reporterToken)
	body := func(id string) string { return `{"replica":"` + id + `","interval":30,"load":{"cpu":0.1,"ram":0.1}}` }
	const p = "/reporter/relay/socket-client/"
	atLimit := strings.Repeat("r", maxIDBytes)
	long := strings.Repeat("x", maxIDBytes+1)
	for _, tc := range []struct {
		name     string
		r        req
		want     int
		bodyPart string
	}{
		{"replica at the limit", req{"POST", p, auth, "application/json", body(atLimit)}, 200, ""},
		{"replica one byte over", req{"POST", p, auth, "application/json", body(atLimit + "r")}, 400, "replica must be at most 1024 bytes"},
		{"replica of 40 KB", req{"POST", p, auth, "application/json", body(strings.Repeat("r", 40<<10))}, 400, "replica must be at most 1024 bytes"},
		{"replica over in bytes", req{"POST", p, auth, "application/json", body(strings.Repeat("é", 513))}, 400, "replica must be at most 1024 bytes"},
		{"long probe", req{"POST", "/reporter/" + long + "/socket-client/", auth, "application/json", body("a")}, 400, "at most 1024 bytes"},
		{"long node", req{"POST", "/reporter/relay/" + long, auth, "application/json", body("a")}, 400, "at most 1024 bytes"},
		{"flush with a long node", req{"DELETE", "/reporter/relay/" + long + "/a", auth, "", ""}, 400, "at most 1024 bytes"},
		{"long ids unauthenticated", req{"POST", "/reporter/relay/" + long, "", "application/json", body(long)}, 401, ""},
	} {
		rec := h.do(tc.r)
		if rec.Code != tc.want || !strings.Contains(rec.Body.String(), tc.bodyPart) {
			t.Errorf("%s: %d %.200q, want %d with %q", tc.name, rec.Code, rec.Body.String(), tc.want, tc.bodyPart)
		}
	}
}
