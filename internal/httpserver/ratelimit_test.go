package httpserver_test

import (
	"bytes"
	"crypto/rand"
	"encoding/json"
	"io"
	"net/http"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/botpenguin-gateway/gateway/upstream/upstreamtest"
)

// fakeClock is the rate limit's clock: it moves only when told, so that no
// bucket refills between two requests of a test however slow the machine.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
}

// postAs posts pageQuery (an upstream call) with an Authorization header and an
// X-Forwarded-For header ("" for none), and returns the answer and its
// Retry-After.
func (e *env) postAs(authorization, forwardedFor string) (gqlResponse, string) {
	e.t.Helper()
	req, err := http.NewRequest(http.MethodPost, e.gw.URL+"/query", bytes.NewReader([]byte(`{"query": "`+pageQuery+`"}`)))
	require.NoError(e.t, err)
	req.Header.Set("Content-Type", "application/json")
	if authorization != "" {
		req.Header.Set("Authorization", authorization)
	}
	if forwardedFor != "" {
		req.Header.Set("X-Forwarded-For", forwardedFor)
	}
	resp, err := e.gw.Client().Do(req)
	require.NoError(e.t, err)
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(e.t, err)
	out := gqlResponse{Status: resp.StatusCode, Raw: string(raw)}
	require.NoError(e.t, json.Unmarshal(raw, &out), "body: %s", raw)
	e.checkNoSecret("response", out.Raw)
	return out, resp.Header.Get("Retry-After")
}

// requireLimited checks that r is the rate limit's refusal.
func requireLimited(t *testing.T, r gqlResponse, retryAfter, why string) {
	t.Helper()
	require.Equal(t, 429, r.Status, "%s: %s", why, r.Raw)
	require.Equal(t, []string{"RATE_LIMITED"}, r.codes(), r.Raw)
	require.NotEmpty(t, retryAfter, "Retry-After")
}

func requireServed(t *testing.T, r gqlResponse, why string) {
	t.Helper()
	require.Equal(t, 200, r.Status, "%s: %s", why, r.Raw)
	require.Empty(t, r.Errors, "%s: %s", why, r.Raw)
}

func madeUpToken() string { return "Bearer guess-" + rand.Text() }

// The reproduction: with any token let in, a fresh token per request
// was a fresh bucket per request, each spending the agency's key upstream.
func TestRateLimitIgnoresMadeUpTokensInServerKeyMode(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	e := newEnvClock(t, map[string]string{
		"BOTPENGUIN_API_KEY":    serverKey,
		"ALLOW_UNAUTHENTICATED": "true",
		"RATE_LIMIT_RPS":        "1",
	}, nil, clock.Now, upstreamtest.WithToken(serverKey))

	for i := range 8 {
		r, retryAfter := e.postAs(madeUpToken(), "")
		if i < 2 { // the default burst, 2 × RATE_LIMIT_RPS
			requireServed(t, r, "within the burst")
			continue
		}
		requireLimited(t, r, retryAfter, "a new token is no new bucket")
		assert.Equal(t, "1", retryAfter)
		assert.EqualValues(t, 1, r.Errors[0].Extensions["retryAfterSeconds"])
	}
	assert.EqualValues(t, 2, e.up.Calls(), "a limited request spends nothing upstream")
	r, retryAfter := e.postAs("", "")
	requireLimited(t, r, retryAfter, "no token is the same client, by address")

	clock.Advance(time.Second)
	r, _ = e.postAs(madeUpToken(), "")
	requireServed(t, r, "a second later the bucket holds one more")
	assert.Contains(t, e.metric("gateway_rate_limited_requests_total"), `gateway_rate_limited_requests_total{kind="address"} 7`)
	assert.Contains(t, e.metric("gateway_rate_limited_requests_total"), `gateway_rate_limited_requests_total{kind="token"} 0`)
}

func TestRateLimitGivesAccessTokensTheirOwnBuckets(t *testing.T) {
	t.Parallel()
	e := newEnvClock(t, map[string]string{
		"BOTPENGUIN_API_KEY":    serverKey,
		"GATEWAY_ACCESS_TOKENS": accessToken + ",other-token",
		"ALLOW_UNAUTHENTICATED": "true",
		"RATE_LIMIT_RPS":        "1",
		"RATE_LIMIT_BURST":      "2",
	}, nil, newFakeClock().Now, upstreamtest.WithToken(serverKey))

	for range 2 {
		r, _ := e.postAs("", "")
		requireServed(t, r, "anonymous, within the burst")
	}
	r, retryAfter := e.postAs("", "")
	requireLimited(t, r, retryAfter, "anonymous, over the burst")
	r, retryAfter = e.postAs("Bearer wrong-token", "")
	requireLimited(t, r, retryAfter, "an invalid token is charged to its address")

	for range 2 {
		r, _ = e.postAs("Bearer "+accessToken, "")
		requireServed(t, r, "an access token is not limited by the anonymous clients of its address")
	}
	r, retryAfter = e.postAs("Bearer "+accessToken, "")
	requireLimited(t, r, retryAfter, "an access token over its burst")
	r, _ = e.postAs("Bearer other-token", "")
	requireServed(t, r, "each access token has its own bucket")

	metric := e.metric("gateway_rate_limited_requests_total")
	assert.Contains(t, metric, `gateway_rate_limited_requests_total{kind="address"} 2`)
	assert.Contains(t, metric, `gateway_rate_limited_requests_total{kind="token"} 1`)
}

