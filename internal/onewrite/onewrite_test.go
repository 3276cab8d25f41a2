package onewrite_test

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/botpenguin-gateway/gateway/internal/onewrite"
	"github.com/botpenguin-gateway/gateway/internal/onewrite/onewritetest"
)

// serve serves h as the gateway's server does: over Listener, with
// ConnContext and Handler; it returns the server's URL and the count of
// writes to its connections.
func serve(t *testing.T, h http.Handler) (string, *onewritetest.Counting) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	writes := onewritetest.CountWrites(ln)
	srv := httptest.NewUnstartedServer(onewrite.Handler(h))
	srv.Listener = onewrite.Listener(writes)
	srv.Config.ConnContext = onewrite.ConnContext
	srv.Start()
	t.Cleanup(srv.Close)
	return srv.URL, writes
}

// The handlers answer n bytes of a known pattern: whole, with their
// length, after Hold or not; or in pieces of 1,000 without a length (the
// chunked encoding).
type answer int

const (
	held answer = iota
	whole
	pieces
)

func (a answer) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n, _ := strconv.Atoi(r.URL.Query().Get("n"))
	body := pattern(n)
	if a == pieces {
		for len(body) > 0 {
			piece := body[:min(1000, len(body))]
			_, _ = w.Write(piece)
			body = body[len(piece):]
		}
		return
	}
	if a == held {
		onewrite.Hold(r.Context())
	}
	w.Header().Set("Content-Length", strconv.Itoa(n))
	_, _ = w.Write(body)
}

func pattern(n int) []byte {
	b := make([]byte, n)
	for i := range b {
		b[i] = 'a' + byte(i%26)
	}
	return b
}

func get(t *testing.T, client *http.Client, url string) []byte {
	t.Helper()
	resp, err := client.Get(url)
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	require.Equal(t, http.StatusOK, resp.StatusCode)
	return body
}

// An answer of 6 KB that its handler holds leaves in one write, header and
// all, where net/http alone sends it in two (its 4 KB buffer, then the
// rest); the bytes are the same.
func TestAHeldAnswerLeavesInOneWrite(t *testing.T) {
	t.Parallel()
	for name, tc := range map[string]struct {
		handler http.Handler
		writes  int64
	}{
		"held":     {held, 1},
		"not held": {whole, 2},
	} {
		t.Run(name, func(t *testing.T) {
			t.Parallel()
			url, writes := serve(t, tc.handler)
			client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{}}
			t.Cleanup(client.CloseIdleConnections)
			for range 3 {
				before := writes.Writes()
				assert.Equal(t, pattern(6000), get(t, client, url+"?n=6000"))
				assert.Equal(t, tc.writes, writes.Writes()-before)
			}
		})
	}
}

// Every length arrives whole and in order on one kept-alive connection:
// answers that end just short of, on and just past net/http's 4 KB
// flushes, and past MaxHeld, held or written in pieces without a length.
func TestEveryLengthArrivesWhole(t *testing.T) {
	t.Parallel()
	mux := http.NewServeMux()
	mux.Handle("/held", held)
	mux.Handle("/pieces", pieces)
	url, _ := serve(t, mux)
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxConnsPerHost: 1}}
	t.Cleanup(client.CloseIdleConnections)
	var lengths []int
	for n := 0; n < 9000; n += 7 {
		lengths = append(lengths, n)
	}
	for n := 3900; n < 4200; n++ { // header and body about one buffer
		lengths = append(lengths, n)
	}
	lengths = append(lengths, onewrite.MaxHeld-1, onewrite.MaxHeld, onewrite.MaxHeld+1, 3*onewrite.MaxHeld+5)
	for _, path := range []string{"/held", "/pieces"} {
		for _, n := range lengths {
			body := get(t, client, fmt.Sprintf("%s%s?n=%d", url, path, n))
			require.Equal(t, n, len(body), "%s of %d bytes", path, n)
			require.True(t, bytes.Equal(pattern(n), body), "%s of %d bytes differs", path, n)
		}
	}
}

