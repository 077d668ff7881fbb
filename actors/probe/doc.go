// Package probe implements single probe attempts for poll replicas (HTTP(S),
// TCP, SSH, ICMP) and script replicas (spec §4.3–§4.7).
//
// Everything here is a plain function or a small immutable value: a Prober
// runs ONE attempt when asked and returns a messages.ProbeResult. There is no
// scheduling, no retry and no state between calls; the replica actor decides
// when to call Probe and how often to retry. A Prober is safe for concurrent
// use. A call starts no goroutine that outlives it (library-internal helper
// goroutines — net/http, x/crypto/ssh, pro-bing, os/exec — are joined or
// end when the call's connections close), and it closes every socket and
// file it opened before returning.
//
// Poll results go through Classify: not up → dead, up but slower than
// poll_delay_sick → sick, else healthy. Script results are decided by the
// exit code alone (0 healthy, 1 sick, anything else dead); their latency is
// only reported.
//
// Deviations from the original, on purpose:
//   - the HTTP cache-buster is inserted into the query component, never
//     after a #fragment (spec §11 item 11);
//   - scripts have a timeout (metrics.script_timeout, else script_interval,
//     else 5 min); on expiry the whole process group is killed (§11 item 9);
//   - scripts get /dev/null as stdin, stdout and stderr instead of Vigil's
//     own stdin and captured pipes: output was discarded anyway, and a
//     background grandchild holding a pipe open can no longer stall the probe;
//   - a non-positive poll_delay_dead is treated as the 10 s default instead of
//     an instant timeout.
package probe
