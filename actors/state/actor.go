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
	subscribers  []chan<- messages.Transition
	logger       *slog.Logger
	publishEvery time.Duration
	dropped      atomic.Uint64
}

// Options configure an Actor.
type Options struct {
	// InboxSize is the inbox buffer (default 4096).
	InboxSize int
	// PublishEvery bounds the publication rate (default DefaultPublishEvery).
	PublishEvery time.Duration
	// Subscribers receive every general-status transition.
	Subscribers []chan<- messages.Transition
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

// Dropped counts transitions that a full subscriber mailbox refused.
func (a *Actor) Dropped() uint64 { return a.dropped.Load() }

func (a *Actor) String() string { return "state" }

// Serve runs the actor until ctx ends.
func (a *Actor) Serve(ctx context.Context) error {
	model := NewModel(a.cfg)
	if model.unprobed == 0 {
		model.Apply(messages.Tick{At: time.Now()}, time.Now())
	}
	a.published.store(model.Snapshot())
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
			now := time.Now()
			for _, t := range model.Apply(msg, now) {
				a.broadcast(t)
			}
		case now := <-tick.C:
			model.Apply(messages.Tick{At: now}, now)
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

func (a *Actor) broadcast(t messages.Transition) {
	a.logger.Info("general status changed", "from", t.From.String(), "to", t.To.String(), "dead", len(t.Dead))
	for _, sub := range a.subscribers {
		select {
		case sub <- t:
		default:
			a.dropped.Add(1)
			a.logger.Warn("subscriber mailbox full, transition dropped", "to", t.To.String())
		}
	}
}
