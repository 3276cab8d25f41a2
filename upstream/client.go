// Package upstream is the client of BotPenguin's Partner API, shaped like
// google/go-github: one Client, whose services call the API's resources
// (client.Customers.List), every call built by newRequest and sent by do,
// and answers checked by CheckResponse.
//
// do is the one pipeline of every endpoint (do.go). It maps every failure
// to an *Error wrapping one sentinel (ErrUnauthorized, ErrForbidden,
// ErrRateLimited, ErrUnavailable, ErrBadResponse, and the refusals that an
// endpoint expects: ErrConflict, ErrRejected, ErrNotFound), retries what
// the request's method makes safe to retry, coalesces identical concurrent
// reads and counts its attempts in Prometheus metrics. It never prints a
// token: not in errors, logs or metrics.
//
// Options add resilience, each in its own file: a circuit breaker
// (breaker.go), a bound on concurrent upstream calls (limit.go) and a
// cache of answers with stale-if-error, emptied per credential by
// Client.Invalidate (cache.go, memcache.go).
package upstream

import (
	"context"
	cryptorand "crypto/rand"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/botpenguin-gateway/gateway/internal/bufpool"
	"github.com/botpenguin-gateway/gateway/internal/stackgrow"
	"github.com/botpenguin-gateway/gateway/internal/workers"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/sony/gobreaker/v2"
	"golang.org/x/sync/semaphore"
)

// Defaults, as in the README's configuration table.
const (
	DefaultTimeout      = 10 * time.Second // UPSTREAM_TIMEOUT, per attempt
	DefaultRetries      = 2                // UPSTREAM_RETRIES
	DefaultRetryMaxWait = 2 * time.Second  // UPSTREAM_RETRY_MAX_WAIT

	defaultBackoffBase = 100 * time.Millisecond
	defaultBackoffCap  = 2 * time.Second

	// MaxBodyBytes is the largest successful answer read; a larger one is
	// ErrBadResponse.
	MaxBodyBytes = 32 << 20
)

// Client calls the upstream. It is safe for concurrent use; build one per
// process with New and share it.
type Client struct {
	base    string  // scheme://host[/path], no trailing slash, no userinfo
	baseURL url.URL // base parsed once: url.Parse of every call's URL cost 3 % of a request's CPU
	http    *http.Client
	timeout time.Duration

	retries     int
	maxWait     time.Duration
	backoffBase time.Duration
	backoffCap  time.Duration
	sleep       func(ctx context.Context, d time.Duration) error // injectable for tests
	now         func() time.Time                                 // injectable for tests (WithClock)

	breakerCooldown time.Duration // 0: no breaker
	breaker         *gobreaker.TwoStepCircuitBreaker[struct{}]
	slots           *semaphore.Weighted // nil: no bound on concurrent attempts

	cacheTTL     time.Duration
	staleIfError time.Duration
	keySecret    []byte       // HMAC key of the credentials in coalescing and cache keys
	macs         sync.Pool    // of HMAC hashes keyed with keySecret
	bodies       bufpool.Pool // buffers that answers are read into, given back once decoded

	reg     prometheus.Registerer
	metrics *metrics
	log     *slog.Logger

	wrapTransport func(http.RoundTripper) http.RoundTripper

	optErr error // the first invalid option, reported by New

	pages sharing[Page] // the customer list's coalescing and cache
	calls *workers.Pool // runs the shared calls (see group.do)

	common service // what every service holds: the client

	// Customers calls the customer endpoints.
	Customers *CustomersService
	// Users calls the user endpoints (login tokens).
	Users *UsersService
}

// service is what a service of the client holds; each service is this
// type under its own name, as in go-github.
type service struct {
	client *Client
}

// Option configures a Client in New.
type Option func(*Client)

// WithHTTPClient replaces the default http.Client (whose Transport is tuned
// for many concurrent calls to one host and which follows no redirects).
// The per-attempt timeout still applies through the request context.
func WithHTTPClient(hc *http.Client) Option {
	return func(c *Client) {
		if hc == nil {
			c.setErr(errors.New("upstream: WithHTTPClient: nil client"))
			return
		}
		c.http = hc
	}
}

// WithTransportWrapper wraps the default tuned transport, e.g. to trace
// every upstream call. It has no effect with WithHTTPClient.
func WithTransportWrapper(wrap func(http.RoundTripper) http.RoundTripper) Option {
	return func(c *Client) { c.wrapTransport = wrap }
}

