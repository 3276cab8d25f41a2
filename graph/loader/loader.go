// Package loader holds the per-operation dataloaders: every upstream page an
// operation needs is fetched at most once, however many fields, aliases or
// entities ask for it, and every customer id of the operation is found by
// one scan of the pages.
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
	page, err := l.pages.Load(ctx, key)()
	if err == nil && page.Stale && l.flaggedStale.CompareAndSwap(false, true) {
		graphql.RegisterExtension(ctx, "stale", true)
	}
	return page, err
}

// Oldest is how long ago the oldest page this operation used was fetched
// from the upstream (0 when every page was fetched for it): an answer built
// from these pages is that old.
func (l *Loaders) Oldest() time.Duration { return time.Duration(l.oldest.Load()) }

// Customer returns the customer with this id, nil when the list has no
// such customer, or ErrScanLimit when the scan gave up first.
func (l *Loaders) Customer(ctx context.Context, token upstream.Token, id string) (*upstream.Customer, error) {
	return l.byID.Load(ctx, idKey{token, id})()
}

// Customers is Customer for many ids at once, answering in order.
func (l *Loaders) Customers(ctx context.Context, token upstream.Token, ids []string) ([]*upstream.Customer, []error) {
	keys := make([]idKey, len(ids))
	for i, id := range ids {
		keys[i] = idKey{token, id}
	}
	found, errs := l.byID.LoadMany(ctx, keys)()
	if errs == nil {
		// LoadMany returns no slice at all when nothing failed.
		errs = make([]error, len(ids))
	}
	return found, errs
}

func (l *Loaders) loadPages(ctx context.Context, keys []PageKey) []*dataloader.Result[upstream.Page] {
	results := make([]*dataloader.Result[upstream.Page], len(keys))
	var wg sync.WaitGroup
	for i, k := range keys {
		wg.Go(func() {
			page, err := l.fetch(ctx, k.Token, k.Page, k.Sort)
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

// loadIDs finds every id of the batch in one scan of the pages by
// creation date, stopping as soon as all are found or the list ends.
func (l *Loaders) loadIDs(ctx context.Context, keys []idKey) []*dataloader.Result[*upstream.Customer] {
	byToken := map[upstream.Token][]string{}
	for _, k := range keys {
		byToken[k.token] = append(byToken[k.token], k.id)
	}
	found := map[idKey]*upstream.Customer{}
	failed := map[upstream.Token]error{}
	for token, ids := range byToken {
		customers, err := l.scan(ctx, token, ids)
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

func (l *Loaders) scan(ctx context.Context, token upstream.Token, ids []string) (map[string]*upstream.Customer, error) {
	want := make(map[string]bool, len(ids))
	for _, id := range ids {
		want[id] = true
	}
	found := make(map[string]*upstream.Customer, len(want))
	for p := 1; p <= l.opts.ScanMaxPages; p++ {
		page, err := l.Page(ctx, PageKey{Token: token, Page: p, Sort: upstream.SortCreatedAt})
		if err != nil {
			return found, err
		}
		if page.Len() == 0 {
			return found, nil
		}
		for i := range page.Customers {
			if c := &page.Customers[i]; want[c.ID] {
				found[c.ID] = c
			}
		}
		if len(found) == len(want) {
			return found, nil
		}
	}
	return found, ErrScanLimit
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
