package model

import (
	"bytes"
	"regexp"
	"testing"
	"time"
)

var emitted = regexp.MustCompile(`^"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z"$`)

// FuzzDateTime: any accepted input is emitted as RFC 3339 UTC with exactly
// three fractional digits, and means the same instant, truncated to the
// millisecond.
func FuzzDateTime(f *testing.F) {
	for _, seed := range []string{
		"2024-04-02T07:06:03.910Z", "2024-04-02T09:06:03.910987654+02:00", "2024-04-02T07:06:03Z",
		"0001-01-01T00:00:00Z", "9999-12-31T23:59:59.999999999-23:59", "2024-02-30T00:00:00Z", "yesterday", "",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in string) {
		var d DateTime
		if d.UnmarshalGQL(in) != nil {
			return
		}
		if y := d.UTC().Year(); y < 0 || y > 9999 {
			return // RFC 3339 has four-digit years only
		}
		var buf bytes.Buffer
		d.MarshalGQL(&buf)
		out := buf.String()
		if !emitted.MatchString(out) {
			t.Fatalf("%q emitted as %s", in, out)
		}
		var back DateTime
		if err := back.UnmarshalGQL(out[1 : len(out)-1]); err != nil {
			t.Fatalf("%s does not parse back: %v", out, err)
		}
		if want := d.UTC().Truncate(time.Millisecond); !back.Equal(want) {
			t.Fatalf("%q → %s means %s, want %s", in, out, back.UTC(), want)
		}
	})
}
