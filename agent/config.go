package agent

import (
	"errors"
	"fmt"
	"net/netip"
	"net/url"
	"os"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/vigil-go/vigil/config"
)

// Config is a decoded, defaulted and validated Vigil Local configuration
// file: the format of the original agent, unchanged, plus the optional
// [server] inet key. It holds data only and never changes after Parse.
type Config struct {
	Server Server `toml:"server"`
	// Report is where and how results are sent.
	Report Report `toml:"report,required"`
	// Metrics is the probe timing and thresholds.
	Metrics Metrics `toml:"metrics"`
	// Probe is the services and nodes the agent probes.
	Probe Probe `toml:"probe,required"`
}

// Server is the [server] table.
type Server struct {
	// LogLevel is one of off, error, warn, info, debug, trace (lowercased).
	LogLevel string `toml:"log_level" default:"error"`
	// Inet (new in this implementation), when set, is the address of the
	// agent's own HTTP endpoint (/healthz and /metrics), an IP literal and
	// a port; "" (the default) serves nothing.
	Inet string `toml:"inet"`
}

// Check validates and normalises the log level and listen address.
func (s *Server) Check(r *config.Report) {
	if lvl := strings.ToLower(s.LogLevel); slices.Contains([]string{"off", "error", "warn", "info", "debug", "trace"}, lvl) {
		s.LogLevel = lvl
	} else {
		r.Fail("log_level", "must be one of off, error, warn, info, debug, trace (got %q)", s.LogLevel)
	}
	if s.Inet == "" {
		return
	}
	if ap, err := netip.ParseAddrPort(s.Inet); err == nil {
		s.Inet = ap.String()
	} else {
		r.Fail("inet", "must be an IP address and port, e.g. 127.0.0.1:9080 (got %q)", s.Inet)
	}
}

// Report is the [report] table.
type Report struct {
	// Endpoint is the status page's base URL (http or https), normalised
	// without a trailing slash, so that Endpoint + "/reporter/..." is the
	// report URL whether or not the file wrote one.
	Endpoint string `toml:"endpoint,required"`
	// Token is the server's reporter_token, sent as the Basic auth password.
	Token string `toml:"token,required,secret"`
}

// Check validates the endpoint and warns about an empty or sample token.
func (rp *Report) Check(r *config.Report) {
	if e, err := normalizeEndpoint(rp.Endpoint); err != nil {
		r.Fail("endpoint", "%v", err)
	} else {
		rp.Endpoint = e
	}
	switch rp.Token {
	case "":
		r.Warn("token", "is empty: only a server whose reporter_token is empty accepts the reports")
	case "YOUR_TOKEN_SECRET":
		r.Warn("token", "is the placeholder from the original Vigil Local's sample config.cfg, not the server's reporter_token: replace it")
	}
}

// normalizeEndpoint checks that raw is an absolute http(s) URL with a host
// and returns it without its trailing slashes (a path prefix, as for a page
// served under /status/, is kept).
func normalizeEndpoint(raw string) (string, error) {
	s := strings.TrimSpace(raw)
	u, err := url.Parse(s)
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return "", fmt.Errorf("invalid URL %q: %v", raw, err)
	}
	switch {
	case u.Scheme != "http" && u.Scheme != "https":
		return "", fmt.Errorf("must be an http:// or https:// URL, the status page's base URL (got %q)", raw)
	case u.Host == "" || u.Hostname() == "":
		return "", fmt.Errorf("invalid URL %q: missing host", raw)
	case u.RawQuery != "" || u.Fragment != "":
		return "", fmt.Errorf("must be the status page's base URL, without a query or fragment (got %q)", raw)
	}
	if p := u.Port(); p != "" {
		if n, err := strconv.Atoi(p); err != nil || n > 65535 {
			return "", fmt.Errorf("invalid URL %q: invalid port %q", raw, p)
		}
	}
	u.Path = strings.TrimRight(u.Path, "/")
	u.RawPath = strings.TrimRight(u.RawPath, "/")
	return u.String(), nil
}

