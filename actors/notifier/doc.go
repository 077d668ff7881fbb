// Package notifier holds the notifier actor: one per configured notifier.
//
// Owns: its bounded mailbox, its delivery counters, the notification it is
// delivering with its retry state, and the report of the last one it is
// done with. It knows nothing about statuses.
//
// Receives: messages.Notification on its mailbox, from the state actor,
// which never blocks on it (a full mailbox loses its oldest entry): every
// new notification, and, when the state actor starts or the notifiers
// change, the notification its outbox slot still holds.
//
// Sends: one provider call per attempt (an HTTP request, an SMTP session,
// an XMPP stanza…), each with its own timeout, so a hanging endpoint
// delays only this notifier — never probing, the page, or another
// notifier; and messages.NotificationDelivered to the state actor for
// every notification it is done with (delivered, or a change notification
// skipped by a reminders_only notifier), without blocking its deliveries.
//
// Delivery: the actor delivers one notification at a time, the newest it
// has. A failed attempt is retried after a pause that starts at 2 s and
// doubles up to 5 minutes, each pause shortened by a random quarter at
// most (jitter), until the notification is delivered or a newer one
// arrives. A newer notification supersedes the one being retried, and
// everything queued behind it: after an outage of the channel the actor
// sends the current picture once, not the backlog. A multi-recipient
// provider that fails for some recipients is retried for those only.
//
// Guarantees, together with the state actor's outbox (package state):
//
//   - At least once, per notifier, for the newest notification: the state
//     actor stores each notification in every notifier's outbox slot in
//     the same batch as the alerting state that decided it, and clears a
//     slot only when its notifier reports that notification delivered. A
//     notification that is undelivered when the process stops, because the
//     channel is down or the attempt was cut short, is handed to the
//     notifier again at the next start, and retried as above.
//   - Not every notification: an undelivered one is replaced by a newer
//     one for the same notifier (both say what the page is; the newer is
//     right).
//   - Possible duplicates: when the process dies after an attempt reached
//     the channel but before the report of it is stored, or when an
//     attempt that timed out had reached it, the notification is sent
//     again. A resent notification is the same value (same ID, time and
//     content); the Matrix provider derives its transaction id from that
//     value, so the homeserver drops such a duplicate.
//   - With several instances on one database (package cluster), only the
//     leader's notifier actors send, and each asks Options.MaySend right
//     before every attempt: an instance whose lease ran out (it was
//     paused, or lost the database) sends nothing more, and what it held
//     stays in the outbox for the next leader.
//   - The startup notification is not kept in the outbox: it is retried
//     like any other while the process runs, and a process that stops
//     before delivering it is followed by one that sends its own.
//
// Restart: the notification being delivered and the pending report live
// in the Actor, so a restarted Serve goes on with them (its first attempt
// is made at once). A notification handed over again with the ID of the
// one being delivered is ignored; one with the ID of the last one
// delivered is reported again, not resent.
package notifier
