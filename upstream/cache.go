package upstream

import (
	"context"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/base64"
	"errors"
	"fmt"
	"hash"
	"time"
)

// Cache stores decoded upstream answers by an opaque key that never
// contains a raw token. There are two implementations: MemoryCache in this
// process, and a shared one (Redis) that every replica reads.
// Implementations must be safe for concurrent use, must not fail a request
// (a broken cache is a miss), and must not modify a stored value: it is
// shared by every reader.
//
// A key is the credential's namespace (Namespace), then the request's
// method and URL. Namespaces are how a credential's entries are dropped
// all at once: Invalidate gives the credential a new one, so that nothing
// stored under an older one is ever read again, not even what a call that
// was in flight at the time stores afterwards.
type Cache[T any] interface {
	// Namespace returns the prefix of the keys of credential's entries
	// now. credential is an HMAC of a token, never the token.
	Namespace(ctx context.Context, credential string) string
	// Get returns the entry stored under key, if any. It need not check
	// StoredAt: the client decides freshness.
	Get(ctx context.Context, key string) (Entry[T], bool)
	// Set stores e under key for keepFor; after that it may be dropped.
	Set(ctx context.Context, key string, e Entry[T], keepFor time.Duration)
	// Invalidate drops every entry of credential: from then on Namespace
	// returns another prefix, on every replica when the cache is shared.
	Invalidate(ctx context.Context, credential string)
}

// Entry is a successful upstream answer and when it was fetched.
type Entry[T any] struct {
	Value    T
	StoredAt time.Time
}

// WithCache serves pages from c: a page younger than ttl (CACHE_TTL) is
// returned without any upstream call. When a fetch fails because the
// upstream is unavailable or rate limiting (never on 401 or 403: an auth
// failure is never papered over by cached data), a page younger than
// ttl+staleIfError (CACHE_STALE_IF_ERROR) is returned instead, marked
// Stale. Only successful pages are stored, for ttl+staleIfError. A ttl of
// 0 turns the cache off. Keys hold an HMAC of the token (see
// WithCacheKeySecret), so one token's pages are never served to another.
// Client.Invalidate drops a token's pages.
func WithCache(c Cache[Page], ttl, staleIfError time.Duration) Option {
	return func(cl *Client) {
		switch {
		case ttl < 0 || staleIfError < 0:
			cl.setErr(fmt.Errorf("upstream: cache ttl and stale-if-error must not be negative, got %s and %s", ttl, staleIfError))
		case ttl == 0:
			cl.pages.cache = nil
		case c == nil:
			cl.setErr(errors.New("upstream: WithCache: nil cache"))
		default:
			cl.pages.cache, cl.cacheTTL, cl.staleIfError = c, ttl, staleIfError
		}
	}
}

// WithCacheKeySecret sets the HMAC key that turns a token into the
// credential of cache and coalescing keys, at least 16 bytes. The default
// is 32 random bytes per process, which is right for MemoryCache; with a
// shared cache every replica must be given the same secret, or none finds
// what another stored. The secret keeps anyone who reads the cache from
// testing guessed tokens against its keys.
func WithCacheKeySecret(secret []byte) Option {
	return func(c *Client) {
		if len(secret) < 16 {
			c.setErr(fmt.Errorf("upstream: cache key secret must be at least 16 bytes, got %d", len(secret)))
			return
		}
		c.keySecret = append([]byte(nil), secret...)
	}
}

const credentialSize = sha256.Size

// credential is the HMAC-SHA256 of token under the key secret: what stands
// for a token in coalescing and cache keys.
func (c *Client) credential(token Token) [credentialSize]byte {
	m := c.macs.Get().(*macState)
	m.mac.Reset()
	m.in = append(m.in[:0], token...)
	m.mac.Write(m.in)
	clear(m.in) // no token left behind in the pool
	id := [credentialSize]byte(m.mac.Sum(m.sum[:0]))
	c.macs.Put(m)
	return id
}

// macState is a pooled HMAC with its buffers: hashing a token on every
// call allocates nothing.
type macState struct {
	mac hash.Hash
	in  []byte
	sum [credentialSize]byte
}

func (c *Client) newMAC() any { return &macState{mac: hmac.New(sha256.New, c.keySecret)} }

// encodeCredential is a credential as it appears in cache keys.
func encodeCredential(id [credentialSize]byte) string {
	return base64.RawURLEncoding.EncodeToString(id[:])
}

// Values of the result label of gateway_upstream_cache_requests_total.
const (
	cacheHit   = "hit"
	cacheMiss  = "miss"
	cacheStale = "stale"
)

// cached is do with the cache: a fresh hit needs no call (nor coalescing);
// a miss goes through the coalesced call, which stores the answer; a failed
// call may fall back on the entry found at the start.
func (s *sharing[T]) cached(ctx context.Context, c *Client, req *request, decode decoder[T], k callKey) (result[T], error) {
	key := s.cache.Namespace(ctx, encodeCredential(k.credential)) + " " + req.method + " " + req.url
	entry, found := s.cache.Get(ctx, key)
	if found && c.ageOf(entry.StoredAt) < c.cacheTTL {
		c.metrics.cacheRequests.WithLabelValues(cacheHit).Inc()
		return result[T]{value: entry.Value, age: c.ageOf(entry.StoredAt)}, nil
	}
	v, err := s.call(ctx, c, req, decode, k, key)
	if err != nil && found && servesStale(err) && c.ageOf(entry.StoredAt) < c.cacheTTL+c.staleIfError {
		c.metrics.cacheRequests.WithLabelValues(cacheStale).Inc()
		return result[T]{value: entry.Value, age: c.ageOf(entry.StoredAt), stale: true}, nil
	}
	c.metrics.cacheRequests.WithLabelValues(cacheMiss).Inc()
	return result[T]{value: v}, err
}

// ageOf is how old an entry stored at storedAt is; never negative, for
// entries stored by a replica whose clock runs ahead.
func (c *Client) ageOf(storedAt time.Time) time.Duration {
	return max(c.now().Sub(storedAt), 0)
}

// servesStale says whether a failed fetch may be answered with a stale
// page: only when the upstream is down or rate limiting. Auth failures
// (401, 403), bad responses and a caller's cancellation never are.
func servesStale(err error) bool {
	return errors.Is(err, ErrUnavailable) || errors.Is(err, ErrRateLimited)
}
