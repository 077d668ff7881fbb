package agent

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/thejerf/suture/v4"

	"github.com/vigil-go/vigil/actors/probe"
	"github.com/vigil-go/vigil/actors/replica"
	"github.com/vigil-go/vigil/config"
	"github.com/vigil-go/vigil/messages"
	"github.com/vigil-go/vigil/supervisors"
)

// Deps are the outside-world dependencies of an agent tree.
type Deps struct {
	Logger *slog.Logger
	// Version is the agent's version, sent in the User-Agent header.
	Version string
	// Listening is called with the bound address of [server] inet.
	Listening func(net.Addr)
	// PassThroughPanics makes panics crash the process (tests).
	PassThroughPanics bool
	// Client sends the reports; nil builds NewReportClient().
	Client *http.Client
	// Policy of report attempts; zero means DefaultPolicy().
	Policy Policy
	// Metrics receives the agent's metrics; nil builds a fresh registry.
	Metrics *Instruments
}

// UserAgent is the User-Agent of the agent's reports and HTTP probes:
// the original agent's product name, so that server logs and proxies
// treat both alike, and this binary's version.
func UserAgent(version string) string { return "vigil-local/" + version }

// Tree is a running agent's supervisor tree:
//
//	root ("vigil-local")
//	├── reporter              sends every result to the status page
//	├── probes
//	│   ├── pools             poll and script worker pools
//	│   └── service <id> …    one supervisor per service: a replica
//	│                         actor per poll replica and per script
//	├── web                   /healthz and /metrics, when [server] inet is set
//	└── config watcher        added by the command
//
// The replica actors and probers are the server's (packages
// actors/replica and actors/probe); their results go to the reporter
// instead of a state actor. Build and Reload must not run concurrently
// (the config watcher serialises reloads).
type Tree struct {
	// Root supervises everything; the command adds the config watcher.
	Root *suture.Supervisor
	// Reporter is the reporter actor.
	Reporter *Reporter
	// Metrics is the registry the tree reports to.
	Metrics *Instruments

	deps     Deps
	logger   *slog.Logger
	cfg      *Config
	probes   *suture.Supervisor
	poll     *replica.Pool
	script   *replica.Pool
	services map[string]*serviceUnit
	// icmpOnce guards icmpPrivileged: the ICMP socket kind is detected
	// (and logged) once per tree.
	icmpOnce       sync.Once
	icmpPrivileged bool
	httpClient     *http.Client
}

type serviceUnit struct {
	sup    *suture.Supervisor
	token  suture.ServiceToken
	actors map[string]*actorUnit
}

type actorUnit struct {
	fp    string
	token suture.ServiceToken
}

// removeTimeout bounds how long a reload waits for a stopped actor.
const removeTimeout = 5 * time.Second

// Build constructs the tree for cfg.
func Build(cfg *Config, deps Deps) *Tree {
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	if deps.Metrics == nil {
		deps.Metrics = NewInstruments()
	}
	t := &Tree{deps: deps, logger: deps.Logger, Metrics: deps.Metrics, services: map[string]*serviceUnit{},
		httpClient: probe.NewHTTPClient(0)}
	spec := t.spec()
	t.Root = suture.New("vigil-local", spec)
	t.Reporter = NewReporter(ReporterSpec{
		Targets: targetsOf(cfg), Client: deps.Client, UserAgent: UserAgent(deps.Version),
		Policy: deps.Policy, Metrics: deps.Metrics, Logger: deps.Logger,
	})
	t.Root.Add(t.Reporter)
	t.probes = suture.New("probes", spec)
	t.Root.Add(t.probes)
	pools := suture.New("pools", spec)
	t.poll = replica.NewPool("poll", PollParallelism, 1024)
	t.script = replica.NewPool("script", ScriptParallelism, 256)
	for _, p := range []*replica.Pool{t.poll, t.script} {
		for _, w := range p.Workers() {
			pools.Add(w)
		}
	}
	t.probes.Add(pools)
	t.applyServices(cfg)
	if cfg.Server.Inet != "" {
		t.Root.Add(newWeb(cfg.Server.Inet, t.Metrics, deps.Listening))
	}
	t.cfg = cfg
	return t
}

func (t *Tree) spec() suture.Spec {
	return suture.Spec{EventHook: supervisors.EventLogger(t.logger), PassThroughPanics: t.deps.PassThroughPanics}
}

// Serve runs the tree until ctx ends or a service asks to terminate it.
func (t *Tree) Serve(ctx context.Context) error {
	err := t.Root.Serve(ctx)
	if errors.Is(err, context.Canceled) && ctx.Err() != nil {
		return nil
	}
	return err
}

// Reload moves the running tree to cfg (already validated): the reporter
// takes the new endpoint, token and intervals for every request from now
// on; replica actors whose definition is unchanged keep running
// untouched, changed ones are rebuilt, removed ones stop, new ones start.
// A new [server] inet or log_level needs a restart, which is logged.
func (t *Tree) Reload(cfg *Config) {
	old := t.cfg
	t.Reporter.SetTargets(targetsOf(cfg))
	added, removed, changed := t.applyServices(cfg)
	if cfg.Server.Inet != old.Server.Inet {
		t.logger.Warn("server.inet changed: restart the agent to serve on the new address", "running", old.Server.Inet, "configured", cfg.Server.Inet)
	}
	if cfg.Server.LogLevel != old.Server.LogLevel {
		t.logger.Warn("server.log_level changed: restart the agent to apply it", "running", old.Server.LogLevel, "configured", cfg.Server.LogLevel)
	}
	t.cfg = cfg
	t.logger.Info("configuration reloaded", "replicas_added", added, "replicas_removed", removed, "replicas_changed", changed,
		"endpoint", messages.RedactURL(cfg.Report.Endpoint))
}

