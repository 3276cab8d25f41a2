package httpserver

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"mime"
	"net/http"
	"time"

	"github.com/99designs/gqlgen/graphql"

	"github.com/botpenguin-gateway/gateway/graph"
	"github.com/botpenguin-gateway/gateway/graph/loader"
)

// limitBody answers 413 for a body over max bytes, and 400 or 415 for
// POST bodies gqlgen would otherwise answer without an error code. The body
// is read here once, so the size check holds for chunked uploads too.
func limitBody(max int64, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodGet {
			// Parsed only for GET: a POST carries its query in the body.
			if q := r.URL.Query(); q.Get("query") == "" && q.Get("extensions") == "" {
				writeError(w, http.StatusBadRequest, graph.CodeBadRequest, "request has no query")
				return
			}
		}
		if r.Method != http.MethodPost {
			next.ServeHTTP(w, r)
			return
		}
		if r.ContentLength > max {
			writeError(w, http.StatusRequestEntityTooLarge, graph.CodeBadRequest, "request body too large")
			return
		}
		mediaType, _, _ := mime.ParseMediaType(r.Header.Get("Content-Type"))
		if mediaType != "application/json" {
			writeError(w, http.StatusUnsupportedMediaType, graph.CodeBadRequest, "Content-Type must be application/json")
			return
		}
		body, err := readBody(http.MaxBytesReader(w, r.Body, max), r.ContentLength)
		var tooLarge *http.MaxBytesError
		switch {
		case errors.As(err, &tooLarge):
			writeError(w, http.StatusRequestEntityTooLarge, graph.CodeBadRequest, "request body too large")
			return
		case err != nil:
			writeError(w, http.StatusBadRequest, graph.CodeBadRequest, "could not read the request body")
			return
		case !json.Valid(body):
			writeError(w, http.StatusBadRequest, graph.CodeBadRequest, "request body is not valid JSON")
			return
		case bytes.TrimLeft(body, " \t\r\n")[0] != '{':
			writeError(w, http.StatusBadRequest, graph.CodeBadRequest, "request body must be a JSON object")
			return
		case !likelyHasQuery(body) && !postHasQuery(body):
			writeError(w, http.StatusBadRequest, graph.CodeBadRequest, "request has no query")
			return
		}
		r.Body = &bufferedBody{Reader: bytes.NewReader(body), bytes: body}
		next.ServeHTTP(w, r)
	})
}

// readBody reads all of r, sized by the Content-Length when there is one.
func readBody(r io.Reader, length int64) ([]byte, error) {
	var buf bytes.Buffer
	if length > 0 {
		buf.Grow(int(length) + bytes.MinRead)
	}
	_, err := buf.ReadFrom(r)
	return buf.Bytes(), err
}

// writeError answers with a GraphQL-shaped error, so that clients find an
// extensions.code even when the request never reached GraphQL.
func writeError(w http.ResponseWriter, status int, code, msg string) {
	writeErrorExt(w, status, code, msg, nil)
}

// writeErrorExt is writeError with more extensions than the code.
func writeErrorExt(w http.ResponseWriter, status int, code, msg string, ext map[string]any) {
	extensions := map[string]any{"code": code}
	for k, v := range ext {
		extensions[k] = v
	}
	body, _ := json.Marshal(map[string]any{
		"errors": []any{map[string]any{"message": msg, "extensions": extensions}},
	})
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_, _ = w.Write(body)
}

// bufferedBody is a request body limitBody has read: handlers after it (the
// request coalescer) find the bytes without reading them again.
type bufferedBody struct {
	*bytes.Reader
	bytes []byte
}

func (bufferedBody) Close() error { return nil }

// bodyOf is the body limitBody read, nil for a request without one (GET).
func bodyOf(r *http.Request) []byte {
	if b, ok := r.Body.(*bufferedBody); ok {
		return b.bytes
	}
	return nil
}

// outcome is what a GraphQL answer reports for its request's log line,
// metrics and the answer cache. It flows one way, up: the GraphQL layer
// produces it (recordResponse), and hands it to the response writers above
// (reportOutcome): the log line's, or a shared execution's recorder.
type outcome struct {
	answered  bool // GraphQL answered: set by recordResponse
	operation string
	codes     []string
	pageAge   time.Duration // how old the oldest upstream page of the answer is
	stale     bool          // the answer is flagged extensions.stale
	secret    bool          // the answer holds a secret: set before it is written
}

