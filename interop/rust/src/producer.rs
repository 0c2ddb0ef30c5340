//! Publishing events: single-producer (spec 5.3) and multi-producer (spec 5.4), the producer
//! registry (4.4), ending a multi-producer stream (5.4) and poisoning on a failed fill (5.9).

use std::fmt::Display;
use std::marker::PhantomData;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::atomics::monotonic_ns;
use crate::error::{Error, Result};
use crate::event::{Event, EventType};
use crate::layout as l;
use crate::poison::{Poison, PoisonPhase};
use crate::process;
use crate::segment::{check_event_type, Backing, Config, Entry, ProducerMode, Segment};
use crate::wait::{self, Blocker, WaitMode};

/// How often a producer waiting for room looks for dead consumers to evict.
const EVICT_SCAN: Duration = Duration::from_millis(100);

/// Poison message of a fill closure that panicked (the golden `poisoned` scenario's).
pub const FILL_PANICKED: &str = "fill panicked";

/// A producer of events of type `T`. Not safe for concurrent use (`&mut self`); in multi mode
/// use one `Producer` per thread or process, each with its own producer registry entry.
pub struct Producer<T: Event> {
    seg: Segment,
    /// Index of this producer's entry in the producer registry (the creator's is 0).
    index: usize,
    /// Generation of that entry when this producer took it.
    generation: u64,
    /// Single mode: private `next` (the count claimed so far).
    next: u64,
    /// Cached gating bound (minimum cursor of the active required consumers).
    bound: u64,
    /// The creator ends the stream (`producer_state = 2`) on close or drop.
    creator: bool,
    closed: bool,
    timeout: Duration,
    /// Registration in `producer_blockers` ([`WaitMode::Block`] on Linux), until close or drop.
    blocker: Option<Blocker>,
    _event: PhantomData<T>,
}

/// Whether a waiter in `mode` may block in the kernel (spec 5.6): only with a futex.
fn blocks(mode: WaitMode) -> bool {
    mode == WaitMode::Block && cfg!(target_os = "linux")
}

impl<T: Event> Producer<T> {
    /// Creates a segment for `T` (spec 5.1) and returns its producer (the creator, producer
    /// entry 0).
    pub fn create(backing: Backing<'_>, cfg: &Config) -> Result<Self> {
        let seg = Segment::create(backing, cfg, &EventType::of::<T>()?)?;
        Ok(Self::new(seg, 0, 1, true))
    }

    /// Joins an existing multi-producer segment as one more producer: checks the event type
    /// (spec 5.2 check 13) and takes a producer registry entry (spec 5.4). A single-producer
    /// segment is refused with `BadProducerMode`; no free, closed or dead entry with
    /// `ProducerRegistryFull`.
    pub fn attach(seg: &Segment) -> Result<Self> {
        check_event_type(seg.geometry(), &EventType::of::<T>()?)?;
        if seg.geometry().mode != ProducerMode::Multi {
            return Err(Error::BadProducerMode {
                mode: l::MODE_SINGLE,
                producer_capacity: seg.geometry().producer_capacity,
            });
        }
        let settled = Self::settled(seg);
        let (index, e) = seg
            .producer_entries()
            .find(|(_, e)| {
                let state = e.u32(l::PRD_STATE);
                let mut st = state.load(Ordering::Acquire);
                // An active entry whose owner died outside a claim, or whose whole claim the
                // required consumers have read or passed over, is reclaimed by way of dead;
                // one that died mid-claim is left to the recovery of 5.8.
                if st == l::PRODUCER_ACTIVE
                    && Self::reclaimable(e, settled)
                    && state
                        .compare_exchange(
                            l::PRODUCER_ACTIVE,
                            l::PRODUCER_DEAD,
                            Ordering::SeqCst,
                            Ordering::SeqCst,
                        )
                        .is_ok()
                {
                    st = l::PRODUCER_DEAD;
                }
                matches!(
                    st,
                    l::PRODUCER_FREE | l::PRODUCER_ENTRY_CLOSED | l::PRODUCER_DEAD
                ) && state
                    .compare_exchange(st, l::PRODUCER_ACTIVE, Ordering::SeqCst, Ordering::SeqCst)
                    .is_ok()
            })
            .ok_or(Error::ProducerRegistryFull)?;
        // owner_pid 0 while being filled in (peers treat it as alive), and no claim held.
        let pid = process::current_pid();
        e.u32(l::PRD_OWNER_PID).store(0, Ordering::SeqCst);
        e.u64(l::PRD_INTENT_END).store(0, Ordering::SeqCst);
        let generation = e
            .u64(l::PRD_GENERATION)
            .load(Ordering::Relaxed)
            .wrapping_add(1);
        e.u64(l::PRD_GENERATION)
            .store(generation, Ordering::Relaxed);
        e.u64(l::PRD_OWNER_START_TIME)
            .store(process::start_time(pid), Ordering::Relaxed);
        e.u64(l::PRD_HEARTBEAT_NS)
            .store(monotonic_ns(), Ordering::Release);
        e.u32(l::PRD_OWNER_PID).store(pid, Ordering::Release);
        Ok(Self::new(seg.clone(), index, generation, false))
    }

