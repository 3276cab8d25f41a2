package app_test

import (
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"net/url"
	"regexp"
	"slices"
	"strings"
)

// outputKind is a kind of output the gateway makes, as a bit set.
type outputKind uint8

const (
	kindLog outputKind = 1 << iota
	kindPanic
	kindMetric
	kindSpan
	kindRedisKey
	kindRedisValue
	kindAnswer

	allKinds = kindLog | kindPanic | kindMetric | kindSpan | kindRedisKey | kindRedisValue | kindAnswer
)

func (k outputKind) String() string {
	return map[outputKind]string{kindLog: "log line", kindPanic: "panic output", kindMetric: "metric",
		kindSpan: "span", kindRedisKey: "Redis key", kindRedisValue: "Redis value", kindAnswer: "answer"}[k]
}

// canary is a value that must not appear in the outputs of forbidIn.
type canary struct {
	name     string
	value    string
	forbidIn outputKind
}

// output is one thing the gateway output, and the login tokens it may hold.
type output struct {
	kind    outputKind
	label   string
	text    string
	allowed map[string]bool
}

// scanner searches outputs for canaries, in every encoding they could take
// on the way (see formsOf and decodings), and for the login tokens of
// loginKeys (key → whose) outside the answers that asked for them.
type scanner struct {
	canaries  []canary
	loginKeys map[string]string
	forms     map[string][]form // by canary value
	leaks     []string
}

// check notes a leak for each canary that o holds where it must not, and
// for each login token it holds that it did not ask for.
func (s *scanner) check(o output) {
	texts := decodings(o.text)
	seen := map[string]bool{}
	leak := func(what, form, found string) {
		if seen[what] {
			return
		}
		seen[what] = true
		s.leaks = append(s.leaks, fmt.Sprintf("%s %q holds %s (%s form): …%s…", o.kind, o.label, what, form, excerpt(found)))
	}
	for _, c := range s.canaries {
		if c.forbidIn&o.kind == 0 {
			continue
		}
		for _, f := range s.formsOf(c.value) {
			for n, t := range texts {
				if i := strings.Index(t, f.text); i >= 0 {
					form := f.name
					if n > 0 {
						form += ", once decoded"
					}
					leak("the "+c.name+" canary", form, around(t, i, len(f.text)))
				}
			}
		}
	}
	for _, t := range texts {
		for _, run := range hexRun.FindAllString(t, -1) {
			run = strings.ToLower(run)
			for i := 0; i+64 <= len(run); i++ {
				k := run[i : i+64]
				if who, ok := s.loginKeys[k]; ok && !o.allowed[k] {
					leak("the login token of "+who, "hex", k)
				}
			}
		}
	}
}

// form is a canary as it would look encoded one way.
type form struct{ name, text string }

// formsOf is v as it would look encoded: raw, JSON-escaped, URL-escaped
// (query and path), in base64 (standard and URL alphabets, the part of v
// that encodes the same wherever v starts on a 3-byte boundary) and hex;
// each distinct text once, the plainest name first.
func (s *scanner) formsOf(v string) []form {
	if f, ok := s.forms[v]; ok {
		return f
	}
	b := []byte(v)
	aligned := b[:len(b)/3*3]
	j, _ := json.Marshal(v)
	var forms []form
	for _, f := range []form{
		{"raw", v},
		{"JSON-escaped", string(j[1 : len(j)-1])},
		{"query-escaped", url.QueryEscape(v)},
		{"path-escaped", url.PathEscape(v)},
		{"base64", base64.StdEncoding.EncodeToString(aligned)},
		{"base64url", base64.URLEncoding.EncodeToString(aligned)},
		{"hex", hex.EncodeToString(b)},
		{"HEX", strings.ToUpper(hex.EncodeToString(b))},
	} {
		if !slices.ContainsFunc(forms, func(g form) bool { return g.text == f.text }) {
			forms = append(forms, f)
		}
	}
	if s.forms == nil {
		s.forms = map[string][]form{}
	}
	s.forms[v] = forms
	return forms
}

var (
	base64Run = regexp.MustCompile(`[A-Za-z0-9+/_-]{12,}={0,2}`)
	hexRun    = regexp.MustCompile(`[0-9a-fA-F]{16,}`)
)

// decodings is text and what it decodes to, three levels deep: the strings
// of a JSON document (unescaped), URL-unescaped text, and the bytes of
// base64 and hex runs, so that a secret inside an encoded value (a JSON
// []byte field is base64) is found however it is aligned there.
func decodings(text string) []string {
	seen := map[string]bool{}
	var out []string
	var walk func(string, int)
	walk = func(t string, depth int) {
		if seen[t] || len(t) < 4 {
			return
		}
		seen[t] = true
		out = append(out, t)
		if depth == 0 {
			return
		}
		var doc any
		if (strings.HasPrefix(t, "{") || strings.HasPrefix(t, "[") || strings.HasPrefix(t, `"`)) && json.Unmarshal([]byte(t), &doc) == nil {
			for _, s := range jsonStrings(doc) {
				walk(s, depth-1)
			}
		}
		if strings.Contains(t, "%") {
			walk(unescape(t, false), depth-1)
			walk(unescape(t, true), depth-1)
		}
		for _, run := range base64Run.FindAllString(t, -1) {
			run = strings.TrimRight(run, "=")
			for _, enc := range []*base64.Encoding{base64.RawStdEncoding, base64.RawURLEncoding} {
				if b, err := enc.DecodeString(run); err == nil {
					walk(string(b), depth-1)
				}
			}
		}
		for _, run := range hexRun.FindAllString(t, -1) {
			if b, err := hex.DecodeString(run[:len(run)/2*2]); err == nil {
				walk(string(b), depth-1)
			}
		}
	}
	walk(text, 3)
	return out
}

// jsonStrings is every string of a decoded JSON document, keys included.
func jsonStrings(v any) []string {
	switch v := v.(type) {
	case string:
		return []string{v}
	case []any:
		var out []string
		for _, e := range v {
			out = append(out, jsonStrings(e)...)
		}
		return out
	case map[string]any:
		var out []string
		for k, e := range v {
			out = append(out, k)
			out = append(out, jsonStrings(e)...)
		}
		return out
	}
	return nil
}

// unescape decodes every valid %XX of s, leaving the rest, and with plus
// every + as a space (query encoding).
func unescape(s string, plus bool) string {
	var b strings.Builder
	for i := 0; i < len(s); i++ {
		switch {
		case s[i] == '%' && i+2 < len(s) && isHex(s[i+1]) && isHex(s[i+2]):
			v, _ := hex.DecodeString(s[i+1 : i+3])
			b.Write(v)
			i += 2
		case s[i] == '+' && plus:
			b.WriteByte(' ')
		default:
			b.WriteByte(s[i])
		}
	}
	return b.String()
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

// around is t around its n bytes at i, for a readable failure.
func around(t string, i, n int) string {
	from, to := max(0, i-60), min(len(t), i+n+60)
	return t[from:to]
}

func excerpt(s string) string {
	return strings.ToValidUTF8(s, "?")
}
