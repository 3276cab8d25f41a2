package upstream

import (
	"encoding/json"
	"errors"
	"net/http"
	"reflect"
	"strconv"
	"strings"
	"testing"
	"time"
)

// FuzzDecodeBody feeds any body to both decoders of a 200 answer: the one-
// pass path for good pages and the careful path (checkResponse, then
// decodePage). Neither may panic, every kept customer is valid, nothing is
// lost, and when the fast path accepts a body the careful path agrees.
func FuzzDecodeBody(f *testing.F) {
	for _, seed := range []string{
		`{"success":true,"message":"","data":[],"code":200}`,
		`{"success":true,"data":[{"_id":"6610","name":"Kevin v3","contact":{"email":"k@x.com"},"verified":true,"status":"ACTIVE","subscriptionType":"v2","createdAt":"2024-04-02T07:06:03.910Z","updatedAt":"2024-04-02T13:57:16.513Z","lastLogin":null,"extra":{"a":[1]}}]}`,
		`{"success":true,"data":[{"_id":""},{"_id":5},"x",null,{"_id":"a","createdAt":"bad"}]}`,
		`{"success":false,"message":"Unauthorized","data":null,"code":401}`,
		`{"success":true,"data":{"a":1}}`,
		`{"success":true}`,
		`[]`, ``, `null`, `{"success":"yes","data":[]}`,
	} {
		f.Add([]byte(seed))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		fast, fastOK := decodeGoodPage(body)
		var careful Page
		data, err := checkResponse(&http.Response{StatusCode: 200, Header: http.Header{}}, body, time.Now())
		if err == nil {
			careful, err = decodePage(data)
		}
		if err != nil {
			var ue *Error
			if !errors.As(err, &ue) || ue.Kind == nil {
				t.Fatalf("error without a kind: %v", err)
			}
			if fastOK {
				t.Fatalf("fast path accepted what the careful path refused: %v", err)
			}
			return
		}
		var elems []json.RawMessage
		if json.Unmarshal(data, &elems) == nil && careful.Len() != len(elems) {
			t.Fatalf("%d records in, %d out", len(elems), careful.Len())
		}
		for _, c := range careful.Customers {
			if c.ID == "" || c.CreatedAt.IsZero() {
				t.Fatalf("invalid customer kept: %+v", c)
			}
		}
		if fastOK && !reflect.DeepEqual(fast, careful) {
			t.Fatalf("paths disagree:\nfast    %+v\ncareful %+v", fast, careful)
		}
	})
}

// FuzzParseRetryAfter: never negative, never a panic, and plain seconds
// mean what they say.
func FuzzParseRetryAfter(f *testing.F) {
	for _, seed := range []string{"0", "120", " 5 ", "Wed, 21 Oct 2015 07:28:00 GMT", "Sunday, 06-Nov-94 08:49:37 GMT", "-1", "+0", "1e3", "99999999999999999999"} {
		f.Add(seed)
	}
	now := time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)
	f.Fuzz(func(t *testing.T, v string) {
		d, ok := parseRetryAfter(v, now)
		if d < 0 {
			t.Fatalf("negative wait %s for %q", d, v)
		}
		if !ok && d != 0 {
			t.Fatalf("a wait %s without ok for %q", d, v)
		}
		// Retry-After's delay-seconds is 1*DIGIT: "+5" or "-0" are not seconds.
		s := strings.TrimSpace(v)
		if n, err := strconv.Atoi(s); err == nil && s != "" && strings.Trim(s, "0123456789") == "" && n < 1<<20 {
			if !ok || d != time.Duration(n)*time.Second {
				t.Fatalf("%q gave %s, %v", v, d, ok)
			}
		}
	})
}
