//! Publishing events: single-producer (spec 5.3) and multi-producer (spec 5.4), the producer
//! registry (4.4), ending a multi-producer stream (5.4), poisoning on a failed fill (5.9) and
//! evicting dead or stalled consumers (5.7, 8).

use std::fmt::Display;
use std::marker::PhantomData;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::{fence, Ordering};
use std::time::{Duration, Instant};

use crate::atomics::monotonic_ns;
use crate::error::{Error, Result};
use crate::event::{Event, EventType};
use crate::layout as l;
use crate::poison::{Poison, PoisonPhase};
use crate::process;
use crate::segment::{check_event_type, Backing, Config, ProducerEntry, ProducerMode, Segment};
use crate::wait::{self, Blocking, WaitStrategy, Words};

mod framed;
pub use framed::{FramedProducer, MessageClaim};

/// How often a producer waiting for room looks for dead (or stalled) consumers to evict.
const EVICT_SCAN: Duration = Duration::from_millis(100);
/// How often a waiting producer refreshes its heartbeat (spec 8: at least once a second).
pub(crate) const HEARTBEAT_WHILE_WAITING: Duration = Duration::from_millis(250);
/// The shortest stall timeout an observer may use to judge a consumer stalled (spec 8).
pub const MIN_STALL_TIMEOUT: Duration = Duration::from_secs(5);
/// Passes over the producer registry before registering reports it full while entries keep
/// changing under it (compare-and-swap failures).
const REGISTER_PASSES: usize = 4;

/// Poison message ([`Poison::message`]) recorded when a fill closure of
/// [`Producer::try_publish_with`] panics.
pub const FILL_PANICKED: &str = "fill panicked";

/// A producer of events of type `T` ([`Event`]; the publishing API exists for those only: the
/// crate's [`FramedProducer`] shares the rest of this core over a private marker). Not safe for
/// concurrent use (`&mut self`); in multi mode use one `Producer` per thread or process, each
/// with its own producer registry entry.
pub struct Producer<T> {
    seg: Segment,
    /// Index of this producer's entry in the producer registry (the creator's is 0).
    index: usize,
    /// Generation of that entry when this producer took it (bits 8-31 of its `state`).
    generation: u32,
    /// Single mode: private `next` (the count claimed so far).
    next: u64,
    /// Cached gating bound (minimum cursor of the active required consumers, or the count
    /// the producers had published).
    bound: u64,
    /// Multi mode: the highest published prefix this producer found (spec 5.3 step 1), where
    /// the next search starts if it is above `claimed - capacity`.
    prefix: u64,
    /// The creator ends the stream (`producer_state = 2`) on close or drop.
    creator: bool,
    closed: bool,
    timeout: Duration,
    /// Whether it may block in the kernel, and its registration in `producer_blockers` from
    /// its first kernel wait until close or drop.
    blocking: Blocking,
    /// Evict live consumers stalled for this long (spec 8), if set.
    stall_timeout: Option<Duration>,
    /// Per registry entry: the state word and cursor last seen, and since when unchanged.
    stall_watch: Vec<(u32, u64, Instant)>,
    _event: PhantomData<T>,
}

/// What one attempt at one producer entry found (spec 5.4 attach).
enum Attempt {
    /// Taken, with this generation.
    Took(u32),
    /// Not usable.
    Skip,
    /// A compare-and-swap failed: the entry changed under us.
    Raced,
}

/// Spec 5.4 attach steps 1 and 2 on entry `e` for the process `me`: loads `state` as `st`, then
/// `owner` as `o` (once), judges that owner, and wins `owner` by compare-and-swap from `o`.
/// Returns the state word step 3 goes on from (free, closed or dead; an active entry is first
/// retired to dead, only if its loaded owner is dead and it is resolved).
fn lock_entry(seg: &Segment, e: &ProducerEntry<'_>, me: u64) -> std::result::Result<u32, Attempt> {
    // Step 1.
    let mut st = e.state().load(Ordering::SeqCst);
    let o = e.owner().load(Ordering::SeqCst);
    match l::state_value(st) {
        // The owner word is the lock: 0 or a dead process means nobody holds the entry.
        l::PRODUCER_FREE | l::PRODUCER_CLOSED | l::PRODUCER_DEAD => {
            if o != 0 && !process::owner_dead(o) {
                return Err(Attempt::Skip);
            }
        }
        l::PRODUCER_ACTIVE => {
            // Its owner (as loaded above) is dead and every claim of its intent is resolved:
            // retire it first. The owner is judged before the intent is read.
            if !process::owner_dead(o) || !seg.intent_resolved(e) {
                return Err(Attempt::Skip);
            }
            let dead = l::with_value(st, l::PRODUCER_DEAD);
            if e.state()
                .compare_exchange(st, dead, Ordering::SeqCst, Ordering::SeqCst)
                .is_err()
            {
                return Err(Attempt::Raced);
            }
            st = dead;
        }
        _ => return Err(Attempt::Skip), // corrupt
    }
    // Step 2.
    if !e.take_owner(o, me) {
        return Err(Attempt::Raced);
    }
    Ok(st)
}

