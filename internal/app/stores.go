package app

import (
	"log/slog"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/prometheus/client_golang/prometheus"

	"github.com/botpenguin-gateway/gateway/internal/config"
	"github.com/botpenguin-gateway/gateway/internal/idempotency"
	"github.com/botpenguin-gateway/gateway/internal/redisstore"
	"github.com/botpenguin-gateway/gateway/upstream"
)

// apqTTL is how long Redis keeps a persisted query; a client that sends an
// expired hash sends its document again.
const apqTTL = 24 * time.Hour

// stores are the caches: the upstream page cache (CACHE_TTL) and the
// persisted queries, in memory, and in Redis too when REDIS_URL is set.
type stores struct {
	upstreamOpts []upstream.Option
	apq          graphql.Cache[string] // nil: the gateway's own memory store
	idempotency  *idempotency.Keeper
	close        func()
}

// idempotencyPendingMargin is how much longer than REQUEST_TIMEOUT a create
// holds its key: past that its request has surely ended.
const idempotencyPendingMargin = 10 * time.Second

func newStores(cfg config.Config, log *slog.Logger, reg prometheus.Registerer) (stores, error) {
	s := stores{close: func() {}}
	pending := time.Minute
	if cfg.RequestTimeout > 0 {
		pending = cfg.RequestTimeout + idempotencyPendingMargin
	}
	keeper := idempotency.Options{Secret: []byte(cfg.CacheKeySecret), PendingFor: pending}
	var shared *redisstore.Store
	if cfg.RedisURL != "" {
		store, err := redisstore.New(cfg.RedisURL, log, reg)
		if err != nil {
			return s, err
		}
		shared, s.close = store, func() { _ = store.Close() }
		s.apq = store.APQCache(lru.New[string](1000), apqTTL)
		// While Redis is unreachable a create with a key is refused (the
		// client retries): on this replica alone a key would not hold.
		s.idempotency = idempotency.NewKeeper(store.Idempotency(), keeper)
	} else {
		s.idempotency = idempotency.NewKeeper(idempotency.NewMemoryStore(idempotency.DefaultMemoryRecords), keeper)
	}
	if cfg.CacheTTL > 0 {
		var cache upstream.Cache[upstream.Page] = upstream.NewMemoryCache[upstream.Page](cfg.CacheMaxEntries)
		if shared != nil {
			cache = shared.PageCache(cache, cfg.CacheTTL)
		}
		s.upstreamOpts = append(s.upstreamOpts, upstream.WithCache(cache, cfg.CacheTTL, cfg.CacheStaleIfError))
		if cfg.CacheKeySecret != "" {
			s.upstreamOpts = append(s.upstreamOpts, upstream.WithCacheKeySecret([]byte(cfg.CacheKeySecret)))
		}
	}
	return s, nil
}
