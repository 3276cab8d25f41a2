package config

import (
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestLoadScopedTokens(t *testing.T) {
	cfg, err := Load(getenv(map[string]string{
		"BOTPENGUIN_API_KEY":   "server-key",
		"GATEWAY_WRITE_TOKENS": "w1, w2",
		"GATEWAY_LOGIN_TOKENS": "l1",
		"READ_ONLY":            "true",
	}))
	require.NoError(t, err, "write or login tokens alone are enough clients for server-key mode")
	assert.Equal(t, []string{"w1", "w2"}, cfg.WriteTokens)
	assert.Equal(t, []string{"l1"}, cfg.LoginTokens)
	assert.True(t, cfg.ReadOnly)
	assert.False(t, cfg.GrantAllScopes, "only -demo grants every scope")

	for _, name := range []string{"GATEWAY_WRITE_TOKENS", "GATEWAY_LOGIN_TOKENS"} {
		_, err := Load(getenv(map[string]string{name: "secret-token-123"}))
		require.Error(t, err, name)
		assert.True(t, strings.HasPrefix(err.Error(), name+": only applies in server-key mode"), err.Error())
		assert.NotContains(t, err.Error(), "secret-token-123")

		_, err = Load(getenv(map[string]string{"BOTPENGUIN_API_KEY": "k", name: "has space"}))
		require.Error(t, err, name)
		assert.NotContains(t, err.Error(), "has space", "a token is never echoed")
	}

	_, err = Load(getenv(map[string]string{"READ_ONLY": "yes"}))
	require.ErrorContains(t, err, "READ_ONLY: must be true or false")
}
