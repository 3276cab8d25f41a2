package upstream

import (
	"context"
	"strconv"
	"sync/atomic"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
)

// DefaultCacheEntries is the size of a MemoryCache built with a size below 1.
const DefaultCacheEntries = 10_000

// MemoryCache is a Cache in this process: a size-bounded LRU. Entries are
// dropped once past their keepFor (or when evicted); whether an entry is
// fresh or only good as stale-if-error is for the client to decide from
// StoredAt. Invalidate gives a credential a new generation in its
// namespace; the older entries are never read again and age out.
type MemoryCache[T any] struct {
	lru *lru.Cache[string, memEntry[T]]
	// generations holds each credential's generation. One that was
	// evicted gets a new one, never an old one again, so that the entries
	// of an older generation cannot come back.
	generations *lru.Cache[string, uint64]
	lastGen     atomic.Uint64
	now         func() time.Time // replaced in tests
}

type memEntry[T any] struct {
	entry   Entry[T]
	expires time.Time
}

// NewMemoryCache returns an empty cache of at most maxEntries entries
// (DefaultCacheEntries when maxEntries < 1).
func NewMemoryCache[T any](maxEntries int) *MemoryCache[T] {
	if maxEntries < 1 {
		maxEntries = DefaultCacheEntries
	}
	l, err := lru.New[string, memEntry[T]](maxEntries)
	if err != nil {
		panic(err) // only for a size < 1, excluded above
	}
	gens, err := lru.New[string, uint64](maxEntries)
	if err != nil {
		panic(err)
	}
	return &MemoryCache[T]{lru: l, generations: gens, now: time.Now}
}

// Namespace is credential and its generation.
func (m *MemoryCache[T]) Namespace(_ context.Context, credential string) string {
	gen, ok := m.generations.Get(credential)
	if !ok {
		gen = m.lastGen.Add(1)
		if prev, found, _ := m.generations.PeekOrAdd(credential, gen); found {
			gen = prev // another caller got there first
		}
	}
	return credential + "." + strconv.FormatUint(gen, 10)
}

// Invalidate starts a new generation of credential.
func (m *MemoryCache[T]) Invalidate(_ context.Context, credential string) {
	m.generations.Add(credential, m.lastGen.Add(1))
}

// Get returns the entry under key unless it is past its keepFor.
func (m *MemoryCache[T]) Get(_ context.Context, key string) (Entry[T], bool) {
	e, ok := m.lru.Get(key)
	if !ok {
		return Entry[T]{}, false
	}
	if !m.now().Before(e.expires) {
		m.lru.Remove(key)
		return Entry[T]{}, false
	}
	return e.entry, true
}

// Set stores e under key for keepFor; a keepFor of 0 or less stores nothing.
func (m *MemoryCache[T]) Set(_ context.Context, key string, e Entry[T], keepFor time.Duration) {
	if keepFor <= 0 {
		return
	}
	m.lru.Add(key, memEntry[T]{entry: e, expires: m.now().Add(keepFor)})
}

// Len is the number of entries, expired ones not yet dropped included.
func (m *MemoryCache[T]) Len() int { return m.lru.Len() }
