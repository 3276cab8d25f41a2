package upstream

import (
	"slices"
	"strconv"
	"strings"
	"time"
	"unsafe"

	"github.com/botpenguin-gateway/gateway/internal/jsonstr"
)

// decodeGoodPage decodes, in one pass and without reflection, the answer
// almost every call gets: a success envelope whose records all have the
// right JSON types. It reads only what encoding/json reads the same way,
// and gives up (ok false) at anything else: then checkResponse and
// decodePage, which tell every kind of bad answer apart, decode the body
// with encoding/json. So it never accepts a body they refuse, and what it
// accepts it decodes as they do (FuzzResponseDecode holds it to that).
//
// It gives up at: a body that is not strict JSON, or not an object at its
// first byte; success not true; data not an array; a member of a known
// name twice, or a name that only case-insensitively matches a known one;
// a known member of another JSON type than its field's; a record that is
// neither an object nor null; invalid UTF-8, or a \u escape of a
// surrogate (encoding/json would replace them); nesting deeper than
// maxScanDepth.
//
// Strings are read as substrings of the body itself, then copied
// together into one allocation (see detach), and a page's optional values
// share a few allocations (see slab): a page costs a handful of
// allocations, not a few per field.
func decodeGoodPage(body []byte) (Page, bool) {
	if len(body) == 0 || body[0] != '{' {
		return Page{}, false
	}
	// The scanner reads the body in place, without a copy: detach copies
	// what the page keeps before the body's buffer is reused.
	s := pageScanner{Scanner: jsonstr.Scanner{S: unsafe.String(unsafe.SliceData(body), len(body))}, yes: true}
	if !s.envelope() {
		return Page{}, false
	}
	s.SkipSpace()
	if s.I != len(s.S) {
		return Page{}, false
	}
	s.page.detach()
	return s.page, true
}

// detach copies the strings the page keeps, substrings of the body, into
// one allocation of their own: a cached page, or a key taken from one,
// must not keep the whole body alive.
func (p *Page) detach() {
	n := 0
	each := func(f func(*string)) {
		for i := range p.Customers {
			c := &p.Customers[i]
			f(&c.ID)
			f(&c.Name)
			f(&c.Status)
			if c.Email != nil {
				f(c.Email) // the page's own slab: not shared
			}
			if c.SubscriptionType != nil {
				f(c.SubscriptionType)
			}
		}
		for i := range p.Invalid {
			f(&p.Invalid[i].ID)
		}
	}
	each(func(s *string) { n += len(*s) })
	var b strings.Builder
	b.Grow(n)
	each(func(s *string) { b.WriteString(*s) })
	all, at := b.String(), 0
	each(func(s *string) {
		*s, at = all[at:at+len(*s)], at+len(*s)
	})
}

// maxScanDepth bounds the nesting of unknown members that the scanner
// skips; deeper goes the careful way.
const maxScanDepth = 32

// pageScanner reads one envelope. Its methods return false to give up.
type pageScanner struct {
	jsonstr.Scanner
	depth int

	page    Page
	index   int // of the next record
	strs    slab[string]
	times   slab[time.Time]
	yes, no bool      // what verified points at
	scratch [6]string // a record's strings that Page.add copies
	contact struct {
		Email *string `json:"email"`
	}
}

// The members of an envelope and of a record, bit by bit, to find a
// repeated one.
var (
	envelopeMembers = []string{"success", "message", "code", "data"}
	recordMembers   = []string{"_id", "name", "contact", "verified", "status", "subscriptionType", "createdAt", "updatedAt", "lastLogin"}
	contactMembers  = []string{"email"}
)

// members are those of one object read so far.
type members struct {
	seen uint16 // bit k: known[k]
	next int    // the member after the last known one: the upstream writes them in one order
}

