package ring

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"sync/atomic"
	"time"

	"github.com/ringwire/ringwire/coordination"
	"github.com/ringwire/ringwire/internal/order"
	"github.com/ringwire/ringwire/internal/sys"
	"github.com/ringwire/ringwire/layout"
	"github.com/ringwire/ringwire/liveness"
	"github.com/ringwire/ringwire/segment"
)

// Start says where a new consumer begins reading.
type Start int

const (
	// StartLatest begins at the producer's current cursor: only events published from now on.
	StartLatest Start = iota
	// StartOldest begins at the oldest event still unconsumed by any active required consumer,
	// or at the producer's cursor if there is none.
	StartOldest

	// startInRing begins at the oldest event still in the ring, however old: for an optional
	// consumer re-attaching to a new incarnation (it does not gate, so it may read what no
	// required consumer holds, checked against laps as every read of an optional consumer is).
	startInRing Start = -1
)

// ConsumerOptions configure a consumer.
//
// consumer.Options is this type: one list of options and one set of defaults for the typed and
// the byte-level consumer.
type ConsumerOptions struct {
	Name     string // unique among active consumers, 1 to 48 bytes; required
	Optional bool   // never gate the producer (see spec section 10)
	Start    Start
	TypeName string // only for error messages, instead of the event type's own name; the fingerprint decides

	Wait          coordination.Strategy // how to wait for events; default coordination.Default() (Blocking)
	AttachTimeout time.Duration         // AttachConsumer waits this long for the segment to appear; default 5s
	// ReadTimeout is the longest wait for an event; 0 waits forever, unless the producer dies.
	// A waiting read checks every 100 ms (ProducerCheckEvery) whether the stream's producers are
	// alive: once they are all dead (spec section 8) and every event they published was read, it
	// fails with a *ProducerDeadError (ErrProducerDead). The check runs between two polls of the
	// strategy, so it comes at most 100 ms plus one wait of the strategy after the death: about
	// 100 ms spinning or yielding, 200 ms Blocking (one kernel sleep is at most 100 ms), 100 ms
	// plus the longest sleep with Sleep. With Reattach, a dead producer is not an error: the
	// consumer goes on waiting for it to restart over the name. Non-waiting reads (Poll) do not
	// check.
	ReadTimeout time.Duration
	// StallTimeout is how long a required consumer of a multi-producer ring waits at a claimed
	// but unpublished sequence before it checks whether the claiming producer died, and if so
	// passes over its claim (spec 5.8); 0 means 1s.
	StallTimeout time.Duration

	// After names the consumers this one reads behind (spec 4.3 depends_on): it sees a sequence
	// only once every one of them has finished with it. They must be registered already. Empty
	// means it reads behind the producer.
	After []string
	// Pool makes this consumer a worker of a work-pool stage: each sequence goes to one worker
	// of the pool only (in-process; see Pool and TakeFromPool).
	Pool *Pool
	// Halt, if set, stops every wait of this consumer with ErrConsumerHalted once it becomes true
	// (the setter must also wake blocked waiters, e.g. with coordination.WakeAll).
	Halt *atomic.Bool

	// Reattach, when the segment's name comes to hold a new incarnation (its producer restarted
	// with Replace or ReclaimStale), attaches to the new segment under the same name and goes on
	// reading there; without it, waits fail with ErrReplaced. Checked only while waiting, every
	// 100 ms. An optional consumer starts in the new segment at the oldest event still in its
	// ring, a required one as StartOldest says; if that is not the segment's first event, the
	// wait that re-attached returns the events missed as a *MissedError (also counted in the
	// entry's lost field), before any event of the new segment.
	Reattach bool

	// OnLoss, if set, is told of every loss a reading loop meets (a *GapError, *LappedError or
	// *MissedError), and the loop goes on (consumer.Consumer[T].Run; see Consumer.TellLoss); if
	// nil, the loop returns the loss as its error.
	OnLoss func(error)
}

// AttachWait is how long an attach waits for the segment to appear: AttachTimeout, 5 s if 0.
func (o *ConsumerOptions) AttachWait() time.Duration {
	if o.AttachTimeout == 0 {
		return 5 * time.Second
	}
	return o.AttachTimeout
}

// TellLoss reports whether err is a loss that OnLoss was told of, so that a reading loop goes on
// after it: false when err is not a loss, or when OnLoss is nil.
func (c *Consumer) TellLoss(err error) bool {
	if c.opts.OnLoss == nil || !(errors.Is(err, ErrGap) || errors.Is(err, ErrLapped) || errors.Is(err, ErrMissed)) {
		return false
	}
	c.opts.OnLoss(err) // also counted in the registry entry
	return true
}

