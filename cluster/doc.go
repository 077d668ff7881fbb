// Package cluster lets several server instances share one PostgreSQL
// database with one voice: exactly one of them (the leader) probes,
// decides statuses and sends notifications, and every one of them serves
// the page and the APIs.
//
// What it holds:
//
//   - Elector (elector.go), the actor that keeps the leader lease: a row
//     with a fencing token (the epoch), renewed by the leader and taken
//     over by another instance once it has expired. Leading tells, at any
//     moment and from any goroutine, whether this instance leads and in
//     which epoch.
//   - Listener (listener.go), the actor that LISTENs for the database's
//     notifications (the leader's state writes, the commands written by
//     other instances) and turns them into signals.
//   - Queue and Consumer (commands.go): the writes an instance that does
//     not lead receives (reports, flushes, Manager changes), recorded in a
//     table for the leader, which applies them to its actors exactly as its
//     own HTTP handlers would and deletes them under its lease.
//
// The package knows nothing of statuses: the supervisor tree wires the
// leader's actors and the followers' mirror (package actors/state) around
// these pieces. See the README's "High availability" section for the
// guarantees and their limits.
package cluster
