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
	"strings"
	"syscall"

	"github.com/vigil-go/vigil/agent"
	"github.com/vigil-go/vigil/messages"
	"github.com/vigil-go/vigil/supervisors"
)

// localUsage is the help of `vigil local`.
const localUsage = `Usage:
  vigil local [-c FILE]         run the Vigil Local agent (default ./config.cfg)
  vigil local check [-c FILE]   validate an agent configuration

Options:
`

// runLocal runs `vigil local …`: the Vigil Local agent, on the original
// agent's configuration file, or `vigil local check`, which validates one
// and prints what `vigil check` prints for the server's. Exit codes are the
// server's: 0 clean stop, 2 configuration or usage error, 3 [server] inet
// cannot be bound, 1 anything else. An unreachable status page is never a
// reason to exit.
func runLocal(args, environ []string, stdout, stderr io.Writer) int {
	check := false
	if len(args) > 0 && args[0] == "check" {
		check, args = true, args[1:]
	}
	var path string
	var version bool
	fs := flag.NewFlagSet("vigil local", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&path, "c", "./config.cfg", "agent configuration file")
	fs.StringVar(&path, "config", "./config.cfg", "agent configuration file")
	fs.BoolVar(&version, "V", false, "print the version and exit")
	fs.BoolVar(&version, "version", false, "print the version and exit")
	fs.Usage = func() {
		fmt.Fprint(stderr, localUsage)
		fs.PrintDefaults()
	}
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return supervisors.ExitOK
		}
		fmt.Fprintf(stderr, "vigil local: %v\n", err)
		return supervisors.ExitConfig
	}
	if fs.NArg() > 0 {
		fs.Usage()
		fmt.Fprintf(stderr, "vigil local: unexpected argument %q\n", fs.Arg(0))
		return supervisors.ExitConfig
	}
	if version {
		fmt.Fprintf(stdout, "%s\n", agent.UserAgent(Version))
		return supervisors.ExitOK
	}

	cfg, warnings, err := agent.Load(path, environ)
	if err != nil {
		reportConfig(stderr, path, err, warnings)
		return supervisors.ExitConfig
	}
	if check {
		if n := reportConfig(stderr, path, nil, warnings); n > 0 {
			fmt.Fprintf(stdout, "%s: configuration is valid (%s)\n", path, count(n, "warning"))
		} else {
			fmt.Fprintf(stdout, "%s: configuration is valid\n", path)
		}
		return supervisors.ExitOK
	}

	logger := newLogger(stderr, cfg.Server.LogLevel)
	for _, w := range warnings {
		logger.Warn("configuration: "+w.Message, "path", w.Path)
	}
	logger.Info("starting the Vigil Local agent", "version", Version, "config", path,
		"endpoint", messages.RedactURL(cfg.Report.Endpoint), "replicas", countAgentReplicas(cfg))

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	finished := make(chan struct{})
	defer close(finished)
	go exitAfterGrace(ctx, finished, shutdownGrace, func() {
		reportFatal(logger, stderr, "shutdown did not finish in time: exiting without waiting any longer",
			fmt.Errorf("still stopping %v after the signal", shutdownGrace))
		os.Exit(supervisors.ExitFatal)
	})
	tree := agent.Build(cfg, agent.Deps{Logger: logger, Version: Version})
	trigger, stopHangups := hangups()
	defer stopHangups()
	tree.Root.Add(&supervisors.Watcher{
		Path: path, Debounce: reloadDebounce, Trigger: trigger, Logger: logger,
		Reload: func(context.Context) { reloadLocal(path, environ, tree, logger) },
	})
	return exitCode(logger, stderr, tree.Serve(ctx))
}

// reloadLocal loads, validates and applies the agent's configuration
// file; an invalid file leaves the running configuration in place.
func reloadLocal(path string, environ []string, tree *agent.Tree, logger *slog.Logger) {
	m := tree.Metrics
	cfg, warnings, err := agent.Load(path, environ)
	if err != nil {
		m.ConfigReloads.WithLabelValues("failure").Inc()
		logger.Error("configuration reload failed; the running configuration stays in place (run `vigil local check` for details)",
			"error", strings.ReplaceAll(err.Error(), "\n", "; "))
		return
	}
	for _, w := range warnings {
		logger.Warn("configuration: "+w.Message, "path", w.Path)
	}
	tree.Reload(cfg)
	m.ConfigReloads.WithLabelValues("success").Inc()
}

// countAgentReplicas counts the replicas an agent configuration probes.
func countAgentReplicas(cfg *agent.Config) int {
	n := 0
	for _, s := range cfg.Probe.Services {
		for _, node := range s.Nodes {
			n += len(node.Replicas) + len(node.Scripts)
		}
	}
	return n
}