/// Spec 5.4 attach steps 1-3 on entry `e` for the process `me`.
fn try_take(seg: &Segment, e: &ProducerEntry<'_>, me: u64) -> Attempt {
    let st = match lock_entry(seg, e, me) {
        Ok(st) => st,
        Err(a) => return a,
    };
    // Step 3.
    e.intent_end().store(0, Ordering::SeqCst);
    e.heartbeat().store(monotonic_ns(), Ordering::Release);
    let active = l::next_claim(st, l::PRODUCER_ACTIVE);
    match e
        .state()
        .compare_exchange(st, active, Ordering::SeqCst, Ordering::SeqCst)
    {
        Ok(_) => Attempt::Took(l::state_gen(active)),
        Err(_) => {
            // No conforming peer changes the state while we hold the owner word: give it back.
            e.take_owner(me, 0);
            Attempt::Raced
        }
    }
}

impl<T: Event> Producer<T> {
    /// Creates a segment for `T` (spec 5.1) and returns its producer (the creator, producer
    /// entry 0, generation 1).
    pub fn create(backing: Backing<'_>, cfg: &Config) -> Result<Self> {
        let seg = Segment::create(backing, cfg, &EventType::of::<T>()?)?;
        Ok(Self::new(seg, 0, 1, true))
    }

    /// Registers one more producer in an attached multi-producer segment: checks the event type
    /// (spec 5.2 check 13) and takes a producer registry entry (spec 5.4 "attach"): a free,
    /// closed or dead entry whose owner word is 0 or a dead process (the owner word is the
    /// lock), or an active one whose owner is dead and whose claims are all resolved (retired
    /// first). A single-producer segment is refused with `BadProducerMode`; no usable entry with
    /// `ProducerRegistryFull`. [`Producer::close`] (or drop) leaves the entry.
    pub fn register(seg: &Segment) -> Result<Self> {
        check_event_type(seg.geometry(), &EventType::of::<T>()?)?;
        Self::register_entry(seg)
    }

    /// Does spec 5.4 attach steps 1 and 2 on `seg` (a multi-producer segment) and stops there,
    /// as a producer killed between steps 2 and 3 would: the entry's owner word is this process,
    /// its state is not active. Returns the entry's index. A test fixture (feature
    /// `conformance`), not part of the API.
    #[cfg(any(test, feature = "conformance"))]
    #[doc(hidden)]
    pub fn begin_register(seg: &Segment) -> Result<usize> {
        check_event_type(seg.geometry(), &EventType::of::<T>()?)?;
        let me = process::own_identity();
        seg.producer_entries()
            .find_map(|(index, e)| lock_entry(seg, &e, me).ok().map(|_| index))
            .ok_or(Error::ProducerRegistryFull)
    }

    /// Publishes one event. Blocks while the ring is full (see [`Producer::publish_batch`]).
    pub fn publish(&mut self, event: &T) -> Result<()> {
        self.publish_batch(std::slice::from_ref(event))
    }

    /// Publishes `events` in order, in claims of at most `capacity`. Blocks while the ring is
    /// full: woken by consumers moving their cursors, deregistering or being evicted (futex),
    /// re-checking at least every 20 ms, evicting required consumers whose owner process is dead
    /// (and stalled ones, see [`Producer::set_stall_eviction`]); fails with `Timeout` when one
    /// claim found no room for the configured timeout, `Poisoned` once the ring is poisoned,
    /// `Closed` once the creator closed a multi-producer ring.
    pub fn publish_batch(&mut self, events: &[T]) -> Result<()> {
        let cap = self.seg.geometry().capacity as usize;
        for chunk in events.chunks(cap) {
            self.try_publish_with(chunk.len(), |_, i| Ok::<T, &str>(chunk[i]))?;
        }
        Ok(())
    }

