package probe

import (
	"context"
	"net"
	"testing"
	"time"

	"github.com/vigil-go/vigil/config"
	"github.com/vigil-go/vigil/messages"
)

// listenTCP opens a loopback listener that never accepts (the kernel still
// completes handshakes into the backlog).
func listenTCP(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = ln.Close() })
	return ln
}

func hostPort(kind config.ReplicaKind, addr string) config.Replica {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		panic(err)
	}
	return config.Replica{ID: string(kind) + "://" + addr, Kind: kind, Host: host, Port: port}
}

func TestTCPOpenPortHealthy(t *testing.T) {
	t.Parallel()
	ln := listenTCP(t)
	res := NewTCP(hostPort(config.KindTCP, ln.Addr().String()), metrics(time.Second, time.Second)).Probe(context.Background())
	expect(t, res, messages.Healthy, "")
	if res.Latency <= 0 || res.Latency > 500*time.Millisecond {
		t.Errorf("latency = %s", res.Latency)
	}
}

func TestTCPByName(t *testing.T) {
	t.Parallel()
	ln := listenTCP(t)
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	r := config.Replica{ID: "tcp://localhost:" + port, Kind: config.KindTCP, Host: "localhost", Port: port}
	addrs, err := net.DefaultResolver.LookupIPAddr(context.Background(), "localhost")
	if err != nil || len(addrs) == 0 || addrs[0].IP.To4() == nil {
		t.Skipf("localhost does not resolve to IPv4 first here: %v %v", addrs, err)
	}
	expect(t, NewTCP(r, metrics(time.Second, time.Second)).Probe(context.Background()), messages.Healthy, "")
}

func TestTCPClosedPortDead(t *testing.T) {
	t.Parallel()
	res := NewTCP(hostPort(config.KindTCP, closedPort(t)), metrics(time.Second, time.Second)).Probe(context.Background())
	expect(t, res, messages.Dead, "connection refused")
}

func TestTCPUnresolvableDead(t *testing.T) {
	t.Parallel()
	r := config.Replica{ID: "tcp://nonexistent.invalid:80", Kind: config.KindTCP, Host: "nonexistent.invalid", Port: "80"}
	start := time.Now()
	res := NewTCP(r, metrics(time.Second, time.Second)).Probe(context.Background())
	expect(t, res, messages.Dead, "")
	if res.Err == "" || time.Since(start) > 1500*time.Millisecond {
		t.Errorf("err %q after %s", res.Err, time.Since(start))
	}
}

func TestTCPSlowThresholdIsSick(t *testing.T) {
	t.Parallel()
	ln := listenTCP(t)
	// A zero sick threshold makes any successful connect sick (Classify is
	// literal), which proves TCP results go through Classify.
	res := NewTCP(hostPort(config.KindTCP, ln.Addr().String()), metrics(time.Second, 0)).Probe(context.Background())
	expect(t, res, messages.Sick, "slow: ")
}

func TestTCPOnlyFirstAddress(t *testing.T) {
	t.Parallel()
	ln := listenTCP(t) // 127.0.0.1 only; 127.0.0.2 refuses on the same port
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	r := config.Replica{ID: "tcp://multi.example:" + port, Kind: config.KindTCP, Host: "multi.example", Port: port}
	m := metrics(time.Second, time.Second)

	p := NewTCP(r, m).(*tcpProber)
	p.lookup = fixedLookup("127.0.0.2", "127.0.0.1")
	expect(t, p.Probe(context.Background()), messages.Dead, "127.0.0.2:"+port)

	p.lookup = fixedLookup("127.0.0.1", "127.0.0.2")
	expect(t, p.Probe(context.Background()), messages.Healthy, "")
}
