package supervisors

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/thejerf/suture/v4"

	"github.com/vigil-go/vigil/actors/state"
	"github.com/vigil-go/vigil/cluster"
	"github.com/vigil-go/vigil/config"
	"github.com/vigil-go/vigil/httpapi"
	"github.com/vigil-go/vigil/messages"
	"github.com/vigil-go/vigil/metrics"
	"github.com/vigil-go/vigil/storage"
)

// The tree of an instance of a cluster: several instances with the same
// configuration share the PostgreSQL database of [storage] dsn.
//
//	root ("vigil")
//	├── cluster                  opens the store (retrying with backoff),
//	│   │                        then runs:
//	│   ├── elector              keeps this instance's claim on the lease
//	│   ├── listener             the database's notifications
//	│   ├── mirror               the store's state, shown while following
//	│   └── roles                starts and stops the leader's term:
//	│       └── term <epoch>     while leading: a whole tree as Build makes
//	│                            it (state actor loaded from the store,
//	│                            probes, node actors, notifiers, store
//	│                            writer) without a web server, writing
//	│                            through storage.Fenced, plus the command
//	│                            consumer
//	├── web                      the HTTP server, on every instance
//	└── config watcher           added by the command
//
// Roles. Only the leader probes, decides and notifies; the other
// instances (followers) show what it stored. Followers could probe too,
// to share the load or as extra vantage points, but then two instances
// would hold two views of one replica, and deciding between them (which
// result wins, whose outage alerts) is a consensus of its own; with one
// decider the guarantees are those of one process, which the tests prove,
// and a failover costs one lease, not a disagreement. The mirror loads the
// whole state at each of the leader's writes (NOTIFY vigil_state,
// debounced 100 ms), every 5 s without one and after every reconnection,
// so the page, /status/*, badges, /metrics and the Manager API reads answer
// on every instance from the same data.
//
// On gaining the lease an instance builds the term's tree: its state
// actor loads the store, so no replica changes status because of the
// failover (a restored outage is not alerted again, probing resumes and
// confirms or ends it), and its node actors start from the stored push and
// local replicas, with the reports other instances queued meanwhile
// folded in (termStore), so a replica that kept reporting to any instance
// stays alive; its notifiers first deliver what the outbox holds. On
// losing it (its local deadline passed, or a write was fenced off) the
// instance cancels the term at once and goes back to mirroring; its
// notifiers ask the elector before every attempt, so nothing is sent
// even while the term stops.
//
// Writes on any instance: the leader applies a Reporter or Manager API
// write to its actors; a follower checks it against the configuration (and
// the mirrored state: an unknown replica or announcement, a full node),
// records it as a command and answers 200 once that has committed; the
// leader's consumer applies it.

// clusterUnit is the "cluster" service and what the web layer reaches
// through it.
type clusterUnit struct {
	t   *Tree
	id  string
	dsn string
	el  cluster.ElectorOptions
	// cfg is the configuration to run (reloads swap it).
	cfg atomic.Pointer[config.Config]
	// rt is set while the store is open.
	rt atomic.Pointer[clusterRuntime]
	// waiting says why the store is not open yet.
	waiting atomic.Pointer[string]
	// term is the running leadership term (nil while following).
	term atomic.Pointer[termUnit]
	// startupSent is shared by the terms: one startup notification per
	// process.
	startupSent atomic.Bool
	reloads     chan reloadRequest
	logger      *slog.Logger
}

// clusterRuntime is what runs while the store is open.
type clusterRuntime struct {
	store    storage.Repairable
	db       *cluster.DB
	queue    *cluster.Queue
	elector  *cluster.Elector
	listener *cluster.Listener
	mirror   *state.Mirror
}

// termUnit is one leadership term's tree.
type termUnit struct {
	epoch int64
	tree  *Tree
	// ctx ends when the term is stopped; done is closed once its tree has
	// stopped.
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
}

type reloadRequest struct {
	cfg   *config.Config
	reply chan error
}

