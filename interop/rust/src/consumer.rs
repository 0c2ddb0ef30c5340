//! Consuming (spec 5.5): required consumers read in place, optional ones copy and verify
//! (5.10); gaps are passed over (5.8), a poisoned ring stops everyone (5.9), and a consumer
//! stops when every producer is dead (5.5 step 4). Registering is in `registry` (5.7).

use std::marker::PhantomData;
use std::sync::atomic::{fence, Ordering};
use std::time::{Duration, Instant};

use crate::atomics::monotonic_ns;
use crate::error::{Error, Result};
use crate::event::{Event, EventType};
use crate::frame::FrameGeometry;
use crate::layout as l;
use crate::process;
use crate::registry::{self, Request};
use crate::segment::{check_event_type, Entry, ProducerMode, Segment};
use crate::wait::{self, Blocking, WaitStrategy, Words};

mod framed;
pub use framed::{FramedConsumer, MessageBatch, MessageItem};

/// Where a new consumer starts reading (spec 5.7 step 6). A consumer with `depends_on` starts at
/// the lowest of that and the cursors of the entries it depends on, each read once it has chosen
/// its own start (registration waits up to [`crate::DEPENDENCY_WAIT`] for that).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// At the current count: only events published from now on.
    Latest,
    /// At the lowest cursor of the other active required consumers that have chosen their own
    /// start, if lower than the current count (never below the provisional cursor, the count a
    /// ring earlier, spec 5.7 steps 4 and 6).
    Oldest,
}

/// How to register a consumer.
#[derive(Debug, Clone)]
pub struct ConsumerOptions {
    /// Name, 1 to 48 bytes, unique among claiming and active entries.
    pub name: String,
    /// A required consumer gates the producer; an optional one can be lapped and lose events.
    pub required: bool,
    /// Start position.
    pub start: Start,
    /// Bit i set: read behind registry entry i instead of behind the producer alone.
    pub depends_on: u64,
    /// Multi mode, required consumers: how long to wait at a claimed but unpublished sequence
    /// before looking for a dead producer's claim to pass over (spec 5.8). Default 1 s. Safe
    /// at any length: only a claim whose producer is dead is passed over.
    pub stall_timeout: Duration,
    /// How [`Consumer::wait`] waits. [`WaitStrategy::Block`] (the default) blocks in the
    /// kernel: the first time it does, the consumer registers in the header's
    /// `consumer_blockers` (spec 5.6, with a system-wide barrier) until close or drop, which
    /// makes every producer and dependency do the wake handshake after its cursor store;
    /// [`WaitStrategy::Spin`] never blocks in the kernel and leaves the count alone.
    pub wait_strategy: WaitStrategy,
}

/// Default [`ConsumerOptions::stall_timeout`].
pub const DEFAULT_STALL_TIMEOUT: Duration = Duration::from_secs(1);

/// How often a waiting consumer checks whether every producer is dead (spec 5.5 step 4: at
/// least once a second).
const LIVENESS_EVERY: Duration = Duration::from_millis(500);

impl ConsumerOptions {
    /// A required consumer named `name`, starting at the oldest unconsumed event.
    pub fn required(name: &str) -> Self {
        ConsumerOptions {
            name: name.to_string(),
            required: true,
            start: Start::Oldest,
            depends_on: 0,
            stall_timeout: DEFAULT_STALL_TIMEOUT,
            wait_strategy: WaitStrategy::Block,
        }
    }

    /// An optional consumer named `name` (spec 5.10), starting at the current count.
    pub fn optional(name: &str) -> Self {
        ConsumerOptions {
            required: false,
            start: Start::Latest,
            ..Self::required(name)
        }
    }
}

/// What a consumer is handed for one sequence.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Item<T> {
    /// A published event.
    Event(T),
    /// A sequence passed over as a gap (spec 5.8): a dead producer's claim that was never
    /// published. Its slot holds no event.
    Gap,
}

impl<T> Item<T> {
    /// The event, or `None` for a gap.
    pub fn event(self) -> Option<T> {
        match self {
            Item::Event(t) => Some(t),
            Item::Gap => None,
        }
    }
}

