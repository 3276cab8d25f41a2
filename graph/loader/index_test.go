package loader_test

import (
	"context"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/botpenguin-gateway/gateway/graph/loader"
	"github.com/botpenguin-gateway/gateway/upstream"
)

// indexed are loaders as the gateway builds them: a shared index, scans in
// windows of 4 pages.
func indexed(s *stubList, x *loader.Index) *loader.Loaders {
	return loader.New(s.fetch, loader.Options{ScanMaxPages: 50, IDBatchWait: time.Millisecond, ScanWindow: 4, Index: x})
}

func createdAt(token upstream.Token, pages ...int) []loader.PageKey {
	keys := make([]loader.PageKey, len(pages))
	for i, p := range pages {
		keys[i] = loader.PageKey{Token: token, Page: p, Sort: upstream.SortCreatedAt}
	}
	return keys
}

func (s *stubList) reset() {
	s.mu.Lock()
	s.calls = nil
	s.mu.Unlock()
}

func TestAWarmLookupCostsThePageWhereTheCustomerWasSeen(t *testing.T) {
	s := &stubList{total: 300, pageSize: 20}
	x := loader.NewIndex(1000, time.Minute)
	ctx := context.Background()
	// One operation shows pages 3 by creation date and 2 by name...
	l := indexed(s, x)
	_, err := l.Page(ctx, loader.PageKey{Token: "a", Page: 3, Sort: upstream.SortCreatedAt})
	require.NoError(t, err)
	_, err = l.Page(ctx, loader.PageKey{Token: "a", Page: 7, Sort: upstream.SortName})
	require.NoError(t, err)
	s.reset()

	// ...and later ones find customers there, one page each.
	c, err := indexed(s, x).Customer(ctx, "a", "c45")
	require.NoError(t, err)
	require.NotNil(t, c)
	assert.Equal(t, "c45", c.ID)
	found, errs := indexed(s, x).Customers(ctx, "a", []string{"c125", "c41"})
	assert.Equal(t, []error{nil, nil}, errs)
	assert.Equal(t, "c125", found[0].ID)
	assert.Equal(t, "c41", found[1].ID)
	assert.ElementsMatch(t, []loader.PageKey{
		{Token: "a", Page: 3, Sort: upstream.SortCreatedAt},
		{Token: "a", Page: 7, Sort: upstream.SortName},
		{Token: "a", Page: 3, Sort: upstream.SortCreatedAt},
	}, s.pages(), "one page per operation, in the sort it was seen in")

	at, ok := x.Email("a", "C45@Example.COM")
	assert.True(t, ok, "emails are indexed too, in any case")
	assert.Equal(t, loader.Location{Page: 3, Sort: upstream.SortCreatedAt}, at)
}

func TestACustomerNoLongerOnItsPageIsScannedFor(t *testing.T) {
	s := &stubList{total: 300, pageSize: 20}
	x := loader.NewIndex(1000, time.Minute)
	ctx := context.Background()
	_, err := indexed(s, x).Page(ctx, loader.PageKey{Token: "a", Page: 3, Sort: upstream.SortCreatedAt})
	require.NoError(t, err)
	s.mu.Lock()
	s.shift, s.calls = 20, nil // c45 moves from page 3 to page 4
	s.mu.Unlock()

	c, err := indexed(s, x).Customer(ctx, "a", "c45")
	require.NoError(t, err)
	require.NotNil(t, c)
	assert.Equal(t, "c45", c.ID)
	calls := s.pages()
	require.NotEmpty(t, calls)
	assert.Equal(t, createdAt("a", 3)[0], calls[0], "the indexed page first")
	assert.ElementsMatch(t, createdAt("a", 3, 1, 2, 4, 5), calls, "then the scan, which gets page 3 from the operation")

	s.reset()
	c, err = indexed(s, x).Customer(ctx, "a", "c45")
	require.NoError(t, err)
	require.NotNil(t, c)
	assert.Equal(t, createdAt("a", 4), s.pages(), "the scan taught the index the new page")
}

