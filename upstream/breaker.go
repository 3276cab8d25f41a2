package upstream

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/sony/gobreaker/v2"
)

// DefaultBreakerCooldown is how long an open circuit stays open before a
// probe is let through (UPSTREAM_BREAKER_COOLDOWN).
const DefaultBreakerCooldown = 5 * time.Second

// ErrCircuitOpen is the cause (Error.Err) of an ErrUnavailable answered at
// once, without any HTTP call, because the circuit breaker is open (or
// half-open with its probe already out). Its text has no "upstream:"
// prefix because it only ever appears inside an *Error that has one.
var ErrCircuitOpen = errors.New("circuit breaker open, no call was made")

// The trip rule, over a rolling window of breakerWindow: the circuit opens
// after breakerConsecutive failed attempts in a row, or when at least half
// of at least breakerMinRequests counted attempts failed. Ten in a row, not
// five: at 1,000 attempts/s, an upstream failing 10 % of calls at random
// gives five failures in a row every ~100 s but ten practically never, while
// a dead upstream still trips it within three or four requests (each makes
// 1 + UPSTREAM_RETRIES attempts). The ratio catches an upstream that fails
// most calls without ten in a row.
const (
	breakerConsecutive = 10
	breakerMinRequests = 20
	breakerWindow      = 10 * time.Second
	breakerBucket      = time.Second
	// breakerProbes attempts are let through when half-open; as many
	// successes in a row close the circuit, one failure opens it again.
	breakerProbes = 1
)

// WithBreaker puts one circuit breaker (for the upstream, not per token) in
// front of every attempt, retries included. It counts as failures only 5xx,
// timeouts and refused connections (ErrUnavailable); 4xx, 429 and bad
// responses count as successes (the upstream answered), and attempts
// cancelled because every caller went away are not counted at all. See the
// trip rule above. While open, every call answers ErrUnavailable wrapping
// ErrCircuitOpen at once; after cooldown one probe goes through.
func WithBreaker(cooldown time.Duration) Option {
	return func(c *Client) {
		if cooldown <= 0 {
			c.setErr(fmt.Errorf("upstream: breaker cooldown must be positive, got %s", cooldown))
			return
		}
		c.breakerCooldown = cooldown
	}
}

// newBreaker is one breaker for every endpoint. It judges an attempt by its
// error alone, whatever the attempt decodes, hence the two-step breaker
// (its type parameter is unused).
func (c *Client) newBreaker(cooldown time.Duration) *gobreaker.TwoStepCircuitBreaker[struct{}] {
	return gobreaker.NewTwoStepCircuitBreaker[struct{}](gobreaker.Settings{
		Name:         "upstream",
		MaxRequests:  breakerProbes,
		Interval:     breakerWindow,
		BucketPeriod: breakerBucket,
		Timeout:      cooldown,
		ReadyToTrip: func(n gobreaker.Counts) bool {
			counted := n.TotalSuccesses + n.TotalFailures
			return n.ConsecutiveFailures >= breakerConsecutive ||
				(counted >= breakerMinRequests && 2*n.TotalFailures >= counted)
		},
		IsSuccessful: func(err error) bool { return !errors.Is(err, ErrUnavailable) },
		IsExcluded:   callerGone,
		// Called with the breaker's lock held: only metrics and a log line.
		OnStateChange: func(_ string, from, to gobreaker.State) {
			c.metrics.circuitState.Set(float64(to)) // closed 0, half-open 1, open 2
			c.metrics.circuitTransitions.WithLabelValues(stateName(to)).Inc()
			c.log.Warn("upstream circuit breaker changed state", "from", stateName(from), "to", stateName(to))
		},
	})
}

// callerGone reports an attempt cut because every caller went away: a bare
// context error, never an *Error (an attempt timeout is ErrUnavailable).
// Such an attempt says nothing about the upstream's health.
func callerGone(err error) bool {
	var e *Error
	return !errors.As(err, &e) && (errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded))
}

// guard runs one attempt through the breaker, when there is one.
func (c *Client) guard(attempt func() error) (err error) {
	if c.breaker == nil {
		return attempt()
	}
	done, err := c.breaker.Allow()
	if err != nil { // open, or half-open with its probes out
		return &Error{Kind: ErrUnavailable, Err: ErrCircuitOpen}
	}
	// Deferred so that a panicking attempt still ends its turn (a
	// half-open breaker would wait for it forever).
	defer func() { done(err) }()
	return attempt()
}

// stateName is a breaker state as a metric label value and in logs.
func stateName(s gobreaker.State) string {
	switch s {
	case gobreaker.StateClosed:
		return "closed"
	case gobreaker.StateHalfOpen:
		return "half_open"
	default:
		return "open"
	}
}
