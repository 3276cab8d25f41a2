// Package telemetry builds the gateway's OpenTelemetry tracer provider.
package telemetry

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"

	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/exporters/otlp/otlptrace/otlptracehttp"
	"go.opentelemetry.io/otel/sdk/resource"
	sdktrace "go.opentelemetry.io/otel/sdk/trace"
	semconv "go.opentelemetry.io/otel/semconv/v1.26.0"
	"go.opentelemetry.io/otel/trace"
)

// NewTracerProvider exports spans over OTLP/HTTP to endpoint, an http or
// https URL such as http://collector:4318 (OTEL_EXPORTER_OTLP_ENDPOINT,
// checked by config.Load), as service (OTEL_SERVICE_NAME). With no
// endpoint it returns a nil provider, meaning no tracing, and a shutdown
// that does nothing. (The provider is an interface, not the SDK's type, so
// that "none" is a plain nil.)
func NewTracerProvider(endpoint, service string) (trace.TracerProvider, func(context.Context) error, error) {
	if endpoint == "" {
		return nil, func(context.Context) error { return nil }, nil
	}
	u, err := url.Parse(endpoint)
	if err != nil {
		return nil, nil, fmt.Errorf("OTEL_EXPORTER_OTLP_ENDPOINT: must be an http or https URL such as http://collector:4318")
	}
	// As the OpenTelemetry spec says for this variable: traces go to
	// <endpoint>/v1/traces.
	u.Path = strings.TrimRight(u.Path, "/") + "/v1/traces"
	exporter, err := otlptracehttp.New(context.Background(), otlptracehttp.WithEndpointURL(u.String()))
	if err != nil {
		return nil, nil, fmt.Errorf("OTEL_EXPORTER_OTLP_ENDPOINT: %w", err)
	}
	tp := sdktrace.NewTracerProvider(
		sdktrace.WithBatcher(exporter),
		sdktrace.WithResource(resource.NewSchemaless(semconv.ServiceName(service))),
	)
	return tp, tp.Shutdown, nil
}

type originalURLKey struct{}

// UpstreamTransport traces every upstream call with the OpenTelemetry HTTP
// instrumentation, which records the request's URL: the span sees the URL
// with the query values that name a person (a user's id or email)
// replaced, the upstream the real one.
func UpstreamTransport(base http.RoundTripper, opts ...otelhttp.Option) http.RoundTripper {
	traced := otelhttp.NewTransport(restoreURL{base}, opts...)
	return roundTripFunc(func(req *http.Request) (*http.Response, error) {
		q := req.URL.Query()
		redact := false
		for _, name := range [...]string{"userId", "email"} {
			if q.Has(name) {
				q.Set(name, "redacted")
				redact = true
			}
		}
		if !redact {
			return traced.RoundTrip(req)
		}
		shown := req.Clone(context.WithValue(req.Context(), originalURLKey{}, req.URL))
		shown.URL.RawQuery = q.Encode()
		return traced.RoundTrip(shown)
	})
}

// restoreURL sends the request the caller made, whatever URL the span saw.
type restoreURL struct{ base http.RoundTripper }

func (t restoreURL) RoundTrip(req *http.Request) (*http.Response, error) {
	if u, ok := req.Context().Value(originalURLKey{}).(*url.URL); ok {
		req = req.Clone(req.Context())
		req.URL = u
	}
	return t.base.RoundTrip(req)
}

type roundTripFunc func(*http.Request) (*http.Response, error)

func (f roundTripFunc) RoundTrip(req *http.Request) (*http.Response, error) { return f(req) }
