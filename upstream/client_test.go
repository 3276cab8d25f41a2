package upstream_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/botpenguin-gateway/gateway/upstream"
	"github.com/botpenguin-gateway/gateway/upstream/upstreamtest"
)

const token = upstream.Token("test-token-5f3a9c")

// sleeper records the waits between attempts instead of sleeping.
type sleeper struct {
	mu    sync.Mutex
	waits []time.Duration
}

func (s *sleeper) sleep(ctx context.Context, d time.Duration) error {
	s.mu.Lock()
	s.waits = append(s.waits, d)
	s.mu.Unlock()
	return ctx.Err()
}

func (s *sleeper) Waits() []time.Duration {
	s.mu.Lock()
	defer s.mu.Unlock()
	return append([]time.Duration(nil), s.waits...)
}

// newClient returns a client of srv that never sleeps between attempts,
// with 2 retries and a 2s limit on Retry-After, unless opts say otherwise.
func newClient(t *testing.T, url string, opts ...upstream.Option) (*upstream.Client, *sleeper) {
	t.Helper()
	sl := &sleeper{}
	base := []upstream.Option{upstream.WithRetries(2, 2*time.Second), upstream.WithSleep(sl.sleep)}
	c, err := upstream.New(url, append(base, opts...)...)
	require.NoError(t, err)
	return c, sl
}

func newServer(t *testing.T, opts ...upstreamtest.Option) *upstreamtest.Server {
	t.Helper()
	s := upstreamtest.NewServer(opts...)
	t.Cleanup(s.Close)
	return s
}

func TestSendsHeadersAndParams(t *testing.T) {
	t.Parallel()
	srv := newServer(t, upstreamtest.WithToken(string(token)))
	c, _ := newClient(t, srv.URL+"/") // the trailing slash is dropped
	p, err := c.Customers.List(context.Background(), token, 3, upstream.SortName)
	require.NoError(t, err)
	assert.Len(t, p.Customers, 20)
	want := upstreamtest.Request{Page: "3", Sort: "name", AuthType: "Key", HasBearer: true}
	assert.Equal(t, []upstreamtest.Request{want}, srv.Requests())
	// The fake accepts only the configured token, so passing proves the
	// bearer was sent as is.
	_, err = c.Customers.List(context.Background(), "other-token", 1, upstream.SortCreatedAt)
	assert.ErrorIs(t, err, upstream.ErrUnauthorized, "wrong token")
}

func TestDecodesAllFields(t *testing.T) {
	t.Parallel()
	srv := newServer(t, upstreamtest.WithRecord(func(i int, rec map[string]any) {
		if i == 2 {
			rec["extra"] = map[string]any{"nested": []any{1, "two", nil}}
		}
	}))
	c, _ := newClient(t, srv.URL)
	ctx := context.Background()
	var got []upstream.Customer
	for page := 1; ; page++ {
		p, err := c.Customers.List(ctx, token, page, upstream.SortCreatedAt)
		require.NoError(t, err)
		require.Empty(t, p.Invalid, "page %d: invalid records", page)
		if p.Len() == 0 {
			break
		}
		got = append(got, p.Customers...)
	}
	recs := srv.Records("")
	require.Len(t, recs, 300)
	require.Len(t, got, len(recs))

	c0 := got[0]
	assert.Equal(t, "661000009e3779b97f4a7c15", c0.ID)
	assert.Equal(t, "Jonas v1", c0.Name)
	assert.Equal(t, ptr("jonas+0@monday101.com"), c0.Email)
	assert.False(t, c0.Verified)
	assert.Equal(t, "SUSPENDED", c0.Status)
	assert.Equal(t, ptr("v2"), c0.SubscriptionType)
	assert.Equal(t, time.Date(2024, 1, 2, 7, 6, 4, 395_000_000, time.UTC), c0.CreatedAt)
	assert.Equal(t, ptr(time.Date(2024, 1, 3, 0, 27, 29, 395_000_000, time.UTC)), c0.UpdatedAt)
	assert.Equal(t, ptr(time.Date(2024, 1, 10, 6, 10, 24, 395_000_000, time.UTC)), c0.LastLogin)
	assert.Nil(t, got[49].Email, "customer 49 has no contact")
	assert.Nil(t, got[6].LastLogin, "customer 6 has lastLogin null")
	assert.Equal(t, "SUSPENDED", got[61].Status, "customer 61: unknown statuses are kept")
	for i, r := range recs {
		c := got[i]
		assert.Equal(t, r["_id"], c.ID, "customer %d", i)
		assert.Equal(t, r["name"], c.Name, "customer %d", i)
		assert.Equal(t, r["verified"], c.Verified, "customer %d", i)
		assert.Equal(t, r["status"], c.Status, "customer %d", i)
		assert.Equal(t, r["createdAt"], c.CreatedAt.Format("2006-01-02T15:04:05.000Z"), "customer %d", i)
	}
}

