package probe

import (
	"context"
	"net"
	"time"

	"github.com/vigil-go/vigil/config"
	"github.com/vigil-go/vigil/messages"
)

// dialProber is what the TCP and SSH probers share: resolve the replica's
// host, connect to its first address only (spec §4.4, §4.5), run the
// prober's exchange over the connection, all within poll_delay_dead, and
// classify the outcome.
type dialProber struct {
	host, port string
	timeout    time.Duration
	sickAt     time.Duration
	lookup     lookupFunc
	// exchange runs over the established connection and closes it; a nil
	// error means up.
	exchange func(ctx context.Context, conn net.Conn, addr string, timeout time.Duration) error
}

func newDialProber(r config.Replica, m config.Metrics, exchange func(context.Context, net.Conn, string, time.Duration) error) dialProber {
	return dialProber{host: r.Host, port: r.Port, timeout: deadAfter(m), sickAt: m.PollDelaySick, exchange: exchange}
}

// Probe runs one attempt and classifies it.
func (p *dialProber) Probe(ctx context.Context) messages.ProbeResult {
	return Classify(p.attempt(ctx), p.sickAt)
}

func (p *dialProber) attempt(parent context.Context) Outcome {
	start := time.Now()
	ctx, cancel := context.WithTimeout(parent, p.timeout)
	defer cancel()
	conn, addr, err := dialFirst(ctx, p.lookup, p.host, p.port)
	if err == nil {
		err = p.exchange(ctx, conn, addr, p.timeout)
	}
	latency := time.Since(start)
	if err != nil {
		return Outcome{Latency: latency, Err: attemptErr(parent, ctx, p.timeout, err)}
	}
	return Outcome{Up: true, Latency: latency}
}

type tcpProber struct{ dialProber }

// NewTCP returns the TCP prober for replica r (spec §4.4): up iff the
// connection to the host's first address is established within
// poll_delay_dead. The connection is closed at once.
func NewTCP(r config.Replica, m config.Metrics) Prober {
	return &tcpProber{newDialProber(r, m, func(_ context.Context, conn net.Conn, _ string, _ time.Duration) error {
		_ = conn.Close()
		return nil
	})}
}

// dialFirst resolves host and connects to its first address only (the
// rule of spec §4.4 and §4.5), within ctx.
func dialFirst(ctx context.Context, lookup lookupFunc, host, port string) (net.Conn, string, error) {
	addr, err := resolveFirst(ctx, lookup, host, port)
	if err != nil {
		return nil, "", err
	}
	var d net.Dialer
	conn, err := d.DialContext(ctx, "tcp", addr)
	return conn, addr, err
}
