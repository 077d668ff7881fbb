package httpapi

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/labstack/echo/v5"
)

// loadLoop sends total POSTs of body to url from workers keep-alive
// clients and returns the achieved requests per second. Every answer must
// be 200.
func loadLoop(b *testing.B, url string, workers, total int, body func(i int) []byte) float64 {
	b.Helper()
	client := &http.Client{Transport: &http.Transport{MaxIdleConnsPerHost: workers, MaxConnsPerHost: workers}}
	defer client.CloseIdleConnections()
	var next atomic.Int64
	var failed atomic.Int64
	var wg sync.WaitGroup
	start := time.Now()
	for range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1))
				if i > total {
					return
				}
				req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body(i)))
				req.Header.Set("Authorization", basic("", reporterToken))
				req.Header.Set("Content-Type", "application/json; charset=utf-8")
				resp, err := client.Do(req)
				if err != nil {
					failed.Add(1)
					continue
				}
				io.Copy(io.Discard, resp.Body)
				resp.Body.Close()
				if resp.StatusCode != http.StatusOK {
					failed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if n := failed.Load(); n > 0 {
		b.Fatalf("%d of %d requests failed", n, total)
	}
	return float64(total) / time.Since(start).Seconds()
}

func serveOn(b *testing.B, h http.Handler) (string, func()) {
	b.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		b.Fatal(err)
	}
	srv := &http.Server{Handler: h}
	go srv.Serve(ln)
	return "http://" + ln.Addr().String(), func() { srv.Shutdown(context.Background()) }
}

// BenchmarkReporterIngest measures reporter API requests per second on
// loopback (real HTTP, real node actors, 200 replicas of one push node)
// against a bare Echo handler that only answers 200, in the same run, and
// reports the ratio. It ignores b.N: run it with -benchtime 1x.
func BenchmarkReporterIngest(b *testing.B) {
	const workers, total = 16, 60000
	h := newReporterHarness(b, 0)
	go func() {
		for range h.out {
		}
	}()
	reporterURL, stopReporter := serveOn(b, h.h)
	defer stopReporter()

	bare := echo.New()
	bare.POST("/reporter/:probe/:node", func(c *echo.Context) error {
		_, _ = io.Copy(io.Discard, c.Request().Body)
		return c.NoContent(http.StatusOK)
	})
	bareURL, stopBare := serveOn(b, bare)
	defer stopBare()

	body := func(i int) []byte {
		return []byte(fmt.Sprintf(`{"replica":"10.0.%d.%d","interval":30,"load":{"cpu":0.42,"ram":0.31}}`, (i%200)/250, i%200))
	}
	// Warm both up, then measure alternately.
	loadLoop(b, bareURL+"/reporter/relay/socket-client/", workers, 2000, body)
	loadLoop(b, reporterURL+"/reporter/relay/socket-client/", workers, 2000, body)
	b.ResetTimer()
	var bareRate, repRate float64
	for range 2 {
		bareRate += loadLoop(b, bareURL+"/reporter/relay/socket-client/", workers, total/2, body)
		repRate += loadLoop(b, reporterURL+"/reporter/relay/socket-client/", workers, total/2, body)
	}
	b.StopTimer()
	b.ReportMetric(repRate/2, "reporter-req/s")
	b.ReportMetric(bareRate/2, "bare-echo-req/s")
	b.ReportMetric(repRate/bareRate, "ratio")
}
