// Package upstream is the client of BotPenguin's Partner API: one endpoint,
// GET {base}/customer/list?page=N&sort=FIELD, sent with "authtype: Key" and
// the caller's bearer token.
//
// The client maps every failure to an *Error wrapping one sentinel
// (ErrUnauthorized, ErrForbidden, ErrRateLimited, ErrUnavailable,
// ErrBadResponse), retries what is worth retrying, coalesces identical
// concurrent calls and counts its attempts in Prometheus metrics. It never
// prints a token: not in errors, logs or metrics.
//
// Options add resilience, each in its own file: a circuit breaker
// (breaker.go), a bound on concurrent upstream calls (limit.go) and a page
// cache with stale-if-error (cache.go, memcache.go).
package upstream

import (
	"context"
	cryptorand "crypto/rand"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

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
	base    string // scheme://host[/path], no trailing slash, no userinfo
	http    *http.Client
	timeout time.Duration

	retries     int
	maxWait     time.Duration
	backoffBase time.Duration
	backoffCap  time.Duration
	sleep       func(ctx context.Context, d time.Duration) error // injectable for tests
	now         func() time.Time                                 // injectable for tests (WithClock)

	breakerCooldown time.Duration // 0: no breaker
	breaker         *gobreaker.CircuitBreaker[Page]
	slots           *semaphore.Weighted // nil: no bound on concurrent attempts

	cache        Cache // nil: no cache
	cacheTTL     time.Duration
	staleIfError time.Duration
	cacheSecret  []byte // HMAC key of the cache keys

	reg     prometheus.Registerer
	metrics *metrics
	log     *slog.Logger
	flights group

	wrapTransport func(http.RoundTripper) http.RoundTripper

	optErr error // the first invalid option, reported by New
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
// once. The defaults are DefaultRetries and DefaultRetryMaxWait.
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
	c := &Client{
		base:        base,
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
	if c.cache != nil && c.cacheSecret == nil {
		// Per process: fine for a memory cache; a shared cache needs
		// WithCacheKeySecret with the same secret on every replica.
		c.cacheSecret = make([]byte, 32)
		_, _ = cryptorand.Read(c.cacheSecret) // never fails on supported platforms
	}
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
	}
}

// ListCustomers returns one page (1-based) of the customers token can see,
// in sort order. An empty Page is past the end. Records that cannot be
// mapped are in Page.Invalid, the others in Page.Customers.
//
// Identical concurrent calls (same token, page and sort) share one upstream
// call, so the returned Page may be shared with other callers: treat it as
// read-only. The shared call goes on while any caller waits for it, and is
// cancelled when all of them have gone away.
//
// With WithCache, a fresh cached page is returned without any call, and a
// stale one may stand in for an unavailable or rate-limited upstream (see
// Page.Stale).
//
// Errors wrap one of the Err* sentinels (see Error), except when ctx is
// cancelled: then the error wraps context.Canceled. An empty token (or one
// that cannot be sent in a header) is ErrUnauthorized without a call; a page
// below 1 is a caller's bug and gets a plain error without a call. When ctx's deadline
// passes first, the error is the last attempt's error, or ErrUnavailable
// wrapping context.DeadlineExceeded when no attempt has ended yet.
func (c *Client) ListCustomers(ctx context.Context, token Token, page int, sort Sort) (Page, error) {
	if page < 1 {
		return Page{}, errInvalidPage
	}
	if sort == "" {
		sort = SortCreatedAt
	}
	if token == "" || !validHeaderValue(string(token)) {
		// Nothing worth sending; the upstream would answer 401.
		return Page{}, &Error{Kind: ErrUnauthorized, Message: "missing or malformed token; no call was made"}
	}
	if err := ctx.Err(); err != nil {
		return Page{}, ctxErr(ctx, nil)
	}
	if c.cache != nil {
		return c.listCached(ctx, token, page, sort)
	}
	return c.list(ctx, token, page, sort, "")
}

// list makes (or joins) the coalesced upstream call; on success, when
// cacheKey is not empty, the page is stored once for all the callers.
func (c *Client) list(ctx context.Context, token Token, page int, sort Sort, cacheKey string) (Page, error) {
	return c.flights.do(ctx, flightKey{token: token, page: page, sort: sort}, c.metrics.coalesced,
		func(ctx context.Context, f *flight) (Page, error) {
			p, err := c.fetch(ctx, f, token, page, sort)
			if err == nil && cacheKey != "" {
				c.cache.Set(ctx, cacheKey, CachedPage{Page: p, StoredAt: c.now()}, c.cacheTTL+c.staleIfError)
			}
			return p, err
		})
}

