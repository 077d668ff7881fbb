package httpapi

import (
	"context"
	"encoding/json"
	"html"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/modelcontextprotocol/go-sdk/mcp"

	"github.com/vigil-go/vigil/messages"
)

// secretSnapshot has replicas whose ids carry credentials, in a node that
// reveals replica names on the page, some of them failing.
func secretSnapshot() *messages.Snapshot {
	return &messages.Snapshot{Generation: 3, Status: messages.Dead, Probes: []messages.ProbeSnapshot{{
		ID: "web", Label: "Web", Status: messages.Dead, Nodes: []*messages.NodeSnapshot{{
			ID: "api", Label: "API", Mode: "poll", Status: messages.Dead, RevealReplicaName: true,
			Replicas: []messages.ReplicaSnapshot{
				{ID: "https://admin:hunter2@api.example.com/health", Status: messages.Dead, Err: "HTTP 503"},
				{ID: "https://api.example.com/health?api_key=sekret", Status: messages.Sick, Err: "slow"},
			},
		}},
	}}}
}

type nopManager struct{}

func (nopManager) AddAnnouncement(context.Context, messages.Announcement) error { return nil }
func (nopManager) RemoveAnnouncement(context.Context, string) error             { return nil }
func (nopManager) SetIgnore(context.Context, time.Time) error                   { return nil }

// noSecret fails when body shows a credential of secretSnapshot.
func noSecret(t *testing.T, what, body string) {
	t.Helper()
	for _, secret := range []string{"hunter2", "sekret"} {
		if strings.Contains(body, secret) {
			t.Errorf("%s shows %q:\n%s", what, secret, body)
		}
	}
}

// Every representation of the snapshot that leaves the server (page with
// reveal_replica_name, report, Manager alerts, MCP) masks replica URL
// secrets.
func TestReplicaSecretsAreMasked(t *testing.T) {
	o := testOptions(secretSnapshot())
	o.Manager, o.ManagerToken, o.MCP = nopManager{}, "m", true
	s := New(o)
	h := s.Handler()

	page := html.UnescapeString(do(t, h, http.MethodGet, "/").Body.String())
	noSecret(t, "page", page)
	for _, want := range []string{"https://admin:***@api.example.com/health", "https://api.example.com/health?api_key=***"} {
		if !strings.Contains(page, want) {
			t.Errorf("page does not name replica %s", want)
		}
	}
	noSecret(t, "report", do(t, h, http.MethodGet, "/status/report").Body.String())

	req := httptest.NewRequest(http.MethodGet, "/manager/prober/alerts", nil)
	req.Header.Set("Authorization", basic("", "m"))
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	var alerts alertList
	if rec.Code != http.StatusOK || json.Unmarshal(rec.Body.Bytes(), &alerts) != nil {
		t.Fatalf("alerts: %d %s", rec.Code, rec.Body.String())
	}
	noSecret(t, "Manager alerts", rec.Body.String())
	if len(alerts.Dead) != 1 || alerts.Dead[0].Replica != "https://admin:***@api.example.com/health" ||
		len(alerts.Sick) != 1 || alerts.Sick[0].Replica != "https://api.example.com/health?api_key=***" {
		t.Errorf("alerts %+v", alerts)
	}

	ts := httptest.NewServer(h)
	defer ts.Close()
	ctx, cancel := context.WithTimeout(t.Context(), mcpTestTimeout)
	defer cancel()
	cs := mcpConnect(ctx, t, ts.URL+MCPPath, true)
	defer func() { _ = cs.Close() }()
	res, err := cs.CallTool(ctx, &mcp.CallToolParams{Name: MCPToolName})
	if err != nil {
		t.Fatal(err)
	}
	out, _ := json.Marshal(res)
	noSecret(t, "MCP get_report", string(out))
}
