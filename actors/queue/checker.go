package queue

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"sync/atomic"
	"time"

	"github.com/vigil-go/vigil/config"
	"github.com/vigil-go/vigil/messages"
)

// Defaults of the schedule.
const (
	DefaultRecheck = 15 * time.Second
	DefaultMinGap  = time.Second
)

// maxBody caps the management API answer read (a queue object with many
// consumers is a few kB; anything past this is a bad answer).
const maxBody = 4 << 20

// Spec describes a checker.
type Spec struct {
	Probe, Node string
	// Queue is the node's rabbitmq_queue.
	Queue string
	// Plugin is [plugins.rabbitmq].
	Plugin config.RabbitMQ
	// NackHealthyBelow and NackDeadAbove are the node's overrides of the
	// plugin's queue_nack_* values (nil: not set).
	NackHealthyBelow, NackDeadAbove *uint32
	// PageURL goes in the User-Agent.
	PageURL string
	// Timeout bounds one API call (poll_delay_dead; 0: only the client's).
	Timeout time.Duration
	// Client makes the API calls; nil means NewHTTPClient(Timeout). It
	// must not follow redirects.
	Client *http.Client
	// Recheck is the timer re-check period while the node is active
	// (0: DefaultRecheck).
	Recheck time.Duration
	// MinGap is the least time between the starts of two checks
	// (0: DefaultMinGap; negative: none).
	MinGap time.Duration
	// Limiter is shared by every checker of the tree (nil: no bound).
	Limiter *Limiter
	// Signals is the channel the node actor writes (NewSignals); nil means
	// New makes one, see Signals.
	Signals chan messages.QueueSignal
	// Out is the node actor's mailbox.
	Out chan<- messages.NodeMessage
	// Counters, shared by every checker of the tree, count the API calls,
	// the failed ones and the dropped readings for the metrics (nil: New
	// makes the checker its own).
	Counters *Counters
	Logger   *slog.Logger
}

// Counters are the queue checkers' counters. They only grow; any goroutine
// may read them while checkers add to them.
type Counters struct {
	calls, failures, dropped atomic.Uint64
}

// Calls counts the management API calls attempted.
func (c *Counters) Calls() uint64 { return c.calls.Load() }

// Failures counts the management API calls that gave no reading.
func (c *Counters) Failures() uint64 { return c.failures.Load() }

// Dropped counts the readings lost to a full node mailbox.
func (c *Counters) Dropped() uint64 { return c.dropped.Load() }

// Checker is the queue checker actor of one push node. See the package
// documentation.
type Checker struct {
	spec                            Spec
	url                             string // "" when api_url does not parse: urlErr
	urlErr                          error
	userAgent                       string
	client                          *http.Client
	logger                          *slog.Logger
	nackHealthyBelow, nackDeadAbove uint32
	counts                          *Counters

	// What the node actor last said, the schedule and the last error:
	// owned by Serve, and kept across restarts (the signals that set them
	// are not sent again).
	active, pending bool
	last            time.Time
	lastErr         string
}

// NewSignals makes the channel a node actor and its checker share.
func NewSignals() chan messages.QueueSignal { return make(chan messages.QueueSignal, 1) }

// NewHTTPClient returns a client with the given timeout that never follows
// redirects.
func NewHTTPClient(timeout time.Duration) *http.Client {
	var t *http.Transport
	if dt, ok := http.DefaultTransport.(*http.Transport); ok {
		t = dt.Clone()
	} else {
		t = &http.Transport{Proxy: http.ProxyFromEnvironment}
	}
	t.MaxIdleConnsPerHost = 16
	t.IdleConnTimeout = 90 * time.Second
	return &http.Client{
		Transport: t,
		Timeout:   max(timeout, 0),
		CheckRedirect: func(*http.Request, []*http.Request) error {
			return http.ErrUseLastResponse
		},
	}
}

