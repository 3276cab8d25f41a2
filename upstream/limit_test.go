package upstream_test

import (
	"context"
	"errors"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

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
	if got := metricValue(t, reg, "gateway_upstream_in_flight"); got != 3 {
		t.Errorf("in_flight = %v, want 3", got)
	}
	close(release)
	for range n {
		if r := <-results; r.err != nil {
			t.Fatal(r.err)
		}
	}
	if got := cc.peak.Load(); got != 3 {
		t.Errorf("peak concurrent upstream requests = %d, want 3", got)
	}
	if got := srv.Calls(); got != n {
		t.Errorf("upstream calls = %d, want %d", got, n)
	}
	if got := metricValue(t, reg, "gateway_upstream_in_flight"); got != 0 {
		t.Errorf("in_flight = %v after all returned, want 0", got)
	}
	if got := metricValue(t, reg, "gateway_upstream_concurrency_wait_seconds"); got != n {
		t.Errorf("concurrency waits observed = %v, want %d", got, n)
	}
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
	if !errors.Is(err, upstream.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("deadline while waiting: err = %v, want ErrUnavailable wrapping context.DeadlineExceeded", err)
	}
	ctx, cancel = context.WithCancel(context.Background())
	time.AfterFunc(20*time.Millisecond, cancel)
	if _, err := c.Customers.List(ctx, token, 3, upstream.SortCreatedAt); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled while waiting: err = %v, want context.Canceled", err)
	}
	eventually(t, "both waiters to give up", func() bool {
		return metricValue(t, reg, "gateway_upstream_concurrency_wait_seconds") == 3
	})
	if got := srv.Calls(); got != 1 {
		t.Errorf("upstream calls = %d, want 1 (none for the waiters)", got)
	}

	close(release)
	if r := <-holder; r.err != nil {
		t.Fatal(r.err)
	}
	if _, err := c.Customers.List(context.Background(), token, 2, upstream.SortCreatedAt); err != nil {
		t.Fatalf("after the slot was freed: %v", err)
	}
	if got := srv.Calls(); got != 2 {
		t.Errorf("upstream calls = %d, want 2", got)
	}
}
