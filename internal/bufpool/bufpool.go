// Package bufpool reuses the byte buffers of the request path: the
// upstream's answers as they are read, the data of answers as they are
// rendered, and answers as they are recorded for the callers of a
// coalesced request.
package bufpool

import (
	"bytes"
	"sync"
)

// Pool holds empty buffers for reuse. Its zero value is ready; it must not
// be copied after first use.
type Pool struct {
	pool sync.Pool
}

// MaxKept bounds the buffers a Pool keeps: a rare large one is left to the
// garbage collector rather than held for every later use.
const MaxKept = 256 << 10

// Get returns an empty buffer.
func (p *Pool) Get() *bytes.Buffer {
	if b, ok := p.pool.Get().(*bytes.Buffer); ok {
		return b
	}
	return new(bytes.Buffer)
}

// Put gives b back, emptied; nothing may use it, or read what it held,
// afterwards. A nil b is ignored.
func (p *Pool) Put(b *bytes.Buffer) {
	if b == nil || b.Cap() > MaxKept {
		return
	}
	b.Reset()
	p.pool.Put(b)
}
