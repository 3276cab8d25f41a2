package graph

import (
	"context"
	"fmt"
	"sync"

	"github.com/99designs/gqlgen/graphql"

	"github.com/botpenguin-gateway/gateway/graph/loader"
	"github.com/botpenguin-gateway/gateway/graph/model"
	"github.com/botpenguin-gateway/gateway/upstream"
)

// customersConnection's bounds (the contract's): first is 1-100, 20 when
// null.
const (
	defaultFirst = 20
	maxFirst     = 100
)

// connectionArgs applies the schema defaults and the bounds, and reads the
// cursor, before any upstream call.
func (r *Resolver) connectionArgs(first *int, after *string, sort *model.CustomerSort) (n int, s model.CustomerSort, from *cursor, err error) {
	n, s = defaultFirst, model.CustomerSortCreatedAt
	if first != nil {
		n = *first
	}
	if sort != nil {
		s = *sort
	}
	if n < 1 || n > maxFirst {
		return 0, "", nil, badInput{fmt.Sprintf("first must be between 1 and %d, got %d", maxFirst, n)}
	}
	if _, ok := sortParams[s]; !ok {
		return 0, "", nil, badInput{fmt.Sprintf("unknown sort %q", s)}
	}
	if after != nil {
		if *after == "" {
			return 0, "", nil, badInput{"after must not be empty: leave it out (or null) to start at the beginning"}
		}
		c, err := parseCursor(*after, s, r.maxPage)
		if err != nil {
			return 0, "", nil, err
		}
		from = &c
	}
	return n, s, from, nil
}

// window is one read of customersConnection: first customers after a
// cursor (or from the start), through the operation's loaders, so that
// pages that customers(page) or a lookup of the same operation fetch are
// fetched once.
type window struct {
	loaders *loader.Loaders
	token   upstream.Token
	sort    model.CustomerSort
	first   int
	after   *cursor
	maxPage int // MAX_PAGE: no page past it is read
	// lookahead reads one customer more, to answer hasNextPage.
	lookahead bool
}

// newConnection is customersConnection's answer: its edges and page info,
// read only when selected (ctx is the customersConnection field's).
func (r *Resolver) newConnection(ctx context.Context, w window) *model.CustomerConnection {
	sel := connectionSelection(ctx)
	w.lookahead = sel.hasNextPage
	read := sync.OnceValues(func() (read, error) { return r.read(ctx, w) })
	return &model.CustomerConnection{
		Edges: func() ([]*model.CustomerEdge, error) {
			got, err := read()
			return got.edges, err
		},
		PageInfo: func() (*model.PageInfo, error) {
			info := &model.PageInfo{HasPreviousPage: w.after != nil}
			if !sel.hasNextPage && !sel.cursors {
				return info, nil
			}
			got, err := read()
			if err != nil {
				if sel.edges {
					// Said once, by edges; the answer is null all the same.
					return info, nil
				}
				return nil, err
			}
			info.HasNextPage = got.more
			if len(got.edges) > 0 {
				info.StartCursor = &got.edges[0].Cursor
				info.EndCursor = &got.edges[len(got.edges)-1].Cursor
			}
			return info, nil
		},
	}
}

// selection is what a customersConnection field selects that costs a read.
type selection struct {
	edges, hasNextPage, cursors bool
}

// connectionSelection reads the selection of the customersConnection
// field of ctx, through fragments and @skip/@include, as gqlgen will
// resolve it.
func connectionSelection(ctx context.Context) selection {
	var sel selection
	oc := graphql.GetOperationContext(ctx)
	for _, f := range graphql.CollectFieldsCtx(ctx, []string{"CustomerConnection"}) {
		switch f.Name {
		case "edges":
			sel.edges = true
		case "pageInfo":
			for _, pf := range graphql.CollectFields(oc, f.Selections, []string{"PageInfo"}) {
				switch pf.Name {
				case "hasNextPage":
					sel.hasNextPage = true
				case "startCursor", "endCursor":
					sel.cursors = true
				}
			}
		}
	}
	return sel
}

// read is what a window read: its edges, and whether a customer follows
// them (when it looked ahead).
type read struct {
	edges []*model.CustomerEdge
	more  bool
}

// place is a customer's place in the list: an index of an upstream page.
type place struct{ page, index int }

// located is a customer the window read, and where.
type located struct {
	place
	c *upstream.Customer
}