// BuildCluster constructs the tree of one instance of a cluster on
// cfg.Storage.DSN (see above). deps.Store is ignored: the instance opens
// PostgreSQL itself and, while it cannot, keeps serving the page without
// data and answers /readyz 503 with the reason, retrying with backoff.
func BuildCluster(cfg *config.Config, deps Deps) (*Tree, error) {
	logger := deps.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if deps.Metrics == nil {
		deps.Metrics = metrics.New()
	}
	deps.Store = nil
	if err := cluster.CheckDSN(cfg.Storage.DSN); err != nil {
		return nil, fmt.Errorf("storage.dsn: %w", err)
	}
	t := &Tree{deps: deps, logger: logger, Metrics: deps.Metrics, Router: &RouterSwitch{}, queueCounts: nil,
		services: map[string]*serviceUnit{}, notes: map[string]*notifierUnit{}, counted: map[string]bool{}}
	if _, err := t.buildNotifiers(cfg); err != nil {
		return nil, err
	}
	t.cfg = cfg
	t.Published = &state.Published{}
	state.PublishLayout(cfg, t.Published)
	h := &clusterUnit{t: t, id: cluster.NewIdentity(), dsn: cfg.Storage.DSN, reloads: make(chan reloadRequest),
		el:     cluster.ElectorOptions{TTL: cfg.Storage.LeaseTTL, Renew: cfg.Storage.LeaseRenew},
		logger: logger.With("actor", "cluster")}
	h.cfg.Store(cfg)
	why := "connecting to PostgreSQL"
	h.waiting.Store(&why)
	t.cluster = h
	t.Root = suture.New("vigil", t.spec())
	t.Root.Add(h)
	t.registerCounters()
	t.Metrics.Registry.MustRegister(prometheus.NewGaugeFunc(prometheus.GaugeOpts{
		Name: "vigil_leader", Help: "1 on the instance that leads the cluster (probes, decides and notifies), 0 on the others.",
	}, func() float64 {
		if h.leading() != nil {
			return 1
		}
		return 0
	}))
	if !deps.DisableWeb {
		t.Web = h.buildWeb(cfg)
		t.Root.Add(webService{t.Web})
	}
	logger.Info("cluster instance", "instance", h.id, "lease_ttl", h.el.TTL.String(), "lease_renew", h.el.Renew.String())
	return t, nil
}

func (h *clusterUnit) String() string { return "cluster" }

// current is the tree of the running term (nil while following).
func (h *clusterUnit) current() *Tree {
	if u := h.term.Load(); u != nil {
		return u.tree
	}
	return nil
}

// leading is the running term when this instance leads in it now.
func (h *clusterUnit) leading() *termUnit {
	rt, u := h.rt.Load(), h.term.Load()
	if rt == nil || u == nil || !rt.elector.Holds(u.epoch) {
		return nil
	}
	return u
}

// Open retry pauses: 1 s doubling to 30 s.
const (
	minOpenBackoff = time.Second
	maxOpenBackoff = 30 * time.Second
	// termStopTimeout bounds how long a stopping term is waited for.
	termStopTimeout = 8 * time.Second
	// reloadTimeout bounds how long a reload waits for the roles actor.
	reloadTimeout = 10 * time.Second
	// releaseTimeout bounds the release of the lease at shutdown.
	releaseTimeout = 2 * time.Second
	// rolesEvery is how often the roles actor checks the lease without a
	// signal from the elector.
	rolesEvery = time.Second
)

// Serve opens the store, retrying with backoff until it opens or ctx
// ends, then runs the cluster's actors. When they have stopped it releases
// the lease (so another instance takes over at once) and closes the
// store.
func (h *clusterUnit) Serve(ctx context.Context) error {
	store, err := h.open(ctx)
	if err != nil {
		return err
	}
	db, err := cluster.Open(h.dsn)
	if err != nil {
		_ = store.Close()
		return &FatalError{Err: err, Code: ExitConfig}
	}
	rt := &clusterRuntime{store: store, db: db, queue: db.Queue()}
	rt.elector = cluster.NewElector(h.id, db.Lease(), h.el, h.t.logger)
	rt.listener = cluster.NewListener(db, h.t.logger)
	rt.mirror = state.NewMirror(h.cfg.Load(), h.t.Published, store, state.MirrorOptions{
		Signals: rt.listener.State(),
		Active:  func() bool { return h.term.Load() == nil },
		OnPublish: func(gen uint64) {
			if h.t.Web != nil {
				h.t.Web.Expect(gen)
			}
		},
	}, h.t.logger)
	h.rt.Store(rt)
	sup := suture.New("cluster", h.t.spec())
	sup.Add(rt.elector)
	sup.Add(rt.listener)
	sup.Add(rt.mirror)
	sup.Add(&roles{h: h, rt: rt})
	err = sup.Serve(ctx)

	rctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), releaseTimeout)
	if rerr := rt.elector.Release(rctx); rerr != nil {
		h.logger.Warn("cannot release the lease; another instance takes over when it expires", "error", rerr.Error())
	}
	cancel()
	h.rt.Store(nil)
	why := "stopping"
	h.waiting.Store(&why)
	db.Close()
	_ = store.Close()
	return err
}

