package httpserver_test

import (
	"bytes"
	"encoding/json"
	"io"
	"net/http"
	"net/url"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestGETQuery(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	req, err := http.NewRequest(http.MethodGet, e.gw.URL+"/query?query="+url.QueryEscape(`{ customers { page } }`), nil)
	require.NoError(t, err)
	req.Header.Set("Authorization", "Bearer "+testToken)
	r := e.do(req)
	require.Equal(t, 200, r.Status, r.Raw)
	assert.JSONEq(t, `{"customers": {"page": 1}}`, string(r.Data))
}

func TestBadRequestsGetAClear4xx(t *testing.T) {
	t.Parallel()
	e := newEnv(t, map[string]string{"MAX_BODY_BYTES": "2048"})
	big := `{"query": "{ customers { page } }", "variables": {"pad": "` + strings.Repeat("x", 4096) + `"}}`
	for _, tc := range []struct {
		name, method, contentType, body string
		status                          int
		code                            string
		chunked                         bool
	}{
		{"malformed JSON", "POST", "application/json", `{"query": `, 400, "BAD_REQUEST", false},
		{"empty body", "POST", "application/json", ``, 400, "BAD_REQUEST", false},
		{"JSON but not an object", "POST", "application/json", `[1,2]`, 400, "BAD_REQUEST", false},
		{"query not a string", "POST", "application/json", `{"query": 5}`, 400, "BAD_REQUEST", false},
		{"no query", "POST", "application/json", `{}`, 400, "BAD_REQUEST", false},
		{"empty query", "POST", "application/json", `{"query": ""}`, 400, "BAD_REQUEST", false},
		{"oversized body", "POST", "application/json", big, 413, "BAD_REQUEST", false},
		{"oversized chunked body", "POST", "application/json", big, 413, "BAD_REQUEST", true},
		{"wrong content type", "POST", "text/plain", `{"query": "{ customers { page } }"}`, 415, "BAD_REQUEST", false},
		{"form content type", "POST", "application/x-www-form-urlencoded", `query=x`, 415, "BAD_REQUEST", false},
		{"parse error", "POST", "application/json", `{"query": "{ customers { "}`, 200, "GRAPHQL_PARSE_FAILED", false},
		{"validation error", "POST", "application/json", `{"query": "{ nope }"}`, 200, "GRAPHQL_VALIDATION_FAILED", false},
		{"unknown operation", "POST", "application/json", `{"query": "query A { __typename }", "operationName": "B"}`, 200, "GRAPHQL_VALIDATION_FAILED", false},
		{"GET without query", "GET", "", ``, 400, "BAD_REQUEST", false},
		{"PUT", "PUT", "application/json", `{}`, 405, "", false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var body io.Reader = strings.NewReader(tc.body)
			if tc.chunked {
				body = io.MultiReader(strings.NewReader(tc.body)) // unknown length: sent chunked
			}
			req, err := http.NewRequest(tc.method, e.gw.URL+"/query", body)
			require.NoError(t, err)
			if tc.contentType != "" {
				req.Header.Set("Content-Type", tc.contentType)
			}
			req.Header.Set("Authorization", "Bearer "+testToken)
			resp, err := e.gw.Client().Do(req)
			require.NoError(t, err)
			defer resp.Body.Close()
			raw, _ := io.ReadAll(resp.Body)
			e.checkNoSecret("response", string(raw))
			assert.Equal(t, tc.status, resp.StatusCode, "%s", raw)
			var out struct {
				Errors []gqlError `json:"errors"`
			}
			if json.Unmarshal(raw, &out) == nil && tc.code != "" {
				require.NotEmpty(t, out.Errors, "%s", raw)
				assert.Equal(t, tc.code, out.Errors[0].Extensions["code"], "%s", raw)
			}
		})
	}
	assert.Zero(t, e.up.Calls())
	// Still serving.
	require.Empty(t, e.query(`{ customers { page } }`, nil).Errors)
}

