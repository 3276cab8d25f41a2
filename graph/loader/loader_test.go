package loader_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/botpenguin-gateway/gateway/graph/loader"
	"github.com/botpenguin-gateway/gateway/upstream"
)

// stubList is an upstream of pages of pageSize customers, ids c1, c2, ...
// (emails c1@example.com, ..., created one minute apart in that order),
// total in all, that counts the pages asked of it. No HTTP.
type stubList struct {
	total, pageSize int
	err             error // every call fails with it when set
	errPage         int   // only this page fails, when set
	age             time.Duration
	totals          map[upstream.Token]int // a token's own total, instead of total
	shift           int                    // customers n1..n<shift> come first, pushing the others down
	onFetch         func(page int)         // called before a page is answered
	emails          map[string]string      // an id's email, instead of <id>@example.com

	mu    sync.Mutex
	calls []loader.PageKey
}

func (s *stubList) fetch(_ context.Context, token upstream.Token, page int, sort upstream.Sort) (upstream.Page, error) {
	s.mu.Lock()
	s.calls = append(s.calls, loader.PageKey{Token: token, Page: page, Sort: sort})
	total, ok := s.totals[token]
	if !ok {
		total = s.total
	}
	onFetch, shift, emails := s.onFetch, s.shift, s.emails
	s.mu.Unlock()
	if onFetch != nil {
		onFetch(page)
	}
	if s.err != nil && (s.errPage == 0 || s.errPage == page) {
		return upstream.Page{}, s.err
	}
	p := upstream.Page{Age: s.age}
	for j := (page-1)*s.pageSize + 1; j <= min(page*s.pageSize, total+shift); j++ {
		id := fmt.Sprintf("c%d", j-shift)
		if j <= shift {
			id = fmt.Sprintf("n%d", j)
		}
		email := id + "@example.com"
		if e, ok := emails[id]; ok {
			email = e
		}
		created := stubEpoch.Add(time.Duration(j-shift) * time.Minute) // the list is in creation order
		p.Customers = append(p.Customers, upstream.Customer{ID: id, Name: string(token), Email: &email, CreatedAt: created})
	}
	return p, nil
}

var stubEpoch = time.Date(2024, 1, 1, 0, 0, 0, 0, time.UTC)

func (s *stubList) pages() []loader.PageKey {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]loader.PageKey(nil), s.calls...)
}

func newLoaders(s *stubList) *loader.Loaders {
	return loader.New(s.fetch, loader.Options{ScanMaxPages: 5, IDBatchWait: time.Millisecond})
}

func TestAPageIsFetchedOncePerOperation(t *testing.T) {
	s := &stubList{total: 50, pageSize: 20}
	l := newLoaders(s)
	key := loader.PageKey{Token: "a", Page: 2, Sort: upstream.SortName}
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() {
			p, err := l.Page(context.Background(), key)
			assert.NoError(t, err)
			assert.Len(t, p.Customers, 20)
		})
	}
	wg.Wait()
	_, err := l.Page(context.Background(), loader.PageKey{Token: "b", Page: 2, Sort: upstream.SortName})
	require.NoError(t, err)
	assert.ElementsMatch(t, []loader.PageKey{key, {Token: "b", Page: 2, Sort: upstream.SortName}}, s.pages(),
		"one call per (token, page, sort), whoever asks")
}

func TestPageAndPagesShareOneFetch(t *testing.T) {
	s := &stubList{total: 100, pageSize: 20}
	l := newLoaders(s)
	keys := []loader.PageKey{{Token: "a", Page: 1, Sort: upstream.SortName}, {Token: "a", Page: 2, Sort: upstream.SortName}, {Token: "a", Page: 3, Sort: upstream.SortName}}
	var wg sync.WaitGroup
	for i := range 6 {
		wg.Go(func() {
			if i%2 == 0 {
				p, err := l.Page(context.Background(), keys[i%3])
				assert.NoError(t, err)
				assert.Len(t, p.Customers, 20)
				return
			}
			pages, errs := l.Pages(context.Background(), keys)
			for j := range keys {
				assert.NoError(t, errs[j])
				assert.Equal(t, fmt.Sprintf("c%d", keys[j].Page*20-19), pages[j].Customers[0].ID, "in the order asked")
			}
		})
	}
	wg.Wait()
	assert.ElementsMatch(t, keys, s.pages(), "each page once, whether asked alone or with others")
}

