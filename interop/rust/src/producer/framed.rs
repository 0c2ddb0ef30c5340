//! Publishing messages on a framed ring (spec 11.2): frames laid out from the claim's first
//! sequence, a PAD before a message that would cross the end of the slot array, one claim for
//! a batch, and claims of up to `m` bytes written in place.

use std::time::Duration;

use super::Producer;
use crate::error::{Error, Result};
use crate::frame::{FrameGeometry, FrameHeader, Frames};
use crate::segment::{Backing, Config, Segment};
use crate::wait::WaitStrategy;

/// A producer of variable-length messages on a framed ring (spec 11). Not safe for concurrent
/// use (`&mut self`); in multi mode use one per thread or process, each with its own producer
/// registry entry. Closing and dropping it behave as for [`Producer`]. Its blocking calls wait
/// for room as [`Producer::publish_batch`] does (woken by consumers' cursor moves, re-checking
/// at least every 20 ms, `Timeout` at the producer's timeout).
pub struct FramedProducer {
    inner: Producer<Frames>,
    frames: FrameGeometry,
}

/// Where the frames of a claim go (spec 11.2 step 2), laid out from its first sequence `first`:
/// for each message length, a PAD to the end of the array first if its frame would cross it.
/// Calls `frame(sequence, header)` for every frame in order and returns the claim's length.
fn lay_out(
    g: &FrameGeometry,
    first: u64,
    lens: impl Iterator<Item = u64>,
    mut frame: impl FnMut(u64, FrameHeader),
) -> u64 {
    let mut t = first;
    for len in lens {
        let k = g.slots_for(len);
        let i = t & (g.capacity - 1);
        if i + k > g.capacity {
            frame(t, FrameHeader::pad(t, (g.capacity - i) as u32));
            t += g.capacity - i;
        }
        frame(t, FrameHeader::message(t, len as u32, k as u32));
        t += k;
    }
    t - first
}

impl FramedProducer {
    /// Creates a framed ring (spec 5.1, 11.1; see [`Segment::create_framed`]) and returns its
    /// producer (the creator, producer entry 0, generation 1).
    pub fn create(backing: Backing<'_>, cfg: &Config) -> Result<Self> {
        let seg = Segment::create_framed(backing, cfg)?;
        let frames = seg.frame_geometry()?;
        Ok(FramedProducer {
            inner: Producer::new(seg, 0, 1, true),
            frames,
        })
    }

    /// Registers one more producer in an attached multi-producer framed ring: checks 13 and 14
    /// of spec 5.2 ([`Segment::frame_geometry`]: `PayloadKind` for a ring of fixed events,
    /// `FrameGeometry`), then takes a producer registry entry as [`Producer::register`] does.
    pub fn register(seg: &Segment) -> Result<Self> {
        let frames = seg.frame_geometry()?;
        Ok(FramedProducer {
            inner: Producer::register_entry(seg)?,
            frames,
        })
    }

    /// The ring's frame geometry (spec 11.1).
    pub fn frame_geometry(&self) -> FrameGeometry {
        self.frames
    }

    /// The ring's `max_message`: the longest message it takes.
    pub fn max_message(&self) -> usize {
        self.frames.max_message as usize
    }

    /// Publishes one message (spec 11.2). See [`FramedProducer::publish_batch`].
    pub fn publish(&mut self, message: &[u8]) -> Result<()> {
        self.publish_batch(&[message])
    }

