// Package gateway assembles the HTTP side of the gateway: configuration,
// routes, the GraphQL handler with its extensions, metrics and request logs.
package httpserver

import (
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"runtime"
	"runtime/debug"
	"sync/atomic"
	"time"

	"github.com/botpenguin-gateway/gateway/internal/config"
	"github.com/botpenguin-gateway/gateway/upstream"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/extension"
	"github.com/99designs/gqlgen/graphql/handler/lru"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/promhttp"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
	"go.opentelemetry.io/otel/trace"

	"github.com/botpenguin-gateway/gateway/graph"
	"github.com/botpenguin-gateway/gateway/graph/loader"
	"github.com/botpenguin-gateway/gateway/internal/auth"
	"github.com/botpenguin-gateway/gateway/internal/bufpool"
	"github.com/botpenguin-gateway/gateway/internal/graphiql"
	"github.com/botpenguin-gateway/gateway/internal/idempotency"
	"github.com/botpenguin-gateway/gateway/internal/onewrite"
)

// Deps are the gateway's collaborators, built by the caller.
type Deps struct {
	Logger   *slog.Logger
	Registry *prometheus.Registry
	// Customers is the upstream's customer list (upstream.Client.Customers).
	Customers graph.Customers
	// Users serves login tokens (upstream.Client.Users).
	Users graph.Users
	// Creator creates customers (upstream.Client.Customers).
	Creator graph.Creator
	// Idempotency runs creates once per idempotency key; nil keeps keys in
	// this process's memory.
	Idempotency *idempotency.Keeper
	// Generation names the upstream cache's state for a credential
	// (upstream.Client.Generation), so that cached answers go when a write
	// drops its pages; nil: answers stay until they expire.
	Generation func(context.Context, upstream.Token) string
	// APQCache stores automatic persisted queries; nil is an in-memory LRU.
	APQCache graphql.Cache[string]
	// TracerProvider records spans; nil records none.
	TracerProvider trace.TracerProvider
	// Now is the rate limit's clock; nil is time.Now.
	Now func() time.Time
}

// Gateway is the gateway's HTTP handler.
type Gateway struct {
	mux      *http.ServeMux
	handler  http.Handler
	draining atomic.Bool
}

// apqMemoryEntries bounds the in-memory store of persisted queries.
const apqMemoryEntries = 1000

// validatedDocuments is how many parsed and validated query documents
// gqlgen keeps, and how many operations' complexities are kept.
const validatedDocuments = 1000

// idBatchWait is how long customer ids of one operation are gathered
// before their scan starts.
const idBatchWait = time.Millisecond

// The lookup index (see loader.Index): 100,000 ids and emails (2,500
// pages of 20 customers, 3.2 MB outside the Go heap when full), each used
// for 5 minutes after its page was fetched. Every entry is checked on use,
// so its age bounds only how often a customer that moved costs one wasted
// page before the scan.
const (
	lookupIndexEntries = 100_000
	lookupIndexMaxAge  = 5 * time.Minute
)

// scanWindow is how many pages a customer(id) scan fetches at once: 4, and
// at most a quarter of UPSTREAM_MAX_CONCURRENCY, so that scans leave most
// upstream slots to other requests.
func scanWindow(upstreamConcurrency int) int {
	if upstreamConcurrency == 0 { // no limit
		return 4
	}
	return min(4, max(1, upstreamConcurrency/4))
}

