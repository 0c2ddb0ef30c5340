//! Byte layout of a format 2.1 segment: the only module that knows offsets.
//!
//! Every constant mirrors one row of a table in `spec/LAYOUT.md` ("### Table: header",
//! "cursors", "wait", "entry", "producer", "frame"). The unit test at the bottom parses those tables from the spec and
//! compares them with the constants, so the spec and this file cannot drift apart.
//!
//! Offsets of the header are relative to the start of the segment; offsets of the cursors, wait,
//! entry and producer blocks are relative to the start of their region (or entry). Regions themselves are
//! located through the header at run time, never through the placement constants below, except by
//! a creator placing them.

/// One field of a spec table: its byte offset and size.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Field {
    /// Byte offset, relative to the structure the table describes.
    pub offset: usize,
    /// Size in bytes.
    pub size: usize,
}

const fn f(offset: usize, size: usize) -> Field {
    Field { offset, size }
}

/// `RINGWIRE` read as a little-endian u64.
pub const MAGIC_VALUE: u64 = 0x4552_4957_474E_4952;
/// Major version this implementation reads and writes.
pub const VERSION_MAJOR: u16 = 2;
/// Minor version this implementation writes for a ring of fixed events (its bytes are those of
/// format 2.0).
pub const VERSION_MINOR: u16 = 0;
/// Minor version this implementation writes for a framed ring (spec 11, format 2.1).
pub const VERSION_MINOR_FRAMED: u16 = 1;
/// `header_len` written by a 2.0 creator, and the minimum a reader accepts.
pub const HEADER_LEN: usize = 512;
/// Registry entry size written by a 2.0 creator.
pub const REGISTRY_ENTRY_SIZE: usize = 256;
/// Segments are sized in multiples of this.
pub const PAGE: u64 = 4096;
/// Regions start at multiples of this (a cache-line pair).
pub const REGION_ALIGN: u64 = 128;
/// A 2.0 creator starts the slot array at a multiple of this (or of `slot_align`, if larger).
pub const SLOTS_ALIGN: u64 = PAGE;

/// `init_state` values.
pub const INIT_INITIALIZING: u32 = 0;
/// `init_state` once the segment is ready.
pub const INIT_READY: u32 = 1;
/// `producer_state` (the stream state) values: producers may publish.
pub const STREAM_OPEN: u32 = 1;
/// `producer_state` once no more events will be published (the stream is closed).
pub const STREAM_CLOSED: u32 = 2;
/// `producer_mode` values.
pub const MODE_SINGLE: u32 = 1;
/// Multi-producer mode.
pub const MODE_MULTI: u32 = 2;

/// Registry entry states (spec 4.3, bits 0-7 of `state`).
pub const ENTRY_FREE: u32 = 0;
/// Being filled in by the process in `owner`.
pub const ENTRY_CLAIMING: u32 = 1;
/// Owned by the process in `owner` (live, or not yet detected dead).
pub const ENTRY_ACTIVE: u32 = 2;
/// The owner deregistered.
pub const ENTRY_CLOSED: u32 = 3;
/// A peer removed a stalled or dead owner.
pub const ENTRY_EVICTED: u32 = 4;
/// `flags` bit 0: the consumer gates the producer.
pub const FLAG_REQUIRED: u32 = 1;
/// `flags` bit 1: starting. Set with the other flags in spec 5.7 step 4 and cleared (release)
/// once the consumer's starting cursor is stored in step 6. It does not change gating.
pub const FLAG_STARTING: u32 = 2;

/// Bits 0-7 of a `state` word (consumer and producer entries): the state value.
pub const STATE_VALUE_MASK: u32 = 0xff;
/// The generation sits in bits 8-31 of a `state` word, modulo 2^24.
pub const STATE_GEN_SHIFT: u32 = 8;
/// Generations count modulo this (2^24).
pub const GENERATION_MOD: u32 = 1 << 24;

/// The state value of a `state` word (bits 0-7).
#[inline]
pub const fn state_value(word: u32) -> u32 {
    word & STATE_VALUE_MASK
}

