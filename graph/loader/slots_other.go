//go:build !unix

package loader

// newSlots returns n zeroed slots; here on the Go heap.
func newSlots(n int) []slot { return make([]slot, n) }

func freeSlots([]slot) {}
