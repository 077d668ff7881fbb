package messages

import (
	"fmt"
	"time"
)

// NotificationKind says why a notification is sent.
type NotificationKind uint8

const (
	// Startup is sent once per process start (spec §5.6).
	Startup NotificationKind = iota
	// Changed is sent when the general status enters or leaves dead.
	Changed
	// Reminder repeats an ongoing outage (spec §5.5).
	Reminder
)

// String returns the webhook "type" value: startup, changed or reminder.
func (k NotificationKind) String() string {
	switch k {
	case Startup:
		return "startup"
	case Changed:
		return "changed"
	case Reminder:
		return "reminder"
	}
	return "unknown"
}

// ParseNotificationKind parses a wire name (startup, changed or reminder).
func ParseNotificationKind(s string) (NotificationKind, error) {
	for k := Startup; k <= Reminder; k++ {
		if k.String() == s {
			return k, nil
		}
	}
	return Startup, fmt.Errorf("unknown notification kind %q", s)
}

// MarshalText encodes the wire name; a kind without one is an error, so
// that it cannot be stored and then fail to load.
func (k NotificationKind) MarshalText() ([]byte, error) {
	if k > Reminder {
		return nil, fmt.Errorf("unknown notification kind %d", uint8(k))
	}
	return []byte(k.String()), nil
}

// UnmarshalText decodes the wire name.
func (k *NotificationKind) UnmarshalText(b []byte) error {
	v, err := ParseNotificationKind(string(b))
	if err != nil {
		return err
	}
	*k = v
	return nil
}

// Notification is one alert to deliver.
// Sent by: the state actor. Received by: every notifier actor, through its
// bounded mailbox.
type Notification struct {
	// ID names this notification: the same value on every notifier, every
	// attempt and, for one kept in the outbox, after a restart; a new
	// notification never reuses one (not even in a later process). Empty
	// for notifications the state actor did not make (then nothing is
	// acknowledged).
	ID     string
	Kind   NotificationKind
	Status Status
	// Replicas lists the dead replicas as "probe:node:replica" in order
	// (empty on recovery and at startup).
	Replicas []string
	// Escalated is the reminder escalation counter, 0 when there is none
	// (not a reminder, or reminder_escalate is off).
	Escalated int
	Time      time.Time
}

// IsChange reports whether the notification is a status change or startup
// notification rather than a reminder (the original's "changed" flag).
func (n Notification) IsChange() bool { return n.Kind != Reminder }

// HighPriority reports whether target i (0-based) of a multi-target
// notifier gets a high-priority alert (spec §6.1 escalated_for): never for
// changes and startup; for reminders, every target when escalation is off,
// else the first Escalated targets.
func (n Notification) HighPriority(i int) bool {
	if n.IsChange() {
		return false
	}
	if n.Escalated == 0 {
		return true
	}
	return i < n.Escalated
}

// FormatTS renders t as the original's timestamp string, always in UTC:
// "HH:MM:SS UTC+00:00".
func FormatTS(t time.Time) string {
	return t.UTC().Format("15:04:05") + " UTC+00:00"
}

// Redacted returns n with the URL secrets of its replicas masked
// (RedactURL), as notifiers must show them; n is not changed.
func (n Notification) Redacted() Notification {
	if n.Replicas == nil {
		return n
	}
	reps := make([]string, len(n.Replicas))
	for i, r := range n.Replicas {
		reps[i] = RedactURL(r)
	}
	n.Replicas = reps
	return n
}

// NotificationDelivered says that a notifier is done with a notification:
// it was delivered, or the notifier does not send that kind (a
// reminders_only notifier and a change). The state actor then clears that
// notifier's outbox slot if it still holds this notification (same ID); a
// newer notification in the slot stays.
// Sent by: notifier actors. Received by: the state actor, on its Delivered
// channel.
type NotificationDelivered struct {
	// Notifier is the notifier's kind, e.g. "webhook".
	Notifier string
	// ID is the Notification's ID.
	ID string
}

func (NotificationDelivered) stateMessage() {}
