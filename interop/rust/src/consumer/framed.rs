//! Consuming a framed ring (spec 11.3 and 11.4): messages lent in place to required consumers,
//! copied and verified by optional ones; gaps passed over per sequence or per frame; corrupt
//! frames reported with the cursor left at them.

use std::sync::atomic::{fence, Ordering};
use std::time::Instant;

use super::{Consumer, ConsumerOptions};
use crate::error::{Error, Result};
use crate::frame::{FrameGeometry, Frames};
use crate::segment::{ProducerMode, Segment};

/// A registered consumer of a framed ring's messages (spec 11). Not safe for concurrent use
/// (`&mut self`). Dropping it deregisters, as [`Consumer`].
pub struct FramedConsumer {
    inner: Consumer<Frames>,
    frames: FrameGeometry,
    /// The items of the last batch, kept for the next one (no allocation per read).
    spans: Vec<(u64, Span)>,
    /// Copies of an optional consumer's messages (spec 11.4).
    copies: Vec<u8>,
    /// Slots below it had their headers loaded ahead of the walk already.
    touched: std::cell::Cell<u64>,
}

/// What a framed consumer is handed at one frame boundary.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MessageItem<'a> {
    /// A message's payload: in place in the ring (required consumers, valid until the batch is
    /// released) or a verified copy (optional consumers).
    Message(&'a [u8]),
    /// Sequences passed over as a gap (spec 11.3 steps 1 and 4): one sequence whose
    /// availability word is a GAP, or a whole frame some of whose sequences are (its producer
    /// died while publishing it). Counted in `gaps_seen`, in sequences.
    Gap {
        /// Sequences passed over, the item's sequence first.
        slots: u64,
    },
}

/// Where an item's bytes are.
#[derive(Debug, Clone, Copy)]
enum Span {
    /// In the segment: byte offset and length.
    InPlace(usize, usize),
    /// In `copies`: start and length.
    Copied(usize, usize),
    /// A gap of this many sequences.
    Gap(u64),
}

/// What one walk over the frames found.
struct Walk {
    /// Where the walk stopped: the first sequence not delivered (a frame boundary).
    end: u64,
    /// Sequences passed over as gaps.
    gaps: u64,
    /// Optional consumers: the first sequence lapped and how many were lost (spec 11.4).
    lost: Option<(u64, u64)>,
    /// The frame at `end` is corrupt (reported once nothing before it is left to deliver).
    corrupt: Option<Error>,
}

impl FramedConsumer {
    /// Registers a consumer of a framed ring (spec 5.7) after checks 13 and 14 of spec 5.2
    /// ([`Segment::frame_geometry`]: `PayloadKind` on a ring of fixed events,
    /// `FrameGeometry`). Fails otherwise as [`Consumer::register`] does.
    pub fn register(seg: &Segment, opts: &ConsumerOptions) -> Result<Self> {
        let frames = seg.frame_geometry()?;
        let mut inner = Consumer::register_entry(seg, opts)?;
        inner.frames = Some(frames);
        Ok(FramedConsumer {
            inner,
            frames,
            spans: Vec::new(),
            copies: Vec::new(),
            touched: std::cell::Cell::new(0),
        })
    }

