package httpserver_test

import (
	"fmt"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/botpenguin-gateway/gateway/upstream/upstreamtest"
)

// lookupQuery is the lookup case the README measures (BenchmarkLookups): two
// customers by id and one page.
const lookupQuery = `query($a: ID!, $b: ID!) { customers(page: 1) { nodes { id } } a: customer(id: $a) { id name } b: customer(id: $b) { id name } }`

// idsPage is the data of `{ customers { nodes { id } } }`.
type idsPage struct {
	Customers struct{ Nodes []struct{ ID string } }
}

// pagesAsked is the page and sort of every upstream call since the last
// ResetCalls, as "createdAt 3".
func pagesAsked(up *upstreamtest.Server) []string {
	var out []string
	for _, r := range up.Requests() {
		out = append(out, r.Sort+" "+r.Page)
	}
	return out
}

func TestAWarmLookupCostsOnePage(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	records := e.up.Records("")
	vars := map[string]any{"a": records[45]["_id"], "b": records[85]["_id"]} // pages 3 and 5
	r := e.query(lookupQuery, vars)
	require.Empty(t, r.Errors, r.Raw)
	assert.EqualValues(t, 5, e.up.Calls(), "cold: pages 1..5, as one page after another would")

	e.up.ResetCalls()
	r = e.query(lookupQuery, vars)
	require.Empty(t, r.Errors, r.Raw)
	got := decode[struct{ A, B struct{ ID, Name string } }](t, r)
	assert.Equal(t, records[45]["_id"], got.A.ID)
	assert.Equal(t, records[85]["name"], got.B.Name)
	assert.ElementsMatch(t, []string{"createdAt 1", "createdAt 3", "createdAt 5"}, pagesAsked(e.up),
		"warm: the page asked for, and the page of each customer")

	// A page in another sort teaches the index too (about a customer not
	// seen on pages 1..5 by creation date, whose place there would be kept).
	r = e.query(`{ customers(page: 4, sort: NAME) { nodes { id } } }`, nil)
	require.Empty(t, r.Errors, r.Raw)
	seen := map[any]bool{}
	for _, rec := range records[:100] {
		seen[rec["_id"]] = true
	}
	var id string
	for _, n := range decode[idsPage](t, r).Customers.Nodes {
		if !seen[n.ID] {
			id = n.ID
		}
	}
	require.NotEmpty(t, id)
	e.up.ResetCalls()
	r = e.query(`query($id: ID!) { customer(id: $id) { id } }`, map[string]any{"id": id})
	require.Empty(t, r.Errors, r.Raw)
	assert.JSONEq(t, fmt.Sprintf(`{"customer": {"id": %q}}`, id), string(r.Data))
	assert.Equal(t, []string{"name 4"}, pagesAsked(e.up))
}

func TestAStaleIndexEntryFallsBackToTheScan(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	r := e.query(`{ customers(page: 2, sort: NAME) { nodes { id } } }`, nil)
	require.Empty(t, r.Errors, r.Raw)
	nodes := decode[idsPage](t, r).Customers.Nodes
	id := nodes[len(nodes)-1].ID
	// A customer whose name comes first pushes the last of page 2 by name
	// onto page 3.
	e.up.Add("", upstreamtest.Customer{Name: "Aaron first"})
	createdPage := 0
	for i, rec := range e.up.Records("") {
		if rec["_id"] == id {
			createdPage = i/20 + 1
		}
	}
	require.NotZero(t, createdPage)

	e.up.ResetCalls()
	r = e.query(`query($id: ID!) { customer(id: $id) { id } }`, map[string]any{"id": id})
	require.Empty(t, r.Errors, r.Raw)
	assert.JSONEq(t, fmt.Sprintf(`{"customer": {"id": %q}}`, id), string(r.Data))
	asked := pagesAsked(e.up)
	require.NotEmpty(t, asked)
	assert.Equal(t, "name 2", asked[0], "the page the index knew")
	assert.Contains(t, asked, fmt.Sprintf("createdAt %d", createdPage), "then the scan, up to the customer's page")

	e.up.ResetCalls()
	r = e.query(`query($id: ID!) { customer(id: $id) { id } }`, map[string]any{"id": id})
	require.Empty(t, r.Errors, r.Raw)
	assert.Equal(t, []string{fmt.Sprintf("createdAt %d", createdPage)}, pagesAsked(e.up), "the scan taught the index where it is now")
}

