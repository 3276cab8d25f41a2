package upstream

import (
	"context"
	"time"
)

// decoder turns one endpoint's answer into its result. Anything that is not
// a success goes through response.check, which makes it an *Error.
type decoder[T any] func(response) (T, error)

// sharing lets identical concurrent calls of one endpoint share one
// upstream call and, with a cache, its answer for a while. Only safe
// requests are shared; an endpoint whose answers are secrets has none.
type sharing[T any] struct {
	flights group[T]
	cache   Cache[T] // nil: no cache
}

// result is a decoded answer and, when the cache gave it, how old it is.
type result[T any] struct {
	value T
	age   time.Duration // 0 when fetched for this call
	stale bool          // the upstream failed and the cache stood in (see WithCache)
}

// do is the one pipeline of every endpoint: it sends req and decodes the
// answer with decode. With share, a safe request goes through the cache
// and joins an identical call in flight (shared answers are read-only);
// every call then makes the attempts its method allows (see fetch), each
// through the circuit breaker, the concurrency bound and one HTTP
// exchange.
//
// Errors wrap one of the Err* sentinels (see Error), except when ctx is
// cancelled: then the error wraps context.Canceled. When ctx's deadline
// passes first, the error is the last attempt's error, or ErrUnavailable
// wrapping context.DeadlineExceeded when no attempt has ended yet.
func do[T any](ctx context.Context, c *Client, req *request, decode decoder[T], share *sharing[T]) (result[T], error) {
	if ctx.Err() != nil {
		return result[T]{}, ctxErr(ctx, req.op, nil)
	}
	if share == nil || !req.safe() {
		v, err := fetchAlone(ctx, c, req, decode)
		return result[T]{value: v}, err
	}
	k := callKey{credential: c.credential(req.token), method: req.method, url: req.url}
	if share.cache == nil {
		v, err := share.call(ctx, c, req, decode, k, "")
		return result[T]{value: v}, err
	}
	return share.cached(ctx, c, req, decode, k)
}

// fetchAlone makes a call that nobody else shares: its caller's ctx is the
// call's.
func fetchAlone[T any](ctx context.Context, c *Client, req *request, decode decoder[T]) (T, error) {
	w := &alone{ctx: ctx}
	v, err := fetch(ctx, c, req, decode, w)
	if err != nil && ctx.Err() != nil {
		return v, ctxErr(ctx, req.op, w.last)
	}
	return v, err
}

// alone is the only caller of a call.
type alone struct {
	ctx  context.Context
	last error
}

func (a *alone) deadline() (time.Time, bool) { return a.ctx.Deadline() }
func (a *alone) setLastErr(err error)        { a.last = err }

// call makes (or joins) the coalesced call k; on success, when key is not
// empty, the answer is stored in the cache under key, once for all its
// callers.
func (s *sharing[T]) call(ctx context.Context, c *Client, req *request, decode decoder[T], k callKey, key string) (T, error) {
	return s.flights.do(ctx, c.calls, k, req.op, c.metrics.coalesced, func(ctx context.Context, f *flight[T]) (T, error) {
		v, err := fetch(ctx, c, req, decode, f)
		if err == nil && key != "" {
			s.cache.Set(ctx, key, Entry[T]{Value: v, StoredAt: c.now()}, c.cacheTTL+c.staleIfError)
		}
		return v, err
	})
}

// forget makes the next calls with credential see the upstream afresh:
// calls in flight with it are no longer joined, and its cached answers
// are dropped.
func (s *sharing[T]) forget(ctx context.Context, credential [credentialSize]byte) {
	s.flights.forget(credential)
	if s.cache != nil {
		s.cache.Invalidate(ctx, encodeCredential(credential))
	}
}
