package upstream_test

import (
	"bytes"
	"context"
	"errors"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"

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
	if err != nil {
		t.Fatal(err)
	}
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
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Customers) != 20 {
		t.Errorf("got %d customers, want 20", len(p.Customers))
	}
	want := upstreamtest.Request{Page: "3", Sort: "name", AuthType: "Key", HasBearer: true}
	if got := srv.Requests(); len(got) != 1 || got[0] != want {
		t.Errorf("Requests = %+v, want [%+v]", got, want)
	}
	// The fake accepts only the configured token, so passing proves the
	// bearer was sent as is.
	_, err = c.Customers.List(context.Background(), "other-token", 1, upstream.SortCreatedAt)
	if !errors.Is(err, upstream.ErrUnauthorized) {
		t.Errorf("wrong token: err = %v, want ErrUnauthorized", err)
	}
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
		if err != nil {
			t.Fatal(err)
		}
		if len(p.Invalid) != 0 {
			t.Fatalf("page %d: invalid records %+v", page, p.Invalid)
		}
		if p.Len() == 0 {
			break
		}
		got = append(got, p.Customers...)
	}
	recs := srv.Records("")
	if len(got) != len(recs) || len(got) != 300 {
		t.Fatalf("got %d customers, want %d", len(got), len(recs))
	}

	c0 := got[0]
	created := time.Date(2024, 1, 2, 7, 6, 4, 395_000_000, time.UTC)
	if c0.ID != "661000009e3779b97f4a7c15" || c0.Name != "Jonas v1" || c0.Email == nil ||
		*c0.Email != "jonas+0@monday101.com" || c0.Verified || c0.Status != "SUSPENDED" ||
		c0.SubscriptionType == nil || *c0.SubscriptionType != "v2" || !c0.CreatedAt.Equal(created) ||
		c0.UpdatedAt == nil || !c0.UpdatedAt.Equal(time.Date(2024, 1, 3, 0, 27, 29, 395_000_000, time.UTC)) ||
		c0.LastLogin == nil || !c0.LastLogin.Equal(time.Date(2024, 1, 10, 6, 10, 24, 395_000_000, time.UTC)) {
		t.Errorf("customer 0 = %+v", c0)
	}
	if got[49].Email != nil {
		t.Errorf("customer 49 (no contact) email = %q, want nil", *got[49].Email)
	}
	if got[6].LastLogin != nil {
		t.Errorf("customer 6 (lastLogin null) lastLogin = %v, want nil", got[6].LastLogin)
	}
	if got[61].Status != "SUSPENDED" {
		t.Errorf("customer 61 status = %q, want SUSPENDED (unknown statuses are kept)", got[61].Status)
	}
	for i, r := range recs {
		c := got[i]
		if c.ID != r["_id"] || c.Name != r["name"] || c.Verified != r["verified"] || c.Status != r["status"] ||
			c.CreatedAt.Format("2006-01-02T15:04:05.000Z") != r["createdAt"] {
			t.Errorf("customer %d = %+v, record %v", i, c, r)
		}
	}
}