func TestAGoneCustomerIsForgotten(t *testing.T) {
	s := &stubList{total: 300, pageSize: 20}
	x := loader.NewIndex(1000, time.Minute)
	ctx := context.Background()
	_, err := indexed(s, x).Page(ctx, loader.PageKey{Token: "a", Page: 1, Sort: upstream.SortCreatedAt})
	require.NoError(t, err)
	s.mu.Lock()
	s.totals = map[upstream.Token]int{"a": 0} // every customer is gone
	s.mu.Unlock()

	c, err := indexed(s, x).Customer(ctx, "a", "c5")
	require.NoError(t, err)
	assert.Nil(t, c)
	_, ok := x.ID("a", "c5")
	assert.False(t, ok, "no page is tried again for it")
}

func TestTheIndexNeverAnswersForAnotherCredential(t *testing.T) {
	s := &stubList{total: 300, pageSize: 20, totals: map[upstream.Token]int{"b": 0}}
	x := loader.NewIndex(1000, time.Minute)
	ctx := context.Background()
	_, err := indexed(s, x).Page(ctx, loader.PageKey{Token: "a", Page: 3, Sort: upstream.SortCreatedAt})
	require.NoError(t, err)
	s.reset()

	// b's list is empty: b never gets a's customer, and b's lookup is b's
	// own scan (page 1, empty), not a's page.
	c, err := indexed(s, x).Customer(ctx, "b", "c45")
	require.NoError(t, err)
	assert.Nil(t, c)
	assert.Equal(t, createdAt("b", 1), s.pages())
	_, ok := x.ID("b", "c45")
	assert.False(t, ok)
	_, ok = x.Email("b", "c45@example.com")
	assert.False(t, ok)

	// c sees the same list as a: it finds the customer through its own
	// scan, from its own pages.
	s.reset()
	c, err = indexed(s, x).Customer(ctx, "c", "c45")
	require.NoError(t, err)
	require.NotNil(t, c)
	assert.Equal(t, "c", c.Name, "from c's own upstream answer")
	assert.ElementsMatch(t, createdAt("c", 1, 2, 3, 4, 5), s.pages())
}

func TestAnEntryIsUsedForMaxAgeAfterItsPageWasFetched(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	x := loader.NewIndex(1000, time.Minute)
	loader.SetIndexClock(x, func() time.Time { return now })
	x.Learn(loader.PageKey{Token: "a", Page: 1, Sort: upstream.SortCreatedAt}, upstream.Page{
		Customers: []upstream.Customer{{ID: "c1"}},
	})
	// A page from the page cache, fetched from the upstream 50 s ago.
	x.Learn(loader.PageKey{Token: "a", Page: 2, Sort: upstream.SortCreatedAt}, upstream.Page{
		Customers: []upstream.Customer{{ID: "c2"}}, Age: 50 * time.Second,
	})

	now = now.Add(30 * time.Second)
	_, ok := x.ID("a", "c1")
	assert.True(t, ok)
	_, ok = x.ID("a", "c2")
	assert.False(t, ok, "its page was fetched 80 s ago")
	now = now.Add(30 * time.Second)
	_, ok = x.ID("a", "c1")
	assert.False(t, ok)
}

