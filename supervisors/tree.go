// Package supervisors builds the supervisor tree from a validated
// configuration and wires every actor with its explicit dependencies:
//
//	root
//	├── state                     central state actor
//	├── probes
//	│   ├── pools                 poll and script worker pools
//	│   └── service <id> …        one supervisor per configured service,
//	│                             one replica actor per poll/script replica
//	├── notifiers                 one actor per configured notifier
//	└── web                       the HTTP server
//
// Nothing here keeps package-level state; everything is built per call.
package supervisors

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"time"

	"github.com/prometheus/client_golang/prometheus"
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
	// seed the node actors; the state actor loads it at every start.
	Store storage.Store
}

// ProbeFactory builds probers for replicas; tests substitute fakes.
type ProbeFactory interface {
	Poll(svc config.Service, node config.Node, r config.Replica) replica.Prober
	Script(svc config.Service, node config.Node, index int) replica.Prober
}

// Tree is a built, not yet running, supervisor tree.
type Tree struct {
	Root      *suture.Supervisor
	Published *state.Published
	State     *state.Actor
	Web       *httpapi.Server
	// Router reaches the push and local node actors.
	Router *nodeactor.Router
	// Notifiers are the notifier actors, in registry order.
	Notifiers []*notifier.Actor
	// QueueCheckers are the RabbitMQ queue checkers (one per push node
	// with rabbitmq_queue, when [plugins.rabbitmq] exists).
	QueueCheckers []*queue.Checker
	// Metrics is the registry the tree reports to.
	Metrics *metrics.Metrics
	// Replicas counts the replica and node actors started.
	Replicas int
}

// Serve runs the tree until ctx ends or a service asks to terminate it.
func (t *Tree) Serve(ctx context.Context) error {
	err := t.Root.Serve(ctx)
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		return nil
	}
	return err
}

