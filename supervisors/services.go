package supervisors

import (
	"encoding/json"
	"fmt"
	"strconv"

	"github.com/thejerf/suture/v4"

	nodeactor "github.com/vigil-go/vigil/actors/node"
	"github.com/vigil-go/vigil/actors/queue"
	"github.com/vigil-go/vigil/actors/replica"
	"github.com/vigil-go/vigil/config"
	"github.com/vigil-go/vigil/messages"
	"github.com/vigil-go/vigil/storage"
)

// serviceUnit is one service's supervisor and its actors, by actor id.
type serviceUnit struct {
	sup    *suture.Supervisor
	token  suture.ServiceToken
	actors map[string]*actorUnit
}

// actorUnit is one replica actor, or one node actor with its optional
// queue checker; fp fingerprints everything it was built from, so a reload
// can tell whether it must be rebuilt.
type actorUnit struct {
	fp           string
	token        suture.ServiceToken
	node         *nodeactor.Actor
	checker      *queue.Checker
	checkerToken suture.ServiceToken
}

// desiredActor is an actor a configuration asks for.
type desiredActor struct {
	id, fp string
	build  func(sup *suture.Supervisor) *actorUnit
}

// applyServices moves the probes subtree to cfg: a service that is gone
// loses its supervisor, a new one gets one, and within a kept service only
// the actors whose fingerprint changed are stopped and rebuilt; the others
// keep running untouched. seed gives the known push/local replicas of a
// node built now.
func (t *Tree) applyServices(cfg *config.Config, seed func(probe, node string) []storage.Replica) {
	factory := t.deps.ProbeFactory
	if factory == nil {
		factory = realProbes(cfg, t.logger, t.Metrics, t.icmpMode)
	}
	poolFP := fmt.Sprint(cfg.Metrics.PollParallelism, "/", cfg.Metrics.ScriptParallelism)
	oldPools := t.pools
	if t.pools == nil || t.pools.fp != poolFP {
		polls, scripts := countReplicas(cfg)
		p := &poolUnit{fp: poolFP, sup: suture.New("pools", t.spec()),
			poll:   replica.NewPool("poll", cfg.Metrics.PollParallelism, max(2*polls, 1024)),
			script: replica.NewPool("script", cfg.Metrics.ScriptParallelism, max(2*scripts, 64))}
		for _, pool := range []*replica.Pool{p.poll, p.script} {
			for _, w := range pool.Workers() {
				p.sup.Add(w)
			}
		}
		p.token = t.probes.Add(p.sup)
		t.pools = p
	}
	queues := newQueueChecks(cfg, t.queueCounts, t.logger)
	next := map[string]*serviceUnit{}
	for _, svc := range cfg.Probe.Services {
		u, ok := t.services[svc.ID]
		if !ok {
			u = &serviceUnit{sup: suture.New("service "+svc.ID, t.spec()), actors: map[string]*actorUnit{}}
			u.token = t.probes.Add(u.sup)
		}
		want := t.desiredActors(cfg, svc, factory, queues, seed, poolFP)
		keep := map[string]bool{}
		for _, d := range want {
			keep[d.id] = true
			if old, ok := u.actors[d.id]; ok {
				if old.fp == d.fp {
					continue
				}
				t.stopActor(u, old)
			}
			a := d.build(u.sup)
			a.fp = d.fp
			u.actors[d.id] = a
		}
		for id, a := range u.actors {
			if !keep[id] {
				t.stopActor(u, a)
				delete(u.actors, id)
			}
		}
		next[svc.ID] = u
	}
	for id, u := range t.services {
		if _, ok := next[id]; !ok {
			_ = t.probes.RemoveAndWait(u.token, removeTimeout)
		}
	}
	if oldPools != nil && oldPools != t.pools {
		_ = t.probes.RemoveAndWait(oldPools.token, removeTimeout)
	}
	t.services = next
	var nodes []*nodeactor.Actor
	for _, u := range next {
		for _, a := range u.actors {
			if a.node != nil {
				nodes = append(nodes, a.node)
			}
		}
	}
	t.Router.p.Store(nodeactor.NewRouter(cfg, nodes))
}

func (t *Tree) stopActor(u *serviceUnit, a *actorUnit) {
	if a.checker != nil {
		_ = u.sup.RemoveAndWait(a.checkerToken, removeTimeout)
	}
	_ = u.sup.RemoveAndWait(a.token, removeTimeout)
}

