package httpapi

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"reflect"
	"runtime"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/jsonschema-go/jsonschema"
	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/vigil-go/vigil/messages"
	"github.com/vigil-go/vigil/testkit"
)

const mcpTestTimeout = 60 * time.Second

// mcpSnapshot covers the three statuses at every level.
func mcpSnapshot() *messages.Snapshot {
	return &messages.Snapshot{Status: messages.Dead, Probes: []messages.ProbeSnapshot{
		{ID: "web", Label: "Web", Status: messages.Sick, Nodes: []*messages.NodeSnapshot{
			{ID: "api", Label: "API", Status: messages.Sick, Replicas: []messages.ReplicaSnapshot{
				{ID: "http://secret-host/", Status: messages.Healthy}, {ID: "tcp://b:1", Status: messages.Sick},
			}},
			{ID: "empty", Label: "Empty", Status: messages.Healthy},
		}},
		{ID: "db", Label: "Database", Status: messages.Dead, Nodes: []*messages.NodeSnapshot{
			{ID: "main", Label: "Main", Status: messages.Dead, Replicas: []messages.ReplicaSnapshot{
				{ID: "tcp://db:5432", Status: messages.Dead},
			}},
		}},
	}}
}

func mcpTestServer(snaps Snapshots) *Server {
	return New(Options{Addr: "127.0.0.1:0", Snapshots: snaps, Page: Page{Title: "Acme <Status>", URL: "https://status.example.com/"},
		MCP: true, Version: "1.2.3", Logger: slog.New(slog.DiscardHandler)})
}

func mcpConnect(ctx context.Context, t *testing.T, endpoint string, noStream bool) *mcp.ClientSession {
	t.Helper()
	client := mcp.NewClient(&mcp.Implementation{Name: "vigil-test", Version: "0"}, nil)
	tr := &mcp.StreamableClientTransport{Endpoint: endpoint, MaxRetries: -1, DisableStandaloneSSE: noStream}
	cs, err := client.Connect(ctx, tr, nil)
	if err != nil {
		t.Fatalf("connect %s: %v", endpoint, err)
	}
	return cs
}

// normJSON re-encodes v (any JSON-marshalable value or JSON text) with
// sorted keys, for comparisons that ignore key order.
func normJSON(t *testing.T, v any) string {
	t.Helper()
	var raw []byte
	switch x := v.(type) {
	case string:
		raw = []byte(x)
	case []byte:
		raw = x
	default:
		b, err := json.Marshal(v)
		if err != nil {
			t.Fatalf("marshal: %v", err)
		}
		raw = b
	}
	var generic any
	if err := json.Unmarshal(raw, &generic); err != nil {
		t.Fatalf("unmarshal %s: %v", raw, err)
	}
	out, err := json.Marshal(generic)
	if err != nil {
		t.Fatalf("remarshal: %v", err)
	}
	return string(out)
}

