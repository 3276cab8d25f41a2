package gateway

import (
	"crypto/sha256"
	"fmt"
	"math"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	lru "github.com/hashicorp/golang-lru/v2"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/rs/cors"
	"golang.org/x/time/rate"

	"github.com/botpenguin-gateway/gateway/graph"
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

// maxRateLimitedClients bounds the limiters kept; the least recently seen
// client starts over with a full bucket.
const maxRateLimitedClients = 10000

// clientLimiter is a token bucket per client, so that one client cannot use
// up the agency's upstream quota. A client is its bearer token (hashed:
// the limiter keeps no token), or its address when it sends none.
type clientLimiter struct {
	rps      rate.Limit
	burst    int
	mu       sync.Mutex
	limiters *lru.Cache[[sha256.Size]byte, *rate.Limiter]
	refused  prometheus.Counter
}

func newClientLimiter(rps float64, burst int, reg prometheus.Registerer) *clientLimiter {
	limiters, _ := lru.New[[sha256.Size]byte, *rate.Limiter](maxRateLimitedClients)
	l := &clientLimiter{rps: rate.Limit(rps), burst: burst, limiters: limiters,
		refused: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gateway_rate_limited_requests_total",
			Help: "Requests refused by the per-client rate limit.",
		})}
	reg.MustRegister(l.refused)
	return l
}

func (l *clientLimiter) limiter(r *http.Request) *rate.Limiter {
	client := r.Header.Get("Authorization")
	if client == "" {
		client, _, _ = net.SplitHostPort(r.RemoteAddr)
		client = "addr:" + client
	}
	key := sha256.Sum256([]byte(client))
	l.mu.Lock()
	defer l.mu.Unlock()
	lim, ok := l.limiters.Get(key)
	if !ok {
		lim = rate.NewLimiter(l.rps, l.burst)
		l.limiters.Add(key, lim)
	}
	return lim
}

func (l *clientLimiter) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodOptions {
			next.ServeHTTP(w, r)
			return
		}
		res := l.limiter(r).Reserve()
		if delay := res.Delay(); delay > 0 {
			res.Cancel()
			l.refused.Inc()
			seconds := int(math.Ceil(delay.Seconds()))
			w.Header().Set("Retry-After", strconv.Itoa(seconds))
			writeErrorExt(w, http.StatusTooManyRequests, graph.CodeRateLimited,
				fmt.Sprintf("rate limit of %g requests per second exceeded; retry in %s", float64(l.rps), delay.Round(time.Millisecond)),
				map[string]any{"retryAfterSeconds": seconds})
			return
		}
		next.ServeHTTP(w, r)
	})
}
