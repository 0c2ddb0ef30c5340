//! Registering (spec 5.7) and consuming (spec 5.5), passing over gaps (5.8) and stopping at a
//! poisoned ring (5.9).

use std::marker::PhantomData;
use std::sync::atomic::{fence, Ordering};
use std::time::{Duration, Instant};

use crate::atomics::monotonic_ns;
use crate::error::{Error, Result};
use crate::event::{Event, EventType};
use crate::layout as l;
use crate::process;
use crate::segment::{check_event_type, Entry, ProducerMode, Segment};
use crate::wait::{self, Blocker, WaitMode};

/// Where a new consumer starts reading (spec 5.7 step 4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Start {
    /// At the current count: only events published from now on.
    Latest,
    /// At the lowest cursor of the other active required consumers, if lower (never below
    /// `count - capacity`).
    Oldest,
}

/// How to register a consumer.
#[derive(Debug, Clone)]
pub struct ConsumerOptions {
    /// Name, 1 to 48 bytes, unique among active entries.
    pub name: String,
    /// A required consumer gates the producer; an optional one can be lapped and lose events.
    pub required: bool,
    /// Start position.
    pub start: Start,
    /// Bit i set: read behind registry entry i instead of behind the producer alone.
    pub depends_on: u64,
    /// Multi mode, required consumers: how long to wait at a claimed but unpublished sequence
    /// before looking for a dead producer's claim to pass over (spec 5.8). Default 1 s.
    pub stall_timeout: Duration,
    /// How [`Consumer::wait`] waits. [`WaitMode::Block`] (the default) counts this consumer in
    /// the header's `consumer_blockers` from registration to close or drop (spec 5.6), which
    /// makes every producer and dependency do the seq-cst wake handshake;
    /// [`WaitMode::Spin`] never blocks in the kernel and leaves the count alone.
    pub wait: WaitMode,
}

/// Default [`ConsumerOptions::stall_timeout`].
pub const DEFAULT_STALL_TIMEOUT: Duration = Duration::from_secs(1);