// WithTimeout bounds one attempt, body read included (UPSTREAM_TIMEOUT).
// The default is DefaultTimeout.
func WithTimeout(d time.Duration) Option {
	return func(c *Client) {
		if d <= 0 {
			c.setErr(fmt.Errorf("upstream: timeout must be positive, got %s", d))
			return
		}
		c.timeout = d
	}
}

// WithRetries sets how many extra attempts follow a 5xx, a timeout or a
// refused connection (UPSTREAM_RETRIES), with exponential backoff and full
// jitter, and the longest Retry-After of a 429 that is waited for and
// retried (UPSTREAM_RETRY_MAX_WAIT); a 429 asking for longer is returned at
// once. A request that is not idempotent (a POST) is retried only after a
// refused connection or such a 429, when the upstream cannot have acted on
// it. The defaults are DefaultRetries and DefaultRetryMaxWait.
func WithRetries(n int, maxWait time.Duration) Option {
	return func(c *Client) {
		if n < 0 || maxWait < 0 {
			c.setErr(fmt.Errorf("upstream: retries and max wait must not be negative, got %d and %s", n, maxWait))
			return
		}
		c.retries, c.maxWait = n, maxWait
	}
}

// WithBackoff sets the backoff between retries after a 5xx, a timeout or a
// refused connection: a random wait between 0 and min(cap, base·2^retry).
// The default is 100ms and 2s; WithBackoff(0, 0) retries at once, which
// suits tests.
func WithBackoff(base, cap time.Duration) Option {
	return func(c *Client) {
		if base < 0 || cap < 0 {
			c.setErr(fmt.Errorf("upstream: backoff must not be negative, got %s and %s", base, cap))
			return
		}
		c.backoffBase, c.backoffCap = base, cap
	}
}

// WithClock replaces time.Now where the client reads the time: the deadline
// check before a retry, Retry-After dates, and the age of cached pages.
// Tests use it to move time without sleeping. (The circuit breaker keeps
// the real clock: gobreaker has no clock seam.)
func WithClock(now func() time.Time) Option {
	return func(c *Client) {
		if now == nil {
			c.setErr(errors.New("upstream: WithClock: nil clock"))
			return
		}
		c.now = now
	}
}

// WithMetrics registers the client's collectors (gateway_upstream_*) with
// reg. Without it the client counts into collectors nobody reads.
func WithMetrics(reg prometheus.Registerer) Option {
	return func(c *Client) { c.reg = reg }
}

// WithLogger sets the logger; the client logs one debug line per attempt
// and never a token. The default discards everything.
func WithLogger(l *slog.Logger) Option {
	return func(c *Client) {
		if l != nil {
			c.log = l
		}
	}
}

func (c *Client) setErr(err error) {
	if c.optErr == nil {
		c.optErr = err
	}
}

