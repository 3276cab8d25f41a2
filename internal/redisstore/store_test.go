package redisstore_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"io"
	"log/slog"
	"net"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/botpenguin-gateway/gateway/internal/redisstore"
	"github.com/botpenguin-gateway/gateway/internal/redisstore/redistest"
	"github.com/botpenguin-gateway/gateway/upstream"
)

// store is a Store with its metrics and log.
type store struct {
	*redisstore.Store
	reg  *prometheus.Registry
	logs *syncWriter
}

func newStore(t *testing.T, url string) store {
	t.Helper()
	s := store{reg: prometheus.NewRegistry(), logs: &syncWriter{}}
	var err error
	s.Store, err = redisstore.New(url, slog.New(slog.NewTextHandler(s.logs, nil)), s.reg)
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

// metric is the value of a gateway_redis_* series.
func (s store) metric(t *testing.T, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := s.reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
		for _, m := range mf.GetMetric() {
			got := []string{}
			for _, l := range m.GetLabel() {
				got = append(got, l.GetName(), l.GetValue())
			}
			if strings.Join(got, ",") == strings.Join(labels, ",") {
				if m.Gauge != nil {
					return m.GetGauge().GetValue()
				}
				return m.GetCounter().GetValue()
			}
		}
	}
	return 0
}

