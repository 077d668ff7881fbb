package state

import (
	"slices"

	"github.com/vigil-go/vigil/messages"
)

// The outbox is the part of the alerting state that says what is decided
// but not yet delivered: per notifier kind, one slot holding the newest
// notification that notifier has not delivered. A newer notification
// replaces an older one in the slot (the notifier sends the current
// picture, not a backlog), a delivery clears the slot if it still holds
// what was delivered, and the slots are stored with the alerting state, in
// the same batch as the decision that filled them.

// newPendingWrites is an empty set of changes for the store.
func newPendingWrites() pendingWrites {
	return pendingWrites{replicas: map[messages.ReplicaKey]bool{}, outbox: map[string]bool{}, history: map[string][]byte{}}
}

// Enqueue puts n in the outbox slot of every notifier in notifiers,
// replacing what those slots held, to be stored with the next batch. n
// must have an ID. The startup notification is not enqueued: it is sent
// once per process, and the next process sends its own.
func (m *Model) Enqueue(notifiers []string, n messages.Notification) {
	for _, kind := range notifiers {
		m.outbox[kind] = n
		m.pending.outbox[kind] = true
	}
}

// delivered clears the slot of msg.Notifier if it still holds msg.ID.
func (m *Model) delivered(msg messages.NotificationDelivered) {
	if n, ok := m.outbox[msg.Notifier]; ok && n.ID == msg.ID {
		delete(m.outbox, msg.Notifier)
		m.pending.outbox[msg.Notifier] = false
	}
}

// Undelivered returns what the outbox slot of a notifier holds.
func (m *Model) Undelivered(notifier string) (messages.Notification, bool) {
	n, ok := m.outbox[notifier]
	return n, ok
}

// KeepNotifiers empties the outbox slots of every notifier not in
// notifiers (no longer configured, so nothing will deliver them).
func (m *Model) KeepNotifiers(notifiers []string) {
	for kind := range m.outbox {
		if !slices.Contains(notifiers, kind) {
			delete(m.outbox, kind)
			m.pending.outbox[kind] = false
		}
	}
}
