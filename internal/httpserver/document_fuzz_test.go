package httpserver

import (
	"context"
	"fmt"
	"strings"
	"testing"

	"github.com/99designs/gqlgen/complexity"
	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/vektah/gqlparser/v2/ast"
	gqlparser "github.com/vektah/gqlparser/v2/parser"
	"github.com/vektah/gqlparser/v2/validator"

	"github.com/botpenguin-gateway/gateway/graph"
)

// fuzzLimits are small, so that the fuzzer reaches every limit and the
// naive checks below stay cheap.
var fuzzLimits = maxima{tokens: 400, fields: 60, fragments: 12, directives: 10, depth: 6, aliases: 8}

// hostileShapes build documents in the shapes that cost a GraphQL server
// more than their size: n sizes the shape, leaf is the selection (or
// directive) it repeats.
var hostileShapes = []func(n int, leaf string) string{
	func(n int, leaf string) string { // fragment fan-out
		var b strings.Builder
		b.WriteString("{ ...F0 }")
		for i := range n {
			fmt.Fprintf(&b, " fragment F%d on Query { ...F%d ...F%d }", i, i+1, i+1)
		}
		fmt.Fprintf(&b, " fragment F%d on Query { %s }", n, leaf)
		return b.String()
	},
	func(n int, leaf string) string { return "{" + strings.Repeat(" "+leaf, n) + " }" }, // repeated field
	func(n int, leaf string) string { // aliases
		var b strings.Builder
		b.WriteString("{")
		for i := range n {
			fmt.Fprintf(&b, " a%d: %s", i, leaf)
		}
		return b.String() + " }"
	},
	func(n int, leaf string) string { // many fragments
		var b strings.Builder
		b.WriteString("{ __typename")
		for i := range n {
			fmt.Fprintf(&b, " ...F%d", i)
		}
		b.WriteString(" }")
		for i := range n {
			fmt.Fprintf(&b, " fragment F%d on Query { %s }", i, leaf)
		}
		return b.String()
	},
	func(n int, leaf string) string { // directives
		return "{ __typename" + strings.Repeat(" @"+leaf, n) + " }"
	},
	func(n int, leaf string) string { // nesting
		return "{" + strings.Repeat(" customers { nodes {", n) + " " + leaf + strings.Repeat(" } }", n) + " }"
	},
	func(n int, leaf string) string { // a list literal
		return "{ customers(page: [" + strings.Repeat(leaf+",", n) + "]) { page } }"
	},
	func(n int, leaf string) string { // variables
		var b strings.Builder
		b.WriteString("query (")
		for i := range n {
			fmt.Fprintf(&b, " $v%d: %s", i, leaf)
		}
		return b.String() + ") { __typename }"
	},
	func(_ int, leaf string) string { return leaf }, // anything
}

