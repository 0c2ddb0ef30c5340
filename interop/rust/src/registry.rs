//! The consumer registry protocols of spec 5.7: registering (owner word, then state word, each
//! by compare-and-swap), taking over a dead owner's entry, deregistering and evicting.

use std::sync::atomic::Ordering;

use crate::atomics::monotonic_ns;
use crate::error::{Error, Result};
use crate::layout as l;
use crate::process;
use crate::segment::{Entry, Segment};
use crate::wait::{self, Words};

/// Passes over the registry before registration reports it full while entries keep changing
/// under it (compare-and-swap failures).
const CLAIM_PASSES: usize = 4;

/// What a registration asks for (the parts of `ConsumerOptions` the registry needs).
pub(crate) struct Request<'a> {
    pub name: &'a [u8],
    pub required: bool,
    pub depends_on: u64,
    /// Start at the lowest cursor of the other required consumers (`Oldest`) rather than at the
    /// current count (`Latest`).
    pub oldest: bool,
}

/// A won registration: the entry, its generation, and where the consumer starts.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Registration {
    pub index: usize,
    pub generation: u32,
    pub cursor: u64,
}

/// The identity a registration is checked against: the entry's state word is active with
/// `generation` and its owner word is `owner`.
pub(crate) fn owns(e: &Entry<'_>, generation: u32, owner: u64) -> bool {
    e.state().load(Ordering::SeqCst) == l::state_word(l::ENTRY_ACTIVE, generation)
        && e.owner().load(Ordering::SeqCst) == owner
}

fn flags_of(req: &Request<'_>) -> u32 {
    if req.required {
        l::FLAG_REQUIRED
    } else {
        0
    }
}

/// Compare-and-swap of `owner` from `from` to `to`.
fn cas_owner(e: &Entry<'_>, from: u64, to: u64) -> bool {
    e.owner()
        .compare_exchange(from, to, Ordering::SeqCst, Ordering::SeqCst)
        .is_ok()
}

/// Compare-and-swap of `state` from `from` to `to`.
fn cas_state(e: &Entry<'_>, from: u32, to: u32) -> bool {
    e.state()
        .compare_exchange(from, to, Ordering::SeqCst, Ordering::SeqCst)
        .is_ok()
}

impl Segment {
    /// Registers a consumer (spec 5.7 steps 1-6, and takeover). Errors: `DuplicateName` (a live
    /// consumer has the name, a racing registration of the name won, or the entry to take over
    /// is of the other kind, required or optional), `RegistryFull`, `Evicted` (an entry being
    /// taken over was evicted meanwhile).
    pub(crate) fn register_consumer(&self, req: &Request<'_>) -> Result<Registration> {
        let me = process::own_identity();
        // Step 1: a claiming or active entry with the name. A live active one refuses; the
        // first one whose owner is dead is taken over; a live claimer is left to step 5.
        let mut dead = None;
        for (index, e) in self.entries() {
            let st = e.state().load(Ordering::SeqCst);
            let v = l::state_value(st);
            if !matches!(v, l::ENTRY_CLAIMING | l::ENTRY_ACTIVE) || !e.name_is(req.name) {
                continue;
            }
            let o = e.owner().load(Ordering::SeqCst);
            if !process::owner_dead(o) {
                if v == l::ENTRY_ACTIVE {
                    return Err(Error::DuplicateName);
                }
            } else if dead.is_none() {
                dead = Some((index, st, o));
            }
        }
        if let Some((index, st, o)) = dead {
            return self.take_over(index, &self.entry(index), req, st, o, me);
        }
        // Steps 2 and 3: claim an entry through its owner word, then its state word.
        let (index, e, generation) = self.claim_entry(me)?;
        // Step 4.
        self.fill_entry(&e, req);
        let claiming = l::state_word(l::ENTRY_CLAIMING, generation);
        if !cas_state(&e, claiming, l::with_value(claiming, l::ENTRY_ACTIVE)) {
            return Err(Error::Evicted); // a peer found us dead and took the claim over
        }
        self.settle(index, &e, req, generation, me)
    }

