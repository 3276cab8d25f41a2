package upstream

import (
	"context"
	"errors"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
)

// Outcomes of one HTTP attempt, the values of the outcome label.
const (
	outcomeOK           = "ok"
	outcomeUnauthorized = "unauthorized"
	outcomeForbidden    = "forbidden"
	outcomeRateLimited  = "rate_limited"
	outcomeUnavailable  = "unavailable"
	outcomeBadResponse  = "bad_response"
	outcomeCanceled     = "canceled"
	// Refusals of the input: the upstream is fine, the caller's input is
	// not (see ErrConflict), so they are not bad_response.
	outcomeConflict = "conflict"
	outcomeRejected = "rejected"
	outcomeNotFound = "not_found"
)

// metrics are the client's Prometheus collectors. They exist even without
// WithMetrics (unregistered), so the code never checks for nil. No label
// holds a token, an id, an email or a URL.
type metrics struct {
	requests  *prometheus.CounterVec
	duration  prometheus.Histogram
	coalesced prometheus.Counter
	retries   prometheus.Counter

	circuitState       prometheus.Gauge
	circuitTransitions *prometheus.CounterVec
	inFlight           prometheus.Gauge
	concurrencyWait    prometheus.Histogram
	cacheRequests      *prometheus.CounterVec
}

func newMetrics() *metrics {
	return &metrics{
		requests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gateway_upstream_requests_total",
			Help: "HTTP attempts to the upstream, by outcome and HTTP status (\"none\" when no answer came).",
		}, []string{"outcome", "status"}),
		duration: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "gateway_upstream_request_duration_seconds",
			Help:    "Duration of one HTTP attempt to the upstream, body read included.",
			Buckets: prometheus.DefBuckets,
		}),
		coalesced: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gateway_upstream_coalesced_total",
			Help: "Callers that shared an identical upstream call already in flight instead of making their own.",
		}),
		retries: prometheus.NewCounter(prometheus.CounterOpts{
			Name: "gateway_upstream_retries_total",
			Help: "Upstream attempts made after a failed one (5xx, timeout, refused connection, or a 429 with a short Retry-After).",
		}),
		circuitState: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "gateway_upstream_circuit_state",
			Help: "State of the upstream circuit breaker: 0 closed, 1 half-open, 2 open. An open breaker turns half-open at the first call after its cooldown.",
		}),
		circuitTransitions: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gateway_upstream_circuit_transitions_total",
			Help: "Changes of state of the upstream circuit breaker, by the state entered (closed, half_open, open).",
		}, []string{"to"}),
		inFlight: prometheus.NewGauge(prometheus.GaugeOpts{
			Name: "gateway_upstream_in_flight",
			Help: "HTTP attempts to the upstream in flight now.",
		}),
		concurrencyWait: prometheus.NewHistogram(prometheus.HistogramOpts{
			Name:    "gateway_upstream_concurrency_wait_seconds",
			Help:    "Time an attempt waited for a slot under UPSTREAM_MAX_CONCURRENCY (those that gave up included).",
			Buckets: []float64{.0005, .001, .005, .01, .05, .1, .5, 1, 5},
		}),
		cacheRequests: prometheus.NewCounterVec(prometheus.CounterOpts{
			Name: "gateway_upstream_cache_requests_total",
			Help: "Page lookups in the cache, by result: hit (fresh, no call), miss (fetched from the upstream), stale (the upstream failed and an older page was served).",
		}, []string{"result"}),
	}
}

// register adds the collectors to reg. A collector that is already there
// (a second Client on the same registry) is shared rather than refused.
func (m *metrics) register(reg prometheus.Registerer) error {
	var err error
	m.requests = registerOrExisting(reg, m.requests, &err)
	m.duration = registerOrExisting(reg, m.duration, &err)
	m.coalesced = registerOrExisting(reg, m.coalesced, &err)
	m.retries = registerOrExisting(reg, m.retries, &err)
	m.circuitState = registerOrExisting(reg, m.circuitState, &err)
	m.circuitTransitions = registerOrExisting(reg, m.circuitTransitions, &err)
	m.inFlight = registerOrExisting(reg, m.inFlight, &err)
	m.concurrencyWait = registerOrExisting(reg, m.concurrencyWait, &err)
	m.cacheRequests = registerOrExisting(reg, m.cacheRequests, &err)
	return err
}

func registerOrExisting[C prometheus.Collector](reg prometheus.Registerer, c C, errp *error) C {
	if err := reg.Register(c); err != nil {
		var are prometheus.AlreadyRegisteredError
		if errors.As(err, &are) {
			if existing, ok := are.ExistingCollector.(C); ok {
				return existing
			}
		}
		*errp = errors.Join(*errp, err)
	}
	return c
}

// outcomeOf names the outcome of an attempt that ended with err.
func outcomeOf(err error) string {
	switch {
	case err == nil:
		return outcomeOK
	case errors.Is(err, ErrUnauthorized):
		return outcomeUnauthorized
	case errors.Is(err, ErrForbidden):
		return outcomeForbidden
	case errors.Is(err, ErrRateLimited):
		return outcomeRateLimited
	case errors.Is(err, ErrUnavailable):
		return outcomeUnavailable
	case errors.Is(err, ErrBadResponse):
		return outcomeBadResponse
	case errors.Is(err, ErrConflict):
		return outcomeConflict
	case errors.Is(err, ErrRejected):
		return outcomeRejected
	case errors.Is(err, ErrNotFound):
		return outcomeNotFound
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		return outcomeCanceled
	default:
		return outcomeBadResponse
	}
}

func statusLabel(status int) string {
	if status == 0 {
		return "none"
	}
	return strconv.Itoa(status)
}
