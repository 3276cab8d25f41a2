package httpserver

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"github.com/vektah/gqlparser/v2"
	"github.com/vektah/gqlparser/v2/ast"
)

// hangGuard bounds waits that only a broken coalescer makes long.
const hangGuard = 10 * time.Second

func receive[T any](t *testing.T, ch <-chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(hangGuard):
		t.Fatal("timed out waiting")
		panic("unreachable")
	}
}

// serveAsync serves one POST of body under ctx, as the request that
// logRequests and limitBody have prepared.
func serveAsync(ctx context.Context, h http.Handler, body string) <-chan *httptest.ResponseRecorder {
	out := make(chan *httptest.ResponseRecorder, 1)
	req := httptest.NewRequestWithContext(ctx, http.MethodPost, "/query", nil)
	req.Body = &bufferedBody{Reader: bytes.NewReader([]byte(body)), bytes: []byte(body)}
	req.Header.Set("Content-Type", "application/json")
	go func() {
		w := httptest.NewRecorder()
		h.ServeHTTP(w, req)
		out <- w
	}()
	return out
}

// runs tells the execution in ctx which operation it runs, as gqlgen does
// through shareQueriesOnly.
func runs(ctx context.Context, op ast.Operation) {
	ctx = graphql.WithOperationContext(ctx, &graphql.OperationContext{Operation: &ast.OperationDefinition{Operation: op}})
	shareQueriesOnly(ctx, func(context.Context) graphql.ResponseHandler { return nil })
}

// coalesced is the value of gateway_graphql_coalesced_requests_total.
func coalesced(t *testing.T, reg *prometheus.Registry) float64 {
	t.Helper()
	families, err := reg.Gather()
	require.NoError(t, err)
	for _, f := range families {
		if f.GetName() == "gateway_graphql_coalesced_requests_total" {
			return f.GetMetric()[0].GetCounter().GetValue()
		}
	}
	t.Fatal("no gateway_graphql_coalesced_requests_total")
	return 0
}

// waiting is how many callers wait for executions in flight.
func (c *requestCoalescer) waiting() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	n := 0
	for _, ex := range c.executions {
		n += ex.waiters
	}
	return n
}

func TestSharedExecutionLivesUntilTheLatestCallersDeadline(t *testing.T) {
	t.Parallel()
	started := make(chan context.Context, 1)
	release := make(chan struct{})
	reg := prometheus.NewRegistry()
	c := newRequestCoalescer(reg, nil, nil)
	h := c.middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		runs(r.Context(), ast.Query)
		started <- r.Context()
		<-release
		if r.Context().Err() != nil {
			http.Error(w, "execution ended early", http.StatusInternalServerError)
			return
		}
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write([]byte(`{"data":{"ok":true}}`))
	}))

	// The first caller has little time left; the second, much more.
	firstCtx, cancel := context.WithTimeout(context.Background(), 500*time.Millisecond)
	defer cancel()
	first := serveAsync(firstCtx, h, `{"query":"{ ok }"}`)
	execCtx := receive(t, started)
	firstDeadline, _ := firstCtx.Deadline()
	dl, ok := execCtx.Deadline()
	require.True(t, ok)
	assert.Equal(t, firstDeadline, dl, "the execution starts with its first caller's deadline")

	laterDeadline := time.Now().Add(time.Hour)
	laterCtx, cancelLater := context.WithDeadline(context.Background(), laterDeadline)
	defer cancelLater()
	later := serveAsync(laterCtx, h, `{"query":"{ ok }"}`)
	require.Eventually(t, func() bool {
		dl, _ := execCtx.Deadline()
		return dl.Equal(laterDeadline)
	}, hangGuard, time.Millisecond, "the later caller extends the execution")

	// The first caller's deadline passes: it gets a coded answer of its own,
	// while the execution goes on for the later one.
	w := receive(t, first)
	assert.Equal(t, http.StatusOK, w.Code)
	assert.Equal(t, "application/json", w.Header().Get("Content-Type"))
	assert.JSONEq(t, `{"data":null,"errors":[{"message":"request deadline exceeded","extensions":{"code":"REQUEST_TIMEOUT"}}]}`, w.Body.String())
	assert.NoError(t, execCtx.Err(), "still running past the first caller's deadline")

	close(release)
	w = receive(t, later)
	assert.Equal(t, http.StatusOK, w.Code)
	assert.JSONEq(t, `{"data":{"ok":true}}`, w.Body.String())
	assert.Equal(t, 1.0, coalesced(t, reg))
}