// A busy page is fetched many times a second: learned again unchanged
// within a second of its last learning, it is not written again; changed,
// fetched a second later, or after an entry was forgotten, it is.
func TestAPageLearnedAgainUnchangedIsNotWrittenAgain(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	x := loader.NewIndex(1000, time.Minute)
	loader.SetIndexClock(x, func() time.Time { return now })
	at := func(p int) loader.PageKey { return loader.PageKey{Token: "a", Page: p, Sort: upstream.SortName} }
	page := func(ids ...string) upstream.Page {
		var p upstream.Page
		for _, id := range ids {
			p.Customers = append(p.Customers, upstream.Customer{ID: id})
		}
		return p
	}
	seenOn := func(id string) int {
		t.Helper()
		loc, ok := x.ID("a", id)
		require.True(t, ok, id)
		return loc.Page
	}

	x.Learn(at(1), page("c1"))
	x.Learn(at(2), page("c1"))
	now = now.Add(500 * time.Millisecond)
	x.Learn(at(1), page("c1"))
	assert.Equal(t, 2, seenOn("c1"), "page 1 unchanged, 500 ms later: not written again")

	x.Learn(at(1), page("c1", "c9"))
	assert.Equal(t, 1, seenOn("c1"), "page 1 changed: learned")
	assert.Equal(t, 1, seenOn("c9"))

	x.Learn(at(2), page("c1"))
	assert.Equal(t, 1, seenOn("c1"), "page 2 unchanged, 500 ms later")
	now = now.Add(time.Second)
	x.Learn(at(2), page("c1"))
	assert.Equal(t, 2, seenOn("c1"), "page 2 unchanged, 1.5 s later: learned")

	loader.Forget(x, "a", "c1")
	x.Learn(at(2), page("c1"))
	assert.Equal(t, 2, seenOn("c1"), "a forgotten customer is learned again from its page, however recent")

	// What a page holds is its ids, emails and creation times, in order.
	email := func(e string) *string { return &e }
	base := upstream.Page{Customers: []upstream.Customer{{ID: "c3"}}}
	for _, changed := range []upstream.Page{
		base,
		{Customers: []upstream.Customer{{ID: "c3", Email: email("")}}},
		{Customers: []upstream.Customer{{ID: "c3", Email: email("x@example.com")}}},
		{Customers: []upstream.Customer{{ID: "c3"}, {ID: "c4"}}},
		{Customers: []upstream.Customer{{ID: "c4"}, {ID: "c3"}}},
		{Customers: []upstream.Customer{{ID: "c3", CreatedAt: now}}},
	} {
		x := loader.NewIndex(1000, time.Minute)
		loader.SetIndexClock(x, func() time.Time { return now })
		x.Learn(at(3), base)
		x.Learn(at(4), page("c3"))
		x.Learn(at(3), changed)
		loc, ok := x.ID("a", "c3")
		require.True(t, ok)
		if changed.Customers[0] == base.Customers[0] && len(changed.Customers) == 1 {
			assert.Equal(t, 4, loc.Page, "page 3 unchanged: not written again")
		} else {
			assert.Equal(t, 3, loc.Page, "page 3 changed to %+v: learned", changed.Customers)
		}
	}
}

func TestTheIndexIsBoundedInEntries(t *testing.T) {
	x := loader.NewIndex(10, time.Minute)
	for p := 1; p <= 50; p++ {
		x.Learn(loader.PageKey{Token: "a", Page: p}, upstream.Page{Customers: []upstream.Customer{{ID: "c" + strconv.Itoa(p)}}})
		assert.LessOrEqual(t, loader.IndexLen(x), 10)
	}
	_, ok := x.ID("a", "c50")
	assert.True(t, ok, "the latest entries are kept")
	_, ok = x.ID("a", "c1")
	assert.False(t, ok, "the earliest are dropped")
}

func TestAColdScanCostsNoMoreCallsThanOneByOneInTheCommonCases(t *testing.T) {
	for name, tc := range map[string]struct {
		ids   []string
		pages []int
	}{
		"a customer on page 1":         {[]string{"c7"}, []int{1}},
		"customers on pages 3 and 5":   {[]string{"c45", "c85"}, []int{1, 2, 3, 4, 5}},
		"customers on pages 1 and 9":   {[]string{"c1", "c170"}, []int{1, 2, 3, 4, 5, 6, 7, 8, 9}},
		"a customer on page 3 alone":   {[]string{"c45"}, []int{1, 2, 3, 4, 5}},                                           // +2: the rest of its window
		"an unknown id, 15 full pages": {[]string{"x"}, []int{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12, 13, 14, 15, 16, 17}}, // +1 past the end
	} {
		t.Run(name, func(t *testing.T) {
			s := &stubList{total: 300, pageSize: 20}
			found, errs := indexed(s, loader.NewIndex(1000, time.Minute)).Customers(context.Background(), "a", tc.ids)
			for i, id := range tc.ids {
				require.NoError(t, errs[i])
				if id != "x" {
					require.NotNil(t, found[i], id)
				}
			}
			assert.ElementsMatch(t, createdAt("a", tc.pages...), s.pages())
		})
	}
}

func TestAScanWindowIsFetchedAtOnce(t *testing.T) {
	inFlight := make(chan struct{})
	var n atomic.Int32
	s := &stubList{total: 300, pageSize: 20}
	s.onFetch = func(page int) {
		if page == 1 {
			return
		}
		if n.Add(1) == 4 {
			close(inFlight)
		}
		select {
		case <-inFlight: // pages 2..5 are all asked for before any is answered
		case <-time.After(10 * time.Second):
			t.Errorf("page %d waited alone: the window is not fetched at once", page)
		}
	}
	c, err := indexed(s, loader.NewIndex(1000, time.Minute)).Customer(context.Background(), "a", "c85")
	require.NoError(t, err)
	require.NotNil(t, c)
	assert.ElementsMatch(t, createdAt("a", 1, 2, 3, 4, 5), s.pages())
}

