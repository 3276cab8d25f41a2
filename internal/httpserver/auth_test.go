package httpserver_test

import (
	"strings"
	"sync"
	"testing"

	"github.com/botpenguin-gateway/gateway/internal/config"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/botpenguin-gateway/gateway/upstream/upstreamtest"
)

const pageQuery = `{ customers { nodes { id name } } }`

func TestPassThroughAuth(t *testing.T) {
	t.Parallel()
	// The fake accepts only testToken: an answer proves it went upstream.
	e := newEnv(t, nil, upstreamtest.WithToken(testToken))

	r := e.post(map[string]any{"query": pageQuery}, "Bearer "+testToken)
	require.Empty(t, r.Errors, r.Raw)
	r = e.post(map[string]any{"query": pageQuery}, "bearer "+testToken)
	require.Empty(t, r.Errors, "the scheme is case-insensitive: %s", r.Raw)
	calls := e.up.Calls()

	for name, header := range map[string]string{
		"no header":      "",
		"empty bearer":   "Bearer ",
		"basic":          "Basic dXNlcjpwYXNz",
		"no scheme":      testToken,
		"tab in token":   "Bearer a\tb",
		"non-ascii":      "Bearer tökén",
		"too long token": "Bearer " + strings.Repeat("x", 5000),
	} {
		t.Run(name, func(t *testing.T) {
			r := e.post(map[string]any{"query": pageQuery}, header)
			assert.Equal(t, []string{"UNAUTHENTICATED"}, r.codes(), r.Raw)
			assert.JSONEq(t, `null`, string(r.Data))
		})
	}
	assert.Equal(t, calls, e.up.Calls(), "no upstream call without a valid token")

	r = e.post(map[string]any{"query": pageQuery}, "Bearer someone-else")
	require.Equal(t, []string{"UNAUTHENTICATED"}, r.codes(), r.Raw)
	assert.EqualValues(t, 401, r.Errors[0].Extensions["upstreamStatus"])
}

func TestServerKeyAuth(t *testing.T) {
	t.Parallel()
	e := newEnv(t, map[string]string{
		"BOTPENGUIN_API_KEY":    serverKey,
		"GATEWAY_ACCESS_TOKENS": "other-token, " + accessToken,
	}, upstreamtest.WithToken(serverKey))

	r := e.post(map[string]any{"query": pageQuery}, "Bearer "+accessToken)
	require.Empty(t, r.Errors, "the server key went upstream: %s", r.Raw)
	r = e.post(map[string]any{"query": pageQuery}, "Bearer other-token")
	require.Empty(t, r.Errors, r.Raw)
	calls := e.up.Calls()

	for _, header := range []string{"", "Bearer " + serverKey, "Bearer wrong", "Bearer " + accessToken + "x"} {
		r := e.post(map[string]any{"query": pageQuery}, header)
		assert.Equal(t, []string{"UNAUTHENTICATED"}, r.codes(), r.Raw)
	}
	assert.Equal(t, calls, e.up.Calls())
}

func TestServerKeyAllowUnauthenticated(t *testing.T) {
	t.Parallel()
	t.Run("with access tokens", func(t *testing.T) {
		e := newEnv(t, map[string]string{
			"BOTPENGUIN_API_KEY":    serverKey,
			"GATEWAY_ACCESS_TOKENS": accessToken,
			"ALLOW_UNAUTHENTICATED": "true",
		}, upstreamtest.WithToken(serverKey))
		assert.Empty(t, e.post(map[string]any{"query": pageQuery}, "").Errors)
		assert.Empty(t, e.post(map[string]any{"query": pageQuery}, "Bearer "+accessToken).Errors)
		assert.Equal(t, []string{"UNAUTHENTICATED"}, e.post(map[string]any{"query": pageQuery}, "Bearer wrong").codes(),
			"a wrong token is a mistake worth reporting")
	})
	t.Run("without access tokens", func(t *testing.T) {
		e := newEnv(t, map[string]string{
			"BOTPENGUIN_API_KEY":    serverKey,
			"ALLOW_UNAUTHENTICATED": "true",
		}, upstreamtest.WithToken(serverKey))
		assert.Empty(t, e.post(map[string]any{"query": pageQuery}, "").Errors)
		assert.Empty(t, e.post(map[string]any{"query": pageQuery}, "Bearer anything").Errors)
	})
}

func TestServerKeyModeRefusesToStartOpen(t *testing.T) {
	t.Parallel()
	_, err := config.Load(func(name string) string {
		return map[string]string{"BOTPENGUIN_API_KEY": serverKey}[name]
	})
	require.Error(t, err)
	assert.Contains(t, err.Error(), "GATEWAY_ACCESS_TOKENS")
	assert.Contains(t, err.Error(), "ALLOW_UNAUTHENTICATED")
	assert.NotContains(t, err.Error(), serverKey)
}

func TestIntrospectionAndServiceNeedNoToken(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	r := e.post(map[string]any{"query": `{ __schema { queryType { name } } __type(name: "Customer") { name } }`}, "")
	require.Empty(t, r.Errors, r.Raw)
	assert.JSONEq(t, `{"__schema": {"queryType": {"name": "Query"}}, "__type": {"name": "Customer"}}`, string(r.Data))
	r = e.post(map[string]any{"query": `{ _service { sdl } }`}, "")
	require.Empty(t, r.Errors, r.Raw)
	assert.Contains(t, string(r.Data), "type Customer implements Node @key(fields: \\\"id\\\")")
	assert.Zero(t, e.up.Calls())
}

func TestTwoTokensNeverSeeEachOthersData(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil, upstreamtest.WithTenant("tok-alpha", "alpha"), upstreamtest.WithTenant("tok-beta", "beta"))
	alphaID := e.up.Records("tok-alpha")[30]["_id"].(string)
	betaID := e.up.Records("tok-beta")[30]["_id"].(string)
	query := `query($id: ID!) {
		a: customers(page: 1) { nodes { id name contact { email } } hasNextPage }
		b: customers(page: 2, sort: NAME) { nodes { id name } }
		c: customer(id: $id) { id name }
	}`
	var wg sync.WaitGroup
	for i := range 40 {
		label, other, token, id := "alpha", "beta", "tok-alpha", alphaID
		if i%2 == 1 {
			label, other, token, id = "beta", "alpha", "tok-beta", betaID
		}
		wg.Go(func() {
			r := e.post(map[string]any{"query": query, "variables": map[string]any{"id": id}}, "Bearer "+token)
			if !assert.Empty(t, r.Errors, r.Raw) {
				return
			}
			assert.Contains(t, r.Raw, "("+label+")")
			assert.NotContains(t, r.Raw, "("+other+")")
			assert.NotContains(t, r.Raw, other+".monday101.com")
			assert.Contains(t, r.Raw, id)
		})
	}
	wg.Wait()
}
