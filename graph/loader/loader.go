// Package loader holds the per-operation dataloaders: every upstream page an
// operation needs is fetched at most once, however many fields, aliases or
// entities ask for it, and every customer the operation looks up (by id or
// by email) is found together: on the page the Index says, else by one
// scan of the pages.
//
// The dataloader hands its batch function the first caller's context; the
// credential therefore lives in the keys, never in the context.
package loader

import (
	"context"
	"errors"
	"strings"
	"sync"
	"sync/atomic"
	"time"
	"unicode"
	"unicode/utf8"

	"github.com/99designs/gqlgen/graphql"
	"github.com/graph-gophers/dataloader/v7"

	"github.com/botpenguin-gateway/gateway/upstream"
)

// ErrScanLimit is returned for lookups not answered within
// Options.ScanMaxPages pages.
var ErrScanLimit = errors.New("customer not found within the scanned pages; the scan limit was reached")

var errPanicked = errors.New("loader: fetching the page panicked")

// FetchFunc fetches one upstream page (upstream.Client.Customers.List).
type FetchFunc func(ctx context.Context, token upstream.Token, page int, sort upstream.Sort) (upstream.Page, error)

// Options tune the loaders.
type Options struct {
	// ScanMaxPages bounds the pages read to find customers by id.
	ScanMaxPages int
	// IDBatchWait is how long ids are collected before a scan starts. Fields
	// of one operation ask within microseconds of each other; a later id
	// still costs no page already fetched.
	IDBatchWait time.Duration
	// ScanWindow is how many pages a scan fetches at once (below 1: one
	// after another). The first window is page 1 alone, where a scan that
	// needs a single page stops; a window costs up to ScanWindow-1 pages
	// past the one where the scan stops.
	ScanWindow int
	// Index, when set, learns where every page fetched puts its customers,
	// and a lookup tries that page before any scan. Shared by operations.
	Index *Index
}

// PageKey identifies one upstream page for one credential.
type PageKey struct {
	Token upstream.Token
	Page  int
	Sort  upstream.Sort
}

// lookup is what a lookup asks for: a customer id, or an email folded by
// foldEmail (emails are compared case-insensitively).
type lookup struct {
	email bool
	value string
}

type lookupKey struct {
	token upstream.Token
	lookup
}

// lookupQueue is how many lookups may wait to join a batch while its
// goroutine takes them in; more wait their turn.
const lookupQueue = 16

// Loaders are the dataloaders of one GraphQL operation.
type Loaders struct {
	pages    *dataloader.Loader[PageKey, upstream.Page]
	byID     *dataloader.Loader[lookupKey, *upstream.Customer] // see lookups
	byIDOnce sync.Once
	fetch    FetchFunc
	opts     Options

	flaggedStale atomic.Bool  // extensions.stale is registered once per response
	oldest       atomic.Int64 // the age of the oldest page fetched, in ns
}

// New returns fresh loaders for one operation.
func New(fetch FetchFunc, opts Options) *Loaders {
	l := &Loaders{fetch: fetch, opts: opts}
	// A page key is one upstream call whatever the batch, so there is
	// nothing to gain by waiting: a batch of one starts at once, and the
	// loader's cache makes every later ask for that page free. The input
	// capacities are the batches' queues, made for every batch: the
	// library's 1000 would cost 8 KB per page.
	l.pages = dataloader.NewBatchedLoader(l.loadPages,
		dataloader.WithBatchCapacity[PageKey, upstream.Page](1),
		dataloader.WithInputCapacity[PageKey, upstream.Page](1))
	return l
}

// lookups is the loader of customers by id or email, made on first use:
// most operations look nobody up.
func (l *Loaders) lookups() *dataloader.Loader[lookupKey, *upstream.Customer] {
	l.byIDOnce.Do(func() {
		l.byID = dataloader.NewBatchedLoader(l.loadLookups,
			dataloader.WithWait[lookupKey, *upstream.Customer](l.opts.IDBatchWait),
			dataloader.WithInputCapacity[lookupKey, *upstream.Customer](lookupQueue))
	})
	return l.byID
}

