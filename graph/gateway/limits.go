package gateway

import (
	"context"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// Codes of the shape limits; the complexity limit uses gqlgen's
// COMPLEXITY_LIMIT_EXCEEDED.
const (
	codeDepthLimit = "DEPTH_LIMIT_EXCEEDED"
	codeAliasLimit = "ALIAS_LIMIT_EXCEEDED"
)

// shapeLimits refuses operations nested deeper than maxDepth or with more
// than maxAliases aliases, before anything is resolved. Introspection
// fields are not counted: GraphiQL's own schema query is deep by nature and
// costs no upstream call. A limit of 0 is off.
type shapeLimits struct {
	maxDepth, maxAliases int
}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
} = shapeLimits{}

func (shapeLimits) ExtensionName() string                   { return "ShapeLimits" }
func (shapeLimits) Validate(graphql.ExecutableSchema) error { return nil }

func (l shapeLimits) MutateOperationContext(_ context.Context, op *graphql.OperationContext) *gqlerror.Error {
	if op.Operation == nil {
		return nil
	}
	s := shape{visiting: map[string]bool{}}
	s.walk(op.Operation.SelectionSet, 1)
	switch {
	case l.maxDepth > 0 && s.depth > l.maxDepth:
		return limitError(codeDepthLimit, "operation depth %d exceeds the limit of %d", s.depth, l.maxDepth)
	case l.maxAliases > 0 && s.aliases > l.maxAliases:
		return limitError(codeAliasLimit, "operation has %d aliases, more than the limit of %d", s.aliases, l.maxAliases)
	}
	return nil
}

func limitError(code, format string, args ...any) *gqlerror.Error {
	err := gqlerror.Errorf(format, args...)
	err.Extensions = map[string]any{"code": code}
	return err
}

// shape measures an operation: its deepest field and its aliases, counted
// through fragments as often as they are spread.
type shape struct {
	depth, aliases int
	visiting       map[string]bool // fragments on the current path: validation forbids cycles, this guards anyway
}

func (s *shape) walk(set ast.SelectionSet, depth int) {
	for _, sel := range set {
		switch sel := sel.(type) {
		case *ast.Field:
			if sel.Name == "__schema" || sel.Name == "__type" {
				continue
			}
			if sel.Alias != "" && sel.Alias != sel.Name {
				s.aliases++
			}
			s.depth = max(s.depth, depth)
			s.walk(sel.SelectionSet, depth+1)
		case *ast.InlineFragment:
			s.walk(sel.SelectionSet, depth)
		case *ast.FragmentSpread:
			if sel.Definition == nil || s.visiting[sel.Name] {
				continue
			}
			s.visiting[sel.Name] = true
			s.walk(sel.Definition.SelectionSet, depth)
			delete(s.visiting, sel.Name)
		}
	}
}