// DefaultInterval is the probe interval when the file sets none.
const DefaultInterval = 120 * time.Second

// Metrics is the [metrics] table.
type Metrics struct {
	// Interval is the time between two probes of a replica, and the
	// interval sent with each report; nil when the file does not set it.
	Interval *time.Duration `toml:"interval"`
	// PollInterval and ScriptInterval are the keys older agent files use
	// instead of interval, for poll and script replicas; nil when unset.
	PollInterval   *time.Duration `toml:"poll_interval"`
	ScriptInterval *time.Duration `toml:"script_interval"`
	// PollRetry is the number of extra attempts after a dead poll result.
	PollRetry int `toml:"poll_retry,u16" default:"2"`
	// Healthy HTTP statuses are [above, below).
	PollHTTPStatusHealthyAbove int `toml:"poll_http_status_healthy_above,u16" default:"200"`
	PollHTTPStatusHealthyBelow int `toml:"poll_http_status_healthy_below,u16" default:"400"`
	// PollDelayDead is the timeout of one poll attempt; a successful one
	// slower than PollDelaySick is sick.
	PollDelayDead time.Duration `toml:"poll_delay_dead" default:"10"`
	PollDelaySick time.Duration `toml:"poll_delay_sick" default:"1"`
}

// Check refuses a zero interval and warns about legacy keys that interval
// overrides.
func (m *Metrics) Check(r *config.Report) {
	for _, k := range []struct {
		key string
		v   *time.Duration
	}{{"interval", m.Interval}, {"poll_interval", m.PollInterval}, {"script_interval", m.ScriptInterval}} {
		if k.v != nil && *k.v == 0 {
			r.Fail(k.key, "must be at least 1 second")
		}
	}
	if m.Interval != nil {
		for key, v := range map[string]*time.Duration{"poll_interval": m.PollInterval, "script_interval": m.ScriptInterval} {
			if v != nil {
				r.Warn(key, "ignored: interval is set and applies to every replica")
			}
		}
	}
	if m.PollRetry > 255 {
		r.Fail("poll_retry", "out of range: must be at most 255 (got %d)", m.PollRetry)
	}
}

// PollEvery is the interval of poll replicas: interval, else the legacy
// poll_interval, else DefaultInterval.
func (m Metrics) PollEvery() time.Duration { return intervalOr(m.Interval, m.PollInterval) }

// ScriptEvery is the interval of script replicas: interval, else the
// legacy script_interval, else DefaultInterval.
func (m Metrics) ScriptEvery() time.Duration { return intervalOr(m.Interval, m.ScriptInterval) }

func intervalOr(vs ...*time.Duration) time.Duration {
	for _, v := range vs {
		if v != nil && *v > 0 {
			return *v
		}
	}
	return DefaultInterval
}

// Probe is the [probe] table.
type Probe struct {
	// Services are the [[probe.service]] entries in file order.
	Services []Service `toml:"service,required"`
}

// Check refuses two services with one id.
func (p *Probe) Check(r *config.Report) {
	seen := map[string]bool{}
	for i, s := range p.Services {
		if key := "service[" + strconv.Itoa(i) + "].id"; seen[s.ID] && s.ID != "" {
			r.Fail(key, "configuration has duplicate service identifier: %s", s.ID)
		} else {
			seen[s.ID] = true
		}
	}
}

// Service is one [[probe.service]]: the id of a service of the status page.
type Service struct {
	ID string `toml:"id,required"`
	// Nodes are the service's nodes in file order.
	Nodes []Node `toml:"node,required"`
}

// Check refuses two nodes with one id.
func (s *Service) Check(r *config.Report) {
	seen := map[string]bool{}
	for i, n := range s.Nodes {
		if key := "node[" + strconv.Itoa(i) + "].id"; seen[n.ID] && n.ID != "" {
			r.Fail(key, "configuration has duplicate node identifier: %s in service: %s", n.ID, s.ID)
		} else {
			seen[n.ID] = true
		}
	}
}

