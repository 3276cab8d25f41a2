// Package stackgrow sizes a new goroutine's stack for the work it is
// about to do, while the stack holds a single frame. A goroutine's stack
// starts at the runtime's estimate (the average the collector last saw,
// over every goroutine, most of them shallow) and doubles whenever a call
// needs more; each doubling
// copies the stack and walks every frame on it to fix its pointers, and
// deep in a request (gqlgen's resolvers, net/http's client) that walk
// costs several microseconds. Growing once at the start copies one frame.
//
// The sizes are measured: smaller ones left the copies deep in the work,
// larger ones cost more to allocate and for the collector to scan.
package stackgrow

// To32K grows the calling goroutine's stack to 32 KB: what a GraphQL
// execution reaches (gqlgen's resolvers and renderers, the loaders).
//
//go:noinline
func To32K() {
	var frame [16 << 10]byte
	keep(frame[:])
}

// To8K grows the calling goroutine's stack to 8 KB: what an upstream call
// reaches (net/http's client, decoding a page).
//
//go:noinline
func To8K() {
	var frame [4 << 10]byte
	keep(frame[:])
}

// keep makes the frame's array live, so that the compiler keeps it.
//
//go:noinline
func keep([]byte) {}