/// The generation of a `state` word (bits 8-31).
#[inline]
pub const fn state_gen(word: u32) -> u32 {
    word >> STATE_GEN_SHIFT
}

/// A `state` word: `value` in bits 0-7, `generation` (modulo 2^24) in bits 8-31.
#[inline]
pub const fn state_word(value: u32, generation: u32) -> u32 {
    (generation % GENERATION_MOD) << STATE_GEN_SHIFT | (value & STATE_VALUE_MASK)
}

/// `word` with its state value replaced by `value`, same generation (retire, close, evict).
#[inline]
pub const fn with_value(word: u32, value: u32) -> u32 {
    state_word(value, state_gen(word))
}

/// `word` claimed again: `value`, generation + 1 modulo 2^24 (spec 4.3).
#[inline]
pub const fn next_claim(word: u32, value: u32) -> u32 {
    state_word(value, (state_gen(word) + 1) % GENERATION_MOD)
}

/// An owner identity (spec 8): pid in bits 0-31, start time modulo 2^32 in bits 32-63.
#[inline]
pub const fn owner_word(pid: u32, start_time: u64) -> u64 {
    (start_time << 32) | pid as u64
}

/// The pid of an owner identity.
#[inline]
pub const fn owner_pid(owner: u64) -> u32 {
    owner as u32
}

/// The start time (modulo 2^32) of an owner identity.
#[inline]
pub const fn owner_start(owner: u64) -> u32 {
    (owner >> 32) as u32
}

/// Largest `name_len` of a registry entry.
pub const MAX_CONSUMER_NAME: usize = 48;
/// Largest `type_name_len`.
pub const MAX_TYPE_NAME: usize = 64;
/// A producer refuses to claim a sequence at or above this (spec section 2). A count (the end
/// of a claim) must also fit the 62 count bits of `claimed`, so the largest count a producer
/// stores is `MAX_SEQUENCE - 1` and the last sequence it claims is `MAX_SEQUENCE - 2`: a count
/// of 2^62 would read as the closed bit.
pub const MAX_SEQUENCE: u64 = 1 << 62;
/// `claimed` bit 62: closed to claims (multi mode, spec 4.1).
pub const CLAIMED_CLOSED: u64 = 1 << 62;
/// Mask of the count in `claimed` (bits 0-61, spec 4.1).
pub const COUNT_MASK: u64 = (1 << 62) - 1;
/// Availability word bit 63: the sequence was passed over as a gap (spec 4.5, 5.8).
pub const AVAIL_GAP: u64 = 1 << 63;

/// The claimed count of a `claimed` word: the word without its closed bit (bits 0-61). The only
/// place that masks `claimed`.
#[inline]
pub const fn claimed_count(claimed: u64) -> u64 {
    claimed & COUNT_MASK
}

/// Whether a `claimed` word has the closed-to-claims bit (bit 62, multi mode).
#[inline]
pub const fn claims_closed(claimed: u64) -> bool {
    claimed & CLAIMED_CLOSED != 0
}

/// Whether availability word `word` says sequence `s` is published or passed over in the round
/// of `s` (its count bits are `s + 1`, whatever the gap bit).
#[inline]
pub const fn avail_marks(word: u64, s: u64) -> bool {
    word & !AVAIL_GAP == s + 1
}

/// Whether availability word `word` says sequence `s` is resolved: published, passed over, or
/// already reused by a later round (its count bits exceed `s`).
#[inline]
pub const fn avail_resolved(word: u64, s: u64) -> bool {
    word & COUNT_MASK > s
}

/// The availability word of sequence `s` passed over as a gap: `(s + 1) | AVAIL_GAP`.
#[inline]
pub const fn avail_gap(s: u64) -> u64 {
    (s + 1) | AVAIL_GAP
}

