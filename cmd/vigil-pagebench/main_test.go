package main

import (
	"context"
	"net"
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigil-go/vigil/config"
)

func TestPercentileNearestRank(t *testing.T) {
	ms := func(v ...int) []time.Duration {
		out := make([]time.Duration, len(v))
		for i, x := range v {
			out[i] = time.Duration(x) * time.Millisecond
		}
		return out
	}
	hundred := make([]time.Duration, 100)
	for i := range hundred {
		hundred[i] = time.Duration(i+1) * time.Millisecond
	}
	for _, c := range []struct {
		name   string
		sorted []time.Duration
		q      float64
		want   time.Duration
	}{
		{"empty", nil, 99, 0},
		{"one value", ms(7), 99, 7 * time.Millisecond},
		{"p99 of 1..100", hundred, 99, 99 * time.Millisecond},
		{"p100 of 1..100", hundred, 100, 100 * time.Millisecond},
		{"p50 of 1..100", hundred, 50, 50 * time.Millisecond},
		{"p99 of 10 values is the largest", ms(1, 2, 3, 4, 5, 6, 7, 8, 9, 10), 99, 10 * time.Millisecond},
		{"tiny q is the smallest", ms(3, 4, 5), 0.001, 3 * time.Millisecond},
	} {
		if got := percentile(c.sorted, c.q); got != c.want {
			t.Errorf("%s: percentile(q=%v) = %v, want %v", c.name, c.q, got, c.want)
		}
	}
}

// The generated configurations load with the project's own loader and say
// what the workloads promise.
func TestWorkloadConfigsLoad(t *testing.T) {
	for _, w := range standardWorkloads() {
		t.Run(w.Name, func(t *testing.T) {
			data := w.config(configParams{
				VigilAddr: "127.0.0.1:18080", TargetAddr: "127.0.0.1:18081",
				AssetsDir: t.TempDir() + "/none", PollParallelism: 4,
			})
			cfg := &config.Config{}
			warnings, err := config.Decode(data, nil, cfg)
			if err != nil {
				t.Fatalf("generated configuration does not load: %v", err)
			}
			if len(warnings) > 0 {
				t.Errorf("generated configuration has warnings: %v", warnings)
			}
			if cfg.Server.Inet != "127.0.0.1:18080" {
				t.Errorf("inet = %q", cfg.Server.Inet)
			}
			m := cfg.Metrics
			if m.PollInterval != w.Interval || m.PollParallelism != 4 || m.PollDelaySick != pollDelaySick {
				t.Errorf("metrics = interval %v, parallelism %d, delay sick %v", m.PollInterval, m.PollParallelism, m.PollDelaySick)
			}
			if sickDelay <= m.PollDelaySick || sickDelay >= m.PollDelayDead {
				t.Errorf("sick replicas answer after %v, not between poll_delay_sick %v and poll_delay_dead %v", sickDelay, m.PollDelaySick, m.PollDelayDead)
			}
			replicas, nodes := 0, 0
			kinds := map[replicaKind]int{}
			seen := map[int]bool{}
			for _, svc := range cfg.Probe.Services {
				for _, n := range svc.Nodes {
					nodes++
					if n.Mode != config.ModePoll {
						t.Fatalf("node %s/%s mode %v", svc.ID, n.ID, n.Mode)
					}
					for _, r := range n.Replicas {
						replicas++
						u, err := url.Parse(r.URL)
						if err != nil || r.Kind != config.KindHTTP || u.Host != "127.0.0.1:18081" {
							t.Fatalf("replica %q: kind %v, host %q, %v", r.URL, r.Kind, u.Host, err)
						}
						k, i, ok := parseReplicaPath(u.Path)
						if !ok || i >= w.replicas() || seen[i] {
							t.Fatalf("replica %q: path not a distinct target path", r.URL)
						}
						seen[i] = true
						kinds[k]++
					}
				}
			}
			if nodes != w.nodes() || replicas != w.replicas() {
				t.Errorf("%d nodes, %d replicas; want %d, %d", nodes, replicas, w.nodes(), w.replicas())
			}
			h, s, d := w.counts()
			if kinds[kindHealthy] != h || kinds[kindSick] != s || kinds[kindDead] != d || s == 0 || d == 0 {
				t.Errorf("kinds %v; want healthy %d, sick %d, dead %d (some sick and dead)", kinds, h, s, d)
			}
		})
	}
	if got := standardWorkloads()[0].scheduledRate(); got != 100 {
		t.Errorf("workload A schedules %v probes/s, want 100", got)
	}
	if got := standardWorkloads()[1].scheduledRate(); got < 333 || got > 334 {
		t.Errorf("workload B schedules %v probes/s, want 333", got)
	}
}

