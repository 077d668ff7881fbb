package providers

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"errors"
	"io"
	"log/slog"
	"math/big"
	"mime"
	"mime/quotedprintable"
	"net"
	"net/http"
	"net/mail"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/emersion/go-sasl"
	"github.com/emersion/go-smtp"

	"github.com/vigil-go/vigil/config"
	"github.com/vigil-go/vigil/messages"
)

// ---- an in-process SMTP server (emersion/go-smtp) ----

type smtpTestMail struct {
	from string
	to   []string
	data string
	tls  bool
}

type smtpTestServer struct {
	addr       *net.TCPAddr
	user, pass string // accepted credentials ("" = no AUTH offered)

	mu    sync.Mutex
	auths []string // "user:pass" of every AUTH attempt
	mails []smtpTestMail
}

func (s *smtpTestServer) authAttempts() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]string(nil), s.auths...)
}

func (s *smtpTestServer) received() []smtpTestMail {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]smtpTestMail(nil), s.mails...)
}

type smtpTestSession struct {
	srv    *smtpTestServer
	conn   *smtp.Conn
	authed bool
	from   string
	to     []string
}

func (s *smtpTestSession) AuthMechanisms() []string {
	if s.srv.user == "" {
		return nil
	}
	return []string{sasl.Plain}
}

func (s *smtpTestSession) Auth(mech string) (sasl.Server, error) {
	if s.srv.user == "" || mech != sasl.Plain {
		return nil, smtp.ErrAuthUnknownMechanism
	}
	return sasl.NewPlainServer(func(identity, username, password string) error {
		s.srv.mu.Lock()
		s.srv.auths = append(s.srv.auths, username+":"+password)
		s.srv.mu.Unlock()
		if username != s.srv.user || password != s.srv.pass {
			return errors.New("invalid credentials")
		}
		s.authed = true
		return nil
	}), nil
}

func (s *smtpTestSession) Mail(from string, _ *smtp.MailOptions) error {
	if s.srv.user != "" && !s.authed {
		return smtp.ErrAuthRequired
	}
	s.from = from
	return nil
}

func (s *smtpTestSession) Rcpt(to string, _ *smtp.RcptOptions) error {
	s.to = append(s.to, to)
	return nil
}

func (s *smtpTestSession) Data(r io.Reader) error {
	b, err := io.ReadAll(r)
	if err != nil {
		return err
	}
	_, isTLS := s.conn.TLSConnectionState()
	s.srv.mu.Lock()
	s.srv.mails = append(s.srv.mails, smtpTestMail{from: s.from, to: s.to, data: string(b), tls: isTLS})
	s.srv.mu.Unlock()
	return nil
}

func (s *smtpTestSession) Reset()        { s.from, s.to = "", nil }
func (s *smtpTestSession) Logout() error { return nil }

// selfSignedCert makes a certificate for 127.0.0.1 and localhost and a pool
// that trusts it.
func selfSignedCert(t *testing.T) (tls.Certificate, *x509.CertPool) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "vigil test smtp"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		DNSNames:              []string{"localhost"},
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	pool := x509.NewCertPool()
	pool.AddCert(leaf)
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}, pool
}

