package consumer

import (
	"unsafe"

	"github.com/ringwire/ringwire/layout"
	"github.com/ringwire/ringwire/ring"
	"github.com/ringwire/ringwire/segment"
)

// ErrCorruptFrame is returned for a frame header that is not valid at its sequence (spec 11.3
// step 2); the error is a *layout.FrameError naming the sequence and the rule that failed.
var ErrCorruptFrame = layout.ErrCorruptFrame

// MessageFunc handles one message of a framed ring. msg aliases the ring (a required consumer)
// or the consumer's copy buffer (an optional one): it is valid only during the call and must not
// be written. seq is the sequence of the message's frame. endOfBatch is true for the last
// message of the batch being handed over. A non-nil error stops the batch: that message and the
// ones after it are not released.
type MessageFunc func(msg []byte, seq uint64, endOfBatch bool) error

// Framed reads the messages of a framed ring (spec section 11) in order. A required consumer
// hands each message over in place, as a slice of the segment, and releases it once the batch's
// handler calls return; an optional one hands over a copy checked against laps (spec 11.4). It
// is not safe for concurrent use: one goroutine reads.
type Framed struct {
	r       *ring.Consumer
	g       layout.FrameGeometry
	hl      uintptr
	mask    uint64
	opt     bool
	multi   bool
	refs    []frameRef // the messages of the batch being delivered (required consumers)
	touched uint64     // slots below it were touched already (TouchSlots)
	buf     []byte     // optional consumers' copy of one payload
}

type frameRef struct {
	seq uint64
	n   uint32
}

// AttachFramed attaches to the framed ring at b (waiting up to Options.AttachTimeout for it)
// and registers a consumer in it. Options.TypeName, if set, must be the ring's message type.
func AttachFramed(b segment.Backing, o Options) (*Framed, error) {
	r, err := ring.AttachFramedConsumer(b, o)
	if err != nil {
		return nil, err
	}
	return newFramed(r)
}

// RegisterFramed registers a consumer in a framed ring this process already holds.
func RegisterFramed(seg *segment.Segment, o Options) (*Framed, error) {
	r, err := ring.RegisterFramedConsumer(seg, o)
	if err != nil {
		return nil, err
	}
	return newFramed(r)
}

func newFramed(r *ring.Consumer) (*Framed, error) {
	g, err := r.Segment().View().Frames()
	if err != nil {
		r.Close()
		return nil, err
	}
	c := &Framed{r: r, g: g, hl: uintptr(g.HeaderLen), mask: g.Capacity - 1, opt: r.Optional(), multi: r.Multi()}
	if c.opt {
		c.buf = make([]byte, g.MaxMessage)
	}
	return c, nil
}

// Geometry returns the ring's frame geometry.
func (c *Framed) Geometry() layout.FrameGeometry { return c.g }

// Segment returns the consumer's segment.
func (c *Framed) Segment() *segment.Segment { return c.r.Segment() }

// Cursor returns the next sequence to read: a frame boundary.
func (c *Framed) Cursor() uint64 { return c.r.Next() }

// Index returns the consumer's registry entry index.
func (c *Framed) Index() int { return c.r.Index() }

// Lag returns how many published sequences (slots) this consumer has not read yet.
func (c *Framed) Lag() uint64 { return c.r.Lag() }

// Resumed reports whether this consumer took over a dead consumer's registration.
func (c *Framed) Resumed() bool { return c.r.Resumed() }

// Close deregisters the consumer and releases the segment.
func (c *Framed) Close() error { return c.r.Close() }

// Process waits for at least one message (see Options.Wait and ReadTimeout), then hands up to
// max of them (all available if max <= 0) to h, and releases them together. It returns how many
// messages h finished with. Losses are errors with nothing delivered: a *GapError for sequences a
// dead producer left (spec 11.3 steps 1 and 4), a *LappedError for an optional consumer that was
// overwritten (11.4); the consumer has moved past them, and the next call goes on. A corrupt
// frame is a *layout.FrameError (ErrCorruptFrame); the cursor stays before it. ErrEndOfStream
// once the producer has closed and every message was read.
func (c *Framed) Process(h MessageFunc, max int) (int, error) {
	r := c.r
	if err := r.Begin(); err != nil {
		return 0, err
	}
	for {
		if r.End() <= r.Next() {
			if err := r.Await(); err != nil {
				return 0, err
			}
		}
		n, want, err := c.deliver(h, max)
		if n > 0 || err != nil {
			return n, err
		}
		if want > r.End() { // the frame at Next is not all published yet (spec 11.3 step 3)
			if err := r.WaitFor(want); err != nil {
				return 0, err
			}
		}
	}
}

// Poll is Process without waiting: it hands over the messages available now, possibly none.
func (c *Framed) Poll(h MessageFunc, max int) (int, error) {
	r := c.r
	if err := r.Begin(); err != nil {
		return 0, err
	}
	if r.Poll() <= r.Next() {
		return 0, nil
	}
	n, _, err := c.deliver(h, max)
	return n, err
}

// Read waits for the next message and hands it to h.
func (c *Framed) Read(h MessageFunc) error {
	_, err := c.Process(h, 1)
	return err
}

// Run handles messages with h until the producer closes and every message was read (then it
// returns nil), h returns an error, or a wait fails. Losses end Run with their error unless
// Options.OnLoss is set, which is then told and Run goes on.
func (c *Framed) Run(h MessageFunc) error {
	for {
		if _, err := c.Process(h, 0); err != nil {
			if err == ErrEndOfStream {
				return nil
			}
			if c.r.TellLoss(err) {
				continue
			}
			return err
		}
	}
}

