package config

import (
	"net/netip"
	"os"
	"regexp"
	"strings"
	"time"
)

// config converts the root table.
func (d *decoder) config(root *table) *Config {
	cfg := &Config{}
	if t, ok := root.sub("server", true); ok {
		cfg.Server = d.server(t)
	}
	if t, ok := root.sub("assets", true); ok {
		cfg.Assets = d.assets(t)
	}
	if t, ok := root.sub("branding", true); ok {
		cfg.Branding = d.branding(t)
	}
	if t, ok := root.sub("metrics", true); ok {
		cfg.Metrics = d.metrics(t)
	}
	if t, ok := root.sub("plugins", false); ok {
		cfg.Plugins = d.plugins(t)
	}
	if t, ok := root.sub("notify", false); ok {
		cfg.Notify = d.notify(t)
	}
	if t, ok := root.sub("probe", true); ok {
		cfg.Probe = d.probe(t)
	}
	cfg.Storage = Storage{Enabled: true}
	if t, ok := root.sub("storage", false); ok {
		cfg.Storage = d.storage(t)
	}
	root.done()
	return cfg
}

// storage converts the optional [storage] table (new in this
// implementation).
func (d *decoder) storage(t *table) Storage {
	st := Storage{Enabled: t.boolean("enabled", true), Path: t.strDefault("path", "")}
	t.done()
	return st
}

// server converts [server] (spec §2.3).
func (d *decoder) server(t *table) Server {
	s := Server{
		LogLevel: defaultLogLevel,
		Inet:     defaultInet,
		Workers:  defaultWorkers,
	}
	if v, ok := t.str("log_level", false); ok {
		if lvl := strings.ToLower(v); logLevels[lvl] {
			s.LogLevel = lvl
		} else {
			d.fail(t.at("log_level"), "must be one of off, error, warn, info, debug, trace (got %q)", v)
		}
	}
	if v, ok := t.str("inet", false); ok {
		if ap, err := netip.ParseAddrPort(v); err == nil {
			s.Inet = ap.String()
		} else {
			d.fail(t.at("inet"), "must be an IP address and port, e.g. 0.0.0.0:8080 (got %q)", v)
		}
	}
	s.Workers = t.uintDefault("workers", maxU64, defaultWorkers)
	s.MCPServer = t.boolean("mcp_server", false)
	s.MetricsEnabled = t.boolean("metrics_enabled", true)
	s.MetricsToken = t.strDefault("metrics_token", "")
	var ok bool
	if s.ManagerToken, ok = t.str("manager_token", true); ok && s.ManagerToken == "" {
		d.warn(t.at("manager_token"), "is empty: the Manager API accepts any request with an empty password")
	}
	if s.ReporterToken, ok = t.str("reporter_token", true); ok && s.ReporterToken == "" {
		d.warn(t.at("reporter_token"), "is empty: the Reporter API accepts any request with an empty password")
	}
	t.done()
	return s
}

// assets converts [assets] (spec §2.4). Whether the directory exists is
// recorded, not enforced: the caller decides (the original aborts with
// "assets directory not found").
func (d *decoder) assets(t *table) Assets {
	a := Assets{Path: t.strDefault("path", defaultAssetsPath)}
	if fi, err := os.Stat(a.Path); err == nil && fi.IsDir() {
		a.PathExists = true
	}
	t.done()
	return a
}

// branding converts [branding] (spec §2.5).
func (d *decoder) branding(t *table) Branding {
	b := Branding{PageTitle: t.strDefault("page_title", defaultPageTitle)}
	b.PageURL, _ = t.url("page_url", true)
	b.CompanyName, _ = t.str("company_name", true)
	b.IconColor, _ = t.str("icon_color", true)
	b.IconURL, _ = t.url("icon_url", true)
	b.LogoColor, _ = t.str("logo_color", true)
	b.LogoURL, _ = t.url("logo_url", true)
	b.WebsiteURL, _ = t.url("website_url", true)
	b.SupportURL, _ = t.url("support_url", true)
	b.CustomHTML = t.strDefault("custom_html", "")
	t.done()
	return b
}