// New builds a checker.
func New(s Spec) *Checker {
	if s.Recheck <= 0 {
		s.Recheck = DefaultRecheck
	}
	switch {
	case s.MinGap == 0:
		s.MinGap = DefaultMinGap
	case s.MinGap < 0:
		s.MinGap = 0
	}
	if s.Signals == nil {
		s.Signals = NewSignals()
	}
	if s.Logger == nil {
		s.Logger = slog.New(slog.DiscardHandler)
	}
	if s.Counters == nil {
		s.Counters = &Counters{}
	}
	c := &Checker{
		counts:           s.Counters,
		spec:             s,
		userAgent:        "vigil (+" + s.PageURL + ")",
		client:           s.Client,
		logger:           s.Logger.With("actor", "queue", "probe", s.Probe, "node", s.Node, "queue", s.Queue),
		nackHealthyBelow: s.Plugin.QueueNackHealthyBelow,
		nackDeadAbove:    s.Plugin.QueueNackDeadAbove,
	}
	if s.NackHealthyBelow != nil {
		c.nackHealthyBelow = *s.NackHealthyBelow
	}
	if s.NackDeadAbove != nil {
		c.nackDeadAbove = *s.NackDeadAbove
	}
	if c.client == nil {
		c.client = NewHTTPClient(s.Timeout)
	}
	c.url, c.urlErr = QueueURL(s.Plugin.APIURL, s.Plugin.Virtualhost, s.Queue)
	return c
}

func (c *Checker) String() string { return "queue " + c.spec.Probe + ":" + c.spec.Node }

// Signals is the channel the node actor writes (Spec.QueueSignals of
// package node).
func (c *Checker) Signals() chan messages.QueueSignal { return c.spec.Signals }

// URL is the queue's management API URL ("" when api_url is invalid).
func (c *Checker) URL() string { return c.url }

// Serve checks the queue when asked and on its timer until ctx ends.
func (c *Checker) Serve(ctx context.Context) error {
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	// After a restart in the middle of a check, redo it.
	c.pending = c.pending || c.active
	for {
		c.arm(timer, time.Now())
		select {
		case <-ctx.Done():
			return ctx.Err()
		case s := <-c.spec.Signals:
			c.active = s.Active
			c.pending = c.pending || s.Check
		case <-timer.C:
			if err := c.run(ctx); err != nil {
				return err
			}
		}
	}
}

// arm sets the timer to the next check: a requested one MinGap after the
// last start, else a re-check Recheck after it while active, else none.
func (c *Checker) arm(timer *time.Timer, now time.Time) {
	timer.Stop()
	var due time.Time
	switch {
	case c.pending:
		due = c.last.Add(c.spec.MinGap)
	case c.active:
		due = c.last.Add(c.spec.Recheck)
	default:
		return
	}
	timer.Reset(max(due.Sub(now), 0))
}

// run makes one check (two with the loaded re-check) and sends the reading.
func (c *Checker) run(ctx context.Context) error {
	c.pending = false
	c.last = time.Now()
	r, err := c.check(ctx)
	if err != nil {
		return err
	}
	c.logChange(r)
	select {
	case c.spec.Out <- r:
	default:
		c.counts.dropped.Add(1)
		c.logger.Debug("node mailbox full, queue reading dropped")
	}
	return nil
}

func (c *Checker) logChange(r messages.QueueReading) {
	switch {
	case r.Err == c.lastErr:
	case r.Err != "":
		c.logger.Warn("RabbitMQ queue unreadable; node status left as is", "error", r.Err, "url", c.url)
	default:
		c.logger.Info("RabbitMQ queue readable again", "ready", r.Ready, "unacked", r.Unacked)
	}
	c.lastErr = r.Err
}

// check reads the queue, and once more after queue_loaded_retry_delay when
// it is loaded. It fails only when ctx ends.
func (c *Checker) check(ctx context.Context) (messages.QueueReading, error) {
	r, err := c.once(ctx)
	if err != nil || !r.Loaded || c.spec.Plugin.QueueLoadedRetryDelay <= 0 {
		return r, err
	}
	wait := time.NewTimer(c.spec.Plugin.QueueLoadedRetryDelay)
	defer wait.Stop()
	select {
	case <-wait.C:
	case <-ctx.Done():
		return messages.QueueReading{}, ctx.Err()
	}
	return c.once(ctx)
}

// once makes one API call under the limiter.
func (c *Checker) once(ctx context.Context) (messages.QueueReading, error) {
	if err := c.spec.Limiter.acquire(ctx); err != nil {
		return messages.QueueReading{}, err
	}
	ready, unacked, err := c.fetch(ctx)
	c.spec.Limiter.release()
	if ctx.Err() != nil {
		return messages.QueueReading{}, ctx.Err()
	}
	now := time.Now()
	if err != nil {
		c.counts.failures.Add(1)
		return messages.QueueReading{Err: err.Error(), At: now}, nil
	}
	p := &c.spec.Plugin
	return messages.QueueReading{
		Ready: ready, Unacked: unacked, At: now,
		Loaded:  ready >= uint64(p.QueueReadyHealthyBelow) || unacked >= uint64(c.nackHealthyBelow),
		Stalled: ready > uint64(p.QueueReadyDeadAbove) || unacked > uint64(c.nackDeadAbove),
	}, nil
}

