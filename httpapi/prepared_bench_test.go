package httpapi

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigil-go/vigil/config"
	"github.com/vigil-go/vigil/messages"
)

// largeSnapshot is a configuration of nodes nodes (20 per service) with
// perNode replicas each, a few of them sick or dead, as probes leave it.
func largeSnapshot(nodes, perNode int) *messages.Snapshot {
	snap := &messages.Snapshot{Generation: 1, Status: messages.Sick, Refreshed: time.Date(2025, 7, 4, 8, 58, 28, 0, time.UTC)}
	for n := 0; n < nodes; n++ {
		if n%20 == 0 {
			snap.Probes = append(snap.Probes, messages.ProbeSnapshot{ID: fmt.Sprintf("service-%d", n/20),
				Label: fmt.Sprintf("Service %d", n/20), Status: messages.Healthy})
		}
		p := &snap.Probes[len(snap.Probes)-1]
		node := &messages.NodeSnapshot{ID: fmt.Sprintf("node-%d", n), Label: fmt.Sprintf("Node %d", n), Mode: "poll",
			Status: messages.Healthy, RevealReplicaName: n%2 == 0}
		for r := 0; r < perNode; r++ {
			rep := messages.ReplicaSnapshot{ID: fmt.Sprintf("https://node-%d-%d.example.net/health", n, r),
				Status: messages.Healthy, HasLatency: true, Latency: time.Duration(20+(n*7+r)%300) * time.Millisecond,
				Updated: snap.Refreshed}
			if (n*perNode+r)%97 == 0 {
				rep.Status, rep.Err = messages.Sick, "HTTP response took 1870ms (sick above 1500ms)"
			}
			if (n*perNode+r)%331 == 0 {
				rep.Status, rep.Err = messages.Dead, "connection refused"
			}
			node.Status = messages.Worst(node.Status, rep.Status)
			node.Replicas = append(node.Replicas, rep)
		}
		p.Status = messages.Worst(p.Status, node.Status)
		p.Nodes = append(p.Nodes, node)
	}
	return snap
}

// flipped is snap with one more replica dead (a new report and page).
func flipped(snap *messages.Snapshot) *messages.Snapshot {
	next := *snap
	next.Probes = slices.Clone(snap.Probes)
	p := &next.Probes[0]
	p.Nodes = slices.Clone(p.Nodes)
	node := *p.Nodes[1]
	node.Replicas = slices.Clone(node.Replicas)
	node.Replicas[0].Status, node.Replicas[0].Err = messages.Dead, "connection refused"
	node.Status = messages.Dead
	p.Nodes[1] = &node
	return &next
}

func benchServer(tb testing.TB, snaps Snapshots) *Server {
	tb.Helper()
	b := config.Branding{PageTitle: "Acme Status", PageURL: "https://status.example.com/", CompanyName: "Acme Inc.",
		SupportURL: "mailto:support@example.com", LogoColor: "#1972F5"}
	return New(Options{Addr: "127.0.0.1:0", Snapshots: snaps, Branding: b, Version: "1.0.0",
		Page: Page{Title: b.PageTitle, URL: b.PageURL}, Logger: slog.New(slog.DiscardHandler)})
}

// BenchmarkRenderAll measures one full rendering: every prepared view of
// a changed snapshot, rendered and compressed (brotli and gzip), as the
// renderer does at most once per RenderEvery.
func BenchmarkRenderAll(b *testing.B) {
	for _, size := range []struct {
		name           string
		nodes, perNode int
		// history adds a recorded history, the same in both snapshots (it
		// changes at most once a minute, the statuses every second).
		history bool
	}{{"nodes=1000", 1000, 1, false}, {"nodes=1000,history", 1000, 1, true}, {"replicas=10000", 1000, 10, false}} {
		b.Run(size.name, func(b *testing.B) {
			base := largeSnapshot(size.nodes, size.perNode)
			alt := flipped(base)
			if size.history {
				base.History = historyFor(base, time.Now())
				alt.History = base.History
			}
			s := benchServer(b, fixedSnapshots{base})
			r := s.views
			now := time.Now().UTC()
			page := r.index("page")
			b.ReportAllocs()
			gen := uint64(1)
			for b.Loop() {
				// Alternate between two snapshots so that every view
				// changes (the page also carries the generation).
				snap := *base
				if gen%2 == 0 {
					snap = *alt
				}
				gen++
				snap.Generation = gen
				r.render(r.site(), &snap, now)
			}
			p := r.current.Load().views[page]
			for _, v := range p.variants {
				name := v.coding
				if name == "" {
					name = "identity"
				}
				b.ReportMetric(float64(len(v.body)), "page-"+name+"-bytes")
			}
		})
	}
}

// loadGet sends total GETs of url with accept-encoding from workers
// keep-alive clients; it returns requests per second and the 99th
// percentile latency. Every answer must be 200.
func loadGet(tb testing.TB, url, encoding string, workers, total int) (float64, time.Duration) {
	tb.Helper()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: workers, MaxConnsPerHost: workers,
		DisableCompression: true}}
	defer client.CloseIdleConnections()
	var next, failed atomic.Int64
	lat := make([]time.Duration, total)
	var wg sync.WaitGroup
	start := time.Now()
	for range workers {
		wg.Go(func() {
			for {
				i := int(next.Add(1))
				if i > total {
					return
				}
				req, _ := http.NewRequest(http.MethodGet, url, nil)
				if encoding != "" {
					req.Header.Set("Accept-Encoding", encoding)
				}
				t0 := time.Now()
				resp, err := client.Do(req)
				if err != nil {
					failed.Add(1)
					continue
				}
				_, _ = io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				lat[i-1] = time.Since(t0)
				if resp.StatusCode != http.StatusOK {
					failed.Add(1)
				}
			}
		})
	}
	wg.Wait()
	elapsed := time.Since(start)
	if n := failed.Load(); n > 0 {
		tb.Fatalf("%d of %d requests failed", n, total)
	}
	slices.Sort(lat)
	return float64(total) / elapsed.Seconds(), lat[total*99/100]
}

