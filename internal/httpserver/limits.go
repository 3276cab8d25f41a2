package httpserver

import (
	"context"

	"github.com/99designs/gqlgen/graphql"
	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

func limitError(code, format string, args ...any) *gqlerror.Error {
	err := gqlerror.Errorf(format, args...)
	err.Extensions = map[string]any{"code": code}
	return err
}

// complexityLimit refuses operations that cost more than max
// (graph.NewComplexity). It is gqlgen's FixedComplexityLimit with each
// fragment costed once per operation: gqlgen's walk costs a fragment every
// time it is spread, so a chain of fragments that each spread the next
// twice takes exponential time before it is refused.
//
// An operation without variables costs what its document says, whoever
// sends it: that cost is kept (costs), so that the same query sent again
// is not walked again (the walk was 2.5 % of a request's CPU).
type complexityLimit struct {
	max     int
	schema  graphql.ExecutableSchema
	refused *prometheus.CounterVec // shared with documentLimits
	costs   *lru.Cache[costKey, int]
}

// costKey names an operation of a query document. The cache holds as many
// as gqlgen's cache of parsed documents, and only their text, of
// maxKeptQuery bytes at most: a hostile client's 1 MB documents would
// otherwise keep up to a GB.
type costKey struct{ query, operation string }

// maxKeptQuery is the longest query whose cost is kept: far more than a
// client writes or generates; a longer one is walked every time.
const maxKeptQuery = 16 << 10

func newComplexityLimit(max int, refused *prometheus.CounterVec) *complexityLimit {
	costs, _ := lru.New[costKey, int](validatedDocuments) // only a size below 1 fails
	return &complexityLimit{max: max, refused: refused, costs: costs}
}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
} = &complexityLimit{}

func (*complexityLimit) ExtensionName() string { return "ComplexityLimit" }

func (c *complexityLimit) Validate(schema graphql.ExecutableSchema) error {
	c.schema = schema
	return nil
}

func (c *complexityLimit) MutateOperationContext(ctx context.Context, op *graphql.OperationContext) *gqlerror.Error {
	if op.Operation == nil {
		return nil
	}
	cost := c.cost(ctx, op)
	if cost > c.max {
		c.refused.WithLabelValues("complexity").Inc()
		return limitError(codeComplexity, "operation has complexity %d, which exceeds the limit of %d", cost, c.max)
	}
	return nil
}

// cost walks op, or reads what the walk of the same operation without
// variables gave before.
func (c *complexityLimit) cost(ctx context.Context, op *graphql.OperationContext) int {
	key := costKey{op.RawQuery, op.OperationName}
	keep := len(op.Operation.VariableDefinitions) == 0 && op.RawQuery != "" && len(op.RawQuery) <= maxKeptQuery
	if keep {
		if cost, ok := c.costs.Get(key); ok {
			return cost
		}
	}
	w := complexityWalker{ctx: ctx, es: c.schema, schema: c.schema.Schema(), vars: op.Variables, fragments: map[string]int{}}
	cost := w.selectionSet(op.Operation.SelectionSet)
	if keep {
		c.costs.Add(key, cost)
	}
	return cost
}

// complexityWalker costs a validated operation as gqlgen's complexity
// package does, remembering what each fragment costs.
type complexityWalker struct {
	ctx       context.Context
	es        graphql.ExecutableSchema
	schema    *ast.Schema
	vars      map[string]any
	fragments map[string]int
}

func (w complexityWalker) selectionSet(set ast.SelectionSet) int {
	total := 0
	for _, sel := range set {
		switch sel := sel.(type) {
		case *ast.Field:
			total = saturatingAdd(total, w.field(sel))
		case *ast.InlineFragment:
			total = saturatingAdd(total, w.selectionSet(sel.SelectionSet))
		case *ast.FragmentSpread:
			cost, ok := w.fragments[sel.Name]
			if !ok && sel.Definition != nil {
				cost = w.selectionSet(sel.Definition.SelectionSet)
				w.fragments[sel.Name] = cost
			}
			total = saturatingAdd(total, cost)
		}
	}
	return total
}

func (w complexityWalker) field(f *ast.Field) int {
	if f.Definition == nil || f.ObjectDefinition == nil {
		return 0
	}
	typ := w.schema.Types[f.Definition.Type.Name()]
	if typ == nil || typ.Name == "__Schema" {
		return 0
	}
	child := 0
	switch typ.Kind {
	case ast.Object, ast.Interface, ast.Union:
		child = w.selectionSet(f.SelectionSet)
	}
	var args map[string]any // read only for fields with arguments: a map each costs an allocation
	if len(f.Definition.Arguments) > 0 {
		args = f.ArgumentMap(w.vars)
	}
	owners := []*ast.Definition{f.ObjectDefinition}
	if f.ObjectDefinition.Kind == ast.Interface {
		// An interface field costs what its dearest implementation does.
		owners = w.schema.GetPossibleTypes(f.ObjectDefinition)
	}
	cost := 0
	for _, owner := range owners {
		c, ok := w.es.Complexity(w.ctx, owner.Name, f.Name, child, args)
		if !ok || c < 1 {
			c = saturatingAdd(1, child)
		}
		cost = max(cost, c)
	}
	return min(cost, maxCount)
}
