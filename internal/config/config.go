package config

import (
	"errors"
	"fmt"
	"log/slog"
	"math"
	"net/netip"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/botpenguin-gateway/gateway/internal/auth"
)

// Config is every setting of the gateway, from the environment (see the
// README's configuration table).
type Config struct {
	Addr          string
	MetricsAddr   string
	ShutdownDelay time.Duration
	BaseURL       string
	APIKey        string
	AccessTokens  []string
	WriteTokens   []string
	LoginTokens   []string
	ReadOnly      bool
	// GrantAllScopes gives every client every scope: set by -demo, never
	// by the environment.
	GrantAllScopes       bool
	AllowUnauthenticated bool
	UpstreamTimeout      time.Duration
	RequestTimeout       time.Duration
	UpstreamRetries      int
	UpstreamRetryMaxWait time.Duration
	UpstreamConcurrency  int
	BreakerCooldown      time.Duration
	CacheTTL             time.Duration
	CacheStaleIfError    time.Duration
	CacheMaxEntries      int
	CacheKeySecret       string
	ScanMaxPages         int
	MaxPage              int
	Playground           bool
	Introspection        bool
	CORSAllowedOrigins   []string
	LogLevel             slog.Level
	MaxBodyBytes         int64
	RedisURL             string
	CoalesceRequests     bool
	CompressResponses    bool
	MaxComplexity        int
	MaxDepth             int
	MaxAliases           int
	MaxTokens            int
	MaxFields            int
	MaxFragments         int
	MaxDirectives        int
	TrustedDocuments     *TrustedDocuments
	RateLimitRPS         float64
	RateLimitBurst       int
	TrustedProxies       []netip.Prefix
	// OTLPEndpoint is the OpenTelemetry collector traces are exported to;
	// "" exports none.
	OTLPEndpoint    string
	OTELServiceName string
}