/// What one [`Consumer::poll`] did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Polled {
    /// Events handed to the handler (gaps not included).
    pub delivered: usize,
    /// Gaps handed to the handler (multi mode, spec 5.8).
    pub gaps: u64,
    /// Events lost in this poll because the producer lapped this optional consumer (spec
    /// 5.10); they were not handed to the handler.
    pub lost: u64,
    /// The first sequence lost (meaningful when `lost > 0`): sequences `lost_from` to
    /// `lost_from + lost - 1` were lapped.
    pub lost_from: u64,
    /// The producer closed and every published event has been read.
    pub ended: bool,
}

/// A registered consumer of events of type `T` ([`Event`]; the reading API exists for those
/// only: the crate's [`FramedConsumer`] shares the rest of this core over a private marker).
/// Not safe for concurrent use (`&mut self`).
/// Dropping it deregisters (state closed) and leaves `consumer_blockers` (if it had joined it).
pub struct Consumer<T> {
    seg: Segment,
    index: usize,
    /// Generation of the entry (bits 8-31 of `state`) and this process's owner identity: the
    /// registration is ours while `state` is active with this generation and `owner` is `me`.
    generation: u32,
    me: u64,
    next: u64,
    required: bool,
    depends_on: u64,
    lost: u64,
    gaps_seen: u64,
    stall: Duration,
    /// The sequence this consumer is waiting at in multi mode, and since when.
    stuck: Option<(u64, Instant)>,
    /// When it last checked whether every producer is dead (spec 5.5 step 4).
    liveness_checked: Instant,
    open: bool,
    /// Whether it may block in the kernel, and its registration in `consumer_blockers` from its
    /// first kernel wait until close or drop.
    blocking: Blocking,
    buf: Vec<u8>,
    pending: Vec<Item<T>>,
    /// Calls of `poll_range`, for a heartbeat every [`HEARTBEAT_EVERY`] of them.
    polls: u64,
    /// A framed consumer's frame geometry (spec 11.1): what [`Consumer::wait`] waits for is a
    /// whole frame, not one sequence.
    frames: Option<FrameGeometry>,
    _event: PhantomData<T>,
}

/// `poll` and `read` store a heartbeat on every this many calls (a clock read costs about as much
/// as the rest of a one-event poll), and `wait` at least every 250 ms.
const HEARTBEAT_EVERY: u64 = 64;

impl<T: Event> Consumer<T> {
    /// Registers a consumer (spec 5.7) after checking the event type (5.2 check 13).
    ///
    /// Fails with `DuplicateName` if a live consumer is claiming or active under the same name
    /// (a dead one's entry is taken over, with its generation bumped, resuming at its cursor, or
    /// choosing its start if its owner died before it had; one of the other kind, required or
    /// optional, is refused), `RegistryFull`, or `RegistryBusy` (a takeover kept losing races
    /// with other peers, 16 rounds). With `depends_on`: `DependencyUnavailable` if a named entry
    /// is not an active required consumer (missing or optional: refused before anything is
    /// claimed), or if it is still choosing its start after [`crate::DEPENDENCY_WAIT`], its
    /// owner died while it was, or it stopped being active while this one chose its start (the
    /// registration is then undone).
    pub fn register(seg: &Segment, opts: &ConsumerOptions) -> Result<Self> {
        check_event_type(seg.geometry(), &EventType::of::<T>()?)?;
        Self::register_entry(seg, opts)
    }

