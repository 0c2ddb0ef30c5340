// Package order holds the one memory-ordering primitive Go's sync/atomic lacks: a store with
// release ordering only. Go's atomic stores are sequentially consistent, which on amd64 means an
// XCHG that drains the store buffer: on a ring that fills 64 slots and then publishes, that drain
// waits for every slot's cache line. spec/LAYOUT.md (5.3, 5.5) allows a release store whenever no
// peer blocks in the kernel; this package provides it.
package order

import "sync/atomic"

// Full is the sequentially consistent fence F2 of spec/LAYOUT.md 5.11, for the wake path only: an
// atomic read-modify-write of a private word orders every earlier store before every later load,
// on every architecture (amd64: LOCK XADD).
func Full() { full.w.Add(0) }

var full struct {
	_ [64]byte
	w atomic.Uint32
	_ [64]byte
}
