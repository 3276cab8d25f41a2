package upstream

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"
	"unicode"
	"unicode/utf8"
)

// Sentinels for the kinds of upstream failure. Every error returned by a
// call of the client wraps exactly one of them, or else a context error
// (context.Canceled when the caller went away).
var (
	ErrUnauthorized = errors.New("upstream: unauthorized")
	ErrForbidden    = errors.New("upstream: forbidden")
	ErrRateLimited  = errors.New("upstream: rate limited")
	ErrUnavailable  = errors.New("upstream: unavailable")
	ErrBadResponse  = errors.New("upstream: bad response")

	// Refusals of a call's input. Only the endpoints that expect one
	// report it (see refine); to any other, the same status is
	// ErrBadResponse. Error.Message holds the upstream's reason.
	ErrConflict = errors.New("upstream: conflict")  // 409: create, the email is taken
	ErrRejected = errors.New("upstream: rejected")  // 400, 422: create, the input is refused
	ErrNotFound = errors.New("upstream: not found") // 404: login token, no such user
)

// Error is a failed upstream call. It wraps one of the sentinels above
// (Kind) and, when there is one, the underlying cause (Err). Its message
// never holds a token or a URL with credentials.
type Error struct {
	Kind error // one of the Err* sentinels

	// StatusCode is the upstream's HTTP status (what the contract calls
	// upstreamStatus), 0 when no answer came (timeout, refused connection).
	// An HTTP 200 with success:false keeps 200 here; its envelope code is in
	// EnvelopeCode.
	StatusCode int

	// EnvelopeCode is the envelope's "code" of an answer with success:false,
	// 0 when there was none.
	EnvelopeCode int

	// Message is the upstream's own message, when it sent one: at most
	// maxMessageLen bytes, valid UTF-8, the token masked. It may be passed
	// on to clients.
	Message string

	// RetryAfter is the wait the upstream asked for on a 429 (Retry-After in
	// seconds or as an HTTP date); 0 when unknown or zero.
	RetryAfter time.Duration

	Err error // cause, e.g. a network error; may be nil

	retryAfterKnown bool // a Retry-After header was present and valid
}

func (e *Error) Error() string {
	if e.Err != nil {
		return e.Public() + ": " + e.Err.Error()
	}
	return e.Public()
}

// Public is the message a client may read: the kind, the upstream's status
// and the upstream's own message. It leaves out the cause (Err), which may
// name internal hosts and resolvers (a failed DNS lookup does) and belongs
// in logs only.
func (e *Error) Public() string {
	var b strings.Builder
	if e.Kind != nil {
		b.WriteString(e.Kind.Error())
	} else {
		b.WriteString("upstream: error")
	}
	switch {
	case e.StatusCode != 0 && e.EnvelopeCode != 0 && e.EnvelopeCode != e.StatusCode:
		fmt.Fprintf(&b, " (HTTP %d, code %d)", e.StatusCode, e.EnvelopeCode)
	case e.StatusCode != 0:
		fmt.Fprintf(&b, " (HTTP %d)", e.StatusCode)
	}
	if e.Message != "" {
		b.WriteString(": ")
		b.WriteString(e.Message)
	}
	return b.String()
}

// Unwrap lets errors.Is match both the kind and the cause.
func (e *Error) Unwrap() []error {
	var errs []error
	if e.Kind != nil {
		errs = append(errs, e.Kind)
	}
	if e.Err != nil {
		errs = append(errs, e.Err)
	}
	return errs
}

// Timeout reports whether the call failed because an attempt took longer
// than the per-attempt timeout (or the caller's deadline).
func (e *Error) Timeout() bool {
	var t interface{ Timeout() bool }
	return e.Err != nil && errors.As(e.Err, &t) && t.Timeout()
}

// attemptTimeoutError is the cause of an attempt cut by the per-attempt
// timeout. It is deliberately not context.DeadlineExceeded: the caller's own
// deadline did not pass.
type attemptTimeoutError struct{ after time.Duration }

func (e *attemptTimeoutError) Error() string {
	return "no answer within " + e.after.String()
}
func (e *attemptTimeoutError) Timeout() bool { return true }

const (
	maxMessageLen = 200      // bytes of the upstream's message kept in Error.Message
	maxErrorBody  = 64 << 10 // bytes read from a non-2xx answer
)

// CheckResponse checks an upstream answer whose body has been read: it
// returns the envelope's data, undecoded, when the answer is a success
// envelope, and otherwise an *Error wrapping one sentinel:
//
//	401 → ErrUnauthorized, 403 → ErrForbidden, 429 → ErrRateLimited,
//	5xx → ErrUnavailable, any other non-2xx → ErrBadResponse.
//
// An HTTP 2xx with success:false is mapped by its envelope code as if it
// were the HTTP status (401, 403, 429, 5xx); any other such answer, and any
// body that is not the documented envelope, is ErrBadResponse. The shape of
// the data is the endpoint's to check. The Error's Message is the
// upstream's own, fit to be passed on: the bearer token of resp.Request
// masked, valid UTF-8, no control characters, bounded. Retry-After dates
// are read against time.Now.
func CheckResponse(resp *http.Response, body []byte) (json.RawMessage, error) {
	var token Token
	if resp.Request != nil {
		token = bearer(resp.Request.Header)
	}
	return checkAnswer(resp, body, token, time.Now())
}

// checkAnswer is CheckResponse with the token (and other secrets of the
// request, such as a password) to mask and the time given.
func checkAnswer(resp *http.Response, body []byte, token Token, now time.Time, secrets ...string) (json.RawMessage, error) {
	data, err := checkResponse(resp, body, now)
	if e, ok := err.(*Error); ok {
		e.Message = cleanMessage(e.Message, token, secrets...)
	}
	return data, err
}

