package config

import (
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func getenv(vars map[string]string) func(string) string {
	return func(name string) string { return vars[name] }
}

func TestLoadConfigDefaults(t *testing.T) {
	cfg, err := Load(getenv(nil))
	require.NoError(t, err)
	assert.Equal(t, Config{
		Addr:                 ":8080",
		ShutdownDelay:        5 * time.Second,
		BaseURL:              "https://api.v7.botpenguin.com",
		UpstreamTimeout:      10 * time.Second,
		RequestTimeout:       30 * time.Second,
		UpstreamRetries:      2,
		UpstreamRetryMaxWait: 2 * time.Second,
		UpstreamConcurrency:  64,
		BreakerCooldown:      5 * time.Second,
		ScanMaxPages:         50,
		MaxPage:              10000,
		Playground:           true,
		Introspection:        true,
		LogLevel:             slog.LevelInfo,
		MaxBodyBytes:         1 << 20,
		CacheMaxEntries:      10000,
		CoalesceRequests:     true,
		CompressResponses:    true,
		MaxComplexity:        1000,
		MaxDepth:             10,
		MaxAliases:           30,
		MaxTokens:            15000,
		MaxFields:            1000,
		MaxFragments:         200,
		MaxDirectives:        50,
		OTELServiceName:      "botpenguin-gateway",
	}, cfg)
}

func TestLoadConfigValues(t *testing.T) {
	cfg, err := Load(getenv(map[string]string{
		"ADDR":                        "127.0.0.1:9000",
		"BOTPENGUIN_BASE_URL":         "http://proxy.internal:8080/botpenguin/",
		"BOTPENGUIN_API_KEY":          "key",
		"GATEWAY_ACCESS_TOKENS":       " a, b ,,c ",
		"ALLOW_UNAUTHENTICATED":       "FALSE",
		"UPSTREAM_TIMEOUT":            "1500ms",
		"REQUEST_TIMEOUT":             "45s",
		"UPSTREAM_RETRIES":            "0",
		"UPSTREAM_RETRY_MAX_WAIT":     "0s",
		"CACHE_TTL":                   "30s",
		"CACHE_STALE_IF_ERROR":        "5m",
		"CACHE_MAX_ENTRIES":           "500",
		"CUSTOMER_SCAN_MAX_PAGES":     "7",
		"MAX_PAGE":                    "99",
		"PLAYGROUND":                  "false",
		"INTROSPECTION":               "false",
		"CORS_ALLOWED_ORIGINS":        "https://app.example.com, http://localhost:3000/",
		"LOG_LEVEL":                   "DEBUG",
		"MAX_BODY_BYTES":              "4096",
		"REDIS_URL":                   "redis://:pw@127.0.0.1:6379/2",
		"CACHE_KEY_SECRET":            "0123456789abcdef0123",
		"OTEL_EXPORTER_OTLP_ENDPOINT": " https://collector.internal:4318/otlp ",
		"OTEL_SERVICE_NAME":           "gateway-eu",
		"SOMETHING_ELSE":              "ignored",
	}))
	require.NoError(t, err)
	assert.Equal(t, "http://proxy.internal:8080/botpenguin", cfg.BaseURL)
	assert.Equal(t, []string{"a", "b", "c"}, cfg.AccessTokens)
	assert.Equal(t, 1500*time.Millisecond, cfg.UpstreamTimeout)
	assert.Equal(t, 45*time.Second, cfg.RequestTimeout)
	assert.Equal(t, 0, cfg.UpstreamRetries)
	assert.Equal(t, 30*time.Second, cfg.CacheTTL)
	assert.Equal(t, 5*time.Minute, cfg.CacheStaleIfError)
	assert.Equal(t, 500, cfg.CacheMaxEntries)
	assert.Equal(t, "0123456789abcdef0123", cfg.CacheKeySecret)
	assert.Equal(t, []string{"https://app.example.com", "http://localhost:3000"}, cfg.CORSAllowedOrigins)
	assert.Equal(t, slog.LevelDebug, cfg.LogLevel)
	assert.False(t, cfg.Playground)
	assert.False(t, cfg.Introspection)
	assert.EqualValues(t, 4096, cfg.MaxBodyBytes)
	assert.Equal(t, "https://collector.internal:4318/otlp", cfg.OTLPEndpoint)
	assert.Equal(t, "gateway-eu", cfg.OTELServiceName)
}

func TestLoadConfigErrorsNameTheVariable(t *testing.T) {
	for value, vars := range map[string]map[string]string{
		"UPSTREAM_TIMEOUT":            {"UPSTREAM_TIMEOUT": "10"},
		"REQUEST_TIMEOUT":             {"REQUEST_TIMEOUT": "0s"},
		"UPSTREAM_RETRY_MAX_WAIT":     {"UPSTREAM_RETRY_MAX_WAIT": "-1s"},
		"UPSTREAM_BREAKER_COOLDOWN":   {"UPSTREAM_BREAKER_COOLDOWN": "0s"},
		"CACHE_TTL":                   {"CACHE_TTL": "soon"},
		"UPSTREAM_RETRIES":            {"UPSTREAM_RETRIES": "two"},
		"CUSTOMER_SCAN_MAX_PAGES":     {"CUSTOMER_SCAN_MAX_PAGES": "0"},
		"MAX_PAGE":                    {"MAX_PAGE": "-3"},
		"MAX_BODY_BYTES":              {"MAX_BODY_BYTES": "1e6"},
		"PLAYGROUND":                  {"PLAYGROUND": "1"},
		"INTROSPECTION":               {"INTROSPECTION": "no"},
		"ALLOW_UNAUTHENTICATED":       {"ALLOW_UNAUTHENTICATED": "yes"},
		"LOG_LEVEL":                   {"LOG_LEVEL": "trace"},
		"BOTPENGUIN_BASE_URL":         {"BOTPENGUIN_BASE_URL": "ftp://x"},
		"CORS_ALLOWED_ORIGINS":        {"CORS_ALLOWED_ORIGINS": "*"},
		"REDIS_URL":                   {"REDIS_URL": "localhost:6379"},
		"GATEWAY_ACCESS_TOKENS":       {"GATEWAY_ACCESS_TOKENS": "t"},
		"CACHE_STALE_IF_ERROR":        {"CACHE_STALE_IF_ERROR": "-5m"},
		"CACHE_MAX_ENTRIES":           {"CACHE_MAX_ENTRIES": "0"},
		"CACHE_KEY_SECRET":            {"CACHE_KEY_SECRET": "short"},
		"OTEL_EXPORTER_OTLP_ENDPOINT": {"OTEL_EXPORTER_OTLP_ENDPOINT": "collector:4318"},
	} {
		t.Run(value, func(t *testing.T) {
			_, err := Load(getenv(vars))
			require.Error(t, err)
			assert.True(t, strings.HasPrefix(err.Error(), value+": "), err.Error())
			assert.NotContains(t, err.Error(), "\n")
		})
	}
	_, err := Load(getenv(map[string]string{"BOTPENGUIN_BASE_URL": "https://user:pw@example.com"}))
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "pw")

	_, err = Load(getenv(map[string]string{"OTEL_EXPORTER_OTLP_ENDPOINT": "ftp://me:secret@collector:4318"}))
	require.Error(t, err)
	assert.Equal(t, "OTEL_EXPORTER_OTLP_ENDPOINT: must be an http or https URL such as http://collector:4318", err.Error())

	for _, wildcard := range []string{"https://*", "https://*.example.com", "http://localhost:*"} {
		_, err = Load(getenv(map[string]string{"CORS_ALLOWED_ORIGINS": "https://app.example.com, " + wildcard}))
		require.Error(t, err, wildcard)
		assert.Contains(t, err.Error(), "CORS_ALLOWED_ORIGINS: entries must be origins", wildcard)
	}
	_, err = Load(getenv(map[string]string{"CORS_ALLOWED_ORIGINS": "https://app.example.com, https://me:secret@app.example.com"}))
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "secret")
	assert.Contains(t, err.Error(), "an entry with credentials")

	_, err = Load(getenv(map[string]string{"REDIS_URL": "redis://127.0.0.1:6379/0", "CACHE_TTL": "30s"}))
	require.Error(t, err)
	assert.True(t, strings.HasPrefix(err.Error(), "CACHE_KEY_SECRET: required with REDIS_URL"), err.Error())
	_, err = Load(getenv(map[string]string{"REDIS_URL": "redis://127.0.0.1:6379/0"}))
	require.Error(t, err, "idempotency keys are kept in Redis even without a page cache")
	assert.True(t, strings.HasPrefix(err.Error(), "CACHE_KEY_SECRET: required with REDIS_URL"), err.Error())
	_, err = Load(getenv(map[string]string{"CACHE_KEY_SECRET": "too-short-secret"[:15]}))
	require.Error(t, err)
	assert.NotContains(t, err.Error(), "too-short")

	// Every bad variable is reported at once, one per line.
	_, err = Load(getenv(map[string]string{"CACHE_TTL": "x", "MAX_PAGE": "y"}))
	require.Error(t, err)
	assert.Equal(t, 2, strings.Count(err.Error(), "\n")+1)
}
