package upstream

import (
	"context"
	"sync"
	"time"

	"github.com/prometheus/client_golang/prometheus"
)

// flightKey identifies identical calls. The token is part of it, so callers
// with different tokens never share an answer.
type flightKey struct {
	token Token
	page  int
	sort  Sort
}

// flight is one upstream call shared by every caller that asked for the same
// key while it was running. Its context is detached from every caller's:
// it is cancelled only when the last waiting caller has gone away.
type flight struct {
	done   chan struct{}
	page   Page
	err    error
	cancel context.CancelFunc

	// Guarded by group.mu.
	g         *group
	waiters   int
	latest    time.Time // the latest deadline among the callers
	unbounded bool      // some caller has no deadline
	lastErr   error     // the last failed attempt's error, for callers whose deadline passes
}

// group coalesces identical concurrent calls, like singleflight, with the
// difference that a caller going away does not cancel the call for others.
type group struct {
	mu sync.Mutex
	m  map[flightKey]*flight
}

// do runs fn once for all concurrent callers with key k and waits for its
// result or for ctx to be done, whichever comes first.
func (g *group) do(ctx context.Context, k flightKey, coalesced prometheus.Counter,
	fn func(context.Context, *flight) (Page, error)) (Page, error) {
	g.mu.Lock()
	f, ok := g.m[k]
	if ok {
		coalesced.Inc()
	} else {
		if g.m == nil {
			g.m = make(map[flightKey]*flight)
		}
		fctx, cancel := context.WithCancel(context.WithoutCancel(ctx))
		f = &flight{done: make(chan struct{}), cancel: cancel, g: g}
		g.m[k] = f
		go func() {
			p, err := fn(fctx, f)
			g.mu.Lock()
			f.page, f.err = p, err
			if g.m[k] == f {
				delete(g.m, k)
			}
			g.mu.Unlock()
			cancel()
			close(f.done)
		}()
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
		return f.page, f.err
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
		return Page{}, ctxErr(ctx, last)
	}
}

// deadline is the latest deadline of the callers that joined f; ok is false
// when one of them has none.
func (f *flight) deadline() (time.Time, bool) {
	f.g.mu.Lock()
	defer f.g.mu.Unlock()
	if f.unbounded || f.latest.IsZero() {
		return time.Time{}, false
	}
	return f.latest, true
}

func (f *flight) setLastErr(err error) {
	f.g.mu.Lock()
	f.lastErr = err
	f.g.mu.Unlock()
}
