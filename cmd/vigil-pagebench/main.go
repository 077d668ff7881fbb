// Command vigil-pagebench measures how fast a built vigil binary serves its
// status page (/) and JSON report (/status/report) while it probes thousands
// of loopback replicas, against a plain net/http server sending the very
// same bytes (the most this machine can do for that response), and checks
// that probing stays on schedule under that load.
//
//	vigil-pagebench [-vigil bin/vigil] [-duration 10s] [-conns 32] [-workloads A,B] [-strict]
//
// For each workload it generates a configuration in a temporary directory,
// validates it with `vigil check`, starts the server and a probe target
// (which answers 200 at once, 503 for the dead replicas and slowly for the
// sick ones, so the page shows an outage), waits for /readyz and the first
// page, and then, for each path and each Accept-Encoding (identity, gzip):
// loads the server, fetches the response bytes, and loads a file server
// serving those bytes the same way. Every address is on loopback; every
// child process is stopped at the end and on Ctrl-C.
//
// The exit status is 0 whatever the verdicts unless -strict is given.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGINT, syscall.SIGTERM)
	defer stop()
	var err error
	switch {
	case len(os.Args) > 1 && os.Args[1] == roleTarget:
		err = targetMain(ctx, os.Args[2:])
	case len(os.Args) > 1 && os.Args[1] == roleFiles:
		err = fileServerMain(ctx, os.Args[2:])
	default:
		var failed bool
		failed, err = benchMain(ctx, os.Args[1:], os.Stdout)
		if err == nil && failed {
			stop()
			os.Exit(1)
		}
	}
	if errors.Is(err, flag.ErrHelp) {
		return
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "vigil-pagebench: %v\n", err)
		stop()
		if ctx.Err() != nil {
			os.Exit(130)
		}
		os.Exit(1)
	}
}

// options are the benchmark's flags.
type options struct {
	Vigil           string
	Duration        time.Duration
	Warmup          time.Duration
	Conns           int
	Workloads       []string
	Paths           []string
	Encodings       []string
	PollParallelism int
	Slack           time.Duration
	Strict          bool
	Keep            bool
}

func parseOptions(args []string, stderr io.Writer) (options, error) {
	var o options
	var workloads, paths, encodings string
	fs := flag.NewFlagSet("vigil-pagebench", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.StringVar(&o.Vigil, "vigil", "bin/vigil", "the server binary to measure")
	fs.DurationVar(&o.Duration, "duration", 10*time.Second, "measured load per path, encoding and server")
	fs.DurationVar(&o.Warmup, "warmup", time.Second, "unmeasured load before each measurement")
	fs.IntVar(&o.Conns, "conns", 32, "concurrent keep-alive connections")
	fs.StringVar(&workloads, "workloads", "A,B", "workloads to run: A (1,000 replicas, 100 probes/s), B (10,000 replicas, 333 probes/s)")
	fs.StringVar(&paths, "paths", "/,/status/report", "paths to load")
	fs.StringVar(&encodings, "encodings", "identity,gzip", "Accept-Encoding values to load with")
	fs.IntVar(&o.PollParallelism, "poll-parallelism", 4, "metrics.poll_parallelism of the generated configurations")
	fs.DurationVar(&o.Slack, "late-slack", time.Second, "a probe round starting more than this after its schedule is late")
	fs.BoolVar(&o.Strict, "strict", false, "exit 1 when a row fails")
	fs.BoolVar(&o.Keep, "keep", false, "keep the temporary directories (configurations, server logs)")
	if err := fs.Parse(args); err != nil {
		return o, err
	}
	if fs.NArg() > 0 {
		return o, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	o.Workloads, o.Paths, o.Encodings = splitList(workloads), splitList(paths), splitList(encodings)
	switch {
	case o.Duration <= 0 || o.Duration > 10*time.Minute:
		return o, errors.New("-duration must be within (0, 10m]")
	case o.Warmup < 0 || o.Warmup > time.Minute:
		return o, errors.New("-warmup must be within [0, 1m]")
	case o.Conns < 1 || o.Conns > 4096:
		return o, errors.New("-conns must be within [1, 4096]")
	case o.PollParallelism < 1:
		return o, errors.New("-poll-parallelism must be at least 1")
	case len(o.Paths) == 0 || len(o.Encodings) == 0:
		return o, errors.New("-paths and -encodings must not be empty")
	}
	for _, p := range o.Paths {
		if !strings.HasPrefix(p, "/") {
			return o, fmt.Errorf("-paths: %q does not start with /", p)
		}
	}
	return o, nil
}

func splitList(s string) []string {
	var out []string
	for f := range strings.SplitSeq(s, ",") {
		if f = strings.TrimSpace(f); f != "" {
			out = append(out, f)
		}
	}
	return out
}

// benchMain runs the benchmark and prints the table; failed says whether a
// row failed and -strict was given.
func benchMain(ctx context.Context, args []string, stdout io.Writer) (failed bool, err error) {
	o, err := parseOptions(args, os.Stderr)
	if err != nil {
		return false, err
	}
	bin, err := filepath.Abs(o.Vigil)
	if err != nil {
		return false, err
	}
	if _, err := os.Stat(bin); err != nil {
		return false, fmt.Errorf("%v (build it first: CGO_ENABLED=0 go build -o bin/vigil ./cmd/vigil)", err)
	}
	o.Vigil = bin
	if n, err := raiseOpenFiles(); err != nil {
		fmt.Fprintf(os.Stderr, "open files limit not raised: %v\n", err)
	} else if n < uint64(4*o.Conns+1024) {
		fmt.Fprintf(os.Stderr, "warning: open files limit is only %d\n", n)
	}

	var chosen []workload
	for _, name := range o.Workloads {
		i := indexOfWorkload(name)
		if i < 0 {
			return false, fmt.Errorf("unknown workload %q (have A, B)", name)
		}
		chosen = append(chosen, standardWorkloads()[i])
	}
	var results []workloadResult
	for _, w := range chosen {
		res, err := runWorkload(ctx, o, w, os.Stderr)
		if err != nil {
			return false, fmt.Errorf("workload %s: %w", w.Name, err)
		}
		results = append(results, res)
	}
	anyFail := printReport(stdout, o, results)
	return anyFail && o.Strict, nil
}

func indexOfWorkload(name string) int {
	for i, w := range standardWorkloads() {
		if strings.EqualFold(w.Name, name) {
			return i
		}
	}
	return -1
}
