//go:build unix

package loader_test

import (
	"context"
	"runtime"
	"strconv"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/botpenguin-gateway/gateway/graph/loader"
	"github.com/botpenguin-gateway/gateway/upstream"
)

// The index's table is outside the Go heap: filled, it leaves the heap as
// it was, where the table alone is 3.2 MB.
func TestTheIndexIsNotOnTheHeap(t *testing.T) {
	page, err := (&stubList{total: 20, pageSize: 20}).fetch(context.Background(), "", 1, upstream.SortCreatedAt)
	require.NoError(t, err)
	tokens := make([]upstream.Token, 1000)
	for i := range tokens {
		tokens[i] = upstream.Token("token-" + strconv.Itoa(i))
	}
	var before, after runtime.MemStats
	runtime.GC()
	runtime.ReadMemStats(&before)
	x := loader.NewIndex(100_000, time.Minute)
	for _, tok := range tokens {
		x.Learn(loader.PageKey{Token: tok, Page: 1, Sort: upstream.SortCreatedAt}, page)
	}
	runtime.GC()
	runtime.ReadMemStats(&after)

	found := 0
	for _, tok := range tokens {
		if _, ok := x.ID(tok, page.Customers[7].ID); ok {
			found++
		}
	}
	// 41,000 entries and page records, under the cap of 100,000: the table
	// grows rather than drop one (at a fixed size it dropped 0-12 of these).
	assert.Equal(t, len(tokens), found)
	assert.Less(t, int64(after.HeapAlloc)-int64(before.HeapAlloc), int64(512<<10), "heap bytes")
	assert.GreaterOrEqual(t, loader.IndexLen(x), 39_000)
}
