package upstream_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/botpenguin-gateway/gateway/upstream"
	"github.com/botpenguin-gateway/gateway/upstream/upstreamtest"
)

// breakerClient is a client with a breaker, no retries unless opts say
// otherwise, metrics in reg and logs in the returned buffer.
func breakerClient(t *testing.T, url string, cooldown time.Duration, opts ...upstream.Option) (*upstream.Client, *prometheus.Registry, func() string) {
	t.Helper()
	reg := prometheus.NewRegistry()
	var buf bytes.Buffer
	var mu sync.Mutex
	log := slog.New(slog.NewJSONHandler(&lockedWriter{w: &buf, mu: &mu}, nil))
	base := []upstream.Option{upstream.WithBreaker(cooldown), upstream.WithRetries(0, 0),
		upstream.WithMetrics(reg), upstream.WithLogger(log)}
	c, _ := newClient(t, url, append(base, opts...)...)
	return c, reg, func() string { mu.Lock(); defer mu.Unlock(); return buf.String() }
}

// sequence answers the next calls with these statuses, one each, then
// normally.
func sequence(codes ...int) upstreamtest.Fault {
	var fs []upstreamtest.Fault
	for _, code := range codes {
		fs = append(fs, upstreamtest.Times(1, upstreamtest.Status(code)))
	}
	return upstreamtest.Chain(fs...)
}

func repeat(code, n int) []int {
	out := make([]int, n)
	for i := range out {
		out[i] = code
	}
	return out
}

func isCircuitOpen(err error) bool {
	var e *upstream.Error
	return errors.As(err, &e) && errors.Is(err, upstream.ErrUnavailable) &&
		errors.Is(err, upstream.ErrCircuitOpen) && e.StatusCode == 0
}

// countAttempts counts the client's HTTP attempts in n, refused
// connections included (the server never sees those).
func countAttempts(n *atomic.Int64) upstream.Option {
	return upstream.WithTransportWrapper(func(next http.RoundTripper) http.RoundTripper {
		return roundTripFunc(func(r *http.Request) (*http.Response, error) {
			n.Add(1)
			return next.RoundTrip(r)
		})
	})
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

func TestBreakerOpensOnOutages(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		fault upstreamtest.Fault
		opts  []upstream.Option
		down  bool // the server is closed: refused connections
	}{
		{"503", upstreamtest.Status(503), nil, false},
		{"500", upstreamtest.Status(500), nil, false},
		{"200 success:false 503", upstreamtest.EnvelopeError(503, "Maintenance"), nil, false},
		{"timeout", upstreamtest.Hang(), []upstream.Option{upstream.WithTimeout(20 * time.Millisecond)}, false},
		{"refused connection", nil, nil, true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := newServer(t)
			srv.SetFault(tc.fault)
			if tc.down {
				srv.Close()
			}
			var sent atomic.Int64
			c, reg, logs := breakerClient(t, srv.URL, time.Hour, append([]upstream.Option{countAttempts(&sent)}, tc.opts...)...)
			ctx := context.Background()
			for i := range 10 {
				_, err := c.Customers.List(ctx, token, 1, upstream.SortCreatedAt)
				require.ErrorIs(t, err, upstream.ErrUnavailable, "call %d: want an upstream ErrUnavailable", i+1)
				require.NotErrorIs(t, err, upstream.ErrCircuitOpen, "call %d: want an upstream ErrUnavailable", i+1)
			}
			require.Equal(t, int64(10), sent.Load(), "HTTP attempts before the circuit opened: the count sees each")
			calls, attempts := srv.Calls(), sent.Load()
			for range 5 {
				_, err := c.Customers.List(ctx, token, 2, upstream.SortName)
				require.True(t, isCircuitOpen(err), "err = %v, want ErrUnavailable wrapping ErrCircuitOpen with no status", err)
			}
			// "Answered at once" is counted, not timed (a loaded machine
			// may take any time): an open circuit makes no HTTP attempt,
			// not even a dial, and nothing else in this client waits.
			assert.Equal(t, attempts, sent.Load(), "HTTP attempts while open, refused connections included")
			assert.Equal(t, calls, srv.Calls(), "upstream calls while open")
			assert.Equal(t, 2.0, metricValue(t, reg, "gateway_upstream_circuit_state"), "circuit_state 2 is open")
			assert.Equal(t, 1.0, metricValue(t, reg, "gateway_upstream_circuit_transitions_total", "to", "open"), "transitions to open")
			assert.Contains(t, logs(), `"level":"WARN","msg":"upstream circuit breaker changed state","from":"closed","to":"open"`,
				"a warn line for the change of state")
		})
	}
}