// FuzzDocumentLimits checks documents in hostile shapes against small
// limits. Whatever the document:
//   - the check never panics and its work is linear in the document (it
//     never expands a fragment);
//   - a document it accepts really is within the limits: its fields and
//     directives, counted by expanding every fragment (bounded here by the
//     limit), are no more than the limits allow;
//   - for an accepted document that validates, the gateway's complexity
//     (each fragment once) equals gqlgen's (each spread walked).
func FuzzDocumentLimits(f *testing.F) {
	for shape := range hostileShapes {
		for _, n := range []uint16{0, 1, 3, 7, 40, 300} {
			f.Add(uint8(shape), n, "__typename")
		}
	}
	f.Add(uint8(1), uint16(5), "customers { nodes { id name } hasNextPage }")
	f.Add(uint8(4), uint16(3), "include(if: true)")
	f.Add(uint8(8), uint16(0), `query Q { customers { ...P } } fragment P on CustomerPage { nodes { ...C ...C } } fragment C on Customer { id ... on Customer { name } }`)
	f.Add(uint8(8), uint16(0), `{ ...A } fragment A on Query { ...B } fragment B on Query { ...A }`)
	f.Add(uint8(8), uint16(0), `{ customer(id: "x") { id } _entities(representations: [{__typename: "Customer", id: "a"}]) { __typename } }`)
	f.Add(uint8(8), uint16(0), `{ customersConnection(first: 50) { edges { cursor node { id ...C } } pageInfo { hasNextPage } } node(id: "x") { id } customerByEmail(email: "a@b.co") { id } } fragment C on Customer { name }`)
	f.Add(uint8(8), uint16(0), `query Q { a: customersConnection(first: 5) { ...E } b: customersConnection { ...E } } fragment E on CustomerConnection { edges { node { id } } __typename }`)

	es := graph.NewExecutableSchema(graph.Config{Complexity: graph.NewComplexity()})
	limits := newDocumentLimits(fuzzLimits, lru.New[*ast.QueryDocument](10), prometheus.NewRegistry())

	f.Fuzz(func(t *testing.T, shape uint8, n uint16, leaf string) {
		if len(leaf) > 2000 {
			return
		}
		query := hostileShapes[int(shape)%len(hostileShapes)](int(n)%400, leaf)
		if refusal := limits.check(query); refusal != nil {
			if limitLabel(refusal) == "other" {
				t.Fatalf("refusal without a limit's code: %v", refusal)
			}
			return
		}
		doc, err := gqlparser.ParseQuery(&ast.Source{Input: query})
		if err != nil {
			return // gqlgen reports it
		}
		if len(doc.Fragments) > fuzzLimits.fragments {
			t.Fatalf("accepted %d fragments", len(doc.Fragments))
		}
		for _, op := range doc.Operations {
			x := expander{doc: doc, budget: 4 * (fuzzLimits.fields + fuzzLimits.directives + 1)}
			fields, directives := x.expand(op.SelectionSet, 0)
			if !x.cyclic && (fields > fuzzLimits.fields || directives > fuzzLimits.directives+len(op.Directives)) {
				t.Fatalf("accepted an operation of %d fields and %d directives once expanded:\n%s", fields, directives, query)
			}
		}
		if errs := validator.Validate(es.Schema(), doc); len(errs) > 0 {
			return
		}
		for _, op := range doc.Operations {
			ctx := graphql.WithOperationContext(context.Background(), &graphql.OperationContext{})
			theirs := complexity.Calculate(ctx, es, op, nil)
			ours := complexityWalker{ctx: ctx, es: es, schema: es.Schema(), fragments: map[string]int{}}.selectionSet(op.SelectionSet)
			if ours != min(theirs, maxCount) {
				t.Fatalf("complexity %d, gqlgen says %d:\n%s", ours, theirs, query)
			}
		}
	})
}

// expander counts fields and directives the naive way, expanding every
// fragment spread, and stops once over budget: it checks the measurer
// without costing what the measurer saves.
type expander struct {
	doc    *ast.QueryDocument
	budget int
	spent  int
	cyclic bool
}

func (x *expander) expand(set ast.SelectionSet, depth int) (fields, directives int) {
	if depth > 64 {
		x.cyclic = true // only a cycle nests this far within these limits
		return 0, 0
	}
	for _, sel := range set {
		if x.spent > x.budget {
			return fields, directives
		}
		var f, d int
		switch sel := sel.(type) {
		case *ast.Field:
			x.spent++
			f, d = x.expand(sel.SelectionSet, depth+1)
			f, d = f+1, d+len(sel.Directives)
		case *ast.InlineFragment:
			f, d = x.expand(sel.SelectionSet, depth+1)
			d += len(sel.Directives)
		case *ast.FragmentSpread:
			if def := x.doc.Fragments.ForName(sel.Name); def != nil {
				f, d = x.expand(def.SelectionSet, depth+1)
				d += len(def.Directives)
			}
			d += len(sel.Directives)
		}
		fields, directives = fields+f, directives+d
	}
	return fields, directives
}
