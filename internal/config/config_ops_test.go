package config

import (
	"strings"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestLoadConfigShutdownDelayAndMetricsAddr(t *testing.T) {
	cfg, err := Load(getenv(nil))
	require.NoError(t, err)
	assert.Equal(t, 5*time.Second, cfg.ShutdownDelay)
	assert.Empty(t, cfg.MetricsAddr, "unset: /metrics on the main listener")

	cfg, err = Load(getenv(map[string]string{"SHUTDOWN_DELAY": "0", "METRICS_ADDR": " 127.0.0.1:9090 "}))
	require.NoError(t, err)
	assert.Zero(t, cfg.ShutdownDelay, "0 is allowed")
	assert.Equal(t, "127.0.0.1:9090", cfg.MetricsAddr)

	cfg, err = Load(getenv(map[string]string{"SHUTDOWN_DELAY": "1m30s"}))
	require.NoError(t, err)
	assert.Equal(t, 90*time.Second, cfg.ShutdownDelay)

	for _, bad := range []string{"5", "-1s", "soon"} {
		_, err := Load(getenv(map[string]string{"SHUTDOWN_DELAY": bad}))
		require.Error(t, err, bad)
		assert.True(t, strings.HasPrefix(err.Error(), "SHUTDOWN_DELAY: "), err.Error())
		assert.NotContains(t, err.Error(), "\n")
	}
}
