package consumer

import (
	"unsafe"

	"github.com/ringwire/ringwire/ring"
)

// Process waits for at least one event (see Options.Wait and ReadTimeout), then hands up to max
// available events (all of them if max <= 0) to h as one batch, and stores the cursor once. It
// returns how many events h finished with; ErrEndOfStream once the producer has closed and every
// event was read.
func (c *Consumer[T]) Process(h HandlerFunc[T], max int) (int, error) {
	if c.leased {
		return 0, ErrLeased
	}
	r := c.r
	if err := r.Begin(); err != nil {
		return 0, err
	}
	if c.pooled {
		return c.processPooled(h)
	}
	if r.End() <= r.Next() {
		if err := r.Await(); err != nil {
			return 0, err
		}
	}
	return c.run(h, max)
}

// Poll is Process without waiting: it handles whatever is available now, possibly nothing.
func (c *Consumer[T]) Poll(h HandlerFunc[T], max int) (int, error) {
	if c.leased {
		return 0, ErrLeased
	}
	if err := c.r.Begin(); err != nil {
		return 0, err
	}
	if c.r.Poll() <= c.r.Next() {
		return 0, nil
	}
	return c.run(h, max)
}

func (c *Consumer[T]) run(h HandlerFunc[T], max int) (int, error) {
	if c.opt {
		return c.runOptional(h, max)
	}
	r := c.r
	start, hi := r.Bounds(max)
	if r.GapsIn() {
		var err error
		if start, hi, err = r.Range(max); err != nil {
			return 0, err
		}
	}
	// Each event's pointer steps through the (at most two) runs of slots the core returned.
	first, second := r.Spans(start, hi)
	s := start
	for _, sp := range [2]ring.Span{first, second} {
		for k := uint64(0); k < sp.Len; k++ {
			if !r.Registered() {
				return int(s - start), r.Check()
			}
			if err := h((*T)(unsafe.Add(sp.Ptr, uintptr(k)*sp.SlotSize)), s, s == hi-1); err != nil {
				r.Release(s)
				return int(s - start), err
			}
			s++
		}
	}
	r.Release(hi)
	return int(hi - start), nil
}

// runOptional is run for a consumer that does not gate the producer: each event is copied, then
// checked not to have been overwritten during the copy (a seqlock read against the claimed count)
// before the handler sees it.
func (c *Consumer[T]) runOptional(h HandlerFunc[T], max int) (int, error) {
	r := c.r
	start, hi := r.Bounds(max)
	var ev T
	for s := start; s < hi; s++ {
		ev = *(*T)(r.Slot(s))
		if r.Lapped(s) {
			r.Release(s)
			return int(s - start), r.SkipLapped(s)
		}
		if err := h(&ev, s, s == hi-1); err != nil {
			r.Release(s)
			return int(s - start), err
		}
	}
	r.Release(hi)
	return int(hi - start), nil
}

// BatchHandler receives a run of consecutive events as a slice that aliases the ring: events[i]
// has sequence first+i. The slice is valid only during the call. A non-nil error stops the
// batch: none of its events count as consumed.
type BatchHandler[T any] func(events []T, first uint64) error

// ProcessSlices is Process for handlers that take whole runs: it waits for events as Process
// does and hands over up to max of them (all available if max <= 0) as one or two slices (two
// when the run wraps around the end of the ring), storing the cursor once. It is the fastest way
// to consume: no call per event. An optional consumer gets copies, checked against laps.
func (c *Consumer[T]) ProcessSlices(h BatchHandler[T], max int) (int, error) {
	if c.leased {
		return 0, ErrLeased
	}
	if c.opt || c.pooled {
		// Per-event paths; still one call of h per event run they deliver.
		var one [1]T
		return c.Process(func(ev *T, seq uint64, _ bool) error {
			one[0] = *ev
			return h(one[:], seq)
		}, max)
	}
	r := c.r
	if err := r.Begin(); err != nil {
		return 0, err
	}
	if r.End() <= r.Next() {
		if err := r.Await(); err != nil {
			return 0, err
		}
	}
	start, hi := r.Bounds(max)
	if r.GapsIn() {
		var err error
		if start, hi, err = r.Range(max); err != nil {
			return 0, err
		}
	}
	first, second := r.Spans(start, hi)
	s := start
	for _, sp := range [2]ring.Span{first, second} {
		if sp.Len == 0 {
			continue
		}
		if !r.Registered() {
			return int(s - start), r.Check()
		}
		if err := h(unsafe.Slice((*T)(sp.Ptr), sp.Len), s); err != nil {
			r.Release(s)
			return int(s - start), err
		}
		s += sp.Len
	}
	r.Release(hi)
	return int(hi - start), nil
}