    /// The lowest cursor of the active required consumers, or `None` if there is none: the
    /// count below which every sequence was read or passed over (spec 5.4, reclaiming).
    fn settled(seg: &Segment) -> Option<u64> {
        seg.entries()
            .filter(|(_, e)| {
                e.state().load(Ordering::SeqCst) == l::ENTRY_ACTIVE
                    && e.flags() & l::FLAG_REQUIRED != 0
            })
            .map(|(_, e)| e.cursor().load(Ordering::SeqCst))
            .min()
    }

    /// Whether an active producer entry may be reclaimed (spec 5.4): its owner is dead (an
    /// entry being filled in, `owner_pid` 0, counts as alive) and it holds no claim
    /// (`intent_end` 0), or its claim ends at or below `settled`. With no active required
    /// consumer nothing is settled: only an entry without a claim is reclaimed, so a claim that
    /// a consumer registering later must pass over keeps its intent.
    fn reclaimable(e: &Entry<'_>, settled: Option<u64>) -> bool {
        let pid = e.u32(l::PRD_OWNER_PID).load(Ordering::Acquire);
        let start = e.u64(l::PRD_OWNER_START_TIME).load(Ordering::Relaxed);
        let end = e.u64(l::PRD_INTENT_END).load(Ordering::SeqCst);
        process::is_dead(pid, start) && (end == 0 || settled.is_some_and(|c| end <= c))
    }

