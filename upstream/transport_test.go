package upstream_test

import (
	"bytes"
	"compress/gzip"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/botpenguin-gateway/gateway/upstream"
)

// countingServer is an httptest server that counts the connections made to
// it and the requests it got.
type countingServer struct {
	*httptest.Server
	conns, requests atomic.Int64
}

func newCountingServer(t *testing.T, tls bool, h http.HandlerFunc) *countingServer {
	t.Helper()
	s := &countingServer{}
	s.Server = httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		s.requests.Add(1)
		h(w, r)
	}))
	s.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			s.conns.Add(1)
		}
	}
	if tls {
		s.StartTLS()
	} else {
		s.Start()
	}
	t.Cleanup(s.Close)
	return s
}

// inlineClient is an http.Client on the inline transport, trusting s's
// certificate.
func inlineClient(t *testing.T, s *countingServer) *http.Client {
	fallback := &http.Transport{MaxIdleConnsPerHost: 4, IdleConnTimeout: time.Minute, TLSHandshakeTimeout: 5 * time.Second}
	if s.TLS != nil {
		fallback.TLSClientConfig = s.Client().Transport.(*http.Transport).TLSClientConfig.Clone()
	}
	tr := upstream.NewInlineTransport(fallback)
	t.Cleanup(tr.(interface{ CloseIdleConnections() }).CloseIdleConnections)
	return &http.Client{Transport: tr}
}

func get(t *testing.T, c *http.Client, ctx context.Context, url string) (*http.Response, string, error) {
	t.Helper()
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
	require.NoError(t, err)
	resp, err := c.Do(req)
	if err != nil {
		return nil, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp, string(b), err
}

func TestInlineTransportKeepsItsConnections(t *testing.T) {
	for _, tls := range []bool{false, true} {
		t.Run(map[bool]string{false: "http", true: "https"}[tls], func(t *testing.T) {
			page := strings.Repeat("x", 6000)
			s := newCountingServer(t, tls, func(w http.ResponseWriter, r *http.Request) {
				assert.Equal(t, "/customer/list?page=2", r.URL.RequestURI())
				assert.Equal(t, "Bearer t", r.Header.Get("Authorization"))
				assert.Equal(t, "HTTP/1.1", r.Proto)
				_, _ = io.WriteString(w, page)
			})
			c := inlineClient(t, s)
			for range 20 {
				req, _ := http.NewRequest(http.MethodGet, s.URL+"/customer/list?page=2", nil)
				req.Header.Set("Authorization", "Bearer t")
				resp, err := c.Do(req)
				require.NoError(t, err)
				b, err := io.ReadAll(resp.Body)
				require.NoError(t, err)
				require.NoError(t, resp.Body.Close())
				assert.Equal(t, http.StatusOK, resp.StatusCode)
				assert.Equal(t, page, string(b))
			}
			assert.Equal(t, int64(20), s.requests.Load())
			assert.Equal(t, int64(1), s.conns.Load(), "one connection for calls one after another")
		})
	}
}

func TestInlineTransportReconnectsWhenTheUpstreamClosedAnIdleConnection(t *testing.T) {
	s := newCountingServer(t, false, func(w http.ResponseWriter, _ *http.Request) { _, _ = io.WriteString(w, "ok") })
	c := inlineClient(t, s)
	for i := range 3 {
		_, body, err := get(t, c, context.Background(), s.URL)
		require.NoError(t, err, "call %d", i)
		assert.Equal(t, "ok", body)
		s.CloseClientConnections() // the upstream's idle timeout, say
	}
	assert.Equal(t, int64(3), s.requests.Load())
	assert.Equal(t, int64(3), s.conns.Load())
}

func TestInlineTransportClosesWhatCannotBeReused(t *testing.T) {
	for name, h := range map[string]http.HandlerFunc{
		"Connection: close": func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Connection", "close")
			_, _ = io.WriteString(w, "ok")
		},
		"a body read only in part": func(w http.ResponseWriter, _ *http.Request) {
			_, _ = io.WriteString(w, "ok"+strings.Repeat(" ", 100_000))
		},
	} {
		t.Run(name, func(t *testing.T) {
			s := newCountingServer(t, false, h)
			c := inlineClient(t, s)
			for range 2 {
				resp, err := c.Get(s.URL)
				require.NoError(t, err)
				b := make([]byte, 2)
				_, err = io.ReadFull(resp.Body, b)
				require.NoError(t, err)
				assert.Equal(t, "ok", string(b))
				require.NoError(t, resp.Body.Close())
				_, err = resp.Body.Read(b)
				assert.Error(t, err, "a read after Close")
			}
			assert.Equal(t, int64(2), s.conns.Load(), "a connection for each call")
		})
	}
}

