package upstream_test

import (
	"context"
	"net/http"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/botpenguin-gateway/gateway/upstream"
	"github.com/botpenguin-gateway/gateway/upstream/upstreamtest"
)

// After a write, Invalidate makes the next list see it: the credential's
// cached pages are gone, every one of them, and only that credential's.
func TestInvalidateDropsTheCredentialsPages(t *testing.T) {
	t.Parallel()
	srv := newServer(t, upstreamtest.WithCustomers(30),
		upstreamtest.WithTenant("token-a", "acme"), upstreamtest.WithTenant("token-b", "globex"))
	cc := newCached(t, srv.URL, time.Hour)
	ctx := context.Background()
	for _, call := range []struct {
		tok  upstream.Token
		page int
	}{{"token-a", 1}, {"token-a", 2}, {"token-b", 2}} {
		if _, err := cc.list(call.tok, call.page); err != nil {
			t.Fatal(err)
		}
	}
	added := srv.Add("token-a", upstreamtest.Customer{Name: "Ada (acme)", Email: "ada@acme.monday101.com"})
	srv.Add("token-b", upstreamtest.Customer{Name: "Bea (globex)"})
	if p, err := cc.list("token-a", 2); err != nil || len(p.Customers) != 10 || srv.Calls() != 3 {
		t.Fatalf("before Invalidate: %d customers, %v, %d calls; want the cached 10, 3 calls", len(p.Customers), err, srv.Calls())
	}

	cc.c.Invalidate(ctx, "token-a")
	p, err := cc.list("token-a", 2)
	if err != nil || len(p.Customers) != 11 || p.Customers[10].ID != added["_id"] || p.Age != 0 {
		t.Fatalf("after Invalidate: %d customers, %v; want 11, the new one last, fetched now", len(p.Customers), err)
	}
	if _, err := cc.list("token-a", 1); err != nil || srv.Calls() != 5 {
		t.Errorf("page 1 after Invalidate: %v, %d calls; want a miss too (5 calls)", err, srv.Calls())
	}
	if p, err := cc.list("token-b", 2); err != nil || len(p.Customers) != 10 || srv.Calls() != 5 {
		t.Errorf("token-b: %d customers, %v, %d calls; want its cached page, untouched", len(p.Customers), err, srv.Calls())
	}
	// What was fetched after Invalidate is cached as usual.
	if _, err := cc.list("token-a", 2); err != nil || srv.Calls() != 5 {
		t.Errorf("again: %v, %d calls; want a hit", err, srv.Calls())
	}
}

// A call in flight when Invalidate runs may hold an answer from before the
// write: later callers do not join it, and, with a cache, what it brings
// back is not served to them.
func TestInvalidateDetachesCallsInFlight(t *testing.T) {
	t.Parallel()
	for _, withCache := range []bool{false, true} {
		name := "no cache"
		if withCache {
			name = "cache"
		}
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			srv := newServer(t)
			release := make(chan struct{})
			arrived := make(chan string, 3)
			// The first call is answered, once released, with a page from
			// before the write; later calls normally.
			var first atomic.Bool
			old := []byte(`{"success":true,"message":"","data":[{"_id":"old","createdAt":"2024-01-01T00:00:00Z"}],"code":200}`)
			srv.SetFault(upstreamtest.Notify(arrived, func(w http.ResponseWriter, r *http.Request) bool {
				if !first.CompareAndSwap(false, true) {
					return false
				}
				select {
				case <-release:
				case <-r.Context().Done():
					return true
				}
				w.Header().Set("Content-Type", "application/json")
				_, _ = w.Write(old)
				return true
			}))
			reg := prometheus.NewRegistry()
			opts := []upstream.Option{upstream.WithMetrics(reg)}
			if withCache {
				opts = append(opts, upstream.WithCache(upstream.NewMemoryCache[upstream.Page](100), time.Hour, 0))
			}
			c, _ := newClient(t, srv.URL, opts...)
			ctx := context.Background()
			list := func() chan result {
				out := make(chan result, 1)
				go func() {
					p, err := c.Customers.List(ctx, token, 1, upstream.SortCreatedAt)
					out <- result{p, err}
				}()
				return out
			}

			before := list()
			<-arrived
			// Another credential's Invalidate leaves the call alone: an
			// identical call joins it.
			c.Invalidate(ctx, "other-token")
			joined := list()
			eventually(t, "the second caller to join", func() bool {
				return metricValue(t, reg, "gateway_upstream_coalesced_total") == 1
			})

			c.Invalidate(ctx, token)
			after := <-list() // does not wait for the call in flight
			if after.err != nil || len(after.page.Customers) != 20 || firstID(after.page) == "old" || srv.Calls() != 2 {
				t.Fatalf("after Invalidate: %v, %d calls; want a call of its own and today's page", after.err, srv.Calls())
			}
			close(release)
			for _, r := range []result{<-before, <-joined} {
				if r.err != nil || firstID(r.page) != "old" {
					t.Errorf("a caller of the old call: first id %q, %v; want its page", firstID(r.page), r.err)
				}
			}
			if !withCache {
				return
			}
			// The old call ended last, but its page was kept apart.
			if r := <-list(); r.err != nil || firstID(r.page) != firstID(after.page) || srv.Calls() != 2 {
				t.Errorf("cached: first id %q, %v, %d calls; want today's page from the cache", firstID(r.page), r.err, srv.Calls())
			}
		})
	}
}

func TestMemoryCacheNamespaces(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	m := upstream.NewMemoryCache[upstream.Page](2)
	a1 := m.Namespace(ctx, "cred-a")
	if again := m.Namespace(ctx, "cred-a"); again != a1 {
		t.Fatalf("namespace changed by itself: %q, %q", a1, again)
	}
	b1 := m.Namespace(ctx, "cred-b")
	m.Set(ctx, a1+" k", upstream.Entry[upstream.Page]{StoredAt: t0}, time.Hour)
	m.Invalidate(ctx, "cred-a")
	a2 := m.Namespace(ctx, "cred-a")
	if a2 == a1 || m.Namespace(ctx, "cred-b") != b1 {
		t.Errorf("after Invalidate(cred-a): %q (was %q), cred-b %q (was %q)", a2, a1, m.Namespace(ctx, "cred-b"), b1)
	}
	if _, ok := m.Get(ctx, a2+" k"); ok {
		t.Error("the entry is still found under the new namespace")
	}
	// A credential whose generation was evicted (the cache holds two) gets
	// a new one, never an older one again.
	m.Namespace(ctx, "cred-c")
	m.Namespace(ctx, "cred-d")
	if a3 := m.Namespace(ctx, "cred-a"); a3 == a1 || a3 == a2 {
		t.Errorf("after eviction: %q, an old namespace (%q, %q)", a3, a1, a2)
	}
}

func firstID(p upstream.Page) string {
	if len(p.Customers) == 0 {
		return ""
	}
	return p.Customers[0].ID
}
