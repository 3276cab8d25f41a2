package upstream

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"strconv"
	"time"
)

// Cache stores pages by an opaque key that never contains a raw token.
// There are two implementations: MemoryCache in this process, and a shared
// one (Redis) that every replica reads. Implementations must be safe for
// concurrent use, must not fail a request (a broken cache is a miss), and
// must not modify a stored Page: it is shared by every reader.
type Cache interface {
	// Get returns the entry stored under key, if any. It need not check
	// StoredAt: the client decides freshness.
	Get(ctx context.Context, key string) (CachedPage, bool)
	// Set stores p under key for keepFor; after that it may be dropped.
	Set(ctx context.Context, key string, p CachedPage, keepFor time.Duration)
}

// CachedPage is a successful upstream page and when it was fetched.
type CachedPage struct {
	Page     Page
	StoredAt time.Time
}

// WithCache serves pages from c: a page younger than ttl (CACHE_TTL) is
// returned without any upstream call. When a fetch fails because the
// upstream is unavailable or rate limiting (never on 401 or 403: an auth
// failure is never papered over by cached data), a page younger than
// ttl+staleIfError (CACHE_STALE_IF_ERROR) is returned instead, marked
// Stale. Only successful pages are stored, for ttl+staleIfError. A ttl of
// 0 turns the cache off. Keys are an HMAC of the token (see
// WithCacheKeySecret), so one token's pages are never served to another.
func WithCache(c Cache, ttl, staleIfError time.Duration) Option {
	return func(cl *Client) {
		switch {
		case ttl < 0 || staleIfError < 0:
			cl.setErr(fmt.Errorf("upstream: cache ttl and stale-if-error must not be negative, got %s and %s", ttl, staleIfError))
		case ttl == 0:
			cl.cache = nil
		case c == nil:
			cl.setErr(errors.New("upstream: WithCache: nil cache"))
		default:
			cl.cache, cl.cacheTTL, cl.staleIfError = c, ttl, staleIfError
		}
	}
}

// WithCacheKeySecret sets the HMAC key that turns a token into a cache key,
// at least 16 bytes. The default is 32 random bytes per process, which is
// right for MemoryCache; with a shared cache every replica must be given
// the same secret, or none finds what another stored. The secret keeps
// anyone who reads the cache from testing guessed tokens against its keys.
func WithCacheKeySecret(secret []byte) Option {
	return func(c *Client) {
		if len(secret) < 16 {
			c.setErr(fmt.Errorf("upstream: cache key secret must be at least 16 bytes, got %d", len(secret)))
			return
		}
		c.cacheSecret = append([]byte(nil), secret...)
	}
}

// cacheKey is "page:v1:<base64url HMAC-SHA256 of the token>:<sort>:<page>".
// v1 versions the format of the stored value.
func (c *Client) cacheKey(token Token, page int, sort Sort) string {
	mac := hmac.New(sha256.New, c.cacheSecret)
	mac.Write([]byte(token))
	return "page:v1:" + base64.RawURLEncoding.EncodeToString(mac.Sum(nil)) + ":" + string(sort) + ":" + strconv.Itoa(page)
}

// Values of the result label of gateway_upstream_cache_requests_total.
const (
	cacheHit   = "hit"
	cacheMiss  = "miss"
	cacheStale = "stale"
)

// listCached is ListCustomers with the cache: a fresh hit needs no call (nor
// coalescing); a miss goes through the coalesced fetch, which stores the
// page; a failed fetch may fall back on the entry found at the start.
func (c *Client) listCached(ctx context.Context, token Token, page int, sort Sort) (Page, error) {
	key := c.cacheKey(token, page, sort)
	entry, found := c.cache.Get(ctx, key)
	if found && c.ageOf(entry) < c.cacheTTL {
		c.metrics.cacheRequests.WithLabelValues(cacheHit).Inc()
		p := entry.Page // a copy of the struct: the stored one is shared
		p.Age = c.ageOf(entry)
		return p, nil
	}
	p, err := c.list(ctx, token, page, sort, key)
	if err != nil && found && servesStale(err) && c.ageOf(entry) < c.cacheTTL+c.staleIfError {
		c.metrics.cacheRequests.WithLabelValues(cacheStale).Inc()
		p = entry.Page
		p.Stale, p.Age = true, c.ageOf(entry)
		return p, nil
	}
	c.metrics.cacheRequests.WithLabelValues(cacheMiss).Inc()
	return p, err
}

// ageOf is how old an entry is; never negative, for entries stored by a
// replica whose clock runs ahead.
func (c *Client) ageOf(e CachedPage) time.Duration {
	return max(c.now().Sub(e.StoredAt), 0)
}

// servesStale says whether a failed fetch may be answered with a stale
// page: only when the upstream is down or rate limiting. Auth failures
// (401, 403), bad responses and a caller's cancellation never are.
func servesStale(err error) bool {
	return errors.Is(err, ErrUnavailable) || errors.Is(err, ErrRateLimited)
}