// open opens the PostgreSQL store, retrying with backoff; the reason it
// is not open yet is logged (once per distinct reason) and shown by
// /readyz.
func (h *clusterUnit) open(ctx context.Context) (storage.Repairable, error) {
	wait := time.Duration(0)
	last := ""
	for {
		store, err := storage.OpenPostgres(ctx, h.dsn, h.logger)
		if err == nil {
			return store, nil
		}
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		if errors.Is(err, storage.ErrSchemaTooNew) {
			return nil, &FatalError{Err: err, Code: ExitFatal}
		}
		wait = min(max(2*wait, minOpenBackoff), maxOpenBackoff)
		why := fmt.Sprintf("%v (retrying every %v at most)", err, maxOpenBackoff)
		h.waiting.Store(&why)
		if msg := err.Error(); msg != last {
			last = msg
			h.logger.Error("cannot open the PostgreSQL store; retrying", "retry_in", wait.String(), "error", msg)
		}
		t := time.NewTimer(wait)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil, ctx.Err()
		case <-t.C:
		}
	}
}

// roles is the actor that starts and stops the leadership terms.
//
// Owns: the running term (published in clusterUnit.term).
//
// Receives: the elector's signals, configuration reloads (from Tree.Reload),
// and its own tick every rolesEvery.
//
// Does: when the elector leads in an epoch that has no term, builds and
// starts the term's tree; when the running term's epoch is not the one the
// elector leads in (or it leads in none), stops that term at once (its
// context is cancelled; it is waited for at most termStopTimeout) and wakes
// the mirror. A term that fails to build (the store cannot be read) is
// tried again at the next tick.
type roles struct {
	h  *clusterUnit
	rt *clusterRuntime
}

func (r *roles) String() string { return "roles" }

func (r *roles) Serve(ctx context.Context) error {
	defer r.stopTerm()
	tick := time.NewTicker(rolesEvery)
	defer tick.Stop()
	for {
		r.reconcile(ctx)
		var ended <-chan struct{}
		if u := r.h.term.Load(); u != nil {
			ended = u.done
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-r.rt.elector.Changes():
		case <-tick.C:
		case <-ended:
			r.h.logger.Error("the leader's actors stopped on their own; starting them again")
			r.stopTerm()
		case req := <-r.h.reloads:
			req.reply <- r.reload(ctx, req.cfg)
		}
	}
}

// reconcile makes the running term match the elector's.
func (r *roles) reconcile(ctx context.Context) {
	epoch, leading := r.rt.elector.Leading()
	if u := r.h.term.Load(); u != nil && (!leading || u.epoch != epoch) {
		r.stopTerm()
	}
	if leading && r.h.term.Load() == nil && ctx.Err() == nil {
		r.startTerm(ctx, epoch)
	}
}

// startTerm builds and starts the tree of term epoch.
func (r *roles) startTerm(ctx context.Context, epoch int64) {
	h, el := r.h, r.rt.elector
	lease := func() (string, int64, bool) { return el.ID(), epoch, el.Holds(epoch) }
	fenced, err := storage.Fenced(r.rt.store, lease, cluster.StateChannel)
	if err != nil {
		h.logger.Error("cannot lead", "error", err.Error())
		return
	}
	deps := h.t.deps
	deps.Store = &termStore{Repairable: fenced, queue: r.rt.queue}
	deps.DisableWeb = true
	deps.Published = h.t.Published
	deps.Metrics = h.t.Metrics
	deps.StoreFirst = true
	deps.StartupSent = &h.startupSent
	deps.MaySend = func() bool { return el.Holds(epoch) }
	deps.term = true
	deps.Logger = h.t.logger.With("epoch", epoch)
	tree, err := Build(h.cfg.Load(), deps)
	if err != nil {
		h.logger.Error("cannot start leading; trying again", "epoch", epoch, "error", err.Error())
		return
	}
	tree.Root.Add(&cluster.Consumer{
		Queue: r.rt.queue, Target: termTarget{tree}, Signals: r.rt.listener.Commands(), Lease: lease,
		Published: func(id string) bool { return hasAnnouncement(tree.Published.Latest(), id) },
		Shown: func() {
			if h.t.Web != nil {
				h.t.Web.Expect(tree.Published.Latest().Generation)
			}
		},
		Logger: deps.Logger,
	})
	tctx, cancel := context.WithCancel(ctx)
	u := &termUnit{epoch: epoch, tree: tree, ctx: tctx, cancel: cancel, done: make(chan struct{})}
	h.term.Store(u) // the mirror stops publishing before the state actor starts
	h.t.registerNotifierCounters()
	go func() { // joined by stopTerm
		defer close(u.done)
		if err := tree.Serve(tctx); err != nil && tctx.Err() == nil {
			h.logger.Error("leader's actors stopped", "epoch", epoch, "error", err.Error())
		}
	}()
	h.logger.Info("leader's actors started: probing, deciding and notifying", "epoch", epoch)
}

