package gateway

import (
	"strings"
	"testing"
)

// configVars are the variables LoadConfig reads, for FuzzLoadConfig.
var configVars = []string{
	"ADDR", "BOTPENGUIN_BASE_URL", "BOTPENGUIN_API_KEY", "GATEWAY_ACCESS_TOKENS", "ALLOW_UNAUTHENTICATED",
	"UPSTREAM_TIMEOUT", "UPSTREAM_RETRIES", "UPSTREAM_RETRY_MAX_WAIT", "UPSTREAM_MAX_CONCURRENCY",
	"UPSTREAM_BREAKER_COOLDOWN", "CACHE_TTL", "CACHE_STALE_IF_ERROR", "CACHE_MAX_ENTRIES",
	"CUSTOMER_SCAN_MAX_PAGES", "MAX_PAGE", "PLAYGROUND", "INTROSPECTION", "CORS_ALLOWED_ORIGINS", "LOG_LEVEL",
	"MAX_BODY_BYTES", "REDIS_URL", "COALESCE_REQUESTS", "MAX_COMPLEXITY", "MAX_DEPTH", "MAX_ALIASES",
	"RATE_LIMIT_RPS", "RATE_LIMIT_BURST",
}

// FuzzLoadConfig sets one variable to any value: LoadConfig never panics,
// refuses with one line that starts with that variable's name, and never
// echoes the password of a URL. What it accepts is within bounds.
func FuzzLoadConfig(f *testing.F) {
	f.Add(uint8(5), "10s")
	f.Add(uint8(5), "-1s")
	f.Add(uint8(20), "redis://:hunter2@host:6379/0")
	f.Add(uint8(20), "redis://:hunter2@[::1")
	f.Add(uint8(1), "https://user:hunter2@example.com")
	f.Add(uint8(17), "*")
	f.Add(uint8(25), "NaN")
	f.Add(uint8(6), "99999999999999999999")
	f.Fuzz(func(t *testing.T, which uint8, value string) {
		name := configVars[int(which)%len(configVars)]
		if name == "BOTPENGUIN_API_KEY" || name == "GATEWAY_ACCESS_TOKENS" {
			return // the auth mode combinations have their own tests
		}
		cfg, err := LoadConfig(func(n string) string {
			if n == name {
				return value
			}
			return ""
		})
		if err != nil {
			msg := err.Error()
			if !strings.HasPrefix(msg, name+": ") || strings.Contains(msg, "\n") {
				t.Fatalf("%s=%q: %q", name, value, msg)
			}
			hasCredentials := name == "REDIS_URL" || name == "BOTPENGUIN_BASE_URL"
			if hasCredentials && strings.Contains(value, "hunter2") && strings.Contains(msg, "hunter2") {
				t.Fatalf("%s=%q: password echoed: %q", name, value, msg)
			}
			return
		}
		if cfg.UpstreamTimeout <= 0 || cfg.UpstreamRetryMaxWait < 0 || cfg.CacheTTL < 0 || cfg.CacheStaleIfError < 0 ||
			cfg.BreakerCooldown <= 0 || cfg.UpstreamRetries < 0 || cfg.UpstreamRetries > 10 || cfg.MaxPage < 1 ||
			cfg.ScanMaxPages < 1 || cfg.MaxBodyBytes < 1 || cfg.RateLimitRPS < 0 || cfg.UpstreamConcurrency < 0 {
			t.Fatalf("%s=%q accepted out of bounds: %+v", name, value, cfg)
		}
		for _, o := range cfg.CORSAllowedOrigins {
			if o == "*" || strings.Contains(o, "@") {
				t.Fatalf("origin %q accepted", o)
			}
		}
	})
}