// outcomeReporter is a response writer that takes its answer's outcome.
type outcomeReporter interface{ reportOutcome(outcome) }

// reportOutcome hands o to the first writer of w's chain that takes it.
func reportOutcome(w http.ResponseWriter, o outcome) {
	for w != nil {
		if r, ok := w.(outcomeReporter); ok {
			r.reportOutcome(o)
			return
		}
		u, ok := w.(interface{ Unwrap() http.ResponseWriter })
		if !ok {
			return
		}
		w = u.Unwrap()
	}
}

type outcomeKey struct{}

// recordResponse notes the operation name, error codes and page age of a
// GraphQL response, for graphQLOverHTTP to report: the one writer of the
// outcome that graphQLOverHTTP put in the context.
func recordResponse(ctx context.Context, resp *graphql.Response) {
	o, ok := ctx.Value(outcomeKey{}).(*outcome)
	if !ok || resp == nil {
		return
	}
	o.answered = true
	if graphql.HasOperationContext(ctx) {
		if op := graphql.GetOperationContext(ctx); op.Operation != nil {
			o.operation = op.Operation.Name
		} else {
			o.operation = op.OperationName
		}
	}
	if l, err := loader.For(ctx); err == nil {
		o.pageAge = l.Oldest()
	}
	o.stale = resp.Extensions["stale"] == true
	for _, e := range resp.Errors {
		if code, ok := e.Extensions["code"].(string); ok {
			o.codes = append(o.codes, code)
		}
	}
}

type requestIDKey struct{}

// logRequests writes one log line per request (never a header value, so
// never a token) and the operation metrics.
func logRequests(log *slog.Logger, m *metrics, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		start := time.Now()
		m.inFlight.Inc()
		defer m.inFlight.Dec()

		id := requestID(r.Header.Get("X-Request-ID"))
		w.Header().Set("X-Request-ID", id)
		sw := &statusWriter{ResponseWriter: w, status: http.StatusOK}
		ctx := context.WithValue(r.Context(), requestIDKey{}, id)
		next.ServeHTTP(sw, r.WithContext(ctx))
		elapsed := time.Since(start)

		o := sw.outcome
		result := "ok"
		if len(o.codes) > 0 {
			result = o.codes[0]
		}
		name := m.names.label(o.operation)
		if o.answered {
			m.operations.WithLabelValues(name, result).Inc()
			m.duration.WithLabelValues(name).Observe(elapsed.Seconds())
		}
		level := slog.LevelInfo
		if sw.status >= 500 {
			level = slog.LevelError
		}
		log.LogAttrs(ctx, level, "request",
			slog.String("method", r.Method),
			slog.String("path", r.URL.Path),
			slog.Int("status", sw.status),
			slog.String("operation", name),
			slog.Any("codes", o.codes),
			slog.Duration("duration", elapsed),
		)
	})
}

// requestID keeps a caller's X-Request-ID when it is short and printable,
// and makes one otherwise.
func requestID(given string) string {
	if n := len(given); n > 0 && n <= 128 {
		ok := true
		for i := 0; i < n && ok; i++ {
			ok = given[i] > ' ' && given[i] < 0x7f
		}
		if ok {
			return given
		}
	}
	var b [8]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

type statusWriter struct {
	http.ResponseWriter
	status  int
	wrote   bool
	outcome outcome
}

func (w *statusWriter) reportOutcome(o outcome) { w.outcome = o }

func (w *statusWriter) WriteHeader(status int) {
	if !w.wrote {
		w.status, w.wrote = status, true
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	w.wrote = true
	return w.ResponseWriter.Write(b)
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// likelyHasQuery is the cheap test that almost every request passes: a
// non-empty "query" key. The others are decoded by postHasQuery.
func likelyHasQuery(body []byte) bool {
	return bytes.Contains(body, []byte(`"query"`)) &&
		!bytes.Contains(body, []byte(`"query":""`)) && !bytes.Contains(body, []byte(`"query": ""`))
}

// postHasQuery tells whether a body carries a document or names a
// persisted query (sent by hash, without a document). One with neither is
// a bad HTTP request (400), not a GraphQL error.
func postHasQuery(body []byte) bool {
	var req struct {
		Query      string         `json:"query"`
		Extensions map[string]any `json:"extensions"`
	}
	return json.Unmarshal(body, &req) == nil && (req.Query != "" || req.Extensions["persistedQuery"] != nil)
}
