// Package producer publishes fixed-size events into a ringwire segment (spec/LAYOUT.md sections
// 5.3 and 5.4). A Producer is generic over its event type T, which must be plain fixed-size data
// (layout.TypeOf says which types qualify).
package producer

import (
	"errors"
	"fmt"
	"os"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/ringwire/ringwire/coordination"
	"github.com/ringwire/ringwire/internal/sys"
	"github.com/ringwire/ringwire/layout"
	"github.com/ringwire/ringwire/liveness"
	"github.com/ringwire/ringwire/segment"
)

// Errors returned by producers; compare with errors.Is.
var (
	ErrFull             = errors.New("ring full")
	ErrTimeout          = coordination.ErrTimeout // the one timeout of ringwire: also consumer.ErrTimeout
	ErrClosed           = errors.New("producer closed")
	ErrBatchTooLarge    = errors.New("batch larger than the ring")
	ErrBadBatch         = errors.New("batch size must be 1 to capacity") // a claim of n < 1, or a batch of n < 0
	ErrClaimOutstanding = errors.New("a claim is outstanding")
	ErrNoClaim          = errors.New("no outstanding claim to publish")
	ErrWrongMode        = errors.New("segment has the other producer mode")
	ErrExhausted        = errors.New("sequence space exhausted (2^62)")
	ErrPoisoned         = layout.ErrPoisoned // the ring is poisoned; errors carry a *layout.PoisonedError

	ErrProducersFull = errors.New("producer registry full")
	ErrContended     = errors.New("claim contended by other producers")
	ErrHalted        = errors.New("producer halted")
)

// FullError is the transient error of a try-publish on a full ring: it says how many more slots
// the claim needed. errors.Is(err, ErrFull) is true.
type FullError struct{ Missing uint64 }

func (e *FullError) Error() string { return fmt.Sprintf("ring full: %d more slots needed", e.Missing) }

// Unwrap makes errors.Is(err, ErrFull) true.
func (e *FullError) Unwrap() error { return ErrFull }

// Temporary reports whether retrying err later may succeed: true for a full or contended ring,
// false for terminal errors (closed, halted, poisoned, a bad batch size).
func Temporary(err error) bool {
	return errors.Is(err, ErrFull) || errors.Is(err, ErrContended) || errors.Is(err, ErrTimeout)
}

// Mode is the producer mode recorded in the segment.
type Mode uint32

const (
	Single Mode = Mode(layout.SingleProducer) // one producer (one goroutine at a time)
	Multi  Mode = Mode(layout.MultiProducer)  // any number of producers, in any processes
)

// Options configure a producer. The zero value is usable.
type Options struct {
	Capacity  uint64 // slots, a power of two; 0 means 1024
	Registry  uint32 // consumer registry entries, 1 to 64; 0 means 16
	Mode      Mode   // Single (default) or Multi
	Producers uint32 // Multi mode: producer registry entries, 1 to 64; 0 means 8
	TypeName  string // recorded in the header; default the Go type's name

	Wait    coordination.Strategy // how to wait while the ring is full; default coordination.Default() (Blocking)
	Timeout time.Duration         // longest wait for room in Publish; 0 waits forever
	// Await holds Create until the given consumers have attached (coordination modes): at least
	// Consumers active consumers and every one named in Names, within Timeout (0: no limit).
	// Create fails with coordination.ErrAwaitTimeout, removing the segment, when they do not come.
	Await Await
	// Liveness says what to do, while waiting for room, about required consumers that are dead
	// or stalled: wait for them (the zero value), fail the publish naming them, or evict them.
	Liveness liveness.Policy
	// Halt, if set, makes every wait for room fail with ErrHalted once it becomes true (the setter
	// must also wake blocked waiters, e.g. with coordination.WakeAll).
	Halt *atomic.Bool
	// CloseTimeout bounds how long the creator of a Multi ring waits in Close for claimed events
	// to be published; 0 means 5s.
	CloseTimeout time.Duration

	Perm         os.FileMode // of the shared-memory object or file; 0 means 0600
	Replace      bool        // replace an existing segment of the same name
	ReclaimStale bool        // replace an existing segment only if its creator is dead
	Keep         bool        // leave the segment's name in place on Close
}