// metrics converts [metrics] (spec §2.6, plus script_timeout and
// push_replicas_max which are new in this implementation).
func (d *decoder) metrics(t *table) Metrics {
	m := Metrics{
		PollInterval:               t.durationDefault("poll_interval", time.Second, defaultPollInterval),
		PollRetry:                  t.uintDefault("poll_retry", maxU64, defaultPollRetry),
		PollRetryWait:              t.durationDefault("poll_retry_wait", time.Millisecond, defaultPollRetryWait),
		PollHTTPStatusHealthyAbove: t.uintDefault("poll_http_status_healthy_above", maxU16, defaultPollHTTPStatusHealthyAbove),
		PollHTTPStatusHealthyBelow: t.uintDefault("poll_http_status_healthy_below", maxU16, defaultPollHTTPStatusHealthyBelow),
		PollDelayDead:              t.durationDefault("poll_delay_dead", time.Second, defaultPollDelayDead),
		PollDelaySick:              t.durationDefault("poll_delay_sick", time.Second, defaultPollDelaySick),
		PollParallelism:            max(1, t.uintDefault("poll_parallelism", maxU16, defaultPollParallelism)),
		PushDelayDead:              t.durationDefault("push_delay_dead", time.Second, defaultPushDelayDead),
		PushSystemCPUSickAbove:     t.float32("push_system_cpu_sick_above", defaultPushSystemCPUSickAbove),
		PushSystemRAMSickAbove:     t.float32("push_system_ram_sick_above", defaultPushSystemRAMSickAbove),
		ScriptInterval:             t.durationDefault("script_interval", time.Second, defaultScriptInterval),
		ScriptParallelism:          max(1, t.uintDefault("script_parallelism", maxU16, defaultScriptParallelism)),
		LocalDelayDead:             t.durationDefault("local_delay_dead", time.Second, defaultLocalDelayDead),
		PushReplicasMax:            t.uintDefault("push_replicas_max", maxU64, defaultPushReplicasMax),
	}
	// A script must not outlive its round by default; with script_interval
	// = 0 (back-to-back rounds) fall back to the default interval rather
	// than to "no timeout".
	m.ScriptTimeout = m.ScriptInterval
	if m.ScriptTimeout == 0 {
		m.ScriptTimeout = defaultScriptInterval
	}
	if v, ok := t.duration("script_timeout", time.Second, false); ok {
		if v == 0 {
			d.fail(t.at("script_timeout"), "must be greater than 0 (omit it to use script_interval)")
		} else {
			m.ScriptTimeout = v
		}
	}
	t.done()
	return m
}

// plugins converts [plugins] and [plugins.rabbitmq] (spec §2.7).
func (d *decoder) plugins(t *table) Plugins {
	var p Plugins
	if r, ok := t.sub("rabbitmq", false); ok {
		p.RabbitMQ = d.rabbitMQ(r)
	}
	t.done()
	return p
}

// rabbitMQ converts [plugins.rabbitmq]: every key but
// queue_loaded_retry_delay is required.
func (d *decoder) rabbitMQ(t *table) *RabbitMQ {
	r := &RabbitMQ{}
	r.APIURL, _ = t.url("api_url", true)
	r.AuthUsername, _ = t.str("auth_username", true)
	r.AuthPassword, _ = t.str("auth_password", true)
	r.Virtualhost, _ = t.str("virtualhost", true)
	u32 := func(key string) uint32 {
		n, _ := t.uint(key, maxU32, true)
		return uint32(n)
	}
	r.QueueReadyHealthyBelow = u32("queue_ready_healthy_below")
	r.QueueNackHealthyBelow = u32("queue_nack_healthy_below")
	r.QueueReadyDeadAbove = u32("queue_ready_dead_above")
	r.QueueNackDeadAbove = u32("queue_nack_dead_above")
	r.QueueLoadedRetryDelay, _ = t.duration("queue_loaded_retry_delay", time.Millisecond, false)
	t.done()
	return r
}

// probe converts [probe] and its services (spec §2.9).
func (d *decoder) probe(t *table) Probe {
	var p Probe
	services, _ := t.subArray("service", true)
	p.Services = make([]Service, 0, len(services))
	serviceIDs := map[string]bool{}
	for _, st := range services {
		var svc Service
		var idOK bool
		svc.ID, idOK = st.str("id", true)
		svc.Label, _ = st.str("label", true)
		if idOK {
			if serviceIDs[svc.ID] {
				d.fail(st.at("id"), "configuration has duplicate service identifier: %s", svc.ID)
			}
			serviceIDs[svc.ID] = true
		}
		nodes, _ := st.subArray("node", true)
		svc.Nodes = make([]Node, 0, len(nodes))
		nodeIDs := map[string]bool{}
		for _, nt := range nodes {
			node, ok := d.node(nt)
			if ok {
				if nodeIDs[node.ID] {
					d.fail(nt.at("id"), "configuration has duplicate node identifier: %s in service: %s", node.ID, svc.ID)
				}
				nodeIDs[node.ID] = true
			}
			svc.Nodes = append(svc.Nodes, node)
		}
		st.done()
		p.Services = append(p.Services, svc)
	}
	t.done()
	return p
}

