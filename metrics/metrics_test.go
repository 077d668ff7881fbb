package metrics

import (
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"

	"github.com/vigil-go/vigil/messages"
)

// scrape serves m's registry once and returns the exposition text.
func scrape(t *testing.T, m *Metrics) string {
	t.Helper()
	h := promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{ErrorHandling: promhttp.HTTPErrorOnError})
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, httptest.NewRequest(http.MethodGet, "/metrics", nil))
	body, _ := io.ReadAll(rec.Body)
	if rec.Code != http.StatusOK {
		t.Fatalf("scrape: %d %s", rec.Code, body)
	}
	return string(body)
}

// Replica labels carry the replica URL without its credentials; replicas
// whose ids differ only in masked parts still get a series each.
func TestReplicaLabelsHideSecrets(t *testing.T) {
	snap := &messages.Snapshot{Status: messages.Dead, Probes: []messages.ProbeSnapshot{{
		ID: "web", Status: messages.Dead, Nodes: []*messages.NodeSnapshot{{
			ID: "api", Status: messages.Dead, Replicas: []messages.ReplicaSnapshot{
				{ID: "https://admin:hunter2@api.example.com/health", Status: messages.Healthy, HasLatency: true, Latency: 20 * time.Millisecond},
				{ID: "https://api.example.com/health?api_key=sekret1", Status: messages.Dead},
				{ID: "https://api.example.com/health?api_key=sekret2", Status: messages.Sick, HasLatency: true, Latency: time.Second},
				{ID: "tcp://db.example.com:5432", Status: messages.Healthy},
			},
		}},
	}}}
	m := New()
	m.WatchSnapshots(func() *messages.Snapshot { return snap })
	out := scrape(t, m)
	for _, secret := range []string{"hunter2", "sekret"} {
		if strings.Contains(out, secret) {
			t.Errorf("metrics show %q:\n%s", secret, out)
		}
	}
	for _, want := range []string{
		`vigil_replica_status{node="api",replica="https://admin:***@api.example.com/health",service="web"} 0`,
		`vigil_replica_latency_seconds{node="api",replica="https://admin:***@api.example.com/health",service="web"} 0.02`,
		`vigil_replica_status{node="api",replica="https://api.example.com/health?api_key=***",service="web"} 2`,
		`vigil_replica_status{node="api",replica="https://api.example.com/health?api_key=*** (2)",service="web"} 1`,
		`vigil_replica_latency_seconds{node="api",replica="https://api.example.com/health?api_key=*** (2)",service="web"} 1`,
		`vigil_replica_status{node="api",replica="tcp://db.example.com:5432",service="web"} 0`,
	} {
		if !strings.Contains(out, want+"\n") {
			t.Errorf("missing %s in\n%s", want, out)
		}
	}
}

// ObserveRequest counts like Requests.WithLabelValues, and a pair seen
// before costs no allocation.
func TestObserveRequest(t *testing.T) {
	m := New()
	for range 3 {
		m.ObserveRequest("reporter", 200)
	}
	m.ObserveRequest("manager", 401)
	m.ObserveRequest("reporter", 503)
	m.ObserveRequest("reporter", 1000) // not an HTTP code: still counted
	out := scrape(t, m)
	for _, want := range []string{
		`vigil_api_requests_total{api="reporter",code="200"} 3`,
		`vigil_api_requests_total{api="manager",code="401"} 1`,
		`vigil_api_requests_total{api="reporter",code="503"} 1`,
		`vigil_api_requests_total{api="reporter",code="1000"} 1`,
	} {
		if !strings.Contains(out, want+"\n") {
			t.Errorf("missing %s", want)
		}
	}
	if n := testing.AllocsPerRun(100, func() { m.ObserveRequest("reporter", 200) }); n != 0 {
		t.Errorf("%v allocations per counted request", n)
	}
}

// The error budget gauge: one series per service with an slo, from the
// recorded history; none before the first history.
func TestErrorBudgetGauge(t *testing.T) {
	snap := &messages.Snapshot{Status: messages.Healthy, Probes: []messages.ProbeSnapshot{{ID: "web"}, {ID: "api"}, {ID: "db"}}}
	m := New()
	m.WatchSnapshots(func() *messages.Snapshot { return snap })
	if out := scrape(t, m); strings.Contains(out, "vigil_service_error_budget_remaining_ratio{") {
		t.Fatalf("a budget without a history:\n%s", out)
	}
	allowed := 43*time.Minute + 12*time.Second
	snap.History = &messages.HistoryView{Services: []messages.ServiceHistory{
		{ID: "web", Budget: &messages.ErrorBudget{SLO: 99.9, Allowed: allowed, Used: allowed / 4}},
		{ID: "api"},
		{ID: "db", Budget: &messages.ErrorBudget{SLO: 99.9, Allowed: allowed, Used: allowed * 3 / 2}},
	}}
	out := scrape(t, m)
	for _, want := range []string{
		`vigil_service_error_budget_remaining_ratio{service="web"} 0.75`,
		`vigil_service_error_budget_remaining_ratio{service="db"} -0.5`,
	} {
		if !strings.Contains(out, want+"\n") {
			t.Errorf("missing %s in\n%s", want, out)
		}
	}
	if strings.Contains(out, `vigil_service_error_budget_remaining_ratio{service="api"}`) {
		t.Error("a budget for a service without an slo")
	}
}