func (o *Options) defaults() {
	if o.Capacity == 0 {
		o.Capacity = 1024
	}
	if o.Registry == 0 {
		o.Registry = 16
	}
	if o.Mode == 0 {
		o.Mode = Single
	}
	if o.Wait == nil {
		o.Wait = coordination.Default()
	}
}

// Producer publishes events of type T. In Single mode it is not safe for concurrent use: one
// goroutine publishes at a time. In Multi mode every method except Close is safe for concurrent
// use, and other Multi producers may attach to the same segment from any process.
type Producer[T any] struct {
	seg     *segment.Segment
	v       *layout.View
	arr     layout.Arrays // v.Arrays(), for the per-event paths (hot.go)
	hdr     *layout.Header
	cursors *layout.Cursors
	wait    *layout.Wait
	cap     uint64
	multi   bool
	creator bool
	pe      *layout.ProducerEntry // this producer's registry entry
	pidx    int
	pstate  layout.StateWord // the entry's state word as this producer took it
	me      layout.OwnerID   // the identity this producer holds its entry with

	closeTimeout time.Duration
	mbound       atomic.Uint64         // Multi mode: cached gating bound, a count claims may reach
	lastBeat     atomic.Uint64         // CLOCK_MONOTONIC of the last heartbeat while waiting
	mpublished   atomic.Uint64         // Multi mode: a count Published found published, where it scans from
	blocker      *coordination.Blocker // in the producer_blockers count while it may block (spec 5.6)
	halt         *atomic.Bool
	watcher      *liveness.Watcher // nil when the policy only waits
	intents      bool              // announce claims (shared backings; a heap ring dies with its only process)

	strategy coordination.Strategy
	timeout  time.Duration
	keep     bool

	// Single mode only: the private claim count and the cached gating bound (spec 5.3).
	next    uint64
	bound   uint64
	pending int    // events claimed by Claim and not yet committed (Single mode only)
	closed  uint32 // atomic: 1 once Close was called
	failed  bool   // this producer poisoned the ring
}

// Create creates a segment for events of type T at b and returns its producer.
func Create[T any](b segment.Backing, o Options) (*Producer[T], error) {
	o.defaults()
	et, local, err := eventType[T](o.TypeName, b.Kind() == segment.KindHeap)
	if err != nil {
		return nil, err
	}
	co := segment.CreateOptions{Perm: o.Perm, Replace: o.Replace, ReclaimStale: o.ReclaimStale}
	if local {
		co.HeapSlots = func(n uint64) unsafe.Pointer { return unsafe.Pointer(&make([]T, n)[0]) }
	}
	seg, err := segment.Create(b, layout.Config{
		Capacity: o.Capacity, RegistryCapacity: o.Registry, Mode: uint32(o.Mode), Producers: o.Producers,
		Event: et, ExternalSlots: local,
	}, co)
	if err != nil {
		return nil, err
	}
	p := newProducer[T](seg, o)
	p.creator = true
	p.pe, p.pidx = p.v.Producer(0), 0 // layout.Init registered the creator as producer 0
	p.pstate, p.me = p.pe.Load(), p.pe.OwnerID()
	if o.Await.Consumers > 0 || len(o.Await.Names) > 0 {
		if err := p.AwaitConsumers(o.Await); err != nil {
			p.Close()
			return nil, err
		}
	}
	return p, nil
}

// Attach joins an existing Multi-mode segment at b as one more producer, waiting up to timeout for
// it to appear. The segment's event type must be T's.
func Attach[T any](b segment.Backing, timeout time.Duration, o Options) (*Producer[T], error) {
	seg, err := segment.Attach(b, timeout)
	if err != nil {
		return nil, err
	}
	p, err := Register[T](seg, o)
	seg.Release() // Register took its own reference
	return p, err
}

