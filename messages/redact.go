package messages

import "strings"

// RedactURL returns s with the secrets of the URL in it masked, for
// showing a replica id anywhere outside the process (page, metrics,
// Manager API, logs, notifications); statuses and the store stay keyed by
// the id as written.
//
//   - Userinfo: the password becomes *** ("user:***@host"); userinfo
//     without a password, often a token itself, becomes "***@host".
//   - Query and fragment: every value becomes *** ("?api_key=***&v=***");
//     an item without "=" becomes *** as a whole.
//
// Scheme, host, port and path are kept. The URL starts at the first "://";
// what comes before it is kept, so a "probe:node:" prefix survives; a
// string without "://" is returned as it is. The authority ends at the
// first "/", "?" or "#", as URL parsers (and so the probes) read it.
// RedactURL is idempotent: a redacted string is returned unchanged.
func RedactURL(s string) string {
	i := strings.Index(s, "://")
	if i < 0 {
		return s
	}
	start := i + len("://")
	end := len(s)
	if j := strings.IndexAny(s[start:], "/?#"); j >= 0 {
		end = start + j
	}
	authority := s[start:end]
	at := strings.LastIndexByte(authority, '@')
	query := strings.IndexAny(s[end:], "?#")
	if at < 0 && query < 0 {
		return s // nothing to mask: no allocation
	}
	var b strings.Builder
	b.Grow(len(s) + 8)
	b.WriteString(s[:start])
	if at >= 0 {
		if user, _, ok := strings.Cut(authority[:at], ":"); ok {
			b.WriteString(user)
			b.WriteString(":***")
		} else {
			b.WriteString("***")
		}
		b.WriteString(authority[at:])
	} else {
		b.WriteString(authority)
	}
	rest := s[end:]
	if query < 0 {
		b.WriteString(rest)
		return b.String()
	}
	b.WriteString(rest[:query])
	rest = rest[query:]
	for rest != "" {
		// rest starts with a delimiter: '?', '#', '&' or ';'.
		b.WriteByte(rest[0])
		rest = rest[1:]
		n := strings.IndexAny(rest, "&;#")
		if n < 0 {
			n = len(rest)
		}
		item := rest[:n]
		rest = rest[n:]
		if item == "" {
			continue
		}
		if key, _, ok := strings.Cut(item, "="); ok {
			b.WriteString(key)
			b.WriteString("=***")
		} else {
			b.WriteString("***")
		}
	}
	return b.String()
}

// String renders the key as "probe:node:replica", the form shown in
// notifications and logs, with the replica's URL secrets masked
// (RedactURL). It is for display only: the fields are the key.
func (k ReplicaKey) String() string { return k.Probe + ":" + k.Node + ":" + RedactURL(k.Replica) }
