package main

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// row is one measured path and encoding of one workload.
type row struct {
	Workload, Path, Encoding string
	Served                   sample // the bytes both servers sent
	Vigil, Files             loadResult
	// Probing while the server was loaded, and (for comparison: the same
	// machine, the server idle) while the file server was.
	VigilProbing, FilesProbing probing
}

// probing is how probing went during a window.
type probing struct {
	Rounds       float64 // probe rounds per second seen by the target
	LateReplicas int     // replicas with a round late within the window
	WorstOverdue time.Duration
}

// workloadResult is everything measured for one workload.
type workloadResult struct {
	W    workload
	Rows []row
	// Over the whole loaded span (server and file server runs).
	Span     time.Duration
	Probing  probing
	Attempts float64 // probe attempts per second counted by the server; negative: unknown
	Notes    []string
}

// runWorkload starts the probe target and the server on a generated
// configuration, measures every path and encoding, and stops everything.
func runWorkload(ctx context.Context, o options, w workload, progress io.Writer) (res workloadResult, err error) {
	res.W = w
	logf := func(format string, args ...any) {
		fmt.Fprintf(progress, "[%s %s] %s\n", time.Now().Format("15:04:05"), w.Name, fmt.Sprintf(format, args...))
	}
	dir, err := os.MkdirTemp("", "vigil-pagebench-"+w.Name+"-")
	if err != nil {
		return res, err
	}
	if o.Keep {
		logf("keeping %s", dir)
	} else {
		defer os.RemoveAll(dir)
	}
	confDir, dataDir := filepath.Join(dir, "conf"), filepath.Join(dir, "data")
	for _, d := range []string{confDir, dataDir} {
		if err := os.Mkdir(d, 0o755); err != nil {
			return res, err
		}
	}

	target, err := startHelper(ctx, roleTarget,
		"-replicas", strconv.Itoa(w.replicas()), "-interval", w.Interval.String(), "-slack", o.Slack.String())
	if err != nil {
		return res, err
	}
	defer target.stop()
	vigilAddr, err := freeLoopbackAddr()
	if err != nil {
		return res, err
	}
	cfgPath := filepath.Join(confDir, "config.cfg")
	cfg := w.config(configParams{
		VigilAddr: vigilAddr, TargetAddr: target.addr,
		AssetsDir: filepath.Join(dir, "no-assets"), PollParallelism: o.PollParallelism,
	})
	if err := os.WriteFile(cfgPath, cfg, 0o644); err != nil {
		return res, err
	}
	if out, err := exec.CommandContext(ctx, o.Vigil, "check", "-c", cfgPath).CombinedOutput(); err != nil {
		return res, fmt.Errorf("vigil check: %v\n%s", err, out)
	}
	h, s, d := w.counts()
	logf("%d replicas (%d healthy, %d sick, %d dead) on %d nodes, poll_interval %s: %.0f probes/s scheduled",
		w.replicas(), h, s, d, w.nodes(), w.Interval, w.scheduledRate())

	v, err := startVigil(o.Vigil, cfgPath, dataDir, filepath.Join(dir, "vigil.log"))
	if err != nil {
		return res, err
	}
	defer v.stop()
	base := "http://" + vigilAddr
	// A replica's second round is due at most two intervals after the
	// server starts its actors; allow 5 s for the server to get there.
	secondRoundBy := v.started.Add(2*w.Interval + o.Slack + 5*time.Second).UnixNano()
	report := func(from time.Time) (trackReport, error) {
		var rep trackReport
		err := getJSON(ctx, fmt.Sprintf("http://%s/_report?from=%d&second_round_by=%d", target.addr, from.UnixNano(), secondRoundBy), &rep)
		return rep, err
	}
	// during runs load and accounts for the probing meanwhile.
	during := func(load func() error) (probing, error) {
		from := time.Now()
		before, err := report(from)
		if err != nil {
			return probing{}, err
		}
		if err := load(); err != nil {
			return probing{}, err
		}
		after, err := report(from)
		if err != nil {
			return probing{}, err
		}
		return probing{
			Rounds:       float64(after.Rounds-before.Rounds) / time.Since(from).Seconds(),
			LateReplicas: after.LateReplicas, WorstOverdue: time.Duration(after.WorstOverdue),
		}, nil
	}

	ready, incident, err := waitReady(ctx, v, base)
	if err != nil {
		return res, err
	}
	logf("ready after %s, page shows the outage after %s", ready.Round(time.Millisecond), incident.Round(time.Millisecond))
	if incident == 0 {
		res.Notes = append(res.Notes, "the page did not show the outage within the wait")
	}

	// The first round of every replica is squeezed into the first 10 s and
	// the second one follows on the steady schedule (interval apart, evenly
	// spread) by one interval later. The target judges lateness from the
	// second round on, so the measurement starts once every replica has
	// had it.
	if wait := time.Until(v.started.Add(max(w.Interval, firstRoundWithin) + w.Interval + 2*time.Second)); wait > 0 {
		logf("waiting %s for the steady probe schedule", wait.Round(time.Second))
		if err := sleepCtx(ctx, wait); err != nil {
			return res, err
		}
	}

	var attempts0 float64
	attemptsKnown := false
	res.Probing, err = during(func() error {
		spanStart := time.Now()
		attempts0, attemptsKnown = probeAttempts(ctx, base)
		for _, path := range o.Paths {
			for _, enc := range o.Encodings {
				r := row{Workload: w.Name, Path: path, Encoding: enc}
				var err error
				r.VigilProbing, err = during(func() error {
					logf("loading %s (%s) on the server", path, enc)
					r.Vigil = runLoad(ctx, loadSpec{URL: base + path, AcceptEncoding: enc, Conns: o.Conns, Warmup: o.Warmup, Length: o.Duration})
					return nil
				})
				if err != nil {
					return err
				}
				if r.Served, err = fetchSample(ctx, base+path, enc); err != nil {
					return err
				}
				r.FilesProbing, err = during(func() error {
					logf("loading %s (%s) on the file server (%d bytes)", path, enc, len(r.Served.Body))
					r.Files, err = loadFileServer(ctx, o, dir, r.Served, path, enc)
					return err
				})
				if err != nil {
					return err
				}
				res.Rows = append(res.Rows, r)
				if v.exited() {
					return fmt.Errorf("the server exited during the run:\n%s", v.logTail())
				}
			}
		}
		res.Span = time.Since(spanStart)
		return nil
	})
	if err != nil {
		return res, err
	}
	res.Attempts = -1
	if a1, ok := probeAttempts(ctx, base); ok && attemptsKnown {
		res.Attempts = (a1 - attempts0) / res.Span.Seconds()
	}
	return res, nil
}

