package upstream_test

import (
	"context"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/botpenguin-gateway/gateway/upstream"
	"github.com/botpenguin-gateway/gateway/upstream/upstreamtest"
)

var t0 = time.Date(2030, 1, 2, 3, 4, 5, 0, time.UTC)

// cached is a client with a memory cache (ttl 1m, stale-if-error as given)
// and a fake clock.
type cached struct {
	c   *upstream.Client
	clk *fakeClock
	reg *prometheus.Registry
}

func newCached(t *testing.T, url string, staleIfError time.Duration, opts ...upstream.Option) cached {
	t.Helper()
	clk := newFakeClock(t0)
	reg := prometheus.NewRegistry()
	base := []upstream.Option{upstream.WithCache(upstream.NewMemoryCache[upstream.Page](100), time.Minute, staleIfError),
		upstream.WithClock(clk.Now), upstream.WithMetrics(reg)}
	c, _ := newClient(t, url, append(base, opts...)...)
	return cached{c, clk, reg}
}

func (cc cached) list(tok upstream.Token, page int) (upstream.Page, error) {
	return cc.c.Customers.List(context.Background(), tok, page, upstream.SortCreatedAt)
}

func (cc cached) results(t *testing.T) (hit, miss, stale float64) {
	t.Helper()
	v := func(r string) float64 {
		return metricValue(t, cc.reg, "gateway_upstream_cache_requests_total", "result", r)
	}
	return v("hit"), v("miss"), v("stale")
}

func TestCacheHitMakesNoCall(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	cc := newCached(t, srv.URL, 0)
	p1, err := cc.list(token, 1)
	require.NoError(t, err, "first")
	require.Zero(t, p1.Age, "first")
	require.False(t, p1.Stale, "first")
	cc.clk.Advance(30 * time.Second)
	p2, err := cc.list(token, 1)
	require.NoError(t, err, "hit")
	require.False(t, p2.Stale, "hit")
	require.Equal(t, 30*time.Second, p2.Age, "hit")
	require.Len(t, p2.Customers, 20, "hit")
	require.Equal(t, p1.Customers[0].ID, p2.Customers[0].ID, "hit")
	assert.Equal(t, int64(1), srv.Calls(), "upstream calls")
	// Another page, or another sort, is another entry.
	_, err = cc.c.Customers.List(context.Background(), token, 1, upstream.SortName)
	require.NoError(t, err)
	_, err = cc.list(token, 2)
	require.NoError(t, err)
	assert.Equal(t, int64(3), srv.Calls(), "upstream calls")
	hit, miss, stale := cc.results(t)
	assert.Equal(t, []float64{1, 3, 0}, []float64{hit, miss, stale}, "hit/miss/stale")
}

func TestCacheTTLExpiryRefetches(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	cc := newCached(t, srv.URL, 0)
	for _, step := range []time.Duration{0, 59 * time.Second, time.Second, 30 * time.Second} {
		cc.clk.Advance(step)
		_, err := cc.list(token, 1)
		require.NoError(t, err)
	}
	// Fetched at 0s; hit at 59s; expired at 60s, refetched; hit at 90s.
	assert.Equal(t, int64(2), srv.Calls(), "upstream calls")
}

func TestCacheKeepsTokensApart(t *testing.T) {
	t.Parallel()
	srv := newServer(t, upstreamtest.WithTenant("token-a", "acme"), upstreamtest.WithTenant("token-b", "globex"))
	cc := newCached(t, srv.URL, time.Hour)
	for round := range 2 {
		for _, tc := range []struct {
			tok    upstream.Token
			suffix string
		}{{"token-a", "(acme)"}, {"token-b", "(globex)"}} {
			p, err := cc.list(tc.tok, 1)
			require.NoError(t, err, "round %d, %s", round, tc.suffix)
			require.True(t, strings.HasSuffix(p.Customers[0].Name, tc.suffix), "round %d: first name %q, want the suffix %s",
				round, p.Customers[0].Name, tc.suffix)
		}
	}
	assert.Equal(t, int64(2), srv.Calls(), "upstream calls: one per token, then hits")
	// Not even as a stale page: token-b's failure is not answered with
	// token-a's page.
	srv.SetFault(upstreamtest.Status(503))
	cc.clk.Advance(2 * time.Minute)
	_, err := cc.list("token-c", 1)
	assert.ErrorIs(t, err, upstream.ErrUnavailable, "another token while the upstream fails")
}

