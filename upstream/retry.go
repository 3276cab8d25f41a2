package upstream

import (
	"context"
	"errors"
	"math/rand/v2"
	"net"
	"time"
)

// waiters are the callers a call answers: fetch reads the latest of their
// deadlines, and leaves them the last failed attempt's error in case their
// deadline passes.
type waiters interface {
	deadline() (time.Time, bool)
	setLastErr(err error)
}

// fetch makes up to 1+retries attempts of req, as retryWait allows: for an
// idempotent request, after a 5xx, a timeout or a refused connection (with
// a backoff), and after a 429 whose Retry-After fits within maxWait (after
// that wait); for any other, only after a refused connection or such a 429,
// when the upstream cannot have acted on it. Every other error is returned
// at once. When the circuit opens during the retries, the loop stops with
// the last upstream error, which says more (status, message) than the open
// circuit. It never starts a wait that would end after the latest deadline
// of w: it returns the last error instead.
func fetch[T any](ctx context.Context, c *Client, req *request, decode decoder[T], w waiters) (T, error) {
	var zero T
	var last error
	for n := 0; ; n++ {
		if n > 0 {
			c.metrics.retries.Inc()
		}
		v, err := attempt(ctx, c, req, decode, n)
		if err == nil {
			return v, nil
		}
		if ctx.Err() != nil {
			return zero, ctx.Err()
		}
		if errors.Is(err, ErrCircuitOpen) && last != nil {
			return zero, last
		}
		last = err
		w.setLastErr(err)
		wait, ok := c.retryWait(req, err, n)
		if !ok {
			return zero, err
		}
		if dl, ok := w.deadline(); ok && c.now().Add(wait).After(dl) {
			return zero, err
		}
		if c.sleep(ctx, wait) != nil {
			return zero, ctx.Err()
		}
	}
}

// attempt is one attempt as the resilience options see it: through the
// circuit breaker (so that a retry loop stops as soon as the breaker
// opens), then through the concurrency bound (so that an open breaker
// answers without queueing for a slot), then over HTTP.
func attempt[T any](ctx context.Context, c *Client, req *request, decode decoder[T], n int) (v T, err error) {
	err = c.guard(func() error {
		release, err := c.acquire(ctx)
		if err != nil {
			return err
		}
		defer release()
		v, err = exchange(ctx, c, req, decode, n)
		return err
	})
	return v, err
}

// retryWait says whether attempt n (0-based) of req, which failed with err,
// is followed by another one, and after how long.
func (c *Client) retryWait(req *request, err error, n int) (time.Duration, bool) {
	if n >= c.retries || errors.Is(err, ErrCircuitOpen) {
		return 0, false
	}
	var e *Error
	if !errors.As(err, &e) {
		return 0, false
	}
	switch e.Kind {
	case ErrUnavailable:
		// A 5xx or a timeout may come after the upstream acted: only an
		// idempotent request may be sent again then.
		if req.idempotent() || neverSent(e) {
			return c.backoff(n), true
		}
	case ErrRateLimited:
		// The upstream refused the request without acting on it.
		if e.retryAfterKnown && e.RetryAfter <= c.maxWait {
			return e.RetryAfter, true
		}
	}
	return 0, false
}

// neverSent reports a failure to connect (refused, unresolvable host):
// nothing of the request was sent.
func neverSent(err error) bool {
	var op *net.OpError
	return errors.As(err, &op) && op.Op == "dial"
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// backoff is the wait before retry number retry (0-based): full jitter,
// a uniform random duration in [0, min(cap, base·2^retry)]. Full jitter
// spreads the retries of many callers that failed together, so that they
// do not hit a recovering upstream in waves.
func (c *Client) backoff(retry int) time.Duration {
	// Doubling step by step, not base<<retry, which overflows for a large
	// base and would then wait nothing.
	ceil := c.backoffBase
	for i := 0; i < retry && ceil < c.backoffCap; i++ {
		ceil *= 2
	}
	ceil = min(ceil, c.backoffCap)
	if ceil <= 0 {
		return 0
	}
	return rand.N(ceil + 1)
}