// Consumer reads the sequences of a segment in order (spec 5.5, 5.7): it waits until some are
// available (Wait, Await, Poll), hands out their slots (Range, Slot, Spans), and releases them by
// storing its cursor (Release). It is not safe for concurrent use: one goroutine reads.
type Consumer struct {
	opts    ConsumerOptions
	et      layout.EventType // the event type the segment must hold (also in a new incarnation)
	framed  bool             // the segment holds framed messages (spec section 11), not events of et
	seg     *segment.Segment
	v       *layout.View
	arr     layout.Arrays // v.Arrays(), for the inline paths (hot.go)
	hdr     *layout.Header
	cursors *layout.Cursors
	wait    *layout.Wait
	entry   *layout.Entry
	index   int
	state   layout.StateWord // the entry's state word while this registration holds it
	me      layout.OwnerID   // this process's owner identity
	multi   bool
	opt     bool // optional: may be lapped, so every read is verified after copying
	gapsIn  bool // multi mode: the last availability scan found a gap below avail

	strategy coordination.Strategy
	timeout  time.Duration
	stall    time.Duration
	halt     *atomic.Bool
	deps     []*layout.Entry // entries this consumer reads behind
	pool     *Pool           // non-nil for a work-pool worker

	resumed     bool
	pendingLoss error // reported by the first read: events lost while an evicted predecessor was away
	w           waitState
	readyFn     func() bool           // c.ready, bound once so that waiting allocates nothing
	blocker     *coordination.Blocker // in the consumer_blockers count while it may block (spec 5.6)
	parks       bool                  // the strategy sleeps between polls
	quick       int                   // polls of the published cursor alone before a full wait (0: none)
	next        uint64                // private copy of the cursor
	avail       uint64                // highest available count seen so far
	want        uint64                // the count the current wait waits for End to reach (Next+1 but for frames)
	batches     uint64
	closed      bool
}

// AttachConsumer attaches to the segment at b (waiting up to ConsumerOptions.AttachTimeout for it
// to exist and finish initializing) and registers a consumer in it.
func AttachConsumer(b segment.Backing, et layout.EventType, o ConsumerOptions) (*Consumer, error) {
	seg, err := segment.Attach(b, o.AttachWait())
	if err != nil {
		return nil, err
	}
	c, err := RegisterConsumer(seg, et, o)
	seg.Release() // RegisterConsumer took its own reference
	return c, err
}

// CheckName reports, as ErrBadName, a consumer name that no registry entry can hold.
func CheckName(name string) error {
	if len(name) < 1 || len(name) > layout.NameMax {
		return fmt.Errorf("%w: %q must be 1 to %d bytes", ErrBadName, name, layout.NameMax)
	}
	return nil
}

// RegisterConsumer registers a consumer in a segment this process already holds, such as a heap
// ring's (Producer.Segment). The segment stays mapped until the consumer's Close.
func RegisterConsumer(seg *segment.Segment, et layout.EventType, o ConsumerOptions) (*Consumer, error) {
	want := et
	if o.TypeName != "" {
		want.Name = o.TypeName
	}
	return registerConsumer(seg, func(v *layout.View) error { return v.CheckEventType(want) }, et, false, o)
}

// AttachFramedConsumer is AttachConsumer for a framed ring (spec section 11). The consumer reads
// frames: Slot, SlotBytes and Spans hand out their bytes, layout.FrameGeometry checks them.
func AttachFramedConsumer(b segment.Backing, o ConsumerOptions) (*Consumer, error) {
	seg, err := segment.Attach(b, o.AttachWait())
	if err != nil {
		return nil, err
	}
	c, err := RegisterFramedConsumer(seg, o)
	seg.Release()
	return c, err
}

// RegisterFramedConsumer is RegisterConsumer for a framed ring: checks 13 and 14 of spec 5.2 for
// framed messages, and TypeName, if set, must be the ring's message type.
func RegisterFramedConsumer(seg *segment.Segment, o ConsumerOptions) (*Consumer, error) {
	return registerConsumer(seg, func(v *layout.View) error { return CheckFramed(v, o.TypeName) }, layout.EventType{}, true, o)
}

