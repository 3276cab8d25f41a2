// Package jsonstr decodes JSON strings for the decoders that read JSON by
// hand, where encoding/json's reflection cost too much: upstream pages and
// GraphQL POST bodies. Each is fuzzed against encoding/json.
package jsonstr

import (
	"strconv"
	"unicode/utf8"
)

// Unescape decodes the body of a JSON string (between its quotes) as
// encoding/json does, or reports false where encoding/json would replace
// something: invalid UTF-8, a \u escape of a surrogate (a pair included).
// It assumes no unescaped quote or control byte, which a scanner has
// refused before.
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
