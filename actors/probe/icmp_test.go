package probe

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"strings"
	"testing"
	"time"

	"github.com/vigil-go/vigil/config"
	"github.com/vigil-go/vigil/messages"
)

func rawICMPAllowed() bool { return trySocket(true) == nil }

func needRawICMP(t *testing.T) {
	t.Helper()
	if !rawICMPAllowed() {
		t.Skip("raw ICMP sockets are not permitted here (need root or CAP_NET_RAW)")
	}
}

func icmpReplica(host string) config.Replica {
	return config.Replica{ID: "icmp://" + host, Kind: config.KindICMP, Host: host}
}

func TestICMPLoopbackHealthy(t *testing.T) {
	t.Parallel()
	needRawICMP(t)
	res := NewICMP(icmpReplica("127.0.0.1"), metrics(2*time.Second, time.Second), true, nil).Probe(context.Background())
	expect(t, res, messages.Healthy, "")
	if res.Latency <= 0 || res.Latency > 500*time.Millisecond {
		t.Errorf("latency = %s, want a small positive RTT", res.Latency)
	}
}

func TestICMPByNameHealthy(t *testing.T) {
	t.Parallel()
	needRawICMP(t)
	expect(t, NewICMP(icmpReplica("localhost"), metrics(2*time.Second, time.Second), true, nil).Probe(context.Background()), messages.Healthy, "")
}

func TestICMPIPv6LoopbackHealthy(t *testing.T) {
	t.Parallel()
	needRawICMP(t)
	ln, err := net.Listen("tcp6", "[::1]:0")
	if err != nil {
		t.Skipf("no IPv6 loopback: %v", err)
	}
	_ = ln.Close()
	expect(t, NewICMP(icmpReplica("::1"), metrics(2*time.Second, time.Second), true, nil).Probe(context.Background()), messages.Healthy, "")
}

func TestICMPUnresolvableDead(t *testing.T) {
	t.Parallel()
	start := time.Now()
	res := NewICMP(icmpReplica("nonexistent.invalid"), metrics(time.Second, time.Second), true, nil).Probe(context.Background())
	expect(t, res, messages.Dead, "nonexistent.invalid")
	if time.Since(start) > 1500*time.Millisecond {
		t.Errorf("took %s", time.Since(start))
	}
}

func TestICMPNoReplyDead(t *testing.T) {
	t.Parallel()
	needRawICMP(t)
	// 100::/64 is the IPv6 discard-only prefix (RFC 6666): either the send
	// fails (no IPv6 route) or the wait of min(1s, poll_delay_dead) = 200ms
	// expires.
	start := time.Now()
	res := NewICMP(icmpReplica("100::1"), metrics(200*time.Millisecond, time.Second), true, nil).Probe(context.Background())
	expect(t, res, messages.Dead, "ping 100::1: ")
	if time.Since(start) > time.Second {
		t.Errorf("took %s, want about 200ms at most", time.Since(start))
	}
}

func TestICMPUnprivilegedDeniedIsDead(t *testing.T) {
	t.Parallel()
	if trySocket(false) == nil {
		t.Skip("unprivileged ICMP is allowed here (net.ipv4.ping_group_range)")
	}
	res := NewICMP(icmpReplica("127.0.0.1"), metrics(time.Second, time.Second), false, nil).Probe(context.Background())
	expect(t, res, messages.Dead, "ping 127.0.0.1: ")
}

func TestDetectICMPModeLogsOneLine(t *testing.T) {
	t.Parallel()
	var buf bytes.Buffer
	logger := slog.New(slog.NewTextHandler(&buf, &slog.HandlerOptions{Level: slog.LevelDebug}))
	privileged := DetectICMPMode(logger)
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 1 {
		t.Fatalf("logged %d lines, want 1:\n%s", len(lines), buf.String())
	}
	raw, dgram := trySocket(true) == nil, trySocket(false) == nil
	switch {
	case raw:
		if !privileged || !strings.Contains(lines[0], "level=INFO") || !strings.Contains(lines[0], "raw sockets") {
			t.Errorf("privileged=%v, log %q", privileged, lines[0])
		}
	case dgram:
		if privileged || !strings.Contains(lines[0], "unprivileged") {
			t.Errorf("privileged=%v, log %q", privileged, lines[0])
		}
	default:
		if privileged || !strings.Contains(lines[0], "level=WARN") || !strings.Contains(lines[0], "CAP_NET_RAW") {
			t.Errorf("privileged=%v, log %q", privileged, lines[0])
		}
	}
}

func fixedLookup(addrs ...string) lookupFunc {
	return func(context.Context, string) ([]net.IPAddr, error) {
		out := make([]net.IPAddr, len(addrs))
		for i, a := range addrs {
			out[i] = net.IPAddr{IP: net.ParseIP(a)}
		}
		return out, nil
	}
}

func TestICMPEveryAddressMustAnswer(t *testing.T) {
	t.Parallel()
	needRawICMP(t)
	m := metrics(200*time.Millisecond, time.Second)
	newP := func(addrs ...string) *icmpProber {
		p := NewICMP(icmpReplica("group.example"), m, true, nil).(*icmpProber)
		p.lookup = fixedLookup(addrs...)
		return p
	}
	expect(t, newP("127.0.0.1", "127.0.0.2").Probe(context.Background()), messages.Healthy, "")
	// The failing address is reached only after the good one answered.
	expect(t, newP("127.0.0.1", "100::1").Probe(context.Background()), messages.Dead, "ping 100::1: ")
	// The first failure ends the attempt: 127.0.0.1 is never pinged.
	res := newP("100::1", "100::2").Probe(context.Background())
	expect(t, res, messages.Dead, "ping 100::1: ")
	if res.Latency > 500*time.Millisecond {
		t.Errorf("latency %s: kept pinging after the first failure", res.Latency)
	}
	p := newP()
	p.lookup = func(context.Context, string) ([]net.IPAddr, error) { return nil, nil }
	expect(t, p.Probe(context.Background()), messages.Dead, "no addresses")
}
