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
// Receives: messages.Report and messages.Flush on its mailbox (from the web
// layer, through the Router), each answered on its reply channel.
//
// Sends: messages.ReplicaUpdated on every report and every expiry, and
// messages.ReplicaRemoved on a flush, to the state actor's inbox (blocking
// only until its own context ends).
//
// Backpressure: the Router never blocks a request on a full mailbox; it
// answers ErrBusy (HTTP 503) instead.
package node