func registerConsumer(seg *segment.Segment, check func(*layout.View) error, et layout.EventType, framed bool, o ConsumerOptions) (*Consumer, error) {
	if err := CheckName(o.Name); err != nil {
		return nil, err
	}
	v := seg.View()
	if err := check(v); err != nil {
		return nil, fmt.Errorf("attach %s: %w", seg.Backing(), err)
	}
	if o.Wait == nil {
		o.Wait = coordination.Default()
	}
	if o.StallTimeout == 0 {
		o.StallTimeout = time.Second
	}
	if err := seg.Acquire(); err != nil {
		return nil, err
	}
	c := &Consumer{
		opts: o, et: et, framed: framed,
		seg: seg, v: v, hdr: v.Header(), cursors: v.Cursors(), wait: v.Wait(),
		multi: v.Mode() == layout.MultiProducer, opt: o.Optional, stall: o.StallTimeout, halt: o.Halt, pool: o.Pool, strategy: o.Wait, timeout: o.ReadTimeout,
	}
	c.arr = v.Arrays()
	c.readyFn = c.ready
	c.parks = o.Wait.Traits().Parks
	if !c.multi && len(o.After) == 0 {
		c.quick = o.Wait.Traits().QuickPolls
	}
	c.blocker = coordination.NewBlocker(o.Wait, &c.hdr.ConsumerBlockers)
	if err := c.register(o); err != nil {
		c.blocker.Release()
		seg.Release()
		return nil, fmt.Errorf("attach %s as %q: %w", seg.Backing(), o.Name, err)
	}
	return c, nil
}

// count is the producer side's count: published (single) or claimed (multi).
func (c *Consumer) count() uint64 {
	if c.multi {
		return c.cursors.ClaimedCount()
	}
	return c.cursors.Published.Load()
}

// register claims a registry entry (spec 5.7): the owner word first (the entry's lock), then
// the state word, each by compare-and-swap. A round that finds the registry changing under it
// (another taker, an eviction) starts again from step 1.
func (c *Consumer) register(o ConsumerOptions) error {
	var deps uint64
	for _, name := range o.After {
		j, err := c.dependency(name)
		if err != nil {
			return err
		}
		deps |= 1 << uint(j)
		c.deps = append(c.deps, c.v.Entry(j))
	}
	pid := os.Getpid()
	start, _ := sys.ProcessStartTime(pid)
	c.me = layout.MakeOwner(uint32(pid), start)
	for round := 0; round < 16; round++ {
		if done, err := c.registerOnce(o, deps); done {
			return err
		}
	}
	return fmt.Errorf("%w: %d rounds", ErrRegistryBusy, 16)
}

// registerOnce is one round of spec 5.7. It reports done = false when the round lost a race
// and should be run again.
func (c *Consumer) registerOnce(o ConsumerOptions, deps uint64) (done bool, err error) {
	// Step 1, over the whole registry: an active entry of this name held by a live process means
	// a duplicate, wherever it is. Otherwise an active (or claiming) entry of this name whose
	// owner died is taken over and resumed: nothing lost. An evicted entry of this name is
	// claimed again, and what was lost since the eviction is reported.
	dead, evicted := -1, -1
	for i, e := range c.v.AllEntries() {
		if e.NameString() != o.Name {
			continue
		}
		switch e.Load().State() {
		case layout.EntryActive, layout.EntryClaiming:
			if !liveness.OwnerDead(e.OwnerID()) {
				if e.Is(layout.EntryActive) {
					return true, ErrDuplicateName
				}
				continue // a rival still claiming: step 5 settles it
			}
			if dead < 0 {
				dead = i
			}
		case layout.EntryEvicted:
			if evicted < 0 {
				evicted = i
			}
		}
	}
	if dead >= 0 {
		return c.takeOver(dead, o, deps)
	}
	if evicted >= 0 {
		e := c.v.Entry(evicted)
		if ok, err := c.claim(evicted, e, e.Load(), o, deps, StartLatest, true); ok {
			return true, err
		}
	}
	// Step 2: any entry that is free, closed or evicted and held by nobody alive, or left in
	// claiming by a claimer that died (claim checks the owner word).
	for i, e := range c.v.AllEntries() {
		switch st := e.Load(); st.State() {
		case layout.EntryFree, layout.EntryClosed, layout.EntryEvicted, layout.EntryClaiming:
			if ok, err := c.claim(i, e, st, o, deps, o.Start, false); ok {
				return true, err
			}
		}
	}
	return true, ErrRegistryFull
}

