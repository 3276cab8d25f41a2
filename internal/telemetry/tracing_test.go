package telemetry_test

import (
	"context"
	"io"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/botpenguin-gateway/gateway/internal/telemetry"
)

func TestNoEndpointNoTracing(t *testing.T) {
	tp, shutdown, err := telemetry.NewTracerProvider("", "botpenguin-gateway")
	require.NoError(t, err)
	assert.Nil(t, tp)
	assert.NoError(t, shutdown(context.Background()))
}

func TestSpansGoToTheEndpointsTracesPath(t *testing.T) {
	type export struct{ request, body string }
	exports := make(chan export, 10)
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		exports <- export{r.Method + " " + r.URL.Path, string(body)}
	}))
	t.Cleanup(collector.Close)

	tp, shutdown, err := telemetry.NewTracerProvider(collector.URL+"/otlp/", "gateway-eu")
	require.NoError(t, err)
	_, span := tp.Tracer("test").Start(context.Background(), "canary-span")
	span.End()
	require.NoError(t, shutdown(context.Background()), "shutdown exports what is batched")
	require.Len(t, exports, 1)
	got := <-exports
	assert.Equal(t, "POST /otlp/v1/traces", got.request)
	// Protobuf keeps strings as they are.
	assert.Contains(t, got.body, "gateway-eu", "the service name")
	assert.Contains(t, got.body, "canary-span", "the span")
}

// The exporter reads the OpenTelemetry spec's own variables for what the
// gateway does not set: headers a hosted collector wants (an API key) and
// compression; the endpoint is the gateway's, whatever the traces' own
// endpoint variable says (as the README has it).
func TestTheExporterTakesTheSpecsHeadersAndCompression(t *testing.T) {
	t.Setenv("OTEL_EXPORTER_OTLP_HEADERS", "x-api-key=secret-1,x-team=gw")
	t.Setenv("OTEL_EXPORTER_OTLP_COMPRESSION", "gzip")
	t.Setenv("OTEL_EXPORTER_OTLP_TRACES_ENDPOINT", "http://127.0.0.1:1/elsewhere")
	type export struct{ key, team, encoding string }
	exports := make(chan export, 10)
	collector := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.Copy(io.Discard, r.Body)
		exports <- export{r.Header.Get("X-Api-Key"), r.Header.Get("X-Team"), r.Header.Get("Content-Encoding")}
	}))
	t.Cleanup(collector.Close)

	tp, shutdown, err := telemetry.NewTracerProvider(collector.URL, "gateway")
	require.NoError(t, err)
	_, span := tp.Tracer("test").Start(context.Background(), "span")
	span.End()
	require.NoError(t, shutdown(context.Background()))
	require.Len(t, exports, 1)
	assert.Equal(t, export{"secret-1", "gw", "gzip"}, <-exports)
}
