package notifier

import (
	"context"
	"errors"
	"log/slog"
	"math/rand/v2"
	"sync/atomic"
	"time"

	"github.com/vigil-go/vigil/messages"
)

// Provider delivers notifications over one channel.
type Provider interface {
	// Kind is the notifier's table name, e.g. "webhook".
	Kind() string
	// Send delivers n once. A provider with several recipients reports the
	// ones that failed with a *PartialError and is then called again with
	// only those (see Recipients).
	Send(ctx context.Context, n messages.Notification, only []int) error
}

// PartialError reports which recipients (by index) failed.
type PartialError struct {
	Failed []int
	Err    error
}

func (e *PartialError) Error() string { return e.Err.Error() }
func (e *PartialError) Unwrap() error { return e.Err }

// Options tune delivery. The zero value is the production behaviour.
type Options struct {
	// RemindersOnly delivers reminders only (no startup or change
	// notifications).
	RemindersOnly bool
	// Attempts, when above 0, bounds the attempts per notification, after
	// which it is dropped (counted by Stats.Dropped). The default, 0, is
	// to try until delivered or superseded.
	Attempts int
	// Backoff is the pause before the second attempt, doubled for each
	// further one up to MaxBackoff (default 2 s).
	Backoff time.Duration
	// MaxBackoff caps the pause between two attempts (default 5 min).
	MaxBackoff time.Duration
	// Jitter turns the computed pause d into the one taken. The default
	// takes a random pause in [3d/4, d], so that notifiers that failed
	// together do not retry in step.
	Jitter func(d time.Duration) time.Duration
	// Timeout of one attempt (default 10 s).
	Timeout time.Duration
	// MailboxSize (default 32).
	MailboxSize int
	// Delivered, when set, is told about every notification with an ID
	// that the actor is done with: delivered, or skipped (RemindersOnly).
	// The state actor's Delivered channel.
	Delivered chan<- messages.NotificationDelivered
	// MaySend, when set, is asked immediately before every attempt: when
	// it says no (this instance no longer leads, see package cluster), the
	// actor drops what it holds without sending it or reporting it
	// delivered, so that the outbox keeps it for whoever leads now.
	MaySend func() bool
}

// Stats are the actor's delivery counters.
type Stats struct {
	// Delivered counts notifications delivered; Failed, attempts that
	// failed; Retried, attempts after the first of a notification;
	// Skipped, notifications of a kind this notifier does not send;
	// Superseded, notifications replaced by a newer one before they were
	// delivered; Dropped, notifications given up after Options.Attempts.
	Delivered, Failed, Retried, Skipped, Superseded, Dropped uint64
}

// delivery is the notification being delivered and its retry state.
type delivery struct {
	n       messages.Notification
	attempt int   // attempts made
	only    []int // recipients still to reach (nil: all)
}

// Actor is one notifier actor. See the package documentation.
type Actor struct {
	provider Provider
	opt      Options
	mailbox  chan messages.Notification
	logger   *slog.Logger

	// Kept across restarts of Serve, and used by Serve only: the
	// notification being delivered, the newest one waiting behind a
	// startup notification being delivered, the ID of the last one done
	// with and the report of it not yet handed to Options.Delivered.
	current  *delivery
	next     *messages.Notification
	lastDone string
	report   *messages.NotificationDelivered

	delivered, failed, retried, skipped, superseded, dropped atomic.Uint64
}

// New builds a notifier actor around a provider.
func New(p Provider, opt Options, logger *slog.Logger) *Actor {
	if opt.Backoff <= 0 {
		opt.Backoff = 2 * time.Second
	}
	if opt.MaxBackoff <= 0 {
		opt.MaxBackoff = 5 * time.Minute
	}
	opt.MaxBackoff = max(opt.MaxBackoff, opt.Backoff)
	if opt.Jitter == nil {
		opt.Jitter = func(d time.Duration) time.Duration { return d - rand.N(d/4+1) }
	}
	if opt.Timeout <= 0 {
		opt.Timeout = 10 * time.Second
	}
	if opt.MailboxSize <= 0 {
		opt.MailboxSize = 32
	}
	return &Actor{
		provider: p, opt: opt,
		mailbox: make(chan messages.Notification, opt.MailboxSize),
		logger:  logger.With("actor", "notifier", "notifier", p.Kind()),
	}
}

// Mailbox is where the state actor puts notifications.
func (a *Actor) Mailbox() chan messages.Notification { return a.mailbox }

// Kind is the provider's kind.
func (a *Actor) Kind() string { return a.provider.Kind() }

// Stats returns the delivery counters.
func (a *Actor) Stats() Stats {
	return Stats{Delivered: a.delivered.Load(), Failed: a.failed.Load(), Retried: a.retried.Load(),
		Skipped: a.skipped.Load(), Superseded: a.superseded.Load(), Dropped: a.dropped.Load()}
}

func (a *Actor) String() string { return "notifier " + a.provider.Kind() }

