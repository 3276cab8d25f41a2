package upstream_test

import (
	"context"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/botpenguin-gateway/gateway/upstream"
	"github.com/botpenguin-gateway/gateway/upstream/upstreamtest"
)

// fakeClock is a clock that moves only when told to.
type fakeClock struct {
	mu sync.Mutex
	t  time.Time
}

func newFakeClock(t time.Time) *fakeClock { return &fakeClock{t: t} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

func (c *fakeClock) Set(t time.Time) {
	c.mu.Lock()
	c.t = t
	c.mu.Unlock()
}

func TestBackoffIsFullJitter(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	srv.SetFault(upstreamtest.Status(503))
	c, sl := newClient(t, srv.URL, upstream.WithRetries(5, 0), upstream.WithBackoff(10*time.Millisecond, 40*time.Millisecond))
	const rounds = 20
	for range rounds {
		_, err := c.Customers.List(context.Background(), token, 1, upstream.SortCreatedAt)
		require.ErrorIs(t, err, upstream.ErrUnavailable)
	}
	waits := sl.Waits()
	require.Len(t, waits, 5*rounds)
	ceils := []time.Duration{10, 20, 40, 40, 40} // min(cap, base·2^retry), in ms
	belowCeil := 0
	for i, w := range waits {
		ceil := ceils[i%5] * time.Millisecond
		assert.True(t, w >= 0 && w <= ceil, "wait %d (retry %d) = %v, want within [0, %v]", i, i%5, w, ceil)
		if w < ceil {
			belowCeil++
		}
	}
	// Full jitter: the waits are spread over [0, ceil], not pinned to it.
	assert.GreaterOrEqual(t, belowCeil, len(waits)/2, "waits below their ceiling: no jitter?")
}

func TestBackoffWithHugeBaseStillWaits(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	srv.SetFault(upstreamtest.Times(2, upstreamtest.Status(503)))
	// base<<retry would overflow for a base this large; the wait must still
	// be bounded by the cap, not collapse to zero.
	c, sl := newClient(t, srv.URL, upstream.WithBackoff(time.Duration(1)<<40, time.Hour))
	_, err := c.Customers.List(context.Background(), token, 1, upstream.SortCreatedAt)
	require.NoError(t, err)
	for _, w := range sl.Waits() {
		assert.True(t, w >= 0 && w <= time.Hour, "wait %v outside [0, 1h]", w)
	}
}

// A retry wait that would end after the caller's deadline is not started:
// the last error comes back at once. The client reads the time through
// WithClock; the sleeper moves that clock instead of sleeping.
func TestRetryNeverWaitsPastTheDeadline(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	srv.SetFault(upstreamtest.RateLimit("1"))
	now := time.Now()
	clk := newFakeClock(now)
	var waits []time.Duration
	c, _ := newClient(t, srv.URL, upstream.WithRetries(5, 2*time.Second), upstream.WithClock(clk.Now),
		upstream.WithSleep(func(ctx context.Context, d time.Duration) error {
			waits = append(waits, d) // only the flight's goroutine sleeps
			clk.Advance(d)
			return ctx.Err()
		}))
	ctx, cancel := context.WithDeadline(context.Background(), now.Add(2500*time.Millisecond))
	defer cancel()
	_, err := c.Customers.List(ctx, token, 1, upstream.SortCreatedAt)
	var e *upstream.Error
	require.ErrorAs(t, err, &e)
	require.ErrorIs(t, err, upstream.ErrRateLimited)
	require.Equal(t, time.Second, e.RetryAfter)
	// Attempts at +0s and +1s and +2s; a third wait would end at +3s > +2.5s.
	assert.Equal(t, int64(3), srv.Calls(), "upstream calls")
	assert.Len(t, waits, 2, "two 1s waits")
}

func TestRetryAfterDateUsesTheClock(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	// An HTTP date one second after the injected now: a 1s wait, which fits
	// the 2s maximum. With the real clock this date is years away.
	now := time.Date(2031, 5, 6, 7, 8, 9, 0, time.UTC)
	srv.SetFault(upstreamtest.Times(1, upstreamtest.RateLimit(now.Add(time.Second).Format(http.TimeFormat))))
	c, sl := newClient(t, srv.URL, upstream.WithClock(newFakeClock(now).Now))
	_, err := c.Customers.List(context.Background(), token, 1, upstream.SortCreatedAt)
	require.NoError(t, err)
	assert.Equal(t, []time.Duration{time.Second}, sl.Waits(), "one 1s wait")
	assert.Equal(t, int64(2), srv.Calls(), "upstream calls")
}

func TestNewResilienceOptions(t *testing.T) {
	t.Parallel()
	mem := upstream.NewMemoryCache[upstream.Page](10)
	tests := []struct {
		name string
		opt  upstream.Option
		ok   bool
	}{
		{"breaker", upstream.WithBreaker(time.Second), true},
		{"breaker zero cooldown", upstream.WithBreaker(0), false},
		{"concurrency", upstream.WithMaxConcurrency(8), true},
		{"concurrency unlimited", upstream.WithMaxConcurrency(0), true},
		{"concurrency negative", upstream.WithMaxConcurrency(-1), false},
		{"cache", upstream.WithCache(mem, time.Minute, time.Hour), true},
		{"cache off", upstream.WithCache(nil, 0, 0), true},
		{"cache nil", upstream.WithCache(nil, time.Minute, 0), false},
		{"cache negative ttl", upstream.WithCache(mem, -time.Second, 0), false},
		{"cache negative stale", upstream.WithCache(mem, time.Second, -time.Second), false},
		{"cache key secret", upstream.WithCacheKeySecret(make([]byte, 32)), true},
		{"cache key secret too short", upstream.WithCacheKeySecret([]byte("short")), false},
		{"clock", upstream.WithClock(time.Now), true},
		{"nil clock", upstream.WithClock(nil), false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := upstream.New("https://example.com", tt.opt)
			if tt.ok {
				assert.NoError(t, err)
				assert.NotNil(t, c)
			} else {
				assert.Error(t, err)
				assert.Nil(t, c)
			}
		})
	}
}
