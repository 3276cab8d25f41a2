package upstream

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"
	"unicode"
	"unicode/utf8"
)

// fuzzToken is the caller's token in FuzzResponseDecode. Seeds put it into
// upstream messages and records; no error text may ever show it.
const fuzzToken Token = "tok-Q7f3x9Zk2"

var fuzzNow = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

// decodeAnswer is what an attempt of Customers.List does with an answer
// it has read: the one-pass decoder for a good 2xx page, else
// CheckResponse (the upstream's message cleaned) and decodePage.
func decodeAnswer(status int, retryAfter string, body []byte) (Page, error) {
	return decodeList(fuzzResponse(status, retryAfter, body))
}

// decodeCarefully is the slow path alone: CheckResponse, then decodePage.
func decodeCarefully(status int, retryAfter string, body []byte) (Page, error) {
	return decodeListCarefully(fuzzResponse(status, retryAfter, body))
}

func fuzzResponse(status int, retryAfter string, body []byte) response {
	h := http.Header{}
	if retryAfter != "" {
		h.Set("Retry-After", retryAfter)
	}
	return response{
		http: &http.Response{StatusCode: status, Header: h}, body: body,
		token: fuzzToken, now: func() time.Time { return fuzzNow },
	}
}

var sentinels = []error{ErrUnauthorized, ErrForbidden, ErrRateLimited, ErrUnavailable, ErrBadResponse}

// kindForStatus is the contract's table from an HTTP status (or an
// envelope code) to the error kind.
func kindForStatus(code int) error {
	switch {
	case code == 401:
		return ErrUnauthorized
	case code == 403:
		return ErrForbidden
	case code == 429:
		return ErrRateLimited
	case code >= 500 && code <= 599:
		return ErrUnavailable
	}
	return ErrBadResponse
}

// FuzzResponseDecode feeds any upstream answer (status, Retry-After, body)
// through the client's decoding. It never panics, and either:
//   - fails with an *Error that wraps exactly one sentinel, the one the
//     contract's table gives for the status (or the envelope code of a 2xx
//     success:false), with the upstream status, a non-negative Retry-After
//     only on a rate limit, and a message fit for clients (valid UTF-8, no
//     control characters, bounded, the token masked); or
//   - returns a Page with one entry (customer or invalid record) per element
//     of the data array, every customer with an id and the createdAt of its
//     record; re-encoding the customers and decoding them again gives the
//     same customers.
//
// The one-pass decoder and the careful path must agree on every 2xx body
// the one-pass decoder accepts.
func FuzzResponseDecode(f *testing.F) {
	type seed struct {
		status     uint16
		retryAfter string
		body       string
	}
	for _, s := range []seed{
		{200, "", `{"success":true,"message":"","data":[],"code":200}`},
		{200, "", `{"success":true,"message":"","code":200,"data":[{"_id":"6610000a","name":"Kevin v3","contact":{"email":"kevin+4@monday101.com"},"verified":true,"status":"ACTIVE","subscriptionType":"v2","createdAt":"2024-04-02T07:06:03.910Z","updatedAt":"2024-04-02T13:57:16.513Z","lastLogin":"2024-04-02T09:48:04.402Z"}]}`},
		{200, "", `{"success":true,"data":[{"_id":"a","createdAt":"2024-04-02T06:00:00.123456789+05:30","contact":null,"lastLogin":null,"x":[1,{"y":2}]},{"_id":"b","createdAt":"2024-04-02T07:06:03Z","contact":{}}]}`},
		{200, "", `{"success":true,"data":[{"_id":""},{"_id":5},"x",null,1,[],{"_id":"a","createdAt":"bad"},{"_id":"b"},{"_id":"c","createdAt":"2024-04-02T07:06:03Z","name":7}]}`},
		{200, "", `{"success":true,"data":{"_id":"a"}}`},
		{200, "", `{"success":true,"data":null}`},
		{200, "", `{"success":true}`},
		{200, "", `{"success":"true","data":[]}`},
		{200, "", `{"success":false,"message":"Unauthorized tok-Q7f3x9Zk2","data":null,"code":401}`},
		{200, "7", `{"success":false,"message":"slow down","code":429}`},
		{200, "", `{"success":false,"message":"boom","code":503}`},
		{200, "", `{"success":false,"message":"nope","code":404}`},
		{401, "", `{"success":false,"message":"invalid key tok-Q7f3x9Zk2","code":401}`},
		{403, "", `{"message":"forbidden"}`},
		{429, "120", `{"success":false,"message":"rate limited","code":429}`},
		{429, "Wed, 21 Oct 2015 07:28:00 GMT", ``},
		{502, "", `<html>Bad Gateway</html>`},
		{301, "", ``},
		{204, "", ``},
		{200, "", ` 	{"success":true,"data":[]} `},
		{200, "", `[]`},
		{200, "", `null`},
	} {
		f.Add(s.status-100, s.retryAfter, []byte(s.body)) // the status is 100 + st%500
	}
	f.Fuzz(func(t *testing.T, st uint16, retryAfter string, body []byte) {
		status := 100 + int(st)%500 // 100..599
		page, err := decodeAnswer(status, retryAfter, body)
		checkOwnsMemory(t, status, retryAfter, body, page, err)
		if err != nil {
			checkAnswerError(t, status, err)
			return
		}
		if status < 200 || status > 299 {
			t.Fatalf("HTTP %d decoded as a page", status)
		}
		checkPage(t, body, page)

		// Both paths of a 2xx answer agree.
		if _, ok := decodeGoodPage(body); ok {
			careful, err := decodeCarefully(status, retryAfter, body)
			if err != nil {
				t.Fatalf("the one-pass decoder accepted a body the careful path refuses: %v", err)
			}
			if !reflect.DeepEqual(careful, page) {
				t.Fatalf("decoders disagree:\none-pass %+v\ncareful  %+v", page, careful)
			}
		}

		// Round trip: the kept customers, encoded as the upstream would,
		// decode to the same customers.
		enc, err := json.Marshal(wireOf(page.Customers))
		if err != nil {
			t.Fatal(err)
		}
		again, err := decodePage(enc)
		if err != nil {
			t.Fatalf("re-encoded page refused: %v\n%s", err, enc)
		}
		if len(again.Invalid) != 0 || len(again.Customers) != len(page.Customers) {
			t.Fatalf("re-encoded page: %d customers, invalid %+v; want %d customers\n%s",
				len(again.Customers), again.Invalid, len(page.Customers), enc)
		}
		for i := range page.Customers {
			if !sameCustomerExactly(page.Customers[i], again.Customers[i]) {
				t.Fatalf("customer %d changed in a round trip:\n%+v\n%+v", i, page.Customers[i], again.Customers[i])
			}
		}
	})
}