// New builds the gateway's handler.
func New(cfg config.Config, deps Deps) *Gateway {
	deps.Logger = slog.New(LogHandler(deps.Logger.Handler()))
	m := newMetrics(deps.Registry)
	g := &Gateway{mux: http.NewServeMux()}
	authn := auth.New(auth.Config{
		ServerKey:            cfg.APIKey,
		AccessTokens:         cfg.AccessTokens,
		WriteTokens:          cfg.WriteTokens,
		LoginTokens:          cfg.LoginTokens,
		AllowUnauthenticated: cfg.AllowUnauthenticated,
		ReadOnly:             cfg.ReadOnly,
		GrantAll:             cfg.GrantAllScopes,
	})
	var limiter *clientLimiter
	if cfg.RateLimitRPS > 0 {
		burst := cfg.RateLimitBurst
		if burst == 0 {
			burst = max(1, int(2*cfg.RateLimitRPS))
		}
		limiter = newClientLimiter(limiterOptions{
			rps: cfg.RateLimitRPS, burst: burst, passThrough: !authn.ServerKeyMode(),
			trustedProxies: cfg.TrustedProxies, now: deps.Now,
		}, deps.Registry)
		if !authn.ServerKeyMode() {
			deps.Customers = limiter.learnTokens(deps.Customers)
			if deps.Creator != nil {
				deps.Creator = limiter.learnTokensFromCreates(deps.Creator)
			}
		}
	}

	gql := newGraphQLHandler(cfg, deps, m)
	compress := func(h http.Handler) http.Handler { return h }
	if cfg.CompressResponses {
		compress = compressor()
	}
	executor := compress(graphQLOverHTTP(gql))
	if cfg.CoalesceRequests {
		answers := newAnswerCache(cfg.CacheTTL, cfg.CacheMaxEntries, deps.Registry)
		executor = newRequestCoalescer(deps.Registry, answers, deps.Generation).middleware(executor)
	}
	executor = withRequestTimeout(cfg.RequestTimeout, executor)
	query := limitBody(cfg.MaxBodyBytes, holdAnswers(executor))
	if limiter != nil {
		// After auth, which resolves who the client is, and before the body
		// is read: a limited client costs no more than its headers.
		query = limiter.middleware(query)
	}
	query = authn.Middleware(query)
	logged := logRequests(deps.Logger, m, corsFor(cfg.CORSAllowedOrigins, deps.Logger)(query))
	if deps.TracerProvider != nil {
		logged = tracing(deps.TracerProvider, logged)
	}
	for _, method := range []string{"GET", "POST", "OPTIONS"} {
		g.mux.Handle(method+" /query", logged)
	}
	if cfg.Playground {
		// Only -demo grants every scope; there the examples run as they are.
		page := compress(graphiql.Handler("/query", graphiql.Options{Demo: cfg.GrantAllScopes}))
		g.mux.Handle("GET /{$}", page)
		g.mux.Handle("GET /graphiql/", page)
	}
	g.mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		_, _ = w.Write([]byte("ok\n"))
	})
	g.mux.HandleFunc("GET /readyz", func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "text/plain; charset=utf-8")
		if g.draining.Load() {
			w.WriteHeader(http.StatusServiceUnavailable)
			_, _ = w.Write([]byte("draining\n"))
			return
		}
		_, _ = w.Write([]byte("ready\n"))
	})
	if cfg.MetricsAddr == "" {
		g.mux.Handle("GET /metrics", metricsPage(deps.Registry))
	}
	g.handler = securityHeaders(g.mux)
	return g
}

// holdAnswers makes every answer of next leave in one write with its
// header (see onewrite): what it writes, it writes whole, once the body
// has been read.
func holdAnswers(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		onewrite.Hold(r.Context())
		next.ServeHTTP(w, r)
	})
}

// ServeHTTP serves every route of the gateway.
func (g *Gateway) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	g.handler.ServeHTTP(w, r)
}

// Drain makes /readyz fail, so that load balancers stop sending new
// traffic while in-flight requests finish.
func (g *Gateway) Drain() { g.draining.Store(true) }

// MetricsHandler serves GET /metrics alone, for the listener of
// METRICS_ADDR.
func MetricsHandler(reg *prometheus.Registry) http.Handler {
	mux := http.NewServeMux()
	mux.Handle("GET /metrics", metricsPage(reg))
	return securityHeaders(mux)
}

