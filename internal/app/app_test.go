package app_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/botpenguin-gateway/gateway/internal/app"
	"github.com/botpenguin-gateway/gateway/internal/config"
	"github.com/botpenguin-gateway/gateway/upstream"
	"github.com/botpenguin-gateway/gateway/upstream/upstreamtest"
)

// newGateway serves the gateway that vars (as environment variables)
// describe, in front of up.
func newGateway(t *testing.T, up *upstreamtest.Server, vars map[string]string, deps app.Deps) (*app.Gateway, *httptest.Server) {
	t.Helper()
	cfg, err := config.Load(func(name string) string {
		if name == "BOTPENGUIN_BASE_URL" {
			return up.URL
		}
		return vars[name]
	})
	require.NoError(t, err)
	gw, err := app.New(cfg, deps)
	require.NoError(t, err)
	srv := httptest.NewServer(gw)
	t.Cleanup(srv.Close)
	return gw, srv
}

// query posts a GraphQL query and returns the status and body.
func query(t *testing.T, srv *httptest.Server, q string) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, srv.URL+"/query", strings.NewReader(`{"query": "`+q+`"}`))
	require.NoError(t, err)
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer agency-key")
	resp, err := srv.Client().Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return resp.StatusCode, string(body)
}

func TestUpstreamOptionsWinOverTheConfiguration(t *testing.T) {
	t.Parallel()
	up := upstreamtest.NewServer()
	t.Cleanup(up.Close)
	up.SetFault(upstreamtest.Status(503))
	gw, srv := newGateway(t, up, map[string]string{"UPSTREAM_RETRIES": "3"},
		app.Deps{UpstreamOptions: []upstream.Option{upstream.WithRetries(0, 0)}})
	t.Cleanup(func() { _ = gw.Close(context.Background()) })

	status, body := query(t, srv, `{ customers { nodes { id } } }`)
	assert.Equal(t, 200, status)
	assert.Contains(t, body, `"code":"UPSTREAM_UNAVAILABLE"`)
	assert.EqualValues(t, 1, up.Calls(), "no retry: the option given wins over UPSTREAM_RETRIES")
}

// TestTracesGoToTheConfiguredCollector: with OTEL_EXPORTER_OTLP_ENDPOINT
// set, the spans of a query reach the collector by Close at the latest,
// under OTEL_SERVICE_NAME.
func TestTracesGoToTheConfiguredCollector(t *testing.T) {
	t.Parallel()
	exports := make(chan string, 10)
	collector := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		exports <- r.URL.Path + " " + string(body)
	}))
	t.Cleanup(collector.Close)
	up := upstreamtest.NewServer()
	t.Cleanup(up.Close)
	gw, srv := newGateway(t, up, map[string]string{
		"OTEL_EXPORTER_OTLP_ENDPOINT": collector.URL,
		"OTEL_SERVICE_NAME":           "gateway-under-test",
	}, app.Deps{})

	status, body := query(t, srv, `query Traced { customers { nodes { id } } }`)
	require.Equal(t, 200, status, body)
	require.NoError(t, gw.Close(context.Background()))
	require.NotEmpty(t, exports, "nothing exported")
	var all strings.Builder
	for len(exports) > 0 {
		all.WriteString(<-exports)
	}
	// Protobuf keeps strings as they are.
	assert.True(t, strings.HasPrefix(all.String(), "/v1/traces "), all.String())
	assert.Contains(t, all.String(), "gateway-under-test")
	assert.Contains(t, all.String(), "graphql.operation Traced")
	assert.Contains(t, all.String(), "HTTP GET", "the upstream call's span")
	assert.NotContains(t, all.String(), "agency-key")
}

func TestSpansNameNoUser(t *testing.T) {
	t.Parallel()
	exports := make(chan string, 10)
	collector := httptest.NewServer(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		exports <- string(body)
	}))
	t.Cleanup(collector.Close)
	up := upstreamtest.NewServer()
	t.Cleanup(up.Close)
	gw, srv := newGateway(t, up, map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": collector.URL}, app.Deps{})

	status, body := query(t, srv, `{ userLoginToken(email: \"owner@monday101.com\", type: AGENT) { key } customers { nodes { id loginToken { key } } } }`)
	require.Equal(t, 200, status, body)
	assert.Contains(t, body, upstreamtest.LoginKey("651000000000000000000001"), "the upstream got the real query")
	assert.NotContains(t, body, `"errors"`)
	require.NoError(t, gw.Close(context.Background()))
	var all strings.Builder
	for len(exports) > 0 {
		all.WriteString(<-exports)
	}
	assert.Contains(t, all.String(), "get-user-token?", "the token calls are traced")
	assert.Contains(t, all.String(), "redacted")
	assert.NotContains(t, all.String(), "owner@monday101.com")
	assert.NotContains(t, all.String(), "owner%40monday101.com")
	for _, r := range up.Records("agency-key")[:20] {
		assert.NotContains(t, all.String(), r["_id"].(string), "no customer id in a span")
	}
}