    /// Steps 2 and 3: the first claimable entry (free, closed or evicted, with an owner word of
    /// 0 or a dead process: the owner word is the lock; or claiming with its owner dead, left by
    /// a claimer that died while filling it in, whatever its name) whose owner and then state
    /// this process wins. Returns it with its new generation (state claiming).
    fn claim_entry(&self, me: u64) -> Result<(usize, Entry<'_>, u32)> {
        for _ in 0..CLAIM_PASSES {
            let mut raced = false;
            for (index, e) in self.entries() {
                let st = e.state().load(Ordering::SeqCst);
                let o = e.owner().load(Ordering::SeqCst);
                let claimable = match l::state_value(st) {
                    l::ENTRY_FREE | l::ENTRY_CLOSED | l::ENTRY_EVICTED => {
                        o == 0 || process::owner_dead(o)
                    }
                    l::ENTRY_CLAIMING => process::owner_dead(o),
                    _ => false,
                };
                if !claimable {
                    continue;
                }
                if !cas_owner(&e, o, me) {
                    raced = true;
                    continue;
                }
                let claiming = l::next_claim(st, l::ENTRY_CLAIMING);
                if !cas_state(&e, st, claiming) {
                    // No conforming peer changes the state while we hold the owner word; give
                    // the lock back and choose again.
                    cas_owner(&e, me, 0);
                    raced = true;
                    continue;
                }
                return Ok((index, e, l::state_gen(claiming)));
            }
            if !raced {
                break;
            }
        }
        Err(Error::RegistryFull)
    }

    /// Step 4's fields, written while the entry is claiming (or taken over while claiming).
    fn fill_entry(&self, e: &Entry<'_>, req: &Request<'_>) {
        e.set_flags(flags_of(req));
        e.write_name(req.name);
        e.depends_on().store(req.depends_on, Ordering::Relaxed);
        e.heartbeat().store(monotonic_ns(), Ordering::Release);
        e.lost().store(0, Ordering::Release);
        e.gaps_seen().store(0, Ordering::Release);
        // Provisional cursor: the current count.
        e.cursor().store(self.count(), Ordering::Release);
    }

    /// Steps 5 and 6 for the active entry `index` of generation `generation`.
    fn settle(
        &self,
        index: usize,
        e: &Entry<'_>,
        req: &Request<'_>,
        generation: u32,
        me: u64,
    ) -> Result<Registration> {
        // Step 5: another claiming or active entry with the name whose owner is alive: this
        // registration lost a race ("seer loses").
        let rival = self.entries().any(|(j, o)| {
            j != index
                && matches!(
                    l::state_value(o.state().load(Ordering::SeqCst)),
                    l::ENTRY_CLAIMING | l::ENTRY_ACTIVE
                )
                && o.name_is(req.name)
                && !process::owner_dead(o.owner().load(Ordering::SeqCst))
        });
        if rival {
            self.deregister(index, generation, me);
            return Err(Error::DuplicateName);
        }
        // Step 6.
        let provisional = e.cursor().load(Ordering::Acquire);
        let count = self.count();
        let cursor = if req.oldest {
            let floor = count.saturating_sub(self.geometry().capacity);
            self.entries()
                .filter(|(j, o)| *j != index && o.gates())
                .map(|(_, o)| o.cursor().load(Ordering::SeqCst))
                .min()
                .unwrap_or(provisional)
                .min(provisional)
                .max(floor)
        } else {
            count
        };
        e.cursor().store(cursor, Ordering::SeqCst);
        Ok(Registration {
            index,
            generation,
            cursor,
        })
    }

