package httpserver

import (
	"bytes"
	"context"
	"crypto/sha256"
	"errors"
	"net/http"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"

	"github.com/99designs/gqlgen/graphql"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/vektah/gqlparser/v2/ast"

	"github.com/botpenguin-gateway/gateway/graph"
	"github.com/botpenguin-gateway/gateway/internal/auth"
	"github.com/botpenguin-gateway/gateway/internal/bufpool"
	"github.com/botpenguin-gateway/gateway/internal/stackgrow"
	"github.com/botpenguin-gateway/gateway/internal/workers"
	"github.com/botpenguin-gateway/gateway/upstream"
)

// requestCoalescer makes identical GraphQL queries that are in flight at
// the same time, for the same credential, share one execution and its
// answer. Browsers send bursts of the same query; executing it once costs
// the upstream nothing more than the upstream coalescing already saves, and
// saves the gateway the parsing, resolving and rendering of every copy.
//
// Only queries are shared, and only their answers cached: an execution is
// shared once gqlgen has parsed its document and found a query
// (shareQueriesOnly, before any resolver runs). A mutation, a subscription,
// or a document that never got that far runs once for each caller,
// whatever operations the schema gains.
//
// The shared execution runs detached from any one caller, so a client that
// goes away does not fail the others. It lives until the latest deadline
// of the requests waiting for it (REQUEST_TIMEOUT each), or until all of
// them have gone away.
type requestCoalescer struct {
	mu         sync.Mutex
	executions map[string]*execution // by requestKey
	coalesced  prometheus.Counter
	answers    *answerCache  // nil without a page cache
	bodies     bufpool.Pool  // buffers that answers are recorded in (see recycle)
	workers    *workers.Pool // runs the executions, on stacks grown for them
	// generation names the upstream cache's state for a credential (see
	// upstream.Client.Generation); it is part of every key, so that after a
	// write no answer built before it is joined or read from the cache, on
	// any replica. nil: none.
	generation func(context.Context, upstream.Token) string
}

func newRequestCoalescer(reg prometheus.Registerer, answers *answerCache, generation func(context.Context, upstream.Token) string) *requestCoalescer {
	c := &requestCoalescer{
		executions: map[string]*execution{},
		coalesced: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gateway_graphql_coalesced_requests_total",
			Help: "GraphQL requests answered by sharing an identical request's execution.",
		}),
		answers:    answers,
		generation: generation,
		// Grown to 32 KB when it starts, while it holds one frame: grown
		// deep in gqlgen instead, the copies were 6 % of a request's CPU.
		workers: workers.New(stackgrow.To32K),
	}
	reg.MustRegister(c.coalesced)
	return c
}

// sharedResponse is a recorded answer, copied to every caller.
type sharedResponse struct {
	status  int
	header  http.Header
	body    []byte
	outcome outcome

	// buf holds body. It is set only when one caller at most is left to
	// write the answer (the answer cache keeps copies): that caller gives
	// it back once written (see recycle). Otherwise nil: the answer is the
	// garbage collector's.
	buf *bytes.Buffer
}

// execution is one run of the handler for identical requests.
type execution struct {
	ctx    *executionContext
	done   chan struct{} // closed once answer is set
	answer *sharedResponse

	query    atomic.Bool   // gqlgen found a query
	solo     chan struct{} // closed when it found another operation
	soloOnce sync.Once

	waiters int // guarded by requestCoalescer.mu
}

type executionKey struct{}

// shareQueriesOnly is the gqlgen operation hook that tells a shared
// execution which operation it runs, before any resolver does: a query may
// be shared; any other operation releases the callers that joined, to run
// their own.
//
// An operation that selects a secret (a login token) is not shared either,
// and its answer says Cache-Control: no-store.
func shareQueriesOnly(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
	op := graphql.GetOperationContext(ctx).Operation
	// A mutation's answer is its caller's alone too: it may carry what
	// the write returned, and a cache between must not replay it.
	secret := graph.SelectsSecret(op) || op != nil && op.Operation == ast.Mutation
	if secret {
		if o, ok := ctx.Value(outcomeKey{}).(*outcome); ok {
			o.secret = true
		}
	}
	if ex, ok := ctx.Value(executionKey{}).(*execution); ok {
		if op != nil && op.Operation == ast.Query && !secret {
			ex.query.Store(true)
		} else {
			ex.soloOnce.Do(func() { close(ex.solo) })
		}
	}
	return next(ctx)
}

