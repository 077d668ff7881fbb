// Package supervisors builds the supervisor tree from a validated
// configuration and wires every actor with its explicit dependencies (the
// actor packages know each other only through messages and small
// interfaces):
//
//	store                         when a store is configured: the store
//	│                             writer, stopped only after root has
//	│                             stopped (see Tree.Serve)
//	└── store writer
//	root ("vigil")
//	├── state                     central state actor
//	├── probes
//	│   ├── pools                 poll and script worker pools
//	│   └── service <id> …        one supervisor per configured service:
//	│                             a replica actor per poll/script replica,
//	│                             a node actor per push/local node, and a
//	│                             queue checker per node with a RabbitMQ queue
//	├── notifiers                 one actor per configured notifier
//	├── web                       the HTTP server
//	└── config watcher            added by the command
//
// Build constructs the tree; Tree.Reload moves a running tree to a new
// configuration, all or nothing, rebuilding only the actors whose
// definition changed (the Watcher actor triggers it on file changes and
// SIGHUP). Nothing here keeps package-level state; everything is built per
// call.
package supervisors

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/thejerf/suture/v4"

	nodeactor "github.com/vigil-go/vigil/actors/node"
	"github.com/vigil-go/vigil/actors/notifier"
	"github.com/vigil-go/vigil/actors/notifier/providers"
	"github.com/vigil-go/vigil/actors/persist"
	"github.com/vigil-go/vigil/actors/probe"
	"github.com/vigil-go/vigil/actors/queue"
	"github.com/vigil-go/vigil/actors/replica"
	"github.com/vigil-go/vigil/actors/state"
	"github.com/vigil-go/vigil/config"
	"github.com/vigil-go/vigil/httpapi"
	"github.com/vigil-go/vigil/messages"
	"github.com/vigil-go/vigil/metrics"
	"github.com/vigil-go/vigil/storage"
)

// Deps are the outside-world dependencies of a tree.
type Deps struct {
	Logger *slog.Logger
	// ProbeFactory builds the prober of each poll replica and script. Nil
	// means the real probes of package probe.
	ProbeFactory ProbeFactory
	// Listening is called with the HTTP server's bound address.
	Listening func(net.Addr)
	// PassThroughPanics makes panics crash the process (tests).
	PassThroughPanics bool
	// FailureBackoff overrides suture's backoff after repeated failures.
	FailureBackoff time.Duration
	// DisableWeb leaves the HTTP server out (benchmarks).
	DisableWeb bool
	// Version is the server version (asset cache-busters, logs).
	Version string
	// NotifierClient overrides the HTTP client of HTTP-based notifiers.
	NotifierClient *http.Client
	// NotifierBackoff overrides the pause before a notification retry.
	NotifierBackoff time.Duration
	// Metrics receives the server's metrics; nil builds a fresh registry.
	Metrics *metrics.Metrics
	// Store, when set, keeps state across restarts. Build loads it once to
	// seed the node actors; the state actor loads it at every start; the
	// store writer is the only one to write it, and rebuilds it from the
	// state actor's state when it fails or is damaged.
	Store storage.Repairable
	// Published, when set, is the snapshot holder the tree publishes to;
	// nil makes one. The trees of successive leadership terms of a cluster
	// share the cluster's (cluster.go).
	Published *state.Published
	// StoreFirst, StartupSent (see state.Options) and MaySend (see
	// notifier.Options) are set by BuildCluster for the tree of each
	// leadership term.
	StoreFirst  bool
	StartupSent *atomic.Bool
	MaySend     func() bool

	// term marks the tree of a leadership term: the cluster registers the
	// counters, once per process, and reads them from the current term.
	term bool
}

// ProbeFactory builds probers for replicas; tests substitute fakes.
type ProbeFactory interface {
	Poll(svc config.Service, node config.Node, r config.Replica) replica.Prober
	Script(svc config.Service, node config.Node, index int) replica.Prober
}

