package main

import (
	"context"
	"fmt"
	"io"
	"math"
	"net"
	"net/http"
	"slices"
	"sync"
	"time"
)

// loadSpec describes one load run: conns workers, each on its own
// keep-alive connection, request url back to back for warmup (not measured)
// and then for length.
type loadSpec struct {
	URL            string
	AcceptEncoding string
	Conns          int
	Warmup, Length time.Duration
}

// loadResult is what a load run measured. Requests started within the
// measured window count, whenever they finish; Elapsed runs from the start
// of the window to the end of the last of them.
type loadResult struct {
	Requests  int
	Errors    int
	FirstErr  string
	Bytes     int64
	Elapsed   time.Duration
	Latencies []time.Duration // sorted
}

// rate is requests per second.
func (r loadResult) rate() float64 {
	if r.Elapsed <= 0 {
		return 0
	}
	return float64(r.Requests) / r.Elapsed.Seconds()
}

// p returns the q-th latency percentile.
func (r loadResult) p(q float64) time.Duration { return percentile(r.Latencies, q) }

// percentile returns the q-th percentile (0 < q <= 100) of sorted by the
// nearest-rank method: the smallest value that at least q % of the values
// do not exceed. It returns 0 for no values.
func percentile(sorted []time.Duration, q float64) time.Duration {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	rank := int(math.Ceil(q / 100 * float64(n)))
	return sorted[min(max(rank, 1), n)-1]
}

// requestTimeout bounds every request of the benchmark.
const requestTimeout = 10 * time.Second

// newClient returns a client that keeps up to conns connections alive to
// one host, never decompresses (the Accept-Encoding header is the caller's)
// and never follows redirects.
func newClient(conns int) *http.Client {
	tr := &http.Transport{
		Proxy:                 nil,
		DialContext:           (&net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		MaxIdleConns:          conns,
		MaxIdleConnsPerHost:   conns,
		MaxConnsPerHost:       conns,
		IdleConnTimeout:       90 * time.Second,
		ResponseHeaderTimeout: requestTimeout,
		DisableCompression:    true,
		ReadBufferSize:        64 << 10,
	}
	return &http.Client{
		Transport:     tr,
		Timeout:       requestTimeout,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
}

// runLoad runs one load run; it returns early (with what it measured) when
// ctx ends.
func runLoad(ctx context.Context, s loadSpec) loadResult {
	client := newClient(s.Conns)
	defer client.CloseIdleConnections()
	ctx, cancel := context.WithTimeout(ctx, s.Warmup+s.Length+requestTimeout+5*time.Second)
	defer cancel()

	type worker struct {
		lat      []time.Duration
		errors   int
		firstErr string
		bytes    int64
		lastEnd  time.Time
	}
	workers := make([]worker, s.Conns)
	from := time.Now().Add(s.Warmup)
	end := from.Add(s.Length)
	var wg sync.WaitGroup
	for i := range workers {
		wg.Go(func() {
			w := &workers[i]
			w.lat = make([]time.Duration, 0, 1<<14)
			buf := make([]byte, 64<<10)
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, s.URL, nil)
			if err != nil {
				w.errors, w.firstErr = 1, err.Error()
				return
			}
			req.Header.Set("Accept-Encoding", s.AcceptEncoding)
			for ctx.Err() == nil {
				t0 := time.Now()
				if !t0.Before(end) {
					return
				}
				n, err := fetchOnce(client, req, buf)
				t1 := time.Now()
				if t0.Before(from) {
					continue
				}
				w.lastEnd = t1
				w.lat = append(w.lat, t1.Sub(t0))
				w.bytes += n
				if err != nil {
					if w.errors == 0 {
						w.firstErr = err.Error()
					}
					w.errors++
				}
			}
		})
	}
	wg.Wait()

	var r loadResult
	last := from
	for _, w := range workers {
		r.Latencies = append(r.Latencies, w.lat...)
		r.Errors += w.errors
		r.Bytes += w.bytes
		if r.FirstErr == "" {
			r.FirstErr = w.firstErr
		}
		if w.lastEnd.After(last) {
			last = w.lastEnd
		}
	}
	r.Requests = len(r.Latencies)
	r.Elapsed = last.Sub(from)
	slices.Sort(r.Latencies)
	return r
}

// fetchOnce sends req and reads the whole body into buf (discarding it); a
// transport error or a status other than 200 is an error.
func fetchOnce(client *http.Client, req *http.Request, buf []byte) (int64, error) {
	resp, err := client.Do(req)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	var n int64
	for {
		k, err := resp.Body.Read(buf)
		n += int64(k)
		if err == io.EOF {
			break
		}
		if err != nil {
			return n, err
		}
	}
	if resp.StatusCode != http.StatusOK {
		return n, fmt.Errorf("%s: status %d", req.URL, resp.StatusCode)
	}
	return n, nil
}

// sample is one response exactly as served.
type sample struct {
	Body            []byte
	ContentType     string
	ContentEncoding string
}

// fetchSample fetches url once with the given Accept-Encoding and keeps the
// bytes as they came over the wire.
func fetchSample(ctx context.Context, url, acceptEncoding string) (sample, error) {
	client := newClient(1)
	defer client.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return sample{}, err
	}
	req.Header.Set("Accept-Encoding", acceptEncoding)
	resp, err := client.Do(req)
	if err != nil {
		return sample{}, err
	}
	defer resp.Body.Close()
	body, err := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
	if err != nil {
		return sample{}, err
	}
	if resp.StatusCode != http.StatusOK {
		return sample{}, fmt.Errorf("%s: status %d", url, resp.StatusCode)
	}
	return sample{Body: body, ContentType: resp.Header.Get("Content-Type"), ContentEncoding: resp.Header.Get("Content-Encoding")}, nil
}
