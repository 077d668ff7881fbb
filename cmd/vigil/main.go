// Command vigil runs the Vigil status page and monitor.
//
//	vigil [-c FILE]          run the server (default ./config.cfg)
//	vigil check [-c FILE]    validate a configuration and print every problem
//	vigil local [-c FILE]    run the Vigil Local agent (see local.go)
//	vigil migrate-store --from DIR --to DSN [--force]
//	                         copy an embedded store into PostgreSQL (migrate.go)
//	vigil -V                 print the version
//
// `vigil check` prints every error, then every warning, one per line on
// standard error ("FILE: PATH: reason" and "FILE: warning: PATH: reason",
// each group in the loader's order), then a count; it exits 2 when there is
// an error and 0 otherwise, printing "FILE: configuration is valid" on
// standard output. A server that cannot start because of its configuration
// prints the same lines.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"os"
	"os/signal"
	"path/filepath"
	"runtime/debug"
	"strings"
	"syscall"
	"time"

	"github.com/vigil-go/vigil/actors/notifier/providers"
	"github.com/vigil-go/vigil/config"
	"github.com/vigil-go/vigil/storage"
	"github.com/vigil-go/vigil/supervisors"
)

// Version is the server version, settable at link time.
var Version = "1.29.0-go"

func main() {
	if os.Getenv("GOGC") == "" {
		debug.SetGCPercent(supervisors.DefaultGCPercent)
	}
	os.Exit(run(os.Args[1:], os.Environ(), os.Stdout, os.Stderr))
}

type options struct {
	config  string
	dataDir string
	check   bool
	version bool
}

