package httpserver

import (
	"context"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/parser"
)

// noInlineSecrets keeps automatic persisted queries, except a document
// that writes a password inline instead of in a variable: the document is
// what is kept (in Redis too), and a password must never be. The request
// still runs; its document is just not remembered.
type noInlineSecrets struct {
	graphql.Cache[string]
	maxTokens int // MAX_TOKENS: the document is not checked yet
}

func (c noInlineSecrets) Add(ctx context.Context, hash, query string) {
	if mayHoldSecret(query) && holdsInlineSecret(query, c.maxTokens) {
		return
	}
	c.Cache.Add(ctx, hash, query)
}

// mayHoldSecret is a cheap first look: most documents never name one.
func mayHoldSecret(query string) bool {
	for name := range secretArguments {
		if strings.Contains(query, name) {
			return true
		}
	}
	return false
}

// secretArguments are the argument and input field names whose values are
// secrets.
var secretArguments = map[string]bool{"password": true}

// holdsInlineSecret reports whether query gives a secret argument or input
// field a literal value. A document that cannot be read within maxTokens
// counts as holding one: it is refused later anyway, and unread it cannot
// be known to be safe to keep.
func holdsInlineSecret(query string, maxTokens int) bool {
	doc, err := parser.ParseQueryWithTokenLimit(&ast.Source{Input: query}, maxTokens)
	if err != nil {
		return true
	}
	found := false
	secretVars := map[string]bool{} // variables given to a secret argument
	var value func(name string, v *ast.Value)
	value = func(name string, v *ast.Value) {
		if v == nil || found {
			return
		}
		if secretArguments[name] {
			if v.Kind != ast.Variable {
				found = true
				return
			}
			secretVars[v.Raw] = true
		}
		for _, child := range v.Children {
			value(child.Name, child.Value)
		}
	}
	var selections func(ast.SelectionSet)
	selections = func(set ast.SelectionSet) {
		for _, sel := range set {
			switch sel := sel.(type) {
			case *ast.Field:
				for _, arg := range sel.Arguments {
					value(arg.Name, arg.Value)
				}
				selections(sel.SelectionSet)
			case *ast.InlineFragment:
				selections(sel.SelectionSet)
			}
		}
	}
	for _, op := range doc.Operations {
		selections(op.SelectionSet)
	}
	for _, f := range doc.Fragments {
		selections(f.SelectionSet)
	}
	// A default value is a literal too: of a variable given to a secret
	// argument, or holding a secret input field.
	for _, op := range doc.Operations {
		for _, v := range op.VariableDefinitions {
			if v.DefaultValue == nil {
				continue
			}
			if secretVars[v.Variable] {
				return true
			}
			value(v.Variable, v.DefaultValue)
		}
	}
	return found
}
