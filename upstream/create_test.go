package upstream_test

import (
	"context"
	"net"
	"net/http"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/botpenguin-gateway/gateway/upstream"
	"github.com/botpenguin-gateway/gateway/upstream/upstreamtest"
)

const canaryPassword = upstream.Secret("pw-canary-8c1e5d2b")

func ada() upstream.CreateCustomerRequest {
	return upstream.CreateCustomerRequest{Email: "ada@example.com", Name: "Ada Lovelace", Password: canaryPassword}
}

// A create sends the input as the documented JSON body, returns the new
// customer, and drops the credential's cached pages: the next list shows
// it.
func TestCreateCustomer(t *testing.T) {
	t.Parallel()
	srv := newServer(t, upstreamtest.WithToken(string(token)), upstreamtest.WithCustomers(30))
	cc := newCached(t, srv.URL, 0)
	ctx := context.Background()
	p, err := cc.list(token, 2)
	require.NoError(t, err)
	require.Len(t, p.Customers, 10)

	c, err := cc.c.Customers.Create(ctx, token, ada())
	require.NoError(t, err)
	recs := srv.Records("")
	require.Len(t, recs, 31)
	assert.Equal(t, recs[30]["_id"], c.ID, "the new customer")
	assert.Equal(t, "Ada Lovelace", c.Name)
	assert.Equal(t, ptr("ada@example.com"), c.Email)
	assert.Equal(t, "ACTIVE", c.Status)
	assert.Equal(t, recs[30]["createdAt"], c.CreatedAt.Format("2006-01-02T15:04:05.000Z"))
	assert.Nil(t, c.LastLogin)

	reqs := srv.CreateRequests()
	require.Len(t, reqs, 1)
	assert.Equal(t, "ada@example.com", reqs[0].Username)
	assert.Equal(t, "Ada Lovelace", reqs[0].Name)
	assert.Equal(t, "application/json", reqs[0].ContentType)
	assert.Equal(t, "Key", reqs[0].AuthType)
	assert.True(t, reqs[0].HasBearer)
	assert.True(t, reqs[0].PasswordIs(string(canaryPassword)), "the password sent as is")

	p, err = cc.list(token, 2)
	require.NoError(t, err)
	require.Len(t, p.Customers, 11, "after the create: want the new customer on the last page")
	assert.Equal(t, c.ID, p.Customers[10].ID)
	assert.Zero(t, p.Age, "after the create: want the page fetched now")
	assert.Equal(t, int64(2), srv.Calls(), "list calls")
	assert.Equal(t, int64(1), srv.CallsTo(upstreamtest.PathCreate), "create calls")
}

// Every answer of a create, as a kind of error: refusals of the input are
// ErrConflict and ErrRejected with the upstream's message; the rest as for
// the list. A refusal leaves the cache alone; any other failure drops it,
// since the upstream may have created the customer.
func TestCreateErrors(t *testing.T) {
	t.Parallel()
	for _, tt := range []struct {
		name       string
		fault      upstreamtest.Fault
		email      string
		kind       error
		status     int
		message    string
		calls      int64
		invalidate bool
	}{
		{"email taken", nil, "jonas+0@monday101.com", upstream.ErrConflict, 409, "A user with this email already exists", 1, false},
		{"email taken, other case", nil, "Jonas+0@MONDAY101.com", upstream.ErrConflict, 409, "A user with this email already exists", 1, false},
		{"422", nil, "ada@mail.invalid", upstream.ErrRejected, 422, "username: this email domain does not accept mail", 1, false},
		{"400", upstreamtest.StatusMessage(400, "name: too long"), "", upstream.ErrRejected, 400, "name: too long", 1, false},
		{"200 success:false 409", upstreamtest.EnvelopeError(409, "Email exists"), "", upstream.ErrConflict, 200, "Email exists", 1, false},
		{"200 success:false 422", upstreamtest.EnvelopeError(422, "Weak password"), "", upstream.ErrRejected, 200, "Weak password", 1, false},
		{"401", upstreamtest.Status(401), "", upstream.ErrUnauthorized, 401, "Unauthorized", 1, false},
		{"403", upstreamtest.Status(403), "", upstream.ErrForbidden, 403, "Forbidden", 1, false},
		{"429 beyond the max wait", upstreamtest.RateLimit("60"), "", upstream.ErrRateLimited, 429, "Too Many Requests", 1, false},
		{"404 is not a refusal", upstreamtest.Status(404), "", upstream.ErrBadResponse, 404, "Not Found", 1, true},
		{"503", upstreamtest.Status(503), "", upstream.ErrUnavailable, 503, "Service Unavailable", 1, true},
		{"200 success:false 503", upstreamtest.EnvelopeError(503, "Maintenance"), "", upstream.ErrUnavailable, 200, "Maintenance", 1, true},
		{"timeout", upstreamtest.Stall(time.Minute), "", upstream.ErrUnavailable, 0, "", 1, true},
		{"lost answer", upstreamtest.LoseAnswer(), "", upstream.ErrUnavailable, 0, "", 1, true},
		{"not JSON", upstreamtest.Garbage(), "", upstream.ErrBadResponse, 200, "", 1, true},
		{"data not a customer", upstreamtest.BadEnvelope(), "", upstream.ErrBadResponse, 200, "", 1, true},
	} {
		t.Run(tt.name, func(t *testing.T) {
			t.Parallel()
			srv := newServer(t, upstreamtest.WithCustomers(10))
			cc := newCached(t, srv.URL, 0, upstream.WithTimeout(100*time.Millisecond),
				upstream.WithHTTPClient(&http.Client{Transport: &http.Transport{DisableKeepAlives: true}}))
			_, err := cc.list(token, 1)
			require.NoError(t, err)
			srv.SetFault(upstreamtest.OnPath(upstreamtest.PathCreate, tt.fault))
			in := ada()
			if tt.email != "" {
				in.Email = tt.email
			}
			_, err = cc.c.Customers.Create(context.Background(), token, in)
			var e *upstream.Error
			require.ErrorAs(t, err, &e)
			assert.ErrorIs(t, err, tt.kind)
			assert.Equal(t, tt.status, e.StatusCode, "status")
			assert.Equal(t, tt.message, e.Message, "message")
			assert.Equal(t, tt.calls, srv.CallsTo(upstreamtest.PathCreate), "create calls: never sent again")
			_, err = cc.list(token, 1)
			require.NoError(t, err)
			// Dropped: the page is fetched again (more than once when a
			// slow machine makes the 100 ms attempt time out); kept: not.
			if tt.invalidate {
				assert.Greater(t, srv.Calls(), int64(1), "list calls after the create: the cached page dropped")
			} else {
				assert.Equal(t, int64(1), srv.Calls(), "list calls after the create: the cached page kept")
			}
		})
	}
}

