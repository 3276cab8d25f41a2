//go:build unix

package loader

import (
	"syscall"
	"unsafe"
)

// newSlots returns n zeroed slots mapped outside the Go heap, which the
// collector neither scans nor counts (a slot holds no pointer): the index
// costs its size in memory, not three times it (see Index). Pages never
// written stay out of memory.
func newSlots(n int) []slot {
	size := n * int(unsafe.Sizeof(slot{}))
	mem, err := syscall.Mmap(-1, 0, size, syscall.PROT_READ|syscall.PROT_WRITE, syscall.MAP_ANON|syscall.MAP_PRIVATE)
	if err != nil {
		return make([]slot, n) // out of mappings: the heap still works
	}
	return unsafe.Slice((*slot)(unsafe.Pointer(unsafe.SliceData(mem))), n)
}

// freeSlots gives back slots from newSlots once their table is gone.
func freeSlots(s []slot) {
	if len(s) == 0 {
		return
	}
	mem := unsafe.Slice((*byte)(unsafe.Pointer(unsafe.SliceData(s))), len(s)*int(unsafe.Sizeof(slot{})))
	_ = syscall.Munmap(mem) // a slice from make is not a mapping: EINVAL, and the collector has it
}
