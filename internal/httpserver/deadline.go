package httpserver

import (
	"context"
	"errors"
	"mime"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/botpenguin-gateway/gateway/graph"
)

// withRequestTimeout gives every GraphQL request REQUEST_TIMEOUT, from when
// its body has been read, for everything it makes happen: resolvers, id
// scans, upstream attempts and the waits between them. What is still
// running then ends with REQUEST_TIMEOUT errors in an ordinary answer.
func withRequestTimeout(timeout time.Duration, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		ctx, cancel := context.WithTimeout(r.Context(), timeout)
		defer cancel()
		next.ServeHTTP(w, r.WithContext(ctx))
	})
}

// answerTimedOut answers REQUEST_TIMEOUT for an operation whose deadline
// passed before its execution started (a long validation, say): gqlgen
// answers such an operation with no response at all, written as a bare
// JSON null.
func answerTimedOut(ctx context.Context, next graphql.OperationHandler) graphql.ResponseHandler {
	respond := next(ctx)
	first := true
	return func(ctx context.Context) *graphql.Response {
		resp := respond(ctx)
		// Only the first response: a later nil ends a stream.
		if resp == nil && first && errors.Is(ctx.Err(), context.DeadlineExceeded) {
			resp = &graphql.Response{Errors: gqlerror.List{{
				Message:    graph.MessageRequestTimeout,
				Extensions: map[string]any{"code": graph.CodeRequestTimeout},
			}}}
			recordResponse(ctx, resp)
		}
		first = false
		return resp
	}
}

// timeoutAnswer is the answer of a request whose deadline passed while the
// execution it shared goes on for callers that came later.
const timeoutAnswer = `{"data":null,"errors":[{"message":"` + graph.MessageRequestTimeout +
	`","extensions":{"code":"` + graph.CodeRequestTimeout + `"}}]}`

func writeTimeoutAnswer(w http.ResponseWriter, r *http.Request) {
	reportOutcome(w, outcome{answered: true, codes: []string{graph.CodeRequestTimeout}})
	h := w.Header()
	h.Set("Content-Type", answerMediaType(r.Header.Get("Accept")))
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write([]byte(timeoutAnswer))
}

// answerMediaType is the media type gqlgen's transports answer with for an
// Accept header: the first of the JSON types it names, application/json
// when there is none.
func answerMediaType(accept string) string {
	if accept == "" {
		return "application/json"
	}
	for part := range strings.SplitSeq(accept, ",") {
		switch mediaType, _, _ := mime.ParseMediaType(strings.TrimSpace(part)); mediaType {
		case "*/*", "application/*", "application/json":
			return "application/json"
		case "application/graphql-response+json":
			return mediaType
		}
	}
	return "application/graphql-response+json"
}

// executionContext is the context of an execution shared by coalesced
// requests. Its deadline is the latest of theirs, and moves later when a
// request with a later one joins, which a context.WithDeadline cannot do;
// it is done then, or when cancel is called because every caller left.
// Its values are the first caller's.
type executionContext struct {
	values context.Context // detached from the first caller: values only
	done   chan struct{}

	mu        sync.Mutex
	deadline  time.Time
	unbounded bool // a caller has no deadline
	timer     *time.Timer
	err       error
}

type valuesOnlyKey struct{}

func newExecutionContext(first context.Context) *executionContext {
	dl, bounded := first.Deadline()
	// The value layer over WithoutCancel changes no lookup, but spares each
	// one an allocation: WithoutCancel's Value boxes its receiver on every
	// call, a value context's does not.
	values := context.WithValue(context.WithoutCancel(first), valuesOnlyKey{}, nil)
	c := &executionContext{values: values, done: make(chan struct{}), deadline: dl, unbounded: !bounded}
	if bounded {
		// Under the lock: a deadline already past fires at once.
		c.mu.Lock()
		c.timer = time.AfterFunc(time.Until(dl), c.expire)
		c.mu.Unlock()
	}
	return c
}

// Deadline is the latest deadline of the callers so far; a later caller
// may move it later, never earlier.
func (c *executionContext) Deadline() (time.Time, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.unbounded {
		return time.Time{}, false
	}
	return c.deadline, true
}

func (c *executionContext) Done() <-chan struct{} { return c.done }

func (c *executionContext) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

func (c *executionContext) Value(key any) any { return c.values.Value(key) }

// extend lets the execution live until a joining caller's deadline, or
// without one when the caller has none. It reports false when the context
// is done already: that caller needs an execution of its own.
func (c *executionContext) extend(caller context.Context) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil {
		return false
	}
	dl, ok := caller.Deadline()
	switch {
	case c.unbounded:
	case !ok:
		c.unbounded = true
		c.timer.Stop()
	case dl.After(c.deadline):
		c.deadline = dl
		c.timer.Reset(time.Until(dl))
	}
	return true
}

func (c *executionContext) expire() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err != nil || c.unbounded {
		return
	}
	if wait := time.Until(c.deadline); wait > 0 {
		// Extended while this timer fired.
		c.timer.Reset(wait)
		return
	}
	c.end(context.DeadlineExceeded)
}

func (c *executionContext) cancel() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.err == nil {
		c.end(context.Canceled)
	}
}

func (c *executionContext) end(err error) {
	c.err = err
	if c.timer != nil {
		c.timer.Stop()
	}
	close(c.done)
}

// outlives reports whether the execution goes on after ctx's deadline.
func (c *executionContext) outlives(ctx context.Context) bool {
	dl, ok := ctx.Deadline()
	edl, bounded := c.Deadline()
	return ok && (!bounded || edl.After(dl))
}
