package httpserver_test

import (
	"fmt"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/botpenguin-gateway/gateway/upstream/upstreamtest"
)

const allFields = `id name contact { email } verified status subscriptionType createdAt updatedAt lastLogin`

type customerJSON struct {
	ID      string `json:"id"`
	Name    string `json:"name"`
	Contact struct {
		Email *string `json:"email"`
	} `json:"contact"`
	Verified         bool    `json:"verified"`
	Status           string  `json:"status"`
	SubscriptionType *string `json:"subscriptionType"`
	CreatedAt        string  `json:"createdAt"`
	UpdatedAt        *string `json:"updatedAt"`
	LastLogin        *string `json:"lastLogin"`
}

type pageJSON struct {
	Nodes           []customerJSON `json:"nodes"`
	Page            int            `json:"page"`
	Sort            string         `json:"sort"`
	HasNextPage     bool           `json:"hasNextPage"`
	HasPreviousPage bool           `json:"hasPreviousPage"`
}

// expected maps a raw upstream record the way the contract says, written
// independently of the gateway's code.
func expected(t *testing.T, rec map[string]any) customerJSON {
	t.Helper()
	ts := func(v any) *string {
		s, ok := v.(string)
		if !ok {
			return nil
		}
		parsed, err := time.Parse(time.RFC3339Nano, s)
		require.NoError(t, err)
		out := parsed.UTC().Truncate(time.Millisecond).Format("2006-01-02T15:04:05.000Z")
		return &out
	}
	c := customerJSON{
		ID:        rec["_id"].(string),
		Name:      rec["name"].(string),
		Verified:  rec["verified"].(bool),
		CreatedAt: *ts(rec["createdAt"]),
		UpdatedAt: ts(rec["updatedAt"]),
		LastLogin: ts(rec["lastLogin"]),
	}
	if contact, ok := rec["contact"].(map[string]any); ok {
		if email, ok := contact["email"].(string); ok {
			c.Contact.Email = &email
		}
	}
	switch s := rec["status"].(string); s {
	case "ACTIVE", "INACTIVE":
		c.Status = s
	default:
		c.Status = "UNKNOWN"
	}
	if st, ok := rec["subscriptionType"].(string); ok {
		c.SubscriptionType = &st
	}
	return c
}

func TestMapsEveryField(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil, upstreamtest.WithRecord(func(i int, rec map[string]any) {
		switch i {
		case 1:
			delete(rec, "contact")
		case 2:
			rec["lastLogin"] = nil
			delete(rec, "subscriptionType")
		case 3:
			rec["status"] = "PAUSED"
		case 4:
			rec["nested"] = map[string]any{"deep": []any{1, "x"}}
			rec["contact"] = map[string]any{"phone": "+1"}
		case 5:
			// Finer than milliseconds and not UTC: truncated and converted.
			rec["createdAt"] = "2024-04-02T09:06:03.910987654+02:00"
		case 6:
			delete(rec, "_id")
		case 7:
			rec["createdAt"] = "yesterday"
		}
	}))
	records := e.up.Records("")

	r := e.query(`{ customers { page sort hasPreviousPage nodes { `+allFields+` } } }`, nil)
	require.Equal(t, 200, r.Status)
	page := decode[struct{ Customers pageJSON }](t, r).Customers
	assert.Equal(t, 1, page.Page)
	assert.Equal(t, "CREATED_AT", page.Sort)
	assert.False(t, page.HasPreviousPage)

	var want []customerJSON
	for i, rec := range records[:20] {
		if i == 6 || i == 7 {
			continue // invalid: reported, not returned
		}
		want = append(want, expected(t, rec))
	}
	assert.Equal(t, want, page.Nodes)
	assert.Equal(t, "2024-04-02T07:06:03.910Z", page.Nodes[5].CreatedAt)
	assert.Nil(t, page.Nodes[1].Contact.Email)
	assert.Nil(t, page.Nodes[2].LastLogin)
	assert.Equal(t, "UNKNOWN", page.Nodes[3].Status)

	require.Len(t, r.Errors, 2, r.Raw)
	for _, err := range r.Errors {
		assert.Equal(t, "UPSTREAM_INVALID_RECORD", err.Extensions["code"])
		assert.Equal(t, []any{"customers", "nodes"}, err.Path)
	}
	assert.Contains(t, e.logs.String(), `"status":"PAUSED"`)
}

func TestUnknownStatusIsLoggedOncePerValue(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	for range 3 {
		r := e.query(`{ customers { nodes { status } } }`, nil)
		require.Empty(t, r.Errors)
	}
	assert.Equal(t, 1, countLines(e.logs.String(), "unknown customer status"))
}

func TestPageAndSortReachTheUpstream(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	for _, tc := range []struct{ sort, param string }{
		{"CREATED_AT", "createdAt"}, {"UPDATED_AT", "updatedAt"}, {"NAME", "name"}, {"LAST_LOGIN", "lastLogin"},
	} {
		e.up.ResetCalls()
		r := e.query(`query($s: CustomerSort) { customers(page: 3, sort: $s) { sort page nodes { id } } }`, map[string]any{"s": tc.sort})
		require.Empty(t, r.Errors, r.Raw)
		page := decode[struct{ Customers pageJSON }](t, r).Customers
		assert.Equal(t, tc.sort, page.Sort)
		assert.Equal(t, 3, page.Page)
		assert.Len(t, page.Nodes, 20)
		reqs := e.up.Requests()
		last := reqs[len(reqs)-1]
		assert.Equal(t, "3", last.Page)
		assert.Equal(t, tc.param, last.Sort)
		assert.Equal(t, "Key", last.AuthType)
		assert.True(t, last.HasBearer)
	}
}

