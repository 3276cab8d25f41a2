package upstream

import (
	"context"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
)

// DefaultCacheEntries is the size of a MemoryCache built with a size below 1.
const DefaultCacheEntries = 10_000

// MemoryCache is a Cache in this process: a size-bounded LRU. Entries are
// dropped once past their keepFor (or when evicted); whether an entry is
// fresh or only good as stale-if-error is for the client to decide from
// StoredAt.
type MemoryCache struct {
	lru *lru.Cache[string, memEntry]
	now func() time.Time // replaced in tests
}

type memEntry struct {
	page    CachedPage
	expires time.Time
}

// NewMemoryCache returns an empty cache of at most maxEntries pages
// (DefaultCacheEntries when maxEntries < 1).
func NewMemoryCache(maxEntries int) *MemoryCache {
	if maxEntries < 1 {
		maxEntries = DefaultCacheEntries
	}
	l, err := lru.New[string, memEntry](maxEntries)
	if err != nil {
		panic(err) // only for a size < 1, excluded above
	}
	return &MemoryCache{lru: l, now: time.Now}
}

// Get returns the entry under key unless it is past its keepFor.
func (m *MemoryCache) Get(_ context.Context, key string) (CachedPage, bool) {
	e, ok := m.lru.Get(key)
	if !ok {
		return CachedPage{}, false
	}
	if !m.now().Before(e.expires) {
		m.lru.Remove(key)
		return CachedPage{}, false
	}
	return e.page, true
}

// Set stores p under key for keepFor; a keepFor of 0 or less stores nothing.
func (m *MemoryCache) Set(_ context.Context, key string, p CachedPage, keepFor time.Duration) {
	if keepFor <= 0 {
		return
	}
	m.lru.Add(key, memEntry{page: p, expires: m.now().Add(keepFor)})
}

// Len is the number of entries, expired ones not yet dropped included.
func (m *MemoryCache) Len() int { return m.lru.Len() }