// stopTerm stops the running term, if any, and hands the page back to the
// mirror.
func (r *roles) stopTerm() {
	u := r.h.term.Load()
	if u == nil {
		return
	}
	u.cancel()
	t := time.NewTimer(termStopTimeout)
	defer t.Stop()
	select {
	case <-u.done:
	case <-t.C:
		r.h.logger.Error("leader's actors did not stop in time; going on without them", "epoch", u.epoch)
	}
	r.h.term.Store(nil)
	r.rt.mirror.Wake()
	r.h.logger.Info("leader's actors stopped: following", "epoch", u.epoch)
}

// reload moves the running term and the mirror to cfg.
func (r *roles) reload(ctx context.Context, cfg *config.Config) error {
	if u := r.h.term.Load(); u != nil {
		if err := u.tree.Reload(ctx, cfg); err != nil {
			return err
		}
		r.h.t.registerNotifierCounters()
	}
	r.rt.mirror.Reconfigure(ctx, cfg)
	return nil
}

// reload is Tree.Reload for a cluster instance: the notifiers are checked,
// the running term (if any) and the mirror move to cfg, and later terms
// start with it.
func (h *clusterUnit) reload(ctx context.Context, cfg *config.Config) error {
	if _, err := h.t.buildNotifiers(cfg); err != nil {
		return err
	}
	// Stored first, so that a term starting meanwhile starts with it; put
	// back when the running term does not take it.
	old := h.cfg.Swap(cfg)
	if h.rt.Load() != nil {
		reply := make(chan error, 1)
		sctx, cancel := context.WithTimeout(ctx, reloadTimeout)
		defer cancel()
		select {
		case h.reloads <- reloadRequest{cfg: cfg, reply: reply}:
		case <-sctx.Done():
			h.cfg.Store(old)
			return fmt.Errorf("the cluster's actors did not take the configuration: %w", sctx.Err())
		}
		if err := <-reply; err != nil {
			h.cfg.Store(old)
			return err
		}
	}
	h.t.cfg = cfg
	if h.t.Web != nil {
		h.t.Web.Reconfigure(cfg)
	}
	if cfg.Server.Inet != old.Server.Inet {
		h.logger.Warn("server.inet changed: restart the server to listen on the new address", "running", old.Server.Inet, "configured", cfg.Server.Inet)
	}
	if cfg.Storage != old.Storage {
		h.logger.Warn("[storage] changed: restart the server to use it")
	}
	if h.term.Load() == nil {
		h.logger.Info("configuration reloaded")
	}
	return nil
}

// termStore is the store of a term: the fenced PostgreSQL store, whose
// Load also folds in the reports other instances queued, so that the
// term's node actors start from the newest report of each replica (a
// replica that kept reporting to any instance during the failover does
// not expire). The commands stay queued; the consumer applies them.
type termStore struct {
	storage.Repairable
	queue *cluster.Queue
}

func (s *termStore) Load(ctx context.Context) (*storage.State, error) {
	st, err := s.Repairable.Load(ctx)
	if err != nil {
		return nil, err
	}
	reports, err := s.queue.PendingReports(ctx)
	if err != nil {
		return nil, err
	}
	foldReports(st, reports)
	return st, nil
}

// foldReports moves the report times, intervals and loads of stored push
// and local replicas forward to the newest queued report of each (queued
// reports of replicas not stored yet are left to the consumer).
func foldReports(st *storage.State, reports []cluster.QueuedReport) {
	index := map[messages.ReplicaKey]int{}
	for i, r := range st.Replicas {
		index[r.Key] = i
	}
	for _, q := range reports {
		i, ok := index[q.Key]
		if !ok || !q.At.After(st.Replicas[i].Reported) {
			continue
		}
		r := &st.Replicas[i]
		r.Reported, r.Interval = q.At, q.Interval
		if q.Load != nil {
			r.Load = q.Load
		}
	}
}

