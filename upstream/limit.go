package upstream

import (
	"context"
	"fmt"
	"time"

	"golang.org/x/sync/semaphore"
)

// WithMaxConcurrency bounds the HTTP attempts in flight at once to n
// (UPSTREAM_MAX_CONCURRENCY); 0 means no bound. An attempt beyond the bound
// waits for a slot; when every caller of that call goes away meanwhile, it
// gives up without calling the upstream. The bound protects the upstream
// (and our sockets) from a burst, and turns overload into queueing that the
// callers' deadlines cut.
func WithMaxConcurrency(n int) Option {
	return func(c *Client) {
		if n < 0 {
			c.setErr(fmt.Errorf("upstream: max concurrency must not be negative, got %d", n))
			return
		}
		c.slots = nil
		if n > 0 {
			c.slots = semaphore.NewWeighted(int64(n))
		}
	}
}

// acquire takes a slot for one attempt (waiting while ctx allows) and
// returns the function that gives it back. Its error is ctx's.
func (c *Client) acquire(ctx context.Context) (release func(), err error) {
	if c.slots != nil {
		start := time.Now()
		err := c.slots.Acquire(ctx, 1)
		c.metrics.concurrencyWait.Observe(time.Since(start).Seconds())
		if err != nil {
			return nil, err
		}
	}
	c.metrics.inFlight.Inc()
	return func() {
		c.metrics.inFlight.Dec()
		if c.slots != nil {
			c.slots.Release(1)
		}
	}, nil
}
