package redisstore_test

import (
	"context"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/botpenguin-gateway/gateway/graph/redisstore"
	"github.com/botpenguin-gateway/gateway/graph/redisstore/redistest"
	"github.com/botpenguin-gateway/gateway/upstream"
)

func newStore(t *testing.T, url string, logs io.Writer) *redisstore.Store {
	t.Helper()
	s, err := redisstore.New(url, slog.New(slog.NewTextHandler(logs, nil)), prometheus.NewRegistry())
	require.NoError(t, err)
	t.Cleanup(func() { _ = s.Close() })
	return s
}

func samplePage() upstream.CachedPage {
	email, sub := "kevin+4@monday101.com", "v2"
	last := time.Date(2024, 4, 2, 9, 48, 4, 402_000_000, time.UTC)
	return upstream.CachedPage{
		StoredAt: time.Now().Truncate(time.Millisecond),
		Page: upstream.Page{
			Customers: []upstream.Customer{
				{ID: "6610a", Name: "Kevin v3", Email: &email, Verified: true, Status: "ACTIVE", SubscriptionType: &sub,
					CreatedAt: time.Date(2024, 4, 2, 7, 6, 3, 910_000_000, time.UTC), LastLogin: &last},
				{ID: "6610b", Name: "No contact", Status: "SUSPENDED", CreatedAt: time.Date(2024, 4, 3, 0, 0, 0, 0, time.UTC)},
			},
			Invalid: []upstream.RecordError{{Index: 2, ID: "6610c", Reason: "createdAt is not a time"}},
		},
	}
}

func TestPagesAreSharedBetweenReplicas(t *testing.T) {
	redis := redistest.Start(t)
	a := newStore(t, redis.URL, io.Discard).PageCache(upstream.NewMemoryCache(10))
	b := newStore(t, redis.URL, io.Discard).PageCache(upstream.NewMemoryCache(10))
	ctx := context.Background()

	want := samplePage()
	a.Set(ctx, "page:v1:abc:createdAt:1", want, time.Minute)
	got, ok := b.Get(ctx, "page:v1:abc:createdAt:1")
	require.True(t, ok)
	assert.Equal(t, want.Page, got.Page)
	assert.True(t, want.StoredAt.Equal(got.StoredAt))

	_, ok = b.Get(ctx, "page:v1:other:createdAt:1")
	assert.False(t, ok)
}

func TestPersistedQueriesAreSharedBetweenReplicas(t *testing.T) {
	redis := redistest.Start(t)
	a := newStore(t, redis.URL, io.Discard).APQCache(lru.New[string](10), time.Hour)
	b := newStore(t, redis.URL, io.Discard).APQCache(lru.New[string](10), time.Hour)
	ctx := context.Background()
	a.Add(ctx, "h1", "{ customers { page } }")
	q, ok := b.Get(ctx, "h1")
	require.True(t, ok)
	assert.Equal(t, "{ customers { page } }", q)
	_, ok = b.Get(ctx, "h2")
	assert.False(t, ok)
}

func TestRedisGoingAwayIsAMissAndComesBack(t *testing.T) {
	redis := redistest.Start(t)
	var logs syncWriter
	store := newStore(t, redis.URL, &logs)
	cache := store.APQCache(lru.New[string](10), time.Hour)
	ctx := context.Background()
	cache.Add(ctx, "h1", "query A")

	redis.Stop()
	other := newStore(t, redis.URL, io.Discard).APQCache(lru.New[string](10), time.Hour)
	start := time.Now()
	_, ok := other.Get(ctx, "h1")
	assert.False(t, ok, "unreachable Redis is a miss")
	other.Add(ctx, "h2", "query B") // dropped, no error
	q, ok := other.Get(ctx, "h2")
	assert.True(t, ok, "memory still serves")
	assert.Equal(t, "query B", q)
	assert.Less(t, time.Since(start), 2*time.Second, "a dead Redis costs little")

	q, ok = cache.Get(ctx, "h1")
	assert.True(t, ok, "this replica's memory still has it")
	assert.Equal(t, "query A", q)
	cache.Add(ctx, "h3", "query C")
	assert.Equal(t, 1, strings.Count(logs.String(), "redis unavailable"), logs.String())

	redis.Restart()
	require.Eventually(t, func() bool {
		cache.Add(ctx, "h4", "query D")
		_, ok := newStore(t, redis.URL, io.Discard).APQCache(lru.New[string](10), time.Hour).Get(ctx, "h4")
		return ok
	}, 10*time.Second, 100*time.Millisecond)
	assert.Contains(t, logs.String(), "redis available again")
}

func TestMalformedURLNeverEchoesThePassword(t *testing.T) {
	_, err := redisstore.New("redis://:hunter2@host:notaport/0", slog.New(slog.DiscardHandler), prometheus.NewRegistry())
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "hunter2")
}