    /// Claims `n` sequences (1 to `capacity`) and fills them in order with `fill(sequence,
    /// index_in_claim)`, then publishes them, waiting for room as [`Producer::publish_batch`].
    ///
    /// If `fill` returns an error or panics (the panic is caught), nothing of the claim is
    /// published: the ring is poisoned (spec 5.4, 5.9) with phase publish, `poison_seq` the first
    /// sequence of the claim, stage this producer's entry index and the error's text (or
    /// `fill panicked`) as message, and `Poisoned` is returned with the ring's record (an earlier
    /// poisoner's, if there was one).
    pub fn try_publish_with<E: Display>(
        &mut self,
        n: usize,
        mut fill: impl FnMut(u64, usize) -> std::result::Result<T, E>,
    ) -> Result<()> {
        let first = self.claim_n(n)?;
        // Between claim and publish: a failure here must poison, never publish.
        let seg = &self.seg;
        let size = seg.geometry().event.size as usize;
        let filled = catch_unwind(AssertUnwindSafe(|| {
            for i in 0..n {
                let s = first + i as u64;
                let event = fill(s, i).map_err(|e| e.to_string())?;
                // Encoded in place: the claim gives this producer the slot until it publishes.
                event.encode(seg.map().bytes_mut(seg.slot_offset(s), size));
            }
            Ok::<(), String>(())
        }));
        let message = match filled {
            Ok(Ok(())) => {
                self.publish_claimed(first, n as u64);
                return Ok(());
            }
            Ok(Err(m)) => m,
            Err(_) => FILL_PANICKED.to_string(),
        };
        self.poison_claim(first, message);
        self.seg.check_poison()?;
        unreachable!("the ring was just poisoned")
    }

    /// Poisons the ring for the failed claim starting at `first` (spec 5.4, 5.9; a no-op if it
    /// was poisoned before).
    /// Zero-copy publishing: claims `n` sequences (1 to `capacity`), waiting for room as
    /// [`Producer::publish_batch`], and lends their slots in place as a [`Claim`] to be written
    /// and then [`Claim::publish`]ed. A claim dropped without publishing (an early return, a
    /// panic) poisons the ring, as a failed fill does (spec 5.4: slots that were not written are
    /// never published).
    pub fn claim(&mut self, n: usize) -> Result<Claim<'_, T>> {
        let first = self.claim_n(n)?;
        Ok(Claim {
            producer: self,
            first,
            n: n as u64,
            done: false,
        })
    }
}

impl<T> Producer<T> {
    /// Spec 5.4 attach on a multi-producer segment whose payload the caller checked (check 13).
    fn register_entry(seg: &Segment) -> Result<Self> {
        if seg.geometry().mode != ProducerMode::Multi {
            return Err(Error::BadProducerMode {
                mode: l::MODE_SINGLE,
                producer_capacity: seg.geometry().producer_capacity,
            });
        }
        let me = process::own_identity();
        for _ in 0..REGISTER_PASSES {
            let mut raced = false;
            for (index, e) in seg.producer_entries() {
                match try_take(seg, &e, me) {
                    Attempt::Took(generation) => {
                        return Ok(Self::new(seg.clone(), index, generation, false))
                    }
                    Attempt::Raced => raced = true,
                    Attempt::Skip => {}
                }
            }
            if !raced {
                break;
            }
        }
        Err(Error::ProducerRegistryFull)
    }
    fn new(seg: Segment, index: usize, generation: u32, creator: bool) -> Self {
        let next = seg.claimed_count();
        let entries = seg.geometry().registry_capacity as usize;
        Producer {
            seg,
            index,
            generation,
            next,
            bound: 0,
            prefix: 0,
            creator,
            closed: false,
            timeout: Duration::from_secs(20),
            // Spec 5.6: registered (with the barrier F3) before its first kernel wait.
            blocking: Blocking::new(WaitStrategy::Block),
            stall_timeout: None,
            stall_watch: vec![(0, 0, Instant::now()); entries],
            _event: PhantomData,
        }
    }

    /// The segment this producer writes.
    pub fn segment(&self) -> &Segment {
        &self.seg
    }

    /// Index of this producer's entry in the producer registry.
    pub fn index(&self) -> usize {
        self.index
    }

