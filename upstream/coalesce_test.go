package upstream_test

import (
	"context"
	"net/http"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/botpenguin-gateway/gateway/upstream"
	"github.com/botpenguin-gateway/gateway/upstream/upstreamtest"
)

// metricValue is the value of the counter or gauge (or the count of the histogram)
// name with exactly the given label pairs; 0 when absent.
func metricValue(t *testing.T, reg prometheus.Gatherer, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			if len(m.GetLabel())*2 != len(labels) {
				continue
			}
			for i, lp := range m.GetLabel() {
				if lp.GetName() != labels[2*i] || lp.GetValue() != labels[2*i+1] {
					continue next
				}
			}
			if h := m.GetHistogram(); h != nil {
				return float64(h.GetSampleCount())
			}
			if g := m.GetGauge(); g != nil {
				return g.GetValue()
			}
			return m.GetCounter().GetValue()
		}
	}
	return 0
}

// eventually waits, without sleeping, until cond holds; it fails the test
// after 10 seconds.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			require.FailNow(t, "timed out waiting for "+what)
		}
		runtime.Gosched()
	}
}

type result struct {
	page upstream.Page
	err  error
}

func TestCoalescing(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	release := make(chan struct{})
	arrived := make(chan string, 10)
	srv.SetFault(upstreamtest.Notify(arrived, upstreamtest.Block(release)))
	reg := prometheus.NewRegistry()
	c, _ := newClient(t, srv.URL, upstream.WithMetrics(reg))

	const n = 10
	results := make(chan result, n)
	for range n {
		go func() {
			p, err := c.Customers.List(context.Background(), token, 2, upstream.SortName)
			results <- result{p, err}
		}()
	}
	<-arrived
	eventually(t, "every caller to join", func() bool {
		return metricValue(t, reg, "gateway_upstream_coalesced_total") == n-1
	})
	close(release)
	var first upstream.Page
	for i := range n {
		r := <-results
		require.NoError(t, r.err, "caller %d", i)
		require.Len(t, r.page.Customers, 20, "caller %d", i)
		if i == 0 {
			first = r.page
		} else {
			assert.Equal(t, first.Customers[0].ID, r.page.Customers[0].ID, "caller %d got another page", i)
		}
	}
	assert.Equal(t, int64(1), srv.Calls(), "upstream calls")

	// Once done, the next call is a new one.
	_, err := c.Customers.List(context.Background(), token, 2, upstream.SortName)
	require.NoError(t, err)
	assert.Equal(t, int64(2), srv.Calls(), "upstream calls")
}

func TestCoalescingKeys(t *testing.T) {
	t.Parallel()
	srv := newServer(t, upstreamtest.WithTenant("token-a", "acme"), upstreamtest.WithTenant("token-b", "globex"))
	release := make(chan struct{})
	arrived := make(chan string, 10)
	srv.SetFault(upstreamtest.Notify(arrived, upstreamtest.Block(release)))
	c, _ := newClient(t, srv.URL)

	calls := []struct {
		token upstream.Token
		page  int
		sort  upstream.Sort
	}{
		{"token-a", 1, upstream.SortCreatedAt},
		{"token-b", 1, upstream.SortCreatedAt}, // another token: never shared
		{"token-a", 2, upstream.SortCreatedAt},
		{"token-a", 1, upstream.SortName},
	}
	results := make([]chan result, len(calls))
	for i, k := range calls {
		results[i] = make(chan result, 1)
		go func() {
			p, err := c.Customers.List(context.Background(), k.token, k.page, k.sort)
			results[i] <- result{p, err}
		}()
	}
	for range calls {
		<-arrived // each reached the upstream on its own
	}
	close(release)
	a, b := <-results[0], <-results[1]
	if assert.NoError(t, a.err, "token a") && assert.NoError(t, b.err, "token b") {
		assert.NotEqual(t, a.page.Customers[0].ID, b.page.Customers[0].ID, "tokens a and b: same first id")
	}
	<-results[2]
	<-results[3]
	assert.Equal(t, int64(4), srv.Calls(), "upstream calls")
}

