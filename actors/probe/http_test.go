package probe

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vigil-go/vigil/config"
	"github.com/vigil-go/vigil/messages"
)

const testUA = "vigil (+https://status.example.com/)"

// captured is what a test server saw of one request.
type captured struct {
	Method     string
	RequestURI string
	RawQuery   string
	Host       string
	Header     http.Header
	Body       string
	BodyLen    int64
}

// recorder starts an HTTP server that records each request before passing it
// to h.
func recorder(t *testing.T, h http.HandlerFunc) (*httptest.Server, <-chan captured) {
	t.Helper()
	ch := make(chan captured, 64)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		c := captured{
			Method: r.Method, RequestURI: r.RequestURI, RawQuery: r.URL.RawQuery, Host: r.Host,
			Header: r.Header.Clone(), Body: string(b), BodyLen: r.ContentLength,
		}
		select {
		case ch <- c:
		default:
		}
		h(w, r)
	}))
	t.Cleanup(srv.Close)
	return srv, ch
}

func okHandler(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") }

func one(t *testing.T, ch <-chan captured) captured {
	t.Helper()
	select {
	case c := <-ch:
		return c
	default:
		t.Fatal("the server saw no request")
	}
	return captured{}
}

func httpReplica(u string) config.Replica {
	return config.Replica{ID: u, Kind: config.KindHTTP, URL: u}
}

func newHTTP(t *testing.T, u string, n config.Node, m config.Metrics) Prober {
	t.Helper()
	c := NewHTTPClient(0)
	t.Cleanup(c.CloseIdleConnections)
	return NewHTTP(httpReplica(u), n, m, c, testUA)
}

func TestHTTPHeadByDefault(t *testing.T) {
	t.Parallel()
	srv, ch := recorder(t, okHandler)
	res := newHTTP(t, srv.URL+"/health", config.Node{}, metrics(2*time.Second, time.Second)).Probe(context.Background())
	expect(t, res, messages.Healthy, "")
	if res.Latency <= 0 || res.Latency > time.Second {
		t.Errorf("latency = %s", res.Latency)
	}
	c := one(t, ch)
	if c.Method != http.MethodHead {
		t.Errorf("method = %s, want HEAD", c.Method)
	}
	if c.Body != "" {
		t.Errorf("body = %q, want none", c.Body)
	}
}

func TestHTTPGetWithRegex(t *testing.T) {
	t.Parallel()
	srv, ch := recorder(t, func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, `{"status": "ok", "db": "up"}`)
	})
	m := metrics(2*time.Second, time.Second)

	n := config.Node{HTTPBodyHealthyMatch: regexp.MustCompile(`"db":\s*"up"`)}
	expect(t, newHTTP(t, srv.URL+"/", n, m).Probe(context.Background()), messages.Healthy, "")
	if c := one(t, ch); c.Method != http.MethodGet {
		t.Errorf("method = %s, want GET", c.Method)
	}

	n = config.Node{HTTPBodyHealthyMatch: regexp.MustCompile(`"db":\s*"down"`)}
	res := newHTTP(t, srv.URL+"/", n, m).Probe(context.Background())
	expect(t, res, messages.Dead, "body does not match regex")
	if res.Err != "body does not match regex" {
		t.Errorf("err = %q", res.Err)
	}
}

func TestHTTPHeadWithRegexTestsEmptyBody(t *testing.T) {
	t.Parallel()
	srv, ch := recorder(t, okHandler)
	m := metrics(2*time.Second, time.Second)

	n := config.Node{HTTPMethod: "HEAD", HTTPBodyHealthyMatch: regexp.MustCompile(`^$`)}
	expect(t, newHTTP(t, srv.URL+"/", n, m).Probe(context.Background()), messages.Healthy, "")
	if c := one(t, ch); c.Method != http.MethodHead {
		t.Errorf("method = %s, want HEAD", c.Method)
	}
	n = config.Node{HTTPMethod: "HEAD", HTTPBodyHealthyMatch: regexp.MustCompile(`ok`)}
	expect(t, newHTTP(t, srv.URL+"/", n, m).Probe(context.Background()), messages.Dead, "body does not match regex")
}