func TestAWindowIsReadInPageOrder(t *testing.T) {
	ctx := context.Background()
	unavailable := &upstream.Error{Kind: upstream.ErrUnavailable}

	// Page 3 fails: a customer on page 2 is found, one on page 4 is not.
	s := &stubList{total: 300, pageSize: 20, err: unavailable, errPage: 3}
	c, err := indexed(s, nil).Customer(ctx, "a", "c25")
	require.NoError(t, err)
	assert.Equal(t, "c25", c.ID)
	_, err = indexed(s, nil).Customer(ctx, "a", "c65")
	assert.ErrorIs(t, err, upstream.ErrUnavailable)

	// The list ends on page 2: nothing after the empty page counts.
	s = &stubList{total: 30, pageSize: 20}
	c, err = indexed(s, nil).Customer(ctx, "a", "nobody")
	require.NoError(t, err)
	assert.Nil(t, c)
	assert.Len(t, s.pages(), 5, "page 1, then 2-5: up to 3 calls past the end, never more")
}

func TestAWindowStopsAtTheScanLimit(t *testing.T) {
	s := &stubList{total: 1000, pageSize: 20}
	l := loader.New(s.fetch, loader.Options{ScanMaxPages: 7, ScanWindow: 4, Index: loader.NewIndex(100, time.Minute)})
	_, err := l.Customer(context.Background(), "a", "c999")
	assert.ErrorIs(t, err, loader.ErrScanLimit)
	assert.ElementsMatch(t, createdAt("a", 1, 2, 3, 4, 5, 6, 7), s.pages())
}

func TestIndexIsSafeForConcurrentUse(t *testing.T) {
	s := &stubList{total: 300, pageSize: 20}
	x := loader.NewIndex(50, time.Minute)
	var wg sync.WaitGroup
	for i := range 8 {
		wg.Go(func() {
			l := indexed(s, x)
			for p := 1; p <= 15; p++ {
				_, err := l.Page(context.Background(), loader.PageKey{Token: "a", Page: p, Sort: upstream.SortName})
				assert.NoError(t, err)
			}
			c, err := indexed(s, x).Customer(context.Background(), "a", []string{"c3", "c150", "c299"}[i%3])
			assert.NoError(t, err)
			assert.NotNil(t, c)
		})
	}
	wg.Wait()
	assert.LessOrEqual(t, loader.IndexLen(x), 50)
}

// BenchmarkIndexLearn is what every page fetched costs the index: a page
// of 20 customers with emails, for a new credential each time (the worst
// case: every entry is new).
func BenchmarkIndexLearn(b *testing.B) {
	x := loader.NewIndex(100_000, time.Minute)
	page, err := (&stubList{total: 20, pageSize: 20}).fetch(context.Background(), "", 1, upstream.SortCreatedAt)
	require.NoError(b, err)
	b.ReportAllocs()
	for i := 0; b.Loop(); i++ {
		x.Learn(loader.PageKey{Token: upstream.Token("token-" + strconv.Itoa(i)), Page: 1, Sort: upstream.SortCreatedAt}, page)
	}
}

// A page longer than the index learns at once (32 customers) is learned
// whole, by id and by email, up to its last customer.
func TestTheIndexLearnsALongPageWhole(t *testing.T) {
	x := loader.NewIndex(10_000, time.Minute)
	var page upstream.Page
	for i := range 70 {
		email := "C" + strconv.Itoa(i) + "@Example.com"
		page.Customers = append(page.Customers, upstream.Customer{ID: "c" + strconv.Itoa(i), Email: &email})
	}
	page.Customers[40].Email = nil
	x.Learn(loader.PageKey{Token: "a", Page: 7, Sort: upstream.SortName}, page)
	want := loader.Location{Page: 7, Sort: upstream.SortName}
	for i := range 70 {
		at, ok := x.ID("a", "c"+strconv.Itoa(i))
		assert.True(t, ok, i)
		assert.Equal(t, want, at, i)
		at, ok = x.Email("a", "c"+strconv.Itoa(i)+"@example.COM")
		assert.Equal(t, i != 40, ok, i)
		if i != 40 {
			assert.Equal(t, want, at, i)
		}
	}
	assert.Equal(t, 139, loader.IndexLen(x))
}