func checkAnswerError(t *testing.T, status int, err error) {
	t.Helper()
	var ue *Error
	if !errors.As(err, &ue) {
		t.Fatalf("error %v (%T) is not an *upstream.Error", err, err)
	}
	var kinds []error
	for _, s := range sentinels {
		if errors.Is(err, s) {
			kinds = append(kinds, s)
		}
	}
	if len(kinds) != 1 || ue.Kind != kinds[0] {
		t.Fatalf("error %q wraps %v, Kind %v; want exactly one sentinel", err, kinds, ue.Kind)
	}
	if ue.StatusCode != status {
		t.Fatalf("StatusCode %d, want %d", ue.StatusCode, status)
	}
	want := kindForStatus(status)
	if status >= 200 && status <= 299 {
		// A 2xx is a bad response unless it is a success:false envelope
		// whose code the table maps to another kind.
		want = kindForStatus(ue.EnvelopeCode)
	}
	if ue.Kind != want {
		t.Fatalf("HTTP %d (code %d) is %v, want %v", status, ue.EnvelopeCode, ue.Kind, want)
	}
	if ue.RetryAfter < 0 || (ue.RetryAfter != 0 && ue.Kind != ErrRateLimited) {
		t.Fatalf("RetryAfter %s on %v", ue.RetryAfter, ue.Kind)
	}
	if !ue.retryAfterKnown && ue.RetryAfter != 0 {
		t.Fatalf("RetryAfter %s but not known", ue.RetryAfter)
	}
	msg := ue.Message
	if !utf8.ValidString(msg) || len(msg) > maxMessageLen+len("…") || msg != strings.TrimSpace(msg) {
		t.Fatalf("message not cleaned: %q", msg)
	}
	for _, r := range msg {
		if unicode.IsControl(r) {
			t.Fatalf("control character in message %q", msg)
		}
	}
	if s := err.Error(); strings.Contains(s, string(fuzzToken)) {
		t.Fatalf("the token shows in the error: %q", s)
	}
	if !strings.HasPrefix(err.Error(), ue.Kind.Error()) || strings.ContainsAny(err.Error(), "\r\n") {
		t.Fatalf("error text %q", err.Error())
	}
	if ue.Err != nil {
		checkNamesNoValue(t, ue.Err.Error())
	}
}

var jsonKindWord = regexp.MustCompile(`a JSON (string|number|bool|array|object|null)(,| where|$)`)

// checkNamesNoValue checks a decoding error's text: it may name a field
// and the JSON kind found there, never a value from the body.
func checkNamesNoValue(t *testing.T, text string) {
	t.Helper()
	if strings.Count(text, "a JSON ") != len(jsonKindWord.FindAllString(text, -1)) {
		t.Fatalf("error text shows a value from the body: %q", text)
	}
}

