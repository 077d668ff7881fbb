package replica

import (
	"context"
	"fmt"
	"runtime/debug"

	"github.com/vigil-go/vigil/messages"
)

// Prober runs one probe attempt.
type Prober interface {
	Probe(ctx context.Context) messages.ProbeResult
}

// Pool bounds how many probe attempts run at once.
type Pool struct {
	name string
	size int
	jobs chan job
}

type job struct {
	ctx    context.Context
	prober Prober
	reply  chan<- outcome
}

type outcome struct {
	result   messages.ProbeResult
	panicked any
	stack    []byte
}

// NewPool returns a pool of size workers (at least 1). Its workers must be
// added to a supervisor (see Workers).
func NewPool(name string, size int) *Pool {
	if size < 1 {
		size = 1
	}
	return &Pool{name: name, size: size, jobs: make(chan job)}
}

// Size is the number of workers.
func (p *Pool) Size() int { return p.size }

// Workers returns one service per worker.
func (p *Pool) Workers() []*Worker {
	ws := make([]*Worker, p.size)
	for i := range ws {
		ws[i] = &Worker{pool: p, n: i}
	}
	return ws
}

// run hands the attempt to a free worker and waits for its outcome.
func (p *Pool) run(ctx context.Context, pr Prober, reply chan outcome) (outcome, error) {
	select {
	case p.jobs <- job{ctx: ctx, prober: pr, reply: reply}:
	case <-ctx.Done():
		return outcome{}, ctx.Err()
	}
	select {
	case o := <-reply:
		return o, nil
	case <-ctx.Done():
		// The worker still answers into the buffered reply channel; the
		// next call drains it first.
		return outcome{}, ctx.Err()
	}
}

// Worker executes probe attempts from its pool's queue.
type Worker struct {
	pool *Pool
	n    int
}

func (w *Worker) String() string { return fmt.Sprintf("%s worker %d", w.pool.name, w.n) }

// Serve takes jobs until ctx ends.
func (w *Worker) Serve(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case j := <-w.pool.jobs:
			j.reply <- attempt(j)
		}
	}
}

func attempt(j job) (o outcome) {
	defer func() {
		if r := recover(); r != nil {
			o = outcome{panicked: r, stack: debug.Stack()}
		}
	}()
	if err := j.ctx.Err(); err != nil {
		return outcome{result: messages.ProbeResult{Status: messages.Dead, Err: err.Error()}}
	}
	return outcome{result: j.prober.Probe(j.ctx)}
}
