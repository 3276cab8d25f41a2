package graph_test

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/botpenguin-gateway/gateway/upstream"
)

// listOf is n customers c00, c01, ... in pages of 10.
func listOf(n int) *stubUpstream {
	up := &stubUpstream{pageSize: 10}
	for i := range n {
		up.customers = append(up.customers, customerNamed(fmt.Sprintf("c%02d", i)))
	}
	return up
}

func customerNamed(id string) upstream.Customer {
	return upstream.Customer{ID: id, Name: id, CreatedAt: time.Date(2024, 1, 2, 0, 0, 0, 0, time.UTC)}
}

type connection struct {
	Edges []struct {
		Cursor string
		Node   struct{ ID string }
	}
	PageInfo struct {
		HasNextPage, HasPreviousPage bool
		StartCursor, EndCursor       *string
	}
}

func (c connection) ids() []string {
	var out []string
	for _, e := range c.Edges {
		out = append(out, e.Node.ID)
	}
	return out
}

const connectionQuery = `query($first: Int, $after: String, $sort: CustomerSort) {
	customersConnection(first: $first, after: $after, sort: $sort) {
		edges { cursor node { id } } pageInfo { hasNextPage hasPreviousPage startCursor endCursor } } }`

// connect runs connectionQuery over up and decodes its answer.
func connect(t *testing.T, up *stubUpstream, vars map[string]any) (connection, answer) {
	t.Helper()
	raw := post(t, graphServer(up, "tok"), connectionQuery, vars)
	var a answer
	require.NoError(t, json.Unmarshal([]byte(raw), &a), raw)
	var data struct{ CustomersConnection connection }
	if len(a.Errors) == 0 {
		require.NoError(t, json.Unmarshal(a.Data, &data), raw)
	}
	return data.CustomersConnection, a
}

// A window that starts on a short last page must not fetch a page per
// customer it wants: the cost limit prices a connection by pages of 20.
func TestAConnectionStartingOnTheLastPageFetchesFewPages(t *testing.T) {
	for _, tc := range []struct {
		after    string // the cursor's customer: the last, or one that does not exist
		page, at int
	}{
		{"c40", 5, 0}, // the last customer, alone on page 5
		{"zzz", 5, 7}, // forged: no such customer, a place past the end
		{"c39", 4, 9}, // the end of the last full page
	} {
		up := listOf(41)
		after := base64.RawURLEncoding.EncodeToString(fmt.Appendf(nil, "1:CREATED_AT:%d:%d:%s", tc.page, tc.at, tc.after))
		c, a := connect(t, up, map[string]any{"first": 100, "after": after})
		require.Empty(t, a.Errors, "%+v", tc)
		if tc.after == "c39" {
			assert.Equal(t, []string{"c40"}, c.ids())
		} else {
			assert.Empty(t, c.Edges)
		}
		assert.False(t, c.PageInfo.HasNextPage)
		// The cursor's page and its neighbours, then at most ceil(101/20)
		// pages fetched ahead: never 100.
		assert.LessOrEqual(t, up.calls.Load(), int32(3+6), "%+v", tc)
	}
}

// No page past MAX_PAGE is read: not by a window, nor by the look for a
// cursor's customer on the page after its own.
func TestAConnectionReadsNoPagePastMaxPage(t *testing.T) {
	up := listOf(100) // 10 pages of 10
	raw := post(t, graphServerMaxPage(up, "tok", 3), connectionQuery, map[string]any{"first": 100})
	var a answer
	require.NoError(t, json.Unmarshal([]byte(raw), &a), raw)
	require.Empty(t, a.Errors, raw)
	assert.EqualValues(t, 3, up.highest.Load(), "pages 1-3 only")
	assert.Equal(t, 30, strings.Count(raw, `"cursor"`), "what pages 1-3 hold")

	gone := listOf(100)
	after := base64.RawURLEncoding.EncodeToString([]byte("1:CREATED_AT:3:9:zzz")) // a customer not there
	raw = post(t, graphServerMaxPage(gone, "tok", 3), connectionQuery, map[string]any{"first": 5, "after": after})
	require.NoError(t, json.Unmarshal([]byte(raw), &a), raw)
	require.Empty(t, a.Errors, raw)
	assert.EqualValues(t, 3, gone.highest.Load(), "not page 4, after the cursor's page 3")
}

