package main

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"
)

// Targets: the server must reach this share of the file server's rate ...
const (
	minRateRatio = 0.8
	// ... and its p99 latency must stay within this multiple of the file
	// server's.
	maxP99Ratio = 1.5
)

// verdict judges a row: the ratio targets, no failed request on either
// server and no late probe round while the server was loaded. It returns
// "PASS" or "FAIL" with the reasons.
func (r row) verdict() string {
	var why []string
	if r.rateRatio() < minRateRatio {
		why = append(why, "req/s")
	}
	if r.p99Ratio() > maxP99Ratio {
		why = append(why, "p99")
	}
	if r.Vigil.Errors > 0 || r.Files.Errors > 0 || r.Vigil.Requests == 0 || r.Files.Requests == 0 {
		why = append(why, "errors")
	}
	if r.VigilProbing.LateReplicas > 0 {
		why = append(why, "late")
	}
	if len(why) == 0 {
		return "PASS"
	}
	return "FAIL (" + strings.Join(why, ", ") + ")"
}

func (r row) rateRatio() float64 {
	if f := r.Files.rate(); f > 0 {
		return r.Vigil.rate() / f
	}
	return 0
}

func (r row) p99Ratio() float64 {
	if f := r.Files.p(99); f > 0 {
		return float64(r.Vigil.p(99)) / float64(f)
	}
	return 0
}

// encodingLabel is the requested encoding, and what was served when that
// differs.
func (r row) encodingLabel() string {
	served := r.Served.ContentEncoding
	if served == "" {
		served = "identity"
	}
	if strings.EqualFold(served, r.Encoding) {
		return r.Encoding
	}
	return r.Encoding + "→" + served
}

// printReport prints the table and the probing summary; it returns whether
// any row failed.
func printReport(out io.Writer, o options, results []workloadResult) (anyFail bool) {
	fmt.Fprintf(out, "\nPage serving: %d keep-alive connections, %s measured after %s warm-up per row; file server = the same bytes from a plain net/http handler.\n",
		o.Conns, o.Duration, o.Warmup)
	fmt.Fprintf(out, "Targets: req/s >= %.1f× file server, p99 <= %.1f× file server, no failed request, no probe round late by more than %s while loaded.\n\n",
		minRateRatio, maxP99Ratio, o.Slack)
	tw := tabwriter.NewWriter(out, 0, 0, 2, ' ', tabwriter.AlignRight)
	fmt.Fprintln(tw, "workload\tpath\tencoding\tbytes\treq/s\tp99\tfile req/s\tfile p99\treq/s ratio\tp99 ratio\tprobes/s\tlate\tresult\t")
	for _, res := range results {
		for _, r := range res.Rows {
			v := r.verdict()
			anyFail = anyFail || v != "PASS"
			fmt.Fprintf(tw, "%s\t%s\t%s\t%d\t%.0f\t%s\t%.0f\t%s\t%.2f\t%.2f\t%.0f (%.0f)\t%d (%d)\t%s\t\n",
				r.Workload, r.Path, r.encodingLabel(), len(r.Served.Body),
				r.Vigil.rate(), fmtDur(r.Vigil.p(99)), r.Files.rate(), fmtDur(r.Files.p(99)),
				r.rateRatio(), r.p99Ratio(), r.VigilProbing.Rounds, r.FilesProbing.Rounds,
				r.VigilProbing.LateReplicas, r.FilesProbing.LateReplicas, v)
		}
	}
	tw.Flush()
	fmt.Fprintln(out, "probes/s: probe rounds per second while the server was loaded (in brackets: while the file server was, the server idle);")
	fmt.Fprintln(out, "late: replicas with a probe round that fell due in that window and started later than the slack, or was still overdue at its end")
	fmt.Fprintln(out, "      (in brackets: the same while the file server was loaded).")
	fmt.Fprintln(out)
	for _, res := range results {
		w := res.W
		fmt.Fprintf(out, "Workload %s: %d replicas on %d nodes, poll_interval %s. Over the %s loaded: probe rounds %.1f/s (scheduled %.1f/s), ",
			w.Name, w.replicas(), w.nodes(), w.Interval, res.Span.Round(time.Second), res.Probing.Rounds, w.scheduledRate())
		if res.Attempts >= 0 {
			fmt.Fprintf(out, "probe attempts %.1f/s by /metrics (expected %.1f/s with retries), ", res.Attempts, w.expectedAttemptRate())
		}
		fmt.Fprintf(out, "late replicas %d", res.Probing.LateReplicas)
		if res.Probing.LateReplicas > 0 {
			fmt.Fprintf(out, " (worst %s late)", res.Probing.WorstOverdue.Round(time.Millisecond))
		}
		fmt.Fprintln(out, ".")
		for _, r := range res.Rows {
			if r.Vigil.Errors > 0 {
				fmt.Fprintf(out, "  %s %s: %d failed requests on the server, first: %s\n", r.Path, r.Encoding, r.Vigil.Errors, r.Vigil.FirstErr)
			}
			if r.Files.Errors > 0 {
				fmt.Fprintf(out, "  %s %s: %d failed requests on the file server, first: %s\n", r.Path, r.Encoding, r.Files.Errors, r.Files.FirstErr)
			}
		}
		for _, n := range res.Notes {
			fmt.Fprintf(out, "  note: %s\n", n)
		}
	}
	return anyFail
}

// fmtDur prints a latency with three significant digits.
func fmtDur(d time.Duration) string {
	switch {
	case d >= time.Second:
		return fmt.Sprintf("%.2fs", d.Seconds())
	case d >= time.Millisecond:
		return fmt.Sprintf("%.2fms", float64(d)/float64(time.Millisecond))
	default:
		return fmt.Sprintf("%.0fµs", float64(d)/float64(time.Microsecond))
	}
}