// firstRoundWithin is how soon after start the server probes every replica
// once (the README: "the first round of every replica runs within 10
// seconds of start").
const firstRoundWithin = 10 * time.Second

// sleepCtx sleeps for d or until ctx ends.
func sleepCtx(ctx context.Context, d time.Duration) error {
	timer := time.NewTimer(d)
	defer timer.Stop()
	select {
	case <-timer.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// loadFileServer serves s from a file server helper and loads it like the
// server.
func loadFileServer(ctx context.Context, o options, dir string, s sample, path, enc string) (loadResult, error) {
	bodyPath := filepath.Join(dir, "served.body")
	if err := os.WriteFile(bodyPath, s.Body, 0o644); err != nil {
		return loadResult{}, err
	}
	files, err := startHelper(ctx, roleFiles, "-body", bodyPath, "-content-type", s.ContentType, "-content-encoding", s.ContentEncoding)
	if err != nil {
		return loadResult{}, err
	}
	defer files.stop()
	return runLoad(ctx, loadSpec{URL: "http://" + files.addr + path, AcceptEncoding: enc, Conns: o.Conns, Warmup: o.Warmup, Length: o.Duration}), nil
}

// Bounds of the start-up wait.
const (
	readyWithin    = 90 * time.Second
	incidentWithin = 60 * time.Second
)

// waitReady waits for /readyz to answer 200 and / to be rendered, then (at
// most incidentWithin more) for /status/report to show the dead nodes. It
// returns how long after the server's start each happened (incident 0: not
// seen).
func waitReady(ctx context.Context, v *vigilProcess, base string) (ready, incident time.Duration, err error) {
	client := newClient(1)
	defer client.CloseIdleConnections()
	get := func(path string) (int, []byte) {
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+path, nil)
		if err != nil {
			return 0, nil
		}
		resp, err := client.Do(req)
		if err != nil {
			return 0, nil
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<20))
		return resp.StatusCode, body
	}
	poll := func(within time.Duration, done func() bool) bool {
		deadline := time.Now().Add(within)
		tick := time.NewTicker(100 * time.Millisecond)
		defer tick.Stop()
		for !done() {
			if v.exited() || time.Now().After(deadline) {
				return false
			}
			select {
			case <-ctx.Done():
				return false
			case <-tick.C:
			}
		}
		return true
	}
	ok := poll(readyWithin, func() bool {
		if code, _ := get("/readyz"); code != http.StatusOK {
			return false
		}
		code, body := get("/")
		return code == http.StatusOK && len(body) > 0
	})
	switch {
	case ctx.Err() != nil:
		return 0, 0, ctx.Err()
	case v.exited():
		return 0, 0, fmt.Errorf("the server exited while starting:\n%s", v.logTail())
	case !ok:
		return 0, 0, fmt.Errorf("the server was not ready within %s:\n%s", readyWithin, v.logTail())
	}
	ready = time.Since(v.started)
	if poll(incidentWithin, func() bool {
		_, body := get("/status/report")
		var rep struct{ Health string }
		return json.Unmarshal(body, &rep) == nil && rep.Health == "dead"
	}) {
		incident = time.Since(v.started)
	}
	return ready, incident, ctx.Err()
}