func TestMCPGetReport(t *testing.T) {
	snaps := newSwapSnapshots(mcpSnapshot())
	s := mcpTestServer(snaps)
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()

	for _, path := range []string{"/mcp/probes", "/mcp/probes/"} {
		t.Run(path, func(t *testing.T) {
			snaps.p.Store(mcpSnapshot())
			ctx, cancel := context.WithTimeout(t.Context(), mcpTestTimeout)
			defer cancel()
			cs := mcpConnect(ctx, t, ts.URL+path, false)
			defer func() { _ = cs.Close() }()
			if cs.ID() != "" {
				t.Fatalf("Mcp-Session-Id %q: the endpoint is meant to be stateless", cs.ID())
			}

			init := cs.InitializeResult()
			if init.ServerInfo == nil || init.ServerInfo.Name != "vigil" || init.ServerInfo.Version != "1.2.3" {
				t.Fatalf("server info %+v", init.ServerInfo)
			}
			if init.Instructions != "Vigil MCP Server. Use this server to get the status report of all Vigil Status Page services and nodes." {
				t.Fatalf("instructions %q", init.Instructions)
			}
			if got := normJSON(t, init.Capabilities); got != `{"tools":{}}` {
				t.Fatalf("capabilities %s, want tools only", got)
			}

			tools, err := cs.ListTools(ctx, nil)
			if err != nil {
				t.Fatalf("list tools: %v", err)
			}
			if len(tools.Tools) != 2 {
				t.Fatalf("%d tools, want get_report and get_history", len(tools.Tools))
			}
			tool := tools.Tools[0]
			if tool.Name != "get_report" {
				tool = tools.Tools[1]
			}
			if tool.Name != "get_report" ||
				tool.Description != "Returns all Vigil Status Page services and nodes and reports their status (healthy, sick, dead)" {
				t.Fatalf("tool %q: %q", tool.Name, tool.Description)
			}
			if got := normJSON(t, tool.InputSchema); got != `{"type":"object"}` {
				t.Fatalf("input schema %s", got)
			}
			checkReportSchema(t, tool.OutputSchema)

			// Arguments omitted, then {}.
			for _, args := range []any{nil, map[string]any{}} {
				want := BuildReport(snaps.Latest(), s.site.Load().page)
				res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "get_report", Arguments: args})
				if err != nil {
					t.Fatalf("call (args %v): %v", args, err)
				}
				checkReportResult(t, res, want)
			}

			// The tool reads the latest snapshot at call time.
			next := mcpSnapshot()
			next.Status = messages.Healthy
			next.Probes = next.Probes[:1]
			snaps.p.Store(next)
			res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "get_report"})
			if err != nil {
				t.Fatalf("call after swap: %v", err)
			}
			checkReportResult(t, res, BuildReport(next, s.site.Load().page))
		})
	}
}

// checkReportResult compares the structured content and the text item with
// the /status/report structure.
func checkReportResult(t *testing.T, res *mcp.CallToolResult, want Report) {
	t.Helper()
	if res.IsError {
		t.Fatalf("tool error: %+v", res.Content)
	}
	wantJSON, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	if got, w := normJSON(t, res.StructuredContent), normJSON(t, want); got != w {
		t.Fatalf("structured content\n%s\nwant\n%s", got, w)
	}
	if len(res.Content) != 1 {
		t.Fatalf("%d content items, want 1", len(res.Content))
	}
	text, ok := res.Content[0].(*mcp.TextContent)
	if !ok {
		t.Fatalf("content %T, want text", res.Content[0])
	}
	// Same bytes as the /status/report body (which ends with a newline).
	if text.Text != string(wantJSON) {
		t.Fatalf("text content\n%s\nwant\n%s", text.Text, wantJSON)
	}
	var parsed Report
	if err := json.Unmarshal([]byte(text.Text), &parsed); err != nil || !reflect.DeepEqual(parsed, want) {
		t.Fatalf("text content parses to %+v (%v), want %+v", parsed, err, want)
	}
}

// checkReportSchema checks the advertised output schema: the report's field
// names, statuses as strings, and that every report validates against it.
func checkReportSchema(t *testing.T, raw any) {
	t.Helper()
	b, err := json.Marshal(raw)
	if err != nil {
		t.Fatal(err)
	}
	var sch jsonschema.Schema
	if err := json.Unmarshal(b, &sch); err != nil {
		t.Fatalf("output schema %s: %v", b, err)
	}
	keys := func(s *jsonschema.Schema) []string {
		var out []string
		for _, k := range []string{"health", "page", "probes", "name", "url", "status", "nodes", "replicas"} {
			if _, ok := s.Properties[k]; ok {
				out = append(out, k)
			}
		}
		if len(out) != len(s.Properties) {
			t.Fatalf("unexpected properties in %s", b)
		}
		return out
	}
	eq := func(what string, got []string, want ...string) {
		if strings.Join(got, ",") != strings.Join(want, ",") {
			t.Fatalf("%s: %v, want %v (schema %s)", what, got, want, b)
		}
	}
	eq("report", keys(&sch), "health", "page", "probes")
	eq("required", sch.Required, "health", "page", "probes")
	eq("page", keys(sch.Properties["page"]), "name", "url")
	probe := sch.Properties["probes"].Items
	eq("probe", keys(probe), "name", "status", "nodes")
	node := probe.Properties["nodes"].Items
	eq("node", keys(node), "name", "status", "replicas")
	for _, st := range []*jsonschema.Schema{sch.Properties["health"], probe.Properties["status"], node.Properties["status"], node.Properties["replicas"].Items} {
		if st.Type != "string" || !reflect.DeepEqual(st.Enum, []any{"healthy", "sick", "dead"}) {
			t.Fatalf("status schema %+v in %s", st, b)
		}
	}
	if sch.Properties["probes"].Type != "array" || node.Properties["replicas"].Type != "array" {
		t.Fatalf("arrays in %s", b)
	}

	resolved, err := sch.Resolve(nil)
	if err != nil {
		t.Fatalf("resolve output schema: %v", err)
	}
	for _, snap := range []*messages.Snapshot{mcpSnapshot(), {}} {
		var inst any
		if err := json.Unmarshal([]byte(normJSON(t, BuildReport(snap, Page{Title: "t", URL: "u"}))), &inst); err != nil {
			t.Fatal(err)
		}
		if err := resolved.Validate(inst); err != nil {
			t.Fatalf("report does not validate: %v", err)
		}
	}
}