// Tree is a built supervisor tree. Its exported fields are set by Build
// and stay valid across reloads; the rest is the bookkeeping that lets
// Reload rebuild only what a new configuration changed. Build and Reload
// must not run concurrently (the config watcher serialises reloads).
type Tree struct {
	// Root supervises every actor but the store writer; the command adds
	// its own services (the config watcher) to it.
	Root *suture.Supervisor
	// Published holds the state actor's latest snapshot.
	Published *state.Published
	State     *state.Actor
	// Web is the HTTP server (nil with Deps.DisableWeb).
	Web *httpapi.Server
	// Router reaches the push and local node actors of the running
	// configuration.
	Router *RouterSwitch
	// Metrics is the registry the tree reports to.
	Metrics *metrics.Metrics

	deps      Deps
	logger    *slog.Logger
	cfg       *config.Config
	probes    *suture.Supervisor
	notifiers *suture.Supervisor
	// store supervises the store writer (nil without a store); Serve runs
	// it outside Root.
	store       *suture.Supervisor
	writer      *persist.Writer
	queueCounts *queue.Counters
	pools       *poolUnit
	services    map[string]*serviceUnit
	notes       map[string]*notifierUnit
	counted     map[string]bool
	live        atomic.Pointer[map[string]*notifier.Actor]
	// delivered carries the notifier actors' delivery reports to the
	// state actor (its outbox), across reloads.
	delivered chan messages.NotificationDelivered
	// icmpOnce guards icmpPrivileged: the ICMP socket kind is detected
	// (and logged) once per tree, which lives as long as the process.
	icmpOnce       sync.Once
	icmpPrivileged bool
	// cluster is set on the tree of an instance of a cluster
	// (BuildCluster): its actors are those of the current leadership term.
	cluster *clusterUnit
}

type notifierUnit struct {
	fp    string
	actor *notifier.Actor
	token suture.ServiceToken
}

type poolUnit struct {
	fp           string
	poll, script *replica.Pool
	sup          *suture.Supervisor
	token        suture.ServiceToken
}

// RouterSwitch lets the web layer reach the node actors of whichever
// configuration is running.
type RouterSwitch struct {
	p atomic.Pointer[nodeactor.Router]
}

// Report forwards to the current router.
func (r *RouterSwitch) Report(ctx context.Context, probe, node string, m messages.Report) error {
	return r.p.Load().Report(ctx, probe, node, m)
}

// Flush forwards to the current router.
func (r *RouterSwitch) Flush(ctx context.Context, probe, node string, m messages.Flush) error {
	return r.p.Load().Flush(ctx, probe, node, m)
}

// Serve runs the tree until ctx ends or a service asks to terminate it.
//
// The store writer runs under its own supervisor, on a context that ctx
// does not cancel: Serve stops it only once Root.Serve has returned, that
// is once the state actor has stopped, after handing its last batch to the
// writer and seeing it written. Nesting Root inside the writer's
// supervisor would not give that order: a supervisor cancels all its
// children at once, and a child's context ends with its parent's, however
// deep it sits.
func (t *Tree) Serve(ctx context.Context) error {
	if t.store != nil {
		storeCtx, stopStore := context.WithCancel(context.WithoutCancel(ctx))
		stopped := t.store.ServeBackground(storeCtx)
		defer func() {
			stopStore()
			<-stopped
		}()
	}
	err := t.Root.Serve(ctx)
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		return nil
	}
	return err
}

func (t *Tree) spec() suture.Spec {
	return suture.Spec{
		EventHook:         EventLogger(t.logger),
		PassThroughPanics: t.deps.PassThroughPanics,
		FailureBackoff:    t.deps.FailureBackoff,
	}
}