func ptr[T any](v T) *T { return &v }

func TestSortsAndPastTheEnd(t *testing.T) {
	t.Parallel()
	srv := newServer(t, upstreamtest.WithCustomers(45))
	c, _ := newClient(t, srv.URL)
	ctx := context.Background()
	for _, s := range []upstream.Sort{upstream.SortCreatedAt, upstream.SortUpdatedAt, upstream.SortName, upstream.SortLastLogin} {
		p, err := c.Customers.List(ctx, token, 3, s)
		assert.NoError(t, err, "sort %s page 3", s)
		assert.Len(t, p.Customers, 5, "sort %s page 3", s)
		p, err = c.Customers.List(ctx, token, 4, s)
		assert.NoError(t, err, "sort %s page 4", s)
		assert.Zero(t, p.Len(), "sort %s page 4: want an empty page", s)
	}
	_, err := c.Customers.List(ctx, token, 0, upstream.SortName)
	assert.Error(t, err, "page 0")
	assert.Equal(t, int64(8), srv.Calls(), "page 0 makes no call")
}

func TestInvalidRecordKeepsThePage(t *testing.T) {
	t.Parallel()
	srv := newServer(t, upstreamtest.WithRecord(func(i int, rec map[string]any) {
		switch i {
		case 3:
			rec["createdAt"] = "not a time"
		case 5:
			delete(rec, "_id")
		case 7:
			rec["name"] = 42 // wrong type: the slow path
		}
	}))
	c, _ := newClient(t, srv.URL)
	p, err := c.Customers.List(context.Background(), token, 1, upstream.SortCreatedAt)
	require.NoError(t, err)
	require.Len(t, p.Customers, 17)
	require.Len(t, p.Invalid, 3)
	recs := srv.Records("")
	want := []upstream.RecordError{
		{Index: 3, ID: recs[3]["_id"].(string), Reason: "createdAt is not an RFC 3339 time"},
		{Index: 5, Reason: "missing _id"},
		{Index: 7, ID: recs[7]["_id"].(string), Reason: `field "name" is a JSON number, not a string`},
	}
	assert.Equal(t, want, p.Invalid)
	assert.Equal(t, recs[4]["_id"], p.Customers[3].ID, "the customer after the bad one")
}

