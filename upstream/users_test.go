package upstream_test

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/common/expfmt"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/botpenguin-gateway/gateway/upstream"
	"github.com/botpenguin-gateway/gateway/upstream/upstreamtest"
)

func TestLoginToken(t *testing.T) {
	t.Parallel()
	srv := newServer(t, upstreamtest.WithToken(string(token)), upstreamtest.WithCustomers(10))
	c, _ := newClient(t, srv.URL)
	ctx := context.Background()
	recs := srv.Records("")
	id := recs[1]["_id"].(string) // ACTIVE
	email := recs[1]["contact"].(map[string]any)["email"].(string)

	for _, tt := range []struct {
		name   string
		q      upstream.UserTokenQuery
		id     string
		active bool
	}{
		{"customer by id", upstream.UserTokenQuery{UserID: id}, id, true},
		{"inactive customer by id", upstream.UserTokenQuery{UserID: recs[3]["_id"].(string)}, recs[3]["_id"].(string), false},
		{"customer by email", upstream.UserTokenQuery{Email: email, Type: upstream.UserCustomer}, id, true},
		{"agent", upstream.UserTokenQuery{Email: "owner@monday101.com", Type: upstream.UserAgent}, "651000000000000000000001", true},
		{"custom user", upstream.UserTokenQuery{Email: "support@monday101.com", Type: upstream.UserCustomUser}, "651000000000000000000002", true},
	} {
		got, err := c.Users.LoginToken(ctx, token, tt.q)
		if assert.NoError(t, err, tt.name) {
			assert.Equal(t, upstreamtest.LoginKey(tt.id), string(got.Key), tt.name)
			assert.Equal(t, tt.active, got.Active, tt.name)
		}
	}
	reqs := srv.TokenRequests()
	require.Len(t, reqs, 5)
	assert.Equal(t, upstreamtest.TokenRequest{UserID: id, AuthType: "Key", HasBearer: true}, reqs[0])
	assert.Equal(t, upstreamtest.TokenRequest{Email: email, Type: "CUSTOMER", AuthType: "Key", HasBearer: true}, reqs[2])

	// Queries that name no user, or two, make no call.
	for _, q := range []upstream.UserTokenQuery{
		{}, {Email: email}, {Email: email, Type: "ADMIN"}, {UserID: id, Email: email, Type: upstream.UserCustomer},
		{UserID: id, Type: upstream.UserCustomer}, {Type: upstream.UserAgent},
	} {
		_, err := c.Users.LoginToken(ctx, token, q)
		assert.Error(t, err, "%+v", q)
	}
	assert.Equal(t, int64(5), srv.CallsTo(upstreamtest.PathUserToken), "calls")
}

func TestLoginTokenErrors(t *testing.T) {
	t.Parallel()
	srv := newServer(t, upstreamtest.WithCustomers(10))
	c, _ := newClient(t, srv.URL)
	ctx := context.Background()
	for _, tt := range []struct {
		name    string
		fault   upstreamtest.Fault
		q       upstream.UserTokenQuery
		kind    error
		status  int
		message string
		calls   int64
	}{
		{"unknown id", nil, upstream.UserTokenQuery{UserID: "6610ffffffffffffffffffff"}, upstream.ErrNotFound, 404, "User not found", 1},
		{"unknown email", nil, upstream.UserTokenQuery{Email: "nobody@example.com", Type: upstream.UserCustomer}, upstream.ErrNotFound, 404, "User not found", 1},
		{"200 success:false 404", upstreamtest.EnvelopeError(404, "No user"), upstream.UserTokenQuery{UserID: "x"}, upstream.ErrNotFound, 200, "No user", 1},
		{"400", upstreamtest.StatusMessage(400, "bad query"), upstream.UserTokenQuery{UserID: "x"}, upstream.ErrBadResponse, 400, "bad query", 1},
		{"409 is not expected", upstreamtest.Status(409), upstream.UserTokenQuery{UserID: "x"}, upstream.ErrBadResponse, 409, "Conflict", 1},
		{"401", upstreamtest.Status(401), upstream.UserTokenQuery{UserID: "x"}, upstream.ErrUnauthorized, 401, "Unauthorized", 1},
		{"403", upstreamtest.Status(403), upstream.UserTokenQuery{UserID: "x"}, upstream.ErrForbidden, 403, "Forbidden", 1},
		{"503, retried as a GET", upstreamtest.Status(503), upstream.UserTokenQuery{UserID: "x"}, upstream.ErrUnavailable, 503, "Service Unavailable", 3},
		{"no token in data", upstreamtest.BadEnvelope(), upstream.UserTokenQuery{UserID: "x"}, upstream.ErrBadResponse, 200, "", 1},
		{"not JSON", upstreamtest.Garbage(), upstream.UserTokenQuery{UserID: "x"}, upstream.ErrBadResponse, 200, "", 1},
	} {
		srv.ResetCalls()
		srv.SetFault(tt.fault)
		_, err := c.Users.LoginToken(ctx, token, tt.q)
		var e *upstream.Error
		if assert.ErrorAs(t, err, &e, tt.name) {
			assert.ErrorIs(t, err, tt.kind, tt.name)
			assert.Equal(t, tt.status, e.StatusCode, tt.name)
			assert.Equal(t, tt.message, e.Message, tt.name)
		}
		assert.Equal(t, tt.calls, srv.CallsTo(upstreamtest.PathUserToken), tt.name)
	}
}