func TestInlineTransportUndoesTheGzipItAskedFor(t *testing.T) {
	page := strings.Repeat(`{"_id":"c1"}`, 500)
	s := newCountingServer(t, false, func(w http.ResponseWriter, r *http.Request) {
		if r.Header.Get("Accept-Encoding") != "gzip" {
			_, _ = io.WriteString(w, page)
			return
		}
		w.Header().Set("Content-Encoding", "gzip")
		gz := gzip.NewWriter(w)
		_, _ = io.WriteString(gz, page)
		_ = gz.Close()
	})
	c := inlineClient(t, s)
	for range 3 {
		resp, body, err := get(t, c, context.Background(), s.URL)
		require.NoError(t, err)
		assert.Equal(t, page, body)
		assert.True(t, resp.Uncompressed)
		assert.Empty(t, resp.Header.Get("Content-Encoding"))
	}
	assert.Equal(t, int64(1), s.conns.Load(), "kept after a gzipped answer read to its end")

	// A caller that asks for an encoding itself gets the bytes as sent.
	req, _ := http.NewRequest(http.MethodGet, s.URL, nil)
	req.Header.Set("Accept-Encoding", "gzip")
	resp, err := c.Do(req)
	require.NoError(t, err)
	raw, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	assert.Equal(t, "gzip", resp.Header.Get("Content-Encoding"))
	zr, err := gzip.NewReader(bytes.NewReader(raw))
	require.NoError(t, err)
	plain, _ := io.ReadAll(zr)
	assert.Equal(t, page, string(plain))
}

func TestInlineTransportSkipsInformationalAnswers(t *testing.T) {
	s := newCountingServer(t, false, func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Link", "</style.css>; rel=preload")
		w.WriteHeader(http.StatusEarlyHints)
		w.Header().Del("Link")
		_, _ = io.WriteString(w, "ok")
	})
	resp, body, err := get(t, inlineClient(t, s), context.Background(), s.URL)
	require.NoError(t, err)
	assert.Equal(t, http.StatusOK, resp.StatusCode)
	assert.Equal(t, "ok", body)
}

func TestInlineTransportStopsAfterFiveInformationalAnswers(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	t.Cleanup(func() { _ = ln.Close() })
	go func() {
		conn, err := ln.Accept()
		if err != nil {
			return
		}
		defer conn.Close()
		_, _ = conn.Read(make([]byte, 4096))
		for range 1000 { // a hostile upstream's endless hints
			if _, err := io.WriteString(conn, "HTTP/1.1 103 Early Hints\r\n\r\n"); err != nil {
				return
			}
		}
	}()
	fallback := &http.Transport{MaxIdleConnsPerHost: 4, IdleConnTimeout: time.Minute}
	c := &http.Client{Transport: upstream.NewInlineTransport(fallback)}
	_, err = c.Get("http://" + ln.Addr().String())
	require.Error(t, err)
	assert.Contains(t, err.Error(), "too many 1xx")
}

func TestInlineTransportStopsAtTheContext(t *testing.T) {
	release := make(chan struct{})
	s := newCountingServer(t, false, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Length", "4")
		_, _ = io.WriteString(w, "ok")
		w.(http.Flusher).Flush()
		select { // the rest of the body never comes before the client leaves
		case <-release:
		case <-r.Context().Done():
		}
	})
	defer close(release)
	c := inlineClient(t, s)

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	start := time.Now()
	_, _, err := get(t, c, ctx, s.URL)
	require.Error(t, err, "the body's read is cut at the deadline")
	assert.Less(t, time.Since(start), 5*time.Second)

	ctx, cancel = context.WithCancel(context.Background())
	cancel()
	_, _, err = get(t, c, ctx, s.URL)
	assert.ErrorIs(t, err, context.Canceled)
}

func TestInlineTransportLeavesWritesToTheStandardOne(t *testing.T) {
	var protos []string
	s := newCountingServer(t, false, func(w http.ResponseWriter, r *http.Request) {
		b, _ := io.ReadAll(r.Body)
		protos = append(protos, r.Method+" "+string(b))
		_, _ = io.WriteString(w, "ok")
	})
	c := inlineClient(t, s)
	resp, err := c.Post(s.URL, "application/json", strings.NewReader(`{"name":"a"}`))
	require.NoError(t, err)
	b, _ := io.ReadAll(resp.Body)
	_ = resp.Body.Close()
	assert.Equal(t, "ok", string(b))
	assert.Equal(t, []string{`POST {"name":"a"}`}, protos)
}
