package graph_test

import (
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/botpenguin-gateway/gateway/graph"
	"github.com/botpenguin-gateway/gateway/graph/loader"
	"github.com/botpenguin-gateway/gateway/internal/auth"
	"github.com/botpenguin-gateway/gateway/upstream"
)

// stubUpstream is the resolver's Customers: it answers every page with the same customers, or an error,
// and counts the calls. With pageSize set, it pages through customers instead (lastPage unused). No
// HTTP: it stands where the upstream client does.
type stubUpstream struct {
	customers []upstream.Customer
	lastPage  int // pages after it are empty
	pageSize  int
	err       error
	calls     atomic.Int32
	highest   atomic.Int32 // the highest page asked for
}

func (s *stubUpstream) List(_ context.Context, _ upstream.Token, page int, _ upstream.Sort) (upstream.Page, error) {
	s.calls.Add(1)
	for {
		h := s.highest.Load()
		if int32(page) <= h || s.highest.CompareAndSwap(h, int32(page)) {
			break
		}
	}
	if s.err != nil {
		return upstream.Page{}, s.err
	}
	if s.pageSize > 0 {
		from := min((page-1)*s.pageSize, len(s.customers))
		return upstream.Page{Customers: s.customers[from:min(from+s.pageSize, len(s.customers))]}, nil
	}
	if page > s.lastPage {
		return upstream.Page{}, nil
	}
	return upstream.Page{Customers: s.customers}, nil
}

type answer struct {
	Data   json.RawMessage `json:"data"`
	Errors []struct {
		Message    string         `json:"message"`
		Extensions map[string]any `json:"extensions"`
	} `json:"errors"`
}

func (a answer) codes() []string {
	var out []string
	for _, e := range a.Errors {
		code, _ := e.Extensions["code"].(string)
		out = append(out, code)
	}
	return out
}

// graphServer is the generated schema, the resolvers over up, the
// loaders and the error presenter behind gqlgen's POST transport, with
// token as every request's credential ("" for none), and field
// middlewares in the order given.
func graphServer(up *stubUpstream, token upstream.Token, fields ...graphql.FieldMiddleware) http.Handler {
	return graphServerMaxPage(up, token, 100, fields...)
}

// graphServerMaxPage is graphServer with MAX_PAGE maxPage.
func graphServerMaxPage(up *stubUpstream, token upstream.Token, maxPage int, fields ...graphql.FieldMiddleware) http.Handler {
	log := slog.New(slog.DiscardHandler)
	resolver := graph.NewResolver(up, graph.Options{Logger: log, MaxPage: maxPage,
		Loaders: loader.Options{ScanMaxPages: 3, IDBatchWait: time.Millisecond}})
	srv := handler.New(graph.NewExecutableSchema(graph.Config{Resolvers: resolver, Complexity: graph.NewComplexity()}))
	srv.AddTransport(transport.POST{})
	srv.SetErrorPresenter(graph.NewErrorPresenter(log))
	srv.AroundOperations(resolver.WithLoaders)
	srv.AroundOperations(func(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
		if token != "" {
			ctx = auth.WithToken(ctx, token)
		}
		return next(ctx)
	})
	for _, f := range fields {
		srv.AroundFields(f)
	}
	return srv
}

// post sends one operation to h and returns the raw answer.
func post(t *testing.T, h http.Handler, query string, vars map[string]any) string {
	t.Helper()
	return postCtx(t, h, context.Background(), query, vars)
}

// postCtx is post with the request's context.
func postCtx(t *testing.T, h http.Handler, ctx context.Context, query string, vars map[string]any) string {
	t.Helper()
	body, err := json.Marshal(map[string]any{"query": query, "variables": vars})
	require.NoError(t, err)
	req := httptest.NewRequestWithContext(ctx, http.MethodPost, "/", strings.NewReader(string(body)))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	raw, err := io.ReadAll(rec.Body)
	require.NoError(t, err)
	return string(raw)
}

