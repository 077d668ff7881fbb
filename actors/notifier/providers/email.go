package providers

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/mail"
	"os"
	"strconv"
	"strings"
	"time"

	simplemail "github.com/xhit/go-simple-mail/v2"

	"github.com/vigil-go/vigil/actors/notifier"
	"github.com/vigil-go/vigil/config"
	"github.com/vigil-go/vigil/messages"
)

// Size bounds of the email message (spec §11 item 27): the nodes list of
// the body and of the subject is cut after whole replicas, with a
// "(N more)" note.
const (
	emailBodyNodesMax    = 100 << 10
	emailSubjectNodesMax = 900
	// emailTimeout bounds one delivery (connect, STARTTLS, AUTH, send),
	// within the attempt's context deadline.
	emailTimeout = 10 * time.Second
)

// errSTARTTLSRequired is returned when smtp_encrypt = true and the server
// does not offer STARTTLS: nothing but EHLO/HELO/QUIT is sent in clear.
var errSTARTTLSRequired = errors.New("the server does not offer STARTTLS and smtp_encrypt = true requires it")

// email sends one text/plain message per notification over SMTP (spec §6.2).
type email struct {
	to, from       string
	title, pageURL string
	host           string
	port           int
	username       string
	password       string
	encrypt        bool
	helo           string
	// tlsConfig is the base TLS configuration (nil: system roots). Tests set
	// it to trust their server's certificate; the configuration cannot.
	tlsConfig *tls.Config
}

// Email is the [notify.email] table.
type Email struct {
	// To and From are single addresses.
	To       string `toml:"to,required"`
	From     string `toml:"from,required"`
	SMTPHost string `toml:"smtp_host" default:"localhost"`
	SMTPPort int    `toml:"smtp_port,u16" default:"587"`
	// SMTPUsername and SMTPPassword are "" when unset (no authentication).
	SMTPUsername string `toml:"smtp_username"`
	SMTPPassword string `toml:"smtp_password,secret"`
	// SMTPEncrypt requires STARTTLS.
	SMTPEncrypt bool `toml:"smtp_encrypt" default:"true"`
	Options
}

// Check warns about addresses, host and port that cannot work.
func (c *Email) Check(r *config.Report) {
	const lost = "no email can be sent"
	// A display name is fine here ("Ops <ops@example.com>").
	if _, err := mail.ParseAddress(c.To); err != nil {
		r.Warn("to", "is not an email address (got %q): %s", c.To, lost)
	}
	// The page title is the display name, so only a bare address works.
	if a, err := mail.ParseAddress(c.From); err != nil || a.Name != "" || a.Address != c.From {
		r.Warn("from", "is not a bare email address such as status@example.com (got %q): %s", c.From, lost)
	}
	if strings.TrimSpace(c.SMTPHost) == "" || strings.ContainsAny(c.SMTPHost, " \t\r\n/") {
		r.Warn("smtp_host", "is not a host name or IP address (got %q): %s", c.SMTPHost, lost)
	}
	if c.SMTPPort == 0 {
		r.Warn("smtp_port", "port 0 cannot be connected to: %s", lost)
	}
	// Both must be set for the server to authenticate (as in the original).
	switch {
	case c.SMTPUsername != "" && c.SMTPPassword == "":
		r.Warn("smtp_username", "is set but smtp_password is not: mail is sent without authentication")
	case c.SMTPUsername == "" && c.SMTPPassword != "":
		r.Warn("smtp_password", "is set but smtp_username is not: mail is sent without authentication")
	}
}

// Build makes the email notifier. Like the original it accepts any address,
// host and port; a delivery with unusable ones fails.
func (c *Email) Build(d Deps) (notifier.Provider, config.Errors) {
	helo, err := os.Hostname()
	if err != nil || helo == "" || strings.ContainsAny(helo, " \t\r\n") {
		helo = "localhost"
	}
	return &email{
		to: c.To, from: c.From, title: d.PageTitle, pageURL: d.PageURL,
		host: strings.TrimSuffix(strings.TrimPrefix(c.SMTPHost, "["), "]"), port: c.SMTPPort,
		username: c.SMTPUsername, password: c.SMTPPassword, encrypt: c.SMTPEncrypt, helo: helo,
	}, nil
}

func (e *email) Kind() string { return "email" }

// subject is "<STATUS>" or "<STATUS> | <nodes>".
func (e *email) subject(n messages.Notification) string {
	s := strings.ToUpper(n.Status.String())
	if len(n.Replicas) > 0 {
		s += " | " + nodesTextCapped(n.Replicas, emailSubjectNodesMax)
	}
	return s
}

// body is the text of spec §6.2, without a trailing newline.
func (e *email) body(n messages.Notification) string {
	var b strings.Builder
	b.WriteString(reportLine(n, e.title))
	b.WriteString("\n\n--\n")
	b.WriteString("Status: " + statusTitle(n.Status) + "\n")
	b.WriteString("Nodes: " + nodesTextCapped(n.Replicas, emailBodyNodesMax) + "\n")
	b.WriteString("Time: " + messages.FormatTS(n.Time) + "\n")
	b.WriteString("URL: " + e.pageURL + "\n")
	b.WriteString("--\n\n")
	b.WriteString("To unsubscribe, please edit your status page configuration.")
	return b.String()
}