// startSMTP runs a go-smtp server on 127.0.0.1. With cert set it offers
// STARTTLS; with user set it offers AUTH PLAIN (also in clear, so that a
// client that ignores smtp_encrypt would be caught sending credentials).
func startSMTP(t *testing.T, cert *tls.Certificate, user, pass string) *smtpTestServer {
	t.Helper()
	ts := &smtpTestServer{user: user, pass: pass}
	s := smtp.NewServer(smtp.BackendFunc(func(c *smtp.Conn) (smtp.Session, error) {
		return &smtpTestSession{srv: ts, conn: c}, nil
	}))
	s.Domain = "localhost"
	s.AllowInsecureAuth = true
	s.ReadTimeout, s.WriteTimeout = 5*time.Second, 5*time.Second
	s.MaxMessageBytes = 1 << 20
	if cert != nil {
		s.TLSConfig = &tls.Config{Certificates: []tls.Certificate{*cert}, MinVersion: tls.VersionTLS12}
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ts.addr = l.Addr().(*net.TCPAddr)
	done := make(chan struct{})
	go func() { defer close(done); _ = s.Serve(l) }()
	t.Cleanup(func() { _ = s.Close(); <-done })
	return ts
}

// ---- helpers ----

const emailTestTitle = `Acmé "Status"`

func emailFor(t *testing.T, c Email, pool *x509.CertPool) *email {
	t.Helper()
	p, errs := c.Build(Deps{HTTPClient: http.DefaultClient, PageTitle: emailTestTitle,
		PageURL: "https://status.acme.test/", Logger: slog.New(slog.DiscardHandler)})
	if errs != nil {
		t.Fatal(errs)
	}
	e := p.(*email)
	if pool != nil {
		e.tlsConfig = &tls.Config{RootCAs: pool}
	}
	return e
}

func emailConfig(srv *smtpTestServer, user, pass string, encrypt bool) Email {
	return Email{To: "ops@example.test", From: "vigil@example.test", SMTPHost: "127.0.0.1", SMTPPort: srv.addr.Port,
		SMTPUsername: user, SMTPPassword: pass, SMTPEncrypt: encrypt}
}

type parsedMail struct {
	header  mail.Header
	subject string
	body    string
}

func parseMail(t *testing.T, raw string) parsedMail {
	t.Helper()
	m, err := mail.ReadMessage(strings.NewReader(raw))
	if err != nil {
		t.Fatalf("unreadable message: %v\n%s", err, raw)
	}
	subject, err := new(mime.WordDecoder).DecodeHeader(m.Header.Get("Subject"))
	if err != nil {
		t.Fatal(err)
	}
	if cte := m.Header.Get("Content-Transfer-Encoding"); cte != "quoted-printable" {
		t.Fatalf("Content-Transfer-Encoding %q", cte)
	}
	b, err := io.ReadAll(quotedprintable.NewReader(m.Body))
	if err != nil {
		t.Fatal(err)
	}
	// DATA framing always ends the message with a line break (the message
	// itself has none, see TestEmailMessageHasNoTrailingNewline); SMTP lines
	// end in CRLF, the text itself uses \n.
	body, ok := strings.CutSuffix(string(b), "\r\n")
	if !ok {
		t.Fatalf("DATA did not end with CRLF: %q", b)
	}
	return parsedMail{header: m.Header, subject: subject, body: strings.ReplaceAll(body, "\r\n", "\n")}
}

var emailTestAt = time.Date(2026, 7, 4, 8, 58, 28, 0, time.FixedZone("CEST", 2*3600))

func emailBody(first, status, nodes string) string {
	return first + "\n\n--\nStatus: " + status + "\nNodes: " + nodes + "\nTime: 06:58:28 UTC+00:00\nURL: https://status.acme.test/\n--\n\n" +
		"To unsubscribe, please edit your status page configuration."
}

// ---- tests ----

func TestEmailSTARTTLSAndAuthAllKinds(t *testing.T) {
	cert, pool := selfSignedCert(t)
	srv := startSMTP(t, &cert, "vigil", "s3cret")
	e := emailFor(t, emailConfig(srv, "vigil", "s3cret", true), pool)

	cases := []struct {
		name, subject, body string
		n                   messages.Notification
	}{
		{"startup", "HEALTHY", emailBody("Status startup alert from: "+emailTestTitle, "Healthy", ""),
			messages.Notification{Kind: messages.Startup, Status: messages.Healthy, Replicas: []string{}, Time: emailTestAt}},
		{"changed dead", "DEAD | web:api:http://a/, relay:socket:10.0.0.1",
			emailBody("Status change report from: "+emailTestTitle, "Dead", "web:api:http://a/, relay:socket:10.0.0.1"),
			messages.Notification{Kind: messages.Changed, Status: messages.Dead, Replicas: []string{"web:api:http://a/", "relay:socket:10.0.0.1"}, Time: emailTestAt}},
		{"recovery", "HEALTHY", emailBody("Status change report from: "+emailTestTitle, "Healthy", ""),
			messages.Notification{Kind: messages.Changed, Status: messages.Healthy, Time: emailTestAt}},
		{"reminder", "DEAD | réplica:ü:❌", emailBody("Status unchanged reminder from: "+emailTestTitle, "Dead", "réplica:ü:❌"),
			messages.Notification{Kind: messages.Reminder, Status: messages.Dead, Replicas: []string{"réplica:ü:❌"}, Escalated: 1, Time: emailTestAt}},
	}
	for i, tc := range cases {
		if err := e.Send(context.Background(), tc.n, nil); err != nil {
			t.Fatalf("%s: %v", tc.name, err)
		}
		got := srv.received()
		if len(got) != i+1 {
			t.Fatalf("%s: server has %d messages, want %d", tc.name, len(got), i+1)
		}
		m := got[i]
		if !m.tls {
			t.Fatalf("%s: message was not sent over TLS", tc.name)
		}
		if m.from != "vigil@example.test" || len(m.to) != 1 || m.to[0] != "ops@example.test" {
			t.Fatalf("%s: envelope from %q to %q", tc.name, m.from, m.to)
		}
		p := parseMail(t, m.data)
		from, err := mail.ParseAddress(p.header.Get("From"))
		if err != nil || from.Name != emailTestTitle || from.Address != "vigil@example.test" {
			t.Fatalf("%s: From %q parsed as %+v (%v)", tc.name, p.header.Get("From"), from, err)
		}
		to, err := mail.ParseAddress(p.header.Get("To"))
		if err != nil || to.Name != "" || to.Address != "ops@example.test" {
			t.Fatalf("%s: To %q", tc.name, p.header.Get("To"))
		}
		if p.subject != tc.subject {
			t.Fatalf("%s: Subject %q, want %q", tc.name, p.subject, tc.subject)
		}
		if ct := p.header.Get("Content-Type"); !strings.EqualFold(ct, "text/plain; charset=UTF-8") {
			t.Fatalf("%s: Content-Type %q", tc.name, ct)
		}
		if p.body != tc.body {
			t.Fatalf("%s: body\n%q\nwant\n%q", tc.name, p.body, tc.body)
		}
	}
	if a := srv.authAttempts(); len(a) != len(cases) || a[0] != "vigil:s3cret" {
		t.Fatalf("AUTH attempts %q", a)
	}
}

func TestEmailRequiredSTARTTLSNotOffered(t *testing.T) {
	srv := startSMTP(t, nil, "vigil", "s3cret") // AUTH offered in clear, no STARTTLS
	e := emailFor(t, emailConfig(srv, "vigil", "s3cret", true), nil)
	err := e.Send(context.Background(), messages.Notification{Kind: messages.Changed, Status: messages.Dead, Replicas: []string{"a:b:c"}, Time: emailTestAt}, nil)
	if !errors.Is(err, errSTARTTLSRequired) {
		t.Fatalf("want errSTARTTLSRequired, got %v", err)
	}
	if a := srv.authAttempts(); len(a) != 0 {
		t.Fatalf("credentials were sent in clear: %q", a)
	}
	if m := srv.received(); len(m) != 0 {
		t.Fatalf("a message was delivered without TLS")
	}

	// Without credentials too: no MAIL FROM in clear.
	e = emailFor(t, emailConfig(startSMTP(t, nil, "", ""), "", "", true), nil)
	if err := e.Send(context.Background(), messages.Notification{Kind: messages.Startup, Time: emailTestAt}, nil); !errors.Is(err, errSTARTTLSRequired) {
		t.Fatalf("want errSTARTTLSRequired, got %v", err)
	}
}

func TestEmailOpportunisticTLS(t *testing.T) {
	// smtp_encrypt = false and no STARTTLS: delivered in clear.
	srv := startSMTP(t, nil, "", "")
	e := emailFor(t, emailConfig(srv, "", "", false), nil)
	if err := e.Send(context.Background(), messages.Notification{Kind: messages.Changed, Status: messages.Healthy, Time: emailTestAt}, nil); err != nil {
		t.Fatal(err)
	}
	got := srv.received()
	if len(got) != 1 || got[0].tls {
		t.Fatalf("messages %d (tls %v)", len(got), len(got) == 1 && got[0].tls)
	}
	if p := parseMail(t, got[0].data); p.subject != "HEALTHY" || p.body != emailBody("Status change report from: "+emailTestTitle, "Healthy", "") {
		t.Fatalf("subject %q body %q", p.subject, p.body)
	}

	// smtp_encrypt = false but STARTTLS offered: it is used.
	cert, pool := selfSignedCert(t)
	srv = startSMTP(t, &cert, "", "")
	e = emailFor(t, emailConfig(srv, "", "", false), pool)
	if err := e.Send(context.Background(), messages.Notification{Kind: messages.Changed, Status: messages.Healthy, Time: emailTestAt}, nil); err != nil {
		t.Fatal(err)
	}
	if got := srv.received(); len(got) != 1 || !got[0].tls {
		t.Fatalf("opportunistic STARTTLS not used")
	}
}

func TestEmailUntrustedCertificateFails(t *testing.T) {
	cert, _ := selfSignedCert(t)
	srv := startSMTP(t, &cert, "vigil", "s3cret")
	e := emailFor(t, emailConfig(srv, "vigil", "s3cret", true), nil) // system roots only
	if err := e.Send(context.Background(), messages.Notification{Kind: messages.Startup, Time: emailTestAt}, nil); err == nil {
		t.Fatal("an untrusted certificate must fail the delivery")
	}
	if a := srv.authAttempts(); len(a) != 0 {
		t.Fatalf("credentials sent after a failed handshake: %q", a)
	}
}

func TestEmailWrongPassword(t *testing.T) {
	cert, pool := selfSignedCert(t)
	srv := startSMTP(t, &cert, "vigil", "s3cret")
	e := emailFor(t, emailConfig(srv, "vigil", "wrong", true), pool)
	if err := e.Send(context.Background(), messages.Notification{Kind: messages.Startup, Time: emailTestAt}, nil); err == nil {
		t.Fatal("a wrong password must fail the delivery")
	}
	if a := srv.authAttempts(); len(a) != 1 || a[0] != "vigil:wrong" {
		t.Fatalf("AUTH attempts %q", a)
	}
	if len(srv.received()) != 0 {
		t.Fatal("message delivered without authentication")
	}
}

func TestEmailNoAuthWithoutPassword(t *testing.T) {
	cert, pool := selfSignedCert(t)
	srv := startSMTP(t, &cert, "", "")
	// A username without a password: no AUTH.
	e := emailFor(t, emailConfig(srv, "vigil", "", true), pool)
	if err := e.Send(context.Background(), messages.Notification{Kind: messages.Startup, Time: emailTestAt}, nil); err != nil {
		t.Fatal(err)
	}
	if len(srv.authAttempts()) != 0 || len(srv.received()) != 1 {
		t.Fatalf("auth %q messages %d", srv.authAttempts(), len(srv.received()))
	}
}

func TestEmailBoundedByContext(t *testing.T) {
	// A peer that accepts the connection but never greets.
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	var wg sync.WaitGroup
	wg.Add(1)
	go func() {
		defer wg.Done()
		c, err := l.Accept()
		if err != nil {
			return
		}
		_, _ = io.Copy(io.Discard, c) // until the client closes
		c.Close()
	}()
	e := emailFor(t, Email{To: "ops@example.test", From: "vigil@example.test", SMTPHost: "127.0.0.1",
		SMTPPort: l.Addr().(*net.TCPAddr).Port, SMTPEncrypt: true}, nil)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	err = e.Send(ctx, messages.Notification{Kind: messages.Startup, Time: emailTestAt}, nil)
	if err == nil || time.Since(start) > 3*time.Second {
		t.Fatalf("err %v after %v", err, time.Since(start))
	}
	if !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("want a deadline error, got %v", err)
	}
	wg.Wait()
}

