package httpserver_test

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/botpenguin-gateway/gateway/upstream/upstreamtest"
)

const tokensQuery = `{ customers { nodes { id loginToken { key active } } } }`

func TestLoginTokensOfCustomers(t *testing.T) {
	t.Parallel()
	e := newEnv(t, map[string]string{"CACHE_TTL": "30s"})
	r := e.post(map[string]any{"query": tokensQuery}, "Bearer "+testToken)
	require.Empty(t, r.Errors, r.Raw)
	type answer struct {
		Customers struct {
			Nodes []struct {
				ID         string
				LoginToken *struct {
					Key    string
					Active bool
				}
			}
		}
	}
	got := decode[answer](t, r)
	require.NotEmpty(t, got.Customers.Nodes)
	keys := map[string]bool{}
	for _, c := range got.Customers.Nodes {
		require.NotNil(t, c.LoginToken, c.ID)
		assert.Equal(t, upstreamtest.LoginKey(c.ID), c.LoginToken.Key, "the upstream's key for that customer")
		keys[c.LoginToken.Key] = true
	}
	assert.Equal(t, "no-store", r.Header.Get("Cache-Control"), "an answer with a login token is never stored")
	assert.EqualValues(t, len(got.Customers.Nodes), e.up.CallsTo(upstreamtest.PathUserToken), "one token call per customer")

	// The same request again is never answered from the answer cache.
	again := e.post(map[string]any{"query": tokensQuery}, "Bearer "+testToken)
	require.Empty(t, again.Errors, again.Raw)
	assert.Equal(t, "no-store", again.Header.Get("Cache-Control"))
	assert.EqualValues(t, 2*len(got.Customers.Nodes), e.up.CallsTo(upstreamtest.PathUserToken))

	// The keys are secrets: in no log line, not even at debug, and in no metric.
	metrics := e.metric("gateway_")
	for key := range keys {
		assert.NotContains(t, e.logs.String(), key)
		assert.NotContains(t, metrics, key)
	}
	assert.Contains(t, e.metric("gateway_login_token_reads_total"), `outcome="ok"`)
}

func TestLoginTokensNeedTheLoginScope(t *testing.T) {
	t.Parallel()
	for name, vars := range map[string]map[string]string{
		"an access token (read only)": {"BOTPENGUIN_API_KEY": "server-key", "GATEWAY_ACCESS_TOKENS": "reader"},
		"a write token":               {"BOTPENGUIN_API_KEY": "server-key", "GATEWAY_WRITE_TOKENS": "reader"},
		"read-only, pass-through":     {"READ_ONLY": "true"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, vars)
			auth := "Bearer reader"
			if vars["BOTPENGUIN_API_KEY"] == "" {
				auth = "Bearer " + testToken
			}
			r := e.post(map[string]any{"query": tokensQuery}, auth)
			require.NotEmpty(t, r.Errors, r.Raw)
			var nodes int
			for _, err := range r.Errors {
				assert.Equal(t, "FORBIDDEN", err.Extensions["code"], err.Message)
				assert.Contains(t, err.Message, "customers:login")
				nodes++
			}
			assert.Contains(t, string(r.Data), `"loginToken":null`, "the customers come, without their tokens")
			assert.Greater(t, nodes, 1, "one FORBIDDEN per token field")
			assert.Zero(t, e.up.CallsTo(upstreamtest.PathUserToken), "no upstream call for a missing scope")

			r = e.post(map[string]any{"query": `{ userLoginToken(email: "owner@monday101.com", type: AGENT) { key } }`}, auth)
			assert.Equal(t, []string{"FORBIDDEN"}, r.codes(), r.Raw)
			assert.Zero(t, e.up.CallsTo(upstreamtest.PathUserToken))
		})
	}
}

func TestUserLoginTokenByEmail(t *testing.T) {
	t.Parallel()
	e := newEnv(t, map[string]string{"BOTPENGUIN_API_KEY": "server-key", "GATEWAY_LOGIN_TOKENS": "signer"})
	auth := "Bearer signer"

	r := e.post(map[string]any{"query": `{ userLoginToken(email: "owner@monday101.com", type: AGENT) { key active } }`}, auth)
	require.Empty(t, r.Errors, r.Raw)
	assert.JSONEq(t, `{"userLoginToken": {"key": "`+upstreamtest.LoginKey("651000000000000000000001")+`", "active": true}}`, string(r.Data))

	r = e.post(map[string]any{"query": `{ userLoginToken(email: "nobody@monday101.com", type: CUSTOMER) { key } }`}, auth)
	require.Empty(t, r.Errors, r.Raw)
	assert.JSONEq(t, `{"userLoginToken": null}`, string(r.Data), "an unknown user is null, not an error")
	calls := e.up.CallsTo(upstreamtest.PathUserToken)
	assert.EqualValues(t, 2, calls)

	for _, bad := range []string{"", "not-an-email", "Name <a@b.com>", strings.Repeat("a", 250) + "@b.com"} {
		r = e.post(map[string]any{"query": `query ($e: String!) { userLoginToken(email: $e, type: AGENT) { key } }`,
			"variables": map[string]any{"e": bad}}, auth)
		assert.Equal(t, []string{"BAD_USER_INPUT"}, r.codes(), bad)
		if bad != "" {
			assert.NotContains(t, r.Raw, bad, "the address is not echoed")
		}
	}
	assert.Equal(t, calls, e.up.CallsTo(upstreamtest.PathUserToken), "no upstream call for a bad address")
	assert.Contains(t, e.metric("gateway_login_token_reads_total"), `outcome="not_found"`)
}

func TestLoginTokensArePricedPerCustomer(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	r := e.query(`{ a: customers(page: 1) { nodes { loginToken { key } } } b: customers(page: 2) { nodes { loginToken { key } } }
		c: customers(page: 3) { nodes { loginToken { key } } } d: customers(page: 4) { nodes { loginToken { key } } }
		e: customers(page: 5) { nodes { loginToken { key } } } }`, nil)
	assert.Equal(t, []string{"COMPLEXITY_LIMIT_EXCEEDED"}, r.codes(), "100 token calls are priced as 100 calls")
	assert.Zero(t, e.up.Calls()+e.up.CallsTo(upstreamtest.PathUserToken))
}