func TestRateLimitPassThroughChargesUnknownTokensToTheAddress(t *testing.T) {
	t.Parallel()
	clock := newFakeClock()
	// The fake upstream refuses every token but testToken with a 401.
	e := newEnvClock(t, map[string]string{"RATE_LIMIT_RPS": "1", "RATE_LIMIT_BURST": "2"},
		nil, clock.Now, upstreamtest.WithToken(testToken))

	// Unknown yet: charged to the address, which has 2.
	r, _ := e.postAs("Bearer "+testToken, "")
	requireServed(t, r, "a real token, first seen")
	refused := madeUpToken()
	r, _ = e.postAs(refused, "")
	require.Equal(t, []string{"UNAUTHENTICATED"}, r.codes(), r.Raw)
	for range 6 {
		r, retryAfter := e.postAs(madeUpToken(), "")
		requireLimited(t, r, retryAfter, "guessing is charged to the address")
	}
	r, retryAfter := e.postAs(refused, "")
	requireLimited(t, r, retryAfter, "a refused token gets no bucket of its own")
	assert.EqualValues(t, 2, e.up.Calls(), "a limited guess is never sent upstream")

	// The upstream accepted testToken: it has a bucket of its own (2), which
	// the guessing from its address did not touch.
	for range 2 {
		r, _ = e.postAs("Bearer "+testToken, "")
		requireServed(t, r, "a verified token, while its address is limited")
	}
	r, retryAfter = e.postAs("Bearer "+testToken, "")
	requireLimited(t, r, retryAfter, "a verified token over its own burst")

	// Two seconds later both buckets are full again. The upstream now refuses
	// testToken once: it is no longer verified, and goes back to the
	// address, whose bucket guessing empties.
	clock.Advance(2 * time.Second)
	for range 2 {
		r, _ = e.postAs(madeUpToken(), "")
		require.Equal(t, []string{"UNAUTHENTICATED"}, r.codes(), r.Raw)
	}
	e.up.SetFault(upstreamtest.Times(1, upstreamtest.Status(http.StatusUnauthorized)))
	r, _ = e.postAs("Bearer "+testToken, "")
	require.Equal(t, []string{"UNAUTHENTICATED"}, r.codes(), r.Raw)
	r, retryAfter = e.postAs("Bearer "+testToken, "")
	requireLimited(t, r, retryAfter, "a token refused since is charged to its address again")

	metric := e.metric("gateway_rate_limited_requests_total")
	assert.Contains(t, metric, `gateway_rate_limited_requests_total{kind="address"} 8`)
	assert.Contains(t, metric, `gateway_rate_limited_requests_total{kind="token"} 1`)
}

func TestRateLimitTrustsForwardedForOnlyFromTrustedProxies(t *testing.T) {
	t.Parallel()
	vars := func(proxies string) map[string]string {
		return map[string]string{
			"BOTPENGUIN_API_KEY":    serverKey,
			"ALLOW_UNAUTHENTICATED": "true",
			"RATE_LIMIT_RPS":        "1",
			"RATE_LIMIT_BURST":      "1",
			"TRUSTED_PROXIES":       proxies,
		}
	}
	t.Run("from a trusted proxy", func(t *testing.T) {
		t.Parallel()
		// The test's requests come from 127.0.0.1, here a trusted proxy.
		e := newEnvClock(t, vars("10.0.0.0/8, 127.0.0.1"), nil, newFakeClock().Now, upstreamtest.WithToken(serverKey))
		for _, step := range []struct {
			forwardedFor string
			served       bool
			why          string
		}{
			{"203.0.113.7", true, "a client behind the proxy"},
			{"203.0.113.7", false, "the same client again"},
			{"198.51.100.9, 203.0.113.7", false, "what the client wrote left of its address is ignored"},
			{"203.0.113.7, 10.1.2.3", false, "trusted proxies in the chain are skipped"},
			{"203.0.113.8", true, "another client"},
			{"2001:db8:1:2::1", true, "an IPv6 client"},
			{"2001:db8:1:2:ffff::1", false, "the same IPv6 /64"},
			{"2001:db8:1:3::1", true, "another IPv6 /64"},
			{"", true, "the proxy itself"},
		} {
			r, retryAfter := e.postAs("", step.forwardedFor)
			if step.served {
				requireServed(t, r, step.why)
			} else {
				requireLimited(t, r, retryAfter, step.why)
			}
		}
	})
	t.Run("from any other peer", func(t *testing.T) {
		t.Parallel()
		e := newEnvClock(t, vars("10.0.0.0/8"), nil, newFakeClock().Now, upstreamtest.WithToken(serverKey))
		r, _ := e.postAs("", "203.0.113.1")
		requireServed(t, r, "the first request of 127.0.0.1")
		r, retryAfter := e.postAs("", "203.0.113.2")
		requireLimited(t, r, retryAfter, "a spoofed X-Forwarded-For is ignored")
	})
}
