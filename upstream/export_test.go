package upstream

import (
	"context"
	"time"
)

// WithSleep replaces the wait between attempts, so that tests never sleep.
func WithSleep(f func(ctx context.Context, d time.Duration) error) Option {
	return func(c *Client) { c.sleep = f }
}

// SetMemoryCacheClock replaces the clock that expires MemoryCache entries.
func SetMemoryCacheClock[T any](m *MemoryCache[T], now func() time.Time) { m.now = now }
