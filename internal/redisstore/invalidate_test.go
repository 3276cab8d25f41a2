package redisstore_test

import (
	"context"
	"sync"
	"sync/atomic"
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

// refuseWrites makes Redis refuse every write, as out of memory with the
// noeviction policy, while it still answers reads.
func refuseWrites(t *testing.T, url string) {
	t.Helper()
	raw := rawClient(t, url)
	require.NoError(t, raw.ConfigSet(context.Background(), "maxmemory-policy", "noeviction").Err())
	require.NoError(t, raw.ConfigSet(context.Background(), "maxmemory", "1").Err())
}

func acceptWrites(t *testing.T, url string) {
	t.Helper()
	require.NoError(t, rawClient(t, url).ConfigSet(context.Background(), "maxmemory", "0").Err())
}

// An Invalidate that Redis refused holds on the replica that made it: the
// old generation, still in Redis, is never read back there. Each lookup
// tries once to write, and once Redis takes it every replica has it.
func TestAnInvalidateRedisRefusedHoldsUntilWritten(t *testing.T) {
	redis := redistest.Start(t)
	sa := newStore(t, redis.URL)
	a := sa.PageCache(upstream.NewMemoryCache[upstream.Page](10), time.Hour)
	b := newStore(t, redis.URL).PageCache(upstream.NewMemoryCache[upstream.Page](10), time.Hour)
	ctx := context.Background()
	ns := a.Namespace(ctx, "cred-1")
	require.Equal(t, ns, b.Namespace(ctx, "cred-1"))
	a.Set(ctx, ns+" k", samplePage(), time.Hour)

	refuseWrites(t, redis.URL)
	a.Invalidate(ctx, "cred-1")
	unsynced := a.Namespace(ctx, "cred-1")
	assert.NotEqual(t, ns, unsynced)
	for range 3 {
		assert.Equal(t, unsynced, a.Namespace(ctx, "cred-1"), "the old generation is never read back")
	}
	_, ok := a.Get(ctx, unsynced+" k")
	assert.False(t, ok)
	assert.Equal(t, 5.0, sa.metric(t, "gateway_redis_errors_total", "op", "set"),
		"writes refused: Invalidate's, then one try per lookup")
	assert.Equal(t, 1.0, sa.metric(t, "gateway_redis_up"), "a refusal is not an outage")
	assert.Equal(t, ns, b.Namespace(ctx, "cred-1"), "the other replica does not know yet")

	acceptWrites(t, redis.URL)
	synced := a.Namespace(ctx, "cred-1")
	assert.NotEqual(t, ns, synced)
	assert.Equal(t, synced, b.Namespace(ctx, "cred-1"), "written: every replica has it")
	assert.Equal(t, synced, a.Namespace(ctx, "cred-1"), "read from Redis again")
	assert.Equal(t, 5.0, sa.metric(t, "gateway_redis_errors_total", "op", "set"), "no more tries once written")
}

// The same when Redis was down during Invalidate and comes back with its
// data, the old generation included.
func TestAnInvalidateWhileRedisIsDownHoldsUntilWritten(t *testing.T) {
	redis := redistest.Start(t)
	a := newStore(t, redis.URL).PageCache(upstream.NewMemoryCache[upstream.Page](10), time.Hour)
	b := newStore(t, redis.URL).PageCache(upstream.NewMemoryCache[upstream.Page](10), time.Hour)
	ctx := context.Background()
	ns := a.Namespace(ctx, "cred-1")
	require.Equal(t, ns, b.Namespace(ctx, "cred-1"))
	require.NoError(t, rawClient(t, redis.URL).Save(ctx).Err(), "the restarted Redis finds the old generation")

	redis.Stop()
	a.Invalidate(ctx, "cred-1")
	unsynced := a.Namespace(ctx, "cred-1")
	assert.NotEqual(t, ns, unsynced)
	redis.Restart()
	assert.Equal(t, ns, b.Namespace(ctx, "cred-1"), "Redis came back with the old generation")
	for range 3 {
		assert.Equal(t, unsynced, a.Namespace(ctx, "cred-1"), "Redis is left alone for a while; the old generation is never read back")
	}

	var readBack atomic.Bool
	require.Eventually(t, func() bool { // a's next try after Redis was left alone
		nsA := a.Namespace(ctx, "cred-1")
		if nsA == ns {
			readBack.Store(true)
		}
		return nsA != ns && nsA == b.Namespace(ctx, "cred-1")
	}, 10*time.Second, 50*time.Millisecond)
	assert.False(t, readBack.Load(), "the old generation was read back")
	assert.NotEqual(t, ns, b.Namespace(ctx, "cred-1"))
}

// The generation written once Redis takes writes again is a new one, not
// the one used meanwhile: another replica may have invalidated since, and
// what this replica stored meanwhile may predate that.
func TestAGenerationWrittenLateIsNewerThanAnother(t *testing.T) {
	redis := redistest.Start(t)
	a := newStore(t, redis.URL).PageCache(upstream.NewMemoryCache[upstream.Page](10), time.Hour)
	b := newStore(t, redis.URL).PageCache(upstream.NewMemoryCache[upstream.Page](10), time.Hour)
	ctx := context.Background()
	ns := a.Namespace(ctx, "cred-1")

	refuseWrites(t, redis.URL)
	a.Invalidate(ctx, "cred-1")
	unsynced := a.Namespace(ctx, "cred-1")
	a.Set(ctx, unsynced+" k", samplePage(), time.Hour) // fetched before b's write below

	acceptWrites(t, redis.URL)
	b.Invalidate(ctx, "cred-1")
	byB := b.Namespace(ctx, "cred-1")
	synced := a.Namespace(ctx, "cred-1")
	assert.Equal(t, synced, b.Namespace(ctx, "cred-1"))
	assert.NotContains(t, []string{ns, unsynced, byB}, synced)
	_, ok := a.Get(ctx, synced+" k")
	assert.False(t, ok)
}

// Lookups and invalidations at once, while Redis refuses writes, leave
// the replica with an unsynced generation, never the old one, and the
// next lookup once Redis takes writes again shares a new one.
func TestConcurrentInvalidatesWhileRedisRefusesWrites(t *testing.T) {
	redis := redistest.Start(t)
	a := newStore(t, redis.URL).PageCache(upstream.NewMemoryCache[upstream.Page](10), time.Hour)
	b := newStore(t, redis.URL).PageCache(upstream.NewMemoryCache[upstream.Page](10), time.Hour)
	ctx := context.Background()
	ns := a.Namespace(ctx, "cred-1")

	refuseWrites(t, redis.URL)
	a.Invalidate(ctx, "cred-1")
	var readBack atomic.Bool
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			for range 20 {
				if i == 0 {
					a.Invalidate(ctx, "cred-1")
				} else if a.Namespace(ctx, "cred-1") == ns {
					readBack.Store(true)
				}
			}
		})
	}
	wg.Wait()
	assert.False(t, readBack.Load(), "the old generation was read back")
	assert.Equal(t, ns, b.Namespace(ctx, "cred-1"))

	acceptWrites(t, redis.URL)
	synced := a.Namespace(ctx, "cred-1")
	assert.NotEqual(t, ns, synced)
	assert.Equal(t, synced, b.Namespace(ctx, "cred-1"))
}

// A create through a replica whose Redis refuses writes shows in the next
// list through that replica, and through every other once Redis takes
// writes again.
func TestACreateShowsWhileRedisRefusesWrites(t *testing.T) {
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
	require.EqualValues(t, 1, up.Calls())

	refuseWrites(t, redis.URL)
	up.Add("agency-key", upstreamtest.Customer{Name: "Ada", Email: "ada@example.com"})
	a.Invalidate(ctx, "agency-key")
	assert.Len(t, list(a).Customers, 11)
	assert.Len(t, list(a).Customers, 11, "from a's memory")
	assert.EqualValues(t, 2, up.Calls())
	assert.Len(t, list(b).Customers, 10, "b does not know yet")

	acceptWrites(t, redis.URL)
	assert.Len(t, list(a).Customers, 11)
	assert.Len(t, list(b).Customers, 11, "a's fetch, from Redis")
	assert.EqualValues(t, 3, up.Calls(), "one fetch, shared through Redis")
}
