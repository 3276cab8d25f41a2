package graph_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/botpenguin-gateway/gateway/graph"
	"github.com/botpenguin-gateway/gateway/upstream"
)

// renderServer is the graph over up, with RenderCustomerLists when render
// is set, and a field middleware that counts how many fields gqlgen
// resolved itself.
func renderServer(up *stubUpstream, render bool, resolved *atomic.Int64) http.Handler {
	count := func(ctx context.Context, next graphql.Resolver) (any, error) {
		resolved.Add(1)
		return next(ctx)
	}
	if render {
		return graphServer(up, "tok", graph.RenderCustomerLists, count)
	}
	return graphServer(up, "tok", count)
}

// renderCustomers have every kind of value a field can hold: every byte
// in strings (invalid UTF-8 too), nulls, and a status the schema does not
// know.
func renderCustomers() []upstream.Customer {
	var every strings.Builder
	for b := range 256 {
		every.WriteByte(byte(b))
	}
	str := func(s string) *string { return &s }
	at := func(t time.Time) *time.Time { return &t }
	created := time.Date(2024, 4, 2, 7, 6, 3, 910_123_000, time.UTC)
	return []upstream.Customer{
		{ID: "6610a", Name: "Kevin v3", Email: str("kevin+4@monday101.com"), Verified: true, Status: "ACTIVE",
			SubscriptionType: str("v2"), CreatedAt: created, UpdatedAt: at(created.Add(time.Hour)), LastLogin: at(created.Add(time.Minute))},
		{ID: "6610b", Name: every.String(), Email: str("tomás+5@monday101.com \"quoted\" \\ \u2028 \U0001F600"), Status: "INACTIVE",
			SubscriptionType: str("\x00\x1f\t\r\n\x7f\xff\xfe"), CreatedAt: created.In(time.FixedZone("x", 5*3600))},
		{ID: "6610c", Name: "", Status: "SUSPENDED", CreatedAt: time.Date(1, 1, 1, 0, 0, 0, 0, time.UTC)},
	}
}

// TestRenderedListsAreGqlgens holds RenderCustomerLists to gqlgen's own
// answers, byte for byte, over selections of every shape: aliases,
// fragments, directives, __typename, repeated fields, several pages, an
// empty page, and queries it leaves to gqlgen.
func TestRenderedListsAreGqlgens(t *testing.T) {
	up := &stubUpstream{lastPage: 1, customers: renderCustomers()}
	var plainFields, renderedFields atomic.Int64
	plain, rendered := renderServer(up, false, &plainFields), renderServer(up, true, &renderedFields)

	queries := []string{
		`{ customers { nodes { id name contact { email } verified status subscriptionType createdAt updatedAt lastLogin } } }`,
		`{ customers(page: 1, sort: NAME) { page hasNextPage nodes { __typename lastLogin updatedAt createdAt subscriptionType status verified contact { __typename email } name id } } }`,
		`{ a: customers { nodes { x: id y: id z: name c: contact { e: email f: email } } } b: customers(page: 2) { nodes { id } } }`,
		`{ customers { nodes { id ...F ... on Customer { name contact { email } } ... on _Entity { __typename } } } } fragment F on Customer { status id contact { __typename } }`,
		`{ customers { nodes { id contact { email } contact { __typename } name @skip(if: true) verified @include(if: false) status @include(if: true) } } }`,
		`query($s: Boolean!, $i: Boolean!) { customers { nodes { id @skip(if: $s) name @include(if: $i) ... @include(if: $s) { status } contact { email @skip(if: $i) } } } }`,
		`{ customers { nodes { ... on Customer @defer { name } id } } }`,
		`{ customers { sort nodes { id } hasPreviousPage } c: customer(id: "6610b") { id name } }`,
		`{ customers { nodes { id __typename } } _entities(representations: [{__typename: "Customer", id: "6610a"}]) { ... on Customer { id name } } }`,
		`{ customersConnection { edges { cursor node { id name contact { email } verified status subscriptionType createdAt updatedAt lastLogin } } pageInfo { hasNextPage endCursor } } }`,
		`{ customersConnection(first: 2, sort: NAME) { edges { __typename c: cursor node { __typename ...F } n: node { ... on Node { id } } } } } fragment F on Customer { id contact { email } }`,
		`{ customersConnection { edges { ... on CustomerEdge { cursor } cursor @skip(if: true) node { id @include(if: false) name } } } }`,
		`{ customersConnection { edges { node { ... on Customer @defer { name } id } } } }`,
		`{ customersConnection { edges { ... @defer { cursor } node { id } } } }`,
	}
	for _, q := range queries {
		for _, vars := range []map[string]any{{"s": true, "i": false}, {"s": false, "i": true}} {
			want := post(t, plain, q, vars)
			require.Equal(t, want, post(t, rendered, q, vars), q)
		}
	}
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range 300 {
		q := randomListQuery(rng, i%2 == 1)
		for _, vars := range []map[string]any{{"s": true}, {"s": false}} {
			want := post(t, plain, q, vars)
			require.NotContains(t, want, `"errors"`, q)
			require.Equal(t, want, post(t, rendered, q, vars), q)
		}
	}
	assert.Less(t, renderedFields.Load()*5, plainFields.Load(), "the rendered lists resolve no field of their customers")

	up.lastPage = 0 // an empty page
	q := `{ customers { nodes { id name } page } }`
	want := post(t, plain, q, nil)
	assert.Equal(t, `{"data":{"customers":{"nodes":[],"page":1}}}`, want)
	assert.Equal(t, want, post(t, rendered, q, nil))
}

