package main

import (
	"context"
	"encoding/base64"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	goredis "github.com/redis/go-redis/v9"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/botpenguin-gateway/gateway/internal/redisstore/redistest"
	"github.com/botpenguin-gateway/gateway/upstream/upstreamtest"
)

const replicaCreate = `mutation($input: CreateCustomerInput!) {
  createCustomer(input: $input) { customer { id } userErrors { code } }
}`

const replicaPassword = "pw-CANARY-replicas-0b7f"

func createBody(email, key string) map[string]any {
	return map[string]any{"query": replicaCreate, "variables": map[string]any{"input": map[string]any{
		"email": email, "name": "Grace Hopper", "password": replicaPassword, "idempotencyKey": key,
	}}}
}

func TestTwoReplicasShareCreates(t *testing.T) {
	redis := redistest.Start(t)
	release := make(chan struct{})
	arrived := make(chan string, 8)
	var blockOnce sync.Once
	up := upstreamtest.NewServer(upstreamtest.WithCustomers(40))
	t.Cleanup(up.Close)
	vars := map[string]string{
		"BOTPENGUIN_BASE_URL": up.URL,
		"REDIS_URL":           redis.URL,
		"CACHE_TTL":           "5m",
		"CACHE_KEY_SECRET":    "replicas-share-this-secret",
		"LOG_LEVEL":           "error",
	}
	a, b := startReplica(t, vars), startReplica(t, vars)
	lastPage := map[string]any{"query": `{ customers(page: 3) { nodes { id } } }`}
	const token = "tok-agency"

	t.Run("a create through one drops the cached list of both", func(t *testing.T) {
		for _, r := range []replica{a, b} {
			for range 2 { // the second is answered from the answer cache
				assert.Equal(t, `{"data":{"customers":{"nodes":[]}}}`, mustJSON(r.post(t, token, lastPage)))
			}
		}
		created := a.post(t, token, createBody("grace@example.com", "key-1"))
		id := customerID(t, created)
		for _, r := range []replica{b, a} {
			assert.Contains(t, mustJSON(r.post(t, token, lastPage)), id, "the next list shows the new customer")
		}
	})

	t.Run("a retry through the other replica replays the outcome", func(t *testing.T) {
		first := a.post(t, token, createBody("retry@example.com", "key-2"))
		calls := up.CallsTo(upstreamtest.PathCreate)
		again := b.post(t, token, createBody("retry@example.com", "key-2"))
		assert.Equal(t, first, again)
		assert.Equal(t, calls, up.CallsTo(upstreamtest.PathCreate), "no second create")
		assert.Contains(t, b.metrics(t), `gateway_customer_creates_total{outcome="idempotent_replay"} 1`)
	})

	t.Run("a repeat through the other replica waits for the first", func(t *testing.T) {
		up.SetFault(upstreamtest.OnPath(upstreamtest.PathCreate, upstreamtest.Notify(arrived, func(w http.ResponseWriter, r *http.Request) bool {
			var blocked bool
			blockOnce.Do(func() { blocked = true })
			if blocked {
				<-release
			}
			return false
		})))
		defer up.SetFault(nil)
		calls := up.CallsTo(upstreamtest.PathCreate)
		answers := make([]map[string]any, 2)
		var wg sync.WaitGroup
		wg.Add(2)
		go func() { defer wg.Done(); answers[0] = a.post(t, token, createBody("inflight@example.com", "key-3")) }()
		<-arrived
		go func() { defer wg.Done(); answers[1] = b.post(t, token, createBody("inflight@example.com", "key-3")) }()
		select {
		case <-arrived:
			t.Error("the repeat reached the upstream")
		case <-time.After(200 * time.Millisecond):
		}
		close(release)
		wg.Wait()
		customerID(t, answers[0])
		assert.Equal(t, answers[0], answers[1])
		assert.Equal(t, calls+1, up.CallsTo(upstreamtest.PathCreate))
	})

	t.Run("Redis holds keyed hashes and outcomes, never the password or the token", func(t *testing.T) {
		opts, err := goredis.ParseURL(redis.URL)
		require.NoError(t, err)
		raw := goredis.NewClient(opts)
		defer raw.Close()
		ctx := context.Background()
		keys, err := raw.Keys(ctx, "gw:idem:*").Result()
		require.NoError(t, err)
		assert.Len(t, keys, 3, "one record per key")
		for _, k := range keys {
			v, err := raw.Get(ctx, k).Result()
			require.NoError(t, err)
			ttl, err := raw.TTL(ctx, k).Result()
			require.NoError(t, err)
			assert.InDelta(t, 24*time.Hour, ttl, float64(time.Minute), "kept for 24 hours")
			for _, secret := range []string{replicaPassword, token, "key-1", "key-2", "key-3"} {
				// As sent, and as JSON holds bytes (base64).
				for _, form := range []string{secret, base64.StdEncoding.EncodeToString([]byte(secret)),
					base64.StdEncoding.EncodeToString([]byte(secret))[:len(secret)]} {
					assert.NotContains(t, k, form)
					assert.NotContains(t, v, form)
				}
			}
			assert.True(t, strings.Contains(v, `"done":true`), v)
		}
	})

	t.Run("with Redis gone a create with a key is refused, nothing created", func(t *testing.T) {
		redis.Stop()
		defer redis.Restart()
		calls := up.CallsTo(upstreamtest.PathCreate)
		answer := a.post(t, token, createBody("alone@example.com", "key-4"))
		assert.Equal(t, []string{"UPSTREAM_UNAVAILABLE"}, errorCodes(answer), "%v", answer)
		assert.Contains(t, mustJSON(answer), "try again")
		assert.NotContains(t, mustJSON(answer), "127.0.0.1", "the store's address stays in the logs")
		assert.Equal(t, calls, up.CallsTo(upstreamtest.PathCreate))
		// Without a key the create runs: the upstream's own uniqueness of
		// emails is its guarantee.
		body := createBody("alone@example.com", "")
		delete(body["variables"].(map[string]any)["input"].(map[string]any), "idempotencyKey")
		customerID(t, a.post(t, token, body))
	})
}

func customerID(t *testing.T, answer map[string]any) string {
	t.Helper()
	data, _ := answer["data"].(map[string]any)
	create, _ := data["createCustomer"].(map[string]any)
	c, _ := create["customer"].(map[string]any)
	id, _ := c["id"].(string)
	require.NotEmpty(t, id, "%v", answer)
	return id
}
