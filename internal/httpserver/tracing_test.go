package httpserver_test

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	"go.opentelemetry.io/otel/sdk/trace/tracetest"
	"go.opentelemetry.io/otel/trace"

	"github.com/botpenguin-gateway/gateway/internal/app"
	"github.com/botpenguin-gateway/gateway/internal/config"
	"github.com/botpenguin-gateway/gateway/upstream/upstreamtest"
)

func TestTracing(t *testing.T) {
	t.Parallel()
	spans := tracetest.NewInMemoryExporter()
	tp := sdktrace.NewTracerProvider(sdktrace.WithSyncer(spans))
	t.Cleanup(func() { _ = tp.Shutdown(t.Context()) })

	up := upstreamtest.NewServer()
	t.Cleanup(up.Close)
	var mu sync.Mutex
	var upstreamParents []string
	up.SetFault(func(_ http.ResponseWriter, r *http.Request) bool {
		mu.Lock()
		defer mu.Unlock()
		upstreamParents = append(upstreamParents, r.Header.Get("traceparent"))
		return false
	})
	cfg, err := config.Load(func(name string) string {
		return map[string]string{"BOTPENGUIN_BASE_URL": up.URL}[name]
	})
	require.NoError(t, err)
	gateway, err := app.New(cfg, app.Deps{TracerProvider: tp})
	require.NoError(t, err)
	t.Cleanup(func() { _ = gateway.Close(t.Context()) })
	gw := httptest.NewServer(gateway)
	t.Cleanup(gw.Close)

	const callerTrace = "4bf92f3577b34da6a3ce929d0e0e4736"
	req, _ := http.NewRequest(http.MethodPost, gw.URL+"/query",
		strings.NewReader(`{"query": "query Two { customers { nodes { id } hasNextPage } }"}`))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+testToken)
	req.Header.Set("traceparent", "00-"+callerTrace+"-00f067aa0ba902b7-01")
	resp, err := gw.Client().Do(req)
	require.NoError(t, err)
	resp.Body.Close()
	require.Equal(t, 200, resp.StatusCode)

	byName := map[string][]tracetest.SpanStub{}
	for _, s := range spans.GetSpans() {
		assert.Equal(t, callerTrace, s.SpanContext.TraceID().String(), "every span continues the caller's trace: %s", s.Name)
		byName[s.Name] = append(byName[s.Name], s)
		for _, a := range s.Attributes {
			assert.NotContains(t, a.Value.Emit(), testToken, "no token in a span attribute")
		}
	}
	require.Len(t, byName["POST /query"], 1, "%v", byName)
	require.Len(t, byName["graphql.operation Two"], 1, "%v", byName)
	server, op := byName["POST /query"][0], byName["graphql.operation Two"][0]
	assert.Equal(t, server.SpanContext.SpanID(), op.Parent.SpanID())
	upstreamSpans := byName["HTTP GET"]
	require.Len(t, upstreamSpans, 2, "page 1 and page 2: %v", byName)
	for _, s := range upstreamSpans {
		assert.Equal(t, op.SpanContext.SpanID(), s.Parent.SpanID(), "upstream calls are children of the operation")
		assert.Equal(t, trace.SpanKindClient, s.SpanKind)
	}
	mu.Lock()
	defer mu.Unlock()
	require.Len(t, upstreamParents, 2)
	for _, p := range upstreamParents {
		assert.Contains(t, p, callerTrace, "traceparent is propagated upstream")
	}
}