// Build constructs the whole tree for cfg. It fails only on notifier
// sections that their provider rejects (a config.Errors value).
func Build(cfg *config.Config, deps Deps) (*Tree, error) {
	logger := deps.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	if deps.Metrics == nil {
		deps.Metrics = metrics.New()
	}
	if deps.NotifierClient == nil {
		deps.NotifierClient = providers.NewHTTPClient()
	}
	t := &Tree{
		deps: deps, logger: logger, Metrics: deps.Metrics, Router: &RouterSwitch{}, queueCounts: &queue.Counters{},
		services: map[string]*serviceUnit{}, notes: map[string]*notifierUnit{}, counted: map[string]bool{},
		delivered: make(chan messages.NotificationDelivered, state.DeliveredSize),
	}
	t.Root = suture.New("vigil", t.spec())
	t.notifiers = suture.New("notifiers", t.spec())
	built, err := t.buildNotifiers(cfg)
	if err != nil {
		return nil, err
	}
	notes := t.planNotifiers(cfg, built)

	var restored *storage.State
	if deps.Store != nil {
		st, err := deps.Store.Load(context.Background())
		if err != nil {
			return nil, fmt.Errorf("loading stored state: %w", err)
		}
		restored = st
		t.writer = persist.New(deps.Store, logger)
		t.store = suture.New("store", t.spec())
		t.store.Add(t.writer)
	}
	t.Published = deps.Published
	if t.Published == nil {
		t.Published = &state.Published{}
	}
	opts := state.Options{Subscribers: notes.mailboxes, Delivered: t.delivered, StoreFirst: deps.StoreFirst, StartupSent: deps.StartupSent}
	if t.writer != nil { // a nil *persist.Writer must stay a nil interface
		opts.Store, opts.Writer = deps.Store, t.writer
	}
	t.State = state.New(cfg, t.Published, logger, opts)
	t.applyNotifiers(notes)
	t.Root.Add(t.State)
	t.probes = suture.New("probes", t.spec())
	t.Root.Add(t.probes)
	t.applyServices(cfg, func(probe, node string) []storage.Replica { return restoredFor(restored, probe, node) })
	t.Root.Add(t.notifiers)
	if !deps.term {
		t.registerCounters()
	}
	t.cfg = cfg
	if !deps.DisableWeb {
		t.Web = t.buildWeb(cfg)
		t.Root.Add(webService{t.Web})
	}
	return t, nil
}

// buildWeb makes the HTTP server: its site settings (branding, assets,
// tokens, MCP, metrics) come from cfg, and a reload hands it the next
// configuration (Server.Reconfigure); the actors' doors, the metrics and
// the readiness check are fixed for the life of the tree.
func (t *Tree) buildWeb(cfg *config.Config) *httpapi.Server {
	m, published, w := t.Metrics, t.Published, t.writer
	return httpapi.New(httpapi.Options{
		Addr:      cfg.Server.Inet,
		Snapshots: t.Published,
		Config:    cfg,
		Reporter:  t.Router,
		Manager:   t.State,
		Metrics:   promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{}),
		Observe:   m.ObserveRequest,
		Ready: func() (bool, string) {
			if w != nil {
				if err := w.Health(); err != nil {
					return false, "state store: " + err.Error()
				}
			}
			if published.Latest().Refreshed.IsZero() {
				return false, "waiting for the first probe results"
			}
			return true, ""
		},
		Version:   t.deps.Version,
		Logger:    t.logger,
		Listening: t.deps.Listening,
	})
}

// buildNotifiers constructs (and so validates) every configured notifier.
func (t *Tree) buildNotifiers(cfg *config.Config) ([]providers.Built, error) {
	if cfg.Notify == nil {
		return nil, nil
	}
	built, problems := providers.Kinds().Build(cfg, providers.Deps{
		HTTPClient: t.deps.NotifierClient, PageTitle: cfg.Branding.PageTitle, PageURL: cfg.Branding.PageURL, Logger: t.logger,
	})
	if len(problems) > 0 {
		return nil, problems
	}
	return built, nil
}

