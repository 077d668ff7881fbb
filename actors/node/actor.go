package node

import (
	"context"
	"fmt"
	"log/slog"
	"time"

	"github.com/vigil-go/vigil/config"
	"github.com/vigil-go/vigil/messages"
	"github.com/vigil-go/vigil/storage"
)

// Spec describes a node actor.
type Spec struct {
	Probe, Node string
	Mode        config.Mode
	// DelayDead is push_delay_dead or local_delay_dead.
	DelayDead time.Duration
	// CPUSickAbove and RAMSickAbove are the push thresholds.
	CPUSickAbove, RAMSickAbove float32
	// MaxReplicas caps the replicas of the node (0 = no cap).
	MaxReplicas int
	Out         chan<- messages.StateMessage
	Logger      *slog.Logger
	// MailboxSize defaults to 256.
	MailboxSize int
	// Restore lists the node's replicas known before a restart; they keep
	// their last report, so one that never reports again goes dead on its
	// normal deadline. Used by the first run only: after an internal
	// restart the actor starts empty and learns replicas from new reports.
	Restore []storage.Replica
}

// Actor is one push or local node actor. See the package documentation.
type Actor struct {
	spec    Spec
	mailbox chan messages.NodeMessage
	logger  *slog.Logger

	// Per-run state, owned by Serve and reset at its top.
	replicas map[string]*replica
	timer    *time.Timer
}

type replica struct {
	status   messages.Status
	err      string
	load     *messages.Load
	reported time.Time
	interval time.Duration
}

func (r *replica) deadline(delay time.Duration) time.Time {
	return r.reported.Add(r.interval + delay)
}

// New builds a node actor.
func New(s Spec) *Actor {
	if s.MailboxSize <= 0 {
		s.MailboxSize = 256
	}
	return &Actor{
		spec: s, mailbox: make(chan messages.NodeMessage, s.MailboxSize),
		logger: s.Logger.With("actor", "node", "probe", s.Probe, "node", s.Node),
	}
}

func (a *Actor) String() string { return "node " + a.spec.Probe + ":" + a.spec.Node }

// Serve handles reports and expiries until ctx ends.
func (a *Actor) Serve(ctx context.Context) error {
	a.replicas = map[string]*replica{}
	a.timer = time.NewTimer(time.Hour)
	a.timer.Stop()
	defer a.timer.Stop()
	for _, r := range a.spec.Restore {
		a.replicas[r.Key.Replica] = &replica{status: r.Status, err: r.Err, load: r.Load, reported: r.Reported, interval: r.Interval}
	}
	a.spec.Restore = nil
	a.arm(time.Now())
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case m := <-a.mailbox:
			var err error
			switch m := m.(type) {
			case messages.Report:
				err = a.report(ctx, m)
			case messages.Flush:
				err = a.flush(ctx, m)
			default:
				a.logger.Error("unexpected message", "type", fmt.Sprintf("%T", m))
			}
			if err != nil {
				return err
			}
		case now := <-a.timer.C:
			if err := a.expire(ctx, now); err != nil {
				return err
			}
		}
	}
}

func (a *Actor) report(ctx context.Context, m messages.Report) error {
	r, ok := a.replicas[m.Replica]
	if !ok {
		if a.spec.MaxReplicas > 0 && len(a.replicas) >= a.spec.MaxReplicas {
			m.Reply <- messages.ErrTooManyReplicas
			return nil
		}
		r = &replica{}
		a.replicas[m.Replica] = r
	}
	r.reported, r.interval = m.At, m.Interval
	r.load = m.Load
	r.status, r.err = a.evaluate(m)
	m.Reply <- nil
	a.arm(m.At)
	return a.send(ctx, m.Replica, r)
}

// evaluate gives the status a fresh report implies.
func (a *Actor) evaluate(m messages.Report) (messages.Status, string) {
	switch {
	case m.Health != nil:
		if *m.Health != messages.Healthy {
			return *m.Health, "reported " + m.Health.String()
		}
		return messages.Healthy, ""
	case m.Load != nil:
		cpu, ram := float32(m.Load.CPU), float32(m.Load.RAM)
		if cpu > a.spec.CPUSickAbove {
			return messages.Sick, fmt.Sprintf("cpu load %.0f%% above %.0f%%", cpu*100, a.spec.CPUSickAbove*100)
		}
		if ram > a.spec.RAMSickAbove {
			return messages.Sick, fmt.Sprintf("memory %.0f%% above %.0f%%", ram*100, a.spec.RAMSickAbove*100)
		}
	}
	return messages.Healthy, ""
}

func (a *Actor) flush(ctx context.Context, m messages.Flush) error {
	if _, ok := a.replicas[m.Replica]; !ok {
		m.Reply <- messages.ErrUnknownReplica
		return nil
	}
	delete(a.replicas, m.Replica)
	m.Reply <- nil
	return a.out(ctx, messages.ReplicaRemoved{Key: a.key(m.Replica)})
}

// expire marks every replica whose deadline has passed as dead and re-arms
// the timer for the next deadline.
func (a *Actor) expire(ctx context.Context, now time.Time) error {
	for id, r := range a.replicas {
		if r.status == messages.Dead || now.Before(r.deadline(a.spec.DelayDead)) {
			continue
		}
		r.status = messages.Dead
		r.err = fmt.Sprintf("no report for %s (interval %s + grace %s)",
			now.Sub(r.reported).Truncate(time.Second), r.interval, a.spec.DelayDead)
		if err := a.send(ctx, id, r); err != nil {
			return err
		}
	}
	a.arm(now)
	return nil
}

// arm sets the timer to the earliest deadline of a replica not yet dead.
func (a *Actor) arm(now time.Time) {
	var next time.Time
	for _, r := range a.replicas {
		if r.status == messages.Dead {
			continue
		}
		if d := r.deadline(a.spec.DelayDead); next.IsZero() || d.Before(next) {
			next = d
		}
	}
	a.timer.Stop()
	if !next.IsZero() {
		a.timer.Reset(max(next.Sub(now), 0))
	}
}

func (a *Actor) key(replica string) messages.ReplicaKey {
	return messages.ReplicaKey{Probe: a.spec.Probe, Node: a.spec.Node, Replica: replica}
}

func (a *Actor) send(ctx context.Context, id string, r *replica) error {
	return a.out(ctx, messages.ReplicaUpdated{
		Key: a.key(id), Status: r.status, Err: r.err, Load: r.load, Reported: r.reported, Interval: r.interval,
	})
}

func (a *Actor) out(ctx context.Context, m messages.StateMessage) error {
	select {
	case a.spec.Out <- m:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
