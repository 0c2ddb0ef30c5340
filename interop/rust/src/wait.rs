//! Waiting and waking (spec 5.6): spin briefly with yields, then block on the wake word.

use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use crate::atomics::{futex_wait, futex_wake_all};
use crate::error::Result;

/// Longest single block in the kernel: bounds how late a waiter notices a condition that no one
/// signals (a dead peer, a deadline).
const MAX_BLOCK: Duration = Duration::from_millis(20);
/// Re-checks, each followed by a yield, before blocking.
const YIELDS: u32 = 32;

/// The waker's side: call after the store that may satisfy a waiter (that store must be seq-cst).
pub(crate) fn wake(waiters: &AtomicU32, word: &AtomicU32) {
    if waiters.load(Ordering::SeqCst) != 0 {
        word.fetch_add(1, Ordering::SeqCst);
        futex_wake_all(word);
    }
}

/// Waits until `ready` returns true (then `Ok(true)`), `ready` fails, or `deadline` passes
/// (`Ok(false)`). Blocks on `word` per spec 5.6, registering in `waiters`; wakeups may be
/// spurious, and `ready` is re-evaluated at least every 20 ms so it can also poll for conditions
/// nobody signals.
pub(crate) fn wait_until(
    waiters: &AtomicU32,
    word: &AtomicU32,
    deadline: Instant,
    mut ready: impl FnMut() -> Result<bool>,
) -> Result<bool> {
    for _ in 0..YIELDS {
        if ready()? {
            return Ok(true);
        }
        std::thread::yield_now();
    }
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
        futex_wait(word, w, (deadline - now).min(MAX_BLOCK));
        waiters.fetch_sub(1, Ordering::SeqCst);
        if ready()? {
            return Ok(true);
        }
    }
}
