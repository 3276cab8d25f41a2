package main

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/botpenguin-gateway/gateway/internal/onewrite/onewritetest"
	"github.com/botpenguin-gateway/gateway/upstream/upstreamtest"
)

// loopback is a listener on a port the system chose, for serve: nobody can
// take the port between choosing and listening.
func loopback(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { ln.Close() }) // serve closes it too; twice is harmless
	return ln
}

// env is an environment of vars alone, except that SHUTDOWN_DELAY is 0
// unless vars set it: no load balancer watches a test's /readyz.
func env(vars map[string]string) func(string) string {
	return func(name string) string {
		if v, ok := vars[name]; ok {
			return v
		}
		if name == "SHUTDOWN_DELAY" {
			return "0"
		}
		return ""
	}
}

func TestRunRefusesBadConfiguration(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		vars map[string]string
		want string
	}{
		"duration":        {map[string]string{"UPSTREAM_TIMEOUT": "5x"}, `UPSTREAM_TIMEOUT: invalid duration "5x"`},
		"negative":        {map[string]string{"UPSTREAM_RETRIES": "-1"}, "UPSTREAM_RETRIES: must be between 0 and 10"},
		"boolean":         {map[string]string{"PLAYGROUND": "yes"}, `PLAYGROUND: must be true or false, got "yes"`},
		"level":           {map[string]string{"LOG_LEVEL": "loud"}, "LOG_LEVEL: must be debug, info, warn or error"},
		"server key open": {map[string]string{"BOTPENGUIN_API_KEY": "k"}, "GATEWAY_ACCESS_TOKENS: required in server-key mode"},
		"redis":           {map[string]string{"REDIS_URL": "http://secret@x"}, "REDIS_URL: must look like"},
		"otlp":            {map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4318"}, "OTEL_EXPORTER_OTLP_ENDPOINT: must be an http or https URL"},
	} {
		t.Run(name, func(t *testing.T) {
			var stderr bytes.Buffer
			err := run(context.Background(), nil, env(tc.vars), io.Discard, &stderr)
			require.Error(t, err)
			assert.Contains(t, err.Error(), tc.want)
			assert.Equal(t, 1, strings.Count(err.Error(), "\n")+1, "one line: %q", err)
			assert.NotContains(t, err.Error(), "secret")
		})
	}
}

