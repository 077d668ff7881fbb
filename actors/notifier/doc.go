// Package notifier holds the notifier actor: one per configured notifier.
//
// Owns: its bounded mailbox, its delivery counters, and the retry state of
// the notification it is delivering. It knows nothing about statuses.
//
// Receives: messages.Notification on its mailbox, from the state actor,
// which never blocks on it (a full mailbox loses its oldest entry).
//
// Sends: one provider call per attempt (an HTTP request, an SMTP session,
// an XMPP stanza…). A failed attempt is retried with exponential backoff;
// each attempt has its own timeout, so a hanging endpoint delays only this
// notifier's own queue — never probing, the page, or another notifier.
//
// Restart: Serve keeps no state across runs except the counters; a
// notification being delivered when the actor is stopped is lost.
package notifier