// fetch GETs the queue and returns its counts. Errors are worded for the
// page tooltip: they never carry the URL.
func (c *Checker) fetch(parent context.Context) (ready, unacked uint64, err error) {
	c.counts.calls.Add(1)
	if c.urlErr != nil {
		return 0, 0, fmt.Errorf("RabbitMQ management API: invalid api_url: %w", c.urlErr)
	}
	ctx := parent
	if c.spec.Timeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(parent, c.spec.Timeout)
		defer cancel()
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, c.url, nil)
	if err != nil {
		return 0, 0, fmt.Errorf("RabbitMQ management API: %w", err)
	}
	req.SetBasicAuth(c.spec.Plugin.AuthUsername, c.spec.Plugin.AuthPassword)
	req.Header.Set("User-Agent", c.userAgent)
	req.Header.Set("Accept", "application/json")
	resp, err := c.client.Do(req)
	if err != nil {
		return 0, 0, fmt.Errorf("RabbitMQ management API: %w", c.callErr(parent, ctx, err))
	}
	defer func() {
		_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, maxBody))
		_ = resp.Body.Close()
	}()
	if resp.StatusCode != http.StatusOK {
		return 0, 0, fmt.Errorf("RabbitMQ management API: HTTP %s", resp.Status)
	}
	var body struct {
		Ready   *uint64 `json:"messages_ready"`
		Unacked *uint64 `json:"messages_unacknowledged"`
	}
	if err := json.NewDecoder(io.LimitReader(resp.Body, maxBody)).Decode(&body); err != nil {
		return 0, 0, fmt.Errorf("RabbitMQ management API: bad JSON: %w", c.callErr(parent, ctx, err))
	}
	if body.Ready == nil || body.Unacked == nil {
		return 0, 0, errors.New("RabbitMQ management API: no messages_ready / messages_unacknowledged in the answer (statistics not collected yet?)")
	}
	return *body.Ready, *body.Unacked, nil
}

// callErr drops the URL from a client error and names a timeout.
func (c *Checker) callErr(parent, ctx context.Context, err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	if parent.Err() == nil && (ctx.Err() != nil || errors.Is(err, context.DeadlineExceeded) || isTimeout(err)) {
		t := c.spec.Timeout
		if t <= 0 || (c.client.Timeout > 0 && c.client.Timeout < t) {
			t = c.client.Timeout
		}
		if t <= 0 {
			return errors.New("timed out")
		}
		return fmt.Errorf("timed out after %s", t)
	}
	return err
}

func isTimeout(err error) bool {
	var t interface{ Timeout() bool }
	return errors.As(err, &t) && t.Timeout()
}

var escaped = regexp.MustCompile(`%[0-9A-Fa-f]{2}`)

// segment turns a configured vhost or queue name into one escaped path
// segment: a value with %XX sequences is decoded once first (see the
// package documentation).
func segment(v string) string {
	if escaped.MatchString(v) {
		if d, err := url.PathUnescape(v); err == nil {
			v = d
		}
	}
	return url.PathEscape(v)
}

// QueueURL builds <apiURL>/api/queues/<vhost>/<queue>, the path replacing
// any path of apiURL, each name escaped as one segment.
func QueueURL(apiURL, vhost, queue string) (string, error) {
	base, err := url.Parse(apiURL)
	if err != nil {
		return "", err
	}
	if base.Scheme != "http" && base.Scheme != "https" || base.Host == "" {
		return "", fmt.Errorf("%q is not an http(s) URL", base.Redacted())
	}
	u := url.URL{Scheme: base.Scheme, Host: base.Host}
	raw := "/api/queues/" + segment(vhost) + "/" + segment(queue)
	path, err := url.PathUnescape(raw)
	if err != nil {
		return "", err
	}
	u.Path, u.RawPath = path, raw
	s := u.String()
	if !strings.Contains(s, raw) {
		return "", fmt.Errorf("cannot encode path %q", raw)
	}
	return s, nil
}
