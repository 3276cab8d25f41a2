package httpserver_test

import (
	"fmt"
	"slices"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/botpenguin-gateway/gateway/upstream/upstreamtest"
)

// connectionQuery is how Relay and Apollo Client's relayStylePagination page
// through a connection.
const connectionQuery = `query($first: Int, $after: String, $sort: CustomerSort) {
	customersConnection(first: $first, after: $after, sort: $sort) {
		edges { cursor node { id name } } pageInfo { hasNextPage hasPreviousPage endCursor } } }`

type connectionJSON struct {
	CustomersConnection struct {
		Edges []struct {
			Cursor string
			Node   struct{ ID, Name string }
		}
		PageInfo struct {
			HasNextPage, HasPreviousPage bool
			EndCursor                    *string
		}
	}
}

// walkConnection pages through the list of token with first edges a
// request until hasNextPage is false, calling between (if set) after each
// request; it returns the ids seen, in order, and the requests made.
func (e *env) walkConnection(token string, first int, sort string, between func(request int)) (ids []string, requests int) {
	e.t.Helper()
	vars := map[string]any{"first": first, "sort": sort}
	for {
		require.Less(e.t, requests, 400, "the walk does not end")
		r := e.post(map[string]any{"query": connectionQuery, "variables": vars}, "Bearer "+token)
		requests++
		require.Empty(e.t, r.Errors, r.Raw)
		c := decode[connectionJSON](e.t, r).CustomersConnection
		assert.Equal(e.t, requests > 1, c.PageInfo.HasPreviousPage)
		if c.PageInfo.HasNextPage {
			require.Len(e.t, c.Edges, first, "while customers remain, exactly first edges")
		}
		for _, edge := range c.Edges {
			ids = append(ids, edge.Node.ID)
		}
		if !c.PageInfo.HasNextPage {
			return ids, requests
		}
		vars["after"] = *c.PageInfo.EndCursor
		if between != nil {
			between(requests)
		}
	}
}

// walkPages is the same list through customers(page, sort): the ids of
// every page, in order, and the requests made.
func (e *env) walkPages(sort string) (ids []string, requests int) {
	e.t.Helper()
	for page := 1; ; page++ {
		r := e.query(`query($p: Int, $s: CustomerSort) { customers(page: $p, sort: $s) { nodes { id name } hasNextPage } }`,
			map[string]any{"p": page, "s": sort})
		require.Empty(e.t, r.Errors, r.Raw)
		got := decode[struct{ Customers pageJSON }](e.t, r).Customers
		for _, n := range got.Nodes {
			ids = append(ids, n.ID)
		}
		if !got.HasNextPage {
			return ids, page
		}
	}
}

func TestAWalkThroughTheConnectionSeesEveryCustomerOnce(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	for _, sort := range []string{"CREATED_AT", "UPDATED_AT", "NAME", "LAST_LOGIN"} {
		want, _ := e.walkPages(sort)
		require.Len(t, want, 300)
		for _, first := range []int{1, 7, 20, 50, 100} {
			if first == 1 && sort != "CREATED_AT" {
				continue // 300 requests: once is enough
			}
			got, requests := e.walkConnection(testToken, first, sort, nil)
			assert.Equal(t, want, got, "%s, first: %d", sort, first)
			assert.Equal(t, (300+first-1)/first, requests, "%s, first: %d", sort, first)
		}
	}
}

// TestAWalkWithFirst50CostsFewerUpstreamCalls is the measurement of the
// README: walking the 300 sample customers (pages of 20) with first: 50
// against customers(page) with hasNextPage.
func TestAWalkWithFirst50CostsFewerUpstreamCalls(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	_, requests := e.walkConnection(testToken, 50, "CREATED_AT", nil)
	connectionCalls := e.up.CallsTo(upstreamtest.PathList)
	e.up.ResetCalls()
	_, pages := e.walkPages("CREATED_AT")
	pageCalls := e.up.CallsTo(upstreamtest.PathList)
	t.Logf("first: 50: %d requests, %d upstream calls; customers(page): %d requests, %d upstream calls",
		requests, connectionCalls, pages, pageCalls)
	// 1-50 on pages 1-3; 51-100 on 3-5 and page 6 for hasNextPage; then
	// 4 pages each (the cursor's page is where the next window starts).
	assert.Equal(t, 6, requests)
	assert.EqualValues(t, 3+4+4+4+4+4, connectionCalls)
	assert.Equal(t, 15, pages)
	assert.EqualValues(t, 30, pageCalls, "each request its page and the next")
}