func TestErrors(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name         string
		fault        upstreamtest.Fault
		kind         error
		status       int
		envelopeCode int
		message      string
		retryAfter   time.Duration
		calls        int64
		waits        []time.Duration
	}{
		{"401", upstreamtest.Status(401), upstream.ErrUnauthorized, 401, 401, "Unauthorized", 0, 1, nil},
		{"403", upstreamtest.Status(403), upstream.ErrForbidden, 403, 403, "Forbidden", 0, 1, nil},
		{"400 not retried", upstreamtest.Status(400), upstream.ErrBadResponse, 400, 400, "Bad Request", 0, 1, nil},
		{"404", upstreamtest.Status(404), upstream.ErrBadResponse, 404, 404, "Not Found", 0, 1, nil},
		{"429 without Retry-After", upstreamtest.RateLimit(""), upstream.ErrRateLimited, 429, 429, "Too Many Requests", 0, 1, nil},
		{"429 Retry-After too long", upstreamtest.RateLimit("60"), upstream.ErrRateLimited, 429, 429, "Too Many Requests", time.Minute, 1, nil},
		{"429 Retry-After fits", upstreamtest.RateLimit("1"), upstream.ErrRateLimited, 429, 429, "Too Many Requests", time.Second, 3,
			[]time.Duration{time.Second, time.Second}},
		{"500", upstreamtest.Status(500), upstream.ErrUnavailable, 500, 500, "Internal Server Error", 0, 3, nil},
		{"502", upstreamtest.Status(502), upstream.ErrUnavailable, 502, 502, "Bad Gateway", 0, 3, nil},
		{"503", upstreamtest.Status(503), upstream.ErrUnavailable, 503, 503, "Service Unavailable", 0, 3, nil},
		{"garbage", upstreamtest.Garbage(), upstream.ErrBadResponse, 200, 0, "", 0, 1, nil},
		{"bad envelope", upstreamtest.BadEnvelope(), upstream.ErrBadResponse, 200, 0, "", 0, 1, nil},
		{"200 false 401", upstreamtest.EnvelopeError(401, "Invalid key"), upstream.ErrUnauthorized, 200, 401, "Invalid key", 0, 1, nil},
		{"200 false 403", upstreamtest.EnvelopeError(403, "Not allowed"), upstream.ErrForbidden, 200, 403, "Not allowed", 0, 1, nil},
		{"200 false 429", upstreamtest.EnvelopeError(429, "Slow down"), upstream.ErrRateLimited, 200, 429, "Slow down", 0, 1, nil},
		{"200 false 503", upstreamtest.EnvelopeError(503, "Maintenance"), upstream.ErrUnavailable, 200, 503, "Maintenance", 0, 3, nil},
		{"200 false 418", upstreamtest.EnvelopeError(418, "Teapot"), upstream.ErrBadResponse, 200, 418, "Teapot", 0, 1, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newServer(t)
			srv.SetFault(tt.fault)
			c, sl := newClient(t, srv.URL)
			p, err := c.Customers.List(context.Background(), token, 1, upstream.SortCreatedAt)
			var e *upstream.Error
			require.ErrorAs(t, err, &e, "page %+v", p)
			assert.ErrorIs(t, err, tt.kind)
			assert.Equal(t, tt.status, e.StatusCode, "status")
			assert.Equal(t, tt.envelopeCode, e.EnvelopeCode, "envelope code")
			assert.Equal(t, tt.message, e.Message, "message")
			assert.Equal(t, tt.retryAfter, e.RetryAfter, "retry after")
			assert.Equal(t, tt.calls, srv.Calls(), "upstream calls")
			if tt.waits != nil {
				assert.Equal(t, tt.waits, sl.Waits())
			}
			assert.Len(t, sl.Waits(), int(tt.calls-1), "one wait between two calls")
		})
	}
}

func TestRetries(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name    string
		fault   upstreamtest.Fault
		retries int
		calls   int64
		wantErr error
	}{
		{"two 503 then ok", upstreamtest.Times(2, upstreamtest.Status(503)), 2, 3, nil},
		{"three 503", upstreamtest.Times(3, upstreamtest.Status(503)), 2, 3, upstream.ErrUnavailable},
		{"no retries", upstreamtest.Times(1, upstreamtest.Status(502)), 0, 1, upstream.ErrUnavailable},
		{"429 then ok", upstreamtest.Times(1, upstreamtest.RateLimit("0")), 2, 2, nil},
		{"503 then 401", upstreamtest.Chain(upstreamtest.Times(1, upstreamtest.Status(503)), upstreamtest.Status(401)), 2, 2, upstream.ErrUnauthorized},
		{"400", upstreamtest.Times(1, upstreamtest.Status(400)), 5, 1, upstream.ErrBadResponse},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newServer(t)
			srv.SetFault(tt.fault)
			c, _ := newClient(t, srv.URL, upstream.WithRetries(tt.retries, 2*time.Second))
			p, err := c.Customers.List(context.Background(), token, 1, upstream.SortCreatedAt)
			if tt.wantErr == nil {
				require.NoError(t, err)
				assert.Len(t, p.Customers, 20)
			} else {
				require.ErrorIs(t, err, tt.wantErr)
			}
			assert.Equal(t, tt.calls, srv.Calls(), "upstream calls")
		})
	}
}