func TestSortOrderComesFromTheUpstream(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	r := e.query(`{ customers(sort: NAME) { nodes { name } } }`, nil)
	nodes := decode[struct{ Customers pageJSON }](t, r).Customers.Nodes
	for i := 1; i < len(nodes); i++ {
		assert.LessOrEqual(t, nodes[i-1].Name, nodes[i].Name)
	}
}

func TestPageBoundaries(t *testing.T) {
	t.Parallel()
	// 300 customers, 20 a page: pages 1..15.
	e := newEnv(t, nil)
	for _, tc := range []struct {
		page           int
		nodes          int
		hasNext, hasPr bool
	}{
		{1, 20, true, false},
		{2, 20, true, true},
		{14, 20, true, true},
		{15, 20, false, true},
		{16, 0, false, true},
		{10000, 0, false, true},
	} {
		t.Run(strconv.Itoa(tc.page), func(t *testing.T) {
			r := e.query(`query($p: Int) { customers(page: $p) { nodes { id } hasNextPage hasPreviousPage } }`, map[string]any{"p": tc.page})
			require.Empty(t, r.Errors, r.Raw)
			page := decode[struct{ Customers pageJSON }](t, r).Customers
			assert.Len(t, page.Nodes, tc.nodes)
			assert.Equal(t, tc.hasNext, page.HasNextPage)
			assert.Equal(t, tc.hasPr, page.HasPreviousPage)
		})
	}
}

func TestBadArgumentsAreRefusedBeforeTheUpstream(t *testing.T) {
	t.Parallel()
	e := newEnv(t, map[string]string{"MAX_PAGE": "100"})
	for name, tc := range map[string]struct {
		query string
		vars  map[string]any
	}{
		"page 0":               {`{ customers(page: 0) { page } }`, nil},
		"negative page":        {`{ customers(page: -5) { nodes { id } } }`, nil},
		"page over MAX_PAGE":   {`query($p: Int) { customers(page: $p) { page } }`, map[string]any{"p": 101}},
		"unknown enum literal": {`{ customers(sort: BIRTHDAY) { page } }`, nil},
		"unknown enum var":     {`query($s: CustomerSort) { customers(sort: $s) { page } }`, map[string]any{"s": "BIRTHDAY"}},
		"string page var":      {`query($p: Int) { customers(page: $p) { page } }`, map[string]any{"p": "two"}},
		"empty id":             {`{ customer(id: "") { id } }`, nil},
		"bad id":               {`{ customer(id: "../../etc") { id } }`, nil},
		"long id":              {fmt.Sprintf(`{ customer(id: "%070d") { id } }`, 1), nil},
	} {
		t.Run(name, func(t *testing.T) {
			r := e.query(tc.query, tc.vars)
			require.Equal(t, []string{"BAD_USER_INPUT"}, r.codes(), r.Raw)
		})
	}
	assert.Zero(t, e.up.Calls())
}

func TestCustomerByID(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	records := e.up.Records("")
	r := e.query(`query($id: ID!) { customer(id: $id) { `+allFields+` } }`, map[string]any{"id": records[45]["_id"]})
	require.Empty(t, r.Errors, r.Raw)
	got := decode[struct{ Customer customerJSON }](t, r).Customer
	assert.Equal(t, expected(t, records[45]), got)
	assert.EqualValues(t, 5, e.up.Calls(), "page 1, then pages 2..5 at once, stopping at the window holding the id")

	e.up.ResetCalls()
	r = e.query(`{ customer(id: "0000000000000000000000ff") { id } }`, nil)
	require.Empty(t, r.Errors, r.Raw)
	assert.JSONEq(t, `{"customer": null}`, string(r.Data))
	assert.EqualValues(t, 17, e.up.Calls(), "15 pages, then the empty page that ends the list, and the rest of its window (14-17)")
}

func TestCustomerScanLimit(t *testing.T) {
	t.Parallel()
	e := newEnv(t, map[string]string{"CUSTOMER_SCAN_MAX_PAGES": "2"})
	records := e.up.Records("")
	r := e.query(`query($a: ID!, $b: ID!) { a: customer(id: $a) { name } b: customer(id: $b) { name } }`,
		map[string]any{"a": records[5]["_id"], "b": records[100]["_id"]})
	assert.JSONEq(t, fmt.Sprintf(`{"a": {"name": %q}, "b": null}`, records[5]["name"]), string(r.Data))
	require.Equal(t, []string{"SCAN_LIMIT_REACHED"}, r.codes(), r.Raw)
	assert.Equal(t, []any{"b"}, r.Errors[0].Path)
	assert.EqualValues(t, 2, e.up.Calls())
}

func countLines(text, substr string) int {
	n := 0
	for _, line := range splitLines(text) {
		if contains(line, substr) {
			n++
		}
	}
	return n
}