/// Producer entry states (spec 4.4, "Table: producer", bits 0-7 of `state`).
pub const PRODUCER_FREE: u32 = 0;
/// Owned by a live (or not yet detected dead) producer.
pub const PRODUCER_ACTIVE: u32 = 1;
/// The owner detached.
pub const PRODUCER_CLOSED: u32 = 2;
/// The owner died and its claims are resolved (retired, spec 5.8).
pub const PRODUCER_DEAD: u32 = 3;
/// Size of one producer registry entry.
pub const PRODUCER_ENTRY_SIZE: usize = 128;
/// Largest `producer_capacity` (multi mode).
pub const MAX_PRODUCERS: u32 = 64;
/// `producer_capacity` a creator uses in multi mode unless configured otherwise.
pub const DEFAULT_MULTI_PRODUCERS: u32 = 8;

/// `poison_state` values (spec 5.9).
pub const POISON_NONE: u32 = 0;
/// The winner of the poison CAS is writing the record.
pub const POISON_RECORDING: u32 = 1;
/// The record is complete.
pub const POISON_RECORDED: u32 = 2;
/// `poison_phase`: a producer failed between claim and publish.
pub const PHASE_PUBLISH: u32 = 1;
/// `poison_phase`: a pipeline stage's handler failed.
pub const PHASE_HANDLER: u32 = 2;
/// Largest `poison_message_len`.
pub const MAX_POISON_MESSAGE: usize = 64;

// ---- Table: header (offsets from the start of the segment) ----
pub const MAGIC: Field = f(0, 8);
pub const INIT_STATE: Field = f(8, 4);
pub const VERSION_MAJOR_F: Field = f(12, 2);
pub const VERSION_MINOR_F: Field = f(14, 2);
pub const HEADER_LEN_F: Field = f(16, 4);
pub const PRODUCER_MODE: Field = f(20, 4);
pub const TOTAL_SIZE: Field = f(24, 8);
pub const CAPACITY: Field = f(32, 8);
pub const SLOT_SIZE: Field = f(40, 4);
pub const SLOT_ALIGN: Field = f(44, 4);
pub const REGISTRY_CAPACITY: Field = f(48, 4);
pub const REGISTRY_ENTRY_SIZE_F: Field = f(52, 4);
pub const INCARNATION: Field = f(56, 8);
pub const CREATOR_PID: Field = f(64, 4);
pub const PRODUCER_STATE: Field = f(68, 4);
pub const CREATOR_START_TIME: Field = f(72, 8);
pub const CREATED_UNIX_NS: Field = f(80, 8);
pub const PRODUCER_HEARTBEAT_NS: Field = f(88, 8);
pub const REGION_CURSORS: Field = f(96, 16);
pub const REGION_WAIT: Field = f(112, 16);
pub const REGION_REGISTRY: Field = f(128, 16);
pub const REGION_AVAILABILITY: Field = f(144, 16);
pub const REGION_SLOTS: Field = f(160, 16);
pub const REGION_PRODUCERS: Field = f(176, 16);
pub const EVENT_SIZE: Field = f(192, 4);
pub const EVENT_ALIGN: Field = f(196, 4);
pub const TYPE_FINGERPRINT: Field = f(200, 8);
pub const TYPE_NAME_LEN: Field = f(208, 4);
pub const PRODUCER_CAPACITY: Field = f(212, 4);
pub const TYPE_NAME: Field = f(216, 64);
pub const POISON_STATE: Field = f(280, 4);
pub const POISON_PHASE: Field = f(284, 4);
pub const POISON_SEQ: Field = f(288, 8);
pub const POISON_PID: Field = f(296, 4);
pub const POISON_STAGE: Field = f(300, 4);
pub const POISON_MESSAGE_LEN: Field = f(304, 4);
pub const RESERVED1: Field = f(308, 4);
pub const POISON_MESSAGE: Field = f(312, 64);
pub const GAPS: Field = f(376, 8);
/// Peers that may block in the kernel on the consumer wait word (spec 5.6).
pub const CONSUMER_BLOCKERS: Field = f(384, 4);
/// Peers that may block in the kernel on the producer wait word (spec 5.6).
pub const PRODUCER_BLOCKERS: Field = f(388, 4);
/// 0 fixed events, 1 framed messages (spec 11; added in 2.1).
pub const PAYLOAD_KIND: Field = f(392, 4);
/// Framed: bytes of a frame header (spec 11.1); fixed: 0.
pub const FRAME_HEADER_LEN_F: Field = f(396, 4);
/// Framed: the largest payload in bytes (spec 11.1); fixed: 0.
pub const MAX_MESSAGE: Field = f(400, 4);
pub const RESERVED3: Field = f(404, 4);
pub const RESERVED2: Field = f(408, 104);