const mcpInitBody = `{"jsonrpc":"2.0","id":1,"method":"initialize","params":{"protocolVersion":"2025-06-18","capabilities":{},"clientInfo":{"name":"raw","version":"0"}}}`

func mcpPost(ctx context.Context, t *testing.T, url, host, session, body string) *http.Response {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/json, text/event-stream")
	if host != "" {
		req.Host = host
	}
	if session != "" {
		req.Header.Set("Mcp-Session-Id", session)
		req.Header.Set("Mcp-Protocol-Version", "2025-06-18")
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatalf("POST %s: %v", url, err)
	}
	return resp
}

func TestMCPDisabledIs404(t *testing.T) {
	ts := httptest.NewServer(testServer(mcpSnapshot()).Handler())
	defer ts.Close()
	ctx, cancel := context.WithTimeout(t.Context(), mcpTestTimeout)
	defer cancel()
	for _, path := range []string{"/mcp/probes", "/mcp/probes/"} {
		resp := mcpPost(ctx, t, ts.URL+path, "", "", mcpInitBody)
		body, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusNotFound || len(body) != 0 {
			t.Fatalf("POST %s with MCP off: %d %q, want empty 404", path, resp.StatusCode, body)
		}
	}
}

// TestMCPRawStateless drives the transport by hand: no session header, an
// SSE answer, a Host header a reverse proxy would send, a tool call
// without initialize before it, and the methods a stateless endpoint
// refuses.
func TestMCPRawStateless(t *testing.T) {
	ts := httptest.NewServer(mcpTestServer(newSwapSnapshots(mcpSnapshot())).Handler())
	defer ts.Close()
	ctx, cancel := context.WithTimeout(t.Context(), mcpTestTimeout)
	defer cancel()
	url := ts.URL + "/mcp/probes"

	// A loopback listener reached with a public Host (reverse proxy).
	resp := mcpPost(ctx, t, url, "status.example.com", "", mcpInitBody)
	body, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.Header.Get("Mcp-Session-Id") != "" {
		t.Fatalf("initialize: %d session %q body %q", resp.StatusCode, resp.Header.Get("Mcp-Session-Id"), body)
	}
	if ct := resp.Header.Get("Content-Type"); ct != "text/event-stream" {
		t.Fatalf("initialize content type %q", ct)
	}
	if !bytes.Contains(body, []byte(`"serverInfo":{"name":"vigil"`)) {
		t.Fatalf("initialize answer %s", body)
	}

	resp = mcpPost(ctx, t, url+"/", "", "", `{"jsonrpc":"2.0","method":"notifications/initialized"}`)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusAccepted {
		t.Fatalf("initialized notification: %d", resp.StatusCode)
	}

	resp = mcpPost(ctx, t, url, "", "", `{"jsonrpc":"2.0","id":2,"method":"tools/call","params":{"name":"get_report","arguments":{}}}`)
	body, _ = io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	if resp.StatusCode != http.StatusOK || !bytes.Contains(body, []byte(`"structuredContent":{"health":"dead"`)) {
		t.Fatalf("tools/call: %d %s", resp.StatusCode, body)
	}

	// No server-to-client stream and no session to end: 405, at once.
	for _, m := range []string{http.MethodGet, http.MethodDelete} {
		req, _ := http.NewRequestWithContext(ctx, m, url, nil)
		req.Header.Set("Accept", "text/event-stream")
		r, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = r.Body.Close()
		if r.StatusCode != http.StatusMethodNotAllowed || r.Header.Get("Allow") != "POST" {
			t.Fatalf("%s %s: %d Allow %q, want 405 Allow POST", m, url, r.StatusCode, r.Header.Get("Allow"))
		}
	}
	// Other methods are not routed at all.
	for _, m := range []string{http.MethodPut, http.MethodPatch, http.MethodHead} {
		req, _ := http.NewRequestWithContext(ctx, m, url, nil)
		r, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		_ = r.Body.Close()
		if r.StatusCode != http.StatusNotFound {
			t.Fatalf("%s %s: %d, want 404", m, url, r.StatusCode)
		}
	}
}

