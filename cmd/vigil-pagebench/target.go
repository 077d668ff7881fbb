package main

import (
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"
)

// A tracker records when each replica is probed and finds late rounds. It
// sees requests only, so it tells a retry from a new round by the gap since
// the replica's previous request: a retry comes poll_retry_wait after an
// attempt, a new round about one interval after the previous round.
//
// The server starts every replica with a first round within 10 s of start
// and then keeps a fixed schedule one interval apart, so the gap between the
// first and second round of a replica is not an interval and is not judged;
// every later gap between round starts longer than interval + slack is a
// late round.
type tracker struct {
	interval, slack time.Duration
	retryGap        time.Duration // a request closer than this to the previous one is a retry

	mu     sync.Mutex
	reps   []replicaTrack
	hits   int64
	rounds int64
	late   []lateRound
}

type replicaTrack struct {
	rounds    int
	lastHit   int64 // Unix nanoseconds
	lastRound int64
}

// lateRound is one late round of one replica: it was due at Due (previous
// round + interval + slack) and started at At (Unix nanoseconds).
type lateRound struct {
	Replica int
	Due, At int64
}

// maxLateRounds bounds the memory of a badly overloaded run.
const maxLateRounds = 100_000

func newTracker(replicas int, interval, slack time.Duration) *tracker {
	return &tracker{
		interval: interval, slack: slack, retryGap: interval / 2,
		reps: make([]replicaTrack, replicas),
	}
}

// hit records a request for replica i at now (Unix nanoseconds).
func (t *tracker) hit(i int, now int64) {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.hits++
	r := &t.reps[i]
	if r.rounds > 0 && now-r.lastHit < int64(t.retryGap) {
		r.lastHit = now
		return
	}
	if due := r.lastRound + int64(t.interval+t.slack); r.rounds >= 2 && now > due && len(t.late) < maxLateRounds {
		t.late = append(t.late, lateRound{Replica: i, Due: due, At: now})
	}
	r.rounds++
	r.lastRound, r.lastHit = now, now
	t.rounds++
}

// trackReport is the probe target's account of probing.
type trackReport struct {
	Hits   int64 // requests, retries included
	Rounds int64 // probe rounds (requests that are not retries)
	// LateReplicas counts the replicas late within the window asked about:
	// a round that fell due in it and started late, or a round still overdue
	// at its end. A late round that fell due before the window is not
	// counted even if it ended in it: its cause came earlier.
	LateReplicas int
	// WorstOverdue is the longest any of them was late (nanoseconds).
	WorstOverdue int64
}

// report accounts for the window [from, now]. A replica that has not had
// its second round by secondRoundBy is overdue since then.
func (t *tracker) report(from, now, secondRoundBy int64) trackReport {
	t.mu.Lock()
	defer t.mu.Unlock()
	rep := trackReport{Hits: t.hits, Rounds: t.rounds}
	late := map[int]bool{}
	note := func(i int, due, end int64) {
		late[i] = true
		rep.WorstOverdue = max(rep.WorstOverdue, end-due)
	}
	for _, l := range t.late {
		if l.Due >= from && l.Due <= now {
			note(l.Replica, l.Due, l.At)
		}
	}
	for i, r := range t.reps {
		due := secondRoundBy
		if r.rounds >= 2 {
			due = r.lastRound + int64(t.interval+t.slack)
		}
		if now > due {
			note(i, due, now)
		}
	}
	rep.LateReplicas = len(late)
	return rep
}

// handler answers the replicas' probes (/h/N healthy, /d/N dead, /s/N sick)
// and GET /_report?from=&now=&second_round_by= (Unix nanoseconds).
func (t *tracker) handler() http.Handler {
	mux := http.NewServeMux()
	mux.HandleFunc("/_report", func(w http.ResponseWriter, r *http.Request) {
		q := r.URL.Query()
		arg := func(name string) int64 {
			v, _ := strconv.ParseInt(q.Get(name), 10, 64)
			return v
		}
		now := time.Now().UnixNano()
		w.Header().Set("Content-Type", "application/json")
		json.NewEncoder(w).Encode(t.report(arg("from"), now, arg("second_round_by")))
	})
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) {
		kind, index, ok := parseReplicaPath(r.URL.Path)
		if !ok || index >= len(t.reps) {
			http.NotFound(w, r)
			return
		}
		t.hit(index, time.Now().UnixNano())
		switch kind {
		case kindDead:
			w.WriteHeader(http.StatusServiceUnavailable)
		case kindSick:
			timer := time.NewTimer(sickDelay)
			defer timer.Stop()
			select {
			case <-timer.C:
			case <-r.Context().Done():
			}
		}
	})
	return mux
}

// parseReplicaPath reads a path made by replicaPath.
func parseReplicaPath(p string) (replicaKind, int, bool) {
	if len(p) < 4 || p[0] != '/' || p[2] != '/' {
		return 0, 0, false
	}
	k := replicaKind(p[1])
	if k != kindHealthy && k != kindDead && k != kindSick {
		return 0, 0, false
	}
	i, err := strconv.Atoi(p[3:])
	if err != nil || i < 0 || strings.HasPrefix(p[3:], "+") {
		return 0, 0, false
	}
	return k, i, true
}

// targetMain runs the probe target (the helper process started by the
// benchmark): it serves until its standard input closes.
func targetMain(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("target", flag.ContinueOnError)
	replicas := fs.Int("replicas", 0, "number of replicas")
	interval := fs.Duration("interval", 0, "poll interval")
	slack := fs.Duration("slack", time.Second, "lateness tolerance")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if *replicas <= 0 || *interval <= 0 {
		return fmt.Errorf("target: -replicas and -interval are required")
	}
	return serveHelper(ctx, newTracker(*replicas, *interval, *slack).handler())
}
