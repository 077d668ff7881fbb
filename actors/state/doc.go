// Package state is the central state actor.
//
// Owns: every replica, node, service and general status (the Model), and the
// generation counter of published snapshots. Nothing else holds status state.
//
// Receives: messages.StateMessage values on its inbox — ReplicaProbed from
// replica actors, and its own Tick every 10 seconds.
//
// Sends: messages.Transition to every subscriber mailbox with a non-blocking
// send (a full mailbox drops the transition and counts it; notifier actors
// keep their mailboxes drained), and immutable messages.Snapshot values to a
// Published holder that the web layer reads without ever waiting on the
// actor.
//
// Backpressure: senders block on the inbox (guarded by their own context);
// the actor only does in-memory work per message, so the inbox drains fast.
// Snapshots are coalesced: a change after a quiet period is published at
// once, further changes at most once per PublishEvery.
//
// Restart: Serve rebuilds the model from the configuration; probes
// repopulate it within one interval.
package state
