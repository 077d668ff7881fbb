package config

import (
	"errors"
	"fmt"
	"net/url"
	"strconv"
	"strings"
)

// specialDefaultPorts lists the WHATWG "special" schemes and their default
// ports. Special URLs must have a host, their empty path serialises as "/",
// their host is lowercased and a port equal to the default is dropped.
var specialDefaultPorts = map[string]string{
	"http":  "80",
	"https": "443",
	"ws":    "80",
	"wss":   "443",
	"ftp":   "21",
}

// parseURL parses a URL-typed configuration value the way the original's
// URL type (WHATWG rules) accepts it and returns it normalised:
//
//   - leading and trailing spaces and control characters are removed;
//   - the URL must be absolute (have a scheme); the scheme is lowercased;
//   - special schemes (http, https, ws, wss, ftp) need a host; their host is
//     lowercased, a default port is dropped (":80" for http, ":443" for
//     https) and an empty path becomes "/";
//   - a port must be a decimal number up to 65535;
//   - other schemes (mailto:, tcp://, icmp://, …) are kept as written apart
//     from the scheme's case.
//
// Not reproduced from WHATWG: IDNA/punycode host conversion, IPv4 shorthand
// normalisation ("0x7f.1") and backslash-as-slash handling.
func parseURL(raw string) (*url.URL, error) {
	s := strings.TrimFunc(raw, func(r rune) bool { return r <= ' ' })
	if s == "" {
		return nil, errors.New("invalid URL: empty")
	}
	u, err := url.Parse(s)
	if err != nil && strings.Contains(err.Error(), "invalid URL escape") {
		// WHATWG keeps a '%' that starts no escape as it is; Go refuses
		// it. Escape such a '%' so the URL means the same and loads.
		u, err = url.Parse(escapeStrayPercent(s))
	}
	if err != nil {
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, &urlError{raw: raw, reason: err.Error()}
	}
	if u.Scheme == "" {
		return nil, &urlError{raw: raw, reason: "not absolute (a scheme such as https:// is required)"}
	}
	u.Scheme = strings.ToLower(u.Scheme)
	if port := u.Port(); port != "" {
		if n, err := strconv.Atoi(port); err != nil || n < 0 || n > 65535 {
			return nil, &urlError{raw: raw, reason: fmt.Sprintf("invalid port %q", port)}
		}
	}
	defaultPort, special := specialDefaultPorts[u.Scheme]
	if !special {
		return u, nil
	}
	if u.Opaque != "" || u.Hostname() == "" {
		return nil, &urlError{raw: raw, reason: "missing host"}
	}
	host := strings.ToLower(u.Hostname())
	if strings.Contains(host, ":") {
		host = "[" + host + "]"
	}
	if port := u.Port(); port != "" && port != defaultPort {
		host += ":" + port
	}
	u.Host = host
	if u.Path == "" {
		u.Path = "/"
		u.RawPath = ""
	}
	return u, nil
}

// urlError is an invalid URL value and the reason.
type urlError struct {
	raw, reason string
}

// Error quotes the value: invalid URL "x": reason.
func (e *urlError) Error() string { return fmt.Sprintf("invalid URL %q: %s", e.raw, e.reason) }

// redacted words the error without the value, for secret keys.
func (e *urlError) redacted() string { return "invalid URL (value not shown): " + e.reason }

// escapeStrayPercent replaces every '%' that is not followed by two
// hexadecimal digits with "%25".
func escapeStrayPercent(s string) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		if s[i] == '%' && (i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2])) {
			b.WriteString("%25")
			continue
		}
		b.WriteByte(s[i])
	}
	return b.String()
}

// isHex reports whether c is a hexadecimal digit.
func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// normalizeURL returns the normalised serialisation of a URL-typed value
// (see parseURL), e.g. "https://Status.Example.com:443" becomes
// "https://status.example.com/".
func normalizeURL(raw string) (string, error) {
	u, err := parseURL(raw)
	if err != nil {
		return "", err
	}
	return u.String(), nil
}

// parseReplica parses one entry of a poll node's replicas (spec §3.3).
// The returned error message is meant to follow the replica's TOML path.
func parseReplica(raw string) (Replica, error) {
	u, err := parseURL(raw)
	if err != nil {
		return Replica{}, fmt.Errorf("invalid replica url: %v", err)
	}
	r := Replica{ID: raw}
	switch u.Scheme {
	case "http", "https":
		r.Kind = KindHTTP
		r.URL = u.String()
		return r, nil
	case "icmp":
		r.Kind = KindICMP
		if u.Opaque != "" || u.Hostname() == "" {
			return Replica{}, fmt.Errorf("icmp replica needs a host only, as icmp://host (got %q)", raw)
		}
		if u.Port() != "" {
			return Replica{}, fmt.Errorf("icmp replica needs a host only, without a port (got port %q)", u.Port())
		}
		if p := u.EscapedPath(); p != "" {
			return Replica{}, fmt.Errorf("icmp replica needs a host only, without a path, not even \"/\" (got path %q)", p)
		}
	case "tcp", "ssh":
		r.Kind = ReplicaKind(u.Scheme)
		if u.Opaque != "" || u.Hostname() == "" {
			return Replica{}, fmt.Errorf("%s replica needs host:port without a path (no host in %q)", u.Scheme, raw)
		}
		if u.Port() == "" {
			return Replica{}, fmt.Errorf("%s replica needs host:port without a path (port missing in %q)", u.Scheme, raw)
		}
		if p := u.EscapedPath(); p != "" {
			return Replica{}, fmt.Errorf("%s replica needs host:port without a path (got path %q)", u.Scheme, p)
		}
	default:
		return Replica{}, fmt.Errorf("invalid replica url: unsupported scheme %q (want icmp, tcp, ssh, http or https)", u.Scheme)
	}
	// Query, fragment and user-info are tolerated and ignored (§3.3).
	r.Host = u.Hostname()
	r.Port = u.Port()
	return r, nil
}
