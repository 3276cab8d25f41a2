// Command gateway serves BotPenguin partner agencies' customers as a typed
// GraphQL API. See README.md.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/signal"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/botpenguin-gateway/gateway/internal/config"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"

	"github.com/botpenguin-gateway/gateway/internal/httpserver"
	"github.com/botpenguin-gateway/gateway/upstream"
	"github.com/botpenguin-gateway/gateway/upstream/upstreamtest"
)

func main() {
	if err := run(context.Background(), os.Args[1:], os.Getenv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
}

// demoKey is the server key of -demo mode; the embedded upstream accepts it.
const demoKey = "demo-key"

// defaultGCPercent is the garbage collector's target unless GOGC is set.
const defaultGCPercent = 300

// logFlushInterval bounds how late a log line is written.
const logFlushInterval = 100 * time.Millisecond

// readTimeout bounds reading a request, body included.
const readTimeout = 30 * time.Second

// answerWriteGrace is how long rendering and writing an answer may take
// once its operation's REQUEST_TIMEOUT has passed.
const answerWriteGrace = 10 * time.Second

// writeTimeout is the server's WriteTimeout, which runs from the end of a
// request's headers: reading its body, then its operation's REQUEST_TIMEOUT
// (which starts once the body is read), then writing the answer. An
// operation that runs out thus answers with its REQUEST_TIMEOUT error, and
// the connection is cut only when writing the answer itself stalls.
func writeTimeout(requestTimeout time.Duration) time.Duration {
	return readTimeout + requestTimeout + answerWriteGrace
}

// shutdownGrace is how long in-flight requests get to finish on SIGTERM
// once the listener is closed: long enough for an operation that has just
// started to run out its REQUEST_TIMEOUT and write its answer.
func shutdownGrace(requestTimeout time.Duration) time.Duration {
	return requestTimeout + answerWriteGrace
}

func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	flags := flag.NewFlagSet("gateway", flag.ContinueOnError)
	flags.SetOutput(stderr)
	demo := flags.Bool("demo", false, "serve against an embedded sample upstream: no key, no network")
	demoLatency := flags.Duration("demo-latency", 0, "with -demo: delay every sample upstream answer, to see loading states")
	addr := flags.String("addr", "", "listen address (overrides ADDR)")
	if err := flags.Parse(args); err != nil {
		return err
	}

	if *demo {
		fake := upstreamtest.NewServer(upstreamtest.WithLatency(*demoLatency))
		defer fake.Close()
		getenv = demoEnv(getenv, fake.URL)
	}
	cfg, err := config.Load(getenv)
	if err != nil {
		return err
	}
	if getenv("GOGC") == "" {
		// The live heap is a few MB; collecting at 4× instead of 2× of it
		// costs about 10 MB and saves a fifth of the CPU per request.
		debug.SetGCPercent(defaultGCPercent)
	}
	if *addr != "" {
		cfg.Addr = *addr
	}

	logOut := httpserver.NewBufferedWriter(stderr, logFlushInterval)
	defer logOut.Close()
	log := slog.New(httpserver.LogHandler(slog.NewJSONHandler(logOut, &slog.HandlerOptions{Level: cfg.LogLevel})))
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	tracer, stopTracing, err := newTracerProvider(getenv)
	if err != nil {
		return err
	}
	defer func() { _ = stopTracing(context.Background()) }()

	caches, err := newStores(cfg, log, reg)
	if err != nil {
		return err
	}
	defer caches.close()

	upstreamOpts := []upstream.Option{
		upstream.WithTimeout(cfg.UpstreamTimeout),
		upstream.WithRetries(cfg.UpstreamRetries, cfg.UpstreamRetryMaxWait),
		upstream.WithBreaker(cfg.BreakerCooldown),
		upstream.WithMaxConcurrency(cfg.UpstreamConcurrency),
		upstream.WithMetrics(reg),
		upstream.WithLogger(log),
	}
	if tracer != nil {
		upstreamOpts = append(upstreamOpts, upstream.WithTransportWrapper(func(rt http.RoundTripper) http.RoundTripper {
			return otelhttp.NewTransport(rt, otelhttp.WithTracerProvider(tracer), otelhttp.WithPropagators(httpserver.Propagator()))
		}))
	}
	client, err := upstream.New(cfg.BaseURL, append(upstreamOpts, caches.upstreamOpts...)...)
	if err != nil {
		return fmt.Errorf("BOTPENGUIN_BASE_URL: %w", err)
	}
	gw := httpserver.New(cfg, httpserver.Deps{
		Logger: log, Registry: reg, Fetch: client.ListCustomers,
		APQCache: caches.apq, TracerProvider: tracer,
	})

	srv := &http.Server{
		Handler:           gw,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout(cfg.RequestTimeout),
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	ln, err := net.Listen("tcp", cfg.Addr)
	if err != nil {
		return fmt.Errorf("ADDR: %w", err)
	}
	// The main server first: it is shut down first, and metrics stay
	// scrapable while it drains.
	servers := []listening{{srv, ln}}
	if cfg.MetricsAddr != "" {
		metricsLn, err := net.Listen("tcp", cfg.MetricsAddr)
		if err != nil {
			ln.Close()
			return fmt.Errorf("METRICS_ADDR: %w", err)
		}
		servers = append(servers, listening{metricsServer(httpserver.MetricsHandler(reg), log), metricsLn})
		log.Info("metrics listening", slog.String("addr", metricsLn.Addr().String()))
	}
	if *demo {
		fmt.Fprintf(stdout, "demo: GraphiQL on http://%s/ (sample upstream, no key needed)\n", browsable(ln.Addr()))
	}
	log.Info("gateway listening", slog.String("addr", ln.Addr().String()),
		slog.Bool("server_key_mode", cfg.APIKey != ""), slog.Bool("demo", *demo))

	serveErr := make(chan error, len(servers))
	for _, s := range servers {
		go func() { serveErr <- s.srv.Serve(s.ln) }()
	}
	closeAll := func() {
		for _, s := range servers {
			s.srv.Close()
		}
	}
	select {
	case err := <-serveErr:
		closeAll()
		return err
	case <-ctx.Done():
	}
	// A second signal ends the process at once, the signals' default.
	stop()
	// Unready first, still serving: load balancers need a few probes to
	// notice before the listener closes. Connections close after their
	// next answer, so that clients reconnect to other replicas.
	log.Info("shutting down: unready, still serving", slog.Duration("delay", cfg.ShutdownDelay))
	gw.Drain()
	srv.SetKeepAlivesEnabled(false)
	select {
	case err := <-serveErr:
		closeAll()
		return err
	case <-time.After(cfg.ShutdownDelay):
	}
	log.Info("shutting down: listener closed, finishing in-flight requests")
	shutdownCtx, cancel := context.WithTimeout(context.Background(), shutdownGrace(cfg.RequestTimeout))
	defer cancel()
	for _, s := range servers {
		if err := s.srv.Shutdown(shutdownCtx); err != nil {
			closeAll()
			return fmt.Errorf("shutdown: %w", err)
		}
	}
	for range servers {
		if err := <-serveErr; !errors.Is(err, http.ErrServerClosed) {
			return err
		}
	}
	return nil
}

// listening is a server and the listener it serves.
type listening struct {
	srv *http.Server
	ln  net.Listener
}

// metricsServer serves METRICS_ADDR: scrapes are small and quick, so its
// timeouts are short.
func metricsServer(h http.Handler, log *slog.Logger) *http.Server {
	return &http.Server{
		Handler:           h,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
	}
}

// demoEnv is the environment of -demo mode: server-key mode against the
// embedded upstream, open to clients with or without a token. Every other
// variable still comes from the real environment.
func demoEnv(getenv func(string) string, upstreamURL string) func(string) string {
	demo := map[string]string{
		"BOTPENGUIN_BASE_URL":   upstreamURL,
		"BOTPENGUIN_API_KEY":    demoKey,
		"GATEWAY_ACCESS_TOKENS": "",
		"ALLOW_UNAUTHENTICATED": "true",
	}
	return func(name string) string {
		if v, ok := demo[name]; ok {
			return v
		}
		return getenv(name)
	}
}

// browsable turns a listen address like [::]:8080 into one a browser can open.
func browsable(a net.Addr) string {
	tcp, ok := a.(*net.TCPAddr)
	if !ok || tcp.IP.IsUnspecified() {
		if ok {
			return fmt.Sprintf("localhost:%d", tcp.Port)
		}
	}
	return a.String()
}