// claim is spec 5.7 steps 2 to 6 on entry i, which was seen in state st. It reports false,
// having changed nothing that is not given back, when another peer holds the entry: the caller
// chooses another. evicted says the entry is this name's evicted registration: the events
// between its old cursor and the new start are reported as lost.
func (c *Consumer) claim(i int, e *layout.Entry, st layout.StateWord, o ConsumerOptions, deps uint64, from Start, evicted bool) (bool, error) {
	owner := e.OwnerID()
	if owner != 0 && !liveness.OwnerDead(owner) {
		return false, nil // held by a live process (being claimed, or an evicted owner not yet gone)
	}
	if !e.Owner.CompareAndSwap(uint64(owner), uint64(c.me)) { // step 2
		return false, nil
	}
	claiming := st.Next(layout.EntryClaiming)
	if !e.CompareAndSwapState(st, claiming) { // step 3
		e.Owner.CompareAndSwap(uint64(c.me), 0)
		return false, nil
	}
	was := e.Cursor.Load()
	// Step 4: fill in, with the provisional cursor a ring below the count, and activate. From
	// the activation on, the entry holds the producers back to the count they had reached, so
	// that the start chosen in step 6 only ever raises the cursor (the spec's "why step 6 is
	// safe").
	c.fill(e, o, deps)
	if !evicted {
		e.Lost.Store(0)
	}
	e.GapsSeen.Store(0)
	now := c.count()
	e.Cursor.Store(now - min(now, c.v.Capacity()))
	active := claiming.With(layout.EntryActive)
	if !e.CompareAndSwapState(claiming, active) {
		e.Owner.CompareAndSwap(uint64(c.me), 0)
		return false, nil
	}
	c.entry, c.index, c.state = e, i, active
	if c.nameTaken(i, o.Name) { // step 5: lost a race with an attacher of the same name
		c.deregister()
		return true, ErrDuplicateName
	}
	cur, err := c.choose(i, from) // step 6
	if err != nil {
		c.deregister()
		return true, err
	}
	if evicted {
		c.resumed = true
		if cur > was {
			e.Lost.Add(cur - was)
			c.pendingLoss = &LappedError{Lost: cur - was, At: was}
		}
	}
	return true, nil
}

// choose is spec 5.7 step 6: it picks where this consumer starts, from values loaded now, stores
// it as the cursor (never below the entry's cursor: the provisional one, or a start a dead
// previous owner stored), clears the starting bit, and wakes producers the provisional cursor
// may have held back. A consumer it reads behind must still gate the producers (active,
// required, started): another entry's cursor is no safe start.
func (c *Consumer) choose(self int, from Start) (uint64, error) {
	e := c.entry
	now := c.count()
	cur := now
	switch from {
	case StartOldest:
		cur = c.oldest(self, now)
	case startInRing:
		cur = now - min(now, c.v.Capacity()) // optional consumers only: they copy and verify
	}
	for _, d := range c.deps {
		// A stage reading behind others starts where the slowest of them is.
		if !d.Gates() || !d.Ready() {
			return 0, fmt.Errorf("%w: %q stopped gating the producers while this consumer registered", ErrDependencyUnavailable, d.NameString())
		}
		cur = min(cur, d.Cursor.Load())
	}
	cur = max(cur, e.Cursor.Load())
	e.Cursor.Store(cur)
	atomic.StoreUint32(&e.Flags, atomic.LoadUint32(&e.Flags)&^layout.FlagStarting)
	c.next, c.avail = cur, cur
	if pb, cb := c.hdr.ProducerBlockers.Load(), c.hdr.ConsumerBlockers.Load(); pb|cb != 0 {
		order.Full() // F2, as after any cursor store (5.5 step 3)
		coordination.Notify(&c.wait.Producer)
		coordination.Notify(&c.wait.Consumer)
	}
	return cur, nil
}

