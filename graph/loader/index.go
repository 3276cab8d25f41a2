package loader

import (
	"encoding/binary"
	"hash/maphash"
	"math"
	"math/bits"
	"runtime"
	"sync"
	"time"

	"github.com/botpenguin-gateway/gateway/upstream"
)

// Index remembers, per credential, on which page each customer was last
// seen, by id and by email (folded, see foldEmail), so that a lookup costs
// that one page instead of a scan. It is learned from every page the
// loaders fetch, in any sort, and shared by every operation of the process.
//
// Of customers sharing an email, an entry keeps the page of the first
// created it has seen (by createdAt, whatever the sort of the page), since
// that is the one a lookup answers. It cannot know of one it has not seen:
// while the index has seen only a later duplicate (within maxAge), a warm
// lookup answers that one where a scan would meet the earlier one first.
//
// It is only a hint: a lookup fetches the page with the caller's own
// credential and takes the customer from that page alone. An entry out of
// date costs that page and then the scan; and an entry cannot show one
// credential what another fetched, since the caller's own upstream answer
// is what is read.
//
// An entry's key is a keyed hash (hash/maphash, under seeds drawn at
// start) of the credential and of the id or email: the index holds no
// token, id or email. It is bounded in entries: they live in a table of
// buckets of eight, two buckets a key, which doubles when a key finds
// both its buckets full, up to maxEntries; then a new entry takes the
// place of the one of its buckets whose page was fetched longest ago.
// The table holds no pointer and is mapped outside the Go heap where the
// platform allows (see newSlots), so it costs its size and no more: on
// the heap, the collector lets the heap grow by twice the live size
// (GOGC=200) before collecting, and with 1,000 tokens the two
// generations of maps this table replaced, and their garbage, raised the
// peak RSS from 39 MB to 50. It is bounded in age too: an entry seen
// longer ago than maxAge is not used. Written here because the Go caches
// made for size (freecache, fastcache, ristretto) store byte strings with
// headers or pointers per entry, fastcache 32 MB at least, where an entry
// here is 32 bytes.
//
// A page learned again with the same customers, fetched within
// relearnAfter of when it was last learned, is not written again
// (rewriting forty entries on every fetch of a busy page was 3 % of what
// a request costs): each page learned leaves a record in the table, which
// holds only while no entry as recent as relearnAfter has been dropped
// since (an epoch counts such drops). Meanwhile a customer's entry may
// name another page that was learned later and holds it too; entries
// skipped expire up to relearnAfter early. Either costs a lookup a page
// at most.
type Index struct {
	seed         maphash.Seed // of ids, emails and pages' contents
	credSeed     maphash.Seed // of credentials
	maxBuckets   int
	maxAge       time.Duration
	relearnAfter time.Duration
	now          func() time.Time // replaced in tests

	mu    sync.Mutex
	t     *table
	epoch int32 // counts drops of recent entries (see Learn)
}

// ways is how many slots a bucket has: a bucket is a few cache lines.
const ways = 8

// table is the slots of buckets*ways entries and page records.
type table struct {
	slots   []slot
	buckets int
}

// slot is an entry (where a customer was seen, by id or email) or the
// record of a page learned; 32 bytes.
type slot struct {
	key uint64 // 0: empty
	at  int64  // unix ns when the page was fetched from the upstream
	// aux is, in an email's entry, the customer's createdAt in unix µs
	// (exact for the upstream's milliseconds, and unlike ns it spans the
	// years 0000-9999 that a createdAt may have); in a page's record, a
	// hash of what it held (see contentSum).
	aux  int64
	page int32 // in a page's record, the epoch it was learned in
	sort uint8 // the sort's place in indexSorts, from 1; 0 in a page's record
}

// Location is where a customer was seen: a page in a sort.
type Location struct {
	Page int
	Sort upstream.Sort
}

// indexSorts are the sorts the index knows ("" is the upstream's default
// order); a page of another is not learned.
var indexSorts = [...]upstream.Sort{"", upstream.SortCreatedAt, upstream.SortUpdatedAt, upstream.SortName, upstream.SortLastLogin}

// entryAt is the entry for a page, zero when the index cannot hold it.
func entryAt(l Location) (slot, bool) {
	if l.Page < 1 || l.Page > math.MaxInt32 {
		return slot{}, false
	}
	for i, s := range indexSorts {
		if s == l.Sort {
			return slot{page: int32(l.Page), sort: uint8(i + 1)}, true
		}
	}
	return slot{}, false
}

func (s slot) location() Location {
	return Location{Page: int(s.page), Sort: indexSorts[s.sort-1]}
}

// The kinds of key, so that an id, an email and a page never share one.
const (
	byID    = 'i'
	byEmail = 'e'
	aPage   = 'p'
)

