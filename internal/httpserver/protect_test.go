package httpserver_test

import (
	"net/http"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestCORS(t *testing.T) {
	t.Parallel()
	e := newEnv(t, map[string]string{"CORS_ALLOWED_ORIGINS": "https://app.example.com"})
	preflight := func(origin string) *http.Response {
		req, _ := http.NewRequest(http.MethodOptions, e.gw.URL+"/query", nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", "POST")
		req.Header.Set("Access-Control-Request-Headers", "authorization, content-type")
		resp, err := e.gw.Client().Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp
	}
	resp := preflight("https://app.example.com")
	assert.Equal(t, "https://app.example.com", resp.Header.Get("Access-Control-Allow-Origin"))
	assert.Equal(t, "true", resp.Header.Get("Access-Control-Allow-Credentials"))
	allowed := strings.ToLower(resp.Header.Get("Access-Control-Allow-Headers"))
	assert.Contains(t, allowed, "authorization")
	assert.Contains(t, allowed, "content-type")

	resp = preflight("https://evil.example.com")
	assert.Empty(t, resp.Header.Get("Access-Control-Allow-Origin"))
	assert.Empty(t, resp.Header.Get("Access-Control-Allow-Credentials"))

	for origin, want := range map[string]string{"https://app.example.com": "https://app.example.com", "https://evil.example.com": ""} {
		req, _ := http.NewRequest(http.MethodPost, e.gw.URL+"/query", strings.NewReader(`{"query":"{ __typename }"}`))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Origin", origin)
		resp, err := e.gw.Client().Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, want, resp.Header.Get("Access-Control-Allow-Origin"))
		assert.NotEqual(t, "*", resp.Header.Get("Access-Control-Allow-Origin"))
	}
}

// TestCORSLetsFrontendStacksThrough sends the preflights of browser
// clients that trace (OpenTelemetry, Sentry) and identify themselves
// (Apollo Client, Hive), as browsers write them: lower case, sorted.
func TestCORSLetsFrontendStacksThrough(t *testing.T) {
	t.Parallel()
	const origin = "https://app.example.com"
	e := newEnv(t, map[string]string{"CORS_ALLOWED_ORIGINS": origin})
	preflight := func(origin, method, headers string) *http.Response {
		req, _ := http.NewRequest(http.MethodOptions, e.gw.URL+"/query", nil)
		req.Header.Set("Origin", origin)
		req.Header.Set("Access-Control-Request-Method", method)
		req.Header.Set("Access-Control-Request-Headers", headers)
		resp, err := e.gw.Client().Do(req)
		require.NoError(t, err)
		resp.Body.Close()
		return resp
	}
	for _, headers := range []string{
		"content-type,traceparent,tracestate",
		"apollographql-client-name,apollographql-client-version,authorization,content-type",
		"apollo-require-preflight,content-type,x-apollo-operation-name",
		"accept,authorization,baggage,content-type,sentry-trace,x-request-id",
		"content-type,x-graphql-client-name,x-graphql-client-version",
	} {
		resp := preflight(origin, "POST", headers)
		assert.Equal(t, origin, resp.Header.Get("Access-Control-Allow-Origin"), headers)
		assert.Equal(t, headers, resp.Header.Get("Access-Control-Allow-Headers"))
	}
	assert.NotContains(t, e.logs.String(), "preflight refused")

	for _, tc := range []struct{ origin, method, headers, logged string }{
		{origin, "POST", "authorization,x-evil-header", `"refused_header":"x-evil-header"`},
		{origin, "PUT", "content-type", `"refused_method":"PUT"`},
		{"https://evil.example.com", "POST", "content-type", `"refused_origin":"https://evil.example.com"`},
	} {
		resp := preflight(tc.origin, tc.method, tc.headers)
		assert.Empty(t, resp.Header.Get("Access-Control-Allow-Origin"), tc.logged)
		var line string
		for _, l := range splitLines(e.logs.String()) {
			if contains(l, tc.logged) {
				line = l
			}
		}
		require.NotEmpty(t, line, "a refused preflight says why: %s", tc.logged)
		assert.Contains(t, line, `"level":"DEBUG"`)
		assert.Contains(t, line, `"msg":"CORS preflight refused"`)
		assert.Contains(t, line, `"request_id"`)
	}
}

func TestNoCORSByDefault(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	req, _ := http.NewRequest(http.MethodOptions, e.gw.URL+"/query", nil)
	req.Header.Set("Origin", "https://app.example.com")
	req.Header.Set("Access-Control-Request-Method", "POST")
	resp, err := e.gw.Client().Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Empty(t, resp.Header.Get("Access-Control-Allow-Origin"))
}

func TestSecurityHeadersOnEveryResponse(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	for _, path := range []string{"/query?query={__typename}", "/healthz", "/readyz", "/metrics", "/", "/nope"} {
		resp, err := e.gw.Client().Get(e.gw.URL + path)
		require.NoError(t, err)
		resp.Body.Close()
		assert.Equal(t, "nosniff", resp.Header.Get("X-Content-Type-Options"), path)
		assert.Equal(t, "no-referrer", resp.Header.Get("Referrer-Policy"), path)
		assert.NotEmpty(t, resp.Header.Get("Content-Security-Policy"), path)
		assert.Contains(t, resp.Header.Get("Content-Security-Policy"), "frame-ancestors 'none'", path)
	}
}
