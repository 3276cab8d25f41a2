package upstream

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"
)

// Token is a credential sent upstream as "Authorization: Bearer <token>".
// It prints as [redacted] through fmt and slog so that it cannot leak into
// a log line or an error message by accident.
type Token string

const redacted = "[redacted]"

// String returns a mask, never the token.
func (Token) String() string { return redacted }

// GoString returns a mask, never the token (for %#v).
func (Token) GoString() string { return redacted }

// LogValue returns a mask, never the token.
func (Token) LogValue() slog.Value { return slog.StringValue(redacted) }

// MarshalText returns a mask, never the token.
func (Token) MarshalText() ([]byte, error) { return []byte(redacted), nil }

// request is one upstream call as newRequest builds it: what each attempt
// sends, and, with the HMAC of its token, what identifies it for
// coalescing and the cache.
type request struct {
	op     string // what the call does, for errors: "list customers"
	method string
	url    string // base URL, path and encoded query
	path   string // below the base URL
	query  string // encoded; "" for none
	token  Token
	body   []byte // JSON; nil when there is none

	// logAttrs open the debug line of each attempt; the list logs its page
	// and sort there.
	logAttrs []slog.Attr
}

// newRequest builds a call that does op: method on path (below the base
// URL) with query (encoded, as url.Values.Encode does; "" for none), sent
// with token, and body encoded as JSON unless it is nil. A token that is
// empty or cannot be sent in a header is ErrUnauthorized: nothing is worth
// sending, the upstream would answer 401.
func (c *Client) newRequest(op, method, path, query string, token Token, body any) (*request, error) {
	if token == "" || !validHeaderValue(string(token)) {
		return nil, &Error{Kind: ErrUnauthorized, Message: "missing or malformed token; no call was made"}
	}
	r := &request{op: op, method: method, token: token, path: path, query: query}
	if query == "" {
		r.url = c.base + path
	} else {
		r.url = c.base + path + "?" + query
	}
	if body != nil {
		b, err := json.Marshal(body)
		if err != nil {
			return nil, fmt.Errorf("upstream: %s: encoding the request: %w", op, err)
		}
		r.body = b
	}
	return r, nil
}

// safe reports a request that only reads (RFC 9110): identical concurrent
// ones may share one call and its answer may be cached.
func (r *request) safe() bool {
	return r.method == http.MethodGet || r.method == http.MethodHead
}

// idempotent reports a request that may be sent twice with the effect of
// once (RFC 9110), so that it may be retried whatever happened to the
// first attempt.
func (r *request) idempotent() bool {
	switch r.method {
	case http.MethodGet, http.MethodHead, http.MethodOptions, http.MethodPut, http.MethodDelete:
		return true
	}
	return false
}

func validHeaderValue(s string) bool {
	for i := 0; i < len(s); i++ {
		if b := s[i]; b < 0x20 || b == 0x7f {
			return false
		}
	}
	return true
}

// response is one attempt's upstream answer, read in full, for the
// endpoint's decoder. Passed by value: it is small, and it stays off the
// heap.
type response struct {
	http  *http.Response // status and headers; the body is read and closed
	body  []byte         // in buf: no longer valid once buf is given back
	buf   *bytes.Buffer
	token Token            // masked in the upstream's messages
	now   func() time.Time // for Retry-After dates
}

// ok reports a 2xx status.
func (r response) ok() bool { return r.http.StatusCode >= 200 && r.http.StatusCode <= 299 }

// check is CheckResponse with the client's clock and the call's token.
func (r response) check() (json.RawMessage, error) {
	return checkAnswer(r.http, r.body, r.token, r.now())
}

// exchange is one HTTP attempt of req (n counts from 0), its answer decoded
// by decode, counted in the metrics and logged at debug level.
func exchange[T any](ctx context.Context, c *Client, req *request, decode decoder[T], n int) (v T, err error) {
	start := time.Now()
	status := 0
	defer func() {
		d := time.Since(start)
		outcome := outcomeOf(err)
		c.metrics.requests.WithLabelValues(outcome, statusLabel(status)).Inc()
		c.metrics.duration.Observe(d.Seconds())
		if c.log.Enabled(ctx, slog.LevelDebug) {
			attrs := append(req.logAttrs[:len(req.logAttrs):len(req.logAttrs)],
				slog.Int("attempt", n+1), slog.Int("status", status),
				slog.String("outcome", outcome), slog.Duration("duration", d))
			c.log.LogAttrs(ctx, slog.LevelDebug, "upstream attempt", attrs...)
		}
	}()
	resp, err := c.send(ctx, req)
	if resp.http != nil {
		status = resp.http.StatusCode
	}
	if err != nil {
		return v, err
	}
	// Every decoder copies what it keeps (encoding/json does, and
	// decodeGoodPage detaches), so the body's buffer is free once decoded.
	defer c.bodies.Put(resp.buf)
	return decode(resp)
}

