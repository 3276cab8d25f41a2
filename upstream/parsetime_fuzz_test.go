package upstream

import (
	"bytes"
	"regexp"
	"testing"
	"time"

	"github.com/botpenguin-gateway/gateway/graph/model"
)

// emittedDateTime is the DateTime scalar as the contract writes it: RFC 3339
// UTC with exactly three fractional digits, as a JSON string.
var emittedDateTime = regexp.MustCompile(`^"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z"$`)

// FuzzUpstreamTime follows an upstream time string to the client: any
// string parseTime accepts is a UTC instant that the graph (model.DateTime)
// emits as exactly "YYYY-MM-DDTHH:MM:SS.mmmZ" (26 bytes with the quotes),
// and that emitted text parses back, in both parsers, to the same instant
// truncated to the millisecond. parseTime and the DateTime scalar accept
// the same strings, and parseTime's fast path (parseUTC) reads what it
// takes exactly as time.Parse does.
func FuzzUpstreamTime(f *testing.F) {
	for _, seed := range []string{
		"2024-04-02T07:06:03.910Z", "2024-04-02T07:06:03Z", "2024-04-02T06:00:00.123456789+05:30",
		"2024-04-02T07:06:03.9Z", "2024-04-02t07:06:03z", "2024-04-02 07:06:03Z", "2024-02-29T23:59:59.9999999999Z",
		"0001-01-01T00:00:00Z", "9999-12-31T23:59:59.999Z", "0000-01-01T00:00:00-00:01", "9999-12-31T23:59:59.999+00:01", "1970-01-01T00:00:00-00:00",
		"2024-04-02T07:06:03", "2024-13-01T00:00:00Z", "2024-04-02T24:00:00Z", "2024-04-02T07:06:60Z",
		"2024-04-02T07:06:03+24:00", "+2024-04-02T07:06:03Z", "", "yesterday",
		"2023-02-29T00:00:00Z", "2000-02-29T00:00:00.5Z", "1900-02-29T00:00:00Z", "2024-04-31T00:00:00Z", "2024-04-02T07:06:03.Z",
		"2024-04-02T07:06:03.1234567890Z", "2024-04-02T07:06:03,123Z", "2024-04-02T07:06:03.12a3Z", "2024-0a-02T07:06:03Z", "2024-04-00T07:06:03Z",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, s string) {
		if fast, ok := parseUTC(s); ok {
			slow, err := time.Parse(time.RFC3339Nano, s)
			if err != nil || fast != slow.UTC() {
				t.Fatalf("%q: parseUTC %v, time.Parse %v, %v", s, fast, slow.UTC(), err)
			}
		}
		tm, err := parseTime(s)
		var dt model.DateTime
		if scalarErr := dt.UnmarshalGQL(s); (err == nil) != (scalarErr == nil) {
			t.Fatalf("%q: parseTime %v, DateTime %v", s, err, scalarErr)
		}
		if err != nil {
			return
		}
		if tm.Location() != time.UTC || !tm.Equal(dt.Time) {
			t.Fatalf("%q: parseTime %s, DateTime %s", s, tm, dt.Time)
		}
		var buf bytes.Buffer
		model.DateTime{Time: tm}.MarshalGQL(&buf)
		out := buf.String()
		if len(out) != 26 || !emittedDateTime.MatchString(out) {
			t.Fatalf("%q emitted as %s (%d bytes)", s, out, len(out))
		}
		back, err := parseTime(out[1 : len(out)-1])
		if err != nil {
			t.Fatalf("%q emitted as %s, which does not parse: %v", s, out, err)
		}
		if want := tm.Truncate(time.Millisecond); !back.Equal(want) {
			t.Fatalf("%q emitted as %s = %s, want %s", s, out, back, want)
		}
	})
}
