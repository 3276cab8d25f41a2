package redisstore

import (
	"context"
	"io"
	"log/slog"
	"net"
	"sync"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
)

// silentServer accepts connections and never answers, like a Redis behind
// a firewall that drops packets once connected.
func silentServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	require.NoError(t, err)
	var wg sync.WaitGroup
	t.Cleanup(func() { ln.Close(); wg.Wait() })
	wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			wg.Go(func() { _, _ = io.Copy(io.Discard, c); c.Close() })
		}
	})
	return ln.Addr().String()
}

func TestOneCommandProbesAnUnreachableRedis(t *testing.T) {
	addr := silentServer(t)
	reg := prometheus.NewRegistry()
	s, err := New("redis://"+addr+"/0", slog.New(slog.DiscardHandler), reg)
	require.NoError(t, err)
	t.Cleanup(func() {
		_ = s.Close()
	})
	var mu sync.Mutex
	now := time.Now()
	s.mu.Lock()
	s.now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	require.True(t, s.down, "the start-up ping timed out")
	s.mu.Unlock()
	ctx := context.Background()

	_, ok := s.get(ctx, "k")
	assert.False(t, ok)
	assert.Zero(t, value(t, reg, "gateway_redis_errors_total", "get"), "within retryAfter Redis is skipped")

	mu.Lock()
	now = now.Add(retryAfter)
	mu.Unlock()
	var wg sync.WaitGroup
	for range 20 {
		wg.Go(func() { s.get(ctx, "k") })
	}
	wg.Wait()
	assert.Equal(t, 1.0, value(t, reg, "gateway_redis_errors_total", "get"), "one command probes, the others skip Redis")
	assert.Equal(t, 0.0, value(t, reg, "gateway_redis_up", ""))
}

// value is the value of metric name (with op label, if any) in reg.
func value(t *testing.T, reg *prometheus.Registry, name, op string) float64 {
	t.Helper()
	mfs, err := reg.Gather()
	require.NoError(t, err)
	for _, mf := range mfs {
		for _, m := range mf.GetMetric() {
			label := ""
			for _, l := range m.GetLabel() {
				label = l.GetValue()
			}
			if mf.GetName() == name && label == op {
				return m.GetGauge().GetValue() + m.GetCounter().GetValue()
			}
		}
	}
	return 0
}
