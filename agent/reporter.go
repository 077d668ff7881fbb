package agent

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/vigil-go/vigil/messages"
)

// Policy is how a result is sent: each request is bounded by Timeout, and
// one that gets no answer (or a 408, 429 or 5xx) is tried again Wait
// later, Attempts times in all. An answer that says the report is wrong
// (another 4xx) is final: the next probe round sends again.
type Policy struct {
	Attempts int
	Wait     time.Duration
	Timeout  time.Duration
}

// DefaultPolicy is the original agent's: 4 attempts, 2 s apart, 10 s each.
func DefaultPolicy() Policy {
	return Policy{Attempts: 4, Wait: 2 * time.Second, Timeout: 10 * time.Second}
}

// Targets is what the reporter needs of a configuration: where to send,
// with which token, and the interval of every replica the agent probes
// (results of other replicas are dropped). Never modified once handed
// over.
type Targets struct {
	Endpoint, Token string
	Intervals       map[messages.ReplicaKey]time.Duration
}

// Reporter is the reporter actor: it sends every probe result to the
// status page as the original agent does.
//
// Owns: one sender per replica (a goroutine it starts and joins, with a
// one-slot mailbox holding the newest result of that replica not yet
// taken), and the last problem logged per scope (the server as a whole,
// or one node).
//
// Receives: messages.ReplicaProbed on its inbox, from the replica actors;
// the outcome of every request, from its senders; a wake-up on
// reconfiguration (SetTargets), which stops the senders of replicas that
// are gone.
//
// Sends: POST <endpoint>/reporter/<service>/<node>/ with Basic auth (an
// empty user, the token as password) and the JSON body {"replica",
// "health", "interval"}, following Policy. Backpressure: the actor never
// waits on the network; a result that arrives while an older one of the
// same replica still waits to be sent replaces it (counted as
// superseded), so a slow or unreachable server blocks neither probing nor
// the other replicas' reports. Logging: a problem is logged once when it
// appears or changes (naming the service and node when it concerns one),
// and its end once, at info level.
type Reporter struct {
	inbox     chan messages.StateMessage
	changed   chan struct{}
	targets   atomic.Pointer[Targets]
	client    *http.Client
	userAgent string
	policy    Policy
	metrics   *Instruments
	logger    *slog.Logger

	// Per-run state, owned by Serve and reset at its top.
	senders  map[messages.ReplicaKey]*sender
	outcomes chan outcome
	problems map[string]string
}

// sender is the goroutine that sends one replica's results.
type sender struct {
	slot   chan job
	cancel context.CancelFunc
}

// job is one probe result to report.
type job struct {
	key    messages.ReplicaKey
	status messages.Status
}

// outcome is what one request gave.
type outcome struct {
	job   job
	res   result
	final bool
}

// result classifies one request's answer.
type result struct {
	// code is the metrics label: the status code, or refused, tls,
	// timeout, dns, error; "" when the replica is no longer configured
	// and nothing was sent.
	code string
	ok   bool
	// retry says whether another attempt may succeed.
	retry bool
	// node is true when the problem concerns the node only (404, 412,
	// 409, 400), false when it concerns every report (token, network).
	node    bool
	problem string
}

// InboxSize is the capacity of the reporter's inbox.
const InboxSize = 256

// ReporterSpec describes a reporter actor.
type ReporterSpec struct {
	Targets Targets
	// Client sends the reports; nil builds NewReportClient().
	Client *http.Client
	// UserAgent is the User-Agent header, "vigil-local/<version>".
	UserAgent string
	// Policy zero means DefaultPolicy.
	Policy  Policy
	Metrics *Instruments
	Logger  *slog.Logger
}

