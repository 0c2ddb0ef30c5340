package ring

import (
	"fmt"
	"time"
	"unsafe"

	"github.com/ringwire/ringwire/coordination"
	"github.com/ringwire/ringwire/internal/order"
	"github.com/ringwire/ringwire/internal/sys"
	"github.com/ringwire/ringwire/layout"
	"github.com/ringwire/ringwire/liveness"
)

// Span is a run of consecutive slots, contiguous in memory: Len slots of SlotSize bytes each
// from Ptr. The slot of the run's i-th sequence is at Ptr + i*SlotSize. A Span is a plain value;
// the slots it points at belong to whoever claimed them (a producer) or has not released them
// yet (a consumer).
type Span struct {
	Ptr      unsafe.Pointer
	Len      uint64  // slots
	SlotSize uintptr // bytes from one slot to the next
}

// Bytes returns the span's slots as one byte slice of Len*SlotSize bytes, aliasing the ring.
func (s Span) Bytes() []byte { return unsafe.Slice((*byte)(s.Ptr), uintptr(s.Len)*s.SlotSize) }

// spans splits the n slots from sequence start into the run up to the end of the ring and the run
// from slot 0 (empty unless the n slots wrap around). Without branches, so that it is inlined.
func spans(a *layout.Arrays, start, n uint64) (first, second Span) {
	head := min(n, a.Mask+1-start&a.Mask)
	return Span{a.Slot(start), head, a.SlotSize}, Span{a.Slot(0), n - head, a.SlotSize}
}

// Claim is a run of sequences reserved by Producer.Claim or TryClaim: valid until published. Its
// slots may be written in place, through Spans, Bytes or Slot. A Claim is a plain value: the
// goroutine that made it writes its slots and publishes it.
type Claim struct {
	p     *Producer
	start uint64
	n     int
}

// Start returns the claim's first sequence.
func (c Claim) Start() uint64 { return c.start }

// Len returns the number of sequences claimed.
func (c Claim) Len() int { return c.n }

// Seq returns the sequence of the claim's i-th slot.
func (c Claim) Seq(i int) uint64 { return c.start + uint64(i) }

// Spans returns the claimed slots as at most two runs, in sequence order: the second is
// non-empty only when the claim wraps around the end of the ring (it then starts at slot 0).
func (c Claim) Spans() (first, second Span) { return spans(&c.p.arr, c.start, uint64(c.n)) }

// Bytes returns the claimed slots' bytes as at most two slices, as Spans does.
func (c Claim) Bytes() (first, second []byte) {
	f, s := c.Spans()
	return f.Bytes(), s.Bytes()
}

// Slot returns the address of the claim's i-th slot, 0 <= i < Len; it panics otherwise.
func (c Claim) Slot(i int) unsafe.Pointer {
	if uint(i) >= uint(c.n) {
		panic(fmt.Sprintf("ring: claim index %d out of range [0,%d)", i, c.n))
	}
	return c.p.arr.Slot(c.start + uint64(i))
}

// Claim reserves n consecutive sequences (spec 5.3 steps 1-2, 5.4 steps 1-3), waiting while the
// ring has no room for them: a wait ends when a consumer's release makes room (woken by it, or
// by the strategy's own re-check; spurious wakeups are re-checked), when ProducerOptions.Timeout
// passes (ErrTimeout), on poison, halt or close, or when the liveness policy fails on a consumer.
// Write the slots through the returned Claim and publish them with PublishClaim. In single mode
// only one claim may be outstanding (ErrClaimOutstanding); in multi mode goroutines sharing the
// producer may each hold claims, and each must publish every claim it makes exactly once. n must
// be 1 to the capacity (ErrBadBatch, ErrBatchTooLarge).
func (p *Producer) Claim(n int) (Claim, error) { return p.claimPending(n, true) }

// TryClaim is Claim that returns a *FullError (ErrFull) instead of waiting when the ring has no
// room for n slots, and may return ErrContended in multi mode when other producers kept winning
// the claim.
func (p *Producer) TryClaim(n int) (Claim, error) { return p.claimPending(n, false) }

