//! Atomic and raw access to mapped bytes, the futex, and the monotonic clock.
//!
//! With `mapping`, the only module with `unsafe`. Every accessor checks bounds and alignment and
//! panics on a violation: callers only pass offsets derived from a validated header, so a panic here
//! is a bug in this crate, never a reaction to corrupt segment bytes.

use std::sync::atomic::{AtomicU32, AtomicU64};
use std::time::Duration;

use crate::mapping::Mapping;

#[cfg(target_endian = "big")]
compile_error!("ringwire: the segment format is little-endian and this crate maps it natively");

impl Mapping {
    #[inline]
    fn check(&self, off: usize, size: usize, align: usize) {
        let end = off.checked_add(size).expect("offset overflow");
        assert!(
            end <= self.len(),
            "access {off}+{size} outside mapping of {}",
            self.len()
        );
        assert!(off.is_multiple_of(align), "misaligned access at {off}");
    }

    /// The `u32` at byte `off`, as an atomic.
    pub(crate) fn u32_at(&self, off: usize) -> &AtomicU32 {
        self.check(off, 4, 4);
        // SAFETY: the range is inside the live mapping (checked), 4-aligned (the mapping base is
        // page-aligned and `off` is a multiple of 4), and every access to these bytes from any
        // thread or process is atomic, so an `&AtomicU32` here never aliases a plain reference.
        unsafe { &*self.base().add(off).cast::<AtomicU32>() }
    }

    /// The `u64` at byte `off`, as an atomic.
    pub(crate) fn u64_at(&self, off: usize) -> &AtomicU64 {
        self.check(off, 8, 8);
        // SAFETY: as in `u32_at`, with 8-byte size and alignment.
        unsafe { &*self.base().add(off).cast::<AtomicU64>() }
    }

    /// Copies `dst.len()` bytes starting at `off` out of the mapping.
    pub(crate) fn copy_out(&self, off: usize, dst: &mut [u8]) {
        self.check(off, dst.len(), 1);
        // SAFETY: the source range is inside the mapping (checked) and cannot overlap `dst`, which
        // is a Rust-owned buffer. Slot bytes may only be written concurrently when the ring
        // protocol is violated (an optional consumer that was lapped); such copies are detected
        // and discarded by the caller, and bytes have no invalid values.
        unsafe { std::ptr::copy_nonoverlapping(self.base().add(off), dst.as_mut_ptr(), dst.len()) }
    }

    /// The `len` bytes at `off`, borrowed in place (zero-copy read).
    ///
    /// Protocol contract (as for `copy_in`): callers only borrow slot bytes that no peer writes
    /// while the borrow lives: a required consumer's slots below the published count and at or
    /// above its stored cursor, which no producer reuses until the cursor moves past them.
    pub(crate) fn bytes(&self, off: usize, len: usize) -> &[u8] {
        self.check(off, len, 1);
        // SAFETY: the range is inside the live mapping (checked) and `u8` has no invalid values.
        // By the ring protocol (see above) no peer writes these bytes while the slice lives, and
        // this crate never hands out a `&mut` to them at the same time (a producer only borrows
        // slots of its own claim, which no consumer may read before it is published).
        unsafe { std::slice::from_raw_parts(self.base().add(off), len) }
    }

    /// The `len` bytes at `off`, borrowed mutably in place (zero-copy write).
    ///
    /// Protocol contract: callers only borrow the slots of their own claim, between claim and
    /// publish, and hold at most one such borrow at a time.
    #[allow(clippy::mut_from_ref)]
    #[inline]
    pub(crate) fn bytes_mut(&self, off: usize, len: usize) -> &mut [u8] {
        self.check(off, len, 1);
        // SAFETY: the range is inside the live mapping (checked); the mapping is raw shared
        // memory, not the referent of any Rust reference, and the ring protocol gives the
        // claiming producer exclusive use of these bytes until it publishes them; the caller
        // holds one borrow at a time. An optional consumer that was lapped may copy these
        // bytes concurrently (as with `copy_in`); it detects that and discards the copy.
        unsafe { std::slice::from_raw_parts_mut(self.base().add(off), len) }
    }

    /// Copies `src` into the mapping at `off`.
    pub(crate) fn copy_in(&self, off: usize, src: &[u8]) {
        self.check(off, src.len(), 1);
        // SAFETY: the destination range is inside the mapping (checked) and does not overlap the
        // Rust-owned `src`. The ring protocol gives the writer exclusive use of these bytes.
        unsafe { std::ptr::copy_nonoverlapping(src.as_ptr(), self.base().add(off), src.len()) }
    }
}