// listen serves h on a loopback port with the server's connection limits.
func listen(tb testing.TB, h http.Handler) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	hs := &http.Server{Handler: h}
	limit(hs)
	go func() { _ = hs.Serve(ln) }()
	tb.Cleanup(func() { _ = hs.Shutdown(context.Background()) })
	return "http://" + ln.Addr().String()
}

// BenchmarkServePrepared measures GET / of the 1,000-node page over
// loopback HTTP (32 keep-alive clients) while the snapshot changes 10 times
// a second, identity and brotli, against net/http's file server sending
// the same identity bytes from disk in the same run; and GET
// /status/report (identity). It ignores b.N: run it with -benchtime 1x.
func BenchmarkServePrepared(b *testing.B) {
	const workers, total = 32, 6000
	base := largeSnapshot(1000, 1)
	holder := newSwapSnapshots(base)
	s := benchServer(b, holder)
	url := listen(b, s.Handler()) + "/"
	// The probes' pace: a new snapshot every 100 ms.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() {
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for gen := uint64(2); ; gen++ {
			select {
			case <-ctx.Done():
				return
			case <-tick.C:
				next := *base
				next.Generation = gen
				holder.p.Store(&next)
			}
		}
	}()
	cur, err := s.views.ready(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	dir := b.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "index.html"), cur.views[s.views.index("page")].variants[0].body, 0o644); err != nil {
		b.Fatal(err)
	}
	fileURL := listen(b, http.FileServer(http.Dir(dir))) + "/"

	loadGet(b, url, "", workers, 1000)
	loadGet(b, fileURL, "", workers, 1000)
	b.ResetTimer()
	rate, p99 := loadGet(b, url, "", workers, total)
	brRate, brP99 := loadGet(b, url, "gzip, deflate, br, zstd", workers, total)
	fileRate, fileP99 := loadGet(b, fileURL, "", workers, total)
	reportRate, reportP99 := loadGet(b, strings.TrimSuffix(url, "/")+"/status/report", "", workers, total)
	b.StopTimer()
	b.ReportMetric(rate, "identity-req/s")
	b.ReportMetric(float64(p99.Microseconds())/1000, "identity-p99-ms")
	b.ReportMetric(brRate, "br-req/s")
	b.ReportMetric(float64(brP99.Microseconds())/1000, "br-p99-ms")
	b.ReportMetric(fileRate, "fileserver-req/s")
	b.ReportMetric(float64(fileP99.Microseconds())/1000, "fileserver-p99-ms")
	b.ReportMetric(reportRate, "report-req/s")
	b.ReportMetric(float64(reportP99.Microseconds())/1000, "report-p99-ms")
	b.ReportMetric(float64(s.views.renders.Load()), "renderings")
}

// discardWriter is a ResponseWriter that keeps nothing but the status, and
// reuses its header map, so that a benchmark counts the handler's own
// allocations.
type discardWriter struct {
	h    http.Header
	code int
	n    int
}

func (w *discardWriter) Header() http.Header         { return w.h }
func (w *discardWriter) WriteHeader(code int)        { w.code = code }
func (w *discardWriter) Write(b []byte) (int, error) { w.n += len(b); return len(b), nil }

// BenchmarkPreparedRequest measures the server's own cost of answering one
// request for a prepared view (10,000 replicas), without the network: the
// handler from routing to the last byte, allocations included.
func BenchmarkPreparedRequest(b *testing.B) {
	s := benchServer(b, fixedSnapshots{largeSnapshot(1000, 10)})
	h := s.Handler()
	for _, tc := range []struct{ name, path, encoding, inm string }{
		{"report-gzip", "/status/report", "gzip, deflate, br, zstd", ""},
		{"report-identity", "/status/report", "", ""},
		{"page-gzip", "/", "gzip", ""},
		{"text", "/status/text/", "gzip, deflate, br", ""},
		{"badge", "/badge/color", "", ""},
		{"report-304", "/status/report", "gzip, deflate, br, zstd", "*"},
	} {
		b.Run(tc.name, func(b *testing.B) {
			r := httptest.NewRequest(http.MethodGet, tc.path, nil)
			if tc.encoding != "" {
				r.Header.Set("Accept-Encoding", tc.encoding)
			}
			if tc.inm != "" {
				r.Header.Set("If-None-Match", tc.inm)
			}
			w := &discardWriter{h: http.Header{}}
			h.ServeHTTP(w, r) // the first request waits for the first rendering
			if w.code != http.StatusOK && w.code != http.StatusNotModified {
				b.Fatalf("%s: %d", tc.path, w.code)
			}
			b.ReportAllocs()
			for b.Loop() {
				clear(w.h)
				r.URL.Path, r.URL.RawPath = tc.path, ""
				h.ServeHTTP(w, r)
			}
		})
	}
}
