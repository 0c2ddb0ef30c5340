package producer

import (
	"errors"
	"fmt"
	"time"
	"unsafe"

	"github.com/ringwire/ringwire/layout"
	"github.com/ringwire/ringwire/ring"
	"github.com/ringwire/ringwire/segment"
)

// ErrTooLarge is returned, before anything is claimed, for a message longer than the ring's
// largest (spec 11.2 step 1).
var ErrTooLarge = errors.New("message too large")

// FramedOptions configure a framed ring (spec section 11): the producer's Options, whose
// TypeName names the message type (default "bytes"), and the slot geometry.
type FramedOptions struct {
	Options
	// SlotSize is the bytes of one slot, a multiple of 16 above 16; 0 means 128. A message of n
	// bytes occupies ceil((16 + n) / SlotSize) slots: a slot size near the usual message size
	// plus 16 wastes least.
	SlotSize uint32
	// MaxMessage is the largest payload; 0 means the largest the geometry allows, an eighth of
	// the ring less the frame header.
	MaxMessage uint32
}

// Framed publishes variable-length messages into a framed ring (spec section 11). Each message
// is one contiguous byte range of the segment, aligned to 16 bytes, that consumers read in place.
// In Single mode it is not safe for concurrent use; in Multi mode every method except Close is,
// and other framed producers may register in the same ring from any process.
type Framed struct {
	r       *ring.Producer
	g       layout.FrameGeometry
	mask    uint64
	hl      uintptr
	multi   bool
	pending bool // single mode: a MessageClaim is outstanding
}

// CreateFramed creates a framed ring at b and returns its producer.
func CreateFramed(b segment.Backing, o FramedOptions) (*Framed, error) {
	if o.SlotSize == 0 {
		o.SlotSize = 128
	}
	et := layout.FramedType(o.TypeName, o.SlotSize, layout.MinFrameAlign)
	o.TypeName = et.Name
	r, err := ring.Create(b, ring.Events{Type: et, Framed: true, MaxMessage: o.MaxMessage}, o.Options)
	if err != nil {
		return nil, err
	}
	return newFramed(r)
}

// AttachFramed attaches to an existing framed multi-producer ring at b, waiting up to timeout
// for it to appear, and registers one more producer in it. o.TypeName, if set, must be the
// ring's message type.
func AttachFramed(b segment.Backing, timeout time.Duration, o Options) (*Framed, error) {
	r, err := ring.AttachFramedProducer(b, timeout, o)
	if err != nil {
		return nil, err
	}
	return newFramed(r)
}

// RegisterFramed registers a framed producer in a framed multi-producer ring this process
// already holds.
func RegisterFramed(seg *segment.Segment, o Options) (*Framed, error) {
	r, err := ring.RegisterFramedProducer(seg, o)
	if err != nil {
		return nil, err
	}
	return newFramed(r)
}

func newFramed(r *ring.Producer) (*Framed, error) {
	g, err := r.View().Frames()
	if err != nil {
		r.Close()
		return nil, err
	}
	return &Framed{r: r, g: g, mask: g.Capacity - 1, hl: uintptr(g.HeaderLen), multi: r.Multi()}, nil
}

// MaxMessage returns the largest message the ring carries, in bytes.
func (p *Framed) MaxMessage() int { return int(p.g.MaxMessage) }

// Geometry returns the ring's frame geometry.
func (p *Framed) Geometry() layout.FrameGeometry { return p.g }

// Segment returns the producer's segment.
func (p *Framed) Segment() *segment.Segment { return p.r.Segment() }

// Published returns how many sequences (slots, not messages) have been published.
func (p *Framed) Published() uint64 { return p.r.Published() }

// Poisoned returns the failure record if the ring is poisoned.
func (p *Framed) Poisoned() (layout.Poison, bool) { return p.r.Poisoned() }

// AwaitConsumers waits until the consumers a names are registered (see Options.Await).
func (p *Framed) AwaitConsumers(a Await) error { return p.r.AwaitConsumers(a) }

// Heartbeat records that the producer is alive.
func (p *Framed) Heartbeat() { p.r.Heartbeat() }

// Close closes the producer as Producer.Close does.
func (p *Framed) Close() error { return p.r.Close() }