// Load reads the configuration through getenv. Every bad value is
// reported, each naming its variable; none is replaced by its default.
func Load(getenv func(string) string) (Config, error) {
	p := parser{getenv: getenv}
	cfg := Config{
		Addr:                 p.str("ADDR", ":8080"),
		MetricsAddr:          p.str("METRICS_ADDR", ""),
		ShutdownDelay:        p.duration("SHUTDOWN_DELAY", 5*time.Second, false),
		BaseURL:              p.baseURL("BOTPENGUIN_BASE_URL", "https://api.v7.botpenguin.com"),
		APIKey:               p.secret("BOTPENGUIN_API_KEY"),
		AccessTokens:         p.tokens("GATEWAY_ACCESS_TOKENS"),
		AllowUnauthenticated: p.boolean("ALLOW_UNAUTHENTICATED", false),
		WriteTokens:          p.tokens("GATEWAY_WRITE_TOKENS"),
		LoginTokens:          p.tokens("GATEWAY_LOGIN_TOKENS"),
		ReadOnly:             p.boolean("READ_ONLY", false),
		UpstreamTimeout:      p.duration("UPSTREAM_TIMEOUT", 10*time.Second, true),
		RequestTimeout:       p.duration("REQUEST_TIMEOUT", 30*time.Second, true),
		UpstreamRetries:      p.integer("UPSTREAM_RETRIES", 2, 0, 10),
		UpstreamRetryMaxWait: p.duration("UPSTREAM_RETRY_MAX_WAIT", 2*time.Second, false),
		UpstreamConcurrency:  p.integer("UPSTREAM_MAX_CONCURRENCY", 64, 0, 100000),
		BreakerCooldown:      p.duration("UPSTREAM_BREAKER_COOLDOWN", 5*time.Second, true),
		CacheTTL:             p.duration("CACHE_TTL", 0, false),
		CacheStaleIfError:    p.duration("CACHE_STALE_IF_ERROR", 0, false),
		CacheMaxEntries:      p.integer("CACHE_MAX_ENTRIES", 10000, 1, 10_000_000),
		CacheKeySecret:       getenv("CACHE_KEY_SECRET"),
		ScanMaxPages:         p.integer("CUSTOMER_SCAN_MAX_PAGES", 50, 1, 10000),
		MaxPage:              p.integer("MAX_PAGE", 10000, 1, 1<<30),
		Playground:           p.boolean("PLAYGROUND", true),
		Introspection:        p.boolean("INTROSPECTION", true),
		CORSAllowedOrigins:   p.origins("CORS_ALLOWED_ORIGINS"),
		LogLevel:             p.level("LOG_LEVEL", slog.LevelInfo),
		MaxBodyBytes:         int64(p.integer("MAX_BODY_BYTES", 1<<20, 1, 1<<30)),
		RedisURL:             p.redisURL("REDIS_URL"),
		CoalesceRequests:     p.boolean("COALESCE_REQUESTS", true),
		CompressResponses:    p.boolean("COMPRESS_RESPONSES", true),
		MaxComplexity:        p.integer("MAX_COMPLEXITY", 1000, 0, 1<<30),
		MaxDepth:             p.integer("MAX_DEPTH", 10, 0, 1000),
		MaxAliases:           p.integer("MAX_ALIASES", 30, 0, 10000),
		MaxTokens:            p.integer("MAX_TOKENS", 15000, 0, 1<<24),
		MaxFields:            p.integer("MAX_FIELDS", 1000, 0, 1<<24),
		MaxFragments:         p.integer("MAX_FRAGMENTS", 200, 0, 1<<24),
		MaxDirectives:        p.integer("MAX_DIRECTIVES", 50, 0, 1<<24),
		TrustedDocuments:     p.trustedDocuments("TRUSTED_DOCUMENTS"),
		RateLimitRPS:         p.float("RATE_LIMIT_RPS", 0),
		RateLimitBurst:       p.integer("RATE_LIMIT_BURST", 0, 0, 1<<20),
		TrustedProxies:       p.prefixes("TRUSTED_PROXIES"),
		OTLPEndpoint:         p.otlpEndpoint("OTEL_EXPORTER_OTLP_ENDPOINT"),
		OTELServiceName:      p.str("OTEL_SERVICE_NAME", "botpenguin-gateway"),
	}
	clientTokens := map[string][]string{
		"GATEWAY_ACCESS_TOKENS": cfg.AccessTokens,
		"GATEWAY_WRITE_TOKENS":  cfg.WriteTokens,
		"GATEWAY_LOGIN_TOKENS":  cfg.LoginTokens,
	}
	anyClientToken := false
	for _, name := range []string{"GATEWAY_ACCESS_TOKENS", "GATEWAY_WRITE_TOKENS", "GATEWAY_LOGIN_TOKENS"} {
		if len(clientTokens[name]) > 0 {
			anyClientToken = true
			if cfg.APIKey == "" {
				p.fail(name, "only applies in server-key mode (set BOTPENGUIN_API_KEY)")
			}
		}
	}
	if cfg.APIKey != "" && !anyClientToken && !cfg.AllowUnauthenticated {
		p.fail("GATEWAY_ACCESS_TOKENS", "required in server-key mode (BOTPENGUIN_API_KEY is set) unless ALLOW_UNAUTHENTICATED=true or GATEWAY_WRITE_TOKENS or GATEWAY_LOGIN_TOKENS is set")
	}
	switch {
	case cfg.CacheKeySecret != "" && len(cfg.CacheKeySecret) < 16:
		p.fail("CACHE_KEY_SECRET", "must be at least 16 bytes")
	case cfg.CacheKeySecret == "" && cfg.RedisURL != "":
		p.fail("CACHE_KEY_SECRET", "required with REDIS_URL, which shares the page cache and idempotency keys: give every replica the same random value of at least 16 bytes")
	}
	return cfg, errors.Join(p.errs...)
}

// parser collects one error per bad variable. An empty value counts as
// unset.
type parser struct {
	getenv func(string) string
	errs   []error
}

