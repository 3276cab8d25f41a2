package graph

import (
	"context"
	"errors"
	"log/slog"
	"math"

	"github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/botpenguin-gateway/gateway/graph/loader"
	"github.com/botpenguin-gateway/gateway/internal/auth"
	"github.com/botpenguin-gateway/gateway/internal/idempotency"
	"github.com/botpenguin-gateway/gateway/upstream"
)

// The extensions.code values of the contract, plus BAD_REQUEST for an HTTP
// request that is not a GraphQL request, REQUEST_TIMEOUT for an operation
// that ran out of its REQUEST_TIMEOUT, and INTERNAL_SERVER_ERROR for
// anything the gateway did not expect (its cause is logged, never shown).
const (
	CodeUnauthenticated     = "UNAUTHENTICATED"
	CodeForbidden           = "FORBIDDEN"
	CodeBadUserInput        = "BAD_USER_INPUT"
	CodeRateLimited         = "RATE_LIMITED"
	CodeUpstreamUnavailable = "UPSTREAM_UNAVAILABLE"
	CodeUpstreamBadResponse = "UPSTREAM_BAD_RESPONSE"
	CodeInvalidRecord       = "UPSTREAM_INVALID_RECORD"
	CodeScanLimitReached    = "SCAN_LIMIT_REACHED"
	CodeInternal            = "INTERNAL_SERVER_ERROR"
	CodeBadRequest          = "BAD_REQUEST"
	CodeRequestTimeout      = "REQUEST_TIMEOUT"
)

// MessageRequestTimeout is the message of every REQUEST_TIMEOUT error.
const MessageRequestTimeout = "request deadline exceeded"

// ErrBadInput marks an argument the gateway refuses before any upstream call.
var ErrBadInput = errors.New("bad user input")

// badInput is an argument error with a message meant for the client.
type badInput struct{ msg string }

func (e badInput) Error() string        { return e.msg }
func (e badInput) Is(target error) bool { return target == ErrBadInput }

// codeOf is the one table from an error to its extensions.code.
func codeOf(err error) string {
	switch {
	case errors.Is(err, auth.ErrNoToken), errors.Is(err, auth.ErrInvalidToken),
		errors.Is(err, upstream.ErrUnauthorized):
		return CodeUnauthenticated
	case errors.Is(err, upstream.ErrForbidden), errors.Is(err, auth.ErrForbidden):
		return CodeForbidden
	case errors.Is(err, upstream.ErrRateLimited):
		return CodeRateLimited
	case errors.Is(err, context.DeadlineExceeded):
		// The only deadline above the upstream client's is the request's:
		// an attempt cut by UPSTREAM_TIMEOUT is not DeadlineExceeded.
		return CodeRequestTimeout
	case errors.Is(err, upstream.ErrUnavailable), errors.Is(err, idempotency.ErrUnavailable):
		return CodeUpstreamUnavailable
	case errors.Is(err, upstream.ErrBadResponse),
		// Refusals that a resolver should have turned into userErrors or
		// null: as before they had sentinels of their own.
		errors.Is(err, upstream.ErrConflict), errors.Is(err, upstream.ErrRejected), errors.Is(err, upstream.ErrNotFound):
		return CodeUpstreamBadResponse
	case errors.As(err, new(upstream.RecordError)):
		return CodeInvalidRecord
	case errors.Is(err, loader.ErrScanLimit):
		return CodeScanLimitReached
	case errors.Is(err, ErrBadInput):
		return CodeBadUserInput
	}
	return ""
}

// messageOf is what the client reads. Of an upstream error only its public
// part: the cause (a network error may name internal hosts and the
// resolver's address) is logged by the presenter instead.
func messageOf(err error, code string) string {
	switch code {
	case CodeUnauthenticated:
		if errors.Is(err, auth.ErrNoToken) {
			return "missing bearer token: send Authorization: Bearer <token>"
		}
		if errors.Is(err, auth.ErrInvalidToken) {
			return "invalid bearer token"
		}
	case CodeInvalidRecord, CodeScanLimitReached, CodeBadUserInput:
		return err.Error()
	case CodeRequestTimeout:
		return MessageRequestTimeout
	case CodeUpstreamUnavailable:
		if errors.Is(err, idempotency.ErrUnavailable) {
			// Its cause names the store's address: logs only.
			return "idempotency keys cannot be kept right now (shared store unavailable): nothing was created; try again"
		}
	}
	var upErr *upstream.Error
	if errors.As(err, &upErr) {
		return upErr.Public()
	}
	return err.Error()
}