// Requests sent before their answers (pipelined) are answered in order,
// each whole.
func TestPipelinedRequestsAreAnsweredInOrder(t *testing.T) {
	t.Parallel()
	url, _ := serve(t, held)
	c, err := net.Dial("tcp", url[len("http://"):])
	require.NoError(t, err)
	defer c.Close()
	require.NoError(t, c.SetDeadline(time.Now().Add(10*time.Second)))
	sizes := []int{5000, 10, 4096, 70000}
	var reqs bytes.Buffer
	for _, n := range sizes {
		fmt.Fprintf(&reqs, "GET /?n=%d HTTP/1.1\r\nHost: x\r\n\r\n", n)
	}
	_, err = c.Write(reqs.Bytes())
	require.NoError(t, err)
	r := bufio.NewReader(c)
	for _, n := range sizes {
		resp, err := http.ReadResponse(r, nil)
		require.NoError(t, err)
		body, err := io.ReadAll(resp.Body)
		require.NoError(t, err)
		assert.Equal(t, pattern(n), body)
	}
}

// A handler that panics after Hold ends its connection; what it wrote
// before does not linger unsent for the next request either.
func TestAPanicAfterHoldEndsTheConnection(t *testing.T) {
	t.Parallel()
	url, _ := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		onewrite.Hold(r.Context())
		w.Header().Set("Content-Length", "10000")
		_, _ = w.Write(pattern(5000))
		panic(http.ErrAbortHandler)
	}))
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{}}
	t.Cleanup(client.CloseIdleConnections)
	resp, err := client.Get(url)
	if err == nil {
		_, err = io.ReadAll(resp.Body)
		resp.Body.Close()
	}
	require.Error(t, err)
	assert.False(t, errors.Is(err, context.DeadlineExceeded) || isTimeout(err), "the client waited: %v", err)
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// Without Listener's connections (a test server, HTTP/2) Hold does
// nothing and answers are as net/http writes them.
func TestHoldWithoutTheListenerDoesNothing(t *testing.T) {
	t.Parallel()
	srv := httptest.NewServer(onewrite.Handler(held))
	t.Cleanup(srv.Close)
	assert.Equal(t, pattern(6000), get(t, srv.Client(), srv.URL+"?n=6000"))

	h2 := httptest.NewUnstartedServer(onewrite.Handler(held))
	h2.EnableHTTP2 = true
	h2.Listener = onewrite.Listener(h2.Listener)
	h2.Config.ConnContext = onewrite.ConnContext
	h2.StartTLS()
	t.Cleanup(h2.Close)
	resp, err := h2.Client().Get(h2.URL + "?n=70000")
	require.NoError(t, err)
	defer resp.Body.Close()
	body, err := io.ReadAll(resp.Body)
	require.NoError(t, err)
	assert.Equal(t, 2, resp.ProtoMajor)
	assert.Equal(t, pattern(70000), body)
}

// A held answer that cannot be sent fails the connection's next write, so
// that net/http, told the held bytes were written, learns otherwise and
// closes the connection.
func TestAFailedSendFailsTheNextWrite(t *testing.T) {
	t.Parallel()
	server, client := net.Pipe()
	require.NoError(t, client.Close())
	c, err := onewrite.Listener(oneConn{conn: server}).Accept()
	require.NoError(t, err)
	req := httptest.NewRequest(http.MethodGet, "/", nil)
	req = req.WithContext(onewrite.ConnContext(req.Context(), c))
	onewrite.Handler(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		onewrite.Hold(r.Context())
		n, err := c.Write(pattern(6000)) // as net/http's buffer flushes
		assert.NoError(t, err, "held, not sent yet")
		assert.Equal(t, 6000, n)
	})).ServeHTTP(httptest.NewRecorder(), req)
	_, err = c.Write([]byte("x"))
	assert.ErrorIs(t, err, io.ErrClosedPipe)
}

// oneConn is a listener of one connection.
type oneConn struct {
	net.Listener
	conn net.Conn
}

func (l oneConn) Accept() (net.Conn, error) { return l.conn, nil }