/// The header table in spec order, for the drift test and for tools.
pub const HEADER_TABLE: &[(&str, Field)] = &[
    ("magic", MAGIC),
    ("init_state", INIT_STATE),
    ("version_major", VERSION_MAJOR_F),
    ("version_minor", VERSION_MINOR_F),
    ("header_len", HEADER_LEN_F),
    ("producer_mode", PRODUCER_MODE),
    ("total_size", TOTAL_SIZE),
    ("capacity", CAPACITY),
    ("slot_size", SLOT_SIZE),
    ("slot_align", SLOT_ALIGN),
    ("registry_capacity", REGISTRY_CAPACITY),
    ("registry_entry_size", REGISTRY_ENTRY_SIZE_F),
    ("incarnation", INCARNATION),
    ("creator_pid", CREATOR_PID),
    ("producer_state", PRODUCER_STATE),
    ("creator_start_time", CREATOR_START_TIME),
    ("created_unix_ns", CREATED_UNIX_NS),
    ("producer_heartbeat_ns", PRODUCER_HEARTBEAT_NS),
    ("cursors", REGION_CURSORS),
    ("wait", REGION_WAIT),
    ("registry", REGION_REGISTRY),
    ("availability", REGION_AVAILABILITY),
    ("slots", REGION_SLOTS),
    ("producers", REGION_PRODUCERS),
    ("event_size", EVENT_SIZE),
    ("event_align", EVENT_ALIGN),
    ("type_fingerprint", TYPE_FINGERPRINT),
    ("type_name_len", TYPE_NAME_LEN),
    ("producer_capacity", PRODUCER_CAPACITY),
    ("type_name", TYPE_NAME),
    ("poison_state", POISON_STATE),
    ("poison_phase", POISON_PHASE),
    ("poison_seq", POISON_SEQ),
    ("poison_pid", POISON_PID),
    ("poison_stage", POISON_STAGE),
    ("poison_message_len", POISON_MESSAGE_LEN),
    ("reserved1", RESERVED1),
    ("poison_message", POISON_MESSAGE),
    ("gaps", GAPS),
    ("consumer_blockers", CONSUMER_BLOCKERS),
    ("producer_blockers", PRODUCER_BLOCKERS),
    ("payload_kind", PAYLOAD_KIND),
    ("frame_header_len", FRAME_HEADER_LEN_F),
    ("max_message", MAX_MESSAGE),
    ("reserved3", RESERVED3),
    ("reserved2", RESERVED2),
];

// ---- Table: cursors (offsets from cursors.offset) ----
pub const CUR_PUBLISHED: Field = f(0, 8);
pub const CUR_PAD0: Field = f(8, 120);
pub const CUR_CLAIMED: Field = f(128, 8);
pub const CUR_PAD1: Field = f(136, 120);
/// Minimum length of the cursors region.
pub const CURSORS_LEN: u64 = 256;

/// The cursors table in spec order.
pub const CURSORS_TABLE: &[(&str, Field)] = &[
    ("published", CUR_PUBLISHED),
    ("pad0", CUR_PAD0),
    ("claimed", CUR_CLAIMED),
    ("pad1", CUR_PAD1),
];

