//! Publishing events: single-producer (spec 5.3) and multi-producer (spec 5.4).

use std::marker::PhantomData;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use crate::atomics::monotonic_ns;
use crate::error::{Error, Result};
use crate::event::{Event, EventType};
use crate::layout as l;
use crate::process;
use crate::segment::{check_event_type, Backing, Config, ProducerMode, Segment};
use crate::wait;

/// How often a producer waiting for room looks for dead consumers to evict.
const EVICT_SCAN: Duration = Duration::from_millis(100);

/// A producer of events of type `T`. Not safe for concurrent use (`&mut self`); in multi mode
/// use one `Producer` per thread or process.
pub struct Producer<T: Event> {
    seg: Segment,
    /// Single mode: private `next` (the count claimed so far).
    next: u64,
    /// Cached gating bound (minimum cursor of the active required consumers).
    bound: u64,
    /// The creator closes the segment (`producer_state = 2`) on close or drop.
    creator: bool,
    closed: bool,
    timeout: Duration,
    buf: Vec<u8>,
    _event: PhantomData<T>,
}

impl<T: Event> Producer<T> {
    /// Creates a segment for `T` (spec 5.1) and returns its producer (the creator).
    pub fn create(backing: Backing<'_>, cfg: &Config) -> Result<Self> {
        let seg = Segment::create(backing, cfg, &EventType::of::<T>()?)?;
        Ok(Self::new(seg, true))
    }

    /// Joins an existing multi-producer segment as one more producer. Checks the event type
    /// (spec 5.2 check 13); a single-producer segment is refused with `BadProducerMode`.
    pub fn attach(seg: &Segment) -> Result<Self> {
        check_event_type(seg.geometry(), &EventType::of::<T>()?)?;
        if seg.geometry().mode != ProducerMode::Multi {
            return Err(Error::BadProducerMode {
                mode: l::MODE_SINGLE,
            });
        }
        Ok(Self::new(seg.clone(), false))
    }

    fn new(seg: Segment, creator: bool) -> Self {
        let next = seg.claimed().load(Ordering::Acquire);
        let size = seg.geometry().event.size as usize;
        Producer {
            seg,
            next,
            bound: 0,
            creator,
            closed: false,
            timeout: Duration::from_secs(20),
            buf: vec![0u8; size],
            _event: PhantomData,
        }
    }

    /// The segment this producer writes.
    pub fn segment(&self) -> &Segment {
        &self.seg
    }

    /// How long one publish call may wait for room before failing with `Timeout` (default 20 s).
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.timeout = timeout;
    }

    /// Publishes one event. Blocks while the ring is full (see [`Producer::publish_batch`]).
    pub fn publish(&mut self, event: &T) -> Result<()> {
        self.publish_batch(std::slice::from_ref(event))
    }

    /// Publishes `events` in order, in chunks of at most `capacity`. Blocks while the ring is
    /// full: woken by consumers moving their cursors (futex), re-checking at least every 20 ms,
    /// evicting required consumers whose owner process is dead; fails with `Timeout` when one
    /// chunk found no room for the configured timeout.
    pub fn publish_batch(&mut self, events: &[T]) -> Result<()> {
        if self.closed {
            return Err(Error::InvalidArgument("producer is closed".into()));
        }
        let cap = self.seg.geometry().capacity as usize;
        for chunk in events.chunks(cap) {
            match self.seg.geometry().mode {
                ProducerMode::Single => self.publish_single(chunk)?,
                ProducerMode::Multi => self.publish_multi(chunk)?,
            }
        }
        Ok(())
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
            let pid = e.u32(l::ENT_OWNER_PID).load(Ordering::Relaxed);
            let start = e.u64(l::ENT_OWNER_START_TIME).load(Ordering::Relaxed);
            if process::is_dead(pid, start) {
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

    /// Ensures `end - capacity <= bound`, waiting for room (5.3 step 1, 5.6).
    fn wait_for_room(&mut self, end: u64) -> Result<()> {
        let cap = self.seg.geometry().capacity;
        if end.saturating_sub(cap) <= self.bound {
            return Ok(());
        }
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
            Instant::now() + self.timeout,
            || {
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

    fn write_slots(&mut self, first: u64, events: &[T]) {
        for (i, ev) in events.iter().enumerate() {
            ev.encode(&mut self.buf);
            let off = self.seg.slot_offset(first + i as u64);
            self.seg.map().copy_in(off, &self.buf);
        }
    }

    fn after_publish(&self) {
        self.seg
            .producer_heartbeat()
            .store(monotonic_ns(), Ordering::Release);
        // 5.3 step 5; the publishing store before this was seq-cst.
        wait::wake(self.seg.consumer_waiters(), self.seg.consumer_wake());
    }

    fn publish_single(&mut self, events: &[T]) -> Result<()> {
        let end = match self.next.checked_add(events.len() as u64) {
            Some(end) if end <= l::MAX_SEQUENCE => end,
            _ => return Err(Error::SequenceExhausted),
        };
        self.wait_for_room(end)?;
        self.seg.claimed().store(end, Ordering::Release);
        let first = self.next;
        self.write_slots(first, events);
        // Releases the slot writes above; seq-cst so it is ordered before the waiters load.
        self.seg.published().store(end, Ordering::SeqCst);
        self.after_publish();
        self.next = end;
        Ok(())
    }

    fn publish_multi(&mut self, events: &[T]) -> Result<()> {
        let n = events.len() as u64;
        let first = loop {
            let c = self.seg.claimed().load(Ordering::SeqCst);
            let end = match c.checked_add(n) {
                Some(end) if end <= l::MAX_SEQUENCE => end,
                _ => return Err(Error::SequenceExhausted),
            };
            self.wait_for_room(end)?;
            if self
                .seg
                .claimed()
                .compare_exchange(c, end, Ordering::SeqCst, Ordering::SeqCst)
                .is_ok()
            {
                break c;
            }
        };
        self.write_slots(first, events);
        for s in first..first + n {
            // Releases the slot write of `s`; seq-cst for the last one's order before the
            // waiters load of 5.3 step 5.
            self.seg.availability(s).store(s + 1, Ordering::SeqCst);
        }
        self.after_publish();
        Ok(())
    }

    /// Closes the producer; later publishes fail. The creator stores `producer_state = 2` (release) and wakes
    /// consumers; an attached multi-mode producer only detaches.
    pub fn close(&mut self) {
        self.close_inner();
    }

    fn close_inner(&mut self) {
        if self.closed {
            return;
        }
        self.closed = true;
        if self.creator {
            self.seg
                .producer_state()
                .store(l::PRODUCER_CLOSED, Ordering::SeqCst);
            wait::wake(self.seg.consumer_waiters(), self.seg.consumer_wake());
        }
    }
}

impl<T: Event> Drop for Producer<T> {
    fn drop(&mut self) {
        self.close_inner();
    }
}