// NewIndex returns an empty index of at most maxEntries entries and page
// records (ids and emails; rounded down to a multiple of 8, at least 8)
// that uses an entry for maxAge after its page was fetched.
func NewIndex(maxEntries int, maxAge time.Duration) *Index {
	maxBuckets := max(maxEntries/ways, 1)
	return &Index{
		seed:         maphash.MakeSeed(),
		credSeed:     maphash.MakeSeed(),
		maxBuckets:   maxBuckets,
		maxAge:       maxAge,
		relearnAfter: min(time.Second, maxAge/2),
		now:          time.Now,
		t:            newTable(min(maxBuckets, 64)),
	}
}

func newTable(buckets int) *table {
	t := &table{slots: newSlots(buckets * ways), buckets: buckets}
	runtime.AddCleanup(t, freeSlots, t.slots)
	return t
}

// Learn records where the customers of page were seen, over where they
// were seen before; but an email's fresh entry for a customer created
// earlier than the one of page keeps its page (the same customer, or one
// created in the same µs, takes the new page).
func (x *Index) Learn(key PageKey, page upstream.Page) {
	if len(page.Customers) == 0 {
		return
	}
	s, ok := entryAt(Location{key.Page, key.Sort})
	if !ok {
		return
	}
	cred := x.credential(key.Token)
	now := x.now().UnixNano() // once: a clock read costs more than a map hit
	s.at = now - int64(page.Age)
	rec := slot{key: x.pageKey(cred, s), at: s.at, aux: int64(x.contentSum(page))}
	x.mu.Lock()
	defer x.mu.Unlock()
	if was, ok := x.get(rec.key); ok && was.page == x.epoch && was.aux == rec.aux && s.at-was.at < int64(x.relearnAfter) {
		return // fetched less than relearnAfter later (or earlier, from a cache), unchanged
	}
	// A batch's keys first, then their buckets read together (see warm);
	// 0 is no email (a key is never 0).
	const batch = 32
	var ids, emails [batch]uint64
	for from := 0; from < len(page.Customers); from += batch {
		cs := page.Customers[from:min(from+batch, len(page.Customers))]
		for i := range cs {
			ids[i] = key64(x.seed, cred, byID, cs[i].ID)
			emails[i] = 0
			if cs[i].Email != nil {
				emails[i] = key64(x.seed, cred, byEmail, foldEmail(*cs[i].Email))
			}
		}
		x.t.warm(ids[:len(cs)], emails[:len(cs)])
		for i := range cs {
			s.key = ids[i]
			x.set(s, now)
			if emails[i] == 0 {
				continue
			}
			e := s
			e.key = emails[i]
			e.aux = cs[i].CreatedAt.UnixMicro()
			if was, ok := x.get(e.key); ok && x.fresh(was, now) && was.aux < e.aux {
				continue // an earlier customer with this email: still the answer
			}
			x.set(e, now)
		}
	}
	rec.page = x.epoch // after the writes, which may have dropped entries
	x.set(rec, now)
}

// pageKey is the key of the record of a credential's page.
func (x *Index) pageKey(cred uint64, s slot) uint64 {
	type pageAt struct {
		cred uint64
		page int32
		sort uint8
	}
	return nonZero(maphash.Comparable(x.seed, pageAt{cred, s.page, s.sort}) ^ cred ^ aPage)
}

// contentSum is a keyed hash of what Learn reads of a page: its customers'
// ids, emails and creation times, in order.
func (x *Index) contentSum(page upstream.Page) uint64 {
	var h maphash.Hash
	h.SetSeed(x.seed)
	var n [8]byte
	word := func(v uint64) {
		binary.LittleEndian.PutUint64(n[:], v)
		h.Write(n[:])
	}
	for i := range page.Customers {
		c := &page.Customers[i]
		word(uint64(len(c.ID)))
		h.WriteString(c.ID)
		word(uint64(c.CreatedAt.UnixMicro()))
		if c.Email == nil {
			word(math.MaxUint64) // no email, unlike an empty one
			continue
		}
		word(uint64(len(*c.Email)))
		h.WriteString(*c.Email)
	}
	return h.Sum64()
}

// ID returns where the customer with this id was last seen through token.
func (x *Index) ID(token upstream.Token, id string) (Location, bool) {
	return x.lookup(token, byID, id)
}

// Email returns where the first created customer with this email (in any
// case) the index has seen through token was last seen.
func (x *Index) Email(token upstream.Token, email string) (Location, bool) {
	return x.lookup(token, byEmail, foldEmail(email))
}

// find is where the customer w asks for was last seen through token.
func (x *Index) find(token upstream.Token, w lookup) (Location, bool) {
	return x.lookup(token, w.kind(), w.value)
}

// forget drops the entry of w, after its page no longer held it.
func (x *Index) forget(token upstream.Token, w lookup) {
	k := key64(x.seed, x.credential(token), w.kind(), w.value)
	x.mu.Lock()
	defer x.mu.Unlock()
	if i, ok := x.t.find(k); ok {
		x.t.slots[i] = slot{}
		x.epoch++ // the page w is on now must be learned again, whenever it was last
	}
}

func (w lookup) kind() byte {
	if w.email {
		return byEmail
	}
	return byID
}

