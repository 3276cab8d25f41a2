package upstream

import (
	"context"
	"errors"
	"time"
)

// fetch makes up to 1+retries attempts. It retries ErrUnavailable (5xx,
// timeout, refused connection) after a backoff, and a 429 whose Retry-After
// fits within maxWait after that wait; every other error is returned at
// once. When the circuit opens during the retries, the loop stops with the
// last upstream error, which says more (status, message) than the open
// circuit. It never starts a wait that would end after the latest deadline
// of the callers sharing f: it returns the last error instead.
func (c *Client) fetch(ctx context.Context, f *flight, token Token, page int, sort Sort) (Page, error) {
	var last error
	for n := 0; ; n++ {
		if n > 0 {
			c.metrics.retries.Inc()
		}
		p, err := c.try(ctx, token, page, sort, n)
		if err == nil {
			return p, nil
		}
		if ctx.Err() != nil {
			return Page{}, ctx.Err()
		}
		if errors.Is(err, ErrCircuitOpen) && last != nil {
			return Page{}, last
		}
		last = err
		f.setLastErr(err)
		wait, ok := c.retryWait(err, n)
		if !ok {
			return Page{}, err
		}
		if dl, ok := f.deadline(); ok && c.now().Add(wait).After(dl) {
			return Page{}, err
		}
		if c.sleep(ctx, wait) != nil {
			return Page{}, ctx.Err()
		}
	}
}

// try is one attempt as the resilience options see it: through the circuit
// breaker (so that a retry loop stops as soon as the breaker opens), then
// through the concurrency bound (so that an open breaker answers without
// queueing for a slot), then over HTTP.
func (c *Client) try(ctx context.Context, token Token, page int, sort Sort, n int) (Page, error) {
	return c.guard(func() (Page, error) {
		release, err := c.acquire(ctx)
		if err != nil {
			return Page{}, err
		}
		defer release()
		return c.attempt(ctx, token, page, sort, n)
	})
}

// retryWait says whether attempt n (0-based), which failed with err, is
// followed by another one, and after how long.
func (c *Client) retryWait(err error, n int) (time.Duration, bool) {
	if n >= c.retries || errors.Is(err, ErrCircuitOpen) {
		return 0, false
	}
	var e *Error
	if !errors.As(err, &e) {
		return 0, false
	}
	switch e.Kind {
	case ErrUnavailable:
		return c.backoff(n), true
	case ErrRateLimited:
		if e.retryAfterKnown && e.RetryAfter <= c.maxWait {
			return e.RetryAfter, true
		}
	}
	return 0, false
}