func TestGraphQLResponseJSONErrorsHaveNoData(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	req, _ := http.NewRequest(http.MethodPost, e.gw.URL+"/query", strings.NewReader(`{"query": "{ nope }"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Accept", "application/graphql-response+json")
	resp, err := e.gw.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	assert.Equal(t, 400, resp.StatusCode)
	assert.Equal(t, "application/graphql-response+json", resp.Header.Get("Content-Type"))
	var out map[string]any
	require.NoError(t, json.Unmarshal(body, &out))
	assert.NotContains(t, out, "data", "%s", body)
	assert.NotEmpty(t, out["errors"])
}

func TestEveryErrorHasACode(t *testing.T) {
	t.Parallel()
	e := newEnv(t, map[string]string{"INTROSPECTION": "false"})
	for _, q := range []string{
		`{ customers { page } `,
		`{ customers { nodes { nope } } }`,
		`{ __schema { types { name } } }`,
		`query { ...F } fragment F on Query { __type(name: "Customer") { name } }`,
		`query($p: Int!) { customers(page: $p) { page } }`,
	} {
		r := e.query(q, nil)
		require.NotEmpty(t, r.Errors, q)
		for _, err := range r.Errors {
			assert.NotEmpty(t, err.Extensions["code"], "%s: %s", q, r.Raw)
		}
	}
	// With introspection off, _service still answers: federation needs it.
	r := e.query(`{ _service { sdl } }`, nil)
	require.Empty(t, r.Errors, r.Raw)
	r = e.query(`{ __typename }`, nil)
	require.Empty(t, r.Errors, r.Raw)
}

func TestProbesAndMetrics(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	require.Empty(t, e.query(`query ListCustomers { customers { nodes { id } } }`, nil).Errors)
	e.up.SetFault(func(w http.ResponseWriter, r *http.Request) bool {
		w.WriteHeader(503)
		return true
	})
	e.query(`query Broken { customers { nodes { id } } }`, nil)

	for path, want := range map[string]string{"/healthz": "ok", "/readyz": "ready"} {
		resp, err := e.gw.Client().Get(e.gw.URL + path)
		require.NoError(t, err)
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		assert.Equal(t, 200, resp.StatusCode)
		assert.Contains(t, string(body), want)
	}
	resp, err := e.gw.Client().Get(e.gw.URL + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	metrics, _ := io.ReadAll(resp.Body)
	for _, want := range []string{
		`gateway_graphql_operations_total{operation="ListCustomers",outcome="ok"} 1`,
		`gateway_graphql_operations_total{operation="Broken",outcome="UPSTREAM_UNAVAILABLE"} 1`,
		`gateway_upstream_requests_total{outcome="ok",status="200"}`,
		`gateway_upstream_requests_total{outcome="unavailable",status="503"}`,
		`gateway_upstream_request_duration_seconds_bucket`,
		`gateway_graphql_operation_duration_seconds_bucket{operation="ListCustomers"`,
		`gateway_http_requests_in_flight`,
	} {
		assert.Contains(t, string(metrics), want)
	}
	e.checkNoSecret("metrics", string(metrics))
}

func TestOneLogLinePerRequest(t *testing.T) {
	t.Parallel()
	e := newEnv(t, map[string]string{"UPSTREAM_RETRIES": "0"})
	e.up.SetFault(func(w http.ResponseWriter, r *http.Request) bool {
		w.WriteHeader(403)
		return true
	})
	req, _ := http.NewRequest(http.MethodPost, e.gw.URL+"/query",
		bytes.NewReader([]byte(`{"query": "query Mine { customers { nodes { id } } }"}`)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+testToken)
	req.Header.Set("X-Request-ID", "req-123")
	resp, err := e.gw.Client().Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, "req-123", resp.Header.Get("X-Request-ID"))

	var line map[string]any
	for _, l := range strings.Split(e.logs.String(), "\n") {
		if strings.Contains(l, `"msg":"request"`) {
			require.Nil(t, line, "one request line only")
			require.NoError(t, json.Unmarshal([]byte(l), &line))
		}
	}
	require.NotNil(t, line)
	assert.Equal(t, "Mine", line["operation"])
	assert.Equal(t, []any{"FORBIDDEN"}, line["codes"])
	assert.Equal(t, "req-123", line["request_id"])
	assert.Contains(t, line, "duration")
}
