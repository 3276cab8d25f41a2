package httpserver_test

import (
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/botpenguin-gateway/gateway/upstream/upstreamtest"
)

// newCachingEnv is a gateway with CACHE_TTL set: the page cache and the
// answer cache on.
func newCachingEnv(t *testing.T, upOpts ...upstreamtest.Option) *env {
	t.Helper()
	return newEnv(t, map[string]string{"CACHE_TTL": "30s"}, upOpts...)
}

func TestRepeatedQueriesAreAnsweredFromTheAnswerCache(t *testing.T) {
	t.Parallel()
	e := newCachingEnv(t, upstreamtest.WithTenant("tok-alpha", "alpha"), upstreamtest.WithTenant("tok-beta", "beta"))
	const q = `{ customers { nodes { id name } hasNextPage } }`

	first := e.query(q, nil)
	require.Empty(t, first.Errors)
	calls := e.up.Calls()
	assert.EqualValues(t, 2, calls, "page 1, and page 2 for hasNextPage")
	for range 3 {
		again := e.query(q, nil)
		assert.Equal(t, first.Raw, again.Raw)
	}
	assert.Equal(t, calls, e.up.Calls())
	assert.Contains(t, e.metric("gateway_graphql_answer_cache_requests_total"), `gateway_graphql_answer_cache_requests_total{result="hit"} 3`)

	// Another credential never gets that answer, nor another's.
	for _, tenant := range []string{"alpha", "beta", "alpha"} {
		got := e.post(map[string]any{"query": q}, "Bearer tok-"+tenant)
		require.Empty(t, got.Errors)
		assert.Contains(t, string(got.Data), "("+tenant+")")
		assert.NotContains(t, string(got.Data), "Jonas v1\"") // the test token's first customer
	}
	// A different query is a different answer.
	other := e.query(`{ customers { nodes { id } } }`, nil)
	assert.NotEqual(t, first.Raw, other.Raw)
}

func TestAnswersWithErrorsAreNotCached(t *testing.T) {
	t.Parallel()
	e := newCachingEnv(t)
	e.up.SetFault(upstreamtest.Status(503))
	const q = `{ customers { nodes { id } } }`
	for range 2 {
		assert.Equal(t, []string{"UPSTREAM_UNAVAILABLE"}, e.query(q, nil).codes())
	}
	e.up.SetFault(nil)
	got := e.query(q, nil)
	assert.Empty(t, got.Errors, "the upstream is back: the error was not kept")
	assert.Contains(t, string(got.Data), `"id"`)
	assert.Contains(t, e.metric("gateway_graphql_answer_cache_requests_total"), `gateway_graphql_answer_cache_requests_total{result="miss"} 3`)
}

func TestNoAnswerCacheWithoutPageCache(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	const q = `{ customers { nodes { id } } }`
	e.query(q, nil)
	e.query(q, nil)
	assert.EqualValues(t, 2, e.up.Calls())
	assert.Empty(t, e.metric("gateway_graphql_answer_cache_requests_total"))
}