// node converts one [[probe.service.node]]. idOK reports whether the node
// has a valid id (for the duplicate check).
func (d *decoder) node(t *table) (n Node, idOK bool) {
	n.ID, idOK = t.str("id", true)
	n.Label, _ = t.str("label", true)

	modeValid := false
	if v, ok := t.str("mode", true); ok {
		switch m := Mode(v); m {
		case ModePoll, ModePush, ModeScript, ModeLocal:
			n.Mode = m
			modeValid = true
		default:
			d.fail(t.at("mode"), "must be one of poll, push, script, local (got %q)", v)
		}
	}

	if t.has("replicas") {
		if modeValid && n.Mode != ModePoll {
			d.fail(t.at("replicas"), "non-poll node cannot have replicas")
		} else if raws, ok := t.strings("replicas", false); ok {
			n.Replicas = d.replicas(t.at("replicas"), raws)
		}
	}
	if t.has("scripts") {
		if modeValid && n.Mode != ModeScript {
			d.fail(t.at("scripts"), "non-script node cannot have scripts")
		} else if scripts, ok := t.strings("scripts", false); ok {
			n.Scripts = scripts
		}
	}

	n.HTTPHeaders = d.headers(t)
	if v, ok := t.str("http_method", false); ok {
		if httpMethods[v] {
			n.HTTPMethod = v
		} else {
			d.fail(t.at("http_method"), "must be one of HEAD, GET, POST, PUT, PATCH, in uppercase (got %q)", v)
		}
	}
	n.HTTPBody = t.strPtr("http_body")
	if v, ok := t.str("http_body_healthy_match", false); ok {
		re, err := regexp.Compile(v)
		if err != nil {
			d.fail(t.at("http_body_healthy_match"), "invalid regular expression: %v", err)
		} else {
			n.HTTPBodyHealthyMatch = re
		}
	}
	n.RevealReplicaName = t.boolean("reveal_replica_name", false)
	n.LinkURL, _ = t.url("link_url", false)
	n.LinkLabel = t.strDefault("link_label", "")
	n.RabbitMQQueue = t.strDefault("rabbitmq_queue", "")
	n.RabbitMQQueueNackHealthyBelow = t.uint32Ptr("rabbitmq_queue_nack_healthy_below")
	n.RabbitMQQueueNackDeadAbove = t.uint32Ptr("rabbitmq_queue_nack_dead_above")
	t.done()
	return n, idOK
}

// replicas parses a poll node's replica URLs (spec §3.3). Entries repeating
// an earlier raw URL collapse into the first one.
func (d *decoder) replicas(path string, raws []string) []Replica {
	out := make([]Replica, 0, len(raws))
	seen := map[string]bool{}
	for i, raw := range raws {
		r, err := parseReplica(raw)
		if err != nil {
			d.fail(indexPath(path, i), "%v", err)
			continue
		}
		if seen[r.ID] {
			continue
		}
		seen[r.ID] = true
		out = append(out, r)
	}
	return out
}

// headers converts a node's http_headers table, in file order. A header
// whose value is an array of strings is repeated once per value.
func (d *decoder) headers(t *table) []Header {
	v, ok := t.lookup("http_headers", false)
	if !ok {
		return nil
	}
	path := t.at("http_headers")
	m, ok := v.(map[string]any)
	if !ok {
		d.fail(path, "must be a table of header names to strings or arrays of strings (got %s)", typeName(v))
		return nil
	}
	var out []Header
	for _, name := range d.order.keys(path, m) {
		hp := joinPath(path, name)
		if !validHeaderName(name) {
			d.fail(hp, "invalid HTTP header name %q", name)
			continue
		}
		add := func(path string, v any) {
			s, ok := v.(string)
			switch {
			case !ok:
				d.fail(path, "must be a string (got %s)", typeName(v))
			case !validHeaderValue(s):
				d.fail(path, "invalid HTTP header value %q (control characters such as CR, LF or NUL are not allowed)", s)
			default:
				d.checkString(path, s)
				out = append(out, Header{Name: name, Value: s})
			}
		}
		switch val := m[name].(type) {
		case string:
			add(hp, val)
		case []any:
			for i, e := range val {
				add(indexPath(hp, i), e)
			}
		default:
			d.fail(hp, "must be a string or an array of strings (got %s)", typeName(val))
		}
	}
	return out
}

// validHeaderName reports whether name is an HTTP token (RFC 9110 §5.6.2).
func validHeaderName(name string) bool {
	if name == "" {
		return false
	}
	for i := 0; i < len(name); i++ {
		c := name[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		case strings.IndexByte("!#$%&'*+-.^_`|~", c) >= 0:
		default:
			return false
		}
	}
	return true
}

// validHeaderValue reports whether s can be sent as a header value: no
// control characters other than horizontal tab (this rejects CR, LF and NUL,
// and matches what the original's HeaderValue and Go's HTTP client accept).
func validHeaderValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if c := s[i]; (c < ' ' && c != '\t') || c == 0x7f {
			return false
		}
	}
	return true
}
