package config

import (
	"fmt"
	"regexp"
	"slices"
	"strings"

	"github.com/vigil-go/vigil/messages"
)

// Probe is the [probe] table.
type Probe struct {
	// Services are the [[probe.service]] entries in file order.
	Services []Service `toml:"service,required"`
}

// Check refuses two services with one id.
func (p *Probe) Check(r *Report) {
	failRepeatedIDs(r, "service", p.Services, func(s Service) string { return s.ID }, "configuration has duplicate service identifier: %s")
}

// failRepeatedIDs fails at the id of each table of the array key whose id
// repeats an earlier valid one; the id is the first argument of format.
func failRepeatedIDs[T any](r *Report, key string, tables []T, id func(T) string, format string, args ...any) {
	seen := map[string]bool{}
	for i, t := range tables {
		if k := indexPath(key, i) + ".id"; r.ok(k) {
			if seen[id(t)] {
				r.Fail(k, format, append([]any{id(t)}, args...)...)
			}
			seen[id(t)] = true
		}
	}
}

// Service is one [[probe.service]].
type Service struct {
	// ID is unique among services; Label is shown on the page.
	ID    string `toml:"id,required"`
	Label string `toml:"label,required"`
	// SLO is the availability objective over a 30-day rolling window, in
	// percent (e.g. 99.9), more than 0 and less than 100; 0 when unset.
	SLO float64 `toml:"slo"`
	// Nodes are the service's nodes in file order.
	Nodes []Node `toml:"node,required"`
}

// Check validates the objective and refuses two nodes with one id.
func (s *Service) Check(r *Report) {
	if !(s.SLO > 0 && s.SLO < 100) {
		r.Fail("slo", "must be more than 0 and less than 100 (got %v)", s.SLO)
	}
	failRepeatedIDs(r, "node", s.Nodes, func(n Node) string { return n.ID }, "configuration has duplicate node identifier: %s in service: %s", s.ID)
}

// Mode is a node's probe mode.
type Mode string

const (
	ModePoll   Mode = "poll"
	ModePush   Mode = "push"
	ModeScript Mode = "script"
	ModeLocal  Mode = "local"
)

// UnmarshalText accepts the four modes, in lowercase.
func (m *Mode) UnmarshalText(b []byte) error {
	switch v := Mode(b); v {
	case ModePoll, ModePush, ModeScript, ModeLocal:
		*m = v
		return nil
	}
	return fmt.Errorf("must be one of poll, push, script, local (got %q)", b)
}

// Node is one [[probe.service.node]].
type Node struct {
	// ID is unique within its service; Label is shown on the page.
	ID    string `toml:"id,required"`
	Label string `toml:"label,required"`
	Mode  Mode   `toml:"mode,required"`
	// Replicas are the poll targets in file order, duplicates collapsed.
	Replicas []Replica `toml:"replicas"`
	// Scripts are the script bodies; the replica id of Scripts[i] is
	// strconv.Itoa(i).
	Scripts []string `toml:"scripts"`
	// HTTPHeaders keep file order; a repeated header appears once per value.
	HTTPHeaders []Header `toml:"http_headers"`
	// HTTPMethod is HEAD, GET, POST, PUT or PATCH; "" when unset.
	HTTPMethod string `toml:"http_method"`
	// HTTPBody is nil when unset.
	HTTPBody *string `toml:"http_body"`
	// HTTPBodyHealthyMatch is nil when unset (safe for concurrent use).
	HTTPBodyHealthyMatch *regexp.Regexp `toml:"http_body_healthy_match"`
	// RevealReplicaName shows replica ids in the page tooltip.
	RevealReplicaName bool   `toml:"reveal_replica_name"`
	LinkURL           string `toml:"link_url,url"`
	LinkLabel         string `toml:"link_label"`
	RabbitMQQueue     string `toml:"rabbitmq_queue"`
	// Per-node overrides of [plugins.rabbitmq]; nil when unset.
	RabbitMQQueueNackHealthyBelow *uint32 `toml:"rabbitmq_queue_nack_healthy_below"`
	RabbitMQQueueNackDeadAbove    *uint32 `toml:"rabbitmq_queue_nack_dead_above"`
}