func TestHTTPPostBodyAndHeaders(t *testing.T) {
	t.Parallel()
	srv, ch := recorder(t, okHandler)
	body := `{"ping":1}`
	n := config.Node{
		HTTPMethod: "POST",
		HTTPBody:   &body,
		HTTPHeaders: []config.Header{
			{Name: "content-type", Value: "application/json"},
			{Name: "X-Multi", Value: "a"},
			{Name: "X-Multi", Value: "b"},
			{Name: "User-Agent", Value: "custom/1"},
			{Name: "Host", Value: "status.example.test"},
		},
	}
	expect(t, newHTTP(t, srv.URL+"/submit", n, metrics(2*time.Second, time.Second)).Probe(context.Background()), messages.Healthy, "")
	c := one(t, ch)
	if c.Method != http.MethodPost || c.Body != body {
		t.Errorf("got %s %q, want POST %q", c.Method, c.Body, body)
	}
	if got := c.Header.Values("Content-Type"); len(got) != 1 || got[0] != "application/json" {
		t.Errorf("Content-Type = %q", got)
	}
	if got := c.Header.Values("X-Multi"); strings.Join(got, ",") != "a,b" {
		t.Errorf("X-Multi = %q, want [a b]", got)
	}
	if got := c.Header.Values("User-Agent"); len(got) != 1 || got[0] != "custom/1" {
		t.Errorf("User-Agent = %q, want the node's override only", got)
	}
	if c.Host != "status.example.test" {
		t.Errorf("Host = %q", c.Host)
	}
}

func TestHTTPBodyOnlyForPostPutPatch(t *testing.T) {
	t.Parallel()
	srv, ch := recorder(t, okHandler)
	m := metrics(2*time.Second, time.Second)
	body := "payload"

	// PUT without http_body: empty body, Content-Length 0.
	expect(t, newHTTP(t, srv.URL+"/", config.Node{HTTPMethod: "PUT"}, m).Probe(context.Background()), messages.Healthy, "")
	if c := one(t, ch); c.Method != "PUT" || c.Body != "" || c.BodyLen != 0 {
		t.Errorf("PUT: method %s body %q length %d", c.Method, c.Body, c.BodyLen)
	}
	// PATCH with a body.
	expect(t, newHTTP(t, srv.URL+"/", config.Node{HTTPMethod: "PATCH", HTTPBody: &body}, m).Probe(context.Background()), messages.Healthy, "")
	if c := one(t, ch); c.Method != "PATCH" || c.Body != body {
		t.Errorf("PATCH: method %s body %q", c.Method, c.Body)
	}
	// GET ignores http_body.
	expect(t, newHTTP(t, srv.URL+"/", config.Node{HTTPMethod: "GET", HTTPBody: &body}, m).Probe(context.Background()), messages.Healthy, "")
	if c := one(t, ch); c.Method != "GET" || c.Body != "" || c.BodyLen != 0 {
		t.Errorf("GET: method %s body %q length %d", c.Method, c.Body, c.BodyLen)
	}
}

func TestHTTPUserAgentAndNoCompression(t *testing.T) {
	t.Parallel()
	srv, ch := recorder(t, okHandler)
	expect(t, newHTTP(t, srv.URL+"/", config.Node{}, metrics(2*time.Second, time.Second)).Probe(context.Background()), messages.Healthy, "")
	c := one(t, ch)
	if got := c.Header.Values("User-Agent"); len(got) != 1 || got[0] != testUA {
		t.Errorf("User-Agent = %q, want %q", got, testUA)
	}
	if got := c.Header.Get("Accept-Encoding"); got != "" {
		t.Errorf("Accept-Encoding = %q, want none", got)
	}
}

func TestHTTPCacheBuster(t *testing.T) {
	t.Parallel()
	srv, ch := recorder(t, okHandler)
	cases := []struct {
		suffix    string
		wantPath  string // RequestURI before the seconds
		wantQuery string // RawQuery before the seconds
	}{
		{"/p", "/p?", ""},
		{"/p?", "/p?", ""},
		{"/p?a=1", "/p?a=1&", "a=1&"},
		{"/p?a=1#frag", "/p?a=1&", "a=1&"},
		{"/p#frag?x", "/p?", ""},
		{"", "/?", ""},
	}
	for _, c := range cases {
		before := time.Now().Unix()
		expect(t, newHTTP(t, srv.URL+c.suffix, config.Node{}, metrics(2*time.Second, time.Second)).Probe(context.Background()), messages.Healthy, "")
		after := time.Now().Unix()
		got := one(t, ch)
		secs, ok := strings.CutPrefix(got.RequestURI, c.wantPath)
		if !ok {
			t.Errorf("%q: request URI %q, want prefix %q", c.suffix, got.RequestURI, c.wantPath)
			continue
		}
		n, err := strconv.ParseInt(secs, 10, 64)
		if err != nil || n < before || n > after {
			t.Errorf("%q: cache-buster %q not a Unix time in [%d, %d]", c.suffix, secs, before, after)
		}
		if got.RawQuery != c.wantQuery+secs {
			t.Errorf("%q: RawQuery = %q, want %q", c.suffix, got.RawQuery, c.wantQuery+secs)
		}
		if strings.Contains(got.RequestURI, "#") || strings.Contains(got.RequestURI, "frag") {
			t.Errorf("%q: fragment sent: %q", c.suffix, got.RequestURI)
		}
	}
}

