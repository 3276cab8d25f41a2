package main

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/botpenguin-gateway/gateway/internal/redisstore/redistest"
	"github.com/botpenguin-gateway/gateway/upstream/upstreamtest"
)

// replica is one gateway started by run, as the binary runs.
type replica struct {
	base string
}

func startReplica(t *testing.T, vars map[string]string) replica {
	t.Helper()
	ln := loopback(t)
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, nil, env(vars), io.Discard, io.Discard, listeners{main: ln}) }()
	t.Cleanup(func() {
		cancel()
		require.NoError(t, <-done)
	})
	r := replica{base: "http://" + ln.Addr().String()}
	require.Eventually(t, func() bool {
		resp, err := http.Get(r.base + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	}, 10*time.Second, 10*time.Millisecond)
	return r
}

// post sends a GraphQL request body and returns the decoded answer.
func (r replica) post(t *testing.T, token string, body map[string]any) map[string]any {
	t.Helper()
	b, _ := json.Marshal(body)
	req, _ := http.NewRequest(http.MethodPost, r.base+"/query", strings.NewReader(string(b)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := http.DefaultClient.Do(req)
	require.NoError(t, err)
	defer resp.Body.Close()
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	var out map[string]any
	require.NoError(t, json.NewDecoder(resp.Body).Decode(&out))
	return out
}

// metrics returns the replica's /metrics text.
func (r replica) metrics(t *testing.T) string {
	t.Helper()
	resp, err := http.Get(r.base + "/metrics")
	require.NoError(t, err)
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	return string(b)
}

func errorCodes(answer map[string]any) []string {
	var codes []string
	errs, _ := answer["errors"].([]any)
	for _, e := range errs {
		ext, _ := e.(map[string]any)["extensions"].(map[string]any)
		code, _ := ext["code"].(string)
		codes = append(codes, code)
	}
	return codes
}

func TestTwoReplicasShareRedis(t *testing.T) {
	redis := redistest.Start(t)
	up := upstreamtest.NewServer(upstreamtest.WithTenant("tok-alpha", "alpha"), upstreamtest.WithTenant("tok-beta", "beta"))
	t.Cleanup(up.Close)
	vars := map[string]string{
		"BOTPENGUIN_BASE_URL": up.URL,
		"REDIS_URL":           redis.URL,
		"CACHE_TTL":           "30s",
		"CACHE_KEY_SECRET":    "replicas-share-this-secret",
		"LOG_LEVEL":           "error",
	}
	a, b := startReplica(t, vars), startReplica(t, vars)

	t.Run("a persisted query registered on one is served by the other", func(t *testing.T) {
		q := `query Names { customers(page: 3) { nodes { name } } }`
		sum := sha256.Sum256([]byte(q))
		ext := map[string]any{"persistedQuery": map[string]any{"version": 1, "sha256Hash": hex.EncodeToString(sum[:])}}
		assert.Empty(t, errorCodes(a.post(t, "tok-alpha", map[string]any{"query": q, "extensions": ext})))
		answer := b.post(t, "tok-alpha", map[string]any{"extensions": ext})
		assert.Empty(t, errorCodes(answer), "%v", answer)
		assert.Contains(t, mustJSON(answer), "(alpha)")
	})

	t.Run("a page cached by one is served by the other", func(t *testing.T) {
		q := map[string]any{"query": `{ customers(page: 5, sort: NAME) { nodes { id name } } }`}
		first := a.post(t, "tok-alpha", q)
		require.Empty(t, errorCodes(first))
		calls := up.Calls()
		second := b.post(t, "tok-alpha", q)
		assert.Equal(t, first, second)
		assert.Equal(t, calls, up.Calls(), "no upstream call: the page came from Redis")

		// Another token never gets that page.
		other := b.post(t, "tok-beta", q)
		assert.Equal(t, calls+1, up.Calls())
		assert.Contains(t, mustJSON(other), "(beta)")
		assert.NotContains(t, mustJSON(other), "(alpha)")
	})

	t.Run("Redis holds no token", func(t *testing.T) {
		opts, err := goredis.ParseURL(redis.URL)
		require.NoError(t, err)
		raw := goredis.NewClient(opts)
		defer raw.Close()
		ctx := context.Background()
		keys, err := raw.Keys(ctx, "*").Result()
		require.NoError(t, err)
		require.NotEmpty(t, keys)
		for _, k := range keys {
			assert.True(t, strings.HasPrefix(k, "gw:"), k)
			v, err := raw.Get(ctx, k).Result()
			require.NoError(t, err)
			for _, tok := range []string{"tok-alpha", "tok-beta"} {
				assert.NotContains(t, k, tok)
				assert.NotContains(t, v, tok)
			}
		}
	})

	t.Run("Redis going away degrades to upstream calls and memory, no failed request", func(t *testing.T) {
		redis.Stop()
		for page := 6; page <= 10; page++ {
			for _, r := range []replica{a, b} {
				answer := r.post(t, "tok-alpha", map[string]any{"query": `query($p: Int) { customers(page: $p) { nodes { id } } }`, "variables": map[string]any{"p": page}})
				assert.Empty(t, errorCodes(answer), "%v", answer)
			}
		}
		calls := up.Calls()
		for _, r := range []replica{a, b} {
			answer := r.post(t, "tok-alpha", map[string]any{"query": `{ customers(page: 5, sort: NAME) { nodes { id name } } }`})
			assert.Empty(t, errorCodes(answer), "%v", answer)
		}
		assert.Equal(t, calls, up.Calls(), "pages each replica had read are served from its memory")

		q := `query Ids { customers(page: 2) { nodes { id } } }`
		sum := sha256.Sum256([]byte(q))
		ext := map[string]any{"persistedQuery": map[string]any{"version": 1, "sha256Hash": hex.EncodeToString(sum[:])}}
		assert.Empty(t, errorCodes(a.post(t, "tok-alpha", map[string]any{"query": q, "extensions": ext})))
		assert.Empty(t, errorCodes(a.post(t, "tok-alpha", map[string]any{"extensions": ext})), "persisted queries live on in memory")
		for _, r := range []replica{a, b} {
			assert.Contains(t, r.metrics(t), "gateway_redis_up 0")
		}

		redis.Restart()
		page := 100
		require.Eventually(t, func() bool {
			page++ // a page neither replica has in memory
			q := map[string]any{"query": `query($p: Int) { customers(page: $p) { nodes { id } } }`, "variables": map[string]any{"p": page}}
			a.post(t, "tok-alpha", q)
			calls := up.Calls()
			b.post(t, "tok-alpha", q)
			return up.Calls() == calls
		}, 10*time.Second, 200*time.Millisecond, "sharing resumes once Redis is back")
		assert.Contains(t, a.metrics(t), "gateway_redis_up 1")
	})
}

func TestRedisUnreachableAtStart(t *testing.T) {
	up := upstreamtest.NewServer()
	t.Cleanup(up.Close)
	r := startReplica(t, map[string]string{
		"BOTPENGUIN_BASE_URL": up.URL,
		"REDIS_URL":           "redis://" + hangingUp(t) + "/0",
		"CACHE_TTL":           "30s",
		"CACHE_KEY_SECRET":    "replicas-share-this-secret",
		"LOG_LEVEL":           "error",
	})
	answer := r.post(t, "any-token", map[string]any{"query": `{ customers { nodes { id } } }`})
	assert.Empty(t, errorCodes(answer), "%v", answer)
}

// hangingUp is the address of a listener that closes every connection at
// once: a Redis nobody can talk to, on a port nobody else can take.
func hangingUp(t *testing.T) string {
	t.Helper()
	ln := loopback(t)
	go func() {
		for {
			conn, err := ln.Accept()
			if err != nil {
				return // closed at the end of the test
			}
			conn.Close()
		}
	}()
	return ln.Addr().String()
}

func mustJSON(v any) string {
	b, _ := json.Marshal(v)
	return string(b)
}
