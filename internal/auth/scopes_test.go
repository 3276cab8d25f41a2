package auth_test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/botpenguin-gateway/gateway/internal/auth"
)

// scopesOf runs one request with header through the middleware and reports
// which scopes Require grants it, or the error of the first it refuses.
func scopesOf(t *testing.T, cfg auth.Config, header string) (granted []auth.Scope, errs map[auth.Scope]error) {
	t.Helper()
	errs = map[auth.Scope]error{}
	h := auth.New(cfg).Middleware(http.HandlerFunc(func(_ http.ResponseWriter, r *http.Request) {
		for _, s := range []auth.Scope{auth.ScopeRead, auth.ScopeWrite, auth.ScopeLogin} {
			if err := auth.Require(r.Context(), s); err != nil {
				errs[s] = err
			} else {
				granted = append(granted, s)
			}
		}
	}))
	req := httptest.NewRequest(http.MethodPost, "/query", nil)
	if header != "" {
		req.Header.Set("Authorization", header)
	}
	h.ServeHTTP(httptest.NewRecorder(), req)
	return granted, errs
}

func TestScopesByToken(t *testing.T) {
	serverKey := auth.Config{
		ServerKey:    "server-key",
		AccessTokens: []string{"reader"},
		WriteTokens:  []string{"writer", "both"},
		LoginTokens:  []string{"signer", "both"},
	}
	read, write, login := auth.ScopeRead, auth.ScopeWrite, auth.ScopeLogin
	for name, tc := range map[string]struct {
		cfg    auth.Config
		header string
		want   []auth.Scope
	}{
		"pass-through: what the agency key can do upstream": {auth.Config{}, "Bearer agency-key", []auth.Scope{read, write, login}},
		"access token":                      {serverKey, "Bearer reader", []auth.Scope{read}},
		"write token":                       {serverKey, "Bearer writer", []auth.Scope{read, write}},
		"login token":                       {serverKey, "Bearer signer", []auth.Scope{read, login}},
		"a token in both lists":             {serverKey, "Bearer both", []auth.Scope{read, write, login}},
		"unauthenticated, allowed":          {auth.Config{ServerKey: "k", AllowUnauthenticated: true}, "", []auth.Scope{read}},
		"any token, when none is set":       {auth.Config{ServerKey: "k", AllowUnauthenticated: true}, "Bearer whatever", []auth.Scope{read}},
		"demo: every scope":                 {auth.Config{ServerKey: "k", AllowUnauthenticated: true, GrantAll: true}, "", []auth.Scope{read, write, login}},
		"read-only wins over a write token": {withReadOnly(serverKey), "Bearer both", []auth.Scope{read}},
		"read-only wins in pass-through":    {auth.Config{ReadOnly: true}, "Bearer agency-key", []auth.Scope{read}},
		"read-only wins over the demo":      {auth.Config{ServerKey: "k", AllowUnauthenticated: true, GrantAll: true, ReadOnly: true}, "", []auth.Scope{read}},
	} {
		t.Run(name, func(t *testing.T) {
			granted, errs := scopesOf(t, tc.cfg, tc.header)
			assert.Equal(t, tc.want, granted)
			for s, err := range errs {
				assert.ErrorIs(t, err, auth.ErrForbidden, s.String())
				assert.Contains(t, err.Error(), s.String(), "the message names the missing scope")
				assert.NotContains(t, err.Error(), "both", "never the token")
			}
		})
	}
}

func withReadOnly(cfg auth.Config) auth.Config {
	cfg.ReadOnly = true
	return cfg
}

func TestRequireWithoutAValidTokenIsUnauthenticated(t *testing.T) {
	cfg := auth.Config{ServerKey: "k", AccessTokens: []string{"reader"}, WriteTokens: []string{"writer"}}
	for _, header := range []string{"", "Bearer guess", "Basic abc"} {
		_, errs := scopesOf(t, cfg, header)
		require.Len(t, errs, 3, header)
		for _, err := range errs {
			assert.NotErrorIs(t, err, auth.ErrForbidden, header)
			assert.True(t, err == auth.ErrNoToken || err == auth.ErrInvalidToken, "%q: %v", header, err)
		}
	}
	assert.ErrorIs(t, auth.Require(context.Background(), auth.ScopeRead), auth.ErrNoToken, "a context without auth")
}

func TestReadOnlyRefusalSaysSo(t *testing.T) {
	_, errs := scopesOf(t, auth.Config{ReadOnly: true}, "Bearer agency-key")
	require.Contains(t, errs, auth.ScopeWrite)
	assert.Contains(t, errs[auth.ScopeWrite].Error(), "read-only")
}