// Page returns one page, fetched at most once per operation. A stale page
// (served from cache while the upstream fails) flags the whole response
// with extensions.stale = true.
func (l *Loaders) Page(ctx context.Context, key PageKey) (upstream.Page, error) {
	return l.load(ctx, key)()
}

// load starts fetching a page and returns what waits for it, so that
// several pages can be fetched at once (see Page).
func (l *Loaders) load(ctx context.Context, key PageKey) func() (upstream.Page, error) {
	thunk := l.pages.Load(ctx, key)
	return func() (upstream.Page, error) {
		page, err := thunk()
		if err == nil && page.Stale && l.flaggedStale.CompareAndSwap(false, true) {
			graphql.RegisterExtension(ctx, "stale", true)
		}
		return page, err
	}
}

// Oldest is how long ago the oldest page this operation used was fetched
// from the upstream (0 when every page was fetched for it): an answer built
// from these pages is that old.
func (l *Loaders) Oldest() time.Duration { return time.Duration(l.oldest.Load()) }

// Pages returns several pages, fetched at once (each at most once per
// operation), in the order of keys, with an error for each.
func (l *Loaders) Pages(ctx context.Context, keys []PageKey) ([]upstream.Page, []error) {
	waits := make([]func() (upstream.Page, error), len(keys))
	for i, k := range keys {
		waits[i] = l.load(ctx, k)
	}
	pages := make([]upstream.Page, len(keys))
	errs := make([]error, len(keys))
	for i, wait := range waits {
		pages[i], errs[i] = wait()
	}
	return pages, errs
}

// Customer returns the customer with this id, nil when the list has no
// such customer, or ErrScanLimit when the scan gave up first.
func (l *Loaders) Customer(ctx context.Context, token upstream.Token, id string) (*upstream.Customer, error) {
	key := lookupKey{token, lookup{value: id}}
	l.prefetch(ctx, key)
	return l.lookups().Load(ctx, key)()
}

// CustomerByEmail returns the customer whose contact email is email,
// compared case-insensitively (strings.EqualFold); the first by creation
// date when several are. It is found as Customer is, in the same scan as
// the operation's ids, or on the page where the Index saw the first
// created of those it has seen.
func (l *Loaders) CustomerByEmail(ctx context.Context, token upstream.Token, email string) (*upstream.Customer, error) {
	key := lookupKey{token, lookup{email: true, value: foldEmail(email)}}
	l.prefetch(ctx, key)
	return l.lookups().Load(ctx, key)()
}

// Customers is Customer for many ids at once, answering in order.
func (l *Loaders) Customers(ctx context.Context, token upstream.Token, ids []string) ([]*upstream.Customer, []error) {
	keys := make([]lookupKey, len(ids))
	for i, id := range ids {
		keys[i] = lookupKey{token, lookup{value: id}}
		l.prefetch(ctx, keys[i])
	}
	found, errs := l.lookups().LoadMany(ctx, keys)()
	if errs == nil {
		// LoadMany returns no slice at all when nothing failed.
		errs = make([]error, len(ids))
	}
	return found, errs
}

// prefetch starts fetching the page where the index last saw the
// customer, without waiting for the lookups of the operation to be
// gathered (IDBatchWait): the batch finds it in flight.
func (l *Loaders) prefetch(ctx context.Context, key lookupKey) {
	if l.opts.Index == nil {
		return
	}
	if at, ok := l.opts.Index.find(key.token, key.lookup); ok {
		l.pages.Load(ctx, PageKey{Token: key.token, Page: at.Page, Sort: at.Sort})
	}
}

