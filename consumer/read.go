package consumer

import (
	"errors"
	"unsafe"

	"github.com/ringwire/ringwire/layout"
)

// Process waits for at least one event (see Options.Wait and ReadTimeout), then hands up to max
// available events (all of them if max <= 0) to h as one batch, and stores the cursor once. It
// returns how many events h finished with; ErrEndOfStream once the producer has closed and every
// event was read.
func (c *Consumer[T]) Process(h HandlerFunc[T], max int) (int, error) {
	if c.leased {
		return 0, ErrLeased
	}
	if err := c.preRead(); err != nil {
		return 0, err
	}
	if c.pool != nil {
		return c.processPooled(h)
	}
	if c.avail <= c.next {
		if err := c.await(); err != nil {
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
	if err := c.preRead(); err != nil {
		return 0, err
	}
	c.avail = c.available()
	if c.avail <= c.next {
		return 0, nil
	}
	return c.run(h, max)
}

func (c *Consumer[T]) run(h HandlerFunc[T], max int) (int, error) {
	if c.opt {
		return c.runOptional(h, max)
	}
	start, hi := c.next, c.avail
	if max > 0 && hi-start > uint64(max) {
		hi = start + uint64(max)
	}
	if c.gapsIn {
		if g := c.firstGap(start, hi); g < hi {
			hi = g // deliver what precedes the gap, then report it
		}
		if start == hi {
			return 0, c.passGaps()
		}
	}
	for s := start; s < hi; s++ {
		if !c.registered() {
			return int(s - start), c.check()
		}
		if err := h(c.slot(s), s, s == hi-1); err != nil {
			c.commit(s)
			return int(s - start), err
		}
	}
	c.commit(hi)
	return int(hi - start), nil
}

// runOptional is run for a consumer that does not gate the producer: each event is copied, then
// checked not to have been overwritten during the copy (a seqlock read against the claimed count)
// before the handler sees it.
func (c *Consumer[T]) runOptional(h HandlerFunc[T], max int) (int, error) {
	start, hi := c.next, c.avail
	if max > 0 && hi-start > uint64(max) {
		hi = start + uint64(max)
	}
	var ev T
	for s := start; s < hi; s++ {
		ev = *c.slot(s)
		if c.lapped(s) {
			c.commit(s)
			return int(s - start), c.skipLapped(s)
		}
		if err := h(&ev, s, s == hi-1); err != nil {
			c.commit(s)
			return int(s - start), err
		}
	}
	c.commit(hi)
	return int(hi - start), nil
}

// preRead runs before every read: it reports a loss left pending by registration once, and
// refuses to read for a consumer that was closed, evicted or taken over (spec 5.7), so that a
// consumer removed from the registry never reads slots the producer may already be reusing
// beyond the batch in progress.
func (c *Consumer[T]) preRead() error {
	if c.pendingLoss != nil {
		err := c.pendingLoss
		c.pendingLoss = nil
		return err
	}
	if c.closed || c.entry.Load() != c.state || c.entry.OwnerID() != c.me {
		return c.check()
	}
	return nil
}

// firstGap returns the first sequence in [from, to) that was passed over, or to.
func (c *Consumer[T]) firstGap(from, to uint64) uint64 {
	for s := from; s < to; s++ {
		if c.availability(s) == (s+1)|layout.AvailGap {
			return s
		}
	}
	return to
}

// passGaps moves past the run of gaps at c.next, counts it and reports it.
func (c *Consumer[T]) passGaps() error {
	from, s := c.next, c.next
	for s < c.avail && c.availability(s) == (s+1)|layout.AvailGap {
		s++
	}
	if s == c.avail || c.firstGap(s, c.avail) == c.avail {
		c.gapsIn = false
	}
	c.entry.GapsSeen.Add(s - from)
	c.commit(s)
	return &GapError{Seq: from, Count: s - from}
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
	if c.opt || c.pool != nil {
		// Per-event paths; still one call of h per event run they deliver.
		var one [1]T
		return c.Process(func(ev *T, seq uint64, _ bool) error {
			one[0] = *ev
			return h(one[:], seq)
		}, max)
	}
	if err := c.preRead(); err != nil {
		return 0, err
	}
	if c.avail <= c.next {
		if err := c.await(); err != nil {
			return 0, err
		}
	}
	start, hi := c.next, c.avail
	if max > 0 && hi-start > uint64(max) {
		hi = start + uint64(max)
	}
	if c.gapsIn {
		if g := c.firstGap(start, hi); g < hi {
			hi = g
		}
		if start == hi {
			return 0, c.passGaps()
		}
	}
	capa := c.v.Capacity()
	for s := start; s < hi; {
		n := min(hi-s, capa-(s&(capa-1)))
		if !c.registered() {
			return int(s - start), c.check()
		}
		if err := h(unsafe.Slice(c.slot(s), n), s); err != nil {
			c.commit(s)
			return int(s - start), err
		}
		s += n
	}
	c.commit(hi)
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
			if c.onLoss != nil && (errors.Is(err, ErrGap) || errors.Is(err, ErrLapped) || errors.Is(err, ErrMissed)) {
				c.onLoss(err) // also counted in the registry entry; reading goes on
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
	if err := c.preRead(); err != nil {
		return 0, err
	}
	if c.avail <= c.next {
		// await, written out: the quick poll inlined here saves a call on the way to the event.
		var err error
		if c.quick > 0 && c.pollPublished() {
			err = c.check()
		} else {
			err = c.waitFor()
		}
		if err != nil {
			return 0, err
		}
	}
	s := c.next
	if c.gapsIn && c.firstGap(s, s+1) == s {
		return 0, c.passGaps()
	}
	*dst = *c.slot(s)
	if !c.opt && !c.registered() {
		return 0, c.check() // evicted during the copy: the slot may hold a later event
	}
	if c.opt && c.lapped(s) {
		return 0, c.skipLapped(s)
	}
	if !c.commitFast(s + 1) { // commit, with its common case inlined
		c.commitSlow(s + 1)
	}
	return s, nil
}

// TryNext leases the next event without waiting, or returns ErrEmpty. The event stays valid, and
// the producer will not overwrite it, until Release; no other read may happen meanwhile.
func (c *Consumer[T]) TryNext() (*T, uint64, error) {
	if c.leased {
		return nil, 0, ErrLeased
	}
	if err := c.preRead(); err != nil {
		return nil, 0, err
	}
	if c.avail <= c.next {
		c.avail = c.available()
		if c.avail <= c.next {
			if c.hdr.ProducerState.Load() == layout.StreamClosed && c.available() == c.next {
				return nil, 0, ErrEndOfStream
			}
			return nil, 0, ErrEmpty
		}
	}
	if c.opt && c.lapped(c.next) {
		return nil, 0, c.skipLapped(c.next)
	}
	if c.gapsIn && c.firstGap(c.next, c.next+1) == c.next {
		return nil, 0, c.passGaps()
	}
	c.leased = true
	return c.slot(c.next), c.next, nil
}

// Release ends the lease of the event returned by TryNext and marks it consumed. For an optional
// consumer, which does not hold the producer back, a *LappedError means the producer overwrote
// the leased slot while it was held: what was read from it must be discarded.
func (c *Consumer[T]) Release() error {
	if !c.leased {
		return ErrNotLeased
	}
	c.leased = false
	if c.opt && c.lapped(c.next) {
		// The producer may have rewritten the slot during the lease: the event read is void.
		return c.skipLapped(c.next)
	}
	c.commit(c.next + 1)
	return nil
}
