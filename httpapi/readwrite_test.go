package httpapi

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vigil-go/vigil/actors/node"
	"github.com/vigil-go/vigil/actors/state"
	"github.com/vigil-go/vigil/config"
	"github.com/vigil-go/vigil/messages"
)

// rywStack is the whole write-then-read path over loopback HTTP: a real
// state actor, a real push node actor and its router, and a Server with
// both APIs, rendering on its normal cadence.
type rywStack struct {
	t      *testing.T
	url    string
	pub    *state.Published
	server *Server
	client *http.Client
}

func newRYWStack(t *testing.T) *rywStack {
	t.Helper()
	cfg := &config.Config{Probe: config.Probe{Services: []config.Service{
		{ID: "relay", Label: "Relay", Nodes: []config.Node{{ID: "socket", Label: "Socket", Mode: config.ModePush, RevealReplicaName: true}}},
		// An unprobed poll replica keeps the state actor quiet: no
		// "refreshed" publications, only the writes' own.
		{ID: "web", Label: "Web", Nodes: []config.Node{{ID: "api", Label: "API", Mode: config.ModePoll,
			Replicas: []config.Replica{{ID: "http://a/", Kind: config.KindHTTP}}}}},
	}}}
	quiet := slog.New(slog.DiscardHandler)
	ctx, cancel := context.WithCancel(context.Background())
	t.Cleanup(cancel)
	pub := &state.Published{}
	st := state.New(cfg, pub, quiet, state.Options{})
	go st.Serve(ctx)
	push := node.New(node.Spec{Probe: "relay", Node: "socket", Mode: config.ModePush, DelayDead: time.Minute,
		CPUSickAbove: 0.99, RAMSickAbove: 0.99, Out: st.Inbox(), Logger: quiet})
	go push.Serve(ctx)
	s := New(Options{Addr: "127.0.0.1:0", Snapshots: pub, Branding: testBranding(),
		Page: Page{Title: "Acme", URL: "https://status.example.com/"}, Logger: quiet,
		Reporter: node.NewRouter(cfg, []*node.Actor{push}), ReporterToken: reporterToken,
		Manager: st, ManagerToken: managerToken})
	ts := httptest.NewServer(s.Handler())
	t.Cleanup(ts.Close)
	return &rywStack{t: t, url: ts.URL, pub: pub, server: s, client: ts.Client()}
}