// Register adds a producer to a segment this process already holds (an in-process Multi ring). The
// segment stays mapped until the producer's Close.
func Register[T any](seg *segment.Segment, o Options) (*Producer[T], error) {
	o.defaults()
	et, _, err := eventType[T](o.TypeName, seg.Backing().Kind() == segment.KindHeap)
	if err != nil {
		return nil, err
	}
	if err := seg.View().CheckEventType(et); err != nil {
		return nil, err
	}
	if seg.View().Mode() != layout.MultiProducer {
		return nil, fmt.Errorf("join %s: %w: it is a single-producer ring", seg.Backing(), ErrWrongMode)
	}
	if err := seg.Acquire(); err != nil {
		return nil, err
	}
	p := newProducer[T](seg, o)
	if err := p.register(); err != nil {
		seg.Release()
		return nil, fmt.Errorf("join %s: %w", seg.Backing(), err)
	}
	return p, nil
}

// register takes a producer registry entry (spec 5.4, attach): the owner word by
// compare-and-swap, then the state word. An active entry whose owner died is retired first, but
// only once its claims are resolved (5.8): its intent is what lets consumers pass them over.
func (p *Producer[T]) register() error {
	pid := os.Getpid()
	start, _ := sys.ProcessStartTime(pid)
	me := layout.MakeOwner(uint32(pid), start)
	for i := 0; i < p.v.Producers(); i++ {
		e := p.v.Producer(i)
		st, o := e.Load(), e.OwnerID()
		switch st.State() {
		case layout.ProducerFree, layout.ProducerLeft, layout.ProducerDead:
		case layout.ProducerActive:
			if !liveness.OwnerDead(o) || !liveness.Resolved(p.v, e) {
				continue
			}
			if !e.CompareAndSwapState(st, st.With(layout.ProducerDead)) { // retire (step 1)
				continue
			}
			st = st.With(layout.ProducerDead)
		default:
			continue // corrupt: leave it alone
		}
		if o != 0 && !liveness.OwnerDead(o) {
			continue // held, or being taken, by a live process
		}
		if !e.Owner.CompareAndSwap(uint64(o), uint64(me)) { // step 2
			continue
		}
		e.IntentEnd.Store(0) // step 3
		e.HeartbeatNs.Store(sys.Monotonic())
		if !e.CompareAndSwapState(st, st.Next(layout.ProducerActive)) {
			e.Owner.CompareAndSwap(uint64(me), 0) // not ours after all: give the lock back
			continue
		}
		p.pe, p.pidx, p.pstate, p.me = e, i, st.Next(layout.ProducerActive), me
		return nil
	}
	return ErrProducersFull
}

func newProducer[T any](seg *segment.Segment, o Options) *Producer[T] {
	v := seg.View()
	p := &Producer[T]{
		seg: seg, v: v, arr: v.Arrays(), hdr: v.Header(), cursors: v.Cursors(), wait: v.Wait(),
		cap: v.Capacity(), multi: v.Mode() == layout.MultiProducer,
		strategy: o.Wait, timeout: o.Timeout, keep: o.Keep, closeTimeout: o.CloseTimeout, halt: o.Halt,
		intents: seg.Backing().Kind() != segment.KindHeap,
	}
	if p.closeTimeout == 0 {
		p.closeTimeout = 5 * time.Second
	}
	if o.Liveness.Enabled() {
		p.watcher = liveness.NewWatcher(o.Liveness)
	}
	p.blocker = coordination.NewBlocker(o.Wait, &p.hdr.ProducerBlockers)
	if !p.multi {
		p.next = p.cursors.Published.Load()
		p.bound = p.next // forces a gating scan on the first publish
	}
	return p
}

// eventType describes T for the segment. On the heap, a T that cannot be shared between
// processes (it holds Go pointers) is still allowed: local reports that its slots must then be a
// Go slice the garbage collector scans.
func eventType[T any](name string, heap bool) (et layout.EventType, local bool, err error) {
	et, err = layout.TypeOf[T]()
	if errors.Is(err, layout.ErrNotRepresented) && heap {
		et, local, err = layout.LocalTypeOf[T](), true, nil
	}
	if err != nil {
		return et, false, err
	}
	if name != "" {
		et.Name = name
	}
	return et, local, nil
}