    /// Reads what is available, at most `max` sequences, handing each to `handler(item,
    /// sequence, end_of_batch)`: an [`Item::Event`], or an [`Item::Gap`] for a sequence passed
    /// over (spec 5.8; counted in `gaps_seen`). The last item of the batch has `end_of_batch`
    /// true. Then stores the cursor (releasing the slots) and wakes a waiting producer. Never
    /// blocks.
    ///
    /// An optional consumer copies each event out and verifies the copy (spec 5.10): events
    /// the producer lapped are not handed over but counted in [`Polled::lost`] (from
    /// [`Polled::lost_from`]) and the entry's `lost`, and the cursor moves past them.
    ///
    /// A consumer found evicted before it delivers an event (spec 5.5 step 2) discards it, hands
    /// nothing more of the batch over and fails with `Evicted`.
    ///
    /// With nothing available: `Polled::ended` if the producer closed and this consumer has read
    /// up to the producers' count (5.5 step 4), or
    /// `Err(Poisoned)` with the record if the ring is poisoned (5.9), checked first, or
    /// `Err(ProducerDead)` if every producer is dead (checked at most every 500 ms). A required
    /// consumer of a multi-mode ring stuck at a claimed sequence for longer than its stall
    /// timeout passes over a dead producer's claim here (5.8).
    pub fn poll(
        &mut self,
        max: usize,
        mut handler: impl FnMut(Item<T>, u64, bool),
    ) -> Result<Polled> {
        if !self.required {
            return self.poll_optional(max, &mut handler);
        }
        let Some((_, hi)) = self.poll_range(max)? else {
            return Ok(Polled {
                ended: self.ended_now(),
                ..Polled::default()
            });
        };
        let mut polled = Polled::default();
        for s in self.next..hi {
            let gap = self.is_gap(s);
            // A required consumer gates the producer: the slot is stable until the cursor store
            // below, so it is decoded in place, unless the consumer is evicted meanwhile.
            let item = if gap {
                Item::Gap
            } else {
                Item::Event(T::decode(self.slot_bytes(s)))
            };
            // 5.5 step 2: still registered after the event's loads, or the slot may be in reuse.
            self.check_delivery()?;
            if gap {
                polled.gaps += 1;
            } else {
                polled.delivered += 1;
            }
            handler(item, s, s + 1 == hi);
        }
        self.release_to(hi, polled.gaps);
        Ok(polled)
    }

    /// Zero-copy batch read: claims what is available, at most `max` sequences (at least 1),
    /// and lends it in place as a [`Batch`]. Nothing is copied or decoded unless asked for;
    /// dropping (or [`Batch::release`]) the batch stores the cursor past it and wakes as
    /// [`Consumer::poll`] does. Never blocks.
    ///
    /// An empty batch means nothing is available: [`Batch::ended`] tells whether the stream
    /// ended; a poisoned ring is `Err(Poisoned)`, as in `poll`. Only a required consumer may read
    /// in place (an optional one can be lapped while it reads): `InvalidArgument` otherwise.
    pub fn read(&mut self, max: usize) -> Result<Batch<'_, T>> {
        if !self.required {
            return Err(Error::InvalidArgument(
                "zero-copy reads need a required consumer".into(),
            ));
        }
        let p = self.poll_range(max)?;
        let (first, end, ended) = match p {
            Some((first, end)) => (first, end, false),
            None => (self.next, self.next, self.ended_now()),
        };
        let gaps = if self.seg.geometry().mode == ProducerMode::Multi {
            (first..end).filter(|&s| self.is_gap(s)).count() as u64
        } else {
            0
        };
        Ok(Batch {
            consumer: self,
            first,
            end,
            gaps,
            ended,
        })
    }

    /// Spec 5.10: an optional consumer does not gate the producer, so it copies the available
    /// events out, then (fence F4) loads `claimed`: the copy of `s` is valid if and only if
    /// `s + capacity >= claimed`. Invalid copies are lapped events: counted in `lost` and
    /// reported, and the cursor goes on from `claimed - capacity`.
    fn poll_optional(
        &mut self,
        max: usize,
        handler: &mut impl FnMut(Item<T>, u64, bool),
    ) -> Result<Polled> {
        self.begin_poll()?;
        let cap = self.seg.geometry().capacity;
        let next = self.next;
        // Step 1. Sequences already below `claimed - capacity` need no copy: they cannot be
        // valid (an optimization; the verification below decides).
        let hi = self.available(max.max(1) as u64);
        let before = self.seg.claimed_count();
        let from = next.max(before.saturating_sub(cap)).min(hi);
        self.pending.clear();
        for s in from..hi {
            // A word of a later round is not a gap mark; such a copy is discarded below.
            let item = if self.is_gap(s) {
                Item::Gap
            } else {
                self.seg
                    .map()
                    .copy_out(self.seg.slot_offset(s), &mut self.buf);
                Item::Event(T::decode(&self.buf))
            };
            self.pending.push(item);
        }
        // Step 2: F4, the copies' loads complete before `claimed` is loaded.
        fence(Ordering::Acquire);
        // Step 3.
        let claimed = self.seg.claimed_count();
        let valid_from = next.max(claimed.saturating_sub(cap));
        // Step 4.
        let mut polled = Polled::default();
        let mut delivered_to = next;
        for (i, item) in self.pending.drain(..).enumerate() {
            let s = from + i as u64;
            if s < valid_from {
                continue;
            }
            match item {
                Item::Gap => polled.gaps += 1,
                Item::Event(_) => polled.delivered += 1,
            }
            handler(item, s, s + 1 == hi);
            delivered_to = s + 1;
        }
        if valid_from > next {
            polled.lost = valid_from - next;
            polled.lost_from = next;
            self.lost += polled.lost;
            self.entry().lost().store(self.lost, Ordering::Release);
        }
        // Step 5.
        let cursor = delivered_to.max(valid_from);
        if cursor > next {
            self.stuck = None;
            self.release_to(cursor, polled.gaps);
            return Ok(polled);
        }
        self.nothing_available()?;
        polled.ended = self.ended_now();
        Ok(polled)
    }
}

