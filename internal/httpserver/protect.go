package httpserver

import (
	"net/http"

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

// corsFor lets browsers on the listed origins call /query with credentials;
// every other origin gets no CORS header at all (never "*").
func corsFor(origins []string) func(http.Handler) http.Handler {
	if len(origins) == 0 {
		// rs/cors reads an empty list as "every origin".
		return func(next http.Handler) http.Handler { return next }
	}
	c := cors.New(cors.Options{
		AllowedOrigins:   origins,
		AllowedMethods:   []string{http.MethodGet, http.MethodPost},
		AllowedHeaders:   []string{"Authorization", "Content-Type", "X-Request-ID", "Apollo-Require-Preflight"},
		ExposedHeaders:   []string{"X-Request-ID", "Retry-After"},
		AllowCredentials: true,
		MaxAge:           600,
	})
	return c.Handler
}
