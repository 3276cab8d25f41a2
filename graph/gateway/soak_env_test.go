package gateway_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"

	"github.com/botpenguin-gateway/gateway/graph/gateway"
	"github.com/botpenguin-gateway/gateway/upstream"
	"github.com/botpenguin-gateway/gateway/upstream/upstreamtest"
)

// newSoakEnv is newEnv with extra upstream client options (breaker,
// concurrency bound, cache: what server.go wires from the config) and a
// logger at warn, so that a long run does not pile up debug lines in
// memory. Its cleanups tolerate closing early, as the soak does to count
// goroutines.
func newSoakEnv(t *testing.T, vars map[string]string, upOpts []upstreamtest.Option, clientOpts ...upstream.Option) *env {
	t.Helper()
	up := upstreamtest.NewServer(upOpts...)
	t.Cleanup(up.Close)
	cfg, err := gateway.LoadConfig(func(name string) string {
		if name == "BOTPENGUIN_BASE_URL" {
			return up.URL
		}
		return vars[name]
	})
	require.NoError(t, err)

	logs := &syncBuffer{}
	log := slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelWarn}))
	reg := prometheus.NewRegistry()
	opts := append([]upstream.Option{
		upstream.WithTimeout(cfg.UpstreamTimeout),
		upstream.WithRetries(cfg.UpstreamRetries, cfg.UpstreamRetryMaxWait),
		upstream.WithMetrics(reg),
		upstream.WithLogger(log),
	}, clientOpts...)
	client, err := upstream.New(cfg.BaseURL, opts...)
	require.NoError(t, err)
	gw := httptest.NewServer(gateway.New(cfg, gateway.Deps{Logger: log, Registry: reg, Fetch: client.ListCustomers}))
	t.Cleanup(gw.Close)
	e := &env{t: t, up: up, gw: gw, logs: logs, reg: reg}
	t.Cleanup(e.assertNoSecrets)
	return e
}

// soakPost posts one GraphQL request with the test token. Unlike env.post
// it returns its problems instead of failing the test, so that load
// goroutines can use it.
func soakPost(ctx context.Context, e *env, query string, vars map[string]any) (gqlResponse, error) {
	b, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	if err != nil {
		return gqlResponse{}, err
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, e.gw.URL+"/query", bytes.NewReader(b))
	if err != nil {
		return gqlResponse{}, err
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := e.gw.Client().Do(req)
	if err != nil {
		return gqlResponse{}, err
	}
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	if err != nil {
		return gqlResponse{}, err
	}
	out := gqlResponse{Status: resp.StatusCode, Raw: string(raw)}
	if resp.StatusCode < 500 {
		if err := json.Unmarshal(raw, &out); err != nil {
			return out, err
		}
	}
	return out, nil
}

// soakMetric sums the samples of a counter or gauge (or the counts of a
// histogram) named name whose labels include the given pairs.
func soakMetric(t *testing.T, reg prometheus.Gatherer, name string, labels ...string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	var sum float64
	for _, mf := range mfs {
		if mf.GetName() != name {
			continue
		}
	next:
		for _, m := range mf.GetMetric() {
			have := map[string]string{}
			for _, lp := range m.GetLabel() {
				have[lp.GetName()] = lp.GetValue()
			}
			for i := 0; i+1 < len(labels); i += 2 {
				if have[labels[i]] != labels[i+1] {
					continue next
				}
			}
			switch {
			case m.GetHistogram() != nil:
				sum += float64(m.GetHistogram().GetSampleCount())
			case m.GetGauge() != nil:
				sum += m.GetGauge().GetValue()
			default:
				sum += m.GetCounter().GetValue()
			}
		}
	}
	return sum
}

func sprintf(format string, args ...any) string { return fmt.Sprintf(format, args...) }

func mib(b uint64) float64 { return float64(b) / (1 << 20) }

func decodeInto(r gqlResponse, v any) error { return json.Unmarshal(r.Data, v) }