// pad returns the slots of the padding frame a frame of k slots needs at sequence t: the rest of
// the array if the frame would cross its end, else 0 (spec 11.2 step 2).
func (p *Framed) pad(t, k uint64) uint64 {
	i := t & p.mask
	if i+k > p.g.Capacity {
		return p.g.Capacity - i
	}
	return 0
}

func (p *Framed) tooLarge(n int) error {
	return fmt.Errorf("%w: %d bytes, the ring's largest message is %d", ErrTooLarge, n, p.g.MaxMessage)
}

// Publish copies msg into the ring as one message, waiting while the ring is full (up to
// Options.Timeout). A message longer than MaxMessage is refused with ErrTooLarge before anything
// is claimed.
func (p *Framed) Publish(msg []byte) error { return p.publish(msg, true) }

// TryPublish is Publish that returns a *FullError (ErrFull) instead of waiting when the ring has
// no room.
func (p *Framed) TryPublish(msg []byte) error { return p.publish(msg, false) }

func (p *Framed) publish(msg []byte, wait bool) error {
	if uint64(len(msg)) > uint64(p.g.MaxMessage) {
		return p.tooLarge(len(msg))
	}
	k := p.g.SlotsFor(uint32(len(msg)))
	start, n, err := p.claim(k, wait)
	if err != nil {
		return err
	}
	s := start
	if n > k {
		p.writePad(s, n-k)
		s += n - k
	}
	p.write(s, msg, k)
	p.r.Publish(start, int(n))
	return nil
}

// claim claims a frame of k slots and the padding it needs before it.
func (p *Framed) claim(k uint64, wait bool) (start, n uint64, err error) {
	if p.multi {
		return p.r.ClaimSized(func(c uint64) uint64 { return k + p.pad(c, k) }, wait)
	}
	if p.pending {
		return 0, 0, ErrClaimOutstanding
	}
	start = p.r.NextClaim()
	n = k + p.pad(start, k)
	if _, ok := p.r.ClaimFast(int(n)); !ok {
		if _, err := p.r.ClaimSlow(int(n), wait); err != nil {
			return 0, 0, err
		}
	}
	return start, n, nil
}

func (p *Framed) writePad(s, slots uint64) {
	layout.StoreFrame(p.r.Slot(s), layout.FrameHeader{SeqFlags: s | layout.FramePad, Slots: uint32(slots)})
}

// write writes the frame of msg, k slots, at sequence s.
func (p *Framed) write(s uint64, msg []byte, k uint64) {
	ptr := p.r.Slot(s)
	layout.StoreFrame(ptr, layout.FrameHeader{SeqFlags: s, Length: uint32(len(msg)), Slots: uint32(k)})
	copy(unsafe.Slice((*byte)(unsafe.Add(ptr, p.hl)), len(msg)), msg)
}

// PublishBatch publishes msgs with one claim, in order, waiting while the ring is full: one
// gating check, one cursor store and one wake for all of them. Every message must be at most
// MaxMessage (ErrTooLarge), and the batch must fit in the ring whatever the wrap costs: the
// slots of its messages plus one largest padding frame at most the capacity (ErrBatchTooLarge).
// Refusals come before anything is claimed.
func (p *Framed) PublishBatch(msgs [][]byte) error {
	if len(msgs) == 0 {
		return nil
	}
	// Each message's slots, computed once: on the stack for batches of up to 64.
	var stack [64]uint32
	ks := stack[:0]
	if len(msgs) > len(stack) {
		ks = make([]uint32, 0, len(msgs))
	}
	var slots uint64
	for _, m := range msgs {
		if uint64(len(m)) > uint64(p.g.MaxMessage) {
			return p.tooLarge(len(m))
		}
		k := p.g.SlotsFor(uint32(len(m)))
		ks = append(ks, uint32(k))
		slots += k
	}
	if slots+p.g.MaxSlots()-1 > p.g.Capacity {
		return fmt.Errorf("%w: %d messages of %d slots in a ring of %d", ErrBatchTooLarge, len(msgs), slots, p.g.Capacity)
	}
	size := func(c uint64) uint64 {
		if c&p.mask+slots <= p.g.Capacity { // no wrap inside the batch: no padding
			return slots
		}
		t := c
		for _, k := range ks {
			t += p.pad(t, uint64(k)) + uint64(k)
		}
		return t - c
	}
	var start, n uint64
	var err error
	if p.multi {
		start, n, err = p.r.ClaimSized(size, true)
	} else if p.pending {
		err = ErrClaimOutstanding
	} else {
		start = p.r.NextClaim()
		n = size(start)
		if _, ok := p.r.ClaimFast(int(n)); !ok {
			_, err = p.r.ClaimSlow(int(n), true)
		}
	}
	if err != nil {
		return err
	}
	t := start
	for i, m := range msgs {
		k := uint64(ks[i])
		if pad := p.pad(t, k); pad > 0 {
			p.writePad(t, pad)
			t += pad
		}
		p.write(t, m, k)
		t += k
	}
	p.r.Publish(start, int(n))
	return nil
}

