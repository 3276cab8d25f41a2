package httpserver

import (
	"context"
	"strconv"
	"strings"

	"github.com/99designs/gqlgen/graphql"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	gqlparser "github.com/vektah/gqlparser/v2/parser"
)

// Codes of the document limits. The complexity limit keeps gqlgen's
// COMPLEXITY_LIMIT_EXCEEDED.
const (
	codeTokenLimit     = "TOKEN_LIMIT_EXCEEDED"
	codeFieldLimit     = "FIELD_LIMIT_EXCEEDED"
	codeFragmentLimit  = "FRAGMENT_LIMIT_EXCEEDED"
	codeDirectiveLimit = "DIRECTIVE_LIMIT_EXCEEDED"
	codeDepthLimit     = "DEPTH_LIMIT_EXCEEDED"
	codeAliasLimit     = "ALIAS_LIMIT_EXCEEDED"
	codeComplexity     = "COMPLEXITY_LIMIT_EXCEEDED"
)

// maxima bound what a document may ask for. All are checked on the parsed
// document before gqlgen validates it: validation is quadratic in places
// (field merging), and a document's fields multiply through its
// fragments. A limit of 0 is off.
type maxima struct {
	tokens     int // lexical tokens, counted by the parser as it goes
	fields     int // fields of an operation or fragment, its fragments expanded
	fragments  int // fragment definitions in the document
	directives int // directive uses of an operation or fragment, its fragments expanded
	depth      int // deepest field, through fragments; introspection not counted
	aliases    int // aliases of an operation, through fragments; introspection not counted
}

// documentLimits is the gqlgen extension that checks a document against
// its maxima. It runs after the persisted-query extensions, so it sees the
// document a hash stands for.
type documentLimits struct {
	limits maxima
	// validated holds the documents gqlgen has parsed and validated; they
	// passed this check before, so they are not measured again.
	validated graphql.Cache[*ast.QueryDocument]
	refused   *prometheus.CounterVec
}

var _ interface {
	graphql.HandlerExtension
	graphql.OperationParameterMutator
} = documentLimits{}

func newDocumentLimits(limits maxima, validated graphql.Cache[*ast.QueryDocument], reg prometheus.Registerer) documentLimits {
	refused := prometheus.NewCounterVec(prometheus.CounterOpts{
		Name: "gateway_graphql_refused_documents_total",
		Help: "GraphQL documents refused by a limit before validation or execution, by limit (tokens, fields, fragments, directives, depth, aliases, complexity).",
	}, []string{"limit"})
	reg.MustRegister(refused)
	return documentLimits{limits: limits, validated: validated, refused: refused}
}

func (documentLimits) ExtensionName() string                   { return "DocumentLimits" }
func (documentLimits) Validate(graphql.ExecutableSchema) error { return nil }

func (l documentLimits) MutateOperationParameters(ctx context.Context, params *graphql.RawParams) *gqlerror.Error {
	if params.Query == "" {
		return nil
	}
	if _, ok := l.validated.Get(ctx, params.Query); ok {
		return nil
	}
	err := l.check(params.Query)
	if err != nil {
		l.refused.WithLabelValues(limitLabel(err)).Inc()
		return err
	}
	return nil
}

// check parses the document with the token limit and measures it. A
// document that does not parse for another reason passes: gqlgen reports
// the syntax error.
func (l documentLimits) check(query string) *gqlerror.Error {
	doc, err := gqlparser.ParseQueryWithTokenLimit(&ast.Source{Input: query}, l.limits.tokens)
	if err != nil {
		switch msg := err.Error(); {
		case l.limits.tokens > 0 && strings.Contains(msg, "exceeded token limit"):
			return limitError(codeTokenLimit, "document has more than the limit of %d tokens", l.limits.tokens)
		case strings.Contains(msg, "exceeded maximum nesting depth"):
			// The parser's own guard against deep recursion.
			return limitError(codeDepthLimit, "document is nested deeper than the parser's limit of %d", parserMaxNesting)
		}
		return nil
	}
	lim := l.limits
	if lim.fragments > 0 && len(doc.Fragments) > lim.fragments {
		return limitError(codeFragmentLimit, "document has %d fragments, more than the limit of %d", len(doc.Fragments), lim.fragments)
	}
	m := newMeasurer(doc)
	for _, f := range doc.Fragments {
		s := m.fragment(f.Name)
		if err := lim.fieldsAndDirectives(s, "fragment "+f.Name); err != nil {
			return err
		}
	}
	for _, op := range doc.Operations {
		s := m.selectionSet(op.SelectionSet)
		s.directives = saturatingAdd(s.directives, len(op.Directives))
		for _, v := range op.VariableDefinitions {
			s.directives = saturatingAdd(s.directives, len(v.Directives))
		}
		name := "operation"
		if op.Name != "" {
			name = "operation " + op.Name
		}
		if err := lim.fieldsAndDirectives(s, name); err != nil {
			return err
		}
		switch {
		case lim.depth > 0 && s.depth > lim.depth:
			return limitError(codeDepthLimit, "%s has depth %d, more than the limit of %d", name, s.depth, lim.depth)
		case lim.aliases > 0 && s.aliases > lim.aliases:
			return limitError(codeAliasLimit, "%s has %d aliases, more than the limit of %d", name, s.aliases, lim.aliases)
		}
	}
	return nil
}