func TestSortsAndPastTheEnd(t *testing.T) {
	t.Parallel()
	srv := newServer(t, upstreamtest.WithCustomers(45))
	c, _ := newClient(t, srv.URL)
	ctx := context.Background()
	for _, s := range []upstream.Sort{upstream.SortCreatedAt, upstream.SortUpdatedAt, upstream.SortName, upstream.SortLastLogin} {
		p, err := c.Customers.List(ctx, token, 3, s)
		if err != nil || len(p.Customers) != 5 {
			t.Errorf("sort %s page 3: %d customers, %v; want 5", s, len(p.Customers), err)
		}
		p, err = c.Customers.List(ctx, token, 4, s)
		if err != nil || p.Len() != 0 {
			t.Errorf("sort %s page 4: %+v, %v; want an empty page", s, p, err)
		}
	}
	if _, err := c.Customers.List(ctx, token, 0, upstream.SortName); err == nil {
		t.Error("page 0: no error")
	}
	if n := srv.Calls(); n != 8 {
		t.Errorf("Calls = %d, want 8 (page 0 makes no call)", n)
	}
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
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Customers) != 17 || len(p.Invalid) != 3 {
		t.Fatalf("got %d customers and %d invalid, want 17 and 3", len(p.Customers), len(p.Invalid))
	}
	recs := srv.Records("")
	want := []upstream.RecordError{
		{Index: 3, ID: recs[3]["_id"].(string), Reason: "createdAt is not an RFC 3339 time"},
		{Index: 5, Reason: "missing _id"},
		{Index: 7, ID: recs[7]["_id"].(string), Reason: `field "name" is a JSON number, not a string`},
	}
	for i, w := range want {
		if p.Invalid[i] != w {
			t.Errorf("Invalid[%d] = %+v, want %+v", i, p.Invalid[i], w)
		}
	}
	if p.Customers[3].ID != recs[4]["_id"] {
		t.Errorf("customer after the bad one = %s, want %s", p.Customers[3].ID, recs[4]["_id"])
	}
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
			if !errors.As(err, &e) {
				t.Fatalf("err = %v (page %+v), want *upstream.Error", err, p)
			}
			if !errors.Is(err, tt.kind) || e.StatusCode != tt.status || e.EnvelopeCode != tt.envelopeCode ||
				e.Message != tt.message || e.RetryAfter != tt.retryAfter {
				t.Errorf("err = %v %+v; want kind %v, status %d, envelope code %d, message %q, retry after %v",
					err, e, tt.kind, tt.status, tt.envelopeCode, tt.message, tt.retryAfter)
			}
			if got := srv.Calls(); got != tt.calls {
				t.Errorf("upstream calls = %d, want %d", got, tt.calls)
			}
			if got := sl.Waits(); tt.waits != nil && !equalDurations(got, tt.waits) {
				t.Errorf("waits = %v, want %v", got, tt.waits)
			}
			if n := len(sl.Waits()); int64(n) != tt.calls-1 {
				t.Errorf("%d waits for %d calls", n, tt.calls)
			}
		})
	}
}

func equalDurations(a, b []time.Duration) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
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
			if !errors.Is(err, tt.wantErr) || (err == nil) != (tt.wantErr == nil) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if err == nil && len(p.Customers) != 20 {
				t.Errorf("got %d customers", len(p.Customers))
			}
			if got := srv.Calls(); got != tt.calls {
				t.Errorf("upstream calls = %d, want %d", got, tt.calls)
			}
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
	if !errors.As(err, &e) || !errors.Is(err, upstream.ErrUnavailable) || !e.Timeout() || e.StatusCode != 0 {
		t.Fatalf("err = %v, want a timeout wrapping ErrUnavailable", err)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v: an attempt timeout must not look like the caller's deadline", err)
	}

	// With a retry, the second attempt gets the normal answer.
	srv.SetFault(upstreamtest.Times(1, upstreamtest.Stall(time.Minute)))
	c, _ = newClient(t, srv.URL, upstream.WithTimeout(50*time.Millisecond))
	if _, err := c.Customers.List(context.Background(), token, 1, upstream.SortCreatedAt); err != nil {
		t.Fatalf("with a retry: %v", err)
	}
	if got := srv.Calls(); got != 3 {
		t.Errorf("upstream calls = %d, want 3", got)
	}
}