// ---- Table: wait (offsets from wait.offset) ----
pub const WAIT_CONSUMER_WAKE: Field = f(0, 4);
pub const WAIT_CONSUMER_WAITERS: Field = f(4, 4);
pub const WAIT_PAD0: Field = f(8, 120);
pub const WAIT_PRODUCER_WAKE: Field = f(128, 4);
pub const WAIT_PRODUCER_WAITERS: Field = f(132, 4);
pub const WAIT_PAD1: Field = f(136, 120);
/// Minimum length of the wait region.
pub const WAIT_LEN: u64 = 256;

/// The wait table in spec order.
pub const WAIT_TABLE: &[(&str, Field)] = &[
    ("consumer_wake", WAIT_CONSUMER_WAKE),
    ("consumer_waiters", WAIT_CONSUMER_WAITERS),
    ("pad0", WAIT_PAD0),
    ("producer_wake", WAIT_PRODUCER_WAKE),
    ("producer_waiters", WAIT_PRODUCER_WAITERS),
    ("pad1", WAIT_PAD1),
];

// ---- Table: entry (offsets from the start of a registry entry) ----
pub const ENT_STATE: Field = f(0, 4);
pub const ENT_FLAGS: Field = f(4, 4);
pub const ENT_OWNER: Field = f(8, 8);
pub const ENT_NAME_LEN: Field = f(16, 4);
pub const ENT_RESERVED0: Field = f(20, 4);
pub const ENT_HEARTBEAT_NS: Field = f(24, 8);
pub const ENT_DEPENDS_ON: Field = f(32, 8);
pub const ENT_NAME: Field = f(40, 48);
pub const ENT_LOST: Field = f(88, 8);
pub const ENT_GAPS_SEEN: Field = f(96, 8);
pub const ENT_RESERVED: Field = f(104, 24);
pub const ENT_CURSOR: Field = f(128, 8);
pub const ENT_PAD: Field = f(136, 120);

/// The entry table in spec order.
pub const ENTRY_TABLE: &[(&str, Field)] = &[
    ("state", ENT_STATE),
    ("flags", ENT_FLAGS),
    ("owner", ENT_OWNER),
    ("name_len", ENT_NAME_LEN),
    ("reserved0", ENT_RESERVED0),
    ("heartbeat_ns", ENT_HEARTBEAT_NS),
    ("depends_on", ENT_DEPENDS_ON),
    ("name", ENT_NAME),
    ("lost", ENT_LOST),
    ("gaps_seen", ENT_GAPS_SEEN),
    ("reserved", ENT_RESERVED),
    ("cursor", ENT_CURSOR),
    ("pad", ENT_PAD),
];

// ---- Table: producer (offsets from the start of a producer registry entry) ----
pub const PRD_STATE: Field = f(0, 4);
pub const PRD_RESERVED0: Field = f(4, 4);
pub const PRD_OWNER: Field = f(8, 8);
pub const PRD_HEARTBEAT_NS: Field = f(16, 8);
pub const PRD_INTENT_START: Field = f(24, 8);
pub const PRD_INTENT_END: Field = f(32, 8);
pub const PRD_RESERVED: Field = f(40, 88);

/// The producer table in spec order.
pub const PRODUCER_TABLE: &[(&str, Field)] = &[
    ("state", PRD_STATE),
    ("reserved0", PRD_RESERVED0),
    ("owner", PRD_OWNER),
    ("heartbeat_ns", PRD_HEARTBEAT_NS),
    ("intent_start", PRD_INTENT_START),
    ("intent_end", PRD_INTENT_END),
    ("reserved", PRD_RESERVED),
];

// ---- Table: frame (offsets from the start of a frame's first slot, spec 11.1) ----
pub const FRM_SEQ_FLAGS: Field = f(0, 8);
pub const FRM_LENGTH: Field = f(8, 4);
pub const FRM_SLOTS: Field = f(12, 4);
/// Bytes of the frame header fields (the table); `frame_header_len` may be larger (reserved).
pub const FRAME_FIELDS_LEN: usize = 16;

/// The frame table in spec order.
pub const FRAME_TABLE: &[(&str, Field)] = &[
    ("seq_flags", FRM_SEQ_FLAGS),
    ("length", FRM_LENGTH),
    ("slots", FRM_SLOTS),
];

