package producer

import (
	"sync/atomic"
	"unsafe"

	"github.com/ringwire/ringwire/internal/order"
	"github.com/ringwire/ringwire/layout"
)

// The per-event paths of a producer use these methods instead of layout.View's accessors and
// internal/order's functions. A generic method is compiled in the package that instantiates it
// (the user's), and there Go does not inline calls to functions of packages that one does not
// import: View.Slot and order.StoreRelease stayed calls, several per event. Methods of the generic
// type itself are instantiated with it and inline; sync/atomic's functions are instructions
// everywhere.

// slot returns the slot of sequence seq.
func (p *Producer[T]) slot(seq uint64) *T {
	return (*T)(unsafe.Add(p.arr.Slots, uintptr(seq&p.arr.Mask)*p.arr.SlotSize))
}

// availability returns seq's availability word (multi-producer mode).
func (p *Producer[T]) availability(seq uint64) *atomic.Uint64 {
	return (*atomic.Uint64)(unsafe.Add(p.arr.Avail, uintptr(seq&p.arr.Mask)*layout.AvailWord))
}

// storeRelease is order.StoreRelease, inline.
func (p *Producer[T]) storeRelease(w *atomic.Uint64, v uint64) {
	if order.Plain {
		*(*uint64)(unsafe.Pointer(w)) = v
		return
	}
	w.Store(v)
}

// isClosed reports whether Close was called.
func (p *Producer[T]) isClosed() bool { return atomic.LoadUint32(&p.closed) != 0 }

// casClaimed is p.cursors.Claimed.CompareAndSwap, inline.
func (p *Producer[T]) casClaimed(old, new uint64) bool {
	return atomic.CompareAndSwapUint64((*uint64)(unsafe.Pointer(&p.cursors.Claimed)), old, new)
}
