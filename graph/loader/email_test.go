package loader_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"

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

func TestAWarmEmailLookupAnswersTheFirstCreatedOfTheDuplicatesSeen(t *testing.T) {
	ctx := context.Background()
	page := func(p int, sort upstream.Sort) loader.PageKey {
		return loader.PageKey{Token: "a", Page: p, Sort: sort}
	}
	for name, seen := range map[string][]loader.PageKey{
		// The review's sequence: customers(page: 1), then customers(page: 13).
		"the later duplicate seen last":              {page(1, upstream.SortCreatedAt), page(13, upstream.SortCreatedAt)},
		"the later duplicate seen last, by name":     {page(1, upstream.SortCreatedAt), page(13, upstream.SortName)},
		"the later duplicate seen first":             {page(13, upstream.SortCreatedAt), page(1, upstream.SortCreatedAt)},
		"the earlier duplicate seen in another sort": {page(13, upstream.SortCreatedAt), page(1, upstream.SortName)},
	} {
		t.Run(name, func(t *testing.T) {
			s := &stubList{total: 300, pageSize: 20, emails: map[string]string{"c5": "dup@monday101.com", "c250": "DUP@monday101.com"}}
			x := loader.NewIndex(1000, time.Minute)
			c, err := indexed(s, x).CustomerByEmail(ctx, "a", "dup@monday101.com")
			require.NoError(t, err)
			require.NotNil(t, c)
			assert.Equal(t, "c5", c.ID, "cold: the scan meets the first created first")

			for _, key := range seen { // one operation each
				_, err := indexed(s, x).Page(ctx, key)
				require.NoError(t, err)
			}
			s.reset()
			c, err = indexed(s, x).CustomerByEmail(ctx, "a", "Dup@Monday101.com")
			require.NoError(t, err)
			require.NotNil(t, c)
			assert.Equal(t, "c5", c.ID, "warm: still the first created")
			require.Len(t, s.pages(), 1, "one page")
			assert.Equal(t, 1, s.pages()[0].Page, "the page where c5 was seen")
		})
	}
}

func TestAnEmailWhoseFirstCreatedCustomerChangedItIsScannedFor(t *testing.T) {
	s := &stubList{total: 300, pageSize: 20, emails: map[string]string{"c5": "dup@monday101.com", "c250": "DUP@monday101.com"}}
	x := loader.NewIndex(1000, time.Minute)
	ctx := context.Background()
	for _, p := range []int{1, 13} {
		_, err := indexed(s, x).Page(ctx, loader.PageKey{Token: "a", Page: p, Sort: upstream.SortCreatedAt})
		require.NoError(t, err)
	}
	s.mu.Lock()
	s.emails["c5"], s.calls = "other@monday101.com", nil
	s.mu.Unlock()

	c, err := indexed(s, x).CustomerByEmail(ctx, "a", "dup@monday101.com")
	require.NoError(t, err)
	require.NotNil(t, c)
	assert.Equal(t, "c250", c.ID)
	s.reset()
	c, err = indexed(s, x).CustomerByEmail(ctx, "a", "dup@monday101.com")
	require.NoError(t, err)
	require.NotNil(t, c)
	assert.Equal(t, "c250", c.ID)
	assert.Equal(t, createdAt("a", 13), s.pages(), "the scan taught the index c250's page")
}

func TestAnEmailKeepsAnEarlierCustomerWhileItsEntryIsFresh(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	x := loader.NewIndex(1000, time.Minute)
	loader.SetIndexClock(x, func() time.Time { return now })
	learn := func(p int, id string, created time.Time) {
		email := "dup@monday101.com"
		x.Learn(loader.PageKey{Token: "a", Page: p, Sort: upstream.SortCreatedAt}, upstream.Page{
			Customers: []upstream.Customer{{ID: id, Email: &email, CreatedAt: created}},
		})
	}
	page := func() int {
		at, ok := x.Email("a", "DUP@monday101.com")
		require.True(t, ok)
		return at.Page
	}
	learn(1, "c5", stubEpoch)
	now = now.Add(50 * time.Second)
	learn(13, "c250", stubEpoch.Add(time.Hour))
	assert.Equal(t, 1, page(), "the earlier customer's page")
	learn(2, "c5", stubEpoch)
	assert.Equal(t, 2, page(), "the same customer, seen on another page: its new page")
	now = now.Add(70 * time.Second)
	learn(13, "c250", stubEpoch.Add(time.Hour))
	assert.Equal(t, 13, page(), "the earlier customer's entry is out of date: the later one's page")
}

