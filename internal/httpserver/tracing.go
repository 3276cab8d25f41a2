package httpserver

import (
	"context"
	"net/http"

	"github.com/99designs/gqlgen/graphql"
	"go.opentelemetry.io/contrib/instrumentation/net/http/otelhttp"
	"go.opentelemetry.io/otel/attribute"
	"go.opentelemetry.io/otel/codes"
	"go.opentelemetry.io/otel/propagation"
	"go.opentelemetry.io/otel/trace"
)

// tracerName names the gateway's own spans.
const tracerName = "github.com/botpenguin-gateway/gateway/internal/httpserver"

// Propagator is the W3C trace context the gateway accepts from callers and
// passes upstream (traceparent, tracestate, baggage).
func Propagator() propagation.TextMapPropagator {
	return propagation.NewCompositeTextMapPropagator(propagation.TraceContext{}, propagation.Baggage{})
}

// tracing gives every /query request a server span, continuing the
// caller's traceparent. Headers are never recorded, so no token is.
func tracing(tp trace.TracerProvider, next http.Handler) http.Handler {
	return otelhttp.NewHandler(next, "POST /query",
		otelhttp.WithTracerProvider(tp),
		otelhttp.WithPropagators(Propagator()),
		otelhttp.WithSpanNameFormatter(func(_ string, r *http.Request) string { return r.Method + " /query" }),
	)
}

// operationSpans wraps each executed GraphQL operation in a span named
// after it; upstream calls made for it are its children.
func operationSpans(tp trace.TracerProvider) graphql.OperationMiddleware {
	tracer := tp.Tracer(tracerName)
	return func(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
		op := graphql.GetOperationContext(ctx)
		name := "anonymous"
		if op.Operation != nil && op.Operation.Name != "" {
			name = op.Operation.Name
		}
		ctx, span := tracer.Start(ctx, "graphql.operation "+name, trace.WithAttributes(
			attribute.String("graphql.operation.name", name),
			attribute.String("graphql.operation.type", operationType(op)),
		))
		handle := next(ctx)
		return func(ctx context.Context) *graphql.Response {
			resp := handle(ctx)
			if resp == nil || !span.IsRecording() {
				span.End()
				return resp
			}
			if len(resp.Errors) > 0 {
				var errCodes []string
				for _, e := range resp.Errors {
					if code, ok := e.Extensions["code"].(string); ok {
						errCodes = append(errCodes, code)
					}
				}
				span.SetAttributes(attribute.StringSlice("graphql.error.codes", errCodes))
				span.SetStatus(codes.Error, "GraphQL errors")
			}
			span.End()
			return resp
		}
	}
}

func operationType(op *graphql.OperationContext) string {
	if op.Operation == nil {
		return ""
	}
	return string(op.Operation.Operation)
}
