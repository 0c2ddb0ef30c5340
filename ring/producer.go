package ring

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

// Mode is the producer mode recorded in the segment (spec 3, producer_mode).
type Mode uint32

const (
	Single Mode = Mode(layout.SingleProducer) // one producer (one goroutine at a time)
	Multi  Mode = Mode(layout.MultiProducer)  // any number of producers, in any processes
)

// Events says what a new segment holds: the event type recorded in its header (spec 5.2 check
// 13), and, for a heap backing only, where its slots live.
type Events struct {
	Type layout.EventType
	// HeapSlots, for a heap backing only, allocates the slot array outside the segment (a Go
	// slice, so that events may hold Go pointers) and returns its first element.
	HeapSlots func(capacity uint64) unsafe.Pointer
	// Framed makes a framed ring (spec section 11): Type is then layout.FramedType's, and
	// MaxMessage the largest payload (0: the largest the geometry allows).
	Framed     bool
	MaxMessage uint32
}

// ProducerOptions configure a producer; producer.Options is this type. The zero value is
// usable.
type ProducerOptions struct {
	Capacity  uint64 // slots, a power of two; 0 means 1024
	Registry  uint32 // consumer registry entries, 1 to 64; 0 means 16
	Mode      Mode   // Single (default) or Multi
	Producers uint32 // Multi mode: producer registry entries, 1 to 64; 0 means 8
	TypeName  string // recorded in the header instead of the event type's own name

	Wait    coordination.Strategy // how to wait while the ring is full; default coordination.Default()
	Timeout time.Duration         // longest wait for room in Claim; 0 waits forever
	// Await holds Create until the given consumers have attached (coordination modes). Create
	// fails with coordination.ErrAwaitTimeout, removing the segment, when they do not come.
	Await Await
	// Liveness says what to do, while waiting for room, about required consumers that are dead
	// or stalled: wait for them (the zero value), fail the claim naming them, or evict them.
	Liveness liveness.Policy
	// Halt, if set, makes every wait for room fail with ErrProducerHalted once it becomes true
	// (the setter must also wake blocked waiters, e.g. with coordination.WakeAll).
	Halt *atomic.Bool
	// CloseTimeout bounds how long the creator of a multi-producer ring waits in Close for
	// claimed sequences to be published; 0 means 5s.
	CloseTimeout time.Duration

	Perm         os.FileMode // of the shared-memory object or file; 0 means 0600
	Replace      bool        // replace an existing segment of the same name
	ReclaimStale bool        // replace an existing segment only if its creator is dead
	Keep         bool        // leave the segment's name in place on Close
}

