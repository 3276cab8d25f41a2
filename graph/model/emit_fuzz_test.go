package model

import (
	"bytes"
	"regexp"
	"strings"
	"testing"
	"time"
)

var emittedDateTime = regexp.MustCompile(`^"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{3}Z"$`)

// FuzzDateTimeEmit: for any string, UnmarshalGQL either refuses it or
// yields an instant that MarshalGQL writes as exactly
// "YYYY-MM-DDTHH:MM:SS.mmmZ" (26 bytes with the quotes, ending in Z) and
// that reads back as the same instant truncated to the millisecond. An
// RFC 3339 input always has a four-digit year (0000-9999), so its output
// must have one too. A refusal quotes the input safely, on one line.
func FuzzDateTimeEmit(f *testing.F) {
	for _, seed := range []string{
		"2024-04-02T07:06:03.910Z", "2024-04-02T09:06:03.910987654+02:00", "2024-04-02T07:06:03Z",
		"2024-04-02T07:06:03.1Z", "2024-04-02T07:06:03,123Z", "2024-04-02T07:06:03.123-00:00",
		"0001-01-01T00:00:00Z", "0000-01-01T00:00:00Z", "0000-01-01T00:00:00-00:01", "9999-12-31T23:59:59.999+00:01", "9999-12-31T23:59:59.999999999Z", "2024-02-29T12:00:00Z",
		"2023-02-29T12:00:00Z", "2024-04-02T07:06Z", "2024-04-02", "1712041563", "", "yesterday", "\n\"",
	} {
		f.Add(seed)
	}
	f.Fuzz(func(t *testing.T, in string) {
		var d DateTime
		if err := d.UnmarshalGQL(in); err != nil {
			if strings.ContainsAny(err.Error(), "\r\n") {
				t.Fatalf("%q refused with %q", in, err)
			}
			return
		}
		var buf bytes.Buffer
		d.MarshalGQL(&buf)
		out := buf.String()
		if len(out) != 26 || !emittedDateTime.MatchString(out) || !strings.HasSuffix(out, `Z"`) {
			t.Fatalf("%q emitted as %s (%d bytes)", in, out, len(out))
		}
		var back DateTime
		if err := back.UnmarshalGQL(out[1 : len(out)-1]); err != nil {
			t.Fatalf("%q emitted as %s, which does not parse: %v", in, out, err)
		}
		if want := d.Truncate(time.Millisecond); !back.Equal(want) {
			t.Fatalf("%q emitted as %s = %s, want %s", in, out, back.UTC(), want.UTC())
		}
		// Emitting is stable: the read-back instant is written the same way.
		buf.Reset()
		back.MarshalGQL(&buf)
		if buf.String() != out {
			t.Fatalf("%q: %s, then %s", in, out, buf.String())
		}
	})
}

// FuzzAppendJSON: for any instant, AppendJSON writes the bytes that
// time.AppendFormat writes with the layout, quoted.
func FuzzAppendJSON(f *testing.F) {
	for _, seed := range []int64{0, -62135596800, -62167219200, 253402300799, 253402300800, 1712041563, -1} {
		f.Add(seed, int64(910_000_000))
	}
	f.Add(int64(1712041563), int64(999_999_999))
	f.Fuzz(func(t *testing.T, sec, nsec int64) {
		d := DateTime{time.Unix(sec, nsec)}
		want := `"` + d.UTC().Format(dateTimeLayout) + `"`
		if got := string(d.AppendJSON(nil)); got != want {
			t.Fatalf("%d.%09d: %s, want %s", sec, nsec, got, want)
		}
	})
}