// The breaker sits in front of every attempt: a retry loop stops as soon as
// it opens, with the last upstream error.
func TestBreakerStopsTheRetryLoop(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	srv.SetFault(upstreamtest.Status(503))
	c, _, _ := breakerClient(t, srv.URL, time.Hour, upstream.WithRetries(20, 0))
	_, err := c.Customers.List(context.Background(), token, 1, upstream.SortCreatedAt)
	var e *upstream.Error
	if assert.ErrorAs(t, err, &e, "want the last 503") {
		assert.Equal(t, 503, e.StatusCode, "want the last 503")
	}
	assert.NotErrorIs(t, err, upstream.ErrCircuitOpen, "want the last 503")
	assert.Equal(t, int64(10), srv.Calls(), "upstream calls: the breaker opened after the tenth")
	_, err = c.Customers.List(context.Background(), token, 1, upstream.SortCreatedAt)
	assert.True(t, isCircuitOpen(err), "next call: err = %v, want an open circuit", err)
}

func TestBreakerTripRule(t *testing.T) {
	t.Parallel()
	var ratio []int // never more than 5 failures in a row, 17 of 20 failed
	for range 3 {
		ratio = append(append(ratio, repeat(503, 5)...), 403)
	}
	ratio = append(ratio, 503, 503)
	for _, tc := range []struct {
		name     string
		statuses []int
		open     bool
	}{
		{"nine in a row", repeat(503, 9), false},
		{"ten in a row", repeat(503, 10), true},
		{"a 401 breaks the run", append(append(repeat(503, 9), 401), repeat(503, 9)...), false},
		{"half of twenty", ratio, true},
		{"nineteen are too few for the ratio", ratio[:19], false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := newServer(t)
			srv.SetFault(sequence(tc.statuses...))
			c, _, _ := breakerClient(t, srv.URL, time.Hour)
			for i := range tc.statuses {
				_, err := c.Customers.List(context.Background(), token, 1, upstream.SortCreatedAt)
				require.False(t, isCircuitOpen(err), "call %d: circuit already open", i+1)
			}
			_, err := c.Customers.List(context.Background(), token, 1, upstream.SortCreatedAt)
			assert.Equal(t, tc.open, isCircuitOpen(err), "after %d calls: err = %v, want open %v", len(tc.statuses), err, tc.open)
		})
	}
}

func TestBreakerIgnoresClientErrors(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		name  string
		fault upstreamtest.Fault
	}{
		{"400", upstreamtest.Status(400)},
		{"401", upstreamtest.Status(401)},
		{"403", upstreamtest.Status(403)},
		{"404", upstreamtest.Status(404)},
		{"429", upstreamtest.RateLimit("")},
		{"429 Retry-After too long", upstreamtest.RateLimit("60")},
		{"200 success:false 401", upstreamtest.EnvelopeError(401, "Invalid key")},
		{"200 success:false 429", upstreamtest.EnvelopeError(429, "Slow down")},
		{"garbage", upstreamtest.Garbage()},
		{"bad envelope", upstreamtest.BadEnvelope()},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			srv := newServer(t)
			srv.SetFault(tc.fault)
			c, reg, _ := breakerClient(t, srv.URL, time.Hour)
			for range 30 {
				_, err := c.Customers.List(context.Background(), token, 1, upstream.SortCreatedAt)
				require.Error(t, err, "want the upstream's error")
				require.False(t, isCircuitOpen(err), "err = %v, want the upstream's error", err)
			}
			assert.Equal(t, int64(30), srv.Calls(), "upstream calls")
			assert.Zero(t, metricValue(t, reg, "gateway_upstream_circuit_transitions_total", "to", "open"), "times the breaker opened")
		})
	}
}

