package httpserver

import (
	"net/http"
	"net/netip"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestClientAddress(t *testing.T) {
	proxies := []netip.Prefix{netip.MustParsePrefix("10.0.0.0/8"), netip.MustParsePrefix("2001:db8:ffff::/48")}
	for _, tc := range []struct {
		name       string
		remoteAddr string
		forwarded  []string
		want       string
	}{
		{"untrusted peer", "203.0.113.1:5000", []string{"198.51.100.1"}, "203.0.113.1"},
		{"trusted peer without the header", "10.0.0.1:5000", nil, "10.0.0.1"},
		{"trusted peer", "10.0.0.1:5000", []string{"198.51.100.1"}, "198.51.100.1"},
		{"right-most untrusted entry", "10.0.0.1:5000", []string{"192.0.2.9, 198.51.100.1, 10.0.0.2"}, "198.51.100.1"},
		{"headers read in order", "10.0.0.1:5000", []string{"192.0.2.9", "198.51.100.1, 10.0.0.2"}, "198.51.100.1"},
		{"only proxies", "10.0.0.1:5000", []string{"10.0.0.3, 10.0.0.2"}, "10.0.0.3"},
		{"garbage stops the walk", "10.0.0.1:5000", []string{"198.51.100.1, not-an-ip, 10.0.0.2"}, "10.0.0.2"},
		{"empty entry stops the walk", "10.0.0.1:5000", []string{"198.51.100.1,"}, "10.0.0.1"},
		{"entry with a port", "10.0.0.1:5000", []string{"[2001:db8::7]:443"}, "2001:db8::7"},
		{"IPv4 written as IPv6", "[::ffff:10.0.0.1]:5000", []string{"::ffff:198.51.100.1"}, "198.51.100.1"},
		{"trusted IPv6 peer", "[2001:db8:ffff::1]:5000", []string{"2001:db8:1::5"}, "2001:db8:1::5"},
		{"zone dropped", "[fe80::1%eth0]:5000", nil, "fe80::1"},
		{"no IP peer", "@", []string{"198.51.100.1"}, "invalid IP"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &http.Request{RemoteAddr: tc.remoteAddr, Header: http.Header{"X-Forwarded-For": tc.forwarded}}
			assert.Equal(t, tc.want, clientAddress(r, proxies).String())
		})
	}
}

func TestAddressBucket(t *testing.T) {
	for addr, want := range map[string]string{
		"198.51.100.7":              "198.51.100.7",
		"2001:db8:1:2:3:4:5:6":      "2001:db8:1:2::",
		"2001:db8:1:2:ffff::1":      "2001:db8:1:2::",
		"2001:db8:1:3::1":           "2001:db8:1:3::",
		"::1":                       "::",
		"2001:db8:aaaa:bbbb:cccc::": "2001:db8:aaaa:bbbb::",
	} {
		assert.Equal(t, want, addressBucket(netip.MustParseAddr(addr)).String(), addr)
	}
}
