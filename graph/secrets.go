package graph

import "github.com/vektah/gqlparser/v2/ast"

// isSecretField tells the fields whose values are secrets (login tokens):
// an answer that holds one goes to the client that asked and nowhere else,
// never shared with another request, never cached.
func isSecretField(object, field string) bool {
	return object == "Customer" && field == "loginToken" || object == "Query" && field == "userLoginToken"
}

// SelectsSecret reports whether a validated operation selects a secret
// field, through its fragments (each looked at once).
func SelectsSecret(op *ast.OperationDefinition) bool {
	seen := map[string]bool{}
	var walk func(ast.SelectionSet) bool
	walk = func(set ast.SelectionSet) bool {
		for _, sel := range set {
			switch sel := sel.(type) {
			case *ast.Field:
				if sel.ObjectDefinition != nil && isSecretField(sel.ObjectDefinition.Name, sel.Name) {
					return true
				}
				if walk(sel.SelectionSet) {
					return true
				}
			case *ast.InlineFragment:
				if walk(sel.SelectionSet) {
					return true
				}
			case *ast.FragmentSpread:
				if sel.Definition != nil && !seen[sel.Name] {
					seen[sel.Name] = true
					if walk(sel.Definition.SelectionSet) {
						return true
					}
				}
			}
		}
		return false
	}
	return op != nil && walk(op.SelectionSet)
}