// NewReporter builds a reporter actor.
func NewReporter(s ReporterSpec) *Reporter {
	if s.Client == nil {
		s.Client = NewReportClient()
	}
	if s.Policy == (Policy{}) {
		s.Policy = DefaultPolicy()
	}
	if s.Metrics == nil {
		s.Metrics = NewInstruments()
	}
	if s.Logger == nil {
		s.Logger = slog.New(slog.DiscardHandler)
	}
	r := &Reporter{
		inbox: make(chan messages.StateMessage, InboxSize), changed: make(chan struct{}, 1),
		client: s.Client, userAgent: s.UserAgent, policy: s.Policy, metrics: s.Metrics,
		logger: s.Logger.With("actor", "reporter"),
	}
	t := s.Targets
	r.targets.Store(&t)
	return r
}

// NewReportClient returns the HTTP client for reports: proxies from the
// environment, the system trust store, no response compression asked
// (no Accept-Encoding header, as the original), and redirects not
// followed (a POST must not silently become a GET elsewhere).
func NewReportClient() *http.Client {
	t := http.DefaultTransport.(*http.Transport).Clone()
	t.DisableCompression = true
	return &http.Client{Transport: t, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func (r *Reporter) String() string { return "reporter" }

// Inbox is where replica actors send their results.
func (r *Reporter) Inbox() chan<- messages.StateMessage { return r.inbox }

// SetTargets hands the reporter a new configuration: it applies to every
// request from now on, and the senders of replicas that are gone stop.
func (r *Reporter) SetTargets(t Targets) {
	r.targets.Store(&t)
	select {
	case r.changed <- struct{}{}:
	default:
	}
}

// Serve reports until ctx ends; its senders are stopped and joined before
// it returns.
func (r *Reporter) Serve(ctx context.Context) error {
	r.senders = map[messages.ReplicaKey]*sender{}
	r.outcomes = make(chan outcome, 64)
	r.problems = map[string]string{}
	sendCtx, stop := context.WithCancel(ctx)
	var wg sync.WaitGroup
	defer func() {
		stop()
		wg.Wait()
	}()
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case m := <-r.inbox:
			if p, ok := m.(messages.ReplicaProbed); ok {
				r.dispatch(sendCtx, &wg, job{key: p.Key, status: p.Result.Status})
			}
		case <-r.changed:
			r.prune()
		case o := <-r.outcomes:
			r.record(o)
		}
	}
}

// dispatch puts a result in its replica's slot, replacing one not yet
// taken, and starts the replica's sender on its first result.
func (r *Reporter) dispatch(ctx context.Context, wg *sync.WaitGroup, j job) {
	s, ok := r.senders[j.key]
	if !ok {
		if _, known := r.targets.Load().Intervals[j.key]; !known {
			return // a replica removed by a reload
		}
		sctx, cancel := context.WithCancel(ctx)
		s = &sender{slot: make(chan job, 1), cancel: cancel}
		r.senders[j.key] = s
		wg.Add(1)
		go func() {
			defer wg.Done()
			r.runSender(sctx, s)
		}()
	}
	// Only this actor puts into the slot: once drained, the send below
	// cannot block.
	select {
	case <-s.slot:
		r.metrics.Reports.WithLabelValues("superseded").Inc()
	default:
	}
	s.slot <- j
}

// prune stops the senders of replicas the configuration no longer has.
func (r *Reporter) prune() {
	t := r.targets.Load()
	for k, s := range r.senders {
		if _, ok := t.Intervals[k]; !ok {
			s.cancel()
			delete(r.senders, k)
		}
	}
}

// record logs a problem that appears, changes or ends, then counts the
// request's outcome: a report counted as sent or failed is already logged.
func (r *Reporter) record(o outcome) {
	defer func() {
		switch {
		case o.res.ok:
			r.metrics.Reports.WithLabelValues("sent").Inc()
			r.metrics.LastSent.SetToCurrentTime()
		case o.final:
			r.metrics.Reports.WithLabelValues("failed").Inc()
		}
	}()
	k := o.job.key
	attrs := []any{"service", k.Probe, "node", k.Node, "replica", messages.RedactURL(k.Replica)}
	if o.res.ok {
		r.logger.Debug("report sent", append(attrs, "health", o.job.status.String())...)
		for _, scope := range []string{"", k.Probe + "/" + k.Node} {
			if p := r.problems[scope]; p != "" {
				delete(r.problems, scope)
				r.logger.Info("the status page accepts reports again", append(attrs, "after", p)...)
			}
		}
		return
	}
	scope := ""
	if o.res.node {
		scope = k.Probe + "/" + k.Node
	}
	if r.problems[scope] == o.res.problem {
		return
	}
	r.problems[scope] = o.res.problem
	msg := "cannot report to the status page"
	if o.res.retry && !o.final {
		msg += "; retrying"
	}
	r.logger.Error(msg, append(attrs, "code", o.res.code, "error", o.res.problem)...)
}