    fn new(seg: Segment, index: usize, generation: u64, creator: bool) -> Self {
        let next = seg.claimed().load(Ordering::Acquire) & l::COUNT_MASK;
        // Spec 5.6: counted before it can ever block waiting for room.
        let blocker = blocks(WaitMode::Block).then(|| Blocker::register(seg.producer_blockers()));
        Producer {
            seg,
            index,
            generation,
            next,
            bound: 0,
            creator,
            closed: false,
            timeout: Duration::from_secs(20),
            blocker,
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

    fn entry(&self) -> Entry<'_> {
        self.seg.producer_entry(self.index)
    }

    /// How long one publish call may wait for room, and `close` for outstanding claims, before
    /// failing with `Timeout` (default 20 s).
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    /// How this producer waits for room (and the creator of a multi-mode ring for outstanding
    /// claims when it closes). A new producer uses [`WaitMode::Block`] and is counted in
    /// `producer_blockers` (spec 5.6), so every consumer's cursor store is seq-cst with the
    /// wake handshake; [`WaitMode::Spin`] leaves the count (consumers then take the release
    /// fast path while no other producer blocks) and never blocks in the kernel.
    pub fn set_wait(&mut self, mode: WaitMode) {
        match (&mut self.blocker, blocks(mode)) {
            (Some(b), false) => {
                b.release(self.seg.producer_blockers());
                self.blocker = None;
            }
            (None, true) if !self.closed => {
                self.blocker = Some(Blocker::register(self.seg.producer_blockers()));
            }
            _ => {}
        }
    }

    /// Publishes one event. Blocks while the ring is full (see [`Producer::publish_batch`]).
    pub fn publish(&mut self, event: &T) -> Result<()> {
        self.publish_batch(std::slice::from_ref(event))
    }

    /// Publishes `events` in order, in claims of at most `capacity`. Blocks while the ring is
    /// full: woken by consumers moving their cursors (futex), re-checking at least every 20 ms,
    /// evicting required consumers whose owner process is dead; fails with `Timeout` when one
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
        if self.closed {
            return Err(Error::InvalidArgument("producer is closed".into()));
        }
        let cap = self.seg.geometry().capacity;
        if n == 0 || n as u64 > cap {
            return Err(Error::InvalidArgument(format!(
                "a claim must be 1 to {cap} events"
            )));
        }
        let first = match self.seg.geometry().mode {
            ProducerMode::Single => self.claim_single(n as u64)?,
            ProducerMode::Multi => self.claim_multi(n as u64)?,
        };
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
    fn poison_claim(&self, first: u64, message: String) {
        self.seg.poison(&Poison {
            phase: PoisonPhase::Publish,
            seq: first,
            pid: process::current_pid(),
            stage: self.index as u32,
            message,
        });
    }

    /// Zero-copy publishing: claims `n` sequences (1 to `capacity`), waiting for room as
    /// [`Producer::publish_batch`], and lends their slots in place as a [`Claim`] to be written
    /// and then [`Claim::publish`]ed. A claim dropped without publishing (an early return, a
    /// panic) poisons the ring, as a failed fill does (spec 5.4: slots that were not written are
    /// never published).
    pub fn claim(&mut self, n: usize) -> Result<Claim<'_, T>> {
        if self.closed {
            return Err(Error::InvalidArgument("producer is closed".into()));
        }
        let cap = self.seg.geometry().capacity;
        if n == 0 || n as u64 > cap {
            return Err(Error::InvalidArgument(format!(
                "a claim must be 1 to {cap} events"
            )));
        }
        let first = match self.seg.geometry().mode {
            ProducerMode::Single => self.claim_single(n as u64)?,
            ProducerMode::Multi => self.claim_multi(n as u64)?,
        };
        Ok(Claim {
            producer: self,
            first,
            n: n as u64,
            done: false,
        })
    }

    /// Claims `n` sequences and leaves them unpublished, as a producer that dies between claim
    /// and publish would; this producer is forgotten without detaching. For tests and tools.
    #[doc(hidden)]
    pub fn claim_and_abandon(mut self, n: usize) -> Result<u64> {
        let first = match self.seg.geometry().mode {
            ProducerMode::Single => self.claim_single(n as u64)?,
            ProducerMode::Multi => self.claim_multi(n as u64)?,
        };
        // Drop then does nothing: the entry stays active, holding the claim, and the blockers
        // count keeps this producer, as after a crash.
        self.closed = true;
        if let Some(b) = self.blocker.as_mut() {
            b.leak();
        }
        Ok(first)
    }

    /// Forgets this producer without detaching, as if its process had died outside a claim:
    /// its entry stays active. For tests and tools.
    #[doc(hidden)]
    pub fn abandon(mut self) {
        self.closed = true;
        if let Some(b) = self.blocker.as_mut() {
            b.leak();
        }
    }

    /// Minimum cursor of every active required entry, or `end` if there is none (5.3 step 1).
    fn gating_bound(seg: &Segment, end: u64) -> u64 {
        seg.entries()
            .filter(|(_, e)| {
                e.state().load(Ordering::SeqCst) == l::ENTRY_ACTIVE
                    && e.flags() & l::FLAG_REQUIRED != 0
            })
            .map(|(_, e)| e.cursor().load(Ordering::SeqCst))
            .min()
            .unwrap_or(end)
    }

    /// Marks active entries whose owner process is dead (spec section 8) as evicted, so they
    /// stop gating; returns how many. Done automatically while waiting for room.
    pub fn evict_dead_consumers(&self) -> usize {
        Self::evict_dead(&self.seg)
    }