func (o *ProducerOptions) defaults() {
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

// eventType is et under the name TypeName gives it.
func (o *ProducerOptions) eventType(et layout.EventType) layout.EventType {
	if o.TypeName != "" {
		et.Name = o.TypeName
	}
	return et
}

// Await says which consumers to wait for before publishing.
type Await struct {
	Consumers int           // at least this many active consumers
	Names     []string      // and every one of these
	Timeout   time.Duration // 0 waits forever
}

// Producer claims and publishes sequences of a segment (spec 5.3, 5.4). In single-producer mode
// it is not safe for concurrent use: one goroutine claims and publishes at a time. In
// multi-producer mode every method except Close is safe for concurrent use, and other producers
// may register in the same segment from any process.
type Producer struct {
	seg     *segment.Segment
	v       *layout.View
	arr     layout.Arrays // v.Arrays(), for the inline paths (hot.go)
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
	mbound       atomic.Uint64         // multi mode: cached gating bound, a count claims may reach
	lastBeat     atomic.Uint64         // CLOCK_MONOTONIC of the last heartbeat while waiting
	lastPass     atomic.Uint64         // CLOCK_MONOTONIC of the last pass over dead claims while waiting (multi mode)
	mpublished   atomic.Uint64         // multi mode: a count Published found published, where it scans from
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
	pending int    // sequences claimed by Claim and not yet published (single mode only)
	closed  uint32 // atomic: 1 once Close was called
	failed  bool   // this producer poisoned the ring
}

// Create creates a segment at b for events ev and returns its producer, which holds producer
// entry 0 (spec 5.1, 5.4).
func Create(b segment.Backing, ev Events, o ProducerOptions) (*Producer, error) {
	o.defaults()
	seg, err := segment.Create(b, layout.Config{
		Capacity: o.Capacity, RegistryCapacity: o.Registry, Mode: uint32(o.Mode), Producers: o.Producers,
		Event: o.eventType(ev.Type), ExternalSlots: ev.HeapSlots != nil, Framed: ev.Framed, MaxMessage: ev.MaxMessage,
	}, segment.CreateOptions{Perm: o.Perm, Replace: o.Replace, ReclaimStale: o.ReclaimStale, HeapSlots: ev.HeapSlots})
	if err != nil {
		return nil, err
	}
	p := newProducer(seg, o)
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

// AttachProducer attaches to an existing multi-producer segment at b, waiting up to timeout for
// it to appear, and registers one more producer in it. The segment's event type must be et.
func AttachProducer(b segment.Backing, timeout time.Duration, et layout.EventType, o ProducerOptions) (*Producer, error) {
	seg, err := segment.Attach(b, timeout)
	if err != nil {
		return nil, err
	}
	p, err := RegisterProducer(seg, et, o)
	seg.Release() // RegisterProducer took its own reference
	return p, err
}

// RegisterProducer registers a producer in a multi-producer segment this process already holds
// (spec 5.4, attach). The segment stays mapped until the producer's Close.
func RegisterProducer(seg *segment.Segment, et layout.EventType, o ProducerOptions) (*Producer, error) {
	o.defaults()
	return registerProducer(seg, func(v *layout.View) error { return v.CheckEventType(o.eventType(et)) }, o)
}

// AttachFramedProducer is AttachProducer for a framed multi-producer ring (spec section 11).
func AttachFramedProducer(b segment.Backing, timeout time.Duration, o ProducerOptions) (*Producer, error) {
	seg, err := segment.Attach(b, timeout)
	if err != nil {
		return nil, err
	}
	p, err := RegisterFramedProducer(seg, o)
	seg.Release()
	return p, err
}

// RegisterFramedProducer is RegisterProducer for a framed multi-producer ring: checks 13 and 14
// of spec 5.2 for framed messages, and TypeName, if set, must be the ring's message type.
func RegisterFramedProducer(seg *segment.Segment, o ProducerOptions) (*Producer, error) {
	o.defaults()
	return registerProducer(seg, func(v *layout.View) error { return CheckFramed(v, o.TypeName) }, o)
}

// CheckFramed is checks 13 and 14 of spec 5.2 for a reader or writer of framed messages, and, if
// name is not empty, that the ring's message type is name (ErrEventType).
func CheckFramed(v *layout.View, name string) error {
	if _, err := v.Frames(); err != nil {
		return err
	}
	if name != "" && v.Header().TypeNameString() != name {
		return fmt.Errorf("%w: the ring carries messages of type %q, not %q", layout.ErrEventType, v.Header().TypeNameString(), name)
	}
	return nil
}

func registerProducer(seg *segment.Segment, check func(*layout.View) error, o ProducerOptions) (*Producer, error) {
	if err := check(seg.View()); err != nil {
		return nil, err
	}
	if seg.View().Mode() != layout.MultiProducer {
		return nil, fmt.Errorf("join %s: %w: it is a single-producer ring", seg.Backing(), ErrWrongMode)
	}
	if err := seg.Acquire(); err != nil {
		return nil, err
	}
	p := newProducer(seg, o)
	if err := p.register(); err != nil {
		seg.Release()
		return nil, fmt.Errorf("join %s: %w", seg.Backing(), err)
	}
	return p, nil
}

// register takes a producer registry entry (spec 5.4, attach): the owner word by
// compare-and-swap, then the state word. An active entry whose owner died is retired first, but
// only once its claims are resolved (5.8): its intent is what lets consumers pass them over.
func (p *Producer) register() error {
	pid := os.Getpid()
	start, _ := sys.ProcessStartTime(pid)
	me := layout.MakeOwner(uint32(pid), start)
	for i, e := range p.v.AllProducers() {
		st, o := e.Load(), e.OwnerID()
		switch st.State() {
		case layout.ProducerFree, layout.ProducerClosed, layout.ProducerDead:
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

func newProducer(seg *segment.Segment, o ProducerOptions) *Producer {
	v := seg.View()
	p := &Producer{
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
		p.bound = p.next // forces a gating scan on the first claim
	}
	return p
}

// Segment returns the producer's segment.
func (p *Producer) Segment() *segment.Segment { return p.seg }

// View returns the view of the producer's segment.
func (p *Producer) View() *layout.View { return p.v }

// Capacity returns the number of slots in the ring.
func (p *Producer) Capacity() uint64 { return p.cap }

// Multi reports whether the ring is in multi-producer mode.
func (p *Producer) Multi() bool { return p.multi }

// Index returns the index of the producer's entry in the producer registry.
func (p *Producer) Index() int { return p.pidx }

// Published returns how many sequences have been published: every sequence below it is
// readable. In multi mode that is the contiguous prefix of sequences published (or passed over as
// gaps, spec 5.8) by all the ring's producers, read from the availability words: sequences
// claimed but still being written, and those after them, do not count yet. Safe for concurrent
// use in multi mode; it reads up to one word per slot.
func (p *Producer) Published() uint64 {
	if !p.multi {
		return p.next
	}
	claimed := p.count()
	// Below claimed-capacity every slot was claimed again, which the gating allows only once
	// required consumers passed (so published) its sequence; a word holding a later lap's value
	// also means done.
	s := max(p.mpublished.Load(), claimed-min(claimed, p.cap))
	for s < claimed && layout.Published(p.arr.Availability(s).Load(), s) {
		s++
	}
	for old := p.mpublished.Load(); s > old; old = p.mpublished.Load() {
		if p.mpublished.CompareAndSwap(old, s) {
			break
		}
	}
	return s
}

// count is the count claims have reached: the private count in single mode, claimed in multi.
func (p *Producer) count() uint64 {
	if p.multi {
		return p.cursors.ClaimedCount()
	}
	return p.next
}

// Poisoned returns the failure record if the ring is poisoned.
func (p *Producer) Poisoned() (layout.Poison, bool) { return p.v.Poisoned() }

// Poison records that this producer failed between claim and publish at seq, with cause as the
// message, then wakes every waiter so that it sees the record (spec 5.9). This producer's claims
// fail from then on.
func (p *Producer) Poison(seq uint64, cause any) {
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
func (p *Producer) gatingMin(fallback uint64) uint64 {
	var seen [layout.MaxRegistry]layout.StateWord
	for {
		m := fallback
		for i, e := range p.v.AllEntries() {
			if i >= len(seen) {
				break
			}
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
		for i, e := range p.v.AllEntries() {
			if i >= len(seen) || !same {
				break
			}
			same = e.Load() == seen[i]
		}
		if same {
			return m
		}
	}
}

// scanHook, when set (by tests only, through SetScanHook), runs in the gating scan's first pass
// after entry i's state was loaded: it lets a test activate a consumer between the loads of one
// scan.
var scanHook func(entry int)

// SetScanHook installs f as the gating scan's test hook and returns a function that removes it.
// For tests only: the hook is a global, not synchronized with running scans.
func SetScanHook(f func(entry int)) (restore func()) {
	scanHook = f
	return func() { scanHook = nil }
}

// AwaitConsumers waits until the consumers a describes are active in the ring.
func (p *Producer) AwaitConsumers(a Await) error {
	var deadline time.Time
	if a.Timeout > 0 {
		deadline = time.Now().Add(a.Timeout)
	}
	return coordination.AwaitConsumers(p.v, a.Consumers, a.Names, deadline)
}

// Remaining returns how many sequences could be claimed now without waiting.
func (p *Producer) Remaining() uint64 {
	n := p.count()
	from := n
	if p.multi {
		from = p.Published() // the published prefix (spec 5.3 step 1)
	}
	m := p.gatingMin(from)
	if n-m >= p.cap {
		return 0
	}
	return p.cap - (n - m)
}

func (p *Producer) deadline() time.Time {
	if p.timeout <= 0 {
		return time.Time{}
	}
	return time.Now().Add(p.timeout)
}

// Close marks the stream ended (consumers drain what was published, then see the end), wakes
// every waiter, unmaps the segment and, if this producer created it and Keep was not set,
// removes its name. A producer that registered in another's segment only leaves its entry.
// A second Close returns ErrProducerClosed.
func (p *Producer) Close() error {
	if atomic.SwapUint32(&p.closed, 1) != 0 {
		return ErrProducerClosed
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
		p.pe.CompareAndSwapState(p.pstate, p.pstate.With(layout.ProducerClosed))
		p.pe.Owner.CompareAndSwap(uint64(p.me), 0)
	}
	p.blocker.Release()
	errs = append(errs, p.seg.Release())
	return errors.Join(errs...)
}

// closeClaims ends a multi-producer stream (spec 5.4): it closes the claimed count to further
// claims, then waits until every claimed sequence is published, passed over or poisoned, up to
// CloseTimeout.
func (p *Producer) closeClaims() error {
	var count uint64
	for {
		w := p.cursors.LoadClaimed()
		if p.cursors.Claimed.CompareAndSwap(uint64(w), uint64(w)|layout.ClaimedClosed) {
			count = w.Count()
			break
		}
	}
	done := func() bool {
		if _, poisoned := p.v.Poisoned(); poisoned {
			return true
		}
		for s := count - min(count, p.cap); s < count; s++ {
			if !layout.Published(p.arr.Availability(s).Load(), s) {
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

// Heartbeat records that the producer is alive (its entry's heartbeat_ns, and the header's
// producer_heartbeat_ns for the creator).
func (p *Producer) Heartbeat() { p.beat(sys.Monotonic()) }

// beat stores a heartbeat: the header's for the creator, and the producer entry's.
func (p *Producer) beat(now uint64) {
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
func (p *Producer) beatWhileWaiting() {
	now := sys.Monotonic()
	if last := p.lastBeat.Load(); now-last >= waitBeat && p.lastBeat.CompareAndSwap(last, now) {
		p.beat(now)
	}
}