// termTarget applies commands to a term's actors.
type termTarget struct{ t *Tree }

func (t termTarget) Report(ctx context.Context, probe, node string, m messages.Report) error {
	return t.t.Router.Report(ctx, probe, node, m)
}
func (t termTarget) Flush(ctx context.Context, probe, node string, m messages.Flush) error {
	return t.t.Router.Flush(ctx, probe, node, m)
}
func (t termTarget) AddAnnouncement(ctx context.Context, a messages.Announcement) error {
	return t.t.State.AddAnnouncement(ctx, a)
}
func (t termTarget) RemoveAnnouncement(ctx context.Context, id string) error {
	return t.t.State.RemoveAnnouncement(ctx, id)
}
func (t termTarget) SetIgnore(ctx context.Context, until time.Time) error {
	return t.t.State.SetIgnore(ctx, until)
}

func hasAnnouncement(s *messages.Snapshot, id string) bool {
	for _, a := range s.Announcements {
		if a.ID == id {
			return true
		}
	}
	return false
}

// buildWeb makes the HTTP server of a cluster instance: its doors lead to
// the term's actors while this instance leads, and to the commands table
// otherwise (clusterDoors).
func (h *clusterUnit) buildWeb(cfg *config.Config) *httpapi.Server {
	m, doors := h.t.Metrics, clusterDoors{h}
	return httpapi.New(httpapi.Options{
		Addr:      cfg.Server.Inet,
		Snapshots: h.t.Published,
		Config:    cfg,
		Reporter:  doors,
		Manager:   doors,
		Metrics:   promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{}),
		Observe:   m.ObserveRequest,
		Ready:     h.ready,
		Version:   h.t.deps.Version,
		Logger:    h.t.logger,
		Listening: h.t.deps.Listening,
	})
}

// ready is /readyz: the store must be open and answer; the leader must
// have its first probe results and a working store writer, a follower its
// first state from the store. The body names the leader.
func (h *clusterUnit) ready() (bool, string) {
	rt := h.rt.Load()
	if rt == nil {
		return false, "state store: " + *h.waiting.Load()
	}
	if err := rt.store.Health(); err != nil {
		return false, "state store: " + err.Error()
	}
	if u := h.leading(); u != nil {
		if w := u.tree.writer; w != nil {
			if err := w.Health(); err != nil {
				return false, "state store: " + err.Error()
			}
		}
		if h.t.Published.Latest().Refreshed.IsZero() {
			return false, "waiting for the first probe results"
		}
		return true, fmt.Sprintf("leader: %s (this instance), epoch %d", h.id, u.epoch)
	}
	if err := rt.mirror.Health(); err != nil {
		return false, "state store: " + err.Error()
	}
	if !rt.mirror.Loaded() {
		return false, "waiting for the state from PostgreSQL"
	}
	leader := rt.elector.Leader()
	if leader == "" {
		leader = "none at the moment"
	}
	return true, fmt.Sprintf("leader: %s\nfollower: %s (this instance)", leader, h.id)
}

// clusterDoors are the web layer's Reporter and Manager on a cluster
// instance: the term's actors while leading, the commands table while
// following (see the top of this file).
type clusterDoors struct{ h *clusterUnit }

// termContext is ctx, also cancelled when term u ends (the request then
// fails with 503 instead of waiting for an actor that stopped).
func termContext(ctx context.Context, u *termUnit) (context.Context, context.CancelFunc) {
	ctx, cancel := context.WithCancel(ctx)
	stop := context.AfterFunc(u.ctx, cancel)
	return ctx, func() { stop(); cancel() }
}

// follower returns the runtime to queue a command in, or ErrBusy when the
// store is not open.
func (d clusterDoors) follower() (*clusterRuntime, error) {
	if rt := d.h.rt.Load(); rt != nil {
		return rt, nil
	}
	return nil, messages.ErrBusy
}

// queued answers a follower's write: an error recording it is a 503.
func (d clusterDoors) queued(err error) error {
	if err != nil {
		d.h.logger.Warn("write not recorded for the leader", "error", err.Error())
		return fmt.Errorf("%w: %w", messages.ErrBusy, err)
	}
	return nil
}