// Segment returns the producer's segment, through which in-process consumers attach to a heap
// ring.
func (p *Producer[T]) Segment() *segment.Segment { return p.seg }

// Capacity returns the number of slots in the ring.
func (p *Producer[T]) Capacity() uint64 { return p.cap }

// Published returns how many events have been published: every sequence below it is readable.
// In Multi mode that is the contiguous prefix of sequences published (or passed over as gaps,
// spec 5.8) by all the ring's producers, read from the availability words: sequences claimed but
// still being written, and those after them, do not count yet. Safe for concurrent use in Multi
// mode; it reads up to one word per slot.
func (p *Producer[T]) Published() uint64 {
	if !p.multi {
		return p.next
	}
	claimed := p.count()
	// Below claimed-capacity every slot was claimed again, which the gating allows only once
	// required consumers passed (so published) its sequence; a word holding a later lap's value
	// also means done.
	s := max(p.mpublished.Load(), claimed-min(claimed, p.cap))
	for s < claimed && p.availability(s).Load()&layout.CountMask >= s+1 {
		s++
	}
	for old := p.mpublished.Load(); s > old; old = p.mpublished.Load() {
		if p.mpublished.CompareAndSwap(old, s) {
			break
		}
	}
	return s
}

// count is the count claims have reached: the private count in Single mode, claimed in Multi.
func (p *Producer[T]) count() uint64 {
	if p.multi {
		return p.cursors.Claimed.Load() & layout.CountMask
	}
	return p.next
}

// Poisoned returns the failure record if the ring is poisoned.
func (p *Producer[T]) Poisoned() (layout.Poison, bool) { return p.v.Poisoned() }

func (p *Producer[T]) poisonErr() error {
	return p.v.PoisonErr()
}

// poison records that this producer failed between claim and publish at seq, then wakes every
// waiter so that it sees the record (spec 5.9).
func (p *Producer[T]) poison(seq uint64, cause any) {
	p.failed = true
	p.v.Poison(layout.Poison{Phase: layout.PhasePublish, Seq: seq, PID: uint32(os.Getpid()),
		Stage: uint32(p.pidx), Message: fmt.Sprint(cause)})
	p.pe.IntentEnd.Store(0)
	coordination.WakeAll(p.wait)
}

// gatingMin returns the lowest cursor of every active required consumer, or fallback when there
// is none (spec 5.3 step 1, the gating scan). A second pass loads every entry's state again and
// the scan starts over if one changed: a registration that activates after the first pass went by
// its entry may copy another entry's cursor (5.7 step 6, oldest or depends_on) before that cursor
// moves and the first pass loads it, and a bound from such a scan could overwrite the newcomer's
// start. The second pass costs one load per entry, on the slow path only.
func (p *Producer[T]) gatingMin(fallback uint64) uint64 {
	var seen [layout.MaxRegistry]layout.StateWord
	n := min(p.v.Entries(), len(seen))
	for {
		m := fallback
		for i := 0; i < n; i++ {
			e := p.v.Entry(i)
			w := e.Load()
			seen[i] = w
			if scanHook != nil {
				scanHook(i)
			}
			if w.State() == layout.EntryActive && e.Required() {
				if c := e.Cursor.Load(); c < m {
					m = c
				}
			}
		}
		same := true
		for i := 0; i < n && same; i++ {
			same = p.v.Entry(i).Load() == seen[i]
		}
		if same {
			return m
		}
	}
}

// scanHook, when set (by tests only), runs in the gating scan's first pass after entry i's state
// was loaded: it lets a test activate a consumer between the loads of one scan.
var scanHook func(entry int)

// Await says which consumers to wait for before publishing.
type Await struct {
	Consumers int           // at least this many active consumers
	Names     []string      // and every one of these
	Timeout   time.Duration // 0 waits forever
}

