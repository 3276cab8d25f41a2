package httpserver_test

import (
	"fmt"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestAbusiveQueriesAreRefusedBeforeTheUpstream(t *testing.T) {
	t.Parallel()
	e := newEnv(t, map[string]string{"MAX_DEPTH": "3", "MAX_ALIASES": "50"})
	manyPages := func(n int, fields string) string {
		var b strings.Builder
		b.WriteString("{")
		for i := 1; i <= n; i++ {
			fmt.Fprintf(&b, " p%d: customers(page: %d) { nodes { %s } hasNextPage }", i, i, fields)
		}
		b.WriteString(" }")
		return b.String()
	}
	manyIDs := func(n int) string {
		var b strings.Builder
		b.WriteString("{")
		for i := range n {
			fmt.Fprintf(&b, " c%d: customer(id: \"%024d\") { id }", i, i)
		}
		b.WriteString(" }")
		return b.String()
	}
	for name, tc := range map[string]struct {
		query, code string
	}{
		"six full pages":      {manyPages(6, strings.ReplaceAll(allFields, "contact { email }", "")), "COMPLEXITY_LIMIT_EXCEEDED"},
		"forty id scans":      {manyIDs(40), "COMPLEXITY_LIMIT_EXCEEDED"},
		"too many aliases":    {"{" + aliases(51) + " }", "ALIAS_LIMIT_EXCEEDED"},
		"too deep":            {`{ customers { nodes { contact { email } } } }`, "DEPTH_LIMIT_EXCEEDED"},
		"deep through a frag": {`query { customers { ...P } } fragment P on CustomerPage { nodes { contact { email } } }`, "DEPTH_LIMIT_EXCEEDED"},
	} {
		t.Run(name, func(t *testing.T) {
			r := e.query(tc.query, nil)
			require.Equal(t, []string{tc.code}, r.codes(), r.Raw)
			assert.Equal(t, "null", string(r.Data))
		})
	}
	assert.Zero(t, e.up.Calls())

	// Within the limits: five full pages, fifty aliases, depth 3, and
	// GraphiQL's deep introspection query, which costs no upstream call.
	for _, q := range []string{
		strings.ReplaceAll(manyPages(5, allFields), "contact { email }", ""),
		"{" + aliases(50) + " }",
		`{ customers { nodes { id } } }`,
		`{ __schema { types { fields { type { ofType { ofType { ofType { ofType { name } } } } } } } } }`,
	} {
		r := e.query(q, nil)
		require.Empty(t, r.Errors, r.Raw)
	}
}

func aliases(n int) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, " t%d: __typename", i)
	}
	return b.String()
}

// A cost is kept only for an operation without variables: with variables,
// the same document costs what its variables say, every time; and each
// operation of a document costs its own.
func TestTheSameDocumentCostsWhatItsVariablesSay(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	connection := func(first string) string {
		return "customersConnection(first: " + first + ") { edges { node { " + allFields + " } } }"
	}
	byVariable := "query($n: Int) { " + connection("$n") + " }"
	literal := "{ " + connection("100") + " }"
	two := "query Small { customers { nodes { id } } } query Large { " + connection("100") + " }"
	op := func(name string) gqlResponse {
		return e.post(map[string]any{"query": two, "operationName": name}, "Bearer "+testToken)
	}
	for range 2 {
		r := e.query(byVariable, map[string]any{"n": 5})
		require.Empty(t, r.Errors, r.Raw)
		r = e.query(byVariable, map[string]any{"n": 100})
		require.Equal(t, []string{"COMPLEXITY_LIMIT_EXCEEDED"}, r.codes(), r.Raw)

		r = e.query(literal, nil)
		require.Equal(t, []string{"COMPLEXITY_LIMIT_EXCEEDED"}, r.codes(), r.Raw)

		r = op("Small")
		require.Empty(t, r.Errors, r.Raw)
		r = op("Large")
		require.Equal(t, []string{"COMPLEXITY_LIMIT_EXCEEDED"}, r.codes(), r.Raw)
	}
}
