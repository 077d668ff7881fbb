package probe

import (
	"context"
	"crypto/ed25519"
	"crypto/rand"
	"errors"
	"io"
	"net"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/ssh"

	"github.com/vigil-go/vigil/config"
	"github.com/vigil-go/vigil/messages"
)

// serveLoopback accepts connections on a loopback listener and hands each to
// handle in its own goroutine; cleanup closes the listener and waits for all
// handlers.
func serveLoopback(t *testing.T, handle func(net.Conn)) string {
	t.Helper()
	ln := listenTCP(t)
	var wg sync.WaitGroup
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() {
				defer c.Close()
				handle(c)
			})
		}
	})
	t.Cleanup(func() { _ = ln.Close(); wg.Wait() })
	return ln.Addr().String()
}

// startSSHServer runs an in-process SSH server with a fresh ed25519 host key.
// Password auth always fails unless allowNone, which accepts "none" auth.
func startSSHServer(t *testing.T, allowNone bool) string {
	t.Helper()
	_, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	signer, err := ssh.NewSignerFromKey(priv)
	if err != nil {
		t.Fatal(err)
	}
	cfg := &ssh.ServerConfig{
		NoClientAuth: allowNone,
		PasswordCallback: func(ssh.ConnMetadata, []byte) (*ssh.Permissions, error) {
			return nil, errors.New("denied")
		},
	}
	cfg.AddHostKey(signer)
	return serveLoopback(t, func(c net.Conn) {
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		sc, chans, reqs, err := ssh.NewServerConn(c, cfg)
		if err != nil {
			return
		}
		go ssh.DiscardRequests(reqs)
		go func() {
			for nc := range chans {
				_ = nc.Reject(ssh.Prohibited, "no")
			}
		}()
		_ = sc.Wait()
	})
}

func TestSSHHandshakeHealthy(t *testing.T) {
	t.Parallel()
	addr := startSSHServer(t, false)
	res := NewSSH(hostPort(config.KindSSH, addr), metrics(2*time.Second, time.Second)).Probe(context.Background())
	expect(t, res, messages.Healthy, "")
	if res.Latency <= 0 || res.Latency > time.Second {
		t.Errorf("latency = %s", res.Latency)
	}
}

func TestSSHNoneAuthAcceptedHealthy(t *testing.T) {
	t.Parallel()
	addr := startSSHServer(t, true)
	expect(t, NewSSH(hostPort(config.KindSSH, addr), metrics(2*time.Second, time.Second)).Probe(context.Background()), messages.Healthy, "")
}

func TestSSHNonSSHPeersDead(t *testing.T) {
	t.Parallel()
	m := metrics(time.Second, time.Second)
	garbage := serveLoopback(t, func(c net.Conn) {
		_, _ = io.WriteString(c, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
	})
	closes := serveLoopback(t, func(net.Conn) {})
	for name, addr := range map[string]string{"garbage": garbage, "closes": closes} {
		start := time.Now()
		res := NewSSH(hostPort(config.KindSSH, addr), m).Probe(context.Background())
		expect(t, res, messages.Dead, "ssh: handshake failed")
		if time.Since(start) > 900*time.Millisecond {
			t.Errorf("%s: took %s, want a quick failure", name, time.Since(start))
		}
	}
}

func TestSSHSilentPeerTimesOut(t *testing.T) {
	t.Parallel()
	var accepted atomic.Int32
	addr := serveLoopback(t, func(c net.Conn) {
		accepted.Add(1)
		_, _ = io.Copy(io.Discard, c) // never answers; returns when the client closes
	})
	res := NewSSH(hostPort(config.KindSSH, addr), metrics(300*time.Millisecond, time.Second)).Probe(context.Background())
	expect(t, res, messages.Dead, "")
	if res.Err != "timeout after 300ms" {
		t.Errorf("err = %q", res.Err)
	}
	if res.Latency < 300*time.Millisecond || res.Latency > 800*time.Millisecond {
		t.Errorf("latency = %s", res.Latency)
	}
	if accepted.Load() != 1 {
		t.Errorf("accepted %d connections", accepted.Load())
	}
}

func TestSSHClosedPortDead(t *testing.T) {
	t.Parallel()
	expect(t, NewSSH(hostPort(config.KindSSH, closedPort(t)), metrics(time.Second, time.Second)).Probe(context.Background()), messages.Dead, "connection refused")
}

func TestSSHCancelled(t *testing.T) {
	t.Parallel()
	addr := serveLoopback(t, func(c net.Conn) { _, _ = io.Copy(io.Discard, c) })
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	start := time.Now()
	res := NewSSH(hostPort(config.KindSSH, addr), metrics(5*time.Second, time.Second)).Probe(ctx)
	expect(t, res, messages.Dead, "cancelled")
	if time.Since(start) > time.Second {
		t.Errorf("took %s", time.Since(start))
	}
}

func TestSSHOnlyFirstAddress(t *testing.T) {
	t.Parallel()
	addr := startSSHServer(t, false)
	r := hostPort(config.KindSSH, addr)
	p := NewSSH(r, metrics(2*time.Second, time.Second)).(*sshProber)
	p.lookup = fixedLookup("127.0.0.2", "127.0.0.1")
	expect(t, p.Probe(context.Background()), messages.Dead, "connection refused")
	p.lookup = fixedLookup("127.0.0.1", "127.0.0.2")
	expect(t, p.Probe(context.Background()), messages.Healthy, "")
}
