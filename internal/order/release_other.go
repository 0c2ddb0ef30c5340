//go:build !amd64 || race

package order

import "sync/atomic"

// Plain is false: stores that need release ordering must use sync/atomic.
const Plain = false

// StoreRelease stores v with (at least) release ordering. Elsewhere, and under the race detector
// (which must see the synchronization), it is sync/atomic's store; on arm64 that is STLR, a
// release store that is already cheap.
func StoreRelease(p *atomic.Uint64, v uint64) { p.Store(v) }
