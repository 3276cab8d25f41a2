package upstream

import (
	"context"
	"sync"
	"time"

	"github.com/botpenguin-gateway/gateway/internal/workers"
	"github.com/prometheus/client_golang/prometheus"
)

// callKey identifies identical calls: the same method and URL with the same
// credential (the HMAC of the token, so that the map never holds a token).
// Callers with different tokens never share an answer.
type callKey struct {
	credential [credentialSize]byte
	method     string
	url        string
}

// flight is one upstream call shared by every caller that asked for the same
// key while it was running. Its context is detached from every caller's:
// it is cancelled only when the last waiting caller has gone away.
type flight[T any] struct {
	done   chan struct{}
	value  T
	err    error
	cancel context.CancelFunc

	// Guarded by group.mu.
	g         *group[T]
	waiters   int
	latest    time.Time // the latest deadline among the callers
	unbounded bool      // some caller has no deadline
	lastErr   error     // the last failed attempt's error, for callers whose deadline passes
}

// group coalesces identical concurrent calls, like singleflight, with the
// difference that a caller going away does not cancel the call for others.
type group[T any] struct {
	mu sync.Mutex
	m  map[callKey]*flight[T]
}

// do runs fn once, on one of workers, for all concurrent callers with key
// k and waits for its result or for ctx to be done, whichever comes first.
// op names the call in the error of a caller who went away.
func (g *group[T]) do(ctx context.Context, workers *workers.Pool, k callKey, op string, coalesced prometheus.Counter,
	fn func(context.Context, *flight[T]) (T, error)) (T, error) {
	g.mu.Lock()
	f, ok := g.m[k]
	if ok {
		coalesced.Inc()
	} else {
		if g.m == nil {
			g.m = make(map[callKey]*flight[T])
		}
		fctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		f = &flight[T]{done: make(chan struct{}), cancel: cancel, g: g}
		g.m[k] = f
		workers.Go(func() {
			v, err := fn(fctx, f)
			g.mu.Lock()
			f.value, f.err = v, err
			if g.m[k] == f {
				delete(g.m, k)
			}
			g.mu.Unlock()
			cancel()
			close(f.done)
		})
	}
	f.waiters++
	if dl, has := ctx.Deadline(); !has {
		f.unbounded = true
	} else if dl.After(f.latest) {
		f.latest = dl
	}
	g.mu.Unlock()

	select {
	case <-f.done:
		return f.value, f.err
	case <-ctx.Done():
		g.mu.Lock()
		f.waiters--
		last := f.lastErr
		if f.waiters == 0 {
			// Nobody waits any more: stop the call, and let the next caller
			// start a fresh one rather than join a cancelled one.
			f.cancel()
			if g.m[k] == f {
				delete(g.m, k)
			}
		}
		g.mu.Unlock()
		var zero T
		return zero, ctxErr(ctx, op, last)
	}
}

// forget detaches the calls in flight with credential: they go on for
// their callers, but later callers start calls of their own (see
// Client.Invalidate).
func (g *group[T]) forget(credential [credentialSize]byte) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for k := range g.m {
		if k.credential == credential {
			delete(g.m, k)
		}
	}
}

// deadline is the latest deadline of the callers that joined f; ok is false
// when one of them has none.
func (f *flight[T]) deadline() (time.Time, bool) {
	f.g.mu.Lock()
	defer f.g.mu.Unlock()
	if f.unbounded || f.latest.IsZero() {
		return time.Time{}, false
	}
	return f.latest, true
}

func (f *flight[T]) setLastErr(err error) {
	f.g.mu.Lock()
	f.lastErr = err
	f.g.mu.Unlock()
}
