package agent

import (
	"context"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/vigil-go/vigil/actors/replica"
	"github.com/vigil-go/vigil/messages"
)

// Instruments is the agent's Prometheus registry and instruments, served at
// /metrics when [server] inet is set. Nothing here is global: NewInstruments
// builds a fresh registry.
type Instruments struct {
	Registry *prometheus.Registry
	// Attempts counts report requests by outcome: the HTTP status code
	// ("200", "403", …) or, without an answer, refused, tls, timeout, dns
	// or error.
	Attempts *prometheus.CounterVec
	// Reports counts probe results by what became of them: sent (the
	// server took it), failed (refused, or every attempt failed) and
	// superseded (a newer result of the same replica replaced it before it
	// was sent).
	Reports *prometheus.CounterVec
	// LastSent is the Unix time of the last report the server took.
	LastSent prometheus.Gauge
	// ProbeDuration and ProbeResults observe every probe attempt by kind
	// (http, tcp, ssh, icmp, script).
	ProbeDuration *prometheus.HistogramVec
	ProbeResults  *prometheus.CounterVec
	// ConfigReloads counts reload attempts by result (success, failure).
	ConfigReloads *prometheus.CounterVec
}

// NewInstruments builds the registry with the Go runtime and process
// collectors.
func NewInstruments() *Instruments {
	m := &Instruments{
		Registry: prometheus.NewRegistry(),
		Attempts: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_local_report_attempts_total",
			Help: "Report requests to the status page by outcome: HTTP status code, or refused, tls, timeout, dns, error.",
		}, []string{"code"}),
		Reports: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_local_reports_total",
			Help: "Probe results by what became of their report: sent, failed, superseded.",
		}, []string{"result"}),
		LastSent: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "vigil_local_last_report_sent_timestamp_seconds",
			Help: "Unix time of the last report the status page accepted.",
		}),
		ProbeDuration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "vigil_local_probe_duration_seconds",
			Help:    "Duration of probe attempts by kind.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10, 30},
		}, []string{"kind"}),
		ProbeResults: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_local_probe_results_total",
			Help: "Probe attempts by kind and resulting status (healthy, sick, dead).",
		}, []string{"kind", "status"}),
		ConfigReloads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "vigil_local_config_reloads_total",
			Help: "Configuration reload attempts by result (success, failure).",
		}, []string{"result"}),
	}
	m.Registry.MustRegister(
		collectors.NewGoCollector(),
		collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}),
		m.Attempts, m.Reports, m.LastSent, m.ProbeDuration, m.ProbeResults, m.ConfigReloads,
	)
	for _, r := range []string{"sent", "failed", "superseded"} {
		m.Reports.WithLabelValues(r)
	}
	for _, r := range []string{"success", "failure"} {
		m.ConfigReloads.WithLabelValues(r)
	}
	return m
}

// instrumented records every attempt of a prober in the metrics.
type instrumented struct {
	kind    string
	prober  replica.Prober
	metrics *Instruments
}

func (i instrumented) Probe(ctx context.Context) messages.ProbeResult {
	r := i.prober.Probe(ctx)
	i.metrics.ProbeDuration.WithLabelValues(i.kind).Observe(r.Latency.Seconds())
	i.metrics.ProbeResults.WithLabelValues(i.kind, r.Status.String()).Inc()
	return r
}
