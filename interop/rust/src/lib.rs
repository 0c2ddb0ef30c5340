//! Rust implementation of ringwire: a shared-memory, LMAX-disruptor-style ring whose segment
//! bytes follow `spec/LAYOUT.md` (format 2.1) byte for byte, so Go, C and Rust processes can
//! produce and consume the same ring. The words for its acts (create, attach, register, close,
//! claim, publish, read, release) are those of `spec/VOCABULARY.md`.
//!
//! - [`Segment`]: create (spec 5.1), attach and validate (5.2) a segment, and read its state
//!   for tools: all of it at once with [`Segment::snapshot`] (a [`Snapshot`], whose
//!   [`Snapshot::to_json`] is the JSON of Go's `segment.Snapshot`), or in parts
//!   ([`Segment::registry`], [`Segment::producer_registry`], [`Segment::stream_state`]).
//! - [`Producer`]: single-producer (5.3) and multi-producer (5.4) publishing; a multi-producer
//!   segment takes more producers with [`Producer::register`].
//! - [`Consumer`]: registration (5.7) and batched consumption (5.5), optional consumers'
//!   copy-and-verify (5.10), passing over a dead producer's claims as gaps (5.8), stopping when
//!   every producer is dead (5.5 step 4).
//! - [`FramedProducer`] and [`FramedConsumer`]: framed rings of variable-length messages
//!   (spec 11), created with [`Segment::create_framed`] and checked with
//!   [`Segment::frame_geometry`] (checks 13 and 14).
//! - [`WaitStrategy`]: how a producer or consumer waits (5.6).
//! - [`Poison`]: the record of a failure that stops the ring (5.9).
//! - [`Event`]: typed events, checked against the header's size, alignment and fingerprint.
//!
//! The fixtures of the conformance suite (its event type, golden images and the hooks that stop
//! a protocol midway) are behind the non-default feature `conformance` and are not part of the
//! API.
//!
//! Only `mapping` and `atomics` contain `unsafe`.

#![deny(unsafe_op_in_unsafe_fn)]

mod atomics;
#[cfg(any(test, feature = "conformance"))]
pub mod conformance;
mod consumer;
mod error;
mod event;
mod frame;
mod json;
mod layout;
mod mapping;
mod naming;
mod poison;
mod process;
mod producer;
mod recovery;
mod registry;
mod segment;
mod snapshot;
mod wait;

pub use atomics::monotonic_ns;
pub use consumer::{
    Batch, Consumer, ConsumerOptions, FramedConsumer, Item, MessageBatch, MessageItem, Polled,
    Start, DEFAULT_STALL_TIMEOUT,
};
pub use error::{Error, Result};
pub use event::{Event, EventType};
pub use frame::{framed_fingerprint, FrameGeometry, FrameHeader};
pub use naming::{
    check_segment_name, fnv1a64, portable_name, MAX_NAME_COMPONENT, MAX_PORTABLE_LEN,
};
pub use poison::{Poison, PoisonPhase};
pub use producer::{
    Claim, FramedProducer, MessageClaim, Producer, CLAIM_DROPPED, FILL_PANICKED, MIN_STALL_TIMEOUT,
};
pub use registry::DEPENDENCY_WAIT;
pub use segment::{
    unlink_shm, Backing, Config, EntryInfo, EntryState, FrameConfig, Geometry, ProducerInfo,
    ProducerMode, ProducerState, Region, Segment, StreamState,
};
pub use snapshot::{FramesInfo, Liveness, Snapshot};
pub use wait::WaitStrategy;

#[cfg(test)]
mod tests;
