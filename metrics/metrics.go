// Package metrics exposes the server's Prometheus metrics. Nothing here is
// global: New builds a registry with its collectors, and the supervisor
// tree hands the pieces to the actors that feed them.
//
// Status values are gauges whose value is the status severity: 0 healthy,
// 1 sick, 2 dead (one series per replica, node, service and the page), so
// alerts can use thresholds (`vigil_node_status >= 2`) and dashboards can
// show the worst value over time.
//
// The replica label is the replica id with its URL secrets masked
// (messages.RedactURL): /metrics is public unless metrics_token is set.
package metrics

import (
	"maps"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/vigil-go/vigil/messages"
)

// Metrics holds the registry and the instruments that actors update.
type Metrics struct {
	Registry *prometheus.Registry

	// ProbeDuration observes every probe attempt, by kind (http, tcp, ssh,
	// icmp, script).
	ProbeDuration *prometheus.HistogramVec
	// ProbeResults counts probe attempts by kind and resulting status.
	ProbeResults *prometheus.CounterVec
	// Requests counts reporter and manager API requests by API and code.
	Requests *prometheus.CounterVec
	// ConfigReloads counts reload attempts by result (success, failure).
	ConfigReloads *prometheus.CounterVec
	// ConfigLastReload is the Unix time of the last successful load.
	ConfigLastReload prometheus.Gauge

	// requests caches the Requests counter of each API and status code
	// (ObserveRequest); copied on write, read without locking.
	requests   atomic.Pointer[map[string]*codeCounters]
	requestsMu sync.Mutex
}

// codeCounters are the Requests counters of one API, by status code.
type codeCounters [600]atomic.Pointer[prometheus.Counter]

// New builds the registry with the Go runtime and process collectors.
func New() *Metrics {
	m := &Metrics{
		Registry: prometheus.NewRegistry(),
		ProbeDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "vigil_probe_duration_seconds",
			Help:    "Duration of probe attempts by kind.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"kind"}),
		ProbeResults: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_probe_results_total",
			Help: "Probe attempts by kind and resulting status (healthy, sick, dead).",
		}, []string{"kind", "status"}),
		Requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_api_requests_total",
			Help: "Reporter and manager API requests by API and HTTP status code.",
		}, []string{"api", "code"}),
		ConfigReloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_config_reloads_total",
			Help: "Configuration reload attempts by result (success, failure).",
		}, []string{"result"}),
		ConfigLastReload: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "vigil_config_last_reload_success_timestamp_seconds",
			Help: "Unix time of the last successful configuration load.",
		}),
	}
	m.Registry.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.ProbeDuration, m.ProbeResults, m.Requests, m.ConfigReloads, m.ConfigLastReload,
	)
	m.ConfigLastReload.Set(float64(time.Now().Unix()))
	return m
}

// ObserveRequest counts one reporter or Manager API request (Requests,
// by API and status code). Once a pair has been seen, it allocates
// nothing and takes no lock.
func (m *Metrics) ObserveRequest(api string, code int) {
	if code < 100 || code >= len(codeCounters{}) {
		m.Requests.WithLabelValues(api, strconv.Itoa(code)).Inc()
		return
	}
	cs := m.apiCounters(api)
	c := cs[code].Load()
	if c == nil {
		counter := m.Requests.WithLabelValues(api, strconv.Itoa(code))
		cs[code].CompareAndSwap(nil, &counter)
		c = cs[code].Load()
	}
	(*c).Inc()
}

// apiCounters returns the counters of api, adding them on first use.
func (m *Metrics) apiCounters(api string) *codeCounters {
	if all := m.requests.Load(); all != nil {
		if cs := (*all)[api]; cs != nil {
			return cs
		}
	}
	m.requestsMu.Lock()
	defer m.requestsMu.Unlock()
	next := map[string]*codeCounters{}
	if all := m.requests.Load(); all != nil {
		if cs := (*all)[api]; cs != nil {
			return cs
		}
		maps.Copy(next, *all)
	}
	cs := new(codeCounters)
	next[api] = cs
	m.requests.Store(&next)
	return cs
}

// ObserveProbe records one probe attempt.
func (m *Metrics) ObserveProbe(kind string, r messages.ProbeResult) {
	m.ProbeDuration.WithLabelValues(kind).Observe(r.Latency.Seconds())
	m.ProbeResults.WithLabelValues(kind, r.Status.String()).Inc()
}

// Counter reads a counter value owned by an actor (an atomic counter) at
// scrape time.
type Counter struct {
	Name, Help string
	Labels     prometheus.Labels
	Value      func() float64
}

