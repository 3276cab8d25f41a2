package httpserver_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"encoding/json"
	"io"
	"net/http"
	"regexp"
	"strconv"
	"sync"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/botpenguin-gateway/gateway/upstream/upstreamtest"
)

const encodedQuery = `{ customers { nodes { id name contact { email } status createdAt } } }`

// rawAnswer is an answer as sent, before any decoding.
type rawAnswer struct {
	status   int
	header   http.Header
	body     []byte
	identity []byte // body with its Content-Encoding undone
}

// postEncoded posts encodedQuery with Accept-Encoding set by hand, which keeps
// Go's transport from undoing the compression, and undoes it here.
func (e *env) postEncoded(ctx context.Context, acceptEncoding string) rawAnswer {
	e.t.Helper()
	req, _ := http.NewRequestWithContext(ctx, http.MethodPost, e.gw.URL+"/query",
		bytes.NewReader([]byte(`{"query": "`+encodedQuery+`"}`)))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+testToken)
	req.Header.Set("Accept-Encoding", acceptEncoding)
	resp, err := e.gw.Client().Do(req)
	require.NoError(e.t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(e.t, err)
	return rawAnswer{status: resp.StatusCode, header: resp.Header, body: body, identity: undoEncoding(e.t, resp.Header.Get("Content-Encoding"), body)}
}

func undoEncoding(t *testing.T, encoding string, body []byte) []byte {
	t.Helper()
	switch encoding {
	case "":
		return body
	case "gzip":
		r, err := gzip.NewReader(bytes.NewReader(body))
		require.NoError(t, err)
		out, err := io.ReadAll(r)
		require.NoError(t, err)
		return out
	case "zstd":
		r, err := zstd.NewReader(bytes.NewReader(body))
		require.NoError(t, err)
		defer r.Close()
		out, err := io.ReadAll(r)
		require.NoError(t, err)
		return out
	}
	t.Fatalf("unexpected Content-Encoding %q", encoding)
	return nil
}

func TestAnswersAreCompressedWhenTheClientAcceptsIt(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	plain := e.postEncoded(context.Background(), "identity")
	require.Equal(t, 200, plain.status)
	require.True(t, json.Valid(plain.body))
	assert.Contains(t, string(plain.body), `"name":"Jonas v1"`)
	assert.Empty(t, plain.header.Get("Content-Encoding"))
	assert.Contains(t, plain.header.Values("Vary"), "Accept-Encoding")

	for accept, want := range map[string]string{
		"gzip":                     "gzip",
		"gzip, deflate, br, zstd":  "zstd", // what Chromium sends
		"gzip;q=1, zstd;q=0.5":     "gzip",
		"deflate, br":              "",
		"gzip;q=0, identity":       "",
		"GZIP":                     "gzip",
		"zstd;q=0, gzip;q=0.1, br": "gzip",
	} {
		t.Run(accept, func(t *testing.T) {
			got := e.postEncoded(context.Background(), accept)
			assert.Equal(t, 200, got.status)
			assert.Equal(t, want, got.header.Get("Content-Encoding"))
			assert.Equal(t, string(plain.identity), string(got.identity), "the same answer once decoded")
			assert.Equal(t, strconv.Itoa(len(got.body)), got.header.Get("Content-Length"))
			if want != "" {
				assert.Less(t, len(got.body), len(plain.body)/3, "a page compresses at least 3:1")
			}
		})
	}
}

// Every answer is compressed anew, so at gzip's fastest level, which its
// header says in the extra flags (RFC 1952: 4 is the fastest, 2 the best).
func TestGzipAnswersAreCompressedAtTheFastestLevel(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	got := e.postEncoded(context.Background(), "gzip")
	require.Equal(t, "gzip", got.header.Get("Content-Encoding"))
	require.Greater(t, len(got.body), 10)
	assert.Equal(t, byte(4), got.body[8], "XFL of the gzip header")
}

func TestCoalescedRequestsEachGetTheEncodingTheyAccept(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	release := make(chan struct{})
	arrived := make(chan string, 10)
	e.up.SetFault(upstreamtest.Notify(arrived, upstreamtest.Block(release)))

	accepts := []string{"gzip", "identity", "zstd", "gzip", "identity", "zstd"}
	answers := make([]rawAnswer, len(accepts))
	var wg sync.WaitGroup
	for i, accept := range accepts {
		wg.Go(func() { answers[i] = e.postEncoded(context.Background(), accept) })
	}
	<-arrived
	// All six in flight, and the three executions (one per encoding) all
	// waiting on the one upstream call.
	require.Eventually(t, func() bool {
		return e.metric("gateway_http_requests_in_flight") == "gateway_http_requests_in_flight 6" &&
			e.metric("gateway_upstream_coalesced_total") == "gateway_upstream_coalesced_total 2"
	}, 5*time.Second, time.Millisecond)
	close(release)
	wg.Wait()

	for i, a := range answers {
		want := map[string]string{"gzip": "gzip", "zstd": "zstd", "identity": ""}[accepts[i]]
		assert.Equal(t, want, a.header.Get("Content-Encoding"), accepts[i])
		assert.Equal(t, string(answers[1].identity), string(a.identity))
	}
	// Three encodings, three executions; they share the one upstream call.
	assert.Equal(t, "gateway_graphql_coalesced_requests_total 3", e.metric("gateway_graphql_coalesced_requests_total"))
	assert.EqualValues(t, 1, e.up.Calls())
}

func TestCompressionCanBeTurnedOff(t *testing.T) {
	t.Parallel()
	e := newEnv(t, map[string]string{"COMPRESS_RESPONSES": "false"})
	got := e.postEncoded(context.Background(), "gzip, zstd")
	assert.Equal(t, 200, got.status)
	assert.Empty(t, got.header.Get("Content-Encoding"))
	assert.Contains(t, string(got.body), `"name":"Jonas v1"`)
}

func TestPlaygroundIsCompressed(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	get := func(path string) (string, []byte) {
		req, _ := http.NewRequest(http.MethodGet, e.gw.URL+path, nil)
		req.Header.Set("Accept-Encoding", "gzip")
		resp, err := e.gw.Client().Do(req)
		require.NoError(t, err)
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		require.Equal(t, 200, resp.StatusCode, path)
		return resp.Header.Get("Content-Encoding"), undoEncoding(t, resp.Header.Get("Content-Encoding"), body)
	}
	_, page := get("/")
	script := regexp.MustCompile(`src="([^"]+/graphiql\.min\.js)"`).FindSubmatch(page)
	require.NotNil(t, script, "the page links GraphiQL")
	encoding, js := get("/" + string(script[1]))
	assert.Equal(t, "gzip", encoding)
	assert.Greater(t, len(js), 100_000, "GraphiQL itself")
}