func TestHTTPRedirectNotFollowed(t *testing.T) {
	t.Parallel()
	targetHits := make(chan struct{}, 8)
	srv, _ := recorder(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/target" {
			targetHits <- struct{}{}
			http.Error(w, "nope", http.StatusInternalServerError)
			return
		}
		http.Redirect(w, r, "/target", http.StatusFound)
	})
	res := newHTTP(t, srv.URL+"/start", config.Node{}, metrics(2*time.Second, time.Second)).Probe(context.Background())
	expect(t, res, messages.Healthy, "")
	if len(targetHits) != 0 {
		t.Fatal("the redirect was followed")
	}
}

func TestHTTPServerErrorIsDead(t *testing.T) {
	t.Parallel()
	srv, _ := recorder(t, func(w http.ResponseWriter, _ *http.Request) {
		w.WriteHeader(http.StatusInternalServerError)
	})
	res := newHTTP(t, srv.URL+"/", config.Node{}, metrics(2*time.Second, time.Second)).Probe(context.Background())
	expect(t, res, messages.Dead, "")
	if res.Err != "HTTP 500" {
		t.Fatalf("err = %q, want %q", res.Err, "HTTP 500")
	}
	if res.Latency <= 0 {
		t.Errorf("latency = %s, want it measured", res.Latency)
	}
}

func TestHTTPStatusRangeBounds(t *testing.T) {
	t.Parallel()
	srv, _ := recorder(t, func(w http.ResponseWriter, r *http.Request) {
		code, _ := strconv.Atoi(strings.TrimPrefix(r.URL.Path, "/code/"))
		w.WriteHeader(code)
	})
	m := metrics(2*time.Second, time.Second)
	m.PollHTTPStatusHealthyAbove = 201 // inclusive
	m.PollHTTPStatusHealthyBelow = 204 // exclusive
	for code, want := range map[int]messages.Status{
		200: messages.Dead, 201: messages.Healthy, 203: messages.Healthy, 204: messages.Dead, 404: messages.Dead,
	} {
		res := newHTTP(t, srv.URL+"/code/"+strconv.Itoa(code), config.Node{}, m).Probe(context.Background())
		if res.Status != want {
			t.Errorf("status %d: %v (%q), want %v", code, res.Status, res.Err, want)
		}
		if want == messages.Dead && res.Err != "HTTP "+strconv.Itoa(code) {
			t.Errorf("status %d: err %q", code, res.Err)
		}
	}
}

func TestHTTPSlowIsSick(t *testing.T) {
	t.Parallel()
	srv, _ := recorder(t, func(w http.ResponseWriter, _ *http.Request) {
		time.Sleep(80 * time.Millisecond)
	})
	res := newHTTP(t, srv.URL+"/", config.Node{}, metrics(2*time.Second, 50*time.Millisecond)).Probe(context.Background())
	expect(t, res, messages.Sick, "slow: ")
	if !strings.HasSuffix(res.Err, " >= 50ms") {
		t.Errorf("err = %q", res.Err)
	}
	if res.Latency < 80*time.Millisecond || res.Latency > time.Second {
		t.Errorf("latency = %s", res.Latency)
	}
}

func TestHTTPTimeoutIsDead(t *testing.T) {
	t.Parallel()
	srv, _ := recorder(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-time.After(3 * time.Second):
		}
	})
	res := newHTTP(t, srv.URL+"/", config.Node{}, metrics(200*time.Millisecond, 50*time.Millisecond)).Probe(context.Background())
	expect(t, res, messages.Dead, "")
	if res.Err != "timeout after 200ms" {
		t.Errorf("err = %q, want %q", res.Err, "timeout after 200ms")
	}
	if res.Latency < 200*time.Millisecond || res.Latency > 700*time.Millisecond {
		t.Errorf("latency = %s, want about 200ms", res.Latency)
	}
}

