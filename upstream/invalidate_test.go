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
		_, err := cc.list(call.tok, call.page)
		require.NoError(t, err)
	}
	added := srv.Add("token-a", upstreamtest.Customer{Name: "Ada (acme)", Email: "ada@acme.monday101.com"})
	srv.Add("token-b", upstreamtest.Customer{Name: "Bea (globex)"})
	p, err := cc.list("token-a", 2)
	require.NoError(t, err, "before Invalidate")
	require.Len(t, p.Customers, 10, "before Invalidate: want the cached page")
	require.Equal(t, int64(3), srv.Calls(), "before Invalidate: upstream calls")

	cc.c.Invalidate(ctx, "token-a")
	p, err = cc.list("token-a", 2)
	require.NoError(t, err, "after Invalidate")
	require.Len(t, p.Customers, 11, "after Invalidate: want the new one too")
	require.Equal(t, added["_id"], p.Customers[10].ID, "after Invalidate: want the new one last")
	require.Zero(t, p.Age, "after Invalidate: want it fetched now")
	_, err = cc.list("token-a", 1)
	assert.NoError(t, err, "page 1 after Invalidate")
	assert.Equal(t, int64(5), srv.Calls(), "page 1 after Invalidate: want a miss too")
	p, err = cc.list("token-b", 2)
	assert.NoError(t, err, "token-b")
	assert.Len(t, p.Customers, 10, "token-b: want its cached page, untouched")
	assert.Equal(t, int64(5), srv.Calls(), "token-b: want its cached page, untouched")
	// What was fetched after Invalidate is cached as usual.
	_, err = cc.list("token-a", 2)
	assert.NoError(t, err, "again")
	assert.Equal(t, int64(5), srv.Calls(), "again: want a hit")
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
			arrived := make(chan struct{}, 1)
			// The first call is answered, once released, with a page from
			// before the write; later calls normally. It says it arrived
			// only once it holds that place: told earlier, a later call
			// could take it first.
			var first atomic.Bool
			old := []byte(`{"success":true,"message":"","data":[{"_id":"old","createdAt":"2024-01-01T00:00:00Z"}],"code":200}`)
			srv.SetFault(func(w http.ResponseWriter, r *http.Request) bool {
				if !first.CompareAndSwap(false, true) {
					return false
				}
				arrived <- struct{}{}
				select {
				case <-release:
				case <-r.Context().Done():
					return true
				}
				w.Header().Set("Content-Type", "application/json")
				_, _ = w.Write(old)
				return true
			})
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
			require.NoError(t, after.err, "after Invalidate")
			require.Len(t, after.page.Customers, 20, "after Invalidate: want today's page")
			require.NotEqual(t, "old", firstID(after.page), "after Invalidate: want today's page")
			require.Equal(t, int64(2), srv.Calls(), "after Invalidate: want a call of its own")
			close(release)
			for _, r := range []result{<-before, <-joined} {
				assert.NoError(t, r.err, "a caller of the old call")
				assert.Equal(t, "old", firstID(r.page), "a caller of the old call: want its page")
			}
			if !withCache {
				return
			}
			// The old call ended last, but its page was kept apart.
			r := <-list()
			assert.NoError(t, r.err, "cached")
			assert.Equal(t, firstID(after.page), firstID(r.page), "cached: want today's page")
			assert.Equal(t, int64(2), srv.Calls(), "cached: want today's page from the cache")
		})
	}
}

func TestMemoryCacheNamespaces(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	m := upstream.NewMemoryCache[upstream.Page](2)
	a1 := m.Namespace(ctx, "cred-a")
	require.Equal(t, a1, m.Namespace(ctx, "cred-a"), "the namespace changed by itself")
	b1 := m.Namespace(ctx, "cred-b")
	m.Set(ctx, a1+" k", upstream.Entry[upstream.Page]{StoredAt: t0}, time.Hour)
	m.Invalidate(ctx, "cred-a")
	a2 := m.Namespace(ctx, "cred-a")
	assert.NotEqual(t, a1, a2, "cred-a after Invalidate(cred-a)")
	assert.Equal(t, b1, m.Namespace(ctx, "cred-b"), "cred-b after Invalidate(cred-a)")
	_, ok := m.Get(ctx, a2+" k")
	assert.False(t, ok, "the entry is still found under the new namespace")
	// A credential whose generation was evicted (the cache holds two) gets
	// a new one, never an older one again.
	m.Namespace(ctx, "cred-c")
	m.Namespace(ctx, "cred-d")
	a3 := m.Namespace(ctx, "cred-a")
	assert.NotEqual(t, a1, a3, "after eviction: an old namespace")
	assert.NotEqual(t, a2, a3, "after eviction: an old namespace")
}

func firstID(p upstream.Page) string {
	if len(p.Customers) == 0 {
		return ""
	}
	return p.Customers[0].ID
}
