package httpserver_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"runtime/debug"
	"strconv"
	"sync/atomic"
	"testing"

	"github.com/botpenguin-gateway/gateway/internal/app"
	"github.com/botpenguin-gateway/gateway/internal/config"
	"github.com/botpenguin-gateway/gateway/upstream/upstreamtest"
)

// The benchmark harness's standard queries (see the README's Performance
// section).
const (
	benchQ1 = `{"query":"{ customers(page: 1) { nodes { id name contact { email } verified status subscriptionType createdAt updatedAt lastLogin } } }"}`
	benchQ2 = `{"query":"{ a: customers(page: 1) { nodes { id name } hasNextPage } b: customers(page: 2) { nodes { id name } } c: customers(page: 1, sort: NAME) { nodes { id } } }"}`
)

// benchHandler is the gateway's handler in front of the fake upstream over
// real HTTP, logging at info and collecting garbage as in production.
func benchHandler(b *testing.B, vars map[string]string) http.Handler {
	b.Helper()
	if os.Getenv("GOGC") == "" {
		// As the binary runs (see app.DefaultGCPercent).
		old := debug.SetGCPercent(app.DefaultGCPercent)
		b.Cleanup(func() { debug.SetGCPercent(old) })
	}
	up := upstreamtest.NewServer()
	b.Cleanup(up.Close)
	cfg, err := config.Load(func(name string) string {
		if name == "BOTPENGUIN_BASE_URL" {
			return up.URL
		}
		return vars[name]
	})
	if err != nil {
		b.Fatal(err)
	}
	gw, err := app.New(cfg, app.Deps{
		Logger: slog.New(slog.NewJSONHandler(io.Discard, &slog.HandlerOptions{Level: slog.LevelInfo})),
	})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { _ = gw.Close(context.Background()) })
	return gw
}

func benchQuery(b *testing.B, body string, vars map[string]string, header ...string) {
	h := benchHandler(b, vars)
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req := httptest.NewRequest(http.MethodPost, "/query", bytes.NewReader([]byte(body)))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer bench-token")
			for i := 0; i+1 < len(header); i += 2 {
				req.Header.Set(header[i], header[i+1])
			}
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != http.StatusOK || rec.Header().Get("Content-Encoding") == "" && bytes.Contains(rec.Body.Bytes(), []byte(`"errors"`)) {
				b.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
		}
	})
}

func BenchmarkQ1(b *testing.B) { benchQuery(b, benchQ1, nil) }
func BenchmarkQ2(b *testing.B) { benchQuery(b, benchQ2, nil) }

// BenchmarkConnection is Q1's page as a connection: first: 20, every field
// of each node, a cursor each, and hasNextPage.
func BenchmarkConnection(b *testing.B) {
	benchQuery(b, `{"query":"{ customersConnection(first: 20) { edges { cursor node { id name contact { email } verified status subscriptionType createdAt updatedAt lastLogin } } pageInfo { hasNextPage endCursor } } }"}`, nil)
}

// BenchmarkQ1DistinctTokens is a request that nothing can share: every
// request has a token of its own, so neither request coalescing, the
// answer cache nor upstream coalescing helps, and each one costs a whole
// page of every field: parsing, an upstream call, decoding, resolving and
// rendering. The configuration is the default, as in the peer harness.
func BenchmarkQ1DistinctTokens(b *testing.B) {
	h := benchHandler(b, nil)
	var n atomic.Int64
	b.ReportAllocs()
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req := httptest.NewRequest(http.MethodPost, "/query", bytes.NewReader([]byte(benchQ1)))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer bench-token-"+strconv.FormatInt(n.Add(1), 10))
			rec := httptest.NewRecorder()
			h.ServeHTTP(rec, req)
			if rec.Code != http.StatusOK || bytes.Contains(rec.Body.Bytes(), []byte(`"errors"`)) {
				b.Fatalf("status %d: %s", rec.Code, rec.Body)
			}
		}
	})
}

// BenchmarkQ1Gzip is BenchmarkQ1 for a browser: the answer is compressed.
func BenchmarkQ1Gzip(b *testing.B) { benchQuery(b, benchQ1, nil, "Accept-Encoding", "gzip") }

// benchServerQuery drives the gateway over real HTTP with many concurrent
// identical clients, as the peer harness does (request coalescing at work).
func benchServerQuery(b *testing.B, body string, vars map[string]string) {
	srv := httptest.NewServer(benchHandler(b, vars))
	b.Cleanup(srv.Close)
	client := srv.Client()
	client.Transport.(*http.Transport).MaxIdleConnsPerHost = 64
	b.ReportAllocs()
	b.SetParallelism(16)
	b.ResetTimer()
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			req, _ := http.NewRequest(http.MethodPost, srv.URL+"/query", bytes.NewReader([]byte(body)))
			req.Header.Set("Content-Type", "application/json")
			req.Header.Set("Authorization", "Bearer bench-token")
			// As wrk in the peer harness: uncompressed (Go's client would
			// ask for gzip otherwise).
			req.Header.Set("Accept-Encoding", "identity")
			resp, err := client.Do(req)
			if err != nil {
				b.Fatal(err)
			}
			_, _ = io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != http.StatusOK {
				b.Fatalf("status %d", resp.StatusCode)
			}
		}
	})
}

func BenchmarkQ1Concurrent(b *testing.B) { benchServerQuery(b, benchQ1, nil) }
func BenchmarkQ2Concurrent(b *testing.B) { benchServerQuery(b, benchQ2, nil) }
