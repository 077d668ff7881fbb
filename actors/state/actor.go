package state

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/vigil-go/vigil/config"
	"github.com/vigil-go/vigil/messages"
)

// Published holds the latest snapshot. Readers call Latest from any
// goroutine; only the state actor stores.
type Published struct {
	p atomic.Pointer[messages.Snapshot]
}

// Latest returns the newest snapshot, or an empty one before the first
// publication.
func (h *Published) Latest() *messages.Snapshot {
	if s := h.p.Load(); s != nil {
		return s
	}
	return &messages.Snapshot{}
}

func (h *Published) store(s *messages.Snapshot) { h.p.Store(s) }

// TickEvery is the heartbeat that keeps the "refreshed" time current.
const TickEvery = 10 * time.Second

// DefaultPublishEvery bounds how often a snapshot is published while results
// keep arriving.
const DefaultPublishEvery = 100 * time.Millisecond

// Actor is the central state actor. See the package documentation.
type Actor struct {
	cfg          *config.Config
	inbox        chan messages.StateMessage
	published    *Published
	subscribers  []chan messages.Notification
	logger       *slog.Logger
	publishEvery time.Duration
	dropped      atomic.Uint64
	// startupSent survives restarts of Serve: the startup notification goes
	// out once per process, not once per internal restart.
	startupSent atomic.Bool
}

// Options configure an Actor.
type Options struct {
	// InboxSize is the inbox buffer (default 4096).
	InboxSize int
	// PublishEvery bounds the publication rate (default DefaultPublishEvery).
	PublishEvery time.Duration
	// Subscribers are the notifier mailboxes; each receives every
	// notification. When one is full its oldest entry is dropped (and
	// counted) to make room: the newest status matters most.
	Subscribers []chan messages.Notification
}

// New builds the state actor for cfg. Published may be shared with readers
// before the actor runs.
func New(cfg *config.Config, published *Published, logger *slog.Logger, opt Options) *Actor {
	if opt.InboxSize <= 0 {
		opt.InboxSize = 4096
	}
	if opt.PublishEvery <= 0 {
		opt.PublishEvery = DefaultPublishEvery
	}
	return &Actor{
		cfg:          cfg,
		inbox:        make(chan messages.StateMessage, opt.InboxSize),
		published:    published,
		subscribers:  opt.Subscribers,
		logger:       logger.With("actor", "state"),
		publishEvery: opt.PublishEvery,
	}
}

// Inbox is where other actors send their messages.
func (a *Actor) Inbox() chan<- messages.StateMessage { return a.inbox }

// Dropped counts notifications dropped from full subscriber mailboxes.
func (a *Actor) Dropped() uint64 { return a.dropped.Load() }

func (a *Actor) String() string { return "state" }

// Serve runs the actor until ctx ends.
func (a *Actor) Serve(ctx context.Context) error {
	model := NewModel(a.cfg)
	if model.unprobed == 0 {
		model.Apply(messages.Tick{At: time.Now()}, time.Now())
	}
	a.published.store(model.Snapshot())
	if n, ok := model.StartupNotification(time.Now()); ok && a.startupSent.CompareAndSwap(false, true) {
		a.broadcast(n)
	}
	var lastPublish time.Time
	tick := time.NewTicker(TickEvery)
	defer tick.Stop()
	publish := time.NewTimer(time.Hour)
	publish.Stop()
	armed := false
	defer publish.Stop()

	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case msg := <-a.inbox:
			a.apply(model, msg, time.Now())
		case now := <-tick.C:
			a.apply(model, messages.Tick{At: now}, now)
		case <-publish.C:
			armed = false
		}
		if !model.Dirty() || armed {
			continue
		}
		if wait := a.publishEvery - time.Since(lastPublish); wait > 0 {
			publish.Reset(wait)
			armed = true
			continue
		}
		a.published.store(model.Snapshot())
		lastPublish = time.Now()
	}
}

// apply runs the reducer, logs a general status change and broadcasts the
// resulting notifications.
func (a *Actor) apply(model *Model, msg messages.StateMessage, now time.Time) {
	before := model.Status()
	notes := model.Apply(msg, now)
	if after := model.Status(); after != before {
		a.logger.Info("general status changed", "from", before.String(), "to", after.String())
	}
	for _, n := range notes {
		a.broadcast(n)
	}
}

// broadcast hands n to every notifier mailbox without ever blocking.
func (a *Actor) broadcast(n messages.Notification) {
	a.logger.Info("notification", "kind", n.Kind.String(), "status", n.Status.String(), "replicas", len(n.Replicas))
	for _, mb := range a.subscribers {
		for {
			select {
			case mb <- n:
			default:
				// Full: drop the oldest queued notification and retry.
				select {
				case old := <-mb:
					a.dropped.Add(1)
					a.logger.Warn("notifier mailbox full, oldest notification dropped", "kind", old.Kind.String(), "status", old.Status.String())
				default:
				}
				continue
			}
			break
		}
	}
}
