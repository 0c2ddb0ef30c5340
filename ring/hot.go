package ring

import (
	"sync/atomic"
	"unsafe"

	"github.com/ringwire/ringwire/internal/order"
)

// Inline paths. A generic method is compiled in the package that instantiates it (the user's),
// and there Go inlines a call to another package's function only if that function's body is in
// the export data the compiler reads: its own package's, which is read only if the user's package
// imports it, or that of a package that inlines it in one of its own non-generic functions (the
// compiler exports the bodies those reach). So the typed layers (producer, consumer) each keep
// one non-generic function that calls every method of this file and the Fast halves
// (ClaimFast, PublishFast, ReleaseFast, ...): that puts their bodies in the typed package's
// export data, and the generic per-event loops compiled in the user's package inline them. Keep
// these methods small (within the inliner's budget of 80) and free of calls that are not inlined.

// Slot returns the address of the slot of sequence seq (layout.Arrays.Slot).
func (p *Producer) Slot(seq uint64) unsafe.Pointer { return p.arr.Slot(seq) }

// SlotSize returns the distance in bytes from one slot to the next.
func (p *Producer) SlotSize() uintptr { return p.arr.SlotSize }

// isClosed reports whether Close was called.
func (p *Producer) isClosed() bool { return atomic.LoadUint32(&p.closed) != 0 }

// Slot returns the address of the slot of sequence seq (layout.Arrays.Slot). The slot holds
// sequence seq only while seq is in [Next, End) and not released.
func (c *Consumer) Slot(seq uint64) unsafe.Pointer { return c.arr.Slot(seq) }

// SlotSize returns the distance in bytes from one slot to the next.
func (c *Consumer) SlotSize() uintptr { return c.arr.SlotSize }

// Next returns the consumer's cursor: the next sequence to read, every one below it released.
func (c *Consumer) Next() uint64 { return c.next }

// End returns the end of the available range seen by the last wait or poll: sequences in
// [Next, End) are published and may be read (a multi-producer ring's gaps among them are marked;
// see Range).
func (c *Consumer) End() uint64 { return c.avail }

// Spans returns the slots of sequences [start, end) as at most two runs, in sequence order: the
// second is non-empty only when they wrap around the end of the ring (it then starts at slot 0).
func (c *Consumer) Spans(start, end uint64) (first, second Span) {
	return spans(&c.arr, start, end-start)
}

// Registered reports whether this consumer's registration still holds its entry (spec 5.5 step
// 2), to be checked after reading each slot and before delivering what was read: eviction stops
// the gating at once, so the slots of an evicted consumer's batch may be in reuse. The fence F4
// keeps the slot's loads before this load (amd64 needs none). The state word alone decides: the
// owner word changes only after the state does (eviction) or after this process died (takeover).
func (c *Consumer) Registered() bool {
	if !order.Plain {
		order.LoadLoad()
	}
	return atomic.LoadUint32((*uint32)(unsafe.Pointer(&c.entry.StateGen))) == uint32(c.state)
}

// Lapped reports, for an optional consumer, whether sequence s may have been overwritten: the
// producers have claimed a count that puts s's slot in reuse (spec section 10). Call it after
// copying s's slot (or a frame's slots from s on: the lowest sequence is reused first): the fence
// F4 (spec 5.10 step 2) keeps the copy's loads before the load of claimed. If it reports true,
// the copy is void: SkipLapped moves past the loss.
func (c *Consumer) Lapped(s uint64) bool {
	if !order.Plain {
		order.LoadLoad()
	}
	return c.cursors.ClaimedCount() > s+c.arr.Mask+1
}

// GapsIn reports whether the last availability scan found a gap among [Next, End) (multi mode):
// only then must a reader look for gaps (Range does).
func (c *Consumer) GapsIn() bool { return c.gapsIn }

// ReleaseFast is Release's common case, small enough to be inlined (between seeing an event and
// the next store on the way back, calls measured more than their instructions): it stores the
// cursor with a release store (spec 5.5 step 2), then loads the blockers counts (step 3; the
// order matters, see 5.6). It reports false when ReleaseSlow has work left: a wake, or a
// heartbeat that is due.
func (c *Consumer) ReleaseFast(to uint64) bool {
	c.next = to
	c.batches++
	order.StoreRelease(&c.entry.Cursor, to)
	return c.hdr.ProducerBlockers.Load()|c.hdr.ConsumerBlockers.Load() == 0 && c.batches%1024 != 0
}

// touch reads the aligned word of seq's slot that holds its first byte and discards it, to bring
// the slot's cache line toward this core while the producer may still be writing it (the value
// is never used). Under the race detector, which would report that read, it does nothing.
func (c *Consumer) touch(seq uint64) {
	if order.Plain {
		_ = atomic.LoadUint64((*uint64)(unsafe.Pointer(uintptr(c.arr.Slot(seq)) &^ 7)))
	}
}

// PollPublished polls the published cursor (single producer, no consumer read behind) up to the
// strategy's QuickPolls times and reports whether it passed Next, making End that count. Each
// poll also reads the next sequence's slot, so that when the cursor moves the slot's cache line
// is already on its way: the two transfers overlap instead of following one another (the value
// read is discarded; the slot is read again after the cursor, as spec 5.4 orders). After it
// reports true, call Check (Await does both, then waits).
func (c *Consumer) PollPublished() bool {
	next := c.next
	for i := 0; i < c.quick; i++ {
		if hi := c.cursors.Published.Load(); hi > next {
			c.avail = hi
			return true
		}
		c.touch(next)
	}
	return false
}

// availability returns seq's availability word (multi-producer mode).
func (c *Consumer) availability(seq uint64) uint64 { return c.arr.Availability(seq).Load() }

// Spans returns the slots of sequences [start, end) as at most two runs, in sequence order: the
// second is non-empty only when they wrap around the end of the ring (it then starts at slot 0).
// For a claim made with ClaimFast or ClaimSlow.
func (p *Producer) Spans(start, end uint64) (first, second Span) {
	return spans(&p.arr, start, end-start)
}

// TouchSlots reads the first word of every slot of [from, to) and discards it: independent loads
// that bring the slots' cache lines toward this core together, before a reader that must go from
// one frame header to the next (each address known only from the previous header) walks them.
// Without it each header is a cache miss waited for alone; with it they overlap. Values read here
// mean nothing (the slots are read again after); under the race detector it does nothing.
func (c *Consumer) TouchSlots(from, to uint64) {
	if !order.Plain {
		return
	}
	for s := from; s < to; s++ {
		_ = atomic.LoadUint64((*uint64)(c.arr.Slot(s)))
	}
}