// Build constructs the whole tree for cfg. It fails only on notifier
// sections that their provider rejects (a config.Errors value).
func Build(cfg *config.Config, deps Deps) (*Tree, error) {
	logger := deps.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	spec := func() suture.Spec {
		return suture.Spec{
			EventHook:         EventLogger(logger),
			PassThroughPanics: deps.PassThroughPanics,
			FailureBackoff:    deps.FailureBackoff,
		}
	}
	m := deps.Metrics
	if m == nil {
		m = metrics.New()
	}
	factory := deps.ProbeFactory
	if factory == nil {
		factory = realProbes(cfg, logger, m)
	}

	notifiers := suture.New("notifiers", spec())
	var mailboxes []chan messages.Notification
	t := &Tree{}
	if cfg.Notify != nil {
		client := deps.NotifierClient
		if client == nil {
			client = providers.NewHTTPClient()
		}
		built, notes, problems := providers.Build(cfg, providers.Deps{
			HTTPClient: client, PageTitle: cfg.Branding.PageTitle, PageURL: cfg.Branding.PageURL, Logger: logger,
		})
		if len(problems) > 0 {
			return nil, problems
		}
		for _, note := range notes {
			logger.Warn(note)
		}
		for _, b := range built {
			a := notifier.New(b.Provider, notifier.Options{RemindersOnly: b.RemindersOnly, Backoff: deps.NotifierBackoff}, logger)
			notifiers.Add(a)
			mailboxes = append(mailboxes, a.Mailbox())
			t.Notifiers = append(t.Notifiers, a)
		}
	}

	var restored *storage.State
	var writer *persist.Writer
	if deps.Store != nil {
		st, err := deps.Store.Load(context.Background())
		if err != nil {
			return nil, fmt.Errorf("loading stored state: %w", err)
		}
		restored = st
		writer = persist.New(deps.Store, logger)
	}

	published := &state.Published{}
	stateActor := state.New(cfg, published, logger, state.Options{Subscribers: mailboxes, Store: deps.Store, Writer: writer})
	t.Published, t.State, t.Metrics = published, stateActor, m
	registerCounters(m, t, stateActor, writer)

	root := suture.New("vigil", spec())
	if writer != nil {
		root.Add(writer)
	}
	root.Add(stateActor)

	probes := suture.New("probes", spec())
	root.Add(probes)
	pools := suture.New("pools", spec())
	probes.Add(pools)
	polls, scripts := countReplicas(cfg)
	pollPool := replica.NewPool("poll", cfg.Metrics.PollParallelism, polls)
	scriptPool := replica.NewPool("script", cfg.Metrics.ScriptParallelism, scripts)
	for _, p := range []*replica.Pool{pollPool, scriptPool} {
		for _, w := range p.Workers() {
			pools.Add(w)
		}
	}
	var nodeActors []*nodeactor.Actor
	var queues *queueChecks
	for _, svc := range cfg.Probe.Services {
		sup := suture.New("service "+svc.ID, spec())
		n := 0
		for _, node := range svc.Nodes {
			switch node.Mode {
			case config.ModePoll:
				for _, r := range node.Replicas {
					sup.Add(replica.New(replica.Spec{
						Key:       messages.ReplicaKey{Probe: svc.ID, Node: node.ID, Replica: r.ID},
						Prober:    factory.Poll(svc, node, r),
						Pool:      pollPool,
						Interval:  cfg.Metrics.PollInterval,
						Retries:   cfg.Metrics.PollRetry,
						RetryWait: cfg.Metrics.PollRetryWait,
						Out:       stateActor.Inbox(),
						Logger:    logger,
					}))
					n++
				}
			case config.ModePush, config.ModeLocal:
				delay := cfg.Metrics.PushDelayDead
				if node.Mode == config.ModeLocal {
					delay = cfg.Metrics.LocalDelayDead
				}
				if queues == nil {
					queues = newQueueChecks(cfg, logger)
				}
				signals := queues.signals(node)
				a := nodeactor.New(nodeactor.Spec{
					Probe: svc.ID, Node: node.ID, Mode: node.Mode, DelayDead: delay,
					CPUSickAbove: cfg.Metrics.PushSystemCPUSickAbove, RAMSickAbove: cfg.Metrics.PushSystemRAMSickAbove,
					MaxReplicas: cfg.Metrics.PushReplicasMax, Out: stateActor.Inbox(), Logger: logger,
					Restore: restoredFor(restored, svc.ID, node.ID), QueueSignals: signals,
				})
				sup.Add(a)
				nodeActors = append(nodeActors, a)
				n++
				if signals != nil {
					c := queues.checker(svc, node, signals, a.Mailbox())
					sup.Add(c)
					t.QueueCheckers = append(t.QueueCheckers, c)
				}
			case config.ModeScript:
				for i := range node.Scripts {
					sup.Add(replica.New(replica.Spec{
						Key:      messages.ReplicaKey{Probe: svc.ID, Node: node.ID, Replica: itoa(i)},
						Prober:   factory.Script(svc, node, i),
						Pool:     scriptPool,
						Interval: cfg.Metrics.ScriptInterval,
						Out:      stateActor.Inbox(),
						Logger:   logger,
					}))
					n++
				}
			}
		}
		if n > 0 {
			probes.Add(sup)
			t.Replicas += n
		}
	}
	t.Router = nodeactor.NewRouter(cfg, nodeActors)

	root.Add(notifiers)

	if !deps.DisableWeb {
		t.Web = httpapi.New(httpapi.Options{
			Addr:      cfg.Server.Inet,
			Snapshots: published,
			Page:      httpapi.Page{Title: cfg.Branding.PageTitle, URL: cfg.Branding.PageURL},
			Branding:  cfg.Branding,
			AssetsDir: assetsDir(cfg),
			Version:   deps.Version,
			Logger:    logger,
			Listening: deps.Listening,
		})
		t.Web.ObserveRequests(func(api string, code int) { m.Requests.WithLabelValues(api, strconv.Itoa(code)).Inc() })
		if cfg.Server.MetricsEnabled {
			t.Web.EnableMetrics(promhttp.HandlerFor(m.Registry, promhttp.HandlerOpts{}), cfg.Server.MetricsToken)
		}
		t.Web.EnableReporter(t.Router, cfg.Server.ReporterToken)
		t.Web.EnableManager(stateActor, cfg.Server.ManagerToken)
		t.Web.EnableHealth(func() (bool, string) {
			if published.Latest().Refreshed.IsZero() {
				return false, "waiting for the first probe results"
			}
			return true, ""
		})
		root.Add(webService{t.Web})
	}
	t.Root = root
	return t, nil
}

