package loader

import (
	"encoding/binary"
	"hash/maphash"
	"math"
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
// token, id or email. It is bounded in entries, in two generations of
// half the cap each (when the newer is full the older is dropped: nearly
// least-recently-used, with no allocation per entry, where an LRU list
// would allocate forty per page learned), and in age: an entry seen
// longer ago than maxAge is not used.
//
// A page learned again with the same customers, fetched within
// relearnAfter of when it was last learned, is not written again
// (rewriting forty entries on every fetch of a busy page was 3 % of what
// a request costs): its entries were written since the generations last
// turned, since the record of learned pages is emptied when they turn and
// when an entry is forgotten. Meanwhile a customer's entry may name
// another page that was learned later and holds it too; entries skipped
// expire up to relearnAfter early. Either costs a lookup a page at most.
type Index struct {
	seed         maphash.Seed // of ids, emails and pages' contents
	credSeed     maphash.Seed // of credentials
	half         int
	maxAge       time.Duration
	relearnAfter time.Duration
	now          func() time.Time // replaced in tests

	mu       sync.Mutex
	cur, old map[uint64]seen
	pages    map[pageAt]learned // pages learned since the generations last turned
}

// pageAt is a page of a credential, as the record of learned pages keys it.
type pageAt struct {
	cred uint64
	page int32
	sort uint8
}

// learned is when a page last learned was fetched from the upstream, and
// a hash of what it held.
type learned struct {
	at  int64 // unix ns
	sum uint64
}

// Location is where a customer was seen: a page in a sort.
type Location struct {
	Page int
	Sort upstream.Sort
}

// seen is an entry, packed (24 bytes, not 40): the index holds up to its
// cap of them, and with many credentials that is most of the memory.
type seen struct {
	page int32
	sort uint8 // the sort's place in indexSorts, from 1
	at   int64 // unix ns when the page was fetched from the upstream
	// created is, in an email's entry, the customer's createdAt in unix µs:
	// exact for the upstream's milliseconds, and unlike ns it spans the
	// years 0000-9999 that a createdAt may have.
	created int64
}

// indexSorts are the sorts the index knows ("" is the upstream's default
// order); a page of another is not learned.
var indexSorts = [...]upstream.Sort{"", upstream.SortCreatedAt, upstream.SortUpdatedAt, upstream.SortName, upstream.SortLastLogin}

// entryAt is the entry for a page, zero when the index cannot hold it.
func entryAt(l Location) (seen, bool) {
	if l.Page < 1 || l.Page > math.MaxInt32 {
		return seen{}, false
	}
	for i, s := range indexSorts {
		if s == l.Sort {
			return seen{page: int32(l.Page), sort: uint8(i + 1)}, true
		}
	}
	return seen{}, false
}

func (s seen) location() Location {
	return Location{Page: int(s.page), Sort: indexSorts[s.sort-1]}
}

// The kinds of key, so that an id and an email never share one.
const (
	byID    = 'i'
	byEmail = 'e'
)

// NewIndex returns an empty index of at most maxEntries entries (ids and
// emails; at least 2) that uses an entry for maxAge after its page was
// fetched.
func NewIndex(maxEntries int, maxAge time.Duration) *Index {
	x := &Index{
		seed:         maphash.MakeSeed(),
		credSeed:     maphash.MakeSeed(),
		half:         max(maxEntries/2, 1),
		maxAge:       maxAge,
		relearnAfter: min(time.Second, maxAge/2),
		now:          time.Now,
		cur:          map[uint64]seen{},
		old:          map[uint64]seen{},
		pages:        map[pageAt]learned{},
	}
	return x
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
	at, sum := pageAt{cred, s.page, s.sort}, x.contentSum(page)
	x.mu.Lock()
	defer x.mu.Unlock()
	if was, ok := x.pages[at]; ok && was.sum == sum && s.at-was.at < int64(x.relearnAfter) {
		return // fetched less than relearnAfter later (or earlier, from a cache), unchanged
	}
	for i := range page.Customers {
		c := &page.Customers[i]
		x.set(key64(x.seed, cred, byID, c.ID), s)
		if c.Email == nil {
			continue
		}
		k := key64(x.seed, cred, byEmail, foldEmail(*c.Email))
		e := s
		e.created = c.CreatedAt.UnixMicro()
		if was, ok := x.get(k); ok && x.fresh(was, now) && was.created < e.created {
			e = was // an earlier customer with this email: still the answer
		}
		x.set(k, e)
	}
	if len(x.pages) >= x.half {
		clear(x.pages) // as many pages as entries: cannot happen with 1 customer a page or more, but bounded anyway
	}
	x.pages[at] = learned{at: s.at, sum: sum}
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
	delete(x.cur, k)
	delete(x.old, k)
	clear(x.pages) // the page w is on now must be learned again, whenever it was last
	x.mu.Unlock()
}

func (w lookup) kind() byte {
	if w.email {
		return byEmail
	}
	return byID
}

func (x *Index) lookup(token upstream.Token, kind byte, v string) (Location, bool) {
	k := key64(x.seed, x.credential(token), kind, v)
	x.mu.Lock()
	defer x.mu.Unlock()
	s, ok := x.get(k)
	if !ok || !x.fresh(s, x.now().UnixNano()) {
		return Location{}, false
	}
	return s.location(), true
}

// get is the entry of k, from either generation; one from the older is
// moved to the newer (used: kept past the next rotation).
func (x *Index) get(k uint64) (seen, bool) {
	if s, ok := x.cur[k]; ok {
		return s, true
	}
	s, ok := x.old[k]
	if ok {
		x.set(k, s)
	}
	return s, ok
}

func (x *Index) set(k uint64, s seen) {
	x.cur[k] = s
	if len(x.cur) >= x.half {
		x.old, x.cur = x.cur, map[uint64]seen{}
		clear(x.pages) // their entries are in the older generation now
	}
}

// fresh is whether s is still used at now (unix ns).
func (x *Index) fresh(s seen, now int64) bool { return now-s.at < int64(x.maxAge) }

// key64 is the key of an entry: a keyed hash of v, xor the credential
// and the kind. A collision, vanishingly rare at any cap that fits in
// memory, would only cost a wasted page, as an outdated entry does.
func key64(seed maphash.Seed, cred uint64, kind byte, v string) uint64 {
	return maphash.String(seed, v) ^ cred ^ uint64(kind)
}

// credential is a keyed hash of token: an HMAC would cost a SHA-256 per
// page learned for a key that never leaves the process.
func (x *Index) credential(token upstream.Token) uint64 {
	return maphash.String(x.credSeed, string(token))
}