    fn entry(&self) -> ProducerEntry<'_> {
        self.seg.producer_entry(self.index)
    }

    /// How long one publish call may wait for room, and `close` for outstanding claims, before
    /// failing with `Timeout` (default 20 s).
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    /// Also evict required consumers that are *stalled* (spec 8: owner alive, cursor unmoved
    /// for `timeout` while this producer watched it, heartbeat older than `timeout`) while
    /// waiting for room; `None` (the default) evicts only dead ones. A timeout under 5 s is
    /// refused with `InvalidArgument`, so a waiting consumer (heartbeat at least once a second)
    /// is never taken for stalled.
    pub fn set_stall_eviction(&mut self, timeout: Option<Duration>) -> Result<()> {
        if timeout.is_some_and(|t| t < MIN_STALL_TIMEOUT) {
            return Err(Error::InvalidArgument(
                "a stall timeout must be at least 5 s (spec 8)".into(),
            ));
        }
        self.stall_timeout = timeout;
        Ok(())
    }

    /// How this producer waits for room (and the creator of a multi-mode ring for outstanding
    /// claims when it closes). A new producer uses [`WaitStrategy::Block`]: the first time it
    /// blocks in the kernel it registers in `producer_blockers` (spec 5.6, with the barrier
    /// F3) until close or drop, so consumers do the wake handshake after their cursor stores;
    /// [`WaitStrategy::Spin`] hands a registration back (consumers then skip the handshake while
    /// no other producer blocks) and never blocks in the kernel.
    pub fn set_wait_strategy(&mut self, strategy: WaitStrategy) {
        self.blocking
            .set_strategy(strategy, self.seg.producer_blockers());
    }

    /// Stores a heartbeat (CLOCK_MONOTONIC ns) in this producer's entry and the header's
    /// `producer_heartbeat_ns`. Waits do this at least once a second (spec 8); a producer that
    /// waits for something else (consumers to register, say) should call it as often.
    pub fn heartbeat(&self) {
        Self::beat(&self.seg, self.index);
    }

    fn beat(seg: &Segment, index: usize) {
        let now = monotonic_ns();
        seg.producer_heartbeat().store(now, Ordering::Release);
        seg.producer_entry(index)
            .heartbeat()
            .store(now, Ordering::Release);
    }

    fn poison_claim(&self, first: u64, message: String) {
        self.seg.poison(&Poison {
            phase: PoisonPhase::Publish,
            seq: first,
            pid: process::current_pid(),
            stage: self.index as u32,
            message,
        });
    }

    /// Checks the state and `n`, then claims `n` sequences: returns the first.
    fn claim_n(&mut self, n: usize) -> Result<u64> {
        let cap = self.seg.geometry().capacity;
        if n == 0 || n as u64 > cap {
            return Err(Error::InvalidArgument(format!(
                "a claim must be 1 to {cap} events"
            )));
        }
        self.claim_at(|_| n as u64).map(|(first, _)| first)
    }

    /// Claims `n_at(first)` sequences (at least 1, at most `capacity`, which the caller
    /// ensures for every `first`), `first` being where the claim starts: returns `(first, n)`.
    /// A closed producer claims nothing (`InvalidArgument`).
    fn claim_at(&mut self, n_at: impl FnMut(u64) -> u64) -> Result<(u64, u64)> {
        if self.closed {
            return Err(Error::InvalidArgument("producer is closed".into()));
        }
        match self.seg.geometry().mode {
            ProducerMode::Single => self.claim_single(n_at),
            ProducerMode::Multi => self.claim_multi(n_at),
        }
    }

    /// Claims `n` sequences and leaves them unpublished, as a producer that dies between claim
    /// and publish would; this producer is forgotten without leaving its entry. For the golden images
    /// and tests.
    #[cfg(any(test, feature = "conformance"))]
    pub(crate) fn claim_and_abandon(mut self, n: usize) -> Result<u64> {
        let first = self.claim_n(n)?;
        // Drop then does nothing: the entry stays active, holding the claim, and the blockers
        // count keeps this producer, as after a crash.
        self.forget();
        Ok(first)
    }

    /// Forgets this producer without leaving its entry, as if its process had died outside a claim:
    /// its entry stays active. For tests.
    #[cfg(test)]
    pub(crate) fn abandon(mut self) {
        self.forget();
    }

    #[cfg(any(test, feature = "conformance"))]
    fn forget(&mut self) {
        self.closed = true;
        self.blocking.leak();
    }

    /// The gating scan (5.3 step 1): the minimum cursor of every entry that gates (active,
    /// required, not corrupt), or, if there is none, `count`: the count the producers had
    /// published when the scan began ([`Self::published_count`]), never anything higher: a
    /// consumer may register at any moment and start at that count (5.7 step 6 relies on every
    /// bound being at most the count at the scan plus `capacity`).
    ///
    /// A second pass loads every entry's `state` word again and the scan starts over if one
    /// differs from the first pass (state or generation; model finding F4): a registration that
    /// activates after the first pass went by its entry may copy another entry's cursor (5.7
    /// step 6, *oldest* or `depends_on`) before that cursor moves and the first pass loads it,
    /// and a bound from such a scan could overwrite the newcomer's start. Only on the slow path
    /// (the cached bound exceeded); it repeats only while peers keep registering, taking over,
    /// deregistering or evicting between the passes.
    fn gating_bound(seg: &Segment, count: u64) -> u64 {
        // registry_capacity is at most 64 (spec 5.2 check 11).
        let mut seen = [0u32; 64];
        loop {
            let mut bound = count;
            for ((_i, e), w) in seg.entries().zip(seen.iter_mut()) {
                *w = e.state().load(Ordering::SeqCst);
                #[cfg(test)]
                scan_hook::after_state_load(_i);
                if e.gates_as(*w) {
                    bound = bound.min(e.cursor().load(Ordering::SeqCst));
                }
            }
            if seg
                .entries()
                .zip(seen)
                .all(|((_, e), w)| e.state().load(Ordering::SeqCst) == w)
            {
                return bound;
            }
        }
    }

    /// The count the producers had published, for the gating scan (5.3 step 1), `start` being
    /// the count this producer loaded for its claim. Single mode: `start` (its private
    /// `next`). Multi mode: the published prefix, searched from `claimed - capacity` or from
    /// `prefix` (the highest found before, updated here), at most `start`: not `start` itself,
    /// which nobody has published (another producer may hold sequences below it unwritten,
    /// model finding F5).
    fn published_count(seg: &Segment, start: u64, prefix: &mut u64) -> u64 {
        match seg.geometry().mode {
            ProducerMode::Single => start,
            ProducerMode::Multi => {
                let p = seg.published_prefix(start, *prefix);
                *prefix = (*prefix).max(p);
                p
            }
        }
    }

    /// Evicts every active consumer whose owner process is dead (spec section 8), so it stops
    /// gating: compare-and-swap of its `state` from active to evicted (same generation), then an
    /// unconditional wake of both wait words (spec 5.7). Returns how many. Done automatically
    /// while waiting for room.
    pub fn evict_dead_consumers(&self) -> usize {
        self.seg
            .evict_where(|_, _, _, owner| process::owner_dead(owner))
    }

    /// Evicts required consumers stalled for the stall timeout (spec 8), if one is set. For each
    /// active entry the state word and the owner are loaded first (by [`Segment::evict_where`]),
    /// then its cursor and `heartbeat_ns`.
    fn evict_stalled(seg: &Segment, timeout: Option<Duration>, watch: &mut [(u32, u64, Instant)]) {
        let Some(timeout) = timeout else {
            return;
        };
        let now = Instant::now();
        let now_ns = monotonic_ns();
        seg.evict_where(|i, e, word, _owner| {
            let cursor = e.cursor().load(Ordering::SeqCst);
            let w = &mut watch[i];
            if (w.0, w.1) != (word, cursor) {
                *w = (word, cursor, now);
                return false;
            }
            e.flags() & l::FLAG_REQUIRED != 0
                && now.duration_since(w.2) >= timeout
                && now_ns.saturating_sub(e.heartbeat().load(Ordering::Acquire))
                    >= timeout.as_nanos() as u64
        });
    }

    /// Ensures `end - capacity <= bound` for the claim `start..end` (`start` the producers' count
    /// this producer loaded), waiting for room (5.3 step 1, 5.6). Every recompute of the bound
    /// also loads `poison_state` and fails with `Poisoned` if it is set. In multi mode a
    /// producer waiting behind a published prefix below `start` runs 5.8 from that prefix about
    /// every 100 ms while it waits (never on the fast path): with no required consumer nobody
    /// else passes a dead producer's claim over.
    fn wait_for_room(&mut self, start: u64, end: u64) -> Result<()> {
        let cap = self.seg.geometry().capacity;
        if end.saturating_sub(cap) <= self.bound {
            return Ok(());
        }
        self.seg.check_poison()?;
        let mut prefix = self.prefix;
        self.bound = Self::gating_bound(
            &self.seg,
            Self::published_count(&self.seg, start, &mut prefix),
        );
        self.prefix = prefix;
        if end.saturating_sub(cap) <= self.bound {
            return Ok(());
        }
        let seg = &self.seg;
        let multi = seg.geometry().mode == ProducerMode::Multi;
        let (index, stall_timeout, watch) = (self.index, self.stall_timeout, &mut self.stall_watch);
        let mut bound = self.bound;
        let mut last_scan = Instant::now();
        let mut last_beat = Instant::now();
        let ok = wait::wait_until(
            seg.producer_waiters(),
            seg.producer_wake(),
            seg.producer_blockers(),
            &mut self.blocking,
            Instant::now() + self.timeout,
            || {
                // Spec 5.6 step 3: poison, close, and the registry (which covers consumers
                // that deregistered or were evicted).
                seg.check_poison()?;
                if seg.claims_closed() {
                    return Err(Error::Closed);
                }
                if last_beat.elapsed() >= HEARTBEAT_WHILE_WAITING {
                    last_beat = Instant::now();
                    Self::beat(seg, index);
                }
                if last_scan.elapsed() >= EVICT_SCAN {
                    last_scan = Instant::now();
                    seg.evict_where(|_, _, _, owner| process::owner_dead(owner));
                    Self::evict_stalled(seg, stall_timeout, watch);
                    // Spec 5.8 from the published prefix (only a dead claimer's sequences).
                    if multi && prefix < start {
                        seg.pass_over(prefix, start);
                    }
                }
                bound = Self::gating_bound(seg, Self::published_count(seg, start, &mut prefix));
                Ok(end.saturating_sub(cap) <= bound)
            },
        )?;
        self.bound = bound;
        self.prefix = prefix;
        if ok {
            Ok(())
        } else {
            Err(Error::Timeout)
        }
    }

    /// 5.3 steps 1 and 2 for `n_at(first)` sequences: returns the first sequence of the claim
    /// and its length.
    fn claim_single(&mut self, n_at: impl FnOnce(u64) -> u64) -> Result<(u64, u64)> {
        let n = n_at(self.next);
        let end = match self.next.checked_add(n) {
            Some(end) if end < l::MAX_SEQUENCE => end,
            _ => return Err(Error::SequenceExhausted),
        };
        self.seg.check_poison()?;
        self.wait_for_room(self.next, end)?;
        self.seg.claimed().store(end, Ordering::Release);
        // F1 (spec 5.11): the claim is visible before any byte of the slots it reuses, which an
        // optional consumer's copy-and-verify relies on (5.10).
        fence(Ordering::Release);
        Ok((std::mem::replace(&mut self.next, end), n))
    }

    /// 5.4 steps 1 to 3 for `n_at(c)` sequences, `c` the first sequence of the attempt (a
    /// framed claim's length depends on where it starts, spec 11.2 step 2: it is computed
    /// again whenever the compare-and-swap fails): returns the first sequence of the claim and
    /// its length.
    fn claim_multi(&mut self, mut n_at: impl FnMut(u64) -> u64) -> Result<(u64, u64)> {
        loop {
            // Step 1.
            let w = self.seg.claimed().load(Ordering::Acquire);
            if l::claims_closed(w) {
                return Err(Error::Closed);
            }
            self.seg.check_poison()?;
            let c = w;
            let n = n_at(c);
            let end = match c.checked_add(n) {
                Some(end) if end < l::MAX_SEQUENCE => end,
                _ => return Err(Error::SequenceExhausted),
            };
            self.wait_for_room(c, end)?;
            // Step 2: announce the claim before making it, so that peers can pass it over if
            // this process dies before publishing (5.8). `intent_end` is 0 here.
            let e = self.entry();
            e.intent_start().store(c, Ordering::SeqCst);
            e.intent_end().store(end, Ordering::SeqCst);
            // Step 3.
            if self
                .seg
                .claimed()
                .compare_exchange(c, end, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok()
            {
                return Ok((c, n));
            }
            // The range is someone else's now: withdraw the intent.
            e.intent_end().store(0, Ordering::SeqCst);
        }
    }

    /// Publishes the filled claim `first..first + n` (5.3 steps 4-5, 5.4 steps 5-7).
    fn publish_claimed(&mut self, first: u64, n: u64) {
        let end = first + n;
        match self.seg.geometry().mode {
            // 5.3 step 4: releases the slot writes.
            ProducerMode::Single => self.seg.published().store(end, Ordering::Release),
            ProducerMode::Multi => {
                // 5.4 step 5: each store releases the slot write of its sequence.
                for s in first..end {
                    self.seg.availability(s).store(s + 1, Ordering::Release);
                }
                // 5.4 step 6.
                self.entry().intent_end().store(0, Ordering::Release);
            }
        }
        // 5.3 step 5 (5.4 step 7): the blockers count is loaded after the store.
        wait::after_store(&self.seg, Words::CONSUMER);
        // A sign of life every 1024 sequences (as the C library), not a clock read per publish.
        if first >> 10 != end >> 10 {
            self.heartbeat();
        }
    }

    /// Closes the producer; later publishes fail.
    ///
    /// - A registered multi-mode producer leaves its entry: compare-and-swap of the entry's
    ///   `state` from active (its generation) to closed, then of `owner` from its identity to 0.
    /// - The creator of a single-mode ring stores `producer_state = 2` and wakes consumers
    ///   unconditionally (spec 5.3, 5.6).
    /// - The creator of a multi-mode ring ends the stream (spec 5.4): sets the closed bit of
    ///   `claimed`, so every later claim fails with `Closed`, waits until every claimed sequence
    ///   is published or a gap (woken by publishes, re-checking every 20 ms, for up to the
    ///   producer's timeout), then stores `producer_state = 2`. At the timeout it still stores
    ///   it and returns `Timeout`.
    pub fn close(&mut self) -> Result<()> {
        if self.closed {
            return Ok(());
        }
        self.closed = true;
        let strategy = self.blocking.strategy();
        self.blocking.release(self.seg.producer_blockers());
        if !self.creator {
            // Detach (spec 5.4): state from active (our generation) to closed, then the owner
            // word from our identity to 0.
            let mine = l::state_word(l::PRODUCER_ACTIVE, self.generation);
            let e = self.entry();
            if e.state()
                .compare_exchange(
                    mine,
                    l::with_value(mine, l::PRODUCER_CLOSED),
                    Ordering::SeqCst,
                    Ordering::SeqCst,
                )
                .is_ok()
            {
                e.take_owner(process::own_identity(), 0);
            }
            return Ok(());
        }
        let mut result = Ok(());
        if self.seg.geometry().mode == ProducerMode::Multi {
            let count = l::claimed_count(
                self.seg
                    .claimed()
                    .fetch_or(l::CLAIMED_CLOSED, Ordering::SeqCst),
            );
            let seg = &self.seg;
            let index = self.index;
            let from = count.saturating_sub(seg.geometry().capacity);
            // This wait is on the consumer word (woken by publishes): if it blocks, it is
            // registered in `consumer_blockers` for its duration (spec 5.6), so publishers
            // wake it.
            let mut blocking = Blocking::new(strategy);
            let mut last_beat = Instant::now();
            let complete = wait::wait_until(
                seg.consumer_waiters(),
                seg.consumer_wake(),
                seg.consumer_blockers(),
                &mut blocking,
                Instant::now() + self.timeout,
                || {
                    if last_beat.elapsed() >= HEARTBEAT_WHILE_WAITING {
                        last_beat = Instant::now();
                        Self::beat(seg, index);
                    }
                    Ok(seg.is_poisoned() || (from..count).all(|s| seg.resolved(s)))
                },
            );
            blocking.release(seg.consumer_blockers());
            if !matches!(complete, Ok(true)) {
                result = Err(Error::Timeout);
            }
        }
        self.seg
            .producer_state()
            .store(l::STREAM_CLOSED, Ordering::SeqCst);
        wait::wake_unconditionally(&self.seg, Words::CONSUMER);
        result
    }

    /// Generation of this producer's registry entry (bits 8-31 of its `state`).
    pub fn generation(&self) -> u32 {
        self.generation
    }
}

