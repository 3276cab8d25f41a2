package main

import (
	"bytes"
	"context"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// TestHealthcheckProbesTheRunningGateway runs -healthcheck as a container
// runtime would, with the gateway's own environment: against a gateway
// serving on ADDR it succeeds, also when ADDR names no host.
func TestHealthcheckProbesTheRunningGateway(t *testing.T) {
	t.Parallel()
	r := startRun(t, nil)
	addr := strings.TrimPrefix(r.base, "http://")
	_, port, err := net.SplitHostPort(addr)
	require.NoError(t, err)

	for name, vars := range map[string]map[string]string{
		"ADDR":         {"ADDR": addr},
		"ADDR no host": {"ADDR": ":" + port},
	} {
		t.Run(name, func(t *testing.T) {
			var stdout bytes.Buffer
			err := run(context.Background(), []string{"-healthcheck"}, env(vars), &stdout, io.Discard)
			require.NoError(t, err)
			assert.Equal(t, "healthy: GET http://127.0.0.1:"+port+"/healthz: 200 OK\n", stdout.String())
		})
	}
	t.Run("-addr", func(t *testing.T) {
		err := run(context.Background(), []string{"-healthcheck", "-addr", addr}, env(map[string]string{"ADDR": "no-port"}), io.Discard, io.Discard)
		require.NoError(t, err)
	})
}

func TestHealthcheckFails(t *testing.T) {
	t.Parallel()
	// A port nobody listens on: one just freed.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	closed := ln.Addr().String()
	ln.Close()
	// Something that answers, but not 200.
	unwell := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		assert.Equal(t, "/healthz", r.URL.Path)
		w.WriteHeader(http.StatusServiceUnavailable)
	}))
	t.Cleanup(unwell.Close)

	for name, tc := range map[string]struct {
		addr string
		want string
	}{
		"nothing listening": {closed, "connection refused"},
		"not 200":           {strings.TrimPrefix(unwell.URL, "http://"), "503 Service Unavailable"},
		"port 0":            {"127.0.0.1:0", "no fixed port"},
		"no port":           {"localhost", "missing port"},
	} {
		t.Run(name, func(t *testing.T) {
			var stdout bytes.Buffer
			err := run(context.Background(), []string{"-healthcheck"}, env(map[string]string{"ADDR": tc.addr}), &stdout, io.Discard)
			require.Error(t, err)
			assert.Contains(t, err.Error(), "healthcheck: ")
			assert.Contains(t, err.Error(), tc.want)
			assert.Empty(t, stdout.String())
		})
	}
}

func TestProbeAddr(t *testing.T) {
	t.Parallel()
	for listen, want := range map[string]string{
		":8080":            "127.0.0.1:8080",
		"0.0.0.0:8080":     "127.0.0.1:8080",
		"[::]:8080":        "[::1]:8080",
		"127.0.0.1:9000":   "127.0.0.1:9000",
		"10.1.2.3:8080":    "10.1.2.3:8080",
		"gateway.local:80": "gateway.local:80",
	} {
		got, err := probeAddr(listen)
		require.NoError(t, err, listen)
		assert.Equal(t, want, got, listen)
	}
}