func TestTheLookupIndexKeepsCredentialsApart(t *testing.T) {
	t.Parallel()
	const tenant, other = "tok-tenant-b", "tok-other-c"
	e := newEnv(t, nil, upstreamtest.WithTenant(tenant, "b"))
	records := e.up.Records("")
	id := records[85]["_id"] // page 5 of the default dataset
	query := map[string]any{"query": `query($id: ID!) { customer(id: $id) { id name } }`, "variables": map[string]any{"id": id}}
	r := e.post(query, "Bearer "+testToken)
	require.Empty(t, r.Errors, r.Raw)
	assert.JSONEq(t, fmt.Sprintf(`{"customer": {"id": %q, "name": %q}}`, id, records[85]["name"]), string(r.Data))

	// The tenant's list has no such customer: it is not found, and what
	// was asked was the tenant's own scan, from page 1 to the end.
	e.up.ResetCalls()
	r = e.post(query, "Bearer "+tenant)
	require.Empty(t, r.Errors, r.Raw)
	assert.JSONEq(t, `{"customer": null}`, string(r.Data))
	asked := pagesAsked(e.up)
	require.NotEmpty(t, asked)
	assert.Equal(t, "createdAt 1", asked[0], "a scan, not the page the other credential saw it on")
	assert.Len(t, asked, 17, "15 pages, the empty one and the rest of its window")
	for _, req := range e.up.Requests() {
		assert.Equal(t, "b", req.Tenant, "only the tenant's own calls")
	}

	// Another credential that sees the same list finds it through its own
	// scan, and only then through the index.
	e.up.ResetCalls()
	r = e.post(query, "Bearer "+other)
	require.Empty(t, r.Errors, r.Raw)
	assert.Contains(t, r.Raw, id)
	assert.ElementsMatch(t, []string{"createdAt 1", "createdAt 2", "createdAt 3", "createdAt 4", "createdAt 5"}, pagesAsked(e.up))
	e.up.ResetCalls()
	r = e.post(query, "Bearer "+other)
	require.Empty(t, r.Errors, r.Raw)
	assert.Equal(t, []string{"createdAt 5"}, pagesAsked(e.up))
}

func TestColdScanCalls(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		vars  map[string]string
		index int // of the customer looked up; -1 for an unknown id
		calls int
	}{
		"a customer on page 1": {nil, 7, 1},
		"a customer on page 5": {nil, 85, 5},
		"a customer on page 6": {nil, 105, 9}, // +3: the rest of its window, 6-9
		"an unknown id":        {nil, -1, 17}, // +1: the rest of the window 14-17 past the end (16)
		// A scan takes at most a quarter of the upstream slots.
		"windows of 1 page, 4 slots":  {map[string]string{"UPSTREAM_MAX_CONCURRENCY": "4"}, -1, 16},
		"windows of 2 pages, 8 slots": {map[string]string{"UPSTREAM_MAX_CONCURRENCY": "8"}, -1, 17}, // 1, 2-3, ..., 16-17
		"the scan limit":              {map[string]string{"CUSTOMER_SCAN_MAX_PAGES": "3"}, -1, 3},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, tc.vars)
			id := any("0000000000000000000000ff")
			if tc.index >= 0 {
				id = e.up.Records("")[tc.index]["_id"]
			}
			r := e.query(`query($id: ID!) { customer(id: $id) { id } }`, map[string]any{"id": id})
			if tc.vars["CUSTOMER_SCAN_MAX_PAGES"] != "" {
				assert.Equal(t, []string{"SCAN_LIMIT_REACHED"}, r.codes(), r.Raw)
			} else {
				require.Empty(t, r.Errors, r.Raw)
			}
			assert.EqualValues(t, tc.calls, e.up.Calls())
		})
	}
}