// shareable reports whether the answer may go to other callers than the
// first, or to the answer cache: only a query's.
func (ex *execution) shareable() bool {
	return ex.query.Load() && !isClosed(ex.solo)
}

func isClosed(ch <-chan struct{}) bool {
	select {
	case <-ch:
		return true
	default:
		return false
	}
}

func (c *requestCoalescer) middleware(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method != http.MethodGet && r.Method != http.MethodPost {
			next.ServeHTTP(w, r)
			return
		}
		// limitBody has read the body already (GET requests have none).
		body := bodyOf(r)
		key := c.requestKey(r, body)
		if shared, ok := c.answers.get(key); ok {
			c.write(w, shared)
			return
		}
		ex, first := c.join(r.Context(), key)
		if first {
			c.workers.Go(func() { c.execute(key, ex, next, r, body) })
		}
		c.await(w, r, next, key, ex, first)
	})
}

// join counts the caller in the execution in flight for key, or starts a
// new one (first) when there is none, or none it may join: one found not
// to be a query, or one whose time is up.
func (c *requestCoalescer) join(ctx context.Context, key string) (ex *execution, first bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if ex, ok := c.executions[key]; ok && !isClosed(ex.solo) && ex.ctx.extend(ctx) {
		ex.waiters++
		return ex, false
	}
	ex = &execution{ctx: newExecutionContext(ctx), done: make(chan struct{}), solo: make(chan struct{}), waiters: 1}
	c.executions[key] = ex
	return ex, true
}

// leave uncounts a caller that stops waiting. When nobody waits any more
// the execution is cancelled, and the next caller starts a fresh one
// rather than join a cancelled one.
func (c *requestCoalescer) leave(key string, ex *execution) {
	c.mu.Lock()
	defer c.mu.Unlock()
	ex.waiters--
	if ex.waiters == 0 {
		ex.ctx.cancel()
		if c.executions[key] == ex {
			delete(c.executions, key)
		}
	}
}

// execute runs the handler for the callers of ex, as its first caller's
// request under the execution's own context.
func (c *requestCoalescer) execute(key string, ex *execution, next http.Handler, r *http.Request, body []byte) {
	rec := &responseRecorder{header: http.Header{}, status: http.StatusOK, body: c.bodies.Get()}
	// The execution's context has the first caller's values: it logs with
	// that request's id.
	ctx := context.WithValue(ex.ctx, executionKey{}, ex)
	req := r.WithContext(ctx)
	req.Body = &bufferedBody{Reader: bytes.NewReader(body), bytes: body} // the transport reads it without a copy
	serveRecovered(next, rec, req)
	answer := &sharedResponse{status: rec.status, header: rec.header, body: rec.body.Bytes(), outcome: rec.outcome}
	if ex.shareable() && c.answers != nil {
		// The cache keeps a copy of the answer's own size, never the
		// recorder's buffer, which may have grown for a larger answer
		// and goes back to the pool.
		cached := *answer
		cached.body = bytes.Clone(answer.body)
		c.answers.add(key, &cached)
	}
	c.mu.Lock()
	if c.executions[key] == ex {
		delete(c.executions, key)
	}
	// Nobody joins from here on, and of the callers counted, each either
	// writes the answer or has left without reading it: with one at most,
	// that one is its last reader.
	if ex.waiters <= 1 {
		answer.buf = rec.body
	}
	c.mu.Unlock()
	ex.answer = answer
	ex.ctx.cancel() // stops its timer
	close(ex.done)
}

// recycle gives back the buffer of an answer that its last reader has
// written; the answer must not be read again.
func (c *requestCoalescer) recycle(a *sharedResponse) {
	if a.buf == nil {
		return
	}
	c.bodies.Put(a.buf)
	a.buf, a.body = nil, nil
}

