package httpserver

import (
	"bytes"
	"context"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/stretchr/testify/assert"

	"github.com/botpenguin-gateway/gateway/graph"
	"github.com/botpenguin-gateway/gateway/graph/loader"
	"github.com/botpenguin-gateway/gateway/internal/auth"
	"github.com/botpenguin-gateway/gateway/upstream"
)

// trickyCustomers answers every page with names that json.Marshal escapes.
type trickyCustomers struct{}

func (trickyCustomers) List(_ context.Context, _ upstream.Token, page int, _ upstream.Sort) (upstream.Page, error) {
	if page > 2 {
		return upstream.Page{}, nil
	}
	email := "a&b@example.com"
	return upstream.Page{Customers: []upstream.Customer{
		{ID: "c1", Name: `<script>alert("x")</script> & co`, Email: &email, Status: "ACTIVE", CreatedAt: time.Unix(0, 0).UTC()},
		{ID: "c2", Name: "line\u2028sep\u2029para \\ \t tab é 😀", Status: "NEW", CreatedAt: time.Unix(1, 0).UTC()},
		{ID: "c3", Name: "plain", Status: "INACTIVE", CreatedAt: time.Unix(2, 0).UTC()},
		// Each alone, so that each of needsHTMLEscape's scans is needed.
		{ID: "lt", Name: "a < b", Status: "ACTIVE", CreatedAt: time.Unix(3, 0).UTC()},
		{ID: "gt", Name: "a > b", Status: "ACTIVE", CreatedAt: time.Unix(4, 0).UTC()},
		{ID: "amp", Name: "a & b", Status: "ACTIVE", CreatedAt: time.Unix(5, 0).UTC()},
		{ID: "ls", Name: "a\u2028b", Status: "ACTIVE", CreatedAt: time.Unix(6, 0).UTC()},
		{ID: "ps", Name: "a\u2029b", Status: "ACTIVE", CreatedAt: time.Unix(7, 0).UTC()},
	}}, nil
}

// withTransport is the graph behind one POST transport, with fields
// around its fields.
func withTransport(t graphql.Transport, fields ...graphql.FieldMiddleware) http.Handler {
	log := slog.New(slog.DiscardHandler)
	resolver := graph.NewResolver(trickyCustomers{}, graph.Options{Logger: log, MaxPage: 100,
		Loaders: loader.Options{ScanMaxPages: 3, IDBatchWait: time.Millisecond}})
	srv := handler.New(graph.NewExecutableSchema(graph.Config{Resolvers: resolver, Complexity: graph.NewComplexity()}))
	srv.AddTransport(t)
	srv.SetErrorPresenter(graph.NewErrorPresenter(log))
	srv.AroundOperations(resolver.WithLoaders)
	srv.AroundOperations(func(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
		return next(auth.WithToken(ctx, "token"))
	})
	for _, f := range fields {
		srv.AroundFields(f)
	}
	srv.AroundResponses(func(ctx context.Context, next graphql.ResponseHandler) *graphql.Response {
		resp := next(ctx)
		if resp != nil && graphql.HasOperationContext(ctx) && strings.Contains(graphql.GetOperationContext(ctx).RawQuery, "extensions") {
			resp.Extensions = map[string]any{"z": "<&>", "a": []int{1, 2}}
		}
		return resp
	})
	return srv
}

