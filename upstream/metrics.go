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
)

// metrics are the client's Prometheus collectors. They exist even without
// WithMetrics (unregistered), so the code never checks for nil. No label
// holds a token, an id, an email or a URL.
type metrics struct {
	requests  *prometheus.CounterVec
	duration  prometheus.Histogram
	coalesced prometheus.Counter
	retries   prometheus.Counter
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