func TestSharedExecutionIsCancelledWhenEveryCallerLeft(t *testing.T) {
	t.Parallel()
	var executions atomic.Int32
	ended := make(chan error, 2)
	c := newRequestCoalescer(prometheus.NewRegistry(), nil, nil)
	h := c.middleware(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		executions.Add(1)
		runs(r.Context(), ast.Query)
		<-r.Context().Done()
		ended <- r.Context().Err()
	}))
	ctxA, leaveA := context.WithTimeout(context.Background(), time.Hour)
	defer leaveA()
	ctxB, leaveB := context.WithTimeout(context.Background(), time.Hour)
	defer leaveB()
	a := serveAsync(ctxA, h, `{"query":"{ ok }"}`)
	require.Eventually(t, func() bool { return c.waiting() == 1 }, hangGuard, time.Millisecond)
	b := serveAsync(ctxB, h, `{"query":"{ ok }"}`)
	require.Eventually(t, func() bool { return c.waiting() == 2 }, hangGuard, time.Millisecond)

	leaveA()
	receive(t, a)
	select {
	case err := <-ended:
		t.Fatalf("the execution ended (%v) while a caller still waits", err)
	default:
	}
	leaveB()
	receive(t, b)
	assert.ErrorIs(t, receive(t, ended), context.Canceled)
	assert.EqualValues(t, 1, executions.Load())
	assert.Zero(t, c.waiting())
}

