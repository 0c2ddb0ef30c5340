package consumer

import (
	"sync/atomic"
	"unsafe"

	"github.com/ringwire/ringwire/internal/order"
	"github.com/ringwire/ringwire/layout"
)

// The per-event paths of a consumer use these methods instead of layout.View's accessors and
// internal/order's functions. A generic method is compiled in the package that instantiates it
// (the user's), and there Go does not inline calls to functions of packages that one does not
// import: View.Slot and order.StoreRelease stayed calls, several per event. Methods of the generic
// type itself are instantiated with it and inline; sync/atomic's functions are instructions
// everywhere.

// slot returns the event of sequence seq.
func (c *Consumer[T]) slot(seq uint64) *T {
	return (*T)(unsafe.Add(c.arr.Slots, uintptr(seq&c.arr.Mask)*c.arr.SlotSize))
}

// availability returns seq's availability word (multi-producer mode).
func (c *Consumer[T]) availability(seq uint64) uint64 {
	return atomic.LoadUint64((*uint64)(unsafe.Add(c.arr.Avail, uintptr(seq&c.arr.Mask)*layout.AvailWord)))
}

// storeRelease is order.StoreRelease, inline.
func (c *Consumer[T]) storeRelease(p *atomic.Uint64, v uint64) {
	if order.Plain {
		*(*uint64)(unsafe.Pointer(p)) = v
		return
	}
	p.Store(v)
}

// touch reads the aligned word of seq's slot that holds its first byte and discards it, to bring
// the slot's cache line toward this core while the producer may still be writing it (the value
// is never used). Under the race detector, which would report that read, it does nothing.
func (c *Consumer[T]) touch(seq uint64) {
	if order.Plain {
		_ = atomic.LoadUint64((*uint64)(unsafe.Pointer(uintptr(unsafe.Pointer(c.slot(seq))) &^ 7)))
	}
}

// registered reports whether this consumer's registration still holds its entry (spec 5.5 step
// 2), checked before each event is delivered: eviction stops the gating at once, so the slots of
// an evicted consumer's batch may be in reuse. The fence F4 keeps the event's loads before this
// load (amd64 needs none). The state word alone decides: the owner word changes only after the
// state does (eviction) or after this process died (takeover).
func (c *Consumer[T]) registered() bool {
	if !order.Plain {
		order.LoadLoad()
	}
	return atomic.LoadUint32((*uint32)(unsafe.Pointer(&c.entry.StateGen))) == uint32(c.state)
}