impl<T> Consumer<T> {
    /// Spec 5.7 for a consumer whose payload the caller checked (check 13, and 14 if framed).
    fn register_entry(seg: &Segment, opts: &ConsumerOptions) -> Result<Self> {
        let name = opts.name.as_bytes();
        if name.is_empty() || name.len() > l::MAX_CONSUMER_NAME {
            return Err(Error::InvalidArgument(
                "consumer name must be 1 to 48 bytes".into(),
            ));
        }
        let reg = seg.geometry().registry_capacity as usize;
        if reg < 64 && opts.depends_on >> reg != 0 {
            return Err(Error::InvalidArgument(
                "depends_on names a missing entry".into(),
            ));
        }
        let r = seg.register_consumer(&Request {
            name,
            required: opts.required,
            depends_on: opts.depends_on,
            oldest: opts.start == Start::Oldest,
        })?;
        let e = seg.entry(r.index);
        Ok(Consumer {
            seg: seg.clone(),
            index: r.index,
            generation: r.generation,
            me: process::own_identity(),
            next: r.cursor,
            required: opts.required,
            depends_on: opts.depends_on,
            // Zero for a fresh registration; a takeover carries the dead owner's counts on.
            lost: e.lost().load(Ordering::Acquire),
            gaps_seen: e.gaps_seen().load(Ordering::Acquire),
            stall: opts.stall_timeout,
            stuck: None,
            liveness_checked: Instant::now(),
            open: true,
            // Spec 5.6: registered (with the barrier F3) before its first kernel wait.
            blocking: Blocking::new(opts.wait_strategy),
            buf: vec![0u8; seg.geometry().event.size as usize],
            pending: Vec::new(),
            polls: 0,
            frames: None,
            _event: PhantomData,
        })
    }
    /// Does the first step of a takeover (spec 5.7: the compare-and-swap of `owner` from the
    /// dead owner to this process) of the active entry named `opts.name`, and stops there, as a
    /// taker killed midway would; returns the entry's generation (unchanged: it stops before the
    /// generation bump, and the entry never leaves the active state). A test fixture (feature
    /// `conformance`), not part of the API.
    #[cfg(any(test, feature = "conformance"))]
    #[doc(hidden)]
    pub fn begin_takeover(seg: &Segment, opts: &ConsumerOptions) -> Result<u32> {
        let (_, e, st) = seg
            .entries_named(opts.name.as_bytes())
            .find(|(_, _, st)| l::state_value(*st) == l::ENTRY_ACTIVE)
            .ok_or(Error::NotFound)?;
        let o = e.owner().load(Ordering::SeqCst);
        if !process::owner_dead(o)
            || e.owner()
                .compare_exchange(
                    o,
                    process::own_identity(),
                    Ordering::SeqCst,
                    Ordering::SeqCst,
                )
                .is_err()
        {
            return Err(Error::DuplicateName);
        }
        Ok(l::state_gen(st))
    }

    /// Does spec 5.7 steps 2 to 4 for `opts` and stops there: the entry is active, owned by
    /// this process, with `flags` bit 1 (starting) set, as a registration that has not chosen
    /// its start yet leaves it; returns its index. A test fixture (feature `conformance`), not
    /// part of the API.
    #[cfg(any(test, feature = "conformance"))]
    #[doc(hidden)]
    pub fn begin_register(seg: &Segment, opts: &ConsumerOptions) -> Result<usize> {
        seg.register_through_step4(&Request {
            name: opts.name.as_bytes(),
            required: opts.required,
            depends_on: opts.depends_on,
            oldest: opts.start == Start::Oldest,
        })
    }

