//! Waiting and waking (spec 5.6): spin briefly with yields, then block on the wake word, or
//! (in [`WaitStrategy::Spin`]) keep polling without ever blocking in the kernel.
//!
//! A peer that may block in the kernel registers in the header's blockers count for its wait
//! word and then issues the system-wide barrier F3 ([`Blocker`]). Wakers store their cursor
//! first (release) and load the count after ([`after_store`]); only a nonzero count costs them
//! the fence F2 and the waiters handshake. Changes that are not cursor moves (close, poison,
//! deregistration, eviction) wake unconditionally ([`wake_unconditionally`]).

use std::sync::atomic::{compiler_fence, fence, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::atomics::{futex_wait, futex_wake_all, membarrier_global};
use crate::error::Result;
use crate::segment::Segment;

/// Longest single block in the kernel of a registered blocker: bounds how late a waiter notices
/// a condition that no one signals (a dead peer, a deadline).
const MAX_BLOCK: Duration = Duration::from_millis(20);
/// Longest kernel wait of a blocker whose barrier F3 failed (spec 5.6: at most 1 ms for as long
/// as it stays registered), since a waker may then read the count as 0 and skip the wake.
const UNFENCED_BLOCK: Duration = Duration::from_millis(1);
/// Re-checks, each followed by a yield, before blocking.
const YIELDS: u32 = 32;
/// Longest sleep of a [`WaitStrategy::Spin`] waiter once yielding has not helped for a while.
const SPIN_SLEEP: Duration = Duration::from_micros(50);

/// How a producer or consumer waits when it has nothing to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WaitStrategy {
    /// Yield a few times, then block in the kernel (futex) until woken, re-checking at least
    /// every 20 ms. The peer registers in the header's blockers count for its lifetime, with a
    /// system-wide barrier (`membarrier`); if the barrier is refused, every kernel wait is at
    /// most 1 ms instead.
    #[default]
    Block,
    /// Never block in the kernel: spin, yield and sleep for at most 50 us between re-checks.
    /// The peer is not counted as a blocker, so while no peer blocks, wakers skip the fence and
    /// the waiters handshake (the fast path of spec 5.6).
    Spin,
}

impl WaitStrategy {
    /// Whether a peer waiting this way may block in the kernel, so that it must count itself in
    /// the header's blockers count of its wait word before it does (spec 5.6). True only for
    /// [`WaitStrategy::Block`] where a futex exists (Linux); elsewhere waiters sleep.
    pub fn may_block(self) -> bool {
        self == WaitStrategy::Block && cfg!(target_os = "linux")
    }
}

/// Which wait words a change concerns (spec 5.6).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Words {
    /// The consumer word (consumers waiting for events, and dependants).
    pub consumer: bool,
    /// The producer word (producers waiting for room).
    pub producer: bool,
}

impl Words {
    pub(crate) const CONSUMER: Words = Words {
        consumer: true,
        producer: false,
    };
    pub(crate) const PRODUCER: Words = Words {
        consumer: false,
        producer: true,
    };
    pub(crate) const BOTH: Words = Words {
        consumer: true,
        producer: true,
    };
}

/// A peer's side of spec 5.6: whether it may block in the kernel and, from just before its
/// first kernel wait until [`Blocking::release`], its registration as a blocker in the header's
/// blockers count for its wait word. A peer that never has to block in the kernel never
/// registers, so its wakers keep the fast path. Not shared between threads.
#[derive(Debug)]
pub(crate) struct Blocking {
    may_block: bool,
    blocker: Option<Blocker>,
}

impl Blocking {
    /// A peer waiting with `strategy` ([`WaitStrategy::may_block`] says whether it may block in
    /// the kernel, and so register).
    pub(crate) fn new(strategy: WaitStrategy) -> Blocking {
        Blocking {
            may_block: strategy.may_block(),
            blocker: None,
        }
    }

    /// The wait strategy.
    pub(crate) fn strategy(&self) -> WaitStrategy {
        if self.may_block {
            WaitStrategy::Block
        } else {
            WaitStrategy::Spin
        }
    }

