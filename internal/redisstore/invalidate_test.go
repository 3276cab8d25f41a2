package redisstore_test

import (
	"context"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/botpenguin-gateway/gateway/internal/redisstore/redistest"
	"github.com/botpenguin-gateway/gateway/upstream"
	"github.com/botpenguin-gateway/gateway/upstream/upstreamtest"
)

// One replica's Invalidate reaches the other: its entries of that
// credential are no longer read, from Redis nor from its own memory.
func TestInvalidateReachesEveryReplica(t *testing.T) {
	redis := redistest.Start(t)
	a := newStore(t, redis.URL).PageCache(upstream.NewMemoryCache[upstream.Page](10), time.Hour)
	b := newStore(t, redis.URL).PageCache(upstream.NewMemoryCache[upstream.Page](10), time.Hour)
	ctx := context.Background()

	ns := a.Namespace(ctx, "cred-1")
	require.Equal(t, ns, b.Namespace(ctx, "cred-1"), "one namespace for every replica")
	other := a.Namespace(ctx, "cred-2")
	a.Set(ctx, ns+" GET /customer/list?page=1", samplePage(), time.Hour)
	a.Set(ctx, other+" GET /customer/list?page=1", samplePage(), time.Hour)
	_, ok := b.Get(ctx, ns+" GET /customer/list?page=1")
	require.True(t, ok, "b read it from Redis, and keeps it in memory")

	a.Invalidate(ctx, "cred-1")
	nsA, nsB := a.Namespace(ctx, "cred-1"), b.Namespace(ctx, "cred-1")
	assert.NotEqual(t, ns, nsB)
	assert.Equal(t, nsA, nsB)
	_, ok = b.Get(ctx, nsB+" GET /customer/list?page=1")
	assert.False(t, ok)
	assert.Equal(t, other, b.Namespace(ctx, "cred-2"), "another credential is left alone")
	_, ok = b.Get(ctx, other+" GET /customer/list?page=1")
	assert.True(t, ok)

	// A call that was in flight stores what it fetched before the write
	// under the namespace it started with: nobody reads it.
	a.Set(ctx, ns+" GET /customer/list?page=2", samplePage(), time.Hour)
	_, ok = b.Get(ctx, b.Namespace(ctx, "cred-1")+" GET /customer/list?page=2")
	assert.False(t, ok)

	gen, err := rawClient(t, redis.URL).TTL(ctx, "gw:gen:page:cred-1").Result()
	require.NoError(t, err)
	assert.Greater(t, gen, time.Hour, "generations outlive the entries")
}

// Without Redis, a replica keeps the generations it read: its memory still
// serves, and Invalidate still works for its own memory.
func TestNamespacesWhileRedisIsDown(t *testing.T) {
	redis := redistest.Start(t)
	s := newStore(t, redis.URL)
	pages := s.PageCache(upstream.NewMemoryCache[upstream.Page](10), time.Hour)
	ctx := context.Background()
	ns := pages.Namespace(ctx, "cred-1")
	pages.Set(ctx, ns+" k", samplePage(), time.Hour)

	redis.Stop()
	assert.Equal(t, ns, pages.Namespace(ctx, "cred-1"), "the last generation read")
	_, ok := pages.Get(ctx, ns+" k")
	assert.True(t, ok, "memory serves")
	pages.Invalidate(ctx, "cred-1")
	assert.NotEqual(t, ns, pages.Namespace(ctx, "cred-1"))
	unseen := pages.Namespace(ctx, "cred-new")
	assert.Equal(t, unseen, pages.Namespace(ctx, "cred-new"), "a credential never read gets one of this replica's own")
}

// Two gateway replicas, each with its upstream client and memory, share
// the pages in Redis; a create through one replica (Invalidate) shows in
// the next list through the other.
func TestAWriteThroughOneReplicaShowsOnTheOther(t *testing.T) {
	redis := redistest.Start(t)
	up := upstreamtest.NewServer(upstreamtest.WithCustomers(30))
	t.Cleanup(up.Close)
	secret := upstream.WithCacheKeySecret([]byte("0123456789abcdef0123456789abcdef"))
	replica := func() *upstream.Client {
		pages := newStore(t, redis.URL).PageCache(upstream.NewMemoryCache[upstream.Page](100), time.Hour)
		c, err := upstream.New(up.URL, secret, upstream.WithCache(pages, time.Hour, 0))
		require.NoError(t, err)
		return c
	}
	a, b := replica(), replica()
	ctx := context.Background()
	list := func(c *upstream.Client) upstream.Page {
		t.Helper()
		p, err := c.Customers.List(ctx, "agency-key", 2, upstream.SortCreatedAt)
		require.NoError(t, err)
		return p
	}

	require.Len(t, list(a).Customers, 10)
	require.Len(t, list(b).Customers, 10, "from Redis")
	require.Len(t, list(b).Customers, 10, "from b's memory")
	require.EqualValues(t, 1, up.Calls())

	added := up.Add("agency-key", upstreamtest.Customer{Name: "Ada", Email: "ada@example.com"})
	a.Invalidate(ctx, "agency-key")
	p := list(b)
	require.Len(t, p.Customers, 11)
	assert.Equal(t, added["_id"], p.Customers[10].ID)
	assert.EqualValues(t, 2, up.Calls())
	assert.Len(t, list(a).Customers, 11, "b's fetch, from Redis")
	assert.EqualValues(t, 2, up.Calls())

	keys, err := rawClient(t, redis.URL).Keys(ctx, "*").Result()
	require.NoError(t, err)
	for _, k := range keys {
		assert.NotContains(t, k, "agency-key")
	}
}
