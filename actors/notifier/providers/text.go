package providers

import (
	"strings"
	"unicode/utf8"

	"github.com/vigil-go/vigil/messages"
)

// Text pieces shared by the providers (spec §6.1).

// statusTitle is the capitalised status: Healthy, Sick, Dead.
func statusTitle(s messages.Status) string {
	n := s.String()
	return strings.ToUpper(n[:1]) + n[1:]
}

// statusIcon is the emoji of a status: ✅, ⚠ (no variation selector), ❌.
func statusIcon(s messages.Status) string {
	switch s {
	case messages.Sick:
		return "\u26a0"
	case messages.Dead:
		return "\u274c"
	}
	return "\u2705"
}

// nodesText joins the dead replicas with ", ".
func nodesText(n messages.Notification) string { return strings.Join(n.Replicas, ", ") }

// leadChanged is "Status started up, as" / "Status changed to" / "Status is
// still" (without the colon) for a notification kind.
func lead(n messages.Notification) string {
	switch n.Kind {
	case messages.Startup:
		return "Status started up, as"
	case messages.Reminder:
		return "Status is still"
	}
	return "Status changed to"
}

// reportLine is the first line of email and Webex messages.
func reportLine(n messages.Notification, title string) string {
	switch n.Kind {
	case messages.Startup:
		return "Status startup alert from: " + title
	case messages.Reminder:
		return "Status unchanged reminder from: " + title
	}
	return "Status change report from: " + title
}

// shortPrefix is the SMS/XMPP prefix: "Startup alert for: ", "Reminder
// for: " or nothing for a change.
func shortPrefix(n messages.Notification) string {
	switch n.Kind {
	case messages.Startup:
		return "Startup alert for: "
	case messages.Reminder:
		return "Reminder for: "
	}
	return ""
}

// truncateBytes cuts s to at most max bytes on a rune boundary, appending
// marker (counted in max) when it cuts. It never splits a UTF-8 sequence.
func truncateBytes(s string, max int, marker string) string {
	if len(s) <= max {
		return s
	}
	cut := max - len(marker)
	if cut < 0 {
		cut = 0
	}
	for cut > 0 && !utf8.RuneStart(s[cut]) {
		cut--
	}
	return s[:cut] + marker
}

// truncateRunes cuts s to at most max runes, appending marker (counted in
// max) when it cuts.
func truncateRunes(s string, max int, marker string) string {
	if utf8.RuneCountInString(s) <= max {
		return s
	}
	keep := max - utf8.RuneCountInString(marker)
	if keep < 0 {
		keep = 0
	}
	i := 0
	for n := 0; n < keep; n++ {
		_, size := utf8.DecodeRuneInString(s[i:])
		i += size
	}
	return s[:i] + marker
}
