//! Poisoning (spec 5.9): recording, once, a failure that stops the ring for everyone, and
//! reading the record back.

use std::fmt;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::layout as l;
use crate::segment::Segment;
use crate::wait::{self, Words};

/// How long a reader that sees `poison_state = 1` waits for the record to be complete (5.9: "a
/// reader that sees 1 SHOULD wait briefly for 2").
const RECORDING_WAIT: Duration = Duration::from_millis(100);

/// Where the failure happened (`poison_phase`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PoisonPhase {
    /// 1: a producer failed between claim and publish.
    Publish,
    /// 2: a pipeline stage's handler failed.
    Handler,
    /// A value the spec does not define (0 while the record is still being written).
    Other(u32),
}

impl PoisonPhase {
    fn to_u32(self) -> u32 {
        match self {
            PoisonPhase::Publish => l::PHASE_PUBLISH,
            PoisonPhase::Handler => l::PHASE_HANDLER,
            PoisonPhase::Other(v) => v,
        }
    }
    fn from_u32(v: u32) -> Self {
        match v {
            l::PHASE_PUBLISH => PoisonPhase::Publish,
            l::PHASE_HANDLER => PoisonPhase::Handler,
            v => PoisonPhase::Other(v),
        }
    }
}

/// A poison record (header fields `poison_*`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Poison {
    /// `poison_phase`.
    pub phase: PoisonPhase,
    /// `poison_seq`: the first sequence that will never be delivered.
    pub seq: u64,
    /// `poison_pid`: the process that recorded it.
    pub pid: u32,
    /// `poison_stage`: producer entry index (publish) or consumer entry index (handler).
    pub stage: u32,
    /// `poison_message`, at most 64 bytes (lossy UTF-8 when read back).
    pub message: String,
}

impl fmt::Display for Poison {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let phase = match self.phase {
            PoisonPhase::Publish => "publish".to_string(),
            PoisonPhase::Handler => "handler".to_string(),
            PoisonPhase::Other(v) => format!("phase {v}"),
        };
        write!(
            f,
            "{phase} failure at sequence {} (stage {}, pid {}): {}",
            self.seq, self.stage, self.pid, self.message
        )
    }
}

/// `s` cut to at most `max` bytes at a character boundary.
pub(crate) fn truncate_utf8(s: &str, max: usize) -> &str {
    if s.len() <= max {
        return s;
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    &s[..end]
}

impl Segment {
    /// Records `p` as the ring's poison (spec 5.9) if no failure was recorded before: CAS
    /// `poison_state` 0 -> 1, write the record (the message cut to 64 bytes at a character
    /// boundary, `pid` as given), store `poison_state = 2` (release), then wake every blocked
    /// waiter unconditionally. Returns whether this call recorded it; later failures are not recorded. Safe for
    /// concurrent use.
    pub fn poison(&self, p: &Poison) -> bool {
        let m = self.map();
        let state = m.u32_at(l::POISON_STATE.offset);
        if state
            .compare_exchange(
                l::POISON_NONE,
                l::POISON_RECORDING,
                Ordering::SeqCst,
                Ordering::Relaxed,
            )
            .is_err()
        {
            return false;
        }
        let msg = truncate_utf8(&p.message, l::MAX_POISON_MESSAGE).as_bytes();
        let mut buf = [0u8; l::MAX_POISON_MESSAGE];
        buf[..msg.len()].copy_from_slice(msg);
        m.u32_at(l::POISON_PHASE.offset)
            .store(p.phase.to_u32(), Ordering::Relaxed);
        m.u64_at(l::POISON_SEQ.offset)
            .store(p.seq, Ordering::Relaxed);
        m.u32_at(l::POISON_PID.offset)
            .store(p.pid, Ordering::Relaxed);
        m.u32_at(l::POISON_STAGE.offset)
            .store(p.stage, Ordering::Relaxed);
        m.u32_at(l::POISON_MESSAGE_LEN.offset)
            .store(msg.len() as u32, Ordering::Relaxed);
        m.copy_in(l::POISON_MESSAGE.offset, &buf);
        // Releases the record; seq-cst so it is ordered before the waiters loads of the
        // unconditional wakes (spec 5.6: poisoning concerns both words).
        state.store(l::POISON_RECORDED, Ordering::SeqCst);
        wait::wake_unconditionally(self, Words::BOTH);
        true
    }

    /// Whether `poison_state` (acquire) is not 0.
    pub fn is_poisoned(&self) -> bool {
        self.poison_state() != l::POISON_NONE
    }

    pub(crate) fn poison_state(&self) -> u32 {
        self.map()
            .u32_at(l::POISON_STATE.offset)
            .load(Ordering::Acquire)
    }

    /// The poison record, or `None` if the ring is not poisoned. A record still being written
    /// (`poison_state = 1`) is waited for up to 100 ms, then read as it is.
    pub fn poison_record(&self) -> Option<Poison> {
        if self.poison_state() == l::POISON_NONE {
            return None; // the common case, checked on hot paths: no clock read
        }
        let deadline = Instant::now() + RECORDING_WAIT;
        loop {
            match self.poison_state() {
                l::POISON_NONE => return None,
                l::POISON_RECORDING if Instant::now() < deadline => std::thread::yield_now(),
                _ => break,
            }
        }
        let m = self.map();
        let len = (m
            .u32_at(l::POISON_MESSAGE_LEN.offset)
            .load(Ordering::Relaxed) as usize)
            .min(l::MAX_POISON_MESSAGE);
        let mut msg = vec![0u8; len];
        m.copy_out(l::POISON_MESSAGE.offset, &mut msg);
        Some(Poison {
            phase: PoisonPhase::from_u32(m.u32_at(l::POISON_PHASE.offset).load(Ordering::Relaxed)),
            seq: m.u64_at(l::POISON_SEQ.offset).load(Ordering::Relaxed),
            pid: m.u32_at(l::POISON_PID.offset).load(Ordering::Relaxed),
            stage: m.u32_at(l::POISON_STAGE.offset).load(Ordering::Relaxed),
            message: crate::naming::decode_lossy(&msg),
        })
    }

    /// `Err(Poisoned)` with the record if the ring is poisoned.
    pub(crate) fn check_poison(&self) -> crate::Result<()> {
        match self.poison_record() {
            None => Ok(()),
            Some(p) => Err(crate::Error::Poisoned(p)),
        }
    }
}