/// Nanoseconds of `CLOCK_MONOTONIC` (spec section 8: comparable across processes of one host):
/// the clock of every heartbeat ([`crate::EntryInfo::heartbeat_ns`]), to tell how long ago a
/// peer last showed a sign of life.
pub fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: `ts` is a valid, writable timespec; CLOCK_MONOTONIC is always supported.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    (ts.tv_sec as u64)
        .wrapping_mul(1_000_000_000)
        .wrapping_add(ts.tv_nsec as u64)
}

/// Blocks while `word` holds `expected`, for at most `timeout`. Returns at once if the word
/// differs; wakeups may be spurious. Shared (not `FUTEX_PRIVATE_FLAG`): waiters are in different
/// processes.
#[cfg(target_os = "linux")]
pub fn futex_wait(word: &AtomicU32, expected: u32, timeout: Duration) {
    let ts = libc::timespec {
        tv_sec: timeout.as_secs().min(i32::MAX as u64) as libc::time_t,
        tv_nsec: timeout.subsec_nanos() as libc::c_long,
    };
    // SAFETY: `word` is a valid, aligned 32-bit atomic that lives for the call; `ts` is a valid
    // relative timeout; FUTEX_WAIT only reads both. Errors (EAGAIN, ETIMEDOUT, EINTR) all mean
    // "re-check", which every caller does.
    unsafe {
        libc::syscall(
            libc::SYS_futex,
            word.as_ptr(),
            libc::FUTEX_WAIT,
            expected,
            &ts as *const libc::timespec,
        )
    };
}

/// Wakes every waiter blocked on `word`, in any process.
#[cfg(target_os = "linux")]
pub fn futex_wake_all(word: &AtomicU32) {
    // SAFETY: `word` is a valid, aligned 32-bit atomic; FUTEX_WAKE does not access memory beyond
    // hashing its address.
    unsafe { libc::syscall(libc::SYS_futex, word.as_ptr(), libc::FUTEX_WAKE, i32::MAX) };
}

/// `membarrier(MEMBARRIER_CMD_GLOBAL)`: the system-wide barrier F3 of spec 5.6. Returns once
/// every thread of every process has passed a full memory barrier; `false` if the kernel refuses
/// (not supported, `nohz_full`, a seccomp filter), in which case the caller must bound its
/// kernel waits instead.
#[cfg(target_os = "linux")]
pub fn membarrier_global() -> bool {
    /// `MEMBARRIER_CMD_GLOBAL` (formerly `MEMBARRIER_CMD_SHARED`) of `<linux/membarrier.h>`.
    const MEMBARRIER_CMD_GLOBAL: libc::c_long = 1;
    // SAFETY: membarrier takes no pointers: a command, flags 0 and cpu_id 0. It has no effect on
    // this process's memory other than ordering.
    unsafe {
        libc::syscall(
            libc::SYS_membarrier,
            MEMBARRIER_CMD_GLOBAL,
            0 as libc::c_long,
            0 as libc::c_long,
        ) == 0
    }
}

/// The commands `membarrier(MEMBARRIER_CMD_QUERY)` reports as supported (a bit mask), or `None`
/// if the system call itself is refused.
#[cfg(all(test, target_os = "linux"))]
pub fn membarrier_query() -> Option<u64> {
    // SAFETY: as in `membarrier_global`; MEMBARRIER_CMD_QUERY (0) only returns a mask.
    let r = unsafe {
        libc::syscall(
            libc::SYS_membarrier,
            0 as libc::c_long,
            0 as libc::c_long,
            0 as libc::c_long,
        )
    };
    (r >= 0).then_some(r as u64)
}

/// No system-wide barrier here: callers bound their waits (spec 5.6).
#[cfg(not(target_os = "linux"))]
pub fn membarrier_global() -> bool {
    false
}

/// Without a futex (spec 5.6): sleep with a bounded backoff instead of blocking.
#[cfg(not(target_os = "linux"))]
pub fn futex_wait(word: &AtomicU32, expected: u32, timeout: Duration) {
    if word.load(std::sync::atomic::Ordering::SeqCst) == expected {
        std::thread::sleep(timeout.min(Duration::from_micros(200)));
    }
}

/// Without a futex, sleepers poll; nothing to wake.
#[cfg(not(target_os = "linux"))]
pub fn futex_wake_all(_word: &AtomicU32) {}

/// Kills this process with `SIGKILL`, as `kill -9` from outside would: no destructor, no
/// unwinding, no flush. A fixture of the conformance suite (the conformer's
/// `--die-mid-frame`), not part of the API.
#[cfg(feature = "conformance")]
pub fn kill_self() -> ! {
    // SAFETY: kill takes no pointers; signalling our own pid with SIGKILL ends the process
    // before the call returns (the loop below only satisfies the type checker).
    unsafe { libc::kill(libc::getpid(), libc::SIGKILL) };
    loop {
        std::thread::park();
    }
}
