package redisstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"reflect"
	"time"

	"github.com/99designs/gqlgen/graphql"

	"github.com/botpenguin-gateway/gateway/upstream"
)

// PageCache returns the upstream page cache in two tiers: this process's
// memory first, then Redis, which every replica shares. An entry in memory
// younger than ttl (CACHE_TTL) is served from memory; an older one is
// checked against Redis, so that a page another replica fetched again is
// used here too instead of a fetch of this replica's own. Keys come from
// the upstream client already hashed: they never hold a token.
func (s *Store) PageCache(memory upstream.Cache, ttl time.Duration) upstream.Cache {
	return &pageCache{store: s, memory: memory, ttl: ttl}
}

type pageCache struct {
	store  *Store
	memory upstream.Cache
	ttl    time.Duration
}

// storedPage is the Redis value of a page, as JSON.
type storedPage struct {
	StoredAt  time.Time     `json:"storedAt"`
	KeepUntil time.Time     `json:"keepUntil"`
	Page      upstream.Page `json:"page"`
}

// pageShape fingerprints the Go type of a stored page, field names and
// types all the way down, and is part of every page key: replicas built
// with different upstream.Page types (during a rolling deploy) never
// decode each other's values into missing or zero fields; they miss.
var pageShape = shapeOf(reflect.TypeFor[storedPage]())

func pageKey(key string) string { return "page:" + pageShape + ":" + key }

func (c *pageCache) Get(ctx context.Context, key string) (upstream.CachedPage, bool) {
	mem, inMemory := c.memory.Get(ctx, key)
	if inMemory && time.Since(mem.StoredAt) < c.ttl {
		return mem, true
	}
	shared, keep, ok := c.shared(ctx, key)
	switch {
	case ok && (!inMemory || shared.StoredAt.After(mem.StoredAt)):
		c.memory.Set(ctx, key, shared, keep)
		return shared, true
	case inMemory:
		return mem, true
	}
	return upstream.CachedPage{}, false
}

// shared reads key from Redis: the page, and how much longer it may be kept.
func (c *pageCache) shared(ctx context.Context, key string) (upstream.CachedPage, time.Duration, bool) {
	b, ok := c.store.get(ctx, pageKey(key))
	if !ok {
		return upstream.CachedPage{}, 0, false
	}
	var sp storedPage
	if err := json.Unmarshal(b, &sp); err != nil {
		return upstream.CachedPage{}, 0, false
	}
	keep := time.Until(sp.KeepUntil)
	if keep <= 0 {
		return upstream.CachedPage{}, 0, false
	}
	// Only fresh upstream pages are stored; the client sets these two.
	sp.Page.Stale, sp.Page.Age = false, 0
	return upstream.CachedPage{Page: sp.Page, StoredAt: sp.StoredAt}, keep, true
}

func (c *pageCache) Set(ctx context.Context, key string, p upstream.CachedPage, keepFor time.Duration) {
	c.memory.Set(ctx, key, p, keepFor)
	b, err := json.Marshal(storedPage{StoredAt: p.StoredAt, KeepUntil: time.Now().Add(keepFor), Page: p.Page})
	if err != nil {
		return
	}
	c.store.set(ctx, pageKey(key), b, keepFor)
}

// shapeOf is a short hash of t's structure: kinds, field names, tags and
// element types, recursively. Types with their own JSON form (time.Time)
// count by name.
func shapeOf(t reflect.Type) string {
	h := sha256.New()
	writeShape(h, t, 0)
	return hex.EncodeToString(h.Sum(nil)[:6])
}

var jsonMarshaler = reflect.TypeFor[json.Marshaler]()

func writeShape(h hash.Hash, t reflect.Type, depth int) {
	if depth > 20 {
		fmt.Fprint(h, "...")
		return
	}
	switch {
	case t.Implements(jsonMarshaler):
		fmt.Fprint(h, t.String())
	case t.Kind() == reflect.Pointer || t.Kind() == reflect.Slice || t.Kind() == reflect.Array:
		fmt.Fprint(h, t.Kind(), "(")
		writeShape(h, t.Elem(), depth+1)
		fmt.Fprint(h, ")")
	case t.Kind() == reflect.Map:
		fmt.Fprint(h, "map(", t.Key(), ")(")
		writeShape(h, t.Elem(), depth+1)
		fmt.Fprint(h, ")")
	case t.Kind() == reflect.Struct:
		fmt.Fprint(h, t.String(), "{")
		for f := range t.Fields() {
			fmt.Fprintf(h, "%s %q ", f.Name, f.Tag)
			writeShape(h, f.Type, depth+1)
			fmt.Fprint(h, ";")
		}
		fmt.Fprint(h, "}")
	default:
		fmt.Fprint(h, t.String())
	}
}

// APQCache returns the store of automatic persisted queries in two tiers:
// memory first, then Redis, so that a query registered through one replica
// is served by every other. Documents are kept in Redis for ttl. A
// document read from Redis is used only if it hashes to its key.
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
	// gqlgen names a document by the hex SHA-256 of its text.
	if sum := sha256.Sum256(b); hex.EncodeToString(sum[:]) != hash {
		return "", false
	}
	c.memory.Add(ctx, hash, string(b))
	return string(b), true
}

func (c *apqCache) Add(ctx context.Context, hash, query string) {
	c.memory.Add(ctx, hash, query)
	c.store.set(ctx, "apq:"+hash, []byte(query), c.ttl)
}
