package loader

import (
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/binary"
	"hash"
	"hash/maphash"
	"strings"
	"sync"
	"time"

	"github.com/botpenguin-gateway/gateway/upstream"
)

// Index remembers, per credential, on which page each customer was last
// seen, by id and by lower-cased email, so that a lookup costs that one
// page instead of a scan. It is learned from every page the loaders fetch,
// in any sort, and shared by every operation of the process.
//
// It is only a hint: a lookup fetches the page with the caller's own
// credential and takes the customer from that page alone. An entry out of
// date costs that page and then the scan; and an entry cannot show one
// credential what another fetched, since the caller's own upstream answer
// is what is read.
//
// An entry's key is a hash of the credential's HMAC (under a key drawn at
// start) and the id or email: the index holds no token, id or email. It
// is bounded in entries, in two generations of half the cap each (when
// the newer is full the older is dropped: nearly least-recently-used, with
// no allocation per entry, where an LRU list would allocate forty per page
// learned), and in age: an entry seen longer ago than maxAge is not used.
type Index struct {
	macKey [sha256.Size]byte
	macs   sync.Pool
	seed   maphash.Seed
	half   int
	maxAge time.Duration
	now    func() time.Time // replaced in tests

	mu       sync.Mutex
	cur, old map[uint64]seen
}

// Location is where a customer was seen: a page in a sort.
type Location struct {
	Page int
	Sort upstream.Sort
}

type seen struct {
	Location
	at int64 // unix ns when the page was fetched from the upstream
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
		seed:   maphash.MakeSeed(),
		half:   max(maxEntries/2, 1),
		maxAge: maxAge,
		now:    time.Now,
		cur:    map[uint64]seen{},
		old:    map[uint64]seen{},
	}
	_, _ = rand.Read(x.macKey[:]) // never fails (crypto/rand)
	x.macs.New = func() any { return &macState{mac: hmac.New(sha256.New, x.macKey[:])} }
	return x
}

// Learn records where the customers of page were seen, over where they
// were seen before.
func (x *Index) Learn(key PageKey, page upstream.Page) {
	if len(page.Customers) == 0 {
		return
	}
	cred := x.credential(key.Token)
	s := seen{Location{key.Page, key.Sort}, x.now().Add(-page.Age).UnixNano()}
	x.mu.Lock()
	defer x.mu.Unlock()
	for i := range page.Customers {
		c := &page.Customers[i]
		x.set(key64(x.seed, cred, byID, c.ID), s)
		if c.Email != nil {
			x.set(key64(x.seed, cred, byEmail, strings.ToLower(*c.Email)), s)
		}
	}
}

// ID returns where the customer with this id was last seen through token.
func (x *Index) ID(token upstream.Token, id string) (Location, bool) {
	return x.lookup(token, byID, id)
}

// Email returns where the customer with this email (in any case) was last
// seen through token.
func (x *Index) Email(token upstream.Token, email string) (Location, bool) {
	return x.lookup(token, byEmail, strings.ToLower(email))
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
	s, ok := x.cur[k]
	if !ok {
		if s, ok = x.old[k]; ok {
			x.set(k, s) // used: keep it past the next rotation
		}
	}
	if !ok || !x.fresh(s) {
		return Location{}, false
	}
	return s.Location, true
}

func (x *Index) set(k uint64, s seen) {
	x.cur[k] = s
	if len(x.cur) >= x.half {
		x.old, x.cur = x.cur, map[uint64]seen{}
	}
}

func (x *Index) fresh(s seen) bool { return x.now().UnixNano()-s.at < int64(x.maxAge) }

// key64 is the key of an entry: a keyed hash of v, xor the credential
// and the kind. A collision, vanishingly rare at any cap that fits in
// memory, would only cost a wasted page, as an outdated entry does.
func key64(seed maphash.Seed, cred uint64, kind byte, v string) uint64 {
	return maphash.String(seed, v) ^ cred ^ uint64(kind)
}

// credential is 64 bits of the HMAC of token; hashing it allocates
// nothing.
func (x *Index) credential(token upstream.Token) uint64 {
	m := x.macs.Get().(*macState)
	m.mac.Reset()
	m.in = append(m.in[:0], token...)
	m.mac.Write(m.in)
	clear(m.in) // no token left behind in the pool
	cred := binary.LittleEndian.Uint64(m.mac.Sum(m.sum[:0]))
	x.macs.Put(m)
	return cred
}

// macState is a pooled HMAC with its buffers.
type macState struct {
	mac hash.Hash
	in  []byte
	sum [sha256.Size]byte
}
