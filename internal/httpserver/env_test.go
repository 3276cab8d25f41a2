package httpserver_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/botpenguin-gateway/gateway/internal/app"
	"github.com/botpenguin-gateway/gateway/internal/config"
	"github.com/botpenguin-gateway/gateway/upstream"
	"github.com/botpenguin-gateway/gateway/upstream/upstreamtest"
)

// testToken is the pass-through token most tests send; tests assert that it
// never shows up in a response or a log line.
const testToken = "tok-SECRET-4f9c2a"

// env is a gateway served over real HTTP in front of the fake upstream.
type env struct {
	t    *testing.T
	up   *upstreamtest.Server
	gw   *httptest.Server
	logs *syncBuffer
	reg  *prometheus.Registry
}

// newEnv starts the fake upstream and a gateway configured by vars (as
// environment variables) in front of it.
func newEnv(t *testing.T, vars map[string]string, upOpts ...upstreamtest.Option) *env {
	t.Helper()
	return newEnvWith(t, vars, nil, upOpts...)
}

// newEnvWith is newEnv with extra upstream client options, which win over
// those the configuration gives (see app.Deps). Retries back off for a
// millisecond or two, and logs are at debug unless vars sets LOG_LEVEL.
func newEnvWith(t *testing.T, vars map[string]string, clientOpts []upstream.Option, upOpts ...upstreamtest.Option) *env {
	t.Helper()
	return newEnvClock(t, vars, clientOpts, nil, upOpts...)
}

// newEnvClock is newEnvWith with the gateway's clock (Deps.Now); nil is
// time.Now.
func newEnvClock(t *testing.T, vars map[string]string, clientOpts []upstream.Option, now func() time.Time, upOpts ...upstreamtest.Option) *env {
	t.Helper()
	up := upstreamtest.NewServer(upOpts...)
	t.Cleanup(up.Close)
	getenv := func(name string) string {
		if name == "BOTPENGUIN_BASE_URL" && vars[name] == "" { // vars may point elsewhere
			return up.URL
		}
		return vars[name]
	}
	cfg, err := config.Load(getenv)
	require.NoError(t, err)

	logs := &syncBuffer{}
	level := slog.LevelDebug
	if vars["LOG_LEVEL"] != "" {
		level = cfg.LogLevel
	}
	reg := prometheus.NewRegistry()
	gateway, err := app.New(cfg, app.Deps{
		Logger:   slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: level})),
		Registry: reg,
		Now:      now,
		UpstreamOptions: append([]upstream.Option{upstream.WithBackoff(time.Millisecond, 2*time.Millisecond)},
			clientOpts...),
	})
	require.NoError(t, err)
	t.Cleanup(func() { _ = gateway.Close(context.Background()) })
	gw := httptest.NewServer(gateway)
	t.Cleanup(gw.Close)
	e := &env{t: t, up: up, gw: gw, logs: logs, reg: reg}
	t.Cleanup(e.assertNoSecrets)
	return e
}

// gqlResponse is a GraphQL response with raw data.
type gqlResponse struct {
	Status int
	Header http.Header     `json:"-"`
	Data   json.RawMessage `json:"data"`
	Errors []gqlError      `json:"errors"`
	Raw    string
}

type gqlError struct {
	Message    string         `json:"message"`
	Path       []any          `json:"path"`
	Extensions map[string]any `json:"extensions"`
}

func (r gqlResponse) codes() []string {
	var out []string
	for _, e := range r.Errors {
		code, _ := e.Extensions["code"].(string)
		out = append(out, code)
	}
	return out
}

// query posts a GraphQL query with the test token.
func (e *env) query(q string, vars map[string]any) gqlResponse {
	e.t.Helper()
	return e.post(map[string]any{"query": q, "variables": vars}, "Bearer "+testToken)
}

// post posts a GraphQL request body with the given Authorization header
// ("" for none).
func (e *env) post(body map[string]any, authorization string) gqlResponse {
	e.t.Helper()
	b, err := json.Marshal(body)
	require.NoError(e.t, err)
	req, err := http.NewRequest(http.MethodPost, e.gw.URL+"/query", bytes.NewReader(b))
	require.NoError(e.t, err)
	req.Header.Set("Content-Type", "application/json")
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	return e.do(req)
}

func (e *env) do(req *http.Request) gqlResponse {
	e.t.Helper()
	resp, err := e.gw.Client().Do(req)
	require.NoError(e.t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(e.t, err)
	out := gqlResponse{Status: resp.StatusCode, Header: resp.Header, Raw: string(raw)}
	if strings.HasPrefix(resp.Header.Get("Content-Type"), "application/") {
		require.NoError(e.t, json.Unmarshal(raw, &out), "body: %s", raw)
	}
	e.checkNoSecret("response", out.Raw)
	return out
}

// assertNoSecrets fails the test when a token reached the logs.
func (e *env) assertNoSecrets() {
	e.checkNoSecret("logs", e.logs.String())
}

func (e *env) checkNoSecret(where, text string) {
	e.t.Helper()
	for _, secret := range []string{testToken, "SECRET", serverKey, accessToken} {
		if strings.Contains(text, secret) {
			e.t.Errorf("%s contain a secret %q:\n%s", where, secret, text)
		}
	}
}

// decode unmarshals the data of a response.
func decode[T any](t *testing.T, r gqlResponse) T {
	t.Helper()
	var v T
	require.NoError(t, json.Unmarshal(r.Data, &v), "data: %s", r.Data)
	return v
}

// syncBuffer is a log sink safe for concurrent writers.
type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

const (
	serverKey   = "srvkey-SECRET-91d0"
	accessToken = "client-SECRET-77ab"
)

func splitLines(s string) []string { return strings.Split(s, "\n") }
func contains(s, sub string) bool  { return strings.Contains(s, sub) }
