// Package workers runs functions on goroutines that are kept between
// them, so that a goroutine's stack, grown for the work when it starts,
// serves the next jobs too. A fresh goroutine per GraphQL execution or
// upstream call was created, grown (see stackgrow) and freed every time:
// 4 % of a request's CPU under load of requests that share nothing. (The
// collector may halve the stack of a worker it finds idle; the next job
// grows it again, deep in its work, which is rarer than once a job and
// cheaper than growing it before every job.) Pools of this kind (ants and
// the like) queue or refuse work when full; this one never waits and
// never refuses, which is what a request path needs, in a few lines.
package workers

import (
	"sync/atomic"
	"time"
)

// IdleTimeout is how long a worker waits for work before it ends: under
// load a worker is reused within microseconds, and between bursts no
// goroutine lingers (tests that check for leaked goroutines retry for
// longer than this).
const IdleTimeout = 100 * time.Millisecond

// Pool runs functions on its workers. Its zero value is not ready: use New.
type Pool struct {
	jobs    chan func()
	prepare func()
	started atomic.Int64 // workers ever started, for tests
}

// New returns a pool whose workers call prepare once, when they start (a
// stackgrow function).
func New(prepare func()) *Pool {
	return &Pool{jobs: make(chan func()), prepare: prepare}
}

// Go runs f on an idle worker, or on a new one when none is idle, and
// returns at once. A panic in f ends the program, as with the go
// statement; unlike it, f runs with the pprof labels of whichever caller
// started its worker (none are set today).
func (p *Pool) Go(f func()) {
	select {
	case p.jobs <- f:
	default:
		p.started.Add(1)
		go p.work(f)
	}
}

func (p *Pool) work(f func()) {
	p.prepare()
	idle := time.NewTimer(IdleTimeout)
	for {
		f()
		f = nil // nothing of the last job stays reachable while idle
		idle.Reset(IdleTimeout)
		select {
		case f = <-p.jobs:
		case <-idle.C:
			return
		}
	}
}