// targetsOf is the reporter's view of cfg.
func targetsOf(cfg *Config) Targets {
	t := Targets{Endpoint: cfg.Report.Endpoint, Token: cfg.Report.Token, Intervals: map[messages.ReplicaKey]time.Duration{}}
	poll, script := cfg.Metrics.PollEvery(), cfg.Metrics.ScriptEvery()
	for _, s := range cfg.Probe.Services {
		for _, n := range s.Nodes {
			switch n.Mode {
			case config.ModePoll:
				for _, r := range n.Replicas {
					t.Intervals[messages.ReplicaKey{Probe: s.ID, Node: n.ID, Replica: r.ID}] = poll
				}
			case config.ModeScript:
				for i := range n.Scripts {
					t.Intervals[messages.ReplicaKey{Probe: s.ID, Node: n.ID, Replica: strconv.Itoa(i)}] = script
				}
			}
		}
	}
	return t
}

// desired is a replica actor a configuration asks for.
type desired struct {
	id, fp string
	build  func() *replica.Actor
}

// applyServices moves the probes subtree to cfg and counts the replica
// actors added, removed and rebuilt.
func (t *Tree) applyServices(cfg *Config) (added, removed, changed int) {
	next := map[string]*serviceUnit{}
	for _, svc := range cfg.Probe.Services {
		u, ok := t.services[svc.ID]
		if !ok {
			u = &serviceUnit{sup: suture.New("service "+svc.ID, t.spec()), actors: map[string]*actorUnit{}}
			u.token = t.probes.Add(u.sup)
		}
		keep := map[string]bool{}
		for _, d := range t.desiredActors(cfg, svc) {
			keep[d.id] = true
			if old, ok := u.actors[d.id]; ok {
				if old.fp == d.fp {
					continue
				}
				_ = u.sup.RemoveAndWait(old.token, removeTimeout)
				changed++
			} else {
				added++
			}
			u.actors[d.id] = &actorUnit{fp: d.fp, token: u.sup.Add(d.build())}
		}
		for id, a := range u.actors {
			if !keep[id] {
				_ = u.sup.RemoveAndWait(a.token, removeTimeout)
				delete(u.actors, id)
				removed++
			}
		}
		next[svc.ID] = u
	}
	for id, u := range t.services {
		if _, ok := next[id]; !ok {
			removed += len(u.actors)
			_ = t.probes.RemoveAndWait(u.token, removeTimeout)
		}
	}
	t.services = next
	return added, removed, changed
}

// desiredActors lists the replica actors of one service, each with a
// fingerprint of everything it is built from.
func (t *Tree) desiredActors(cfg *Config, svc Service) []desired {
	m := cfg.serverMetrics()
	deps := probe.Deps{HTTPClient: t.httpClient, UserAgent: UserAgent(t.deps.Version), Logger: t.logger}
	if hasICMP(svc) {
		deps.ICMPPrivileged = t.icmpMode()
	}
	inbox := t.Reporter.Inbox()
	var out []desired
	for _, n := range svc.Nodes {
		node := n.serverNode()
		switch n.Mode {
		case config.ModePoll:
			for _, r := range n.Replicas {
				key := messages.ReplicaKey{Probe: svc.ID, Node: n.ID, Replica: r.ID}
				out = append(out, desired{
					id: "poll " + n.ID + " " + r.ID,
					fp: fingerprint(r, n.HTTPBodyHealthyMatch, m),
					build: func() *replica.Actor {
						return replica.New(replica.Spec{
							Key: key, Pool: t.poll, Interval: m.PollInterval, Retries: m.PollRetry, RetryWait: m.PollRetryWait,
							Prober: instrumented{kind: string(r.Kind), prober: probe.New(r, node, m, deps), metrics: t.Metrics},
							Out:    inbox, Logger: t.logger,
						})
					},
				})
			}
		case config.ModeScript:
			for i, body := range n.Scripts {
				key := messages.ReplicaKey{Probe: svc.ID, Node: n.ID, Replica: strconv.Itoa(i)}
				out = append(out, desired{
					id: "script " + n.ID + " " + strconv.Itoa(i),
					fp: fingerprint(body, m),
					build: func() *replica.Actor {
						return replica.New(replica.Spec{
							Key: key, Pool: t.script, Interval: m.ScriptInterval,
							Prober: instrumented{kind: "script", prober: probe.NewScript(i, body, m), metrics: t.Metrics},
							Out:    inbox, Logger: t.logger,
						})
					},
				})
			}
		}
	}
	return out
}

func hasICMP(svc Service) bool {
	for _, n := range svc.Nodes {
		for _, r := range n.Replicas {
			if r.Kind == config.KindICMP {
				return true
			}
		}
	}
	return false
}

// icmpMode returns the ICMP socket kind to use (true: raw sockets),
// detected on first use only.
func (t *Tree) icmpMode() bool {
	t.icmpOnce.Do(func() { t.icmpPrivileged = probe.DetectICMPMode(t.logger) })
	return t.icmpPrivileged
}

// fingerprint renders values as JSON for equality checks.
func fingerprint(vs ...any) string {
	b, _ := json.Marshal(vs)
	return string(b)
}