func metricsPage(reg *prometheus.Registry) http.Handler {
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{})
}

func newGraphQLHandler(cfg config.Config, deps Deps, m *metrics) *handler.Server {
	resolver := graph.NewResolver(deps.Customers, graph.Options{
		Logger: deps.Logger, MaxPage: cfg.MaxPage, Users: deps.Users, TokenReads: m.tokenReads,
		Creator: deps.Creator, Idempotency: deps.Idempotency, Creates: m.creates,
		Loaders: loader.Options{
			ScanMaxPages: cfg.ScanMaxPages, IDBatchWait: idBatchWait,
			ScanWindow: scanWindow(cfg.UpstreamConcurrency),
			Index:      loader.NewIndex(lookupIndexEntries, lookupIndexMaxAge),
		},
	})
	srv := handler.New(graph.NewExecutableSchema(graph.Config{Resolvers: resolver, Complexity: graph.NewComplexity()}))
	srv.AddTransport(transport.Options{})
	srv.AddTransport(getQueriesOnly{})
	srv.AddTransport(postTransport{buffers: &bufpool.Pool{}})
	validated := lru.New[*ast.QueryDocument](validatedDocuments)
	srv.SetQueryCache(validated)
	srv.SetParserTokenLimit(cfg.MaxTokens)
	// gqlgen's Introspection extension also enables _service; the switch
	// for clients is noIntrospection.
	srv.Use(extension.Introspection{})
	if !cfg.Introspection {
		srv.Use(noIntrospection{})
	}
	if cfg.TrustedDocuments != nil {
		srv.Use(trustedOnly{cfg.TrustedDocuments})
	} else {
		apq := deps.APQCache
		if apq == nil {
			apq = lru.New[string](apqMemoryEntries)
		}
		srv.Use(extension.AutomaticPersistedQuery{Cache: noInlineSecrets{Cache: apq, maxTokens: cfg.MaxTokens}})
	}
	// After the persisted-query extensions: a hash is checked as the
	// document it stands for.
	limits := newDocumentLimits(maxima{
		tokens: cfg.MaxTokens, fields: cfg.MaxFields, fragments: cfg.MaxFragments,
		directives: cfg.MaxDirectives, depth: cfg.MaxDepth, aliases: cfg.MaxAliases,
	}, validated, deps.Registry)
	srv.Use(limits)
	if cfg.MaxComplexity > 0 {
		srv.Use(newComplexityLimit(cfg.MaxComplexity, limits.refused))
	}
	srv.SetErrorPresenter(graph.NewErrorPresenter(deps.Logger))
	srv.SetRecoverFunc(func(ctx context.Context, v any) error {
		deps.Logger.LogAttrs(ctx, slog.LevelError, "panic while resolving",
			slog.String("panic", panicSummary(v)), slog.String("stack", string(debug.Stack())))
		err := gqlerror.Errorf("internal error")
		err.Extensions = map[string]any{"code": graph.CodeInternal}
		return err
	})
	if deps.TracerProvider != nil {
		srv.AroundOperations(operationSpans(deps.TracerProvider))
	}
	srv.AroundOperations(resolver.WithLoaders)
	srv.AroundOperations(shareQueriesOnly)
	srv.AroundOperations(answerTimedOut)
	srv.AroundFields(graph.RenderCustomerLists)
	srv.AroundResponses(func(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
		resp := next(ctx)
		recordResponse(ctx, resp)
		return resp
	})
	return srv
}

// panicSummary is what the log says of a panic's value. A value may hold
// whatever the code that panicked held (a request with its credential, a
// password, a login token), so only the runtime's own errors, which name
// types, indexes and lengths, are printed; of any other value its type.
// The stack says where it happened.
func panicSummary(v any) string {
	if err, ok := v.(runtime.Error); ok {
		return err.Error()
	}
	return fmt.Sprintf("a panic with a value of type %T (not logged: it may hold a secret)", v)
}
