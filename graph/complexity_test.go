package graph_test

import (
	"context"
	"testing"

	"github.com/99designs/gqlgen/complexity"
	"github.com/99designs/gqlgen/graphql"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vektah/gqlparser/v2"

	"github.com/botpenguin-gateway/gateway/graph"
)

// TestConnectionsArePricedByThePagesTheyRead holds the costs of the
// connection and the lookups to their formulas (see the README's Limits):
// a connection costs 1, one upstream call (10) per page that first
// customers span (20 a page, at least one), what is asked of each edge
// first times, and its page info (hasNextPage: one call more).
func TestConnectionsArePricedByThePagesTheyRead(t *testing.T) {
	es := graph.NewExecutableSchema(graph.Config{Complexity: graph.NewComplexity()})
	const sel = `edges { cursor node { id name } } pageInfo { hasNextPage endCursor }` // 4 an edge; page info 12
	for query, cost := range map[string]int{
		`{ customersConnection { ` + sel + ` } }`:                                                                                   1 + 10 + 20*4 + 12,
		`{ customersConnection(first: 50) { ` + sel + ` } }`:                                                                        1 + 30 + 50*4 + 12,
		`{ customersConnection(first: 100) { ` + sel + ` } }`:                                                                       1 + 50 + 100*4 + 12,
		`{ customersConnection(first: 1000) { ` + sel + ` } }`:                                                                      1 + 50 + 100*4 + 12, // refused as BAD_USER_INPUT, priced as 100
		`{ customersConnection(first: 0) { ` + sel + ` } }`:                                                                         1 + 10 + 1*4 + 12,
		`{ customersConnection(first: 1) { pageInfo { hasPreviousPage } } }`:                                                        1 + 10 + 2,
		`{ customersConnection(first: 10) { a: edges { cursor } b: edges { node { id } } __typename } }`:                            1 + 10 + 10*(1+2) + 1,
		`{ customersConnection(first: 10) { ...C } } fragment C on CustomerConnection { edges { ... on CustomerEdge { cursor } } }`: 1 + 10 + 10*1,
		`{ customersConnection(first: 20) { edges { node { loginToken { key } } } } }`:                                              1 + 10 + 20*(1+10+1),
		`{ node(id: "x") { id ... on Customer { name contact { email } } } }`:                                                       30 + 1 + 1 + 2,
		`{ customerByEmail(email: "a@b.co") { id } }`:                                                                               30 + 1,
		`{ customer(id: "x") { id } }`:                                                                                              30 + 1,
		`{ customers { nodes { id name } hasNextPage } }`:                                                                           1 + 10 + 20*2 + 10,
	} {
		doc, errs := gqlparser.LoadQuery(es.Schema(), query)
		require.Empty(t, errs, query)
		ctx := graphql.WithOperationContext(context.Background(), &graphql.OperationContext{})
		assert.Equal(t, cost, complexity.Calculate(ctx, es, doc.Operations[0], nil), query)
	}
}