// runSender sends the results put in its slot, one at a time, until ctx
// ends.
func (r *Reporter) runSender(ctx context.Context, s *sender) {
	for {
		select {
		case <-ctx.Done():
			return
		case j := <-s.slot:
			r.deliver(ctx, s, j)
		}
	}
}

// deliver sends one result following the policy. While it waits to try
// again, a newer result of the replica replaces it.
func (r *Reporter) deliver(ctx context.Context, s *sender, j job) {
	for attempt := 1; ; attempt++ {
		res := r.post(ctx, j)
		if res.code == "" || ctx.Err() != nil {
			return
		}
		r.metrics.Attempts.WithLabelValues(res.code).Inc()
		final := res.ok || !res.retry || attempt >= r.policy.Attempts
		select {
		case r.outcomes <- outcome{job: j, res: res, final: final}:
		case <-ctx.Done():
			return
		}
		if final {
			return
		}
		wait := time.NewTimer(r.policy.Wait)
		select {
		case <-ctx.Done():
			wait.Stop()
			return
		case newer := <-s.slot:
			wait.Stop()
			r.metrics.Reports.WithLabelValues("superseded").Inc()
			j, attempt = newer, 0
		case <-wait.C:
		}
	}
}

// payload is the report body. Field order and names are the original
// agent's.
type payload struct {
	Replica  string          `json:"replica"`
	Health   messages.Status `json:"health"`
	Interval int64           `json:"interval"`
}

// Body encodes a report body exactly as the original agent does: no
// HTML escaping, no trailing newline.
func Body(replicaID string, health messages.Status, interval time.Duration) []byte {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	_ = enc.Encode(payload{Replica: replicaID, Health: health, Interval: int64(interval / time.Second)})
	return bytes.TrimSuffix(b.Bytes(), []byte("\n"))
}

// ReportURL is where a node's reports go: the endpoint (without trailing
// slash), then /reporter/<service>/<node>/ with both ids path-escaped.
func ReportURL(endpoint, service, node string) string {
	return endpoint + "/reporter/" + url.PathEscape(service) + "/" + url.PathEscape(node) + "/"
}

// BasicAuth is the Authorization header value for token: Basic auth with
// an empty user name.
func BasicAuth(token string) string {
	return "Basic " + base64.StdEncoding.EncodeToString([]byte(":"+token))
}

