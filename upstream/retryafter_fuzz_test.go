package upstream

import (
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"
)

// FuzzRetryAfterHeader checks parseRetryAfter against RFC 9110's
// Retry-After = HTTP-date / delay-seconds (1*DIGIT), for any header value:
// never a panic, never a negative wait, no wait without ok; digits mean
// that many seconds (as strconv reads them); an HTTP date means the time
// until then, or zero when it has passed; anything else is not ok.
func FuzzRetryAfterHeader(f *testing.F) {
	for _, seed := range []string{
		"0", "1", "120", " 5 ", "\t30\t", "007", "4294967296", "9223372036", "9223372037",
		"Wed, 21 Oct 2015 07:28:00 GMT", "Thu, 26 Nov 2026 12:00:30 GMT", "Thursday, 26-Nov-26 12:01:00 GMT",
		"Thu Nov 26 12:00:05 2026", "", " ", "-1", "+5", "1.5", "1e3", "5s", "0x10", "١٢", "120, 5",
	} {
		f.Add(seed)
	}
	const maxSecs = uint64(1<<63-1) / uint64(time.Second)
	f.Fuzz(func(t *testing.T, v string) {
		d, ok := parseRetryAfter(v, fuzzNow)
		if d < 0 {
			t.Fatalf("%q: negative wait %s", v, d)
		}
		if !ok && d != 0 {
			t.Fatalf("%q: wait %s without ok", v, d)
		}
		s := strings.TrimSpace(v)
		switch {
		case s == "":
			if ok {
				t.Fatalf("%q: ok for an empty value", v)
			}
		case allDigits(s):
			n, err := strconv.ParseUint(s, 10, 64)
			switch {
			case err == nil:
				want := time.Duration(min(n, maxSecs)) * time.Second
				if !ok || d != want {
					t.Fatalf("%q: got %s, %v; want %s", v, d, ok, want)
				}
				if n < 1<<31 {
					if i, err := strconv.Atoi(s); err != nil || d != time.Duration(i)*time.Second {
						t.Fatalf("%q: %s is not %d seconds", v, d, i)
					}
				}
			case ok && d != time.Duration(maxSecs)*time.Second:
				// Beyond uint64: if read at all, then as the longest wait.
				t.Fatalf("%q: got %s", v, d)
			}
		default:
			at, err := http.ParseTime(s)
			switch {
			case err != nil:
				if ok {
					t.Fatalf("%q: neither seconds nor an HTTP date, but read as %s", v, d)
				}
			case !ok || d != max(at.Sub(fuzzNow), 0):
				t.Fatalf("%q: date %s read as %s, %v", v, at, d, ok)
			}
		}
	})
}

func allDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}