// keyRecorder is a Cache that notes the keys it is given.
type keyRecorder struct {
	*upstream.MemoryCache[upstream.Page]
	mu   sync.Mutex
	keys []string
}

func (k *keyRecorder) Set(ctx context.Context, key string, p upstream.Entry[upstream.Page], keepFor time.Duration) {
	k.mu.Lock()
	k.keys = append(k.keys, key)
	k.mu.Unlock()
	k.MemoryCache.Set(ctx, key, p, keepFor)
}

func TestCacheKeys(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	shared := &keyRecorder{MemoryCache: upstream.NewMemoryCache[upstream.Page](100)}
	secret := []byte("0123456789abcdef0123456789abcdef")
	replica := func(opts ...upstream.Option) *upstream.Client {
		c, _ := newClient(t, srv.URL, append([]upstream.Option{upstream.WithCache(shared, time.Minute, 0)}, opts...)...)
		return c
	}
	a, b := replica(upstream.WithCacheKeySecret(secret)), replica(upstream.WithCacheKeySecret(secret))
	ctx := context.Background()
	_, err := a.Customers.List(ctx, token, 3, upstream.SortName)
	require.NoError(t, err)
	shared.mu.Lock()
	keys := append([]string(nil), shared.keys...)
	shared.mu.Unlock()
	// The credential's namespace (the HMAC of the token and its
	// generation), then the method and the URL.
	want := `^[A-Za-z0-9_-]{43}\.[0-9]+ GET ` + regexp.QuoteMeta(srv.URL+"/customer/list?page=3&sort=name") + `$`
	require.Len(t, keys, 1, "want one <hmac>.<generation> GET <url>")
	require.Regexp(t, want, keys[0])
	require.NotContains(t, keys[0], string(token), "the key holds the token")
	require.NotContains(t, keys[0], "test-token", "the key holds the token")
	// A replica with the same secret finds the page; one with another
	// secret (the default: random per client) does not.
	_, err = b.Customers.List(ctx, token, 3, upstream.SortName)
	assert.NoError(t, err, "same secret")
	assert.Equal(t, int64(1), srv.Calls(), "same secret: want a hit")
	_, err = replica().Customers.List(ctx, token, 3, upstream.SortName)
	assert.NoError(t, err, "another secret")
	assert.Equal(t, int64(2), srv.Calls(), "another secret: want a miss")
}