func (l *Loaders) loadPages(ctx context.Context, keys []PageKey) []*dataloader.Result[upstream.Page] {
	results := make([]*dataloader.Result[upstream.Page], len(keys))
	var wg sync.WaitGroup
	for i, k := range keys {
		wg.Go(func() {
			defer func() {
				// The dataloader recovers a panic of the batch function, not of
				// the goroutines it starts: without this, one would end the
				// process. Its value is not printed: it may hold the credential.
				if recover() != nil {
					results[i] = &dataloader.Result[upstream.Page]{Error: errPanicked}
				}
			}()
			page, err := l.fetch(ctx, k.Token, k.Page, k.Sort)
			if err == nil && l.opts.Index != nil {
				l.opts.Index.Learn(k, page)
			}
			for age := int64(page.Age); ; {
				seen := l.oldest.Load()
				if age <= seen || l.oldest.CompareAndSwap(seen, age) {
					break
				}
			}
			results[i] = &dataloader.Result[upstream.Page]{Data: page, Error: err}
		})
	}
	wg.Wait()
	return results
}

// loadLookups answers every lookup of the batch: on the pages the index
// points to, then the others in one scan of the pages by creation date,
// stopping as soon as all are found or the list ends.
func (l *Loaders) loadLookups(ctx context.Context, keys []lookupKey) []*dataloader.Result[*upstream.Customer] {
	byToken := map[upstream.Token][]lookup{}
	for _, k := range keys {
		byToken[k.token] = append(byToken[k.token], k.lookup)
	}
	found := map[lookupKey]*upstream.Customer{}
	failed := map[upstream.Token]error{}
	for token, wants := range byToken {
		customers, err := l.find(ctx, token, wants)
		for w, c := range customers {
			found[lookupKey{token, w}] = c
		}
		failed[token] = err
	}
	results := make([]*dataloader.Result[*upstream.Customer], len(keys))
	for i, k := range keys {
		if c, ok := found[k]; ok {
			results[i] = &dataloader.Result[*upstream.Customer]{Data: c}
		} else {
			results[i] = &dataloader.Result[*upstream.Customer]{Error: failed[k.token]}
		}
	}
	return results
}

func (l *Loaders) find(ctx context.Context, token upstream.Token, wants []lookup) (map[lookup]*upstream.Customer, error) {
	found := make(map[lookup]*upstream.Customer, len(wants))
	if l.opts.Index != nil {
		wants = l.probe(ctx, token, wants, found)
		if len(wants) == 0 {
			return found, nil
		}
	}
	return found, l.scan(ctx, token, wants, found)
}

// probe looks for each customer on the page where the index last saw it,
// those pages fetched at once, and returns the lookups still to scan for:
// not in the index, no longer on that page, or on a page that failed (the
// scan then meets the failure, or gets past it).
func (l *Loaders) probe(ctx context.Context, token upstream.Token, wants []lookup, found map[lookup]*upstream.Customer) (rest []lookup) {
	atPage := map[PageKey][]lookup{}
	for _, w := range wants {
		if at, ok := l.opts.Index.find(token, w); ok {
			key := PageKey{Token: token, Page: at.Page, Sort: at.Sort}
			atPage[key] = append(atPage[key], w)
		} else {
			rest = append(rest, w)
		}
	}
	pages := make(map[PageKey]func() (upstream.Page, error), len(atPage))
	for key := range atPage {
		pages[key] = l.load(ctx, key)
	}
	for key, onPage := range atPage {
		page, err := pages[key]()
		for _, w := range onPage {
			if c := customerOn(page, w); c != nil {
				found[w] = c
				continue
			}
			if err == nil {
				l.opts.Index.forget(token, w)
			}
			rest = append(rest, w)
		}
	}
	return rest
}

// customerOn is the customer of page that w asks for; of several with the
// same email, the first created.
func customerOn(page upstream.Page, w lookup) *upstream.Customer {
	var first *upstream.Customer
	for i := range page.Customers {
		c := &page.Customers[i]
		if w.matches(c) && (first == nil || c.CreatedAt.Before(first.CreatedAt)) {
			first = c
		}
	}
	return first
}

