// Package queue holds the RabbitMQ queue checker actor (spec §2.7, §4.10,
// §5.2; fixes §11 item 12).
//
// A Checker owns the queue checks of ONE push node that has rabbitmq_queue
// (built only when [plugins.rabbitmq] exists): their schedule, their HTTP
// calls to the management API and the verdict thresholds. It never touches
// replicas; the node actor does (package actors/node).
//
// Receives: messages.QueueSignal on a channel of capacity 1 (NewSignals)
// that its node actor alone writes, keeping only the latest, merged signal
// in it. Check asks for a check (the node actor sets it on every accepted
// push report); Active says whether the node has a live replica.
//
// Sends: messages.QueueReading to its node actor's mailbox after every
// check, without blocking: when the mailbox is full the reading is dropped
// (and counted) — the next one will come. Its counters (Spec.Counters,
// shared by the checkers of a tree) are read by /metrics.
//
// Schedule:
//
//   - Coalescing: checks run one at a time in the actor's own goroutine, and
//     check requests arriving meanwhile collapse into the one slot of the
//     signal channel, so a burst of reports costs at most one check in
//     flight plus one pending, never a burst of API calls. Two checks of a
//     node start at least Spec.MinGap apart (default 1 s).
//   - Timer: while the node is Active, the queue is re-checked every
//     Spec.Recheck (default 15 s) after the previous check even when no
//     report arrives; when the node has no live replica left the timer stops.
//   - Bounded concurrency: every checker of the tree shares one Limiter, so
//     at most its size API calls run at once across all nodes. A checker
//     does not hold a slot while it waits for queue_loaded_retry_delay.
//
// The check (§4.10): GET <api_url>/api/queues/<vhost>/<queue> (the path
// replaces any path of api_url; query and fragment are dropped), HTTP Basic
// auth, "User-Agent: vigil (+<page_url>)", no redirects (a 3xx is a
// failure), timeout poll_delay_dead. A 200 answer whose JSON has integer
// messages_ready and messages_unacknowledged gives the counts; loaded =
// ready >= queue_ready_healthy_below || unacked >= nack_healthy_below;
// stalled = ready > queue_ready_dead_above || unacked > nack_dead_above (the
// node's rabbitmq_queue_nack_* values override the plugin's). When loaded
// and queue_loaded_retry_delay is set, the queue is read once more after
// that delay and the second reading replaces the first entirely.
//
// Path encoding (a fix over the original, which inserted the values
// verbatim so that the default vhost "/" had to be written "%2F"): the
// vhost and the queue name are each one path segment, escaped with
// url.PathEscape ("/" becomes %2F, " " becomes %20) and sent as RawPath. A
// configured value containing a %XX sequence is taken as already encoded —
// as the original required — and decoded once with url.PathUnescape before
// being escaped; a value with a malformed % sequence is used verbatim. So
// virtualhost = "/" and virtualhost = "%2F" both address the default vhost,
// and "vigil/test" and "vigil%2Ftest" both address the vhost "vigil/test".
// (A vhost or queue whose real name contains a literal "%41"-like sequence
// must therefore be written with its % encoded, "%2541".)
//
// Failures (a decision, spec §11 item 12): a network error, a timeout, a
// non-200 answer (401 for a wrong password, 404 for an unknown queue or
// vhost, 3xx), or a body without integer counts gives a reading with Err
// set, Loaded and Stalled false and no counts. It does NOT change the
// node's status: a broken monitoring dependency must not page people for an
// application outage. It is not silent either (the original read it as a
// healthy queue without a trace): the node actor shows Err on the replica
// tooltips (messages.Queue.Err), the checker logs a warning when the error
// changes (not once per failed check) and an info line when the queue is
// readable again, and Counters.Failures counts every failed API call for
// the metrics (vigil_queue_check_failures_total).
package queue
