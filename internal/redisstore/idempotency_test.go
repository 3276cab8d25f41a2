package redisstore_test

import (
	"context"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/botpenguin-gateway/gateway/internal/idempotency"
	"github.com/botpenguin-gateway/gateway/internal/redisstore/redistest"
)

func TestIdempotencyRecordsInRedis(t *testing.T) {
	r := redistest.Start(t)
	s := newStore(t, r.URL).Idempotency()
	ctx := context.Background()

	_, claimed, err := s.Claim(ctx, "k", idempotency.Record{Input: []byte{1}, Owner: "a"}, time.Minute)
	require.NoError(t, err)
	require.True(t, claimed)
	got, claimed, err := s.Claim(ctx, "k", idempotency.Record{Input: []byte{2}, Owner: "b"}, time.Minute)
	require.NoError(t, err)
	assert.False(t, claimed)
	assert.Equal(t, idempotency.Record{Input: []byte{1}, Owner: "a"}, got)

	require.NoError(t, s.Release(ctx, "k", "b"))
	_, claimed, _ = s.Claim(ctx, "k", idempotency.Record{Owner: "b"}, time.Minute)
	assert.False(t, claimed, "only the owner releases")
	require.NoError(t, s.Release(ctx, "k", "a"))
	_, claimed, _ = s.Claim(ctx, "k", idempotency.Record{Owner: "b"}, time.Minute)
	assert.True(t, claimed)

	done := idempotency.Record{Input: []byte{1}, Done: true, Outcome: []byte(`{"customer":{}}`)}
	require.NoError(t, s.Finish(ctx, "k", done, time.Hour))
	require.NoError(t, s.Release(ctx, "k", "b"), "a finished record is not released")
	got, claimed, _ = s.Claim(ctx, "k", idempotency.Record{Owner: "c"}, time.Minute)
	assert.False(t, claimed)
	assert.Equal(t, done, got)

	r.Stop()
	_, _, err = s.Claim(ctx, "other", idempotency.Record{Owner: "a"}, time.Minute)
	assert.Error(t, err, "an unreachable Redis is the caller's to handle")
}

// Two keepers, as two replicas, over one Redis: many repeats at once run
// the write once.
func TestIdempotencyAcrossKeepers(t *testing.T) {
	r := redistest.Start(t)
	opts := idempotency.Options{Secret: []byte("the-same-on-every-replica")}
	keepers := []*idempotency.Keeper{
		idempotency.NewKeeper(newStore(t, r.URL).Idempotency(), opts),
		idempotency.NewKeeper(newStore(t, r.URL).Idempotency(), opts),
	}
	var runs atomic.Int32
	var wg sync.WaitGroup
	outs := make([]string, 8)
	for i := range outs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, _, err := keepers[i%2].Do(context.Background(), idempotency.Call{Client: []byte("c"), Key: "k", Input: [][]byte{[]byte("in")}},
				func(context.Context) ([]byte, bool, error) {
					runs.Add(1)
					time.Sleep(50 * time.Millisecond)
					return []byte("created"), true, nil
				})
			assert.NoError(t, err)
			outs[i] = string(out)
		}()
	}
	wg.Wait()
	assert.EqualValues(t, 1, runs.Load())
	for _, out := range outs {
		assert.Equal(t, "created", out)
	}
}
