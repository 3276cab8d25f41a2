package upstream

import (
	"bufio"
	"compress/gzip"
	"context"
	"crypto/tls"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// inlineTransport makes the upstream's reads, GET requests without a body,
// over HTTP/1.1 on the caller's goroutine: it writes the request and reads
// the answer itself, on a connection it keeps between calls. net/http's
// Transport hands every request to a writing goroutine and the answer back
// from a reading one; on two loaded cores, with the page loader's own
// hand-offs gone too, that was 8.5 % of a request's CPU (e2e/PERFORMANCE.md,
// "The upstream on the caller's goroutine"). It is written here because no
// maintained client both does that and honours a request's context. The
// wire format is net/http's own: Request.Write and http.ReadResponse. Every
// other request (a body, another method, a proxy from the environment)
// goes to fallback.
type inlineTransport struct {
	fallback *http.Transport
	dialer   net.Dialer
	tls      *tls.Config // HTTP/1.1 only: this transport speaks nothing else

	maxIdle     int           // per host
	idleTimeout time.Duration // an idle connection older than this is closed, not reused

	mu   sync.Mutex
	idle map[string][]*inlineConn // by scheme and address, most recently used last

	gunzip sync.Pool // of *gzip.Reader
}

// inlineConn is one kept-alive connection to the upstream.
type inlineConn struct {
	key       string
	conn      net.Conn
	br        *bufio.Reader
	bw        *bufio.Writer
	idleSince time.Time
}

// newInlineTransport takes the reads, and leaves the rest to fallback, whose
// dial, TLS and idle settings it follows.
func newInlineTransport(fallback *http.Transport) *inlineTransport {
	cfg := &tls.Config{MinVersion: tls.VersionTLS12}
	if fallback.TLSClientConfig != nil {
		cfg = fallback.TLSClientConfig.Clone()
	}
	cfg.NextProtos = []string{"http/1.1"}
	return &inlineTransport{
		fallback:    fallback,
		dialer:      net.Dialer{Timeout: 5 * time.Second, KeepAlive: 30 * time.Second},
		tls:         cfg,
		maxIdle:     fallback.MaxIdleConnsPerHost,
		idleTimeout: fallback.IdleConnTimeout,
		idle:        map[string][]*inlineConn{},
	}
}

// errBodyClosed is a read of a body after Close, as net/http's.
var errBodyClosed = errors.New("http: read on closed response body")

// RoundTrip implements http.RoundTripper.
func (t *inlineTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if !t.takes(req) {
		return t.fallback.RoundTrip(req)
	}
	ctx := req.Context()
	askedGzip := false
	if req.Header.Get("Accept-Encoding") == "" && req.Header.Get("Range") == "" {
		// As net/http's Transport does: ask for gzip and undo it, so that
		// the bytes over the network are as few as before.
		askedGzip = true
		req = req.Clone(ctx)
		req.Header.Set("Accept-Encoding", "gzip")
	}
	for {
		pc, reused, err := t.conn(ctx, req)
		if err != nil {
			return nil, err
		}
		resp, err := t.exchange(ctx, pc, req, askedGzip)
		if err == nil {
			return resp, nil
		}
		// A kept connection may have been closed by the upstream while it
		// was idle; a read is safe to send again on a fresh one.
		if !reused || ctx.Err() != nil {
			return nil, err
		}
	}
}

// takes reports the requests made inline: reads without a body, to http or
// https, with no proxy from the environment for them.
func (t *inlineTransport) takes(req *http.Request) bool {
	if req.Method != http.MethodGet || (req.Body != nil && req.Body != http.NoBody) {
		return false
	}
	if req.URL.Scheme != "http" && req.URL.Scheme != "https" {
		return false
	}
	if t.fallback.Proxy != nil {
		if u, err := t.fallback.Proxy(req); err != nil || u != nil {
			return false
		}
	}
	return true
}

// exchange sends req on pc and reads the answer's head. The body is read by
// the caller; pc goes back to the pool once it has been read to its end.
func (t *inlineTransport) exchange(ctx context.Context, pc *inlineConn, req *http.Request, askedGzip bool) (*http.Response, error) {
	// The context ends a call at any point, the body's read included: the
	// connection's deadline passes, its read or write fails, and it is closed.
	stop := context.AfterFunc(ctx, func() { _ = pc.conn.SetDeadline(time.Unix(1, 0)) })
	fail := func(err error) (*http.Response, error) {
		stop()
		_ = pc.conn.Close()
		if ctx.Err() != nil {
			return nil, ctx.Err()
		}
		return nil, err
	}
	if err := req.Write(pc.bw); err != nil {
		return fail(err)
	}
	if err := pc.bw.Flush(); err != nil {
		return fail(err)
	}
	resp, err := http.ReadResponse(pc.br, req)
	// Informational answers (103 Early Hints) precede the answer; as
	// net/http, at most 5 of them.
	for n := 0; err == nil && resp.StatusCode >= 100 && resp.StatusCode <= 199 && resp.StatusCode != http.StatusSwitchingProtocols; n++ {
		if n == 5 {
			err = errors.New("too many 1xx informational responses")
			break
		}
		resp, err = http.ReadResponse(pc.br, req)
	}
	if err == nil && resp.StatusCode == http.StatusSwitchingProtocols {
		err = errors.New("unexpected 101 Switching Protocols")
	}
	if err != nil {
		return fail(err)
	}
	body := &inlineBody{t: t, pc: pc, stop: stop, raw: resp.Body, close: resp.Close}
	if askedGzip && resp.Header.Get("Content-Encoding") == "gzip" && resp.Body != http.NoBody {
		body.gzip = true
		resp.Header.Del("Content-Encoding")
		resp.Header.Del("Content-Length")
		resp.ContentLength = -1
		resp.Uncompressed = true
	}
	resp.Body = body
	return resp, nil
}

// conn is a kept connection for req's host, or a new one.
func (t *inlineTransport) conn(ctx context.Context, req *http.Request) (pc *inlineConn, reused bool, err error) {
	key := req.URL.Scheme + "://" + req.URL.Host
	now := time.Now()
	t.mu.Lock()
	for conns := t.idle[key]; len(conns) > 0; conns = t.idle[key] {
		pc = conns[len(conns)-1]
		t.idle[key] = conns[:len(conns)-1]
		if now.Sub(pc.idleSince) < t.idleTimeout {
			t.mu.Unlock()
			return pc, true, nil
		}
		_ = pc.conn.Close()
	}
	t.mu.Unlock()
	return t.dial(ctx, key, req.URL.Scheme, req.URL.Hostname(), req.URL.Port())
}

func (t *inlineTransport) dial(ctx context.Context, key, scheme, host, port string) (*inlineConn, bool, error) {
	if port == "" {
		port = "80"
		if scheme == "https" {
			port = "443"
		}
	}
	addr := net.JoinHostPort(host, port)
	dctx, cancel := context.WithTimeout(ctx, t.dialer.Timeout+t.fallback.TLSHandshakeTimeout)
	defer cancel()
	var conn net.Conn
	var err error
	if scheme == "https" {
		cfg := t.tls
		if cfg.ServerName == "" {
			cfg = cfg.Clone()
			cfg.ServerName = host
		}
		conn, err = (&tls.Dialer{NetDialer: &t.dialer, Config: cfg}).DialContext(dctx, "tcp", addr)
	} else {
		conn, err = t.dialer.DialContext(dctx, "tcp", addr)
	}
	if err != nil {
		return nil, false, err
	}
	// A page and its head in one read, as newTransport's ReadBufferSize.
	return &inlineConn{key: key, conn: conn, br: bufio.NewReaderSize(conn, 8<<10), bw: bufio.NewWriterSize(conn, 1<<10)}, false, nil
}

// put keeps pc for the next call to its host, and closes what has been idle
// too long or is beyond the pool's size.
func (t *inlineTransport) put(pc *inlineConn) {
	pc.idleSince = time.Now()
	t.mu.Lock()
	conns := append(t.idle[pc.key], pc)
	// The least recently used are first: close those too old, one each
	// time, and the first beyond the size.
	if len(conns) > t.maxIdle || pc.idleSince.Sub(conns[0].idleSince) >= t.idleTimeout {
		_ = conns[0].conn.Close()
		conns = append(conns[:0], conns[1:]...)
	}
	t.idle[pc.key] = conns
	t.mu.Unlock()
}

// CloseIdleConnections closes the kept connections, its own and fallback's.
func (t *inlineTransport) CloseIdleConnections() {
	t.mu.Lock()
	for key, conns := range t.idle {
		for _, pc := range conns {
			_ = pc.conn.Close()
		}
		delete(t.idle, key)
	}
	t.mu.Unlock()
	t.fallback.CloseIdleConnections()
}

// inlineBody is an answer's body: once read to its end, its connection goes
// back to the pool; closed before that, the connection is closed.
type inlineBody struct {
	t     *inlineTransport
	pc    *inlineConn // nil once given back or closed
	stop  func() bool // the context's AfterFunc
	raw   io.ReadCloser
	close bool // the upstream closes the connection after this answer
	gzip  bool
	gz    *gzip.Reader
	end   error // what Read returns once the body is done
}

func (b *inlineBody) Read(p []byte) (int, error) {
	if b.pc == nil {
		return 0, b.end
	}
	if !b.gzip {
		n, err := b.raw.Read(p)
		if err != nil {
			b.done(err)
		}
		return n, err
	}
	if b.gz == nil {
		gz, _ := b.t.gunzip.Get().(*gzip.Reader)
		var err error
		if gz == nil {
			gz, err = gzip.NewReader(b.raw)
		} else {
			err = gz.Reset(b.raw)
		}
		if err != nil {
			b.done(err)
			return 0, err
		}
		b.gz = gz
	}
	n, err := b.gz.Read(p)
	if err == io.EOF {
		// The gzip stream has ended; so must the body, for the connection
		// to be reused.
		var one [1]byte
		if _, rerr := b.raw.Read(one[:]); rerr != io.EOF {
			b.done(errors.New("data after the gzip stream"))
		} else {
			b.done(io.EOF)
		}
	} else if err != nil {
		b.done(err)
	}
	return n, err
}

// Close gives the connection back when the body was read, and closes it
// when it was not.
func (b *inlineBody) Close() error {
	if b.pc != nil {
		b.done(errBodyClosed)
	}
	b.end = errBodyClosed
	return nil
}

// done ends the body's call with end (io.EOF when it was read to its
// end): the connection is kept when it was, nothing cancelled the call,
// and the upstream keeps it alive.
func (b *inlineBody) done(end error) {
	pc := b.pc
	b.pc, b.end = nil, end
	if b.gz != nil {
		b.t.gunzip.Put(b.gz)
		b.gz = nil
	}
	if b.stop() && end == io.EOF && !b.close {
		b.t.put(pc)
		return
	}
	_ = pc.conn.Close()
}
