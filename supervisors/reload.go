package supervisors

import (
	"bytes"
	"context"
	"crypto/sha256"
	"fmt"
	"log/slog"
	"os"
	"path/filepath"
	"time"

	"github.com/fsnotify/fsnotify"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/vigil-go/vigil/actors/notifier"
	"github.com/vigil-go/vigil/actors/persist"
	"github.com/vigil-go/vigil/config"
	"github.com/vigil-go/vigil/messages"
	"github.com/vigil-go/vigil/metrics"
	"github.com/vigil-go/vigil/storage"
)

// Watcher is the configuration reload actor.
//
// Owns: the hash of the configuration text last loaded, and the debounce
// timer.
//
// Receives: file system events for the configuration file's DIRECTORY (so
// that a Kubernetes ConfigMap update, which swaps the mounted directory's
// "..data" symlink and never writes the file itself, is seen; so are
// editors that save by renaming), and SIGHUP through its Trigger channel.
//
// Sends: after a quiet Debounce, and only when the file's content differs
// from what is running, the file's path to Reload. Reload parses and
// validates the new configuration and applies it, or keeps the running one.
type Watcher struct {
	Path     string
	Debounce time.Duration
	// Trigger forces a check (SIGHUP); it may be nil.
	Trigger <-chan struct{}
	// Reload parses, validates and applies the configuration at Path, or
	// logs why it keeps the running one.
	Reload func(ctx context.Context)
	Logger *slog.Logger

	// seen is the hash of the content last tried (owned by Serve): the same
	// content is not tried twice unless forced by SIGHUP.
	seen [sha256.Size]byte
}

func (w *Watcher) String() string { return "config watcher" }

// Serve watches until ctx ends.
func (w *Watcher) Serve(ctx context.Context) error {
	if data, err := os.ReadFile(w.Path); err == nil {
		w.seen = sha256.Sum256(data)
	}
	fw, err := fsnotify.NewWatcher()
	if err != nil {
		return err
	}
	defer fw.Close()
	dir := filepath.Dir(w.Path)
	if err := fw.Add(dir); err != nil {
		return err
	}
	debounce := time.NewTimer(time.Hour)
	debounce.Stop()
	defer debounce.Stop()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case ev, ok := <-fw.Events:
			if !ok {
				return nil
			}
			_ = ev // any change in the directory may concern the file (symlink swaps)
			debounce.Reset(w.Debounce)
		case err, ok := <-fw.Errors:
			if ok {
				w.Logger.Warn("config watcher error", "error", err)
			}
		case <-w.Trigger:
			w.Logger.Info("reload requested (SIGHUP)")
			w.check(ctx, true)
		case <-debounce.C:
			w.check(ctx, false)
		}
	}
}

// check reloads when the content changed (or always when forced).
func (w *Watcher) check(ctx context.Context, force bool) {
	data, err := os.ReadFile(w.Path)
	if err != nil {
		w.Logger.Error("config reload: cannot read file", "path", w.Path, "error", err)
		return
	}
	sum := sha256.Sum256(data)
	if !force && bytes.Equal(sum[:], w.seen[:]) {
		return
	}
	w.seen = sum
	w.Reload(ctx)
}

// registerCounters exposes the actors' own counters. Queue checker counters
// are shared by every checker the tree ever runs, so they survive reloads;
// notifier counters follow the running notifier of each kind, and kinds
// that appear in a later configuration are registered when they appear.
//
// In a cluster the counters belong to the actors of the current
// leadership term (source), and read 0 while the instance follows.
func (t *Tree) registerCounters() {
	m := t.Metrics
	read := func(f func(*Tree) uint64) func() float64 {
		return func() float64 {
			if s := t.source(); s != nil {
				return float64(f(s))
			}
			return 0
		}
	}
	m.AddCounters(
		metrics.Counter{Name: "vigil_notifications_overflow_total", Help: "Notifications dropped from full notifier mailboxes.",
			Value: read(func(s *Tree) uint64 { return s.State.Dropped() })},
		metrics.Counter{Name: "vigil_queue_checks_total", Help: "RabbitMQ management API calls made by the queue checkers.",
			Value: read(func(s *Tree) uint64 { return s.queueCounts.Calls() })},
		metrics.Counter{Name: "vigil_queue_check_failures_total", Help: "RabbitMQ management API calls that gave no queue reading.",
			Value: read(func(s *Tree) uint64 { return s.queueCounts.Failures() })},
		metrics.Counter{Name: "vigil_queue_readings_dropped_total", Help: "Queue readings dropped because the node actor's mailbox was full.",
			Value: read(func(s *Tree) uint64 { return s.queueCounts.Dropped() })},
	)
	if t.writer != nil || t.cluster != nil {
		writer := func(f func(*persist.Writer) uint64) func() float64 {
			return read(func(s *Tree) uint64 {
				if s.writer == nil {
					return 0
				}
				return f(s.writer)
			})
		}
		m.AddCounters(
			metrics.Counter{Name: "vigil_store_write_errors_total", Help: "Failed writes to the state store.",
				Value: writer((*persist.Writer).Errors)},
			metrics.Counter{Name: "vigil_store_writes_total", Help: "Batches written to the state store (also those with records left out).",
				Value: writer((*persist.Writer).Writes)},
			metrics.Counter{Name: "vigil_store_damage_total", Help: "Times the state store's file was found damaged while open.",
				Value: writer((*persist.Writer).Damage)},
			metrics.Counter{Name: "vigil_store_rebuilds_total", Help: "Rebuilds of the state store from the state in memory.",
				Value: writer((*persist.Writer).Rebuilds)},
			metrics.Counter{Name: "vigil_store_records_rejected_total", Help: "Records the state store could not hold, left out of their batch.",
				Value: writer((*persist.Writer).Rejected)},
		)
	}
	m.WatchSnapshots(t.Published.Latest)
	t.registerNotifierCounters()
}

