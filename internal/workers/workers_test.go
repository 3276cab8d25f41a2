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

// A worker takes job after job, preparing itself once: handed straight to
// its channel, a hundred jobs run on the worker the first one started.
func TestAWorkerTakesJobAfterJob(t *testing.T) {
	var prepared atomic.Int64
	p := New(func() { prepared.Add(1) })
	done := make(chan struct{})
	job := func() { done <- struct{}{} }
	p.Go(job)
	<-done
	for range 99 {
		select {
		case p.jobs <- job:
		case <-time.After(5 * time.Second):
			t.Fatal("the worker did not come back for another job")
		}
		<-done
	}
	assert.Equal(t, int64(1), p.started.Load())
	assert.Equal(t, int64(1), prepared.Load())
}

// Go hands a job to an idle worker rather than start one: jobs one after
// another, with a pause for the worker to go back to waiting, start far
// fewer workers than jobs (one, unless the machine stalls a worker past
// its pause).
func TestGoReusesIdleWorkers(t *testing.T) {
	p := New(func() {})
	for range 100 {
		done := make(chan struct{})
		p.Go(func() { close(done) })
		<-done
		time.Sleep(time.Millisecond)
	}
	assert.Less(t, p.started.Load(), int64(50), "workers started for 100 jobs in a row")
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
