//! Passing over a dead producer's claims (spec 5.8, multi mode).

use std::sync::atomic::Ordering;

use crate::layout as l;
use crate::process;
use crate::segment::{Entry, Segment};

/// An active producer entry's claim range, if it holds one, and whether its owner is dead.
fn intent(e: &Entry<'_>) -> Option<(u64, u64, bool)> {
    if e.u32(l::PRD_STATE).load(Ordering::Acquire) != l::PRODUCER_ACTIVE {
        return None;
    }
    let end = e.u64(l::PRD_INTENT_END).load(Ordering::SeqCst);
    let start = e.u64(l::PRD_INTENT_START).load(Ordering::SeqCst);
    if end == 0 || start >= end {
        return None;
    }
    // owner_pid 0 (being filled in) counts as alive: `is_dead(0, _)` is false.
    let pid = e.u32(l::PRD_OWNER_PID).load(Ordering::Relaxed);
    let st = e.u64(l::PRD_OWNER_START_TIME).load(Ordering::Relaxed);
    Some((start, end, process::is_dead(pid, st)))
}

impl Segment {
    /// Spec 5.8, run by a required consumer that has waited at sequence `s` past its stall
    /// timeout: finds an active producer entry whose owner is dead and whose intent covers `s`,
    /// wins the CAS of its state to dead, and marks every sequence of its intent from `s` on that
    /// is not published as a gap (`(t + 1) | 2^63`), adding each to the header's `gaps`. Returns
    /// the number of sequences marked (0: nothing to do, a live producer still covers `s`, or a
    /// peer won the CAS and marks them).
    ///
    /// One addition to step 3: a sequence that an active entry with a live owner also covers is
    /// left alone, so a stale intent (left by a failed CAS, 5.4 step 3) never marks a live
    /// producer's claim.
    pub(crate) fn pass_over_dead_claims(&self, s: u64) -> u64 {
        let limit = self.claimed().load(Ordering::Acquire) & l::COUNT_MASK;
        if s >= limit {
            return 0;
        }
        let live_covers = |t: u64| {
            self.producer_entries()
                .any(|(_, e)| matches!(intent(&e), Some((a, b, false)) if a <= t && t < b))
        };
        // Step 1.
        if live_covers(s) {
            return 0;
        }
        let Some((victim, start, end)) =
            self.producer_entries().find_map(|(i, e)| match intent(&e) {
                Some((a, b, true)) if a <= s && s < b => Some((i, a, b)),
                _ => None,
            })
        else {
            return 0;
        };
        // Step 2: only the winner goes on.
        if self
            .producer_entry(victim)
            .u32(l::PRD_STATE)
            .compare_exchange(
                l::PRODUCER_ACTIVE,
                l::PRODUCER_DEAD,
                Ordering::SeqCst,
                Ordering::SeqCst,
            )
            .is_err()
        {
            return 0;
        }
        // Step 3. The claim lies below `claimed`, and the caller gates the producers at `s`, so
        // no word from `s` on can belong to a later round.
        let mut marked = 0;
        for t in s.max(start)..end.min(limit) {
            let word = self.availability(t);
            let w = word.load(Ordering::Acquire);
            if w == t + 1 || w == (t + 1) | l::AVAIL_GAP || live_covers(t) {
                continue;
            }
            if word
                .compare_exchange(
                    w,
                    (t + 1) | l::AVAIL_GAP,
                    Ordering::SeqCst,
                    Ordering::SeqCst,
                )
                .is_ok()
            {
                self.gaps_word().fetch_add(1, Ordering::SeqCst);
                marked += 1;
            }
        }
        marked
    }
}
