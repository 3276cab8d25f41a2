package main

import (
	"context"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/botpenguin-gateway/gateway/upstream/upstreamtest"
)

// running is a gateway served on listeners the test handed it: the main
// one, and one for METRICS_ADDR when the test's variables set it.
type running struct {
	base        string // the main listener, http://host:port
	metricsBase string // the METRICS_ADDR listener, "" without one
	stderr      *syncBuffer
	cancel      context.CancelFunc
	done        chan struct{} // closed when serve returned, with err
	err         error
}

func startRun(t *testing.T, vars map[string]string) *running {
	t.Helper()
	return startRunOn(t, vars, loopback(t))
}

// startRunOn is startRun on the main listener given.
func startRunOn(t *testing.T, vars map[string]string, main net.Listener) *running {
	t.Helper()
	given := listeners{main: main}
	r := &running{base: "http://" + given.main.Addr().String(), stderr: &syncBuffer{}, done: make(chan struct{})}
	if addr := vars["METRICS_ADDR"]; addr != "" {
		ln, err := net.Listen("tcp", addr)
		require.NoError(t, err)
		t.Cleanup(func() { ln.Close() })
		given.metrics, r.metricsBase = ln, "http://"+ln.Addr().String()
	}
	ctx, cancel := context.WithCancel(context.Background())
	r.cancel = cancel
	go func() {
		r.err = serve(ctx, nil, env(vars), io.Discard, r.stderr, given)
		close(r.done)
	}()
	t.Cleanup(func() {
		cancel()
		select {
		case <-r.done:
		case <-time.After(30 * time.Second):
			assert.Fail(t, "run did not return")
		}
	})
	require.Eventually(t, func() bool {
		status, _ := get(r.base + "/healthz")
		return status == 200
	}, 10*time.Second, 10*time.Millisecond, "serving; logs:\n%s", r.stderr)
	return r
}

// loggedAddr is the addr of the first log line with message msg.
func loggedAddr(logs, msg string) string {
	for _, line := range strings.Split(logs, "\n") {
		var entry struct{ Msg, Addr string }
		if json.Unmarshal([]byte(line), &entry) == nil && entry.Msg == msg {
			return entry.Addr
		}
	}
	return ""
}

