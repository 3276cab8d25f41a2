package httpserver_test

import (
	"bytes"
	"context"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"slices"
	"strconv"
	"testing"
	"time"

	"github.com/botpenguin-gateway/gateway/internal/app"
	"github.com/botpenguin-gateway/gateway/internal/config"
	"github.com/botpenguin-gateway/gateway/upstream/upstreamtest"
)

// BenchmarkLookups is the lookup case the README measures: one query with
// two customer(id) lookups (customers on pages 3 and 5 by creation date)
// and one page, the upstream at 20 ms, one client at a time.
// ns/op is then the latency of one request, p50-ms its median, calls/op
// the upstream calls it costs.
//
//   - warm: the same credential every time, after one request that has
//     seen those pages.
//   - cold: a credential of its own per request, so that nothing (index,
//     coalescing) is shared with an earlier one.
func BenchmarkLookups(b *testing.B) {
	b.Run("warm", func(b *testing.B) { benchLookups(b, false) })
	b.Run("cold", func(b *testing.B) { benchLookups(b, true) })
}

func benchLookups(b *testing.B, cold bool) {
	up := upstreamtest.NewServer(upstreamtest.WithLatency(20 * time.Millisecond))
	b.Cleanup(up.Close)
	cfg, err := config.Load(func(name string) string {
		if name == "BOTPENGUIN_BASE_URL" {
			return up.URL
		}
		return ""
	})
	if err != nil {
		b.Fatal(err)
	}
	gw, err := app.New(cfg, app.Deps{})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = gw.Close(context.Background()) })

	records := up.Records("")
	body, err := json.Marshal(map[string]any{
		"query":     `query($a: ID!, $b: ID!) { customers(page: 1) { nodes { id name } } a: customer(id: $a) { id name } b: customer(id: $b) { id name } }`,
		"variables": map[string]any{"a": records[45]["_id"], "b": records[85]["_id"]}, // pages 3 and 5
	})
	if err != nil {
		b.Fatal(err)
	}
	run := func(token string) {
		req := httptest.NewRequest(http.MethodPost, "/query", bytes.NewReader(body))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+token)
		rec := httptest.NewRecorder()
		gw.ServeHTTP(rec, req)
		if rec.Code != http.StatusOK || bytes.Contains(rec.Body.Bytes(), []byte(`"errors"`)) ||
			!bytes.Contains(rec.Body.Bytes(), []byte(records[85]["_id"].(string))) {
			b.Fatalf("status %d: %s", rec.Code, rec.Body)
		}
	}
	if !cold {
		run("bench-lookups") // the gateway sees the pages once
	}
	up.ResetCalls()
	took := make([]time.Duration, 0, b.N)
	b.ResetTimer()
	for i := range b.N {
		token := "bench-lookups"
		if cold {
			token += "-" + strconv.Itoa(i)
		}
		start := time.Now()
		run(token)
		took = append(took, time.Since(start))
	}
	b.StopTimer()
	slices.Sort(took)
	b.ReportMetric(float64(took[len(took)/2])/float64(time.Millisecond), "p50-ms")
	b.ReportMetric(float64(up.Calls())/float64(b.N), "calls/op")
}