func TestEmailMessageHasNoTrailingNewline(t *testing.T) {
	e := &email{title: "T", pageURL: "https://s/", from: "v@example.test", to: "o@example.test"}
	msg, err := e.message(messages.Notification{Kind: messages.Startup, Time: emailTestAt})
	if err != nil {
		t.Fatal(err)
	}
	if raw := msg.GetMessage(); !strings.HasSuffix(raw, "configuration.") {
		t.Fatalf("message ends with %q", raw[len(raw)-20:])
	}
}

func TestEmailSizeBounds(t *testing.T) {
	e := &email{title: "T", pageURL: "https://s/"}
	reps := make([]string, 5000)
	for i := range reps {
		reps[i] = "probe:node:" + strings.Repeat("é", 40) // 91 bytes
	}
	n := messages.Notification{Kind: messages.Reminder, Status: messages.Dead, Replicas: reps, Time: emailTestAt}
	body := e.body(n)
	if len(body) > emailBodyNodesMax+1024 || !utf8.ValidString(body) {
		t.Fatalf("body %d bytes, valid %v", len(body), utf8.ValidString(body))
	}
	if !strings.Contains(body, " more)\nTime: ") || !strings.HasSuffix(body, "configuration.") {
		t.Fatalf("no (N more) note: %q", body[len(body)-200:])
	}
	subj := e.subject(n)
	if len(subj) > emailSubjectNodesMax+64 || !utf8.ValidString(subj) || !strings.HasSuffix(subj, " more)") {
		t.Fatalf("subject %d bytes: %q", len(subj), subj)
	}
	// One huge replica is cut on a rune boundary.
	one := nodesTextCapped([]string{strings.Repeat("❌", 1000), "x"}, 100)
	if !utf8.ValidString(one) || !strings.HasSuffix(one, "… (1 more)") || len(one) > 120 {
		t.Fatalf("%q", one)
	}
	if got := nodesTextCapped([]string{"a", "b"}, 100); got != "a, b" {
		t.Fatalf("%q", got)
	}
}

