package gateway

import (
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"net/http"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"golang.org/x/sync/singleflight"

	"github.com/botpenguin-gateway/gateway/graph/auth"
)

// requestCoalescer makes identical GraphQL requests that are in flight at
// the same time, for the same credential, share one execution and its
// answer. Browsers send bursts of the same query; executing it once costs
// the upstream nothing more than the upstream coalescing already saves, and
// saves the gateway the parsing, resolving and rendering of every copy.
//
// The shared execution runs detached from any one caller, so a client that
// goes away does not fail the others; it ends with its upstream calls,
// which are bounded by UPSTREAM_TIMEOUT and UPSTREAM_RETRIES.
type requestCoalescer struct {
	group     singleflight.Group
	coalesced prometheus.Counter
	answers   *answerCache // nil without a page cache
}

func newRequestCoalescer(reg prometheus.Registerer, answers *answerCache) *requestCoalescer {
	c := &requestCoalescer{coalesced: prometheus.NewCounter(prometheus.CounterOpts{
		Name: "gateway_graphql_coalesced_requests_total",
		Help: "GraphQL requests answered by sharing an identical request's execution.",
	}), answers: answers}
	reg.MustRegister(c.coalesced)
	return c
}

// sharedResponse is a recorded answer, copied to every caller.
type sharedResponse struct {
	status int
	header http.Header
	body   []byte
	record requestRecord
}

func (c *requestCoalescer) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodPost {
			next.ServeHTTP(w, r)
			return
		}
		// limitBody has read the body already (GET requests have none).
		own, _ := r.Context().Value(recordKey{}).(*requestRecord)
		var body []byte
		if own != nil {
			body = own.body
		}
		key := requestKey(r, body)
		if shared, ok := c.answers.get(key); ok {
			c.write(w, own, shared)
			return
		}
		executed := false // set by the execution, read after its result arrived
		ch := c.group.DoChan(key, func() (any, error) {
			executed = true
			rec := &responseRecorder{header: http.Header{}, status: http.StatusOK}
			if own != nil {
				rec.record.id = own.id // the execution logs as its first request
			}
			ctx := context.WithValue(context.WithoutCancel(r.Context()), recordKey{}, &rec.record)
			req := r.WithContext(ctx)
			req.Body = io.NopCloser(bytes.NewReader(body))
			serveRecovered(next, rec, req)
			shared := &sharedResponse{status: rec.status, header: rec.header, body: rec.body.Bytes(), record: rec.record}
			c.answers.add(key, shared)
			return shared, nil
		})
		select {
		case <-r.Context().Done():
			return // the client went away; the others still get their answer
		case res := <-ch:
			if !executed {
				c.coalesced.Inc()
			}
			c.write(w, own, res.Val.(*sharedResponse))
		}
	})
}

// write answers with a shared response, and notes in the request's own
// record what its log line and metrics report.
func (c *requestCoalescer) write(w http.ResponseWriter, own *requestRecord, shared *sharedResponse) {
	if own != nil {
		own.operation, own.graphql, own.codes = shared.record.operation, shared.record.graphql, shared.record.codes
	}
	h := w.Header()
	for k, v := range shared.header {
		h[k] = v
	}
	// A known length spares net/http the chunked encoding.
	h["Content-Length"] = []string{strconv.Itoa(len(shared.body))}
	w.WriteHeader(shared.status)
	_, _ = w.Write(shared.body)
}

// requestKey identifies a request by everything its answer depends on: the
// credential (or why there is none), the method, the query string, the
// body and the accepted media types and encodings. It is a hash, so a key
// holds no token.
func requestKey(r *http.Request, body []byte) string {
	h := sha256.New()
	token, err := auth.Token(r.Context())
	if err != nil {
		io.WriteString(h, "error:"+err.Error())
	} else {
		io.WriteString(h, "token:"+string(token))
	}
	for _, part := range []string{r.Method, r.URL.RawQuery, r.Header.Get("Accept"), r.Header.Get("Accept-Encoding")} {
		h.Write([]byte{0})
		io.WriteString(h, part)
	}
	h.Write([]byte{0})
	h.Write(body)
	return string(h.Sum(nil))
}

// responseRecorder keeps what the handler writes, for sharing.
type responseRecorder struct {
	header http.Header
	status int
	body   bytes.Buffer
	record requestRecord
}

func (r *responseRecorder) Header() http.Header         { return r.header }
func (r *responseRecorder) Write(b []byte) (int, error) { return r.body.Write(b) }
func (r *responseRecorder) WriteHeader(status int)      { r.status = status }

// serveRecovered turns a panic into a 500: the execution runs in its own
// goroutine, where net/http's recovery does not reach.
func serveRecovered(next http.Handler, rec *responseRecorder, r *http.Request) {
	defer func() {
		if v := recover(); v != nil {
			rec.header = http.Header{"Content-Type": {"application/json"}}
			rec.status = http.StatusInternalServerError
			rec.body.Reset()
			rec.body.WriteString(`{"errors":[{"message":"internal error","extensions":{"code":"INTERNAL_SERVER_ERROR"}}]}`)
		}
	}()
	next.ServeHTTP(rec, r)
}
