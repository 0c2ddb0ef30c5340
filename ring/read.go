package ring

import (
	"sync/atomic"
	"unsafe"

	"github.com/ringwire/ringwire/coordination"
	"github.com/ringwire/ringwire/layout"
)

// Begin runs before every read: it reports, once, a loss left pending by registration (a
// *LappedError for the events an evicted predecessor of this name missed), and refuses to read
// for a consumer that was closed, evicted or taken over (spec 5.7), so that a consumer removed
// from the registry never reads slots the producers may already be reusing.
func (c *Consumer) Begin() error {
	if c.pendingLoss != nil {
		err := c.pendingLoss
		c.pendingLoss = nil
		return err
	}
	if c.closed || c.entry.Load() != c.state || c.entry.OwnerID() != c.me {
		return c.Check()
	}
	return nil
}

// Bounds returns the run of sequences [start, end) to read next, gaps aside: from Next, up to End
// or max sequences (all of them if max <= 0). Call it once End > Next (after Wait, Await or
// Poll); if GapsIn reports true, call Range instead, which cuts the run at the first gap.
func (c *Consumer) Bounds(max int) (start, end uint64) {
	start, end = c.next, c.avail
	if max > 0 && end-start > uint64(max) {
		end = start + uint64(max)
	}
	return start, end
}

// Range is Bounds cut before the first gap (spec 5.8). If Next itself is a gap, it passes over
// the run of gaps there (releasing them) and returns a *GapError, start == end. It neither waits
// nor releases what it returns: read the slots (Slot, Spans), check Registered (or, optional,
// Lapped) and Release.
func (c *Consumer) Range(max int) (start, end uint64, err error) {
	start, end = c.Bounds(max)
	if c.gapsIn {
		if g := c.FirstGap(start, end); g < end {
			end = g // deliver what precedes the gap, then report it
		}
		if start == end {
			return start, end, c.PassGaps()
		}
	}
	return start, end, nil
}

// FirstGap returns the first sequence in [from, to) that was passed over as a gap, or to.
func (c *Consumer) FirstGap(from, to uint64) uint64 {
	for s := from; s < to; s++ {
		if c.availability(s) == (s+1)|layout.AvailGap {
			return s
		}
	}
	return to
}

// PassGaps moves past the run of gaps at Next, counts it in the entry and reports it as a
// *GapError.
func (c *Consumer) PassGaps() error {
	from, s := c.next, c.next
	for s < c.avail && c.availability(s) == (s+1)|layout.AvailGap {
		s++
	}
	if s == c.avail || c.FirstGap(s, c.avail) == c.avail {
		c.gapsIn = false
	}
	c.entry.GapsSeen.Add(s - from)
	c.Release(s)
	return &GapError{Seq: from, Count: s - from}
}

// SlotBytes returns the bytes of the slot of sequence seq (SlotSize of them), aliasing the ring.
func (c *Consumer) SlotBytes(seq uint64) []byte {
	return unsafe.Slice((*byte)(c.arr.Slot(seq)), c.arr.SlotSize)
}

// Optional reports whether the consumer is optional: it does not gate the producers, so every
// slot it reads must be copied and then checked with Lapped.
func (c *Consumer) Optional() bool { return c.opt }

// Pooled reports whether the consumer is a worker of a work pool (ConsumerOptions.Pool).
func (c *Consumer) Pooled() bool { return c.pool != nil }

// Ended reports, without waiting, whether the stream is over: the producer closed it and every
// sequence up to the producers' count was read.
func (c *Consumer) Ended() bool {
	return c.hdr.ProducerState.Load() == layout.StreamClosed && c.available() == c.next
}

// Pool deals the sequences of one stage out to its workers: each sequence goes to exactly one
// consumer of the pool, for handlers too slow to keep up alone. Each worker is a registered
// consumer whose cursor stays at the sequence it is working on, so the producer (and any stage
// reading behind the pool) waits for the slowest sequence in progress. A Pool lives in one
// process; it is safe for concurrent use by its workers.
type Pool struct {
	_    [64]byte // keep the contended counter off its neighbours' cache lines
	next atomic.Uint64
	_    [56]byte
}

// NewPool returns a pool whose first sequence is start (the producer's count when the stage
// begins; 0 for a new ring).
func NewPool(start uint64) *Pool {
	p := &Pool{}
	p.next.Store(start)
	return p
}

// TakeFromPool takes the pool's next sequence for this worker: it makes it Next (storing it as
// the cursor: the worker is finished with everything of its own below it) and waits for it as
// Wait does. Read it with Range(1).
func (c *Consumer) TakeFromPool() error {
	s := c.pool.next.Add(1) - 1
	c.next, c.avail = s, 0
	c.entry.Cursor.Store(s) // finished with everything of ours below s
	coordination.Notify(&c.wait.Producer)
	coordination.Notify(&c.wait.Consumer)
	return c.Wait()
}

// PassOverFrame passes over the frame [Next, to) whose slots include a gap (spec 11.3 step 4):
// its to - Next sequences are counted in the entry's gaps_seen, released, and reported as one
// *GapError.
func (c *Consumer) PassOverFrame(to uint64) error {
	from := c.next
	c.entry.GapsSeen.Add(to - from)
	if c.FirstGap(to, c.avail) == c.avail {
		c.gapsIn = false
	}
	c.Release(to)
	return &GapError{Seq: from, Count: to - from}
}

// Multi reports whether the ring is in multi-producer mode.
func (c *Consumer) Multi() bool { return c.multi }

// ClaimedCount returns the producers' claimed count (low 62 bits of claimed): every frame below
// it was claimed whole, so it is a frame boundary (spec 11.3 step 3, 11.4).
func (c *Consumer) ClaimedCount() uint64 { return c.cursors.ClaimedCount() }

// IsGap reports whether sequence seq was passed over as a gap (multi mode; spec 4.5).
func (c *Consumer) IsGap(seq uint64) bool {
	return c.multi && c.availability(seq) == (seq+1)|layout.AvailGap
}
