package upstream

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"time"
)

// envelope is the upstream's answer:
// {"success": true, "message": "", "data": [...], "code": 200}.
type envelope struct {
	Success *bool           `json:"success"`
	Message string          `json:"message"`
	Code    int             `json:"code"`
	Data    json.RawMessage `json:"data"`
}

// parseEnvelope decodes body as an envelope. Anything that is not a JSON
// object with fields of the documented types is an error.
func parseEnvelope(body []byte) (envelope, error) {
	var env envelope
	body = bytes.TrimSpace(body)
	if len(body) == 0 || body[0] != '{' {
		return env, errors.New("body is not a JSON object")
	}
	if err := json.Unmarshal(body, &env); err != nil {
		return env, fmt.Errorf("envelope: %w", jsonErr(err))
	}
	return env, nil
}

// jsonErr rewords a json error without echoing any of the body's values.
func jsonErr(err error) error {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) {
		// te.Value may hold the literal ("number 2.5"): keep only its kind.
		kind, _, _ := strings.Cut(te.Value, " ")
		if te.Field != "" {
			return fmt.Errorf("field %q is a JSON %s, not %s", te.Field, kind, jsonKind(te.Type))
		}
		return fmt.Errorf("a JSON %s where %s was expected", kind, jsonKind(te.Type))
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return fmt.Errorf("invalid JSON at byte %d", se.Offset)
	}
	return errors.New("invalid JSON")
}

// jsonKind names the JSON type that decodes into t.
func jsonKind(t reflect.Type) string {
	if t == nil {
		return "another type"
	}
	for t.Kind() == reflect.Pointer {
		t = t.Elem()
	}
	switch t.Kind() {
	case reflect.String:
		return "a string"
	case reflect.Bool:
		return "a boolean"
	case reflect.Struct, reflect.Map:
		return "an object"
	case reflect.Slice, reflect.Array:
		return "an array"
	case reflect.Int, reflect.Int8, reflect.Int16, reflect.Int32, reflect.Int64,
		reflect.Uint, reflect.Uint8, reflect.Uint16, reflect.Uint32, reflect.Uint64,
		reflect.Float32, reflect.Float64:
		return "a number"
	}
	return "another type"
}

// wireCustomer is one element of the envelope's data array, as sent.
// Pointers tell a missing or null field from a zero value.
type wireCustomer struct {
	ID      *string `json:"_id"`
	Name    *string `json:"name"`
	Contact *struct {
		Email *string `json:"email"`
	} `json:"contact"`
	Verified         *bool   `json:"verified"`
	Status           *string `json:"status"`
	SubscriptionType *string `json:"subscriptionType"`
	CreatedAt        *string `json:"createdAt"`
	UpdatedAt        *string `json:"updatedAt"`
	LastLogin        *string `json:"lastLogin"`
}

// decodePage decodes the envelope's data array. One bad record does not
// spoil the page: it goes to Page.Invalid and the others are kept.
func decodePage(data []byte) (Page, error) {
	var p Page
	var times slab[time.Time]
	var fast []*wireCustomer
	if err := json.Unmarshal(data, &fast); err == nil {
		for i, w := range fast {
			p.add(i, w, &times)
		}
		return p, nil
	}
	// Slow path: some element has the wrong shape. Decode one by one so
	// that only that element is lost.
	var raws []json.RawMessage
	if err := json.Unmarshal(data, &raws); err != nil {
		return Page{}, &Error{Kind: ErrBadResponse, StatusCode: 200, Err: fmt.Errorf("data: %w", jsonErr(err))}
	}
	for i, raw := range raws {
		raw = bytes.TrimSpace(raw)
		if len(raw) == 0 || raw[0] != '{' {
			p.Invalid = append(p.Invalid, RecordError{Index: i, Reason: "record is not a JSON object"})
			continue
		}
		var w wireCustomer
		if err := json.Unmarshal(raw, &w); err != nil {
			p.Invalid = append(p.Invalid, RecordError{Index: i, ID: idOf(raw), Reason: jsonErr(err).Error()})
			continue
		}
		p.add(i, &w, &times)
	}
	return p, nil
}

// idOf returns the record's _id when it is a string, for error reports.
func idOf(raw []byte) string {
	var r struct {
		ID any `json:"_id"`
	}
	_ = json.Unmarshal(raw, &r)
	id, _ := r.ID.(string)
	return id
}

// add validates the record at index i and appends it to Customers or
// Invalid. Its optional times go to times.
func (p *Page) add(i int, w *wireCustomer, times *slab[time.Time]) {
	if w == nil {
		p.Invalid = append(p.Invalid, RecordError{Index: i, Reason: "record is not a JSON object"})
		return
	}
	c, err := w.customerWith(times)
	if err != nil {
		p.Invalid = append(p.Invalid, RecordError{Index: i, ID: c.ID, Reason: err.Error()})
		return
	}
	p.Customers = append(p.Customers, c)
}

