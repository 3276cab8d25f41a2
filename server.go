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
	"runtime"
	"runtime/debug"
	"syscall"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"

	"github.com/botpenguin-gateway/gateway/graph"
	"github.com/botpenguin-gateway/gateway/internal/app"
	"github.com/botpenguin-gateway/gateway/internal/config"
	"github.com/botpenguin-gateway/gateway/internal/httpserver"
	"github.com/botpenguin-gateway/gateway/internal/onewrite"
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

// run is the program: main hands it the process's arguments, environment
// and output.
func run(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer) error {
	return serve(ctx, args, getenv, stdout, stderr, listeners{})
}

// listeners are what serve listens on instead of ADDR (or -addr) and
// METRICS_ADDR; a nil one is opened from the configuration. Tests hand them
// in, so that no port is chosen, freed and then taken by someone else.
type listeners struct {
	main    net.Listener
	metrics net.Listener
}

// close closes those given; closing one already served and closed is
// harmless.
func (l listeners) close() {
	for _, ln := range []net.Listener{l.main, l.metrics} {
		if ln != nil {
			_ = ln.Close()
		}
	}
}

// listen is the listener given, or else a new one on addr.
func listen(given net.Listener, addr string) (net.Listener, error) {
	if given != nil {
		return given, nil
	}
	return net.Listen("tcp", addr)
}

// serve is run on the listeners given; it owns them, and closes them
// whatever happens.
func serve(ctx context.Context, args []string, getenv func(string) string, stdout, stderr io.Writer, given listeners) error {
	defer given.close()
	ctx, stop := signal.NotifyContext(ctx, os.Interrupt, syscall.SIGTERM)
	defer stop()

	flags := flag.NewFlagSet("gateway", flag.ContinueOnError)
	flags.SetOutput(stderr)
	demo := flags.Bool("demo", false, "serve against an embedded sample upstream: no key, no network")
	demoLatency := flags.Duration("demo-latency", 0, "with -demo: delay every sample upstream answer, to see loading states")
	addr := flags.String("addr", "", "listen address (overrides ADDR)")
	var printSchema schemaFlag
	flags.Var(&printSchema, "print-schema", "print the schema for clients and exit (-print-schema=federation: the subgraph's, as _service gives it)")
	showVersion := flags.Bool("version", false, "print the version, commit and Go version, and exit")
	probe := flags.Bool("healthcheck", false, "GET /healthz of the gateway listening on ADDR (or -addr) here, and exit 0 if it answers 200: for container health checks")
	if err := flags.Parse(args); err != nil {
		return err
	}
	if flags.NArg() > 0 {
		return fmt.Errorf("unexpected argument %q (flags take their value after =, as in -print-schema=federation)", flags.Arg(0))
	}
	if printSchema != "" {
		return printSchema.print(stdout)
	}
	if *showVersion {
		info, ok := debug.ReadBuildInfo()
		printVersion(stdout, version, info, ok)
		return nil
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
		debug.SetGCPercent(app.DefaultGCPercent)
	}
	if *addr != "" {
		cfg.Addr = *addr
	}
	if *probe {
		return healthcheck(ctx, cfg.Addr, stdout)
	}
	// The demo shows every part of the graph, writes and login tokens too.
	cfg.GrantAllScopes = *demo
	if given.main != nil {
		cfg.Addr = given.main.Addr().String()
	}
	if given.metrics != nil {
		// Also keeps /metrics off the main listener.
		cfg.MetricsAddr = given.metrics.Addr().String()
	}

	logOut := httpserver.NewBufferedWriter(stderr, logFlushInterval)
	defer logOut.Close()
	log := slog.New(slog.NewJSONHandler(logOut, &slog.HandlerOptions{Level: cfg.LogLevel}))
	reg := prometheus.NewRegistry()
	reg.MustRegister(collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))

	gw, err := app.New(cfg, app.Deps{Logger: log, Registry: reg})
	if err != nil {
		return err
	}
	defer func() { _ = gw.Close(context.Background()) }()

	srv := &http.Server{
		Handler:           onewrite.Handler(gw),
		ConnContext:       onewrite.ConnContext,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout(cfg.RequestTimeout),
		IdleTimeout:       120 * time.Second,
		MaxHeaderBytes:    64 << 10,
		ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		BaseContext:       func(net.Listener) context.Context { return context.WithoutCancel(ctx) },
	}
	ln, err := listen(given.main, cfg.Addr)
	if err != nil {
		return fmt.Errorf("ADDR: %w", err)
	}
	defer ln.Close()
	// The main server first: it is shut down first, and metrics stay
	// scrapable while it drains.
	servers := []listening{{srv, onewrite.Listener(ln)}}
	if cfg.MetricsAddr != "" {
		metricsLn, err := listen(given.metrics, cfg.MetricsAddr)
		if err != nil {
			return fmt.Errorf("METRICS_ADDR: %w", err)
		}
		defer metricsLn.Close()
		servers = append(servers, listening{metricsServer(gw.MetricsHandler(), log), metricsLn})
		log.Info("metrics listening", slog.String("addr", metricsLn.Addr().String()))
	}
	if *demo {
		fmt.Fprintf(stdout, "demo: GraphiQL on http://%s/ (sample upstream, no key needed)\n", browsable(ln.Addr()))
	}
	// The scheduler threads are logged because a container's CPU limit does
	// not always reach them (see the README's Deployment).
	log.Info("gateway listening", slog.String("addr", ln.Addr().String()),
		slog.Bool("server_key_mode", cfg.APIKey != ""), slog.Bool("demo", *demo),
		slog.Int("gomaxprocs", runtime.GOMAXPROCS(0)))

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

// schemaFlag is -print-schema: "public" alone (the schema for clients and
// code generators), or "federation" (the subgraph's SDL).
type schemaFlag string

func (f *schemaFlag) String() string   { return string(*f) }
func (f *schemaFlag) IsBoolFlag() bool { return true }

func (f *schemaFlag) Set(v string) error {
	switch v {
	case "true", "public":
		*f = "public"
	case "federation":
		*f = "federation"
	case "false":
		*f = ""
	default:
		return fmt.Errorf("want -print-schema, -print-schema=public or -print-schema=federation, got %q", v)
	}
	return nil
}

func (f schemaFlag) print(w io.Writer) error {
	sdl := graph.SubgraphSDL()
	if f == "public" {
		var err error
		if sdl, err = graph.PublicSDL(); err != nil {
			return err
		}
	}
	_, err := io.WriteString(w, sdl)
	return err
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
		"GATEWAY_WRITE_TOKENS":  "",
		"GATEWAY_LOGIN_TOKENS":  "",
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