func (r *Resolver) read(ctx context.Context, w window) (read, error) {
	from, err := w.start(ctx)
	if err != nil {
		return read{}, err
	}
	want := w.first
	if w.lookahead {
		want++
	}
	got, err := w.collect(ctx, from, want)
	if err != nil {
		return read{}, err
	}
	out := read{more: len(got) > w.first}
	got = got[:min(len(got), w.first)]
	// Mapped together, as a page's nodes are: a few allocations, not a few
	// per customer.
	customers := make([]upstream.Customer, len(got))
	for i, s := range got {
		customers[i] = *s.c
	}
	nodes := r.statuses.customers(ctx, customers)
	edges := make([]model.CustomerEdge, len(got))
	out.edges = make([]*model.CustomerEdge, len(got))
	for i, s := range got {
		edges[i] = model.CustomerEdge{
			Cursor: cursor{Sort: w.sort, Page: s.page, Index: s.index, ID: s.c.ID}.String(),
			Node:   nodes[i],
		}
		out.edges[i] = &edges[i]
	}
	return out, nil
}

// start is where the window starts: the first customer, or the one after
// the cursor's customer.
//
// The list may have shifted since the cursor was made: customers created
// or removed before it, or moved by an update in a sort by a time. The
// cursor's customer is looked for on its page, then on the pages either
// side of it, so that a shift of up to a page is followed: the window
// starts right after that customer, wherever it now is. When it is on none
// of them (removed itself, or moved further), the window starts at the
// cursor's old place: each customer created before it since then repeats
// one, and each other customer removed before it skips one (the cursor
// holds no sort value to find its successor by).
func (w window) start(ctx context.Context) (place, error) {
	c := w.after
	if c == nil {
		return place{1, 0}, nil
	}
	page, err := w.loaders.Page(ctx, w.pageKey(c.Page))
	if err != nil {
		return place{}, err
	}
	if i := indexOf(page, c.ID); i >= 0 {
		return place{c.Page, i + 1}, nil
	}
	var near []int
	if w.maxPage <= 0 || c.Page < w.maxPage {
		near = append(near, c.Page+1)
	}
	if c.Page > 1 {
		near = append(near, c.Page-1)
	}
	keys := make([]loader.PageKey, len(near))
	for i, p := range near {
		keys[i] = w.pageKey(p)
	}
	pages, errs := w.loaders.Pages(ctx, keys)
	for i, page := range pages {
		if errs[i] != nil {
			return place{}, errs[i]
		}
		if j := indexOf(page, c.ID); j >= 0 {
			return place{near[i], j + 1}, nil
		}
	}
	return place{c.Page, c.Index}, nil
}

// collect reads up to want customers from the place at, page after page,
// until the list ends (an empty page, or one shorter than a page seen
// before it) or MAX_PAGE is reached. Records that cannot be mapped are
// reported as errors of the field and skipped.
//
// The upstream's page size is not known in advance: once a page has been
// read, the pages that the rest needs are fetched at once, in one round
// trip instead of one per page, counting at least assumedPageSize
// customers a page. A window that starts on a short last page so fetches
// a few pages past the end, never one page per customer wanted: the price
// of a connection (see NewComplexity) counts pages of 20.
func (w window) collect(ctx context.Context, at place, want int) ([]located, error) {
	out := make([]located, 0, want)
	var ahead []upstream.Page
	var aheadErrs []error
	full := 0 // the longest page read: the page size, once a full page is seen
	// A page of only invalid records gives no customer: after want + 1
	// pages the window stops, with what it has.
	last := at.page + want + 1
	if w.maxPage > 0 {
		last = min(last, w.maxPage)
	}
	for p, i := at.page, at.index; len(out) < want && p <= last; p, i = p+1, 0 {
		var page upstream.Page
		var err error
		if len(ahead) > 0 {
			page, err = ahead[0], aheadErrs[0]
			ahead, aheadErrs = ahead[1:], aheadErrs[1:]
		} else {
			page, err = w.loaders.Page(ctx, w.pageKey(p))
		}
		if err != nil {
			return nil, err
		}
		if page.Len() == 0 {
			break // past the end
		}
		for _, invalid := range page.Invalid {
			graphql.AddError(ctx, invalid)
		}
		for ; i < len(page.Customers) && len(out) < want; i++ {
			out = append(out, located{place{p, i}, &page.Customers[i]})
		}
		if page.Len() < full {
			break // shorter than the page before it: the last page
		}
		full = page.Len()
		if rest := want - len(out); rest > 0 && len(ahead) == 0 {
			size := max(full, assumedPageSize)
			n := min((rest+size-1)/size, last-p)
			keys := make([]loader.PageKey, n)
			for k := range keys {
				keys[k] = w.pageKey(p + 1 + k)
			}
			ahead, aheadErrs = w.loaders.Pages(ctx, keys)
		}
	}
	return out, nil
}

// assumedPageSize is the fewest customers a page is counted to hold when
// fetching ahead: BotPenguin's page size, which the cost limit assumes
// too. A smaller page costs one round trip more, never more calls.
const assumedPageSize = 20

func (w window) pageKey(page int) loader.PageKey {
	return loader.PageKey{Token: w.token, Page: page, Sort: sortParams[w.sort]}
}

func indexOf(page upstream.Page, id string) int {
	for i := range page.Customers {
		if page.Customers[i].ID == id {
			return i
		}
	}
	return -1
}