impl ConsumerOptions {
    /// A required consumer named `name`, starting at the oldest unconsumed event.
    pub fn required(name: &str) -> Self {
        ConsumerOptions {
            name: name.to_string(),
            required: true,
            start: Start::Oldest,
            depends_on: 0,
            stall_timeout: DEFAULT_STALL_TIMEOUT,
            wait: WaitMode::Block,
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
    /// Events lost in this poll because the producer lapped this optional consumer.
    pub lost: u64,
    /// The producer closed and every published event has been read.
    pub ended: bool,
}

/// A registered consumer of events of type `T`. Not safe for concurrent use (`&mut self`).
/// Dropping it deregisters (state closed) and leaves `consumer_blockers` (if it had joined it).
pub struct Consumer<T: Event> {
    seg: Segment,
    index: usize,
    generation: u64,
    next: u64,
    required: bool,
    depends_on: u64,
    lost: u64,
    gaps_seen: u64,
    stall: Duration,
    /// The sequence this consumer is waiting at in multi mode, and since when.
    stuck: Option<(u64, Instant)>,
    open: bool,
    /// Registration in `consumer_blockers` ([`WaitMode::Block`] on Linux), until close or drop.
    blocker: Option<Blocker>,
    buf: Vec<u8>,
    pending: Vec<Item<T>>,
    /// Calls of `poll_range`, for a heartbeat every [`HEARTBEAT_EVERY`] of them.
    polls: u64,
    _event: PhantomData<T>,
}

/// `poll` and `read` store a heartbeat on every this many calls (a clock read costs about as much
/// as the rest of a one-event poll), and `wait` whenever it times out.
const HEARTBEAT_EVERY: u64 = 64;

/// Writes the owner fields of an entry this process has just won (spec 5.7 step 2, or step 5
/// without the name). The start time is stored before the pid (release, paired with the acquire
/// load in [`owner_dead`]), so a peer that sees the new pid also sees its start time and never
/// judges a live taker dead.
fn write_owner(e: &Entry<'_>, opts: &ConsumerOptions, name: bool) {
    let pid = process::current_pid();
    e.u32(l::ENT_FLAGS).store(
        if opts.required { l::FLAG_REQUIRED } else { 0 },
        Ordering::Relaxed,
    );
    e.u64(l::ENT_OWNER_START_TIME)
        .store(process::start_time(pid), Ordering::Relaxed);
    e.u32(l::ENT_OWNER_PID).store(pid, Ordering::Release);
    if name {
        e.write_name(opts.name.as_bytes());
    }
    e.u64(l::ENT_DEPENDS_ON)
        .store(opts.depends_on, Ordering::Relaxed);
    e.u64(l::ENT_HEARTBEAT_NS)
        .store(monotonic_ns(), Ordering::Release);
}

/// Whether the owner process of a consumer entry is dead (spec section 8).
pub(crate) fn owner_dead(e: &Entry<'_>) -> bool {
    let pid = e.u32(l::ENT_OWNER_PID).load(Ordering::Acquire);
    let start = e.u64(l::ENT_OWNER_START_TIME).load(Ordering::Relaxed);
    process::is_dead(pid, start)
}

/// Spec 5.7 step 5, up to the re-load: takes over the active entry `e` named `name` if its
/// owner is dead, without the entry ever leaving the active state (it keeps gating the producer
/// even if this process dies midway). Ownership passes by the compare-and-swap of `generation`
/// from `g` (read before the liveness check) to `g + 1`; the winner rewrites the owner fields,
/// keeping `name`, `cursor`, `lost` and `gaps_seen`. Returns `g + 1`, or `DuplicateName` if the
/// owner is alive or another taker won the compare-and-swap.
fn begin_takeover(e: &Entry<'_>, opts: &ConsumerOptions) -> Result<u64> {
    let gen = e.u64(l::ENT_GENERATION);
    let g = gen.load(Ordering::SeqCst);
    if e.state().load(Ordering::SeqCst) != l::ENTRY_ACTIVE
        || e.name_bytes() != opts.name.as_bytes()
        || !owner_dead(e)
        || gen
            .compare_exchange(g, g.wrapping_add(1), Ordering::SeqCst, Ordering::SeqCst)
            .is_err()
    {
        return Err(Error::DuplicateName);
    }
    write_owner(e, opts, false);
    Ok(g.wrapping_add(1))
}

impl<T: Event> Consumer<T> {
    /// Registers a consumer (spec 5.7) after checking the event type (5.2 check 13).
    ///
    /// Fails with `DuplicateName` if a live consumer is active under the same name (a dead one's
    /// entry is taken over, resuming at its cursor), or `RegistryFull`.
    pub fn register(seg: &Segment, opts: &ConsumerOptions) -> Result<Self> {
        check_event_type(seg.geometry(), &EventType::of::<T>()?)?;
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
        // Step 5: a live duplicate refuses; a dead one is taken over.
        for (i, e) in seg.entries() {
            if e.state().load(Ordering::Acquire) != l::ENTRY_ACTIVE || e.name_bytes() != name {
                continue;
            }
            let mine = begin_takeover(&e, opts)?;
            // A taker that read `g + 1` before our owner fields were visible judged the old
            // (dead) owner and may have won the next CAS meanwhile: the re-load decides. An
            // entry evicted meanwhile is not ours either.
            if e.u64(l::ENT_GENERATION).load(Ordering::SeqCst) != mine {
                return Err(Error::DuplicateName);
            }
            if e.state().load(Ordering::SeqCst) != l::ENTRY_ACTIVE {
                return Err(Error::Evicted);
            }
            let next = e.cursor().load(Ordering::Acquire);
            return Ok(Self::new(seg, i, mine, next, opts));
        }
        // Step 1.
        let (index, e) = seg
            .entries()
            .find(|(_, e)| {
                let s = e.state().load(Ordering::Acquire);
                matches!(s, l::ENTRY_FREE | l::ENTRY_CLOSED | l::ENTRY_EVICTED)
                    && e.state()
                        .compare_exchange(s, l::ENTRY_CLAIMING, Ordering::SeqCst, Ordering::SeqCst)
                        .is_ok()
            })
            .ok_or(Error::RegistryFull)?;
        // Step 2.
        let generation = e
            .u64(l::ENT_GENERATION)
            .load(Ordering::Relaxed)
            .wrapping_add(1);
        e.u64(l::ENT_GENERATION)
            .store(generation, Ordering::Relaxed);
        write_owner(&e, opts, true);
        e.u64(l::ENT_LOST).store(0, Ordering::Release);
        e.u64(l::ENT_GAPS_SEEN).store(0, Ordering::Release);
        let provisional = seg.count();
        e.cursor().store(provisional, Ordering::Release);
        // Step 3.
        e.state().store(l::ENTRY_ACTIVE, Ordering::SeqCst);
        // Two racing registrations of one name: both are active now and each scans after its own
        // store (seq-cst), so at least one sees the other; any that sees one backs off.
        let dup = seg.entries().any(|(j, o)| {
            j != index
                && o.state().load(Ordering::SeqCst) == l::ENTRY_ACTIVE
                && o.name_bytes() == name
        });
        if dup {
            e.state().store(l::ENTRY_CLOSED, Ordering::SeqCst);
            return Err(Error::DuplicateName);
        }
        // Step 4.
        let count = seg.count();
        let cursor = match opts.start {
            Start::Latest => count,
            Start::Oldest => {
                let floor = count.saturating_sub(seg.geometry().capacity);
                let lowest = seg
                    .entries()
                    .filter(|(j, o)| {
                        *j != index
                            && o.state().load(Ordering::SeqCst) == l::ENTRY_ACTIVE
                            && o.flags() & l::FLAG_REQUIRED != 0
                    })
                    .map(|(_, o)| o.cursor().load(Ordering::SeqCst))
                    .min()
                    .unwrap_or(provisional);
                lowest.min(provisional).max(floor)
            }
        };
        e.cursor().store(cursor, Ordering::SeqCst);
        Ok(Self::new(seg, index, generation, cursor, opts))
    }

    /// Does the first half of a takeover (spec 5.7 step 5: the compare-and-swap of
    /// `generation` and the owner fields) of the active entry named `opts.name`, and stops there,
    /// as a taker killed midway would; returns the new generation. For tests and tools.
    #[doc(hidden)]
    pub fn begin_takeover(seg: &Segment, opts: &ConsumerOptions) -> Result<u64> {
        let name = opts.name.as_bytes();
        let (_, e) = seg
            .entries()
            .find(|(_, e)| {
                e.state().load(Ordering::Acquire) == l::ENTRY_ACTIVE && e.name_bytes() == name
            })
            .ok_or(Error::NotFound)?;
        begin_takeover(&e, opts)
    }

    fn new(
        seg: &Segment,
        index: usize,
        generation: u64,
        next: u64,
        opts: &ConsumerOptions,
    ) -> Self {
        Consumer {
            seg: seg.clone(),
            index,
            generation,
            next,
            required: opts.required,
            depends_on: opts.depends_on,
            // Zero for a fresh registration; a takeover carries the dead owner's counts on.
            lost: seg.entry(index).u64(l::ENT_LOST).load(Ordering::Acquire),
            gaps_seen: seg
                .entry(index)
                .u64(l::ENT_GAPS_SEEN)
                .load(Ordering::Acquire),
            stall: opts.stall_timeout,
            stuck: None,
            open: true,
            // Spec 5.6: counted before it can ever block in the kernel. Without a futex a
            // waiter only sleeps, so it needs no wake and is not counted.
            blocker: (opts.wait == WaitMode::Block && cfg!(target_os = "linux"))
                .then(|| Blocker::register(seg.consumer_blockers())),
            buf: vec![0u8; seg.geometry().event.size as usize],
            pending: Vec::new(),
            polls: 0,
            _event: PhantomData,
        }
    }

    /// Registry index of this consumer's entry.
    pub fn index(&self) -> usize {
        self.index
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

    /// Fails with `Evicted` if the entry is no longer ours (spec 5.7, last paragraph).
    fn check_owned(&self) -> Result<()> {
        let e = self.entry();
        if !self.open
            || e.state().load(Ordering::Acquire) != l::ENTRY_ACTIVE
            || e.u64(l::ENT_GENERATION).load(Ordering::Relaxed) != self.generation
        {
            return Err(Error::Evicted);
        }
        Ok(())
    }

    /// Stores a heartbeat (CLOCK_MONOTONIC ns). `poll` and `read` do this on their first call and
    /// every 64th; a consumer that polls less often than its producer's stall timeout allows
    /// should call this itself.
    pub fn heartbeat(&self) {
        self.entry()
            .u64(l::ENT_HEARTBEAT_NS)
            .store(monotonic_ns(), Ordering::Release);
    }

    /// Highest available count, at most `next + max` (5.5 step 1).
    fn available(&self, max: u64) -> u64 {
        let seg = &self.seg;
        let stop = self.next.saturating_add(max);
        let mut hi = match seg.geometry().mode {
            ProducerMode::Single => seg.published().load(Ordering::SeqCst).min(stop),
            ProducerMode::Multi => {
                let limit = (seg.claimed().load(Ordering::SeqCst) & l::COUNT_MASK).min(stop);
                let mut s = self.next;
                while s < limit
                    && seg.availability(s).load(Ordering::SeqCst) & !l::AVAIL_GAP == s + 1
                {
                    s += 1;
                }
                s
            }
        };
        let reg = seg.geometry().registry_capacity as usize;
        for i in (0..reg).filter(|i| self.depends_on >> i & 1 == 1) {
            hi = hi.min(seg.entry(i).cursor().load(Ordering::SeqCst));
        }
        hi
    }

    /// Whether sequence `s` was passed over as a gap (multi mode; acquire).
    fn is_gap(&self, s: u64) -> bool {
        self.seg.geometry().mode == ProducerMode::Multi
            && self.seg.availability(s).load(Ordering::Acquire) == (s + 1) | l::AVAIL_GAP
    }

    /// Multi mode, required consumers: while the count says sequence `next` is claimed but it is
    /// not published, remembers since when; past the stall timeout, runs the dead-claim recovery
    /// of spec 5.8. Returns whether it marked any gap (then `next` may be available).
    fn recover_stall(&mut self) -> bool {
        let seg = &self.seg;
        if seg.geometry().mode != ProducerMode::Multi
            || !self.required
            || self.depends_on != 0
            || self.next >= seg.claimed().load(Ordering::SeqCst) & l::COUNT_MASK
        {
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
        if seg.pass_over_dead_claims(self.next) == 0 {
            return false;
        }
        // Other consumers waiting at the same sequence can go on too.
        wait::wake(seg.consumer_waiters(), seg.consumer_wake());
        true
    }

    /// Reads what is available, at most `max` sequences, handing each to `handler(item,
    /// sequence, end_of_batch)`: an [`Item::Event`], or an [`Item::Gap`] for a sequence passed
    /// over (spec 5.8; counted in `gaps_seen`). The last item of the batch has `end_of_batch`
    /// true. Then stores the cursor (releasing the slots) and wakes a waiting producer. Never
    /// blocks.
    ///
    /// With nothing available: `Polled::ended` if the producer closed (5.5 step 4), or
    /// `Err(Poisoned)` with the record if the ring is poisoned (5.9), checked first. A required
    /// consumer of a multi-mode ring stuck at a claimed sequence for longer than its stall
    /// timeout passes over a dead producer's claim here (5.8).
    pub fn poll(
        &mut self,
        max: usize,
        mut handler: impl FnMut(Item<T>, u64, bool),
    ) -> Result<Polled> {
        let Some((_, hi)) = self.poll_range(max)? else {
            return Ok(Polled {
                ended: self.ended_now(),
                ..Polled::default()
            });
        };
        let mut polled = Polled::default();
        if self.required {
            for s in self.next..hi {
                let item = if self.is_gap(s) {
                    polled.gaps += 1;
                    Item::Gap
                } else {
                    polled.delivered += 1;
                    // A required consumer gates the producer: the slot is stable until the
                    // cursor store below, so it is decoded in place.
                    Item::Event(T::decode(self.slot_bytes(s)))
                };
                handler(item, s, s + 1 == hi);
            }
        } else {
            polled = self.poll_optional(hi, &mut handler);
        }
        self.release_to(hi, polled.gaps);
        Ok(polled)
    }

    /// The event bytes of sequence `s`, in place.
    fn slot_bytes(&self, s: u64) -> &[u8] {
        let size = self.seg.geometry().event.size as usize;
        self.seg.map().bytes(self.seg.slot_offset(s), size)
    }

    /// 5.5 steps 2 (end) and 3: counts `gaps` in `gaps_seen`, stores `cursor = hi` and wakes.
    fn release_to(&mut self, hi: u64, gaps: u64) {
        if gaps > 0 {
            self.gaps_seen += gaps;
            self.entry()
                .u64(l::ENT_GAPS_SEEN)
                .store(self.gaps_seen, Ordering::Release);
        }
        // 5.5 step 2: event bytes are not read after this store. While nobody blocks in the
        // kernel it is a release store and the handshake is skipped (spec 5.6); otherwise it is
        // seq-cst, ordered before the waiters loads of step 3.
        let pb = self.seg.producer_blockers().load(Ordering::Acquire);
        let cb = self.seg.consumer_blockers().load(Ordering::Acquire);
        self.entry().cursor().store(hi, wait::store_order(pb | cb));
        self.next = hi;
        // 5.5 step 3: producers wait for room on the producer word, consumers that read behind
        // this one (`depends_on`) on the consumer word.
        wait::wake_if(pb, self.seg.producer_waiters(), self.seg.producer_wake());
        wait::wake_if(cb, self.seg.consumer_waiters(), self.seg.consumer_wake());
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

    /// The start of `poll`: ownership, heartbeat, 5.5 step 1 with the stall recovery of 5.8.
    /// `Some(next..hi)` if something is available; `None` (after checking poison) if not.
    fn poll_range(&mut self, max: usize) -> Result<Option<(u64, u64)>> {
        self.check_owned()?;
        if self.polls.is_multiple_of(HEARTBEAT_EVERY) {
            self.heartbeat();
        }
        self.polls = self.polls.wrapping_add(1);
        let max = max.max(1) as u64;
        let mut hi = self.available(max);
        if hi <= self.next && self.recover_stall() {
            hi = self.available(max);
        }
        if hi <= self.next {
            self.seg.check_poison()?;
            return Ok(None);
        }
        self.stuck = None;
        Ok(Some((self.next, hi)))
    }

    /// 5.5 step 4, with nothing available: closed and nothing new on a second look.
    fn ended_now(&self) -> bool {
        self.seg.producer_closed() && self.available(1) <= self.next
    }

    /// An optional consumer does not gate the producer: copy first, then discard any event whose
    /// slot may have been reused meanwhile, and count it as lost.
    fn poll_optional(&mut self, hi: u64, handler: &mut impl FnMut(Item<T>, u64, bool)) -> Polled {
        let cap = self.seg.geometry().capacity;
        let mut from = self.next;
        let claimed = self.seg.claimed().load(Ordering::SeqCst) & l::COUNT_MASK;
        from = from.max(claimed.saturating_sub(cap)).min(hi);
        self.pending.clear();
        for s in from..hi {
            // A word of a later round is not a gap mark; such a sequence is discarded below.
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
        // The copies above must complete before `claimed` is re-read.
        fence(Ordering::Acquire);
        let claimed = self.seg.claimed().load(Ordering::SeqCst) & l::COUNT_MASK;
        let safe_from = from.max(claimed.saturating_sub(cap)).min(hi);
        let skip = (safe_from - from) as usize;
        let lost = safe_from - self.next;
        let mut gaps = 0;
        for (i, item) in self.pending.drain(..).enumerate().skip(skip) {
            let s = from + i as u64;
            gaps += u64::from(matches!(item, Item::Gap));
            handler(item, s, s + 1 == hi);
        }
        if lost > 0 {
            self.lost += lost;
            self.entry()
                .u64(l::ENT_LOST)
                .store(self.lost, Ordering::Release);
        }
        Polled {
            delivered: (hi - safe_from - gaps) as usize,
            gaps,
            lost,
            ended: false,
        }
    }

    /// Blocks until something is available (an event or a gap), the stream has ended, the ring
    /// is poisoned, or `deadline` passes (`Timeout`). Woken by producers publishing and by
    /// poisoning (futex); re-checks at least every 20 ms, running the stall recovery of spec 5.8
    /// (see [`Consumer::poll`]); wakeups may be spurious, so a following `poll` may still find
    /// nothing.
    pub fn wait(&mut self, deadline: Instant) -> Result<()> {
        let seg = self.seg.clone();
        // Lent out for the wait (the closure borrows `self`), put back before returning.
        let blocker = self.blocker.take();
        let ready = wait::wait_until(
            seg.consumer_waiters(),
            seg.consumer_wake(),
            blocker.as_ref(),
            deadline,
            || {
                self.check_owned()?;
                Ok(self.available(1) > self.next
                    || seg.producer_closed()
                    || seg.is_poisoned()
                    || self.recover_stall())
            },
        );
        self.blocker = blocker;
        if ready? {
            Ok(())
        } else {
            self.heartbeat();
            Err(Error::Timeout)
        }
    }

    /// Deregisters: stores `state = closed` if the entry is still ours, and wakes a producer
    /// waiting on this consumer's cursor.
    pub fn close(mut self) -> Result<()> {
        self.close_inner()
    }

    /// Leaves the entry active without deregistering, as if this process had died (for tests
    /// and tools). Its cursor keeps gating the producer until the entry is evicted or taken over.
    /// Its registration in `consumer_blockers` is left behind too, as a crashed process leaves
    /// it (spec 5.6: that only costs wakers their fast path).
    pub fn abandon(mut self) {
        self.open = false;
        if let Some(b) = self.blocker.as_mut() {
            b.leak();
        }
    }

    fn close_inner(&mut self) -> Result<()> {
        let owned = self.check_owned();
        self.open = false;
        if let Some(b) = self.blocker.as_mut() {
            b.release(self.seg.consumer_blockers());
        }
        owned?;
        self.entry()
            .state()
            .compare_exchange(
                l::ENTRY_ACTIVE,
                l::ENTRY_CLOSED,
                Ordering::SeqCst,
                Ordering::SeqCst,
            )
            .map_err(|_| Error::Evicted)?;
        wait::wake(self.seg.producer_waiters(), self.seg.producer_wake());
        Ok(())
    }
}

impl<T: Event> Drop for Consumer<T> {
    fn drop(&mut self) {
        if self.open {
            let _ = self.close_inner();
        }
        if let Some(b) = self.blocker.as_mut() {
            b.release(self.seg.consumer_blockers());
        }
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
    pub fn bytes(&self, s: u64) -> Option<&[u8]> {
        assert!(
            (self.first..self.end).contains(&s),
            "sequence {s} outside batch"
        );
        (self.gaps == 0 || !self.consumer.is_gap(s)).then(|| self.consumer.slot_bytes(s))
    }

    /// Sequence `s` decoded, or [`Item::Gap`]. Panics if `s` is outside the batch.
    pub fn get(&self, s: u64) -> Item<T> {
        self.bytes(s)
            .map_or(Item::Gap, |b| Item::Event(T::decode(b)))
    }

    /// Every sequence of the batch with its item, in order.
    pub fn iter(&self) -> impl Iterator<Item = (u64, Item<T>)> + '_ {
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
