package history

import "strings"

// Record keys. Every key starts with its kind and a fixed-width lowercase
// hex time, so that the records of one kind sort by time and the ones past
// their retention form a single key range:
//
//	h/<hour:8>/<subject>       hourly bucket (unix hour)
//	d/<day:8>/<subject>        daily bucket (unix day, 00:00 UTC)
//	i/<start ms:16>/<service>  incident of a service
//	a/<first ms:16>/<id>       announcement (time of its first record)
//	m/flush                    time of the last Flush
//
// A subject is "p" (the page), "s/<service>" or "n/<service>/<node>",
// where every id is escaped ('%' as "%25", '/' as "%2F") so that a subject
// never contains an id's slash and the mapping is one to one.
const (
	prefixHour         = "h/"
	prefixDay          = "d/"
	prefixIncident     = "i/"
	prefixAnnouncement = "a/"
	keyMeta            = "m/flush"

	subjectPage = "p"

	bucketWidth = 8  // hex digits of an hour or day number
	msWidth     = 16 // hex digits of a millisecond time
)

// escape makes an id safe inside a key.
func escape(id string) string {
	if !strings.ContainsAny(id, "%/") {
		return id
	}
	var b strings.Builder
	b.Grow(len(id) + 8)
	for i := 0; i < len(id); i++ {
		switch id[i] {
		case '%':
			b.WriteString("%25")
		case '/':
			b.WriteString("%2F")
		default:
			b.WriteByte(id[i])
		}
	}
	return b.String()
}

// unescape reverses escape; false when s is not an escaped id.
func unescape(s string) (string, bool) {
	if !strings.Contains(s, "%") {
		return s, !strings.Contains(s, "/")
	}
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '/':
			return "", false
		case s[i] != '%':
			b.WriteByte(s[i])
		case strings.HasPrefix(s[i:], "%25"):
			b.WriteByte('%')
			i += 2
		case strings.HasPrefix(s[i:], "%2F"):
			b.WriteByte('/')
			i += 2
		default:
			return "", false
		}
	}
	return b.String(), true
}

func serviceSubject(sid string) string { return "s/" + escape(sid) }

func nodeSubject(sid, nid string) string { return "n/" + escape(sid) + "/" + escape(nid) }

// timeKey is prefix + v in width hex digits + "/" + rest (rest "" leaves
// out the slash: the bound of a key range).
func timeKey(prefix string, v int64, width int, rest string) string {
	const digits = "0123456789abcdef"
	b := make([]byte, 0, len(prefix)+width+1+len(rest))
	b = append(b, prefix...)
	u := uint64(max(v, 0))
	for i := width - 1; i >= 0; i-- {
		b = append(b, digits[(u>>(4*uint(i)))&0xf])
	}
	if rest != "" {
		b = append(b, '/')
		b = append(b, rest...)
	}
	return string(b)
}

func hourKey(h int32, subject string) string {
	return timeKey(prefixHour, int64(h), bucketWidth, subject)
}

func dayKey(d int32, subject string) string {
	return timeKey(prefixDay, int64(d), bucketWidth, subject)
}

func incidentKey(start int64, service string) string {
	return timeKey(prefixIncident, start, msWidth, service)
}

func announcementKey(first int64, id string) string {
	return timeKey(prefixAnnouncement, first, msWidth, escape(id))
}

// parseKey splits a time-prefixed key into its kind ('h', 'd', 'i' or
// 'a'), its time and the rest; false for any other key.
func parseKey(key string) (kind byte, v int64, rest string, ok bool) {
	if len(key) < 2 || key[1] != '/' {
		return 0, 0, "", false
	}
	kind = key[0]
	width := 0
	switch kind {
	case 'h', 'd':
		width = bucketWidth
	case 'i', 'a':
		width = msWidth
	default:
		return 0, 0, "", false
	}
	if len(key) < 2+width+2 || key[2+width] != '/' {
		return 0, 0, "", false
	}
	var u uint64
	for _, c := range []byte(key[2 : 2+width]) {
		switch {
		case c >= '0' && c <= '9':
			u = u<<4 | uint64(c-'0')
		case c >= 'a' && c <= 'f':
			u = u<<4 | uint64(c-'a'+10)
		default:
			return 0, 0, "", false
		}
	}
	if u > 1<<62 {
		return 0, 0, "", false
	}
	return kind, int64(u), key[3+width:], true
}