func TestAFetchThatPanicsFailsItsPageOnly(t *testing.T) {
	for name, load := range map[string]func(*loader.Loaders, loader.PageKey) error{
		"alone": func(l *loader.Loaders, k loader.PageKey) error { _, err := l.Page(context.Background(), k); return err },
		"with another": func(l *loader.Loaders, k loader.PageKey) error {
			_, errs := l.Pages(context.Background(), []loader.PageKey{k, {Token: "a", Page: 1, Sort: upstream.SortName}})
			assert.NoError(t, errs[1], "the other page")
			return errs[0]
		},
	} {
		t.Run(name, func(t *testing.T) {
			s := &stubList{total: 100, pageSize: 20, onFetch: func(page int) {
				if page == 4 {
					panic("secret token in a panic")
				}
			}}
			l := newLoaders(s)
			err := load(l, loader.PageKey{Token: "a", Page: 4, Sort: upstream.SortName})
			require.Error(t, err)
			assert.NotContains(t, err.Error(), "secret", "a panic's value is never printed")
			_, err = l.Page(context.Background(), loader.PageKey{Token: "a", Page: 4, Sort: upstream.SortName})
			assert.Error(t, err, "a later ask reads the failed page")
		})
	}
}

func TestIDsOfAnOperationAreFoundInOneScan(t *testing.T) {
	s := &stubList{total: 50, pageSize: 20}
	l := newLoaders(s)
	var wg sync.WaitGroup
	got := make([]*upstream.Customer, 3)
	for i, id := range []string{"c3", "c45", "c21"} {
		wg.Go(func() {
			c, err := l.Customer(context.Background(), "a", id)
			assert.NoError(t, err)
			got[i] = c
		})
	}
	wg.Wait()
	for i, id := range []string{"c3", "c45", "c21"} {
		require.NotNil(t, got[i], id)
		assert.Equal(t, id, got[i].ID)
	}
	assert.Equal(t, []loader.PageKey{
		{Token: "a", Page: 1, Sort: upstream.SortCreatedAt},
		{Token: "a", Page: 2, Sort: upstream.SortCreatedAt},
		{Token: "a", Page: 3, Sort: upstream.SortCreatedAt},
	}, s.pages(), "pages by creation date, once each, stopping when all are found")
}

func TestAScanStopsAtTheEndOfTheList(t *testing.T) {
	s := &stubList{total: 30, pageSize: 20}
	c, err := newLoaders(s).Customer(context.Background(), "a", "nobody")
	require.NoError(t, err)
	assert.Nil(t, c, "not in the list: null, no error")
	assert.Len(t, s.pages(), 3, "two full pages and the empty one past the end")
}

func TestAScanGivesUpAtTheLimit(t *testing.T) {
	s := &stubList{total: 1000, pageSize: 20}
	found, errs := newLoaders(s).Customers(context.Background(), "a", []string{"c2", "c999"})
	require.NotNil(t, found[0])
	assert.NoError(t, errs[0], "found within the limit")
	assert.Nil(t, found[1])
	assert.ErrorIs(t, errs[1], loader.ErrScanLimit)
	assert.Len(t, s.pages(), 5, "ScanMaxPages")
}

func TestAFailedScanFailsEveryIDOfThatToken(t *testing.T) {
	s := &stubList{total: 50, pageSize: 20, err: &upstream.Error{Kind: upstream.ErrUnavailable}}
	_, errs := newLoaders(s).Customers(context.Background(), "a", []string{"c1", "c2"})
	for _, err := range errs {
		assert.ErrorIs(t, err, upstream.ErrUnavailable)
	}
	assert.Len(t, s.pages(), 1, "the scan stops at the first failure")
}

func TestOldestIsTheAgeOfTheOldestPage(t *testing.T) {
	s := &stubList{total: 50, pageSize: 20, age: 3 * time.Second}
	l := newLoaders(s)
	assert.Zero(t, l.Oldest())
	_, err := l.Page(context.Background(), loader.PageKey{Token: "a", Page: 1})
	require.NoError(t, err)
	assert.Equal(t, 3*time.Second, l.Oldest())
}

func TestForWithoutLoadersIsAWiringError(t *testing.T) {
	_, err := loader.For(context.Background())
	assert.True(t, errors.Is(err, loader.ErrNoLoaders))
	l := newLoaders(&stubList{})
	got, err := loader.For(loader.With(context.Background(), l))
	require.NoError(t, err)
	assert.Same(t, l, got)
}
