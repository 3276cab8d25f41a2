package httpserver

import (
	"errors"
	"testing"

	"github.com/stretchr/testify/assert"
)

func TestPanicSummaryPrintsOnlyRuntimeErrors(t *testing.T) {
	var runtimeErr error
	func() {
		defer func() { runtimeErr, _ = recover().(error) }()
		var m map[string]int
		m["x"] = 1 // assignment to entry in nil map
	}()
	assert.Equal(t, runtimeErr.Error(), panicSummary(runtimeErr), "the runtime's own message names no value")

	for _, v := range []any{"password hunter2", errors.New("token tok-123"), struct{ Key string }{"tok-123"}} {
		got := panicSummary(v)
		assert.NotContains(t, got, "hunter2")
		assert.NotContains(t, got, "tok-123")
		assert.Contains(t, got, "not logged")
	}
}
