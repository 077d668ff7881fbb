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
	// Restore lists the node's replicas known before a process restart;
	// they keep their last report, so one that never reports again goes
	// dead on its normal deadline. Used by the first run only.
	Restore []storage.Replica
	// Reseed, when set, gives the replicas to start from after an internal
	// restart of the actor (normally read from the latest published
	// snapshot, so a replica flushed meanwhile does not come back).
	Reseed func() []storage.Replica
	// QueueSignals reaches the node's RabbitMQ queue checker (package
	// actors/queue); nil when the plugin is off or the node has no
	// rabbitmq_queue. Push nodes only. The actor is its only writer.
	QueueSignals chan messages.QueueSignal
}

// Actor is one push or local node actor. See the package documentation.
type Actor struct {
	// started is set by the first run of Serve (only Serve touches it).
	started bool
	spec    Spec
	mailbox chan messages.NodeMessage
	logger  *slog.Logger

	// Per-run state, owned by Serve and reset at its top.
	replicas map[string]*replica
	timer    *time.Timer
	// queue is the last queue reading (nil: none yet); never modified,
	// replicas share it.
	queue *messages.Queue
	// active is the Active value last signalled to the queue checker.
	active bool
}

type replica struct {
	status messages.Status
	err    string
	// expired is set when the report deadline passed (status dead until
	// the next report); a replica that is not expired is live.
	expired  bool
	load     *messages.Load
	health   *messages.Status
	queue    *messages.Queue
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

// Mailbox is where the node's queue checker sends its readings (without
// blocking). The web layer goes through the Router instead.
func (a *Actor) Mailbox() chan<- messages.NodeMessage { return a.mailbox }

// Serve handles reports and expiries until ctx ends.
func (a *Actor) Serve(ctx context.Context) error {
	a.replicas = map[string]*replica{}
	a.queue, a.active = nil, false
	a.timer = time.NewTimer(time.Hour)
	a.timer.Stop()
	defer a.timer.Stop()
	now := time.Now()
	seed := a.spec.Restore
	if a.started && a.spec.Reseed != nil {
		seed = a.spec.Reseed()
	}
	a.started = true
	for _, r := range seed {
		rep := &replica{status: r.Status, err: r.Err, load: r.Load, reported: r.Reported, interval: r.Interval}
		// A restored dead replica past its deadline stays dead until it
		// reports; any other one gets its deadline armed below.
		rep.expired = r.Status == messages.Dead && !now.Before(rep.deadline(a.spec.DelayDead))
		a.replicas[r.Key.Replica] = rep
	}
	a.spec.Restore = nil
	a.arm(now)
	// Tell the checker (which may have outlived a previous run) where the
	// node stands; with live restored replicas, this asks for a check.
	live := a.live()
	a.signal(messages.QueueSignal{Check: live, Active: live})
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
			case messages.QueueReading:
				err = a.reading(ctx, m)
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
	r.load, r.health = m.Load, m.Health
	r.expired = false
	r.queue = a.pushQueue()
	r.status, r.err = a.evaluate(r)
	m.Reply <- nil
	a.arm(m.At)
	if m.Load != nil {
		// Every accepted push report asks for a (coalesced) queue check.
		a.signal(messages.QueueSignal{Check: true, Active: true})
	}
	return a.sendVisible(ctx, m.Replica, r, m.Visible)
}

// evaluate gives the status of a live replica (spec §5.2; expiry is
// handled by expire): a local replica has the health it reported; a push
// replica is sick when its CPU or RAM load is above its threshold, else
// dead when the node's queue is stalled, else sick when it is loaded.
func (a *Actor) evaluate(r *replica) (messages.Status, string) {
	switch {
	case r.health != nil:
		if *r.health != messages.Healthy {
			return *r.health, "reported " + r.health.String()
		}
		return messages.Healthy, ""
	case r.load != nil:
		cpu, ram := float32(r.load.CPU), float32(r.load.RAM)
		if cpu > a.spec.CPUSickAbove {
			return messages.Sick, fmt.Sprintf("cpu load %.0f%% above %.0f%%", cpu*100, a.spec.CPUSickAbove*100)
		}
		if ram > a.spec.RAMSickAbove {
			return messages.Sick, fmt.Sprintf("memory %.0f%% above %.0f%%", ram*100, a.spec.RAMSickAbove*100)
		}
	}
	if q := r.queue; q != nil && a.spec.Mode == config.ModePush {
		if q.Stalled {
			return messages.Dead, fmt.Sprintf("RabbitMQ queue stalled (%d ready, %d unacknowledged)", q.Ready, q.Unacked)
		}
		if q.Loaded {
			return messages.Sick, fmt.Sprintf("RabbitMQ queue loaded (%d ready, %d unacknowledged)", q.Ready, q.Unacked)
		}
	}
	return messages.Healthy, ""
}

// pushQueue is the queue reading push replicas carry (nil on local nodes).
func (a *Actor) pushQueue() *messages.Queue {
	if a.spec.Mode != config.ModePush {
		return nil
	}
	return a.queue
}

// reading keeps a queue reading, re-evaluates every live replica with it
// and gives it to every replica (spec §4.10 step 6: an expired replica
// shows the counts too but stays dead); only replicas whose status, cause
// or queue information changed are sent.
func (a *Actor) reading(ctx context.Context, m messages.QueueReading) error {
	if a.spec.Mode != config.ModePush {
		a.logger.Error("queue reading for a node that is not push")
		return nil
	}
	a.queue = m.Queue()
	for id, r := range a.replicas {
		old := *r
		r.queue = a.queue
		if !r.expired {
			r.status, r.err = a.evaluate(r)
		}
		if r.status == old.status && r.err == old.err && sameQueue(r.queue, old.queue) {
			continue
		}
		if err := a.send(ctx, id, r); err != nil {
			return err
		}
	}
	return nil
}

func sameQueue(a, b *messages.Queue) bool {
	if a == nil || b == nil {
		return a == b
	}
	return *a == *b
}

// live tells whether the node has a replica whose deadline has not passed.
func (a *Actor) live() bool {
	for _, r := range a.replicas {
		if !r.expired {
			return true
		}
	}
	return false
}

// signal puts s in the queue checker's one-slot channel without ever
// blocking: the actor is the channel's only writer, so once it has taken a
// pending signal back out (merging it into s) the slot is free.
func (a *Actor) signal(s messages.QueueSignal) {
	ch := a.spec.QueueSignals
	if ch == nil || a.spec.Mode != config.ModePush {
		return
	}
	select {
	case old := <-ch:
		s = old.Merge(s)
	default:
	}
	select {
	case ch <- s:
	default:
		a.logger.Error("queue checker signal slot unexpectedly full")
	}
	a.active = s.Active
}

// signalActive tells the checker when the node gains its first live
// replica or loses its last one.
func (a *Actor) signalActive() {
	if live := a.live(); live != a.active {
		a.signal(messages.QueueSignal{Active: live})
	}
}

func (a *Actor) flush(ctx context.Context, m messages.Flush) error {
	if _, ok := a.replicas[m.Replica]; !ok {
		m.Reply <- messages.ErrUnknownReplica
		return nil
	}
	delete(a.replicas, m.Replica)
	m.Reply <- nil
	a.signalActive()
	return a.out(ctx, messages.ReplicaRemoved{Key: a.key(m.Replica), Visible: m.Visible})
}

// expire marks every replica whose deadline has passed as dead and re-arms
// the timer for the next deadline.
func (a *Actor) expire(ctx context.Context, now time.Time) error {
	for id, r := range a.replicas {
		if r.expired || now.Before(r.deadline(a.spec.DelayDead)) {
			continue
		}
		r.expired = true
		r.status = messages.Dead
		r.err = fmt.Sprintf("no report for %s (interval %s + grace %s)",
			now.Sub(r.reported).Truncate(time.Second), r.interval, a.spec.DelayDead)
		if err := a.send(ctx, id, r); err != nil {
			return err
		}
	}
	a.arm(now)
	a.signalActive()
	return nil
}

// arm sets the timer to the earliest deadline of a live replica.
func (a *Actor) arm(now time.Time) {
	var next time.Time
	for _, r := range a.replicas {
		if r.expired {
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
	return a.sendVisible(ctx, id, r, nil)
}

// sendVisible sends the replica's state; visible (may be nil) goes along
// for the state actor to answer once the update is published.
func (a *Actor) sendVisible(ctx context.Context, id string, r *replica, visible chan<- uint64) error {
	return a.out(ctx, messages.ReplicaUpdated{
		Key: a.key(id), Status: r.status, Err: r.err, Load: r.load, Queue: r.queue, Reported: r.reported, Interval: r.interval,
		Visible: visible,
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