// notifierPlan is the notifier actors a configuration needs, by kind: the
// running ones whose section did not change, and new ones built but not
// started; mailboxes are all of theirs, with their kinds, in registry
// order.
type notifierPlan struct {
	units     map[string]*notifierUnit
	mailboxes []state.Subscriber
}

// planNotifiers decides which notifier actors to keep and builds the new
// ones without starting them; it changes nothing.
func (t *Tree) planNotifiers(cfg *config.Config, built []providers.Built) notifierPlan {
	p := notifierPlan{units: map[string]*notifierUnit{}}
	for _, b := range built {
		kind := b.Provider.Kind()
		fp := notifierFP(cfg, kind)
		u, ok := t.notes[kind]
		if !ok || u.fp != fp {
			a := notifier.New(b.Provider, notifier.Options{RemindersOnly: b.RemindersOnly, Backoff: t.deps.NotifierBackoff,
				Delivered: t.delivered, MaySend: t.deps.MaySend}, t.logger)
			u = &notifierUnit{fp: fp, actor: a}
		}
		p.units[kind] = u
		p.mailboxes = append(p.mailboxes, state.Subscriber{Kind: kind, Mailbox: u.actor.Mailbox()})
	}
	return p
}

// applyNotifiers starts the new actors of p, then stops the running ones
// that p does not keep.
func (t *Tree) applyNotifiers(p notifierPlan) {
	live := map[string]*notifier.Actor{}
	for kind, u := range p.units {
		if t.notes[kind] != u {
			u.token = t.notifiers.Add(u.actor)
		}
		live[kind] = u.actor
	}
	for kind, u := range t.notes {
		if p.units[kind] != u {
			_ = t.notifiers.RemoveAndWait(u.token, removeTimeout)
		}
	}
	t.notes = p.units
	t.live.Store(&live)
}

// removeTimeout bounds how long a reload waits for a stopped actor.
const removeTimeout = 5 * time.Second

// notifierFP fingerprints one notifier's decoded section and the branding
// it uses.
func notifierFP(cfg *config.Config, kind string) string {
	var section any
	if cfg.Notify != nil {
		section = cfg.Notify.Notifiers[kind]
	}
	b, _ := json.Marshal(struct {
		Section    any
		Title, URL string
	}{section, cfg.Branding.PageTitle, cfg.Branding.PageURL})
	return string(b)
}

// queueParallelism bounds the RabbitMQ management API calls in flight
// across all nodes.
const queueParallelism = 4

// queueChecks builds the RabbitMQ queue checkers; they share one limiter
// and one HTTP client per configuration, and the tree's counters. Its
// methods do nothing on the value made when [plugins.rabbitmq] is absent.
type queueChecks struct {
	cfg     *config.Config
	plugin  *config.RabbitMQ
	limiter *queue.Limiter
	client  *http.Client
	counts  *queue.Counters
	logger  *slog.Logger
}

func newQueueChecks(cfg *config.Config, counts *queue.Counters, logger *slog.Logger) *queueChecks {
	q := &queueChecks{cfg: cfg, plugin: cfg.Plugins.RabbitMQ, counts: counts, logger: logger}
	if q.plugin != nil {
		q.limiter = queue.NewLimiter(queueParallelism)
		q.client = queue.NewHTTPClient(cfg.Metrics.PollDelayDead)
	}
	return q
}

// signals makes the channel between a node actor and its queue checker,
// or returns nil when the node gets no checker (rabbitmq_* keys are only
// used on push nodes, and only with the plugin, spec §2.9).
func (q *queueChecks) signals(node config.Node) chan messages.QueueSignal {
	if q.plugin == nil || node.Mode != config.ModePush || node.RabbitMQQueue == "" {
		return nil
	}
	return queue.NewSignals()
}