func (p *parser) fail(name, format string, args ...any) {
	p.errs = append(p.errs, fmt.Errorf("%s: "+format, append([]any{name}, args...)...))
}

func (p *parser) str(name, def string) string {
	if v := strings.TrimSpace(p.getenv(name)); v != "" {
		return v
	}
	return def
}

func (p *parser) boolean(name string, def bool) bool {
	v := strings.TrimSpace(p.getenv(name))
	switch strings.ToLower(v) {
	case "":
		return def
	case "true":
		return true
	case "false":
		return false
	}
	p.fail(name, "must be true or false, got %q", v)
	return def
}

func (p *parser) duration(name string, def time.Duration, positive bool) time.Duration {
	v := strings.TrimSpace(p.getenv(name))
	if v == "" {
		return def
	}
	d, err := time.ParseDuration(v)
	switch {
	case err != nil:
		p.fail(name, "invalid duration %q (use e.g. 500ms, 10s, 1m)", v)
	case d < 0:
		p.fail(name, "must not be negative, got %q", v)
	case d == 0 && positive:
		p.fail(name, "must be greater than zero, got %q", v)
	default:
		return d
	}
	return def
}

func (p *parser) integer(name string, def, minimum, maximum int) int {
	v := strings.TrimSpace(p.getenv(name))
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	switch {
	case err != nil:
		p.fail(name, "invalid integer %q", v)
	case n < minimum || n > maximum:
		p.fail(name, "must be between %d and %d, got %d", minimum, maximum, n)
	default:
		return n
	}
	return def
}

func (p *parser) float(name string, def float64) float64 {
	v := strings.TrimSpace(p.getenv(name))
	if v == "" {
		return def
	}
	f, err := strconv.ParseFloat(v, 64)
	switch {
	case err != nil || math.IsNaN(f) || math.IsInf(f, 0):
		p.fail(name, "invalid number %q", v)
	case f < 0:
		p.fail(name, "must not be negative, got %q", v)
	default:
		return f
	}
	return def
}

func (p *parser) list(name string) []string {
	var out []string
	for _, item := range strings.Split(p.getenv(name), ",") {
		if item = strings.TrimSpace(item); item != "" {
			out = append(out, item)
		}
	}
	return out
}

func (p *parser) level(name string, def slog.Level) slog.Level {
	v := strings.TrimSpace(p.getenv(name))
	switch strings.ToLower(v) {
	case "":
		return def
	case "debug":
		return slog.LevelDebug
	case "info":
		return slog.LevelInfo
	case "warn":
		return slog.LevelWarn
	case "error":
		return slog.LevelError
	}
	p.fail(name, "must be debug, info, warn or error, got %q", v)
	return def
}

// baseURL accepts http(s)://host[:port] with no path, query or credentials:
// the key travels in a header, never in the URL.
func (p *parser) baseURL(name, def string) string {
	v := strings.TrimSpace(p.getenv(name))
	if v == "" {
		return def
	}
	// "/" alone (say, "${MOCK_URL}/" with MOCK_URL unset) is a mistake, not
	// a request for the default.
	v = strings.TrimRight(v, "/")
	u, err := url.Parse(v)
	switch {
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		p.fail(name, "must be an http or https URL such as https://api.v7.botpenguin.com")
	case u.User != nil:
		p.fail(name, "must not hold credentials; set BOTPENGUIN_API_KEY instead")
	case u.RawQuery != "" || u.Fragment != "":
		p.fail(name, "must not have a query or fragment")
	default:
		return v
	}
	return def
}

