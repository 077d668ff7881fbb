package providers

import (
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"encoding/xml"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/xmppo/go-xmpp"

	"github.com/vigil-go/vigil/actors/notifier"
	"github.com/vigil-go/vigil/config"
	"github.com/vigil-go/vigil/messages"
)

// xmppNotifier logs in as `from`, sends one chat message to `to` and logs
// out (spec §6.9). The official Vigil binaries lack this notifier (spec §11
// item 34); this implementation has it.
//
// Security: STARTTLS is required and the server certificate is verified
// against the JID's domain; SASL uses the best mechanism both sides offer
// (SCRAM variants before PLAIN, PLAIN only over TLS).
//
// Delivery is confirmed: after the message the notifier pings the server
// (XEP-0199) and waits for the answer, which the server sends only after it
// has processed the message; a bounce for the recipient arriving first is a
// failure.
//
// Cancellation: go-xmpp takes no context and dials by itself, so the client
// is pointed at an in-process loopback relay whose upstream connection this
// notifier dials with the context. When the context ends the relay closes
// both sides, which makes every blocked library call return.
type xmppNotifier struct {
	from, domain, resource string
	password               string
	to                     string
	title, pageURL         string
	logger                 *slog.Logger
	// invalid is why from or to cannot be used; Send returns it.
	invalid error

	// Test overrides: addr replaces the server lookup (SRV record of the
	// domain, else domain:5222) and tlsConfig the default verification.
	addr      string
	tlsConfig *tls.Config
}

// xmppConfirmTimeout bounds a Send whose context has no deadline (the
// notifier actor always sets one).
const xmppConfirmTimeout = 30 * time.Second

// XMPP is the [notify.xmpp] table.
type XMPP struct {
	// To and From are JIDs; XMPPPassword authenticates From.
	To           string `toml:"to,required"`
	From         string `toml:"from,required"`
	XMPPPassword string `toml:"xmpp_password,required,secret"`
	Options
}

// Check warns about addresses or a password that cannot work.
func (c *XMPP) Check(r *config.Report) {
	const lost = "no message can be sent"
	if _, _, _, ok := parseJID(c.To); !ok {
		r.Warn("to", "is not a JID such as ops@example.com (got %q): %s", c.To, lost)
	}
	if local, _, _, ok := parseJID(c.From); !ok || local == "" {
		r.Warn("from", "is not an account JID such as vigil@example.com (got %q): %s", c.From, lost)
	}
	warnEmpty(r, "xmpp_password", c.XMPPPassword, lost)
}

// Build makes the XMPP notifier. Like the original it accepts any addresses
// and password; with a JID that does not parse every delivery fails before
// connecting.
func (c *XMPP) Build(d Deps) (notifier.Provider, config.Errors) {
	logger := d.Logger
	if logger == nil {
		logger = slog.New(slog.DiscardHandler)
	}
	x := &xmppNotifier{password: c.XMPPPassword, to: c.To, title: d.PageTitle, pageURL: d.PageURL, logger: logger}
	if local, domain, resource, ok := parseJID(c.From); ok && local != "" {
		x.from, x.domain, x.resource = local+"@"+domain, domain, resource
	} else {
		x.invalid = fmt.Errorf("xmpp: from %q is not an account JID such as vigil@example.com", c.From)
	}
	if _, _, _, ok := parseJID(c.To); !ok && x.invalid == nil {
		x.invalid = fmt.Errorf("xmpp: to %q is not a JID such as ops@example.com", c.To)
	}
	return x, nil
}

// parseJID splits [local@]domain[/resource]. The domain must be non-empty
// and nothing may contain spaces or a second '@' before the resource.
func parseJID(s string) (local, domain, resource string, ok bool) {
	if s == "" || strings.ContainsAny(s, " \t\r\n") {
		return "", "", "", false
	}
	bare, resource, hasRes := strings.Cut(s, "/")
	if hasRes && resource == "" {
		return "", "", "", false
	}
	if i := strings.IndexByte(bare, '@'); i >= 0 {
		local, domain = bare[:i], bare[i+1:]
		if local == "" {
			return "", "", "", false
		}
	} else {
		domain = bare
	}
	if domain == "" || strings.Contains(domain, "@") {
		return "", "", "", false
	}
	return local, domain, resource, true
}

func (x *xmppNotifier) Kind() string { return "xmpp" }