func TestParseReplicaPath(t *testing.T) {
	for _, k := range []replicaKind{kindHealthy, kindDead, kindSick} {
		got, i, ok := parseReplicaPath(replicaPath(k, 4711))
		if !ok || got != k || i != 4711 {
			t.Errorf("round trip of %c: %c %d %v", k, got, i, ok)
		}
	}
	for _, bad := range []string{"", "/", "/h/", "/x/1", "/h/-1", "/h/+1", "/h/1/2", "/hh/1", "/_report"} {
		if _, _, ok := parseReplicaPath(bad); ok {
			t.Errorf("parseReplicaPath(%q) accepted", bad)
		}
	}
}

func TestTrackerFindsLateRounds(t *testing.T) {
	const sec = int64(time.Second)
	tr := newTracker(3, 10*time.Second, time.Second)
	// Replica 0 keeps its schedule: first round at 2 s, then every 10 s
	// from 15 s (the first gap is not judged); a retry 0.5 s after a round
	// is not a round.
	for _, at := range []float64{2, 15, 25, 25.5, 26, 35, 45.9} {
		tr.hit(0, int64(at*float64(sec)))
	}
	// Replica 1 is 3 s late for its round due at 35 s (+1 s slack).
	for _, at := range []float64{1, 15, 25, 38} {
		tr.hit(1, int64(at*float64(sec)))
	}
	// Replica 2 only ever had its first round.
	tr.hit(2, 3*sec)

	if rep := tr.report(0, 16*sec, 100*sec); rep.LateReplicas != 0 {
		t.Errorf("window [0, 16 s]: %d late, want 0 (the gap between first and second round is not judged)", rep.LateReplicas)
	}
	rep := tr.report(30*sec, 46*sec, 100*sec)
	if rep.Hits != 12 || rep.Rounds != 10 {
		t.Errorf("hits %d rounds %d, want 12, 10", rep.Hits, rep.Rounds)
	}
	if rep.LateReplicas != 1 || rep.WorstOverdue != 2*sec {
		t.Errorf("window [30 s, 46 s]: %d late, worst %v; want replica 1 only, 2 s", rep.LateReplicas, time.Duration(rep.WorstOverdue))
	}
	if rep := tr.report(40*sec, 46*sec, 100*sec); rep.LateReplicas != 0 {
		t.Errorf("window [40 s, 46 s]: %d late, want 0 (replica 1 was late before it)", rep.LateReplicas)
	}
	if rep := tr.report(37*sec, 46*sec, 100*sec); rep.LateReplicas != 0 {
		t.Errorf("window [37 s, 46 s]: %d late, want 0 (replica 1's late round fell due before it)", rep.LateReplicas)
	}
	// At 48 s replica 1 (last round 38 s) is not yet due; replica 2 is
	// overdue since its second round was due.
	if rep := tr.report(40*sec, 48*sec, 45*sec); rep.LateReplicas != 1 || rep.WorstOverdue != 3*sec {
		t.Errorf("window [40 s, 48 s]: %d late, worst %v; want replica 2, 3 s", rep.LateReplicas, time.Duration(rep.WorstOverdue))
	}
	// At 60 s replica 0 (last round 45.9 s) has become overdue, and replica
	// 1 (due at 49 s) still is.
	if rep := tr.report(50*sec, 60*sec, 100*sec); rep.LateReplicas != 2 || rep.WorstOverdue != 11*sec {
		t.Errorf("window [50 s, 60 s]: %d late, worst %v; want 2 (replicas 0 and 1 overdue), 11 s", rep.LateReplicas, time.Duration(rep.WorstOverdue))
	}
}

