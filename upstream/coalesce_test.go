package upstream_test

import (
	"context"
	"errors"
	"net/http"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/botpenguin-gateway/gateway/upstream"
	"github.com/botpenguin-gateway/gateway/upstream/upstreamtest"
)

// metricValue is the value of the counter or gauge (or the count of the histogram)
// name with exactly the given label pairs; 0 when absent.
func metricValue(t *testing.T, reg prometheus.Gatherer, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
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
			t.Fatalf("timed out waiting for %s", what)
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
		if r.err != nil || len(r.page.Customers) != 20 {
			t.Fatalf("caller %d: %d customers, %v", i, len(r.page.Customers), r.err)
		}
		if i == 0 {
			first = r.page
		} else if r.page.Customers[0].ID != first.Customers[0].ID {
			t.Errorf("caller %d got another page", i)
		}
	}
	if got := srv.Calls(); got != 1 {
		t.Errorf("upstream calls = %d, want 1", got)
	}

	// Once done, the next call is a new one.
	if _, err := c.Customers.List(context.Background(), token, 2, upstream.SortName); err != nil {
		t.Fatal(err)
	}
	if got := srv.Calls(); got != 2 {
		t.Errorf("upstream calls = %d, want 2", got)
	}
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
	if a.err != nil || b.err != nil || a.page.Customers[0].ID == b.page.Customers[0].ID {
		t.Errorf("tokens a and b: %v, %v; same first id", a.err, b.err)
	}
	<-results[2]
	<-results[3]
	if got := srv.Calls(); got != 4 {
		t.Errorf("upstream calls = %d, want 4", got)
	}
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
	if r := <-first; !errors.Is(r.err, context.Canceled) {
		t.Errorf("first caller: err = %v, want context.Canceled", r.err)
	}
	close(release)
	if r := <-second; r.err != nil || len(r.page.Customers) != 20 {
		t.Errorf("second caller: %d customers, %v; want the page", len(r.page.Customers), r.err)
	}
	if got := srv.Calls(); got != 1 {
		t.Errorf("upstream calls = %d, want 1", got)
	}
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
		if !errors.Is(err, context.Canceled) {
			t.Errorf("err = %v, want context.Canceled", err)
		}
	}
	select {
	case <-gone:
	case <-time.After(10 * time.Second):
		t.Fatal("the upstream request was not cancelled")
	}
	eventually(t, "the cancelled attempt to be counted", func() bool {
		return metricValue(t, reg, "gateway_upstream_requests_total", "outcome", "canceled", "status", "none") == 1
	})

	// A new caller starts a fresh call rather than joining the cancelled one.
	if _, err := c.Customers.List(context.Background(), token, 1, upstream.SortCreatedAt); err != nil {
		t.Fatalf("after all left: %v", err)
	}
	if got := srv.Calls(); got != 2 {
		t.Errorf("upstream calls = %d, want 2", got)
	}
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
	if !errors.Is(err1, upstream.ErrUnauthorized) || err2 != nil {
		t.Fatalf("errs = %v, %v", err1, err2)
	}
	// A second client on the same registry shares the collectors.
	c2, _ := newClient(t, srv.URL, upstream.WithMetrics(reg))
	if _, err := c2.Customers.List(ctx, token, 2, upstream.SortCreatedAt); err != nil {
		t.Fatal(err)
	}
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
		if got := metricValue(t, reg, m.name, m.labels...); got != m.want {
			t.Errorf("%s%v = %v, want %v", m.name, m.labels, got, m.want)
		}
	}
}