// AddCounters registers counters read at scrape time.
func (m *Metrics) AddCounters(cs ...Counter) {
	for _, c := range cs {
		m.Registry.MustRegister(prometheus.NewCounterFunc(prometheus.CounterOpts{
			Name: c.Name, Help: c.Help, ConstLabels: c.Labels,
		}, c.Value))
	}
}

// WatchSnapshots registers the status gauges, computed from the latest
// snapshot at scrape time.
func (m *Metrics) WatchSnapshots(latest func() *messages.Snapshot) {
	m.Registry.MustRegister(&statusCollector{latest: latest})
}

var (
	globalDesc  = prometheus.NewDesc("vigil_status", "General status of the page (0 healthy, 1 sick, 2 dead).", nil, nil)
	serviceDesc = prometheus.NewDesc("vigil_service_status", "Status of a service (0 healthy, 1 sick, 2 dead).", []string{"service"}, nil)
	nodeDesc    = prometheus.NewDesc("vigil_node_status", "Status of a node (0 healthy, 1 sick, 2 dead).", []string{"service", "node"}, nil)
	replicaDesc = prometheus.NewDesc("vigil_replica_status", "Status of a replica (0 healthy, 1 sick, 2 dead).", []string{"service", "node", "replica"}, nil)
	latencyDesc = prometheus.NewDesc("vigil_replica_latency_seconds", "Latency of a replica's last probe.", []string{"service", "node", "replica"}, nil)
	budgetDesc  = prometheus.NewDesc("vigil_service_error_budget_remaining_ratio",
		"Share of a service's error budget left over the last 30 days (1 untouched, 0 used up, negative overspent); only services with an slo.",
		[]string{"service"}, nil)
)

type statusCollector struct {
	latest func() *messages.Snapshot
}

func (c *statusCollector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{globalDesc, serviceDesc, nodeDesc, replicaDesc, latencyDesc, budgetDesc} {
		ch <- d
	}
}

func (c *statusCollector) Collect(ch chan<- prometheus.Metric) {
	s := c.latest()
	ch <- prometheus.MustNewConstMetric(globalDesc, prometheus.GaugeValue, float64(s.Status))
	for _, p := range s.Probes {
		ch <- prometheus.MustNewConstMetric(serviceDesc, prometheus.GaugeValue, float64(p.Status), p.ID)
		for _, n := range p.Nodes {
			ch <- prometheus.MustNewConstMetric(nodeDesc, prometheus.GaugeValue, float64(n.Status), p.ID, n.ID)
			labels := replicaLabels(n.Replicas)
			for i, r := range n.Replicas {
				ch <- prometheus.MustNewConstMetric(replicaDesc, prometheus.GaugeValue, float64(r.Status), p.ID, n.ID, labels[i])
				if r.HasLatency {
					ch <- prometheus.MustNewConstMetric(latencyDesc, prometheus.GaugeValue, r.Latency.Seconds(), p.ID, n.ID, labels[i])
				}
			}
		}
	}
	// Error budgets come with the recorded history (nil until the first).
	if h := s.History; h != nil {
		for _, sh := range h.Services {
			if sh.Budget != nil {
				ch <- prometheus.MustNewConstMetric(budgetDesc, prometheus.GaugeValue, sh.Budget.RemainingRatio(), sh.ID)
			}
		}
	}
}

// replicaLabels gives the replica label of each replica of one node: its
// id with URL secrets masked. Ids that differ only in what is masked
// (https://host/?key=a and ?key=b) would make one label twice, which
// fails the whole scrape; the later ones get " (2)", " (3)"… in node
// order.
func replicaLabels(reps []messages.ReplicaSnapshot) []string {
	labels := make([]string, len(reps))
	masked := false
	for i := range reps {
		labels[i] = messages.RedactURL(reps[i].ID)
		masked = masked || labels[i] != reps[i].ID
	}
	if !masked || len(reps) < 2 {
		return labels
	}
	seen := make(map[string]bool, len(labels))
	for _, l := range labels {
		seen[l] = true
	}
	taken := make(map[string]bool, len(labels))
	for i, l := range labels {
		if !taken[l] {
			taken[l] = true
			continue
		}
		for n := 2; ; n++ {
			alt := l + " (" + strconv.Itoa(n) + ")"
			if !seen[alt] && !taken[alt] {
				labels[i] = alt
				taken[alt] = true
				break
			}
		}
	}
	return labels
}