    /// Registry index of this consumer's entry.
    pub fn index(&self) -> usize {
        self.index
    }

    /// Generation of this consumer's entry (bits 8-31 of its `state`).
    pub fn generation(&self) -> u32 {
        self.generation
    }

    /// The count of sequences this consumer has finished with.
    pub fn cursor(&self) -> u64 {
        self.next
    }

    /// Total events lost to lapping (optional consumers only).
    pub fn lost(&self) -> u64 {
        self.lost
    }

    /// Total gaps this consumer passed over (its entry's `gaps_seen`).
    pub fn gaps_seen(&self) -> u64 {
        self.gaps_seen
    }

    /// The segment read.
    pub fn segment(&self) -> &Segment {
        &self.seg
    }

    fn entry(&self) -> Entry<'_> {
        self.seg.entry(self.index)
    }

    /// Fails with `Evicted` if the entry is no longer ours (spec 5.5 step 4): its `state` is not
    /// active with our generation, or its `owner` is not our identity.
    fn check_owned(&self) -> Result<()> {
        if !self.open {
            return Err(Error::Evicted);
        }
        if !registry::owns(&self.entry(), self.generation, self.me) {
            // Spec 5.7: an owner that finds itself evicted clears the owner word if it still
            // holds it.
            self.seg.let_go(self.index, self.generation, self.me);
            return Err(Error::Evicted);
        }
        Ok(())
    }

    /// Stores a heartbeat (CLOCK_MONOTONIC ns). `poll` and `read` do this on their first call and
    /// every 64th, `wait` at least every 250 ms; a consumer that polls less often than once a
    /// second without waiting should call this itself (spec 8).
    pub fn heartbeat(&self) {
        self.entry()
            .heartbeat()
            .store(monotonic_ns(), Ordering::Release);
    }

    /// Highest available count, at most `next + max` (5.5 step 1).
    fn available(&self, max: u64) -> u64 {
        let seg = &self.seg;
        let stop = self.next.saturating_add(max);
        let mut hi = match seg.geometry().mode {
            ProducerMode::Single => seg.published().load(Ordering::Acquire).min(stop),
            ProducerMode::Multi => {
                let limit = seg.claimed_count().min(stop);
                let mut s = self.next;
                while s < limit && l::avail_marks(seg.availability(s).load(Ordering::Acquire), s) {
                    s += 1;
                }
                s
            }
        };
        for (_, d) in seg.dependencies(self.depends_on) {
            hi = hi.min(d.cursor().load(Ordering::Acquire));
        }
        hi
    }

    /// Whether a read would find something at `next`: an event or a gap; for a framed
    /// consumer, a gap, a whole frame, or a frame it must report corrupt (spec 11.3), not a
    /// frame whose sequences are not all published yet; for an optional consumer, also a lap.
    fn has_work(&self) -> bool {
        let next = self.next;
        if self.lapped() {
            // The read reports the loss (spec 5.10 step 4, 11.4): a lap ends the wait.
            return true;
        }
        let Some(g) = self.frames else {
            return self.available(1) > next;
        };
        let hi = self.available(u64::MAX);
        if hi <= next || self.is_gap(next) {
            return hi > next;
        }
        let h = self.seg.frame_header(next);
        if g.check(next, &h).is_err() {
            return true;
        }
        let end = next + u64::from(h.slots);
        end <= hi
            || self.seg.geometry().mode == ProducerMode::Single
            || end > self.seg.claimed_count()
    }

    /// Spec 5.10 step 3 at `next`: whether this optional consumer was lapped, `next + capacity`
    /// below the claimed count. Asked whether or not anything looks published at `next`: in
    /// multi mode a consumer lapped more than once finds a later round's availability word
    /// there, so `available` says nothing is, and only the claimed count tells. A required
    /// consumer gates the producers and is never lapped.
    fn lapped(&self) -> bool {
        !self.required && self.next + self.seg.geometry().capacity < self.seg.claimed_count()
    }

    /// Whether sequence `s` was passed over as a gap (multi mode; acquire).
    fn is_gap(&self, s: u64) -> bool {
        self.seg.geometry().mode == ProducerMode::Multi
            && self.seg.availability(s).load(Ordering::Acquire) == l::avail_gap(s)
    }

    /// Whether this consumer passes over dead producers' claims (spec 5.8): a required consumer
    /// of a multi-mode ring that depends on no other consumer (a dependant waits for its
    /// dependency, not for a claim).
    fn resolves_gaps(&self) -> bool {
        self.seg.geometry().mode == ProducerMode::Multi && self.required && self.depends_on == 0
    }

    /// Multi mode, required consumers: while the count says sequence `next` is claimed but it is
    /// not published, remembers since when; past the stall timeout, runs spec 5.8 on `next` and
    /// the sequences after it, one at a time, while each is resolved. Returns whether it passed
    /// any over (then `next` may be available).
    fn recover_stall(&mut self) -> bool {
        let seg = &self.seg;
        if !self.resolves_gaps() || self.next >= seg.count() {
            self.stuck = None;
            return false;
        }
        let now = Instant::now();
        match self.stuck {
            Some((s, since)) if s == self.next => {
                if now.duration_since(since) < self.stall {
                    return false;
                }
            }
            _ => {
                self.stuck = Some((self.next, now));
                if !self.stall.is_zero() {
                    return false;
                }
            }
        }
        // Other consumers waiting at the same sequences are woken if it passes any over.
        seg.pass_over(self.next, self.next + seg.geometry().capacity)
    }

    /// Spec 5.5 step 4, with nothing available (`next` is where this consumer waits): at most
    /// every 500 ms, checks the creator (`creator_pid`, `creator_start_time`) and, in multi
    /// mode, the owner of every producer entry whatever its state (one between attach steps 2
    /// and 3 is not active yet). When none is alive and `producer_state` is still open,
    /// re-reads `hi` once and, if nothing more is available, fails with `ProducerDead`. A
    /// required consumer first passes over a dead producer's claims (5.8).
    fn check_producers_alive(&mut self) -> Result<()> {
        if self.liveness_checked.elapsed() < LIVENESS_EVERY {
            return Ok(());
        }
        self.liveness_checked = Instant::now();
        let seg = &self.seg;
        if seg.stream_closed() || (self.resolves_gaps() && self.next < seg.count()) {
            return Ok(());
        }
        match seg.live_producer() {
            Some(_) => Ok(()),
            None if !seg.stream_closed() && self.available(1) <= self.next => {
                Err(Error::ProducerDead {
                    pid: seg.creator_pid(),
                })
            }
            None => Ok(()),
        }
    }

    /// Spec 5.5 step 2, before delivering each event (required consumers): the fence F4 keeps
    /// the event's loads before the loads of the entry's `state` and `owner`; if they are no
    /// longer this registration's, the consumer was evicted (5.7), its entry stopped gating at
    /// once and the producer may be reusing the batch's slots, so the event is discarded and
    /// this fails with `Evicted` (the cursor is not stored: the entry is no longer ours).
    #[inline]
    fn check_delivery(&self) -> Result<()> {
        fence(Ordering::Acquire);
        if registry::owns(&self.entry(), self.generation, self.me) {
            Ok(())
        } else {
            self.check_owned()
        }
    }

    /// The event bytes of sequence `s`, in place.
    fn slot_bytes(&self, s: u64) -> &[u8] {
        let size = self.seg.geometry().event.size as usize;
        self.seg.map().bytes(self.seg.slot_offset(s), size)
    }

    /// 5.5 steps 2 (end) and 3: counts `gaps` in `gaps_seen`, stores `cursor = hi` (release),
    /// then loads the blockers counts and wakes whoever may block.
    fn release_to(&mut self, hi: u64, gaps: u64) {
        if !registry::owns(&self.entry(), self.generation, self.me) {
            // Evicted (or taken over) during the batch: the entry's words are no longer ours to
            // store; the next call reports `Evicted`.
            return;
        }
        if gaps > 0 {
            self.gaps_seen += gaps;
            self.entry()
                .gaps_seen()
                .store(self.gaps_seen, Ordering::Release);
        }
        // 5.5 step 2: event bytes are not read after this store.
        self.entry().cursor().store(hi, Ordering::Release);
        self.next = hi;
        // 5.5 step 3: producers wait for room on the producer word, consumers that read behind
        // this one (`depends_on`) on the consumer word.
        wait::after_store(&self.seg, Words::BOTH);
    }

    /// The start of a poll: ownership, heartbeat. `Some(next..hi)` if something is available
    /// (5.5 step 1, with the stall recovery of 5.8); `None` if not, after checking poison and
    /// whether every producer is dead (5.5 step 4).
    fn poll_range(&mut self, max: usize) -> Result<Option<(u64, u64)>> {
        self.begin_poll()?;
        let max = max.max(1) as u64;
        let mut hi = self.available(max);
        if hi <= self.next && self.recover_stall() {
            hi = self.available(max);
        }
        if hi <= self.next {
            self.nothing_available()?;
            return Ok(None);
        }
        self.stuck = None;
        Ok(Some((self.next, hi)))
    }

    /// Ownership check and the periodic heartbeat at the start of every poll.
    fn begin_poll(&mut self) -> Result<()> {
        self.check_owned()?;
        if self.polls.is_multiple_of(HEARTBEAT_EVERY) {
            self.heartbeat();
        }
        self.polls = self.polls.wrapping_add(1);
        Ok(())
    }

    /// 5.5 step 4 with nothing available: poison first, then whether every producer is dead.
    fn nothing_available(&mut self) -> Result<()> {
        self.seg.check_poison()?;
        self.check_producers_alive()
    }

    /// 5.5 step 4: the stream has ended for this consumer if `producer_state` is 2 and `next`
    /// equals the producers' count (`published`, or the count bits of `claimed`), loaded after
    /// it. A consumer behind a slower dependency (`depends_on`) has not ended: it keeps waiting
    /// for the dependency's cursor, on the consumer word.
    fn ended_now(&self) -> bool {
        self.seg.stream_closed() && self.next == self.seg.count()
    }

    /// Blocks until something is available (an event or a gap), an optional consumer was lapped
    /// (the next poll reports the loss, spec 5.10: also when nothing looks published at its
    /// cursor), the stream has ended, the ring is poisoned, or `deadline` passes (`Timeout`). Woken by producers publishing, closing and
    /// poisoning, and by peers evicting or taking over this consumer (futex); re-checks at least
    /// every 20 ms, running the stall recovery of spec 5.8 (see [`Consumer::poll`]), storing a
    /// heartbeat at least every 250 ms and checking at least every 500 ms whether every producer
    /// is dead (`ProducerDead`, spec 5.5 step 4). Fails with `Evicted` as soon as the entry is
    /// no longer this consumer's. Wakeups may be spurious, so a following `poll` may still find
    /// nothing.
    pub fn wait(&mut self, deadline: Instant) -> Result<()> {
        let seg = self.seg.clone();
        // Lent out for the wait (the closure borrows `self`), put back before returning.
        let mut blocking = std::mem::replace(&mut self.blocking, Blocking::new(WaitStrategy::Spin));
        let mut last_beat = Instant::now();
        let ready = wait::wait_until(
            seg.consumer_waiters(),
            seg.consumer_wake(),
            seg.consumer_blockers(),
            &mut blocking,
            deadline,
            || {
                // Spec 5.6 step 3: the registration, the condition, poison and the end of the
                // stream (not merely the close: a stage behind a slower one still waits for it).
                self.check_owned()?;
                if last_beat.elapsed() >= crate::producer::HEARTBEAT_WHILE_WAITING {
                    last_beat = Instant::now();
                    self.heartbeat();
                }
                if self.has_work() || self.ended_now() || seg.is_poisoned() || self.recover_stall()
                {
                    return Ok(true);
                }
                self.check_producers_alive()?;
                Ok(false)
            },
        );
        self.blocking = blocking;
        if ready? {
            Ok(())
        } else {
            self.heartbeat();
            Err(Error::Timeout)
        }
    }

    /// Deregisters (spec 5.7): compare-and-swap of the entry's `state` from active (its
    /// generation) to closed, then an unconditional wake of the producer word. `Evicted` if the
    /// entry was no longer this consumer's (it is then left alone).
    pub fn close(mut self) -> Result<()> {
        self.close_inner()
    }

    /// Leaves the entry active without deregistering, as if this process had died (for tests
    /// and tools). Its cursor keeps gating the producer until the entry is evicted or taken over.
    /// Its registration in `consumer_blockers` is left behind too, as a crashed process leaves
    /// it (spec 5.6: that only costs wakers their fast path).
    #[cfg(any(test, feature = "conformance"))]
    pub(crate) fn abandon(mut self) {
        self.open = false;
        self.blocking.leak();
    }

    fn close_inner(&mut self) -> Result<()> {
        let was_open = std::mem::replace(&mut self.open, false);
        self.blocking.release(self.seg.consumer_blockers());
        if was_open && self.seg.deregister(self.index, self.generation, self.me) {
            Ok(())
        } else {
            Err(Error::Evicted)
        }
    }
}