// Attempts cut because their callers went away (cancelled, or their
// deadline passed) say nothing about the upstream: they are not counted.
func TestBreakerIgnoresCallersGoingAway(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	arrived := make(chan string, 1)
	srv.SetFault(upstreamtest.Notify(arrived, upstreamtest.Hang()))
	c, reg, _ := breakerClient(t, srv.URL, time.Hour)

	const n = 20
	for i := range n {
		var ctx context.Context
		var cancel context.CancelFunc
		if i%2 == 0 {
			ctx, cancel = context.WithCancel(context.Background())
		} else {
			ctx, cancel = context.WithTimeout(context.Background(), 20*time.Millisecond)
		}
		done := make(chan error, 1)
		go func() {
			_, err := c.Customers.List(ctx, token, 1, upstream.SortCreatedAt)
			done <- err
		}()
		<-arrived
		if i%2 == 0 {
			cancel()
		}
		err := <-done
		cancel()
		require.True(t, errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded),
			"call %d: err = %v, want a context error", i+1, err)
	}
	eventually(t, "every cut attempt to end", func() bool {
		return metricValue(t, reg, "gateway_upstream_requests_total", "outcome", "canceled", "status", "none") == n
	})
	srv.SetFault(nil)
	_, err := c.Customers.List(context.Background(), token, 1, upstream.SortCreatedAt)
	require.NoError(t, err, "after %d callers went away, want the page", n)
	assert.Zero(t, metricValue(t, reg, "gateway_upstream_circuit_transitions_total", "to", "open"), "times the breaker opened")
}

// tripBreaker makes ten failing calls, which open the breaker.
func tripBreaker(t *testing.T, c *upstream.Client, srv *upstreamtest.Server) {
	t.Helper()
	srv.SetFault(upstreamtest.Status(503))
	for range 10 {
		_, _ = c.Customers.List(context.Background(), token, 1, upstream.SortCreatedAt)
	}
	_, err := c.Customers.List(context.Background(), token, 1, upstream.SortCreatedAt)
	require.True(t, isCircuitOpen(err), "err = %v, want an open circuit", err)
}

// untilAdmitted calls page 1 until the breaker lets the call through (after
// the cooldown, which runs on the real clock) and returns its result.
func untilAdmitted(c *upstream.Client) result {
	for {
		p, err := c.Customers.List(context.Background(), token, 1, upstream.SortCreatedAt)
		if !isCircuitOpen(err) {
			return result{p, err}
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestBreakerHalfOpenProbeCloses(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	c, reg, logs := breakerClient(t, srv.URL, 50*time.Millisecond)
	tripBreaker(t, c, srv)
	calls := srv.Calls()

	release := make(chan struct{})
	arrived := make(chan string, 1)
	srv.SetFault(upstreamtest.Notify(arrived, upstreamtest.Block(release)))
	probe := make(chan result, 1)
	go func() { probe <- untilAdmitted(c) }()
	<-arrived // the probe is at the upstream: the breaker is half-open

	// One probe at a time: another call is answered at once, with no call.
	_, err := c.Customers.List(context.Background(), token, 2, upstream.SortCreatedAt)
	assert.True(t, isCircuitOpen(err), "second call while half-open: err = %v, want an open circuit", err)
	assert.Equal(t, calls+1, srv.Calls(), "upstream calls while half-open: the probe only")
	assert.Equal(t, 1.0, metricValue(t, reg, "gateway_upstream_circuit_state"), "circuit_state 1 is half-open")
	close(release)
	r := <-probe
	require.NoError(t, r.err, "probe")
	require.Len(t, r.page.Customers, 20, "probe")
	assert.Equal(t, 0.0, metricValue(t, reg, "gateway_upstream_circuit_state"), "circuit_state 0 is closed")
	for _, to := range []string{"open", "half_open", "closed"} {
		assert.Equal(t, 1.0, metricValue(t, reg, "gateway_upstream_circuit_transitions_total", "to", to), "transitions to %s", to)
	}
	_, err = c.Customers.List(context.Background(), token, 2, upstream.SortCreatedAt)
	assert.NoError(t, err, "after closing")
	assert.Contains(t, logs(), `"from":"half_open","to":"closed"`, "a log line for closing")
}

func TestBreakerFailedProbeReopens(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	c, reg, _ := breakerClient(t, srv.URL, 50*time.Millisecond)
	tripBreaker(t, c, srv)
	calls := srv.Calls()
	r := untilAdmitted(c)
	var e *upstream.Error
	require.ErrorAs(t, r.err, &e, "probe: want the upstream's 503")
	require.Equal(t, 503, e.StatusCode, "probe: want the upstream's 503")
	_, err := c.Customers.List(context.Background(), token, 1, upstream.SortCreatedAt)
	assert.True(t, isCircuitOpen(err), "after a failed probe: err = %v, want an open circuit", err)
	assert.Equal(t, calls+1, srv.Calls(), "upstream calls: the probe only")
	assert.Equal(t, 2.0, metricValue(t, reg, "gateway_upstream_circuit_transitions_total", "to", "open"), "transitions to open")
}
