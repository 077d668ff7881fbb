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
		// WHATWG keeps a '%' that starts no escape as it is; Go refuses it.
		// Escape such a '%' so the URL means the same and loads.
		u, err = url.Parse(regexp.MustCompile(`%([0-9a-fA-F]{2})?`).ReplaceAllStringFunc(s, func(m string) string {
			if m == "%" {
				return "%25"
			}
			return m
		}))
	}
	// The value is quoted without its password or query values; the reason
	// is wrapped, for secrets, whose value is never shown.
	invalid := func(reason string) (*url.URL, error) {
		return nil, fmt.Errorf("invalid URL %q: %w", messages.RedactURL(raw), errors.New(reason))
	}
	if ue := (*url.Error)(nil); errors.As(err, &ue) {
		return invalid(ue.Err.Error())
	} else if err != nil {
		return invalid(err.Error())
	}
	switch port, _ := strconv.Atoi(u.Port()); {
	case u.Scheme == "":
		return invalid("not absolute (a scheme such as https:// is required)")
	case port > 65535:
		return invalid(fmt.Sprintf("invalid port %q", u.Port()))
	}
	defaultPort, special := specialDefaultPorts[strings.ToLower(u.Scheme)]
	if special && (u.Opaque != "" || u.Hostname() == "") {
		return invalid("missing host")
	}
	u.Scheme = strings.ToLower(u.Scheme)
	if special {
		u.Host = strings.TrimSuffix(strings.TrimSuffix(strings.ToLower(u.Host), ":"+defaultPort), ":")
		if u.Path == "" {
			u.Path, u.RawPath = "/", ""
		}
	}
	return u, nil
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
