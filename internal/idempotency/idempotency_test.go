package idempotency_test

import (
	"context"
	"errors"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/botpenguin-gateway/gateway/internal/idempotency"
)

func call(client, key string, input ...string) idempotency.Call {
	c := idempotency.Call{Client: []byte(client), Key: key}
	for _, in := range input {
		c.Input = append(c.Input, []byte(in))
	}
	return c
}

// counted is a write that counts its runs and returns outcome.
func counted(n *atomic.Int32, outcome string, keep bool, err error) func(context.Context) ([]byte, bool, error) {
	return func(context.Context) ([]byte, bool, error) {
		n.Add(1)
		return []byte(outcome), keep, err
	}
}

func TestKeeperRunsAWriteOncePerClientAndKey(t *testing.T) {
	k := idempotency.NewKeeper(idempotency.NewMemoryStore(10), idempotency.Options{})
	ctx := context.Background()
	var runs atomic.Int32

	out, replay, err := k.Do(ctx, call("agency-a", "key", "a@example.com", "pw"), counted(&runs, "created 1", true, nil))
	require.NoError(t, err)
	assert.Equal(t, "created 1", string(out))
	assert.False(t, replay)

	out, replay, err = k.Do(ctx, call("agency-a", "key", "a@example.com", "pw"), counted(&runs, "created 2", true, nil))
	require.NoError(t, err)
	assert.Equal(t, "created 1", string(out), "the kept outcome")
	assert.True(t, replay)

	_, _, err = k.Do(ctx, call("agency-a", "key", "a@example.com", "pw2"), counted(&runs, "x", true, nil))
	assert.ErrorIs(t, err, idempotency.ErrKeyReused)
	// Parts are length-prefixed: moving a byte between fields is another input.
	_, _, err = k.Do(ctx, call("agency-a", "key", "a@example.comp", "w"), counted(&runs, "x", true, nil))
	assert.ErrorIs(t, err, idempotency.ErrKeyReused)

	out, replay, err = k.Do(ctx, call("agency-b", "key", "a@example.com", "pw"), counted(&runs, "created 3", true, nil))
	require.NoError(t, err)
	assert.Equal(t, "created 3", string(out), "another client's key is its own")
	assert.False(t, replay)
	assert.EqualValues(t, 2, runs.Load())
}

func TestKeeperKeepsNoErrorsNorWhatItIsToldNotToKeep(t *testing.T) {
	k := idempotency.NewKeeper(idempotency.NewMemoryStore(10), idempotency.Options{})
	ctx := context.Background()
	var runs atomic.Int32
	down := errors.New("upstream down")
	_, _, err := k.Do(ctx, call("c", "key", "in"), counted(&runs, "", false, down))
	assert.ErrorIs(t, err, down)
	out, _, err := k.Do(ctx, call("c", "key", "in"), counted(&runs, "not kept", false, nil))
	require.NoError(t, err)
	assert.Equal(t, "not kept", string(out))
	out, replay, err := k.Do(ctx, call("c", "key", "in"), counted(&runs, "kept", true, nil))
	require.NoError(t, err)
	assert.Equal(t, "kept", string(out))
	assert.False(t, replay)
	assert.EqualValues(t, 3, runs.Load(), "the client could try again twice")
}

// refusals counts the claims a store refused: repeats that found the key
// taken.
type refusals struct {
	*idempotency.MemoryStore
	refused atomic.Int32
}

func (r *refusals) Claim(ctx context.Context, key string, rec idempotency.Record, ttl time.Duration) (idempotency.Record, bool, error) {
	got, claimed, err := r.MemoryStore.Claim(ctx, key, rec, ttl)
	if !claimed && err == nil {
		r.refused.Add(1)
	}
	return got, claimed, err
}

func TestKeeperRepeatsWaitForTheFirst(t *testing.T) {
	store := &refusals{MemoryStore: idempotency.NewMemoryStore(10)}
	k := idempotency.NewKeeper(store, idempotency.Options{})
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second) // a bug fails, not hangs
	defer cancel()
	started, release := make(chan struct{}), make(chan struct{})
	var runs atomic.Int32
	first := func(context.Context) ([]byte, bool, error) {
		runs.Add(1)
		close(started)
		<-release
		return []byte("first"), true, nil
	}
	var wg sync.WaitGroup
	outs := make([]string, 5)
	wg.Add(1)
	go func() {
		defer wg.Done()
		out, _, _ := k.Do(ctx, call("c", "key", "in"), first)
		outs[0] = string(out)
	}()
	<-started
	for i := 1; i < len(outs); i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			out, replay, err := k.Do(ctx, call("c", "key", "in"), counted(&runs, "again", true, nil))
			assert.NoError(t, err)
			assert.True(t, replay)
			outs[i] = string(out)
		}()
	}
	// Every repeat has found the key taken, and waits, before the first
	// finishes.
	require.Eventually(t, func() bool { return store.refused.Load() >= int32(len(outs)-1) }, 5*time.Second, time.Millisecond)
	close(release)
	wg.Wait()
	assert.Equal(t, []string{"first", "first", "first", "first", "first"}, outs)
	assert.EqualValues(t, 1, runs.Load())

	// A repeat whose own time runs out while it waits gives up.
	hold, holding := make(chan struct{}), make(chan struct{})
	defer close(hold)
	go k.Do(ctx, call("c", "slow", "in"), func(context.Context) ([]byte, bool, error) {
		close(holding)
		<-hold
		return nil, true, nil
	})
	<-holding
	short, cancel := context.WithTimeout(ctx, 50*time.Millisecond)
	defer cancel()
	_, _, err := k.Do(short, call("c", "slow", "in"), counted(&runs, "x", true, nil))
	assert.ErrorIs(t, err, context.DeadlineExceeded)
	assert.EqualValues(t, 1, runs.Load())
}

