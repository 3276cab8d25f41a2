package upstream

import (
	"errors"
	"fmt"
	"time"
)

// Sentinels for the kinds of upstream failure. Every error returned by
// Client.ListCustomers wraps exactly one of them (or a context error).
var (
	ErrUnauthorized = errors.New("upstream: unauthorized")
	ErrForbidden    = errors.New("upstream: forbidden")
	ErrRateLimited  = errors.New("upstream: rate limited")
	ErrUnavailable  = errors.New("upstream: unavailable")
	ErrBadResponse  = errors.New("upstream: bad response")
)

// Error is a failed upstream call. It wraps one of the sentinels above
// (Kind) and, when there is one, the underlying cause (Err). Its message
// never holds a token or a URL with credentials.
type Error struct {
	Kind       error         // one of the Err* sentinels
	StatusCode int           // upstream HTTP status, or the envelope's code for a 200 with success:false; 0 when no answer
	Message    string        // the upstream's own message, when it sent one
	RetryAfter time.Duration // from Retry-After on a 429; 0 when unknown
	Err        error         // cause, e.g. a net error; may be nil
}

func (e *Error) Error() string {
	msg := e.Kind.Error()
	if e.StatusCode != 0 {
		msg += fmt.Sprintf(" (HTTP %d)", e.StatusCode)
	}
	if e.Message != "" {
		msg += ": " + e.Message
	}
	if e.Err != nil {
		msg += ": " + e.Err.Error()
	}
	return msg
}

// Unwrap lets errors.Is match both the kind and the cause.
func (e *Error) Unwrap() []error {
	if e.Err == nil {
		return []error{e.Kind}
	}
	return []error{e.Kind, e.Err}
}