// New returns a client of the upstream at baseURL, e.g.
// "https://api.v7.botpenguin.com". The URL must be http or https with a
// host, and no user info, query or fragment; a trailing slash is dropped.
func New(baseURL string, opts ...Option) (*Client, error) {
	base, err := cleanBaseURL(baseURL)
	if err != nil {
		return nil, err
	}
	parsed, err := url.Parse(base)
	if err != nil { // cleanBaseURL parsed it already
		return nil, errors.New("upstream: invalid base URL: not a URL")
	}
	parsed.Host = removeEmptyPort(parsed.Host)
	c := &Client{
		base:        base,
		baseURL:     *parsed,
		timeout:     DefaultTimeout,
		retries:     DefaultRetries,
		maxWait:     DefaultRetryMaxWait,
		backoffBase: defaultBackoffBase,
		backoffCap:  defaultBackoffCap,
		sleep:       sleepCtx,
		now:         time.Now,
		metrics:     newMetrics(),
		log:         slog.New(slog.DiscardHandler),
	}
	for _, opt := range opts {
		opt(c)
	}
	if c.optErr != nil {
		return nil, c.optErr
	}
	if c.breakerCooldown > 0 {
		c.breaker = c.newBreaker(c.breakerCooldown)
	}
	if c.keySecret == nil {
		// Per process: fine for coalescing and a memory cache; a shared
		// cache needs WithCacheKeySecret with the same secret on every
		// replica.
		c.keySecret = make([]byte, 32)
		_, _ = cryptorand.Read(c.keySecret) // never fails on supported platforms
	}
	c.macs.New = c.newMAC
	// Grown to 8 KB when it starts: grown deep in net/http's client
	// instead, the copy was 3 % of a request.
	c.calls = workers.New(stackgrow.To8K)
	c.common.client = c
	c.Customers = (*CustomersService)(&c.common)
	c.Users = (*UsersService)(&c.common)
	if c.http == nil {
		var transport http.RoundTripper = newTransport()
		if c.wrapTransport != nil {
			transport = c.wrapTransport(transport)
		}
		c.http = &http.Client{
			Transport: transport,
			// A redirect is not part of the API; following one could carry
			// the token elsewhere. A 3xx is ErrBadResponse.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	if c.reg != nil {
		if err := c.metrics.register(c.reg); err != nil {
			return nil, fmt.Errorf("upstream: registering metrics: %w", err)
		}
	}
	return c, nil
}

// cleanBaseURL validates a base URL. Its errors never echo credentials.
func cleanBaseURL(raw string) (string, error) {
	u, err := url.Parse(strings.TrimSpace(raw))
	if err != nil {
		// url.Parse's errors quote parts of the URL, which may be a
		// password: say nothing more.
		return "", errors.New("upstream: invalid base URL: not a URL")
	}
	if u.User != nil {
		return "", errors.New("upstream: invalid base URL: user info is not allowed (" + u.Redacted() + ")")
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", fmt.Errorf("upstream: invalid base URL %q: scheme must be http or https", u.String())
	}
	if u.Host == "" {
		return "", fmt.Errorf("upstream: invalid base URL %q: no host", u.String())
	}
	if u.RawQuery != "" || u.ForceQuery || u.Fragment != "" {
		return "", fmt.Errorf("upstream: invalid base URL %q: no query or fragment allowed", u.Redacted())
	}
	out := strings.TrimRight(u.String(), "/")
	// Some URLs parse but do not print back as one (a zone of invalid
	// UTF-8 in an IPv6 host): every request built on them would fail.
	if _, err := url.Parse(out); err != nil {
		return "", errors.New("upstream: invalid base URL: not a URL")
	}
	return out, nil
}

// removeEmptyPort drops the colon of an empty port ("example.com:"), as
// http.NewRequest does to the host of every URL.
func removeEmptyPort(host string) string {
	if strings.LastIndex(host, ":") > strings.LastIndex(host, "]") {
		return strings.TrimSuffix(host, ":")
	}
	return host
}

// newTransport is tuned for many concurrent calls to the one upstream host:
// enough idle connections per host that bursts reuse them instead of
// dialling. Timeouts of a whole attempt come from the request context.
func newTransport() *http.Transport {
	return &http.Transport{
		Proxy: http.ProxyFromEnvironment,
		DialContext: (&net.Dialer{
			Timeout:   5 * time.Second,
			KeepAlive: 30 * time.Second,
		}).DialContext,
		MaxIdleConns:          512,
		MaxIdleConnsPerHost:   256,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   5 * time.Second,
		ExpectContinueTimeout: time.Second,
		ForceAttemptHTTP2:     true,
		// A whole page (about 6 KB of JSON for 20 customers) and its
		// headers in one read over HTTP/1.1, where the default 4 KB takes
		// two (HTTP/2 has its own buffers). Every open connection holds
		// one: more would cost memory for nothing.
		ReadBufferSize: 8 << 10,
	}
}

// Invalidate makes the next calls with token see the upstream as it is now;
// call it after a write made with token. Every answer cached for token is
// dropped (on every replica, with a shared cache), and calls in flight
// with it, which the upstream may have answered before the write, are no
// longer joined by later callers.
func (c *Client) Invalidate(ctx context.Context, token Token) {
	c.pages.forget(ctx, c.credential(token))
}

// Generation names what the cache holds for token now: it changes when
// Invalidate drops token's answers (on every replica, with a shared
// cache), so that what was built from them can be keyed by it and is
// never read again either. It holds an HMAC of the token, never the
// token; empty when the cache is off.
func (c *Client) Generation(ctx context.Context, token Token) string {
	if c.pages.cache == nil {
		return ""
	}
	return c.pages.cache.Namespace(ctx, encodeCredential(c.credential(token)))
}
