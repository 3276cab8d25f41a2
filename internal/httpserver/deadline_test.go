package httpserver_test

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/botpenguin-gateway/gateway/upstream/upstreamtest"
)

// hangGuard bounds a test's wait for an answer that, when the deadline
// works, comes after REQUEST_TIMEOUT: only a broken deadline reaches it.
const hangGuard = 30 * time.Second

// postWithin posts a query with the test token and reads the whole answer,
// failing the test instead of hanging when none comes within hangGuard.
func (e *env) postWithin(query string) (gqlResponse, http.Header) {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), hangGuard)
	defer cancel()
	body, _ := json.Marshal(map[string]any{"query": query})
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, e.gw.URL+"/query", strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+testToken)
	resp, err := e.gw.Client().Do(req)
	require.NoError(e.t, err, "no answer: the connection was cut or the deadline did not hold")
	defer resp.Body.Close()
	raw, err := io.ReadAll(resp.Body)
	require.NoError(e.t, err)
	out := gqlResponse{Status: resp.StatusCode, Raw: string(raw)}
	require.NoError(e.t, json.Unmarshal(raw, &out), "body: %s", raw)
	e.checkNoSecret("response", out.Raw)
	return out, resp.Header
}

// hangFrom holds every upstream call for page n or later until the
// gateway gives up on it.
func hangFrom(n int) upstreamtest.Fault {
	return func(_ http.ResponseWriter, r *http.Request) bool {
		if page, _ := strconv.Atoi(r.URL.Query().Get("page")); page >= n {
			<-r.Context().Done()
			return true
		}
		return false
	}
}

func TestRequestTimeoutEndsAScanWithACodedErrorAndPartialData(t *testing.T) {
	t.Parallel()
	for _, coalesce := range []string{"true", "false"} {
		t.Run("coalesce="+coalesce, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, map[string]string{"REQUEST_TIMEOUT": "1s", "COALESCE_REQUESTS": coalesce})
			e.up.SetFault(hangFrom(4))

			r, header := e.postWithin(`{ customers(page: 1) { nodes { id } } c: customer(id: "not-there") { id } }`)
			require.Equal(t, http.StatusOK, r.Status, r.Raw)
			assert.Equal(t, "application/json", header.Get("Content-Type"))
			require.Len(t, r.Errors, 1, r.Raw)
			assert.Equal(t, "REQUEST_TIMEOUT", r.Errors[0].Extensions["code"])
			assert.Equal(t, []any{"c"}, r.Errors[0].Path)
			data := decode[struct {
				Customers struct{ Nodes []struct{ ID string } }
				C         *struct{ ID string }
			}](t, r)
			assert.Len(t, data.Customers.Nodes, 20, "what resolved in time is answered")
			assert.Nil(t, data.C)
			assert.LessOrEqual(t, e.up.Calls(), int64(5), "the scan stopped at the window of the hanging page (2-5)")
		})
	}
}

func TestRequestTimeoutEndsARetriedPage(t *testing.T) {
	t.Parallel()
	e := newEnv(t, map[string]string{"REQUEST_TIMEOUT": "1s", "UPSTREAM_RETRIES": "5"})
	// A 503, then a retry that hangs.
	e.up.SetFault(upstreamtest.Chain(upstreamtest.Times(1, upstreamtest.Status(503)), upstreamtest.Hang()))

	r, _ := e.postWithin(`{ customers { nodes { id } } }`)
	require.Equal(t, http.StatusOK, r.Status, r.Raw)
	require.Len(t, r.Errors, 1, r.Raw)
	assert.Equal(t, "REQUEST_TIMEOUT", r.Errors[0].Extensions["code"])
	assert.EqualValues(t, 503, r.Errors[0].Extensions["upstreamStatus"], "the last failure is kept")
	assert.EqualValues(t, 2, e.up.Calls(), "no attempt after the deadline")
}

func TestRetryThatCannotEndBeforeTheDeadlineIsNotStarted(t *testing.T) {
	t.Parallel()
	e := newEnv(t, map[string]string{"REQUEST_TIMEOUT": "1s", "UPSTREAM_RETRY_MAX_WAIT": "1m"})
	e.up.SetFault(upstreamtest.RateLimit("5"))

	r, _ := e.postWithin(`{ customers { nodes { id } } }`)
	require.Equal(t, http.StatusOK, r.Status, r.Raw)
	assert.Equal(t, []string{"RATE_LIMITED"}, r.codes(), "answered at once, not after a wait past the deadline")
	assert.EqualValues(t, 5, r.Errors[0].Extensions["retryAfterSeconds"])
	assert.EqualValues(t, 1, e.up.Calls())
}

// An operation whose deadline passed before it could start (here: at
// once) still gets a coded answer, not gqlgen's bare null.
func TestOperationOutOfTimeBeforeItStartsGetsACodedAnswer(t *testing.T) {
	t.Parallel()
	for _, coalesce := range []string{"true", "false"} {
		t.Run("coalesce="+coalesce, func(t *testing.T) {
			t.Parallel()
			e := newEnv(t, map[string]string{"REQUEST_TIMEOUT": "1ns", "COALESCE_REQUESTS": coalesce})
			r, header := e.postWithin(`{ customers { nodes { id } } }`)
			require.Equal(t, http.StatusOK, r.Status, r.Raw)
			assert.Equal(t, "application/json", header.Get("Content-Type"))
			assert.Equal(t, []string{"REQUEST_TIMEOUT"}, r.codes(), r.Raw)
			assert.Zero(t, e.up.Calls())
			assert.Contains(t, e.metric("gateway_graphql_operations_total"), `outcome="REQUEST_TIMEOUT"`)
		})
	}
}