// The POST transport answers byte for byte as gqlgen's: status, media
// type and body, for answers, errors and refusals.
func TestPostTransportAnswersAsGqlgens(t *testing.T) {
	ours, theirs := withTransport(postTransport{}), withTransport(transport.POST{})
	const all = `{ customers { page hasNextPage nodes { id name contact { email } status createdAt } } }`
	for name, tc := range map[string]struct{ body, accept string }{
		"a page":                        {`{"query":` + quote(all) + `}`, ""},
		"graphql-response+json":         {`{"query":` + quote(all) + `}`, "application/graphql-response+json"},
		"accept anything":               {`{"query":` + quote(all) + `}`, "text/html, */*;q=0.8"},
		"accept nothing known":          {`{"query":` + quote(all) + `}`, "text/html"},
		"a field error":                 {`{"query":"{ customers(page: 0) { page } }"}`, ""},
		"partial data":                  {`{"query":"{ a: customers { page } b: customer(id: \"\") { id } }"}`, ""},
		"extensions":                    {`{"query":"{ customers { page } } # extensions"}`, ""},
		"a parse error":                 {`{"query":"{ customers {"}`, ""},
		"a parse error, graphql+json":   {`{"query":"{ customers {"}`, "application/graphql-response+json"},
		"a validation error":            {`{"query":"{ nope }"}`, ""},
		"a bad variable":                {`{"query":"query($p: Int) { customers(page: $p) { page } }","variables":{"p":"x"}}`, ""},
		"no query":                      {`{}`, ""},
		"introspection":                 {`{"query":"{ __schema { queryType { name } } }"}`, ""},
		"html in an error's message":    {`{"query":"{ customer(id: \"<b>\") { id } }"}`, ""},
		"null data of a non-null field": {`{"query":"{ customers(page: 3) { nodes { id } } }"}`, ""},
		"only <":                        {`{"query":"{ customer(id: \"lt\") { name } }"}`, ""},
		"only >":                        {`{"query":"{ customer(id: \"gt\") { name } }"}`, ""},
		"only &":                        {`{"query":"{ customer(id: \"amp\") { name } }"}`, ""},
		"only U+2028":                   {`{"query":"{ customer(id: \"ls\") { name } }"}`, ""},
		"only U+2029":                   {`{"query":"{ customer(id: \"ps\") { name } }"}`, ""},
	} {
		t.Run(name, func(t *testing.T) {
			a, b := send(ours, tc.body, tc.accept), send(theirs, tc.body, tc.accept)
			assert.Equal(t, b.Code, a.Code)
			assert.Equal(t, b.Header().Get("Content-Type"), a.Header().Get("Content-Type"))
			assert.Equal(t, b.Body.String(), a.Body.String())
		})
	}
}

// Where the transport differs from gqlgen's: a body it cannot decode is
// not repeated in the error (it may hold a password), and a cancelled
// operation (no response) is written as gqlgen writes it.
func TestPostTransportDoesNotRepeatTheBody(t *testing.T) {
	ours, theirs := withTransport(postTransport{}), withTransport(transport.POST{})
	body := `{"query":"mutation { x }","variables":{"input":{"password":"pw-CANARY-9"}},"operationName":7}`
	a, b := send(ours, body, ""), send(theirs, body, "")
	assert.Contains(t, b.Body.String(), "pw-CANARY-9", "gqlgen repeats the body")
	assert.Equal(t, b.Code, a.Code)
	assert.NotContains(t, a.Body.String(), "pw-CANARY-9")
	assert.Contains(t, a.Body.String(), "json request body could not be decoded")

	rec := httptest.NewRecorder()
	writeResponse(rec, nil)
	assert.Equal(t, "null", rec.Body.String())
}

// scribblingPool lends buffers, and overwrites what one held when it
// comes back, as the next answer rendered into it would.
type scribblingPool struct{ lent, back int }

func (p *scribblingPool) Get() *bytes.Buffer { p.lent++; return new(bytes.Buffer) }

func (p *scribblingPool) Put(b *bytes.Buffer) {
	p.back++
	held := b.AvailableBuffer()
	held = held[:cap(held)]
	for i := range held {
		held[i] = 'X'
	}
}

// The buffer an answer's data is rendered into goes back to its pool once
// the answer is written, not before: the answer is whole, and gqlgen's.
func TestTheDataBufferGoesBackOnceTheAnswerIsWritten(t *testing.T) {
	pool := &scribblingPool{}
	ours := withTransport(postTransport{buffers: pool}, graph.RenderCustomerLists)
	theirs := withTransport(transport.POST{}, graph.RenderCustomerLists)
	for _, q := range []string{
		`{ customers { page nodes { id name contact { email } status createdAt } } }`,
		`{ customersConnection(first: 3) { edges { cursor node { id name } } } }`,
	} {
		body := `{"query":` + quote(q) + `}`
		want, got := send(theirs, body, "").Body.String(), send(ours, body, "").Body.String()
		assert.NotContains(t, want, "errors")
		assert.Equal(t, want, got)
	}
	assert.Equal(t, 2, pool.lent)
	assert.Equal(t, 2, pool.back)
}

func send(h http.Handler, body, accept string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(http.MethodPost, "/", strings.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	if accept != "" {
		req.Header.Set("Accept", accept)
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

func quote(s string) string { return `"` + strings.ReplaceAll(s, `"`, `\"`) + `"` }

func BenchmarkNeedsHTMLEscape(b *testing.B) {
	page := []byte(strings.Repeat(`{"id":"661000009e3779b97f4a7c15","name":"Jonas v1","contact":{"email":"jonas+0@monday101.com"},"status":"ACTIVE"},`, 50))
	b.SetBytes(int64(len(page)))
	for b.Loop() {
		if needsHTMLEscape(page) {
			b.Fatal("nothing to escape")
		}
	}
}