func TestEmailsAreComparedAsEqualFoldDoes(t *testing.T) {
	for name, tc := range map[string]struct {
		c260, c270 string // two customers' emails, c260 created first
		ask        string
		want       string // the customer found, "" for none
	}{
		"İ is not i":                {"KİM@monday101.com", "kim@monday101.com", "kim@monday101.com", "c270"},
		"İ is İ":                    {"KİM@monday101.com", "kim@monday101.com", "kİm@MONDAY101.com", "c260"},
		"ı is not I":                {"ıvy@monday101.com", "IVY@monday101.com", "ivy@monday101.com", "c270"},
		"ı is ı":                    {"ıvy@monday101.com", "IVY@monday101.com", "ıVY@monday101.com", "c260"},
		"ß is not SS":               {"straße@monday101.com", "STRASSE@monday101.com", "strasse@monday101.com", "c270"},
		"ß is ẞ":                    {"straße@monday101.com", "STRASSE@monday101.com", "STRAẞE@monday101.com", "c260"},
		"the Kelvin sign is k":      {"\u212Aim@monday101.com", "other@monday101.com", "kim@monday101.com", "c260"},
		"k is the Kelvin sign":      {"kim@monday101.com", "other@monday101.com", "\u212AIM@monday101.com", "c260"},
		"ſ is s":                    {"ſam@monday101.com", "other@monday101.com", "SAM@monday101.com", "c260"},
		"no email folds to another": {"KİM@monday101.com", "ıvy@monday101.com", "kim@monday101.com", ""},
	} {
		t.Run(name, func(t *testing.T) {
			require.True(t, tc.want != "c260" || strings.EqualFold(tc.c260, tc.ask), "the case agrees with EqualFold")
			require.True(t, tc.want != "c270" || strings.EqualFold(tc.c270, tc.ask), "the case agrees with EqualFold")
			s := &stubList{total: 300, pageSize: 20, emails: map[string]string{"c260": tc.c260, "c270": tc.c270}}
			x := loader.NewIndex(1000, time.Minute)
			ctx := context.Background()
			cold, err := indexed(s, x).CustomerByEmail(ctx, "a", tc.ask)
			require.NoError(t, err)
			// c260 is on page 13, c270 on page 14: the scan has taught the
			// index both; the warm lookup takes the page it points to.
			s.reset()
			warm, err := indexed(s, x).CustomerByEmail(ctx, "a", tc.ask)
			require.NoError(t, err)
			if tc.want != "" {
				assert.Len(t, s.pages(), 1, "warm: one page")
			}
			for which, c := range map[string]*upstream.Customer{"cold": cold, "warm": warm} {
				if tc.want == "" {
					assert.Nil(t, c, which)
					continue
				}
				if assert.NotNil(t, c, which) {
					assert.Equal(t, tc.want, c.ID, which)
				}
			}
		})
	}
}

// TestFoldEmailIsEqualFold checks every rune: each rune of an orbit of
// unicode.SimpleFold (the runes EqualFold takes for one another) folds to
// the same rune, and that rune is of the orbit. Two strings therefore fold
// to the same key exactly when EqualFold says they are equal.
func TestFoldEmailIsEqualFold(t *testing.T) {
	for r := rune(0); r <= unicode.MaxRune; r++ {
		if !utf8.ValidRune(r) {
			continue
		}
		key := loader.FoldEmail(string(r))
		if !strings.EqualFold(key, string(r)) {
			t.Fatalf("%U folds to %q, outside its orbit", r, key)
		}
		for f := unicode.SimpleFold(r); f != r; f = unicode.SimpleFold(f) {
			if got := loader.FoldEmail(string(f)); got != key {
				t.Fatalf("%U folds to %q but %U to %q", r, key, f, got)
			}
		}
	}
}

func TestALowerCaseEmailIsItsOwnKey(t *testing.T) {
	for _, email := range []string{"ada@example.com", "tomás+5@monday101.com", "straße@monday101.com", "σοφία@monday101.com", "kİm@monday101.com"} {
		assert.Equal(t, email, loader.FoldEmail(email))
		assert.Zero(t, testing.AllocsPerRun(10, func() { loader.FoldEmail(email) }), "not copied: %s", email)
	}
	assert.Equal(t, "tomás+5@monday101.com", loader.FoldEmail("TOMÁS+5@Monday101.com"))
}

func FuzzFoldEmailIsEqualFold(f *testing.F) {
	for _, s := range [][2]string{
		{"KİM@monday101.com", "kim@monday101.com"}, {"ı", "I"}, {"ß", "SS"}, {"ß", "ẞ"},
		{"\u212A", "k"}, {"ſ", "S"}, {"Ada@Example.com", "ada@example.COM"}, {"\xff", "\ufffd"},
	} {
		f.Add(s[0], s[1])
	}
	f.Fuzz(func(t *testing.T, a, b string) {
		if equal := loader.FoldEmail(a) == loader.FoldEmail(b); equal != strings.EqualFold(a, b) {
			t.Fatalf("FoldEmail says %v, EqualFold %v, for %q and %q", equal, !equal, a, b)
		}
	})
}
