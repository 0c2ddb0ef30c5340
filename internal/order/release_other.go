//go:build !amd64 || race

package order

import "sync/atomic"

// Plain is false: stores that need release ordering must use sync/atomic.
const Plain = false

// StoreRelease stores v with (at least) release ordering. Elsewhere, and under the race detector
// (which must see the synchronization), it is sync/atomic's store; on arm64 that is STLR, a
// release store that is already cheap.
func StoreRelease(p *atomic.Uint64, v uint64) { p.Store(v) }

// fenceWord is the private word whose read-modify-write serves as a fence where sync/atomic has
// none: an atomic RMW is ordered after every earlier access and before every later one (arm64:
// LDADDAL or an LDAXR/STLXR loop).
var fenceWord struct {
	_ [64]byte
	w atomic.Uint32
	_ [64]byte
}

// StoreStore is the release fence F1 of spec/LAYOUT.md 5.11: later stores do not pass earlier
// ones (an STLR orders only what precedes it).
func StoreStore() { fenceWord.w.Add(0) }

// LoadLoad is the acquire fence F4 of spec/LAYOUT.md 5.11: later loads do not pass earlier plain
// loads (an LDAR orders only what follows it).
func LoadLoad() { fenceWord.w.Add(0) }