func (p *Producer) claimPending(n int, wait bool) (Claim, error) {
	if !p.multi && p.pending != 0 {
		return Claim{}, ErrClaimOutstanding
	}
	seq, ok := p.ClaimFast(n)
	if !ok {
		var err error
		if seq, err = p.ClaimSlow(n, wait); err != nil {
			return Claim{}, err
		}
	}
	if !p.multi {
		p.pending = n // single mode only: multi claims are concurrent, and pending is not atomic
	}
	return Claim{p: p, start: seq, n: n}, nil
}

// PublishClaim publishes a claim made by Claim or TryClaim (ErrNoClaim for a claim of another
// producer, or one already published in single mode).
func (p *Producer) PublishClaim(c Claim) error {
	if c.p != p {
		return ErrNoClaim
	}
	if !p.multi {
		if p.pending != c.n {
			return ErrNoClaim
		}
		p.pending = 0
	}
	if end := c.start + uint64(c.n); !p.PublishFast(end) {
		p.PublishSlow(c.start, end)
	}
	return nil
}

// ClaimFast is the common claim, small enough to be inlined: single mode, n sequences that fit
// under the cached gating bound. It stores the claimed count and returns the first sequence; it
// reports false, having done nothing, for anything else, which ClaimSlow then does. A claim by
// ClaimFast or ClaimSlow is published with Publish (or PublishFast and PublishSlow), without the
// outstanding-claim bookkeeping of Claim and PublishClaim.
func (p *Producer) ClaimFast(n int) (uint64, bool) {
	// end <= bound implies n <= capacity: bound is at most the private count plus capacity.
	start, end := p.next, p.next+uint64(n)
	if p.multi || n <= 0 || end > p.bound || end >= layout.MaxSequence || p.failed || p.isClosed() {
		return 0, false
	}
	order.StoreRelease(&p.cursors.Claimed, end) // spec 5.3 step 2
	if !order.Plain {
		order.StoreStore() // F1: the claim before the slot writes (amd64 keeps stores in order)
	}
	return start, true
}

// ClaimSlow claims n sequences in any mode, waiting for room if wait is set (as Claim does), and
// returns the first.
func (p *Producer) ClaimSlow(n int, wait bool) (uint64, error) {
	if p.isClosed() {
		return 0, ErrProducerClosed
	}
	if p.failed {
		return 0, p.v.PoisonErr()
	}
	if n <= 0 {
		return 0, fmt.Errorf("%w: %d events, capacity %d", ErrBadBatch, n, p.cap)
	}
	if uint64(n) > p.cap {
		return 0, fmt.Errorf("%w: %d events, capacity %d", ErrBatchTooLarge, n, p.cap)
	}
	if p.multi {
		start, _, err := p.claimMulti(uint64(n), nil, wait)
		return start, err
	}
	start := p.next
	end := start + uint64(n)
	if end >= layout.MaxSequence {
		return 0, ErrExhausted
	}
	if end > p.bound {
		if err := p.waitRoom(end, wait); err != nil {
			return 0, err
		}
	}
	order.StoreRelease(&p.cursors.Claimed, end) // spec 5.3 step 2
	order.StoreStore()                          // F1: the claim before the slot writes
	return start, nil
}

// waitRoom refreshes the gating bound until end fits (single mode).
func (p *Producer) waitRoom(end uint64, wait bool) error {
	if err := p.v.PoisonErr(); err != nil {
		return err
	}
	// The common case, a refresh that makes room, without building the wait's closure (which
	// escapes, an allocation each time).
	if p.bound = p.gatingMin(p.next) + p.cap; end <= p.bound && (p.halt == nil || !p.halt.Load()) {
		return nil
	}
	return p.waitRoomSlow(end, wait)
}

