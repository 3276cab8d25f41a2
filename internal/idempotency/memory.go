package idempotency

import (
	"context"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
)

// MemoryStore keeps records in this process, at most a fixed number: past
// it the least recently used are dropped, which only makes a late repeat
// run again (the upstream then refuses the taken email).
type MemoryStore struct {
	mu      sync.Mutex // Claim reads and writes at once
	records *lru.Cache[string, memoryRecord]
	now     func() time.Time
}

type memoryRecord struct {
	rec     Record
	expires time.Time
}

// DefaultMemoryRecords bounds the records a MemoryStore of the gateway
// keeps: tens of MB at most, at a few hundred bytes each.
const DefaultMemoryRecords = 200_000

// NewMemoryStore returns a store of at most maxRecords records.
func NewMemoryStore(maxRecords int) *MemoryStore {
	records, err := lru.New[string, memoryRecord](maxRecords)
	if err != nil {
		panic(err) // only for a size < 1
	}
	return &MemoryStore{records: records, now: time.Now}
}

// Claim implements Store.
func (m *MemoryStore) Claim(_ context.Context, key string, rec Record, ttl time.Duration) (Record, bool, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if e, ok := m.records.Get(key); ok && m.now().Before(e.expires) {
		return e.rec, false, nil
	}
	m.records.Add(key, memoryRecord{rec: rec, expires: m.now().Add(ttl)})
	return Record{}, true, nil
}

// Finish implements Store.
func (m *MemoryStore) Finish(_ context.Context, key string, rec Record, ttl time.Duration) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.records.Add(key, memoryRecord{rec: rec, expires: m.now().Add(ttl)})
	return nil
}

// Release implements Store.
func (m *MemoryStore) Release(_ context.Context, key, owner string) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if e, ok := m.records.Peek(key); ok && e.rec.Owner == owner && !e.rec.Done {
		m.records.Remove(key)
	}
	return nil
}
