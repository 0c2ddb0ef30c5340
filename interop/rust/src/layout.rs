//! Byte layout of a format 1.0 segment: the only module that knows offsets.
//!
//! Every constant mirrors one row of a table in `spec/LAYOUT.md` ("### Table: header",
//! "cursors", "wait", "entry"). The unit test at the bottom parses those tables from the spec and
//! compares them with the constants, so the spec and this file cannot drift apart.
//!
//! Offsets of the header are relative to the start of the segment; offsets of the cursors, wait
//! and entry blocks are relative to the start of their region (or entry). Regions themselves are
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
pub const VERSION_MAJOR: u16 = 1;
/// Minor version this implementation writes.
pub const VERSION_MINOR: u16 = 0;
/// `header_len` written by a 1.0 creator, and the minimum a reader accepts.
pub const HEADER_LEN: usize = 512;
/// Registry entry size written by a 1.0 creator.
pub const REGISTRY_ENTRY_SIZE: usize = 256;
/// Segments are sized in multiples of this.
pub const PAGE: u64 = 4096;
/// Regions start at multiples of this (a cache-line pair).
pub const REGION_ALIGN: u64 = 128;

/// `init_state` values.
pub const INIT_INITIALIZING: u32 = 0;
/// `init_state` once the segment is ready.
pub const INIT_READY: u32 = 1;
/// `producer_state` values.
pub const PRODUCER_OPEN: u32 = 1;
/// `producer_state` once no more events will be published.
pub const PRODUCER_CLOSED: u32 = 2;
/// `producer_mode` values.
pub const MODE_SINGLE: u32 = 1;
/// Multi-producer mode.
pub const MODE_MULTI: u32 = 2;

/// Registry entry states (spec 4.3).
pub const ENTRY_FREE: u32 = 0;
/// Being filled in by the consumer that won the claim.
pub const ENTRY_CLAIMING: u32 = 1;
/// Owned by a live (or not yet detected dead) consumer.
pub const ENTRY_ACTIVE: u32 = 2;
/// The owner deregistered.
pub const ENTRY_CLOSED: u32 = 3;
/// A producer removed a stalled or dead owner.
pub const ENTRY_EVICTED: u32 = 4;
/// `flags` bit 0: the consumer gates the producer.
pub const FLAG_REQUIRED: u32 = 1;

/// Largest `name_len` of a registry entry.
pub const MAX_CONSUMER_NAME: usize = 48;
/// Largest `type_name_len`.
pub const MAX_TYPE_NAME: usize = 64;
/// A producer refuses to claim a sequence at or above this (spec section 2).
pub const MAX_SEQUENCE: u64 = 1 << 63;

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
pub const RESERVED0: Field = f(176, 16);
pub const EVENT_SIZE: Field = f(192, 4);
pub const EVENT_ALIGN: Field = f(196, 4);
pub const TYPE_FINGERPRINT: Field = f(200, 8);
pub const TYPE_NAME_LEN: Field = f(208, 4);
pub const RESERVED1: Field = f(212, 4);
pub const TYPE_NAME: Field = f(216, 64);
pub const RESERVED2: Field = f(280, 232);

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
    ("reserved0", RESERVED0),
    ("event_size", EVENT_SIZE),
    ("event_align", EVENT_ALIGN),
    ("type_fingerprint", TYPE_FINGERPRINT),
    ("type_name_len", TYPE_NAME_LEN),
    ("reserved1", RESERVED1),
    ("type_name", TYPE_NAME),
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
pub const ENT_GENERATION: Field = f(8, 8);
pub const ENT_OWNER_PID: Field = f(16, 4);
pub const ENT_NAME_LEN: Field = f(20, 4);
pub const ENT_OWNER_START_TIME: Field = f(24, 8);
pub const ENT_HEARTBEAT_NS: Field = f(32, 8);
pub const ENT_DEPENDS_ON: Field = f(40, 8);
pub const ENT_NAME: Field = f(48, 48);
pub const ENT_LOST: Field = f(96, 8);
pub const ENT_RESERVED: Field = f(104, 24);
pub const ENT_CURSOR: Field = f(128, 8);
pub const ENT_PAD: Field = f(136, 120);

/// The entry table in spec order.
pub const ENTRY_TABLE: &[(&str, Field)] = &[
    ("state", ENT_STATE),
    ("flags", ENT_FLAGS),
    ("generation", ENT_GENERATION),
    ("owner_pid", ENT_OWNER_PID),
    ("name_len", ENT_NAME_LEN),
    ("owner_start_time", ENT_OWNER_START_TIME),
    ("heartbeat_ns", ENT_HEARTBEAT_NS),
    ("depends_on", ENT_DEPENDS_ON),
    ("name", ENT_NAME),
    ("lost", ENT_LOST),
    ("reserved", ENT_RESERVED),
    ("cursor", ENT_CURSOR),
    ("pad", ENT_PAD),
];

// ---- Placement by a 1.0 creator (spec section 4, second table) ----
/// Where a 1.0 creator places the cursors region.
pub const PLACE_CURSORS: u64 = 512;
/// Where a 1.0 creator places the wait region.
pub const PLACE_WAIT: u64 = 768;
/// Where a 1.0 creator places the registry.
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
const _: () = assert!(PLACE_WAIT == PLACE_CURSORS + CURSORS_LEN);
const _: () = assert!(PLACE_REGISTRY == PLACE_WAIT + WAIT_LEN);

/// Rounds `v` up to a multiple of `to` (a power of two), or `None` on overflow.
pub fn round_up(v: u64, to: u64) -> Option<u64> {
    debug_assert!(to.is_power_of_two());
    Some(v.checked_add(to - 1)? & !(to - 1))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Parses the rows of "### Table: NAME" from the spec into (field, offset, size).
    fn spec_table(spec: &str, name: &str) -> Vec<(String, usize, usize)> {
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
        let spec =
            std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../../spec/LAYOUT.md"))
                .expect("read spec/LAYOUT.md");
        assert_eq!(spec_table(&spec, "header"), ours(HEADER_TABLE));
        assert_eq!(spec_table(&spec, "cursors"), ours(CURSORS_TABLE));
        assert_eq!(spec_table(&spec, "wait"), ours(WAIT_TABLE));
        assert_eq!(spec_table(&spec, "entry"), ours(ENTRY_TABLE));
        assert!(spec.contains("**Format version 1.0.**"));
        assert!(spec.contains(&format!("`0x{MAGIC_VALUE:016X}`, the bytes `RINGWIRE`")));
        assert_eq!(&MAGIC_VALUE.to_le_bytes(), b"RINGWIRE");
    }
}
