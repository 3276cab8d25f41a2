package graph

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"testing"
	"time"

	"github.com/99designs/gqlgen/graphql"
	"github.com/stretchr/testify/assert"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/botpenguin-gateway/gateway/graph/loader"
	"github.com/botpenguin-gateway/gateway/internal/auth"
	"github.com/botpenguin-gateway/gateway/upstream"
)

func TestErrorPresenterCodes(t *testing.T) {
	upErr := func(kind error, status int) error {
		return fmt.Errorf("loading: %w", &upstream.Error{Kind: kind, StatusCode: status})
	}
	for name, tc := range map[string]struct {
		err  error
		code string
	}{
		"no token":          {auth.ErrNoToken, CodeUnauthenticated},
		"invalid token":     {auth.ErrInvalidToken, CodeUnauthenticated},
		"upstream 401":      {upErr(upstream.ErrUnauthorized, 401), CodeUnauthenticated},
		"upstream 403":      {upErr(upstream.ErrForbidden, 403), CodeForbidden},
		"missing scope":     {fmt.Errorf("createCustomer: %w", auth.ErrForbidden), CodeForbidden},
		"upstream 429":      {upErr(upstream.ErrRateLimited, 429), CodeRateLimited},
		"upstream 503":      {upErr(upstream.ErrUnavailable, 503), CodeUpstreamUnavailable},
		"bad response":      {upErr(upstream.ErrBadResponse, 200), CodeUpstreamBadResponse},
		"upstream 409":      {upErr(upstream.ErrConflict, 409), CodeUpstreamBadResponse},
		"upstream 422":      {upErr(upstream.ErrRejected, 422), CodeUpstreamBadResponse},
		"upstream 404":      {upErr(upstream.ErrNotFound, 404), CodeUpstreamBadResponse},
		"deadline":          {context.DeadlineExceeded, CodeRequestTimeout},
		"cancelled":         {context.Canceled, CodeUpstreamUnavailable},
		"invalid record":    {upstream.RecordError{Index: 3, Reason: "no _id"}, CodeInvalidRecord},
		"scan limit":        {loader.ErrScanLimit, CodeScanLimitReached},
		"bad input":         {badInput{"page must be between 1 and 10"}, CodeBadUserInput},
		"non-null":          {gqlerror.ErrorPathf(ast.Path{ast.PathName("customers")}, "must not be null"), CodeInternal},
		"request-level":     {gqlerror.Errorf("json request body could not be decoded"), CodeBadRequest},
		"validation kept":   {withCode(gqlerror.Errorf("Cannot query field"), "GRAPHQL_VALIDATION_FAILED"), "GRAPHQL_VALIDATION_FAILED"},
		"bad variable":      {withCode(&gqlerror.Error{Message: "bad", Path: ast.Path{ast.PathName("variable"), ast.PathName("p")}}, "GRAPHQL_VALIDATION_FAILED"), CodeBadUserInput},
		"bad enum literal":  {withCode(&gqlerror.Error{Message: "bad", Rule: "ValuesOfCorrectType"}, "GRAPHQL_VALIDATION_FAILED"), CodeBadUserInput},
		"complexity kept":   {withCode(gqlerror.Errorf("too complex"), "COMPLEXITY_LIMIT_EXCEEDED"), "COMPLEXITY_LIMIT_EXCEEDED"},
		"unexpected":        {errors.New("nil pointer somewhere with secret detail"), CodeInternal},
		"wrapped by gqlgen": {gqlerror.WrapPath(ast.Path{ast.PathName("customer")}, loader.ErrScanLimit), CodeScanLimitReached},
	} {
		t.Run(name, func(t *testing.T) {
			var logs bytes.Buffer
			present := NewErrorPresenter(slog.New(slog.NewTextHandler(&logs, nil)))
			got := present(graphql.WithResponseContext(context.Background(), graphql.DefaultErrorPresenter, nil), tc.err)
			assert.Equal(t, tc.code, got.Extensions["code"])
			assert.NotEmpty(t, got.Message)
			if name == "unexpected" {
				assert.Equal(t, "internal error", got.Message)
				assert.Contains(t, logs.String(), "secret detail", "the cause is logged for operators")
			}
		})
	}
}

func TestErrorPresenterUpstreamExtensions(t *testing.T) {
	present := NewErrorPresenter(slog.New(slog.DiscardHandler))
	got := present(context.Background(), &upstream.Error{Kind: upstream.ErrRateLimited, StatusCode: 429, RetryAfter: 1500 * time.Millisecond})
	assert.Equal(t, map[string]any{"code": CodeRateLimited, "upstreamStatus": 429, "retryAfterSeconds": 2}, got.Extensions)

	got = present(context.Background(), &upstream.Error{Kind: upstream.ErrUnavailable})
	assert.Equal(t, map[string]any{"code": CodeUpstreamUnavailable}, got.Extensions, "no answer, no upstreamStatus")
}

// An upstream failure presented once the request's deadline has passed is
// REQUEST_TIMEOUT (the deadline ended the retries), keeping the upstream's
// status; other codes, and failures before the deadline, are left alone.
func TestErrorPresenterRequestDeadline(t *testing.T) {
	present := NewErrorPresenter(slog.New(slog.DiscardHandler))
	expired, cancel := context.WithDeadline(context.Background(), time.Now().Add(-time.Second))
	defer cancel()
	unavailable := &upstream.Error{Kind: upstream.ErrUnavailable, StatusCode: 503}

	got := present(expired, unavailable)
	assert.Equal(t, map[string]any{"code": CodeRequestTimeout, "upstreamStatus": 503}, got.Extensions)
	assert.Equal(t, MessageRequestTimeout, got.Message)

	got = present(context.Background(), unavailable)
	assert.Equal(t, CodeUpstreamUnavailable, got.Extensions["code"], "before the deadline")

	got = present(expired, &upstream.Error{Kind: upstream.ErrUnauthorized, StatusCode: 401})
	assert.Equal(t, CodeUnauthenticated, got.Extensions["code"])

	got = present(context.Background(), &upstream.Error{Kind: upstream.ErrUnavailable, Err: context.DeadlineExceeded})
	assert.Equal(t, CodeRequestTimeout, got.Extensions["code"], "cut before any attempt ended")
}

func withCode(err *gqlerror.Error, code string) *gqlerror.Error {
	err.Extensions = map[string]any{"code": code}
	return err
}
