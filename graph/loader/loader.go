// Package loader holds the per-operation dataloaders: every upstream page an
// operation needs is fetched at most once, however many fields, aliases or
// entities ask for it, and every customer id of the operation is found
// together: on the page the Index says, else by one scan of the pages.
//
// The dataloader hands its batch function the first caller's context; the
// credential therefore lives in the keys, never in the context.
package loader

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/graph-gophers/dataloader/v7"

	"github.com/botpenguin-gateway/gateway/upstream"
)

// ErrScanLimit is returned for ids not found within Options.ScanMaxPages pages.
var ErrScanLimit = errors.New("customer not found within the scanned pages; the scan limit was reached")

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

type idKey struct {
	token upstream.Token
	id    string
}

// Loaders are the dataloaders of one GraphQL operation.
type Loaders struct {
	pages *dataloader.Loader[PageKey, upstream.Page]
	byID  *dataloader.Loader[idKey, *upstream.Customer]
	fetch FetchFunc
	opts  Options

	flaggedStale atomic.Bool  // extensions.stale is registered once per response
	oldest       atomic.Int64 // the age of the oldest page fetched, in ns
}

// New returns fresh loaders for one operation.
func New(fetch FetchFunc, opts Options) *Loaders {
	l := &Loaders{fetch: fetch, opts: opts}
	// A page key is one upstream call whatever the batch, so there is
	// nothing to gain by waiting: a batch of one starts at once, and the
	// loader's cache makes every later ask for that page free.
	l.pages = dataloader.NewBatchedLoader(l.loadPages,
		dataloader.WithBatchCapacity[PageKey, upstream.Page](1))
	l.byID = dataloader.NewBatchedLoader(l.loadIDs,
		dataloader.WithWait[idKey, *upstream.Customer](opts.IDBatchWait))
	return l
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

// Customer returns the customer with this id, nil when the list has no
// such customer, or ErrScanLimit when the scan gave up first.
func (l *Loaders) Customer(ctx context.Context, token upstream.Token, id string) (*upstream.Customer, error) {
	l.prefetch(ctx, token, id)
	return l.byID.Load(ctx, idKey{token, id})()
}

// Customers is Customer for many ids at once, answering in order.
func (l *Loaders) Customers(ctx context.Context, token upstream.Token, ids []string) ([]*upstream.Customer, []error) {
	keys := make([]idKey, len(ids))
	for i, id := range ids {
		keys[i] = idKey{token, id}
		l.prefetch(ctx, token, id)
	}
	found, errs := l.byID.LoadMany(ctx, keys)()
	if errs == nil {
		// LoadMany returns no slice at all when nothing failed.
		errs = make([]error, len(ids))
	}
	return found, errs
}

// prefetch starts fetching the page where the index last saw id, without
// waiting for the ids of the operation to be gathered (IDBatchWait): the
// batch finds it in flight.
func (l *Loaders) prefetch(ctx context.Context, token upstream.Token, id string) {
	if l.opts.Index == nil {
		return
	}
	if at, ok := l.opts.Index.ID(token, id); ok {
		l.pages.Load(ctx, PageKey{Token: token, Page: at.Page, Sort: at.Sort})
	}
}

func (l *Loaders) loadPages(ctx context.Context, keys []PageKey) []*dataloader.Result[upstream.Page] {
	results := make([]*dataloader.Result[upstream.Page], len(keys))
	var wg sync.WaitGroup
	for i, k := range keys {
		wg.Go(func() {
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

// loadIDs finds every id of the batch: on the pages the index points to,
// then the others in one scan of the pages by creation date, stopping as
// soon as all are found or the list ends.
func (l *Loaders) loadIDs(ctx context.Context, keys []idKey) []*dataloader.Result[*upstream.Customer] {
	byToken := map[upstream.Token][]string{}
	for _, k := range keys {
		byToken[k.token] = append(byToken[k.token], k.id)
	}
	found := map[idKey]*upstream.Customer{}
	failed := map[upstream.Token]error{}
	for token, ids := range byToken {
		customers, err := l.find(ctx, token, ids)
		for id, c := range customers {
			found[idKey{token, id}] = c
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

func (l *Loaders) find(ctx context.Context, token upstream.Token, ids []string) (map[string]*upstream.Customer, error) {
	found := make(map[string]*upstream.Customer, len(ids))
	if l.opts.Index != nil {
		ids = l.probe(ctx, token, ids, found)
		if len(ids) == 0 {
			return found, nil
		}
	}
	return found, l.scan(ctx, token, ids, found)
}

// probe looks for each id on the page where the index last saw it, those
// pages fetched at once, and returns the ids still to scan for: not in the
// index, no longer on that page, or on a page that failed (the scan then
// meets the failure, or gets past it).
func (l *Loaders) probe(ctx context.Context, token upstream.Token, ids []string, found map[string]*upstream.Customer) (rest []string) {
	atPage := map[PageKey][]string{}
	for _, id := range ids {
		if at, ok := l.opts.Index.ID(token, id); ok {
			key := PageKey{Token: token, Page: at.Page, Sort: at.Sort}
			atPage[key] = append(atPage[key], id)
		} else {
			rest = append(rest, id)
		}
	}
	pages := make(map[PageKey]func() (upstream.Page, error), len(atPage))
	for key := range atPage {
		pages[key] = l.load(ctx, key)
	}
	for key, onPage := range atPage {
		page, err := pages[key]()
		for _, id := range onPage {
			if c := customerOn(page, id); c != nil {
				found[id] = c
				continue
			}
			if err == nil {
				l.opts.Index.forgetID(token, id)
			}
			rest = append(rest, id)
		}
	}
	return rest
}

func customerOn(page upstream.Page, id string) *upstream.Customer {
	for i := range page.Customers {
		if page.Customers[i].ID == id {
			return &page.Customers[i]
		}
	}
	return nil
}

// scan reads the pages by creation date into found until it holds every
// id, the list ends (an empty page) or ScanMaxPages pages were read
// (ErrScanLimit), and stops at the first failure. It fetches them in
// windows of ScanWindow pages at once, after page 1 alone, and reads each
// window in page order: what it answers is what reading one page after
// another would, in fewer round trips.
func (l *Loaders) scan(ctx context.Context, token upstream.Token, ids []string, found map[string]*upstream.Customer) error {
	want := make(map[string]bool, len(ids))
	for _, id := range ids {
		want[id] = true
	}
	window := max(l.opts.ScanWindow, 1)
	for first, n := 1, 1; first <= l.opts.ScanMaxPages; first, n = first+n, window {
		last := min(first+n-1, l.opts.ScanMaxPages)
		pages := make([]func() (upstream.Page, error), 0, last-first+1)
		for p := first; p <= last; p++ {
			pages = append(pages, l.load(ctx, PageKey{Token: token, Page: p, Sort: upstream.SortCreatedAt}))
		}
		// The whole window is waited for, so that no call is left running
		// once the operation is answered.
		results := make([]struct {
			page upstream.Page
			err  error
		}, len(pages))
		for i, wait := range pages {
			results[i].page, results[i].err = wait()
		}
		for _, r := range results {
			if r.err != nil {
				return r.err
			}
			if r.page.Len() == 0 {
				return nil
			}
			for i := range r.page.Customers {
				if c := &r.page.Customers[i]; want[c.ID] {
					found[c.ID] = c
					delete(want, c.ID)
				}
			}
			if len(want) == 0 {
				return nil
			}
		}
	}
	return ErrScanLimit
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
