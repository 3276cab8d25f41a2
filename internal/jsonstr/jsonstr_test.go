package jsonstr

import (
	"encoding/json"
	"testing"
	"unicode/utf8"
)

// TestUnescapeDecodesAsEncodingJSON: what Unescape decodes, encoding/json
// decodes the same; what it refuses is what encoding/json would change
// (invalid UTF-8, surrogates) or refuse.
func TestUnescapeDecodesAsEncodingJSON(t *testing.T) {
	for _, tc := range []struct {
		body string
		ok   bool
	}{
		{`plain`, true},
		{`a\"b\\c\/d\be\ff\ng\rh\ti`, true},
		{`\u00e9 \u00E9 \u0000 \u2603`, true},
		{`é ☃ 😀`, true},
		{`\ud83d\ude00`, false}, // encoding/json joins the pair; left to it
		{`\ud800`, false},       // encoding/json writes U+FFFD
		{"\xff", false},         // encoding/json writes U+FFFD
		{`\x`, false},
		{`\u12`, false},
		{`\u12g4`, false},
		{`\`, false},
	} {
		got, ok := Unescape(tc.body)
		if ok != tc.ok {
			t.Errorf("%q: ok %v, want %v", tc.body, ok, tc.ok)
			continue
		}
		if !ok {
			continue
		}
		var want string
		if err := json.Unmarshal([]byte(`"`+tc.body+`"`), &want); err != nil || got != want {
			t.Errorf("%q: %q, encoding/json %q (%v)", tc.body, got, want, err)
		}
	}
}

// plain8 says plain for a word of plain bytes only: every byte value at
// every position of a word.
func TestPlain8FindsEveryByteToLookAt(t *testing.T) {
	for b := range 256 {
		special := b == '"' || b == '\\' || b < 0x20 || b >= utf8.RuneSelf
		for at := range 8 {
			w := []byte("aZ09 ~-a")
			w[at] = byte(b)
			if got := plain8(string(w)); got == special {
				t.Fatalf("plain8(%q) = %v", w, got)
			}
		}
	}
}
