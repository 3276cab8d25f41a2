// Package redisstore keeps the gateway's shared state in Redis, so that
// every replica sees it: the upstream page cache, the automatic persisted
// queries and the idempotency records of creates. Redis is an optimization, never a dependency: when it
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
	// opTimeout bounds one command, a fresh connection included.
	opTimeout = dialTimeout + ioTimeout
	// retryAfter is how long Redis is left alone after it was unreachable.
	retryAfter = time.Second
	// refusalLogEvery spaces out the log lines of commands Redis refused
	// (out of memory, read-only replica): they may come with every write.
	refusalLogEvery = time.Minute
	// keyPrefix keeps the gateway's keys apart in a shared Redis.
	keyPrefix = "gw:"
)

// Store is a Redis connection with the gateway's failure policy.
type Store struct {
	client *redis.Client
	log    *slog.Logger
	now    func() time.Time

	mu          sync.Mutex
	downUntil   time.Time // Redis is skipped until then
	down        bool      // last known state, for logging transitions once
	probing     bool      // a command is trying whether Redis is back
	lastRefusal time.Time // when a refused command was last logged

	up     prometheus.Gauge
	errors *prometheus.CounterVec
}

// New connects to the Redis at rawURL (redis://[:password@]host:port/db)
// and tries it once, which costs at most a few hundred milliseconds: an
// unreachable Redis is logged, and tried again on later commands. New
// fails only on a malformed URL, and its error never holds the password.
func New(rawURL string, log *slog.Logger, reg prometheus.Registerer) (*Store, error) {
	opts, err := redis.ParseURL(rawURL)
	if err != nil {
		return nil, errors.New("REDIS_URL: must look like redis://[:password@]host:port/db")
	}
	opts.DialTimeout = dialTimeout
	opts.ReadTimeout = ioTimeout
	opts.WriteTimeout = ioTimeout
	opts.PoolTimeout = ioTimeout
	opts.ContextTimeoutEnabled = true // opTimeout bounds the whole command
	opts.MaxRetries = -1              // a failed command is a miss, not a reason to wait
	opts.DialerRetries = 1
	opts.PoolSize = 64
	s := &Store{
		client: redis.NewClient(opts),
		log:    log,
		now:    time.Now,
		up: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "gateway_redis_up",
			Help: "1 while Redis is reachable, 0 while it is unreachable and skipped (the gateway serves from the upstream and memory).",
		}),
		errors: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gateway_redis_errors_total",
			Help: "Failed Redis commands (unreachable or refused), by operation: get, set, ping, idempotency.",
		}, []string{"op"}),
	}
	s.up.Set(1)
	reg.MustRegister(s.up, s.errors)

	ctx, cancel := context.WithTimeout(context.Background(), opTimeout)
	defer cancel()
	if err := s.client.Ping(ctx).Err(); err != nil {
		s.done(context.Background(), "ping", err)
	} else {
		log.Info("redis connected", slog.String("addr", opts.Addr), slog.Int("db", opts.DB))
	}
	return s, nil
}

// Close closes the connections.
func (s *Store) Close() error { return s.client.Close() }

// available reports whether Redis should be tried now. While it is
// unreachable, one command is let through after each retryAfter to probe
// it, so that a Redis that swallows packets delays one request, not all
// those that arrive meanwhile.
func (s *Store) available() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.down {
		return true
	}
	if s.probing || s.now().Before(s.downUntil) {
		return false
	}
	s.probing = true
	return true
}

// done records the outcome of a command made for the caller's ctx. When
// Redis is unreachable it is skipped for retryAfter; the first such
// failure after success is logged once, and so is the recovery. A command
// that Redis refused says that Redis is there: it is counted and logged
// now and then, and Redis is not skipped for it.
func (s *Store) done(ctx context.Context, op string, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.probing = false
	if err != nil && ctx.Err() != nil {
		return // the caller went away; says nothing about Redis
	}
	if err != nil {
		s.errors.WithLabelValues(op).Inc()
	}
	if err != nil && unreachable(err) {
		s.downUntil = s.now().Add(retryAfter)
		if !s.down {
			s.down = true
			s.up.Set(0)
			s.log.Warn("redis unavailable, serving from the upstream and memory", slog.String("error", err.Error()))
		}
		return
	}
	if s.down {
		s.down = false
		s.up.Set(1)
		s.log.Info("redis available again")
	}
	if err != nil && s.now().Sub(s.lastRefusal) >= refusalLogEvery {
		s.lastRefusal = s.now()
		s.log.Warn("redis refused a command", slog.String("op", op), slog.String("error", err.Error()))
	}
}

// unreachable says whether err means that Redis cannot serve at all: no
// connection, a timeout, a full pool, or a server that is loading, full of
// clients or refusing the credentials. Any other error is Redis refusing
// one command, such as a write when it is out of memory.
func unreachable(err error) bool {
	var reply redis.Error
	if !errors.As(err, &reply) {
		return true
	}
	return redis.IsAuthError(err) || redis.IsLoadingError(err) ||
		redis.IsMaxClientsError(err) || redis.IsMasterDownError(err)
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

// set stores value at key for ttl and reports whether Redis took it; most
// callers drop a failure. The write goes on when the caller has gone away:
// the value is still worth sharing.
func (s *Store) set(ctx context.Context, key string, value []byte, ttl time.Duration) bool {
	if ttl <= 0 || !s.available() { // available must be followed by done
		return false
	}
	ctx = context.WithoutCancel(ctx)
	opCtx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	err := s.client.Set(opCtx, keyPrefix+key, value, ttl).Err()
	s.done(ctx, "set", err)
	return err == nil
}

// generation returns the generation at key, and first makes a new one
// there when there is none; ok is false when Redis could not be read.
func (s *Store) generation(ctx context.Context, key string) (gen string, ok bool) {
	if !s.available() { // available must be followed by done
		return "", false
	}
	opCtx, cancel := context.WithTimeout(ctx, opTimeout)
	defer cancel()
	gen, err := s.client.Get(opCtx, keyPrefix+key).Result()
	if errors.Is(err, redis.Nil) {
		// The first lookup since the key expired (or ever): one of the
		// replicas that race here sets it, the others read it.
		fresh := newGeneration()
		var set bool
		set, err = s.client.SetNX(opCtx, keyPrefix+key, fresh, generationTTL).Result()
		switch {
		case err == nil && set:
			gen = fresh
		case err == nil:
			gen, err = s.client.Get(opCtx, keyPrefix+key).Result()
		}
	}
	if errors.Is(err, redis.Nil) { // expired again in between: says nothing about Redis
		s.done(ctx, "get", nil)
		return "", false
	}
	s.done(ctx, "get", err)
	return gen, err == nil
}