func (lim maxima) fieldsAndDirectives(s size, name string) *gqlerror.Error {
	switch {
	case lim.fields > 0 && s.fields > lim.fields:
		return limitError(codeFieldLimit, "%s has %s fields with its fragments expanded, more than the limit of %d", name, countText(s.fields), lim.fields)
	case lim.directives > 0 && s.directives > lim.directives:
		return limitError(codeDirectiveLimit, "%s has %s directives with its fragments expanded, more than the limit of %d", name, countText(s.directives), lim.directives)
	}
	return nil
}

// size is what a selection set costs, its fragments expanded. Counts
// saturate: a fan-out of fragments can describe more fields than an int
// holds.
type size struct {
	fields, directives, aliases, depth int
}

// measurer sizes selection sets, each fragment once however often it is
// spread: the work is linear in the document, not in its expansion.
type measurer struct {
	fragments map[string]*ast.FragmentDefinition
	sizes     map[string]size
	visiting  map[string]bool // fragments being measured: a cycle counts nothing here, validation refuses it
}

func newMeasurer(doc *ast.QueryDocument) *measurer {
	m := &measurer{
		fragments: make(map[string]*ast.FragmentDefinition, len(doc.Fragments)),
		sizes:     make(map[string]size, len(doc.Fragments)),
		visiting:  map[string]bool{},
	}
	for _, f := range doc.Fragments {
		if _, dup := m.fragments[f.Name]; !dup { // validation refuses duplicates
			m.fragments[f.Name] = f
		}
	}
	return m
}

func (m *measurer) fragment(name string) size {
	if s, ok := m.sizes[name]; ok {
		return s
	}
	f, ok := m.fragments[name]
	if !ok || m.visiting[name] {
		return size{} // unknown or cyclic: validation refuses it
	}
	m.visiting[name] = true
	s := m.selectionSet(f.SelectionSet)
	s.directives = saturatingAdd(s.directives, len(f.Directives))
	delete(m.visiting, name)
	m.sizes[name] = s
	return s
}

func (m *measurer) selectionSet(set ast.SelectionSet) size {
	var s size
	add := func(child size) {
		s.fields = saturatingAdd(s.fields, child.fields)
		s.directives = saturatingAdd(s.directives, child.directives)
		s.aliases = saturatingAdd(s.aliases, child.aliases)
		s.depth = max(s.depth, child.depth)
	}
	for _, sel := range set {
		switch sel := sel.(type) {
		case *ast.Field:
			child := m.selectionSet(sel.SelectionSet)
			child.fields = saturatingAdd(child.fields, 1)
			child.directives = saturatingAdd(child.directives, len(sel.Directives))
			if sel.Name == "__schema" || sel.Name == "__type" {
				// GraphiQL's schema query is deep by nature and costs no
				// upstream call; its fields still count.
				child.depth, child.aliases = 0, 0
			} else {
				child.depth++
				if sel.Alias != "" && sel.Alias != sel.Name {
					child.aliases = saturatingAdd(child.aliases, 1)
				}
			}
			add(child)
		case *ast.InlineFragment:
			child := m.selectionSet(sel.SelectionSet)
			child.directives = saturatingAdd(child.directives, len(sel.Directives))
			add(child)
		case *ast.FragmentSpread:
			child := m.fragment(sel.Name)
			child.directives = saturatingAdd(child.directives, len(sel.Directives))
			add(child)
		}
	}
	return s
}

// parserMaxNesting is gqlparser's bound on nested selection sets, lists
// and objects.
const parserMaxNesting = 1000

// maxCount is where counts stop growing; more is reported as "over".
// It needs 64-bit ints (so do the costs of graph/complexity.go): on a
// 32-bit platform the gateway does not compile, rather than overflow.
const maxCount = 1 << 40

func saturatingAdd(a, b int) int { return min(a+b, maxCount) }

func countText(n int) string {
	if n >= maxCount {
		return "over a trillion"
	}
	return strconv.Itoa(n)
}

func limitLabel(err *gqlerror.Error) string {
	switch err.Extensions["code"] {
	case codeTokenLimit:
		return "tokens"
	case codeFieldLimit:
		return "fields"
	case codeFragmentLimit:
		return "fragments"
	case codeDirectiveLimit:
		return "directives"
	case codeDepthLimit:
		return "depth"
	case codeAliasLimit:
		return "aliases"
	case codeComplexity:
		return "complexity"
	}
	return "other"
}