// takeOver takes entry i, active or claiming with the name of this consumer and a dead owner
// (spec 5.7, taking over): the owner word by compare-and-swap, so that of two takers only one
// wins, then the state word to the next generation, so that an eviction prepared against the
// dead owner fails. An active entry stays active (gating) throughout, and the consumer resumes at
// the dead owner's cursor; one whose owner died before choosing its start chooses it now.
func (c *Consumer) takeOver(i int, o ConsumerOptions, deps uint64) (done bool, err error) {
	e := c.v.Entry(i)
	st := e.Load()
	dead := e.OwnerID()
	if st.State() == layout.EntryClaiming {
		ok, err := c.claim(i, e, st, o, deps, o.Start, false) // goes on from step 4
		return ok, err
	}
	if st.State() != layout.EntryActive || !liveness.OwnerDead(dead) {
		return false, nil // changed since step 1's scan
	}
	if e.Required() == o.Optional {
		return true, fmt.Errorf("%w: the dead consumer of this name was %s, this one is %s",
			ErrDuplicateName, kind(e.Required()), kind(!o.Optional))
	}
	if !e.Owner.CompareAndSwap(uint64(dead), uint64(c.me)) {
		return false, nil // another taker won: step 1 again finds it
	}
	e.HeartbeatNs.Store(sys.Monotonic())
	mine := st.Next(layout.EntryActive)
	if !e.CompareAndSwapState(st, mine) { // evicted meanwhile: give the lock back, start again
		e.Owner.CompareAndSwap(uint64(c.me), 0)
		return false, nil
	}
	c.entry, c.index, c.state = e, i, mine
	if c.nameTaken(i, o.Name) { // a live rival of the same name: it keeps the name
		c.deregister()
		return true, ErrDuplicateName
	}
	e.DependsOn.Store(deps)
	c.resumed = true
	if !e.Ready() { // its owner died before step 6: the cursor is only provisional
		if _, err := c.choose(i, o.Start); err != nil {
			c.deregister()
			return true, err
		}
		return true, nil
	}
	cur := e.Cursor.Load()
	c.next, c.avail = cur, cur
	return true, nil
}

func kind(required bool) string {
	if required {
		return "required"
	}
	return "optional"
}

// fill writes the fields of an entry this consumer is claiming (spec 5.7 step 4).
func (c *Consumer) fill(e *layout.Entry, o ConsumerOptions, deps uint64) {
	flags := layout.FlagStarting // cleared once the start is chosen (spec 5.7 step 6)
	if !o.Optional {
		flags |= layout.FlagRequired
	}
	atomic.StoreUint32(&e.Flags, flags)
	e.SetName(o.Name)
	e.DependsOn.Store(deps)
	e.HeartbeatNs.Store(sys.Monotonic())
}

// nameTaken reports whether an entry other than self, claiming or active and held by a live
// process, has this name (spec 5.7 step 5).
func (c *Consumer) nameTaken(self int, name string) bool {
	for j, e := range c.v.AllEntries() {
		if st := e.Load().State(); j == self || st != layout.EntryClaiming && st != layout.EntryActive {
			continue
		}
		if e.NameString() == name && !liveness.ConsumerDead(e) {
			return true
		}
	}
	return false
}

// deregister gives the entry up (spec 5.7, deregistering): the state word from this
// registration's active word to closed, then the owner word to 0, then a wake of producers that
// wait for room. If the entry is no longer this registration's, only the owner word is cleared
// (if this consumer still holds it).
func (c *Consumer) deregister() {
	c.entry.CompareAndSwapState(c.state, c.state.With(layout.EntryClosed))
	c.entry.Owner.CompareAndSwap(uint64(c.me), 0)
	coordination.Notify(&c.wait.Producer)
}

// Resumed reports whether this consumer took over the registration of a dead (or evicted)
// consumer of the same name and continues from its cursor rather than from ConsumerOptions.Start.
func (c *Consumer) Resumed() bool { return c.resumed }

// findActive returns the index of the active entry named name, or -1.
func (c *Consumer) findActive(name string) int {
	for j, e := range c.v.AllEntries() {
		if e.Is(layout.EntryActive) && e.NameString() == name {
			return j
		}
	}
	return -1
}

// oldest returns the lowest cursor of the other active required entries that have chosen
// their start (a starting entry's cursor is only provisional), or now if none is lower.
func (c *Consumer) oldest(self int, now uint64) uint64 {
	lo := now
	for j, e := range c.v.AllEntries() {
		if j != self && e.Gates() && e.Ready() {
			lo = min(lo, e.Cursor.Load())
		}
	}
	return lo
}

// dependencyWait bounds how long a consumer waits for one it reads behind to choose its start.
const dependencyWait = 5 * time.Second