func TestTheIndexGivesBackThePageAndSortItLearned(t *testing.T) {
	x := loader.NewIndex(100, time.Minute)
	sorts := []upstream.Sort{"", upstream.SortCreatedAt, upstream.SortUpdatedAt, upstream.SortName, upstream.SortLastLogin}
	for i, sort := range sorts {
		id := "c" + strconv.Itoa(i)
		x.Learn(loader.PageKey{Token: "a", Page: 1000 + i, Sort: sort}, upstream.Page{Customers: []upstream.Customer{{ID: id}}})
		at, ok := x.ID("a", id)
		assert.True(t, ok, sort)
		assert.Equal(t, loader.Location{Page: 1000 + i, Sort: sort}, at)
	}

	// Neither a sort it does not know nor a page it cannot hold is learned.
	x.Learn(loader.PageKey{Token: "a", Page: 1, Sort: "email"}, upstream.Page{Customers: []upstream.Customer{{ID: "odd-sort"}}})
	x.Learn(loader.PageKey{Token: "a", Page: 1 << 40, Sort: upstream.SortName}, upstream.Page{Customers: []upstream.Customer{{ID: "far-page"}}})
	for _, id := range []string{"odd-sort", "far-page"} {
		_, ok := x.ID("a", id)
		assert.False(t, ok, id)
	}
}

// A page learned again within the second is written again when one of its
// entries was dropped meanwhile to make room: its record no longer counts.
func TestAPageWhoseEntryWasDroppedIsLearnedAgain(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	x := loader.NewIndex(8, time.Minute) // one bucket of eight: entries and pages' records
	loader.SetIndexClock(x, func() time.Time { return now })
	learn := func(p int, ids ...string) {
		var page upstream.Page
		for _, id := range ids {
			page.Customers = append(page.Customers, upstream.Customer{ID: id})
		}
		x.Learn(loader.PageKey{Token: "a", Page: p, Sort: upstream.SortName}, page)
		now = now.Add(time.Millisecond)
	}
	learn(1, "c1", "c1b") // c1, c1b, page 1's record
	learn(2, "c2")        // five slots
	learn(3, "c3")        // seven
	learn(4, "c4")        // c4 takes the eighth; page 4's record, the place of c1, the first fetched
	_, ok := x.ID("a", "c1")
	require.False(t, ok, "c1 made room")

	learn(1, "c1", "c1b") // unchanged, 4 ms later: written again all the same
	_, ok = x.ID("a", "c1")
	assert.True(t, ok, "page 1 learned again after one of its entries was dropped")
}

// The table doubles many times over while lookups and collections go on;
// the tables it leaves are given back behind it.
func TestTheIndexGrowsWhileInUse(t *testing.T) {
	page, err := (&stubList{total: 20, pageSize: 20}).fetch(context.Background(), "", 1, upstream.SortCreatedAt)
	require.NoError(t, err)
	x := loader.NewIndex(100_000, time.Minute)
	stop := make(chan struct{})
	var collector sync.WaitGroup
	collector.Go(func() {
		for {
			select {
			case <-stop:
				return
			default:
				runtime.GC()
			}
		}
	})
	var wg sync.WaitGroup
	var found atomic.Int32
	for w := range 4 {
		wg.Go(func() {
			for i := range 250 {
				tok := upstream.Token("token-" + strconv.Itoa(w) + "-" + strconv.Itoa(i))
				x.Learn(loader.PageKey{Token: tok, Page: 2, Sort: upstream.SortName}, page)
				if loc, ok := x.ID(tok, page.Customers[i%20].ID); ok {
					found.Add(1)
					assert.Equal(t, loader.Location{Page: 2, Sort: upstream.SortName}, loc)
				}
			}
		})
	}
	wg.Wait()
	close(stop)
	collector.Wait()
	// Below its cap the table grows rather than drop an entry.
	assert.Equal(t, int32(1000), found.Load())
	assert.Greater(t, loader.IndexLen(x), 35_000, "1,000 pages of 20 customers, by id and by email")
}
