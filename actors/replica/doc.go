// Package replica holds the poll and script replica actors and the worker
// pools that run their probes.
//
// A replica actor owns ONE poll or script replica: its schedule (a phase
// within the interval derived from its key, so thousands of replicas spread
// evenly instead of firing together), its retry procedure and its attempt
// counter. It receives nothing. It sends messages.ReplicaProbed to the state
// actor's inbox after each probe, blocking on that send only until its own
// context ends.
//
// A Pool owns nothing but a job queue; its Worker services execute probe
// attempts, so at most Pool size probes run at once (poll_parallelism,
// script_parallelism) while replica actors wait on timers and channels with
// small stacks. A panic inside a probe is caught by the worker and re-raised
// in the replica actor that asked for it, so the supervisor restarts that
// actor (with its backoff) and no other.
package replica
