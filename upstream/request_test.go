package upstream

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/botpenguin-gateway/gateway/upstream/upstreamtest"
)

// The pipeline for any endpoint, driven with a POST and a GET of an
// endpoint that no service has yet: what the create of customers will be.

// created is the answer of the test endpoint.
type created struct {
	ID   string `json:"_id"`
	Name string `json:"name"`
}

func decodeCreated(r response) (created, error) {
	data, err := r.check()
	if err != nil {
		return created{}, err
	}
	var c created
	if err := json.Unmarshal(data, &c); err != nil || c.ID == "" {
		return created{}, &Error{Kind: ErrBadResponse, StatusCode: r.http.StatusCode, Err: errors.New("not a customer")}
	}
	return c, nil
}

// seen is a request as the test upstream received it.
type seen struct {
	method, path, query, contentType, authType, authorization, accept string
	body                                                              string
}

// endpoint is a test upstream under a base path (so that an absolute path
// in the client would miss it), with one endpoint that answers a customer
// unless fault answers first.
type endpoint struct {
	*httptest.Server
	calls atomic.Int64
	mu    sync.Mutex
	seen  []seen
}

func newEndpoint(t *testing.T, fault upstreamtest.Fault) *endpoint {
	t.Helper()
	e := &endpoint{}
	mux := http.NewServeMux()
	mux.HandleFunc("/base/customer/create", func(w http.ResponseWriter, r *http.Request) {
		e.calls.Add(1)
		b, _ := io.ReadAll(r.Body)
		e.mu.Lock()
		e.seen = append(e.seen, seen{r.Method, r.URL.Path, r.URL.RawQuery, r.Header.Get("Content-Type"),
			r.Header.Get("authtype"), r.Header.Get("Authorization"), r.Header.Get("Accept"), string(b)})
		e.mu.Unlock()
		if fault != nil && fault(w, r) {
			return
		}
		w.Header().Set("Content-Type", "application/json")
		w.WriteHeader(http.StatusCreated)
		_, _ = w.Write([]byte(`{"success":true,"message":"","data":{"_id":"6610new","name":"Ada","userType":"CUSTOMER"},"code":201}`))
	})
	e.Server = httptest.NewServer(mux)
	t.Cleanup(e.Close)
	return e
}

func (e *endpoint) requests() []seen {
	e.mu.Lock()
	defer e.mu.Unlock()
	return append([]seen(nil), e.seen...)
}

// waitRecorder notes the waits between attempts instead of sleeping.
type waitRecorder struct {
	mu    sync.Mutex
	waits []time.Duration
}

func (w *waitRecorder) sleep(ctx context.Context, d time.Duration) error {
	w.mu.Lock()
	w.waits = append(w.waits, d)
	w.mu.Unlock()
	return ctx.Err()
}

func (w *waitRecorder) count() int {
	w.mu.Lock()
	defer w.mu.Unlock()
	return len(w.waits)
}

// testClient has 2 retries, a 2s Retry-After limit, no sleeping and a
// fresh connection per attempt (net/http itself would resend a GET whose
// reused connection broke, which would blur the counts).
func testClient(t *testing.T, url string, opts ...Option) (*Client, *waitRecorder) {
	t.Helper()
	w := &waitRecorder{}
	base := []Option{WithRetries(2, 2*time.Second), WithSleep(w.sleep),
		WithHTTPClient(&http.Client{Transport: &http.Transport{DisableKeepAlives: true}})}
	c, err := New(url, append(base, opts...)...)
	require.NoError(t, err)
	return c, w
}

var newCustomer = map[string]string{"username": "ada@example.com", "name": "Ada", "password": "pw-canary-77"}

func TestDoSendsAPostWithItsJSONBody(t *testing.T) {
	t.Parallel()
	up := newEndpoint(t, nil)
	c, _ := testClient(t, up.URL+"/base/")
	req, err := c.newRequest("create customer", http.MethodPost, "/customer/create", "", "tok-1", newCustomer)
	require.NoError(t, err)
	r, err := do(context.Background(), c, req, decodeCreated, nil)
	require.NoError(t, err)
	require.Equal(t, created{ID: "6610new", Name: "Ada"}, r.value)
	got := up.requests()
	require.Len(t, got, 1)
	want := seen{method: "POST", path: "/base/customer/create", contentType: "application/json", authType: "Key",
		authorization: "Bearer tok-1", accept: "application/json", body: got[0].body}
	assert.Equal(t, want, got[0])
	var body map[string]string
	if assert.NoError(t, json.Unmarshal([]byte(got[0].body), &body), "body %s: want the JSON of the input", got[0].body) {
		assert.Len(t, body, 3, "want the JSON of the input")
		assert.Equal(t, "pw-canary-77", body["password"], "want the JSON of the input")
	}

	// A body that cannot be JSON is refused before any call.
	_, err = c.newRequest("create customer", http.MethodPost, "/customer/create", "", "tok-1", func() {})
	assert.Error(t, err, "newRequest with a func body")
	// So is a missing token, as for the list.
	_, err = c.newRequest("create customer", http.MethodPost, "/customer/create", "", "", newCustomer)
	assert.ErrorIs(t, err, ErrUnauthorized, "no token")
}

