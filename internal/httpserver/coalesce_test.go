package httpserver_test

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/botpenguin-gateway/gateway/upstream/upstreamtest"
)

// metric returns the text lines of /metrics that start with name.
func (e *env) metric(name string) string {
	e.t.Helper()
	resp, err := e.gw.Client().Get(e.gw.URL + "/metrics")
	require.NoError(e.t, err)
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	var out []string
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, name) {
			out = append(out, line)
		}
	}
	return strings.Join(out, "\n")
}

// postCtx posts a query with the test token under ctx.
func (e *env) postCtx(ctx context.Context, query, token string) (int, string, error) {
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, e.gw.URL+"/query",
		bytes.NewReader([]byte(`{"query": "`+query+`"}`)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+token)
	resp, err := e.gw.Client().Do(req)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), nil
}

func TestIdenticalRequestsShareOneExecution(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	release := make(chan struct{})
	arrived := make(chan string, 10)
	e.up.SetFault(upstreamtest.Notify(arrived, upstreamtest.Block(release)))

	// The first client goes away while the execution is held upstream.
	leaderCtx, leave := context.WithCancel(context.Background())
	leaderDone := make(chan error, 1)
	go func() {
		_, _, err := e.postCtx(leaderCtx, `{ customers { nodes { id name } } }`, testToken)
		leaderDone <- err
	}()
	<-arrived

	const followers = 5
	var wg sync.WaitGroup
	bodies := make([]string, followers)
	for i := range followers {
		wg.Go(func() {
			status, body, err := e.postCtx(context.Background(), `{ customers { nodes { id name } } }`, testToken)
			assert.NoError(t, err)
			assert.Equal(t, 200, status)
			bodies[i] = body
		})
	}
	require.Eventually(t, func() bool {
		return e.metric("gateway_http_requests_in_flight") == "gateway_http_requests_in_flight 6"
	}, 5*time.Second, time.Millisecond)
	leave()
	require.Error(t, <-leaderDone)
	close(release)
	wg.Wait()

	for _, body := range bodies {
		assert.Contains(t, body, `"name":"Jonas v1"`)
		assert.NotContains(t, body, `"errors"`)
	}
	assert.EqualValues(t, 1, e.up.Calls())
	assert.Equal(t, "gateway_graphql_coalesced_requests_total 5", e.metric("gateway_graphql_coalesced_requests_total"))
}

func TestCoalescingNeverCrossesCredentials(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil, upstreamtest.WithTenant("tok-alpha", "alpha"), upstreamtest.WithTenant("tok-beta", "beta"))
	release := make(chan struct{})
	arrived := make(chan string, 10)
	e.up.SetFault(upstreamtest.Notify(arrived, upstreamtest.Block(release)))

	var wg sync.WaitGroup
	for _, tenant := range []string{"alpha", "beta"} {
		wg.Go(func() {
			_, body, err := e.postCtx(context.Background(), `{ customers { nodes { name } } }`, "tok-"+tenant)
			assert.NoError(t, err)
			assert.Contains(t, body, "("+tenant+")")
		})
	}
	<-arrived
	<-arrived // both reached the upstream: neither waited for the other
	close(release)
	wg.Wait()
	assert.EqualValues(t, 2, e.up.Calls())
	assert.Equal(t, "gateway_graphql_coalesced_requests_total 0", e.metric("gateway_graphql_coalesced_requests_total"))
}

func TestCoalescingCanBeTurnedOff(t *testing.T) {
	t.Parallel()
	e := newEnv(t, map[string]string{"COALESCE_REQUESTS": "false"})
	var wg sync.WaitGroup
	for range 10 {
		wg.Go(func() {
			assert.Empty(t, e.query(`{ customers { nodes { id } } }`, nil).Errors)
		})
	}
	wg.Wait()
	assert.Empty(t, e.metric("gateway_graphql_coalesced_requests_total"))
}

// The buffers answers are recorded in are reused once an answer's last
// reader has written it, and those their data is rendered into once the
// answer is recorded: under a mix of shared and unshared requests, every
// answer is still its own request's, whole.
func TestRecordedAnswersAreNeverMixedUp(t *testing.T) {
	t.Parallel()
	tenants := []string{"alpha", "beta", "gamma"}
	e := newEnv(t, nil, upstreamtest.WithTenant("tok-alpha", "alpha"),
		upstreamtest.WithTenant("tok-beta", "beta"), upstreamtest.WithTenant("tok-gamma", "gamma"))
	var wg sync.WaitGroup
	for w := range 6 {
		wg.Go(func() {
			for i := range 40 {
				tenant, page := tenants[(w+i)%3], 1+(w*7+i)%3
				_, body, err := e.postCtx(context.Background(),
					fmt.Sprintf(`{ customers(page: %d) { page nodes { name } } }`, page), "tok-"+tenant)
				if !assert.NoError(t, err) {
					return
				}
				assert.Contains(t, body, fmt.Sprintf(`{"data":{"customers":{"page":%d,"nodes":[`, page))
				assert.Equal(t, 20, strings.Count(body, "("+tenant+")"), body)
				for _, other := range tenants {
					if other != tenant {
						assert.NotContains(t, body, "("+other+")")
					}
				}
			}
		})
	}
	wg.Wait()
}
