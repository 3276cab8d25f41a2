package httpserver_test

import (
	"bytes"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/botpenguin-gateway/gateway/upstream/upstreamtest"
)

const allowedOrigin = "https://app.example.com"

// varyOf is every header name an answer varies on, however it is split
// over Vary lines, canonicalized.
func varyOf(h http.Header) []string {
	var out []string
	for _, line := range h.Values("Vary") {
		for _, name := range strings.Split(line, ",") {
			if name = strings.TrimSpace(name); name != "" {
				out = append(out, http.CanonicalHeaderKey(name))
			}
		}
	}
	return out
}

// postFromOrigin posts encodedQuery as a browser on allowedOrigin would,
// accepting acceptEncoding, and returns the answer's header.
func (e *env) postFromOrigin(acceptEncoding string) http.Header {
	e.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, e.gw.URL+"/query",
		bytes.NewReader([]byte(`{"query": "`+encodedQuery+`"}`)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+testToken)
	req.Header.Set("Accept-Encoding", acceptEncoding)
	req.Header.Set("Origin", allowedOrigin)
	resp, err := e.gw.Client().Do(req)
	require.NoError(e.t, err)
	defer resp.Body.Close()
	_, _ = io.Copy(io.Discard, resp.Body)
	require.Equal(e.t, 200, resp.StatusCode)
	require.Equal(e.t, allowedOrigin, resp.Header.Get("Access-Control-Allow-Origin"))
	return resp.Header
}

// assertVariesOnOriginAndEncoding checks that an answer names both of the
// request headers it depends on, each once.
func assertVariesOnOriginAndEncoding(t *testing.T, h http.Header, what string) {
	t.Helper()
	assert.ElementsMatch(t, []string{"Origin", "Accept-Encoding"}, varyOf(h), "%s: Vary %q", what, h.Values("Vary"))
}

func TestVaryNamesOriginAndEncodingOnEveryAnswer(t *testing.T) {
	t.Parallel()
	for name, vars := range map[string]map[string]string{
		"coalescing":    {},
		"no coalescing": {"COALESCE_REQUESTS": "false"},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			vars["CORS_ALLOWED_ORIGINS"] = allowedOrigin
			e := newEnv(t, vars)
			for _, accept := range []string{"gzip", "zstd", "identity"} {
				h := e.postFromOrigin(accept)
				if accept != "identity" {
					require.Equal(t, accept, h.Get("Content-Encoding"), "compressed")
				} else {
					require.Empty(t, h.Get("Content-Encoding"))
				}
				assertVariesOnOriginAndEncoding(t, h, accept)
			}
		})
	}
}

func TestVaryOfSharedAndCachedAnswers(t *testing.T) {
	t.Parallel()
	e := newEnv(t, map[string]string{"CORS_ALLOWED_ORIGINS": allowedOrigin, "CACHE_TTL": "30s"})
	release := make(chan struct{})
	arrived := make(chan string, 10)
	e.up.SetFault(upstreamtest.Notify(arrived, upstreamtest.Block(release)))

	// Three identical requests share one execution.
	headers := make([]http.Header, 3)
	var wg sync.WaitGroup
	for i := range headers {
		wg.Go(func() { headers[i] = e.postFromOrigin("gzip") })
	}
	<-arrived
	require.Eventually(t, func() bool {
		return e.metric("gateway_http_requests_in_flight") == "gateway_http_requests_in_flight 3"
	}, 5*time.Second, time.Millisecond)
	close(release)
	wg.Wait()
	// A request counted in flight may not have joined yet when the first
	// finishes: it is then answered from the answer cache instead. Either
	// way the other two got the first one's answer.
	hit := `gateway_graphql_answer_cache_requests_total{result="hit"}`
	hits := counterValue(t, e.metric(hit), hit)
	assert.Equal(t, 2, counterValue(t, e.metric("gateway_graphql_coalesced_requests_total"), "gateway_graphql_coalesced_requests_total")+hits)
	assert.EqualValues(t, 1, e.up.CallsTo(upstreamtest.PathList), "one upstream call")
	for _, h := range headers {
		assert.Equal(t, "gzip", h.Get("Content-Encoding"))
		assertVariesOnOriginAndEncoding(t, h, "shared")
	}

	// The same request again is answered from the answer cache, and the
	// cached answer's Vary did not grow with each use.
	for range 2 {
		h := e.postFromOrigin("gzip")
		assert.Equal(t, "gzip", h.Get("Content-Encoding"))
		assertVariesOnOriginAndEncoding(t, h, "cached")
	}
	assert.Equal(t, hits+2, counterValue(t, e.metric(hit), hit))
}

// counterValue is the value of the series named series in a /metrics
// excerpt; 0 when it is not there.
func counterValue(t *testing.T, metrics, series string) int {
	t.Helper()
	for _, line := range splitLines(metrics) {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			n, err := strconv.Atoi(v)
			require.NoError(t, err, line)
			return n
		}
	}
	return 0
}

func TestVaryOfPreflightsAndGraphiQL(t *testing.T) {
	t.Parallel()
	e := newEnv(t, map[string]string{"CORS_ALLOWED_ORIGINS": allowedOrigin})

	req, _ := http.NewRequest(http.MethodOptions, e.gw.URL+"/query", nil)
	req.Header.Set("Origin", allowedOrigin)
	req.Header.Set("Access-Control-Request-Method", "POST")
	req.Header.Set("Access-Control-Request-Headers", "authorization, content-type")
	resp, err := e.gw.Client().Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	assert.Equal(t, allowedOrigin, resp.Header.Get("Access-Control-Allow-Origin"))
	assert.ElementsMatch(t, []string{"Origin", "Access-Control-Request-Method", "Access-Control-Request-Headers"},
		varyOf(resp.Header), "a preflight is never compressed")

	// GraphiQL is the same for every origin (it gets no CORS header), so
	// the page (small, sent as is) and its assets (compressed) vary on
	// Accept-Encoding alone.
	get := func(path string) (http.Header, []byte) {
		req, _ := http.NewRequest(http.MethodGet, e.gw.URL+path, nil)
		req.Header.Set("Origin", allowedOrigin)
		req.Header.Set("Accept-Encoding", "gzip")
		resp, err := e.gw.Client().Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		require.Equal(t, 200, resp.StatusCode, path)
		assert.Empty(t, resp.Header.Get("Access-Control-Allow-Origin"), path)
		assert.Equal(t, []string{"Accept-Encoding"}, varyOf(resp.Header), path)
		return resp.Header, undoEncoding(t, resp.Header.Get("Content-Encoding"), body)
	}
	_, page := get("/")
	script := regexp.MustCompile(`src="([^"]+/graphiql\.min\.js)"`).FindSubmatch(page)
	require.NotNil(t, script, "the page links GraphiQL")
	h, _ := get("/" + string(script[1]))
	assert.Equal(t, "gzip", h.Get("Content-Encoding"))
}