// rawClient talks to the test Redis directly, as an operator would.
func rawClient(t *testing.T, url string) *redis.Client {
	t.Helper()
	opts, err := redis.ParseURL(url)
	require.NoError(t, err)
	c := redis.NewClient(opts)
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func samplePage() upstream.Entry[upstream.Page] {
	email, sub := "kevin+4@monday101.com", "v2"
	last := time.Date(2024, 4, 2, 9, 48, 4, 402_000_000, time.UTC)
	updated := time.Date(2024, 4, 2, 13, 57, 16, 513_000_000, time.UTC)
	return upstream.Entry[upstream.Page]{
		StoredAt: time.Now().Truncate(time.Millisecond),
		Value: upstream.Page{
			Customers: []upstream.Customer{
				{ID: "6610a", Name: "Kevin v3", Email: &email, Verified: true, Status: "ACTIVE", SubscriptionType: &sub,
					CreatedAt: time.Date(2024, 4, 2, 7, 6, 3, 910_000_000, time.UTC), UpdatedAt: &updated, LastLogin: &last},
				{ID: "6610b", Name: "No contact", Status: "SUSPENDED", CreatedAt: time.Date(2024, 4, 3, 0, 0, 0, 0, time.UTC)},
			},
			Invalid: []upstream.RecordError{{Index: 2, ID: "6610c", Reason: "createdAt is not a time"}},
		},
	}
}

func TestPagesAreSharedBetweenReplicas(t *testing.T) {
	redis := redistest.Start(t)
	a := newStore(t, redis.URL).PageCache(upstream.NewMemoryCache[upstream.Page](10), 30*time.Second)
	b := newStore(t, redis.URL).PageCache(upstream.NewMemoryCache[upstream.Page](10), 30*time.Second)
	ctx := context.Background()

	want := samplePage()
	a.Set(ctx, "page:v1:abc:createdAt:1", want, time.Minute)
	got, ok := b.Get(ctx, "page:v1:abc:createdAt:1")
	require.True(t, ok)
	assert.Equal(t, want.Value, got.Value)
	assert.True(t, want.StoredAt.Equal(got.StoredAt))

	_, ok = b.Get(ctx, "page:v1:other:createdAt:1")
	assert.False(t, ok)
}

func TestAStoredPageComesBackFresh(t *testing.T) {
	redis := redistest.Start(t)
	a := newStore(t, redis.URL).PageCache(upstream.NewMemoryCache[upstream.Page](10), 30*time.Second)
	b := newStore(t, redis.URL).PageCache(upstream.NewMemoryCache[upstream.Page](10), 30*time.Second)
	ctx := context.Background()

	p := samplePage()
	p.Value.Stale, p.Value.Age = true, time.Minute // set by the client on a cached answer, never stored
	a.Set(ctx, "k", p, time.Minute)
	got, ok := b.Get(ctx, "k")
	require.True(t, ok)
	assert.False(t, got.Value.Stale)
	assert.Zero(t, got.Value.Age)
}

func TestAFresherPageFromAnotherReplicaWins(t *testing.T) {
	redis := redistest.Start(t)
	ttl := 30 * time.Second
	a := newStore(t, redis.URL).PageCache(upstream.NewMemoryCache[upstream.Page](10), ttl)
	b := newStore(t, redis.URL).PageCache(upstream.NewMemoryCache[upstream.Page](10), ttl)
	ctx := context.Background()
	page := func(name string, age time.Duration) upstream.Entry[upstream.Page] {
		return upstream.Entry[upstream.Page]{
			StoredAt: time.Now().Add(-age).Truncate(time.Millisecond),
			Value:    upstream.Page{Customers: []upstream.Customer{{ID: "1", Name: name, CreatedAt: time.Unix(0, 0).UTC()}}},
		}
	}
	name := func(p upstream.Entry[upstream.Page]) string { return p.Value.Customers[0].Name }

	a.Set(ctx, "k", page("old", 2*ttl), 5*time.Minute)
	got, ok := b.Get(ctx, "k") // now in b's memory too, past ttl
	require.True(t, ok)
	assert.Equal(t, "old", name(got))

	a.Set(ctx, "k", page("refetched by a", 0), 5*time.Minute)
	got, _ = b.Get(ctx, "k")
	assert.Equal(t, "refetched by a", name(got), "b's memory is past ttl: Redis has a fresher page")

	a.Set(ctx, "k", page("newest", 0), 5*time.Minute)
	got, _ = b.Get(ctx, "k")
	assert.Equal(t, "refetched by a", name(got), "fresh in b's memory: served without Redis")
}

func TestPersistedQueriesAreSharedBetweenReplicas(t *testing.T) {
	redis := redistest.Start(t)
	a := newStore(t, redis.URL).APQCache(lru.New[string](10), time.Hour)
	b := newStore(t, redis.URL).APQCache(lru.New[string](10), time.Hour)
	ctx := context.Background()
	q := "{ customers { page } }"
	a.Add(ctx, sha(q), q)
	got, ok := b.Get(ctx, sha(q))
	require.True(t, ok)
	assert.Equal(t, q, got)
	_, ok = b.Get(ctx, sha("{ other }"))
	assert.False(t, ok)

	ttl, err := rawClient(t, redis.URL).PTTL(ctx, "gw:apq:"+sha(q)).Result()
	require.NoError(t, err)
	assert.InDelta(t, time.Hour.Seconds(), ttl.Seconds(), 5, "documents expire")
}

func TestAPersistedQueryThatDoesNotMatchItsHashIsAMiss(t *testing.T) {
	redis := redistest.Start(t)
	cache := newStore(t, redis.URL).APQCache(lru.New[string](10), time.Hour)
	ctx := context.Background()
	hash := sha("{ customers { page } }")
	require.NoError(t, rawClient(t, redis.URL).Set(ctx, "gw:apq:"+hash, "{ somethingElse }", time.Hour).Err())
	_, ok := cache.Get(ctx, hash)
	assert.False(t, ok)
}

func TestRedisGoingAwayIsAMissAndComesBack(t *testing.T) {
	redis := redistest.Start(t)
	s := newStore(t, redis.URL)
	cache := s.APQCache(lru.New[string](10), time.Hour)
	ctx := context.Background()
	cache.Add(ctx, sha("query A"), "query A")
	assert.Equal(t, 1.0, s.metric(t, "gateway_redis_up"))

	redis.Stop()
	dials := redis.Connections()
	otherStore := newStore(t, redis.URL)
	// What a dead Redis costs is counted, not timed (a loaded machine may
	// take any time): the start-up ping is one dial, not retried, and one
	// failure; the rest is counted on s below (one failed command, then
	// Redis is skipped).
	settle(t, redis.Addr)
	assert.Equal(t, dials+2, redis.Connections(), "dials: one by New to a dead Redis, and settle's")
	assert.Equal(t, 1.0, otherStore.metric(t, "gateway_redis_errors_total", "op", "ping"))
	other := otherStore.APQCache(lru.New[string](10), time.Hour)
	_, ok := other.Get(ctx, sha("query A"))
	assert.False(t, ok, "unreachable Redis is a miss")
	other.Add(ctx, sha("query B"), "query B") // dropped, no error
	q, ok := other.Get(ctx, sha("query B"))
	assert.True(t, ok, "memory still serves")
	assert.Equal(t, "query B", q)

	q, ok = cache.Get(ctx, sha("query A"))
	assert.True(t, ok, "this replica's memory still has it")
	assert.Equal(t, "query A", q)
	_, ok = cache.Get(ctx, sha("query X")) // fails: Redis is down
	assert.False(t, ok)
	cache.Add(ctx, sha("query C"), "query C") // skipped: Redis is left alone for a while
	_, _ = cache.Get(ctx, sha("query Y"))
	assert.Equal(t, 1, strings.Count(s.logs.String(), "redis unavailable"), s.logs.String())
	assert.Equal(t, 0.0, s.metric(t, "gateway_redis_up"))
	assert.Equal(t, 1.0, s.metric(t, "gateway_redis_errors_total", "op", "get"), "one failure, then Redis is skipped")
	assert.Equal(t, 0.0, s.metric(t, "gateway_redis_errors_total", "op", "set"))

	redis.Restart()
	require.Eventually(t, func() bool {
		cache.Add(ctx, sha("query D"), "query D")
		_, ok := newStore(t, redis.URL).APQCache(lru.New[string](10), time.Hour).Get(ctx, sha("query D"))
		return ok
	}, 10*time.Second, 100*time.Millisecond)
	assert.Equal(t, 1, strings.Count(s.logs.String(), "redis available again"), s.logs.String())
	assert.Equal(t, 1.0, s.metric(t, "gateway_redis_up"))
}

func TestRedisUnreachableAtStart(t *testing.T) {
	dead, dials := hangingUp(t)
	s := newStore(t, "redis://"+dead+"/0")
	// Counted, not timed (a loaded machine may take any time): New tries
	// Redis once, one dial bounded by its timeouts, with no retry.
	settle(t, dead)
	assert.Equal(t, int64(2), dials.Load(), "dials: one by New, and settle's")
	assert.Equal(t, 1.0, s.metric(t, "gateway_redis_errors_total", "op", "ping"))
	assert.Contains(t, s.logs.String(), "redis unavailable, serving from the upstream and memory")
	assert.Equal(t, 0.0, s.metric(t, "gateway_redis_up"))

	pages := s.PageCache(upstream.NewMemoryCache[upstream.Page](10), time.Minute)
	ctx := context.Background()
	pages.Set(ctx, "k", samplePage(), time.Minute)
	_, ok := pages.Get(ctx, "k")
	assert.True(t, ok, "memory serves")
}

func TestARefusedWriteDoesNotStopReads(t *testing.T) {
	redis := redistest.Start(t)
	s := newStore(t, redis.URL)
	cache := s.APQCache(lru.New[string](10), time.Hour)
	ctx := context.Background()
	raw := rawClient(t, redis.URL)
	require.NoError(t, raw.Set(ctx, "gw:apq:"+sha("query A"), "query A", time.Hour).Err())
	require.NoError(t, raw.ConfigSet(ctx, "maxmemory", "1").Err()) // every write is now refused (OOM)

	cache.Add(ctx, sha("query B"), "query B")
	q, ok := cache.Get(ctx, sha("query A"))
	assert.True(t, ok, "reads still go to Redis")
	assert.Equal(t, "query A", q)
	assert.Equal(t, 1.0, s.metric(t, "gateway_redis_errors_total", "op", "set"))
	assert.Equal(t, 1.0, s.metric(t, "gateway_redis_up"))
	assert.Contains(t, s.logs.String(), "redis refused a command")
	assert.NotContains(t, s.logs.String(), "redis unavailable")
}

func TestMalformedURLNeverEchoesThePassword(t *testing.T) {
	for _, url := range []string{
		"redis://:hunter2@host:notaport/0",
		"redis://:hunter2@host:6379/notadb",
		"http://:hunter2@host:6379/0",
	} {
		_, err := redisstore.New(url, slog.New(slog.DiscardHandler), prometheus.NewRegistry())
		require.Error(t, err, url)
		assert.NotContains(t, err.Error(), "hunter2")
	}
}

// hangingUp is the address of a listener that closes every connection at
// once, for the whole test: a Redis nobody can talk to, on a port nobody
// else can take. dials counts the connections.
func hangingUp(t *testing.T) (addr string, dials *atomic.Int64) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	dials = &atomic.Int64{}
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return // closed at the end of the test
			}
			dials.Add(1)
			conn.Close()
		}
	})
	return ln.Addr().String(), dials
}

// settle returns once every connection made so far to addr, a listener
// that hangs up on each, has been accepted: it makes one more and waits to
// be hung up on, which comes last since connections are accepted in order.
func settle(t *testing.T, addr string) {
	t.Helper()
	conn, err := net.Dial("tcp", addr)
	require.NoError(t, err)
	defer conn.Close()
	require.NoError(t, conn.SetReadDeadline(time.Now().Add(10*time.Second))) // a bound for a broken test, not a measure
	_, err = conn.Read(make([]byte, 1))
	require.ErrorIs(t, err, io.EOF, "hung up on")
}

func sha(q string) string {
	sum := sha256.Sum256([]byte(q))
	return hex.EncodeToString(sum[:])
}
