package upstream

import (
	"context"
	"time"
)

// WithSleep replaces the wait between attempts, so that tests never sleep.
func WithSleep(f func(ctx context.Context, d time.Duration) error) Option {
	return func(c *Client) { c.sleep = f }
}
