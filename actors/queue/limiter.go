package queue

import "context"

// Limiter bounds how many management API calls run at once across every
// checker that shares it. A nil *Limiter does not limit.
type Limiter struct {
	slots chan struct{}
}

// NewLimiter allows n calls at once (at least 1).
func NewLimiter(n int) *Limiter {
	return &Limiter{slots: make(chan struct{}, max(n, 1))}
}

// Size is the number of calls allowed at once.
func (l *Limiter) Size() int { return cap(l.slots) }

func (l *Limiter) acquire(ctx context.Context) error {
	if l == nil {
		return ctx.Err()
	}
	select {
	case l.slots <- struct{}{}:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (l *Limiter) release() {
	if l != nil {
		<-l.slots
	}
}