// AwaitConsumers waits until the consumers a describes are active in the ring.
func (p *Producer[T]) AwaitConsumers(a Await) error {
	var deadline time.Time
	if a.Timeout > 0 {
		deadline = time.Now().Add(a.Timeout)
	}
	return coordination.AwaitConsumers(p.v, a.Consumers, a.Names, deadline)
}

// Remaining returns how many events could be published now without waiting.
func (p *Producer[T]) Remaining() uint64 {
	n := p.count()
	m := p.gatingMin(n)
	if n-m >= p.cap {
		return 0
	}
	return p.cap - (n - m)
}

func (p *Producer[T]) deadline() time.Time {
	if p.timeout <= 0 {
		return time.Time{}
	}
	return time.Now().Add(p.timeout)
}

// Close marks the stream ended (consumers drain what was published, then see the end), wakes
// every waiter, unmaps the segment and, if this producer created it and Keep was not set,
// removes its name. A Multi producer that attached only detaches.
func (p *Producer[T]) Close() error {
	if atomic.SwapUint32(&p.closed, 1) != 0 {
		return ErrClosed
	}
	var errs []error
	if p.multi && p.creator {
		errs = append(errs, p.closeClaims())
	}
	if p.creator {
		p.hdr.ProducerState.Store(layout.StreamClosed)
		coordination.Notify(&p.wait.Consumer)
		if !p.keep && p.seg.Backing().Kind() != segment.KindHeap {
			if err := segment.Remove(p.seg.Backing()); err != nil && !errors.Is(err, segment.ErrNotFound) {
				errs = append(errs, err)
			}
		}
	}
	if !p.creator {
		// Detach (spec 5.4): the state, then the owner word, which frees the entry.
		p.pe.CompareAndSwapState(p.pstate, p.pstate.With(layout.ProducerLeft))
		p.pe.Owner.CompareAndSwap(uint64(p.me), 0)
	}
	p.blocker.Release()
	errs = append(errs, p.seg.Release())
	return errors.Join(errs...)
}

// closeClaims ends a Multi stream (spec 5.4): it closes the claimed count to further claims,
// then waits until every claimed sequence is published, passed over or poisoned, up to
// CloseTimeout.
func (p *Producer[T]) closeClaims() error {
	var count uint64
	for {
		w := p.cursors.Claimed.Load()
		if p.cursors.Claimed.CompareAndSwap(w, w|layout.ClaimedClosed) {
			count = w & layout.CountMask
			break
		}
	}
	done := func() bool {
		if _, poisoned := p.v.Poisoned(); poisoned {
			return true
		}
		for s := count - min(count, p.cap); s < count; s++ {
			if p.availability(s).Load()&layout.CountMask < s+1 {
				return false
			}
		}
		return true
	}
	err := coordination.Sleep(10*time.Microsecond, time.Millisecond).Wait(done, &p.wait.Producer, time.Now().Add(p.closeTimeout))
	if err != nil {
		return fmt.Errorf("close: claimed events still unpublished after %v: %w", p.closeTimeout, err)
	}
	return nil
}

// Heartbeat records that the producer is alive (header producer_heartbeat_ns).
func (p *Producer[T]) Heartbeat() { p.beat(sys.Monotonic()) }

// beat stores a heartbeat: the header's for the creator, and the producer entry's.
func (p *Producer[T]) beat(now uint64) {
	if p.creator {
		p.hdr.ProducerHeartbeatNs.Store(now)
	}
	p.pe.HeartbeatNs.Store(now)
}

// waitBeat is how often a producer waiting for room refreshes its heartbeat: spec section 8 asks
// for at least once a second.
const waitBeat = uint64(100 * time.Millisecond)

// beatWhileWaiting refreshes the heartbeat if waitBeat has passed since the last one (called on
// every re-check of a wait for room; never on the fast path).
func (p *Producer[T]) beatWhileWaiting() {
	now := sys.Monotonic()
	if last := p.lastBeat.Load(); now-last >= waitBeat && p.lastBeat.CompareAndSwap(last, now) {
		p.beat(now)
	}
}
