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

	// Per-run state, owned by Serve and reset at its top.
	events  chan *outcome
	timer   *time.Timer
	start   time.Time
	k       int
	attempt int
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
		logger: s.Logger,
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

// Serve probes on schedule until ctx ends. It is a single small event loop
// over two channels (its context and its event channel, which carries both
// timer firings and probe outcomes) so that an idle actor, which is what
// thousands of them are nearly all the time, costs a minimal stack and as
// little memory as the runtime allows.
func (a *Actor) Serve(ctx context.Context) error {
	a.reset()
	defer a.timer.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case ev := <-a.events:
			var err error
			if ev == timerFired {
				err = a.pool.submit(ctx, a.prober, a.events)
			} else {
				err = a.handle(ctx, ev)
			}
			if err != nil {
				return err
			}
		}
	}
}

// timerFired is the event the schedule timer sends.
var timerFired = &outcome{}

// reset initialises the per-run state at the top of Serve: Serve runs again
// after a restart and must not inherit anything from the failed run. The
// event channel has room for the one timer event and the one outcome that
// can be pending at a time, so neither sender ever blocks.
//
//go:noinline
func (a *Actor) reset() {
	events := make(chan *outcome, 2)
	a.events = events
	a.start = time.Now()
	a.k, a.attempt = 0, 0
	first, _ := a.offsets()
	a.timer = time.AfterFunc(first, func() {
		select {
		case events <- timerFired:
		default:
		}
	})
}

// handle takes the outcome of one attempt: it retries a dead result (spec
// §4.2: up to retries times, retryWait apart, no wait before the first
// attempt; sick is final), or delivers the result and schedules the next
// probe at start + phase + k*interval, skipping slots a slow probe overran.
//
//go:noinline
func (a *Actor) handle(ctx context.Context, o *outcome) error {
	if o.panicked != nil {
		a.repanic(o)
	}
	if o.result.Status == messages.Dead && a.attempt < a.retries {
		a.attempt++
		a.timer.Reset(a.retryWait)
		return nil
	}
	a.attempt = 0
	if o.result.Status != messages.Healthy {
		a.logResult(ctx, o.result)
	}
	if err := a.send(ctx, o.result); err != nil {
		return err
	}
	_, phase := a.offsets()
	now := time.Now()
	for {
		a.k++
		if next := a.start.Add(phase + time.Duration(a.k)*a.interval); next.After(now) {
			a.timer.Reset(next.Sub(now))
			return nil
		}
	}
}

// send delivers a result to the state actor. The common case (room in the
// inbox) is a non-blocking send with a small stack footprint; only a full
// inbox takes the blocking path, which also watches ctx.
func (a *Actor) send(ctx context.Context, res messages.ProbeResult) error {
	msg := messages.ReplicaProbed{Key: a.key, Result: res, At: time.Now()}
	select {
	case a.out <- msg:
		return nil
	default:
		return a.sendSlow(ctx, msg)
	}
}

//go:noinline
func (a *Actor) sendSlow(ctx context.Context, msg messages.ReplicaProbed) error {
	select {
	case a.out <- msg:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// logResult logs an unhealthy result at debug level.
func (a *Actor) logResult(ctx context.Context, res messages.ProbeResult) {
	if !a.logger.Enabled(ctx, slog.LevelDebug) {
		return
	}
	a.logger.LogAttrs(ctx, slog.LevelDebug, "probe result", slog.String("actor", "replica"),
		slog.String("probe", a.key.Probe), slog.String("node", a.key.Node), slog.String("replica", messages.RedactURL(a.key.Replica)),
		slog.String("status", res.Status.String()), slog.Duration("latency", res.Latency), slog.String("error", res.Err))
}

// repanic re-raises, in this actor, a panic caught by a pool worker while
// running this actor's probe, so that this actor's supervisor restarts it.
func (a *Actor) repanic(o *outcome) {
	panic(fmt.Sprintf("probe of %s panicked: %v\n%s", a.key, o.panicked, o.stack))
}
