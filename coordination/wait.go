// Package coordination holds how ringwire's producers and consumers wait for each other: the wait
// strategies, and the wake side of the blocking handshake of spec/LAYOUT.md section 5.6.
package coordination

import (
	"errors"
	"runtime"
	"sync"
	"sync/atomic"
	"time"
	"unsafe"

	"github.com/ringwire/ringwire/internal/order"
	"github.com/ringwire/ringwire/internal/sys"
	"github.com/ringwire/ringwire/layout"
)

// ErrTimeout is returned by Strategy.Wait when its deadline passes before its condition holds.
// It is ringwire's one timeout: producer.ErrTimeout and consumer.ErrTimeout are this value, and
// their waits wrap it with what they waited for.
var ErrTimeout = errors.New("timed out")

// Strategy decides how a waiter passes the time between checks of its condition. Implementations
// are stateless values, safe for concurrent use by any number of waiters.
type Strategy interface {
	// Wait returns nil as soon as ready reports true, or ErrTimeout once deadline has passed
	// (a zero deadline waits forever). ready is called repeatedly, possibly many times after
	// spurious wakeups; it must be cheap and free of side effects other than caching. word is
	// the wait word of the segment that a blocking strategy sleeps on; others ignore it.
	Wait(ready func() bool, word *layout.WaitWord, deadline time.Time) error
	// Traits says how Wait passes the time. Producers and consumers act on it: a strategy whose
	// Wait may sleep in the kernel on word MUST say BlocksInKernel, or its waiter is not counted
	// as a blocker (spec 5.6) and wakers that skip the wake handshake leave it asleep until its
	// own re-check. It must return the same value on every call.
	Traits() Traits
	// String names the strategy for tools and benchmarks.
	String() string
}

// Traits describe a Strategy's waiting to the producers and consumers that use it.
type Traits struct {
	// BlocksInKernel: Wait may sleep in the kernel until a wake on word (a futex wait, as
	// Blocking does). The waiter is then registered in the segment's blockers count before its
	// first wait (see Blocker), so that every waker does the wake handshake for it.
	BlocksInKernel bool
	// Parks: Wait sleeps between checks (Sleep, Blocking), so a waiter may afford costlier
	// checks (poison, halts, liveness) before each call.
	Parks bool
	// QuickPolls is how many times a waiter may poll its one condition word in a tight inline
	// loop before it calls Wait (whose every poll also checks poison, halts and closure). 0 is
	// always safe.
	QuickPolls int
}

// checkEvery is how many idle rounds pass between clock reads in the spinning strategies.
const checkEvery = 256

func expired(deadline time.Time) bool {
	return !deadline.IsZero() && !time.Now().Before(deadline)
}

// BusySpin re-checks without pause: the lowest latency, and a whole core per waiter. Use it only
// when every spinning thread has a core of its own.
func BusySpin() Strategy { return busySpin{} }

type busySpin struct{}

func (busySpin) String() string { return "busy-spin" }

func (busySpin) Traits() Traits { return Traits{QuickPolls: 2048} }

func (busySpin) Wait(ready func() bool, _ *layout.WaitWord, deadline time.Time) error {
	for i := 1; ; i++ {
		if ready() {
			return nil
		}
		if i%checkEvery == 0 && expired(deadline) {
			return ErrTimeout
		}
	}
}

// Yield re-checks a few times, then gives the CPU away (sched_yield) between checks: near
// busy-spin latency when cores are free, and fair when more threads wait than there are cores.
func Yield() Strategy { return yield{} }

type yield struct{}

func (yield) String() string { return "yield" }

func (yield) Traits() Traits { return Traits{QuickPolls: 64} }

const spinsBeforeYield = 64

func (yield) Wait(ready func() bool, _ *layout.WaitWord, deadline time.Time) error {
	for i := 1; ; i++ {
		if ready() {
			return nil
		}
		if i > spinsBeforeYield {
			// Both: another goroutine of this process may need this P (more goroutines than
			// GOMAXPROCS), and another process may need this core.
			runtime.Gosched()
			sys.OSYield()
		}
		if i%checkEvery == 0 && expired(deadline) {
			return ErrTimeout
		}
	}
}

// Sleep yields for a while, then sleeps between checks, doubling the sleep from min up to max:
// little CPU when idle, and up to max of added latency.
func Sleep(min, max time.Duration) Strategy {
	if min <= 0 {
		min = time.Microsecond
	}
	if max < min {
		max = min
	}
	return sleep{min: min, max: max}
}

type sleep struct{ min, max time.Duration }

func (s sleep) String() string { return "sleep" }

func (sleep) Traits() Traits { return Traits{Parks: true, QuickPolls: 64} }

const yieldsBeforeSleep = 100

func (s sleep) Wait(ready func() bool, _ *layout.WaitWord, deadline time.Time) error {
	d := s.min
	for i := 1; ; i++ {
		if ready() {
			return nil
		}
		if expired(deadline) {
			return ErrTimeout
		}
		if i <= yieldsBeforeSleep {
			sys.OSYield()
			continue
		}
		time.Sleep(d)
		if d *= 2; d > s.max {
			d = s.max
		}
	}
}

// Blocking spins briefly, then sleeps in the kernel on the segment's wait word (futex on Linux)
// until a peer wakes it: almost no CPU while idle, at the cost of a system call per wakeup on
// both sides. Wakeups may be spurious; Wait re-checks ready after each one. Where the platform has
// no futex (macOS without cgo), it polls with a 50 microsecond sleep instead.
func Blocking() Strategy { return blocking{} }