// TestMCPToken: with a token, a request without it (or with another) is
// refused before the transport sees it; an SDK client sending it as a
// Bearer token works.
func TestMCPToken(t *testing.T) {
	o := testOptions(mcpSnapshot())
	o.MCP, o.MCPToken = true, "ask-me"
	s := New(o)
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	ctx, cancel := context.WithTimeout(t.Context(), mcpTestTimeout)
	defer cancel()
	for _, tc := range []struct {
		auth string
		want int
	}{{"", 401}, {"Bearer nope", 401}, {basic("", "nope"), 401}, {"Bearer ask-me", 200}, {basic("", "ask-me"), 200}} {
		req, _ := http.NewRequestWithContext(ctx, http.MethodPost, ts.URL+MCPPath, strings.NewReader(mcpInitBody))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		if tc.auth != "" {
			req.Header.Set("Authorization", tc.auth)
		}
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("Authorization %q: %d, want %d", tc.auth, resp.StatusCode, tc.want)
		}
		if tc.want == 401 && (resp.Header.Get("WWW-Authenticate") != `Bearer realm="mcp"` || len(body) != 0) {
			t.Errorf("Authorization %q: WWW-Authenticate %q, body %q", tc.auth, resp.Header.Get("WWW-Authenticate"), body)
		}
	}

	client := mcp.NewClient(&mcp.Implementation{Name: "vigil-test", Version: "0"}, nil)
	hc := &http.Client{Transport: bearer{token: "ask-me"}}
	cs, err := client.Connect(ctx, &mcp.StreamableClientTransport{Endpoint: ts.URL + MCPPath, HTTPClient: hc, MaxRetries: -1}, nil)
	if err != nil {
		t.Fatalf("connect with the token: %v", err)
	}
	defer func() { _ = cs.Close() }()
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: MCPToolName})
	if err != nil {
		t.Fatalf("get_report with the token: %v", err)
	}
	checkReportResult(t, res, BuildReport(mcpSnapshot(), s.site.Load().page))
}

// bearer adds a Bearer token to every request.
type bearer struct{ token string }

func (b bearer) RoundTrip(r *http.Request) (*http.Response, error) {
	r = r.Clone(r.Context())
	r.Header.Set("Authorization", "Bearer "+b.token)
	return http.DefaultTransport.RoundTrip(r)
}