// await answers one caller of ex: with the execution's answer; with an
// execution of its own when ex turns out not to run a query; or with
// REQUEST_TIMEOUT when its deadline passes while ex goes on for callers
// that came later.
func (c *requestCoalescer) await(w http.ResponseWriter, r *http.Request, next http.Handler,
	key string, ex *execution, first bool) {
	solo := ex.solo
	if first {
		solo = nil // the execution is the first caller's own, whatever it runs
	}
	gone := r.Context().Done()
	for {
		select {
		case <-ex.done:
			switch {
			case first:
				c.write(w, ex.answer)
			case ex.shareable():
				c.coalesced.Inc()
				c.write(w, ex.answer)
			default: // joined before gqlgen found no query
				next.ServeHTTP(w, r)
			}
			c.recycle(ex.answer)
			return
		case <-solo:
			c.leave(key, ex)
			next.ServeHTTP(w, r)
			return
		case <-gone:
			switch {
			case !errors.Is(r.Context().Err(), context.DeadlineExceeded):
				c.leave(key, ex)
				return // the client went away; the others still get their answer
			case ex.ctx.outlives(r.Context()):
				c.leave(key, ex)
				writeTimeoutAnswer(w, r)
				return
			}
			// The execution's deadline is this one: it ends now, and its
			// answer, with whatever resolved in time, follows at once.
			gone = nil
		}
	}
}

// write answers with a shared response, and reports its outcome to the
// request's log line and metrics.
func (c *requestCoalescer) write(w http.ResponseWriter, shared *sharedResponse) {
	if shared.outcome.answered {
		reportOutcome(w, shared.outcome)
	}
	h := w.Header()
	for k, v := range shared.header {
		if k == "Vary" {
			// Accumulate: CORS, outside, has already said Origin; the
			// answer says Accept-Encoding. Clipped, so that appending
			// never writes into a slice another answer shares.
			h[k] = append(slices.Clip(h[k]), v...)
			continue
		}
		h[k] = v
	}
	// A known length spares net/http the chunked encoding.
	h["Content-Length"] = []string{strconv.Itoa(len(shared.body))}
	w.WriteHeader(shared.status)
	_, _ = w.Write(shared.body)
}

// requestKey identifies a request by everything its answer depends on: the
// credential (or why there is none), the method, the query string, the
// body and the accepted media types and encodings, and the credential's
// cache generation. It is a hash, so a key holds no token.
func (c *requestCoalescer) requestKey(r *http.Request, body []byte) string {
	// The parts are put together on the stack (the usual ones fit), then
	// hashed with the body: written one by one, each cost an allocation.
	var stack [256]byte
	key := stack[:0]
	token, err := auth.Token(r.Context())
	if err != nil {
		key = append(append(key, "error:"...), err.Error()...)
	} else {
		key = append(append(key, "token:"...), token...)
		if c.generation != nil {
			key = append(append(key, 0), c.generation(r.Context(), token)...)
		}
	}
	for _, part := range [...]string{r.Method, r.URL.RawQuery, r.Header.Get("Accept"), r.Header.Get("Accept-Encoding")} {
		key = append(append(key, 0), part...)
	}
	key = append(key, 0)
	h := sha256.New()
	h.Write(key)
	h.Write(body)
	var sum [sha256.Size]byte
	return string(h.Sum(sum[:0]))
}

// responseRecorder keeps what the handler writes, for sharing.
type responseRecorder struct {
	header  http.Header
	status  int
	body    *bytes.Buffer
	outcome outcome
}

func (r *responseRecorder) reportOutcome(o outcome) { r.outcome = o }

func (r *responseRecorder) Header() http.Header         { return r.header }
func (r *responseRecorder) Write(b []byte) (int, error) { return r.body.Write(b) }
func (r *responseRecorder) WriteHeader(status int)      { r.status = status }

// serveRecovered turns a panic into a 500: the execution runs on a worker
// of its own, where net/http's recovery does not reach.
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
