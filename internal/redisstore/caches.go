package redisstore

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"hash"
	"math/rand/v2"
	"reflect"
	"strconv"
	"sync"
	"time"

	"github.com/99designs/gqlgen/graphql"
	lru "github.com/hashicorp/golang-lru/v2"

	"github.com/botpenguin-gateway/gateway/upstream"
)

// PageCache returns the upstream page cache in two tiers: this process's
// memory first, then Redis, which every replica shares. An entry in memory
// younger than ttl (CACHE_TTL) is served from memory; an older one is
// checked against Redis, so that a page another replica fetched again is
// used here too instead of a fetch of this replica's own. Keys come from
// the upstream client already hashed: they never hold a token.
//
// Invalidate reaches every replica through Redis: each credential's
// namespace holds a generation kept in Redis and read by Namespace on
// every lookup, so that once one replica gives a credential a new
// generation, no replica reads its older entries again, from Redis or
// from its own memory.
func (s *Store) PageCache(memory upstream.Cache[upstream.Page], ttl time.Duration) upstream.Cache[upstream.Page] {
	return newTiered(s, "page", memory, ttl)
}

// generationTTL is how long Redis keeps a credential's generation. One
// that expired is replaced by a new one: the entries of the old one are
// then merely missed, never served wrongly.
const generationTTL = 24 * time.Hour

// generationsKept bounds the generations a replica remembers for when
// Redis cannot be read, and those it could not write yet.
const generationsKept = 10_000

// tiered is an upstream.Cache in two tiers: memory, then Redis.
type tiered[T any] struct {
	store  *Store
	kind   string // what the entries are ("page"), in their Redis keys
	shape  string // shapeOf the stored value, in every entry's Redis key
	memory upstream.Cache[T]
	ttl    time.Duration
	// generations are the last read from Redis, per credential: they stand
	// in while Redis cannot be read.
	generations *lru.Cache[string, string]
	// unsynced are the generations this replica gave that Redis has not
	// taken (refused, unreachable or skipped), per credential. They win
	// over Redis, which holds an older one: read back, that one would serve
	// again the entries from before the write that invalidated them. Past
	// generationsKept the oldest is forgotten, and Redis wins again.
	unsynced *lru.Cache[string, string]
	// writing orders the writes of generations, so that the last one to
	// reach Redis is the newest this replica gave.
	writing sync.Mutex
}

func newTiered[T any](s *Store, kind string, memory upstream.Cache[T], ttl time.Duration) *tiered[T] {
	gens, err := lru.New[string, string](generationsKept)
	if err != nil {
		panic(err) // only for a size < 1
	}
	unsynced, err := lru.New[string, string](generationsKept)
	if err != nil {
		panic(err)
	}
	return &tiered[T]{
		store: s, kind: kind, shape: shapeOf(reflect.TypeFor[stored[T]]()),
		memory: memory, ttl: ttl, generations: gens, unsynced: unsynced,
	}
}

// stored is the Redis value of an entry, as JSON.
type stored[T any] struct {
	StoredAt  time.Time `json:"storedAt"`
	KeepUntil time.Time `json:"keepUntil"`
	Value     T         `json:"value"`
}

// The shape of the stored value (see shapeOf) is part of every entry's
// key: replicas built with different upstream types (during a rolling
// deploy) never decode each other's values into missing or zero fields;
// they miss.
func (c *tiered[T]) entryKey(key string) string { return c.kind + ":" + c.shape + ":" + key }

func (c *tiered[T]) generationKey(credential string) string {
	return "gen:" + c.kind + ":" + credential
}

// Namespace is credential and its generation, as Redis holds it. While
// Redis cannot be read, the generation last read here stands in, or a new
// one of this replica's own. A generation Invalidate could not write wins
// over Redis until one is written (see sync).
func (c *tiered[T]) Namespace(ctx context.Context, credential string) string {
	if gen, ok := c.sync(ctx, credential); ok {
		return credential + "." + gen
	}
	gen, ok := c.store.generation(ctx, c.generationKey(credential))
	if ok {
		c.generations.Add(credential, gen)
	} else if gen, ok = c.generations.Get(credential); !ok {
		gen = newGeneration()
		c.generations.Add(credential, gen)
	}
	return credential + "." + gen
}

// Invalidate gives credential a new generation, in Redis for every
// replica. When Redis cannot be written, only this replica forgets the
// credential's entries, and the next lookups here try to write; the
// others serve theirs until one succeeds or they expire.
func (c *tiered[T]) Invalidate(ctx context.Context, credential string) {
	c.writing.Lock()
	defer c.writing.Unlock()
	gen := newGeneration()
	c.generations.Add(credential, gen)
	// Unsynced first: a lookup meanwhile must not read the old one back.
	c.unsynced.Add(credential, gen)
	if c.store.set(ctx, c.generationKey(credential), []byte(gen), generationTTL) {
		c.unsynced.Remove(credential)
	}
}

// sync returns the generation Invalidate gave credential here and could
// not write to Redis, if any, after one try (under the store's failure
// policy) to write a new one in its place. A new one, not the unsynced:
// another replica may have invalidated since, and entries this replica
// stored under the unsynced one may predate that. A lookup never waits for
// another's write; it uses the unsynced generation meanwhile.
func (c *tiered[T]) sync(ctx context.Context, credential string) (string, bool) {
	gen, ok := c.unsynced.Get(credential)
	if !ok || !c.writing.TryLock() {
		return gen, ok
	}
	defer c.writing.Unlock()
	if gen, ok = c.unsynced.Get(credential); !ok {
		return "", false // written meanwhile: Redis has it
	}
	fresh := newGeneration()
	if !c.store.set(ctx, c.generationKey(credential), []byte(fresh), generationTTL) {
		return gen, true
	}
	c.generations.Add(credential, fresh)
	c.unsynced.Remove(credential)
	return fresh, true
}

// newGeneration is a random generation: never one that was used before.
func newGeneration() string { return strconv.FormatUint(rand.Uint64(), 36) }

func (c *tiered[T]) Get(ctx context.Context, key string) (upstream.Entry[T], bool) {
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
	return upstream.Entry[T]{}, false
}

// shared reads key from Redis: the entry, and how much longer it may be
// kept.
func (c *tiered[T]) shared(ctx context.Context, key string) (upstream.Entry[T], time.Duration, bool) {
	b, ok := c.store.get(ctx, c.entryKey(key))
	if !ok {
		return upstream.Entry[T]{}, 0, false
	}
	var st stored[T]
	if err := json.Unmarshal(b, &st); err != nil {
		return upstream.Entry[T]{}, 0, false
	}
	keep := time.Until(st.KeepUntil)
	if keep <= 0 {
		return upstream.Entry[T]{}, 0, false
	}
	return upstream.Entry[T]{Value: st.Value, StoredAt: st.StoredAt}, keep, true
}

func (c *tiered[T]) Set(ctx context.Context, key string, e upstream.Entry[T], keepFor time.Duration) {
	c.memory.Set(ctx, key, e, keepFor)
	b, err := json.Marshal(stored[T]{StoredAt: e.StoredAt, KeepUntil: time.Now().Add(keepFor), Value: e.Value})
	if err != nil {
		return
	}
	c.store.set(ctx, c.entryKey(key), b, keepFor)
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