func TestConnectionRefused(t *testing.T) {
	t.Parallel()
	srv := upstreamtest.NewServer()
	url := srv.URL
	srv.Close()
	c, sl := newClient(t, url)
	_, err := c.Customers.List(context.Background(), token, 1, upstream.SortCreatedAt)
	var e *upstream.Error
	if !errors.As(err, &e) || !errors.Is(err, upstream.ErrUnavailable) || e.StatusCode != 0 || e.Err == nil {
		t.Fatalf("err = %v, want ErrUnavailable with a cause", err)
	}
	if n := len(sl.Waits()); n != 2 {
		t.Errorf("%d waits, want 2 (two retries)", n)
	}
	if strings.Contains(err.Error(), "http://") {
		t.Errorf("err = %q shows the URL", err)
	}
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
	if !errors.Is(err, upstream.ErrRateLimited) || srv.Calls() != 1 || len(sl.Waits()) != 0 {
		t.Errorf("err = %v after %d calls and waits %v; want ErrRateLimited after 1 call, no wait", err, srv.Calls(), sl.Waits())
	}

	// The deadline passes during an attempt.
	srv.SetFault(upstreamtest.Hang())
	ctx, cancel = context.WithTimeout(context.Background(), 50*time.Millisecond)
	defer cancel()
	_, err = c.Customers.List(ctx, token, 2, upstream.SortCreatedAt)
	if !errors.Is(err, upstream.ErrUnavailable) || !errors.Is(err, context.DeadlineExceeded) {
		t.Errorf("err = %v, want ErrUnavailable wrapping context.DeadlineExceeded", err)
	}
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
	if !errors.Is(err, context.Canceled) {
		t.Errorf("err = %v, want context.Canceled", err)
	}
	for _, kind := range []error{upstream.ErrUnavailable, upstream.ErrBadResponse} {
		if errors.Is(err, kind) {
			t.Errorf("err = %v also wraps %v", err, kind)
		}
	}

	// Already cancelled: no call at all.
	srv.ResetCalls()
	if _, err := c.Customers.List(ctx, token, 1, upstream.SortCreatedAt); !errors.Is(err, context.Canceled) || srv.Calls() != 0 {
		t.Errorf("cancelled ctx: err = %v, %d calls; want context.Canceled, 0 calls", err, srv.Calls())
	}
}

func TestEmptyTokenMakesNoCall(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	c, _ := newClient(t, srv.URL)
	for _, tok := range []upstream.Token{"", "bad\ntoken"} {
		_, err := c.Customers.List(context.Background(), tok, 1, upstream.SortCreatedAt)
		if !errors.Is(err, upstream.ErrUnauthorized) {
			t.Errorf("token %q: err = %v, want ErrUnauthorized", string(tok), err)
		}
		if strings.Contains(err.Error(), "bad") {
			t.Errorf("err = %q shows the token", err)
		}
	}
	if srv.Calls() != 0 {
		t.Errorf("Calls = %d, want 0", srv.Calls())
	}
}

func TestTenantsSeeTheirOwnData(t *testing.T) {
	t.Parallel()
	srv := newServer(t, upstreamtest.WithTenant("token-a", "acme"), upstreamtest.WithTenant("token-b", "globex"))
	c, _ := newClient(t, srv.URL)
	ctx := context.Background()
	a, errA := c.Customers.List(ctx, "token-a", 1, upstream.SortCreatedAt)
	b, errB := c.Customers.List(ctx, "token-b", 1, upstream.SortCreatedAt)
	if errA != nil || errB != nil {
		t.Fatal(errA, errB)
	}
	ids := map[string]bool{}
	for _, cu := range a.Customers {
		ids[cu.ID] = true
	}
	for _, cu := range b.Customers {
		if ids[cu.ID] {
			t.Errorf("id %s seen by both tokens", cu.ID)
		}
	}
	if !strings.HasSuffix(a.Customers[0].Name, "(acme)") || !strings.HasSuffix(b.Customers[0].Name, "(globex)") {
		t.Errorf("names %q, %q", a.Customers[0].Name, b.Customers[0].Name)
	}
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
			if (err == nil) != tt.ok || (c != nil) != tt.ok {
				t.Errorf("New(%q) = %v, %v; want ok %v", tt.url, c, err, tt.ok)
			}
			if err != nil && strings.Contains(err.Error(), "hunter2") {
				t.Errorf("error %q shows the password", err)
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

	if len(errs) != 2*(len(faults)) {
		t.Errorf("got %d error strings, want %d", len(errs), 2*len(faults))
	}
	for _, s := range errs {
		if strings.Contains(s, string(secret)) || strings.Contains(s, "sk-live") {
			t.Errorf("error shows the token: %s", s)
		}
	}
	mu.Lock()
	out := logs.String()
	mu.Unlock()
	if !strings.Contains(out, "upstream attempt") {
		t.Errorf("no debug line was logged: %q", out)
	}
	if strings.Contains(out, "sk-live") {
		t.Errorf("log shows the token: %s", out)
	}
	mfs, err := reg.Gather()
	if err != nil {
		t.Fatal(err)
	}
	for _, mf := range mfs {
		if strings.Contains(mf.String(), "sk-live") {
			t.Errorf("metric %s shows the token", mf.GetName())
		}
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