func TestCoalescingFirstCallerLeaves(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	release := make(chan struct{})
	arrived := make(chan string, 1)
	srv.SetFault(upstreamtest.Notify(arrived, upstreamtest.Block(release)))
	reg := prometheus.NewRegistry()
	c, _ := newClient(t, srv.URL, upstream.WithMetrics(reg))

	ctx1, cancel1 := context.WithCancel(context.Background())
	first := make(chan result, 1)
	go func() {
		p, err := c.Customers.List(ctx1, token, 1, upstream.SortCreatedAt)
		first <- result{p, err}
	}()
	<-arrived
	second := make(chan result, 1)
	go func() {
		p, err := c.Customers.List(context.Background(), token, 1, upstream.SortCreatedAt)
		second <- result{p, err}
	}()
	eventually(t, "the second caller to join", func() bool {
		return metricValue(t, reg, "gateway_upstream_coalesced_total") == 1
	})

	cancel1()
	r := <-first
	assert.ErrorIs(t, r.err, context.Canceled, "first caller")
	close(release)
	r = <-second
	assert.NoError(t, r.err, "second caller: want the page")
	assert.Len(t, r.page.Customers, 20, "second caller: want the page")
	assert.Equal(t, int64(1), srv.Calls(), "upstream calls")
}

func TestCoalescingAllCallersLeave(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	arrived := make(chan string, 1)
	gone := make(chan struct{})
	srv.SetFault(upstreamtest.Times(1, upstreamtest.Notify(arrived, func(_ http.ResponseWriter, r *http.Request) bool {
		<-r.Context().Done() // the client went away
		close(gone)
		return true
	})))
	reg := prometheus.NewRegistry()
	c, _ := newClient(t, srv.URL, upstream.WithMetrics(reg))

	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	errs := make(chan error, 3)
	for range 3 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			_, err := c.Customers.List(ctx, token, 1, upstream.SortCreatedAt)
			errs <- err
		}()
	}
	<-arrived
	eventually(t, "every caller to join", func() bool {
		return metricValue(t, reg, "gateway_upstream_coalesced_total") == 2
	})
	cancel()
	wg.Wait()
	close(errs)
	for err := range errs {
		assert.ErrorIs(t, err, context.Canceled)
	}
	select {
	case <-gone:
	case <-time.After(10 * time.Second):
		require.FailNow(t, "the upstream request was not cancelled")
	}
	eventually(t, "the cancelled attempt to be counted", func() bool {
		return metricValue(t, reg, "gateway_upstream_requests_total", "outcome", "canceled", "status", "none") == 1
	})

	// A new caller starts a fresh call rather than joining the cancelled one.
	_, err := c.Customers.List(context.Background(), token, 1, upstream.SortCreatedAt)
	require.NoError(t, err, "after all left")
	assert.Equal(t, int64(2), srv.Calls(), "upstream calls")
}

func TestMetrics(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	srv.SetFault(upstreamtest.Chain(upstreamtest.Times(1, upstreamtest.Status(503)), upstreamtest.Times(1, upstreamtest.EnvelopeError(401, "no"))))
	reg := prometheus.NewRegistry()
	c, _ := newClient(t, srv.URL, upstream.WithMetrics(reg))
	ctx := context.Background()
	_, err1 := c.Customers.List(ctx, token, 1, upstream.SortCreatedAt) // 503, then 200 success:false 401
	_, err2 := c.Customers.List(ctx, token, 1, upstream.SortCreatedAt) // ok
	require.ErrorIs(t, err1, upstream.ErrUnauthorized)
	require.NoError(t, err2)
	// A second client on the same registry shares the collectors.
	c2, _ := newClient(t, srv.URL, upstream.WithMetrics(reg))
	_, err := c2.Customers.List(ctx, token, 2, upstream.SortCreatedAt)
	require.NoError(t, err)
	for _, m := range []struct {
		name   string
		labels []string
		want   float64
	}{
		{"gateway_upstream_requests_total", []string{"outcome", "unavailable", "status", "503"}, 1},
		{"gateway_upstream_requests_total", []string{"outcome", "unauthorized", "status", "200"}, 1},
		{"gateway_upstream_requests_total", []string{"outcome", "ok", "status", "200"}, 2},
		{"gateway_upstream_request_duration_seconds", nil, 4},
		{"gateway_upstream_retries_total", nil, 1},
		{"gateway_upstream_coalesced_total", nil, 0},
	} {
		assert.Equal(t, m.want, metricValue(t, reg, m.name, m.labels...), "%s%v", m.name, m.labels)
	}
}
