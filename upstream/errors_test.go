package upstream

import (
	"encoding/json"
	"errors"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"
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
			if got != tt.want || ok != tt.wantOK {
				t.Errorf("parseRetryAfter(%q) = %v, %v; want %v, %v", tt.header, got, ok, tt.want, tt.wantOK)
			}
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
				if err != nil || len(data) == 0 || data[0] != '[' {
					t.Fatalf("checkResponse = %q, %v; want the data array", data, err)
				}
				return
			}
			var e *Error
			if !errors.As(err, &e) {
				t.Fatalf("checkResponse error = %v, want *Error", err)
			}
			if !errors.Is(err, tt.kind) || e.StatusCode != tt.status || e.EnvelopeCode != tt.envelopeCode ||
				e.Message != tt.message || e.RetryAfter != tt.retry {
				t.Errorf("got %#v (%v); want kind %v, status %d, envelope code %d, message %q, retry after %v",
					e, e, tt.kind, tt.status, tt.envelopeCode, tt.message, tt.retry)
			}
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
		if err := json.Unmarshal([]byte(body), &env); err != nil {
			t.Fatal(err)
		}
		if err != nil || string(data) != string(env.Data) {
			t.Errorf("CheckResponse(%s) = %s, %v; want the data", body, data, err)
		}
	}
	if data, err := CheckResponse(&http.Response{StatusCode: 201, Header: http.Header{}}, []byte(`{"success":true}`)); err != nil || data != nil {
		t.Errorf("no data: %s, %v; want none and no error", data, err)
	}

	req, _ := http.NewRequest(http.MethodPost, "https://example.com/customer/create", nil)
	req.Header.Set("Authorization", "Bearer sk-live-0a1b2c")
	resp := &http.Response{StatusCode: 422, Header: http.Header{}, Request: req}
	_, err := CheckResponse(resp, []byte(`{"success":false,"message":"key sk-live-0a1b2c may not create","code":422}`))
	var e *Error
	if !errors.As(err, &e) || !errors.Is(err, ErrBadResponse) || e.StatusCode != 422 || e.EnvelopeCode != 422 ||
		e.Message != "key [redacted] may not create" {
		t.Errorf("err = %#v (%v), want ErrBadResponse, HTTP 422 and the token masked", e, err)
	}
}

func TestErrorString(t *testing.T) {
	e := &Error{Kind: ErrUnauthorized, StatusCode: 200, EnvelopeCode: 401, Message: "Invalid key"}
	if got, want := e.Error(), "upstream: unauthorized (HTTP 200, code 401): Invalid key"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	e = &Error{Kind: ErrUnavailable, Err: &attemptTimeoutError{after: time.Second}}
	if got, want := e.Error(), "upstream: unavailable: no answer within 1s"; got != want {
		t.Errorf("Error() = %q, want %q", got, want)
	}
	if !e.Timeout() {
		t.Error("Timeout() = false, want true")
	}
}

func TestPublicMessageLeavesOutTheCause(t *testing.T) {
	dns := &net.DNSError{Err: "no such host", Name: "api.internal", Server: "10.255.255.53:53", IsNotFound: true}
	e := &Error{Kind: ErrUnavailable, Err: &net.OpError{Op: "dial", Net: "tcp", Err: dns}}
	if got, want := e.Public(), "upstream: unavailable"; got != want {
		t.Errorf("Public() = %q, want %q", got, want)
	}
	if got := e.Error(); !strings.Contains(got, "10.255.255.53") {
		t.Errorf("Error() = %q, want the cause for the logs", got)
	}
	e = &Error{Kind: ErrUnavailable, StatusCode: 503, Message: "Maintenance", Err: errors.New("detail")}
	if got, want := e.Public(), "upstream: unavailable (HTTP 503): Maintenance"; got != want {
		t.Errorf("Public() = %q, want %q", got, want)
	}
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
		if got := cleanMessage(tt.in, tok); got != tt.want {
			t.Errorf("cleanMessage(%q) = %q, want %q", tt.in, got, tt.want)
		}
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
		if got != tt.want || (err != nil) != (tt.want == "") {
			t.Errorf("cleanBaseURL(%q) = %q, %v; want %q", tt.in, got, err, tt.want)
		}
		if err != nil && strings.Contains(err.Error(), "hunter2") {
			t.Errorf("cleanBaseURL(%q) error %q shows the password", tt.in, err)
		}
	}
}

func TestBackoff(t *testing.T) {
	c := &Client{backoffBase: 100 * time.Millisecond, backoffCap: 2 * time.Second}
	for retry, ceil := range []time.Duration{100, 200, 400, 800, 1600, 2000, 2000, 2000} {
		ceil *= time.Millisecond
		for range 100 {
			if d := c.backoff(retry); d < 0 || d > ceil {
				t.Fatalf("backoff(%d) = %v, want within [0, %v]", retry, d, ceil)
			}
		}
	}
	if d := (&Client{}).backoff(3); d != 0 {
		t.Errorf("backoff with zero base = %v, want 0", d)
	}
	if d := c.backoff(100); d < 0 || d > 2*time.Second {
		t.Errorf("backoff(100) = %v, want within the cap", d)
	}
}