func (x *xmppNotifier) Send(ctx context.Context, n messages.Notification, _ []int) error {
	if x.invalid != nil {
		return x.invalid
	}
	if _, ok := ctx.Deadline(); !ok {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, xmppConfirmTimeout)
		defer cancel()
	}
	stanza := xmppStanza(x.to, xmppBody(n, x.title, x.pageURL), n.Time)

	relay, err := listenXMPPRelay()
	if err != nil {
		return err
	}
	defer relay.close()
	done := make(chan error, 1)
	if xmppLibraryProxied(relay.addr()) {
		// go-xmpp would tunnel its connection to the loopback relay through
		// the proxy named in the environment, which cannot work: let it
		// connect (through the proxy) by itself. The attempt still returns
		// at the deadline, but the abandoned session then ends only on the
		// library's own timeouts.
		relay.close()
		addrs, err := x.serverAddrs(ctx)
		if err != nil {
			return err
		}
		x.logger.Debug("xmpp: proxy configured in the environment; the session is not cancellable", "server", addrs[0])
		go func() { done <- x.session(ctx, addrs[0], stanza) }()
		select {
		case err := <-done:
			return err
		case <-ctx.Done():
			return fmt.Errorf("xmpp: %w", ctx.Err())
		}
	}

	up, err := x.dial(ctx)
	if err != nil {
		return fmt.Errorf("xmpp: connecting to the server of %s: %w", x.domain, err)
	}
	relay.start(up)
	go func() { done <- x.session(ctx, relay.addr(), stanza) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		relay.close()
		// Closing both sides makes the library return promptly.
		select {
		case err := <-done:
			if err == nil {
				return nil // confirmed just before the deadline
			}
		case <-time.After(2 * time.Second):
		}
		return fmt.Errorf("xmpp: %w", ctx.Err())
	}
}

// session logs in through host, sends the stanza, confirms it with a ping
// round trip and logs out.
func (x *xmppNotifier) session(ctx context.Context, host, stanza string) error {
	opts := xmpp.Options{
		Host:          host,
		User:          x.from,
		Password:      x.password,
		Resource:      x.resource,
		NoTLS:         true, // no direct TLS: plain TCP, then STARTTLS …
		StartTLS:      true, // … which is required
		TLSConfig:     x.tls(),
		DialTimeout:   10 * time.Second,
		NoSASLUpgrade: true,
	}
	c, err := opts.NewClient()
	if err != nil {
		return fmt.Errorf("xmpp: login as %s: %w", x.from, err)
	}
	defer xmppLogout(ctx, c)
	if _, err := c.SendOrg(stanza); err != nil {
		return fmt.Errorf("xmpp: sending the message: %w", err)
	}
	pingID := "vigil-ping-" + randomHex(8)
	ping := `<iq type="get" id="` + pingID + `" to="` + xmlEscapeString(x.domain) + `"><ping xmlns="urn:xmpp:ping"/></iq>`
	if _, err := c.SendOrg(ping); err != nil {
		return fmt.Errorf("xmpp: sending the confirmation ping: %w", err)
	}
	want := bareJID(x.to)
	for {
		st, err := c.Recv()
		if err != nil {
			return fmt.Errorf("xmpp: waiting for the server's confirmation: %w", err)
		}
		switch v := st.(type) {
		case xmpp.IQ:
			if v.ID == pingID {
				return nil
			}
		case xmpp.Chat:
			if v.Type == "error" && strings.EqualFold(bareJID(v.Remote), want) {
				return fmt.Errorf("xmpp: the server bounced the message to %s", x.to)
			}
		}
	}
}

// xmppLogout ends the stream politely, waiting a little for the server's
// own end of stream; the outcome is already known, so this never fails the
// delivery (an unfinished close is cut when the relay shuts).
func xmppLogout(ctx context.Context, c *xmpp.Client) {
	closed := make(chan struct{})
	go func() {
		_ = c.Close()
		close(closed)
	}()
	t := time.NewTimer(2 * time.Second)
	defer t.Stop()
	select {
	case <-closed:
	case <-t.C:
	case <-ctx.Done():
	}
}

func (x *xmppNotifier) tls() *tls.Config {
	if x.tlsConfig != nil {
		c := x.tlsConfig.Clone()
		if c.ServerName == "" {
			c.ServerName = x.domain
		}
		return c
	}
	return &tls.Config{ServerName: x.domain, MinVersion: tls.VersionTLS12}
}

// serverAddrs lists where the server of the domain listens: the targets of
// its _xmpp-client._tcp SRV record in preference order, else domain:5222.
func (x *xmppNotifier) serverAddrs(ctx context.Context) ([]string, error) {
	if x.addr != "" {
		return []string{x.addr}, nil
	}
	_, srvs, err := net.DefaultResolver.LookupSRV(ctx, "xmpp-client", "tcp", x.domain)
	if err == nil && len(srvs) > 0 {
		if len(srvs) == 1 && (srvs[0].Target == "." || srvs[0].Target == "") {
			return nil, fmt.Errorf("xmpp: %s has no client service (SRV target \".\")", x.domain)
		}
		addrs := make([]string, 0, len(srvs))
		for _, s := range srvs {
			addrs = append(addrs, net.JoinHostPort(strings.TrimSuffix(s.Target, "."), strconv.Itoa(int(s.Port))))
		}
		return addrs, nil
	}
	return []string{net.JoinHostPort(x.domain, "5222")}, nil
}

