package probe

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/vigil-go/vigil/config"
	"github.com/vigil-go/vigil/messages"
)

// DefaultPollDelayDead is used when metrics.poll_delay_dead is not positive.
const DefaultPollDelayDead = 10 * time.Second

// Outcome is the raw result of one poll attempt, before classification.
type Outcome struct {
	// Up is true when the target answered as required by its kind.
	Up bool
	// Latency is the wall-clock duration of the attempt (for ICMP: the
	// largest round-trip time when up).
	Latency time.Duration
	// Err says why the target is not up; nil when Up.
	Err error
}

// Classify turns an Outcome into a ProbeResult (spec §4.2): not up → Dead
// (Err carries o.Err's text), up with Latency >= sickAt → Sick, else Healthy.
// sickAt is used literally (a zero threshold makes every up result sick, as
// in the original).
func Classify(o Outcome, sickAt time.Duration) messages.ProbeResult {
	if !o.Up {
		msg := "down"
		if o.Err != nil {
			msg = o.Err.Error()
		}
		return messages.ProbeResult{Status: messages.Dead, Latency: o.Latency, Err: msg}
	}
	if o.Latency >= sickAt {
		return messages.ProbeResult{
			Status:  messages.Sick,
			Latency: o.Latency,
			Err:     fmt.Sprintf("slow: %s >= %s", o.Latency.Round(time.Millisecond), sickAt),
		}
	}
	return messages.ProbeResult{Status: messages.Healthy, Latency: o.Latency}
}

// Prober runs one probe attempt. It never retries: retries belong to the
// replica actor. Probe must honour ctx and return promptly once it is done.
type Prober interface {
	Probe(ctx context.Context) messages.ProbeResult
}

// Deps are the shared collaborators New hands to the probers it builds.
type Deps struct {
	// HTTPClient is shared by all HTTP replicas; build it with NewHTTPClient.
	// When nil, each HTTP prober builds its own (no shared connection pool).
	HTTPClient *http.Client
	// UserAgent is sent on HTTP probes: "vigil (+<page_url>)".
	UserAgent string
	// ICMPPrivileged selects raw ICMP sockets; see DetectICMPMode.
	ICMPPrivileged bool
	// Logger receives debug output from the ICMP library; nil discards it.
	Logger *slog.Logger
}

// New returns the prober for poll replica r of node n. An unknown kind yields
// a prober that always reports Dead (the config loader rejects such replicas,
// so this only guards against programming errors).
func New(r config.Replica, n config.Node, m config.Metrics, d Deps) Prober {
	switch r.Kind {
	case config.KindHTTP:
		return NewHTTP(r, n, m, d.HTTPClient, d.UserAgent)
	case config.KindTCP:
		return NewTCP(r, m)
	case config.KindSSH:
		return NewSSH(r, m)
	case config.KindICMP:
		return NewICMP(r, m, d.ICMPPrivileged, d.Logger)
	}
	return failing{err: fmt.Sprintf("unsupported replica kind %q", r.Kind)}
}

// failing is a Prober that always reports Dead with a fixed reason.
type failing struct{ err string }

func (f failing) Probe(context.Context) messages.ProbeResult {
	return messages.ProbeResult{Status: messages.Dead, Err: f.err}
}

// deadAfter is the per-attempt timeout for poll probes.
func deadAfter(m config.Metrics) time.Duration {
	if m.PollDelayDead > 0 {
		return m.PollDelayDead
	}
	return DefaultPollDelayDead
}

// attemptErr rewrites err for a result message: the per-attempt deadline
// becomes "timeout after <d>", a cancelled parent becomes "cancelled".
// parent is the caller's context, attempt the one with the timeout.
func attemptErr(parent, attempt context.Context, timeout time.Duration, err error) error {
	switch {
	case parent.Err() != nil:
		return fmt.Errorf("cancelled: %w", context.Cause(parent))
	case errors.Is(attempt.Err(), context.DeadlineExceeded), errors.Is(err, context.DeadlineExceeded), isTimeout(err):
		return fmt.Errorf("timeout after %s", timeout)
	}
	return err
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// lookupFunc resolves a host name; nil means net.DefaultResolver. Tests set
// it to control the address list.
type lookupFunc func(ctx context.Context, host string) ([]net.IPAddr, error)

func (l lookupFunc) lookup(ctx context.Context, host string) ([]net.IPAddr, error) {
	if l == nil {
		return net.DefaultResolver.LookupIPAddr(ctx, host)
	}
	return l(ctx, host)
}

// resolveFirst resolves host and returns "ip:port" for the first address only
// (spec §4.4, §4.5, §11 item 10).
func resolveFirst(ctx context.Context, l lookupFunc, host, port string) (string, error) {
	addrs, err := l.lookup(ctx, host)
	if err != nil {
		return "", err
	}
	if len(addrs) == 0 {
		return "", fmt.Errorf("lookup %s: no addresses", host)
	}
	return net.JoinHostPort(addrs[0].String(), port), nil
}

// Interface guards.
var (
	_ Prober = (*httpProber)(nil)
	_ Prober = (*tcpProber)(nil)
	_ Prober = (*sshProber)(nil)
	_ Prober = (*icmpProber)(nil)
	_ Prober = (*scriptProber)(nil)
	_ Prober = failing{}
)
