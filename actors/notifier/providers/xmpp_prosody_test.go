package providers

// A real Prosody (Debian package "prosody") as the XMPP peer of the xmpp
// notifier tests. Prosody refuses to run as root, so its files belong to the
// "prosody" user and it is started through setpriv (util-linux).

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/xmppo/go-xmpp"
)

// prosodyServer is a running Prosody serving the virtual host "localhost".
type prosodyServer struct {
	addr      string      // 127.0.0.1:<port> of the c2s listener
	tlsConfig *tls.Config // trusts the server's self-signed certificate
	dir       string
	logFile   string
}

// prosodyTools returns the paths of prosody, prosodyctl and setpriv, or
// skips the test when they are missing (fails instead when CI=true).
func prosodyTools(t *testing.T) (prosody, prosodyctl, setpriv string) {
	t.Helper()
	need := func(name string) string {
		p, err := exec.LookPath(name)
		if err != nil {
			for _, dir := range []string{"/usr/bin", "/usr/sbin", "/bin", "/sbin"} {
				if _, serr := os.Stat(filepath.Join(dir, name)); serr == nil {
					return filepath.Join(dir, name)
				}
			}
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s is required in CI (apt-get install -y prosody): %v", name, err)
			}
			t.Skipf("%s not installed (apt-get install -y prosody); skipping the real-XMPP test", name)
		}
		return p
	}
	prosody, prosodyctl, setpriv = need("prosody"), need("prosodyctl"), need("setpriv")
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("the Prosody test must run as root (it starts prosody as the prosody user with setpriv)")
		}
		t.Skip("not root: cannot start prosody as the prosody user")
	}
	return prosody, prosodyctl, setpriv
}

// startProsody starts a private Prosody with the given accounts
// (user → password) and stops it when the test ends.
func startProsody(t *testing.T, accounts map[string]string) *prosodyServer {
	t.Helper()
	prosodyBin, prosodyctl, setpriv := prosodyTools(t)
	u, err := user.Lookup("prosody")
	if err != nil {
		t.Fatalf("the prosody package should have created the prosody user: %v", err)
	}
	uid, _ := strconv.Atoi(u.Uid)
	gid, _ := strconv.Atoi(u.Gid)

	dir, err := os.MkdirTemp("", "vigil-prosody-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	s := &prosodyServer{dir: dir, logFile: filepath.Join(dir, "prosody.log")}

	certPEM, keyPEM := selfSignedLocalhost(t)
	pool := x509.NewCertPool()
	pool.AppendCertsFromPEM(certPEM)
	s.tlsConfig = &tls.Config{RootCAs: pool, ServerName: "localhost", MinVersion: tls.VersionTLS12}

	port := freeTCPPort(t)
	s.addr = net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	certDir := filepath.Join(dir, "certs")
	cfgPath := filepath.Join(dir, "prosody.cfg.lua")
	cfg := fmt.Sprintf(`-- Vigil test server
pidfile = %[1]q
data_path = %[2]q
certificates = %[3]q
plugin_paths = { }
modules_enabled = { "roster"; "saslauth"; "tls"; "disco"; "ping"; "offline" }
modules_disabled = { "s2s" }
c2s_ports = { %[4]d }
c2s_interfaces = { "127.0.0.1" }
c2s_direct_tls_ports = { }
legacy_ssl_ports = { }
s2s_ports = { }
c2s_require_encryption = true
authentication = "internal_hashed"
storage = "internal"
log = { debug = %[5]q }

VirtualHost "localhost"
  ssl = { certificate = %[6]q; key = %[7]q }
`, filepath.Join(dir, "prosody.pid"), filepath.Join(dir, "data"), certDir, port, s.logFile,
		filepath.Join(certDir, "localhost.crt"), filepath.Join(certDir, "localhost.key"))

	for _, d := range []string{dir, filepath.Join(dir, "data"), certDir} {
		if err := os.MkdirAll(d, 0o750); err != nil {
			t.Fatal(err)
		}
	}
	for name, data := range map[string][]byte{
		cfgPath: []byte(cfg), filepath.Join(certDir, "localhost.crt"): certPEM, filepath.Join(certDir, "localhost.key"): keyPEM,
	} {
		if err := os.WriteFile(name, data, 0o640); err != nil {
			t.Fatal(err)
		}
	}
	// Everything belongs to prosody (it refuses to run as root).
	if err := filepath.Walk(dir, func(p string, _ os.FileInfo, err error) error {
		if err != nil {
			return err
		}
		return os.Chown(p, uid, gid)
	}); err != nil {
		t.Fatal(err)
	}

	for name, pw := range accounts {
		ctx, cancel := context.WithTimeout(context.Background(), 60*time.Second)
		out, err := exec.CommandContext(ctx, prosodyctl, "--config", cfgPath, "register", name, "localhost", pw).CombinedOutput()
		cancel()
		if err != nil {
			t.Fatalf("prosodyctl register %s: %v\n%s", name, err, out)
		}
	}

	var out bytes.Buffer
	cmd := exec.Command(setpriv, "--reuid=prosody", "--regid=prosody", "--init-groups",
		prosodyBin, "--config", cfgPath, "-F")
	cmd.Stdout, cmd.Stderr = &out, &out
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting prosody: %v", err)
	}
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(exited) }()
	var stopOnce sync.Once
	stop := func() {
		stopOnce.Do(func() {
			_ = cmd.Process.Signal(syscall.SIGTERM)
			select {
			case <-exited:
			case <-time.After(5 * time.Second):
				_ = cmd.Process.Kill()
				<-exited
			}
		})
	}
	t.Cleanup(func() {
		stop()
		if t.Failed() || os.Getenv("VIGIL_TEST_PROSODY_LOG") != "" {
			t.Logf("prosody output:\n%s", out.String())
			if b, err := os.ReadFile(s.logFile); err == nil {
				t.Logf("prosody log (tail):\n%s", tail(string(b), 6000))
			}
		}
	})

	// Wait (bounded) for the c2s port.
	deadline := time.Now().Add(30 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", s.addr, 500*time.Millisecond)
		if err == nil {
			c.Close()
			break
		}
		select {
		case <-exited:
			t.Fatalf("prosody exited before listening: %v\n%s", waitErr, out.String())
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("prosody did not listen on %s within 30 s: %v", s.addr, err)
		}
		time.Sleep(100 * time.Millisecond)
	}
	return s
}

