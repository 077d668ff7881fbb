package notifier

import (
	"context"
	"errors"
	"log/slog"
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

// Options tune delivery.
type Options struct {
	// RemindersOnly delivers reminders only (no startup or change
	// notifications).
	RemindersOnly bool
	// Attempts per notification (default 3).
	Attempts int
	// Backoff before the second attempt, doubled for each further one
	// (default 2 s).
	Backoff time.Duration
	// Timeout of one attempt (default 10 s).
	Timeout time.Duration
	// MailboxSize (default 32).
	MailboxSize int
}

// Stats are the actor's delivery counters.
type Stats struct {
	Delivered, Failed, Retried, Skipped uint64
}

// Actor is one notifier actor. See the package documentation.
type Actor struct {
	provider Provider
	opt      Options
	mailbox  chan messages.Notification
	logger   *slog.Logger

	delivered, failed, retried, skipped atomic.Uint64
}

// New builds a notifier actor around a provider.
func New(p Provider, opt Options, logger *slog.Logger) *Actor {
	if opt.Attempts <= 0 {
		opt.Attempts = 3
	}
	if opt.Backoff <= 0 {
		opt.Backoff = 2 * time.Second
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
	return Stats{Delivered: a.delivered.Load(), Failed: a.failed.Load(), Retried: a.retried.Load(), Skipped: a.skipped.Load()}
}

func (a *Actor) String() string { return "notifier " + a.provider.Kind() }

// Serve delivers notifications in arrival order until ctx ends.
func (a *Actor) Serve(ctx context.Context) error {
	for {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case n := <-a.mailbox:
			if a.opt.RemindersOnly && n.IsChange() {
				a.skipped.Add(1)
				continue
			}
			if err := a.deliver(ctx, n); err != nil && ctx.Err() != nil {
				return ctx.Err()
			}
		}
	}
}

// deliver tries up to Attempts times; after a partial failure only the
// recipients that failed are tried again. The provider gets the replicas
// with their URL secrets masked, whatever it builds from them.
func (a *Actor) deliver(ctx context.Context, n messages.Notification) error {
	n = n.Redacted()
	var only []int
	wait := a.opt.Backoff
	var err error
	for attempt := 1; attempt <= a.opt.Attempts; attempt++ {
		if attempt > 1 {
			a.retried.Add(1)
			t := time.NewTimer(wait)
			select {
			case <-ctx.Done():
				t.Stop()
				return ctx.Err()
			case <-t.C:
			}
			wait *= 2
		}
		actx, cancel := context.WithTimeout(ctx, a.opt.Timeout)
		err = a.provider.Send(actx, n, only)
		cancel()
		if err == nil {
			a.delivered.Add(1)
			a.logger.Info("notification delivered", "kind", n.Kind.String(), "status", n.Status.String(), "attempt", attempt)
			return nil
		}
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var pe *PartialError
		if errors.As(err, &pe) && len(pe.Failed) > 0 {
			only = pe.Failed
		}
		a.logger.Warn("notification attempt failed", "kind", n.Kind.String(), "status", n.Status.String(),
			"attempt", attempt, "of", a.opt.Attempts, "error", err.Error())
	}
	a.failed.Add(1)
	a.logger.Error("notification dropped after all attempts failed", "kind", n.Kind.String(), "status", n.Status.String(), "error", err.Error())
	return err
}
