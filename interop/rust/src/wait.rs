//! Waiting and waking (spec 5.6): spin briefly with yields, then block on the wake word, or
//! (in [`WaitMode::Spin`]) keep polling without ever blocking in the kernel.
//!
//! A peer that may block in the kernel is counted in the header's blockers count for its wait
//! word ([`Blocker`]); wakers that read the count as 0 store with release ordering and skip the
//! waiters handshake ([`wake_if`]).

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::atomics::{futex_wait, futex_wake_all};
use crate::error::Result;

/// Longest single block in the kernel: bounds how late a waiter notices a condition that no one
/// signals (a dead peer, a deadline).
const MAX_BLOCK: Duration = Duration::from_millis(20);
/// How long after its registration a blocker bounds each kernel wait to [`EARLY_BLOCK`]
/// (spec 5.6): a waker that read the blockers count just before the increment became visible to
/// it skips the wake, and this bound covers that.
const EARLY_PHASE: Duration = Duration::from_millis(100);
/// Longest kernel wait during [`EARLY_PHASE`].
const EARLY_BLOCK: Duration = Duration::from_millis(1);
/// Re-checks, each followed by a yield, before blocking.
const YIELDS: u32 = 32;
/// Longest sleep of a [`WaitMode::Spin`] waiter once yielding has not helped for a while.
const SPIN_SLEEP: Duration = Duration::from_micros(50);

/// How a producer or consumer waits when it has nothing to do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum WaitMode {
    /// Yield a few times, then block in the kernel (futex) until woken, re-checking at least
    /// every 20 ms (every 1 ms during the first 100 ms after registering). The peer is counted
    /// in the header's blockers count for its lifetime, so every waker does the seq-cst wake
    /// handshake of spec 5.6 for it.
    #[default]
    Block,
    /// Never block in the kernel: spin, yield and sleep for at most 50 us between re-checks.
    /// The peer is not counted as a blocker, so while no peer blocks, wakers store their
    /// cursors with release ordering and skip the handshake (the fast path of spec 5.6).
    Spin,
}

/// One peer's registration in a blockers count of the header (spec 5.6): added (seq-cst) on
/// creation, subtracted on drop. Not shared between threads.
#[derive(Debug)]
pub(crate) struct Blocker {
    since: Instant,
    /// False once the registration was handed back (or deliberately leaked).
    armed: bool,
}

impl Blocker {
    /// Adds 1 to `count` (seq-cst) and returns the registration.
    pub(crate) fn register(count: &AtomicU32) -> Blocker {
        count.fetch_add(1, Ordering::SeqCst);
        Blocker {
            since: Instant::now(),
            armed: true,
        }
    }

    /// Subtracts 1 from `count` (seq-cst) unless already done. `count` must be the word this
    /// registration was added to.
    pub(crate) fn release(&mut self, count: &AtomicU32) {
        if std::mem::replace(&mut self.armed, false) {
            count.fetch_sub(1, Ordering::SeqCst);
        }
    }

    /// Forgets the registration without subtracting, as a crashed peer would leave it.
    pub(crate) fn leak(&mut self) {
        self.armed = false;
    }

    /// Longest kernel wait allowed now: 1 ms during the first 100 ms, 20 ms after.
    fn max_block(&self) -> Duration {
        if self.since.elapsed() < EARLY_PHASE {
            EARLY_BLOCK
        } else {
            MAX_BLOCK
        }
    }
}

/// The waker's side, after a store that may satisfy a waiter: loads `waiters` (seq-cst) and, if
/// nonzero, bumps `word` and wakes its waiters. The store must be seq-cst (or followed by a
/// seq-cst fence) so that it is ordered before the load.
pub(crate) fn wake(waiters: &AtomicU32, word: &AtomicU32) {
    if waiters.load(Ordering::SeqCst) != 0 {
        word.fetch_add(1, Ordering::SeqCst);
        futex_wake_all(word);
    }
}

/// [`wake`] if `blockers` (the count read before the store) was nonzero; nothing otherwise.
pub(crate) fn wake_if(blockers: u32, waiters: &AtomicU32, word: &AtomicU32) {
    if blockers != 0 {
        wake(waiters, word);
    }
}

/// The ordering of a store that a waker makes before [`wake_if`] with the count `blockers`:
/// release while nobody blocks, seq-cst otherwise (spec 5.3 step 4, 5.5 step 2).
pub(crate) fn store_order(blockers: u32) -> Ordering {
    if blockers == 0 {
        Ordering::Release
    } else {
        Ordering::SeqCst
    }
}

/// Waits until `ready` returns true (then `Ok(true)`), `ready` fails, or `deadline` passes
/// (`Ok(false)`).
///
/// With a `blocker` (the caller's registration in the blockers count of `word`), blocks on
/// `word` per spec 5.6, registering in `waiters`; `ready` is re-evaluated at least every 20 ms
/// (1 ms during the first 100 ms after the registration), so it can also poll for conditions
/// nobody signals. Without one (spin mode), never blocks in the kernel: yields, then sleeps at
/// most 50 us between re-checks. Wakeups may be spurious either way.
pub(crate) fn wait_until(
    waiters: &AtomicU32,
    word: &AtomicU32,
    blocker: Option<&Blocker>,
    deadline: Instant,
    mut ready: impl FnMut() -> Result<bool>,
) -> Result<bool> {
    for _ in 0..YIELDS {
        if ready()? {
            return Ok(true);
        }
        std::thread::yield_now();
    }
    let Some(blocker) = blocker else {
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
    };
    loop {
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
        futex_wait(word, w, (deadline - now).min(blocker.max_block()));
        waiters.fetch_sub(1, Ordering::SeqCst);
        if ready()? {
            return Ok(true);
        }
    }
}