func (q *queueChecks) checker(svc config.Service, node config.Node, signals chan messages.QueueSignal, mailbox chan<- messages.NodeMessage) *queue.Checker {
	return queue.New(queue.Spec{
		Probe: svc.ID, Node: node.ID, Queue: node.RabbitMQQueue, Plugin: *q.plugin,
		NackHealthyBelow: node.RabbitMQQueueNackHealthyBelow, NackDeadAbove: node.RabbitMQQueueNackDeadAbove,
		PageURL: q.cfg.Branding.PageURL, Timeout: q.cfg.Metrics.PollDelayDead, Client: q.client,
		Limiter: q.limiter, Signals: signals, Out: mailbox, Counters: q.counts, Logger: q.logger,
	})
}

// restoredFor picks the stored replicas of one node.
func restoredFor(st *storage.State, probe, node string) []storage.Replica {
	if st == nil {
		return nil
	}
	var out []storage.Replica
	for _, r := range st.Replicas {
		if r.Key.Probe == probe && r.Key.Node == node {
			out = append(out, r)
		}
	}
	return out
}

// webService turns a bind failure into a tree termination instead of a
// restart loop (spec §11 item 31).
type webService struct{ *httpapi.Server }

func (w webService) Serve(ctx context.Context) error {
	err := w.Server.Serve(ctx)
	if errors.Is(err, httpapi.ErrBind) {
		return &FatalError{Err: err, Code: ExitBind}
	}
	return err
}

type probeFactory struct {
	cfg     *config.Config
	deps    probe.Deps
	metrics *metrics.Metrics
}

// instrumented records every attempt of a prober in the metrics.
type instrumented struct {
	kind    string
	prober  replica.Prober
	metrics *metrics.Metrics
}

func (i instrumented) Probe(ctx context.Context) messages.ProbeResult {
	r := i.prober.Probe(ctx)
	i.metrics.ObserveProbe(i.kind, r)
	return r
}

// realProbes builds the real probers for cfg; icmpMode is asked for the
// ICMP socket kind only when cfg has an ICMP replica.
func realProbes(cfg *config.Config, logger *slog.Logger, m *metrics.Metrics, icmpMode func() bool) ProbeFactory {
	f := &probeFactory{cfg: cfg, metrics: m, deps: probe.Deps{
		HTTPClient: probe.NewHTTPClient(cfg.Metrics.PollDelayDead),
		UserAgent:  "vigil (+" + cfg.Branding.PageURL + ")",
		Logger:     logger,
	}}
	if hasICMP(cfg) {
		f.deps.ICMPPrivileged = icmpMode()
	}
	return f
}

// icmpMode returns the ICMP socket kind to use (true: raw sockets),
// detecting it on first use only, so that a reload neither tries the
// sockets again nor repeats the log line saying which kind is used.
func (t *Tree) icmpMode() bool {
	t.icmpOnce.Do(func() { t.icmpPrivileged = probe.DetectICMPMode(t.logger) })
	return t.icmpPrivileged
}

// countReplicas counts the poll and script replica actors cfg needs.
func countReplicas(cfg *config.Config) (polls, scripts int) {
	for _, s := range cfg.Probe.Services {
		for _, n := range s.Nodes {
			switch n.Mode {
			case config.ModePoll:
				polls += len(n.Replicas)
			case config.ModeScript:
				scripts += len(n.Scripts)
			}
		}
	}
	return polls, scripts
}

func hasICMP(cfg *config.Config) bool {
	for _, s := range cfg.Probe.Services {
		for _, n := range s.Nodes {
			for _, r := range n.Replicas {
				if r.Kind == config.KindICMP {
					return true
				}
			}
		}
	}
	return false
}

func (f *probeFactory) Poll(_ config.Service, node config.Node, r config.Replica) replica.Prober {
	return instrumented{kind: string(r.Kind), prober: probe.New(r, node, f.cfg.Metrics, f.deps), metrics: f.metrics}
}

func (f *probeFactory) Script(_ config.Service, node config.Node, i int) replica.Prober {
	return instrumented{kind: "script", prober: probe.NewScript(i, node.Scripts[i], f.cfg.Metrics), metrics: f.metrics}
}