func (x *Index) lookup(token upstream.Token, kind byte, v string) (Location, bool) {
	k := key64(x.seed, x.credential(token), kind, v)
	now := x.now().UnixNano() // outside the lock, as in Learn
	x.mu.Lock()
	defer x.mu.Unlock()
	s, ok := x.get(k)
	if !ok || s.sort == 0 || !x.fresh(s, now) {
		return Location{}, false // a page's record under a colliding key is no place
	}
	return s.location(), true
}

// get is the slot of key k.
func (x *Index) get(k uint64) (slot, bool) {
	if i, ok := x.t.find(k); ok {
		return x.t.slots[i], true
	}
	return slot{}, false
}

// set writes s in the slot of its key, or else in an empty one of its
// two buckets. When both are full the table doubles, below its cap, so
// that no entry is dropped before the index holds maxEntries' worth; at
// its cap, s takes the place of the slot whose page was fetched longest
// ago.
func (x *Index) set(s slot, now int64) {
	i := x.t.place(s.key)
	for x.t.slots[i].key != 0 && x.t.slots[i].key != s.key && x.t.buckets < x.maxBuckets {
		x.grow(now)
		i = x.t.place(s.key)
	}
	if old := x.t.slots[i]; old.key != s.key && old.sort != 0 && now-old.at < int64(x.relearnAfter) {
		x.epoch++ // a recent entry is dropped: its page must be learned again
	}
	x.t.slots[i] = s
}

// grow doubles the table (up to its cap), leaving out what has expired.
func (x *Index) grow(now int64) {
	old := x.t
	x.t = newTable(min(old.buckets*2, x.maxBuckets))
	for _, s := range old.slots {
		if s.key != 0 && x.fresh(s, now) {
			x.t.slots[x.t.place(s.key)] = s
		}
	}
	runtime.KeepAlive(old) // its slots are unmapped once it is collected
	x.epoch++              // what did not fit in its new buckets is dropped
}

// fresh is whether s is still used at now (unix ns).
func (x *Index) fresh(s slot, now int64) bool { return now-s.at < int64(x.maxAge) }

// warm reads every cache line of the two buckets of each key, before
// they are read one by one: the reads do not wait on each other, so their
// cache misses overlap, where place waits on each in turn. The table is
// megabytes, and a page of a new credential missed on most of its keys:
// those misses were 7 % of BenchmarkQ1DistinctTokens's CPU. Not inlined,
// so that its reads, whose sum nothing uses, are not left out.
//
//go:noinline
func (t *table) warm(keys ...[]uint64) (sum uint64) {
	for _, ks := range keys {
		for _, k := range ks {
			if k == 0 {
				continue
			}
			for _, b := range t.bucketsOf(k) {
				for j := b * ways; j < (b+1)*ways; j += 2 { // two slots a cache line
					sum += t.slots[j].key
				}
			}
		}
	}
	return sum
}

// find is the index in t.slots of the slot of key k.
func (t *table) find(k uint64) (int, bool) {
	i := t.place(k)
	return i, t.slots[i].key == k
}

// place is the index in t.slots of the slot of key k, or else of an empty
// slot of the emptier of its two buckets, or else of the slot of the two
// whose page was fetched longest ago. Two choices keep the buckets evenly
// filled: a table first overflows when 62-75 % of it is taken (below the
// cap, set then doubles it), where with one choice it did at 19-20 %.
func (t *table) place(k uint64) int {
	empty, mostFree, oldest := -1, 0, -1
	for _, b := range t.bucketsOf(k) {
		free, first := 0, -1
		for j := b * ways; j < (b+1)*ways; j++ {
			switch s := &t.slots[j]; {
			case s.key == k:
				return j
			case s.key == 0:
				free++
				if first < 0 {
					first = j
				}
			case oldest < 0 || s.at < t.slots[oldest].at:
				oldest = j
			}
		}
		if free > mostFree {
			empty, mostFree = first, free
		}
	}
	if empty >= 0 {
		return empty
	}
	return oldest
}

// bucketsOf is the two buckets where key k may be.
func (t *table) bucketsOf(k uint64) [2]int {
	n := uint64(t.buckets)
	b1, _ := bits.Mul64(k, n) // k is uniform: the high bits of k*n pick a bucket
	b2, _ := bits.Mul64(k*0x9e3779b97f4a7c15, n)
	return [2]int{int(b1), int(b2)}
}

// key64 is the key of an entry: a keyed hash of v, xor the credential
// and the kind. A collision, vanishingly rare at any cap that fits in
// memory, would only cost a wasted page, as an outdated entry does.
func key64(seed maphash.Seed, cred uint64, kind byte, v string) uint64 {
	return nonZero(maphash.String(seed, v) ^ cred ^ uint64(kind))
}

// nonZero keeps 0 for empty slots.
func nonZero(k uint64) uint64 { return max(k, 1) }

// credential is a keyed hash of token: an HMAC would cost a SHA-256 per
// page learned for a key that never leaves the process.
func (x *Index) credential(token upstream.Token) uint64 {
	return maphash.String(x.credSeed, string(token))
}