// send makes one HTTP request, bounded by the per-attempt timeout, and
// reads its answer. When the answer came but could not be read, the
// response is returned with the error, for its status; when none came,
// its http is nil.
func (c *Client) send(ctx context.Context, req *request) (response, error) {
	actx, cancel := context.WithTimeout(ctx, c.timeout)
	defer cancel()
	var body io.Reader
	if req.body != nil {
		body = bytes.NewReader(req.body)
	}
	// The URL is the base URL parsed once with req's path and query, which
	// newRequest's callers build from constants and encoded values.
	hr, err := http.NewRequestWithContext(actx, req.method, "", body)
	if err != nil {
		return response{}, &Error{Kind: ErrBadResponse, Err: errors.New("cannot build the request")}
	}
	hr.URL = c.requestURL(req)
	hr.Host = hr.URL.Host
	// Canonical keys set directly, as Header.Set would set them, at fewer
	// allocations on every call.
	hr.Header["Authtype"] = []string{"Key"}
	hr.Header["Authorization"] = []string{"Bearer " + string(req.token)}
	hr.Header["Accept"] = []string{"application/json"}
	if req.body != nil {
		hr.Header.Set("Content-Type", "application/json")
	}

	hresp, err := c.http.Do(hr)
	if err != nil {
		return response{}, c.transportErr(ctx, actx, err)
	}
	defer hresp.Body.Close()
	resp := response{http: hresp, token: req.token, now: c.now}
	status := hresp.StatusCode

	limit := int64(maxErrorBody)
	if resp.ok() {
		limit = MaxBodyBytes
	}
	buf := c.bodies.Get()
	b, err := readAtMost(buf, hresp.Body, limit+1, hresp.ContentLength)
	if err != nil {
		c.bodies.Put(buf)
		e := c.transportErr(ctx, actx, err)
		if ue, ok := e.(*Error); ok {
			ue.StatusCode = status
		}
		return resp, e
	}
	if int64(len(b)) > limit {
		if limit == MaxBodyBytes {
			return resp, &Error{Kind: ErrBadResponse, StatusCode: status, Err: fmt.Errorf("body larger than %d bytes", MaxBodyBytes)}
		}
		b = b[:limit]
	}
	resp.body, resp.buf = b, buf
	return resp, nil
}

// requestURL is req.url as http.NewRequest reads it. req.path must need
// no escaping: the endpoints' paths are constants.
func (c *Client) requestURL(req *request) *url.URL {
	u := c.baseURL
	u.Path += req.path
	if u.RawPath != "" {
		u.RawPath += req.path
	}
	u.RawQuery = req.query
	return &u
}

// readAtMost reads up to n bytes of r into buf, grown once to the
// Content-Length when there is one (io.ReadAll would grow it a dozen
// times for a page).
func readAtMost(buf *bytes.Buffer, r io.Reader, n, length int64) ([]byte, error) {
	if length > 0 && length < n {
		buf.Grow(int(length) + bytes.MinRead) // room for the read that finds the end
	}
	_, err := buf.ReadFrom(io.LimitReader(r, n))
	return buf.Bytes(), err
}

// transportErr maps a failure to get or read an answer: the caller's
// cancellation stays a context error; anything else (timeout, refused
// connection, reset) is ErrUnavailable. *url.Error is unwrapped so the
// URL is never printed.
func (c *Client) transportErr(ctx, actx context.Context, err error) error {
	if ctx.Err() != nil {
		return ctx.Err()
	}
	if errors.Is(actx.Err(), context.DeadlineExceeded) {
		return &Error{Kind: ErrUnavailable, Err: &attemptTimeoutError{after: c.timeout}}
	}
	var ue *url.Error
	if errors.As(err, &ue) {
		err = ue.Err
	}
	return &Error{Kind: ErrUnavailable, Err: err}
}

// ctxErr is the error for a caller of op whose ctx is done: on
// cancellation the context error itself, on a deadline the last attempt's
// error when there was one.
func ctxErr(ctx context.Context, op string, last error) error {
	err := ctx.Err()
	if errors.Is(err, context.DeadlineExceeded) {
		if last != nil {
			return last
		}
		return &Error{Kind: ErrUnavailable, Err: err}
	}
	return fmt.Errorf("upstream: %s: %w", op, err)
}

// bearer is the token of an "Authorization: Bearer <token>" header.
func bearer(h http.Header) Token {
	if tok, ok := strings.CutPrefix(h.Get("Authorization"), "Bearer "); ok {
		return Token(tok)
	}
	return ""
}