// dependency returns the index of the active required entry named name that this consumer will
// read behind (ConsumerOptions.After). An optional entry does not gate the producers, so its cursor is no
// safe start: refused. An entry still choosing its start (spec 5.7 step 6) has no cursor to start
// from yet: dependency waits for it, as long as its owner lives, for up to dependencyWait.
func (c *Consumer) dependency(name string) (int, error) {
	deadline := time.Now().Add(dependencyWait)
	for {
		j := c.findActive(name)
		if j < 0 {
			return -1, fmt.Errorf("%w: %q", ErrUnknownStage, name)
		}
		e := c.v.Entry(j)
		if !e.Required() {
			return -1, fmt.Errorf("%w: %q is optional (it does not gate the producers)", ErrUnknownStage, name)
		}
		if e.Ready() {
			return j, nil
		}
		if liveness.ConsumerDead(e) || time.Now().After(deadline) {
			return -1, fmt.Errorf("%w: %q is still starting (its owner died, or it took over %v)", ErrDependencyUnavailable, name, dependencyWait)
		}
		runtime.Gosched()
		time.Sleep(50 * time.Microsecond)
	}
}

// Segment returns the consumer's segment.
func (c *Consumer) Segment() *segment.Segment { return c.seg }

// Index returns the consumer's registry entry index.
func (c *Consumer) Index() int { return c.index }

// Lag returns how many published sequences this consumer has not read yet.
func (c *Consumer) Lag() uint64 { return c.available() - c.next }

// Poll refreshes End without waiting (spec 5.5 step 1) and returns it: every sequence in
// [Next, End) may be read. It does not check the registration (Begin does).
func (c *Consumer) Poll() uint64 {
	c.avail = c.available()
	return c.avail
}

// available returns the highest count that may be read (spec 5.5 step 1).
func (c *Consumer) available() uint64 {
	hi := c.producerAvailable()
	for _, d := range c.deps {
		hi = min(hi, d.Cursor.Load())
	}
	if c.opt && c.multi && hi <= c.next && c.cursors.ClaimedCount() > c.next+c.arr.Mask+1 {
		// A lapped optional consumer of a multi-producer ring finds a later round's
		// availability word at Next, so nothing looks published there; but Next was published a
		// lap ago and its slot reused since (spec 5.10 step 4). Offering it makes the reader copy
		// it and find the lap (Lapped), instead of waiting for a word that never comes.
		hi = c.next + 1
	}
	return hi
}

// producerAvailable is the highest count the producers have published contiguously.
func (c *Consumer) producerAvailable() uint64 {
	if !c.multi {
		return c.cursors.Published.Load()
	}
	limit := c.cursors.ClaimedCount()
	s := c.avail
	if s < c.next {
		s = c.next
	}
	for s < limit {
		w := c.availability(s)
		if w != s+1 {
			if w != (s+1)|layout.AvailGap {
				break
			}
			c.gapsIn = true
		}
		s++
	}
	return s
}

// ended reports whether the stream is over: the producer closed it and everything was read.
func (c *Consumer) ended() bool {
	if c.hdr.ProducerState.Load() != layout.StreamClosed {
		return false
	}
	c.avail = c.available()
	return c.avail <= c.next && c.next >= c.count()
}

// Check reports the closure (ErrConsumerClosed) or eviction (ErrEvicted) of this consumer's
// registration, letting go of an evicted entry's owner word (cold path: after Registered reported
// false, or after a wait).
func (c *Consumer) Check() error {
	if c.closed {
		return ErrConsumerClosed
	}
	if c.entry.Load() != c.state || c.entry.OwnerID() != c.me {
		c.entry.Owner.CompareAndSwap(uint64(c.me), 0) // spec 5.7: an evicted owner lets go
		return ErrEvicted
	}
	return nil
}

// Wait waits until a sequence at or beyond Next is available (End > Next), with the wait
// strategy: a wait ends when a producer publishes (woken by it, or by the strategy's own
// re-check; spurious wakeups are re-checked), or with an error: ErrEndOfStream once the producer
// has closed and everything was read, ErrTimeout after ConsumerOptions.ReadTimeout, a
// *ProducerDeadError, the poison, ErrConsumerHalted, ErrEvicted, ErrReplaced (or, re-attaching,
// a *MissedError). A required consumer of a multi-producer ring passes over the claims of dead
// producers while it waits (spec 5.8). When sequences are available already it returns at once,
// without checking the registration: Begin does that before each read, and Registered after each
// slot read.
func (c *Consumer) Wait() error { return c.WaitFor(c.next + 1) }