// OnPath(path, nil) must answer normally: the table above has nil faults.
func TestOnPathNil(t *testing.T) {
	t.Parallel()
	srv := newServer(t)
	srv.SetFault(upstreamtest.OnPath(upstreamtest.PathCreate, nil))
	c, _ := newClient(t, srv.URL)
	_, err := c.Customers.Create(context.Background(), token, ada())
	assert.NoError(t, err)
}

// A create is sent again only when the upstream cannot have acted on it: a
// 429 within the max wait, or a refused connection. Either way, one
// customer.
func TestCreateRetriesOnlyWhatWasNotActedOn(t *testing.T) {
	t.Parallel()
	t.Run("429 within the max wait", func(t *testing.T) {
		t.Parallel()
		srv := newServer(t, upstreamtest.WithCustomers(10))
		srv.SetFault(upstreamtest.Times(1, upstreamtest.RateLimit("1")))
		c, sl := newClient(t, srv.URL)
		_, err := c.Customers.Create(context.Background(), token, ada())
		require.NoError(t, err)
		assert.Equal(t, int64(2), srv.CallsTo(upstreamtest.PathCreate), "create calls")
		assert.Equal(t, []time.Duration{time.Second}, sl.Waits(), "the Retry-After")
		assert.Len(t, srv.Records(""), 11, "customers")
	})
	t.Run("refused connection", func(t *testing.T) {
		t.Parallel()
		srv := newServer(t, upstreamtest.WithCustomers(10))
		var dials atomic.Int64
		d := &net.Dialer{}
		refuseFirst := func(ctx context.Context, network, addr string) (net.Conn, error) {
			if dials.Add(1) == 1 {
				return nil, &net.OpError{Op: "dial", Net: network, Err: syscall.ECONNREFUSED}
			}
			return d.DialContext(ctx, network, addr)
		}
		c, sl := newClient(t, srv.URL, upstream.WithHTTPClient(&http.Client{Transport: &http.Transport{DialContext: refuseFirst}}))
		_, err := c.Customers.Create(context.Background(), token, ada())
		require.NoError(t, err)
		assert.Equal(t, int64(2), dials.Load(), "dials")
		assert.Len(t, sl.Waits(), 1, "one backoff")
		assert.Equal(t, int64(1), srv.CallsTo(upstreamtest.PathCreate), "create calls")
		assert.Len(t, srv.Records(""), 11, "customers")
	})
	t.Run("lost answer", func(t *testing.T) {
		t.Parallel()
		srv := newServer(t, upstreamtest.WithCustomers(10))
		srv.SetFault(upstreamtest.Times(1, upstreamtest.LoseAnswer()))
		c, sl := newClient(t, srv.URL)
		_, err := c.Customers.Create(context.Background(), token, ada())
		require.ErrorIs(t, err, upstream.ErrUnavailable)
		assert.Empty(t, sl.Waits(), "no retry")
		assert.Equal(t, int64(1), srv.CallsTo(upstreamtest.PathCreate), "create calls")
		assert.Len(t, srv.Records(""), 11, "customers: the upstream acted")
	})
}

// Two identical creates at once are two calls: a create is never shared.
func TestCreatesAreNeverCoalesced(t *testing.T) {
	t.Parallel()
	srv := newServer(t, upstreamtest.WithCustomers(10))
	release := make(chan struct{})
	arrived := make(chan string, 2)
	srv.SetFault(upstreamtest.Notify(arrived, upstreamtest.Block(release)))
	c, _ := newClient(t, srv.URL)
	errs := make(chan error, 2)
	for range 2 {
		go func() {
			_, err := c.Customers.Create(context.Background(), token, ada())
			errs <- err
		}()
	}
	<-arrived
	<-arrived // both reached the upstream
	close(release)
	var conflicts int
	for range 2 {
		if err := <-errs; err != nil {
			require.ErrorIs(t, err, upstream.ErrConflict)
			conflicts++
		}
	}
	assert.Equal(t, 1, conflicts, "the second create of one email")
	assert.Equal(t, int64(2), srv.CallsTo(upstreamtest.PathCreate), "create calls")
}