// message builds the email. From carries the page title as display name.
func (e *email) message(n messages.Notification) (*simplemail.Email, error) {
	msg := simplemail.NewMSG()
	msg.SetFrom((&mail.Address{Name: e.title, Address: e.from}).String()).
		AddTo(e.to).
		SetSubject(e.subject(n)).
		SetBody(simplemail.TextPlain, e.body(n))
	return msg, msg.GetError()
}

func (e *email) Send(ctx context.Context, n messages.Notification, _ []int) error {
	msg, err := e.message(n)
	if err != nil {
		return err
	}
	deadline := time.Now().Add(emailTimeout)
	if d, ok := ctx.Deadline(); ok && d.Before(deadline) {
		deadline = d
	}
	ctx, cancel := context.WithDeadline(ctx, deadline)
	defer cancel()

	addr := net.JoinHostPort(e.host, strconv.Itoa(e.port))
	raw, err := (&net.Dialer{}).DialContext(ctx, "tcp", addr)
	if err != nil {
		return fmt.Errorf("smtp %s: %w", addr, err)
	}
	conn := &smtpGuardConn{Conn: raw, requireTLS: e.encrypt}
	defer conn.Close()
	_ = conn.SetDeadline(deadline)
	// Cancelling the attempt closes the connection, which ends every
	// blocked read or write of the client.
	stop := context.AfterFunc(ctx, func() { _ = conn.Close() })
	defer stop()

	server := simplemail.NewSMTPClient()
	server.Host = e.host
	server.Port = e.port
	server.Helo = e.helo
	server.CustomConn = conn
	// STARTTLS is attempted whenever offered; smtpGuardConn makes it
	// mandatory when smtp_encrypt = true.
	server.Encryption = simplemail.EncryptionSTARTTLS
	server.TLSConfig = e.tlsFor()
	// Timeouts are enforced by the connection deadline and ctx, so the
	// library runs no goroutines of its own.
	server.ConnectTimeout, server.SendTimeout = 0, 0
	server.Authentication = simplemail.AuthNone
	if e.username != "" && e.password != "" {
		server.Authentication = simplemail.AuthAuto
		server.Username, server.Password = e.username, e.password
	}

	client, err := server.Connect()
	if err == nil {
		err = msg.Send(client)
		if err == nil {
			_ = client.Quit()
		}
	}
	if err != nil {
		switch {
		case conn.blocked:
			return fmt.Errorf("smtp %s: %w", addr, errSTARTTLSRequired)
		case ctx.Err() != nil:
			return fmt.Errorf("smtp %s: %w (%v)", addr, ctx.Err(), err)
		case !time.Now().Before(deadline):
			// The connection deadline (same instant as ctx's) fired first.
			return fmt.Errorf("smtp %s: %w (%v)", addr, context.DeadlineExceeded, err)
		}
		return fmt.Errorf("smtp %s: %w", addr, err)
	}
	return nil
}

// tlsFor returns the TLS configuration with server name smtp_host.
func (e *email) tlsFor() *tls.Config {
	var c *tls.Config
	if e.tlsConfig != nil {
		c = e.tlsConfig.Clone()
	} else {
		c = &tls.Config{}
	}
	c.ServerName = e.host
	if c.MinVersion == 0 {
		c.MinVersion = tls.VersionTLS12
	}
	return c
}

// smtpGuardConn refuses, while requireTLS is set and STARTTLS has not been
// sent, every client command other than EHLO, HELO, STARTTLS and QUIT: so no
// credentials and no message go out in clear when the server does not offer
// STARTTLS (go-simple-mail only does opportunistic STARTTLS).
type smtpGuardConn struct {
	net.Conn
	requireTLS bool
	starttls   bool
	blocked    bool
}

func (g *smtpGuardConn) Write(p []byte) (int, error) {
	if g.requireTLS && !g.starttls {
		cmd := p
		if len(cmd) > 9 {
			cmd = cmd[:9]
		}
		cmd = bytes.ToUpper(cmd)
		switch {
		case bytes.HasPrefix(cmd, []byte("STARTTLS\r")):
			g.starttls = true
		case bytes.HasPrefix(cmd, []byte("EHLO ")), bytes.HasPrefix(cmd, []byte("HELO ")), bytes.HasPrefix(cmd, []byte("QUIT\r")):
		default:
			g.blocked = true
			return 0, errSTARTTLSRequired
		}
	}
	return g.Conn.Write(p)
}

// nodesTextCapped joins replicas with ", " like nodesText, stopping after
// the last whole replica that keeps the text within max bytes and then
// appending " … (N more)". A first replica longer than max is cut on a rune
// boundary.
func nodesTextCapped(replicas []string, max int) string {
	var b strings.Builder
	for i, r := range replicas {
		sep := ""
		if i > 0 {
			sep = ", "
		}
		if b.Len()+len(sep)+len(r) <= max {
			b.WriteString(sep)
			b.WriteString(r)
			continue
		}
		rest := len(replicas) - i
		if i == 0 {
			b.WriteString(truncateBytes(r, max, "…"))
			rest--
		}
		if rest > 0 {
			fmt.Fprintf(&b, " … (%d more)", rest)
		}
		break
	}
	return b.String()
}

var _ notifier.Provider = (*email)(nil)
