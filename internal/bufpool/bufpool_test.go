package bufpool_test

import (
	"bytes"
	"testing"

	"github.com/stretchr/testify/assert"

	"github.com/botpenguin-gateway/gateway/internal/bufpool"
)

func TestBuffersComeBackEmptyAndLargeOnesAreNotKept(t *testing.T) {
	var p bufpool.Pool
	b := p.Get()
	b.WriteString("held")
	p.Put(b)
	p.Put(nil)
	assert.Zero(t, p.Get().Len(), "a buffer from the pool holds something")

	large := bytes.NewBuffer(make([]byte, 0, bufpool.MaxKept+1))
	p.Put(large)
	for range 100 {
		assert.NotSame(t, large, p.Get(), "a buffer over MaxKept was kept")
	}
}
