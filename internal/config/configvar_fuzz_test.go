package config

import (
	"log/slog"
	"math"
	"net/netip"
	"net/url"
	"reflect"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// varKind says how a configuration variable is read.
type varKind int

const (
	kindString varKind = iota
	kindBaseURL
	kindAPIKey
	kindTokens
	kindBool
	kindDuration
	kindPositiveDuration
	kindInt
	kindFloat
	kindSecret
	kindOrigins
	kindLevel
	kindRedisURL
	kindPrefixes
	kindOTLPURL
)

// configVar is one variable LoadConfig reads: how, within which bounds,
// where it lands in Config, and the other variables it needs to be tried
// alone (the auth mode ones depend on each other).
type configVar struct {
	name     string
	kind     varKind
	min, max int
	field    func(Config) any
	base     map[string]string
}

// configVarTable is indexed by the fuzz input: append new variables at the
// end, so that the committed corpus (testdata/fuzz/FuzzConfigVariable)
// keeps meaning what it says.
var configVarTable = []configVar{
	{name: "ADDR", kind: kindString, field: func(c Config) any { return c.Addr }},
	{name: "BOTPENGUIN_BASE_URL", kind: kindBaseURL, field: func(c Config) any { return c.BaseURL }},
	{name: "BOTPENGUIN_API_KEY", kind: kindAPIKey, field: func(c Config) any { return c.APIKey },
		base: map[string]string{"GATEWAY_ACCESS_TOKENS": "client-token"}},
	{name: "GATEWAY_ACCESS_TOKENS", kind: kindTokens, field: func(c Config) any { return c.AccessTokens },
		base: map[string]string{"BOTPENGUIN_API_KEY": "server-key"}},
	{name: "ALLOW_UNAUTHENTICATED", kind: kindBool, field: func(c Config) any { return c.AllowUnauthenticated }},
	{name: "UPSTREAM_TIMEOUT", kind: kindPositiveDuration, field: func(c Config) any { return c.UpstreamTimeout }},
	{name: "UPSTREAM_RETRIES", kind: kindInt, min: 0, max: 10, field: func(c Config) any { return c.UpstreamRetries }},
	{name: "UPSTREAM_RETRY_MAX_WAIT", kind: kindDuration, field: func(c Config) any { return c.UpstreamRetryMaxWait }},
	{name: "UPSTREAM_MAX_CONCURRENCY", kind: kindInt, min: 0, max: 100000, field: func(c Config) any { return c.UpstreamConcurrency }},
	{name: "UPSTREAM_BREAKER_COOLDOWN", kind: kindPositiveDuration, field: func(c Config) any { return c.BreakerCooldown }},
	{name: "CACHE_TTL", kind: kindDuration, field: func(c Config) any { return c.CacheTTL }},
	{name: "CACHE_STALE_IF_ERROR", kind: kindDuration, field: func(c Config) any { return c.CacheStaleIfError }},
	{name: "CACHE_MAX_ENTRIES", kind: kindInt, min: 1, max: 10_000_000, field: func(c Config) any { return c.CacheMaxEntries }},
	{name: "CACHE_KEY_SECRET", kind: kindSecret, field: func(c Config) any { return c.CacheKeySecret }},
	{name: "CUSTOMER_SCAN_MAX_PAGES", kind: kindInt, min: 1, max: 10000, field: func(c Config) any { return c.ScanMaxPages }},
	{name: "MAX_PAGE", kind: kindInt, min: 1, max: 1 << 30, field: func(c Config) any { return c.MaxPage }},
	{name: "PLAYGROUND", kind: kindBool, field: func(c Config) any { return c.Playground }},
	{name: "INTROSPECTION", kind: kindBool, field: func(c Config) any { return c.Introspection }},
	{name: "CORS_ALLOWED_ORIGINS", kind: kindOrigins, field: func(c Config) any { return c.CORSAllowedOrigins }},
	{name: "LOG_LEVEL", kind: kindLevel, field: func(c Config) any { return c.LogLevel }},
	{name: "MAX_BODY_BYTES", kind: kindInt, min: 1, max: 1 << 30, field: func(c Config) any { return int(c.MaxBodyBytes) }},
	{name: "REDIS_URL", kind: kindRedisURL, field: func(c Config) any { return c.RedisURL },
		base: map[string]string{"CACHE_KEY_SECRET": "0123456789abcdef"}},
	{name: "COALESCE_REQUESTS", kind: kindBool, field: func(c Config) any { return c.CoalesceRequests }},
	{name: "COMPRESS_RESPONSES", kind: kindBool, field: func(c Config) any { return c.CompressResponses }},
	{name: "MAX_COMPLEXITY", kind: kindInt, min: 0, max: 1 << 30, field: func(c Config) any { return c.MaxComplexity }},
	{name: "MAX_DEPTH", kind: kindInt, min: 0, max: 1000, field: func(c Config) any { return c.MaxDepth }},
	{name: "MAX_ALIASES", kind: kindInt, min: 0, max: 10000, field: func(c Config) any { return c.MaxAliases }},
	{name: "RATE_LIMIT_RPS", kind: kindFloat, field: func(c Config) any { return c.RateLimitRPS }},
	{name: "RATE_LIMIT_BURST", kind: kindInt, min: 0, max: 1 << 20, field: func(c Config) any { return c.RateLimitBurst }},
	{name: "TRUSTED_PROXIES", kind: kindPrefixes, field: func(c Config) any { return c.TrustedProxies }},
	{name: "METRICS_ADDR", kind: kindString, field: func(c Config) any { return c.MetricsAddr }},
	{name: "SHUTDOWN_DELAY", kind: kindDuration, field: func(c Config) any { return c.ShutdownDelay }},
	{name: "REQUEST_TIMEOUT", kind: kindPositiveDuration, field: func(c Config) any { return c.RequestTimeout }},
	{name: "MAX_TOKENS", kind: kindInt, min: 0, max: 1 << 24, field: func(c Config) any { return c.MaxTokens }},
	{name: "MAX_FIELDS", kind: kindInt, min: 0, max: 1 << 24, field: func(c Config) any { return c.MaxFields }},
	{name: "MAX_FRAGMENTS", kind: kindInt, min: 0, max: 1 << 24, field: func(c Config) any { return c.MaxFragments }},
	{name: "MAX_DIRECTIVES", kind: kindInt, min: 0, max: 1 << 24, field: func(c Config) any { return c.MaxDirectives }},
	{name: "OTEL_EXPORTER_OTLP_ENDPOINT", kind: kindOTLPURL, field: func(c Config) any { return c.OTLPEndpoint }},
	{name: "OTEL_SERVICE_NAME", kind: kindString, field: func(c Config) any { return c.OTELServiceName }},
	{name: "GATEWAY_WRITE_TOKENS", kind: kindTokens, field: func(c Config) any { return c.WriteTokens },
		base: map[string]string{"BOTPENGUIN_API_KEY": "server-key"}},
	{name: "GATEWAY_LOGIN_TOKENS", kind: kindTokens, field: func(c Config) any { return c.LoginTokens },
		base: map[string]string{"BOTPENGUIN_API_KEY": "server-key"}},
	{name: "READ_ONLY", kind: kindBool, field: func(c Config) any { return c.ReadOnly }},
}

// notFuzzed are variables LoadConfig reads that FuzzConfigVariable leaves
// alone: TRUSTED_DOCUMENTS is a file path that LoadConfig opens and reads
// (a fuzzed /dev/stdin would block); config_test.go covers it.
var notFuzzed = []string{"TRUSTED_DOCUMENTS"}

// urlPassword is put in front of the password of URLs written with
// credentials; no part of it may show in an error.
const urlPassword = "Sekr3tPw"

// FuzzConfigVariable sets one variable (by its index in configVarTable)
// to any value, the others being unset. LoadConfig never panics, and:
//   - a refusal is one line that starts with the variable's name and ": ",
//     never shows a credential (the API key, an access token, the cache
//     secret, or the password of a URL written with one), and happens
//     exactly when the value is bad for the variable's kind;
//   - an accepted value is the one given, never the default in its place
//     (except for an empty or blank value, which counts as unset): its
//     durations are not negative (positive where zero makes no sense), its
//     integers within the variable's bounds, its URLs of the right shape,
//     and its credentials ones that can be sent or presented.
func FuzzConfigVariable(f *testing.F) {
	// Every variable LoadConfig reads is in the table, so that a new one
	// is fuzzed too.
	var read []string
	_, _ = Load(func(name string) string { read = append(read, name); return "" })
	for _, name := range read {
		if !slices.ContainsFunc(configVarTable, func(v configVar) bool { return v.name == name }) &&
			!slices.Contains(notFuzzed, name) {
			f.Fatalf("LoadConfig reads %s: add it to configVarTable", name)
		}
	}

	index := func(name string) uint8 {
		return uint8(slices.IndexFunc(configVarTable, func(v configVar) bool { return v.name == name }))
	}
	for _, s := range []struct{ name, value string }{
		{"ADDR", "127.0.0.1:9000"},
		{"BOTPENGUIN_BASE_URL", "http://proxy.internal:8080/botpenguin/"},
		{"BOTPENGUIN_BASE_URL", "https://user:hunter2@api.v7.botpenguin.com"},
		{"BOTPENGUIN_BASE_URL", "https://api.v7.botpenguin.com?x=1"},
		{"BOTPENGUIN_API_KEY", "key-0123456789"},
		{"GATEWAY_ACCESS_TOKENS", " a, b ,,c "},
		{"GATEWAY_ACCESS_TOKENS", ","},
		{"ALLOW_UNAUTHENTICATED", "TRUE"},
		{"ALLOW_UNAUTHENTICATED", "yes"},
		{"UPSTREAM_TIMEOUT", "1500ms"},
		{"UPSTREAM_TIMEOUT", "0s"},
		{"UPSTREAM_RETRY_MAX_WAIT", "-1s"},
		{"UPSTREAM_RETRY_MAX_WAIT", "0"},
		{"CACHE_TTL", "2562047h47m16.854775807s"},
		{"CACHE_TTL", "2562048h"},
		{"UPSTREAM_RETRIES", "11"},
		{"UPSTREAM_RETRIES", "+3"},
		{"MAX_PAGE", "99999999999999999999"},
		{"MAX_BODY_BYTES", "0x10"},
		{"CACHE_KEY_SECRET", "0123456789abcdef"},
		{"CACHE_KEY_SECRET", "short-secret"},
		{"CORS_ALLOWED_ORIGINS", "https://app.example.com, http://localhost:3000/"},
		{"CORS_ALLOWED_ORIGINS", "*"},
		{"CORS_ALLOWED_ORIGINS", "https://*"},
		{"CORS_ALLOWED_ORIGINS", "https://*.example.com"},
		{"LOG_LEVEL", "DEBUG"},
		{"LOG_LEVEL", "trace"},
		{"REDIS_URL", "redis://:hunter2@localhost:6379/0"},
		{"REDIS_URL", "rediss://user:hunter2@[::1]:6380/1"},
		{"REDIS_URL", "redis://:hunter2@[::1"},
		{"REDIS_URL", "http://localhost:6379"},
		{"RATE_LIMIT_RPS", "NaN"},
		{"RATE_LIMIT_RPS", "1e400"},
		{"RATE_LIMIT_RPS", "0.5"},
		{"TRUSTED_PROXIES", "10.0.0.0/8, 192.168.1.7, ::ffff:172.16.0.0/108"},
		{"TRUSTED_PROXIES", "fe80::1%eth0"},
		{"PLAYGROUND", " false\t"},
		{"MAX_DEPTH", "\n"},
		{"OTEL_EXPORTER_OTLP_ENDPOINT", "http://collector:4318/"},
		{"OTEL_EXPORTER_OTLP_ENDPOINT", "collector:4318"},
		{"OTEL_EXPORTER_OTLP_ENDPOINT", "https://user:hunter2@collector:4318/otlp"},
		{"OTEL_SERVICE_NAME", " gateway-eu "},
	} {
		f.Add(index(s.name), s.value)
	}
	f.Fuzz(func(t *testing.T, which uint8, value string) {
		v := configVarTable[int(which)%len(configVarTable)]
		load := func(value string) (Config, error) {
			return Load(func(name string) string {
				if name == v.name {
					return value
				}
				return v.base[name]
			})
		}
		cfg, err := load(value)
		tv := strings.TrimSpace(value)
		if ok, known := wellFormed(v, tv); known && ok != (err == nil) {
			t.Fatalf("%s=%q: got %v, want accepted %v", v.name, value, err, ok)
		}
		if err != nil {
			checkConfigError(t, v, value, err, load)
			return
		}
		got := v.field(cfg)
		if tv == "" && v.kind != kindSecret && v.kind != kindAPIKey {
			def, err := load("")
			if err != nil {
				t.Fatalf("%s=%q accepted, but refused when unset: %v", v.name, value, err)
			}
			if !reflect.DeepEqual(got, v.field(def)) {
				t.Fatalf("%s=%q (blank) gives %#v, not the default %#v", v.name, value, got, v.field(def))
			}
			return
		}
		checkAccepted(t, v, value, got)
	})
}

// wellFormed is an oracle for the kinds with a simple grammar; known is
// false for the others.
func wellFormed(v configVar, tv string) (ok, known bool) {
	if tv == "" {
		return true, v.kind != kindAPIKey && v.kind != kindTokens && v.kind != kindSecret
	}
	switch v.kind {
	case kindBool:
		l := strings.ToLower(tv)
		return l == "true" || l == "false", true
	case kindLevel:
		return slices.Contains([]string{"debug", "info", "warn", "error"}, strings.ToLower(tv)), true
	case kindDuration, kindPositiveDuration:
		d, err := time.ParseDuration(tv)
		return err == nil && d >= 0 && (d > 0 || v.kind == kindDuration), true
	case kindInt:
		n, err := strconv.Atoi(tv)
		return err == nil && n >= v.min && n <= v.max, true
	case kindFloat:
		x, err := strconv.ParseFloat(tv, 64)
		return err == nil && !math.IsNaN(x) && !math.IsInf(x, 0) && x >= 0, true
	}
	return false, false
}

func checkConfigError(t *testing.T, v configVar, value string, err error, load func(string) (Config, error)) {
	t.Helper()
	msg := err.Error()
	names := []string{v.name}
	if v.kind == kindAPIKey || v.kind == kindTokens {
		names = []string{v.name, "BOTPENGUIN_API_KEY", "GATEWAY_ACCESS_TOKENS"}
	}
	if !slices.ContainsFunc(names, func(n string) bool { return strings.HasPrefix(msg, n+": ") }) {
		t.Fatalf("%s=%q refused with %q: it does not start with the variable's name", v.name, value, msg)
	}
	if strings.ContainsAny(msg, "\r\n") {
		t.Fatalf("%s=%q refused with more than one line: %q", v.name, value, msg)
	}
	switch v.kind {
	case kindAPIKey, kindTokens, kindSecret:
		// The refusal is the same whatever the credential's letters and
		// digits: it cannot show any of them.
		masked := []byte(value)
		for i, c := range masked {
			if c >= '0' && c <= '9' || c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' {
				masked[i] = 'x'
			}
		}
		if _, err2 := load(string(masked)); err2 == nil || err2.Error() != msg {
			t.Fatalf("%s=%q refused with %q, but with its letters and digits masked: %v", v.name, value, msg, err2)
		}
	case kindBaseURL, kindRedisURL, kindOTLPURL:
		// The same value with a password: the error shows none of it.
		if withPassword, ok := insertPassword(value); ok {
			if _, err2 := load(withPassword); err2 != nil && sharesWindow(err2.Error(), urlPassword) {
				t.Fatalf("%s=%q: the error shows the password: %q", v.name, withPassword, err2)
			}
		}
	}
}