// customer validates w and converts it. On error the returned Customer
// holds the ID when there was one. Error texts name fields, never values.
func (w *wireCustomer) customer() (Customer, error) { return w.customerWith(nil) }

// customerWith is customer with its optional times in times (nil: one
// allocation each).
func (w *wireCustomer) customerWith(times *slab[time.Time]) (Customer, error) {
	var c Customer
	if w.ID == nil || *w.ID == "" {
		return c, errors.New("missing _id")
	}
	c.ID = *w.ID
	if w.CreatedAt == nil {
		return c, errors.New("missing createdAt")
	}
	created, err := parseTime(*w.CreatedAt)
	if err != nil {
		return c, errors.New("createdAt is not an RFC 3339 time")
	}
	c.CreatedAt = created
	if w.UpdatedAt != nil {
		t, err := parseTime(*w.UpdatedAt)
		if err != nil {
			return c, errors.New("updatedAt is not an RFC 3339 time")
		}
		c.UpdatedAt = times.ptr(t)
	}
	if w.LastLogin != nil {
		t, err := parseTime(*w.LastLogin)
		if err != nil {
			return c, errors.New("lastLogin is not an RFC 3339 time")
		}
		c.LastLogin = times.ptr(t)
	}
	if w.Name != nil {
		c.Name = *w.Name
	}
	if w.Contact != nil {
		c.Email = w.Contact.Email
	}
	if w.Verified != nil {
		c.Verified = *w.Verified
	}
	if w.Status != nil {
		c.Status = *w.Status
	}
	c.SubscriptionType = w.SubscriptionType
	return c, nil
}

// parseTime reads an RFC 3339 time, as an instant in UTC of the years
// 0000-9999 (what the DateTime scalar can emit again).
func parseTime(s string) (time.Time, error) {
	if t, ok := parseUTC(s); ok {
		return t, nil
	}
	t, err := time.Parse(time.RFC3339Nano, s)
	if err != nil {
		return time.Time{}, err
	}
	// RFC 3339 has four-digit years: an offset must not push the instant
	// out of them, or it could not be emitted again.
	if y := t.UTC().Year(); y < 0 || y > 9999 {
		return time.Time{}, errors.New("time out of the years 0000-9999 in UTC")
	}
	return t.UTC(), nil
}

// parseUTC reads, without time.Parse, the form the upstream sends:
// "2006-01-02T15:04:05Z" with 0 to 9 digits of fraction, where time.Parse
// reads the layout anew for each of a page's 60 times, a fifth of decoding
// it. ok is false for anything else, which time.Parse reads (or refuses);
// FuzzUpstreamTime holds the two to the same instants.
func parseUTC(s string) (t time.Time, ok bool) {
	if len(s) < 20 || s[4] != '-' || s[7] != '-' || s[10] != 'T' || s[13] != ':' || s[16] != ':' || s[len(s)-1] != 'Z' {
		return time.Time{}, false
	}
	nsec := 0
	if frac := s[19 : len(s)-1]; frac != "" {
		if frac[0] != '.' || len(frac) < 2 || len(frac) > 10 {
			return time.Time{}, false
		}
		if nsec, ok = digits(frac[1:]); !ok {
			return time.Time{}, false
		}
		for range 10 - len(frac) {
			nsec *= 10
		}
	}
	year, ok1 := digits(s[0:4])
	month, ok2 := digits(s[5:7])
	day, ok3 := digits(s[8:10])
	hour, ok4 := digits(s[11:13])
	minute, ok5 := digits(s[14:16])
	sec, ok6 := digits(s[17:19])
	if !(ok1 && ok2 && ok3 && ok4 && ok5 && ok6) ||
		month < 1 || month > 12 || day < 1 || day > daysIn(month, year) ||
		hour > 23 || minute > 59 || sec > 59 {
		return time.Time{}, false
	}
	return time.Date(year, time.Month(month), day, hour, minute, sec, nsec, time.UTC), true
}

// digits is the value of s, all ASCII digits (at most 9 of them).
func digits(s string) (int, bool) {
	n := 0
	for i := 0; i < len(s); i++ {
		d := s[i] - '0'
		if d > 9 {
			return 0, false
		}
		n = n*10 + int(d)
	}
	return n, true
}

// daysIn is the number of days in month of year (proleptic Gregorian).
func daysIn(month, year int) int {
	switch month {
	case 2:
		if year%4 == 0 && (year%100 != 0 || year%400 == 0) {
			return 29
		}
		return 28
	case 4, 6, 9, 11:
		return 30
	}
	return 31
}