// checkPage checks a decoded page against the data array of body.
func checkPage(t *testing.T, body []byte, page Page) {
	t.Helper()
	var env struct {
		Data json.RawMessage `json:"data"`
	}
	if err := json.Unmarshal(bytes.TrimSpace(body), &env); err != nil {
		t.Fatalf("a page from a body that is not JSON: %v", err)
	}
	var elems []json.RawMessage
	if err := json.Unmarshal(env.Data, &elems); err != nil {
		t.Fatalf("a page from data that is not an array: %s", env.Data)
	}
	if page.Len() != len(elems) {
		t.Fatalf("%d elements in data, %d customers + %d invalid", len(elems), len(page.Customers), len(page.Invalid))
	}
	if page.Stale || page.Age != 0 {
		t.Fatalf("fresh page marked stale or aged: %+v", page)
	}
	invalid := map[int]bool{}
	for i, r := range page.Invalid {
		if r.Index < 0 || r.Index >= len(elems) || (i > 0 && r.Index <= page.Invalid[i-1].Index) {
			t.Fatalf("invalid record indexes out of order or range: %+v", page.Invalid)
		}
		if r.Reason == "" || strings.Contains(r.Reason, string(fuzzToken)) {
			t.Fatalf("invalid record reason %q", r.Reason)
		}
		checkNamesNoValue(t, r.Reason)
		invalid[r.Index] = true
	}
	// The customers are the valid elements, in order.
	c := 0
	for i, raw := range elems {
		if invalid[i] {
			continue
		}
		cust := page.Customers[c]
		c++
		var w struct {
			ID        string `json:"_id"`
			CreatedAt string `json:"createdAt"`
		}
		if err := json.Unmarshal(raw, &w); err != nil {
			t.Fatalf("element %d kept as %+v but does not decode: %v", i, cust, err)
		}
		created, err := time.Parse(time.RFC3339Nano, w.CreatedAt)
		if cust.ID == "" || cust.ID != w.ID || err != nil || !cust.CreatedAt.Equal(created) ||
			cust.CreatedAt.Location() != time.UTC {
			t.Fatalf("element %d %s kept as %+v", i, raw, cust)
		}
		// The zero time.Time is a valid instant only when sent as such.
		if cust.CreatedAt.IsZero() && !created.IsZero() {
			t.Fatalf("element %d: zero createdAt", i)
		}
	}
}

// wireCustomerOut is a customer as the upstream sends it.
type wireCustomerOut struct {
	ID               string   `json:"_id"`
	Name             string   `json:"name"`
	Contact          *contact `json:"contact,omitempty"`
	Verified         bool     `json:"verified"`
	Status           string   `json:"status"`
	SubscriptionType *string  `json:"subscriptionType,omitempty"`
	CreatedAt        string   `json:"createdAt"`
	UpdatedAt        *string  `json:"updatedAt,omitempty"`
	LastLogin        *string  `json:"lastLogin"`
}

type contact struct {
	Email *string `json:"email"`
}

func wireOf(cs []Customer) []wireCustomerOut {
	out := []wireCustomerOut{}
	format := func(t *time.Time) *string {
		if t == nil {
			return nil
		}
		s := t.Format(time.RFC3339Nano)
		return &s
	}
	for _, c := range cs {
		w := wireCustomerOut{
			ID: c.ID, Name: c.Name, Verified: c.Verified, Status: c.Status, SubscriptionType: c.SubscriptionType,
			CreatedAt: c.CreatedAt.Format(time.RFC3339Nano), UpdatedAt: format(c.UpdatedAt), LastLogin: format(c.LastLogin),
		}
		if c.Email != nil {
			w.Contact = &contact{Email: c.Email}
		}
		out = append(out, w)
	}
	return out
}

func sameCustomerExactly(a, b Customer) bool {
	eqS := func(x, y *string) bool { return (x == nil) == (y == nil) && (x == nil || *x == *y) }
	eqT := func(x, y *time.Time) bool {
		return (x == nil) == (y == nil) && (x == nil || x.Equal(*y) && x.Location() == y.Location())
	}
	return a.ID == b.ID && a.Name == b.Name && eqS(a.Email, b.Email) && a.Verified == b.Verified &&
		a.Status == b.Status && eqS(a.SubscriptionType, b.SubscriptionType) &&
		a.CreatedAt.Equal(b.CreatedAt) && a.CreatedAt.Location() == b.CreatedAt.Location() &&
		eqT(a.UpdatedAt, b.UpdatedAt) && eqT(a.LastLogin, b.LastLogin)
}

// checkOwnsMemory decodes a copy of body, overwrites the copy, and wants
// the same page and error as from body: nothing decoded may point into
// the body, whose buffer the client reuses for the next answer.
func checkOwnsMemory(t *testing.T, status int, retryAfter string, body []byte, page Page, err error) {
	t.Helper()
	own := bytes.Clone(body)
	again, errAgain := decodeAnswer(status, retryAfter, own)
	for i := range own {
		own[i] = '#'
	}
	if !reflect.DeepEqual(again, page) {
		before, _ := json.Marshal(page) // follows the pointers, and shows the invalid records' ids
		after, _ := json.Marshal(again)
		t.Fatalf("the page changed when its body's buffer was overwritten:\nbefore %s\nafter  %s", before, after)
	}
	if fmt.Sprint(errAgain) != fmt.Sprint(err) {
		t.Fatalf("the error changed when its body's buffer was overwritten:\nbefore %v\nafter  %v", err, errAgain)
	}
}
