package providers

import (
	"bufio"
	"context"
	"errors"
	"net"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vigil-go/vigil/messages"
)

func newTestXMPP(t *testing.T, c XMPP) *xmppNotifier {
	t.Helper()
	p, errs := c.Build(tDeps(nil))
	if errs != nil {
		t.Fatal(errs)
	}
	return p.(*xmppNotifier)
}

func TestXMPPBodies(t *testing.T) {
	const tail = "\nTime: " + tTime + "\nURL: " + tPageURL
	const deadNodes = "web:api:http://10.0.0.1/health, web:db:tcp://10.0.0.2:5432"
	cases := []struct {
		name string
		n    messages.Notification
		want string
	}{
		{"startup", tStartup(), "Startup alert for: Acme Status\n\nStatus: Healthy\nNodes: " + tail},
		{"changed dead", tDead(), "Acme Status\n\nStatus: Dead\nNodes: " + deadNodes + tail},
		{"recovery", tRecovery(), "Acme Status\n\nStatus: Healthy\nNodes: " + tail},
		{"reminder", tReminder(3), "Reminder for: Acme Status\n\nStatus: Dead\nNodes: " + deadNodes + tail},
	}
	for _, tc := range cases {
		if got := xmppBody(tc.n, tPageTitle, tPageURL); got != tc.want {
			t.Errorf("%s: body\n%q\nwant\n%q", tc.name, got, tc.want)
		}
	}
}

func TestXMPPStanza(t *testing.T) {
	got := xmppStanza("ops@example.com", "A <b> & \"c\"\nline 2", tAt)
	want := `<message type="chat" id="vigil-1783155508" to="ops@example.com"><body>A &lt;b&gt; &amp; &#34;c&#34;&#xA;line 2</body></message>`
	if got != want {
		t.Fatalf("stanza\n%s\nwant\n%s", got, want)
	}
}

// TestXMPPAddresses: from is split into account, domain and resource; JIDs
// that do not parse still build (the loader warns) and fail every delivery
// before connecting.
func TestXMPPAddresses(t *testing.T) {
	x := newTestXMPP(t, XMPP{From: "vigil@example.com/status", To: "ops@example.com", XMPPPassword: "pw"})
	if x.from != "vigil@example.com" || x.domain != "example.com" || x.resource != "status" || x.invalid != nil {
		t.Fatalf("from parsed as %q / %q / %q (%v)", x.from, x.domain, x.resource, x.invalid)
	}
	cases := []struct {
		name string
		c    XMPP
		want string
	}{
		{"empty", XMPP{}, `from "" is not an account JID`},
		{"from without local part", XMPP{From: "example.com", To: "ops@example.com", XMPPPassword: "x"}, `from "example.com"`},
		{"bad to", XMPP{From: "vigil@example.com", To: "ops@", XMPPPassword: "x"}, `to "ops@" is not a JID`},
		{"spaces", XMPP{From: "vigil @example.com", To: "ops@example.com", XMPPPassword: "x"}, `from "vigil @example.com"`},
	}
	for _, tc := range cases {
		x := newTestXMPP(t, tc.c)
		if err := x.Send(context.Background(), provCases()[0].n, nil); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: %v, want …%s…", tc.name, err, tc.want)
		}
	}
}

// fakeXMPPServer accepts connections and runs handle on each.
func fakeXMPPServer(t *testing.T, handle func(c net.Conn)) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				handle(c)
			}()
		}
	}()
	return ln.Addr().String()
}

// A server that offers no STARTTLS must not get credentials.
func TestXMPPRequiresSTARTTLS(t *testing.T) {
	var sawAuth atomic.Bool
	addr := fakeXMPPServer(t, func(c net.Conn) {
		_ = c.SetDeadline(time.Now().Add(5 * time.Second))
		r := bufio.NewReader(c)
		if _, err := r.ReadString('>'); err != nil { // <?xml …?>
			return
		}
		if _, err := r.ReadString('>'); err != nil { // <stream:stream …>
			return
		}
		_, _ = c.Write([]byte(`<?xml version='1.0'?><stream:stream xmlns='jabber:client' xmlns:stream='http://etherx.jabber.org/streams' id='s1' from='localhost' version='1.0'>` +
			`<stream:features><mechanisms xmlns='urn:ietf:params:xml:ns:xmpp-sasl'><mechanism>PLAIN</mechanism></mechanisms></stream:features>`))
		rest, _ := r.ReadString('>')
		if strings.Contains(rest, "auth") {
			sawAuth.Store(true)
		}
	})
	x := newTestXMPP(t, XMPP{From: "vigil@localhost", To: "ops@localhost", XMPPPassword: "secret"})
	x.addr = addr
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	err := x.Send(ctx, tDead(), nil)
	if err == nil || !strings.Contains(err.Error(), "StartTLS") {
		t.Fatalf("want a STARTTLS error, got %v", err)
	}
	if sawAuth.Load() {
		t.Fatal("credentials were sent over plain TCP")
	}
}