impl<T> Drop for Producer<T> {
    fn drop(&mut self) {
        let _ = self.close();
        self.blocking.release(self.seg.producer_blockers());
    }
}

/// Sequences `first..first + len` claimed by [`Producer::claim`], lent in place for writing
/// (zero-copy). Borrows the producer mutably; no consumer reads the slots before
/// [`Claim::publish`]. Dropping it unpublished poisons the ring. Not safe for concurrent use.
pub struct Claim<'a, T: Event> {
    producer: &'a mut Producer<T>,
    first: u64,
    n: u64,
    done: bool,
}

impl<T: Event> Claim<'_, T> {
    /// First sequence of the claim.
    pub fn first(&self) -> u64 {
        self.first
    }

    /// Number of sequences claimed.
    pub fn len(&self) -> usize {
        self.n as usize
    }

    /// Always false: a claim holds at least one sequence.
    pub fn is_empty(&self) -> bool {
        self.n == 0
    }

    /// The slot of the `i`-th sequence of the claim (`event_size` bytes), to write the event's
    /// little-endian bytes into. Panics if `i >= len()`. Slots are not zeroed: they hold what an
    /// earlier round left.
    pub fn slot_mut(&mut self, i: usize) -> &mut [u8] {
        assert!((i as u64) < self.n, "index {i} outside claim of {}", self.n);
        let seg = &self.producer.seg;
        let size = seg.geometry().event.size as usize;
        seg.map()
            .bytes_mut(seg.slot_offset(self.first + i as u64), size)
    }

    /// Bytes from one slot to the next (`slot_size`, at least the event's size): the stride of
    /// [`Claim::slots_mut`].
    pub fn stride(&self) -> usize {
        self.producer.seg.geometry().slot_size as usize
    }

    /// All the claim's slots at once, as at most two runs of bytes in sequence order: slot `i`
    /// of a run is at `i * stride()`, its event in the first `event_size` bytes. The second run
    /// is empty unless the claim wraps around the end of the ring. The fastest way to fill a
    /// batch: no offset computation or bounds check per event.
    pub fn slots_mut(&mut self) -> (&mut [u8], &mut [u8]) {
        let seg = &self.producer.seg;
        let g = seg.geometry();
        let stride = g.slot_size as usize;
        let start = seg.ring_index(self.first) as usize;
        let head = (g.capacity as usize - start).min(self.n as usize);
        let tail = self.n as usize - head;
        let map = seg.map();
        // Two disjoint ranges of this claim's slots (the first ends at the ring's end, the
        // second starts at slot 0 and holds tail < capacity - head slots).
        let a = map.bytes_mut(seg.slot_offset(self.first), head * stride);
        let b = if tail == 0 {
            &mut []
        } else {
            map.bytes_mut(seg.slot_offset(self.first + head as u64), tail * stride)
        };
        (a, b)
    }

    /// Encodes `event` into the `i`-th slot in place. Panics if `i >= len()`.
    pub fn write(&mut self, i: usize, event: &T) {
        event.encode(self.slot_mut(i));
    }

    /// Publishes the claim (spec 5.3 steps 4-5, 5.4 steps 5-7). Every slot must have been
    /// written: the bytes are published as they are.
    pub fn publish(mut self) {
        self.done = true;
        self.producer.publish_claimed(self.first, self.n);
    }
}