    /// Publishes `messages` in order with one claim (spec 11.2): frames laid out from the
    /// claim's first sequence, a PAD before any message whose frame would cross the end of the
    /// slot array, each frame's header and payload written, then every sequence published.
    ///
    /// Refused before anything is claimed: a message longer than `max_message` (`TooLarge`),
    /// and a batch whose claim could exceed `capacity` sequences wherever it starts (its frames'
    /// slots plus the largest PAD it may need, one slot fewer than its largest frame:
    /// `InvalidArgument`). An empty batch publishes nothing. Blocks while the ring is full, as
    /// [`Producer::publish_batch`] (`Timeout`, `Poisoned`, `Closed`).
    pub fn publish_batch(&mut self, messages: &[&[u8]]) -> Result<()> {
        if messages.is_empty() {
            return Ok(());
        }
        let g = self.frames;
        let mut slots = 0u64;
        let mut largest = 0u64;
        for m in messages {
            self.check_len(m.len())?;
            let k = g.slots_for(m.len() as u64);
            slots += k;
            largest = largest.max(k);
        }
        if slots + largest - 1 > g.capacity {
            return Err(Error::InvalidArgument(format!(
                "a batch of {} messages needs up to {} sequences, more than the capacity {}",
                messages.len(),
                slots + largest - 1,
                g.capacity
            )));
        }
        let lens = || messages.iter().map(|m| m.len() as u64);
        // Multi mode: laid out again from each attempt's first sequence (spec 11.2 step 2).
        let (first, n) = self.inner.claim_at(|c| lay_out(&g, c, lens(), |_, _| {}))?;
        // Spec 11.2 step 4: every frame's header, and each message's payload.
        let seg = &self.inner.seg;
        let mut payloads = messages.iter();
        lay_out(&g, first, lens(), |t, h| {
            seg.write_frame_header(t, &h);
            if !h.is_pad() {
                let m = payloads.next().expect("one payload per message frame");
                seg.map()
                    .copy_in(seg.slot_offset(t) + g.header_len as usize, m);
            }
        });
        self.inner.publish_claimed(first, n);
        Ok(())
    }

    /// Claims the frame of a message of up to `max` bytes, to be written in place (spec 11.2):
    /// laid out for `max` bytes (after a PAD if it would cross the end of the array), with the
    /// message's frame header already written for `max` bytes. Fill
    /// [`MessageClaim::payload`], then [`MessageClaim::publish`] the bytes used, or
    /// [`MessageClaim::abandon`] it (dropping it abandons it too): either way every sequence
    /// claimed is published, nothing is poisoned or lost. `TooLarge` if `max` is over
    /// `max_message`, before anything is claimed. Blocks while the ring is full, as
    /// [`FramedProducer::publish_batch`].
    pub fn claim(&mut self, max: usize) -> Result<MessageClaim<'_>> {
        self.check_len(max)?;
        let g = self.frames;
        let (first, n) = self
            .inner
            .claim_at(|c| lay_out(&g, c, std::iter::once(max as u64), |_, _| {}))?;
        let mut seq = first;
        let seg = &self.inner.seg;
        lay_out(&g, first, std::iter::once(max as u64), |t, h| {
            seg.write_frame_header(t, &h);
            seq = t;
        });
        Ok(MessageClaim {
            producer: self,
            first,
            seq,
            n,
            max,
            done: false,
        })
    }

    fn check_len(&self, len: usize) -> Result<()> {
        if len > self.max_message() {
            return Err(Error::TooLarge {
                len,
                max_message: self.frames.max_message,
            });
        }
        Ok(())
    }

    /// The segment this producer writes.
    pub fn segment(&self) -> &Segment {
        self.inner.segment()
    }

    /// Index of this producer's entry in the producer registry.
    pub fn index(&self) -> usize {
        self.inner.index()
    }

    /// Generation of this producer's registry entry (bits 8-31 of its `state`).
    pub fn generation(&self) -> u32 {
        self.inner.generation()
    }

    /// As [`Producer::set_timeout`].
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.inner.set_timeout(timeout)
    }

    /// As [`Producer::set_stall_eviction`].
    pub fn set_stall_eviction(&mut self, timeout: Option<Duration>) -> Result<()> {
        self.inner.set_stall_eviction(timeout)
    }

    /// As [`Producer::set_wait_strategy`].
    pub fn set_wait_strategy(&mut self, strategy: WaitStrategy) {
        self.inner.set_wait_strategy(strategy)
    }

    /// As [`Producer::heartbeat`].
    pub fn heartbeat(&self) {
        self.inner.heartbeat()
    }

    /// As [`Producer::evict_dead_consumers`].
    pub fn evict_dead_consumers(&self) -> usize {
        self.inner.evict_dead_consumers()
    }

    /// As [`Producer::close`]: a registered producer leaves its entry; the creator ends the
    /// stream.
    pub fn close(&mut self) -> Result<()> {
        self.inner.close()
    }

    /// Forgets this producer without leaving its entry, as if its process had died outside a
    /// claim. For the golden images and tests.
    #[cfg(any(test, feature = "conformance"))]
    pub(crate) fn forget(mut self) {
        self.inner.forget();
    }
}