// The library takes no context: Send must still return at the deadline
// (the relay closes the connection) even if the server never answers.
func TestXMPPSendHonoursContext(t *testing.T) {
	closed := make(chan struct{}, 1)
	addr := fakeXMPPServer(t, func(c net.Conn) {
		buf := make([]byte, 4096)
		for {
			if _, err := c.Read(buf); err != nil {
				closed <- struct{}{}
				return
			}
		}
	})
	x := newTestXMPP(t, XMPP{From: "vigil@localhost", To: "ops@localhost", XMPPPassword: "secret"})
	x.addr = addr
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	err := x.Send(ctx, tDead(), nil)
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("want a deadline error, got %v", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Fatalf("Send returned after %v", d)
	}
	select {
	case <-closed:
	case <-time.After(3 * time.Second):
		t.Fatal("the connection to the server was not closed")
	}
}

// Against a real Prosody: STARTTLS, SASL, one chat message whose body is
// exactly the spec's text, delivered to an online receiver.
func TestXMPPWithProsody(t *testing.T) {
	const opsPW, vigilPW = "ops-Secret-1", "vigil-Secret-2"
	srv := startProsody(t, map[string]string{"vigil": vigilPW, "ops": opsPW})
	rc := connectReceiver(t, srv, "ops@localhost", opsPW)

	newProvider := func(to, password string) *xmppNotifier {
		x := newTestXMPP(t, XMPP{From: "vigil@localhost", To: to, XMPPPassword: password})
		x.addr, x.tlsConfig = srv.addr, srv.tlsConfig
		return x
	}
	send := func(x *xmppNotifier, n messages.Notification) error {
		ctx, cancel := context.WithTimeout(context.Background(), 20*time.Second)
		defer cancel()
		return x.Send(ctx, n, nil)
	}

	x := newProvider("ops@localhost", vigilPW)
	for _, n := range []messages.Notification{tDead(), tStartup(), tReminder(1)} {
		if err := send(x, n); err != nil {
			t.Fatalf("%s: %v", n.Kind, err)
		}
		got, err := rc.next(t, 15*time.Second)
		if err != nil {
			t.Fatalf("%s: %v", n.Kind, err)
		}
		if got.Type != "chat" || bareJID(got.Remote) != "vigil@localhost" {
			t.Fatalf("%s: got a %q message from %q", n.Kind, got.Type, got.Remote)
		}
		if want := xmppBody(n, tPageTitle, tPageURL); got.Text != want {
			t.Fatalf("%s: body\n%q\nwant\n%q", n.Kind, got.Text, want)
		}
	}

	// The exact text once more, written out.
	if want := "Acme Status\n\nStatus: Dead\nNodes: web:api:http://10.0.0.1/health, web:db:tcp://10.0.0.2:5432\nTime: " +
		tTime + "\nURL: " + tPageURL; xmppBody(tDead(), tPageTitle, tPageURL) != want {
		t.Fatal("body text drifted from the spec")
	}

	if err := send(newProvider("ops@localhost", "wrong-password"), tDead()); err == nil {
		t.Fatal("a wrong password must fail")
	} else if errors.Is(err, context.DeadlineExceeded) || !strings.Contains(err.Error(), "auth") {
		t.Fatalf("want an authentication failure, got %v", err)
	}

	// A recipient the server does not know bounces: not a delivery.
	if err := send(newProvider("nobody@localhost", vigilPW), tDead()); err == nil || !strings.Contains(err.Error(), "bounced") {
		t.Fatalf("want a bounce error for an unknown recipient, got %v", err)
	}

	if got, err := rc.next(t, 500*time.Millisecond); err == nil {
		t.Fatalf("unexpected extra message %+v", got)
	}
}

// go-xmpp tunnels through $HTTP_PROXY unless $NO_PROXY matches; the relay
// is only used when the library would connect to it directly.
func TestXMPPProxyDetection(t *testing.T) {
	for _, k := range []string{"HTTP_PROXY", "http_proxy", "NO_PROXY", "no_proxy"} {
		t.Setenv(k, "")
	}
	if xmppLibraryProxied("127.0.0.1:4000") {
		t.Fatal("no proxy configured, yet reported as proxied")
	}
	t.Setenv("http_proxy", "http://proxy.example:3128")
	if !xmppLibraryProxied("127.0.0.1:4000") {
		t.Fatal("http_proxy set: the library would tunnel")
	}
	t.Setenv("NO_PROXY", "localhost,127.0.0.1")
	if xmppLibraryProxied("127.0.0.1:4000") {
		t.Fatal("NO_PROXY matches the relay address")
	}
}