// TestMCPInitializeFloodHoldsNoState sends 2,000 bare initialize requests,
// as an unauthenticated client may, and checks that they leave nothing
// behind: the goroutine count returns to where it was once the client's
// connections are closed, and the tool still answers an SDK client.
func TestMCPInitializeFloodHoldsNoState(t *testing.T) {
	const requests, workers = 2000, 4
	s := mcpTestServer(newSwapSnapshots(mcpSnapshot()))
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	ctx, cancel := context.WithTimeout(t.Context(), 60*time.Second)
	defer cancel()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: workers}}
	defer client.CloseIdleConnections()
	post := func() error {
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, ts.URL+MCPPath, strings.NewReader(mcpInitBody))
		if err != nil {
			return err
		}
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Accept", "application/json, text/event-stream")
		resp, err := client.Do(req)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, resp.Body)
		_ = resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("initialize: %d", resp.StatusCode)
		}
		return nil
	}
	if err := post(); err != nil {
		t.Fatal(err)
	}
	client.CloseIdleConnections()
	settled := func() int {
		runtime.GC()
		return runtime.NumGoroutine()
	}
	before := settled()

	var next atomic.Int64
	errs := make(chan error, workers)
	var wg sync.WaitGroup
	for range workers {
		wg.Go(func() {
			for next.Add(1) <= requests {
				if err := post(); err != nil {
					errs <- err
					return
				}
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	client.CloseIdleConnections()
	// A few goroutines of closing connections may still be on their way
	// out; a session per request would leave thousands.
	const slack = 20
	testkit.Eventually(t, 10*time.Second, func() bool { return settled() <= before+slack },
		"%d goroutines after %d initialize requests, %d before", runtime.NumGoroutine(), requests, before)

	cs := mcpConnect(ctx, t, ts.URL+MCPPath, false)
	defer func() { _ = cs.Close() }()
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: MCPToolName})
	if err != nil {
		t.Fatalf("get_report after the flood: %v", err)
	}
	checkReportResult(t, res, BuildReport(mcpSnapshot(), s.site.Load().page))
}

// TestMCPGetHistory: get_history answers what /status/history does, all
// services or one; an unknown service is a tool error; before the first
// history, no service.
func TestMCPGetHistory(t *testing.T) {
	snap := historySnapshot()
	snaps := newSwapSnapshots(snap)
	s := mcpTestServer(snaps)
	ts := httptest.NewServer(s.Handler())
	defer ts.Close()
	ctx, cancel := context.WithTimeout(t.Context(), mcpTestTimeout)
	defer cancel()
	cs := mcpConnect(ctx, t, ts.URL+MCPPath, false)
	defer func() { _ = cs.Close() }()

	tools, err := cs.ListTools(ctx, nil)
	if err != nil {
		t.Fatal(err)
	}
	var tool *mcp.Tool
	for _, tl := range tools.Tools {
		if tl.Name == "get_history" {
			tool = tl
		}
	}
	if tool == nil || !strings.Contains(tool.Description, "/status/history") ||
		normJSON(t, tool.InputSchema) != `{"properties":{"service":{"description":"The id of one service; all services when omitted.","type":"string"}},"type":"object"}` {
		t.Fatalf("tool %+v", tool)
	}

	call := func(args map[string]any) *mcp.CallToolResult {
		t.Helper()
		res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: "get_history", Arguments: args})
		if err != nil {
			t.Fatalf("call %v: %v", args, err)
		}
		return res
	}
	// All services: the same JSON as /status/history.
	res := call(nil)
	body := do(t, s.Handler(), http.MethodGet, "/status/history").Body.String()
	if res.IsError || normJSON(t, res.StructuredContent) != normJSON(t, body) || normJSON(t, res.Content[0].(*mcp.TextContent).Text) != normJSON(t, body) {
		t.Fatalf("get_history differs from /status/history: %v", res.IsError)
	}
	// One service.
	res = call(map[string]any{"service": "payments"})
	want, _ := BuildHistoryReport(snap.History, s.site.Load().page, "payments")
	if res.IsError || len(want.Services) != 1 || normJSON(t, res.StructuredContent) != normJSON(t, want) {
		t.Fatalf("get_history of payments: %+v", res.Content)
	}
	// No such service.
	res = call(map[string]any{"service": "nope"})
	if !res.IsError || !strings.Contains(res.Content[0].(*mcp.TextContent).Text, `no service "nope"`) {
		t.Fatalf("unknown service: %+v", res.Content)
	}
	// Before the first history.
	snaps.p.Store(mcpSnapshot())
	res = call(nil)
	if res.IsError || normJSON(t, res.StructuredContent) != `{"announcements":[],"built":null,"page":{"days":[],"name":"Acme \u003cStatus\u003e","uptime":{"24h":null,"30d":null,"7d":null,"90d":null},"url":"https://status.example.com/"},"services":[]}` {
		t.Fatalf("without history: %s", normJSON(t, res.StructuredContent))
	}
}
