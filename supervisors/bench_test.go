package supervisors

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"runtime/debug"
	"runtime/pprof"
	"strconv"
	"strings"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/jackc/pgx/v5"

	"github.com/vigil-go/vigil/config"
	"github.com/vigil-go/vigil/storage"
	"github.com/vigil-go/vigil/storage/pgtest"
)

// TestBenchTarget is not a test: BenchmarkPollTenThousandReplicas re-runs
// the test binary with VIGIL_BENCH_TARGET set so the loopback HTTP target
// lives in its own process and its CPU is not charged to the prober.
func TestBenchTarget(t *testing.T) {
	if os.Getenv("VIGIL_BENCH_TARGET") == "" {
		t.Skip("helper process for BenchmarkPollTenThousandReplicas")
	}
	var hits atomic.Int64
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	fmt.Println("ADDR", ln.Addr().String())
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/count" {
			fmt.Fprint(w, hits.Load())
			return
		}
		hits.Add(1)
	})}
	go srv.Serve(ln)
	// Exit when the parent closes our stdin.
	io.Copy(io.Discard, os.Stdin)
	srv.Close()
}

func rssBytes() int64 {
	f, err := os.Open("/proc/self/status")
	if err != nil {
		return 0
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		if v, ok := strings.CutPrefix(sc.Text(), "VmRSS:"); ok {
			kb, _ := strconv.ParseInt(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(v), "kB")), 10, 64)
			return kb * 1024
		}
	}
	return 0
}

// backendsCPU returns a function that sums the CPU time of the PostgreSQL
// backends connected to dsn's database (read from /proc: the server runs
// on this machine in the benchmark's setting), those of the moment it is
// called: the store's and the cluster's pools keep theirs open.
func backendsCPU(b *testing.B, dsn string) func() time.Duration {
	return func() time.Duration {
		ctx := context.Background()
		conn, err := pgx.Connect(ctx, dsn)
		if err != nil {
			b.Fatal(err)
		}
		defer conn.Close(ctx)
		rows, _ := conn.Query(ctx, "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()")
		pids, err := pgx.CollectRows(rows, pgx.RowTo[int32])
		if err != nil {
			b.Fatal(err)
		}
		var total time.Duration
		for _, pid := range pids {
			data, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
			if err != nil {
				continue
			}
			// Fields after the command (in parentheses): utime and stime
			// are the 12th and 13th, in clock ticks (100 per second).
			f := strings.Fields(string(data[strings.LastIndexByte(string(data), ')')+1:]))
			if len(f) > 12 {
				u, _ := strconv.ParseInt(f[11], 10, 64)
				s, _ := strconv.ParseInt(f[12], 10, 64)
				total += time.Duration(u+s) * 10 * time.Millisecond
			}
		}
		return total
	}
}

