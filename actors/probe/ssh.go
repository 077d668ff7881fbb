package probe

import (
	"context"
	"net"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/vigil-go/vigil/config"
	"github.com/vigil-go/vigil/messages"
)

// sshUser is the user name offered during the (always failing) auth step.
const sshUser = "vigil"

type sshProber struct {
	host, port string
	timeout    time.Duration
	sickAt     time.Duration
	lookup     lookupFunc
}

// NewSSH returns the SSH prober for replica r (spec §4.5): resolve r.Host,
// take the first address, connect, then run an SSH client handshake with no
// authentication method. Up iff key exchange completed, i.e. the host key
// callback ran, even though authentication then fails. The whole attempt is
// bounded by poll_delay_dead.
func NewSSH(r config.Replica, m config.Metrics) Prober {
	return &sshProber{host: r.Host, port: r.Port, timeout: deadAfter(m), sickAt: m.PollDelaySick}
}

// Probe runs one SSH attempt and classifies it.
func (p *sshProber) Probe(ctx context.Context) messages.ProbeResult {
	return Classify(p.attempt(ctx), p.sickAt)
}

func (p *sshProber) attempt(parent context.Context) Outcome {
	start := time.Now()
	ctx, cancel := context.WithTimeout(parent, p.timeout)
	defer cancel()
	conn, addr, err := dialFirst(ctx, p.lookup, p.host, p.port)
	if err != nil {
		return Outcome{Latency: time.Since(start), Err: attemptErr(parent, ctx, p.timeout, err)}
	}
	defer conn.Close()
	if deadline, ok := ctx.Deadline(); ok {
		_ = conn.SetDeadline(deadline)
	}
	// A cancelled parent interrupts the handshake at once.
	stop := context.AfterFunc(ctx, func() { _ = conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()

	var keyExchanged atomic.Bool
	cfg := &ssh.ClientConfig{
		User: sshUser,
		HostKeyCallback: func(string, net.Addr, ssh.PublicKey) error {
			keyExchanged.Store(true)
			return nil
		},
		Timeout: p.timeout,
	}
	c, chans, reqs, err := ssh.NewClientConn(conn, addr, cfg)
	latency := time.Since(start)
	if err == nil {
		// The server accepted "none" authentication: still up.
		_ = ssh.NewClient(c, chans, reqs).Close()
	}
	if keyExchanged.Load() {
		return Outcome{Up: true, Latency: latency}
	}
	return Outcome{Latency: latency, Err: attemptErr(parent, ctx, p.timeout, err)}
}