func (k *rywStack) do(method, path, token, body string) (int, http.Header, string) {
	k.t.Helper()
	req, _ := http.NewRequest(method, k.url+path, strings.NewReader(body))
	if token != "" {
		req.Header.Set("Authorization", basic("", token))
	}
	if body != "" {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := k.client.Do(req)
	if err != nil {
		k.t.Fatal(err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		k.t.Fatal(err)
	}
	return resp.StatusCode, resp.Header, string(b)
}

// write sends a write that must answer 200 and returns the generation
// published by then (the system is quiet, so it is the write's own).
func (k *rywStack) write(method, path, token, body string) (uint64, string) {
	k.t.Helper()
	code, _, resp := k.do(method, path, token, body)
	if code != http.StatusOK {
		k.t.Fatalf("%s %s: %d %q", method, path, code, resp)
	}
	return k.pub.Latest().Generation, resp
}

// page reads GET / and the snapshot generation it was rendered from (the
// second field of its entity tag: boot-generation-year[-coding]).
func (k *rywStack) page() (uint64, string) {
	k.t.Helper()
	code, h, body := k.do(http.MethodGet, "/", "", "")
	if code != http.StatusOK {
		k.t.Fatalf("GET /: %d", code)
	}
	fields := strings.Split(strings.Trim(h.Get("ETag"), `"`), "-")
	if len(fields) < 3 {
		k.t.Fatalf("page entity tag %q", h.Get("ETag"))
	}
	gen, err := strconv.ParseUint(fields[1], 10, 64)
	if err != nil {
		k.t.Fatalf("page entity tag %q", h.Get("ETag"))
	}
	return gen, body
}

func (k *rywStack) report() Report {
	k.t.Helper()
	code, _, body := k.do(http.MethodGet, "/status/report", "", "")
	var r Report
	if code != http.StatusOK || json.Unmarshal([]byte(body), &r) != nil {
		k.t.Fatalf("GET /status/report: %d %q", code, body)
	}
	return r
}

func (k *rywStack) text() string {
	k.t.Helper()
	_, _, body := k.do(http.MethodGet, "/status/text", "", "")
	return body
}

// socketReplicas are the push node's replica statuses in the report.
func socketReplicas(r Report) []messages.Status {
	for _, p := range r.Probes {
		if p.Name == "Relay" {
			return p.Nodes[0].Replicas
		}
	}
	return nil
}

// rywRounds is how many write-then-read rounds each write kind gets.
const rywRounds = 50

// After a reporter write answers 200, the very next GET of the report, the
// status text and the page shows it, every time: without the watermark
// they would lag by up to RenderEvery.
func TestReadYourReporterWrites(t *testing.T) {
	k := newRYWStack(t)
	for i := range rywRounds {
		name := fmt.Sprintf("rw-%d", i)
		// Alternate a sick and a healthy report so that every round
		// changes the general status too.
		cpu, want := 0.1, messages.Healthy
		if i%2 == 1 {
			cpu, want = 1.5, messages.Sick
		}
		gen, _ := k.write(http.MethodPost, "/reporter/relay/socket", reporterToken,
			fmt.Sprintf(`{"replica":%q,"interval":60,"load":{"cpu":%g,"ram":0.1}}`, name, cpu))
		if got := socketReplicas(k.report()); len(got) != 1 || got[0] != want {
			t.Fatalf("round %d: report after the report shows %v, want [%v]", i, got, want)
		}
		if got := k.text(); got != want.String() {
			t.Fatalf("round %d: status text %q after the report, want %q", i, got, want)
		}
		if pg, body := k.page(); pg < gen || !strings.Contains(body, name) {
			t.Fatalf("round %d: page of generation %d (write %d) shows %s: %v", i, pg, gen, name, strings.Contains(body, name))
		}

		gen, _ = k.write(http.MethodDelete, "/reporter/relay/socket/"+name, reporterToken, "")
		if got := socketReplicas(k.report()); len(got) != 0 {
			t.Fatalf("round %d: flushed replica still in the report: %v", i, got)
		}
		if got := k.text(); got != messages.Healthy.String() {
			t.Fatalf("round %d: status text %q after the flush", i, got)
		}
		if pg, body := k.page(); pg < gen || strings.Contains(body, name) {
			t.Fatalf("round %d: page of generation %d (flush %d) still shows %s: %v", i, pg, gen, name, strings.Contains(body, name))
		}
	}
}

// The same for the Manager API: an announcement is on the next page once
// published and gone once retracted; the page and the report that follow
// an ignore-window change are rendered from a snapshot that has it.
func TestReadYourManagerWrites(t *testing.T) {
	k := newRYWStack(t)
	for i := range rywRounds {
		title := fmt.Sprintf("Notice number %d", i)
		gen, resp := k.write(http.MethodPost, "/manager/announcement", managerToken,
			fmt.Sprintf(`{"title":%q,"text":"Some text."}`, title))
		var created struct{ ID string }
		if err := json.Unmarshal([]byte(resp), &created); err != nil {
			t.Fatal(err)
		}
		if pg, body := k.page(); pg < gen || !strings.Contains(body, title) {
			t.Fatalf("round %d: page of generation %d (insert %d) shows the announcement: %v", i, pg, gen, strings.Contains(body, title))
		}
		gen, _ = k.write(http.MethodDelete, "/manager/announcement/"+created.ID, managerToken, "")
		if pg, body := k.page(); pg < gen || strings.Contains(body, title) {
			t.Fatalf("round %d: page of generation %d (retract %d) still shows the announcement: %v", i, pg, gen, strings.Contains(body, title))
		}

		gen, _ = k.write(http.MethodPut, "/manager/prober/alerts/ignored", managerToken, fmt.Sprintf(`{"reminders_seconds":%d}`, 60+i))
		if pg, _ := k.page(); pg < gen {
			t.Fatalf("round %d: page of generation %d after the ignore window of generation %d", i, pg, gen)
		}
	}
}

// A read that follows no write is never held: with a new snapshot but no
// write, GET answers from the current rendering without waiting.
func TestReadWithoutWriteDoesNotWait(t *testing.T) {
	holder := newSwapSnapshots(&messages.Snapshot{Generation: 1, Status: messages.Healthy})
	s := New(Options{Addr: "127.0.0.1:0", Snapshots: holder, Logger: slog.New(slog.DiscardHandler)})
	s.views.every = time.Hour
	h := s.Handler()
	if got := do(t, h, http.MethodGet, "/status/text").Body.String(); got != "healthy" {
		t.Fatalf("first read %q", got)
	}
	holder.p.Store(&messages.Snapshot{Generation: 2, Status: messages.Dead})
	start := time.Now()
	for range 20 {
		if got := do(t, h, http.MethodGet, "/status/text").Body.String(); got != "healthy" {
			t.Fatalf("read %q: it waited for a rendering no write asked for", got)
		}
	}
	if waited := time.Since(start); waited > time.Second {
		t.Fatalf("20 reads took %v", waited)
	}
	// A write to show (here: the watermark it sets) makes the next read
	// wait for the new rendering, at once rather than on the hour.
	showLatest(s)
	if got := do(t, h, http.MethodGet, "/status/text").Body.String(); got != "dead" {
		t.Fatalf("read after the watermark %q", got)
	}
}
