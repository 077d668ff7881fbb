// Package state is the central state actor.
//
// Owns: every replica, node, service and general status (the Model), the
// announcements, the alerting state (last status evaluated, reminder
// counters and times, the ignore window, and the outbox: per notifier, the
// newest notification it has not delivered), what changed since the last
// store write, and the generation counter of published snapshots. Nothing
// else holds status state.
//
// Receives, on its inbox (messages.StateMessage): ReplicaProbed from
// replica actors; ReplicaUpdated and ReplicaRemoved from node actors;
// AnnouncementAdd, AnnouncementRemove and IgnoreSet from the web layer
// (Manager API, answered on their reply channel); and its own Tick every
// 10 seconds. On its Delivered channel: messages.NotificationDelivered from
// the notifier actors, which clears that notifier's outbox slot if it
// still holds the notification delivered (kept apart from the inbox so
// that a stopping actor takes in the reports already sent, and only
// those). On a separate control channel: configuration reloads, in two
// steps so that the supervisor tree can make a reload all-or-nothing:
// Prepare, which fails when the actor does not take the change, after which
// the actor holds it and waits; then Commit (applies it, cannot fail) or
// Abort.
//
// Sends: messages.Notification to every notifier mailbox without ever
// blocking (a full mailbox loses its oldest entry, counted by Dropped),
// each with an ID no other notification has, and each but the startup
// notification put in every notifier's outbox slot in the same store
// batch as the alerting state that decided it (so the store never says a
// notification was sent that a notifier has not delivered); when it
// starts, and when a reload changes the notifiers, each notifier is handed
// what its slot holds (a notifier removed from the configuration loses
// its slot);
// requests to the store's single writer (the Writer interface,
// implemented by the store writer actor and wired by the supervisor tree;
// see storelink.go), only when the writer has room: batches of changes at
// most once a second and at once for notifications; each Manager API
// change as a batch of its own, applied to the model only once the writer
// says it is durable (a change the store did not take is answered with the
// error and shows nowhere); its whole state (FullState) when the writer
// says the store may not hold it (damaged, a lost batch) or a write
// failed, retried with backoff; and a last batch (or rebuild) when the
// actor stops, which it waits (boundedly) to see written; immutable
// messages.Snapshot values to a Published holder that the web layer reads
// without ever waiting on the actor. It never writes the store itself: it
// reads it (Loader) when it starts, and hears back from the writer (its
// replies, in order, and its Stale signal).
//
// Backpressure: senders block on the inbox (guarded by their own context);
// the actor only does in-memory work per message, so the inbox drains fast.
// Snapshots are coalesced: a change after a quiet period is published at
// once, further changes at most once per PublishEvery; a Manager API change
// is stored, then published, then answered. A ReplicaUpdated or
// ReplicaRemoved that carries a Visible channel (a reporter API write) is
// published as soon as the inbox is drained, and its generation is then
// sent on that channel without blocking, so the web layer knows which
// snapshot shows it.
// Generations keep increasing across internal restarts.
//
// Restart: Serve rebuilds the model from the configuration and the store
// (when there is one); probes repopulate the rest within one interval. The
// startup notification is sent by the first run of the process only, and
// is not kept in the outbox (a process that stops before delivering it is
// followed by one that sends its own); then the stored outbox is handed to
// the notifiers, so an alert undelivered when the previous process (or
// run) stopped is delivered now.
package state