// desiredActors lists the actors one service needs, each with its
// fingerprint and a constructor that adds it to the service supervisor.
func (t *Tree) desiredActors(cfg *config.Config, svc config.Service, factory ProbeFactory, queues *queueChecks,
	seed func(probe, node string) []storage.Replica, poolFP string) []desiredActor {
	inbox := t.State.Inbox()
	pools := t.pools
	var out []desiredActor
	for _, node := range svc.Nodes {
		switch node.Mode {
		case config.ModePoll:
			for _, r := range node.Replicas {
				out = append(out, desiredActor{
					id: "poll " + node.ID + " " + r.ID,
					fp: fingerprint(r, node.HTTPHeaders, node.HTTPMethod, node.HTTPBody, node.HTTPBodyHealthyMatch, cfg.Metrics, poolFP, cfg.Branding.PageURL),
					build: func(sup *suture.Supervisor) *actorUnit {
						return &actorUnit{token: sup.Add(replica.New(replica.Spec{
							Key:    messages.ReplicaKey{Probe: svc.ID, Node: node.ID, Replica: r.ID},
							Prober: factory.Poll(svc, node, r), Pool: pools.poll,
							Interval: cfg.Metrics.PollInterval, Retries: cfg.Metrics.PollRetry, RetryWait: cfg.Metrics.PollRetryWait,
							Out: inbox, Logger: t.logger,
						}))}
					},
				})
			}
		case config.ModeScript:
			for i, script := range node.Scripts {
				out = append(out, desiredActor{
					id: "script " + node.ID + " " + strconv.Itoa(i),
					fp: fingerprint(script, cfg.Metrics, poolFP),
					build: func(sup *suture.Supervisor) *actorUnit {
						return &actorUnit{token: sup.Add(replica.New(replica.Spec{
							Key:    messages.ReplicaKey{Probe: svc.ID, Node: node.ID, Replica: strconv.Itoa(i)},
							Prober: factory.Script(svc, node, i), Pool: pools.script,
							Interval: cfg.Metrics.ScriptInterval, Out: inbox, Logger: t.logger,
						}))}
					},
				})
			}
		case config.ModePush, config.ModeLocal:
			out = append(out, desiredActor{
				id: "node " + node.ID,
				fp: fingerprint(node, cfg.Metrics, cfg.Plugins.RabbitMQ, cfg.Branding.PageURL),
				build: func(sup *suture.Supervisor) *actorUnit {
					return t.buildNode(cfg, svc, node, queues, seed, sup)
				},
			})
		}
	}
	return out
}

// buildNode adds a push or local node actor (and its queue checker, when
// the node has a RabbitMQ queue) to sup.
func (t *Tree) buildNode(cfg *config.Config, svc config.Service, node config.Node, queues *queueChecks,
	seed func(probe, node string) []storage.Replica, sup *suture.Supervisor) *actorUnit {
	delay := cfg.Metrics.PushDelayDead
	if node.Mode == config.ModeLocal {
		delay = cfg.Metrics.LocalDelayDead
	}
	signals := queues.signals(node)
	published := t.Published
	a := nodeactor.New(nodeactor.Spec{
		Probe: svc.ID, Node: node.ID, Mode: node.Mode, DelayDead: delay,
		CPUSickAbove: cfg.Metrics.PushSystemCPUSickAbove, RAMSickAbove: cfg.Metrics.PushSystemRAMSickAbove,
		MaxReplicas: cfg.Metrics.PushReplicasMax, Out: t.State.Inbox(), Logger: t.logger,
		Restore: seed(svc.ID, node.ID), QueueSignals: signals,
		Reseed: func() []storage.Replica { return seedFromSnapshot(published.Latest(), svc.ID, node.ID) },
	})
	u := &actorUnit{node: a, token: sup.Add(a)}
	if signals != nil {
		u.checker = queues.checker(svc, node, signals, a.Mailbox())
		u.checkerToken = sup.Add(u.checker)
	}
	return u
}

// fingerprint renders values as JSON (regular expressions as their
// pattern, pointers as what they point to) for equality checks.
func fingerprint(vs ...any) string {
	b, _ := json.Marshal(vs)
	return string(b)
}