// payload returns the payload of the message frame at seq, aliasing the ring.
func (c *Framed) payload(seq uint64, n uint32) []byte {
	return unsafe.Slice((*byte)(unsafe.Add(c.r.Slot(seq), c.hl)), n)
}

// deliver walks the frames of [Next, End) (spec 11.3) and hands over up to max messages. It
// returns how many h finished with; or, with nothing delivered, the end of a frame at Next that
// is not all published yet (want), or a loss or corruption error.
func (c *Framed) deliver(h MessageFunc, max int) (n int, want uint64, err error) {
	if c.opt {
		return c.deliverCopies(h, max)
	}
	r := c.r
	s, hi := r.Next(), r.End()
	if to := min(hi, s+touchAhead); to > c.touched {
		from := s
		if c.touched > from {
			from = c.touched
		}
		r.TouchSlots(from, to)
		c.touched = to
	}
	refs := c.refs[:0]
	for s < hi && (max <= 0 || len(refs) < max) {
		end, n, pad, stop, want, err := c.frame(s, hi, len(refs) > 0, nil)
		if stop {
			if want != 0 || err != nil {
				return 0, want, err
			}
			break
		}
		if !pad {
			refs = append(refs, frameRef{seq: s, n: n})
		}
		s = end
	}
	c.refs = refs
	for i, f := range refs {
		if !r.Registered() {
			return i, 0, r.Check()
		}
		if err := h(c.payload(f.seq, f.n), f.seq, i == len(refs)-1); err != nil {
			r.Release(f.seq)
			return i, 0, err
		}
	}
	r.Release(s) // frames delivered and padding passed over
	return len(refs), 0, nil
}

// touchAhead is how many slots a reader brings in at once before walking their frames
// (ring.Consumer.TouchSlots): 128 KiB of 128-byte slots, more than a batch of 256 typical
// messages spans.
const touchAhead = 1024

// frame examines the frame at s < hi (spec 11.3 steps 1-4). It returns the frame's end and
// whether it is padding, or stop: the walk ends before s. A stop with want or err set happens only
// when nothing precedes s in the batch (held says whether something does): the padding before s
// is then released and want (the frame is incomplete) or err (a loss, or corruption) returned.
//
// copied is the header an optional consumer copied and verified (spec 11.4); nil means read it
// from the slot (a required consumer: the slot is published and gated).
func (c *Framed) frame(s, hi uint64, held bool, copied *layout.FrameHeader) (end uint64, n uint32, pad, stop bool, want uint64, err error) {
	r := c.r
	halt := func(w uint64, e func() error) (uint64, uint32, bool, bool, uint64, error) {
		if held {
			return 0, 0, false, true, 0, nil
		}
		if s > r.Next() {
			r.Release(s) // padding passed over before s
		}
		if e != nil {
			return 0, 0, false, true, 0, e()
		}
		return 0, 0, false, true, w, nil
	}
	if copied == nil && c.multi && r.GapsIn() && r.IsGap(s) { // step 1 (optional consumers check it before copying)
		return halt(0, r.PassGaps)
	}
	var f layout.FrameHeader
	if copied != nil {
		f = *copied
	} else {
		f = layout.LoadFrame(r.Slot(s))
	}
	if err := c.g.Check(s, f); err != nil { // step 2
		return halt(0, func() error { return err })
	}
	end = s + uint64(f.Slots)
	if end > hi { // step 3
		if !c.multi || end > r.ClaimedCount() {
			return halt(0, func() error {
				return &layout.FrameError{Seq: s, Header: f, Reason: "it ends past what its producer published"}
			})
		}
		return halt(end, nil)
	}
	if c.multi && r.GapsIn() && r.FirstGap(s, end) < end { // step 4
		return halt(0, func() error { return r.PassOverFrame(end) })
	}
	return end, f.Length, f.Pad(), false, 0, nil
}

// deliverCopies is deliver for an optional consumer (spec 11.4): each frame's header and payload
// are copied, bounded by the geometry whatever the header says, then checked against laps; only
// a copy that was not overwritten is checked and handed over.
func (c *Framed) deliverCopies(h MessageFunc, max int) (n int, want uint64, err error) {
	r := c.r
	s, hi := r.Next(), r.End()
	slot := uint64(c.g.SlotSize)
	for s < hi && (max <= 0 || n < max) {
		if c.multi && r.GapsIn() && r.IsGap(s) {
			if n > 0 {
				break
			}
			r.Release(s)
			return 0, 0, r.PassGaps()
		}
		f := layout.LoadFrame(r.Slot(s))
		room := (c.g.Capacity-s&c.mask)*slot - uint64(c.hl) // bytes from the payload to the array's end
		l := min(uint64(f.Length), uint64(c.g.MaxMessage), room)
		copy(c.buf[:l], c.payload(s, uint32(l)))
		if r.Lapped(s) {
			r.Release(s)
			return n, 0, r.SkipLappedFrames(s)
		}
		end, _, pad, stop, w, err := c.frame(s, hi, n > 0, &f)
		if stop {
			if w != 0 || err != nil {
				return 0, w, err
			}
			break
		}
		if !pad {
			if err := h(c.buf[:f.Length], s, end >= hi || n+1 == max); err != nil {
				r.Release(s)
				return n, 0, err
			}
			n++
		}
		s = end
	}
	r.Release(s)
	return n, 0, nil
}
