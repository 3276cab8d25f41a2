package upstream_test

import (
	"testing"

	"go.uber.org/goleak"
)

// TestMain fails the package when a goroutine outlives the tests: a flight,
// a retry wait or a slot waiter that never ends. No goroutine is ignored:
// every test closes its fake upstream, whose Close ends the client's idle
// connections from the server side, and goleak retries while they wind down.
func TestMain(m *testing.M) {
	goleak.VerifyTestMain(m)
}