// WaitFor is Wait until End reaches want (> Next): for a reader of frames whose frame at Next
// ends at want and is not all published yet (spec 11.3 step 3). It returns without waiting when
// End is already there.
func (c *Consumer) WaitFor(want uint64) error {
	c.want = want
	var deadline time.Time
	if c.timeout > 0 {
		deadline = time.Now().Add(c.timeout) // one deadline for the whole wait, however it loops
	}
	for {
		if c.avail = c.available(); c.avail >= c.want {
			return nil
		}
		if err := c.Check(); err != nil {
			return err
		}
		c.w = waitState{}
		if err := c.blocker.Wait(c.strategy, c.readyFn, &c.wait.Consumer, deadline); err != nil {
			if err := c.Check(); err != nil {
				return err
			}
			return fmt.Errorf("waiting for events: %w", err)
		}
		if c.avail >= c.want {
			return c.Check()
		}
		switch {
		case c.w.poisoned:
			return c.v.PoisonErr()
		case c.w.halted:
			return ErrConsumerHalted
		case c.w.replaced:
			return c.replaced()
		case c.w.ended:
			return ErrEndOfStream
		case c.w.deadPID != 0:
			claimed := c.cursors.ClaimedCount() // in both modes
			return &ProducerDeadError{PID: c.w.deadPID, Unpublished: claimed - min(claimed, c.next)}
		}
		// Otherwise the registration changed (check reports it) or the wait ended for nothing
		// to report: wait again, within the same deadline.
	}
}

// Await is Wait with a quick poll of the published cursor first (PollPublished), where the
// strategy allows it.
func (c *Consumer) Await() error {
	if c.quick > 0 && c.PollPublished() {
		return c.Check()
	}
	return c.Wait()
}

// waitState is what ready found while a consumer waited. It lives in the Consumer so that a wait
// allocates nothing.
type waitState struct {
	ended, poisoned, halted, replaced bool
	deadPID                           uint32 // set when every producer died: the creator's pid
	polls                             uint64
	stuckSince, nextNameCheck         time.Time
}

// ready is the condition a waiting consumer polls: an event is available, or something ended
// the wait. The cheap checks run on every poll; the ones that read the clock or touch the file
// system (heartbeat, a dead producer's claim, a replaced segment) every 64 polls of a spinning
// strategy and on every poll of a parking one.
func (c *Consumer) ready() bool {
	if c.avail = c.available(); c.avail >= c.want {
		return true
	}
	if c.hdr.PoisonState.Load() != layout.PoisonNone {
		c.w.poisoned = true
		return true
	}
	if c.halt != nil && c.halt.Load() {
		c.w.halted = true
		return true
	}
	if c.hdr.ProducerState.Load() == layout.StreamClosed && c.ended() {
		// Ended only once everything up to the producers' count was read (spec 5.5 step 4): a
		// stage behind a slower one keeps waiting for it after the close.
		c.w.ended = true
		return true
	}
	if c.entry.Load() != c.state || c.entry.OwnerID() != c.me {
		return true // evicted or taken over (spec 5.6 step 3): waitFor reports it through check
	}
	if c.w.polls++; c.parks || c.w.polls%64 == 0 {
		return c.slowChecks()
	}
	return false
}

func (c *Consumer) slowChecks() bool {
	now := time.Now()
	if c.w.nextNameCheck.IsZero() {
		c.entry.HeartbeatNs.Store(sys.Monotonic())
		c.w.nextNameCheck = now.Add(nameCheckEvery)
	}
	if c.multi && !c.opt && c.next < c.count() {
		// A claimed sequence is not published: maybe its producer died (spec 5.8).
		if c.w.stuckSince.IsZero() {
			c.w.stuckSince = now
		} else if now.Sub(c.w.stuckSince) >= c.stall && liveness.PassOverDeadClaims(c.v, c.next) > 0 {
			c.avail = c.available()
			return true
		}
	}
	if now.After(c.w.nextNameCheck) {
		c.w.nextNameCheck = now.Add(nameCheckEvery)
		c.entry.HeartbeatNs.Store(sys.Monotonic())
		if r, _ := c.seg.Replaced(); r {
			c.w.replaced = true
			return true
		}
		if !c.opts.Reattach {
			return c.producerGone()
		}
	}
	return false
}

// nameCheckEvery is how often a waiting consumer checks that its segment was not replaced and
// that its producers are alive.
const nameCheckEvery = ProducerCheckEvery

// ProducerCheckEvery is how often a waiting consumer checks that the stream's producers are alive
// (see ConsumerOptions.ReadTimeout).
const ProducerCheckEvery = 100 * time.Millisecond

