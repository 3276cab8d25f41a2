package config

import (
	"net/netip"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

func TestLoadConfigTrustedProxies(t *testing.T) {
	cfg, err := Load(getenv(map[string]string{
		"TRUSTED_PROXIES": " 10.0.0.0/8, 192.168.1.7 ,,2001:db8::/32, ::ffff:172.16.0.0/108, 10.1.2.3/16, ::ffff:192.0.2.1",
	}))
	require.NoError(t, err)
	assert.Equal(t, []netip.Prefix{
		netip.MustParsePrefix("10.0.0.0/8"),
		netip.MustParsePrefix("192.168.1.7/32"),
		netip.MustParsePrefix("2001:db8::/32"),
		netip.MustParsePrefix("172.16.0.0/12"),
		netip.MustParsePrefix("10.1.0.0/16"),
		netip.MustParsePrefix("192.0.2.1/32"),
	}, cfg.TrustedProxies)

	cfg, err = Load(getenv(nil))
	require.NoError(t, err)
	assert.Empty(t, cfg.TrustedProxies, "unset: no proxy is trusted")

	_, err = Load(getenv(map[string]string{"TRUSTED_PROXIES": "10.0.0.0/8, 10.0.0.0/33, proxy.internal, fe80::1%eth0, 1.2.3.4:80"}))
	require.Error(t, err)
	msg := err.Error()
	assert.True(t, strings.HasPrefix(msg, "TRUSTED_PROXIES: "), msg)
	assert.NotContains(t, msg, "\n")
	for _, bad := range []string{`"10.0.0.0/33"`, `"proxy.internal"`, `"fe80::1%eth0"`, `"1.2.3.4:80"`} {
		assert.Contains(t, msg, bad)
	}
	assert.NotContains(t, msg, `"10.0.0.0/8"`)
}
