package config

import (
	"errors"
	"fmt"
	"net/url"
	"regexp"
	"strconv"
	"strings"

	"github.com/vigil-go/vigil/messages"
)

// specialDefaultPorts lists the WHATWG "special" schemes and their default
// ports. Special URLs must have a host, their empty path serialises as "/",
// their host is lowercased and a port equal to the default is dropped.
var specialDefaultPorts = map[string]string{"http": "80", "https": "443", "ws": "80", "wss": "443", "ftp": "21"}

// parseURL parses a URL-typed value as the original's URL type (WHATWG
// rules) accepts it, normalised: surrounding spaces and control characters
// dropped; absolute only, scheme lowercased; the special schemes (http,
// https, ws, wss, ftp) need a host, which is lowercased, lose a default port
// and get "/" for an empty path; a port is at most 65535; other schemes
// (mailto:, tcp://, …) are kept as written. Not reproduced: IDNA, IPv4
// shorthands ("0x7f.1") and backslashes as slashes.
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

// Error quotes the value without its password or query values: invalid
// URL "x": reason.
func (e *urlError) Error() string {
	return fmt.Sprintf("invalid URL %q: %s", messages.RedactURL(e.raw), e.reason)
}

// redacted words the error without the value, for secret keys.
func (e *urlError) redacted() string { return "invalid URL (value not shown): " + e.reason }

// escapeStrayPercent replaces every '%' that is not followed by two
// hexadecimal digits with "%25".
func escapeStrayPercent(s string) string {
	return regexp.MustCompile(`%([0-9a-fA-F]{2})?`).ReplaceAllStringFunc(s, func(m string) string {
		if m == "%" {
			return "%25"
		}
		return m
	})
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
