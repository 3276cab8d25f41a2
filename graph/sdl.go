package graph

import (
	_ "embed"
	"strings"

	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/formatter"
	"github.com/vektah/gqlparser/v2/parser"
)

//go:embed schema.graphqls
var schemaSource string

// SubgraphSDL is the schema as a federation subgraph declares it: what
// _service { sdl } answers, for routers and composition.
func SubgraphSDL() string { return schemaSource }

// PublicSDL is the schema for clients and their code generators (Relay's
// compiler, GraphQL Code Generator): the subgraph's, without federation's
// @link and directives (@key, @requiresScopes), which only routers read
// and which a client's tools cannot load without federation's
// definitions.
func PublicSDL() (string, error) {
	doc, err := parser.ParseSchema(&ast.Source{Name: "schema.graphqls", Input: schemaSource})
	if err != nil {
		return "", err
	}
	doc.SchemaExtension = nil // extend schema @link(...)
	for _, defs := range []ast.DefinitionList{doc.Definitions, doc.Extensions} {
		for _, def := range defs {
			def.Directives = specDirectives(def.Directives)
			for _, f := range def.Fields {
				f.Directives = specDirectives(f.Directives)
				for _, a := range f.Arguments {
					a.Directives = specDirectives(a.Directives)
				}
			}
			for _, v := range def.EnumValues {
				v.Directives = specDirectives(v.Directives)
			}
		}
	}
	// One definition at a time, for a blank line between them.
	var b strings.Builder
	for i, def := range doc.Definitions {
		if i > 0 {
			b.WriteByte('\n')
		}
		one := &ast.SchemaDocument{Definitions: ast.DefinitionList{def}}
		formatter.NewFormatter(&b, formatter.WithIndent("  ")).FormatSchemaDocument(one)
	}
	for _, def := range doc.Extensions {
		b.WriteByte('\n')
		one := &ast.SchemaDocument{Extensions: ast.DefinitionList{def}}
		formatter.NewFormatter(&b, formatter.WithIndent("  ")).FormatSchemaDocument(one)
	}
	return b.String(), nil
}

// specDirectives keeps the directives that GraphQL itself defines; the
// schema defines none of its own.
func specDirectives(list ast.DirectiveList) ast.DirectiveList {
	var out ast.DirectiveList
	for _, d := range list {
		switch d.Name {
		case "deprecated", "specifiedBy", "oneOf":
			out = append(out, d)
		}
	}
	return out
}