/// The frame of one message claimed by [`FramedProducer::claim`], lent in place for writing
/// (zero-copy). Borrows the producer mutably; no consumer reads it before it is published.
/// Dropping it unpublished abandons it (PADs, spec 11.2). Not safe for concurrent use.
pub struct MessageClaim<'a> {
    producer: &'a mut FramedProducer,
    /// First sequence of the claim (a PAD's, if the message goes to the next lap).
    first: u64,
    /// First sequence of the message's frame.
    seq: u64,
    /// Sequences claimed.
    n: u64,
    /// Bytes claimed for the payload.
    max: usize,
    done: bool,
}

impl MessageClaim<'_> {
    /// The sequence of the message's frame (its first slot).
    pub fn seq(&self) -> u64 {
        self.seq
    }

    /// Sequences claimed, a PAD before the message's frame included.
    pub fn claimed(&self) -> u64 {
        self.n
    }

    /// The payload bytes claimed (`max` of [`FramedProducer::claim`]).
    pub fn max_len(&self) -> usize {
        self.max
    }

    /// The payload in place: `max_len()` contiguous bytes starting 16-aligned (spec 11.1),
    /// holding whatever an earlier lap left.
    pub fn payload(&mut self) -> &mut [u8] {
        let seg = &self.producer.inner.seg;
        let at = seg.slot_offset(self.seq) + self.producer.frames.header_len as usize;
        seg.map().bytes_mut(at, self.max)
    }

    /// Publishes the first `used` bytes of the payload as the message (spec 11.2): its frame
    /// header for `used` bytes over the first `max(1, ceil((16 + used) / slot_size))` slots, a
    /// PAD over the claim's slots it leaves unused, then every sequence of the claim.
    /// `InvalidArgument` if `used` is over [`MessageClaim::max_len`]: the claim is then
    /// abandoned (PADs), not published as a message.
    pub fn publish(mut self, used: usize) -> Result<()> {
        if used > self.max {
            return Err(Error::InvalidArgument(format!(
                "{used} bytes used of a claim of {}",
                self.max
            )));
        }
        let g = self.producer.frames;
        let seg = &self.producer.inner.seg;
        let k = g.slots_for(used as u64);
        let claimed = g.slots_for(self.max as u64);
        seg.write_frame_header(
            self.seq,
            &FrameHeader::message(self.seq, used as u32, k as u32),
        );
        if k < claimed {
            let t = self.seq + k;
            seg.write_frame_header(t, &FrameHeader::pad(t, (claimed - k) as u32));
        }
        self.finish();
        Ok(())
    }

    /// Gives the claim up: the message's frame becomes a PAD and every sequence claimed is
    /// published (spec 11.2). Consumers pass it over silently.
    pub fn abandon(mut self) {
        self.pad_and_finish();
    }

    fn pad_and_finish(&mut self) {
        let g = self.producer.frames;
        let k = g.slots_for(self.max as u64);
        self.producer
            .inner
            .seg
            .write_frame_header(self.seq, &FrameHeader::pad(self.seq, k as u32));
        self.finish();
    }

    fn finish(&mut self) {
        self.done = true;
        self.producer.inner.publish_claimed(self.first, self.n);
    }
}

impl Drop for MessageClaim<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.pad_and_finish();
        }
    }
}

/// A claim left unpublished, as a producer that dies between claim and publish leaves it: for
/// the golden images and tests (feature `conformance`).
#[cfg(any(test, feature = "conformance"))]
impl MessageClaim<'_> {
    /// Leaves the claim unpublished: nothing more is written or published.
    pub(crate) fn leave(mut self) {
        self.done = true;
    }
}
