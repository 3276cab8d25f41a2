package httpserver

import (
	"bytes"
	"context"
	"encoding/json"
	"mime"
	"net/http"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/handler/transport"
	"github.com/botpenguin-gateway/gateway/graph"
)

// graphQLOverHTTP adjusts gqlgen's answers to request errors (parse,
// validation, variables) where the GraphQL-over-HTTP spec asks otherwise:
// with application/json such an answer is a 200 (gqlgen: 422), and with
// application/graphql-response+json it has no "data" (gqlgen: "data": null).
func graphQLOverHTTP(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		o := &outcome{}
		ow := &overHTTPWriter{ResponseWriter: w, outcome: o}
		next.ServeHTTP(ow, r.WithContext(context.WithValue(r.Context(), outcomeKey{}, o)))
		ow.finish()
		if o.answered {
			reportOutcome(w, *o)
		}
	})
}

type overHTTPWriter struct {
	http.ResponseWriter
	outcome *outcome     // its secret flag is set before the answer is written
	strip   bool         // buffering a graphql-response+json error to drop its data
	status  int          // the status held back while stripping
	body    bytes.Buffer // the held-back body
}

// noStore marks an answer that holds a secret as never to be stored, by
// the browser or any cache between.
func (w *overHTTPWriter) noStore() {
	if w.outcome.secret {
		w.Header().Set("Cache-Control", "no-store")
	}
}

func (w *overHTTPWriter) WriteHeader(status int) {
	w.noStore()
	mediaType, _, _ := mime.ParseMediaType(w.Header().Get("Content-Type"))
	switch {
	case status == http.StatusUnprocessableEntity && mediaType == "application/json":
		status = http.StatusOK
	case status >= 400 && mediaType == "application/graphql-response+json":
		w.strip, w.status = true, status
		return
	}
	w.ResponseWriter.WriteHeader(status)
}

func (w *overHTTPWriter) Write(b []byte) (int, error) {
	w.noStore()
	if w.strip {
		return w.body.Write(b)
	}
	return w.ResponseWriter.Write(b)
}

// finish writes a held-back error answer without its null data.
func (w *overHTTPWriter) finish() {
	if !w.strip {
		return
	}
	body := w.body.Bytes()
	var fields map[string]json.RawMessage
	if json.Unmarshal(body, &fields) == nil && string(fields["data"]) == "null" {
		delete(fields, "data")
		if b, err := json.Marshal(fields); err == nil {
			body = b
		}
	}
	w.Header().Del("Content-Length")
	w.ResponseWriter.WriteHeader(w.status)
	_, _ = w.ResponseWriter.Write(body)
}

// getQueriesOnly is gqlgen's GET transport, with its refusal of other
// operations answered as GraphQL over HTTP says: 405 Method Not Allowed,
// Allow: POST, and an error with a code like every other (gqlgen: 406,
// no code). A GET must be safe: it may be prefetched, cached or replayed.
type getQueriesOnly struct{ transport.GET }

func (t getQueriesOnly) Do(w http.ResponseWriter, r *http.Request, exec graphql.GraphExecutor) {
	t.GET.Do(&notAcceptableWriter{ResponseWriter: w}, r, exec)
}

// notAcceptableWriter turns the GET transport's 406 into the 405 answer.
type notAcceptableWriter struct {
	http.ResponseWriter
	refused bool
}

func (w *notAcceptableWriter) WriteHeader(status int) {
	if status != http.StatusNotAcceptable {
		w.ResponseWriter.WriteHeader(status)
		return
	}
	w.refused = true
	w.Header().Set("Allow", "POST")
	writeError(w.ResponseWriter, http.StatusMethodNotAllowed, graph.CodeBadRequest,
		"GET requests only allow query operations: send a mutation with POST")
}

func (w *notAcceptableWriter) Write(b []byte) (int, error) {
	if w.refused {
		return len(b), nil // the refusal is written already
	}
	return w.ResponseWriter.Write(b)
}
