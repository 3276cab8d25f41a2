package httpserver_test

import (
	"context"
	"maps"
	"math/rand/v2"
	"os"
	"runtime"
	"sort"
	"sync"
	"testing"
	"time"

	"github.com/stretchr/testify/assert"
	"github.com/stretchr/testify/require"
	"go.uber.org/goleak"

	"github.com/botpenguin-gateway/gateway/upstream"
	"github.com/botpenguin-gateway/gateway/upstream/upstreamtest"
)

// contractCodes are the extensions.code values the contract lists.
var contractCodes = map[string]bool{
	"UNAUTHENTICATED": true, "FORBIDDEN": true, "BAD_USER_INPUT": true, "RATE_LIMITED": true,
	"UPSTREAM_UNAVAILABLE": true, "UPSTREAM_BAD_RESPONSE": true, "UPSTREAM_INVALID_RECORD": true,
	"SCAN_LIMIT_REACHED": true, "GRAPHQL_VALIDATION_FAILED": true, "GRAPHQL_PARSE_FAILED": true,
	"COMPLEXITY_LIMIT_EXCEEDED": true, "PERSISTED_QUERY_NOT_FOUND": true,
}

// The soak's mix: one page with every field, three aliased pages with
// hasNextPage (six upstream pages), one customer by id (a scan).
const (
	soakQ1 = `query($page: Int!, $sort: CustomerSort!) { customers(page: $page, sort: $sort) { nodes { ` + allFields + ` } page hasNextPage } }`
	soakQ2 = `query($page: Int!) {
		a: customers(page: $page) { nodes { id } hasNextPage }
		b: customers(page: $page, sort: NAME) { nodes { id name } hasNextPage }
		c: customers(page: $page, sort: UPDATED_AT) { nodes { id createdAt } hasNextPage } }`
	soakQ3 = `query($id: ID!) { customer(id: $id) { id name } }`
)

var soakSorts = []string{"CREATED_AT", "UPDATED_AT", "NAME", "LAST_LOGIN"}

// soakStats is what the load saw.
type soakStats struct {
	mu        sync.Mutex
	requests  map[string]int // by query
	codes     map[string]int // GraphQL errors by extensions.code
	status5xx int
	failures  []string // transport errors, unknown codes, wrong data (the first few)
}

func (s *soakStats) fail(format string, args ...any) {
	if len(s.failures) < 10 {
		s.failures = append(s.failures, sprintf(format, args...))
	}
}

// TestSoakUnderUpstreamFaults drives the gateway from 16 concurrent clients
// while the upstream fails 10 % of calls with 503 and stalls 2 % past
// UPSTREAM_TIMEOUT, in two phases of SOAK_DURATION/2 each: with the breaker
// and a concurrency bound below the client count, then with the page cache
// and stale-if-error on top. The gateway must never answer 5xx, every error
// must carry a contract code, no goroutine may outlive it and its heap must
// stay flat. It runs only when SOAK_DURATION is set, as CI does:
//
//	SOAK_DURATION=60s go test -race -run TestSoak -v ./internal/httpserver/
func TestSoakUnderUpstreamFaults(t *testing.T) {
	v := os.Getenv("SOAK_DURATION")
	if v == "" {
		t.Skip("soak test: set SOAK_DURATION (e.g. 10s) to run it")
	}
	duration, err := time.ParseDuration(v)
	require.NoError(t, err, "SOAK_DURATION")
	// The breaker is on by default (UPSTREAM_BREAKER_COOLDOWN); the
	// concurrency bound is below the 16 clients, so that the wait path is
	// exercised.
	resilience := map[string]string{"UPSTREAM_MAX_CONCURRENCY": "8"}
	// Not parallel: the goroutine and heap measurements need the process
	// to themselves (parallel tests are paused while these run).
	t.Run("breaker and concurrency bound", func(t *testing.T) {
		soak(t, duration/2, resilience)
	})
	t.Run("with cache and stale-if-error", func(t *testing.T) {
		withCache := maps.Clone(resilience)
		maps.Copy(withCache, map[string]string{"CACHE_TTL": "250ms", "CACHE_STALE_IF_ERROR": "5s", "CACHE_MAX_ENTRIES": "1000"})
		soak(t, duration/2, withCache)
	})
}