func (t *Tree) registerNotifierCounters() {
	stat := func(kind string, pick func(notifier.Stats) uint64) func() float64 {
		return func() float64 {
			s := t.source()
			if s == nil {
				return 0
			}
			if a, ok := (*s.live.Load())[kind]; ok {
				return float64(pick(a.Stats()))
			}
			return 0
		}
	}
	src := t.source()
	if src == nil {
		return
	}
	for kind := range *src.live.Load() {
		if t.counted[kind] {
			continue
		}
		t.counted[kind] = true
		l := prometheus.Labels{"notifier": kind}
		t.Metrics.AddCounters(
			metrics.Counter{Name: "vigil_notifications_delivered_total", Help: "Notifications delivered, by notifier.", Labels: l,
				Value: stat(kind, func(s notifier.Stats) uint64 { return s.Delivered })},
			metrics.Counter{Name: "vigil_notifications_failed_total", Help: "Delivery attempts that failed, by notifier.", Labels: l,
				Value: stat(kind, func(s notifier.Stats) uint64 { return s.Failed })},
			metrics.Counter{Name: "vigil_notifications_superseded_total", Help: "Notifications replaced by a newer one before they were delivered, by notifier.", Labels: l,
				Value: stat(kind, func(s notifier.Stats) uint64 { return s.Superseded })},
			metrics.Counter{Name: "vigil_notification_retries_total", Help: "Delivery attempts retried, by notifier.", Labels: l,
				Value: stat(kind, func(s notifier.Stats) uint64 { return s.Retried })},
		)
	}
}

// source is the tree whose actors the counters read: the tree itself, or
// in a cluster the tree of the current leadership term (nil while the
// instance follows).
func (t *Tree) source() *Tree {
	if t.cluster != nil {
		return t.cluster.current()
	}
	return t
}

// Reload moves the running tree to cfg, all or nothing. cfg has already
// been parsed and validated by config.Load.
//
// Prepare (anything may fail; nothing visible changes): the notifiers are
// built, and so checked; the notifier actors a changed section needs are
// constructed but not started; the state actor is handed the new layout
// and holds it (state.Actor.Prepare), which fails when it does not take it.
//
// Commit (nothing can fail from the first change on): the state actor
// applies the layout, keeping every replica status that still exists, and
// publishes it; notifier actors are swapped per kind, without a startup
// notification; services whose definition is unchanged keep their actors,
// changed ones are rebuilt (push and local nodes seeded from the snapshot
// just published), removed ones stop; the web layer takes the new
// configuration in place (its caches stay). A new server.inet or [storage]
// needs a restart, which is logged. A successful reload logs one summary
// record of what changed.
func (t *Tree) Reload(ctx context.Context, cfg *config.Config) error {
	if t.cluster != nil {
		return t.cluster.reload(ctx, cfg)
	}
	built, err := t.buildNotifiers(cfg)
	if err != nil {
		return err
	}
	notes := t.planNotifiers(cfg, built)
	old := t.cfg
	changes := t.configChanges(old, cfg, built)
	prepared, err := t.State.Prepare(ctx, cfg, notes.mailboxes)
	if err != nil {
		return fmt.Errorf("state actor: %w", err)
	}

	// Commit. The state actor is waiting for it, so it goes first: the
	// notifier mailboxes it now feeds exist (their actors start next), and
	// the replica and node actors started below find their replicas known.
	prepared.Commit()
	t.applyNotifiers(notes)
	snap := t.Published.Latest()
	t.applyServices(cfg, func(probe, node string) []storage.Replica { return seedFromSnapshot(snap, probe, node) })
	t.registerNotifierCounters()
	if t.Web != nil {
		t.Web.Reconfigure(cfg)
	}
	t.cfg = cfg
	if cfg.Server.Inet != old.Server.Inet {
		t.logger.Warn("server.inet changed: restart the server to listen on the new address", "running", old.Server.Inet, "configured", cfg.Server.Inet)
	}
	if cfg.Storage != old.Storage {
		t.logger.Warn("[storage] changed: restart the server to use it")
	}
	t.logger.Info("configuration reloaded", changes.attrs()...)
	return nil
}

// seedFromSnapshot lists a node's push/local replicas as the snapshot
// shows them, to seed a rebuilt node actor.
func seedFromSnapshot(snap *messages.Snapshot, probe, node string) []storage.Replica {
	var out []storage.Replica
	for _, p := range snap.Probes {
		if p.ID != probe {
			continue
		}
		for _, n := range p.Nodes {
			if n.ID != node {
				continue
			}
			for _, r := range n.Replicas {
				out = append(out, storage.Replica{
					Key: messages.ReplicaKey{Probe: probe, Node: node, Replica: r.ID}, Status: r.Status, Err: r.Err,
					Updated: r.Updated, Reported: r.Updated, Interval: r.Interval, Load: r.Load,
				})
			}
		}
	}
	return out
}
