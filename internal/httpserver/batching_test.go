package httpserver_test

import (
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"

	"github.com/botpenguin-gateway/gateway/upstream/upstreamtest"
)

func TestAliasesOfOnePageCostOneCall(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	r := e.query(`{
		a: customers(page: 2) { nodes { id } }
		b: customers(page: 2) { nodes { name } page }
		c: customers(page: 2, sort: CREATED_AT) { nodes { contact { email } } }
	}`, nil)
	require.Empty(t, r.Errors, r.Raw)
	assert.EqualValues(t, 1, e.up.Calls())
}

func TestHasNextPageSharesTheNextPage(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	r := e.query(`{
		a: customers(page: 1) { nodes { id } hasNextPage }
		b: customers(page: 2) { nodes { id } }
	}`, nil)
	require.Empty(t, r.Errors, r.Raw)
	assert.EqualValues(t, 2, e.up.Calls())
}

func TestQ2CostsThreeCalls(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	r := e.query(`{ a: customers(page: 1) { nodes { id name } hasNextPage } b: customers(page: 2) { nodes { id name } } c: customers(page: 1, sort: NAME) { nodes { id } } }`, nil)
	require.Empty(t, r.Errors, r.Raw)
	assert.EqualValues(t, 3, e.up.Calls())
}

func TestManyCustomersByIDAreOneScan(t *testing.T) {
	t.Parallel()
	e := newEnv(t, nil)
	records := e.up.Records("")
	// Ids on pages 1, 3 and 7 (20 a page), asked in any order, with a page
	// the scan also needs asked directly.
	ids := []int{130, 2, 45, 41, 139}
	var q strings.Builder
	q.WriteString("{ customers(page: 3) { nodes { id } }")
	for i, idx := range ids {
		fmt.Fprintf(&q, " c%d: customer(id: %q) { id name }", i, records[idx]["_id"])
	}
	q.WriteString(" }")
	r := e.query(q.String(), nil)
	require.Empty(t, r.Errors, r.Raw)
	got := decode[map[string]any](t, r)
	for i, idx := range ids {
		assert.Equal(t, records[idx]["_id"], got[fmt.Sprintf("c%d", i)].(map[string]any)["id"])
	}
	// Page 1, then windows of 4 pages: 2-5, 6-9 (the one that holds page 7).
	assert.EqualValues(t, 9, e.up.Calls(), "pages 1..7 and the rest of page 7's window, each once")
}

func TestConcurrentIdenticalRequestsAreCoalesced(t *testing.T) {
	t.Parallel()
	// The upstream is slow enough that the requests overlap.
	e := newEnv(t, nil, upstreamtest.WithLatency(100*time.Millisecond))
	const clients = 50
	var wg sync.WaitGroup
	start := make(chan struct{})
	errs := make(chan string, clients)
	for range clients {
		wg.Go(func() {
			<-start
			r := e.query(`{ customers(page: 1) { nodes { id name } } }`, nil)
			if len(r.Errors) > 0 || r.Status != 200 {
				errs <- r.Raw
			}
		})
	}
	close(start)
	wg.Wait()
	close(errs)
	for raw := range errs {
		t.Error(raw)
	}
	assert.Less(t, e.up.Calls(), int64(10), "50 identical concurrent requests should share upstream calls")
}