// get answers GET url's status and body; status 0 when nothing answered.
func get(url string) (int, string) {
	resp, err := http.Get(url)
	if err != nil {
		return 0, err.Error()
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// postQuery posts a query with a pass-through token.
func postQuery(base, query string) (*http.Response, string, error) {
	req, _ := http.NewRequest(http.MethodPost, base+"/query", strings.NewReader(`{"query": "`+query+`"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer agency-key")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp, string(b), nil
}

// TestShutdownTurnsUnreadyThenDrains follows a SIGTERM (the context
// cancelled): for SHUTDOWN_DELAY /readyz answers 503 while queries are
// still served; then the listeners close, and a request in flight all
// along still gets its answer before run returns.
func TestShutdownTurnsUnreadyThenDrains(t *testing.T) {
	t.Parallel()
	up := upstreamtest.NewServer()
	t.Cleanup(up.Close)
	release := make(chan struct{})
	arrived := make(chan string, 10)
	up.SetFault(upstreamtest.Notify(arrived, upstreamtest.Times(1, upstreamtest.Block(release))))
	r := startRun(t, map[string]string{
		"BOTPENGUIN_BASE_URL": up.URL,
		"SHUTDOWN_DELAY":      "2s", // only the checks made while unready need it
		"METRICS_ADDR":        "127.0.0.1:0",
	})
	releaseOnce := sync.OnceFunc(func() { close(release) })
	t.Cleanup(releaseOnce) // on failure, before run is waited for
	status, _ := get(r.base + "/readyz")
	require.Equal(t, 200, status)

	type answer struct {
		status int
		body   string
	}
	inFlight := make(chan answer, 1)
	go func() {
		resp, body, err := postQuery(r.base, `{ customers { nodes { id } } }`)
		if err != nil {
			inFlight <- answer{0, err.Error()}
			return
		}
		inFlight <- answer{resp.StatusCode, body}
	}()
	<-arrived // held upstream until release
	r.cancel()

	require.Eventually(t, func() bool {
		status, _ := get(r.base + "/readyz")
		return status == http.StatusServiceUnavailable
	}, 10*time.Second, 5*time.Millisecond)
	resp, body, err := postQuery(r.base, `{ customers(page: 2) { page } }`)
	require.NoError(t, err, "still serving while unready")
	assert.Equal(t, 200, resp.StatusCode)
	assert.JSONEq(t, `{"data": {"customers": {"page": 2}}}`, body)
	assert.True(t, resp.Close, "Connection: close, so that clients reconnect elsewhere")
	status, metrics := get(r.metricsBase + "/metrics")
	assert.Equal(t, 200, status, "still scrapable")
	assert.Contains(t, metrics, "gateway_http_requests_in_flight 1")

	// After the delay the listeners close, while the request held
	// upstream keeps run from returning.
	require.Eventually(t, func() bool {
		status, _ := get(r.base + "/healthz")
		return status == 0
	}, 10*time.Second, 10*time.Millisecond, "the main listener closes")
	select {
	case <-r.done:
		require.FailNow(t, "run returned with a request in flight", "err: %v", r.err)
	default:
	}
	releaseOnce()
	got := <-inFlight
	assert.Equal(t, 200, got.status, got.body)
	assert.Contains(t, got.body, `"nodes":[{"id":`)
	select {
	case <-r.done:
		require.NoError(t, r.err)
	case <-time.After(25 * time.Second):
		require.FailNow(t, "run did not return after its last request")
	}
	status, _ = get(r.metricsBase + "/metrics")
	assert.Zero(t, status, "the metrics listener is closed too")
	logs := r.stderr.String()
	assert.Contains(t, logs, `"msg":"shutting down: unready, still serving","delay":2000000000`)
	assert.NotContains(t, logs, "agency-key")
}

// TestMetricsOnTheirOwnListener: with METRICS_ADDR, /metrics is served
// there only; without it, on the main listener (see
// TestDemoServesAndShutsDownGracefully).
func TestMetricsOnTheirOwnListener(t *testing.T) {
	t.Parallel()
	r := startRun(t, map[string]string{"METRICS_ADDR": "127.0.0.1:0", "PLAYGROUND": "false"})
	require.NotEqual(t, r.base, r.metricsBase)

	status, body := get(r.metricsBase + "/metrics")
	assert.Equal(t, 200, status)
	assert.Contains(t, body, "gateway_http_requests_in_flight")
	assert.Contains(t, body, "go_goroutines")
	status, _ = get(r.base + "/metrics")
	assert.Equal(t, 404, status, "not on the main listener")
	for _, path := range []string{"/healthz", "/readyz", "/query", "/"} {
		status, _ = get(r.metricsBase + path)
		assert.Equal(t, 404, status, "the metrics listener serves %s", path)
	}
	status, _ = get(r.base + "/healthz")
	assert.Equal(t, 200, status)

	r.cancel()
	select {
	case <-r.done:
		require.NoError(t, r.err)
	case <-time.After(25 * time.Second):
		require.FailNow(t, "run did not return")
	}
	status, _ = get(r.metricsBase + "/metrics")
	assert.Zero(t, status, "closed with the main listener")
}

func TestRunRefusesBadShutdownAndMetricsSettings(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		vars map[string]string
		want string
	}{
		"delay":              {map[string]string{"SHUTDOWN_DELAY": "5"}, `SHUTDOWN_DELAY: invalid duration "5"`},
		"negative delay":     {map[string]string{"SHUTDOWN_DELAY": "-1s"}, "SHUTDOWN_DELAY: must not be negative"},
		"metrics address":    {map[string]string{"ADDR": "127.0.0.1:0", "METRICS_ADDR": "metrics"}, "METRICS_ADDR: listen tcp: address metrics: missing port in address"},
		"metrics port taken": {nil, "METRICS_ADDR: listen tcp"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			if tc.vars == nil {
				// A port another gateway listens on.
				other := startRun(t, nil)
				tc.vars = map[string]string{"ADDR": "127.0.0.1:0", "METRICS_ADDR": strings.TrimPrefix(other.base, "http://")}
			}
			err := run(context.Background(), nil, env(tc.vars), io.Discard, io.Discard)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			assert.NotContains(t, err.Error(), "\n")
		})
	}
}
