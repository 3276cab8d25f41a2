package upstream_test

import (
	"context"
	"errors"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

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
	if err != nil || p1.Age != 0 || p1.Stale {
		t.Fatalf("first: age %v stale %v, %v", p1.Age, p1.Stale, err)
	}
	cc.clk.Advance(30 * time.Second)
	p2, err := cc.list(token, 1)
	if err != nil || p2.Stale || p2.Age != 30*time.Second || len(p2.Customers) != 20 || p2.Customers[0].ID != p1.Customers[0].ID {
		t.Fatalf("hit: %d customers, age %v, stale %v, %v", len(p2.Customers), p2.Age, p2.Stale, err)
	}
	if got := srv.Calls(); got != 1 {
		t.Errorf("upstream calls = %d, want 1", got)
	}
	// Another page, or another sort, is another entry.
	if _, err := cc.c.Customers.List(context.Background(), token, 1, upstream.SortName); err != nil {
		t.Fatal(err)
	}
	if _, err := cc.list(token, 2); err != nil {
		t.Fatal(err)
	}
	if got := srv.Calls(); got != 3 {
		t.Errorf("upstream calls = %d, want 3", got)
	}
	if hit, miss, stale := cc.results(t); hit != 1 || miss != 3 || stale != 0 {
		t.Errorf("hit/miss/stale = %v/%v/%v, want 1/3/0", hit, miss, stale)
	}
}

func TestCacheTTLExpiryRefetches(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	cc := newCached(t, srv.URL, 0)
	for _, step := range []time.Duration{0, 59 * time.Second, time.Second, 30 * time.Second} {
		cc.clk.Advance(step)
		if _, err := cc.list(token, 1); err != nil {
			t.Fatal(err)
		}
	}
	// Fetched at 0s; hit at 59s; expired at 60s, refetched; hit at 90s.
	if got := srv.Calls(); got != 2 {
		t.Errorf("upstream calls = %d, want 2", got)
	}
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
			if err != nil || !strings.HasSuffix(p.Customers[0].Name, tc.suffix) {
				t.Fatalf("round %d, %s: %v, first name %q", round, tc.suffix, err, p.Customers[0].Name)
			}
		}
	}
	if got := srv.Calls(); got != 2 {
		t.Errorf("upstream calls = %d, want 2 (one per token, then hits)", got)
	}
	// Not even as a stale page: token-b's failure is not answered with
	// token-a's page.
	srv.SetFault(upstreamtest.Status(503))
	cc.clk.Advance(2 * time.Minute)
	if _, err := cc.list("token-c", 1); !errors.Is(err, upstream.ErrUnavailable) {
		t.Errorf("another token while the upstream fails: err = %v, want ErrUnavailable", err)
	}
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
	if _, err := a.Customers.List(ctx, token, 3, upstream.SortName); err != nil {
		t.Fatal(err)
	}
	shared.mu.Lock()
	keys := append([]string(nil), shared.keys...)
	shared.mu.Unlock()
	// The credential's namespace (the HMAC of the token and its
	// generation), then the method and the URL.
	want := regexp.MustCompile(`^[A-Za-z0-9_-]{43}\.[0-9]+ GET ` + regexp.QuoteMeta(srv.URL+"/customer/list?page=3&sort=name") + `$`)
	if len(keys) != 1 || !want.MatchString(keys[0]) ||
		strings.Contains(keys[0], string(token)) || strings.Contains(keys[0], "test-token") {
		t.Fatalf("keys = %q, want one <hmac>.<generation> GET <url> without the token", keys)
	}
	// A replica with the same secret finds the page; one with another
	// secret (the default: random per client) does not.
	if _, err := b.Customers.List(ctx, token, 3, upstream.SortName); err != nil || srv.Calls() != 1 {
		t.Errorf("same secret: %v, %d calls; want a hit", err, srv.Calls())
	}
	if _, err := replica().Customers.List(ctx, token, 3, upstream.SortName); err != nil || srv.Calls() != 2 {
		t.Errorf("another secret: %v, %d calls; want a miss", err, srv.Calls())
	}
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
			if err != nil {
				t.Fatal(err)
			}
			srv.SetFault(tc.fault)
			cc.clk.Advance(2 * time.Minute) // past the ttl, within stale-if-error
			p, err := cc.list(token, 1)
			if tc.kind != nil {
				if !errors.Is(err, tc.kind) || p.Stale {
					t.Errorf("err = %v (stale %v), want %v and no page", err, p.Stale, tc.kind)
				}
				return
			}
			if err != nil || !p.Stale || p.Age != 2*time.Minute || p.Customers[0].ID != fresh.Customers[0].ID {
				t.Fatalf("err = %v, stale %v, age %v; want the stale page, 2m old", err, p.Stale, p.Age)
			}
			if _, _, stale := cc.results(t); stale != 1 {
				t.Errorf("stale results = %v, want 1", stale)
			}
			// The stored page was not marked: back within the ttl, a plain hit.
			cc.clk.Set(t0.Add(30 * time.Second))
			if p, err := cc.list(token, 1); err != nil || p.Stale {
				t.Errorf("fresh hit after a stale one: stale %v, %v", p.Stale, err)
			}
			// Past ttl + stale-if-error: the error.
			cc.clk.Set(t0.Add(6*time.Minute + time.Second))
			if p, err := cc.list(token, 1); err == nil || p.Stale {
				t.Errorf("past the window: stale %v, err %v; want the error", p.Stale, err)
			}
		})
	}
}

