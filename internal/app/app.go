// Package app assembles the whole gateway from its configuration: the
// upstream client with its caches, the Redis tier, tracing and the HTTP
// handler. The binary, the tests and the benchmarks all build it here.
package app

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/trace"

	"github.com/botpenguin-gateway/gateway/internal/config"
	"github.com/botpenguin-gateway/gateway/internal/httpserver"
	"github.com/botpenguin-gateway/gateway/internal/telemetry"
	"github.com/botpenguin-gateway/gateway/upstream"
)

// DefaultGCPercent is the garbage collector's target of the gateway unless
// GOGC is set: the live heap is a few MB, so collecting at 3× instead of
// 2× of it costs a few MB and saves about 6 % of the CPU per request
// (4× would save 4 % more for 8 MB more). The binary sets it at start;
// benchmarks set it to measure what runs.
const DefaultGCPercent = 200

// Deps are what the caller hands the gateway beside its configuration.
// Every field may be left zero.
type Deps struct {
	// Logger receives every log line; nil discards them.
	Logger *slog.Logger
	// Registry receives every metric; nil is a new registry.
	Registry *prometheus.Registry
	// Now is the rate limit's clock; nil is time.Now.
	Now func() time.Time
	// TracerProvider replaces the one cfg describes (OTLPEndpoint); the
	// caller shuts it down.
	TracerProvider trace.TracerProvider
	// UpstreamOptions come after the options cfg gives the upstream
	// client, so they win: a test's fast backoff or its own HTTP client.
	UpstreamOptions []upstream.Option
}

// Gateway is the whole gateway: its HTTP handler and what it holds open.
type Gateway struct {
	handler     *httpserver.Gateway
	registry    *prometheus.Registry
	closeStores func()
	stopTracing func(context.Context) error
}

// New builds the gateway cfg describes. Close releases what it holds.
func New(cfg config.Config, deps Deps) (*Gateway, error) {
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.DiscardHandler)
	}
	// Every line, the upstream client's included, carries its request id.
	log := slog.New(httpserver.LogHandler(deps.Logger.Handler()))
	if deps.Registry == nil {
		deps.Registry = prometheus.NewRegistry()
	}
	g := &Gateway{
		registry:    deps.Registry,
		closeStores: func() {},
		stopTracing: func(context.Context) error { return nil },
	}

	tracer := deps.TracerProvider
	if tracer == nil {
		tp, shutdown, err := telemetry.NewTracerProvider(cfg.OTLPEndpoint, cfg.OTELServiceName)
		if err != nil {
			return nil, err
		}
		tracer, g.stopTracing = tp, shutdown
	}
	caches, err := newStores(cfg, log, deps.Registry)
	if err != nil {
		_ = g.Close(context.Background())
		return nil, err
	}
	g.closeStores = caches.close

	opts := []upstream.Option{
		upstream.WithTimeout(cfg.UpstreamTimeout),
		upstream.WithRetries(cfg.UpstreamRetries, cfg.UpstreamRetryMaxWait),
		upstream.WithBreaker(cfg.BreakerCooldown),
		upstream.WithMaxConcurrency(cfg.UpstreamConcurrency),
		upstream.WithMetrics(deps.Registry),
		upstream.WithLogger(log),
	}
	if tracer != nil {
		opts = append(opts, upstream.WithTransportWrapper(func(rt http.RoundTripper) http.RoundTripper {
			return telemetry.UpstreamTransport(rt, otelhttp.WithTracerProvider(tracer), otelhttp.WithPropagators(httpserver.Propagator()))
		}))
	}
	opts = append(append(opts, caches.upstreamOpts...), deps.UpstreamOptions...)
	client, err := upstream.New(cfg.BaseURL, opts...)
	if err != nil {
		_ = g.Close(context.Background())
		return nil, fmt.Errorf("BOTPENGUIN_BASE_URL: %w", err)
	}
	g.handler = httpserver.New(cfg, httpserver.Deps{
		Logger: log, Registry: deps.Registry, Customers: client.Customers, Users: client.Users,
		Creator: client.Customers, Idempotency: caches.idempotency, Generation: client.Generation,
		APQCache: caches.apq, TracerProvider: tracer, Now: deps.Now,
	})
	return g, nil
}

// ServeHTTP serves every route of the gateway (see httpserver.New).
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.handler.ServeHTTP(w, r)
}

// MetricsHandler serves GET /metrics alone, for the listener of
// METRICS_ADDR.
func (g *Gateway) MetricsHandler() http.Handler {
	return httpserver.MetricsHandler(g.registry)
}

// Drain makes /readyz fail, so that load balancers stop sending new
// traffic while in-flight requests finish.
func (g *Gateway) Drain() { g.handler.Drain() }

// Close disconnects from Redis and flushes the spans not yet exported.
func (g *Gateway) Close(ctx context.Context) error {
	g.closeStores()
	return g.stopTracing(ctx)
}