    /// Reads what is available, at most `max` items (messages and gaps, at least 1), walking
    /// the frames from the cursor as spec 11.3 (required consumers) or 11.4 (optional ones)
    /// says, and lends them as a [`MessageBatch`]; releasing or dropping the batch stores the
    /// cursor after its last frame (5.5 steps 2-3). Never blocks.
    ///
    /// - A GAP at a frame boundary passes over that sequence alone; a frame with a GAP among
    ///   its sequences is passed over whole; both are items ([`MessageItem::Gap`]) counted in
    ///   `gaps_seen` in sequences. PADs are skipped silently.
    /// - A required consumer lends each payload in place, after checking its registration
    ///   (5.5 step 2: `Evicted` otherwise, the cursor not stored). An optional consumer copies
    ///   it (bounded by the geometry) and verifies the copy; when lapped it loads the claimed
    ///   count `L`, counts `L - next` sequences in `lost` ([`MessageBatch::lost`]) and goes on
    ///   at `L`.
    /// - A frame header that is not valid at its sequence (spec 11.1), or a frame that runs
    ///   past what can be published, is `Err(CorruptFrame)` naming the sequence, once every
    ///   frame before it has been delivered; the cursor stays at it.
    /// - A frame not all published yet (multi mode) ends the batch; a required consumer stuck
    ///   there past its stall timeout passes a dead producer's claim over (5.8).
    ///
    /// An empty batch means nothing whole is available: [`MessageBatch::ended`] tells whether
    /// the stream ended; a poisoned ring is `Err(Poisoned)` and dead producers are
    /// `Err(ProducerDead)`, as for [`Consumer::poll`].
    pub fn read(&mut self, max: usize) -> Result<MessageBatch<'_>> {
        self.inner.begin_poll()?;
        let max = max.max(1);
        let mut spans = std::mem::take(&mut self.spans);
        spans.clear();
        self.copies.clear();
        let walk = loop {
            let walk = if self.inner.required {
                self.walk_required(max, &mut spans)
            } else {
                self.walk_optional(max, &mut spans)
            };
            let walk = match walk {
                Ok(w) => w,
                Err(e) => {
                    self.spans = spans;
                    return Err(e);
                }
            };
            // Stuck at the cursor (nothing, or a frame not all published): spec 5.8 first.
            if walk.end == self.inner.next
                && walk.corrupt.is_none()
                && walk.lost.is_none()
                && self.inner.recover_stall()
            {
                continue;
            }
            break walk;
        };
        let next = self.inner.next;
        if walk.end == next {
            self.spans = spans;
            if let Some(e) = walk.corrupt {
                return Err(e);
            }
            self.inner.nothing_available()?;
            let ended = self.inner.ended_now();
            return Ok(MessageBatch {
                consumer: self,
                spans: Vec::new(),
                first: next,
                end: next,
                gaps: 0,
                lost: None,
                ended,
            });
        }
        self.inner.stuck = None;
        if let Some((_, lost)) = walk.lost {
            self.inner.lost += lost;
            self.inner
                .entry()
                .lost()
                .store(self.inner.lost, Ordering::Release);
        }
        Ok(MessageBatch {
            consumer: self,
            spans,
            first: next,
            end: walk.end,
            gaps: walk.gaps,
            lost: walk.lost,
            ended: false,
        })
    }

    /// Spec 11.3 steps 1-6 from the cursor, up to `max` items: messages in place.
    fn walk_required(&self, max: usize, spans: &mut Vec<(u64, Span)>) -> Result<Walk> {
        let c = &self.inner;
        let seg = &c.seg;
        let g = self.frames;
        let multi = seg.geometry().mode == ProducerMode::Multi;
        let hi = c.available(u64::MAX);
        // Each frame's address is known only from the header before it: load the headers'
        // lines together first (values discarded), so that the walk's loads do not each wait
        // for a cache miss alone.
        let to = hi.min(c.next + 1024);
        for p in c.next.max(self.touched.get())..to {
            std::hint::black_box(seg.frame_header(p));
        }
        self.touched.set(self.touched.get().max(to));
        let mut w = Walk {
            end: c.next,
            gaps: 0,
            lost: None,
            corrupt: None,
        };
        while spans.len() < max && w.end < hi {
            let t = w.end;
            // Step 1: a GAP at a frame boundary is one sequence passed over.
            if c.is_gap(t) {
                spans.push((t, Span::Gap(1)));
                w.gaps += 1;
                w.end += 1;
                continue;
            }
            // Step 2: the header is published (t < hi); check it before anything else.
            let h = seg.frame_header(t);
            if let Err(reason) = g.check(t, &h) {
                w.corrupt = Some(Error::CorruptFrame { seq: t, reason });
                break;
            }
            let end = t + u64::from(h.slots);
            // Step 3.
            if end > hi {
                if !multi {
                    w.corrupt = Some(Error::CorruptFrame {
                        seq: t,
                        reason: format!(
                            "a frame of {} slots runs past the published count {hi}",
                            h.slots
                        ),
                    });
                } else {
                    let claimed = seg.claimed_count();
                    if end > claimed {
                        w.corrupt = Some(Error::CorruptFrame {
                            seq: t,
                            reason: format!(
                                "a frame of {} slots runs past the claimed count {claimed}",
                                h.slots
                            ),
                        });
                    }
                    // Otherwise not all published yet: wait.
                }
                break;
            }
            // Step 4: a frame its producer died publishing is passed over whole.
            if multi && (t + 1..end).any(|s| c.is_gap(s)) {
                spans.push((t, Span::Gap(u64::from(h.slots))));
                w.gaps += u64::from(h.slots);
                w.end = end;
                continue;
            }
            // Step 5.
            if !h.is_pad() {
                c.check_delivery()?;
                let at = seg.slot_offset(t) + g.header_len as usize;
                spans.push((t, Span::InPlace(at, h.length as usize)));
            }
            // Step 6.
            w.end = end;
        }
        Ok(w)
    }

    /// Spec 11.4 from the cursor, up to `max` items: copy the header and (bounded by the
    /// geometry) the payload, F4, check the copy against the claimed count, then as 11.3.
    fn walk_optional(&mut self, max: usize, spans: &mut Vec<(u64, Span)>) -> Result<Walk> {
        let c = &self.inner;
        let seg = &c.seg;
        let g = self.frames;
        let multi = seg.geometry().mode == ProducerMode::Multi;
        let hi = c.available(u64::MAX);
        let mut w = Walk {
            end: c.next,
            gaps: 0,
            lost: None,
            corrupt: None,
        };
        while spans.len() < max {
            let t = w.end;
            if t >= hi {
                // Nothing to copy at `t`; in multi mode that is also what a lapped consumer
                // sees (the availability word of `t` is of a later round), so the claimed
                // count decides (5.10 step 4).
                let claimed = seg.claimed_count();
                if t + g.capacity < claimed {
                    w.lost = Some((t, claimed - t));
                    w.end = claimed;
                }
                break;
            }
            let gap = c.is_gap(t);
            let h = seg.frame_header(t);
            // The payload, whatever the copied header says: never more than max_message
            // bytes, never past the end of the slot array.
            let room =
                (g.capacity - seg.ring_index(t)) * u64::from(g.slot_size) - u64::from(g.header_len);
            let len = u64::from(h.length).min(u64::from(g.max_message)).min(room) as usize;
            let start = self.copies.len();
            if !gap && !h.is_pad() {
                self.copies.resize(start + len, 0);
                seg.map().copy_out(
                    seg.slot_offset(t) + g.header_len as usize,
                    &mut self.copies[start..],
                );
            }
            // F4 (spec 5.11): the copy's loads are complete before the claimed count's.
            fence(Ordering::Acquire);
            let claimed = seg.claimed_count();
            if t + g.capacity < claimed {
                // Lapped: the frame's first slot was reused. `claimed` is a frame boundary.
                self.copies.truncate(start);
                w.lost = Some((t, claimed - t));
                w.end = claimed;
                break;
            }
            if gap {
                spans.push((t, Span::Gap(1)));
                w.gaps += 1;
                w.end += 1;
                continue;
            }
            if let Err(reason) = g.check(t, &h) {
                self.copies.truncate(start);
                w.corrupt = Some(Error::CorruptFrame { seq: t, reason });
                break;
            }
            let end = t + u64::from(h.slots);
            if end > hi {
                self.copies.truncate(start);
                if !multi || end > claimed {
                    w.corrupt = Some(Error::CorruptFrame {
                        seq: t,
                        reason: format!(
                            "a frame of {} slots runs past the {} count {}",
                            h.slots,
                            if multi { "claimed" } else { "published" },
                            if multi { claimed } else { hi }
                        ),
                    });
                }
                break;
            }
            if multi && (t + 1..end).any(|s| c.is_gap(s)) {
                self.copies.truncate(start);
                spans.push((t, Span::Gap(u64::from(h.slots))));
                w.gaps += u64::from(h.slots);
                w.end = end;
                continue;
            }
            if !h.is_pad() {
                spans.push((t, Span::Copied(start, len)));
            }
            w.end = end;
        }
        Ok(w)
    }

    /// The ring's frame geometry (spec 11.1).
    pub fn frame_geometry(&self) -> FrameGeometry {
        self.frames
    }

    /// Registry index of this consumer's entry.
    pub fn index(&self) -> usize {
        self.inner.index()
    }

    /// Generation of this consumer's entry (bits 8-31 of its `state`).
    pub fn generation(&self) -> u32 {
        self.inner.generation()
    }

    /// The count of sequences this consumer has finished with: always a frame boundary.
    pub fn cursor(&self) -> u64 {
        self.inner.cursor()
    }

    /// Sequences (slots, not messages) lost to lapping (optional consumers, spec 11.4).
    pub fn lost(&self) -> u64 {
        self.inner.lost()
    }

    /// Sequences (slots, not messages) passed over as gaps (its entry's `gaps_seen`).
    pub fn gaps_seen(&self) -> u64 {
        self.inner.gaps_seen()
    }

    /// The segment read.
    pub fn segment(&self) -> &Segment {
        self.inner.segment()
    }

    /// As [`Consumer::heartbeat`].
    pub fn heartbeat(&self) {
        self.inner.heartbeat()
    }

    /// As [`Consumer::wait`], for something a [`FramedConsumer::read`] would return: a gap, a
    /// whole frame (not one whose sequences are not all published yet) or a corrupt one.
    pub fn wait(&mut self, deadline: Instant) -> Result<()> {
        self.inner.wait(deadline)
    }

    /// Deregisters, as [`Consumer::close`].
    pub fn close(self) -> Result<()> {
        self.inner.close()
    }

    /// Leaves the entry active without deregistering, as if this process had died (for the
    /// golden images and tests).
    #[cfg(any(test, feature = "conformance"))]
    pub(crate) fn abandon(self) {
        self.inner.abandon()
    }
}