func TestAConnectionReadsExactlyFirstAndKnowsWhatFollows(t *testing.T) {
	for _, tc := range []struct {
		total, first int
		next         bool
		calls        int32
	}{
		{total: 20, first: 20, next: false, calls: 3}, // pages 1 and 2; the empty page 3 says nothing follows
		{total: 20, first: 19, next: true, calls: 2},  // the 20th follows, on page 2
		{total: 20, first: 25, next: false, calls: 3},
		{total: 45, first: 30, next: true, calls: 4},    // the 31st is on page 4
		{total: 0, first: 5, next: false, calls: 1},     // an empty list
		{total: 95, first: 100, next: false, calls: 10}, // 10 pages; the short 10th is the last
	} {
		up := listOf(tc.total)
		c, a := connect(t, up, map[string]any{"first": tc.first})
		require.Empty(t, a.Errors)
		want := up.customers[:min(tc.first, tc.total)]
		require.Len(t, c.Edges, len(want), "%+v", tc)
		for i, e := range c.Edges {
			assert.Equal(t, want[i].ID, e.Node.ID)
		}
		assert.Equal(t, tc.next, c.PageInfo.HasNextPage, "%+v", tc)
		assert.False(t, c.PageInfo.HasPreviousPage)
		assert.Equal(t, tc.calls, up.calls.Load(), "%+v", tc)
		if len(c.Edges) > 0 {
			assert.Equal(t, c.Edges[0].Cursor, *c.PageInfo.StartCursor)
			assert.Equal(t, c.Edges[len(c.Edges)-1].Cursor, *c.PageInfo.EndCursor)
		} else {
			assert.Nil(t, c.PageInfo.StartCursor)
			assert.Nil(t, c.PageInfo.EndCursor)
		}
	}
}

func TestAConnectionReadsOnlyWhatIsSelected(t *testing.T) {
	for query, calls := range map[string]int32{
		`{ customersConnection { pageInfo { hasPreviousPage } } }`:                                                                      0,
		`{ customersConnection { __typename } }`:                                                                                        0,
		`{ customersConnection(first: 20) { edges { cursor } } }`:                                                                       2, // pages 1 and 2
		`{ customersConnection(first: 20) { edges { cursor } pageInfo { endCursor } } }`:                                                2,
		`{ customersConnection(first: 20) { pageInfo { hasNextPage } } }`:                                                               3, // and page 3, for the 21st
		`query($s: Boolean!) { customersConnection(first: 20) { edges { cursor } pageInfo { hasNextPage @skip(if: $s) } } }`:            2,
		`{ customersConnection(first: 20) { ...C } } fragment C on CustomerConnection { pageInfo { ... on PageInfo { hasNextPage } } }`: 3,
	} {
		up := listOf(50)
		raw := post(t, graphServer(up, "tok"), query, map[string]any{"s": true})
		assert.NotContains(t, raw, `"errors"`, query)
		assert.Equal(t, calls, up.calls.Load(), query)
	}
}

func TestAWalkSeesEveryCustomerOnce(t *testing.T) {
	up := listOf(95)
	for _, first := range []int{1, 7, 10, 33, 100} {
		var seen []string
		vars := map[string]any{"first": first}
		for i := 0; ; i++ {
			require.Less(t, i, 100)
			c, a := connect(t, up, vars)
			require.Empty(t, a.Errors)
			assert.Equal(t, i > 0, c.PageInfo.HasPreviousPage)
			if c.PageInfo.HasNextPage {
				require.Len(t, c.Edges, first, "while customers remain, exactly first edges")
			}
			seen = append(seen, c.ids()...)
			if !c.PageInfo.HasNextPage {
				break
			}
			vars["after"] = *c.PageInfo.EndCursor
		}
		var want []string
		for _, c := range up.customers {
			want = append(want, c.ID)
		}
		assert.Equal(t, want, seen, "first: %d", first)
	}
}

// afterCursor is the cursor of the customer with id in a connection of
// the first customers of up.
func afterCursor(t *testing.T, up *stubUpstream, first int, id string) string {
	t.Helper()
	c, a := connect(t, up, map[string]any{"first": first})
	require.Empty(t, a.Errors)
	for _, e := range c.Edges {
		if e.Node.ID == id {
			return e.Cursor
		}
	}
	t.Fatalf("%s is not among the first %d", id, first)
	return ""
}

func TestACursorFollowsItsCustomerWhenTheListShifts(t *testing.T) {
	remove := func(ids ...string) func([]upstream.Customer) []upstream.Customer {
		return func(cs []upstream.Customer) []upstream.Customer {
			return slices.DeleteFunc(cs, func(c upstream.Customer) bool { return slices.Contains(ids, c.ID) })
		}
	}
	insertFirst := func(n int) func([]upstream.Customer) []upstream.Customer {
		return func(cs []upstream.Customer) []upstream.Customer {
			var added []upstream.Customer
			for i := range n {
				added = append(added, customerNamed(fmt.Sprintf("n%02d", i)))
			}
			return append(added, cs...)
		}
	}
	for name, tc := range map[string]struct {
		cursorAt string // the cursor is this customer's (c00 is on page 1 at 0, c14 on page 2 at 4)
		change   func([]upstream.Customer) []upstream.Customer
		next     []string // the next edges
	}{
		"nothing changed":                        {"c14", nil, []string{"c15", "c16"}},
		"a customer before it removed":           {"c14", remove("c03"), []string{"c15", "c16"}},
		"it moved back a page":                   {"c10", remove("c03"), []string{"c11", "c12"}},
		"it moved back further":                  {"c24", remove("c00", "c01", "c02", "c03", "c04", "c05", "c06", "c07", "c08", "c09", "c10", "c11"), []string{"c25", "c26"}},
		"a customer created before it":           {"c14", insertFirst(1), []string{"c15", "c16"}},
		"it moved on a page":                     {"c19", insertFirst(1), []string{"c20", "c21"}},
		"it moved on by up to a page and a half": {"c14", insertFirst(15), []string{"c15", "c16"}},
		// Gone: the window starts at its place, which the customer after
		// it now holds.
		"it was removed":                 {"c14", remove("c14"), []string{"c15", "c16"}},
		"it and the one after removed":   {"c14", remove("c14", "c15"), []string{"c16", "c17"}},
		"it was the last, and removed":   {"c49", remove("c49"), nil},
		"the page it was on is gone now": {"c49", remove("c40", "c41", "c42", "c43", "c44", "c45", "c46", "c47", "c48", "c49"), nil},
		// Moved on past the pages either side: the window starts at its
		// place, repeating what was created before it (the README says so).
		"it moved on past the next page": {"c14", insertFirst(16), []string{"n14", "n15"}},
	} {
		t.Run(name, func(t *testing.T) {
			up := listOf(50)
			after := afterCursor(t, up, 50, tc.cursorAt)
			if tc.change != nil {
				up.customers = tc.change(up.customers)
			}
			c, a := connect(t, up, map[string]any{"first": 2, "after": after})
			require.Empty(t, a.Errors)
			assert.Equal(t, tc.next, c.ids())
			assert.True(t, c.PageInfo.HasPreviousPage)
		})
	}
}