/// `payload_kind`: a ring of fixed events (4.6).
pub const PAYLOAD_FIXED: u32 = 0;
/// `payload_kind`: a framed ring (spec 11).
pub const PAYLOAD_FRAMED: u32 = 1;
/// `frame_header_len` a 2.1 creator writes.
pub const FRAME_HEADER_LEN: u32 = 16;
/// Smallest `slot_align` of a framed ring (payloads are 16-aligned, spec 11.1).
pub const MIN_FRAME_ALIGN: u32 = 16;
/// Smallest `capacity` of a framed ring (spec 11.1).
pub const MIN_FRAMED_CAPACITY: u64 = 8;
/// `seq_flags` bit 63: a padding frame (PAD).
pub const FRAME_PAD: u64 = 1 << 63;
/// `seq_flags` bit 62: zero in 2.1.
pub const FRAME_RESERVED_BIT: u64 = 1 << 62;
/// `seq_flags` bits 0-61: the frame's first sequence.
pub const FRAME_SEQ_MASK: u64 = COUNT_MASK;
/// Default type name of a framed ring (spec 11.1).
pub const DEFAULT_MESSAGE_TYPE: &str = "bytes";

// ---- Placement by a 2.0 creator (spec section 4, second table) ----
/// Where a 2.0 creator places the cursors region.
pub const PLACE_CURSORS: u64 = 512;
/// Where a 2.0 creator places the wait region.
pub const PLACE_WAIT: u64 = 768;
/// Where a 2.0 creator places the registry.
pub const PLACE_REGISTRY: u64 = 1024;

// Compile-time checks: every table tiles its structure without gaps or overlaps.
const fn tiles(table: &[(&str, Field)], len: usize) -> bool {
    let mut at = 0;
    let mut i = 0;
    while i < table.len() {
        if table[i].1.offset != at {
            return false;
        }
        at += table[i].1.size;
        i += 1;
    }
    at == len
}
const _: () = assert!(tiles(HEADER_TABLE, HEADER_LEN));
const _: () = assert!(tiles(CURSORS_TABLE, CURSORS_LEN as usize));
const _: () = assert!(tiles(WAIT_TABLE, WAIT_LEN as usize));
const _: () = assert!(tiles(ENTRY_TABLE, REGISTRY_ENTRY_SIZE));
const _: () = assert!(tiles(PRODUCER_TABLE, PRODUCER_ENTRY_SIZE));
const _: () = assert!(tiles(FRAME_TABLE, FRAME_FIELDS_LEN));
const _: () =
    assert!(FRAME_HEADER_LEN as usize >= FRAME_FIELDS_LEN && FRAME_HEADER_LEN.is_multiple_of(16));
const _: () = assert!(FRAME_PAD & FRAME_SEQ_MASK == 0 && FRAME_RESERVED_BIT & FRAME_SEQ_MASK == 0);
const _: () = assert!((PRODUCER_ENTRY_SIZE as u64).is_multiple_of(REGION_ALIGN));
const _: () = assert!(CLAIMED_CLOSED & COUNT_MASK == 0 && AVAIL_GAP & COUNT_MASK == 0);
const _: () = assert!(POISON_MESSAGE.size == MAX_POISON_MESSAGE);
const _: () = assert!(ENT_NAME.size == MAX_CONSUMER_NAME);
const _: () = assert!(ENT_OWNER.offset.is_multiple_of(8) && PRD_OWNER.offset.is_multiple_of(8));
const _: () = assert!(PLACE_WAIT == PLACE_CURSORS + CURSORS_LEN);
const _: () = assert!(PLACE_REGISTRY == PLACE_WAIT + WAIT_LEN);

