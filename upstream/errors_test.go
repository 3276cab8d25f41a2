package upstream

import (
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestParseRetryAfter(t *testing.T) {
	now := time.Date(2024, 4, 2, 7, 0, 0, 0, time.UTC)
	tests := []struct {
		name   string
		header string
		want   time.Duration
		wantOK bool
	}{
		{"missing", "", 0, false},
		{"seconds", "3", 3 * time.Second, true},
		{"zero", "0", 0, true},
		{"spaces", " 7 ", 7 * time.Second, true},
		{"negative", "-1", 0, false},
		{"fraction", "1.5", 0, false},
		{"huge", "99999999999999999999", 0, false},
		{"very large", "9999999999999", time.Duration(1<<63-1) / time.Second * time.Second, true},
		{"http date", "Tue, 02 Apr 2024 07:00:30 GMT", 30 * time.Second, true},
		{"date in the past", "Tue, 02 Apr 2024 06:00:00 GMT", 0, true},
		{"rfc850 date", "Tuesday, 02-Apr-24 07:01:00 GMT", time.Minute, true},
		{"garbage", "soon", 0, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := parseRetryAfter(tt.header, now)
			assert.Equal(t, tt.want, got, "parseRetryAfter(%q)", tt.header)
			assert.Equal(t, tt.wantOK, ok, "parseRetryAfter(%q) ok", tt.header)
		})
	}
}

func TestCheckResponse(t *testing.T) {
	now := time.Date(2024, 4, 2, 7, 0, 0, 0, time.UTC)
	const ok = `{"success":true,"message":"","data":[],"code":200}`
	tests := []struct {
		name         string
		status       int
		retryAfter   string
		body         string
		kind         error // nil: success
		envelopeCode int
		message      string
		retry        time.Duration
	}{
		{"ok", 200, "", ok, nil, 0, "", 0},
		{"ok with data", 200, "", `{"success":true,"data":[{"_id":"a"}]}`, nil, 0, "", 0},
		{"401", 401, "", `{"success":false,"message":"Unauthorized","data":null,"code":401}`, ErrUnauthorized, 401, "Unauthorized", 0},
		{"401 no body", 401, "", ``, ErrUnauthorized, 0, "", 0},
		{"403", 403, "", `{"success":false,"message":"Forbidden","code":403}`, ErrForbidden, 403, "Forbidden", 0},
		{"429 seconds", 429, "5", `{"success":false,"code":429}`, ErrRateLimited, 429, "", 5 * time.Second},
		{"429 date", 429, "Tue, 02 Apr 2024 07:00:10 GMT", ``, ErrRateLimited, 0, "", 10 * time.Second},
		{"429 without retry-after", 429, "", ``, ErrRateLimited, 0, "", 0},
		{"500", 500, "", `<html>oops</html>`, ErrUnavailable, 0, "", 0},
		{"502", 502, "", ``, ErrUnavailable, 0, "", 0},
		{"503", 503, "", `{"success":false,"message":"down","code":503}`, ErrUnavailable, 503, "down", 0},
		{"400", 400, "", `{"success":false,"message":"bad page","code":400}`, ErrBadResponse, 400, "bad page", 0},
		{"404", 404, "", ``, ErrBadResponse, 0, "", 0},
		{"302", 302, "", ``, ErrBadResponse, 0, "", 0},
		{"200 not json", 200, "", `<html></html>`, ErrBadResponse, 0, "", 0},
		{"200 empty", 200, "", ``, ErrBadResponse, 0, "", 0},
		{"200 array", 200, "", `[]`, ErrBadResponse, 0, "", 0},
		{"200 data object", 200, "", `{"success":true,"data":{"customers":[]}}`, ErrBadResponse, 0, "", 0},
		{"200 data null", 200, "", `{"success":true,"data":null}`, ErrBadResponse, 0, "", 0},
		{"200 data missing", 200, "", `{"success":true}`, ErrBadResponse, 0, "", 0},
		{"200 success missing", 200, "", `{"data":[]}`, ErrBadResponse, 0, "", 0},
		{"200 success wrong type", 200, "", `{"success":"yes","data":[]}`, ErrBadResponse, 0, "", 0},
		{"200 trailing garbage", 200, "", ok + `x`, ErrBadResponse, 0, "", 0},
		{"200 false 401", 200, "", `{"success":false,"message":"Invalid key","data":null,"code":401}`, ErrUnauthorized, 401, "Invalid key", 0},
		{"200 false 403", 200, "", `{"success":false,"message":"no","code":403}`, ErrForbidden, 403, "no", 0},
		{"200 false 429", 200, "2", `{"success":false,"code":429}`, ErrRateLimited, 429, "", 2 * time.Second},
		{"200 false 503", 200, "", `{"success":false,"code":503}`, ErrUnavailable, 503, "", 0},
		{"200 false 418", 200, "", `{"success":false,"message":"teapot","code":418}`, ErrBadResponse, 418, "teapot", 0},
		{"200 false no code", 200, "", `{"success":false}`, ErrBadResponse, 0, "", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			resp := &http.Response{StatusCode: tt.status, Header: http.Header{}}
			if tt.retryAfter != "" {
				resp.Header.Set("Retry-After", tt.retryAfter)
			}
			data, err := checkResponse(resp, []byte(tt.body), now)
			if err == nil {
				// The data's shape is the endpoint's to check: the list's
				// must be an array.
				_, err = decodeListCarefully(response{http: resp, body: []byte(tt.body), now: func() time.Time { return now }})
			}
			if tt.kind == nil {
				require.NoError(t, err)
				require.NotEmpty(t, data, "want the data array")
				require.Equal(t, byte('['), data[0], "checkResponse = %q, want the data array", data)
				return
			}
			var e *Error
			require.ErrorAs(t, err, &e)
			assert.ErrorIs(t, err, tt.kind)
			assert.Equal(t, tt.status, e.StatusCode, "status")
			assert.Equal(t, tt.envelopeCode, e.EnvelopeCode, "envelope code")
			assert.Equal(t, tt.message, e.Message, "message")
			assert.Equal(t, tt.retry, e.RetryAfter, "retry after")
		})
	}
}