func TestAConnectionSharesPagesWithCustomersInOneOperation(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	r := e.query(`{
		p2: customers(page: 2) { nodes { id } hasNextPage }
		c: customersConnection(first: 50) { edges { node { id } } pageInfo { hasNextPage } }
		one: customer(id: "661000013c6ef372fe94f82a") { id }
	}`, nil)
	require.Empty(t, r.Errors, r.Raw)
	assert.EqualValues(t, 3, e.up.CallsTo(upstreamtest.PathList), "pages 1, 2 and 3, once each")
	got := decode[struct {
		P2 pageJSON
		C  struct {
			Edges []struct{ Node struct{ ID string } }
		}
	}](t, r)
	records := e.up.Records("")
	require.Len(t, got.C.Edges, 50)
	for i, edge := range got.C.Edges {
		assert.Equal(t, records[i]["_id"], edge.Node.ID)
	}
	assert.Equal(t, records[20]["_id"], got.P2.Nodes[0].ID)
}

func TestACursorSurvivesCustomersCreatedBeforeIt(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	before, _ := e.walkPages("NAME")
	// Between requests, customers whose names come first are created:
	// before the cursor, so the walk never sees them, and what it has seen
	// moves on by one place each time.
	created := 0
	got, _ := e.walkConnection(testToken, 25, "NAME", func(int) {
		created++
		e.up.Add("", upstreamtest.Customer{Name: fmt.Sprintf("Aaron %02d", created), Email: fmt.Sprintf("aaron+%d@monday101.com", created)})
	})
	assert.Equal(t, before, got, "every customer once, none repeated")
	require.Equal(t, 11, created)

	// In creation order a new customer comes last: a walk sees it once.
	e2 := newEnv(t, nil)
	got, _ = e2.walkConnection(testToken, 50, "CREATED_AT", func(request int) {
		if request == 2 {
			e2.up.Add("", upstreamtest.Customer{Name: "Zed", Email: "zed@monday101.com"})
		}
	})
	records := e2.up.Records("")
	require.Len(t, records, 301)
	var want []string
	for _, rec := range records {
		want = append(want, rec["_id"].(string))
	}
	assert.Equal(t, want, got)
}

func TestBadConnectionArgumentsAreRefusedBeforeTheUpstream(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	r := e.query(connectionQuery, map[string]any{"first": 3, "sort": "NAME"})
	require.Empty(t, r.Errors, r.Raw)
	byName := *decode[connectionJSON](t, r).CustomersConnection.PageInfo.EndCursor
	e.up.ResetCalls()
	for name, vars := range map[string]map[string]any{
		"first 0":        {"first": 0},
		"first 101":      {"first": 101},
		"first 1000":     {"first": 1000}, // not COMPLEXITY_LIMIT_EXCEEDED: priced as 100
		"after empty":    {"after": ""},
		"after garbage":  {"after": "not a cursor"},
		"another sort's": {"after": byName, "sort": "CREATED_AT"},
	} {
		r := e.query(connectionQuery, vars)
		assert.Equal(t, []string{"BAD_USER_INPUT"}, r.codes(), "%s: %s", name, r.Raw)
		assert.Equal(t, "null", string(r.Data), name)
	}
	assert.Zero(t, e.up.Calls())
}

func TestAConnectionIsPricedByThePagesItReads(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	everything := `{ customersConnection(first: 100) { edges { cursor node { ` + allFields + ` } } pageInfo { hasNextPage endCursor } } }`
	r := e.query(everything, nil)
	require.Equal(t, []string{"COMPLEXITY_LIMIT_EXCEEDED"}, r.codes(), r.Raw)
	// 1, 5 pages (50), 100 edges of 12 (a cursor, a node of 11), page info 12.
	assert.Equal(t, "operation has complexity 1263, which exceeds the limit of 1000", r.Errors[0].Message)
	assert.Zero(t, e.up.Calls())

	r = e.query(strings.Replace(everything, "first: 100", "first: 50", 1), nil)
	require.Empty(t, r.Errors, r.Raw)
}