func tail(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[len(s)-n:]
}

func freeTCPPort(t *testing.T) int {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port
}

// selfSignedLocalhost makes a one-day certificate for "localhost".
func selfSignedLocalhost(t *testing.T) (certPEM, keyPEM []byte) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	serial, _ := rand.Int(rand.Reader, big.NewInt(1<<62))
	tmpl := &x509.Certificate{
		SerialNumber:          serial,
		Subject:               pkix.Name{CommonName: "localhost"},
		DNSNames:              []string{"localhost"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	pk, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	return pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}),
		pem.EncodeToMemory(&pem.Block{Type: "PRIVATE KEY", Bytes: pk})
}

// xmppReceiver is an online go-xmpp client collecting chat messages.
type xmppReceiver struct {
	c     *xmpp.Client
	chats chan xmpp.Chat
	iqs   chan xmpp.IQ
}

// connectReceiver logs jid in (STARTTLS, SASL) and makes sure the server has
// processed its initial presence, so that messages are delivered live. The
// connection ends when the server is stopped.
func connectReceiver(t *testing.T, s *prosodyServer, jid, password string) *xmppReceiver {
	t.Helper()
	type result struct {
		c   *xmpp.Client
		err error
	}
	ch := make(chan result, 1)
	go func() {
		c, err := xmpp.Options{Host: s.addr, User: jid, Password: password, Resource: "test",
			NoTLS: true, StartTLS: true, TLSConfig: s.tlsConfig.Clone(), DialTimeout: 5 * time.Second}.NewClient()
		ch <- result{c, err}
	}()
	var r result
	select {
	case r = <-ch:
	case <-time.After(20 * time.Second):
		t.Fatalf("receiver %s: login timed out", jid)
	}
	if r.err != nil {
		t.Fatalf("receiver %s: %v", jid, r.err)
	}
	rc := &xmppReceiver{c: r.c, chats: make(chan xmpp.Chat, 16), iqs: make(chan xmpp.IQ, 16)}
	go func() {
		for {
			st, err := r.c.Recv()
			if err != nil {
				close(rc.chats)
				return
			}
			switch v := st.(type) {
			case xmpp.Chat:
				if v.Type == "chat" || v.Type == "error" {
					rc.chats <- v
				}
			case xmpp.IQ:
				rc.iqs <- v
			}
		}
	}()
	// A ping round trip: once answered, the initial presence sent before it
	// has been processed.
	if _, err := r.c.SendOrg(`<iq type="get" id="sync-1" to="localhost"><ping xmlns="urn:xmpp:ping"/></iq>`); err != nil {
		t.Fatal(err)
	}
	timeout := time.After(10 * time.Second)
	for {
		select {
		case iq := <-rc.iqs:
			if iq.ID == "sync-1" {
				return rc
			}
		case <-timeout:
			t.Fatal("receiver: no answer to the sync ping")
		}
	}
}

// next waits (bounded) for the next chat message.
func (rc *xmppReceiver) next(t *testing.T, within time.Duration) (xmpp.Chat, error) {
	t.Helper()
	select {
	case c, ok := <-rc.chats:
		if !ok {
			return xmpp.Chat{}, errors.New("receiver connection closed")
		}
		return c, nil
	case <-time.After(within):
		return xmpp.Chat{}, fmt.Errorf("no message within %v", within)
	}
}