// dial connects to the first reachable server address.
func (x *xmppNotifier) dial(ctx context.Context) (net.Conn, error) {
	addrs, err := x.serverAddrs(ctx)
	if err != nil {
		return nil, err
	}
	var d net.Dialer
	var errs []error
	for _, a := range addrs {
		c, err := d.DialContext(ctx, "tcp", a)
		if err == nil {
			return c, nil
		}
		errs = append(errs, err)
		if ctx.Err() != nil {
			break
		}
	}
	return nil, errors.Join(errs...)
}

// xmppBody is the message text of spec §6.9.
func xmppBody(n messages.Notification, title, pageURL string) string {
	return shortPrefix(n) + title + "\n\nStatus: " + statusTitle(n.Status) + "\nNodes: " + nodesText(n) +
		"\nTime: " + messages.FormatTS(n.Time) + "\nURL: " + pageURL
}

// xmppStanza is the original's message stanza:
// <message type="chat" id="vigil-<unix seconds>" to="<to>"><body>…</body></message>.
func xmppStanza(to, body string, at time.Time) string {
	if at.IsZero() {
		at = time.Now()
	}
	return `<message type="chat" id="vigil-` + strconv.FormatInt(at.Unix(), 10) + `" to="` + xmlEscapeString(to) +
		`"><body>` + xmlEscapeString(body) + `</body></message>`
}

// xmlEscapeString escapes text for XML content and attribute values; it
// replaces characters XML cannot carry with U+FFFD.
func xmlEscapeString(s string) string {
	var b bytes.Buffer
	_ = xml.EscapeText(&b, []byte(s))
	return b.String()
}

func bareJID(j string) string {
	bare, _, _ := strings.Cut(j, "/")
	return bare
}

func randomHex(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// xmppLibraryProxied mirrors go-xmpp's own decision to tunnel a connection
// to addr through $HTTP_PROXY (it honours $NO_PROXY by substring match).
func xmppLibraryProxied(addr string) bool {
	p := os.Getenv("HTTP_PROXY")
	if p == "" {
		p = os.Getenv("http_proxy")
	}
	if p == "" {
		return false
	}
	np := os.Getenv("NO_PROXY")
	if np == "" {
		np = os.Getenv("no_proxy")
	}
	if np != "" {
		for _, s := range strings.Split(np, ",") {
			if strings.Contains(strings.ToUpper(addr), strings.ToUpper(s)) {
				return false
			}
		}
	}
	return true
}

// xmppRelay forwards one loopback connection (the library's) to an upstream
// connection dialled by the notifier, so that closing it interrupts the
// library wherever it blocks.
type xmppRelay struct {
	ln   net.Listener
	up   net.Conn
	mu   sync.Mutex
	down net.Conn
	shut bool
	once sync.Once
}

// listenXMPPRelay opens the loopback listener; start attaches the
// upstream connection.
func listenXMPPRelay() (*xmppRelay, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		ln, err = net.Listen("tcp", "[::1]:0")
		if err != nil {
			return nil, fmt.Errorf("xmpp: loopback relay: %w", err)
		}
	}
	return &xmppRelay{ln: ln}, nil
}

func (r *xmppRelay) addr() string { return r.ln.Addr().String() }

func (r *xmppRelay) start(up net.Conn) {
	r.mu.Lock()
	r.up = up
	shut := r.shut
	r.mu.Unlock()
	if shut {
		up.Close()
		return
	}
	go r.run(up)
}

func (r *xmppRelay) run(up net.Conn) {
	down, err := r.ln.Accept()
	r.ln.Close()
	if err != nil {
		r.close()
		return
	}
	r.mu.Lock()
	if r.shut {
		r.mu.Unlock()
		down.Close()
		return
	}
	r.down = down
	r.mu.Unlock()
	go func() {
		_, _ = io.Copy(up, down)
		r.close()
	}()
	_, _ = io.Copy(down, up)
	r.close()
}

func (r *xmppRelay) close() {
	r.once.Do(func() {
		r.ln.Close()
		r.mu.Lock()
		r.shut = true
		if r.up != nil {
			r.up.Close()
		}
		if r.down != nil {
			r.down.Close()
		}
		r.mu.Unlock()
	})
}

var _ notifier.Provider = (*xmppNotifier)(nil)