// queueParallelism bounds the RabbitMQ management API calls in flight
// across all nodes.
const queueParallelism = 4

// queueChecks builds the RabbitMQ queue checkers; they share one limiter
// and one HTTP client. Its methods do nothing on the value made when
// [plugins.rabbitmq] is absent.
type queueChecks struct {
	cfg     *config.Config
	plugin  *config.RabbitMQ
	limiter *queue.Limiter
	client  *http.Client
	logger  *slog.Logger
}

func newQueueChecks(cfg *config.Config, logger *slog.Logger) *queueChecks {
	q := &queueChecks{cfg: cfg, plugin: cfg.Plugins.RabbitMQ, logger: logger}
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
		Limiter: q.limiter, Signals: signals, Out: mailbox, Logger: q.logger,
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

// assetsDir returns assets.path when it names an existing directory.
func assetsDir(cfg *config.Config) string {
	if cfg.Assets.PathExists {
		return cfg.Assets.Path
	}
	return ""
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

func realProbes(cfg *config.Config, logger *slog.Logger, m *metrics.Metrics) ProbeFactory {
	f := &probeFactory{cfg: cfg, metrics: m, deps: probe.Deps{
		HTTPClient: probe.NewHTTPClient(cfg.Metrics.PollDelayDead),
		UserAgent:  "vigil (+" + cfg.Branding.PageURL + ")",
		Logger:     logger,
	}}
	if hasICMP(cfg) {
		f.deps.ICMPPrivileged = probe.DetectICMPMode(logger)
	}
	return f
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

// registerCounters exposes the actors' own counters.
func registerCounters(m *metrics.Metrics, t *Tree, st *state.Actor, w *persist.Writer) {
	for _, n := range t.Notifiers {
		l := prometheus.Labels{"notifier": n.Kind()}
		m.AddCounters(
			metrics.Counter{Name: "vigil_notifications_delivered_total", Help: "Notifications delivered, by notifier.", Labels: l,
				Value: func() float64 { return float64(n.Stats().Delivered) }},
			metrics.Counter{Name: "vigil_notifications_failed_total", Help: "Notifications dropped after every attempt failed, by notifier.", Labels: l,
				Value: func() float64 { return float64(n.Stats().Failed) }},
			metrics.Counter{Name: "vigil_notification_retries_total", Help: "Delivery attempts retried, by notifier.", Labels: l,
				Value: func() float64 { return float64(n.Stats().Retried) }},
		)
	}
	m.AddCounters(metrics.Counter{Name: "vigil_notifications_overflow_total", Help: "Notifications dropped from full notifier mailboxes.",
		Value: func() float64 { return float64(st.Dropped()) }})
	if w != nil {
		m.AddCounters(
			metrics.Counter{Name: "vigil_store_write_errors_total", Help: "Failed writes to the state store.",
				Value: func() float64 { return float64(w.Errors()) }},
			metrics.Counter{Name: "vigil_store_writes_total", Help: "Batches written to the state store.",
				Value: func() float64 { return float64(w.Writes()) }},
		)
	}
	m.WatchSnapshots(t.Published.Latest)
}