// TestDemoServesAndShutsDownGracefully runs the whole program in -demo mode:
// it answers queries without a token, and on cancellation lets an
// in-flight request finish before run returns.
func TestDemoServesAndShutsDownGracefully(t *testing.T) {
	t.Parallel()
	ln := loopback(t)
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stdout, stderr syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- serve(ctx, []string{"-demo", "-demo-latency", "50ms"}, env(nil), &stdout, &stderr, listeners{main: ln})
	}()

	base := "http://" + ln.Addr().String()
	require.Eventually(t, func() bool {
		resp, err := http.Get(base + "/healthz")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return resp.StatusCode == 200
	}, 10*time.Second, 20*time.Millisecond)

	post := func(query string) (int, string) {
		resp, err := http.Post(base+"/query", "application/json", strings.NewReader(fmt.Sprintf(`{"query": %q}`, query)))
		if err != nil {
			return 0, err.Error()
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	status, body := post(`{ customers { nodes { name } hasNextPage } }`)
	require.Equal(t, 200, status, body)
	assert.Contains(t, body, `"hasNextPage":true`)
	assert.NotContains(t, body, `"errors"`)

	resp, err := http.Get(base + "/")
	require.NoError(t, err)
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	assert.Equal(t, 200, resp.StatusCode)
	assert.Contains(t, strings.ToLower(string(page)), "graphiql")
	assert.Contains(t, stdout.String(), "demo: GraphiQL on http://")

	// A slow request in flight when the signal comes still completes:
	// customer(id) of an unknown id reads all 16 pages, 50 ms each.
	var wg sync.WaitGroup
	var slowStatus int
	var slowBody string
	wg.Go(func() { slowStatus, slowBody = post(`{ customer(id: "ffffffffffffffffffffffff") { id } }`) })
	require.Eventually(t, func() bool {
		resp, err := http.Get(base + "/metrics")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return strings.Contains(string(b), "gateway_http_requests_in_flight 1")
	}, 5*time.Second, 5*time.Millisecond)
	cancel()
	select {
	case err := <-done:
		require.NoError(t, err)
	case <-time.After(25 * time.Second):
		t.Fatal("run did not return after cancellation")
	}
	wg.Wait()
	assert.Equal(t, 200, slowStatus)
	assert.JSONEq(t, `{"data": {"customer": null}}`, slowBody)
	_, err = http.Get(base + "/healthz")
	assert.Error(t, err, "the listener is closed")
	assert.NotContains(t, stderr.String(), "demo-key")
}

// TestRunListensOnTheAddrFlag: handed no listener, run listens where -addr
// says, over ADDR (here one nothing can listen on), and logs where.
func TestRunListensOnTheAddrFlag(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	var stderr syncBuffer
	done := make(chan error, 1)
	go func() {
		done <- run(ctx, []string{"-addr", "127.0.0.1:0"}, env(map[string]string{"ADDR": "no-port"}), io.Discard, &stderr)
	}()
	var addr string
	require.Eventually(t, func() bool {
		addr = loggedAddr(stderr.String(), "gateway listening")
		return addr != ""
	}, 10*time.Second, 10*time.Millisecond, "logs:\n%s", &stderr)
	status, _ := get("http://" + addr + "/healthz")
	assert.Equal(t, 200, status)
	assert.Contains(t, stderr.String(), fmt.Sprintf(`"gomaxprocs":%d}`, runtime.GOMAXPROCS(0)),
		"the listening line says how many scheduler threads run")
	cancel()
	require.NoError(t, <-done)
}

type syncBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *syncBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

func (b *syncBuffer) String() string {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.String()
}

// TestAnAnswerLeavesInOneWrite: a page with every field, larger than
// net/http's 4 KB connection buffer, reaches the client in one write,
// header and all (see internal/onewrite), with request coalescing or
// without.
func TestAnAnswerLeavesInOneWrite(t *testing.T) {
	t.Parallel()
	for _, coalesce := range []string{"true", "false"} {
		t.Run("COALESCE_REQUESTS="+coalesce, func(t *testing.T) {
			t.Parallel()
			oneWritePerAnswer(t, map[string]string{"COALESCE_REQUESTS": coalesce})
		})
	}
}

func oneWritePerAnswer(t *testing.T, vars map[string]string) {
	up := upstreamtest.NewServer()
	t.Cleanup(up.Close)
	vars["BOTPENGUIN_BASE_URL"] = up.URL
	counted := onewritetest.CountWrites(loopback(t))
	r := startRunOn(t, vars, counted)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{}}
	t.Cleanup(client.CloseIdleConnections)
	for page := range 3 {
		req, err := http.NewRequest(http.MethodPost, r.base+"/query", strings.NewReader(fmt.Sprintf(
			`{"query":"{ customers(page: %d) { nodes { id name contact { email } verified status subscriptionType createdAt updatedAt lastLogin } } }"}`, page+1)))
		require.NoError(t, err)
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer agency-key")
		req.Header.Set("Accept-Encoding", "identity") // as wrk; Go's client would ask for gzip
		before := counted.Writes()
		resp, err := client.Do(req)
		require.NoError(t, err)
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		require.NoError(t, err)
		require.Equal(t, 200, resp.StatusCode, string(body))
		require.Empty(t, resp.Header.Get("Content-Encoding"))
		require.NotContains(t, string(body), `"errors"`)
		require.Greater(t, len(body), 4096, "an answer net/http would send in two writes")
		assert.Equal(t, int64(1), counted.Writes()-before, "writes for page %d", page+1)
	}
}