type blocking struct{}

func (blocking) String() string { return "blocking" }

// Traits: without a futex (macOS) Blocking sleeps in bounded slices, and is not a blocker.
func (blocking) Traits() Traits {
	return Traits{BlocksInKernel: sys.HasFutex, Parks: true, QuickPolls: 64}
}

// longestBlock bounds one kernel sleep so that a deadline is honoured even if no wake comes.
const longestBlock = 100 * time.Millisecond

func (blocking) Wait(ready func() bool, w *layout.WaitWord, deadline time.Time) error {
	for i := 0; i < spinsBeforeYield; i++ {
		if ready() {
			return nil
		}
	}
	for {
		// Spec 5.6: announce, read the wake word, re-check, then sleep only if the word is
		// unchanged. Pairs with Notify: the waker stores its cursor before loading Waiters.
		w.Waiters.Add(1)
		seen := w.Wake.Load()
		if ready() {
			w.Waiters.Add(^uint32(0))
			return nil
		}
		d := longestBlock
		if !deadline.IsZero() {
			left := time.Until(deadline)
			if left <= 0 {
				w.Waiters.Add(^uint32(0))
				return ErrTimeout
			}
			d = min(d, left)
		}
		err := sys.FutexWait((*uint32)(unsafe.Pointer(&w.Wake)), seen, d)
		w.Waiters.Add(^uint32(0))
		if err != nil {
			return err
		}
		if ready() {
			return nil
		}
	}
}

// Notify is the waker's half of spec section 5.6, called after a sequentially consistent store
// (or after Fence following a release store): it wakes every waiter blocked on w, and costs one
// load when nobody waits.
func Notify(w *layout.WaitWord) {
	if w.Waiters.Load() != 0 {
		w.Wake.Add(1)
		_ = sys.FutexWake((*uint32)(unsafe.Pointer(&w.Wake)))
	}
}

// NotifyAfterRelease is Notify for a waker whose cursor store was a release store: the fence F2
// of spec 5.11 orders that store before the load of the waiters word (5.3 step 5, 5.5 step 3).
// Wakers call it only when a blockers count is nonzero.
func NotifyAfterRelease(w *layout.WaitWord) {
	order.Full()
	Notify(w)
}

// WakeAll wakes every waiter of the segment, producers and consumers, whether or not they
// announced themselves (spec 5.6, "wake unconditionally"): used after a change waiters re-check
// that is not a cursor move (poison, close, deregistration, eviction, a halt), made with a
// sequentially consistent store or compare-and-swap.
func WakeAll(w *layout.Wait) {
	for _, ww := range []*layout.WaitWord{&w.Consumer, &w.Producer} {
		ww.Wake.Add(1)
		_ = sys.FutexWake((*uint32)(unsafe.Pointer(&ww.Wake)))
	}
}

// Blocker is one peer's registration in a blockers count of spec 5.6. It registers lazily, just
// before the peer's first wait, so that a peer that never waits costs its wakers nothing (and
// creating one does not pay the barrier). A nil *Blocker (from a strategy that never blocks in the
// kernel) does nothing. Safe for concurrent use.
type Blocker struct {
	count    *atomic.Uint32
	once     sync.Once
	bounded  atomic.Bool // no system-wide barrier: every kernel wait is at most boundedSlice
	released atomic.Bool
}

// boundedSlice is the longest kernel wait of a blocker whose registration could not be made
// visible with a system-wide barrier (spec 5.6 step 2).
const boundedSlice = time.Millisecond

// NewBlocker returns the registration of a peer using s in count, or nil if s never blocks in
// the kernel. Nothing is added to count until the first Wait.
func NewBlocker(s Strategy, count *atomic.Uint32) *Blocker {
	if !s.Traits().BlocksInKernel {
		return nil
	}
	return &Blocker{count: count}
}

// register is spec 5.6 steps 1 and 2: the seq-cst add, then the system-wide barrier (a few
// milliseconds, once), after which every waker that skips the wake handshake had already made its
// cursor store visible to this peer.
func (b *Blocker) register() {
	b.once.Do(func() {
		if b.released.Load() {
			return
		}
		b.count.Add(1)
		b.bounded.Store(!sys.GlobalBarrier())
	})
}

// Release removes the registration, if it was made; later calls do nothing.
func (b *Blocker) Release() {
	if b == nil || !b.released.CompareAndSwap(false, true) {
		return
	}
	registered := true
	b.once.Do(func() { registered = false }) // never registered: nothing to take back
	if registered {
		b.count.Add(^uint32(0))
	}
}

// Wait is s.Wait for a peer registered as b, registering first. Where the system-wide barrier
// was refused, it waits in slices of at most 1 ms for as long as it is registered (spec 5.6
// step 2), so that a wake skipped by a waker that had not seen the registration costs at most
// that.
func (b *Blocker) Wait(s Strategy, ready func() bool, w *layout.WaitWord, deadline time.Time) error {
	if b == nil {
		return s.Wait(ready, w, deadline)
	}
	if ready() {
		return nil
	}
	b.register()
	for b.bounded.Load() {
		slice := time.Now().Add(boundedSlice)
		if !deadline.IsZero() && deadline.Before(slice) {
			return s.Wait(ready, w, deadline)
		}
		if err := s.Wait(ready, w, slice); err != ErrTimeout {
			return err
		}
	}
	return s.Wait(ready, w, deadline)
}