func TestTimeout(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	srv.SetFault(upstreamtest.Times(1, upstreamtest.Stall(time.Minute)))
	c, _ := newClient(t, srv.URL, upstream.WithTimeout(50*time.Millisecond), upstream.WithRetries(0, 0))
	_, err := c.Customers.List(context.Background(), token, 1, upstream.SortCreatedAt)
	var e *upstream.Error
	require.ErrorAs(t, err, &e, "want a timeout wrapping ErrUnavailable")
	require.ErrorIs(t, err, upstream.ErrUnavailable)
	require.True(t, e.Timeout(), "err = %v, want a timeout", err)
	require.Zero(t, e.StatusCode)
	assert.NotErrorIs(t, err, context.DeadlineExceeded, "an attempt timeout must not look like the caller's deadline")

	// With a retry, the second attempt gets the normal answer.
	srv.SetFault(upstreamtest.Times(1, upstreamtest.Stall(time.Minute)))
	c, _ = newClient(t, srv.URL, upstream.WithTimeout(50*time.Millisecond))
	_, err = c.Customers.List(context.Background(), token, 1, upstream.SortCreatedAt)
	require.NoError(t, err, "with a retry")
	assert.Equal(t, int64(3), srv.Calls(), "upstream calls")
}

func TestConnectionRefused(t *testing.T) {
	t.Parallel()
	srv := upstreamtest.NewServer()
	url := srv.URL
	srv.Close()
	c, sl := newClient(t, url)
	_, err := c.Customers.List(context.Background(), token, 1, upstream.SortCreatedAt)
	var e *upstream.Error
	require.ErrorAs(t, err, &e, "want ErrUnavailable with a cause")
	require.ErrorIs(t, err, upstream.ErrUnavailable)
	require.Zero(t, e.StatusCode)
	require.Error(t, e.Err, "want ErrUnavailable with a cause")
	assert.Len(t, sl.Waits(), 2, "two retries")
	assert.NotContains(t, err.Error(), "http://", "the error shows the URL")
}

func TestDeadline(t *testing.T) {
	t.Parallel()
	srv := newServer(t)

	// A Retry-After that fits within the max wait but not before the
	// caller's deadline: the 429 comes back at once, without waiting.
	srv.SetFault(upstreamtest.RateLimit("2"))
	c, sl := newClient(t, srv.URL)
	ctx, cancel := context.WithTimeout(context.Background(), time.Second)
	defer cancel()
	_, err := c.Customers.List(ctx, token, 1, upstream.SortCreatedAt)
	assert.ErrorIs(t, err, upstream.ErrRateLimited)
	assert.Equal(t, int64(1), srv.Calls(), "upstream calls")
	assert.Empty(t, sl.Waits(), "no wait")

	// The deadline passes during an attempt.
	srv.SetFault(upstreamtest.Hang())
	ctx, cancel = context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err = c.Customers.List(ctx, token, 2, upstream.SortCreatedAt)
	assert.ErrorIs(t, err, upstream.ErrUnavailable)
	assert.ErrorIs(t, err, context.DeadlineExceeded)
}