// execute runs one operation through graphServer and decodes its answer.
func execute(t *testing.T, up *stubUpstream, token upstream.Token, query string) answer {
	t.Helper()
	raw := post(t, graphServer(up, token), query, nil)
	var a answer
	require.NoError(t, json.Unmarshal([]byte(raw), &a), raw)
	return a
}

func TestCustomersAreMappedToTheSchema(t *testing.T) {
	created := time.Date(2024, 4, 2, 7, 6, 3, 910_123_000, time.UTC)
	email := "kevin+4@monday101.com"
	up := &stubUpstream{lastPage: 1, customers: []upstream.Customer{
		{ID: "6610a", Name: "Kevin", Email: &email, Verified: true, Status: "ACTIVE", CreatedAt: created},
		{ID: "6610b", Name: "No Contact", Status: "ON_HOLD_FOREVER", CreatedAt: created},
	}}
	a := execute(t, up, "tok", `{ customers(page: 1, sort: NAME) { page hasNextPage hasPreviousPage
		nodes { id name contact { email } verified status createdAt lastLogin } } }`)
	require.Empty(t, a.Errors)
	assert.JSONEq(t, `{"customers": {"page": 1, "hasNextPage": false, "hasPreviousPage": false, "nodes": [
		{"id": "6610a", "name": "Kevin", "contact": {"email": "kevin+4@monday101.com"}, "verified": true, "status": "ACTIVE",
		 "createdAt": "2024-04-02T07:06:03.910Z", "lastLogin": null},
		{"id": "6610b", "name": "No Contact", "contact": {"email": null}, "verified": false, "status": "UNKNOWN",
		 "createdAt": "2024-04-02T07:06:03.910Z", "lastLogin": null}]}}`, string(a.Data))
	assert.EqualValues(t, 2, up.calls.Load(), "the page and, for hasNextPage, the next one")
}

func TestNoTokenMakesNoUpstreamCall(t *testing.T) {
	up := &stubUpstream{lastPage: 1}
	a := execute(t, up, "", `{ customers { nodes { id } } }`)
	assert.Equal(t, []string{"UNAUTHENTICATED"}, a.codes())
	assert.Zero(t, up.calls.Load())
}

func TestBadArgumentsMakeNoUpstreamCall(t *testing.T) {
	up := &stubUpstream{lastPage: 1}
	for _, q := range []string{
		`{ customers(page: 0) { page } }`,
		`{ customers(page: 101) { page } }`,
		`{ customer(id: "") { id } }`,
		`{ customer(id: "a b") { id } }`,
	} {
		a := execute(t, up, "tok", q)
		assert.Equal(t, []string{"BAD_USER_INPUT"}, a.codes(), q)
	}
	assert.Zero(t, up.calls.Load())
}

func TestUpstreamErrorsBecomeTheirCodes(t *testing.T) {
	for kind, code := range map[error]string{
		upstream.ErrUnauthorized: "UNAUTHENTICATED",
		upstream.ErrForbidden:    "FORBIDDEN",
		upstream.ErrRateLimited:  "RATE_LIMITED",
		upstream.ErrUnavailable:  "UPSTREAM_UNAVAILABLE",
		upstream.ErrBadResponse:  "UPSTREAM_BAD_RESPONSE",
	} {
		up := &stubUpstream{err: &upstream.Error{Kind: kind, StatusCode: 599}}
		a := execute(t, up, "tok", `{ customers { nodes { id } } }`)
		require.Equal(t, []string{code}, a.codes(), kind.Error())
		assert.EqualValues(t, 599, a.Errors[0].Extensions["upstreamStatus"])
	}
}

func TestCustomerByIDScansOnceForTheOperation(t *testing.T) {
	up := &stubUpstream{lastPage: 2, customers: []upstream.Customer{{ID: "x1", Name: "One", CreatedAt: time.Now()}}}
	a := execute(t, up, "tok", `{ a: customer(id: "x1") { name } b: customer(id: "missing") { name } }`)
	require.Empty(t, a.Errors)
	assert.JSONEq(t, `{"a": {"name": "One"}, "b": null}`, string(a.Data))
	assert.EqualValues(t, 3, up.calls.Load(), "pages 1 and 2, then the empty page 3 ends the one scan")
}
