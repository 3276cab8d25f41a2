package workers

import (
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"
)

// Jobs one after another run on the worker that ran the last one, which
// prepares itself once: a pool that started a goroutine per job would
// have started a hundred.
func TestJobsOneAfterAnotherReuseAWorker(t *testing.T) {
	var prepared atomic.Int64
	p := New(func() { prepared.Add(1) })
	for range 100 {
		done := make(chan struct{})
		p.Go(func() { close(done) })
		<-done
		time.Sleep(time.Millisecond) // the worker goes back to waiting
	}
	assert.LessOrEqual(t, p.started.Load(), int64(5), "workers started for 100 jobs in a row")
	assert.Equal(t, p.started.Load(), prepared.Load(), "each worker prepares once")
}

// Go never waits for a worker to be free: with every worker busy, the
// next job starts on a new one.
func TestGoStartsAWorkerWhenAllAreBusy(t *testing.T) {
	p := New(func() {})
	release := make(chan struct{})
	var running sync.WaitGroup
	running.Add(8)
	for range 8 {
		p.Go(func() {
			running.Done()
			<-release
		})
	}
	waited := make(chan struct{})
	go func() { running.Wait(); close(waited) }()
	select {
	case <-waited:
	case <-time.After(5 * time.Second):
		t.Fatal("8 blocking jobs did not all run at once")
	}
	close(release)
	assert.Equal(t, int64(8), p.started.Load())
}

// Idle workers end: nothing of the pool outlives IdleTimeout once its
// jobs are done (goleak retries for longer).
func TestIdleWorkersEnd(t *testing.T) {
	before := goleak.IgnoreCurrent()
	p := New(func() {})
	var done sync.WaitGroup
	done.Add(4)
	for range 4 {
		p.Go(done.Done)
	}
	done.Wait()
	require.Positive(t, p.started.Load())
	goleak.VerifyNone(t, before)
}