// getJSON decodes the JSON answer of a GET to url.
func getJSON(ctx context.Context, url string, into any) error {
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	if err != nil {
		return err
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: status %d", url, resp.StatusCode)
	}
	return json.NewDecoder(resp.Body).Decode(into)
}

// probeAttempts reads the server's count of probe attempts from /metrics.
func probeAttempts(ctx context.Context, base string) (float64, bool) {
	ctx, cancel := context.WithTimeout(ctx, requestTimeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, base+"/metrics", nil)
	if err != nil {
		return 0, false
	}
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return 0, false
	}
	defer resp.Body.Close()
	text, err := io.ReadAll(io.LimitReader(resp.Body, 256<<20))
	if err != nil || resp.StatusCode != http.StatusOK {
		return 0, false
	}
	return sumMetric(text, "vigil_probe_results_total")
}

// sumMetric adds up every sample of the metric name in a Prometheus text
// exposition; ok is false when there is none.
func sumMetric(text []byte, name string) (sum float64, ok bool) {
	for line := range bytes.Lines(text) {
		rest, found := bytes.CutPrefix(line, []byte(name))
		if !found || len(rest) == 0 || (rest[0] != '{' && rest[0] != ' ') {
			continue
		}
		if rest[0] == '{' {
			end := bytes.LastIndexByte(rest, '}')
			if end < 0 {
				continue
			}
			rest = rest[end+1:]
		}
		fields := strings.Fields(string(rest))
		if len(fields) == 0 {
			continue
		}
		v, err := strconv.ParseFloat(fields[0], 64)
		if err != nil {
			continue
		}
		sum += v
		ok = true
	}
	return sum, ok
}
