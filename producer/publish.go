package producer

import (
	"fmt"
	"unsafe"

	"github.com/ringwire/ringwire/ring"
)

// Publish claims one slot, waiting while the ring is full (up to Options.Timeout), lets fill write
// the event in place, and publishes it. fill must not retain the pointer. If fill panics, the
// claimed slot is never published: the ring is poisoned with a record of the panic (see
// Poisoned) and the panic continues.
func (p *Producer[T]) Publish(fill func(ev *T)) error {
	r := p.r
	seq, ok := r.ClaimFast(1)
	if !ok {
		var err error
		if seq, err = r.ClaimSlow(1, true); err != nil {
			return err
		}
	}
	ok = false
	// Written out here, not shared with TryPublish: one call less per event. The deferred
	// closure is the only call on the way out when fill returns.
	defer func() {
		if !ok {
			p.fillPanicked(seq, recover())
		}
	}()
	fill((*T)(r.Slot(seq)))
	ok = true
	if !r.PublishFast(seq + 1) {
		r.PublishSlow(seq, seq+1)
	}
	return nil
}

// TryPublish is Publish that returns ErrFull instead of waiting when the ring is full.
func (p *Producer[T]) TryPublish(fill func(ev *T)) error {
	seq, ok := p.r.ClaimFast(1)
	if !ok {
		var err error
		if seq, err = p.r.ClaimSlow(1, false); err != nil {
			return err
		}
	}
	p.fillOne(seq, fill)
	p.r.Publish(seq, 1)
	return nil
}

func (p *Producer[T]) fillOne(seq uint64, fill func(ev *T)) {
	ok := false
	defer func() {
		if !ok {
			p.fillPanicked(seq, recover())
		}
	}()
	fill((*T)(p.r.Slot(seq)))
	ok = true
}

// fillPanicked poisons the ring with r, what the fill of seq panicked with (recovered by the
// deferred function that calls this), and panics again.
func (p *Producer[T]) fillPanicked(seq uint64, r any) {
	p.r.Poison(seq, r)
	panic(fmt.Sprintf("producer: fill panicked at sequence %d; ring poisoned", seq))
}

// PublishBatch claims n consecutive slots (waiting for room as Publish does), calls fill for each
// with its index 0..n-1, and publishes all n with one cursor store. n larger than the ring is
// refused with ErrBatchTooLarge, and n < 0 with ErrBadBatch, before anything is claimed; n == 0
// publishes nothing and returns nil (an empty batch is not an error), without calling fill.
func (p *Producer[T]) PublishBatch(n int, fill func(i int, ev *T)) error {
	seq, ok := p.r.ClaimFast(n)
	if !ok {
		if n == 0 {
			return nil
		}
		var err error
		if seq, err = p.r.ClaimSlow(n, true); err != nil {
			return err
		}
	}
	p.fillBatch(seq, n, fill)
	return nil
}

// fillBatch calls fill for the n claimed slots from seq and publishes them; if fill panics, the
// ring is poisoned at seq and the panic goes on (PublishBatch, TryPublishBatch). Each event's
// pointer steps through the two runs of slots the core returned: no call per event but fill's.
func (p *Producer[T]) fillBatch(seq uint64, n int, fill func(i int, ev *T)) {
	ok := false
	defer func() {
		if !ok {
			p.r.Poison(seq, recover())
			panic(fmt.Sprintf("producer: fill panicked in the batch at sequence %d; ring poisoned", seq))
		}
	}()
	first, second := p.r.Spans(seq, seq+uint64(n))
	for k := uint64(0); k < first.Len; k++ {
		fill(int(k), (*T)(unsafe.Add(first.Ptr, uintptr(k)*first.SlotSize)))
	}
	for k := uint64(0); k < second.Len; k++ {
		fill(int(first.Len+k), (*T)(unsafe.Add(second.Ptr, uintptr(k)*second.SlotSize)))
	}
	ok = true
	p.r.Publish(seq, n)
}

// TryPublishBatch is PublishBatch that returns a *FullError (ErrFull) instead of waiting when the
// ring has no room for all n events, and may return ErrContended in Multi mode, as TryPublish.
func (p *Producer[T]) TryPublishBatch(n int, fill func(i int, ev *T)) error {
	if n == 0 {
		return nil
	}
	seq, ok := p.r.ClaimFast(n)
	if !ok {
		var err error
		if seq, err = p.r.ClaimSlow(n, false); err != nil {
			return err
		}
	}
	p.fillBatch(seq, n, fill)
	return nil
}

// Claim reserves n consecutive slots for writing in place, waiting for room as Publish does.
// Write the events through the returned Claim and publish them with PublishClaim. In Single mode only
// one claim may be outstanding; in Multi mode goroutines sharing the producer may each hold
// claims, and each must commit every claim it makes exactly once. n must be 1 to the capacity
// (ErrBadBatch, ErrBatchTooLarge).
func (p *Producer[T]) Claim(n int) (Claim[T], error) {
	c, err := p.r.Claim(n)
	if err != nil {
		return Claim[T]{}, err
	}
	return Claim[T]{p: p, c: c}, nil
}

// TryClaim is Claim that returns a *FullError (ErrFull) instead of waiting when the ring has no
// room for n slots, and may return ErrContended in Multi mode, as TryPublish.
func (p *Producer[T]) TryClaim(n int) (Claim[T], error) {
	c, err := p.r.TryClaim(n)
	if err != nil {
		return Claim[T]{}, err
	}
	return Claim[T]{p: p, c: c}, nil
}

// PublishClaim publishes a claim made by Claim or TryClaim.
func (p *Producer[T]) PublishClaim(c Claim[T]) error {
	if c.p != p {
		return ErrNoClaim
	}
	return p.r.PublishClaim(c.c)
}

// Claim is a run of slots reserved by Producer.Claim. It is valid until committed.
type Claim[T any] struct {
	p *Producer[T]
	c ring.Claim
	// Kept to four words, passed and returned in registers. A claim that also carried its
	// spans went through memory (80 bytes; six words with the error were too many as well), and
	// the copies between frames stalled on store forwarding: +28 ns per claim (perf, a producer
	// alone, batch 1), far more than the one call into ring that Slices makes instead.
}

// Slices returns the claimed slots as at most two Go slices, in sequence order: the second is
// non-empty only when the claim wraps around the end of the ring. Writing through them is the
// fastest way to fill a batch: no call per event.
func (c Claim[T]) Slices() (first, second []T) {
	a, b := c.p.r.Spans(c.c.Start(), c.c.Seq(c.c.Len()))
	return unsafe.Slice((*T)(a.Ptr), a.Len), unsafe.Slice((*T)(b.Ptr), b.Len)
}

// Len returns the number of slots claimed.
func (c Claim[T]) Len() int { return c.c.Len() }

// Seq returns the sequence of slot i.
func (c Claim[T]) Seq(i int) uint64 { return c.c.Seq(i) }

// At returns the event in slot i, 0 <= i < Len, to be written in place.
func (c Claim[T]) At(i int) *T {
	if uint(i) >= uint(c.Len()) {
		panic(fmt.Sprintf("producer: claim index %d out of range [0,%d)", i, c.Len()))
	}
	return (*T)(c.p.r.Slot(c.c.Seq(i)))
}