func TestSumMetric(t *testing.T) {
	text := []byte(`# HELP vigil_probe_results_total Probe attempts.
# TYPE vigil_probe_results_total counter
vigil_probe_results_total{kind="http",status="dead"} 30
vigil_probe_results_total{kind="http",status="healthy"} 1.5e3
vigil_probe_results_total_other 7
vigil_probe_results_totally{kind="x"} 9
vigil_probe_duration_seconds_count{kind="http"} 1530
`)
	if got, ok := sumMetric(text, "vigil_probe_results_total"); !ok || got != 1530 {
		t.Errorf("sum = %v, %v; want 1530, true", got, ok)
	}
	if _, ok := sumMetric(text, "vigil_late_total"); ok {
		t.Error("absent metric reported present")
	}
	if got, ok := sumMetric([]byte("plain 4\n"), "plain"); !ok || got != 4 {
		t.Errorf("unlabelled sum = %v, %v", got, ok)
	}
}

func TestVerdict(t *testing.T) {
	lat := func(d time.Duration) []time.Duration { return []time.Duration{d} }
	files := loadResult{Requests: 1000, Elapsed: time.Second, Latencies: lat(2 * time.Millisecond)}
	good := row{Vigil: loadResult{Requests: 800, Elapsed: time.Second, Latencies: lat(3 * time.Millisecond)}, Files: files}
	if v := good.verdict(); v != "PASS" {
		t.Errorf("0.8× rate and 1.5× p99: %s", v)
	}
	slow := good
	slow.Vigil = loadResult{Requests: 799, Elapsed: time.Second, Latencies: lat(3*time.Millisecond + 1)}
	slow.VigilProbing.LateReplicas = 1
	if v := slow.verdict(); v != "FAIL (req/s, p99, late)" {
		t.Errorf("slow row: %s", v)
	}
}

// runLoad sends the Accept-Encoding asked for, does not decode, keeps its
// connections alive and counts failures.
func TestRunLoadOnLoopback(t *testing.T) {
	var conns, badEncoding atomic.Int64
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Accept-Encoding") != "gzip" {
			badEncoding.Add(1)
		}
		w.Header().Set("Content-Encoding", "gzip")
		if r.URL.Path == "/fail" {
			w.WriteHeader(http.StatusServiceUnavailable)
		}
		w.Write([]byte("not really gzip"))
	}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.Start()
	defer srv.Close()

	r := runLoad(context.Background(), loadSpec{URL: srv.URL + "/", AcceptEncoding: "gzip", Conns: 2, Warmup: 20 * time.Millisecond, Length: 100 * time.Millisecond})
	if r.Requests == 0 || r.Errors != 0 || r.Bytes != int64(r.Requests*len("not really gzip")) {
		t.Fatalf("%d requests, %d errors (%s), %d bytes", r.Requests, r.Errors, r.FirstErr, r.Bytes)
	}
	if badEncoding.Load() != 0 || conns.Load() > 2 {
		t.Errorf("%d requests without the asked encoding, %d connections for 2 workers", badEncoding.Load(), conns.Load())
	}
	if r.rate() <= 0 || r.p(99) <= 0 || r.Elapsed < 100*time.Millisecond {
		t.Errorf("rate %v, p99 %v, elapsed %v", r.rate(), r.p(99), r.Elapsed)
	}

	s, err := fetchSample(context.Background(), srv.URL+"/", "gzip")
	if err != nil || string(s.Body) != "not really gzip" || s.ContentEncoding != "gzip" {
		t.Errorf("sample %q (%q), %v", s.Body, s.ContentEncoding, err)
	}

	r = runLoad(context.Background(), loadSpec{URL: srv.URL + "/fail", AcceptEncoding: "gzip", Conns: 1, Length: 50 * time.Millisecond})
	if r.Errors == 0 || r.Errors != r.Requests || !strings.Contains(r.FirstErr, "503") {
		t.Errorf("failing path: %d requests, %d errors, %q", r.Requests, r.Errors, r.FirstErr)
	}
}