// Serve delivers the newest notification it has until ctx ends: each
// attempt at once when a notification arrives, and after a failure again
// after a backoff pause, unless a newer notification arrives first and
// takes its place. A restarted Serve goes on with the notification it
// was delivering.
func (a *Actor) Serve(ctx context.Context) error {
	retry := time.NewTimer(0) // the first attempt of a resumed delivery
	defer retry.Stop()
	if a.current == nil {
		retry.Stop()
	}
	for {
		// The report of the last notification done with, if any, is sent
		// as soon as the state actor takes it, without holding up anything.
		var reports chan<- messages.NotificationDelivered
		var report messages.NotificationDelivered
		if a.report != nil {
			reports, report = a.opt.Delivered, *a.report
		}
		select {
		case <-ctx.Done():
			return ctx.Err()
		case n := <-a.mailbox:
			if a.receive(n) {
				retry.Reset(0)
			}
			continue
		case reports <- report:
			a.report = nil
			continue
		case <-retry.C:
		}
		// Take whatever came meanwhile first: only the newest is sent.
		if a.takeMailbox() {
			retry.Reset(0)
			continue
		}
		if a.current == nil {
			continue
		}
		if wait, again := a.attempt(ctx); again {
			retry.Reset(wait)
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
	}
}

// takeMailbox receives every notification already queued; it reports
// whether one of them is now to be delivered.
func (a *Actor) takeMailbox() bool {
	fresh := false
	for {
		select {
		case n := <-a.mailbox:
			if a.receive(n) {
				fresh = true
			}
		default:
			return fresh
		}
	}
}

// receive takes one notification from the mailbox. It reports whether n
// is now the notification to deliver (a first attempt is due).
//
// n supersedes the notification being delivered, except a startup
// notification: that one is delivered first, and n waits behind it
// (superseding whatever waited there).
func (a *Actor) receive(n messages.Notification) bool {
	if n.ID != "" {
		switch {
		case a.current != nil && n.ID == a.current.n.ID, a.next != nil && n.ID == a.next.ID:
			return false // handed over again (state actor restart or reload): already on it
		case n.ID == a.lastDone:
			a.done(n) // delivered before: report it again, do not resend
			return false
		}
	}
	behind := a.current != nil && a.current.n.Kind == messages.Startup
	if behind {
		if a.next != nil {
			a.supersede(*a.next, 0, n)
			a.next = nil
		}
	} else if a.current != nil {
		a.supersede(a.current.n, a.current.attempt, n)
		a.current = nil
	}
	switch {
	case a.opt.RemindersOnly && n.IsChange():
		a.skipped.Add(1)
		a.done(n)
		return false
	case behind:
		a.next = &n
		return false
	}
	a.current = &delivery{n: n}
	return true
}

// supersede counts and logs that old gives way to newer undelivered.
func (a *Actor) supersede(old messages.Notification, attempts int, newer messages.Notification) {
	a.superseded.Add(1)
	a.logger.Info("undelivered notification superseded by a newer one",
		"kind", old.Kind.String(), "status", old.Status.String(), "id", old.ID, "attempts", attempts,
		"newer_kind", newer.Kind.String(), "newer_status", newer.Status.String())
}

// finish ends the delivery of the current notification; the one waiting
// behind it, if any, is next, and reported as due at once.
func (a *Actor) finish() bool {
	a.current = nil
	if a.next == nil {
		return false
	}
	a.current = &delivery{n: *a.next}
	a.next = nil
	return true
}

// done records that the actor is finished with n and queues its report.
func (a *Actor) done(n messages.Notification) {
	if n.ID == "" {
		return
	}
	a.lastDone = n.ID
	if a.opt.Delivered != nil {
		// Only the newest report matters: the state actor's slot never
		// holds an older notification than the newest one sent here.
		a.report = &messages.NotificationDelivered{Notifier: a.provider.Kind(), ID: n.ID}
	}
}

// attempt makes one attempt at the current notification. It returns
// again = true and the pause before the next attempt (at the current
// notification, or at the next one, at once), unless there is nothing more
// to do or ctx ended. The provider gets the replicas with their URL
// secrets masked, whatever it builds from them.
func (a *Actor) attempt(ctx context.Context) (wait time.Duration, again bool) {
	d := a.current
	if a.opt.MaySend != nil && !a.opt.MaySend() {
		a.logger.Warn("notification not sent: this instance no longer leads; the outbox keeps it for the leader",
			"kind", d.n.Kind.String(), "status", d.n.Status.String(), "id", d.n.ID)
		a.current, a.next = nil, nil
		return 0, false
	}
	d.attempt++
	if d.attempt > 1 {
		a.retried.Add(1)
	}
	actx, cancel := context.WithTimeout(ctx, a.opt.Timeout)
	err := a.provider.Send(actx, d.n.Redacted(), d.only)
	cancel()
	if err == nil {
		a.delivered.Add(1)
		a.logger.Info("notification delivered", "kind", d.n.Kind.String(), "status", d.n.Status.String(), "id", d.n.ID, "attempt", d.attempt)
		a.done(d.n)
		return 0, a.finish()
	}
	if ctx.Err() != nil {
		return 0, false // stopping: the outbox keeps it for the next start
	}
	a.failed.Add(1)
	var pe *PartialError
	if errors.As(err, &pe) && len(pe.Failed) > 0 {
		d.only = pe.Failed
	}
	if a.opt.Attempts > 0 && d.attempt >= a.opt.Attempts {
		a.dropped.Add(1)
		a.logger.Error("notification dropped after all attempts failed", "kind", d.n.Kind.String(), "status", d.n.Status.String(),
			"id", d.n.ID, "attempts", d.attempt, "error", err.Error())
		return 0, a.finish()
	}
	wait = a.opt.Jitter(a.backoff(d.attempt))
	a.logger.Warn("notification attempt failed", "kind", d.n.Kind.String(), "status", d.n.Status.String(), "id", d.n.ID,
		"attempt", d.attempt, "retry_in", wait.Round(time.Millisecond).String(), "error", err.Error())
	return wait, true
}

// backoff is the pause after the given number of failed attempts:
// Backoff doubled for each attempt after the first, at most MaxBackoff.
func (a *Actor) backoff(attempts int) time.Duration {
	d := a.opt.Backoff
	for i := 1; i < attempts && d < a.opt.MaxBackoff; i++ {
		d *= 2
	}
	return min(d, a.opt.MaxBackoff)
}