func TestCacheNoStaleWhenOff(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	cc := newCached(t, srv.URL, 0)
	if _, err := cc.list(token, 1); err != nil {
		t.Fatal(err)
	}
	srv.SetFault(upstreamtest.Status(503))
	cc.clk.Advance(61 * time.Second)
	if _, err := cc.list(token, 1); !errors.Is(err, upstream.ErrUnavailable) {
		t.Errorf("err = %v, want ErrUnavailable (stale-if-error is off)", err)
	}
}

func TestCacheStoresOnlySuccesses(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	srv.SetFault(upstreamtest.Times(1, upstreamtest.Status(401)))
	cc := newCached(t, srv.URL, time.Hour)
	if _, err := cc.list(token, 1); !errors.Is(err, upstream.ErrUnauthorized) {
		t.Fatalf("err = %v, want ErrUnauthorized", err)
	}
	for range 2 {
		if _, err := cc.list(token, 1); err != nil {
			t.Fatal(err)
		}
	}
	if got := srv.Calls(); got != 2 {
		t.Errorf("upstream calls = %d, want 2 (the error was not cached; the page was)", got)
	}
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
	if _, ok := m.Get(ctx, "a"); !ok { // a is now the most recently used
		t.Fatal("a missing")
	}
	m.Set(ctx, "c", page("c"), 2*time.Minute)
	if _, ok := m.Get(ctx, "b"); ok {
		t.Error("b kept beyond the size bound (least recently used)")
	}
	if got, ok := m.Get(ctx, "c"); !ok || got.Value.Customers[0].ID != "c" || !got.StoredAt.Equal(t0) {
		t.Errorf("c = %+v, %v", got, ok)
	}
	clk.Advance(time.Minute) // a's keepFor is over, c's is not
	if _, ok := m.Get(ctx, "a"); ok {
		t.Error("a kept past its keepFor")
	}
	if _, ok := m.Get(ctx, "c"); !ok {
		t.Error("c dropped before its keepFor")
	}
	m.Set(ctx, "d", page("d"), 0)
	if _, ok := m.Get(ctx, "d"); ok || m.Len() != 1 {
		t.Errorf("keepFor 0 stored something; len %d", m.Len())
	}
	if upstream.NewMemoryCache[upstream.Page](0) == nil {
		t.Error("NewMemoryCache(0) = nil")
	}
}