// checkResponse is CheckResponse without the cleaning of the message.
func checkResponse(resp *http.Response, body []byte, now time.Time) (json.RawMessage, error) {
	status := resp.StatusCode
	if status < 200 || status > 299 {
		e := &Error{Kind: kindOf(status), StatusCode: status}
		if env, err := parseEnvelope(body); err == nil {
			e.Message = env.Message
			e.EnvelopeCode = env.Code
		}
		if status == http.StatusTooManyRequests {
			e.RetryAfter, e.retryAfterKnown = parseRetryAfter(resp.Header.Get("Retry-After"), now)
		}
		return nil, e
	}

	env, err := parseEnvelope(body)
	if err != nil {
		return nil, &Error{Kind: ErrBadResponse, StatusCode: status, Err: err}
	}
	if env.Success == nil {
		return nil, &Error{Kind: ErrBadResponse, StatusCode: status, Err: errors.New("envelope has no success field")}
	}
	if !*env.Success {
		kind := ErrBadResponse
		if env.Code >= 400 {
			if k := kindOf(env.Code); k != ErrBadResponse {
				kind = k
			}
		}
		e := &Error{Kind: kind, StatusCode: status, EnvelopeCode: env.Code, Message: env.Message}
		if kind == ErrRateLimited {
			e.RetryAfter, e.retryAfterKnown = parseRetryAfter(resp.Header.Get("Retry-After"), now)
		}
		return nil, e
	}
	return env.Data, nil
}

// kindOf maps an HTTP status (or an envelope code) to a sentinel.
func kindOf(status int) error {
	switch {
	case status == http.StatusUnauthorized:
		return ErrUnauthorized
	case status == http.StatusForbidden:
		return ErrForbidden
	case status == http.StatusTooManyRequests:
		return ErrRateLimited
	case status >= 500 && status <= 599:
		return ErrUnavailable
	default:
		return ErrBadResponse
	}
}

// parseRetryAfter reads a Retry-After header: a number of seconds or an HTTP
// date. A date in the past is a wait of zero. ok is false when the header is
// missing or unreadable.
func parseRetryAfter(v string, now time.Time) (d time.Duration, ok bool) {
	v = strings.TrimSpace(v)
	if v == "" {
		return 0, false
	}
	if v[0] >= '0' && v[0] <= '9' {
		secs, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			return 0, false
		}
		const maxSecs = uint64(1<<63-1) / uint64(time.Second)
		if secs > maxSecs {
			secs = maxSecs
		}
		return time.Duration(secs) * time.Second, true
	}
	t, err := http.ParseTime(v)
	if err != nil {
		return 0, false
	}
	if d = t.Sub(now); d < 0 {
		d = 0
	}
	return d, true
}

// refine gives an answer that CheckResponse made ErrBadResponse the kind
// that the endpoint expects for its status (as CheckResponse reads it: a
// 2xx with success:false by its envelope code), when kindOf names one.
func refine(err error, kindOf func(status int) error) error {
	e, ok := err.(*Error)
	if !ok || e.Kind != ErrBadResponse {
		return err
	}
	status := e.StatusCode
	if status >= 200 && status <= 299 {
		status = e.EnvelopeCode
	}
	if k := kindOf(status); k != nil {
		e.Kind = k
	}
	return err
}

// cleanMessage makes an upstream message fit to be passed on: no user info
// in URLs, the token and secrets masked, valid UTF-8, no control
// characters, at most maxMessageLen bytes.
func cleanMessage(msg string, token Token, secrets ...string) string {
	// Secrets first: dropping user info could cut one that holds "://"
	// and "@" so that it no longer matches.
	msg = maskSecret(msg, string(token))
	for _, s := range secrets {
		msg = maskSecret(msg, s)
	}
	msg = dropUserinfo(msg)
	msg = strings.ToValidUTF8(msg, "\uFFFD")
	msg = strings.Map(func(r rune) rune {
		if r < 0x20 || r >= 0x7f && r <= 0x9f { // C0 and C1 controls, DEL
			return ' '
		}
		return r
	}, msg)
	msg = strings.TrimSpace(msg)
	if len(msg) > maxMessageLen {
		cut := maxMessageLen
		for cut > 0 && !utf8.RuneStart(msg[cut]) {
			cut--
		}
		msg = msg[:cut] + "…"
	}
	return msg
}

// maskSecret masks s in msg as it is and URL-encoded (as a query value
// and as a path): an upstream that echoes a form or a URL echoes it so.
func maskSecret(msg, s string) string {
	if s == "" {
		return msg
	}
	for _, form := range [...]string{s, url.QueryEscape(s), url.PathEscape(s)} {
		msg = strings.ReplaceAll(msg, form, redacted)
	}
	return msg
}

// dropUserinfo removes the user info of every URL in msg:
// https://partner:s3cret@host/x becomes https://host/x. Its password need
// not be the token, and its user name is half a credential. The authority
// ends at the first /, ?, #, \ or space; user info ends at its last @, as
// url.Parse reads it.
func dropUserinfo(msg string) string {
	var b strings.Builder
	for {
		i := strings.Index(msg, "://")
		if i < 0 {
			break
		}
		i += len("://")
		b.WriteString(msg[:i])
		msg = msg[i:]
		authority := msg
		if end := strings.IndexFunc(msg, endsAuthority); end >= 0 {
			authority = msg[:end]
		}
		if at := strings.LastIndexByte(authority, '@'); at >= 0 {
			msg = msg[at+1:]
		}
	}
	if b.Len() == 0 {
		return msg
	}
	b.WriteString(msg)
	return b.String()
}

func endsAuthority(r rune) bool {
	return r == '/' || r == '?' || r == '#' || r == '\\' || unicode.IsSpace(r)
}
