//go:build amd64 && !race

package order

import (
	"sync/atomic"
	"unsafe"
)

// Plain says that a plain store is a release store here, and that no race detector needs to see
// it: generic hot paths test it (a constant) and store inline, as StoreRelease does.
const Plain = true

// StoreRelease stores v with release ordering. On amd64 every store is a release store (TSO), so
// this is a plain MOV: it becomes visible after every earlier store and never waits for them. The
// Go compiler keeps stores in program order (they are sequenced on one memory chain), so the
// stores before it in the source are before it in the machine code too.
func StoreRelease(p *atomic.Uint64, v uint64) {
	*(*uint64)(unsafe.Pointer(p)) = v
}

// StoreStore is the release fence F1 of spec/LAYOUT.md 5.11, placed after a store that later
// stores must not pass. amd64 (TSO) never reorders stores with stores: nothing to do.
func StoreStore() {}

// LoadLoad is the acquire fence F4 of spec/LAYOUT.md 5.11, placed after loads that a later load
// must not pass. amd64 never reorders loads with loads: nothing to do.
func LoadLoad() {}