// CheckResponse, for any endpoint: the data of a success envelope comes
// back whatever its shape, and an upstream message never shows the
// request's token.
func TestCheckResponseForAnyEndpoint(t *testing.T) {
	for _, body := range []string{
		`{"success":true,"data":{"permanentToken":{"key":"k","active":true}}}`,
		`{"success":true,"data":[1]}`,
		`{"success":true,"data":null}`,
	} {
		data, err := CheckResponse(&http.Response{StatusCode: 200, Header: http.Header{}}, []byte(body))
		var env struct{ Data json.RawMessage }
		require.NoError(t, json.Unmarshal([]byte(body), &env))
		assert.NoError(t, err, "CheckResponse(%s)", body)
		assert.Equal(t, string(env.Data), string(data), "CheckResponse(%s): want the data", body)
	}
	data, err := CheckResponse(&http.Response{StatusCode: 201, Header: http.Header{}}, []byte(`{"success":true}`))
	assert.NoError(t, err, "no data")
	assert.Nil(t, data, "no data: want none")

	req, _ := http.NewRequest(http.MethodPost, "https://example.com/customer/create", nil)
	req.Header.Set("Authorization", "Bearer sk-live-0a1b2c")
	resp := &http.Response{StatusCode: 422, Header: http.Header{}, Request: req}
	_, err = CheckResponse(resp, []byte(`{"success":false,"message":"key sk-live-0a1b2c may not create","code":422}`))
	var e *Error
	if assert.ErrorAs(t, err, &e) {
		assert.ErrorIs(t, err, ErrBadResponse)
		assert.Equal(t, 422, e.StatusCode)
		assert.Equal(t, 422, e.EnvelopeCode)
		assert.Equal(t, "key [redacted] may not create", e.Message, "the token masked")
	}
}

func TestErrorString(t *testing.T) {
	e := &Error{Kind: ErrUnauthorized, StatusCode: 200, EnvelopeCode: 401, Message: "Invalid key"}
	assert.Equal(t, "upstream: unauthorized (HTTP 200, code 401): Invalid key", e.Error())
	e = &Error{Kind: ErrUnavailable, Err: &attemptTimeoutError{after: time.Second}}
	assert.Equal(t, "upstream: unavailable: no answer within 1s", e.Error())
	assert.True(t, e.Timeout())
}

func TestPublicMessageLeavesOutTheCause(t *testing.T) {
	dns := &net.DNSError{Err: "no such host", Name: "api.internal", Server: "10.255.255.53:53", IsNotFound: true}
	e := &Error{Kind: ErrUnavailable, Err: &net.OpError{Op: "dial", Net: "tcp", Err: dns}}
	assert.Equal(t, "upstream: unavailable", e.Public())
	assert.Contains(t, e.Error(), "10.255.255.53", "the cause, for the logs")
	e = &Error{Kind: ErrUnavailable, StatusCode: 503, Message: "Maintenance", Err: errors.New("detail")}
	assert.Equal(t, "upstream: unavailable (HTTP 503): Maintenance", e.Public())
}

func TestCleanMessage(t *testing.T) {
	const tok = Token("s3cr3t-key")
	tests := []struct{ in, want string }{
		{"Unauthorized", "Unauthorized"},
		{"invalid key s3cr3t-key given", "invalid key [redacted] given"},
		{"line\nbreak\x00", "line break"},
		{"bad \xff utf8", "bad \uFFFD utf8"},
		{strings.Repeat("é", 150), strings.Repeat("é", 100) + "…"},
	}
	for _, tt := range tests {
		assert.Equal(t, tt.want, cleanMessage(tt.in, tok), "cleanMessage(%q)", tt.in)
	}
}

