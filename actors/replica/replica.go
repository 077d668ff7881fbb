package replica

import (
	"context"
	"fmt"
	"hash/fnv"
	"log/slog"
	"time"

	"github.com/vigil-go/vigil/messages"
)

// FirstRoundWithin bounds how long after start the first probe of any
// replica runs, so the page is complete soon after boot whatever the
// interval.
const FirstRoundWithin = 10 * time.Second

// Actor is one poll or script replica actor. See the package documentation.
type Actor struct {
	key       messages.ReplicaKey
	prober    Prober
	pool      *Pool
	interval  time.Duration
	retries   int
	retryWait time.Duration
	out       chan<- messages.StateMessage
	logger    *slog.Logger
	phase     float64
}

// Spec describes a replica actor.
type Spec struct {
	Key    messages.ReplicaKey
	Prober Prober
	Pool   *Pool
	// Interval between the starts of two probes.
	Interval time.Duration
	// Retries is the number of extra attempts after a dead result
	// (poll_retry; 0 for scripts), RetryWait the pause before each retry.
	Retries   int
	RetryWait time.Duration
	// Out is the state actor's inbox.
	Out    chan<- messages.StateMessage
	Logger *slog.Logger
}

// New builds a replica actor.
func New(s Spec) *Actor {
	h := fnv.New64a()
	h.Write([]byte(s.Key.String()))
	return &Actor{
		key: s.Key, prober: s.Prober, pool: s.Pool, interval: s.Interval,
		retries: s.Retries, retryWait: s.RetryWait, out: s.Out,
		logger: s.Logger.With("actor", "replica", "probe", s.Key.Probe, "node", s.Key.Node, "replica", s.Key.Replica),
		phase:  float64(h.Sum64()) / float64(^uint64(0)),
	}
}

func (a *Actor) String() string { return "replica " + a.key.String() }

// offsets returns when the first probe runs and the phase of the steady
// schedule, both relative to start.
func (a *Actor) offsets() (first, phase time.Duration) {
	spread := min(a.interval, FirstRoundWithin)
	return time.Duration(a.phase * float64(spread)), time.Duration(a.phase * float64(a.interval))
}

// Serve probes on schedule until ctx ends.
func (a *Actor) Serve(ctx context.Context) error {
	reply := make(chan outcome, 1)
	start := time.Now()
	first, phase := a.offsets()
	timer := time.NewTimer(first)
	defer timer.Stop()
	for k := 1; ; k++ {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-timer.C:
		}
		res, err := a.probe(ctx, reply)
		if err != nil {
			return err
		}
		select {
		case a.out <- messages.ReplicaProbed{Key: a.key, Result: res, At: time.Now()}:
		case <-ctx.Done():
			return ctx.Err()
		}
		// Steady schedule: start + phase + k*interval; a probe that overran
		// skips the slots it missed.
		next := start.Add(phase + time.Duration(k)*a.interval)
		now := time.Now()
		for !next.After(now) {
			k++
			next = start.Add(phase + time.Duration(k)*a.interval)
		}
		timer.Reset(next.Sub(now))
	}
}

// probe runs the retry procedure of spec §4.2: up to retries+1 attempts,
// retrying only a dead result, waiting retryWait before each retry (not
// before the first attempt). The last attempt's result is returned.
func (a *Actor) probe(ctx context.Context, reply chan outcome) (messages.ProbeResult, error) {
	var res messages.ProbeResult
	for attempt := 0; attempt <= a.retries; attempt++ {
		if attempt > 0 {
			t := time.NewTimer(a.retryWait)
			select {
			case <-ctx.Done():
				t.Stop()
				return res, ctx.Err()
			case <-t.C:
			}
		}
		// Drain an answer left over from an attempt abandoned by a
		// previous (cancelled) run of this actor.
		select {
		case <-reply:
		default:
		}
		o, err := a.pool.run(ctx, a.prober, reply)
		if err != nil {
			return res, err
		}
		if o.panicked != nil {
			panic(fmt.Sprintf("probe of %s panicked: %v\n%s", a.key, o.panicked, o.stack))
		}
		res = o.result
		if res.Status != messages.Dead {
			break
		}
	}
	return res, nil
}
