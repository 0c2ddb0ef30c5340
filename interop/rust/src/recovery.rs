//! Passing over a dead producer's claims (spec 5.8, multi mode) and retiring dead producer
//! entries once their claims are resolved (5.4 attach step 1, 5.8).

use std::sync::atomic::Ordering;

use crate::layout as l;
use crate::process;
use crate::segment::{Intent, ProducerEntry, Segment};
use crate::wait::{self, Words};

/// What spec 5.8 decided for one sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Resolution {
    /// Published or passed over already (by anyone): nothing to wait for.
    Resolved,
    /// This call passed it over (its compare-and-swap won) and counted it in `gaps`.
    Passed,
    /// A live producer holds it (or may), or nothing says its producer is dead: keep waiting.
    Wait,
}

impl Segment {
    /// Whether the availability word of `t` says it is resolved: its low 62 bits are at least
    /// `t + 1` (published, passed over, or already reused by a later round).
    pub(crate) fn resolved(&self, t: u64) -> bool {
        l::avail_resolved(self.availability(t).load(Ordering::Acquire), t)
    }

    /// Spec 5.4 attach step 1, "resolved": the entry's `intent_end` is 0, or every sequence of
    /// its intent below the claimed count is resolved. An intent in flux, or longer than the
    /// ring (only a corrupt entry has one), is not resolved.
    pub(crate) fn intent_resolved(&self, e: &ProducerEntry<'_>) -> bool {
        match e.intent() {
            Intent::None => true,
            Intent::InFlux => false,
            Intent::Range(start, end) => {
                let end = end.min(self.claimed_count());
                end <= start
                    || (end - start <= self.geometry().capacity
                        && (start..end).all(|t| self.resolved(t)))
            }
        }
    }

    /// Spec 5.8 for one sequence `s`, run by a required consumer that has waited at `s` past
    /// its stall timeout:
    ///
    /// 1. `s` at or above the claimed count: nothing to resolve (`Wait`).
    /// 2. The availability word says published or passed over: `Resolved`.
    /// 3. The intents of the active producer entries: one with a live owner that covers `s`
    ///    or is in flux, or none with a dead owner that covers `s`: `Wait`.
    /// 4. Compare-and-swap of the word from what step 2 read to `(s + 1) | GAP`; the winner
    ///    adds 1 to the header's `gaps` (so a gap is counted once however many consumers
    ///    resolve it) and gets `Passed`; a loser goes back to step 2.
    pub(crate) fn resolve_sequence(&self, s: u64) -> Resolution {
        // Step 1.
        if s >= self.claimed_count() {
            return Resolution::Wait;
        }
        let word = self.availability(s);
        loop {
            // Step 2.
            let w = word.load(Ordering::Acquire);
            if l::avail_resolved(w, s) {
                return Resolution::Resolved;
            }
            // Step 3.
            let mut dead_covers = false;
            for (_, e, _) in self.active_producer_entries() {
                let intent = e.intent();
                let dead = process::owner_dead(e.owner().load(Ordering::SeqCst));
                if !dead && (intent == Intent::InFlux || intent.covers(s)) {
                    return Resolution::Wait;
                }
                dead_covers |= dead && intent.covers(s);
            }
            if !dead_covers {
                return Resolution::Wait;
            }
            // Step 4.
            if word
                .compare_exchange(w, l::avail_gap(s), Ordering::SeqCst, Ordering::SeqCst)
                .is_ok()
            {
                self.gaps_word().fetch_add(1, Ordering::SeqCst);
                return Resolution::Passed;
            }
        }
    }

    /// Spec 5.3 step 1 in multi mode, the count the producers have published: the *published
    /// prefix*, the first sequence `s` from `claimed - capacity` on (or from `from`, a higher
    /// prefix the caller found before) whose availability word is not resolved, or `claimed`
    /// (a claimed count the caller loaded) if there is none. Never above `claimed`. Not the
    /// claimed count itself: sequences below it may be held, unwritten, by another producer
    /// (model finding F5).
    pub(crate) fn published_prefix(&self, claimed: u64, from: u64) -> u64 {
        let first = claimed.saturating_sub(self.geometry().capacity).max(from);
        (first..claimed)
            .find(|&s| !self.resolved(s))
            .unwrap_or(claimed)
    }

    /// Spec 5.8 on `first` and the sequences after it up to `end` (at most `capacity` of
    /// them), one at a time, while each is resolved: run by a required consumer waiting at
    /// `first`, and by a producer waiting for room behind a published prefix that stops at
    /// `first`. Only a dead claimer's sequences are passed over. If any was, wakes the
    /// consumers (the gaps are theirs to read). Returns whether any was passed over.
    pub(crate) fn pass_over(&self, first: u64, end: u64) -> bool {
        let end = end.min(first + self.geometry().capacity);
        let mut passed = false;
        for s in first..end {
            match self.resolve_sequence(s) {
                Resolution::Passed => passed = true,
                Resolution::Resolved => {}
                Resolution::Wait => break,
            }
        }
        if passed {
            // Every consumer waiting at these sequences can go on.
            wait::wake_unconditionally(self, Words::CONSUMER);
        }
        passed
    }

    /// Retires every active producer entry whose owner is dead and whose claims are all
    /// resolved (compare-and-swap of `state` from active to dead, same generation; spec 5.8):
    /// the entry is then free to be taken again and shows as dead. Returns how many.
    /// [`crate::Producer::register`] does this for the entry it takes; tools and a creator
    /// waiting for registered producers to leave call it. An entry with unresolved claims is
    /// never retired.
    pub fn retire_dead_producers(&self) -> usize {
        self.active_producer_entries()
            .filter(|(_, e, st)| {
                let st = *st;
                process::owner_dead(e.owner().load(Ordering::SeqCst))
                    && self.intent_resolved(e)
                    && e.state()
                        .compare_exchange(
                            st,
                            l::with_value(st, l::PRODUCER_DEAD),
                            Ordering::SeqCst,
                            Ordering::SeqCst,
                        )
                        .is_ok()
            })
            .count()
    }
}