    fn evict_dead(seg: &Segment) -> usize {
        let mut evicted = 0;
        for (_, e) in seg.entries() {
            if e.state().load(Ordering::Acquire) != l::ENTRY_ACTIVE {
                continue;
            }
            if crate::consumer::owner_dead(&e) {
                let won = e.state().compare_exchange(
                    l::ENTRY_ACTIVE,
                    l::ENTRY_EVICTED,
                    Ordering::SeqCst,
                    Ordering::SeqCst,
                );
                evicted += usize::from(won.is_ok());
            }
        }
        evicted
    }

    /// Ensures `end - capacity <= bound`, waiting for room (5.3 step 1, 5.6). Every recompute of
    /// the bound also loads `poison_state` and fails with `Poisoned` if it is set.
    fn wait_for_room(&mut self, end: u64) -> Result<()> {
        let cap = self.seg.geometry().capacity;
        if end.saturating_sub(cap) <= self.bound {
            return Ok(());
        }
        self.seg.check_poison()?;
        self.bound = Self::gating_bound(&self.seg, end);
        if end.saturating_sub(cap) <= self.bound {
            return Ok(());
        }
        let seg = &self.seg;
        let mut bound = self.bound;
        let mut last_scan = Instant::now();
        let ok = wait::wait_until(
            seg.producer_waiters(),
            seg.producer_wake(),
            self.blocker.as_ref(),
            Instant::now() + self.timeout,
            || {
                seg.check_poison()?;
                if last_scan.elapsed() >= EVICT_SCAN {
                    last_scan = Instant::now();
                    Self::evict_dead(seg);
                }
                bound = Self::gating_bound(seg, end);
                Ok(end.saturating_sub(cap) <= bound)
            },
        )?;
        self.bound = bound;
        if ok {
            Ok(())
        } else {
            Err(Error::Timeout)
        }
    }

    /// 5.3 steps 1 and 2: returns the first sequence of the claim.
    fn claim_single(&mut self, n: u64) -> Result<u64> {
        let end = match self.next.checked_add(n) {
            Some(end) if end < l::MAX_SEQUENCE => end,
            _ => return Err(Error::SequenceExhausted),
        };
        self.seg.check_poison()?;
        self.wait_for_room(end)?;
        self.seg.claimed().store(end, Ordering::Release);
        Ok(std::mem::replace(&mut self.next, end))
    }