// A login token is its caller's: identical calls at once are two calls,
// and one after the other two more, even with a page cache.
func TestLoginTokensAreNeverShared(t *testing.T) {
	t.Parallel()
	srv := newServer(t, upstreamtest.WithCustomers(10))
	cc := newCached(t, srv.URL, time.Hour)
	id := srv.Records("")[1]["_id"].(string)
	q := upstream.UserTokenQuery{UserID: id}
	release := make(chan struct{})
	arrived := make(chan string, 2)
	srv.SetFault(upstreamtest.Notify(arrived, upstreamtest.Block(release)))
	errs := make(chan error, 2)
	for range 2 {
		go func() {
			_, err := cc.c.Users.LoginToken(context.Background(), token, q)
			errs <- err
		}()
	}
	<-arrived
	<-arrived // both reached the upstream: neither joined the other
	close(release)
	for range 2 {
		require.NoError(t, <-errs)
	}
	srv.SetFault(nil)
	for range 2 {
		_, err := cc.c.Users.LoginToken(context.Background(), token, q)
		require.NoError(t, err)
	}
	assert.Equal(t, int64(4), srv.CallsTo(upstreamtest.PathUserToken), "calls")
	assert.Zero(t, metricValue(t, cc.reg, "gateway_upstream_coalesced_total"), "coalesced")
	assert.Zero(t, metricValue(t, cc.reg, "gateway_upstream_cache_requests_total", "result", "hit"), "cache hits")
}

func TestSecretsPrintRedacted(t *testing.T) {
	t.Parallel()
	const key = "key-canary-41f0"
	lt := upstream.LoginToken{Key: key, Active: true}
	in := upstream.CreateCustomerRequest{Email: "a@example.com", Name: "A", Password: "pw-canary-41f0"}
	var logs bytes.Buffer
	slog.New(slog.NewJSONHandler(&logs, nil)).Info("values", "token", lt, "key", lt.Key, "input", in, "password", in.Password)
	b, err := json.Marshal(map[string]any{"token": lt, "input": in})
	require.NoError(t, err)
	for _, s := range []string{
		fmt.Sprint(lt), fmt.Sprintf("%v %+v %#v %s %q", lt, lt, lt, lt.Key, lt.Key),
		fmt.Sprint(in), fmt.Sprintf("%v %+v %#v %s %q", in, in, in, in.Password, in.Password),
		logs.String(), string(b),
	} {
		assert.NotContains(t, s, "canary", "a secret printed")
		assert.Contains(t, s, "[redacted]")
	}
	assert.Equal(t, key, string(lt.Key), "the value itself")
}