// node finds a configured node.
func (d clusterDoors) node(probe, node string) (config.Node, bool) {
	for _, s := range d.h.cfg.Load().Probe.Services {
		if s.ID != probe {
			continue
		}
		for _, n := range s.Nodes {
			if n.ID == node {
				return n, true
			}
		}
	}
	return config.Node{}, false
}

// replicas lists the replica ids of a node as the page shows them.
func (d clusterDoors) replicas(probe, node string) []string {
	for _, p := range d.h.t.Published.Latest().Probes {
		if p.ID != probe {
			continue
		}
		for _, n := range p.Nodes {
			if n.ID == node {
				ids := make([]string, len(n.Replicas))
				for i, r := range n.Replicas {
					ids[i] = r.ID
				}
				return ids
			}
		}
	}
	return nil
}

// visible tells the web layer that what the page shows now is all a
// follower's write waits for (the write shows once the leader applied it
// and the mirror loaded it).
func (d clusterDoors) visible(ch chan<- uint64) {
	if ch != nil {
		select {
		case ch <- d.h.t.Published.Latest().Generation:
		default:
		}
	}
}

func (d clusterDoors) Report(ctx context.Context, probe, node string, m messages.Report) error {
	if u := d.h.leading(); u != nil {
		ctx, cancel := termContext(ctx, u)
		defer cancel()
		return u.tree.Router.Report(ctx, probe, node, m)
	}
	n, ok := d.node(probe, node)
	if !ok {
		return messages.ErrUnknownNode
	}
	want := config.ModePush
	if m.Load == nil {
		want = config.ModeLocal
	}
	if n.Mode != want {
		return messages.ErrWrongMode
	}
	if limit := d.h.cfg.Load().Metrics.PushReplicasMax; limit > 0 {
		ids := d.replicas(probe, node)
		known := false
		for _, id := range ids {
			known = known || id == m.Replica
		}
		if !known && len(ids) >= limit {
			return messages.ErrTooManyReplicas
		}
	}
	rt, err := d.follower()
	if err != nil {
		return err
	}
	if err := d.queued(rt.queue.Report(ctx, probe, node, m)); err != nil {
		return err
	}
	d.visible(m.Visible)
	return nil
}

func (d clusterDoors) Flush(ctx context.Context, probe, node string, m messages.Flush) error {
	if u := d.h.leading(); u != nil {
		ctx, cancel := termContext(ctx, u)
		defer cancel()
		return u.tree.Router.Flush(ctx, probe, node, m)
	}
	n, ok := d.node(probe, node)
	if !ok {
		return messages.ErrUnknownNode
	}
	if n.Mode != config.ModePush && n.Mode != config.ModeLocal {
		return messages.ErrWrongMode
	}
	known := false
	for _, id := range d.replicas(probe, node) {
		known = known || id == m.Replica
	}
	if !known {
		return messages.ErrUnknownReplica
	}
	rt, err := d.follower()
	if err != nil {
		return err
	}
	if err := d.queued(rt.queue.Flush(ctx, probe, node, m.Replica)); err != nil {
		return err
	}
	d.visible(m.Visible)
	return nil
}

func (d clusterDoors) AddAnnouncement(ctx context.Context, a messages.Announcement) error {
	if u := d.h.leading(); u != nil {
		ctx, cancel := termContext(ctx, u)
		defer cancel()
		return u.tree.State.AddAnnouncement(ctx, a)
	}
	rt, err := d.follower()
	if err != nil {
		return err
	}
	return d.queued(rt.queue.AddAnnouncement(ctx, a))
}

func (d clusterDoors) RemoveAnnouncement(ctx context.Context, id string) error {
	if u := d.h.leading(); u != nil {
		ctx, cancel := termContext(ctx, u)
		defer cancel()
		return u.tree.State.RemoveAnnouncement(ctx, id)
	}
	if !hasAnnouncement(d.h.t.Published.Latest(), id) {
		return messages.ErrUnknownAnnouncement
	}
	rt, err := d.follower()
	if err != nil {
		return err
	}
	return d.queued(rt.queue.RemoveAnnouncement(ctx, id))
}

func (d clusterDoors) SetIgnore(ctx context.Context, until time.Time) error {
	if u := d.h.leading(); u != nil {
		ctx, cancel := termContext(ctx, u)
		defer cancel()
		return u.tree.State.SetIgnore(ctx, until)
	}
	rt, err := d.follower()
	if err != nil {
		return err
	}
	return d.queued(rt.queue.SetIgnore(ctx, until))
}