// randomListQuery selects some of a Customer's fields, in any order,
// some aliased, some twice, some through fragments or behind directives,
// in customers or (edges) in customersConnection.
func randomListQuery(rng *rand.Rand, edges bool) string {
	fields := []string{"id", "name", "verified", "status", "subscriptionType", "createdAt", "updatedAt", "lastLogin", "__typename",
		"contact { email }", "contact { __typename }", "contact { e: email email __typename }"}
	var sel, frag []string
	for range 1 + rng.IntN(12) {
		f := fields[rng.IntN(len(fields))]
		switch rng.IntN(6) {
		case 0: // an alias of its own: two fields under one key must be the same field
			name, _, _ := strings.Cut(f, " ")
			f = fmt.Sprintf("%s%d: %s", strings.TrimPrefix(name, "__"), rng.IntN(2), f)
		case 1:
			name, rest, _ := strings.Cut(f, " ")
			f = name + " @skip(if: $s) " + rest
		case 2:
			f = "... on Customer { " + f + " }"
		case 3:
			frag = append(frag, f)
			continue
		}
		sel = append(sel, f)
	}
	head, tail := "{ customers { nodes { ", " } } }"
	if edges {
		head, tail = "{ customersConnection { edges { cursor node { ", " } } } }"
	}
	q := head + strings.Join(sel, " ")
	if len(frag) > 0 {
		q += " ...F" + tail + " fragment F on Customer { " + strings.Join(frag, " ") + " }"
	} else {
		q += tail
	}
	if strings.Contains(q, "$s") {
		q = "query($s: Boolean!) " + q
	}
	return q
}

// recordingPool lends one buffer and records what comes back.
type recordingPool struct {
	lent, back *bytes.Buffer
	gets, puts int
}

func (p *recordingPool) Get() *bytes.Buffer {
	p.gets++
	p.lent = new(bytes.Buffer)
	return p.lent
}

func (p *recordingPool) Put(b *bytes.Buffer) { p.puts++; p.back = b }

// An operation's data is rendered into the buffer its DataBuffer lends
// (one for the operation, however many lists it renders), the same bytes
// as without, and the buffer goes back on Release, not before.
func TestDataIsRenderedIntoTheLentBuffer(t *testing.T) {
	up := &stubUpstream{lastPage: 2, customers: renderCustomers()}
	var resolved atomic.Int64
	h := renderServer(up, true, &resolved)
	for q, whole := range map[string]bool{
		`{ customers(page: 2) { page nodes { id contact { email } status createdAt } } }`: true,
		`{ customersConnection { edges { cursor node { id name } } } }`:                   true,
		// The second list may grow gqlgen's buffer past the lent one.
		`{ a: customers { nodes { id name contact { email } status } } b: customers(page: 2) { nodes { id } } }`: false,
	} {
		want := post(t, h, q, nil)
		pool := &recordingPool{}
		ctx, data := graph.WithDataBuffer(context.Background(), pool)
		got := postCtx(t, h, ctx, q, nil)
		require.Equal(t, want, got, q)
		require.Equal(t, 1, pool.gets, q)
		assert.Zero(t, pool.puts, "given back before Release")

		data.Release()
		data.Release()
		require.Equal(t, 1, pool.puts, "given back once")
		require.Same(t, pool.lent, pool.back)
		if whole {
			// The answer's data was rendered in the lent buffer's array
			// (and escaped for HTML by gqlgen's transport).
			var answer struct{ Data json.RawMessage }
			require.NoError(t, json.Unmarshal([]byte(got), &answer))
			require.NotEmpty(t, answer.Data)
			var rendered bytes.Buffer
			json.HTMLEscape(&rendered, pool.back.AvailableBuffer()[:cap(pool.back.AvailableBuffer())])
			assert.True(t, bytes.HasPrefix(rendered.Bytes(), answer.Data), q)
		}
	}

	// Without lists to render, nothing is lent.
	pool := &recordingPool{}
	ctx, data := graph.WithDataBuffer(context.Background(), pool)
	postCtx(t, h, ctx, `{ customers { page } }`, nil)
	data.Release()
	assert.Zero(t, pool.gets+pool.puts)
}