    /// 5.4 steps 1 to 3: returns the first sequence of the claim.
    fn claim_multi(&mut self, n: u64) -> Result<u64> {
        loop {
            // Step 1.
            let w = self.seg.claimed().load(Ordering::SeqCst);
            if w & l::CLAIMED_CLOSED != 0 {
                return Err(Error::Closed);
            }
            self.seg.check_poison()?;
            let c = w;
            let end = match c.checked_add(n) {
                Some(end) if end < l::MAX_SEQUENCE => end,
                _ => return Err(Error::SequenceExhausted),
            };
            self.wait_for_room(end)?;
            // Step 2: announce the claim before making it, so that peers can pass it over if
            // this process dies before publishing (5.8).
            let e = self.entry();
            e.u64(l::PRD_INTENT_START).store(c, Ordering::SeqCst);
            e.u64(l::PRD_INTENT_END).store(end, Ordering::SeqCst);
            // Step 3.
            if self
                .seg
                .claimed()
                .compare_exchange(c, end, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok()
            {
                return Ok(c);
            }
            // Not in the spec: withdraw the intent, which now covers another producer's claim.
            e.u64(l::PRD_INTENT_END).store(0, Ordering::SeqCst);
        }
    }

    /// Publishes the filled claim `first..first + n` (5.3 steps 4-5, 5.4 steps 5-7).
    fn publish_claimed(&mut self, first: u64, n: u64) {
        let end = first + n;
        // 5.3 step 4: while no consumer may block in the kernel, the publishing store is a
        // release store and the wake of step 5 is skipped (spec 5.6); otherwise it is seq-cst,
        // ordered before the waiters load.
        let cb = self.seg.consumer_blockers().load(Ordering::Acquire);
        match self.seg.geometry().mode {
            // Releases the slot writes.
            ProducerMode::Single => self.seg.published().store(end, wait::store_order(cb)),
            ProducerMode::Multi => {
                for s in first..end {
                    // 5.4 step 5: releases the slot write of `s`; the last one seq-cst if
                    // someone may block, for its order before the waiters load.
                    let order = if s + 1 == end {
                        wait::store_order(cb)
                    } else {
                        Ordering::Release
                    };
                    self.seg.availability(s).store(s + 1, order);
                }
                // 5.4 step 6.
                self.entry()
                    .u64(l::PRD_INTENT_END)
                    .store(0, Ordering::Release);
            }
        }
        // A sign of life every 1024 sequences (as the C library), not a clock read per publish.
        if first >> 10 != end >> 10 {
            let now = monotonic_ns();
            self.seg.producer_heartbeat().store(now, Ordering::Release);
            self.entry()
                .u64(l::PRD_HEARTBEAT_NS)
                .store(now, Ordering::Release);
        }
        // 5.3 step 5.
        wait::wake_if(cb, self.seg.consumer_waiters(), self.seg.consumer_wake());
    }

    /// Closes the producer; later publishes fail.
    ///
    /// - An attached multi-mode producer detaches: its entry becomes closed.
    /// - The creator of a single-mode ring stores `producer_state = 2` and wakes consumers.
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
        let wait_mode = if self.blocker.is_some() {
            WaitMode::Block
        } else {
            WaitMode::Spin
        };
        if let Some(b) = self.blocker.as_mut() {
            b.release(self.seg.producer_blockers());
        }
        self.blocker = None;
        if !self.creator {
            let _ = self.entry().u32(l::PRD_STATE).compare_exchange(
                l::PRODUCER_ACTIVE,
                l::PRODUCER_ENTRY_CLOSED,
                Ordering::SeqCst,
                Ordering::SeqCst,
            );
            return Ok(());
        }
        let mut result = Ok(());
        if self.seg.geometry().mode == ProducerMode::Multi {
            let count = self
                .seg
                .claimed()
                .fetch_or(l::CLAIMED_CLOSED, Ordering::SeqCst)
                & l::COUNT_MASK;
            let seg = &self.seg;
            let from = count.saturating_sub(seg.geometry().capacity);
            // This wait is on the consumer word (woken by publishes): counted in
            // `consumer_blockers` for its duration (spec 5.6), so publishers wake it.
            let mut blocker = blocks(wait_mode).then(|| Blocker::register(seg.consumer_blockers()));
            let complete = wait::wait_until(
                seg.consumer_waiters(),
                seg.consumer_wake(),
                blocker.as_ref(),
                Instant::now() + self.timeout,
                || {
                    Ok((from..count).all(|s| {
                        let w = seg.availability(s).load(Ordering::SeqCst);
                        w & !l::AVAIL_GAP == s + 1
                    }) || seg.is_poisoned())
                },
            );
            if let Some(b) = blocker.as_mut() {
                b.release(seg.consumer_blockers());
            }
            if !matches!(complete, Ok(true)) {
                result = Err(Error::Timeout);
            }
        }
        self.seg
            .producer_state()
            .store(l::PRODUCER_CLOSED, Ordering::SeqCst);
        wait::wake(self.seg.consumer_waiters(), self.seg.consumer_wake());
        result
    }

    /// Generation of this producer's registry entry.
    pub fn generation(&self) -> u64 {
        self.generation
    }
}

impl<T: Event> Drop for Producer<T> {
    fn drop(&mut self) {
        let _ = self.close();
        if let Some(b) = self.blocker.as_mut() {
            b.release(self.seg.producer_blockers());
        }
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
        let start = (self.first & (g.capacity - 1)) as usize;
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

/// Poison message of a [`Claim`] dropped without being published.
pub const CLAIM_DROPPED: &str = "claim dropped unpublished";
