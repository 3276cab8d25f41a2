package httpserver_test

import (
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/botpenguin-gateway/gateway/upstream"
	"github.com/botpenguin-gateway/gateway/upstream/upstreamtest"
)

func TestEveryUpstreamFaultHasItsCode(t *testing.T) {
	t.Parallel()
	e := newEnv(t, map[string]string{"UPSTREAM_RETRIES": "0", "UPSTREAM_TIMEOUT": "200ms"})
	for _, tc := range []struct {
		name           string
		fault          upstreamtest.Fault
		code           string
		upstreamStatus any
		retryAfter     any
	}{
		{"401", upstreamtest.Status(401), "UNAUTHENTICATED", 401.0, nil},
		{"403", upstreamtest.Status(403), "FORBIDDEN", 403.0, nil},
		{"429 with Retry-After", upstreamtest.RateLimit("120"), "RATE_LIMITED", 429.0, 120.0},
		{"429 without Retry-After", upstreamtest.RateLimit(""), "RATE_LIMITED", 429.0, nil},
		{"500", upstreamtest.Status(500), "UPSTREAM_UNAVAILABLE", 500.0, nil},
		{"502", upstreamtest.Status(502), "UPSTREAM_UNAVAILABLE", 502.0, nil},
		{"503", upstreamtest.Status(503), "UPSTREAM_UNAVAILABLE", 503.0, nil},
		{"timeout", upstreamtest.Stall(2 * time.Second), "UPSTREAM_UNAVAILABLE", nil, nil},
		{"404", upstreamtest.Status(404), "UPSTREAM_BAD_RESPONSE", 404.0, nil},
		{"garbage", upstreamtest.Garbage(), "UPSTREAM_BAD_RESPONSE", 200.0, nil},
		{"not the envelope", upstreamtest.BadEnvelope(), "UPSTREAM_BAD_RESPONSE", 200.0, nil},
		{"200 success:false 401", upstreamtest.EnvelopeError(401, "Invalid key"), "UNAUTHENTICATED", 200.0, nil},
		{"200 success:false 403", upstreamtest.EnvelopeError(403, "Not your agency"), "FORBIDDEN", 200.0, nil},
		{"200 success:false 429", upstreamtest.EnvelopeError(429, "Slow down"), "RATE_LIMITED", 200.0, nil},
		{"200 success:false 503", upstreamtest.EnvelopeError(503, "Maintenance"), "UPSTREAM_UNAVAILABLE", 200.0, nil},
		{"200 success:false 418", upstreamtest.EnvelopeError(418, "Teapot"), "UPSTREAM_BAD_RESPONSE", 200.0, nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e.up.SetFault(tc.fault)
			r := e.query(pageQuery, nil)
			e.up.SetFault(nil)
			require.Equal(t, 200, r.Status)
			require.Equal(t, []string{tc.code}, r.codes(), r.Raw)
			assert.Equal(t, tc.upstreamStatus, r.Errors[0].Extensions["upstreamStatus"])
			assert.Equal(t, tc.retryAfter, r.Errors[0].Extensions["retryAfterSeconds"])
			assert.Equal(t, []any{"customers", "nodes"}, r.Errors[0].Path)
			assert.NotEmpty(t, r.Errors[0].Message)

			// The gateway still serves.
			r = e.query(pageQuery, nil)
			require.Empty(t, r.Errors, r.Raw)
		})
	}
}

func TestUpstreamMessageIsPassedOn(t *testing.T) {
	t.Parallel()
	e := newEnv(t, map[string]string{"UPSTREAM_RETRIES": "0"})
	e.up.SetFault(upstreamtest.EnvelopeError(403, "Agency plan does not include the Partner API"))
	r := e.query(pageQuery, nil)
	require.Len(t, r.Errors, 1)
	assert.Contains(t, r.Errors[0].Message, "Agency plan does not include the Partner API")
}

func TestRefusedConnectionIsUnavailable(t *testing.T) {
	t.Parallel()
	e := newEnv(t, map[string]string{"UPSTREAM_RETRIES": "1"})
	e.up.Close()
	r := e.query(pageQuery, nil)
	require.Equal(t, []string{"UPSTREAM_UNAVAILABLE"}, r.codes(), r.Raw)
	assert.Nil(t, r.Errors[0].Extensions["upstreamStatus"])
}

func TestTransientFailuresAreRetried(t *testing.T) {
	t.Parallel()
	e := newEnv(t, map[string]string{"UPSTREAM_RETRIES": "2"})
	e.up.SetFault(upstreamtest.Times(2, upstreamtest.Status(503)))
	r := e.query(pageQuery, nil)
	require.Empty(t, r.Errors, r.Raw)
	assert.EqualValues(t, 3, e.up.Calls())

	e.up.ResetCalls()
	e.up.SetFault(upstreamtest.Times(1, upstreamtest.Status(403)))
	r = e.query(pageQuery, nil)
	require.Equal(t, []string{"FORBIDDEN"}, r.codes())
	assert.EqualValues(t, 1, e.up.Calls(), "a 4xx is never retried")
}

func TestRateLimitRetriedWhenRetryAfterFits(t *testing.T) {
	t.Parallel()
	e := newEnv(t, map[string]string{"UPSTREAM_RETRIES": "2", "UPSTREAM_RETRY_MAX_WAIT": "2s"})
	e.up.SetFault(upstreamtest.Times(1, upstreamtest.RateLimit("0")))
	r := e.query(pageQuery, nil)
	require.Empty(t, r.Errors, r.Raw)
	assert.EqualValues(t, 2, e.up.Calls())

	e.up.ResetCalls()
	e.up.SetFault(upstreamtest.RateLimit("30"))
	r = e.query(pageQuery, nil)
	require.Equal(t, []string{"RATE_LIMITED"}, r.codes())
	assert.EqualValues(t, 30, r.Errors[0].Extensions["retryAfterSeconds"])
	assert.EqualValues(t, 1, e.up.Calls(), "a Retry-After beyond UPSTREAM_RETRY_MAX_WAIT is answered at once")
}

func TestStalePagesAreFlagged(t *testing.T) {
	t.Parallel()
	e := newEnvWith(t, map[string]string{"UPSTREAM_RETRIES": "0"},
		[]upstream.Option{upstream.WithCache(upstream.NewMemoryCache[upstream.Page](100), time.Nanosecond, time.Hour)})
	r := e.query(pageQuery, nil)
	require.Empty(t, r.Errors, r.Raw)
	assert.NotContains(t, r.Raw, `"stale"`)

	e.up.SetFault(upstreamtest.Status(503))
	r = e.query(`{ customers { nodes { id name } hasNextPage } }`, nil)
	require.Equal(t, []string{"UPSTREAM_UNAVAILABLE"}, r.codes(), "page 2 was never cached: %s", r.Raw)
	r = e.query(pageQuery, nil)
	require.Empty(t, r.Errors, r.Raw)
	assert.Contains(t, r.Raw, `"extensions":{"stale":true}`)
	assert.Contains(t, string(r.Data), "Jonas v1")

	e.up.SetFault(upstreamtest.Status(401))
	r = e.query(pageQuery, nil)
	assert.Equal(t, []string{"UNAUTHENTICATED"}, r.codes(), "an auth failure is never papered over: %s", r.Raw)
}