impl<T> Drop for Consumer<T> {
    fn drop(&mut self) {
        if self.open {
            let _ = self.close_inner();
        }
        self.blocking.release(self.seg.consumer_blockers());
    }
}

/// Sequences `first..end` lent in place by [`Consumer::read`] (zero-copy). Borrows the consumer
/// mutably, so nothing else reads or moves its cursor meanwhile; the slots stay valid (the
/// producer is gated) until the batch is dropped or [`Batch::release`]d, which stores the
/// cursor at `end` and wakes waiters (spec 5.5 steps 2-3). Not safe for concurrent use.
pub struct Batch<'a, T: Event> {
    consumer: &'a mut Consumer<T>,
    first: u64,
    end: u64,
    gaps: u64,
    ended: bool,
}

impl<T: Event> Batch<'_, T> {
    /// First sequence of the batch.
    pub fn first(&self) -> u64 {
        self.first
    }

    /// One past the last sequence of the batch (the cursor after release).
    pub fn end(&self) -> u64 {
        self.end
    }

    /// Number of sequences (events and gaps).
    pub fn len(&self) -> usize {
        (self.end - self.first) as usize
    }

    /// Whether nothing was available.
    pub fn is_empty(&self) -> bool {
        self.end == self.first
    }

    /// Gaps in the batch (multi mode, spec 5.8); counted in `gaps_seen` on release.
    pub fn gaps(&self) -> u64 {
        self.gaps
    }

    /// With an empty batch: the producer closed and every published event has been read.
    pub fn ended(&self) -> bool {
        self.ended
    }

    /// The event bytes of sequence `s` in place (`event_size` bytes, little-endian as the
    /// descriptor says), or `None` for a gap. Panics if `s` is outside the batch.
    ///
    /// Does not check the registration: if this consumer is evicted (spec 5.7), its entry stops
    /// gating at once and the slot may be rewritten under the caller. [`Batch::try_bytes`] checks
    /// it before lending the slot, [`Batch::get`] after decoding (spec 5.5 step 2).
    pub fn bytes(&self, s: u64) -> Option<&[u8]> {
        assert!(
            (self.first..self.end).contains(&s),
            "sequence {s} outside batch"
        );
        (self.gaps == 0 || !self.consumer.is_gap(s)).then(|| self.consumer.slot_bytes(s))
    }

    /// [`Batch::bytes`], after checking that the entry is still this consumer's: `Evicted` if
    /// not (the slot may be in reuse). A slot lent before an eviction may still change under the
    /// caller (spec 5.5 step 2).
    pub fn try_bytes(&self, s: u64) -> Result<Option<&[u8]>> {
        let b = self.bytes(s);
        self.consumer.check_delivery()?;
        Ok(b)
    }

    /// Sequence `s` decoded, or [`Item::Gap`]. Panics if `s` is outside the batch. Checks the
    /// registration after the decode (fence F4, spec 5.5 step 2): `Evicted` if the entry is no
    /// longer this consumer's, since the slot may then be in reuse and the copy torn.
    pub fn get(&self, s: u64) -> Result<Item<T>> {
        let item = self
            .bytes(s)
            .map_or(Item::Gap, |b| Item::Event(T::decode(b)));
        self.consumer.check_delivery()?;
        Ok(item)
    }

    /// Every sequence of the batch with its item, in order, as [`Batch::get`] returns it: once
    /// the consumer is evicted, every further item is `Err(Evicted)`.
    pub fn iter(&self) -> impl Iterator<Item = (u64, Result<Item<T>>)> + '_ {
        (self.first..self.end).map(|s| (s, self.get(s)))
    }

    /// Releases the slots now: stores the cursor at [`Batch::end`] and wakes (same as drop).
    pub fn release(self) {}
}

impl<T: Event> Drop for Batch<'_, T> {
    fn drop(&mut self) {
        if self.end > self.first {
            self.consumer.release_to(self.end, self.gaps);
        }
    }
}