func TestCacheStaleIfError(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		fault upstreamtest.Fault
		kind  error // nil: the stale page is served
	}{
		{"503", upstreamtest.Status(503), nil},
		{"200 success:false 503", upstreamtest.EnvelopeError(503, "Maintenance"), nil},
		{"429", upstreamtest.RateLimit("60"), nil},
		{"200 success:false 429", upstreamtest.EnvelopeError(429, "Slow down"), nil},
		{"401", upstreamtest.Status(401), upstream.ErrUnauthorized},
		{"403", upstreamtest.Status(403), upstream.ErrForbidden},
		{"200 success:false 401", upstreamtest.EnvelopeError(401, "Invalid key"), upstream.ErrUnauthorized},
		{"garbage", upstreamtest.Garbage(), upstream.ErrBadResponse},
		{"404", upstreamtest.Status(404), upstream.ErrBadResponse},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := newServer(t)
			cc := newCached(t, srv.URL, 5*time.Minute)
			fresh, err := cc.list(token, 1)
			require.NoError(t, err)
			srv.SetFault(tc.fault)
			cc.clk.Advance(2 * time.Minute) // past the ttl, within stale-if-error
			p, err := cc.list(token, 1)
			if tc.kind != nil {
				assert.ErrorIs(t, err, tc.kind)
				assert.False(t, p.Stale, "want no page")
				return
			}
			require.NoError(t, err, "want the stale page")
			require.True(t, p.Stale, "want the stale page")
			require.Equal(t, 2*time.Minute, p.Age, "want the stale page, 2m old")
			require.Equal(t, fresh.Customers[0].ID, p.Customers[0].ID, "want the stale page")
			_, _, stale := cc.results(t)
			assert.Equal(t, 1.0, stale, "stale results")
			// The stored page was not marked: back within the ttl, a plain hit.
			cc.clk.Set(t0.Add(30 * time.Second))
			p, err = cc.list(token, 1)
			assert.NoError(t, err, "fresh hit after a stale one")
			assert.False(t, p.Stale, "fresh hit after a stale one")
			// Past ttl + stale-if-error: the error.
			cc.clk.Set(t0.Add(6*time.Minute + time.Second))
			p, err = cc.list(token, 1)
			assert.Error(t, err, "past the window: want the error")
			assert.False(t, p.Stale, "past the window")
		})
	}
}

func TestCacheNoStaleWhenOff(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	cc := newCached(t, srv.URL, 0)
	_, err := cc.list(token, 1)
	require.NoError(t, err)
	srv.SetFault(upstreamtest.Status(503))
	cc.clk.Advance(61 * time.Second)
	_, err = cc.list(token, 1)
	assert.ErrorIs(t, err, upstream.ErrUnavailable, "stale-if-error is off")
}

func TestCacheStoresOnlySuccesses(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	srv.SetFault(upstreamtest.Times(1, upstreamtest.Status(401)))
	cc := newCached(t, srv.URL, time.Hour)
	_, err := cc.list(token, 1)
	require.ErrorIs(t, err, upstream.ErrUnauthorized)
	for range 2 {
		_, err := cc.list(token, 1)
		require.NoError(t, err)
	}
	assert.Equal(t, int64(2), srv.Calls(), "upstream calls: the error was not cached; the page was")
}

func TestMemoryCache(t *testing.T) {
	t.Parallel()
	ctx := context.Background()
	m := upstream.NewMemoryCache[upstream.Page](2)
	clk := newFakeClock(t0)
	upstream.SetMemoryCacheClock(m, clk.Now)
	page := func(id string) upstream.Entry[upstream.Page] {
		return upstream.Entry[upstream.Page]{Value: upstream.Page{Customers: []upstream.Customer{{ID: id}}}, StoredAt: t0}
	}
	m.Set(ctx, "a", page("a"), time.Minute)
	m.Set(ctx, "b", page("b"), time.Minute)
	_, ok := m.Get(ctx, "a") // a is now the most recently used
	require.True(t, ok, "a missing")
	m.Set(ctx, "c", page("c"), 2*time.Minute)
	_, ok = m.Get(ctx, "b")
	assert.False(t, ok, "b kept beyond the size bound (least recently used)")
	got, ok := m.Get(ctx, "c")
	if assert.True(t, ok, "c missing") {
		assert.Equal(t, "c", got.Value.Customers[0].ID)
		assert.True(t, got.StoredAt.Equal(t0), "c stored at %v, want %v", got.StoredAt, t0)
	}
	clk.Advance(time.Minute) // a's keepFor is over, c's is not
	_, ok = m.Get(ctx, "a")
	assert.False(t, ok, "a kept past its keepFor")
	_, ok = m.Get(ctx, "c")
	assert.True(t, ok, "c dropped before its keepFor")
	m.Set(ctx, "d", page("d"), 0)
	_, ok = m.Get(ctx, "d")
	assert.False(t, ok, "keepFor 0 stored something")
	assert.Equal(t, 1, m.Len(), "keepFor 0 stored something")
	assert.NotNil(t, upstream.NewMemoryCache[upstream.Page](0))
}
