// Package model holds the Go types of the graph: generated ones in
// models_gen.go and the DateTime scalar here.
package model

import (
	"fmt"
	"io"
	"strconv"
	"time"
)

// dateTimeLayout is RFC 3339 in UTC with exactly three fractional digits.
// Formatting truncates finer fractions, as the contract asks.
const dateTimeLayout = "2006-01-02T15:04:05.000Z"

// DateTime is the DateTime scalar: an instant, emitted as RFC 3339 UTC with
// millisecond precision (2024-04-02T07:06:03.910Z).
type DateTime struct{ time.Time }

// MarshalGQL writes the instant as a JSON string.
func (t DateTime) MarshalGQL(w io.Writer) {
	var buf [len(dateTimeLayout) + 8]byte
	_, _ = w.Write(t.AppendJSON(buf[:0]))
}

// AppendJSON appends the JSON string that MarshalGQL writes.
func (t DateTime) AppendJSON(b []byte) []byte {
	u := t.UTC()
	year, month, day := u.Date()
	if year < 0 || year > 9999 {
		b = append(b, '"')
		b = u.AppendFormat(b, dateTimeLayout)
		return append(b, '"')
	}
	// The one layout by hand: AppendFormat reads its layout anew for every
	// value, the largest part of rendering a page (FuzzAppendJSON holds
	// the two to the same bytes).
	hour, minute, sec := u.Clock()
	ms := u.Nanosecond() / int(time.Millisecond)
	return append(b, '"',
		byte('0'+year/1000), byte('0'+year/100%10), byte('0'+year/10%10), byte('0'+year%10), '-',
		byte('0'+int(month)/10), byte('0'+int(month)%10), '-',
		byte('0'+day/10), byte('0'+day%10), 'T',
		byte('0'+hour/10), byte('0'+hour%10), ':',
		byte('0'+minute/10), byte('0'+minute%10), ':',
		byte('0'+sec/10), byte('0'+sec%10), '.',
		byte('0'+ms/100), byte('0'+ms/10%10), byte('0'+ms%10), 'Z', '"')
}

// UnmarshalGQL accepts any RFC 3339 string, with or without fractions.
func (t *DateTime) UnmarshalGQL(v any) error {
	s, ok := v.(string)
	if !ok {
		return fmt.Errorf("DateTime must be an RFC 3339 string, got %T", v)
	}
	parsed, err := time.Parse(time.RFC3339Nano, s)
	if y := parsed.UTC().Year(); err != nil || y < 0 || y > 9999 {
		return fmt.Errorf("DateTime must be an RFC 3339 string with a year 0000-9999 in UTC: %s", strconv.Quote(s))
	}
	t.Time = parsed
	return nil
}