func cpuTime() time.Duration {
	var ru syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkPollTenThousandReplicas runs the real supervisor tree with 10,000
// HTTP poll replicas (100 services x 10 nodes x 10 replicas) probing a
// loopback target every 30 s, and reports the achieved probe rate, CPU per
// 1,000 probes, RSS per replica and how many replicas missed their schedule.
// It ignores b.N: run it with -benchtime 1x. It keeps no state; the
// variants below store it (Bolt) or lead a cluster on PostgreSQL.
func BenchmarkPollTenThousandReplicas(b *testing.B) { benchPoll(b, storeNone) }

// BenchmarkPollTenThousandReplicasBolt is the same with the embedded store.
func BenchmarkPollTenThousandReplicasBolt(b *testing.B) { benchPoll(b, storeBolt) }

// BenchmarkPollTenThousandReplicasPostgres is the same as the leader of a
// cluster on PostgreSQL (BuildCluster: fenced writes, notifications to the
// other instances); it also reports the CPU of the database's backends
// serving it (db-cpu-s/1k-probes), which the process's own figure leaves
// out.
func BenchmarkPollTenThousandReplicasPostgres(b *testing.B) { benchPoll(b, storePostgres) }

type benchStore int

const (
	storeNone benchStore = iota
	storeBolt
	storePostgres
)

func benchPoll(b *testing.B, store benchStore) {
	const (
		services, nodes, perNode = 100, 10, 10
		total                    = services * nodes * perNode
		interval                 = 30 * time.Second
	)
	window := 60 * time.Second
	if w, err := time.ParseDuration(os.Getenv("VIGIL_BENCH_WINDOW")); err == nil {
		window = w // shorter runs while investigating
	}
	target := exec.Command(os.Args[0], "-test.run=^TestBenchTarget$", "-test.v")
	target.Env = append(os.Environ(), "VIGIL_BENCH_TARGET=1")
	stdin, _ := target.StdinPipe()
	stdout, _ := target.StdoutPipe()
	if err := target.Start(); err != nil {
		b.Fatal(err)
	}
	defer func() { stdin.Close(); target.Wait() }()
	var addr string
	sc := bufio.NewScanner(stdout)
	for sc.Scan() {
		if a, ok := strings.CutPrefix(sc.Text(), "ADDR "); ok {
			addr = a
			break
		}
	}
	go io.Copy(io.Discard, stdout)
	if addr == "" {
		b.Fatal("target did not start")
	}
	count := func() int64 {
		resp, err := http.Get("http://" + addr + "/count")
		if err != nil {
			b.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		n, _ := strconv.ParseInt(string(body), 10, 64)
		return n
	}

	cfg := &config.Config{
		Server:   config.Server{Inet: "127.0.0.1:0"},
		Branding: config.Branding{PageTitle: "bench", PageURL: "http://bench.test/"},
		Metrics: config.Metrics{
			PollInterval: interval, PollRetry: 2, PollRetryWait: 500 * time.Millisecond,
			PollHTTPStatusHealthyAbove: 200, PollHTTPStatusHealthyBelow: 400,
			PollDelayDead: 10 * time.Second, PollDelaySick: 5 * time.Second,
			PollParallelism: 4, ScriptParallelism: 1, ScriptInterval: time.Minute,
		},
	}
	for s := range services {
		svc := config.Service{ID: fmt.Sprintf("svc%d", s), Label: fmt.Sprintf("Service %d", s)}
		for n := range nodes {
			node := config.Node{ID: fmt.Sprintf("node%d", n), Label: "Node", Mode: config.ModePoll}
			for r := range perNode {
				u := fmt.Sprintf("http://%s/health?s=%d&n=%d&r=%d", addr, s, n, r)
				node.Replicas = append(node.Replicas, config.Replica{ID: u, Kind: config.KindHTTP, URL: u})
			}
			svc.Nodes = append(svc.Nodes, node)
		}
		cfg.Probe.Services = append(cfg.Probe.Services, svc)
	}

	// Measure with the command's runtime settings.
	if os.Getenv("GOGC") == "" {
		defer debug.SetGCPercent(debug.SetGCPercent(DefaultGCPercent))
	}
	if os.Getenv("VIGIL_BENCH_HEAPPROFILE") != "" {
		runtime.MemProfileRate = 1
	}
	runtime.GC()
	debug.FreeOSMemory()
	rss0 := rssBytes()
	deps := Deps{Logger: slog.New(slog.DiscardHandler), DisableWeb: true}
	build := Build
	var dbCPU func() time.Duration
	switch store {
	case storeBolt:
		st, err := storage.Open(filepath.Join(b.TempDir(), "state.db"), deps.Logger)
		if err != nil {
			b.Fatal(err)
		}
		defer st.Close()
		deps.Store = st
	case storePostgres:
		cfg.Storage.DSN = pgtest.New(b)
		cfg.Storage.LeaseTTL, cfg.Storage.LeaseRenew = 10*time.Second, 2*time.Second
		build = BuildCluster
		dbCPU = backendsCPU(b, cfg.Storage.DSN)
	}
	tree, err := build(cfg, deps)
	if err != nil {
		b.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- tree.Serve(ctx) }()
	if store == storePostgres {
		for deadline := time.Now().Add(30 * time.Second); tree.cluster.leading() == nil; time.Sleep(10 * time.Millisecond) {
			if time.Now().After(deadline) {
				b.Fatal("the instance does not lead")
			}
		}
	}

	// Warm up: first round plus the start of the steady schedule.
	warmup := interval + 5*time.Second
	if window < time.Minute {
		warmup = 15 * time.Second
	}
	time.Sleep(warmup)
	b.ResetTimer()
	var db0, db1 time.Duration
	if dbCPU != nil {
		db0 = dbCPU()
	}
	hits0, cpu0, t0 := count(), cpuTime(), time.Now()
	time.Sleep(window)
	hits1, cpu1, t1 := count(), cpuTime(), time.Now()
	if dbCPU != nil {
		db1 = dbCPU()
	}
	b.StopTimer()
	runtime.GC()
	rss1 := rssBytes()
	debug.FreeOSMemory()
	rss1Scavenged := rssBytes()
	var ms runtime.MemStats
	runtime.ReadMemStats(&ms)

	if path := os.Getenv("VIGIL_BENCH_HEAPPROFILE"); path != "" {
		if f, err := os.Create(path); err == nil {
			pprof.Lookup("heap").WriteTo(f, 0)
			f.Close()
		}
	}
	snap := tree.Published.Latest()
	late, seen := 0, 0
	for _, p := range snap.Probes {
		for _, n := range p.Nodes {
			for _, r := range n.Replicas {
				seen++
				if r.Updated.IsZero() || t1.Sub(r.Updated) > interval+2*time.Second {
					late++
				}
			}
		}
	}
	cancel()
	<-done

	probes := float64(hits1 - hits0)
	secs := t1.Sub(t0).Seconds()
	b.ReportMetric(probes/secs, "probes/s")
	b.ReportMetric(float64(total)/interval.Seconds(), "target-probes/s")
	b.ReportMetric((cpu1-cpu0).Seconds()/probes*1000, "cpu-s/1k-probes")
	if dbCPU != nil {
		b.ReportMetric((db1-db0).Seconds()/probes*1000, "db-cpu-s/1k-probes")
	}
	b.ReportMetric(float64(rss1-rss0)/float64(total)/1024, "RSS-KiB/replica")
	b.ReportMetric(float64(rss1Scavenged-rss0)/float64(total)/1024, "RSS-after-scavenge-KiB/replica")
	b.ReportMetric(float64(late), "late-replicas")
	b.ReportMetric(float64(ms.StackInuse)/float64(total)/1024, "stack-KiB/replica")
	b.ReportMetric(float64(ms.HeapInuse)/float64(total)/1024, "heap-KiB/replica")
	b.ReportMetric(float64(runtime.NumGoroutine())/float64(total), "goroutines/replica")
	if seen != total {
		b.Fatalf("snapshot has %d replicas, want %d", seen, total)
	}
}