// cursorOf writes a cursor as the gateway does (the format is the
// gateway's, not the clients').
func cursorOf(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func TestBadConnectionArgumentsMakeNoUpstreamCall(t *testing.T) {
	up := listOf(50)
	good := afterCursor(t, up, 20, "c14")
	up.calls.Store(0)
	for name, vars := range map[string]map[string]any{
		"first 0":             {"first": 0},
		"first 101":           {"first": 101},
		"first negative":      {"first": -3},
		"after empty":         {"after": ""},
		"after garbage":       {"after": "!!!"},
		"after not base64url": {"after": base64.StdEncoding.EncodeToString([]byte("1:CREATED_AT:2:4:c14"))},
		"another sort's":      {"after": good, "sort": "NAME"},
		"another version":     {"after": cursorOf("2:CREATED_AT:2:4:c14")},
		"page 0":              {"after": cursorOf("1:CREATED_AT:0:4:c14")},
		"page over MAX_PAGE":  {"after": cursorOf("1:CREATED_AT:101:4:c14")},
		"negative index":      {"after": cursorOf("1:CREATED_AT:2:-1:c14")},
		"not canonical":       {"after": cursorOf("1:CREATED_AT:02:4:c14")},
		"bad id":              {"after": cursorOf("1:CREATED_AT:2:4:c 14")},
		"no id":               {"after": cursorOf("1:CREATED_AT:2:4:")},
		"unknown sort":        {"after": cursorOf("1:BY_MOOD:2:4:c14")},
		"too many parts":      {"after": cursorOf("1:CREATED_AT:2:4:c14:x")},
		"too long":            {"after": strings.Repeat("A", 300)},
	} {
		_, a := connect(t, up, vars)
		require.Equal(t, []string{"BAD_USER_INPUT"}, a.codes(), name)
		assert.NotContains(t, a.Errors[0].Message, "c14", name)
	}
	assert.Zero(t, up.calls.Load())

	_, a := connect(t, up, map[string]any{"after": good, "sort": "NAME"})
	assert.Equal(t, "after is a cursor of sort CREATED_AT, not NAME", a.Errors[0].Message)

	// Nulls are the defaults: the first 20, from the start.
	c, a := connect(t, up, map[string]any{"first": nil, "after": nil})
	require.Empty(t, a.Errors)
	assert.Len(t, c.Edges, 20)
	assert.Equal(t, "c00", c.Edges[0].Node.ID)
	assert.False(t, c.PageInfo.HasPreviousPage)
}

func TestACursorIsStableAndCarriesItsPlace(t *testing.T) {
	up := listOf(50)
	a, b := afterCursor(t, up, 20, "c14"), afterCursor(t, up, 30, "c14")
	assert.Equal(t, a, b, "the same customer at the same place has the same cursor")
	raw, err := base64.RawURLEncoding.DecodeString(a)
	require.NoError(t, err)
	assert.Equal(t, "1:CREATED_AT:2:4:c14", string(raw))
}

func TestAFailedReadIsOneError(t *testing.T) {
	for _, query := range []string{
		`{ customersConnection { edges { cursor } pageInfo { hasNextPage endCursor } } }`,
		`{ customersConnection { pageInfo { endCursor } } }`,
		`{ customersConnection { edges { cursor } } }`,
	} {
		up := &stubUpstream{err: &upstream.Error{Kind: upstream.ErrUnavailable, StatusCode: 503}}
		a := execute(t, up, "tok", query)
		assert.Equal(t, []string{"UPSTREAM_UNAVAILABLE"}, a.codes(), query)
		assert.Equal(t, "null", string(a.Data), query)
		assert.EqualValues(t, 1, up.calls.Load(), query)
	}
}
