package main

import (
	"bytes"
	"context"
	"io"
	"os"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/botpenguin-gateway/gateway/graph"
)

// printSchema runs the program with args and returns what it printed.
func printSchema(t *testing.T, args ...string) string {
	t.Helper()
	var stdout, stderr bytes.Buffer
	require.NoError(t, run(context.Background(), args, env(nil), &stdout, &stderr))
	assert.Empty(t, stderr.String(), "nothing logged, nothing served")
	return stdout.String()
}

// TestPrintSchemaIsTheGraphWithoutFederation loads what -print-schema
// prints as a schema of its own (as a client's code generator does: no
// federation definitions at hand) and holds it to the graph the gateway
// serves (graph/schema.graphqls), type by type, field by field, minus
// what federation adds.
func TestPrintSchemaIsTheGraphWithoutFederation(t *testing.T) {
	t.Parallel()
	printed, gerr := gqlparser.LoadSchema(&ast.Source{Name: "printed", Input: printSchema(t, "-print-schema")})
	require.Nil(t, gerr, "a schema on its own")
	served := graph.NewExecutableSchema(graph.Config{}).Schema()

	public := func(s *ast.Schema) map[string]*ast.Definition {
		out := map[string]*ast.Definition{}
		for name, def := range s.Types {
			if !def.BuiltIn { // federation's types come from gqlgen's built-in sources
				out[name] = def
			}
		}
		return out
	}
	want, got := public(served), public(printed)
	require.NotEmpty(t, want)
	assert.ElementsMatch(t, keys(want), keys(got))
	for name, w := range want {
		g := got[name]
		if g == nil {
			continue
		}
		assert.Equal(t, w.Kind, g.Kind, name)
		assert.Equal(t, w.Description, g.Description, name)
		assert.ElementsMatch(t, w.Interfaces, g.Interfaces, name)
		assert.Equal(t, enumValues(w), enumValues(g), name)
		assert.Empty(t, g.Directives, name)
		var fields []*ast.FieldDefinition
		for _, f := range w.Fields {
			if f.Position == nil || !f.Position.Src.BuiltIn { // _entities, _service
				fields = append(fields, f)
			}
		}
		require.Len(t, g.Fields, len(fields), name)
		for i, f := range fields {
			pf := g.Fields[i]
			where := name + "." + f.Name
			assert.Equal(t, f.Name, pf.Name, where)
			assert.Equal(t, f.Type.String(), pf.Type.String(), where)
			assert.Equal(t, f.Description, pf.Description, where)
			assert.Empty(t, pf.Directives, where)
			require.Len(t, pf.Arguments, len(f.Arguments), where)
			for j, a := range f.Arguments {
				assert.Equal(t, a.Name, pf.Arguments[j].Name, where)
				assert.Equal(t, a.Type.String(), pf.Arguments[j].Type.String(), where)
				assert.Equal(t, a.DefaultValue.String(), pf.Arguments[j].DefaultValue.String(), where)
			}
		}
	}
	assert.Empty(t, printed.Directives["key"], "no federation directive is declared or used")
}

func TestPrintSchemaFederationIsTheSubgraphSDL(t *testing.T) {
	t.Parallel()
	file, err := os.ReadFile("graph/schema.graphqls")
	require.NoError(t, err)
	assert.Equal(t, string(file), printSchema(t, "-print-schema=federation"), "what _service { sdl } answers")
	assert.Equal(t, printSchema(t, "-print-schema"), printSchema(t, "-print-schema=public"))

	var stderr bytes.Buffer
	err = run(context.Background(), []string{"-print-schema", "federation"}, env(nil), io.Discard, &stderr)
	require.Error(t, err, "a value goes after =")
	assert.Contains(t, err.Error(), "-print-schema=federation")
	err = run(context.Background(), []string{"-print-schema=graphql"}, env(nil), io.Discard, &stderr)
	require.Error(t, err)
}

func keys(m map[string]*ast.Definition) []string {
	var out []string
	for k := range m {
		out = append(out, k)
	}
	return out
}

func enumValues(def *ast.Definition) []string {
	var out []string
	for _, v := range def.EnumValues {
		out = append(out, v.Name+": "+v.Description)
	}
	return out
}
