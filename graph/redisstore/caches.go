package redisstore

import (
	"context"
	"encoding/json"
	"time"

	"github.com/99designs/gqlgen/graphql"

	"github.com/botpenguin-gateway/gateway/upstream"
)

// PageCache returns the upstream page cache in two tiers: this process's
// memory first, then Redis, which every replica shares. Keys come from the
// upstream client already hashed: they never hold a token.
func (s *Store) PageCache(memory upstream.Cache) upstream.Cache {
	return &pageCache{store: s, memory: memory}
}

type pageCache struct {
	store  *Store
	memory upstream.Cache
}

// storedPage is the Redis value of a page; v1 is in the key (see
// upstream's cache keys), so a new shape gets new keys.
type storedPage struct {
	StoredAt  time.Time     `json:"storedAt"`
	KeepUntil time.Time     `json:"keepUntil"`
	Page      upstream.Page `json:"page"`
}

func (c *pageCache) Get(ctx context.Context, key string) (upstream.CachedPage, bool) {
	if p, ok := c.memory.Get(ctx, key); ok {
		return p, true
	}
	b, ok := c.store.get(ctx, "page:"+key)
	if !ok {
		return upstream.CachedPage{}, false
	}
	var sp storedPage
	if err := json.Unmarshal(b, &sp); err != nil {
		return upstream.CachedPage{}, false
	}
	p := upstream.CachedPage{Page: sp.Page, StoredAt: sp.StoredAt}
	if keep := time.Until(sp.KeepUntil); keep > 0 {
		c.memory.Set(ctx, key, p, keep)
	}
	return p, true
}

func (c *pageCache) Set(ctx context.Context, key string, p upstream.CachedPage, keepFor time.Duration) {
	c.memory.Set(ctx, key, p, keepFor)
	b, err := json.Marshal(storedPage{StoredAt: p.StoredAt, KeepUntil: time.Now().Add(keepFor), Page: p.Page})
	if err != nil {
		return
	}
	c.store.set(ctx, "page:"+key, b, keepFor)
}

// APQCache returns the store of automatic persisted queries in two tiers:
// memory first, then Redis, so that a query registered through one replica
// is served by every other. Documents are kept for ttl.
func (s *Store) APQCache(memory graphql.Cache[string], ttl time.Duration) graphql.Cache[string] {
	return &apqCache{store: s, memory: memory, ttl: ttl}
}

type apqCache struct {
	store  *Store
	memory graphql.Cache[string]
	ttl    time.Duration
}

func (c *apqCache) Get(ctx context.Context, hash string) (string, bool) {
	if q, ok := c.memory.Get(ctx, hash); ok {
		return q, true
	}
	b, ok := c.store.get(ctx, "apq:"+hash)
	if !ok {
		return "", false
	}
	c.memory.Add(ctx, hash, string(b))
	return string(b), true
}

func (c *apqCache) Add(ctx context.Context, hash, query string) {
	c.memory.Add(ctx, hash, query)
	c.store.set(ctx, "apq:"+hash, []byte(query), c.ttl)
}
