// Package node holds the push/local node actor and the Router that the web
// layer uses to reach it.
//
// A node actor owns ONE push (Vigil Reporter) or local (Vigil Local) node:
// the replicas that reported to it, their last reports and their deadlines.
// A replica is dead when no report arrived within its interval plus
// push_delay_dead (local: local_delay_dead); a push replica is sick when its
// CPU or RAM load is strictly above the configured threshold (compared as
// 32-bit floats, like the original); a local replica has the health it
// reported.
//
// A push node with a RabbitMQ queue (spec §4.10) also keeps the last
// messages.QueueReading of its queue checker (package actors/queue). A
// live push replica's status is then, in order (§5.2): sick when its CPU
// or RAM is above the threshold, else dead when the queue is stalled, else
// sick when it is loaded, else healthy; an expired replica is dead
// whatever the queue. A reading whose Err is set has Loaded and Stalled
// false, so an unreadable queue never changes a status; it only shows
// (Queue.Err) in the tooltips.
//
// Receives: messages.Report and messages.Flush on its mailbox (from the web
// layer, through the Router), each answered on its reply channel; and
// messages.QueueReading (from its queue checker, which never blocks on the
// mailbox), which it applies to every replica at once: live replicas are
// re-evaluated, expired ones only get the new counts.
//
// Sends: messages.ReplicaUpdated (carrying the queue reading as
// messages.Queue) on every report, every expiry, and every reading that
// changes a replica's status, cause or queue information, and
// messages.ReplicaRemoved on a flush, to the state actor's inbox (blocking
// only until its own context ends). The update that follows an accepted
// report or flush carries the request's Visible channel, if any, so that
// the state actor tells the web layer which snapshot shows it. To its queue checker, when it has one
// (Spec.QueueSignals), messages.QueueSignal: Check on every accepted push
// report, and Active when the node gains its first live replica or loses
// its last one (and once at start). That channel has one slot and the node
// actor is its only writer: it takes a pending signal back out and merges
// it before putting the new one, so it never blocks and reports coalesce.
//
// Backpressure: the Router never blocks a request on a full mailbox; it
// answers ErrBusy (HTTP 503) instead.
//
// Restart: the replicas, deadlines and last queue reading are per-run
// state. The first run starts from Spec.Restore (the stored replicas of a
// process restart); a run after an internal restart starts from
// Spec.Reseed (the replicas as last published), so replicas that stop
// reporting still expire on their deadlines. The queue reading is not
// kept: the checker is told where the node stands and checks again.
package node
