package state

import (
	"context"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/vigil-go/vigil/config"
)

// Mirror is the state actor of an instance that does not lead, when
// several instances share one database (package cluster): the leader
// decides every status and writes it to the store, and the mirror shows
// what the store holds.
//
// Owns: the configuration it shows the store's state in, and the health
// of its last load.
//
// Receives: a signal (the database's notification that the leader wrote,
// or that the listener reconnected) after which it loads within
// MirrorDebounce, coalescing the signals of a burst; Wake, after which it
// loads at once (this instance stopped leading); new configurations
// (Reconfigure); and its own timer, every MirrorEvery, since a
// notification can be missed.
//
// Sends: each load as an immutable snapshot to the Published holder the
// web layer reads, built by the same model as the leader's (restored from
// the store as a restarting leader would, then marked refreshed at the
// time of the load), with generations that go on from the holder's.
//
// While this instance leads (Active reports false) it neither loads nor
// publishes: the leader's state actor publishes to the same holder.
//
// Restart: nothing to keep; Serve loads at once.
type Mirror struct {
	cfg       *config.Config
	store     Loader
	published *Published
	signals   <-chan struct{}
	active    func() bool
	onPublish func(gen uint64)
	logger    *slog.Logger
	configs   chan *config.Config
	wake      chan struct{}
	// lastErr is the error of the last load (nil after a success);
	// loaded is set by the first successful load.
	lastErr atomic.Pointer[error]
	loaded  atomic.Bool
}

const (
	// MirrorDebounce is how long the mirror lets a burst of signals
	// settle before it loads.
	MirrorDebounce = 100 * time.Millisecond
	// MirrorEvery is how often the mirror loads without a signal.
	MirrorEvery = 5 * time.Second
	// mirrorLoadTimeout bounds one load.
	mirrorLoadTimeout = 10 * time.Second
)

// MirrorOptions are the mirror's links.
type MirrorOptions struct {
	// Signals says the store changed (nil: the timer only).
	Signals <-chan struct{}
	// Active reports whether the mirror is to load and publish (nil:
	// always).
	Active func() bool
	// OnPublish, when set, is told the generation of every snapshot
	// published (the web layer then shows it promptly).
	OnPublish func(gen uint64)
}

// NewMirror builds the mirror of store for cfg.
func NewMirror(cfg *config.Config, published *Published, store Loader, o MirrorOptions, logger *slog.Logger) *Mirror {
	PublishLayout(cfg, published)
	if o.Active == nil {
		o.Active = func() bool { return true }
	}
	if o.OnPublish == nil {
		o.OnPublish = func(uint64) {}
	}
	return &Mirror{cfg: cfg, store: store, published: published, signals: o.Signals, active: o.Active, onPublish: o.OnPublish,
		logger: logger.With("actor", "mirror"), configs: make(chan *config.Config), wake: make(chan struct{}, 1)}
}

// PublishLayout publishes the configured layout, without data ("not yet
// refreshed"), unless published already holds a snapshot.
func PublishLayout(cfg *config.Config, published *Published) {
	if published.p.Load() == nil {
		published.store(NewModel(cfg).Snapshot())
	}
}

func (m *Mirror) String() string { return "mirror" }

// Wake makes the mirror load at once (without waiting).
func (m *Mirror) Wake() {
	select {
	case m.wake <- struct{}{}:
	default:
	}
}

// Reconfigure hands the mirror a new configuration; it loads and
// publishes in it before the next request is taken. It returns false when
// the mirror did not take it before ctx ended.
func (m *Mirror) Reconfigure(ctx context.Context, cfg *config.Config) bool {
	select {
	case m.configs <- cfg:
		return true
	case <-ctx.Done():
		return false
	}
}

// Health is the error of the last load, nil after a success.
func (m *Mirror) Health() error {
	if p := m.lastErr.Load(); p != nil {
		return *p
	}
	return nil
}

// Loaded reports whether a load has succeeded yet.
func (m *Mirror) Loaded() bool { return m.loaded.Load() }

// Serve mirrors the store until ctx ends.
func (m *Mirror) Serve(ctx context.Context) error {
	every := time.NewTicker(MirrorEvery)
	defer every.Stop()
	debounce := time.NewTimer(MirrorDebounce)
	debounce.Stop()
	defer debounce.Stop()
	armed := false
	m.load(ctx)
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-m.signals:
			if !armed {
				armed = true
				debounce.Reset(MirrorDebounce)
			}
			continue
		case <-debounce.C:
			armed = false
		case <-m.wake:
		case cfg := <-m.configs:
			m.cfg = cfg
		case <-every.C:
		}
		m.load(ctx)
	}
}

// load reads the store and publishes what it holds.
func (m *Mirror) load(ctx context.Context) {
	if !m.active() {
		return
	}
	lctx, cancel := context.WithTimeout(ctx, mirrorLoadTimeout)
	st, err := m.store.Load(lctx)
	cancel()
	if err != nil {
		if ctx.Err() != nil {
			return
		}
		if prev := m.Health(); prev == nil || prev.Error() != err.Error() {
			m.logger.Error("cannot read the state from the store; showing the last one read", "error", err.Error())
		}
		m.lastErr.Store(&err)
		return
	}
	if m.Health() != nil {
		m.logger.Info("reading the state from the store again")
	}
	m.lastErr.Store(nil)
	if !m.active() {
		return // this instance started leading during the load
	}
	now := time.Now()
	model := NewModel(m.cfg)
	model.gen = m.published.Latest().Generation
	model.Restore(st)
	model.mirrored(now)
	model.StartHistory(st.History, now)
	snap := model.Snapshot()
	m.published.store(snap)
	m.loaded.Store(true)
	m.onPublish(snap.Generation)
}

// mirrored marks a model restored from the leader's store as showing the
// state at now: every replica with a stored result counts as having one
// (the leader probed it), and the page as refreshed.
func (m *Model) mirrored(now time.Time) {
	for pi := range m.probes {
		for ni := range m.probes[pi].nodes {
			n := &m.probes[pi].nodes[ni]
			for i := range n.replicas {
				r := &n.replicas[i]
				if !r.seen && !r.updated.IsZero() {
					r.seen = true
					if n.mode == string(config.ModePoll) || n.mode == string(config.ModeScript) {
						m.unprobed--
					}
				}
			}
		}
	}
	m.refreshed = now
	m.dirty = true
}