func TestNodeAndCustomerByEmail(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	records := e.up.Records("")
	email := func(i int) string { return records[i]["contact"].(map[string]any)["email"].(string) }
	vars := map[string]any{"a": records[45]["_id"], "b": records[85]["_id"], "c": strings.ToUpper(email(30))} // pages 3, 5 and 2
	r := e.query(`query($a: ID!, $b: ID!, $c: String!) {
		a: node(id: $a) { __typename id ... on Customer { name } }
		b: customer(id: $b) { id }
		c: customerByEmail(email: $c) { id contact { email } }
	}`, vars)
	require.Empty(t, r.Errors, r.Raw)
	assert.JSONEq(t, fmt.Sprintf(`{"a": {"__typename": "Customer", "id": %q, "name": %q}, "b": {"id": %q},
		"c": {"id": %q, "contact": {"email": %q}}}`,
		records[45]["_id"], records[45]["name"], records[85]["_id"], records[30]["_id"], email(30)), string(r.Data))
	assert.EqualValues(t, 5, e.up.Calls(), "one scan for the three: pages 1..5")

	// Warm: the page where each was seen.
	e.up.ResetCalls()
	r = e.query(`query($a: ID!, $c: String!) { a: node(id: $a) { id } c: customerByEmail(email: $c) { id } }`, vars)
	require.Empty(t, r.Errors, r.Raw)
	assert.ElementsMatch(t, []string{"createdAt 3", "createdAt 2"}, pagesAsked(e.up))

	// Unknown: null, no error, after a scan to the end of the list.
	e.up.ResetCalls()
	r = e.query(`{ node(id: "66100000000000000000dead") { id } customerByEmail(email: "nobody@monday101.com") { id } }`, nil)
	require.Empty(t, r.Errors, r.Raw)
	assert.JSONEq(t, `{"node": null, "customerByEmail": null}`, string(r.Data))
	assert.EqualValues(t, 17, e.up.Calls(), "one scan for both, to the empty page 16 (window 14-17)")

	// Refused arguments: no upstream call, and the address is not repeated.
	e.up.ResetCalls()
	for _, q := range []string{
		`{ customerByEmail(email: "not-an-address") { id } }`,
		`{ customerByEmail(email: "") { id } }`,
		`{ customerByEmail(email: "Ada <ada@monday101.com>") { id } }`,
		`{ node(id: "a b") { id } }`,
		`{ node(id: "") { id } }`,
	} {
		r := e.query(q, nil)
		assert.Equal(t, []string{"BAD_USER_INPUT"}, r.codes(), q)
		assert.NotContains(t, r.Errors[0].Message, "ada@", q)
	}
	assert.Zero(t, e.up.Calls())
}

func TestConnectionsAndLookupsNeverCrossCredentials(t *testing.T) {
	t.Parallel()
	const beta = "tok-beta"
	e := newEnv(t, nil, upstreamtest.WithTenant(beta, "beta"))
	records := e.up.Records("")
	email := records[30]["contact"].(map[string]any)["email"].(string)
	lookup := `query($id: ID!, $email: String!) { node(id: $id) { id } customerByEmail(email: $email) { id } }`
	vars := map[string]any{"id": records[30]["_id"], "email": email}

	// The default tenant finds its customer, which teaches the index...
	r := e.query(lookup, vars)
	require.Empty(t, r.Errors, r.Raw)
	assert.JSONEq(t, fmt.Sprintf(`{"node": {"id": %q}, "customerByEmail": {"id": %q}}`, records[30]["_id"], records[30]["_id"]), string(r.Data))
	r = e.query(connectionQuery, map[string]any{"first": 35})
	require.Empty(t, r.Errors, r.Raw)
	after := *decode[connectionJSON](t, r).CustomersConnection.PageInfo.EndCursor

	// ...and beta, whose list is its own, never gets it.
	r = e.post(map[string]any{"query": lookup, "variables": vars}, "Bearer "+beta)
	require.Empty(t, r.Errors, r.Raw)
	assert.JSONEq(t, `{"node": null, "customerByEmail": null}`, string(r.Data))
	r = e.post(map[string]any{"query": connectionQuery, "variables": map[string]any{"first": 10, "after": after}}, "Bearer "+beta)
	require.Empty(t, r.Errors, r.Raw)
	betaIDs := map[string]bool{}
	for _, rec := range e.up.Records(beta) {
		betaIDs[rec["_id"].(string)] = true
	}
	edges := decode[connectionJSON](t, r).CustomersConnection.Edges
	require.Len(t, edges, 10, "another list's cursor is a place in beta's own list")
	for _, edge := range edges {
		assert.True(t, betaIDs[edge.Node.ID], edge.Node.ID)
	}
	ids, _ := e.walkConnection(beta, 50, "CREATED_AT", nil)
	assert.Len(t, ids, 300)
	for _, id := range ids {
		require.True(t, betaIDs[id], id)
	}
	assert.False(t, slices.Contains(ids, records[30]["_id"].(string)))
}

func TestAnInvalidRecordIsSkippedByTheConnectionAndReported(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil, upstreamtest.WithRecord(func(i int, rec map[string]any) {
		if i == 3 {
			rec["createdAt"] = "garbage"
		}
	}))
	r := e.query(connectionQuery, map[string]any{"first": 5})
	assert.Equal(t, []string{"UPSTREAM_INVALID_RECORD"}, r.codes(), r.Raw)
	records := e.up.Records("")
	var ids []string
	for _, edge := range decode[connectionJSON](t, r).CustomersConnection.Edges {
		ids = append(ids, edge.Node.ID)
	}
	var want []string
	for _, i := range []int{0, 1, 2, 4, 5} {
		want = append(want, records[i]["_id"].(string))
	}
	assert.Equal(t, want, ids, "the next customer takes its place")
}