// soak runs the load for duration against a gateway configured by vars,
// then checks and logs what it saw.
func soak(t *testing.T, duration time.Duration, vars map[string]string) {
	baseline := goleak.IgnoreCurrent()
	// Production backoff, and logs at warn so that a long run does not pile
	// up debug lines in memory.
	vars = maps.Clone(vars)
	maps.Copy(vars, map[string]string{"UPSTREAM_TIMEOUT": "200ms", "UPSTREAM_RETRIES": "2", "LOG_LEVEL": "warn"})
	e := newEnvWith(t, vars, []upstream.Option{upstream.WithBackoff(100*time.Millisecond, 2*time.Second)})
	e.up.SetFault(upstreamtest.Chain(
		upstreamtest.Ratio(0.10, upstreamtest.Status(503), 1),
		upstreamtest.Ratio(0.02, upstreamtest.Stall(300*time.Millisecond), 2),
	))
	var ids []string
	for _, rec := range e.up.Records("") {
		ids = append(ids, rec["_id"].(string))
	}
	pages := len(ids) / 20 // the fake's page size

	stats := &soakStats{requests: map[string]int{}, codes: map[string]int{}}
	ctx, stop := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	for w := range 16 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 42))
			for ctx.Err() == nil {
				soakOne(e, rng, ids, pages, stats)
			}
		}()
	}

	heapInUse := func() uint64 {
		runtime.GC()
		var ms runtime.MemStats
		runtime.ReadMemStats(&ms)
		return ms.HeapInuse
	}
	// Both samples under load, so that they compare like with like.
	time.Sleep(duration / 3)
	heapMid := heapInUse()
	time.Sleep(duration - duration/3)
	heapEnd := heapInUse()
	stop()
	wg.Wait()

	upstreamCalls := e.up.Calls()
	metric := func(name string, labels ...string) float64 { return soakMetric(t, e.reg, name, labels...) }
	var codes []string
	total := 0
	for _, n := range stats.requests {
		total += n
	}
	for code, n := range stats.codes {
		codes = append(codes, sprintf("%s=%d", code, n))
	}
	sort.Strings(codes)
	t.Logf("soak %v, 16 clients: %d requests (%v), %.0f req/s; errors by code %v; gateway 5xx %d",
		duration, total, stats.requests, float64(total)/duration.Seconds(), codes, stats.status5xx)
	t.Logf("upstream: %d calls, %.0f retries, %.0f coalesced; cache hit/miss/stale %.0f/%.0f/%.0f; circuit opened %.0f times",
		upstreamCalls, metric("gateway_upstream_retries_total"), metric("gateway_upstream_coalesced_total"),
		metric("gateway_upstream_cache_requests_total", "result", "hit"),
		metric("gateway_upstream_cache_requests_total", "result", "miss"),
		metric("gateway_upstream_cache_requests_total", "result", "stale"),
		metric("gateway_upstream_circuit_transitions_total", "to", "open"))
	t.Logf("answer cache hit/miss %.0f/%.0f",
		metric("gateway_graphql_answer_cache_requests_total", "result", "hit"),
		metric("gateway_graphql_answer_cache_requests_total", "result", "miss"))
	t.Logf("heap in use after GC: %.1f MiB at 1/3, %.1f MiB at the end", mib(heapMid), mib(heapEnd))

	assert.Zero(t, stats.status5xx, "gateway answers with HTTP 5xx")
	assert.Empty(t, stats.failures)
	assert.Greater(t, total, 100, "too little load to mean anything")
	assert.Less(t, heapEnd, heapMid*3/2+4<<20, "heap grew from %.1f MiB to %.1f MiB", mib(heapMid), mib(heapEnd))
	assert.Eventually(t, func() bool { return metric("gateway_upstream_in_flight") == 0 },
		5*time.Second, 10*time.Millisecond, "upstream attempts still in flight")

	// Every goroutine the run started ends once the servers are closed.
	e.gw.Close()
	e.up.Close()
	goleak.VerifyNone(t, baseline)
}

// soakOne sends one request of the mix and checks the answer.
func soakOne(e *env, rng *rand.Rand, ids []string, pages int, s *soakStats) {
	var kind, query string
	var vars map[string]any
	switch n := rng.IntN(10); {
	case n < 5:
		kind, query = "Q1", soakQ1
		vars = map[string]any{"page": 1 + rng.IntN(pages), "sort": soakSorts[rng.IntN(len(soakSorts))]}
	case n < 8:
		kind, query = "Q2", soakQ2
		vars = map[string]any{"page": 1 + rng.IntN(pages)}
	default:
		kind, query = "customer", soakQ3
		vars = map[string]any{"id": ids[rng.IntN(len(ids))]}
	}
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	r, err := soakPost(ctx, e, query, vars)

	s.mu.Lock()
	defer s.mu.Unlock()
	s.requests[kind]++
	switch {
	case err != nil:
		s.fail("%s: %v (HTTP %d)", kind, err, r.Status)
		return
	case r.Status >= 500:
		s.status5xx++
		s.fail("%s: HTTP %d: %s", kind, r.Status, r.Raw)
		return
	case r.Status != 200:
		s.fail("%s: HTTP %d: %s", kind, r.Status, r.Raw)
		return
	}
	for _, ge := range r.Errors {
		code, _ := ge.Extensions["code"].(string)
		s.codes[code]++
		if !contractCodes[code] {
			s.fail("%s: error without a contract code: %s", kind, r.Raw)
		}
	}
	if len(r.Errors) > 0 {
		return
	}
	// A complete answer is a right one, stale pages included.
	switch kind {
	case "Q1":
		var d struct {
			Customers struct{ Nodes []customerJSON } `json:"customers"`
		}
		if decodeInto(r, &d) != nil || len(d.Customers.Nodes) != 20 {
			s.fail("Q1 %v: %d nodes: %s", vars, len(d.Customers.Nodes), r.Raw)
		}
	case "customer":
		var d struct{ Customer *customerJSON }
		if decodeInto(r, &d) != nil || d.Customer == nil || d.Customer.ID != vars["id"] {
			s.fail("customer %v: %s", vars, r.Raw)
		}
	}
}
