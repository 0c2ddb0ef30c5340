//! The consumer registry protocols of spec 5.7: registering (owner word, then state word, each
//! by compare-and-swap, a provisional cursor a ring below the count, then the start chosen),
//! taking over a dead owner's entry (owner, then a generation bump), deregistering and evicting.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::atomics::monotonic_ns;
use crate::error::{Error, Result};
use crate::layout as l;
use crate::process;
use crate::producer::HEARTBEAT_WHILE_WAITING;
use crate::segment::{Entry, Segment};
use crate::wait::{self, Words};

/// Passes over the registry before registration reports it full while entries keep changing
/// under it (compare-and-swap failures).
const CLAIM_PASSES: usize = 4;

/// Rounds of registration: it starts again from step 1 when a takeover finds the entry changed
/// under it (another taker won the owner word, or the entry was evicted before the generation
/// bump), and fails with `RegistryBusy` after this many (spec 5.7: 16 in the reference
/// implementations).
const REGISTRATION_ROUNDS: usize = 16;

/// How long step 6 waits for a `depends_on` entry that is still choosing its start (`flags` bit
/// 1 set) before registration fails with `DependencyUnavailable` (spec 5.7: 5 s in the
/// reference implementations).
pub const DEPENDENCY_WAIT: Duration = Duration::from_secs(5);

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
    /// is of the other kind, required or optional), `RegistryFull`, `RegistryBusy` (an entry
    /// being taken over kept changing under every round), `DependencyUnavailable` (a
    /// `depends_on` entry that is missing or optional, refused before anything is claimed, or,
    /// at step 6, not active, required and started: still starting past [`DEPENDENCY_WAIT`] or
    /// with its owner dead, or gone), `InvalidArgument` (depending on itself).
    pub(crate) fn register_consumer(&self, req: &Request<'_>) -> Result<Registration> {
        self.check_dependencies(req.depends_on)?;
        let me = process::own_identity();
        for _ in 0..REGISTRATION_ROUNDS {
            let Some((index, st, o)) = self.find_name(req.name)? else {
                return self.register_fresh(req, me);
            };
            if let Some(r) = self.take_over(index, &self.entry(index), req, st, o, me)? {
                return Ok(r);
            }
        }
        Err(Error::RegistryBusy)
    }

    /// Spec 5.7 step 6 refuses a `depends_on` entry that is missing or optional (an optional
    /// entry does not gate the producers, so its cursor is no safe start): checked once before
    /// registering, so that such an attacher fails without claiming (or taking over) an entry.
    /// One still starting is waited for at step 6, which checks every dependency again when it
    /// reads its cursor.
    fn check_dependencies(&self, depends_on: u64) -> Result<()> {
        match self.dependencies(depends_on).find(|(_, d)| !d.gates()) {
            Some((index, _)) => Err(Error::DependencyUnavailable { index }),
            None => Ok(()),
        }
    }

    /// Step 1: scans the whole registry for claiming or active entries named `name` (loading
    /// `state`, then `owner`). If any is active with a live owner: `DuplicateName`. Otherwise the
    /// first one whose owner is dead, to take over (index, state word, owner), if any. A claiming
    /// entry with a live owner is left to step 5.
    fn find_name(&self, name: &[u8]) -> Result<Option<(usize, u32, u64)>> {
        let mut dead = None;
        for (index, e, st) in self.entries_named(name) {
            let o = e.owner().load(Ordering::SeqCst);
            if !process::owner_dead(o) {
                if l::state_value(st) == l::ENTRY_ACTIVE {
                    return Err(Error::DuplicateName);
                }
            } else if dead.is_none() {
                dead = Some((index, st, o));
            }
        }
        Ok(dead)
    }

    /// Steps 2 to 6 in an entry claimed now.
    fn register_fresh(&self, req: &Request<'_>, me: u64) -> Result<Registration> {
        // Steps 2 and 3: claim an entry through its owner word, then its state word.
        let (index, e, generation) = self.claim_entry(me)?;
        self.activate(index, &e, req, generation, me)?;
        self.settle(index, &e, req, generation, me)
    }

    /// Steps 2 to 4 of a registration, stopping with the entry active and `flags` bit 1
    /// (starting) set, as a registrant between steps 4 and 6 (or killed there) leaves it.
    /// Returns the entry's index. A test fixture.
    #[cfg(any(test, feature = "conformance"))]
    pub(crate) fn register_through_step4(&self, req: &Request<'_>) -> Result<usize> {
        let me = process::own_identity();
        let (index, e, generation) = self.claim_entry(me)?;
        self.activate(index, &e, req, generation, me)?;
        Ok(index)
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

    /// Step 4 on the entry `index`, claiming with `generation` and held by `me`: its fields
    /// (`flags` with bit 1, starting, set) and the provisional cursor, then compare-and-swap of
    /// `state` from claiming to active (same generation). From here the entry gates the
    /// producers at the provisional cursor.
    fn activate(
        &self,
        index: usize,
        e: &Entry<'_>,
        req: &Request<'_>,
        generation: u32,
        me: u64,
    ) -> Result<()> {
        self.fill_entry(e, req);
        let claiming = l::state_word(l::ENTRY_CLAIMING, generation);
        if !cas_state(e, claiming, l::with_value(claiming, l::ENTRY_ACTIVE)) {
            // No conforming peer changes a claiming entry whose owner is alive.
            self.let_go(index, generation, me);
            return Err(Error::Evicted);
        }
        Ok(())
    }

    /// Step 4's fields, written while the entry is claiming (or taken over while claiming).
    /// `flags` bit 1 (starting) stays set until step 6 has stored the start.
    fn fill_entry(&self, e: &Entry<'_>, req: &Request<'_>) {
        e.set_flags(flags_of(req) | l::FLAG_STARTING);
        e.write_name(req.name);
        e.depends_on().store(req.depends_on, Ordering::Release);
        e.heartbeat().store(monotonic_ns(), Ordering::Release);
        e.lost().store(0, Ordering::Release);
        e.gaps_seen().store(0, Ordering::Release);
        // The provisional cursor, a ring below the count: once active, the entry holds the
        // producers back to at most the count they had reached, so that step 6 only ever raises
        // the cursor.
        let provisional = self.count().saturating_sub(self.geometry().capacity);
        e.cursor().store(provisional, Ordering::Release);
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
        if self.name_rival(index, req.name) {
            self.deregister(index, generation, me);
            return Err(Error::DuplicateName);
        }
        self.choose_start(index, e, req, generation, me)
    }

    /// Step 5's scan: whether an entry other than `index`, claiming or active, is named `name`
    /// and has a live owner.
    fn name_rival(&self, index: usize, name: &[u8]) -> bool {
        self.entries_named(name)
            .any(|(j, o, _)| j != index && !process::owner_dead(o.owner().load(Ordering::SeqCst)))
    }

    /// Step 6 for the active entry `index` (generation `generation`, `flags` bit 1 set): the
    /// start `s` from values loaded now: the count (*latest*), or the minimum of the count and
    /// of the cursors of the other active required entries whose bit 1 is clear (*oldest*);
    /// then the minimum with the cursor of each `depends_on` entry, read while it is active,
    /// required and with bit 1 clear ([`Segment::dependency_cursor`]). Then `s = max(s,
    /// cursor)` with the entry's own cursor loaded now: never below the provisional cursor, nor
    /// below a start a dead previous owner stored before it died (a taker going on from step 6:
    /// the producers may have seen that cursor; finding F3). Stores `cursor = s` (release),
    /// clears bit 1 (release), then does 5.5 step 3 (the provisional cursor may have held a
    /// producer waiting for room). A failed dependency deregisters.
    fn choose_start(
        &self,
        index: usize,
        e: &Entry<'_>,
        req: &Request<'_>,
        generation: u32,
        me: u64,
    ) -> Result<Registration> {
        let mut s = self.count();
        if req.oldest {
            // An entry still starting has no cursor to copy yet.
            for (_, o) in self.started_gating_entries().filter(|(j, _)| *j != index) {
                s = s.min(o.cursor().load(Ordering::SeqCst));
            }
        }
        for (j, _) in self.dependencies(req.depends_on) {
            match self.dependency_cursor(index, j, e) {
                Ok(c) => s = s.min(c),
                Err(err) => {
                    self.deregister(index, generation, me);
                    return Err(err);
                }
            }
        }
        // Never lower than what the producers may have seen (spec 5.7 step 6: a start is only
        // raised): the entry's own cursor, loaded now, is the provisional one or a start that a
        // dead previous owner stored before it died (this is then a taker).
        let s = s.max(e.cursor().load(Ordering::Acquire));
        if !owns(e, generation, me) {
            // Evicted meanwhile (a conforming peer evicts only a dead or stalled owner): the
            // cursor is no longer ours to store.
            self.let_go(index, generation, me);
            return Err(Error::Evicted);
        }
        e.cursor().store(s, Ordering::Release);
        // The start is chosen: a producer awaiting consumers may count this entry now.
        e.clear_flags(l::FLAG_STARTING);
        // 5.5 step 3: the cursor moved up from the provisional one.
        wait::after_store(self, Words::BOTH);
        Ok(Registration {
            index,
            generation,
            cursor: s,
        })
    }

    /// Step 6 for dependency `j` of the registering entry `own` (index `index`): the cursor of
    /// entry `j` (acquire), read while it is active, required and with `flags` bit 1 (starting)
    /// clear, its `state` word the same before and after the read. While it is still starting
    /// this waits, storing `own`'s heartbeat at least every 250 ms (spec 8), for at most
    /// [`DEPENDENCY_WAIT`]. Fails with `DependencyUnavailable` if the entry is not active (or
    /// corrupt), is optional, its owner died while it was starting, or it is still starting at
    /// the deadline, and with `InvalidArgument` if it is the registering entry itself.
    fn dependency_cursor(&self, index: usize, j: usize, own: &Entry<'_>) -> Result<u64> {
        if j == index {
            return Err(Error::InvalidArgument(
                "a consumer cannot depend on its own entry".into(),
            ));
        }
        let d = self.entry(j);
        let deadline = Instant::now() + DEPENDENCY_WAIT;
        let mut last_beat = Instant::now();
        let mut pause = Duration::from_micros(50);
        loop {
            let st = d.state().load(Ordering::SeqCst);
            // Active, required (a consumer that gates the producers) and not corrupt.
            if !d.gates_as(st) {
                return Err(Error::DependencyUnavailable { index: j });
            }
            // Bit 1 is cleared (release) after the start is stored: the cursor read after an
            // acquire load that saw it clear is the chosen start or later. It is that entry's
            // if the state word (and so the registration) is still the one loaded above.
            if d.flags() & l::FLAG_STARTING == 0 {
                let cursor = d.cursor().load(Ordering::Acquire);
                if d.state().load(Ordering::SeqCst) == st {
                    return Ok(cursor);
                }
                // Changed meanwhile: look again, after the pause.
            } else if process::owner_dead(d.owner().load(Ordering::SeqCst)) {
                return Err(Error::DependencyUnavailable { index: j });
            }
            let now = Instant::now();
            if now >= deadline {
                return Err(Error::DependencyUnavailable { index: j });
            }
            if now.duration_since(last_beat) >= HEARTBEAT_WHILE_WAITING {
                last_beat = now;
                own.heartbeat().store(monotonic_ns(), Ordering::Release);
            }
            std::thread::sleep(pause.min(deadline - now));
            pause = (pause * 2).min(Duration::from_millis(5));
        }
    }

    /// Taking over the claiming or active entry `e` (index `index`, state word `st` loaded
    /// before its owner `o`, which is dead), spec 5.7:
    ///
    /// 1. refuse (`DuplicateName`) an active entry of the other kind, required or optional;
    /// 2. compare-and-swap of `owner` from `o` to `me`; only the winner goes on;
    /// 3. store `heartbeat_ns`;
    /// 4. compare-and-swap of `state` from `st` to the same state with generation + 1, so that
    ///    a compare-and-swap a peer prepared against the dead owner (an eviction) fails; on
    ///    failure give the owner word back by compare-and-swap;
    /// 5. scan as in step 5: a live rival of the name deregisters this and refuses;
    /// 6. a claiming entry goes on from step 4; an active entry keeps `name`, `cursor` and
    ///    `flags`, stores `depends_on`, and goes on from step 6 if its bit 1 (starting) is
    ///    still set (its owner died before choosing its start), else resumes at its cursor.
    ///
    /// Returns `None` when registration must start again from step 1 (the owner word or the
    /// state word changed under this taker). The entry never leaves the active state meanwhile.
    fn take_over(
        &self,
        index: usize,
        e: &Entry<'_>,
        req: &Request<'_>,
        st: u32,
        o: u64,
        me: u64,
    ) -> Result<Option<Registration>> {
        let active = l::state_value(st) == l::ENTRY_ACTIVE;
        if active && e.flags() & l::FLAG_REQUIRED != flags_of(req) {
            return Err(Error::DuplicateName);
        }
        if !cas_owner(e, o, me) {
            return Ok(None); // another taker won, or an evictor cleared it: step 1 again
        }
        e.heartbeat().store(monotonic_ns(), Ordering::Release);
        #[cfg(test)]
        hook::before_generation_bump();
        let bumped = l::next_claim(st, l::state_value(st));
        if !cas_state(e, st, bumped) {
            // Evicted meanwhile by a peer that judged the dead owner: give the lock back and
            // start again from step 1.
            cas_owner(e, me, 0);
            return Ok(None);
        }
        let generation = l::state_gen(bumped);
        if self.name_rival(index, req.name) {
            self.deregister(index, generation, me);
            return Err(Error::DuplicateName);
        }
        if !active {
            self.activate(index, e, req, generation, me)?;
            return self.settle(index, e, req, generation, me).map(Some);
        }
        e.depends_on().store(req.depends_on, Ordering::Release);
        if e.flags() & l::FLAG_STARTING != 0 {
            return self.choose_start(index, e, req, generation, me).map(Some);
        }
        Ok(Some(Registration {
            index,
            generation,
            cursor: e.cursor().load(Ordering::Acquire),
        }))
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

    /// Evicting (spec 5.7): for every entry, loads `state` as `st` first, then `owner` as `o`;
    /// an active one for which `judge(index, entry, st, o)` holds (the judge loads anything else
    /// it needs, such as `heartbeat_ns` and `cursor`, after those) is moved by compare-and-swap
    /// of `state` from `st` to evicted (same generation), then of `owner` from `o` to 0, then
    /// both wait words are woken unconditionally. A takeover bumps the generation, so an
    /// eviction judged against a dead owner fails once the entry is taken over. Returns how many
    /// this call evicted.
    pub(crate) fn evict_where(
        &self,
        mut judge: impl FnMut(usize, &Entry<'_>, u32, u64) -> bool,
    ) -> usize {
        let mut evicted = 0;
        for (i, e) in self.entries() {
            let st = e.state().load(Ordering::SeqCst);
            if l::state_value(st) != l::ENTRY_ACTIVE {
                continue;
            }
            let o = e.owner().load(Ordering::SeqCst);
            if !judge(i, &e, st, o) {
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

/// Test seams: code run at fixed points of the protocol, to force an interleaving in one thread.
#[cfg(test)]
pub(crate) mod hook {
    use std::cell::RefCell;

    thread_local! {
        static BEFORE_BUMP: RefCell<Option<Box<dyn FnOnce()>>> = RefCell::new(None);
    }

    /// Runs `f` once (on this thread) in the next takeover, between its compare-and-swap of
    /// `owner` and its compare-and-swap of `state`.
    pub(crate) fn set_before_generation_bump(f: Box<dyn FnOnce()>) {
        BEFORE_BUMP.with(|h| *h.borrow_mut() = Some(f));
    }

    /// Removes a hook that did not run (or re-armed itself).
    pub(crate) fn clear() {
        BEFORE_BUMP.with(|h| *h.borrow_mut() = None);
    }

    pub(super) fn before_generation_bump() {
        if let Some(f) = BEFORE_BUMP.with(|h| h.borrow_mut().take()) {
            f();
        }
    }
}