// The five kinds are wired in the registry, in dispatch order.
func TestBuildEmailTwilioSlackZulipTelegram(t *testing.T) {
	d := Deps{HTTPClient: http.DefaultClient, Logger: slog.New(slog.DiscardHandler)}
	good := &config.Config{Notify: &config.Notify{Notifiers: map[string]any{
		"email":    &Email{To: "ops@example.test", From: "vigil@example.test", SMTPHost: "localhost", SMTPPort: 587, SMTPEncrypt: true},
		"twilio":   &Twilio{To: []string{"+1555"}, ServiceSID: "MG1", AccountSID: "AC1", AuthToken: "t0k"},
		"slack":    &Slack{HookURL: "https://hooks.slack.com/services/x"},
		"zulip":    &Zulip{BotEmail: "b@z.test", BotAPIKey: "k", Channel: "c", APIURL: "https://z.test/api/v1/"},
		"telegram": &Telegram{BotToken: "1:a", ChatID: "1", Options: Options{RemindersOnly: true}},
	}}}
	built, problems := Kinds().Build(good, d)
	if len(problems) != 0 || len(built) != 5 {
		t.Fatalf("built %d problems %v", len(built), problems)
	}
	for i, k := range []string{"email", "twilio", "slack", "zulip", "telegram"} {
		if built[i].Provider.Kind() != k || built[i].RemindersOnly != (k == "telegram") {
			t.Fatalf("built[%d] = %s (reminders only %v)", i, built[i].Provider.Kind(), built[i].RemindersOnly)
		}
	}
	// Values the original accepts build too (the loader warns about them).
	odd := &config.Config{Notify: &config.Notify{Notifiers: map[string]any{
		"email":    &Email{To: "a@b", From: "nope", SMTPHost: "localhost", SMTPPort: 587},
		"twilio":   &Twilio{ServiceSID: "MG1", AccountSID: "AC1", AuthToken: "t0k"},
		"slack":    &Slack{HookURL: "ftp://x"},
		"zulip":    &Zulip{BotEmail: "b@z.test", BotAPIKey: "k", Channel: "c", APIURL: "mailto:x"},
		"telegram": &Telegram{BotToken: "1:a"},
	}}}
	built, problems = Kinds().Build(odd, d)
	if len(built) != 5 || len(problems) != 0 {
		t.Fatalf("built %d problems %v", len(built), problems)
	}
}

// TestEmailRecipientForms backs the loader's checks: a recipient with a
// display name is delivered (no warning for it), an unusable address fails
// the attempt without sending anything.
func TestEmailRecipientForms(t *testing.T) {
	srv := startSMTP(t, nil, "", "")
	c := emailConfig(srv, "", "", false)
	c.To = "Ops Team <ops@example.test>"
	n := provCases()[1].n
	if err := emailFor(t, c, nil).Send(context.Background(), n, nil); err != nil {
		t.Fatal(err)
	}
	got := srv.received()
	if len(got) != 1 || len(got[0].to) != 1 || got[0].to[0] != "ops@example.test" {
		t.Fatalf("received %+v", got)
	}
	if to := parseMail(t, got[0].data).header.Get("To"); !strings.Contains(to, "ops@example.test") {
		t.Fatalf("To: %q", to)
	}

	c.To = "not an address"
	if err := emailFor(t, c, nil).Send(context.Background(), n, nil); err == nil {
		t.Fatal("an unusable recipient was accepted")
	}
	if len(srv.received()) != 1 {
		t.Fatalf("a message went out for an unusable recipient")
	}
}