func TestCanceled(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	arrived := make(chan string, 1)
	srv.SetFault(upstreamtest.Notify(arrived, upstreamtest.Hang()))
	c, _ := newClient(t, srv.URL)

	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() {
		_, err := c.Customers.List(ctx, token, 1, upstream.SortCreatedAt)
		done <- err
	}()
	<-arrived
	cancel()
	err := <-done
	assert.ErrorIs(t, err, context.Canceled)
	for _, kind := range []error{upstream.ErrUnavailable, upstream.ErrBadResponse} {
		assert.NotErrorIs(t, err, kind)
	}

	// Already cancelled: no call at all.
	srv.ResetCalls()
	_, err = c.Customers.List(ctx, token, 1, upstream.SortCreatedAt)
	assert.ErrorIs(t, err, context.Canceled, "cancelled ctx")
	assert.Zero(t, srv.Calls(), "cancelled ctx: upstream calls")
}

func TestEmptyTokenMakesNoCall(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	c, _ := newClient(t, srv.URL)
	for _, tok := range []upstream.Token{"", "bad\ntoken"} {
		_, err := c.Customers.List(context.Background(), tok, 1, upstream.SortCreatedAt)
		assert.ErrorIs(t, err, upstream.ErrUnauthorized, "token %q", string(tok))
		require.Error(t, err)
		assert.NotContains(t, err.Error(), "bad", "the error shows the token")
	}
	assert.Zero(t, srv.Calls(), "upstream calls")
}

func TestTenantsSeeTheirOwnData(t *testing.T) {
	t.Parallel()
	srv := newServer(t, upstreamtest.WithTenant("token-a", "acme"), upstreamtest.WithTenant("token-b", "globex"))
	c, _ := newClient(t, srv.URL)
	ctx := context.Background()
	a, errA := c.Customers.List(ctx, "token-a", 1, upstream.SortCreatedAt)
	b, errB := c.Customers.List(ctx, "token-b", 1, upstream.SortCreatedAt)
	require.NoError(t, errA)
	require.NoError(t, errB)
	ids := map[string]bool{}
	for _, cu := range a.Customers {
		ids[cu.ID] = true
	}
	for _, cu := range b.Customers {
		assert.False(t, ids[cu.ID], "id %s seen by both tokens", cu.ID)
	}
	assert.True(t, strings.HasSuffix(a.Customers[0].Name, "(acme)"), "name %q", a.Customers[0].Name)
	assert.True(t, strings.HasSuffix(b.Customers[0].Name, "(globex)"), "name %q", b.Customers[0].Name)
}

func TestNew(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		url  string
		opts []upstream.Option
		ok   bool
	}{
		{"https", "https://api.v7.botpenguin.com", nil, true},
		{"trailing slash", "https://api.v7.botpenguin.com/", nil, true},
		{"no scheme", "api.v7.botpenguin.com", nil, false},
		{"ftp", "ftp://example.com", nil, false},
		{"no host", "https://", nil, false},
		{"credentials", "https://user:hunter2@example.com", nil, false},
		{"bad port with credentials", "https://user:hunter2@example.com:port", nil, false},
		{"query", "https://example.com?x=1", nil, false},
		{"zero timeout", "https://example.com", []upstream.Option{upstream.WithTimeout(0)}, false},
		{"negative retries", "https://example.com", []upstream.Option{upstream.WithRetries(-1, 0)}, false},
		{"negative backoff", "https://example.com", []upstream.Option{upstream.WithBackoff(-1, 0)}, false},
		{"nil http client", "https://example.com", []upstream.Option{upstream.WithHTTPClient(nil)}, false},
		{"all options", "http://127.0.0.1:1", []upstream.Option{
			upstream.WithHTTPClient(&http.Client{}), upstream.WithTimeout(time.Second), upstream.WithRetries(0, 0),
			upstream.WithBackoff(0, 0), upstream.WithMetrics(prometheus.NewRegistry()), upstream.WithLogger(slog.Default()),
		}, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c, err := upstream.New(tt.url, tt.opts...)
			if tt.ok {
				assert.NoError(t, err)
				assert.NotNil(t, c)
			} else {
				assert.Error(t, err)
				assert.Nil(t, c)
			}
			if err != nil {
				assert.NotContains(t, err.Error(), "hunter2", "the error shows the password")
			}
		})
	}
}