func (p *Producer) waitRoomSlow(end uint64, wait bool) error {
	// fits reports whether the wait is over: there is room for end, or there never will be
	// (poisoned, halted, or a laggard the liveness policy fails on), which ended says. Only room
	// lets the claim go on: a stalled or dead consumer's unread events must never be published
	// over (they stay for it, or for the consumer that takes its name over).
	var ended error
	poisoned := false
	fits := func() bool {
		p.beatWhileWaiting()
		p.bound = p.gatingMin(p.next) + p.cap
		switch {
		case p.hdr.PoisonState.Load() != layout.PoisonNone:
			poisoned = true
		case p.halt != nil && p.halt.Load():
			ended = ErrProducerHalted
		case end <= p.bound:
			return true
		case p.watcher == nil:
			return false
		default:
			if _, stalled := p.watcher.Check(p.v, p.next, end); stalled != nil {
				ended = stalled
				return true
			}
			return false
		}
		return true
	}
	if !fits() {
		if !wait {
			return &FullError{Missing: end - p.bound}
		}
		if err := p.blocker.Wait(p.strategy, fits, &p.wait.Producer, p.deadline()); err != nil {
			return fmt.Errorf("waiting for room: %w", err)
		}
	}
	if poisoned {
		return p.v.PoisonErr()
	}
	return ended
}

// multiBound is the gating bound of a multi-mode claim (spec 5.3 step 1): the lowest cursor of
// the active required consumers or, if there is none, the published prefix, plus the capacity.
// Never the claimed count: a bound from it lets a producer claim the slot of a sequence another
// producer claimed a lap earlier and has not written yet (model finding F5).
func (p *Producer) multiBound() uint64 { return p.gatingMin(p.Published()) + p.cap }

// deadClaimWait is how long a producer waits for room behind an unpublished sequence before it
// checks whether the sequence's claimer died, and passes its claim over (spec 5.8): with no
// required consumer, nobody else would. Then it checks again at most every waitBeat.
const deadClaimWait = uint64(time.Second)

// passOverDead runs spec 5.8 from the published prefix for a producer that has waited for room
// since the monotonic time since, once deadClaimWait has passed, at most every waitBeat.
func (p *Producer) passOverDead(since uint64) {
	now := sys.Monotonic()
	if now-since < deadClaimWait {
		return
	}
	if last := p.lastPass.Load(); now-last >= waitBeat && p.lastPass.CompareAndSwap(last, now) {
		liveness.PassOverDeadClaims(p.v, p.Published())
	}
}

// NextClaim returns, in single mode, the sequence the next claim starts at (a framed producer
// lays its frames out from it before claiming; spec 11.2 step 2).
func (p *Producer) NextClaim() uint64 { return p.next }

// ClaimSized claims the number of sequences size returns for the claim's first sequence (spec
// 11.2 steps 2-3: frames are laid out from the start, which in multi mode is known only at the
// compare-and-swap, and laid out again whenever it fails). It waits for room as Claim does when
// wait is set, and returns the first sequence and the count claimed, which Publish publishes.
// size must return 1 to the capacity.
func (p *Producer) ClaimSized(size func(start uint64) uint64, wait bool) (start, n uint64, err error) {
	if p.isClosed() {
		return 0, 0, ErrProducerClosed
	}
	if p.failed {
		return 0, 0, p.v.PoisonErr()
	}
	if p.multi {
		return p.claimMulti(0, size, wait)
	}
	if p.pending != 0 {
		return 0, 0, ErrClaimOutstanding
	}
	start = p.next
	n = size(start)
	if n < 1 || n > p.cap {
		return 0, 0, fmt.Errorf("%w: %d sequences, capacity %d", ErrBatchTooLarge, n, p.cap)
	}
	if _, ok := p.ClaimFast(int(n)); !ok {
		if _, err := p.ClaimSlow(int(n), wait); err != nil {
			return 0, 0, err
		}
	}
	return start, n, nil
}

