// Package redisstore keeps the gateway's shared state in Redis, so that
// every replica sees it: the upstream page cache and the automatic
// persisted queries. Redis is an optimization, never a dependency: when it
// is unreachable, at start or later, reads miss and writes are dropped, the
// gateway serves from the upstream and memory, and it tries Redis again a
// moment later.
package redisstore

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/redis/go-redis/v9"
)

// Timeouts are short: a slow Redis must cost a request little.
const (
	dialTimeout = 200 * time.Millisecond
	ioTimeout   = 100 * time.Millisecond
	opTimeout   = 150 * time.Millisecond
	// retryAfter is how long Redis is left alone after a failure.
	retryAfter = time.Second
	// keyPrefix keeps the gateway's keys apart in a shared Redis.
	keyPrefix = "gw:"
)

// Store is a Redis connection with the gateway's failure policy.
type Store struct {
	client *redis.Client
	log    *slog.Logger
	now    func() time.Time

	mu        sync.Mutex
	downUntil time.Time // Redis is skipped until then
	down      bool      // last known state, for logging transitions once

	up     prometheus.Gauge
	errors *prometheus.CounterVec
}

// New connects lazily to the Redis at rawURL
// (redis://[:password@]host:port/db). It fails only on a malformed URL,
// and its error never holds the password.
func New(rawURL string, log *slog.Logger, reg prometheus.Registerer) (*Store, error) {
	opts, err := redis.ParseURL(rawURL)
	if err != nil {
		return nil, errors.New("REDIS_URL: must look like redis://[:password@]host:port/db")
	}
	opts.DialTimeout = dialTimeout
	opts.ReadTimeout = ioTimeout
	opts.WriteTimeout = ioTimeout
	opts.PoolTimeout = ioTimeout
	opts.MaxRetries = -1 // a failed command is a miss, not a reason to wait
	opts.DialerRetries = 1
	opts.PoolSize = 64
	s := &Store{
		client: redis.NewClient(opts),
		log:    log,
		now:    time.Now,
		up: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "gateway_redis_up",
			Help: "1 when the last Redis command succeeded, 0 when Redis is being skipped.",
		}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gateway_redis_errors_total",
			Help: "Failed Redis commands, by operation.",
		}, []string{"op"}),
	}
	s.up.Set(1)
	reg.MustRegister(s.up, s.errors)
	return s, nil
}

// Close closes the connections.
func (s *Store) Close() error { return s.client.Close() }

// available reports whether Redis should be tried now.
func (s *Store) available() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return !s.now().Before(s.downUntil)
}

// done records the outcome of a command made for the caller's ctx: the
// first failure after success is logged once, and so is the recovery.
func (s *Store) done(ctx context.Context, op string, err error) {
	if err != nil && ctx.Err() != nil {
		return // the caller went away; says nothing about Redis
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err == nil {
		if s.down {
			s.down = false
			s.up.Set(1)
			s.log.Info("redis available again")
		}
		return
	}
	s.errors.WithLabelValues(op).Inc()
	s.downUntil = s.now().Add(retryAfter)
	if !s.down {
		s.down = true
		s.up.Set(0)
		s.log.Warn("redis unavailable, serving from the upstream and memory", slog.String("error", err.Error()))
	}
}

// get returns the value at key; any failure is a miss.
func (s *Store) get(ctx context.Context, key string) ([]byte, bool) {
	if !s.available() {
		return nil, false
	}
	opCtx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	b, err := s.client.Get(opCtx, keyPrefix+key).Bytes()
	if errors.Is(err, redis.Nil) {
		s.done(ctx, "get", nil)
		return nil, false
	}
	s.done(ctx, "get", err)
	return b, err == nil
}

// set stores value at key for ttl; a failure is dropped. The write goes on
// when the caller has gone away: the value is still worth sharing.
func (s *Store) set(ctx context.Context, key string, value []byte, ttl time.Duration) {
	if !s.available() || ttl <= 0 {
		return
	}
	ctx = context.WithoutCancel(ctx)
	opCtx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	s.done(ctx, "set", s.client.Set(opCtx, keyPrefix+key, value, ttl).Err())
}
