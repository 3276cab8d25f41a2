package loader_test

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/botpenguin-gateway/gateway/graph/loader"
	"github.com/botpenguin-gateway/gateway/upstream"
)

func TestEmailsAndIDsOfAnOperationAreFoundInOneScan(t *testing.T) {
	s := &stubList{total: 80, pageSize: 20}
	l := newLoaders(s)
	var wg sync.WaitGroup
	var byEmail, byID, missing *upstream.Customer
	wg.Go(func() {
		var err error
		byEmail, err = l.CustomerByEmail(context.Background(), "a", "C45@Example.com")
		assert.NoError(t, err)
	})
	wg.Go(func() {
		var err error
		byID, err = l.Customer(context.Background(), "a", "c3")
		assert.NoError(t, err)
	})
	wg.Go(func() {
		var err error
		missing, err = l.CustomerByEmail(context.Background(), "a", "c45@example.org")
		assert.NoError(t, err)
	})
	wg.Wait()
	require.NotNil(t, byEmail)
	assert.Equal(t, "c45", byEmail.ID, "compared case-insensitively")
	require.NotNil(t, byID)
	assert.Equal(t, "c3", byID.ID)
	assert.Nil(t, missing, "no such email: null, no error")
	assert.Equal(t, createdAt("a", 1, 2, 3, 4, 5), s.pages(), "one scan to the end of the list (the empty page 5), for all three")
}

func TestOfCustomersWithOneEmailTheFirstCreatedWins(t *testing.T) {
	s := &stubList{total: 100, pageSize: 20, emails: map[string]string{"c30": "Same@Example.com", "c70": "same@example.com", "c35": "SAME@example.com"}}
	c, err := newLoaders(s).CustomerByEmail(context.Background(), "a", "same@EXAMPLE.com")
	require.NoError(t, err)
	require.NotNil(t, c)
	assert.Equal(t, "c30", c.ID)
	assert.Equal(t, createdAt("a", 1, 2), s.pages(), "the scan stops at the first")

	// Found on the page the index points to, the first created of that
	// page wins too.
	x := loader.NewIndex(1000, time.Minute)
	_, err = indexed(s, x).Page(context.Background(), loader.PageKey{Token: "a", Page: 2, Sort: upstream.SortCreatedAt})
	require.NoError(t, err)
	s.reset()
	c, err = indexed(s, x).CustomerByEmail(context.Background(), "a", "same@example.com")
	require.NoError(t, err)
	require.NotNil(t, c)
	assert.Equal(t, "c30", c.ID)
	assert.Equal(t, createdAt("a", 2), s.pages())
}

func TestAWarmEmailLookupCostsOnePageOfItsOwnCredential(t *testing.T) {
	s := &stubList{total: 300, pageSize: 20, totals: map[upstream.Token]int{"b": 0}}
	x := loader.NewIndex(1000, time.Minute)
	ctx := context.Background()
	_, err := indexed(s, x).Page(ctx, loader.PageKey{Token: "a", Page: 7, Sort: upstream.SortName})
	require.NoError(t, err)
	s.reset()

	c, err := indexed(s, x).CustomerByEmail(ctx, "a", "c125@example.com")
	require.NoError(t, err)
	require.NotNil(t, c)
	assert.Equal(t, "c125", c.ID)
	assert.Equal(t, []loader.PageKey{{Token: "a", Page: 7, Sort: upstream.SortName}}, s.pages())

	// b's list is empty: b's lookup is b's own scan, never a's page.
	s.reset()
	c, err = indexed(s, x).CustomerByEmail(ctx, "b", "c125@example.com")
	require.NoError(t, err)
	assert.Nil(t, c)
	assert.Equal(t, createdAt("b", 1), s.pages())
}

func TestAnEmailThatMovedIsScannedForAndForgotten(t *testing.T) {
	s := &stubList{total: 300, pageSize: 20}
	x := loader.NewIndex(1000, time.Minute)
	ctx := context.Background()
	_, err := indexed(s, x).Page(ctx, loader.PageKey{Token: "a", Page: 3, Sort: upstream.SortCreatedAt})
	require.NoError(t, err)
	s.mu.Lock()
	s.shift, s.calls = 20, nil // c45 moves from page 3 to page 4
	s.mu.Unlock()

	c, err := indexed(s, x).CustomerByEmail(ctx, "a", "c45@example.com")
	require.NoError(t, err)
	require.NotNil(t, c)
	assert.Equal(t, "c45", c.ID)
	assert.ElementsMatch(t, createdAt("a", 3, 1, 2, 4, 5), s.pages(), "the indexed page, then the scan")
	at, ok := x.Email("a", "c45@example.com")
	require.True(t, ok)
	assert.Equal(t, 4, at.Page, "the scan taught the index the new page")
}
