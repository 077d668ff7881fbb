package probe

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-go/vigil/config"
	"github.com/vigil-go/vigil/messages"
)

// MaxHTTPBody caps how much of a response body an HTTP probe reads. The body
// regex is matched against at most this many leading bytes.
const MaxHTTPBody = 1 << 20

// NewHTTPClient returns the client to share between all HTTP probes: no
// response compression (no "Accept-Encoding: gzip" is sent), redirects not
// followed (a 3xx is judged by its own status), proxies from the environment,
// the system trust store, and up to 64 idle connections per host. timeout,
// when positive, is a backstop on each whole exchange; every probe also bounds
// its attempt by poll_delay_dead through its context.
func NewHTTPClient(timeout time.Duration) *http.Client {
	var t *http.Transport
	if dt, ok := http.DefaultTransport.(*http.Transport); ok {
		t = dt.Clone()
	} else {
		t = &http.Transport{Proxy: http.ProxyFromEnvironment, ForceAttemptHTTP2: true}
	}
	t.DisableCompression = true
	t.MaxIdleConns = 256
	t.MaxIdleConnsPerHost = 64
	t.IdleConnTimeout = 90 * time.Second
	c := &http.Client{
		Transport:     t,
		CheckRedirect: noRedirect,
	}
	if timeout > 0 {
		c.Timeout = timeout
	}
	return c
}

func noRedirect(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }

type httpProber struct {
	rawURL  string
	urlErr  error // set when rawURL does not parse; every probe is then Dead
	method  string
	body    *string
	headers []config.Header
	match   *regexp.Regexp
	above   int
	below   int
	timeout time.Duration
	sickAt  time.Duration
	client  *http.Client
	ua      string
}

// NewHTTP returns the HTTP(S) prober for replica r of node n (spec §4.3).
//
// client must not follow redirects (CheckRedirect returning
// http.ErrUseLastResponse) and should not request compression; use
// NewHTTPClient, shared by all HTTP replicas. A nil client gets a private one
// from NewHTTPClient. userAgent is the User-Agent header,
// "vigil (+<page_url>)"; the node's http_headers are applied after it and may
// override it.
//
// Method: n.HTTPMethod if set, else GET when a body regex is set, else HEAD.
// POST, PUT and PATCH send n.HTTPBody (empty when nil); other methods send no
// body. The current Unix time in seconds is added to the query component as a
// cache-buster ("?<secs>" or "&<secs>"); the fragment is never sent. The whole
// exchange, body included, is bounded by poll_delay_dead. Up iff
// healthy_above <= status < healthy_below and, with a regex, the first
// MaxHTTPBody bytes of the body match it (unanchored; a HEAD body is empty).
func NewHTTP(r config.Replica, n config.Node, m config.Metrics, client *http.Client, userAgent string) Prober {
	p := &httpProber{
		rawURL:  r.URL,
		method:  n.HTTPMethod,
		headers: append([]config.Header(nil), n.HTTPHeaders...),
		match:   n.HTTPBodyHealthyMatch,
		above:   m.PollHTTPStatusHealthyAbove,
		below:   m.PollHTTPStatusHealthyBelow,
		timeout: deadAfter(m),
		sickAt:  m.PollDelaySick,
		client:  client,
		ua:      userAgent,
	}
	if p.rawURL == "" {
		p.rawURL = r.ID
	}
	if _, err := url.Parse(p.rawURL); err != nil {
		p.urlErr = err
	}
	if p.method == "" {
		if p.match != nil {
			p.method = http.MethodGet
		} else {
			p.method = http.MethodHead
		}
	}
	switch p.method {
	case http.MethodPost, http.MethodPut, http.MethodPatch:
		b := ""
		if n.HTTPBody != nil {
			b = *n.HTTPBody
		}
		p.body = &b
	}
	if p.client == nil {
		p.client = NewHTTPClient(0)
	}
	return p
}

// Probe runs one HTTP attempt and classifies it.
func (p *httpProber) Probe(ctx context.Context) messages.ProbeResult {
	return Classify(p.attempt(ctx), p.sickAt)
}

func (p *httpProber) attempt(parent context.Context) Outcome {
	start := time.Now()
	if p.urlErr != nil {
		return Outcome{Err: fmt.Errorf("invalid URL: %w", p.urlErr)}
	}
	ctx, cancel := context.WithTimeout(parent, p.timeout)
	defer cancel()

	req, err := p.newRequest(ctx, start)
	if err != nil {
		return Outcome{Latency: time.Since(start), Err: err}
	}
	resp, err := p.client.Do(req)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err // drop "Head \"<url>\": ", the URL changes every second
		}
		return Outcome{Latency: time.Since(start), Err: attemptErr(parent, ctx, p.timeout, err)}
	}
	var buf bytes.Buffer
	var sink io.Writer = io.Discard
	if p.match != nil {
		sink = &buf
	}
	_, rerr := io.Copy(sink, io.LimitReader(resp.Body, MaxHTTPBody))
	_ = resp.Body.Close()
	latency := time.Since(start)
	if resp.StatusCode < p.above || resp.StatusCode >= p.below {
		return Outcome{Latency: latency, Err: fmt.Errorf("HTTP %d", resp.StatusCode)}
	}
	if rerr != nil {
		return Outcome{Latency: latency, Err: fmt.Errorf("reading body: %w", attemptErr(parent, ctx, p.timeout, rerr))}
	}
	if p.match != nil && !p.match.Match(buf.Bytes()) {
		return Outcome{Latency: latency, Err: errors.New("body does not match regex")}
	}
	return Outcome{Up: true, Latency: latency}
}

func (p *httpProber) newRequest(ctx context.Context, now time.Time) (*http.Request, error) {
	var body io.Reader
	if p.body != nil {
		body = strings.NewReader(*p.body)
	}
	req, err := http.NewRequestWithContext(ctx, p.method, p.rawURL, body)
	if err != nil {
		return nil, err
	}
	// Cache-buster in the query component (fixes spec §11 item 11).
	secs := strconv.FormatInt(now.Unix(), 10)
	if req.URL.RawQuery == "" {
		req.URL.RawQuery = secs
	} else {
		req.URL.RawQuery += "&" + secs
	}
	req.URL.ForceQuery = false
	req.URL.Fragment, req.URL.RawFragment = "", ""

	req.Header.Set("User-Agent", p.ua)
	seen := make(map[string]bool, len(p.headers))
	for _, h := range p.headers {
		name := http.CanonicalHeaderKey(h.Name)
		if name == "Host" {
			req.Host = h.Value // net/http ignores a "Host" entry in Header
			continue
		}
		if !seen[name] {
			seen[name] = true
			req.Header.Del(name) // the first value replaces a default (User-Agent)
		}
		req.Header.Add(name, h.Value)
	}
	return req, nil
}