func TestCleanBaseURL(t *testing.T) {
	tests := []struct {
		in, want string // want "" means an error
	}{
		{"https://api.v7.botpenguin.com", "https://api.v7.botpenguin.com"},
		{"https://api.v7.botpenguin.com/", "https://api.v7.botpenguin.com"},
		{"http://127.0.0.1:9700/prefix/", "http://127.0.0.1:9700/prefix"},
		{"", ""},
		{"api.v7.botpenguin.com", ""},
		{"ftp://host", ""},
		{"http://", ""},
		{"http://user:hunter2@host", ""},
		{"http://user:hunter2@host:bad", ""},
		{"https://host/?key=1", ""},
		{"https://host/#frag", ""},
	}
	for _, tt := range tests {
		got, err := cleanBaseURL(tt.in)
		assert.Equal(t, tt.want, got, "cleanBaseURL(%q)", tt.in)
		if tt.want == "" {
			assert.Error(t, err, "cleanBaseURL(%q)", tt.in)
		} else {
			assert.NoError(t, err, "cleanBaseURL(%q)", tt.in)
		}
		if err != nil {
			assert.NotContains(t, err.Error(), "hunter2", "cleanBaseURL(%q): the error shows the password", tt.in)
		}
	}
}

func TestBackoff(t *testing.T) {
	c := &Client{backoffBase: 100 * time.Millisecond, backoffCap: 2 * time.Second}
	for retry, ceil := range []time.Duration{100, 200, 400, 800, 1600, 2000, 2000, 2000} {
		ceil *= time.Millisecond
		for range 100 {
			d := c.backoff(retry)
			require.True(t, d >= 0 && d <= ceil, "backoff(%d) = %v, want within [0, %v]", retry, d, ceil)
		}
	}
	assert.Zero(t, (&Client{}).backoff(3), "backoff with zero base")
	d := c.backoff(100)
	assert.True(t, d >= 0 && d <= 2*time.Second, "backoff(100) = %v, want within the cap", d)
}

// An upstream message may name a URL: its user info goes entirely, user
// name included, whatever the password is; the rest of the URL stays.
func TestCleanMessageDropsUserinfo(t *testing.T) {
	const tok = Token("s3cr3t-key")
	tests := []struct{ in, want string }{
		{"see https://partner:s3cr3t-key@api.example.com/v1/x", "see https://api.example.com/v1/x"},
		{"see https://partner:hunter2@api.example.com/v1/x", "see https://api.example.com/v1/x"},
		{"see https://partner@api.example.com", "see https://api.example.com"},
		{"redis://:hunter2@10.0.0.7:6379/0 is down", "redis://10.0.0.7:6379/0 is down"},
		{"HTTPS://USER:PW@HOST?x=1 and ftp://a:b@c#f", "HTTPS://HOST?x=1 and ftp://c#f"},
		{"https://user:p@ss@host/path", "https://host/path"},
		{"https://user%40corp:pw@host", "https://host"},
		{"two: http://a:b@h1/ and http://c:d@h2", "two: http://h1/ and http://h2"},
		{"(https://u:p@host)", "(https://host)"},
		{"\"https://u:p@host\", next", "\"https://host\", next"},
		{"http://u:p@host\nnext line", "http://host next line"},
		{"https://host/a@b?mail=x@y.com#z@w", "https://host/a@b?mail=x@y.com#z@w"},
		{"https://host and mail@example.com", "https://host and mail@example.com"},
		{"email a@b.com is taken", "email a@b.com is taken"},
		{"no url ://", "no url ://"},
		{"://u:p@host", "://host"},
		{"https://https://u:p@host", "https://https://host"},
		{strings.Repeat("x", 190) + " https://partner:hunter2@host", strings.Repeat("x", 190) + " https://h…"},
	}
	for _, tt := range tests {
		got := cleanMessage(tt.in, tok)
		assert.Equal(t, tt.want, got, "cleanMessage(%q)", tt.in)
		assert.NotContains(t, got, "hunter2", "cleanMessage(%q)", tt.in)
		assert.NotContains(t, got, "partner", "cleanMessage(%q)", tt.in)
	}

	// Through the client's error, as a client reads it.
	_, err := checkAnswer(&http.Response{StatusCode: 422, Header: http.Header{}},
		[]byte(`{"success":false,"message":"fetch https://partner:s3cr3t-key@host/x failed","code":422}`), tok, time.Now())
	var e *Error
	require.ErrorAs(t, err, &e)
	assert.Equal(t, "upstream: bad response (HTTP 422): fetch https://host/x failed", e.Public())
}
