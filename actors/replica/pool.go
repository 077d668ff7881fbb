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
	reply  chan<- *outcome
}

type outcome struct {
	result   messages.ProbeResult
	panicked any
	stack    []byte
}

// NewPool returns a pool of size workers (at least 1) whose queue holds
// queue attempts, normally the number of replica actors that use it. Its
// workers must be added to a supervisor (see Workers).
func NewPool(name string, size, queue int) *Pool {
	if size < 1 {
		size = 1
	}
	return &Pool{name: name, size: size, jobs: make(chan job, max(queue, size))}
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

// submit queues one attempt; its outcome arrives on reply. The supervisor
// tree sizes the queue (NewPool) at twice the replica actors it has when it
// builds the pool, and an actor has at most one attempt outstanding, so
// submit does not block in practice. (A reload that adds replicas but keeps
// the parallelism keeps the pool and its queue; a full queue only makes
// submit wait for a worker.) It gives up when ctx ends.
func (p *Pool) submit(ctx context.Context, pr Prober, reply chan<- *outcome) error {
	j := job{ctx: ctx, prober: pr, reply: reply}
	select {
	case p.jobs <- j:
		return nil
	default:
		return p.submitSlow(j)
	}
}

//go:noinline
func (p *Pool) submitSlow(j job) error {
	select {
	case p.jobs <- j:
		return nil
	case <-j.ctx.Done():
		return j.ctx.Err()
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

func attempt(j job) (o *outcome) {
	defer func() {
		if r := recover(); r != nil {
			o = &outcome{panicked: r, stack: debug.Stack()}
		}
	}()
	if err := j.ctx.Err(); err != nil {
		return &outcome{result: messages.ProbeResult{Status: messages.Dead, Err: err.Error()}}
	}
	return &outcome{result: j.prober.Probe(j.ctx)}
}