// ctxErr is the error for a caller whose ctx is done: on cancellation the
// context error itself, on a deadline the last attempt's error when there
// was one.
func ctxErr(ctx context.Context, last error) error {
	err := ctx.Err()
	if errors.Is(err, context.DeadlineExceeded) {
		if last != nil {
			return last
		}
		return &Error{Kind: ErrUnavailable, Err: err}
	}
	return fmt.Errorf("upstream: list customers: %w", err)
}

var errInvalidPage = errors.New("upstream: page must be >= 1")

func validHeaderValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if b := s[i]; b < 0x20 || b == 0x7f {
			return false
		}
	}
	return true
}

func (c *Client) listURL(page int, sort Sort) string {
	return c.base + "/customer/list?page=" + strconv.Itoa(page) + "&sort=" + url.QueryEscape(string(sort))
}

// attempt makes one HTTP request, bounded by the per-attempt timeout.
func (c *Client) attempt(ctx context.Context, token Token, page int, sort Sort, n int) (p Page, err error) {
	start := time.Now()
	status := 0
	defer func() {
		d := time.Since(start)
		outcome := outcomeOf(err)
		c.metrics.requests.WithLabelValues(outcome, statusLabel(status)).Inc()
		c.metrics.duration.Observe(d.Seconds())
		c.log.DebugContext(ctx, "upstream attempt",
			"page", page, "sort", string(sort), "attempt", n+1,
			"status", status, "outcome", outcome, "duration", d)
	}()

	actx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(actx, http.MethodGet, c.listURL(page, sort), nil)
	if err != nil {
		return Page{}, &Error{Kind: ErrBadResponse, Err: errors.New("cannot build the request")}
	}
	req.Header.Set("authtype", "Key")
	req.Header.Set("Authorization", "Bearer "+string(token))
	req.Header.Set("Accept", "application/json")

	resp, err := c.http.Do(req)
	if err != nil {
		return Page{}, c.transportErr(ctx, actx, err)
	}
	defer resp.Body.Close()
	status = resp.StatusCode

	limit := int64(maxErrorBody)
	if status >= 200 && status <= 299 {
		limit = MaxBodyBytes
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, limit+1))
	if err != nil {
		e := c.transportErr(ctx, actx, err)
		if ue, ok := e.(*Error); ok {
			ue.StatusCode = status
		}
		return Page{}, e
	}
	if int64(len(body)) > limit {
		if limit == MaxBodyBytes {
			return Page{}, &Error{Kind: ErrBadResponse, StatusCode: status, Err: fmt.Errorf("body larger than %d bytes", MaxBodyBytes)}
		}
		body = body[:limit]
	}

	if status >= 200 && status <= 299 {
		if p, ok := decodeGoodPage(body); ok {
			return p, nil
		}
	}
	data, err := checkResponse(resp, body, c.now())
	if err != nil {
		var ue *Error
		if errors.As(err, &ue) {
			ue.Message = cleanMessage(ue.Message, token)
		}
		return Page{}, err
	}
	return decodePage(data)
}

// transportErr maps a failure to get or read an answer: the caller's
// cancellation stays a context error; anything else (timeout, refused
// connection, reset) is ErrUnavailable. *url.Error is unwrapped so the
// URL is never printed.
func (c *Client) transportErr(ctx, actx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if errors.Is(actx.Err(), context.DeadlineExceeded) {
		return &Error{Kind: ErrUnavailable, Err: &attemptTimeoutError{after: c.timeout}}
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return &Error{Kind: ErrUnavailable, Err: err}
}

func sleepCtx(ctx context.Context, d time.Duration) error {
	if d <= 0 {
		return ctx.Err()
	}
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// backoff is the wait before retry number retry (0-based): full jitter,
// a uniform random duration in [0, min(cap, base·2^retry)]. Full jitter
// spreads the retries of many callers that failed together, so that they
// do not hit a recovering upstream in waves.
func (c *Client) backoff(retry int) time.Duration {
	// Doubling step by step, not base<<retry, which overflows for a large
	// base and would then wait nothing.
	ceil := c.backoffBase
	for i := 0; i < retry && ceil < c.backoffCap; i++ {
		ceil *= 2
	}
	ceil = min(ceil, c.backoffCap)
	if ceil <= 0 {
		return 0
	}
	return rand.N(ceil + 1)
}