// NewErrorPresenter returns the gateway's error presenter: every error that
// reaches a client leaves it with an extensions.code. Codes gqlgen set itself
// (parse and validation failures, complexity, persisted queries) are kept,
// except that bad argument values and variables are BAD_USER_INPUT, as the
// contract says. Unexpected errors are logged and shown as "internal error".
func NewErrorPresenter(log *slog.Logger) graphql.ErrorPresenterFunc {
	return func(ctx context.Context, err error) *gqlerror.Error {
		gqlErr := graphql.DefaultErrorPresenter(ctx, err)
		if gqlErr.Extensions == nil {
			gqlErr.Extensions = map[string]any{}
		}
		if code, ok := gqlErr.Extensions["code"].(string); ok {
			if code == errcode.ValidationFailed && isBadValue(gqlErr) {
				gqlErr.Extensions["code"] = CodeBadUserInput
			}
			return gqlErr
		}
		code := codeOf(err)
		if code == CodeUpstreamUnavailable && errors.Is(ctx.Err(), context.DeadlineExceeded) {
			// The request's deadline passed while the upstream was failing
			// (the upstream client then returns the last failure): the
			// deadline is what ended it.
			code = CodeRequestTimeout
		}
		if code == "" {
			if errors.Is(err, context.Canceled) {
				gqlErr.Message = "request cancelled"
				gqlErr.Extensions["code"] = CodeUpstreamUnavailable
				return gqlErr
			}
			if isGraphQLError(err) {
				// gqlgen's own errors are safe to show but come without a
				// code: a request it could not read has no path, a
				// non-null violation does.
				gqlErr.Extensions["code"] = CodeInternal
				if len(gqlErr.Path) == 0 {
					gqlErr.Extensions["code"] = CodeBadRequest
				}
				return gqlErr
			}
			log.LogAttrs(ctx, slog.LevelError, "unexpected resolver error",
				slog.String("error", err.Error()), slog.Any("path", gqlErr.Path))
			gqlErr.Message = "internal error"
			gqlErr.Extensions["code"] = CodeInternal
			return gqlErr
		}
		cause := err
		if wrapped, ok := err.(*gqlerror.Error); ok && wrapped.Err != nil {
			cause = wrapped.Err
		}
		gqlErr.Message = messageOf(cause, code)
		gqlErr.Extensions["code"] = code
		var upErr *upstream.Error
		if errors.As(err, &upErr) {
			if upErr.Err != nil {
				log.LogAttrs(ctx, slog.LevelWarn, "upstream error",
					slog.String("code", code), slog.String("error", upErr.Error()), slog.Any("path", gqlErr.Path))
			}
			if upErr.StatusCode != 0 {
				gqlErr.Extensions["upstreamStatus"] = upErr.StatusCode
			}
			if upErr.RetryAfter > 0 {
				gqlErr.Extensions["retryAfterSeconds"] = int(math.Ceil(upErr.RetryAfter.Seconds()))
			}
		}
		return gqlErr
	}
}

// isBadValue tells a wrong argument or variable value (an unknown enum
// value, a string for an Int) from other validation failures.
func isBadValue(err *gqlerror.Error) bool {
	if err.Rule == "ValuesOfCorrectType" || err.Rule == "VariablesInAllowedPosition" {
		return true
	}
	return len(err.Path) > 0 && err.Path[0] == ast.PathName("variable")
}

// isGraphQLError reports whether err was made by gqlgen's executor rather
// than returned by one of our resolvers.
func isGraphQLError(err error) bool {
	gqlErr, ok := err.(*gqlerror.Error)
	return ok && gqlErr.Err == nil
}
