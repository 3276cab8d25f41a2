package httpserver_test

import (
	"encoding/json"
	"fmt"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// hostileFamily builds documents of one hostile shape: n is the shape's
// size (fragments, repetitions, nesting), and the document grows linearly
// with it, except where the family's point is a big literal.
type hostileFamily struct {
	name      string
	doc       func(n int) string
	variables func(n int) map[string]any // nil: none
	// n is the largest size tried: about the 1 MB body limit, or where the
	// document stops growing in cost.
	n    int
	code string // the refusal at the default limits
}

func repeat(n int, format string) string {
	var b strings.Builder
	for i := range n {
		fmt.Fprintf(&b, format, i)
	}
	return b.String()
}

// fanOut is a chain of n fragments, each spreading the next twice: 2^n
// fields once expanded, in a document of a few bytes per fragment.
func fanOut(n int) string {
	var b strings.Builder
	b.WriteString("query { customers { nodes { ...F0 } } }\n")
	for i := range n - 1 {
		fmt.Fprintf(&b, "fragment F%d on Customer { ...F%d ...F%d }\n", i, i+1, i+1)
	}
	fmt.Fprintf(&b, "fragment F%d on Customer { id }\n", n-1)
	return b.String()
}

func nested(n int) string {
	return "{" + strings.Repeat(" customers { nodes { __typename", n) + strings.Repeat(" } }", n) + " }"
}

// hostileFamilies are the shapes of document known to cost a GraphQL server
// more than their size, each at (or beyond) the size that hurts.
var hostileFamilies = []hostileFamily{
	{name: "fragment fan-out", doc: fanOut, n: 30, code: "FIELD_LIMIT_EXCEEDED"},
	{name: "fragment fan-out, every fragment allowed", doc: fanOut, n: 200, code: "FIELD_LIMIT_EXCEEDED"},
	{name: "one field repeated", doc: func(n int) string { return "{" + strings.Repeat(" __typename", n) + " }" }, n: 60000, code: "TOKEN_LIMIT_EXCEEDED"},
	{name: "one field repeated, under the token limit", doc: func(n int) string { return "{" + strings.Repeat(" __typename", n) + " }" }, n: 14000, code: "FIELD_LIMIT_EXCEEDED"},
	{name: "one field repeated in a fragment", doc: func(n int) string {
		return "{ ...F } fragment F on Query {" + strings.Repeat(" __typename", n) + " }"
	}, n: 14000, code: "FIELD_LIMIT_EXCEEDED"},
	{name: "repeated aliases", doc: func(n int) string { return "{" + repeat(n, " a%d: __typename") + " }" }, n: 4000, code: "FIELD_LIMIT_EXCEEDED"},
	{name: "repeated aliases of an upstream field", doc: func(n int) string { return "{" + repeat(n, " a%d: customers { page }") + " }" }, n: 100, code: "ALIAS_LIMIT_EXCEEDED"},
	{name: "many fragments", doc: func(n int) string {
		return "{ __typename " + repeat(n, "...F%d ") + "}" + repeat(n, " fragment F%d on Query { __typename }")
	}, n: 20000, code: "TOKEN_LIMIT_EXCEEDED"},
	{name: "many fragments, under the token limit", doc: func(n int) string {
		return "{ __typename " + repeat(n, "...F%d ") + "}" + repeat(n, " fragment F%d on Query { __typename }")
	}, n: 1500, code: "FRAGMENT_LIMIT_EXCEEDED"},
	{name: "many directives", doc: func(n int) string {
		return "{ __typename" + strings.Repeat(" @skip(if: false)", n) + " }"
	}, n: 2000, code: "DIRECTIVE_LIMIT_EXCEEDED"},
	{name: "directives multiplied by fragments", doc: func(n int) string {
		var b strings.Builder
		b.WriteString("{ ...F0 }")
		for i := range n {
			fmt.Fprintf(&b, " fragment F%d on Query { ...F%d @include(if: true) ...F%d @include(if: true) }", i, i+1, i+1)
		}
		fmt.Fprintf(&b, " fragment F%d on Query { __typename }", n)
		return b.String()
	}, n: 6, code: "DIRECTIVE_LIMIT_EXCEEDED"},
	{name: "deep nesting", doc: nested, n: 25000, code: "DEPTH_LIMIT_EXCEEDED"},
	{name: "deep nesting, under the token limit", doc: nested, n: 200, code: "DEPTH_LIMIT_EXCEEDED"},
	{name: "huge list literal", doc: func(n int) string {
		return "{ customers(page: [" + strings.Repeat("1,", n) + "1]) { page } }"
	}, n: 400000, code: "TOKEN_LIMIT_EXCEEDED"},
	{name: "huge string literal", doc: func(n int) string {
		return `{ customer(id: "` + strings.Repeat("a", n) + `") { id } }`
	}, n: 1000000, code: "BAD_USER_INPUT"},
	{name: "huge string variable", doc: func(int) string { return `query ($id: ID!) { customer(id: $id) { id } }` },
		variables: func(n int) map[string]any { return map[string]any{"id": strings.Repeat("a", n)} }, n: 1000000, code: "BAD_USER_INPUT"},
	{name: "huge list variable", doc: func(int) string { return `query ($p: Int) { customers(page: $p) { page } }` },
		variables: func(n int) map[string]any { return map[string]any{"p": make([]int, n)} }, n: 400000, code: "BAD_USER_INPUT"},
	{name: "many variables declared", doc: func(n int) string {
		return "query (" + repeat(n, "$v%d: Int ") + ") { __typename }"
	}, n: 3500, code: "GRAPHQL_VALIDATION_FAILED"},
	{name: "many variables sent", doc: func(int) string { return `{ __typename }` },
		variables: func(n int) map[string]any {
			vars := make(map[string]any, n)
			for i := range n {
				vars[fmt.Sprint("v", i)] = i
			}
			return vars
		}, n: 60000, code: ""},
	{name: "many operations", doc: func(n int) string { return repeat(n, "query Q%d { __typename } ") }, n: 2900, code: "GRAPHQL_VALIDATION_FAILED"},
	{name: "many arguments", doc: func(n int) string { return "{ customers(" + strings.Repeat("page: 1 ", n) + ") { page } }" }, n: 4000, code: "GRAPHQL_VALIDATION_FAILED"},
}

// cpuTime is the CPU this process has used, user and system.
func cpuTime(t testing.TB) time.Duration {
	var ru syscall.Rusage
	require.NoError(t, syscall.Getrusage(syscall.RUSAGE_SELF, &ru))
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// hostileCPUBound is what one hostile document may cost the gateway in CPU,
// race detector included. Before the document limits, the fragment fan-out
// alone cost seconds to minutes and the repeated field over two minutes.
const hostileCPUBound = 2 * time.Second

// Not parallel: the CPU of the whole process is measured, and Go runs
// parallel tests only after the sequential ones.
func TestHostileDocumentsAreRefusedCheaply(t *testing.T) {
	e := newEnv(t, map[string]string{"LOG_LEVEL": "warn"})
	for _, f := range hostileFamilies {
		t.Run(f.name, func(t *testing.T) {
			body := map[string]any{"query": f.doc(f.n)}
			if f.variables != nil {
				body["variables"] = f.variables(f.n)
			}
			raw, err := json.Marshal(body)
			require.NoError(t, err)
			require.LessOrEqual(t, len(raw), 1<<20, "the document must fit the default MAX_BODY_BYTES")

			before := cpuTime(t)
			r := e.post(body, "Bearer "+testToken)
			spent := cpuTime(t) - before
			t.Logf("%d bytes: %v CPU, %d errors", len(raw), spent, len(r.Errors))

			require.Equal(t, 200, r.Status, r.Raw)
			if f.code == "" {
				require.Empty(t, r.Errors, r.Raw)
			} else {
				require.NotEmpty(t, r.Errors, r.Raw)
				assert.Equal(t, f.code, r.codes()[0], r.Raw)
			}
			assert.Less(t, spent, hostileCPUBound, "CPU spent on one %d-byte document", len(raw))
		})
	}
	assert.Zero(t, e.up.Calls(), "no hostile document reaches the upstream")
}

func TestHostileBodiesAreRefusedCheaply(t *testing.T) {
	e := newEnv(t, map[string]string{"LOG_LEVEL": "warn"})
	one := strings.ReplaceAll(`{"query": "`+fanOut(30)+`"},`, "\n", " ")
	deep := (1 << 20) / 2
	for name, body := range map[string]string{
		// One operation per request: batching is not supported.
		"a batch of fan-outs": "[" + strings.Repeat(one, (1<<20)/len(one)-1) + `{"query": "{ __typename }"}]`,
		"variables nested half a million deep": `{"query": "{ __typename }", "variables": {"v": ` +
			strings.Repeat("[", deep-40) + strings.Repeat("]", deep-40) + `}}`,
	} {
		t.Run(name, func(t *testing.T) {
			require.LessOrEqual(t, len(body), 1<<20)
			before := cpuTime(t)
			resp, err := e.gw.Client().Post(e.gw.URL+"/query", "application/json", strings.NewReader(body))
			require.NoError(t, err)
			defer resp.Body.Close()
			spent := cpuTime(t) - before
			var answer gqlResponse
			require.NoError(t, json.NewDecoder(resp.Body).Decode(&answer))
			assert.Equal(t, 400, resp.StatusCode)
			assert.Equal(t, []string{"BAD_REQUEST"}, answer.codes())
			assert.Less(t, spent, hostileCPUBound)
		})
	}
}

func TestHostileDocumentBehindAPersistedQueryHash(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	q := fanOut(30)
	auth := "Bearer " + testToken
	r := e.post(map[string]any{"query": q, "extensions": persisted(hashOf(q))}, auth)
	require.Equal(t, []string{"FIELD_LIMIT_EXCEEDED"}, r.codes(), r.Raw)
	r = e.post(map[string]any{"extensions": persisted(hashOf(q))}, auth)
	require.NotEmpty(t, r.Errors, r.Raw)
	assert.Contains(t, []string{"FIELD_LIMIT_EXCEEDED", "PERSISTED_QUERY_NOT_FOUND"}, r.codes()[0], r.Raw)
	assert.Contains(t, e.metric("gateway_graphql_refused_documents_total"), `limit="fields"`)
}

// introspectionQuery is what GraphiQL sends to learn the schema
// (graphql-js's getIntrospectionQuery with every option on).
const introspectionQuery = `query IntrospectionQuery {
  __schema {
    description
    queryType { name kind }
    mutationType { name kind }
    subscriptionType { name kind }
    types { ...FullType }
    directives { name description isRepeatable locations args(includeDeprecated: true) { ...InputValue } }
  }
}
fragment FullType on __Type {
  kind name description specifiedByURL
  fields(includeDeprecated: true) { name description args(includeDeprecated: true) { ...InputValue } type { ...TypeRef } isDeprecated deprecationReason }
  inputFields(includeDeprecated: true) { ...InputValue }
  interfaces { ...TypeRef }
  enumValues(includeDeprecated: true) { name description isDeprecated deprecationReason }
  possibleTypes { ...TypeRef }
}
fragment InputValue on __InputValue { name description type { ...TypeRef } defaultValue isDeprecated deprecationReason }
fragment TypeRef on __Type {
  kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType { kind name ofType {
  kind name ofType { kind name ofType { kind name ofType { kind name } } } } } } } } }
}`

func TestEverydayDocumentsPassTheLimits(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	relayish := `query Dashboard($page: Int) { customers(page: $page) { ...Page } }
fragment Page on CustomerPage { page hasNextPage nodes { ...Row ...Detail } }
fragment Row on Customer { id name status ...Contact }
fragment Detail on Customer { createdAt updatedAt lastLogin verified subscriptionType ...Contact }
fragment Contact on Customer { contact { email } }`
	for name, q := range map[string]string{
		"GraphiQL's introspection":      introspectionQuery,
		"fragments of a component tree": relayish,
		"five pages of every field":     "{" + repeat(5, " p%d: customers { nodes { id name status createdAt } hasNextPage }") + " }",
	} {
		t.Run(name, func(t *testing.T) {
			r := e.query(q, nil)
			require.Empty(t, r.Errors, r.Raw)
		})
	}
}

func TestDocumentLimitsCanBeTurnedOff(t *testing.T) {
	t.Parallel()
	q := "{" + strings.Repeat(" __typename", 1500) + " }"
	r := newEnv(t, nil).query(q, nil)
	require.Equal(t, []string{"FIELD_LIMIT_EXCEEDED"}, r.codes(), r.Raw)
	r = newEnv(t, map[string]string{"MAX_FIELDS": "0", "MAX_COMPLEXITY": "0"}).query(q, nil)
	require.Empty(t, r.Errors, r.Raw)
	r = newEnv(t, map[string]string{"MAX_FIELDS": "1600", "MAX_TOKENS": "1000"}).query(q, nil)
	require.Equal(t, []string{"TOKEN_LIMIT_EXCEEDED"}, r.codes(), r.Raw)
}