func TestHTTPTimeoutCoversBody(t *testing.T) {
	t.Parallel()
	srv, _ := recorder(t, func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "partial ")
		w.(http.Flusher).Flush()
		select {
		case <-r.Context().Done():
		case <-time.After(3 * time.Second):
		}
	})
	n := config.Node{HTTPBodyHealthyMatch: regexp.MustCompile(`partial`)}
	res := newHTTP(t, srv.URL+"/", n, metrics(200*time.Millisecond, 50*time.Millisecond)).Probe(context.Background())
	expect(t, res, messages.Dead, "")
	if res.Err != "reading body: timeout after 200ms" {
		t.Errorf("err = %q", res.Err)
	}
	if res.Latency < 200*time.Millisecond || res.Latency > 700*time.Millisecond {
		t.Errorf("latency = %s, want about 200ms", res.Latency)
	}
}

func TestHTTPBodyReadCapped(t *testing.T) {
	t.Parallel()
	srv, _ := recorder(t, func(w http.ResponseWriter, _ *http.Request) {
		_, _ = io.WriteString(w, "HEAD-MARKER")
		_, _ = w.Write(make([]byte, MaxHTTPBody))
		_, _ = io.WriteString(w, "TAIL-MARKER")
	})
	m := metrics(2*time.Second, time.Second)
	n := config.Node{HTTPBodyHealthyMatch: regexp.MustCompile(`HEAD-MARKER`)}
	expect(t, newHTTP(t, srv.URL+"/", n, m).Probe(context.Background()), messages.Healthy, "")
	n = config.Node{HTTPBodyHealthyMatch: regexp.MustCompile(`TAIL-MARKER`)}
	expect(t, newHTTP(t, srv.URL+"/", n, m).Probe(context.Background()), messages.Dead, "body does not match regex")
}

func TestHTTPConnectionRefused(t *testing.T) {
	t.Parallel()
	res := newHTTP(t, "http://"+closedPort(t)+"/", config.Node{}, metrics(time.Second, time.Second)).Probe(context.Background())
	expect(t, res, messages.Dead, "connection refused")
	if strings.Contains(res.Err, "Head \"") {
		t.Errorf("err keeps the url.Error prefix: %q", res.Err)
	}
}

func TestHTTPInvalidURL(t *testing.T) {
	t.Parallel()
	res := newHTTP(t, "http://[::1/", config.Node{}, metrics(time.Second, time.Second)).Probe(context.Background())
	expect(t, res, messages.Dead, "invalid URL")
}

func TestHTTPCancelledContext(t *testing.T) {
	t.Parallel()
	srv, _ := recorder(t, func(w http.ResponseWriter, r *http.Request) { <-r.Context().Done() })
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(50*time.Millisecond, cancel)
	start := time.Now()
	res := newHTTP(t, srv.URL+"/", config.Node{}, metrics(5*time.Second, time.Second)).Probe(ctx)
	expect(t, res, messages.Dead, "cancelled")
	if time.Since(start) > time.Second {
		t.Errorf("probe took %s after cancellation", time.Since(start))
	}
}

func TestNewHTTPClient(t *testing.T) {
	t.Parallel()
	c := NewHTTPClient(7 * time.Second)
	if c.Timeout != 7*time.Second {
		t.Errorf("Timeout = %s", c.Timeout)
	}
	if err := c.CheckRedirect(nil, nil); !errors.Is(err, http.ErrUseLastResponse) {
		t.Errorf("CheckRedirect = %v", err)
	}
	tr, ok := c.Transport.(*http.Transport)
	if !ok {
		t.Fatalf("Transport is %T", c.Transport)
	}
	if !tr.DisableCompression || tr.MaxIdleConnsPerHost != 64 {
		t.Errorf("DisableCompression %v, MaxIdleConnsPerHost %d", tr.DisableCompression, tr.MaxIdleConnsPerHost)
	}
	if NewHTTPClient(0).Timeout != 0 {
		t.Error("zero timeout should mean no client timeout")
	}
}

// closedPort returns a loopback address on which nothing listens.
func closedPort(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	_ = ln.Close()
	return addr
}