// Retries follow the method: a GET is retried after a 5xx, a timeout or a
// broken connection; a POST, which the upstream may have acted on then, is
// not. Both are retried after a 429 that fits within the max wait.
func TestRetriesFollowTheMethod(t *testing.T) {
	t.Parallel()
	reset := func(w http.ResponseWriter, _ *http.Request) bool {
		if conn, _, err := w.(http.Hijacker).Hijack(); err == nil {
			conn.Close() // the request was read; no answer comes
		}
		return true
	}
	for _, tc := range []struct {
		name      string
		fault     func() upstreamtest.Fault // a new one per subtest: Times counts
		kind      error                     // nil: success in the end
		postCalls int64
		getCalls  int64
	}{
		{"503", func() upstreamtest.Fault { return upstreamtest.Status(503) }, ErrUnavailable, 1, 3},
		{"200 success:false 503", func() upstreamtest.Fault { return upstreamtest.EnvelopeError(503, "Maintenance") }, ErrUnavailable, 1, 3},
		{"timeout", func() upstreamtest.Fault { return upstreamtest.Stall(time.Minute) }, ErrUnavailable, 1, 3},
		{"connection reset", func() upstreamtest.Fault { return reset }, ErrUnavailable, 1, 3},
		{"429 within the max wait", func() upstreamtest.Fault { return upstreamtest.Times(1, upstreamtest.RateLimit("1")) }, nil, 2, 2},
		{"429 beyond the max wait", func() upstreamtest.Fault { return upstreamtest.RateLimit("60") }, ErrRateLimited, 1, 1},
		{"401", func() upstreamtest.Fault { return upstreamtest.Status(401) }, ErrUnauthorized, 1, 1},
	} {
		for _, method := range []string{http.MethodPost, http.MethodGet} {
			t.Run(tc.name+" "+method, func(t *testing.T) {
				t.Parallel()
				up := newEndpoint(t, tc.fault())
				c, _ := testClient(t, up.URL+"/base", WithTimeout(100*time.Millisecond))
				var body any
				if method == http.MethodPost {
					body = newCustomer
				}
				req, err := c.newRequest("create customer", method, "/customer/create", "", "tok-1", body)
				require.NoError(t, err)
				_, err = do(context.Background(), c, req, decodeCreated, nil)
				if tc.kind == nil {
					assert.NoError(t, err)
				} else {
					assert.ErrorIs(t, err, tc.kind)
				}
				want := tc.getCalls
				if method == http.MethodPost {
					want = tc.postCalls
				}
				assert.Equal(t, want, up.calls.Load(), "upstream calls")
			})
		}
	}
}

// A refused connection means that nothing was sent: a POST is retried.
func TestPostIsRetriedWhenTheConnectionIsRefused(t *testing.T) {
	t.Parallel()
	up := newEndpoint(t, nil)
	up.Close()
	reg := prometheus.NewRegistry()
	c, w := testClient(t, up.URL+"/base", WithMetrics(reg))
	req, err := c.newRequest("create customer", http.MethodPost, "/customer/create", "", "tok-1", newCustomer)
	require.NoError(t, err)
	_, err = do(context.Background(), c, req, decodeCreated, nil)
	require.ErrorIs(t, err, ErrUnavailable)
	require.True(t, neverSent(err), "err = %v, want ErrUnavailable from a refused connection", err)
	assert.Equal(t, 3.0, attempts(t, reg), "attempts")
	assert.Equal(t, 2, w.count(), "waits")
}

// A POST is never coalesced with an identical one, nor cached, even when
// the endpoint shares its answers; a GET of the same endpoint is both.
func TestOnlySafeRequestsAreShared(t *testing.T) {
	t.Parallel()
	release := make(chan struct{})
	arrived := make(chan string, 2)
	up := newEndpoint(t, upstreamtest.Times(2, upstreamtest.Notify(arrived, upstreamtest.Block(release))))
	c, _ := testClient(t, up.URL+"/base")
	c.cacheTTL = time.Minute
	cache := NewMemoryCache[created](10)
	share := &sharing[created]{cache: cache}
	call := func(method string, body any) (created, error) {
		req, err := c.newRequest("create customer", method, "/customer/create", "", "tok-1", body)
		if err != nil {
			return created{}, err
		}
		r, err := do(context.Background(), c, req, decodeCreated, share)
		return r.value, err
	}

	errs := make(chan error, 2)
	for range 2 {
		go func() {
			_, err := call(http.MethodPost, newCustomer)
			errs <- err
		}()
	}
	<-arrived
	<-arrived // both reached the upstream: neither joined the other
	close(release)
	for range 2 {
		require.NoError(t, <-errs)
	}
	assert.Zero(t, cache.Len(), "cached after two POSTs")
	assert.Equal(t, int64(2), up.calls.Load(), "upstream calls after two POSTs")

	for range 2 {
		v, err := call(http.MethodGet, nil)
		require.NoError(t, err)
		require.Equal(t, "6610new", v.ID)
	}
	assert.Equal(t, 1, cache.Len(), "cached after two GETs")
	assert.Equal(t, int64(3), up.calls.Load(), "upstream calls after two GETs: the second a hit")
}

// attempts is the sum of gateway_upstream_requests_total.
func attempts(t *testing.T, reg prometheus.Gatherer) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	var n float64
	for _, mf := range mfs {
		if mf.GetName() == "gateway_upstream_requests_total" {
			for _, m := range mf.GetMetric() {
				n += m.GetCounter().GetValue()
			}
		}
	}
	return n
}