// producerGone is the check of ConsumerOptions.ReadTimeout: it reports whether the wait is over because
// every producer died and nothing they published is left to read. In multi mode a required
// consumer first passes over the claims the dead left unpublished (spec 5.8, without waiting for
// StallTimeout: nobody is left to publish them), so that it reads what was published after them.
func (c *Consumer) producerGone() bool {
	pid, dead := liveness.ProducersDead(c.v)
	if !dead {
		return false
	}
	// The dead publish nothing more: what is available after the check is all there is. While
	// stages this one reads behind still have some of it, it waits for them.
	more := func() bool {
		c.avail = c.available()
		return c.avail >= c.want || c.producerAvailable() >= c.want
	}
	if more() {
		return c.avail >= c.want
	}
	if c.multi && !c.opt && c.next < c.count() {
		liveness.PassOverDeadClaims(c.v, c.next) // by this consumer, or already by another
		if more() {
			return c.avail >= c.want
		}
	}
	c.w.deadPID = pid
	return true
}

// replaced handles a segment whose name now holds a new incarnation.
func (c *Consumer) replaced() error {
	if !c.opts.Reattach {
		return fmt.Errorf("%w: %s", ErrReplaced, c.seg.Backing())
	}
	o := c.opts
	o.Start = StartOldest
	if c.opt && !c.framed { // a framed reader must start at a frame boundary (spec 11.3)
		o.Start = startInRing
	}
	attach := func() (*Consumer, error) { return AttachConsumer(c.seg.Backing(), c.et, o) }
	if c.framed {
		attach = func() (*Consumer, error) { return AttachFramedConsumer(c.seg.Backing(), o) }
	}
	nc, err := attach()
	if err != nil {
		return fmt.Errorf("%w, and re-attaching failed: %w", ErrReplaced, err)
	}
	old := *c
	*c = *nc
	c.readyFn = c.ready // bound to nc by RegisterConsumer; c is the consumer from now on
	old.Close()
	// Every incarnation counts from 0: the events before the start were missed. Reported
	// before any event of the new incarnation, so that the reader can tell what came when.
	if c.next > 0 {
		c.entry.Lost.Add(c.next)
		return &MissedError{Incarnation: c.seg.Incarnation(), Lost: c.next}
	}
	return c.Wait()
}

// Release marks every sequence below to consumed (to may be any count from Next to End: a
// frame's end, or a batch's): it stores the cursor, letting the producers reuse those slots, and
// wakes a producer or a stage reading behind this one that waits for it (spec 5.5 steps 2-3).
func (c *Consumer) Release(to uint64) {
	if !c.ReleaseFast(to) {
		c.ReleaseSlow(to)
	}
}

// ReleaseSlow is the rest of a release whose cursor store ReleaseFast made: the wakes of spec 5.5
// step 3 (the fence F2, then each waiters handshake) and the periodic heartbeat.
func (c *Consumer) ReleaseSlow(to uint64) {
	pb, cb := c.hdr.ProducerBlockers.Load(), c.hdr.ConsumerBlockers.Load()
	if pb|cb != 0 {
		order.Full() // F2: the cursor store before the loads of the waiters words
		if pb != 0 {
			coordination.Notify(&c.wait.Producer)
		}
		if cb != 0 {
			coordination.Notify(&c.wait.Consumer) // stages reading behind this one wait there
		}
	}
	if c.batches%1024 == 0 {
		c.entry.HeartbeatNs.Store(sys.Monotonic())
	}
}

// SkipLapped moves an optional consumer that fell a ring behind (Lapped reported true for from)
// to the oldest sequence that is safe to read again, counts the loss in its entry and reports it
// as a *LappedError.
func (c *Consumer) SkipLapped(from uint64) error {
	// Spec 5.10 step 4: go on from L - capacity, or from what is available if that is later.
	count := c.count()
	to := max(min(count, c.avail), count-min(count, c.arr.Mask+1), from)
	lost := to - from
	c.entry.Lost.Add(lost)
	c.avail = to
	c.Release(to)
	return &LappedError{Lost: lost, At: from}
}

// SkipLappedFrames is SkipLapped for a reader of frames (spec 11.4): the sequences from from up
// to the producers' count, which is a frame boundary, are counted as lost and reported as a
// *LappedError, and reading goes on there.
func (c *Consumer) SkipLappedFrames(from uint64) error {
	to := max(c.count(), from)
	c.entry.Lost.Add(to - from)
	c.avail = min(c.avail, to)
	c.Release(to)
	return &LappedError{Lost: to - from, At: from}
}

// Close deregisters the consumer (its entry becomes closed and stops gating the producer) and
// releases the segment.
func (c *Consumer) Close() error {
	if c.closed {
		return ErrConsumerClosed
	}
	c.closed = true
	c.deregister()
	c.blocker.Release()
	return c.seg.Release()
}