/// Rounds `v` up to a multiple of `to` (a power of two), or `None` on overflow.
pub fn round_up(v: u64, to: u64) -> Option<u64> {
    debug_assert!(to.is_power_of_two());
    Some(v.checked_add(to - 1)? & !(to - 1))
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// The text of spec/LAYOUT.md.
    pub(crate) fn spec() -> String {
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../spec/LAYOUT.md"))
            .expect("read spec/LAYOUT.md")
    }

    /// Parses the rows of "### Table: NAME" from the spec into (field, offset, size).
    pub(crate) fn spec_table(spec: &str, name: &str) -> Vec<(String, usize, usize)> {
        let heading = format!("### Table: {name}");
        let start = spec
            .lines()
            .position(|l| l.trim() == heading)
            .unwrap_or_else(|| panic!("spec has no {heading:?}"));
        let mut rows = Vec::new();
        for line in spec.lines().skip(start + 1) {
            let line = line.trim();
            if line.is_empty() && rows.is_empty() {
                continue;
            }
            if !line.starts_with('|') {
                break;
            }
            let cells: Vec<&str> = line.trim_matches('|').split('|').map(str::trim).collect();
            let (Ok(off), Ok(size)) = (cells[0].parse(), cells[1].parse()) else {
                continue; // heading or separator row
            };
            rows.push((cells[3].to_string(), off, size));
        }
        assert!(!rows.is_empty(), "table {name} has no rows");
        rows
    }

    fn ours(table: &[(&str, Field)]) -> Vec<(String, usize, usize)> {
        table
            .iter()
            .map(|(n, f)| (n.to_string(), f.offset, f.size))
            .collect()
    }

    #[test]
    fn layout_matches_spec_tables() {
        let spec = spec();
        assert_eq!(spec_table(&spec, "header"), ours(HEADER_TABLE));
        assert_eq!(spec_table(&spec, "cursors"), ours(CURSORS_TABLE));
        assert_eq!(spec_table(&spec, "wait"), ours(WAIT_TABLE));
        assert_eq!(spec_table(&spec, "entry"), ours(ENTRY_TABLE));
        assert_eq!(spec_table(&spec, "producer"), ours(PRODUCER_TABLE));
        assert_eq!(spec_table(&spec, "frame"), ours(FRAME_TABLE));
        assert!(spec.contains("bits 0-61: the frame's first sequence; bit 62: zero; bit 63: PAD"));
        assert_eq!(FRAME_PAD, 1 << 63);
        // The numbers of spec 11.1, in the spec's words (whitespace folded).
        let prose = spec.split_whitespace().collect::<Vec<_>>().join(" ");
        for words in [
            "`slot_align` at least 16",
            "`frame_header_len` (`H`) a multiple of 16, at least 16",
            "`capacity` at least 8",
            "`bytes` when the application gives none",
        ] {
            assert!(prose.contains(words), "spec 11.1 no longer says {words:?}");
        }
        assert_eq!(
            (MIN_FRAME_ALIGN, FRAME_HEADER_LEN, MIN_FRAMED_CAPACITY),
            (16, 16, 8)
        );
        assert_eq!(DEFAULT_MESSAGE_TYPE, "bytes");
        assert!(spec.contains("(CLOSED, `0x4000000000000000`)"));
        assert_eq!(CLAIMED_CLOSED, 0x4000_0000_0000_0000);
        assert!(spec.contains("`0x3FFFFFFFFFFFFFFF`"));
        assert_eq!(COUNT_MASK, 0x3FFF_FFFF_FFFF_FFFF);
        assert!(spec.contains("**Format version 2.1.**"));
        assert!(spec.contains("| 12 | 2 | u16 | version_major | creator | all | plain | 2 |"));
        // Entry state words: generation 1, active (spec 5.1: `0x101` for producer entry 0).
        assert!(spec.contains("generation 1 (`0x101`)"));
        assert_eq!(state_word(PRODUCER_ACTIVE, 1), 0x101);
        assert!(spec.contains(&format!("`0x{MAGIC_VALUE:016X}`, the bytes `RINGWIRE`")));
        assert_eq!(&MAGIC_VALUE.to_le_bytes(), b"RINGWIRE");
    }
}