func parseArgs(args []string, stderr io.Writer) (options, error) {
	var o options
	if len(args) > 0 && args[0] == "check" {
		o.check = true
		args = args[1:]
	}
	fs := flag.NewFlagSet("vigil", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.config, "c", "./config.cfg", "configuration file")
	fs.StringVar(&o.config, "config", "./config.cfg", "configuration file")
	fs.StringVar(&o.dataDir, "data-dir", "", "directory for state kept across restarts (default: [storage] path, else vigil-data/ beside the configuration file)")
	fs.BoolVar(&o.version, "V", false, "print the version and exit")
	fs.BoolVar(&o.version, "version", false, "print the version and exit")
	fs.Usage = func() {
		fmt.Fprintf(stderr, "Usage:\n  vigil [-c FILE]         run the server\n  vigil check [-c FILE]   validate a configuration\n  vigil local [-c FILE]   run the Vigil Local agent (vigil local -h)\n\nOptions:\n")
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		fs.Usage()
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	return o, nil
}

func run(args, environ []string, stdout, stderr io.Writer) int {
	if len(args) > 0 && args[0] == "local" {
		return runLocal(args[1:], environ, stdout, stderr)
	}
	if len(args) > 0 && args[0] == "migrate-store" {
		return migrateStore(args[1:], stdout, stderr) // migrate.go
	}
	o, err := parseArgs(args, stderr)
	if errors.Is(err, flag.ErrHelp) {
		return supervisors.ExitOK
	}
	if err != nil {
		fmt.Fprintf(stderr, "vigil: %v\n", err)
		return supervisors.ExitConfig
	}
	if o.version {
		fmt.Fprintf(stdout, "vigil-server %s\n", Version)
		return supervisors.ExitOK
	}

	kinds := providers.Kinds()
	cfg, warnings, err := config.Load(o.config, environ, kinds.Notifiers()...)
	if err == nil {
		if problems := kinds.Check(cfg); len(problems) > 0 {
			err = problems
		}
	}
	if err != nil {
		reportConfig(stderr, o.config, err, warnings)
		return supervisors.ExitConfig
	}
	if o.check {
		n := reportConfig(stderr, o.config, nil, warnings)
		if n > 0 {
			fmt.Fprintf(stdout, "%s: configuration is valid (%s)\n", o.config, count(n, "warning"))
		} else {
			fmt.Fprintf(stdout, "%s: configuration is valid\n", o.config)
		}
		return supervisors.ExitOK
	}

	logger := newLogger(stderr, cfg.Server.LogLevel)
	for _, w := range warnings {
		logger.Warn("configuration: "+w.Message, "path", w.Path)
	}
	logger.Info("starting up", "version", Version, "config", o.config)

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	// Whatever an actor or the store does while stopping, the process is
	// gone shutdownGrace after the signal. Deferred before the store's
	// Close, so that the bound covers it.
	finished := make(chan struct{})
	defer close(finished)
	go exitAfterGrace(ctx, finished, shutdownGrace, func() {
		reportFatal(logger, stderr, "shutdown did not finish in time: exiting without waiting any longer",
			fmt.Errorf("still stopping %v after the signal", shutdownGrace))
		os.Exit(supervisors.ExitFatal)
	})
	deps := supervisors.Deps{Logger: logger, Version: Version}
	build := supervisors.Build
	if cfg.Storage.DSN != "" {
		// Several instances share PostgreSQL; the tree opens it (retrying).
		build = supervisors.BuildCluster
	} else if dir := dataDir(o, cfg); dir != "" {
		st, err := storage.Open(filepath.Join(dir, "state.db"), logger)
		if err != nil {
			reportFatal(logger, stderr, "cannot open the state store", err)
			return supervisors.ExitFatal
		}
		defer st.Close()
		logger.Info("state store open", "path", filepath.Join(dir, "state.db"))
		deps.Store = st
	} else {
		logger.Warn("state store disabled ([storage] enabled = false): nothing survives a restart")
	}
	tree, err := build(cfg, deps)
	if err != nil {
		reportConfigError(stderr, o.config, err)
		return supervisors.ExitConfig
	}
	trigger, stopHangups := hangups()
	defer stopHangups()
	tree.Root.Add(&supervisors.Watcher{
		Path: o.config, Debounce: reloadDebounce, Trigger: trigger, Logger: logger,
		Reload: func(ctx context.Context) { reload(ctx, o.config, environ, tree, logger) },
	})
	return exitCode(logger, stderr, tree.Serve(ctx))
}

// reportFatal tells, exactly once, why the server stops: as an error record
// when the logger keeps errors, else (log_level = "off") as a plain line on
// stderr, so that the reason is never lost and never printed twice.
func reportFatal(logger *slog.Logger, stderr io.Writer, msg string, err error) {
	if logger.Enabled(context.Background(), slog.LevelError) {
		logger.Error(msg, "error", err)
		return
	}
	fmt.Fprintf(stderr, "vigil: %v\n", err)
}

// shutdownGrace bounds a graceful stop: the state actor's last write (at
// most 5 s), the store writer's drain (3 s) and the store's Close (5 s)
// each have their own bound, and this one is over all of them.
const shutdownGrace = 10 * time.Second

// exitAfterGrace calls expire when finished is not closed within grace
// after ctx ends (the stop signal).
func exitAfterGrace(ctx context.Context, finished <-chan struct{}, grace time.Duration, expire func()) {
	select {
	case <-finished:
		return
	case <-ctx.Done():
	}
	t := time.NewTimer(grace)
	defer t.Stop()
	select {
	case <-finished:
	case <-t.C:
		expire()
	}
}

// reloadDebounce is how long the configuration directory must be quiet
// before a changed file is loaded.
const reloadDebounce = 500 * time.Millisecond

// reload loads, validates and applies the configuration file; an invalid
// file leaves the running configuration in place. A successful reload is
// logged by the tree, in one record saying what changed.
func reload(ctx context.Context, path string, environ []string, tree *supervisors.Tree, logger *slog.Logger) {
	m := tree.Metrics
	cfg, warnings, err := config.Load(path, environ, providers.Kinds().Notifiers()...)
	if err == nil {
		err = tree.Reload(ctx, cfg)
	}
	if err != nil {
		m.ConfigReloads.WithLabelValues("failure").Inc()
		logger.Error("configuration reload failed; the running configuration stays in place (run `vigil check` for details)",
			"error", strings.ReplaceAll(err.Error(), "\n", "; "))
		return
	}
	for _, w := range warnings {
		logger.Warn("configuration: "+w.Message, "path", w.Path)
	}
	m.ConfigReloads.WithLabelValues("success").Inc()
	m.ConfigLastReload.SetToCurrentTime()
}

// dataDir decides where state is kept: --data-dir, else [storage] path
// (relative to the configuration file), else vigil-data/ beside the
// configuration file; "" when [storage] enabled = false and no flag.
func dataDir(o options, cfg *config.Config) string {
	if o.dataDir != "" {
		return o.dataDir
	}
	if !cfg.Storage.Enabled {
		return ""
	}
	base := filepath.Dir(o.config)
	if p := cfg.Storage.Path; p != "" {
		if filepath.IsAbs(p) {
			return p
		}
		return filepath.Join(base, p)
	}
	return filepath.Join(base, "vigil-data")
}

// reportConfigError prints every configuration problem, one per line.
func reportConfigError(w io.Writer, path string, err error) {
	for _, line := range strings.Split(strings.TrimRight(err.Error(), "\n"), "\n") {
		fmt.Fprintf(w, "%s: %s\n", path, line)
	}
}

// reportConfig prints the errors of a configuration (err, possibly nil),
// then every warning, then, when the file has errors, a count of both. It
// returns the number of warnings printed.
func reportConfig(w io.Writer, path string, err error, warnings []config.Issue) int {
	if err != nil {
		reportConfigError(w, path, err)
	}
	for _, wn := range warnings {
		fmt.Fprintf(w, "%s: warning: %s\n", path, wn)
	}
	if errs := (config.Errors)(nil); errors.As(err, &errs) {
		fmt.Fprintf(w, "%s: configuration is invalid: %s, %s\n", path, count(len(errs), "error"), count(len(warnings), "warning"))
	}
	return len(warnings)
}

// count formats "1 error", "2 errors", "0 warnings".
func count(n int, noun string) string {
	if n == 1 {
		return "1 " + noun
	}
	return fmt.Sprintf("%d %ss", n, noun)
}

// newLogger builds the process logger for a configured log level.
func newLogger(w io.Writer, level string) *slog.Logger {
	var l slog.Level
	switch level {
	case "off":
		return slog.New(slog.DiscardHandler)
	case "error":
		l = slog.LevelError
	case "warn":
		l = slog.LevelWarn
	case "info":
		l = slog.LevelInfo
	case "debug":
		l = slog.LevelDebug
	case "trace":
		l = slog.LevelDebug - 4
	default:
		l = slog.LevelError
	}
	return slog.New(slog.NewTextHandler(w, &slog.HandlerOptions{Level: l}))
}

// hangups turns SIGHUP into reload triggers for a config Watcher: one
// pending trigger at most, so a burst of signals reloads once. Call stop
// when the process no longer reloads.
func hangups() (trigger chan struct{}, stop func()) {
	hup := make(chan os.Signal, 1)
	signal.Notify(hup, syscall.SIGHUP)
	trigger = make(chan struct{}, 1)
	go func() {
		for range hup {
			select {
			case trigger <- struct{}{}:
			default:
			}
		}
	}()
	return trigger, func() { signal.Stop(hup) }
}

// exitCode reports how a tree's Serve ended and returns the process's exit
// code: 0 for a clean stop, a fatal error's own code, ExitFatal otherwise.
func exitCode(logger *slog.Logger, stderr io.Writer, err error) int {
	var fatal *supervisors.FatalError
	switch {
	case err == nil:
		logger.Info("stopped")
		return supervisors.ExitOK
	case errors.As(err, &fatal):
		reportFatal(logger, stderr, "fatal", fatal.Err)
		return fatal.Code
	default:
		reportFatal(logger, stderr, "stopped on error", err)
		return supervisors.ExitFatal
	}
}