func TestKeeperRunsNothingWhenItsStoreFails(t *testing.T) {
	var runs atomic.Int32
	_, _, err := idempotency.NewKeeper(failing{}, idempotency.Options{}).Do(context.Background(), call("c", "k", "in"), counted(&runs, "", true, nil))
	assert.ErrorIs(t, err, idempotency.ErrUnavailable)
	assert.ErrorIs(t, err, errDown)
	assert.Zero(t, runs.Load(), "the write does not run unguarded")
}

// A store that loses the first Finish: the outcome is recorded a moment
// later, and a repeat that waits for it gets it.
func TestKeeperRecordsAnOutcomeWhoseFinishFailed(t *testing.T) {
	store := &flakyFinish{MemoryStore: idempotency.NewMemoryStore(10)}
	store.failures.Store(1)
	k := idempotency.NewKeeper(store, idempotency.Options{})
	ctx := context.Background()
	var runs atomic.Int32
	out, _, err := k.Do(ctx, call("c", "key", "in"), counted(&runs, "created", true, nil))
	require.NoError(t, err)
	assert.Equal(t, "created", string(out))
	waited, cancel := context.WithTimeout(ctx, 5*time.Second)
	defer cancel()
	out, replay, err := k.Do(waited, call("c", "key", "in"), counted(&runs, "again", true, nil))
	require.NoError(t, err)
	assert.True(t, replay)
	assert.Equal(t, "created", string(out))
	assert.EqualValues(t, 1, runs.Load())
}

type flakyFinish struct {
	*idempotency.MemoryStore
	failures atomic.Int32
}

func (f *flakyFinish) Finish(ctx context.Context, key string, rec idempotency.Record, ttl time.Duration) error {
	if f.failures.Add(-1) >= 0 {
		return errDown
	}
	return f.MemoryStore.Finish(ctx, key, rec, ttl)
}

type failing struct{}

var errDown = errors.New("store down")

func (failing) Claim(context.Context, string, idempotency.Record, time.Duration) (idempotency.Record, bool, error) {
	return idempotency.Record{}, false, errDown
}
func (failing) Finish(context.Context, string, idempotency.Record, time.Duration) error {
	return errDown
}
func (failing) Release(context.Context, string, string) error { return errDown }

func TestMemoryStoreExpiresAndReleasesOnlyItsOwner(t *testing.T) {
	m := idempotency.NewMemoryStore(10)
	ctx := context.Background()
	_, claimed, _ := m.Claim(ctx, "k", idempotency.Record{Owner: "a"}, time.Hour)
	require.True(t, claimed)
	require.NoError(t, m.Release(ctx, "k", "b"))
	got, claimed, _ := m.Claim(ctx, "k", idempotency.Record{Owner: "b"}, time.Hour)
	assert.False(t, claimed, "another owner cannot release it")
	assert.Equal(t, "a", got.Owner)
	require.NoError(t, m.Release(ctx, "k", "a"))
	_, claimed, _ = m.Claim(ctx, "k", idempotency.Record{Owner: "b"}, time.Nanosecond)
	assert.True(t, claimed)
	time.Sleep(time.Millisecond)
	_, claimed, _ = m.Claim(ctx, "k", idempotency.Record{Owner: "c"}, time.Hour)
	assert.True(t, claimed, "an expired claim is gone")
}

func TestKeeperGivesTheKeyUpWhenTheWritePanics(t *testing.T) {
	k := idempotency.NewKeeper(idempotency.NewMemoryStore(10), idempotency.Options{})
	ctx := context.Background()
	assert.Panics(t, func() {
		_, _, _ = k.Do(ctx, call("c", "key", "in"), func(context.Context) ([]byte, bool, error) { panic("boom") })
	})
	var runs atomic.Int32
	out, replay, err := k.Do(ctx, call("c", "key", "in"), counted(&runs, "after", true, nil))
	require.NoError(t, err)
	assert.False(t, replay)
	assert.Equal(t, "after", string(out), "the key was free again")
}