/// Messages and gaps read by [`FramedConsumer::read`], from frame boundary
/// [`MessageBatch::first`] to frame boundary [`MessageBatch::end`]. Borrows the consumer
/// mutably; a required consumer's payloads stay in place, unchanged, until the batch is dropped
/// or [`MessageBatch::release`]d, which stores the cursor at `end` (counting the batch's gaps in
/// `gaps_seen`) and wakes waiters. Not safe for concurrent use.
pub struct MessageBatch<'a> {
    consumer: &'a mut FramedConsumer,
    spans: Vec<(u64, Span)>,
    first: u64,
    end: u64,
    gaps: u64,
    lost: Option<(u64, u64)>,
    ended: bool,
}

impl MessageBatch<'_> {
    /// The cursor the batch was read from.
    pub fn first(&self) -> u64 {
        self.first
    }

    /// The cursor after release: the frame boundary after the batch's last frame (or the
    /// claimed count an optional consumer resumed at after being lapped).
    pub fn end(&self) -> u64 {
        self.end
    }

    /// Number of items (messages and gaps).
    pub fn len(&self) -> usize {
        self.spans.len()
    }

    /// Whether it holds no item (it may still move the cursor past PADs or a lapped stretch).
    pub fn is_empty(&self) -> bool {
        self.spans.is_empty()
    }

    /// Sequences passed over as gaps in the batch; counted in `gaps_seen` on release.
    pub fn gaps(&self) -> u64 {
        self.gaps
    }

    /// Optional consumers: sequences lost because the producer lapped this consumer (spec
    /// 11.4), counted in `lost` already; 0 if none.
    pub fn lost(&self) -> u64 {
        self.lost.map_or(0, |(_, n)| n)
    }

    /// The first sequence lost (meaningful when [`MessageBatch::lost`] is not 0).
    pub fn lost_from(&self) -> u64 {
        self.lost.map_or(0, |(from, _)| from)
    }

    /// With an empty batch: the producer closed and every published message has been read.
    pub fn ended(&self) -> bool {
        self.ended
    }

    /// Item `i` (in order) with the sequence of its frame. Panics if `i >= len()`.
    pub fn get(&self, i: usize) -> (u64, MessageItem<'_>) {
        let (seq, span) = self.spans[i];
        let c = &self.consumer;
        let item = match span {
            Span::InPlace(at, len) => MessageItem::Message(c.inner.seg.map().bytes(at, len)),
            Span::Copied(start, len) => MessageItem::Message(&c.copies[start..start + len]),
            Span::Gap(slots) => MessageItem::Gap { slots },
        };
        (seq, item)
    }

    /// Every item in order, with the sequence of its frame.
    pub fn iter(&self) -> impl Iterator<Item = (u64, MessageItem<'_>)> + '_ {
        (0..self.spans.len()).map(|i| self.get(i))
    }

    /// Releases the batch now: stores the cursor at [`MessageBatch::end`] and wakes (same as
    /// drop).
    pub fn release(self) {}
}

impl Drop for MessageBatch<'_> {
    fn drop(&mut self) {
        if self.end > self.first {
            self.consumer.inner.release_to(self.end, self.gaps);
        }
        self.consumer.spans = std::mem::take(&mut self.spans);
    }
}
