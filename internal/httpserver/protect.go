package httpserver

import (
	"log/slog"
	"net/http"
	"slices"
	"strings"

	"github.com/rs/cors"
)

// securityHeaders are set on every response. Pages that need more (the
// GraphiQL page sets its own Content-Security-Policy, and the
// Cross-Origin-Opener-Policy that only documents need) override or add them.
func securityHeaders(next http.Handler) http.Handler {
	// Canonical keys and values built once: this runs on every request.
	// The value slices are shared and never modified. Few on purpose: with
	// the answer's own headers a /query response holds 8, and a ninth turns
	// Go's small header maps into big ones, twice per response.
	headers := map[string][]string{
		"X-Content-Type-Options":  {"nosniff"},
		"Referrer-Policy":         {"no-referrer"},
		"X-Frame-Options":         {"DENY"},
		"Content-Security-Policy": {"default-src 'none'; frame-ancestors 'none'"},
	}
	hsts := []string{"max-age=31536000"}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		for k, v := range headers {
			h[k] = v
		}
		if r.TLS != nil || r.Header.Get("X-Forwarded-Proto") == "https" {
			h["Strict-Transport-Security"] = hsts
		}
		next.ServeHTTP(w, r)
	})
}

// corsAllowedHeaders are the request headers a preflight may ask for:
// those of GraphQL over HTTP and the gateway, and those that frontend
// stacks add by themselves. Lower case, as browsers send them.
var corsAllowedHeaders = []string{
	"authorization", "content-type", "accept", "x-request-id",
	// W3C trace context and baggage (browser OpenTelemetry), and Sentry's
	// trace header.
	"traceparent", "tracestate", "baggage", "sentry-trace",
	// Apollo Client's client awareness, and the headers that Apollo's CSRF
	// prevention accepts (Apollo Client, urql, Relay setups send them).
	"apollographql-client-name", "apollographql-client-version",
	"apollo-require-preflight", "x-apollo-operation-name",
	// Client identification as GraphQL Hive reads it.
	"graphql-client-name", "graphql-client-version",
	"x-graphql-client-name", "x-graphql-client-version",
}

// corsFor lets browsers on the listed origins call /query with credentials;
// every other origin gets no CORS header at all (never "*"). A refused
// preflight is logged at debug with why: the header, method or origin.
func corsFor(origins []string, log *slog.Logger) func(http.Handler) http.Handler {
	if len(origins) == 0 {
		// rs/cors reads an empty list as "every origin".
		return func(next http.Handler) http.Handler { return next }
	}
	c := cors.New(cors.Options{
		AllowedOrigins:   origins,
		AllowedMethods:   []string{http.MethodGet, http.MethodPost},
		AllowedHeaders:   corsAllowedHeaders,
		ExposedHeaders:   []string{"X-Request-ID", "Retry-After"},
		AllowCredentials: true,
		MaxAge:           600,
	})
	return func(next http.Handler) http.Handler {
		h := c.Handler(next)
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			h.ServeHTTP(w, r)
			if r.Method == http.MethodOptions && r.Header.Get("Access-Control-Request-Method") != "" &&
				w.Header().Get("Access-Control-Allow-Origin") == "" {
				log.LogAttrs(r.Context(), slog.LevelDebug, "CORS preflight refused", preflightRefusal(r)...)
			}
		})
	}
}

// maxLoggedHeader bounds what a refused preflight logs of a header name.
const maxLoggedHeader = 64

// preflightRefusal says why rs/cors refused a preflight, as log
// attributes: the first request header not allowed, else the method, else
// the origin. Header names and the origin are no secret.
func preflightRefusal(r *http.Request) []slog.Attr {
	for _, v := range r.Header.Values("Access-Control-Request-Headers") {
		for name := range strings.SplitSeq(v, ",") {
			name = strings.ToLower(strings.TrimSpace(name))
			if name != "" && !slices.Contains(corsAllowedHeaders, name) {
				return []slog.Attr{slog.String("refused_header", truncate(name, maxLoggedHeader))}
			}
		}
	}
	if m := r.Header.Get("Access-Control-Request-Method"); m != http.MethodGet && m != http.MethodPost {
		return []slog.Attr{slog.String("refused_method", truncate(m, maxLoggedHeader))}
	}
	return []slog.Attr{slog.String("refused_origin", truncate(r.Header.Get("Origin"), maxLoggedHeader))}
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n]
}