func (w lookup) matches(c *upstream.Customer) bool {
	if w.email {
		return c.Email != nil && strings.EqualFold(*c.Email, w.value)
	}
	return c.ID == w.value
}

// scan reads the pages by creation date into found until it holds every
// lookup, the list ends (an empty page) or ScanMaxPages pages were read
// (ErrScanLimit), and stops at the first failure. It fetches them in
// windows of ScanWindow pages at once, after page 1 alone, and reads each
// window in page order: what it answers is what reading one page after
// another would, in fewer round trips; of several customers with the same
// email, the first created is the one it meets first.
func (l *Loaders) scan(ctx context.Context, token upstream.Token, wants []lookup, found map[lookup]*upstream.Customer) error {
	want := make(map[lookup]bool, len(wants))
	emails := false
	for _, w := range wants {
		want[w] = true
		emails = emails || w.email
	}
	window := max(l.opts.ScanWindow, 1)
	for first, n := 1, 1; first <= l.opts.ScanMaxPages; first, n = first+n, window {
		last := min(first+n-1, l.opts.ScanMaxPages)
		keys := make([]PageKey, 0, last-first+1)
		for p := first; p <= last; p++ {
			keys = append(keys, PageKey{Token: token, Page: p, Sort: upstream.SortCreatedAt})
		}
		// The whole window is waited for, so that no call is left running
		// once the operation is answered.
		pages, errs := l.Pages(ctx, keys)
		for i, page := range pages {
			if errs[i] != nil {
				return errs[i]
			}
			if page.Len() == 0 {
				return nil
			}
			for j := range page.Customers {
				c := &page.Customers[j]
				if w := (lookup{value: c.ID}); want[w] {
					found[w] = c
					delete(want, w)
				}
				if emails && c.Email != nil {
					if w := (lookup{email: true, value: foldEmail(*c.Email)}); want[w] {
						found[w] = c
						delete(want, w)
					}
				}
			}
			if len(want) == 0 {
				return nil
			}
		}
	}
	return ErrScanLimit
}

// foldEmail is the key of an email: two emails have the same key exactly
// when strings.EqualFold says they are equal (Unicode simple case
// folding). strings.ToLower would not do: it maps İ to i, which EqualFold
// keeps apart. An address in lower case is its own key, not copied (but
// for the odd letter, such as ς, whose key is another lower case).
func foldEmail(s string) string {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return strings.Map(foldRune, s)
		}
	}
	return strings.ToLower(s) // ASCII, the common case
}

// foldRune is the one rune that stands for r's simple folding orbit (the
// runes EqualFold takes for r): the smallest, or its lower case where that
// is of the orbit (it is not for İ), so that lower case stays as it is and
// the Kelvin sign is k as in ASCII.
func foldRune(r rune) rune {
	if r < utf8.RuneSelf {
		if 'A' <= r && r <= 'Z' {
			r += 'a' - 'A'
		}
		return r
	}
	m := r
	for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
		m = min(m, f)
	}
	l := unicode.ToLower(m)
	for f := unicode.SimpleFold(m); f != m; f = unicode.SimpleFold(f) {
		if f == l {
			return l
		}
	}
	return m
}

type ctxKey struct{}

// With returns ctx carrying l, for For.
func With(ctx context.Context, l *Loaders) context.Context {
	return context.WithValue(ctx, ctxKey{}, l)
}

// ErrNoLoaders means the operation was not set up with With: a wiring bug.
var ErrNoLoaders = errors.New("loader: no loaders in context")

// For returns the operation's loaders.
func For(ctx context.Context) (*Loaders, error) {
	l, ok := ctx.Value(ctxKey{}).(*Loaders)
	if !ok {
		return nil, ErrNoLoaders
	}
	return l, nil
}