// origins accepts scheme://host[:port] entries. An entry with "*" is
// refused, "*" itself because the contract never allows every origin, and
// any other because the CORS library reads a "*" inside an origin as a
// wildcard: https://* would let every HTTPS site in, with credentials.
func (p *parser) origins(name string) []string {
	var out, bad []string
	for _, o := range p.list(name) {
		u, err := url.Parse(o)
		if err == nil && u.User != nil {
			// Never echo it: the entry may hold a password.
			bad = append(bad, "an entry with credentials")
			continue
		}
		if strings.Contains(o, "*") || err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" ||
			(u.Path != "" && u.Path != "/") {
			bad = append(bad, strconv.Quote(o))
			continue
		}
		out = append(out, u.Scheme+"://"+u.Host)
	}
	if len(bad) > 0 {
		p.fail(name, "entries must be origins such as https://app.example.com, got %s", strings.Join(bad, ", "))
	}
	return out
}

// prefixes reads IP addresses and CIDR prefixes.
func (p *parser) prefixes(name string) []netip.Prefix {
	var out []netip.Prefix
	var bad []string
	for _, entry := range p.list(name) {
		prefix, ok := parsePrefix(entry)
		if !ok {
			bad = append(bad, strconv.Quote(entry))
			continue
		}
		out = append(out, prefix)
	}
	if len(bad) > 0 {
		p.fail(name, "entries must be IP addresses or CIDR prefixes such as 10.0.0.0/8, got %s", strings.Join(bad, ", "))
	}
	return out
}

// parsePrefix reads "10.0.0.1" (a prefix of its full length) or
// "10.0.0.0/8". IPv4 written as IPv6 (::ffff:10.0.0.1) is read as IPv4, as
// client addresses are; an IPv6 zone is refused, as it names no network.
func parsePrefix(entry string) (netip.Prefix, bool) {
	if addr, err := netip.ParseAddr(entry); err == nil {
		if addr.Zone() != "" {
			return netip.Prefix{}, false
		}
		addr = addr.Unmap()
		return netip.PrefixFrom(addr, addr.BitLen()), true
	}
	prefix, err := netip.ParsePrefix(entry)
	if err != nil {
		return netip.Prefix{}, false
	}
	if prefix.Addr().Is4In6() && prefix.Bits() >= 96 {
		prefix = netip.PrefixFrom(prefix.Addr().Unmap(), prefix.Bits()-96)
	}
	return prefix.Masked(), true
}

// redisURL checks the shape only; reaching Redis is never a start-up
// condition (see the README).
func (p *parser) redisURL(name string) string {
	v := strings.TrimSpace(p.getenv(name))
	if v == "" {
		return ""
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "redis" && u.Scheme != "rediss") || u.Host == "" {
		// Never echo the value: it may hold a password.
		p.fail(name, "must look like redis://[:password@]host:port/db")
		return ""
	}
	return v
}

// otlpEndpoint accepts an http or https URL with a host, such as
// http://collector:4318 (OpenTelemetry's OTLP/HTTP endpoint).
func (p *parser) otlpEndpoint(name string) string {
	v := strings.TrimSpace(p.getenv(name))
	if v == "" {
		return ""
	}
	u, err := url.Parse(v)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		p.fail(name, "must be an http or https URL such as http://collector:4318")
		return ""
	}
	return v
}

// trustedDocuments loads the manifest at start, so that a missing or broken
// one stops the start rather than the first request.
func (p *parser) trustedDocuments(name string) *TrustedDocuments {
	path := strings.TrimSpace(p.getenv(name))
	if path == "" {
		return nil
	}
	docs, err := LoadTrustedDocuments(path)
	if err != nil {
		p.fail(name, "%v", err)
		return nil
	}
	return docs
}

// secret reads a key that goes upstream in a header. Its value is never
// printed.
func (p *parser) secret(name string) string {
	v := strings.TrimSpace(p.getenv(name))
	if v != "" && !auth.Sendable(v) {
		p.fail(name, "must be printable ASCII without spaces, at most 4096 bytes")
	}
	return v
}

// tokens reads the client access tokens; one a client could never send
// is refused, without printing it.
func (p *parser) tokens(name string) []string {
	out := p.list(name)
	for _, t := range out {
		if !auth.Sendable(t) {
			p.fail(name, "tokens must be printable ASCII without spaces, at most 4096 bytes")
			break
		}
	}
	return out
}