// TestTokenNeverPrinted drives every kind of failure with debug logging on
// and checks errors, logs and metrics for the token.
func TestTokenNeverPrinted(t *testing.T) {
	t.Parallel()
	const secret = upstream.Token("sk-live-9d8c7b6a5f4e")
	var logs bytes.Buffer
	var mu sync.Mutex
	logger := slog.New(slog.NewJSONHandler(&lockedWriter{w: &logs, mu: &mu}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	reg := prometheus.NewRegistry()
	srv := newServer(t)
	c, _ := newClient(t, srv.URL, upstream.WithLogger(logger), upstream.WithMetrics(reg), upstream.WithTimeout(50*time.Millisecond))

	faults := []upstreamtest.Fault{
		nil, upstreamtest.Status(401), upstreamtest.Status(503), upstreamtest.RateLimit("1"),
		upstreamtest.EnvelopeError(401, "invalid key "+string(secret)), upstreamtest.Garbage(),
		upstreamtest.BadEnvelope(), upstreamtest.Stall(time.Minute),
	}
	var errs []string
	for _, f := range faults {
		srv.SetFault(f)
		_, err := c.Customers.List(context.Background(), secret, 1, upstream.SortCreatedAt)
		if err != nil {
			errs = append(errs, err.Error(), fmtAll(err))
		}
	}
	closed := upstreamtest.NewServer()
	closed.Close()
	c2, _ := newClient(t, closed.URL, upstream.WithLogger(logger))
	if _, err := c2.Customers.List(context.Background(), secret, 1, upstream.SortCreatedAt); err != nil {
		errs = append(errs, err.Error(), fmtAll(err))
	}

	assert.Len(t, errs, 2*len(faults), "error strings")
	for _, s := range errs {
		assert.NotContains(t, s, string(secret), "an error shows the token")
		assert.NotContains(t, s, "sk-live", "an error shows the token")
	}
	mu.Lock()
	out := logs.String()
	mu.Unlock()
	assert.Contains(t, out, "upstream attempt", "a debug line was logged")
	assert.NotContains(t, out, "sk-live", "the log shows the token")
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		assert.NotContains(t, mf.String(), "sk-live", "metric %s shows the token", mf.GetName())
	}
}

func fmtAll(err error) string {
	var b strings.Builder
	for err != nil {
		b.WriteString(err.Error())
		b.WriteString(" | ")
		var e *upstream.Error
		if errors.As(err, &e) {
			b.WriteString(e.Message)
			err = e.Err
			continue
		}
		err = errors.Unwrap(err)
	}
	return b.String()
}

type lockedWriter struct {
	w  *bytes.Buffer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// The buffers answers are read into are reused from call to call: a page
// must hold its own copies, unchanged by the calls after it.
func TestAPageIsUnchangedByTheCallsAfterIt(t *testing.T) {
	t.Parallel()
	srv := newServer(t, upstreamtest.WithCustomers(100))
	c, _ := newClient(t, srv.URL)
	ctx := context.Background()
	first, err := c.Customers.List(ctx, token, 1, upstream.SortCreatedAt)
	require.NoError(t, err)
	want, err := json.Marshal(first) // follows the pointers
	require.NoError(t, err)
	for page := 2; page <= 5; page++ {
		for _, s := range []upstream.Sort{upstream.SortName, upstream.SortUpdatedAt} {
			_, err := c.Customers.List(ctx, token, page, s)
			require.NoError(t, err)
		}
	}
	after, err := json.Marshal(first)
	require.NoError(t, err)
	assert.JSONEq(t, string(want), string(after))
}
