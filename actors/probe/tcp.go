package probe

import (
	"context"
	"net"
	"time"

	"github.com/vigil-go/vigil/config"
	"github.com/vigil-go/vigil/messages"
)

type tcpProber struct {
	host, port string
	timeout    time.Duration
	sickAt     time.Duration
	lookup     lookupFunc
}

// NewTCP returns the TCP prober for replica r (spec §4.4): resolve r.Host,
// take the first address only, connect within poll_delay_dead; up iff the
// connection is established. The connection is closed at once.
func NewTCP(r config.Replica, m config.Metrics) Prober {
	return &tcpProber{host: r.Host, port: r.Port, timeout: deadAfter(m), sickAt: m.PollDelaySick}
}

// Probe runs one TCP attempt and classifies it.
func (p *tcpProber) Probe(ctx context.Context) messages.ProbeResult {
	return Classify(p.attempt(ctx), p.sickAt)
}

func (p *tcpProber) attempt(parent context.Context) Outcome {
	start := time.Now()
	ctx, cancel := context.WithTimeout(parent, p.timeout)
	defer cancel()
	conn, _, err := dialFirst(ctx, p.lookup, p.host, p.port)
	latency := time.Since(start)
	if err != nil {
		return Outcome{Latency: latency, Err: attemptErr(parent, ctx, p.timeout, err)}
	}
	_ = conn.Close()
	return Outcome{Up: true, Latency: latency}
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
