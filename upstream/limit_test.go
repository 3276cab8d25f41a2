package upstream_test

import (
	"context"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/botpenguin-gateway/gateway/upstream"
	"github.com/botpenguin-gateway/gateway/upstream/upstreamtest"
)

// concurrency counts the requests the fake serves at once, and the peak.
type concurrency struct{ now, peak atomic.Int64 }

func (c *concurrency) wrap(f upstreamtest.Fault) upstreamtest.Fault {
	return func(w http.ResponseWriter, r *http.Request) bool {
		n := c.now.Add(1)
		defer c.now.Add(-1)
		for p := c.peak.Load(); n > p && !c.peak.CompareAndSwap(p, n); p = c.peak.Load() {
		}
		return f(w, r)
	}
}

func TestMaxConcurrencyIsNeverExceeded(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	release := make(chan struct{})
	arrived := make(chan string, 20)
	var cc concurrency
	srv.SetFault(cc.wrap(upstreamtest.Notify(arrived, upstreamtest.Block(release))))
	reg := prometheus.NewRegistry()
	c, _ := newClient(t, srv.URL, upstream.WithMaxConcurrency(3), upstream.WithMetrics(reg))

	const n = 12
	results := make(chan result, n)
	for i := range n {
		go func() {
			p, err := c.Customers.List(context.Background(), token, i+1, upstream.SortCreatedAt) // distinct pages: no coalescing
			results <- result{p, err}
		}()
	}
	for range 3 {
		<-arrived
	}
	assert.Equal(t, 3.0, metricValue(t, reg, "gateway_upstream_in_flight"), "in_flight")
	close(release)
	for range n {
		r := <-results
		require.NoError(t, r.err)
	}
	assert.Equal(t, int64(3), cc.peak.Load(), "peak concurrent upstream requests")
	assert.Equal(t, int64(n), srv.Calls(), "upstream calls")
	assert.Zero(t, metricValue(t, reg, "gateway_upstream_in_flight"), "in_flight after all returned")
	assert.Equal(t, float64(n), metricValue(t, reg, "gateway_upstream_concurrency_wait_seconds"), "concurrency waits observed")
}

// A caller waiting for a slot gives up when its ctx ends, and no upstream
// call is made for it; its giving up frees nothing it did not hold.
func TestMaxConcurrencyWaitersGiveUp(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	release := make(chan struct{})
	arrived := make(chan string, 1)
	srv.SetFault(upstreamtest.Times(1, upstreamtest.Notify(arrived, upstreamtest.Block(release))))
	reg := prometheus.NewRegistry()
	c, _ := newClient(t, srv.URL, upstream.WithMaxConcurrency(1), upstream.WithMetrics(reg))

	holder := make(chan result, 1)
	go func() {
		p, err := c.Customers.List(context.Background(), token, 1, upstream.SortCreatedAt)
		holder <- result{p, err}
	}()
	<-arrived // the only slot is taken

	ctx, cancel := context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err := c.Customers.List(ctx, token, 2, upstream.SortCreatedAt)
	assert.ErrorIs(t, err, upstream.ErrUnavailable, "deadline while waiting")
	assert.ErrorIs(t, err, context.DeadlineExceeded, "deadline while waiting")
	ctx, cancel = context.WithCancel(context.Background())
	time.AfterFunc(20*time.Millisecond, cancel)
	_, err = c.Customers.List(ctx, token, 3, upstream.SortCreatedAt)
	assert.ErrorIs(t, err, context.Canceled, "cancelled while waiting")
	eventually(t, "both waiters to give up", func() bool {
		return metricValue(t, reg, "gateway_upstream_concurrency_wait_seconds") == 3
	})
	assert.Equal(t, int64(1), srv.Calls(), "upstream calls: none for the waiters")

	close(release)
	r := <-holder
	require.NoError(t, r.err)
	_, err = c.Customers.List(context.Background(), token, 2, upstream.SortCreatedAt)
	require.NoError(t, err, "after the slot was freed")
	assert.Equal(t, int64(2), srv.Calls(), "upstream calls")
}