// The canary scan: every path of the create and of login tokens, with a
// canary password and a canary login token key (the fake's key of a
// canary user id, and a key sent by a fault), at debug level: neither is
// in any log line, metric or error, nor in how the results print.
func TestCanariesNeverLeak(t *testing.T) {
	t.Parallel()
	const canaryID = "6610canaryc0ffee00000001"
	canaryKey := upstreamtest.LoginKey(canaryID)
	sentKey := "key-canary-" + strings.Repeat("9", 20)
	var logs bytes.Buffer
	var mu sync.Mutex
	logger := slog.New(slog.NewJSONHandler(&lockedWriter{w: &logs, mu: &mu}, &slog.HandlerOptions{Level: slog.LevelDebug}))
	reg := prometheus.NewRegistry()
	srv := newServer(t, upstreamtest.WithCustomers(10), upstreamtest.WithRecord(func(i int, rec map[string]any) {
		if i == 1 {
			rec["_id"] = canaryID
		}
	}))
	c, _ := newClient(t, srv.URL, upstream.WithLogger(logger), upstream.WithMetrics(reg), upstream.WithTimeout(50*time.Millisecond))
	ctx := context.Background()
	secrets := []string{string(canaryPassword), canaryKey, sentKey}

	var outputs []string // errors and printed results
	keep := func(v any, err error) {
		outputs = append(outputs, fmt.Sprintf("%v|%+v|%#v", v, v, v))
		if err != nil {
			outputs = append(outputs, err.Error(), fmtAll(err))
		}
	}
	echo := "password " + string(canaryPassword) + " is too weak"
	for _, f := range []upstreamtest.Fault{
		nil, // created
		upstreamtest.StatusMessage(422, echo), upstreamtest.StatusMessage(400, strings.Repeat("x", 190)+" "+echo),
		upstreamtest.EnvelopeError(422, echo), upstreamtest.StatusMessage(409, echo),
		upstreamtest.Status(401), upstreamtest.Status(503), upstreamtest.RateLimit("60"), upstreamtest.Times(1, upstreamtest.RateLimit("1")),
		upstreamtest.Garbage(), upstreamtest.BadEnvelope(), upstreamtest.Stall(time.Minute), upstreamtest.LoseAnswer(),
	} {
		srv.SetFault(f)
		in := ada()
		in.Email = fmt.Sprintf("canary%d@example.com", len(outputs))
		keep(c.Customers.Create(ctx, token, in))
	}
	keyAnswer := func(w http.ResponseWriter, _ *http.Request) bool {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"success":true,"data":{"permanentToken":{"key":%q,"active":"yes"}}}`, sentKey)
		return true
	}
	for _, f := range []upstreamtest.Fault{
		nil, upstreamtest.EnvelopeError(404, "User not found"), upstreamtest.Status(503), upstreamtest.Stall(time.Minute),
		upstreamtest.LoseAnswer(), keyAnswer,
	} {
		srv.SetFault(f)
		keep(c.Users.LoginToken(ctx, token, upstream.UserTokenQuery{UserID: canaryID}))
		keep(c.Users.LoginToken(ctx, token, upstream.UserTokenQuery{Email: "owner@monday101.com", Type: upstream.UserAgent}))
	}
	srv.SetFault(nil)
	lt, err := c.Users.LoginToken(ctx, token, upstream.UserTokenQuery{UserID: canaryID})
	require.NoError(t, err)
	require.Equal(t, canaryKey, string(lt.Key), "the scan would miss the key")

	mfs, err := reg.Gather()
	require.NoError(t, err)
	var metrics bytes.Buffer
	for _, mf := range mfs {
		_, err := expfmt.MetricFamilyToText(&metrics, mf)
		require.NoError(t, err)
	}
	mu.Lock()
	logText := logs.String()
	mu.Unlock()
	lines := strings.Split(strings.TrimSpace(logText), "\n")
	assert.GreaterOrEqual(t, len(lines), 30, "debug lines scanned")
	assert.Contains(t, metrics.String(), `outcome="rejected"`)
	assert.Contains(t, metrics.String(), `outcome="conflict"`)
	assert.Contains(t, metrics.String(), `outcome="not_found"`)
	for _, s := range secrets {
		for i, o := range outputs {
			assert.NotContains(t, o, s, "output %d", i)
		}
		for _, l := range lines {
			assert.NotContains(t, l, s, "log line")
		}
		assert.NotContains(t, metrics.String(), s, "metrics")
	}
	for _, l := range lines {
		assert.NotContains(t, l, "@", "a log line holds an email")
		assert.NotContains(t, l, canaryID, "a log line holds an id")
	}
	t.Logf("scanned %d outputs (errors and printed results), %d debug log lines, %d bytes of metrics for %d secrets",
		len(outputs), len(lines), metrics.Len(), len(secrets))
}
