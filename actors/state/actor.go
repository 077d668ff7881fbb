package state

import (
	"context"
	"crypto/rand"
	"errors"
	"log/slog"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/vigil-go/vigil/config"
	"github.com/vigil-go/vigil/messages"
	"github.com/vigil-go/vigil/storage"
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

// TickEvery is the heartbeat that keeps the "refreshed" time current and
// evaluates reminders.
const TickEvery = 10 * time.Second

// DefaultPublishEvery bounds how often a snapshot is published while results
// keep arriving.
const DefaultPublishEvery = 100 * time.Millisecond

// FlushEvery is how often changed replicas are handed to the store writer.
const FlushEvery = time.Second

// FlushSoon is how soon a Reporter API write is handed to the store
// writer with StoreFirst (several instances on one database): the other
// instances show what the store holds, and should show the write within a
// second.
const FlushSoon = 100 * time.Millisecond

// finalFlushTimeout bounds how long a stopping actor waits for its last
// batch to be queued and written (the writer may have older batches to
// write first).
const finalFlushTimeout = 5 * time.Second

// Loader is the read side of the store: the actor loads it at the top of
// every Serve.
type Loader interface {
	Load(ctx context.Context) (*storage.State, error)
}

// Writer is the store's single writer (the store writer actor, wired by
// the supervisor tree); the state actor is its only producer and never
// writes the store itself, so batches reach the disk in order.
type Writer interface {
	// Room reports whether Write would queue a batch at once.
	Room() bool
	// Write queues b behind the requests handed over before, waiting for
	// room until ctx ends. reply, when not nil, has room for one value and
	// receives the outcome once b is durable or has failed.
	Write(ctx context.Context, b storage.Batch, reply chan<- error) error
	// Rebuild queues a request to make the store hold exactly st (a
	// damaged file is moved aside), as Write does.
	Rebuild(ctx context.Context, st *storage.State, reply chan<- error) error
	// Stale receives a value when the store may no longer hold what was
	// handed over (a batch without a reply was lost, the store is
	// damaged): the actor answers with a Rebuild of its whole state.
	Stale() <-chan struct{}
}

// Subscriber is one notifier actor as the state actor sees it.
type Subscriber struct {
	// Kind is the notifier's kind ("webhook"…): its outbox slot.
	Kind string
	// Mailbox receives every notification, and what the notifier's outbox
	// slot holds when the actor starts or the notifiers change.
	Mailbox chan messages.Notification
}

// Actor is the central state actor. See the package documentation.
type Actor struct {
	cfg          *config.Config
	inbox        chan messages.StateMessage
	delivered    chan messages.NotificationDelivered
	published    *Published
	subscribers  []Subscriber
	logger       *slog.Logger
	publishEvery time.Duration
	store        Loader
	writer       Writer
	dropped      atomic.Uint64
	// startupSent survives restarts of Serve: the startup notification goes
	// out once per process, not once per internal restart (shared by the
	// state actors of successive leadership terms, Options.StartupSent).
	startupSent *atomic.Bool
	// storeFirst holds notifications until their outbox slots are durable
	// (Options.StoreFirst); held are those waiting for the next batch.
	storeFirst bool
	held       []messages.Notification
	// idPrefix (random per Actor) and idSeq make notification IDs that no
	// other notification of this or any other process has.
	idPrefix string
	idSeq    atomic.Uint64
	// control carries prepared configuration reloads (rare); unbuffered, so
	// a delivered one is held by the actor.
	control chan *Reconfiguration
	// link is the side of the store writer of the running Serve (nil
	// without a writer); only Serve's goroutine uses it.
	link *storeLink
}

// Options configure an Actor.
type Options struct {
	// InboxSize is the inbox buffer (default 4096).
	InboxSize int
	// PublishEvery bounds the publication rate (default DefaultPublishEvery).
	PublishEvery time.Duration
	// Subscribers are the notifier actors; each receives every
	// notification. When a mailbox is full its oldest entry is dropped (and
	// counted) to make room: the newest status matters most.
	Subscribers []Subscriber
	// Delivered is where the notifier actors report deliveries (see
	// messages.NotificationDelivered); nil makes one (Delivered returns it).
	Delivered chan messages.NotificationDelivered
	// Store, when set, is loaded at the top of every Serve.
	Store Loader
	// Writer, when set, receives every change to persist; it must write to
	// the store that Store reads.
	Writer Writer
	// StoreFirst hands a notification to the notifiers only once the batch
	// that puts it in the outbox is durable, instead of at once (with a
	// Writer only). Several instances on one database need it: a
	// notification sent by a leader that dies before storing it would be
	// decided, and sent, again by the next leader.
	StoreFirst bool
	// StartupSent, when set, is the flag that says the startup
	// notification was sent, shared with other actors (one per leadership
	// term of the process); nil gives the actor its own.
	StartupSent *atomic.Bool
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
	// Readers get the configured layout (all "not yet refreshed") even
	// before the actor first runs.
	if published.p.Load() == nil {
		published.store(NewModel(cfg).Snapshot())
	}
	if opt.Delivered == nil {
		opt.Delivered = make(chan messages.NotificationDelivered, DeliveredSize)
	}
	if opt.StartupSent == nil {
		opt.StartupSent = &atomic.Bool{}
	}
	return &Actor{
		cfg:          cfg,
		inbox:        make(chan messages.StateMessage, opt.InboxSize),
		delivered:    opt.Delivered,
		idPrefix:     rand.Text(),
		published:    published,
		subscribers:  opt.Subscribers,
		logger:       logger.With("actor", "state"),
		publishEvery: opt.PublishEvery,
		store:        opt.Store,
		writer:       opt.Writer,
		control:      make(chan *Reconfiguration),
		startupSent:  opt.StartupSent,
		storeFirst:   opt.StoreFirst && opt.Writer != nil,
	}
}

// Reconfiguration is a move to a new configuration that the actor has
// accepted and holds: from Prepare until Commit or Abort it does nothing
// else (its inbox waits), so the change cannot go stale or fail in between.
// Call exactly one of Commit and Abort, once, and soon.
type Reconfiguration struct {
	cfg         *config.Config
	subscribers []Subscriber
	// decision has one slot, so Commit and Abort never block on it.
	decision chan bool
	// settled is closed once the actor has applied or dropped the change
	// (or stopped without either).
	settled chan struct{}
}

// Prepare hands the actor a move to cfg, with its notifications going to
// subscribers from then on (see Model.Reconfigure). It fails, changing
// nothing, when the actor does not take it before ctx ends (it is stopped,
// or restarting). Once it succeeds, the actor waits for Commit or Abort.
func (a *Actor) Prepare(ctx context.Context, cfg *config.Config, subscribers []Subscriber) (*Reconfiguration, error) {
	if ctx.Err() != nil {
		return nil, ErrStopped
	}
	r := &Reconfiguration{cfg: cfg, subscribers: subscribers, decision: make(chan bool, 1), settled: make(chan struct{})}
	select {
	case a.control <- r:
		return r, nil
	case <-ctx.Done():
		return nil, ErrStopped
	}
}

// Commit applies the change and returns once the new layout is published.
// It cannot fail: the actor is waiting for it. (An actor stopped meanwhile
// drops it, as it drops everything else.)
func (r *Reconfiguration) Commit() {
	r.decision <- true
	<-r.settled
}

// Abort drops the change; the actor goes on with its configuration.
func (r *Reconfiguration) Abort() {
	r.decision <- false
	<-r.settled
}

// Inbox is where other actors send their messages.
func (a *Actor) Inbox() chan<- messages.StateMessage { return a.inbox }

// DeliveredSize is the buffer of the channel made when Options.Delivered
// is nil.
const DeliveredSize = 64

// Delivered is where notifier actors report what they delivered. It is
// apart from the inbox so that a stopping actor can take in the reports
// already sent without taking anything else.
func (a *Actor) Delivered() chan<- messages.NotificationDelivered { return a.delivered }

// Dropped counts notifications dropped from full subscriber mailboxes.
func (a *Actor) Dropped() uint64 { return a.dropped.Load() }

func (a *Actor) String() string { return "state" }

// Serve runs the actor until ctx ends.
func (a *Actor) Serve(ctx context.Context) error {
	model := NewModel(a.cfg)
	// Generations go on from the last publication, also after an internal
	// restart: readers compare them to know which snapshot is newer.
	model.gen = a.published.Latest().Generation
	if a.store != nil {
		st, err := a.store.Load(ctx)
		if err != nil {
			return err // restarted with backoff by the supervisor
		}
		model.Restore(st)
		model.StartHistory(st.History, time.Now())
	} else {
		model.StartHistory(nil, time.Now())
	}
	model.KeepNotifiers(a.kinds())
	if model.unprobed == 0 {
		model.Apply(messages.Tick{At: time.Now()}, time.Now())
	}
	var lastPublish time.Time
	// waiting are the Visible channels of updates applied but not yet
	// published.
	var waiting []chan<- uint64
	publish := func(now time.Time) {
		snap := model.Snapshot()
		a.published.store(snap)
		lastPublish = now
		for _, v := range waiting {
			select {
			case v <- snap.Generation:
			default: // a channel without room: the sender broke the contract
			}
		}
		clear(waiting)
		waiting = waiting[:0]
	}
	publish(time.Time{}) // a zero lastPublish: the first change is published at once
	a.link = newStoreLink(a.writer, publish)
	a.held = nil
	// The startup notification goes first, then what the outbox kept: the
	// notifiers deliver a startup notification before anything newer, and
	// the newer, not the startup one, is what the outbox tracks.
	if n, ok := model.StartupNotification(time.Now()); ok && a.startupSent.CompareAndSwap(false, true) {
		a.dispatch(model, n)
	}
	a.handOver(model, "undelivered notification resumed")
	tick := time.NewTicker(TickEvery)
	defer tick.Stop()
	flush := time.NewTicker(FlushEvery)
	defer flush.Stop()
	histFlush := time.NewTicker(HistoryFlushEvery)
	defer histFlush.Stop()
	publishTimer := time.NewTimer(time.Hour)
	publishTimer.Stop()
	armed := false
	defer publishTimer.Stop()
	soon := time.NewTimer(time.Hour)
	soon.Stop()
	soonArmed := false
	defer soon.Stop()

	for {
		select {
		case <-ctx.Done():
			a.takeDeliveries(model)
			a.finalFlush(model)
			return ctx.Err()
		case d := <-a.delivered:
			model.Apply(d, time.Now())
		case msg := <-a.inbox:
			// A Manager command is published once stored, then answered,
			// so a client reads its own write.
			if a.command(model, msg, publish) {
				continue
			}
			a.apply(model, msg, time.Now())
			if v := visibleReceipt(msg); v != nil {
				waiting = append(waiting, v)
				if a.storeFirst && !soonArmed {
					soon.Reset(FlushSoon)
					soonArmed = true
				}
			}
		case r := <-a.control:
			if !a.reconfigure(ctx, model, r, publish) {
				a.takeDeliveries(model)
				a.finalFlush(model)
				return ctx.Err()
			}
			continue
		case now := <-tick.C:
			a.apply(model, messages.Tick{At: now}, now)
		case err := <-a.link.replies():
			a.stored(model, err)
		case <-a.link.stale():
			a.storeStale(model)
		case <-flush.C:
			a.flush(model)
		case <-soon.C:
			soonArmed = false
			a.flush(model)
		case now := <-histFlush.C:
			model.FlushHistory(now)
		case <-publishTimer.C:
			armed = false
		}
		// A reporter API write waits for its update to be published: do it
		// once the inbox is drained (so a burst shares one snapshot), or
		// when many are waiting.
		if len(waiting) > 0 && (len(a.inbox) == 0 || len(waiting) >= maxWaiting) {
			publish(time.Now())
			continue
		}
		if !model.Dirty() || armed {
			continue
		}
		if wait := a.publishEvery - time.Since(lastPublish); wait > 0 {
			publishTimer.Reset(wait)
			armed = true
			continue
		}
		publish(time.Now())
	}
}

// reconfigure waits for the decision on r and applies a commit, publishing
// the new layout. It reports false when ctx ended first.
func (a *Actor) reconfigure(ctx context.Context, model *Model, r *Reconfiguration, publish func(time.Time)) bool {
	defer close(r.settled)
	select {
	case <-ctx.Done():
		return false
	case commit := <-r.decision:
		if !commit {
			return true
		}
	}
	// Fields written here are read only by this goroutine (and by the next
	// Serve after a restart).
	a.cfg, a.subscribers = r.cfg, r.subscribers
	now := time.Now()
	before := model.Status()
	notes := model.Reconfigure(r.cfg, now)
	a.logGeneral(model, before, nil)
	// A rebuilt notifier actor starts empty: it gets its slot again (an
	// unchanged one ignores what it already has). Then what the new
	// layout decided, which is newer.
	model.KeepNotifiers(a.kinds())
	a.handOver(model, "undelivered notification handed to the new notifier")
	for _, n := range notes {
		a.dispatch(model, n)
	}
	a.flush(model)
	publish(now)
	return true
}

// maxWaiting bounds how many reporter API writes may wait for one
// publication while the inbox keeps delivering.
const maxWaiting = 256

// visibleReceipt returns the channel on which the sender of msg wants the
// generation that shows it (nil when it does not).
func visibleReceipt(msg messages.StateMessage) chan<- uint64 {
	switch m := msg.(type) {
	case messages.ReplicaUpdated:
		return m.Visible
	case messages.ReplicaRemoved:
		return m.Visible
	}
	return nil
}

// apply runs the reducer, logs a general status change and dispatches the
// resulting notifications; the alerting state behind a notification and
// the outbox slots it fills are handed to the store at once, in one batch.
func (a *Actor) apply(model *Model, msg messages.StateMessage, now time.Time) {
	before := model.Status()
	notes := model.Apply(msg, now)
	a.logGeneral(model, before, msg)
	for _, n := range notes {
		a.dispatch(model, n)
	}
	if len(notes) > 0 {
		a.flush(model)
	}
}

// dispatch names n, puts it in the outbox slot of every notifier (except
// the startup notification, see Model.Enqueue) and hands it to every
// notifier mailbox: at once, or with StoreFirst once the batch holding
// its slots is durable (see flush).
func (a *Actor) dispatch(model *Model, n messages.Notification) {
	n.ID = a.idPrefix + "-" + strconv.FormatUint(a.idSeq.Add(1), 10)
	if n.Kind != messages.Startup {
		model.Enqueue(a.kinds(), n)
	}
	a.logger.Info("notification", "kind", n.Kind.String(), "status", n.Status.String(), "replicas", len(n.Replicas), "id", n.ID)
	if a.storeFirst && n.Kind != messages.Startup && a.link != nil {
		a.held = append(a.held, n)
		return
	}
	a.send(n)
}

// send hands n to every notifier mailbox.
func (a *Actor) send(n messages.Notification) {
	for _, s := range a.subscribers {
		a.offer(s.Mailbox, n)
	}
}

// handOver gives every notifier what its outbox slot holds (except, with
// StoreFirst, a notification not yet durable).
func (a *Actor) handOver(model *Model, what string) {
	for _, s := range a.subscribers {
		if n, ok := model.Undelivered(s.Kind); ok && !a.isHeld(n.ID) {
			a.logger.Info(what, "notifier", s.Kind, "kind", n.Kind.String(), "status", n.Status.String(), "id", n.ID)
			a.offer(s.Mailbox, n)
		}
	}
}

// offer puts n in a notifier mailbox without ever blocking: when the
// mailbox is full its oldest notification is dropped (the notifier would
// only have superseded it).
func (a *Actor) offer(mb chan messages.Notification, n messages.Notification) {
	for {
		select {
		case mb <- n:
			return
		default:
		}
		select {
		case old := <-mb:
			a.dropped.Add(1)
			a.logger.Warn("notifier mailbox full, oldest notification dropped", "kind", old.Kind.String(), "status", old.Status.String())
		default:
		}
	}
}

// isHeld reports whether the notification id waits to be stored.
func (a *Actor) isHeld(id string) bool {
	for _, n := range a.held {
		if n.ID == id {
			return true
		}
	}
	return false
}

// kinds lists the notifier kinds of the subscribers.
func (a *Actor) kinds() []string {
	out := make([]string, len(a.subscribers))
	for i, s := range a.subscribers {
		out[i] = s.Kind
	}
	return out
}

// takeDeliveries applies the delivery reports already sent when the actor
// stops, so that the last batch does not keep in the outbox what has just
// been delivered.
func (a *Actor) takeDeliveries(model *Model) {
	for {
		select {
		case d := <-a.delivered:
			model.Apply(d, time.Now())
		default:
			return
		}
	}
}

// ErrStopped is returned to a caller whose request the actor did not
// answer before the caller's context ended.
var ErrStopped = errors.New("state actor did not answer")

// ask sends a command and waits for its reply.
func (a *Actor) ask(ctx context.Context, msg messages.StateMessage, reply <-chan error) error {
	select {
	case a.inbox <- msg:
	case <-ctx.Done():
		return ErrStopped
	}
	select {
	case err := <-reply:
		return err
	case <-ctx.Done():
		return ErrStopped
	}
}

// AddAnnouncement publishes an announcement and returns once it is stored.
func (a *Actor) AddAnnouncement(ctx context.Context, ann messages.Announcement) error {
	reply := make(chan error, 1)
	return a.ask(ctx, messages.AnnouncementAdd{Announcement: ann, Reply: reply}, reply)
}

// RemoveAnnouncement retracts an announcement (ErrUnknownAnnouncement when
// there is none with that id).
func (a *Actor) RemoveAnnouncement(ctx context.Context, id string) error {
	reply := make(chan error, 1)
	return a.ask(ctx, messages.AnnouncementRemove{ID: id, Reply: reply}, reply)
}

// SetIgnore sets the reminder ignore window (a zero time clears it).
func (a *Actor) SetIgnore(ctx context.Context, until time.Time) error {
	reply := make(chan error, 1)
	return a.ask(ctx, messages.IgnoreSet{Until: until, Reply: reply}, reply)
}