    /// Taking over the claiming or active entry `e` (state word `st`) whose owner `o` is dead:
    /// compare-and-swap of `owner` from `o` to this process; only the winner goes on. An active
    /// entry never leaves the active state: the taker keeps `name`, `cursor` and `flags`
    /// (refusing if its required/optional choice differs), stores `depends_on` and
    /// `heartbeat_ns`, and resumes at the cursor. A claiming entry goes on from step 4.
    fn take_over(
        &self,
        index: usize,
        e: &Entry<'_>,
        req: &Request<'_>,
        st: u32,
        o: u64,
        me: u64,
    ) -> Result<Registration> {
        let active = l::state_value(st) == l::ENTRY_ACTIVE;
        if active && e.flags() & l::FLAG_REQUIRED != flags_of(req) {
            return Err(Error::DuplicateName);
        }
        if !cas_owner(e, o, me) {
            return Err(Error::DuplicateName); // another taker won
        }
        let generation = l::state_gen(st);
        if !active {
            self.fill_entry(e, req);
            if !cas_state(e, st, l::with_value(st, l::ENTRY_ACTIVE)) {
                return Err(Error::Evicted);
            }
            return self.settle(index, e, req, generation, me);
        }
        e.depends_on().store(req.depends_on, Ordering::Relaxed);
        e.heartbeat().store(monotonic_ns(), Ordering::Release);
        if !owns(e, generation, me) {
            return Err(Error::Evicted); // evicted (or taken again) meanwhile
        }
        Ok(Registration {
            index,
            generation,
            cursor: e.cursor().load(Ordering::Acquire),
        })
    }

    /// Deregistering (spec 5.7): compare-and-swap of `state` from active (generation
    /// `generation`) to closed, then of `owner` from `me` to 0, then an unconditional wake of
    /// the producer word. Returns whether the entry was still this registration's. If not
    /// (evicted, or claimed again after an eviction) `state` is left alone and only the owner
    /// word is cleared, by [`Segment::let_go`].
    pub(crate) fn deregister(&self, index: usize, generation: u32, me: u64) -> bool {
        let e = self.entry(index);
        let mine = l::state_word(l::ENTRY_ACTIVE, generation);
        if !cas_state(&e, mine, l::with_value(mine, l::ENTRY_CLOSED)) {
            self.let_go(index, generation, me);
            return false;
        }
        cas_owner(&e, me, 0);
        wait::wake_unconditionally(self, Words::PRODUCER);
        true
    }

    /// An owner that finds its entry no longer its own (evicted, spec 5.7) clears the owner word
    /// by compare-and-swap from its identity `me` to 0, if it still holds it. Only while the
    /// state word still has its generation: a later claim of the entry by another registration
    /// of this same process (the same identity) keeps its lock.
    pub(crate) fn let_go(&self, index: usize, generation: u32, me: u64) {
        let e = self.entry(index);
        if l::state_gen(e.state().load(Ordering::SeqCst)) == generation {
            cas_owner(&e, me, 0);
        }
    }

    /// Evicting (spec 5.7): every active entry for which `pred(index, entry)` holds is moved
    /// from active to evicted by compare-and-swap of its `state` (same generation), then its
    /// owner word from the evicted owner's identity to 0, then both wait words are woken
    /// unconditionally. Returns how many this call evicted.
    pub(crate) fn evict_where(&self, mut pred: impl FnMut(usize, &Entry<'_>) -> bool) -> usize {
        let mut evicted = 0;
        for (i, e) in self.entries() {
            let st = e.state().load(Ordering::SeqCst);
            let o = e.owner().load(Ordering::SeqCst);
            if l::state_value(st) != l::ENTRY_ACTIVE || !pred(i, &e) {
                continue;
            }
            if cas_state(&e, st, l::with_value(st, l::ENTRY_EVICTED)) {
                cas_owner(&e, o, 0);
                evicted += 1;
                wait::wake_unconditionally(self, Words::BOTH);
            }
        }
        evicted
    }
}