// MessageClaim is room for one message claimed by Framed.Claim, to be written in place and then
// published with Framed.PublishClaim or given up with Framed.Abandon. It is a plain value: the
// goroutine that made it writes it and publishes or abandons it, exactly once.
type MessageClaim struct {
	p       *Framed
	start   uint64 // the claim's first sequence (a padding frame's, if the wrap needed one)
	n       uint64 // sequences claimed
	seq     uint64 // the message frame's first sequence
	k       uint64 // its slots
	payload []byte
}

// Payload returns the room claimed, aliasing the ring: len is the n given to Claim, and the
// start is aligned to 16 bytes.
func (c MessageClaim) Payload() []byte { return c.payload }

// Seq returns the sequence of the message's frame.
func (c MessageClaim) Seq() uint64 { return c.seq }

// Claim claims room for a message of up to n bytes, waiting while the ring is full, for the
// caller to write in place through Payload; PublishClaim then publishes the bytes used, or
// Abandon gives the room up. Until then, in Single mode, other publishes fail with
// ErrClaimOutstanding, and consumers wait at this claim: publish or abandon every claim.
func (p *Framed) Claim(n int) (MessageClaim, error) {
	if n < 0 || uint64(n) > uint64(p.g.MaxMessage) {
		return MessageClaim{}, p.tooLarge(n)
	}
	k := p.g.SlotsFor(uint32(n))
	start, total, err := p.claim(k, true)
	if err != nil {
		return MessageClaim{}, err
	}
	seq := start
	if total > k {
		p.writePad(start, total-k)
		seq += total - k
	}
	if !p.multi {
		p.pending = true
	}
	ptr := unsafe.Add(p.r.Slot(seq), p.hl)
	return MessageClaim{p: p, start: start, n: total, seq: seq, k: k, payload: unsafe.Slice((*byte)(ptr), n)}, nil
}

// PublishClaim publishes the first used bytes of the claim's payload as the message (spec 11.2:
// the slots it no longer needs become a padding frame). used must be 0 to len(Payload())
// (ErrBadBatch otherwise, and the claim is still outstanding).
func (p *Framed) PublishClaim(c MessageClaim, used int) error {
	if c.p != p || (!p.multi && !p.pending) {
		return ErrNoClaim
	}
	if used < 0 || used > len(c.payload) {
		return fmt.Errorf("%w: %d bytes used of %d claimed", ErrBadBatch, used, len(c.payload))
	}
	k := p.g.SlotsFor(uint32(used))
	layout.StoreFrame(p.r.Slot(c.seq), layout.FrameHeader{SeqFlags: c.seq, Length: uint32(used), Slots: uint32(k)})
	if k < c.k {
		p.writePad(c.seq+k, c.k-k)
	}
	p.pending = false
	p.r.Publish(c.start, int(c.n))
	return nil
}

// Abandon gives a claim up: its slots are published as padding frames, which consumers pass over
// without a trace (nothing is lost, nothing is poisoned).
func (p *Framed) Abandon(c MessageClaim) error {
	if c.p != p || (!p.multi && !p.pending) {
		return ErrNoClaim
	}
	p.writePad(c.seq, c.k)
	p.pending = false
	p.r.Publish(c.start, int(c.n))
	return nil
}
