package httpserver

import (
	"sync"

	"github.com/prometheus/client_golang/prometheus"
)

// metrics are the gateway's own series; the upstream client registers its
// own on the same registry.
type metrics struct {
	operations *prometheus.CounterVec
	duration   *prometheus.HistogramVec
	inFlight   prometheus.Gauge
	tokenReads *prometheus.CounterVec
	creates    *prometheus.CounterVec
	names      *boundedNames
}

func newMetrics(reg prometheus.Registerer) *metrics {
	m := &metrics{
		operations: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gateway_graphql_operations_total",
			Help: "GraphQL operations by operation name and outcome (ok, or the first error code).",
		}, []string{"operation", "outcome"}),
		duration: prometheus.NewHistogramVec(prometheus.HistogramOpts{
			Name:    "gateway_graphql_operation_duration_seconds",
			Help:    "Time to answer a GraphQL operation, by operation name.",
			Buckets: []float64{.001, .0025, .005, .01, .025, .05, .1, .25, .5, 1, 2.5, 5, 10},
		}, []string{"operation"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "gateway_http_requests_in_flight",
			Help: "HTTP requests being served.",
		}),
		tokenReads: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gateway_login_token_reads_total",
			Help: "Login token reads (loginToken, userLoginToken) by outcome: ok, not_found, forbidden, error.",
		}, []string{"outcome"}),
		creates: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gateway_customer_creates_total",
			Help: "createCustomer calls by outcome: created, user_error (INVALID, TAKEN, REJECTED, IDEMPOTENCY_KEY_REUSED), upstream_error (and auth errors), idempotent_replay, forbidden.",
		}, []string{"outcome"}),
		names: &boundedNames{max: maxOperationNames, seen: map[string]bool{}},
	}
	reg.MustRegister(m.operations, m.duration, m.inFlight, m.tokenReads, m.creates)
	return m
}

// maxOperationNames bounds the operation label: clients choose operation
// names, so the first ones seen get their own series and the rest share one.
const maxOperationNames = 100

type boundedNames struct {
	mu   sync.Mutex
	max  int
	seen map[string]bool
}

// label returns the metric label for an operation name.
func (b *boundedNames) label(name string) string {
	if name == "" {
		return "anonymous"
	}
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.seen[name] {
		return name
	}
	if len(b.seen) >= b.max {
		return "other"
	}
	b.seen[name] = true
	return name
}
