//! The errors of this crate: one variant per validation failure of spec section 5.2, in the
//! spec's order, then the errors of registering, waiting and I/O.

use std::fmt;
use std::io;

use crate::poison::Poison;

/// Why an operation on a segment failed.
#[derive(Debug)]
#[non_exhaustive]
pub enum Error {
    /// 5.2 check 1: the mapping is shorter than a header.
    TooSmall { mapping_len: u64 },
    /// 5.2 check 2: `init_state` stayed 0 until the deadline.
    Initializing,
    /// 5.2 check 3: `magic` is not `RINGWIRE`.
    BadMagic { found: u64 },
    /// 5.2 check 4: `init_state` is neither 0 nor 1.
    BadState { found: u32 },
    /// 5.2 check 5: a major version other than ours.
    UnsupportedVersion {
        found_major: u16,
        found_minor: u16,
        supported_major: u16,
        supported_minor: u16,
    },
    /// 5.2 check 6.
    BadHeaderLength { header_len: u32, total_size: u64 },
    /// 5.2 check 7: the header claims more bytes than are mapped.
    Truncated { total_size: u64, mapping_len: u64 },
    /// 5.2 check 8.
    BadCapacity { capacity: u64 },
    /// 5.2 check 9; `detail` names the failed condition.
    BadSlotGeometry { detail: &'static str },
    /// 5.2 check 10. Also returned when a producer attaches to a single-producer segment.
    BadProducerMode { mode: u32, producer_capacity: u32 },
    /// 5.2 check 11.
    BadRegistry { capacity: u32, entry_size: u32 },
    /// 5.2 check 12; `region` names the region.
    BadRegion { region: &'static str },
    /// 5.2 check 13: the segment holds a different event type.
    WrongEventType {
        expected_size: u32,
        expected_align: u32,
        expected_fingerprint: u64,
        found_size: u32,
        found_align: u32,
        found_fingerprint: u64,
    },
    /// 5.2 check 13: the ring's `payload_kind` is not the reader's: a reader of fixed events
    /// attached to a framed ring (`found` 1, `expected` 0), or a framed reader to a ring of fixed
    /// events (spec 11).
    PayloadKind { found: u32, expected: u32 },
    /// 5.2 check 14: a framed ring whose frame geometry breaks spec 11.1; `detail` names the rule.
    FrameGeometry { detail: String },
    /// Spec 11.3 step 2 or 3: the frame at sequence `seq` is not valid (11.1) or does not fit
    /// what is published; `reason` names the check that failed. The consumer's cursor stays at
    /// `seq`: nothing of the frame was delivered.
    CorruptFrame { seq: u64, reason: String },
    /// Spec 11.2 step 1: a message of `len` bytes is longer than the ring's `max_message`;
    /// refused before anything was claimed.
    TooLarge { len: usize, max_message: u32 },
    /// No segment of that name or path exists (until the deadline).
    NotFound,
    /// Not a segment name of spec section 9 (refused before touching the system).
    InvalidName { name: String },
    /// The name or path names something other than a regular file (spec 5.1: a FIFO, device
    /// or directory), or a symbolic link (`O_NOFOLLOW`).
    NotRegularFile,
    /// Creating: the file system has no room for the segment (spec 5.1, `posix_fallocate`
    /// failed with `ENOSPC`); nothing was left behind.
    NoSpace { total_size: u64 },
    /// Every consumer registry entry is in use.
    RegistryFull,
    /// Every producer registry entry is active (spec 5.4: "producer registry full").
    ProducerRegistryFull,
    /// Another live consumer is active under this name.
    DuplicateName,
    /// This consumer's entry was evicted or reclaimed.
    Evicted,
    /// Registering (spec 5.7 step 6): `depends_on` names entry `index`, which is missing (not
    /// an active consumer) or optional (it does not gate the producers, so its cursor is no safe
    /// start), or which was still choosing its start (`flags` bit 1) when its owner died or after
    /// [`crate::DEPENDENCY_WAIT`], or which stopped being active while this consumer registered.
    /// The registration was undone (deregistered).
    DependencyUnavailable { index: usize },
    /// Registering (spec 5.7): the takeover lost its race with other peers (takers, evictors)
    /// round after round; registration gave up after a bounded number of restarts from step 1.
    RegistryBusy,
    /// A bounded wait reached its deadline.
    Timeout,
    /// Claiming would reach sequence 2^62 (spec section 2).
    SequenceExhausted,
    /// The creator closed a multi-producer ring to claims (`claimed` bit 62, spec 5.4 step 1).
    Closed,
    /// Every producer is dead (spec 5.5 step 4): the creator (whose pid this is) and, in multi
    /// mode, the owner of every producer entry (whatever its state), while `producer_state` is
    /// still open and nothing more is available.
    ProducerDead { pid: u32 },
    /// The ring is poisoned (spec 5.9); carries the record. Terminal for every producer and
    /// consumer.
    Poisoned(Poison),
    /// A caller-supplied value is out of range (configuration, names, batch sizes).
    InvalidArgument(String),
    /// An operating-system error.
    Io(io::Error),
}

impl Error {
    /// The conformer error code (conformance/PROTOCOL.md) for this error.
    pub fn code(&self) -> &'static str {
        match self {
            Error::TooSmall { .. } => "too_small",
            Error::Initializing => "initializing",
            Error::BadMagic { .. } => "bad_magic",
            Error::BadState { .. } => "bad_state",
            Error::UnsupportedVersion { .. } => "version",
            Error::BadHeaderLength { .. } => "header_length",
            Error::Truncated { .. } => "truncated",
            Error::BadCapacity { .. } => "capacity",
            Error::BadSlotGeometry { .. } => "slot_geometry",
            Error::BadProducerMode { .. } => "producer_mode",
            Error::BadRegistry { .. } => "registry",
            Error::BadRegion { .. } => "region",
            Error::WrongEventType { .. } => "event_type",
            Error::PayloadKind { .. } => "payload_kind",
            Error::FrameGeometry { .. } => "frame_geometry",
            Error::CorruptFrame { .. } => "corrupt_frame",
            Error::TooLarge { .. } => "too_large",
            Error::NotFound => "not_found",
            Error::InvalidName { .. } => "usage",
            Error::NotRegularFile => "io",
            Error::NoSpace { .. } => "io",
            // PROTOCOL.md lists no code for it; "io" as the Go conformer reports it.
            Error::ProducerDead { .. } => "io",
            Error::RegistryFull | Error::ProducerRegistryFull => "registry_full",
            Error::DuplicateName => "duplicate_name",
            Error::Evicted => "evicted",
            // PROTOCOL.md lists no code for it (the conformer never depends on a consumer).
            Error::DependencyUnavailable { .. } => "io",
            // PROTOCOL.md lists no code for it; "io" as the Go conformer reports it.
            Error::RegistryBusy => "io",
            Error::Timeout => "timeout",
            Error::SequenceExhausted => "exhausted",
            Error::Poisoned(_) => "poisoned",
            Error::InvalidArgument(_) => "usage",
            Error::Closed => "closed",
            Error::Io(_) => "io",
        }
    }
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::TooSmall { mapping_len } => {
                write!(f, "segment too small: {mapping_len} bytes mapped, header needs 512")
            }
            Error::Initializing => write!(f, "segment still initializing at the deadline"),
            Error::BadMagic { found } => write!(f, "bad magic 0x{found:016x}"),
            Error::BadState { found } => write!(f, "bad init_state {found}"),
            Error::UnsupportedVersion {
                found_major,
                found_minor,
                supported_major,
                supported_minor,
            } => write!(
                f,
                "unsupported version {found_major}.{found_minor}, this reader supports {supported_major}.{supported_minor}"
            ),
            Error::BadHeaderLength {
                header_len,
                total_size,
            } => write!(f, "bad header length {header_len} (total_size {total_size})"),
            Error::Truncated {
                total_size,
                mapping_len,
            } => write!(f, "truncated: total_size {total_size} > mapping length {mapping_len}"),
            Error::BadCapacity { capacity } => write!(f, "bad capacity {capacity}"),
            Error::BadSlotGeometry { detail } => write!(f, "bad slot geometry: {detail}"),
            Error::BadProducerMode {
                mode,
                producer_capacity,
            } => write!(
                f,
                "bad producer mode {mode} (producer capacity {producer_capacity})"
            ),
            Error::BadRegistry {
                capacity,
                entry_size,
            } => write!(f, "bad registry: capacity {capacity}, entry size {entry_size}"),
            Error::BadRegion { region } => write!(f, "bad region {region}"),
            Error::WrongEventType {
                expected_size,
                expected_align,
                expected_fingerprint,
                found_size,
                found_align,
                found_fingerprint,
            } => write!(
                f,
                "wrong event type: expected size {expected_size} align {expected_align} fingerprint 0x{expected_fingerprint:016x}, segment has size {found_size} align {found_align} fingerprint 0x{found_fingerprint:016x}"
            ),
            Error::PayloadKind { found, expected } => write!(
                f,
                "wrong payload kind: the ring holds {}, the reader expects {}",
                payload_name(*found),
                payload_name(*expected)
            ),
            Error::FrameGeometry { detail } => write!(f, "bad frame geometry: {detail}"),
            Error::CorruptFrame { seq, reason } => {
                write!(f, "corrupt frame at sequence {seq}: {reason}")
            }
            Error::TooLarge { len, max_message } => write!(
                f,
                "message too large: {len} bytes, the largest message is {max_message}"
            ),
            Error::NotFound => write!(f, "segment not found"),
            Error::InvalidName { name } => write!(f, "invalid segment name {name:?}"),
            Error::NotRegularFile => write!(f, "not a regular file"),
            Error::NoSpace { total_size } => {
                write!(f, "no space for a segment of {total_size} bytes")
            }
            Error::ProducerDead { pid } => {
                write!(f, "every producer is dead (creator pid {pid})")
            }
            Error::RegistryFull => write!(f, "consumer registry full"),
            Error::ProducerRegistryFull => write!(f, "producer registry full"),
            Error::DuplicateName => write!(f, "an active consumer already has this name"),
            Error::Evicted => write!(f, "consumer was evicted"),
            Error::DependencyUnavailable { index } => write!(
                f,
                "depends_on names entry {index}, which is not an active required consumer with its start chosen (missing, optional, still starting, or gone)"
            ),
            Error::RegistryBusy => write!(
                f,
                "the consumer registry kept changing during registration (takeover restarted too often)"
            ),
            Error::Timeout => write!(f, "timed out"),
            Error::SequenceExhausted => write!(f, "sequence space exhausted (2^62)"),
            Error::Closed => write!(f, "ring closed to claims"),
            Error::Poisoned(p) => write!(f, "ring poisoned: {p}"),
            Error::InvalidArgument(s) => write!(f, "invalid argument: {s}"),
            Error::Io(e) => write!(f, "i/o: {e}"),
        }
    }
}

/// What a `payload_kind` value holds, for messages.
fn payload_name(kind: u32) -> String {
    match kind {
        crate::layout::PAYLOAD_FIXED => "fixed events".into(),
        crate::layout::PAYLOAD_FRAMED => "framed messages".into(),
        k => format!("unknown payload kind {k}"),
    }
}

impl std::error::Error for Error {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            Error::Io(e) => Some(e),
            _ => None,
        }
    }
}

impl From<io::Error> for Error {
    fn from(e: io::Error) -> Self {
        Error::Io(e)
    }
}

/// Result with this crate's [`Error`].
pub type Result<T> = std::result::Result<T, Error>;