// insertPassword puts urlPassword at the start of the password of a URL
// written as scheme://user:password@host..., when value is one whose user
// part ends at that ':' and holds no part of urlPassword already.
func insertPassword(value string) (string, bool) {
	i := strings.Index(value, "://")
	if i < 0 || sharesWindow(value, urlPassword) {
		return "", false
	}
	rest := value[i+3:]
	j := strings.IndexByte(rest, ':')
	if j < 0 || strings.ContainsAny(rest[:j], "/?#@") || !strings.Contains(rest[j:], "@") {
		return "", false
	}
	return value[:i+3] + rest[:j+1] + urlPassword + rest[j+1:], true
}

// sharesWindow reports whether s holds any 4 consecutive bytes of secret.
func sharesWindow(s, secret string) bool {
	for i := 0; i+4 <= len(secret); i++ {
		if strings.Contains(s, secret[i:i+4]) {
			return true
		}
	}
	return false
}

func checkAccepted(t *testing.T, v configVar, value string, got any) {
	t.Helper()
	tv := strings.TrimSpace(value)
	fail := func(why string) {
		t.Helper()
		t.Fatalf("%s=%q accepted as %#v: %s", v.name, value, got, why)
	}
	switch v.kind {
	case kindString:
		if got != tv {
			fail("not the value given")
		}
	case kindBool:
		if got != (strings.ToLower(tv) == "true") {
			fail("not the value given")
		}
	case kindLevel:
		var want slog.Level
		if want.UnmarshalText([]byte(tv)) != nil || got != want {
			fail("not the level given")
		}
	case kindDuration, kindPositiveDuration:
		d, _ := time.ParseDuration(tv)
		if got != d || d < 0 || (d == 0 && v.kind == kindPositiveDuration) {
			fail("out of bounds or not the value given")
		}
	case kindInt:
		n, _ := strconv.Atoi(tv)
		if got != n || n < v.min || n > v.max {
			fail("out of bounds or not the value given")
		}
	case kindFloat:
		x, _ := strconv.ParseFloat(tv, 64)
		if got != x || x < 0 || math.IsNaN(x) || math.IsInf(x, 0) {
			fail("out of bounds or not the value given")
		}
	case kindBaseURL:
		s := got.(string)
		u, err := url.Parse(s)
		if s != strings.TrimRight(tv, "/") || err != nil || (u.Scheme != "http" && u.Scheme != "https") ||
			u.Host == "" || u.User != nil || u.RawQuery != "" || u.Fragment != "" {
			fail("not an http(s) base URL without credentials, query or fragment")
		}
	case kindRedisURL:
		s := got.(string)
		u, err := url.Parse(s)
		if s != tv || err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") || u.Host == "" {
			fail("not a redis URL")
		}
	case kindOTLPURL:
		s := got.(string)
		u, err := url.Parse(s)
		if s != tv || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			fail("not an http(s) URL with a host")
		}
	case kindOrigins:
		var entries int
		for _, e := range strings.Split(value, ",") {
			if strings.TrimSpace(e) != "" {
				entries++
			}
		}
		origins := got.([]string)
		if len(origins) != entries {
			fail("entries dropped")
		}
		for _, o := range origins {
			u, err := url.Parse(o)
			if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" || u.User != nil ||
				o != u.Scheme+"://"+u.Host || strings.Contains(o, "*") {
				fail("not an origin: " + o)
			}
		}
	case kindSecret:
		if s := got.(string); s != value || (s != "" && len(s) < 16) {
			fail("not the secret given, or shorter than 16 bytes")
		}
	case kindAPIKey:
		// Sent upstream as "Authorization: Bearer <key>": a key with
		// surrounding whitespace or a control character would fail every
		// call, and a blank one is no key.
		s := got.(string)
		if s != value && s != tv {
			fail("not the key given")
		}
		if s != "" && (s != strings.TrimSpace(s) || strings.ContainsFunc(s, isControl)) {
			fail("a key that cannot be sent in a header as is")
		}
	case kindTokens:
		// Each token must be one a client can present as a bearer token:
		// at most 4096 bytes of printable ASCII without spaces.
		for _, tok := range got.([]string) {
			if tok == "" || len(tok) > 4096 || strings.ContainsFunc(tok, func(r rune) bool { return r <= ' ' || r >= 0x7f }) {
				fail("an access token no client can present: " + strconv.Quote(tok))
			}
		}
	case kindPrefixes:
		// Every entry is kept, as a network that a client address (IPv4
		// never written as IPv6) can be in.
		var entries int
		for _, e := range strings.Split(value, ",") {
			if strings.TrimSpace(e) != "" {
				entries++
			}
		}
		prefixes := got.([]netip.Prefix)
		if len(prefixes) != entries {
			fail("entries dropped")
		}
		for _, p := range prefixes {
			if !p.IsValid() || p != p.Masked() || p.Addr().Is4In6() || p.Addr().Zone() != "" {
				fail("not a network: " + p.String())
			}
		}
	}
}

func isControl(r rune) bool { return r < 0x20 || r == 0x7f }
