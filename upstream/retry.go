package upstream

import (
	"context"
	"errors"
	"time"
)

// fetch makes up to 1+retries attempts. It retries ErrUnavailable (5xx,
// timeout, refused connection) after a backoff, and a 429 whose Retry-After
// fits within maxWait after that wait; every other error is returned at
// once. It never starts a wait that would end after the latest deadline of
// the callers sharing f: it returns the last error instead.
func (c *Client) fetch(ctx context.Context, f *flight, token Token, page int, sort Sort) (Page, error) {
	for n := 0; ; n++ {
		if n > 0 {
			c.metrics.retries.Inc()
		}
		p, err := c.attempt(ctx, token, page, sort, n)
		if err == nil {
			return p, nil
		}
		if ctx.Err() != nil {
			return Page{}, ctx.Err()
		}
		f.setLastErr(err)
		wait, ok := c.retryWait(err, n)
		if !ok {
			return Page{}, err
		}
		if dl, ok := f.deadline(); ok && time.Now().Add(wait).After(dl) {
			return Page{}, err
		}
		if c.sleep(ctx, wait) != nil {
			return Page{}, ctx.Err()
		}
	}
}

// retryWait says whether attempt n (0-based), which failed with err, is
// followed by another one, and after how long.
func (c *Client) retryWait(err error, n int) (time.Duration, bool) {
	if n >= c.retries {
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