// Node is one [[probe.service.node]]: a node that the server declares with
// mode = "local", probed here.
type Node struct {
	ID string `toml:"id,required"`
	// Mode is poll or script.
	Mode config.Mode `toml:"mode,required"`
	// Replicas are the poll targets in file order, duplicates collapsed;
	// the replica id reported is the URL as written.
	Replicas []config.Replica `toml:"replicas"`
	// Scripts are the script bodies; script i reports as replica "i".
	Scripts []string `toml:"scripts"`
	// HTTPBodyHealthyMatch is nil when unset.
	HTTPBodyHealthyMatch *regexp.Regexp `toml:"http_body_healthy_match"`
}

// Check keeps the modes the agent runs, refuses keys of the other mode and
// warns about a node with nothing to probe.
func (n *Node) Check(r *config.Report) {
	switch n.Mode {
	case config.ModePoll:
		if len(n.Scripts) > 0 {
			r.Fail("scripts", "non-script node cannot have scripts")
		}
		if len(n.Replicas) == 0 {
			r.Warn("mode", "poll node %s has no replicas: it reports nothing", n.ID)
		}
	case config.ModeScript:
		if len(n.Replicas) > 0 {
			r.Fail("replicas", "non-poll node cannot have replicas")
		}
		if len(n.Scripts) == 0 {
			r.Warn("mode", "script node %s has no scripts: it reports nothing", n.ID)
		}
	default:
		r.Fail("mode", "must be poll or script in an agent configuration (got %q; push and local are modes of the server's configuration)", n.Mode)
	}
	seen := map[string]bool{}
	n.Replicas = slices.DeleteFunc(n.Replicas, func(r config.Replica) bool {
		dup := seen[r.ID]
		seen[r.ID] = true
		return dup
	})
}

// Load reads the agent configuration at path and decodes it with Parse.
func Load(path string, environ []string) (*Config, []config.Issue, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, nil, fmt.Errorf("cannot read configuration file: %w", err)
	}
	return Parse(data, environ)
}

// Parse decodes, defaults and validates the text of an agent configuration
// file with the server's loader (config.Decode): the same ${NAME}
// interpolation (report.token is a secret: an unset variable there is an
// error), the same unknown-key warnings and the same problem wording. On
// failure the error is a config.Errors value and the Config is nil;
// warnings come back either way.
func Parse(data []byte, environ []string) (*Config, []config.Issue, error) {
	cfg := &Config{}
	warnings, err := config.Decode(data, environ, cfg)
	if err != nil {
		return nil, warnings, err
	}
	return cfg, warnings, nil
}

// serverMetrics is the server's [metrics] equivalent of the agent's, for
// the probers of package probe.
func (c *Config) serverMetrics() config.Metrics {
	m := c.Metrics
	return config.Metrics{
		PollInterval:               m.PollEvery(),
		PollRetry:                  m.PollRetry,
		PollRetryWait:              RetryWait,
		PollHTTPStatusHealthyAbove: m.PollHTTPStatusHealthyAbove,
		PollHTTPStatusHealthyBelow: m.PollHTTPStatusHealthyBelow,
		PollDelayDead:              m.PollDelayDead,
		PollDelaySick:              m.PollDelaySick,
		PollParallelism:            PollParallelism,
		ScriptInterval:             m.ScriptEvery(),
		ScriptParallelism:          ScriptParallelism,
		ScriptTimeout:              m.ScriptEvery(),
	}
}

// serverNode is the server's node equivalent of an agent node.
func (n Node) serverNode() config.Node {
	return config.Node{ID: n.ID, Label: n.ID, Mode: n.Mode, Replicas: n.Replicas, Scripts: n.Scripts,
		HTTPBodyHealthyMatch: n.HTTPBodyHealthyMatch}
}

// Fixed probe settings the agent's file has no key for.
const (
	// RetryWait is the pause before each retry of a dead poll result.
	RetryWait = 200 * time.Millisecond
	// PollParallelism and ScriptParallelism bound the probes that run at
	// once (the server's defaults).
	PollParallelism   = 4
	ScriptParallelism = 2
)
