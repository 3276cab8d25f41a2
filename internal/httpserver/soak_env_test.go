package httpserver_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"testing"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/require"
)

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