impl<T: Event> Drop for Claim<'_, T> {
    fn drop(&mut self) {
        if !self.done {
            self.producer
                .poison_claim(self.first, CLAIM_DROPPED.to_string());
        }
    }
}

/// Poison message ([`Poison::message`]) recorded when a [`Claim`] is dropped without being
/// published.
pub const CLAIM_DROPPED: &str = "claim dropped unpublished";

/// Test seam: code run in the gating scan's first pass (5.3 step 1) after entry `i`'s `state`
/// was loaded, to change the registry between the loads of one scan in one thread.
#[cfg(test)]
pub(crate) mod scan_hook {
    use std::cell::RefCell;

    type Hook = Box<dyn FnMut(usize)>;

    thread_local! {
        static HOOK: RefCell<Option<Hook>> = RefCell::new(None);
    }

    /// Installs `f` (on this thread), called with the entry index after every first-pass load
    /// of an entry's `state`, until [`clear`].
    pub(crate) fn set(f: Hook) {
        HOOK.with(|h| *h.borrow_mut() = Some(f));
    }

    /// Removes the hook.
    pub(crate) fn clear() {
        HOOK.with(|h| *h.borrow_mut() = None);
    }

    pub(super) fn after_state_load(i: usize) {
        // Taken out while it runs: it may register consumers and read, but never scans.
        let Some(mut f) = HOOK.with(|h| h.borrow_mut().take()) else {
            return;
        };
        f(i);
        HOOK.with(|h| {
            let mut h = h.borrow_mut();
            if h.is_none() {
                *h = Some(f);
            }
        });
    }
}
