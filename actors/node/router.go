package node

import (
	"context"

	"github.com/vigil-go/vigil/config"
	"github.com/vigil-go/vigil/messages"
)

// Router finds the node actor of a (probe, node) pair. A Router never
// changes once built, so the web layer reads it from any goroutine; a
// configuration reload builds a new one for the new set of nodes, and the
// supervisor tree swaps it in atomically.
type Router struct {
	nodes map[[2]string]route
}

type route struct {
	mode  config.Mode
	actor *Actor // nil for poll and script nodes
}

// NewRouter indexes every configured node; actors are the push and local
// node actors.
func NewRouter(cfg *config.Config, actors []*Actor) *Router {
	r := &Router{nodes: map[[2]string]route{}}
	for _, s := range cfg.Probe.Services {
		for _, n := range s.Nodes {
			r.nodes[[2]string{s.ID, n.ID}] = route{mode: n.Mode}
		}
	}
	for _, a := range actors {
		k := [2]string{a.spec.Probe, a.spec.Node}
		r.nodes[k] = route{mode: a.spec.Mode, actor: a}
	}
	return r
}

// Report delivers a report to its node actor and waits for the answer:
// nil, ErrUnknownNode, ErrWrongMode, ErrTooManyReplicas or ErrBusy. Reply
// is set here; Visible, when the caller sets it, is answered by the state
// actor (see messages.Report).
func (r *Router) Report(ctx context.Context, probe, node string, m messages.Report) error {
	rt, ok := r.nodes[[2]string{probe, node}]
	if !ok {
		return messages.ErrUnknownNode
	}
	want := config.ModePush
	if m.Load == nil {
		want = config.ModeLocal
	}
	if rt.mode != want || rt.actor == nil {
		return messages.ErrWrongMode
	}
	reply := make(chan error, 1)
	m.Reply = reply
	return rt.actor.ask(ctx, m, reply)
}

// Flush removes the replica m names from a push or local node and waits
// for the answer: nil, ErrUnknownNode, ErrWrongMode, ErrUnknownReplica or
// ErrBusy. Reply is set here; Visible, when the caller sets it, is answered
// by the state actor (see messages.Flush).
func (r *Router) Flush(ctx context.Context, probe, node string, m messages.Flush) error {
	rt, ok := r.nodes[[2]string{probe, node}]
	if !ok {
		return messages.ErrUnknownNode
	}
	if rt.actor == nil {
		return messages.ErrWrongMode
	}
	reply := make(chan error, 1)
	m.Reply = reply
	return rt.actor.ask(ctx, m, reply)
}

// ask puts m in the mailbox without blocking and waits for the answer.
func (a *Actor) ask(ctx context.Context, m messages.NodeMessage, reply <-chan error) error {
	select {
	case a.mailbox <- m:
	default:
		return messages.ErrBusy
	}
	select {
	case err := <-reply:
		return err
	case <-ctx.Done():
		return ctx.Err()
	}
}