// find finds name among known: its index, or -1 for a member to skip.
// ok is false for a name encoding/json would match case-insensitively,
// and for a member already seen.
func (m *members) find(name string, known []string) (int, bool) {
	k := m.next
	if k >= len(known) || known[k] != name {
		k = slices.Index(known, name)
	}
	if k >= 0 {
		if m.seen&(1<<k) != 0 {
			return k, false
		}
		m.seen |= 1 << k
		m.next = k + 1
		return k, true
	}
	for _, m := range known {
		if strings.EqualFold(name, m) {
			return -1, false
		}
	}
	return -1, true
}

func (s *pageScanner) envelope() bool {
	var seen members
	success, data := false, false
	ok := s.object(func(name string) bool {
		k, ok := seen.find(name, envelopeMembers)
		switch {
		case !ok:
			return false
		case k == 0: // success
			success = s.Literal("true")
			return success
		case k == 1: // message
			_, _, ok := s.optionalString()
			return ok
		case k == 2: // code
			return s.Literal("null") || s.int()
		case k == 3: // data
			data = true
			return s.records()
		}
		return s.skip()
	})
	return ok && success && data
}

// records reads the data array into the page.
func (s *pageScanner) records() bool {
	// Sized for the usual page of 20: one allocation of its size (a larger
	// page appends). Each record has at most two optional strings and two
	// optional times. (Counting the records first cost more than it saved.)
	const usual = 20
	s.page.Customers = make([]Customer, 0, usual)
	s.strs.size, s.times.size = 2*usual, 2*usual
	s.index = 0
	ok := s.array(func() bool {
		i := s.index
		s.index++
		if s.Literal("null") {
			s.page.add(i, nil, nil)
			return true
		}
		var w wireCustomer
		if !s.record(&w) {
			return false
		}
		invalid := len(s.page.Invalid)
		s.page.add(i, &w, &s.times)
		if len(s.page.Invalid) > invalid {
			// Refused: detach will not see the strings it put in the
			// slab, which the page's other customers share; emptied, they
			// point into the body no longer.
			if w.Contact != nil && w.Contact.Email != nil {
				*w.Contact.Email = ""
			}
			if w.SubscriptionType != nil {
				*w.SubscriptionType = ""
			}
		}
		return true
	})
	if ok && len(s.page.Customers) == 0 {
		s.page.Customers = nil // as decodePage leaves it
	}
	return ok
}

func (s *pageScanner) record(w *wireCustomer) bool {
	var seen members
	return s.object(func(name string) bool {
		k, ok := seen.find(name, recordMembers)
		if !ok {
			return false
		}
		switch k {
		case 0:
			return s.stringField(&w.ID, 0)
		case 1:
			return s.stringField(&w.Name, 1)
		case 2:
			if s.Literal("null") {
				return true
			}
			s.contact.Email = nil // add copies what it needs: one contact serves every record
			w.Contact = &s.contact
			var seen members
			return s.object(func(name string) bool {
				k, ok := seen.find(name, contactMembers)
				switch {
				case !ok:
					return false
				case k == 0:
					return s.stringField(&w.Contact.Email, kept)
				}
				return s.skip()
			})
		case 3:
			switch {
			case s.Literal("null"):
			case s.Literal("true"):
				w.Verified = &s.yes
			case s.Literal("false"):
				w.Verified = &s.no
			default:
				return false
			}
			return true
		case 4:
			return s.stringField(&w.Status, 2)
		case 5:
			return s.stringField(&w.SubscriptionType, kept)
		case 6:
			return s.stringField(&w.CreatedAt, 3)
		case 7:
			return s.stringField(&w.UpdatedAt, 4)
		case 8:
			return s.stringField(&w.LastLogin, 5)
		}
		return s.skip()
	})
}

// kept is the slot of a string whose pointer the Customer keeps.
const kept = -1

// stringField reads a string or null into a *string field, as
// encoding/json does (null leaves nil). The value goes to the page's slab
// when the Customer keeps the pointer (slot kept), else to a slot of the
// record's scratch, which Page.add has copied before the next record.
func (s *pageScanner) stringField(f **string, slot int) bool {
	v, null, ok := s.optionalString()
	switch {
	case !ok || null:
	case slot == kept:
		*f = s.strs.ptr(v)
	default:
		s.scratch[slot] = v
		*f = &s.scratch[slot]
	}
	return ok
}