// post makes one request for j and classifies the answer.
func (r *Reporter) post(ctx context.Context, j job) result {
	t := r.targets.Load()
	interval, ok := t.Intervals[j.key]
	if !ok {
		return result{}
	}
	actx, cancel := context.WithTimeout(ctx, r.policy.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(actx, http.MethodPost, ReportURL(t.Endpoint, j.key.Probe, j.key.Node),
		bytes.NewReader(Body(j.key.Replica, j.status, interval)))
	if err != nil {
		return result{code: "error", problem: err.Error()}
	}
	req.Header.Set("User-Agent", r.userAgent)
	req.Header.Set("Authorization", BasicAuth(t.Token))
	req.Header.Set("Content-Type", "application/json")
	resp, err := r.client.Do(req)
	if err != nil {
		return classifyError(err, actx, messages.RedactURL(t.Endpoint), r.policy.Timeout)
	}
	defer resp.Body.Close()
	text, _ := io.ReadAll(io.LimitReader(resp.Body, 512))
	_, _ = io.Copy(io.Discard, io.LimitReader(resp.Body, 64<<10))
	return classifyStatus(resp, j.key, strings.TrimSpace(string(text)))
}

// classifyStatus words the server's answer (spec: 200 taken; 401 and 403
// the token; 404 no such service or node; 412 not a local node; 409 too
// many replicas; 413 too large; 400 a report it cannot read).
func classifyStatus(resp *http.Response, k messages.ReplicaKey, text string) result {
	code := resp.StatusCode
	res := result{code: strconv.Itoa(code)}
	node := fmt.Sprintf("node %q of service %q", k.Node, k.Probe)
	switch {
	case code >= 200 && code < 300:
		res.ok = true
	case code == http.StatusUnauthorized, code == http.StatusForbidden:
		res.problem = fmt.Sprintf("the status page refused the token (HTTP %d): report.token must be the server's reporter_token", code)
	case code == http.StatusNotFound:
		res.node = true
		res.problem = fmt.Sprintf("the status page has no %s (HTTP 404): declare the node there with mode = \"local\", or fix the ids in this file", node)
	case code == http.StatusPreconditionFailed:
		res.node = true
		res.problem = fmt.Sprintf("%s is not a local node on the status page (HTTP 412): set mode = \"local\" for it in the server's configuration", node)
	case code == http.StatusConflict:
		res.node = true
		res.problem = fmt.Sprintf("the status page refused a new replica for %s (HTTP 409): it already has metrics.push_replicas_max replicas", node)
	case code == http.StatusRequestEntityTooLarge:
		res.problem = "the status page (or a proxy in front of it) refused the report as too large (HTTP 413)"
	case code == http.StatusBadRequest:
		res.node = true
		res.problem = fmt.Sprintf("the status page could not read the report for %s (HTTP 400): %s", node, text)
	case code >= 300 && code < 400:
		res.problem = fmt.Sprintf("the status page redirected the report to %q (HTTP %d): set report.endpoint to the address it redirects to",
			messages.RedactURL(resp.Header.Get("Location")), code)
	case code == http.StatusRequestTimeout, code == http.StatusTooManyRequests, code >= 500:
		res.retry = true
		res.problem = fmt.Sprintf("the status page answered HTTP %d", code)
	default:
		res.problem = fmt.Sprintf("the status page answered HTTP %d", code)
	}
	return res
}

// classifyError words a request that got no answer.
func classifyError(err error, attempt context.Context, endpoint string, timeout time.Duration) result {
	res := result{retry: true}
	var (
		unknownCA *x509.UnknownAuthorityError
		hostname  x509.HostnameError
		invalid   x509.CertificateInvalidError
		verify    *tls.CertificateVerificationError
		record    tls.RecordHeaderError
		alert     tls.AlertError
		dns       *net.DNSError
	)
	switch {
	case errors.Is(err, syscall.ECONNREFUSED):
		res.code, res.problem = "refused", fmt.Sprintf("cannot connect to %s: connection refused (is the status page running and reachable from here?)", endpoint)
	case errors.As(err, &unknownCA), errors.As(err, &hostname), errors.As(err, &invalid), errors.As(err, &verify),
		errors.As(err, &record), errors.As(err, &alert), strings.Contains(err.Error(), "tls: "):
		res.code, res.problem = "tls", fmt.Sprintf("TLS with %s failed: %v", endpoint, unwrapURLError(err))
	case errors.Is(attempt.Err(), context.DeadlineExceeded), isTimeout(err):
		res.code, res.problem = "timeout", fmt.Sprintf("no answer from %s within %s", endpoint, timeout)
	case errors.As(err, &dns):
		res.code, res.problem = "dns", fmt.Sprintf("cannot resolve the host of %s: %v", endpoint, dns)
	default:
		res.code, res.problem = "error", fmt.Sprintf("cannot report to %s: %v", endpoint, unwrapURLError(err))
	}
	return res
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// unwrapURLError drops the "Post <url>:" prefix that net/http adds.
func unwrapURLError(err error) error {
	var ue *url.Error
	if errors.As(err, &ue) {
		return ue.Err
	}
	return err
}