// claimMulti is spec 5.4 steps 1-3 for n sequences, or, if size is not nil, for size(c)
// sequences from the first sequence c of each attempt.
func (p *Producer) claimMulti(n uint64, size func(uint64) uint64, wait bool) (uint64, uint64, error) {
	var deadline = p.deadline()
	for tries := 1; ; tries++ {
		if p.halt != nil && p.halt.Load() {
			return 0, 0, ErrProducerHalted
		}
		w := p.cursors.LoadClaimed()
		if w.Closed() {
			return 0, 0, fmt.Errorf("%w: the stream was ended by its creator", ErrProducerClosed)
		}
		if err := p.v.PoisonErr(); err != nil {
			return 0, 0, err
		}
		c := w.Count() // the closed bit is clear: the word is the count
		if size != nil {
			if n = size(c); n < 1 || n > p.cap {
				return 0, 0, fmt.Errorf("%w: %d sequences, capacity %d", ErrBatchTooLarge, n, p.cap)
			}
		}
		end := c + n
		if end >= layout.MaxSequence {
			return 0, 0, ErrExhausted
		}
		// The cached bound (shared by the goroutines of a heap ring) saves a registry scan per
		// claim; any bound once computed stays safe, as cursors only grow (spec 5.3 step 1).
		if end > p.mbound.Load() {
			p.mbound.Store(p.multiBound())
		}
		if end > p.mbound.Load() {
			if !wait {
				return 0, 0, &FullError{Missing: end - p.multiBound()}
			}
			var stalled error
			since := sys.Monotonic()
			fits := func() bool {
				p.beatWhileWaiting()
				w := p.cursors.LoadClaimed()
				if w.Closed() || p.hdr.PoisonState.Load() != layout.PoisonNone ||
					p.halt != nil && p.halt.Load() {
					return true // reported at the top of the loop
				}
				c := w.Count()
				if c+n <= p.multiBound() {
					return true
				}
				p.passOverDead(since)
				if p.watcher != nil {
					_, stalled = p.watcher.Check(p.v, c, c+n)
				}
				return stalled != nil
			}
			if err := p.blocker.Wait(p.strategy, fits, &p.wait.Producer, deadline); err != nil {
				return 0, 0, fmt.Errorf("waiting for room: %w", err)
			}
			if stalled != nil {
				return 0, 0, stalled
			}
			continue
		}
		// Spec 5.4 step 2: announce the claim before making it, so that peers can pass it over
		// if this process dies before publishing.
		if p.intents {
			// Release stores: the compare-and-swap below is a full barrier after them.
			order.StoreRelease(&p.pe.IntentStart, c)
			order.StoreRelease(&p.pe.IntentEnd, end)
		}
		if p.cursors.Claimed.CompareAndSwap(c, end) {
			return c, n, nil
		}
		if p.intents {
			p.pe.IntentEnd.Store(0) // not ours after all: never leave an intent over others' claims
		}
		if !wait && tries >= 4 {
			return 0, 0, ErrContended
		}
	}
}

// Publish makes the n sequences claimed from start visible to consumers (spec 5.3 steps 4-5, 5.4
// steps 5-7): release stores, then the load of the consumer blockers count, and only if someone
// may sleep in the kernel the fence and the wake. For claims made with ClaimFast or ClaimSlow.
func (p *Producer) Publish(start uint64, n int) {
	if end := start + uint64(n); !p.PublishFast(end) {
		p.PublishSlow(start, end)
	}
}

// PublishFast is Publish's common case, small enough to be inlined (between a consumer seeing an
// event and this store, calls measured more than their instructions): single mode, where it
// stores the published cursor with a release store (spec 5.3 step 4) and then loads the blockers
// count (step 5; the order matters, see 5.6). It reports false when PublishSlow(start, end) has
// work left: the availability stores of multi mode, or a wake.
func (p *Producer) PublishFast(end uint64) bool {
	if p.multi {
		return false
	}
	p.next = end
	order.StoreRelease(&p.cursors.Published, end)
	return p.hdr.ConsumerBlockers.Load() == 0
}

// PublishSlow is Publish in multi mode, or the wake of a single-mode publish whose store
// PublishFast already made.
func (p *Producer) PublishSlow(start, end uint64) {
	if p.multi {
		// Spec 5.4 step 5: release stores, each word once. (A second store of the last word as a
		// "fence", as 1.0 code did, could land after a producer a lap later had published into
		// the same slot and put the older word back: consumers then waited there forever.) The
		// fence that orders them before the waiters load is F2, in NotifyAfterRelease.
		for s := start; s < end; s++ {
			order.StoreRelease(p.arr.Availability(s), s+1)
		}
		if p.intents {
			order.StoreRelease(&p.pe.IntentEnd, 0)
		}
		if p.hdr.ConsumerBlockers.Load() == 0 {
			return
		}
	}
	coordination.NotifyAfterRelease(&p.wait.Consumer) // F2, then the waiters handshake
}