// Run handles events with h until the producer closes and every event was read (then it returns
// nil), h returns an error, or a wait fails (ErrTimeout, a *ProducerDeadError, ...). Lost events (a *GapError, or a *LappedError for an
// optional consumer) end Run with that error unless Options.OnLoss is set, in which case OnLoss
// is told and Run goes on; either way the consumer has already moved past them. The same holds
// for the events a consumer re-attaching to a restarted producer missed (a *MissedError).
func (c *Consumer[T]) Run(h HandlerFunc[T]) error {
	for {
		if _, err := c.Process(h, 0); err != nil {
			if err == ErrEndOfStream {
				return nil
			}
			if c.r.TellLoss(err) { // also counted in the registry entry; reading goes on
				continue
			}
			return err
		}
	}
}

// Read copies the next event into dst, waiting for it as Process does, and returns its sequence.
func (c *Consumer[T]) Read(dst *T) (uint64, error) {
	if c.leased {
		return 0, ErrLeased
	}
	r := c.r
	if err := r.Begin(); err != nil {
		return 0, err
	}
	if r.End() <= r.Next() {
		// Await, written out: the quick poll inlined here saves a call on the way to the event.
		var err error
		if r.PollPublished() {
			err = r.Check()
		} else {
			err = r.Wait()
		}
		if err != nil {
			return 0, err
		}
	}
	s := r.Next()
	if r.GapsIn() && r.FirstGap(s, s+1) == s {
		return 0, r.PassGaps()
	}
	*dst = *(*T)(r.Slot(s))
	if !c.opt && !r.Registered() {
		return 0, r.Check() // evicted during the copy: the slot may hold a later event
	}
	if c.opt && r.Lapped(s) {
		return 0, r.SkipLapped(s)
	}
	if !r.ReleaseFast(s + 1) { // Release, with its common case inlined
		r.ReleaseSlow(s + 1)
	}
	return s, nil
}

// TryNext leases the next event without waiting, or returns ErrEmpty. The event stays valid, and
// the producer will not overwrite it, until Release; no other read may happen meanwhile.
func (c *Consumer[T]) TryNext() (*T, uint64, error) {
	if c.leased {
		return nil, 0, ErrLeased
	}
	r := c.r
	if err := r.Begin(); err != nil {
		return nil, 0, err
	}
	if r.End() <= r.Next() {
		if r.Poll() <= r.Next() {
			if r.Ended() {
				return nil, 0, ErrEndOfStream
			}
			return nil, 0, ErrEmpty
		}
	}
	s := r.Next()
	if c.opt && r.Lapped(s) {
		return nil, 0, r.SkipLapped(s)
	}
	if r.GapsIn() && r.FirstGap(s, s+1) == s {
		return nil, 0, r.PassGaps()
	}
	c.leased = true
	return (*T)(r.Slot(s)), s, nil
}

// Release ends the lease of the event returned by TryNext and marks it consumed. For an optional
// consumer, which does not hold the producer back, a *LappedError means the producer overwrote
// the leased slot while it was held: what was read from it must be discarded.
func (c *Consumer[T]) Release() error {
	if !c.leased {
		return ErrNotLeased
	}
	c.leased = false
	s := c.r.Next()
	if c.opt && c.r.Lapped(s) {
		// The producer may have rewritten the slot during the lease: the event read is void.
		return c.r.SkipLapped(s)
	}
	c.r.Release(s + 1)
	return nil
}
