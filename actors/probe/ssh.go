package probe

import (
	"context"
	"net"
	"sync/atomic"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/vigil-go/vigil/config"
)

// sshUser is the user name offered during the (always failing) auth step.
const sshUser = "vigil"

type sshProber struct{ dialProber }

// NewSSH returns the SSH prober for replica r (spec §4.5): connect to the
// host's first address, then run an SSH client handshake with no
// authentication method. Up iff key exchange completed, i.e. the host key
// callback ran, even though authentication then fails. The whole attempt is
// bounded by poll_delay_dead.
func NewSSH(r config.Replica, m config.Metrics) Prober {
	return &sshProber{newDialProber(r, m, sshHandshake)}
}

// sshHandshake runs the key exchange over conn and closes it.
func sshHandshake(ctx context.Context, conn net.Conn, addr string, timeout time.Duration) error {
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
		Timeout: timeout,
	}
	c, chans, reqs, err := ssh.NewClientConn(conn, addr, cfg)
	if err == nil {
		// The server accepted "none" authentication: still up.
		_ = ssh.NewClient(c, chans, reqs).Close()
	}
	if keyExchanged.Load() {
		return nil
	}
	return err
}