    /// Switches to `strategy`; leaving [`WaitStrategy::Block`] hands the registration back to
    /// `count`.
    pub(crate) fn set_strategy(&mut self, strategy: WaitStrategy, count: &AtomicU32) {
        if !strategy.may_block() {
            self.release(count);
        }
        self.may_block = strategy.may_block();
    }

    /// Subtracts the registration (if any) from `count`, the word it was added to.
    pub(crate) fn release(&mut self, count: &AtomicU32) {
        if let Some(mut b) = self.blocker.take() {
            b.release(count);
        }
    }

    /// Forgets the registration without subtracting, as a crashed peer would leave it.
    #[cfg(any(test, feature = "conformance"))]
    pub(crate) fn leak(&mut self) {
        if let Some(mut b) = self.blocker.take() {
            b.leak();
        }
    }

    /// The registration, made now (add to `count`, then F3) if this is the first kernel wait.
    fn register(&mut self, count: &AtomicU32) -> &Blocker {
        self.blocker.get_or_insert_with(|| Blocker::register(count))
    }

    /// Registers now in `count`, as before a first kernel wait (tests inject the barrier).
    #[cfg(test)]
    pub(crate) fn register_with(&mut self, count: &AtomicU32, barrier: impl FnOnce() -> bool) {
        self.blocker = Some(Blocker::register_with(count, barrier));
    }

    /// Whether the registration's barrier F3 succeeded (`None` if not registered).
    #[cfg(test)]
    pub(crate) fn fenced(&self) -> Option<bool> {
        self.blocker.as_ref().map(|b| b.fenced)
    }
}

/// One peer's registration in a blockers count of the header (spec 5.6): added (seq-cst) and
/// followed by the barrier F3 on creation, subtracted on [`Blocker::release`].
#[derive(Debug)]
struct Blocker {
    /// Whether F3 succeeded; if not, kernel waits are bounded to 1 ms.
    fenced: bool,
    /// False once the registration was handed back (or deliberately leaked).
    armed: bool,
}

impl Blocker {
    /// Registers in `count`: a seq-cst add of 1, then `membarrier(MEMBARRIER_CMD_GLOBAL)`.
    fn register(count: &AtomicU32) -> Blocker {
        Self::register_with(count, membarrier_global)
    }

    /// [`Blocker::register`] with the barrier supplied (tests inject a failing one).
    fn register_with(count: &AtomicU32, barrier: impl FnOnce() -> bool) -> Blocker {
        count.fetch_add(1, Ordering::SeqCst);
        Blocker {
            fenced: barrier(),
            armed: true,
        }
    }