// refuse tells why a key cannot be used in this node (its mode is read
// first), and then it is not decoded at all.
func (n *Node) refuse(key string) string {
	switch {
	case key == "replicas" && n.Mode != "" && n.Mode != ModePoll:
		return "non-poll node cannot have replicas"
	case key == "scripts" && n.Mode != "" && n.Mode != ModeScript:
		return "non-script node cannot have scripts"
	}
	return ""
}

// Check validates the HTTP method and collapses repeated replicas.
func (n *Node) Check(r *Report) {
	if !slices.Contains([]string{"HEAD", "GET", "POST", "PUT", "PATCH"}, n.HTTPMethod) {
		r.Fail("http_method", "must be one of HEAD, GET, POST, PUT, PATCH, in uppercase (got %q)", n.HTTPMethod)
	}
	seen := map[string]bool{}
	n.Replicas = slices.DeleteFunc(n.Replicas, func(r Replica) bool {
		dup := seen[r.ID]
		seen[r.ID] = true
		return dup
	})
}

// Header is one HTTP header applied to HTTP(S) poll requests.
type Header struct {
	// Name is an HTTP token; Value has no control characters but tab.
	Name, Value string
}

// validHeaderName reports whether name is an HTTP token (RFC 9110 §5.6.2).
func validHeaderName(name string) bool {
	return name != "" && strings.Trim(name, "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789!#$%&'*+-.^_`|~") == ""
}

// validHeaderValue reports whether s can be sent as a header value: no
// control characters but horizontal tab (as the original and Go's client).
func validHeaderValue(s string) bool {
	return !strings.ContainsFunc(s, func(c rune) bool { return (c < ' ' && c != '\t') || c == 0x7f })
}

// ReplicaKind is the scheme class of a poll replica.
type ReplicaKind string

const (
	KindHTTP ReplicaKind = "http" // http and https
	KindTCP  ReplicaKind = "tcp"
	KindSSH  ReplicaKind = "ssh"
	KindICMP ReplicaKind = "icmp"
)

// Replica is one poll target.
type Replica struct {
	// ID is the URL exactly as written in the file.
	ID string
	// Kind is the scheme class.
	Kind ReplicaKind
	// URL is the normalised URL used for HTTP(S) requests ("https://x.com/").
	URL string
	// Host (without IPv6 brackets) and Port for tcp, ssh and icmp (Port
	// empty for icmp).
	Host, Port string
}

// UnmarshalText parses a replica URL (see parseReplica).
func (r *Replica) UnmarshalText(b []byte) error {
	v, err := parseReplica(string(b))
	if err == nil {
		*r = v
	}
	return err
}

// parseReplica parses one entry of a poll node's replicas (spec §3.3).
// The error message follows the replica's TOML path. Query, fragment and
// user-info are tolerated and ignored.
func parseReplica(raw string) (Replica, error) {
	u, err := parseURL(raw)
	if err != nil {
		return Replica{}, fmt.Errorf("invalid replica url: %v", err)
	}
	r := Replica{ID: raw, Kind: ReplicaKind(u.Scheme), Host: u.Hostname(), Port: u.Port()}
	switch u.Scheme {
	case "http", "https":
		return Replica{ID: raw, Kind: KindHTTP, URL: u.String()}, nil
	case "icmp":
		switch {
		case u.Opaque != "" || r.Host == "":
			return Replica{}, fmt.Errorf("icmp replica needs a host only, as icmp://host (got %q)", messages.RedactURL(raw))
		case r.Port != "":
			return Replica{}, fmt.Errorf("icmp replica needs a host only, without a port (got port %q)", r.Port)
		case u.EscapedPath() != "":
			return Replica{}, fmt.Errorf("icmp replica needs a host only, without a path, not even \"/\" (got path %q)", u.EscapedPath())
		}
	case "tcp", "ssh":
		switch {
		case u.Opaque != "" || r.Host == "":
			return Replica{}, fmt.Errorf("%s replica needs host:port without a path (no host in %q)", u.Scheme, messages.RedactURL(raw))
		case r.Port == "":
			return Replica{}, fmt.Errorf("%s replica needs host:port without a path (port missing in %q)", u.Scheme, messages.RedactURL(raw))
		case u.EscapedPath() != "":
			return Replica{}, fmt.Errorf("%s replica needs host:port without a path (got path %q)", u.Scheme, u.EscapedPath())
		}
	default:
		return Replica{}, fmt.Errorf("invalid replica url: unsupported scheme %q (want icmp, tcp, ssh, http or https)", u.Scheme)
	}
	return r, nil
}