func (s *pageScanner) optionalString() (v string, null, ok bool) {
	if s.Literal("null") {
		return "", true, true
	}
	v, ok = s.Quoted()
	return v, false, ok
}

// object reads an object, calling member with each member's name, the
// scanner at its value; member reads the value.
func (s *pageScanner) object(member func(name string) bool) bool {
	if !s.open('{') {
		return false
	}
	defer func() { s.depth-- }()
	s.SkipSpace()
	if s.Next('}') {
		return true
	}
	for {
		s.SkipSpace()
		name, ok := s.Quoted()
		if !ok {
			return false
		}
		s.SkipSpace()
		if !s.Next(':') {
			return false
		}
		s.SkipSpace()
		if !member(name) {
			return false
		}
		s.SkipSpace()
		if !s.Next(',') {
			return s.Next('}')
		}
	}
}

// array reads an array, calling elem with the scanner at each element.
func (s *pageScanner) array(elem func() bool) bool {
	if !s.open('[') {
		return false
	}
	defer func() { s.depth-- }()
	s.SkipSpace()
	if s.Next(']') {
		return true
	}
	for {
		s.SkipSpace()
		if !elem() {
			return false
		}
		s.SkipSpace()
		if !s.Next(',') {
			return s.Next(']')
		}
	}
}

// open reads c, which opens one more level of nesting.
func (s *pageScanner) open(c byte) bool {
	if s.depth == maxScanDepth || !s.Next(c) {
		return false
	}
	s.depth++
	return true
}

// skip reads any JSON value, for a member nobody reads.
func (s *pageScanner) skip() bool {
	if s.I == len(s.S) {
		return false
	}
	switch c := s.S[s.I]; {
	case c == '{':
		return s.object(func(string) bool { return s.skip() })
	case c == '[':
		return s.array(s.skip)
	case c == '"':
		_, ok := s.Quoted()
		return ok
	case c == '-' || c >= '0' && c <= '9':
		_, ok := s.number()
		return ok
	}
	return s.Literal("true") || s.Literal("false") || s.Literal("null")
}

// int reads a number that encoding/json decodes into an int.
func (s *pageScanner) int() bool {
	n, ok := s.number()
	if !ok {
		return false
	}
	_, err := strconv.Atoi(n)
	return err == nil
}

// number reads a JSON number: -?(0|[1-9][0-9]*)(.[0-9]+)?([eE][+-]?[0-9]+)?
func (s *pageScanner) number() (string, bool) {
	start := s.I
	s.Next('-')
	if !s.Next('0') && s.digits() == 0 {
		return "", false
	}
	if s.Next('.') && s.digits() == 0 {
		return "", false
	}
	if s.Next('e') || s.Next('E') {
		if !s.Next('+') {
			s.Next('-')
		}
		if s.digits() == 0 {
			return "", false
		}
	}
	return s.S[start:s.I], true
}

func (s *pageScanner) digits() int {
	start := s.I
	for s.I < len(s.S) && s.S[s.I] >= '0' && s.S[s.I] <= '9' {
		s.I++
	}
	return s.I - start
}

// slab hands out pointers to values in shared chunks, so that a page's
// optional fields cost a few allocations instead of one each. A nil slab
// allocates each value on its own.
type slab[T any] struct {
	chunk []T
	size  int // of the first chunk, when set; then 64
}

func (s *slab[T]) ptr(v T) *T {
	if s == nil {
		return single(v)
	}
	if len(s.chunk) == cap(s.chunk) {
		n := 64
		if s.chunk == nil && s.size > 0 {
			n = s.size
		}
		s.chunk = make([]T, 0, n)
	}
	s.chunk = append(s.chunk, v)
	return &s.chunk[len(s.chunk)-1]
}

// single allocates v by itself. (Taking v's address in ptr would move v
// to the heap on every call, the slab's too.)
func single[T any](v T) *T { return &v }
