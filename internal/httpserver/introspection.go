package httpserver

import (
	"context"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// noIntrospection refuses __schema and __type when INTROSPECTION=false.
// gqlgen's own switch would also turn off the federation field _service,
// which a supergraph needs, so the gateway keeps gqlgen's introspection on
// and refuses the two fields itself.
type noIntrospection struct{}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationContextMutator
} = noIntrospection{}

func (noIntrospection) ExtensionName() string                   { return "NoIntrospection" }
func (noIntrospection) Validate(graphql.ExecutableSchema) error { return nil }

func (noIntrospection) MutateOperationContext(_ context.Context, op *graphql.OperationContext) *gqlerror.Error {
	if op.Operation == nil || !asksIntrospection(op.Operation.SelectionSet, map[string]bool{}) {
		return nil
	}
	err := gqlerror.Errorf("introspection is disabled on this gateway")
	errcode.Set(err, errcode.ValidationFailed)
	return err
}

// asksIntrospection looks at root fields, through fragments, where the
// introspection fields live.
func asksIntrospection(set ast.SelectionSet, visited map[string]bool) bool {
	for _, sel := range set {
		switch s := sel.(type) {
		case *ast.Field:
			if s.Name == "__schema" || s.Name == "__type" {
				return true
			}
		case *ast.InlineFragment:
			if asksIntrospection(s.SelectionSet, visited) {
				return true
			}
		case *ast.FragmentSpread:
			if s.Definition != nil && !visited[s.Name] {
				visited[s.Name] = true
				if asksIntrospection(s.Definition.SelectionSet, visited) {
					return true
				}
			}
		}
	}
	return false
}