    /// Subtracts 1 from `count` (seq-cst) unless already done.
    fn release(&mut self, count: &AtomicU32) {
        if std::mem::replace(&mut self.armed, false) {
            count.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// Forgets the registration without subtracting.
    #[cfg(any(test, feature = "conformance"))]
    fn leak(&mut self) {
        self.armed = false;
    }

    /// Longest kernel wait allowed: 20 ms, or 1 ms if F3 failed (spec 5.6).
    fn max_block(&self) -> Duration {
        if self.fenced {
            MAX_BLOCK
        } else {
            UNFENCED_BLOCK
        }
    }
}

/// Loads `waiters` (seq-cst) and, if nonzero, bumps `word` and wakes its waiters. The change
/// that may end their wait must be ordered before this load: a seq-cst store or
/// compare-and-swap, or a release store followed by the fence F2.
fn wake(waiters: &AtomicU32, word: &AtomicU32) {
    if waiters.load(Ordering::SeqCst) != 0 {
        word.fetch_add(1, Ordering::SeqCst);
        futex_wake_all(word);
    }
}

/// The waker's side after a cursor store (spec 5.3 step 5, 5.5 step 3), called right after the
/// caller's release store of `published`, the last availability word or its `cursor`: loads
/// the blockers count of each word in `words`; only if one is nonzero, the fence F2, then for
/// each word whose count was nonzero, the waiters load and the wake. A count read as 0 needs no
/// fence: a blocker registers with the barrier F3 before it waits.
pub(crate) fn after_store(seg: &Segment, words: Words) {
    #[cfg(test)]
    hook::after_store();
    // The count loads stay after the cursor store in program order (F3 covers the hardware;
    // this keeps the compiler from hoisting them).
    compiler_fence(Ordering::SeqCst);
    let cb = words.consumer && seg.consumer_blockers().load(Ordering::Relaxed) != 0;
    let pb = words.producer && seg.producer_blockers().load(Ordering::Relaxed) != 0;
    if !(cb || pb) {
        return;
    }
    fence(Ordering::SeqCst); // F2
    if pb {
        wake(seg.producer_waiters(), seg.producer_wake());
    }
    if cb {
        wake(seg.consumer_waiters(), seg.consumer_wake());
    }
}

/// *Wake unconditionally* (spec 5.6): after a change that is not a cursor move (close, poison,
/// deregistration, eviction), made with a seq-cst store or compare-and-swap, loads the waiters
/// word of each word in `words`, whatever the blockers counts say, and wakes it if nonzero.
pub(crate) fn wake_unconditionally(seg: &Segment, words: Words) {
    if words.producer {
        wake(seg.producer_waiters(), seg.producer_wake());
    }
    if words.consumer {
        wake(seg.consumer_waiters(), seg.consumer_wake());
    }
}

/// Waits until `ready` returns true (then `Ok(true)`), `ready` fails, or `deadline` passes
/// (`Ok(false)`).
///
/// A peer that may block (`blocking`, [`WaitStrategy::Block`]) yields a few times, then registers
/// in `count` (the blockers count of `word`) if it has not yet, and blocks on `word` per spec
/// 5.6, announcing itself in `waiters`; `ready` is re-evaluated at least every 20 ms (1 ms if
/// the barrier F3 failed), so it can also poll for conditions nobody signals. `ready` is the
/// re-check of step 3: it must include everything whose change is followed by a wake of `word`
/// (the condition, poison, close, the caller's registration). A spinning peer never blocks in
/// the kernel: it yields, then sleeps at most 50 us between re-checks. Wakeups may be spurious
/// either way.
pub(crate) fn wait_until(
    waiters: &AtomicU32,
    word: &AtomicU32,
    count: &AtomicU32,
    blocking: &mut Blocking,
    deadline: Instant,
    mut ready: impl FnMut() -> Result<bool>,
) -> Result<bool> {
    for _ in 0..YIELDS {
        if ready()? {
            return Ok(true);
        }
        std::thread::yield_now();
    }
    if !blocking.may_block {
        let mut rounds = 0u32;
        loop {
            if ready()? {
                return Ok(true);
            }
            let now = Instant::now();
            if now >= deadline {
                return Ok(false);
            }
            rounds += 1;
            if rounds < 1024 {
                std::thread::yield_now();
            } else {
                std::thread::sleep((deadline - now).min(SPIN_SLEEP));
            }
        }
    }
    let blocker = blocking.register(count);
    loop {
        // Steps 1-3: announce, load the wake word, re-check.
        waiters.fetch_add(1, Ordering::SeqCst);
        let w = word.load(Ordering::SeqCst);
        let r = ready();
        if !matches!(r, Ok(false)) {
            waiters.fetch_sub(1, Ordering::SeqCst);
            return r;
        }
        let now = Instant::now();
        if now >= deadline {
            waiters.fetch_sub(1, Ordering::SeqCst);
            return Ok(false);
        }
        // Step 4.
        futex_wait(word, w, (deadline - now).min(blocker.max_block()));
        waiters.fetch_sub(1, Ordering::SeqCst);
        if ready()? {
            return Ok(true);
        }
    }
}

/// Test seams: code run at fixed points of the protocol, to force an interleaving in one thread.
#[cfg(test)]
pub(crate) mod hook {
    use std::cell::RefCell;

    thread_local! {
        static AFTER_STORE: RefCell<Option<Box<dyn FnMut()>>> = RefCell::new(None);
    }

    /// Runs `f` (on this thread) between every waker's cursor store and its blockers load.
    pub(crate) fn set_after_store(f: Option<Box<dyn FnMut()>>) {
        AFTER_STORE.with(|h| *h.borrow_mut() = f);
    }

    pub(super) fn after_store() {
        let f = AFTER_STORE.with(|h| h.borrow_mut().take());
        if let Some(mut f) = f {
            f();
            AFTER_STORE.with(|h| {
                let mut h = h.borrow_mut();
                if h.is_none() {
                    *h = Some(f);
                }
            });
        }
    }
}