// A request gqlgen refuses before it finds an operation (a document that
// does not parse or validate, a mutation against a schema without
// mutations) never tells the execution it runs a query: it is not shared.
func TestAnExecutionThatFoundNoQueryIsNotShared(t *testing.T) {
	t.Parallel()
	var executions atomic.Int32
	firstIn := make(chan struct{})
	release := make(chan struct{})
	reg := prometheus.NewRegistry()
	c := newRequestCoalescer(reg, newAnswerCache(time.Minute, 10, reg), nil)
	h := c.middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		n := executions.Add(1)
		if n == 1 {
			close(firstIn)
			<-release
		}
		// A complete answer, as the cache keeps them: only its operation is unknown.
		reportOutcome(w, outcome{answered: true})
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"data":{"run":%d}}`, n)
	}))
	ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	const body = `{"query":"mutation { createCustomer }"}`
	first := serveAsync(ctx, h, body)
	<-firstIn
	second := serveAsync(ctx, h, body)
	require.Eventually(t, func() bool { return c.waiting() == 2 }, hangGuard, time.Millisecond)
	close(release)

	assert.JSONEq(t, `{"data":{"run":1}}`, receive(t, first).Body.String())
	assert.JSONEq(t, `{"data":{"run":2}}`, receive(t, second).Body.String(), "ran its own")
	assert.JSONEq(t, `{"data":{"run":3}}`, receive(t, serveAsync(ctx, h, body)).Body.String(), "not cached")
	assert.Zero(t, coalesced(t, reg))
}

// The real gqlgen path, with a test-only schema that has a mutation and a
// subscription: the first caller is held before its operation is known,
// until a second identical request has joined it.
func TestOnlyQueriesAreSharedOrCached(t *testing.T) {
	t.Parallel()
	for _, tc := range []struct {
		document string
		shared   bool
	}{
		{`query { name }`, true},
		{`mutation { name }`, false},
		{`subscription { name }`, false},
	} {
		t.Run(tc.document, func(t *testing.T) {
			t.Parallel()
			s := newOperationServer()
			body := `{"query":"` + tc.document + `"}`
			ctx, cancel := context.WithTimeout(context.Background(), time.Hour)
			defer cancel()

			first := serveAsync(ctx, s.handler, body)
			receive(t, s.firstIn)
			second := serveAsync(ctx, s.handler, body)
			require.Eventually(t, func() bool { return s.coalescer.waiting() == 2 }, hangGuard, time.Millisecond)
			close(s.proceed)

			if tc.shared {
				close(s.finishFirst)
				assert.JSONEq(t, `{"data":{"run":"first"}}`, receive(t, first).Body.String())
				assert.JSONEq(t, `{"data":{"run":"first"}}`, receive(t, second).Body.String())
				assert.JSONEq(t, `{"data":{"run":"first"}}`, receive(t, serveAsync(ctx, s.handler, body)).Body.String(), "from the answer cache")
				assert.EqualValues(t, 1, s.executions.Load())
				assert.Equal(t, 1.0, coalesced(t, s.reg))
				return
			}
			// Released as soon as the operation is known, while the first
			// execution still runs.
			assert.JSONEq(t, `{"data":{"run":"other"}}`, receive(t, second).Body.String())
			close(s.finishFirst)
			assert.JSONEq(t, `{"data":{"run":"first"}}`, receive(t, first).Body.String())
			assert.JSONEq(t, `{"data":{"run":"other"}}`, receive(t, serveAsync(ctx, s.handler, body)).Body.String())
			assert.EqualValues(t, 3, s.executions.Load(), "never cached: the third ran too")
			assert.Zero(t, coalesced(t, s.reg))
		})
	}
}

// operationServer is the coalescer and answer cache in front of gqlgen
// with a test-only schema, wired as newGraphQLHandler wires the real one.
type operationServer struct {
	handler     http.Handler
	coalescer   *requestCoalescer
	reg         *prometheus.Registry
	executions  atomic.Int32
	firstIn     chan struct{} // the first operation is parsed, its kind not yet told
	proceed     chan struct{} // lets it go on
	finishFirst chan struct{} // lets its execution answer
}

type firstOperation struct{}

func newOperationServer() *operationServer {
	s := &operationServer{firstIn: make(chan struct{}), proceed: make(chan struct{}), finishFirst: make(chan struct{})}
	schema := gqlparser.MustLoadSchema(&ast.Source{Input: `
		type Query { name: String }
		type Mutation { name: String }
		type Subscription { name: String }
	`})
	srv := handler.New(&graphql.ExecutableSchemaMock{
		SchemaFunc: func() *ast.Schema { return schema },
		ComplexityFunc: func(context.Context, string, string, int, map[string]any) (int, bool) {
			return 1, true
		},
		ExecFunc: func(ctx context.Context) graphql.ResponseHandler {
			s.executions.Add(1)
			run := "other"
			if ctx.Value(firstOperation{}) != nil {
				<-s.finishFirst
				run = "first"
			}
			data, _ := json.Marshal(map[string]string{"run": run})
			return graphql.OneShot(&graphql.Response{Data: data})
		},
	})
	srv.AddTransport(transport.POST{})
	var operations atomic.Int32
	srv.AroundOperations(func(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
		if operations.Add(1) == 1 {
			close(s.firstIn)
			<-s.proceed
			// Marked, not counted: a released caller may reach Exec first.
			ctx = context.WithValue(ctx, firstOperation{}, true)
		}
		return next(ctx)
	})
	srv.AroundOperations(shareQueriesOnly)
	srv.AroundResponses(func(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
		resp := next(ctx)
		recordResponse(ctx, resp)
		return resp
	})
	s.reg = prometheus.NewRegistry()
	s.coalescer = newRequestCoalescer(s.reg, newAnswerCache(time.Minute, 10, s.reg), nil)
	s.handler = s.coalescer.middleware(graphQLOverHTTP(srv))
	return s
}

func TestExecutionContextOfACallerWithoutDeadline(t *testing.T) {
	t.Parallel()
	bounded, cancel := context.WithTimeout(context.Background(), time.Hour)
	defer cancel()
	c := newExecutionContext(bounded)
	_, ok := c.Deadline()
	assert.True(t, ok)
	assert.True(t, c.extend(context.Background()))
	_, ok = c.Deadline()
	assert.False(t, ok, "a caller without a deadline leaves the execution without one")

	c = newExecutionContext(context.Background())
	_, ok = c.Deadline()
	assert.False(t, ok)
	assert.NoError(t, c.Err())
	c.cancel()
	assert.ErrorIs(t, c.Err(), context.Canceled)
	assert.False(t, c.extend(bounded), "a done execution takes no more callers")
}

// An answer the cache keeps is a copy of its own size: the buffers answers
// are recorded in are reused, and one grown by a large answer must be
// neither overwritten under the cache nor held by every small answer
// cached after it.
func TestCachedAnswersHoldOnlyTheirOwnBytes(t *testing.T) {
	t.Parallel()
	reg := prometheus.NewRegistry()
	answers := newAnswerCache(time.Minute, 100, reg)
	c := newRequestCoalescer(reg, answers, nil)
	large := func(n int) string {
		return fmt.Sprintf(`{"data":{"big%d":"%s"}}`, n, bytes.Repeat([]byte{byte('a' + n%26)}, 100<<10))
	}
	h := c.middleware(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		runs(r.Context(), ast.Query)
		reportOutcome(w, outcome{answered: true})
		w.Header().Set("Content-Type", "application/json")
		var q struct{ Query string }
		require.NoError(t, json.NewDecoder(r.Body).Decode(&q))
		var n int
		if _, err := fmt.Sscanf(q.Query, "{ big%d }", &n); err == nil {
			_, _ = w.Write([]byte(large(n)))
			return
		}
		_, _ = w.Write([]byte(`{"data":{"ok":true}}`))
	}))
	const rounds = 20
	for n := range rounds {
		for _, query := range []string{fmt.Sprintf(`{"query":"{ big%d }"}`, n), fmt.Sprintf(`{"query":"{ ok%d }"}`, n)} {
			w := receive(t, serveAsync(context.Background(), h, query))
			require.Equal(t, http.StatusOK, w.Code)
		}
	}
	require.Equal(t, 2*rounds, answers.lru.Len())
	bigs := 0
	defer func() { assert.Equal(t, rounds, bigs, "large answers cached") }()
	for _, key := range answers.lru.Keys() {
		a, ok := answers.lru.Peek(key)
		require.True(t, ok)
		body := string(a.answer.body)
		var n int
		if _, err := fmt.Sscanf(body, `{"data":{"big%d"`, &n); err == nil {
			assert.Equal(t, large(n), body, "a cached answer was overwritten")
			bigs++
			continue
		}
		assert.Equal(t, `{"data":{"ok":true}}`, body)
		assert.Less(t, cap(a.answer.body), 2*len(a.answer.body)+64, "a cached answer holds far more than its bytes")
	}
}
