//! Creating, attaching and validating segments (spec 5.1 and 5.2), and the typed view of their
//! regions that the producer and consumer work through.

use std::io::{self, Read};
use std::path::Path;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use crate::atomics::monotonic_ns;
use crate::error::{Error, Result};
use crate::event::EventType;
use crate::frame::{framed_fingerprint, largest_message, FrameGeometry};
use crate::layout::{self as l, Field};
use crate::mapping::{self, Mapping};
use crate::naming::{check_segment_name, decode_lossy};
use crate::process;

/// Producer mode of a segment.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProducerMode {
    /// One producer (spec 5.3).
    Single,
    /// Several producers claiming with compare-and-swap (spec 5.4).
    Multi,
}

impl ProducerMode {
    /// `single` or `multi`.
    pub fn as_str(self) -> &'static str {
        match self {
            ProducerMode::Single => "single",
            ProducerMode::Multi => "multi",
        }
    }
}

/// Where a segment lives.
#[derive(Debug, Clone, Copy)]
pub enum Backing<'a> {
    /// A POSIX shared-memory object, e.g. `/orders`.
    Shm(&'a str),
    /// A memory-mapped file.
    File(&'a Path),
    /// Heap memory private to this process.
    Heap,
}

/// Parameters of a new segment.
#[derive(Debug, Clone)]
pub struct Config {
    /// Number of slots, a power of two in 2..=2^30.
    pub capacity: u64,
    /// Registry entries, 1..=64.
    pub registry_capacity: u32,
    /// Producer mode.
    pub mode: ProducerMode,
    /// Producer registry entries (spec 4.4): 0 for the default (1 in single mode, 8 in multi
    /// mode); single mode allows only 1, multi mode 1 to 64.
    pub producer_capacity: u32,
    /// Permission bits of a shared-memory object or file (0600 by default).
    pub file_mode: u32,
    /// A framed ring (spec 11): its slot size, largest message and message type name. `None`
    /// (the default) for a ring of fixed events. Read by [`Segment::create_framed`] (and
    /// [`crate::FramedProducer::create`]); [`Segment::create`] refuses a config that sets it.
    pub frames: Option<FrameConfig>,
}

/// The parameters of a framed ring (spec 11.1) in a [`Config`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FrameConfig {
    /// `slot_size` (= `event_size`): a multiple of 16 above the frame header (16 bytes), at
    /// most 65536. Slots are aligned to 16 bytes. Default 64.
    pub slot_size: u32,
    /// `max_message`: the largest payload in bytes, at least 1, with `16 + max_message <=
    /// (capacity / 8) * slot_size`; 0 (the default) for that largest value.
    pub max_message: u32,
    /// The message type's name (informational, at most 64 bytes; its fingerprint is that of
    /// `frames{` + name + `}`). Default `bytes`.
    pub type_name: String,
}

impl Default for FrameConfig {
    fn default() -> Self {
        FrameConfig {
            slot_size: 64,
            max_message: 0,
            type_name: l::DEFAULT_MESSAGE_TYPE.to_string(),
        }
    }
}

impl Default for Config {
    fn default() -> Self {
        Config {
            capacity: 1024,
            registry_capacity: 8,
            mode: ProducerMode::Single,
            producer_capacity: 0,
            file_mode: 0o600,
            frames: None,
        }
    }
}

/// A region: offset and length, from the header.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Region {
    /// Byte offset from the start of the segment.
    pub offset: u64,
    /// Length in bytes.
    pub len: u64,
}

/// The validated header of a segment (what 5.2 checks 1 to 12 accepted).
#[derive(Debug, Clone)]
pub struct Geometry {
    /// `version_major`.
    pub major: u16,
    /// `version_minor`.
    pub minor: u16,
    /// `header_len`.
    pub header_len: u32,
    /// `total_size`.
    pub total_size: u64,
    /// `capacity`.
    pub capacity: u64,
    /// `slot_size`.
    pub slot_size: u32,
    /// The stored event type.
    pub event: EventType,
    /// `producer_mode`.
    pub mode: ProducerMode,
    /// `registry_capacity`.
    pub registry_capacity: u32,
    /// `registry_entry_size`.
    pub registry_entry_size: u32,
    /// `producer_capacity`.
    pub producer_capacity: u32,
    /// `incarnation`.
    pub incarnation: u64,
    /// `payload_kind`: 0 fixed events, 1 framed messages (spec 11); not checked by checks 1 to
    /// 12 (check 13 is the reader's).
    pub payload_kind: u32,
    /// `frame_header_len` (framed rings; 0 for fixed events).
    pub frame_header_len: u32,
    /// `max_message` (framed rings; 0 for fixed events).
    pub max_message: u32,
    /// The cursors region.
    pub cursors: Region,
    /// The wait region.
    pub wait: Region,
    /// The registry region.
    pub registry: Region,
    /// The producer registry region.
    pub producers: Region,
    /// The availability region (empty in single mode).
    pub availability: Region,
    /// The slot array.
    pub slots: Region,
}

/// A segment mapped into this process and validated. Cloning shares the mapping; safe for
/// concurrent use (all shared state is accessed atomically).
#[derive(Clone)]
pub struct Segment {
    inner: Arc<Inner>,
}

struct Inner {
    map: Mapping,
    geo: Geometry,
    /// Where the segment lives, as Go's `segment.Backing` writes it: `shm:/name`, `file:/path`
    /// or `heap` (a segment over a heap copy of an image included).
    backing: String,
}

fn r32(m: &Mapping, f: Field) -> u32 {
    m.u32_at(f.offset).load(Ordering::Relaxed)
}
fn r64(m: &Mapping, f: Field) -> u64 {
    m.u64_at(f.offset).load(Ordering::Relaxed)
}
fn region(m: &Mapping, f: Field) -> Region {
    Region {
        offset: m.u64_at(f.offset).load(Ordering::Relaxed),
        len: m.u64_at(f.offset + 8).load(Ordering::Relaxed),
    }
}

fn pow2_upto(v: u32, max: u32) -> bool {
    v.is_power_of_two() && v <= max
}

/// Runs checks 1 to 12 of spec 5.2, in order, against `map`. Reads only header bytes until
/// every check that makes a later read safe has passed; never panics on any byte content.
pub(crate) fn validate(map: &Mapping) -> Result<Geometry> {
    let mapping_len = map.len() as u64;
    // 1
    if map.len() < l::HEADER_LEN {
        return Err(Error::TooSmall { mapping_len });
    }
    // 2: acquire, before any other field.
    let init = map.u32_at(l::INIT_STATE.offset).load(Ordering::Acquire);
    if init == l::INIT_INITIALIZING {
        return Err(Error::Initializing);
    }
    // 3
    let magic = r64(map, l::MAGIC);
    if magic != l::MAGIC_VALUE {
        return Err(Error::BadMagic { found: magic });
    }
    // 4
    if init != l::INIT_READY {
        return Err(Error::BadState { found: init });
    }
    // 5: version_major and version_minor share the u32 at offset 12 (little-endian).
    let versions = map
        .u32_at(l::VERSION_MAJOR_F.offset)
        .load(Ordering::Relaxed);
    let (major, minor) = (versions as u16, (versions >> 16) as u16);
    if major != l::VERSION_MAJOR {
        return Err(Error::UnsupportedVersion {
            found_major: major,
            found_minor: minor,
            supported_major: l::VERSION_MAJOR,
            supported_minor: l::VERSION_MINOR,
        });
    }
    // 6
    let header_len = r32(map, l::HEADER_LEN_F);
    let total_size = r64(map, l::TOTAL_SIZE);
    if (header_len as usize) < l::HEADER_LEN
        || !header_len.is_multiple_of(8)
        || u64::from(header_len) > total_size
    {
        return Err(Error::BadHeaderLength {
            header_len,
            total_size,
        });
    }
    // 7
    if total_size > mapping_len {
        return Err(Error::Truncated {
            total_size,
            mapping_len,
        });
    }
    // 8
    let capacity = r64(map, l::CAPACITY);
    if !capacity.is_power_of_two() || !(2..=1 << 30).contains(&capacity) {
        return Err(Error::BadCapacity { capacity });
    }
    // 9
    let event_size = r32(map, l::EVENT_SIZE);
    let event_align = r32(map, l::EVENT_ALIGN);
    let slot_align = r32(map, l::SLOT_ALIGN);
    let slot_size = r32(map, l::SLOT_SIZE);
    let type_name_len = r32(map, l::TYPE_NAME_LEN);
    let geometry = |detail| Err(Error::BadSlotGeometry { detail });
    if !(1..=65536).contains(&event_size) {
        return geometry("event_size not in 1..=65536");
    }
    if !pow2_upto(event_align, 4096) {
        return geometry("event_align not a power of two up to 4096");
    }
    if !pow2_upto(slot_align, 4096) {
        return geometry("slot_align not a power of two up to 4096");
    }
    if slot_align != event_align {
        return geometry("slot_align != event_align");
    }
    if u64::from(slot_size)
        != l::round_up(u64::from(event_size), u64::from(event_align)).unwrap_or(0)
    {
        return geometry("slot_size != round_up(event_size, event_align)");
    }
    if type_name_len as usize > l::MAX_TYPE_NAME {
        return geometry("type_name_len > 64");
    }
    // 10
    let producer_capacity = r32(map, l::PRODUCER_CAPACITY);
    let mode = match r32(map, l::PRODUCER_MODE) {
        l::MODE_SINGLE if producer_capacity == 1 => ProducerMode::Single,
        l::MODE_MULTI if (1..=l::MAX_PRODUCERS).contains(&producer_capacity) => ProducerMode::Multi,
        mode => {
            return Err(Error::BadProducerMode {
                mode,
                producer_capacity,
            })
        }
    };
    // 11
    let registry_capacity = r32(map, l::REGISTRY_CAPACITY);
    let registry_entry_size = r32(map, l::REGISTRY_ENTRY_SIZE_F);
    if !(1..=64).contains(&registry_capacity)
        || (registry_entry_size as usize) < l::REGISTRY_ENTRY_SIZE
        || u64::from(registry_entry_size) % l::REGION_ALIGN != 0
    {
        return Err(Error::BadRegistry {
            capacity: registry_capacity,
            entry_size: registry_entry_size,
        });
    }
    // 12, in header order.
    let regions = [
        ("cursors", region(map, l::REGION_CURSORS)),
        ("wait", region(map, l::REGION_WAIT)),
        ("registry", region(map, l::REGION_REGISTRY)),
        ("availability", region(map, l::REGION_AVAILABILITY)),
        ("slots", region(map, l::REGION_SLOTS)),
        ("producers", region(map, l::REGION_PRODUCERS)),
    ];
    for (i, &(name, r)) in regions.iter().enumerate() {
        let end = r.offset.checked_add(r.len);
        let len_ok = match name {
            "cursors" => r.len >= l::CURSORS_LEN,
            "wait" => r.len >= l::WAIT_LEN,
            "registry" => r.len == u64::from(registry_capacity) * u64::from(registry_entry_size),
            "availability" => match mode {
                ProducerMode::Single => r.len == 0,
                ProducerMode::Multi => r.len == capacity * 8,
            },
            "producers" => r.len == u64::from(producer_capacity) * l::PRODUCER_ENTRY_SIZE as u64,
            _ => r.len == capacity * u64::from(slot_size) && r.offset % u64::from(slot_align) == 0,
        };
        // Earlier regions passed these checks, so their ends do not overflow.
        let overlaps = |end: u64| {
            regions[..i].iter().any(|&(_, o)| {
                r.len != 0 && o.len != 0 && r.offset < o.offset + o.len && o.offset < end
            })
        };
        if r.offset % l::REGION_ALIGN != 0
            || r.offset < u64::from(header_len)
            || end.is_none_or(|e| e > total_size || overlaps(e))
            || !len_ok
        {
            return Err(Error::BadRegion { region: name });
        }
    }
    let mut name = vec![0u8; type_name_len as usize];
    map.copy_out(l::TYPE_NAME.offset, &mut name);
    Ok(Geometry {
        major,
        minor,
        header_len,
        total_size,
        capacity,
        slot_size,
        event: EventType {
            size: event_size,
            align: event_align,
            fingerprint: r64(map, l::TYPE_FINGERPRINT),
            name: decode_lossy(&name),
        },
        mode,
        registry_capacity,
        registry_entry_size,
        producer_capacity,
        incarnation: r64(map, l::INCARNATION),
        payload_kind: r32(map, l::PAYLOAD_KIND),
        frame_header_len: r32(map, l::FRAME_HEADER_LEN_F),
        max_message: r32(map, l::MAX_MESSAGE),
        cursors: regions[0].1,
        wait: regions[1].1,
        registry: regions[2].1,
        availability: regions[3].1,
        slots: regions[4].1,
        producers: regions[5].1,
    })
}

/// Check 13 of spec 5.2 for a reader of fixed events: the payload kind, then the event type.
pub(crate) fn check_event_type(geo: &Geometry, want: &EventType) -> Result<()> {
    if geo.payload_kind != l::PAYLOAD_FIXED {
        return Err(Error::PayloadKind {
            found: geo.payload_kind,
            expected: l::PAYLOAD_FIXED,
        });
    }
    let got = &geo.event;
    if got.size != want.size || got.align != want.align || got.fingerprint != want.fingerprint {
        return Err(Error::WrongEventType {
            expected_size: want.size,
            expected_align: want.align,
            expected_fingerprint: want.fingerprint,
            found_size: got.size,
            found_align: got.align,
            found_fingerprint: got.fingerprint,
        });
    }
    Ok(())
}

fn random_incarnation() -> u64 {
    let mut b = [0u8; 8];
    let from_os = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut b));
    let mut v = u64::from_le_bytes(b);
    if from_os.is_err() || v == 0 {
        let t = SystemTime::now()
            .duration_since(UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        v = crate::naming::fnv1a64(
            &[
                t.to_le_bytes(),
                u64::from(process::current_pid()).to_le_bytes(),
            ]
            .concat(),
        );
    }
    v.max(1)
}

/// Region placement of a 1.0 creator (spec section 4).
struct Placement {
    registry: Region,
    producer_capacity: u32,
    producers: Region,
    availability: Region,
    slots: Region,
    total_size: u64,
}

/// What a framed ring's header records besides its event type (spec 11.1).
#[derive(Clone, Copy)]
struct Framing {
    header_len: u32,
    max_message: u32,
}

/// The event type and framing of the framed ring `cfg.frames` describes (or the default
/// [`FrameConfig`]), validated per spec 11.1 (`InvalidArgument` naming the rule otherwise).
fn framed_type(cfg: &Config) -> Result<(EventType, Framing)> {
    let fc = cfg.frames.clone().unwrap_or_default();
    let bad = |s: String| Err(Error::InvalidArgument(s));
    let h = l::FRAME_HEADER_LEN;
    if !fc.slot_size.is_multiple_of(l::MIN_FRAME_ALIGN) || fc.slot_size <= h || fc.slot_size > 65536
    {
        return bad(format!(
            "framed slot size {} must be a multiple of 16 above the frame header ({h}) and at most 65536",
            fc.slot_size
        ));
    }
    if cfg.capacity < l::MIN_FRAMED_CAPACITY {
        return bad(format!(
            "a framed ring needs a capacity of at least {}",
            l::MIN_FRAMED_CAPACITY
        ));
    }
    let largest = largest_message(cfg.capacity, fc.slot_size, h);
    let max_message = match fc.max_message {
        0 => u32::try_from(largest).unwrap_or(u32::MAX),
        m => m,
    };
    if max_message == 0 || u64::from(max_message) > largest {
        return bad(format!(
            "largest message {max_message}: 16 + max_message must be at most (capacity / 8) * slot_size = {}",
            largest + u64::from(h)
        ));
    }
    let name = if fc.type_name.is_empty() {
        l::DEFAULT_MESSAGE_TYPE.to_string()
    } else {
        fc.type_name
    };
    if name.len() > l::MAX_TYPE_NAME {
        return bad("message type name longer than 64 bytes".into());
    }
    let ty = EventType {
        size: fc.slot_size,
        align: l::MIN_FRAME_ALIGN,
        fingerprint: framed_fingerprint(name.as_bytes()),
        name,
    };
    Ok((
        ty,
        Framing {
            header_len: h,
            max_message,
        },
    ))
}

fn place(cfg: &Config, ty: &EventType) -> Result<Placement> {
    let bad = |s: &str| Err(Error::InvalidArgument(s.to_string()));
    if !cfg.capacity.is_power_of_two() || !(2..=1 << 30).contains(&cfg.capacity) {
        return bad("capacity must be a power of two in 2..=2^30");
    }
    if !(1..=64).contains(&cfg.registry_capacity) {
        return bad("registry capacity must be in 1..=64");
    }
    let producer_capacity = match (cfg.mode, cfg.producer_capacity) {
        (ProducerMode::Single, 0 | 1) => 1,
        (ProducerMode::Multi, 0) => l::DEFAULT_MULTI_PRODUCERS,
        (ProducerMode::Multi, n) if n <= l::MAX_PRODUCERS => n,
        _ => return bad("producer capacity must be 1 in single mode and 1..=64 in multi mode"),
    };
    if !(1..=65536).contains(&ty.size) || !pow2_upto(ty.align, 4096) || ty.name.len() > 64 {
        return bad("event type out of range");
    }
    let slot_size = l::round_up(u64::from(ty.size), u64::from(ty.align)).unwrap_or(u64::MAX);
    let registry = Region {
        offset: l::PLACE_REGISTRY,
        len: u64::from(cfg.registry_capacity) * l::REGISTRY_ENTRY_SIZE as u64,
    };
    let producers = Region {
        offset: registry.offset + registry.len,
        len: u64::from(producer_capacity) * l::PRODUCER_ENTRY_SIZE as u64,
    };
    let availability = Region {
        offset: producers.offset + producers.len,
        len: match cfg.mode {
            ProducerMode::Single => 0,
            ProducerMode::Multi => cfg.capacity * 8,
        },
    };
    // The slot array starts on a page boundary (spec 4): sharing page offsets with the polled
    // cursors costs throughput on x86 (4K aliasing). Readers take the offset from the header.
    let slots_at = l::round_up(
        availability.offset + availability.len,
        l::SLOTS_ALIGN.max(u64::from(ty.align)),
    )
    .unwrap_or(u64::MAX);
    let slots = Region {
        offset: slots_at,
        len: cfg.capacity * slot_size,
    };
    let total_size = l::round_up(slots.offset + slots.len, l::PAGE).unwrap_or(u64::MAX);
    if usize::try_from(total_size).is_err() {
        return bad("segment too large");
    }
    Ok(Placement {
        registry,
        producer_capacity,
        producers,
        availability,
        slots,
        total_size,
    })
}

impl Segment {
    /// Creates a segment (spec 5.1): exclusive creation, sized and zero-filled, every header field
    /// written, the creator registered as producer entry 0 (spec 5.4: active, generation 1, its
    /// pid, start time and heartbeat), then `init_state = 1` with release ordering as the last
    /// write.
    ///
    /// Fails with `Io(AlreadyExists)` if the name or path exists; see [`unlink_shm`] to replace a
    /// stale segment.
    pub fn create(backing: Backing<'_>, cfg: &Config, ty: &EventType) -> Result<Segment> {
        if cfg.frames.is_some() {
            return Err(Error::InvalidArgument(
                "the config describes a framed ring: create it with Segment::create_framed".into(),
            ));
        }
        Self::create_with(backing, cfg, ty, None)
    }

    /// Creates a framed ring (spec 11, format 2.1) as [`Segment::create`] creates a ring of
    /// events: `cfg.frames` (or the default [`FrameConfig`]) gives its slot size, largest
    /// message and type name, validated per spec 11.1 (`InvalidArgument` naming the rule
    /// otherwise). The header records `version_minor` 1, `payload_kind` 1, `frame_header_len`
    /// 16, `max_message`, `event_size` = `slot_size`, `event_align` = `slot_align` = 16 and the
    /// fingerprint of `frames{` + type name + `}`.
    pub fn create_framed(backing: Backing<'_>, cfg: &Config) -> Result<Segment> {
        let (ty, framing) = framed_type(cfg)?;
        Self::create_with(backing, cfg, &ty, Some(framing))
    }

    fn create_with(
        backing: Backing<'_>,
        cfg: &Config,
        ty: &EventType,
        framing: Option<Framing>,
    ) -> Result<Segment> {
        if let Backing::Shm(name) = backing {
            check_segment_name(name.as_bytes())?;
        }
        let p = place(cfg, ty)?;
        let len = p.total_size as usize;
        let created = match backing {
            Backing::Shm(name) => Mapping::create_shm(name, len, cfg.file_mode),
            Backing::File(path) => Mapping::create_file(path, len, cfg.file_mode),
            Backing::Heap => Ok(Mapping::heap(len)),
        };
        let map = created.map_err(|e| match e.raw_os_error() {
            Some(libc::ENOSPC) => Error::NoSpace {
                total_size: p.total_size,
            },
            _ => Error::Io(e),
        })?;
        let w32 = |f: Field, v: u32| map.u32_at(f.offset).store(v, Ordering::Relaxed);
        let w64 = |f: Field, v: u64| map.u64_at(f.offset).store(v, Ordering::Relaxed);
        let wreg = |f: Field, r: Region| {
            map.u64_at(f.offset).store(r.offset, Ordering::Relaxed);
            map.u64_at(f.offset + 8).store(r.len, Ordering::Relaxed);
        };
        let pid = process::current_pid();
        w64(l::MAGIC, l::MAGIC_VALUE);
        // A ring of fixed events keeps the bytes of 2.0 (minor 0, the framing fields 0).
        let minor = match framing {
            None => l::VERSION_MINOR,
            Some(f) => {
                w32(l::PAYLOAD_KIND, l::PAYLOAD_FRAMED);
                w32(l::FRAME_HEADER_LEN_F, f.header_len);
                w32(l::MAX_MESSAGE, f.max_message);
                l::VERSION_MINOR_FRAMED
            }
        };
        w32(
            l::VERSION_MAJOR_F,
            u32::from(l::VERSION_MAJOR) | u32::from(minor) << 16,
        );
        w32(l::HEADER_LEN_F, l::HEADER_LEN as u32);
        w32(
            l::PRODUCER_MODE,
            match cfg.mode {
                ProducerMode::Single => l::MODE_SINGLE,
                ProducerMode::Multi => l::MODE_MULTI,
            },
        );
        w64(l::TOTAL_SIZE, p.total_size);
        w64(l::CAPACITY, cfg.capacity);
        w32(l::SLOT_SIZE, (p.slots.len / cfg.capacity) as u32);
        w32(l::SLOT_ALIGN, ty.align);
        w32(l::REGISTRY_CAPACITY, cfg.registry_capacity);
        w32(l::REGISTRY_ENTRY_SIZE_F, l::REGISTRY_ENTRY_SIZE as u32);
        w64(l::INCARNATION, random_incarnation());
        w32(l::CREATOR_PID, pid);
        w32(l::PRODUCER_STATE, l::STREAM_OPEN);
        w64(l::CREATOR_START_TIME, process::start_time(pid));
        w64(
            l::CREATED_UNIX_NS,
            SystemTime::now()
                .duration_since(UNIX_EPOCH)
                .map(|d| d.as_nanos() as u64)
                .unwrap_or(0),
        );
        w64(l::PRODUCER_HEARTBEAT_NS, monotonic_ns());
        wreg(
            l::REGION_CURSORS,
            Region {
                offset: l::PLACE_CURSORS,
                len: l::CURSORS_LEN,
            },
        );
        wreg(
            l::REGION_WAIT,
            Region {
                offset: l::PLACE_WAIT,
                len: l::WAIT_LEN,
            },
        );
        wreg(l::REGION_REGISTRY, p.registry);
        wreg(l::REGION_AVAILABILITY, p.availability);
        wreg(l::REGION_SLOTS, p.slots);
        wreg(l::REGION_PRODUCERS, p.producers);
        w32(l::PRODUCER_CAPACITY, p.producer_capacity);
        w32(l::EVENT_SIZE, ty.size);
        w32(l::EVENT_ALIGN, ty.align);
        w64(l::TYPE_FINGERPRINT, ty.fingerprint);
        w32(l::TYPE_NAME_LEN, ty.name.len() as u32);
        map.copy_in(l::TYPE_NAME.offset, ty.name.as_bytes());
        // Spec 5.1 step 2: the creator takes producer entry 0 (in both modes) before it publishes
        // `init_state`: owner, heartbeat, then state active with generation 1 (`0x101`).
        let e0 = ProducerEntry {
            map: &map,
            base: p.producers.offset as usize,
        };
        e0.take_owner(0, process::own_identity());
        e0.heartbeat().store(monotonic_ns(), Ordering::Relaxed);
        let _ = e0.state().compare_exchange(
            l::state_word(l::PRODUCER_FREE, 0),
            l::next_claim(0, l::PRODUCER_ACTIVE),
            Ordering::SeqCst,
            Ordering::SeqCst,
        );
        // Last write of initialization; pairs with the acquire load in `validate` check 2.
        map.u32_at(l::INIT_STATE.offset)
            .store(l::INIT_READY, Ordering::Release);
        let geo = validate(&map)?;
        Ok(Segment {
            inner: Arc::new(Inner {
                map,
                geo,
                backing: backing_text(backing),
            }),
        })
    }

    /// Attaches to shared-memory object `name`, retrying while it does not exist, is still empty
    /// (created but not yet sized) or is initializing, until `timeout` has passed. Runs checks 1
    /// to 12; check 13 is done by the typed producer and consumer.
    pub fn attach_shm(name: &str, timeout: Duration) -> Result<Segment> {
        check_segment_name(name.as_bytes())?;
        Self::attach_with(Backing::Shm(name), timeout, || Mapping::open_shm(name))
    }

    /// Attaches to the segment in file `path`, as [`Segment::attach_shm`].
    pub fn attach_path(path: &Path, timeout: Duration) -> Result<Segment> {
        Self::attach_with(Backing::File(path), timeout, || Mapping::open_file(path))
    }

    /// A segment over a private heap copy of `bytes`, validated (checks 1 to 12, no retrying):
    /// e.g. a segment file read by a tool. Unlike an attach, it never shares memory with the
    /// segment the bytes came from; changes to either are not seen by the other.
    pub fn from_image(bytes: &[u8]) -> Result<Segment> {
        let map = Mapping::heap_copy(bytes);
        let geo = validate(&map)?;
        Ok(Segment {
            inner: Arc::new(Inner {
                map,
                geo,
                backing: backing_text(Backing::Heap),
            }),
        })
    }

    fn attach_with(
        backing: Backing<'_>,
        timeout: Duration,
        open: impl Fn() -> io::Result<Mapping>,
    ) -> Result<Segment> {
        let deadline = Instant::now() + timeout;
        let mut pause = Duration::from_micros(100);
        loop {
            let err = match open() {
                Err(e) if e.kind() == io::ErrorKind::NotFound => Error::NotFound,
                Err(e) if mapping::not_regular(&e) => return Err(Error::NotRegularFile),
                Err(e) => return Err(Error::Io(e)),
                // Created but not yet sized by the creator: still initializing.
                Ok(map) if map.len() == 0 => Error::Initializing,
                Ok(map) => match validate(&map) {
                    Ok(geo) => {
                        return Ok(Segment {
                            inner: Arc::new(Inner {
                                map,
                                geo,
                                backing: backing_text(backing),
                            }),
                        })
                    }
                    Err(Error::Initializing) => Error::Initializing,
                    Err(e) => return Err(e),
                },
            };
            if Instant::now() >= deadline {
                return Err(err);
            }
            std::thread::sleep(pause);
            pause = (pause * 2).min(Duration::from_millis(10));
        }
    }

    /// The validated header.
    #[inline]
    pub fn geometry(&self) -> &Geometry {
        &self.inner.geo
    }

    /// Checks 13 and 14 of spec 5.2 for a reader of framed messages: `payload_kind` is 1
    /// (`PayloadKind` otherwise), then the frame geometry of spec 11.1 (`FrameGeometry` naming
    /// the rule otherwise): `version_minor` at least 1, `slot_align` at least 16, `event_size` =
    /// `slot_size`, `frame_header_len` a multiple of 16 in 16..`slot_size`, `capacity` at least
    /// 8, `max_message` at least 1 with `frame_header_len + max_message <= (capacity / 8) *
    /// slot_size`, and `type_fingerprint` that of `frames{` + `type_name` + `}`. Returns the
    /// geometry frames are checked against.
    pub fn frame_geometry(&self) -> Result<FrameGeometry> {
        let g = &self.inner.geo;
        if g.payload_kind != l::PAYLOAD_FRAMED {
            return Err(Error::PayloadKind {
                found: g.payload_kind,
                expected: l::PAYLOAD_FRAMED,
            });
        }
        let bad = |detail: String| Err(Error::FrameGeometry { detail });
        let (h, slot) = (u64::from(g.frame_header_len), u64::from(g.slot_size));
        let slot_align = self
            .map()
            .u32_at(l::SLOT_ALIGN.offset)
            .load(Ordering::Relaxed);
        if g.minor < l::VERSION_MINOR_FRAMED {
            return bad(format!(
                "version {}.{} has no framed rings",
                g.major, g.minor
            ));
        }
        if slot_align < l::MIN_FRAME_ALIGN {
            return bad(format!(
                "slot alignment {slot_align} is below {}",
                l::MIN_FRAME_ALIGN
            ));
        }
        if g.event.size != g.slot_size {
            return bad(format!(
                "event size {} is not the slot size {}",
                g.event.size, g.slot_size
            ));
        }
        if h < u64::from(l::FRAME_HEADER_LEN) || !h.is_multiple_of(16) || h >= slot {
            return bad(format!(
                "frame header length {h} (a multiple of 16, at least 16, below the slot size {slot})"
            ));
        }
        if g.capacity < l::MIN_FRAMED_CAPACITY {
            return bad(format!(
                "capacity {} is below {}",
                g.capacity,
                l::MIN_FRAMED_CAPACITY
            ));
        }
        let room = g.capacity / 8 * slot;
        if g.max_message < 1 || h + u64::from(g.max_message) > room {
            return bad(format!(
                "largest message {}: a frame of {} bytes must fit in {} slots of {slot} (an eighth of the ring)",
                g.max_message,
                h + u64::from(g.max_message),
                g.capacity / 8
            ));
        }
        // The fingerprint is that of the stored name's bytes (clamped to the field; check 9
        // bounded `type_name_len` by 64).
        let n = (self
            .map()
            .u32_at(l::TYPE_NAME_LEN.offset)
            .load(Ordering::Relaxed) as usize)
            .min(l::MAX_TYPE_NAME);
        let mut name = vec![0u8; n];
        self.map().copy_out(l::TYPE_NAME.offset, &mut name);
        let want = framed_fingerprint(&name);
        if g.event.fingerprint != want {
            return bad(format!(
                "fingerprint 0x{:016x} is not 0x{want:016x}, that of frames{{{}}}",
                g.event.fingerprint,
                decode_lossy(&name)
            ));
        }
        Ok(FrameGeometry {
            header_len: g.frame_header_len,
            max_message: g.max_message,
            slot_size: g.slot_size,
            capacity: g.capacity,
        })
    }

    /// The frame header at sequence `s` (its slot's first 16 bytes), copied out. Framed rings
    /// only; the caller checks it (spec 11.1) before trusting it.
    pub(crate) fn frame_header(&self, s: u64) -> crate::frame::FrameHeader {
        let mut b = [0u8; l::FRAME_FIELDS_LEN];
        self.map().copy_out(self.slot_offset(s), &mut b);
        crate::frame::FrameHeader::decode(&b)
    }

    /// Writes the frame header `h` at sequence `s` (plain stores; the publish that follows
    /// releases them), and zeroes the reserved bytes up to `frame_header_len`. Only a producer
    /// that holds the claim of `s` may call it.
    pub(crate) fn write_frame_header(&self, s: u64, h: &crate::frame::FrameHeader) {
        let at = self.slot_offset(s);
        self.map().copy_in(at, &h.encode());
        let hl = self.inner.geo.frame_header_len as usize;
        if hl > l::FRAME_FIELDS_LEN {
            self.map()
                .bytes_mut(at + l::FRAME_FIELDS_LEN, hl - l::FRAME_FIELDS_LEN)
                .fill(0);
        }
    }

    /// Where the segment lives, as Go's `segment.Backing` writes it: `shm:/name`, `file:/path`,
    /// or `heap` for a heap segment and one made by [`Segment::from_image`].
    pub fn backing(&self) -> &str {
        &self.inner.backing
    }

    #[inline]
    pub(crate) fn map(&self) -> &Mapping {
        &self.inner.map
    }

    /// A copy of the segment's `total_size` bytes.
    pub fn image(&self) -> Vec<u8> {
        let mut v = vec![0u8; self.inner.geo.total_size as usize];
        self.inner.map.copy_out(0, &mut v);
        v
    }

    fn cur(&self, f: Field) -> &AtomicU64 {
        self.map()
            .u64_at(self.inner.geo.cursors.offset as usize + f.offset)
    }
    fn wait_word(&self, f: Field) -> &AtomicU32 {
        self.map()
            .u32_at(self.inner.geo.wait.offset as usize + f.offset)
    }
    pub(crate) fn published(&self) -> &AtomicU64 {
        self.cur(l::CUR_PUBLISHED)
    }
    pub(crate) fn claimed(&self) -> &AtomicU64 {
        self.cur(l::CUR_CLAIMED)
    }
    pub(crate) fn consumer_wake(&self) -> &AtomicU32 {
        self.wait_word(l::WAIT_CONSUMER_WAKE)
    }
    pub(crate) fn consumer_waiters(&self) -> &AtomicU32 {
        self.wait_word(l::WAIT_CONSUMER_WAITERS)
    }
    pub(crate) fn producer_wake(&self) -> &AtomicU32 {
        self.wait_word(l::WAIT_PRODUCER_WAKE)
    }
    pub(crate) fn producer_waiters(&self) -> &AtomicU32 {
        self.wait_word(l::WAIT_PRODUCER_WAITERS)
    }
    /// The header's `consumer_blockers` count (spec 5.6).
    pub(crate) fn consumer_blockers(&self) -> &AtomicU32 {
        self.map().u32_at(l::CONSUMER_BLOCKERS.offset)
    }
    /// The header's `producer_blockers` count (spec 5.6).
    pub(crate) fn producer_blockers(&self) -> &AtomicU32 {
        self.map().u32_at(l::PRODUCER_BLOCKERS.offset)
    }
    pub(crate) fn producer_state(&self) -> &AtomicU32 {
        self.map().u32_at(l::PRODUCER_STATE.offset)
    }
    pub(crate) fn producer_heartbeat(&self) -> &AtomicU64 {
        self.map().u64_at(l::PRODUCER_HEARTBEAT_NS.offset)
    }
    /// The index in the ring (of its slot and availability word) of sequence `s`: `s` modulo
    /// `capacity`. The only place that wraps a sequence.
    #[inline]
    pub(crate) fn ring_index(&self, s: u64) -> u64 {
        s & (self.inner.geo.capacity - 1)
    }
    /// Availability word of sequence `s` (multi mode only).
    pub(crate) fn availability(&self, s: u64) -> &AtomicU64 {
        let g = &self.inner.geo;
        self.map()
            .u64_at((g.availability.offset + self.ring_index(s) * 8) as usize)
    }
    /// Byte offset of the slot holding sequence `s`: the only slot address computation.
    #[inline]
    pub(crate) fn slot_offset(&self, s: u64) -> usize {
        let g = &self.inner.geo;
        (g.slots.offset + self.ring_index(s) * u64::from(g.slot_size)) as usize
    }
    /// Registry entry `i` (< registry_capacity).
    pub(crate) fn entry(&self, i: usize) -> Entry<'_> {
        let g = &self.inner.geo;
        assert!(i < g.registry_capacity as usize);
        Entry {
            map: self.map(),
            base: (g.registry.offset + i as u64 * u64::from(g.registry_entry_size)) as usize,
        }
    }
    /// Every registry entry, in index order: the one scan of the registry the others filter.
    pub(crate) fn entries(&self) -> impl Iterator<Item = (usize, Entry<'_>)> {
        (0..self.inner.geo.registry_capacity as usize).map(move |i| (i, self.entry(i)))
    }
    /// The registry entries that `depends_on` names (bit i: entry i), in index order; bits at or
    /// above `registry_capacity` name nothing.
    pub(crate) fn dependencies(&self, depends_on: u64) -> impl Iterator<Item = (usize, Entry<'_>)> {
        self.entries()
            .filter(move |(i, _)| depends_on >> i & 1 == 1)
    }
    /// The entries that gate the producers now ([`Entry::gates`]) and have chosen their start
    /// (`flags` bit 1 clear, spec 5.7 step 6): the cursors a consumer starting at *oldest* may
    /// copy.
    pub(crate) fn started_gating_entries(&self) -> impl Iterator<Item = (usize, Entry<'_>)> {
        self.entries()
            .filter(|(_, e)| e.gates() && e.flags() & l::FLAG_STARTING == 0)
    }
    /// The claiming or active entries named `name`, with the `state` word loaded (seq-cst)
    /// before the name: the scans of spec 5.7 steps 1 and 5.
    pub(crate) fn entries_named<'a>(
        &'a self,
        name: &'a [u8],
    ) -> impl Iterator<Item = (usize, Entry<'a>, u32)> + 'a {
        self.entries().filter_map(move |(i, e)| {
            let st = e.state().load(Ordering::SeqCst);
            (matches!(l::state_value(st), l::ENTRY_CLAIMING | l::ENTRY_ACTIVE) && e.name_is(name))
                .then_some((i, e, st))
        })
    }
    /// Producer registry entry `i` (< producer_capacity).
    pub(crate) fn producer_entry(&self, i: usize) -> ProducerEntry<'_> {
        let g = &self.inner.geo;
        assert!(i < g.producer_capacity as usize);
        ProducerEntry {
            map: self.map(),
            base: (g.producers.offset + (i * l::PRODUCER_ENTRY_SIZE) as u64) as usize,
        }
    }
    /// Every producer registry entry, in index order.
    pub(crate) fn producer_entries(&self) -> impl Iterator<Item = (usize, ProducerEntry<'_>)> {
        (0..self.inner.geo.producer_capacity as usize).map(move |i| (i, self.producer_entry(i)))
    }
    /// The active producer entries, with the `state` word loaded (seq-cst) before anything
    /// else of the entry.
    pub(crate) fn active_producer_entries(
        &self,
    ) -> impl Iterator<Item = (usize, ProducerEntry<'_>, u32)> {
        self.producer_entries().filter_map(|(i, e)| {
            let st = e.state().load(Ordering::SeqCst);
            (l::state_value(st) == l::PRODUCER_ACTIVE).then_some((i, e, st))
        })
    }
    /// The header's `gaps` counter.
    pub(crate) fn gaps_word(&self) -> &AtomicU64 {
        self.map().u64_at(l::GAPS.offset)
    }

    /// The count of sequences consumers can see being produced (seq-cst): `published` (single)
    /// or the claimed count (multi).
    pub(crate) fn count(&self) -> u64 {
        match self.inner.geo.mode {
            ProducerMode::Single => self.published().load(Ordering::SeqCst),
            ProducerMode::Multi => l::claimed_count(self.claimed().load(Ordering::SeqCst)),
        }
    }

    /// The claimed count (acquire): `cursors.claimed` without its closed bit, the number of
    /// sequences producers have claimed (spec 4.1).
    pub fn claimed_count(&self) -> u64 {
        l::claimed_count(self.claimed().load(Ordering::Acquire))
    }

    /// `published` and the claimed count (acquire), for tools and tests.
    pub fn counts(&self) -> (u64, u64) {
        (
            self.published().load(Ordering::Acquire),
            self.claimed_count(),
        )
    }

    /// The header's `consumer_blockers` and `producer_blockers` (acquire, spec 5.6): how many
    /// peers may block in the kernel on each wait word.
    pub fn blockers(&self) -> (u32, u32) {
        (
            self.consumer_blockers().load(Ordering::Acquire),
            self.producer_blockers().load(Ordering::Acquire),
        )
    }

    /// The `cursor` of registry entry `index` (one acquire load; no snapshot of the rest of the
    /// entry, whatever its state), or `None` if `index` is not below `registry_capacity`. Cheap
    /// enough to call per batch, e.g. to measure how far behind the producer a consumer is.
    pub fn consumer_cursor(&self, index: usize) -> Option<u64> {
        (index < self.inner.geo.registry_capacity as usize)
            .then(|| self.entry(index).cursor().load(Ordering::Acquire))
    }

    /// Whether `claimed` has the closed-to-claims bit (multi mode, spec 4.1).
    pub fn claims_closed(&self) -> bool {
        l::claims_closed(self.claimed().load(Ordering::Acquire))
    }

    /// The header's `gaps`: sequences passed over as gaps by any peer (spec 5.8).
    pub fn gaps(&self) -> u64 {
        self.gaps_word().load(Ordering::Acquire)
    }

    /// Every producer registry entry that is not free, in index order.
    pub fn producer_registry(&self) -> Vec<ProducerInfo> {
        self.producer_entries()
            .filter_map(|(index, e)| {
                let word = e.state().load(Ordering::Acquire);
                let state = match l::state_value(word) {
                    l::PRODUCER_FREE => return None,
                    l::PRODUCER_ACTIVE => ProducerState::Active,
                    l::PRODUCER_CLOSED => ProducerState::Closed,
                    l::PRODUCER_DEAD => ProducerState::Dead,
                    v => ProducerState::Corrupt(v),
                };
                let owner = e.owner().load(Ordering::SeqCst);
                let (intent_start, intent_end, intent_changing) = match e.intent_fields() {
                    Some((start, end)) => (start, end, false),
                    None => (0, 0, true),
                };
                Some(ProducerInfo {
                    index,
                    state,
                    generation: l::state_gen(word),
                    owner,
                    owner_pid: l::owner_pid(owner),
                    owner_dead: process::owner_dead(owner),
                    heartbeat_ns: e.heartbeat().load(Ordering::Acquire),
                    intent_start,
                    intent_end,
                    intent_changing,
                })
            })
            .collect()
    }

    /// `creator_pid`.
    pub fn creator_pid(&self) -> u32 {
        self.map()
            .u32_at(l::CREATOR_PID.offset)
            .load(Ordering::Relaxed)
    }

    /// `creator_start_time`.
    pub fn creator_start_time(&self) -> u64 {
        self.map()
            .u64_at(l::CREATOR_START_TIME.offset)
            .load(Ordering::Relaxed)
    }

    /// A live producer (spec 5.5 step 4), by pid: the creator (`creator_pid`,
    /// `creator_start_time`, compared in full) or, in multi mode, the owner of any producer
    /// entry, whatever its state (a producer between 5.4 attach steps 2 and 3 holds an entry
    /// that is not yet active; a producer that left its entry cleared its owner word to 0, which names no
    /// process); `None` if every one is dead (section 8).
    pub fn live_producer(&self) -> Option<u32> {
        if !process::is_dead(self.creator_pid(), self.creator_start_time()) {
            return Some(self.creator_pid());
        }
        if self.inner.geo.mode != ProducerMode::Multi {
            return None;
        }
        self.producer_entries().find_map(|(_, e)| {
            let o = e.owner().load(Ordering::SeqCst);
            (!process::owner_dead(o)).then_some(l::owner_pid(o))
        })
    }

    /// The header's `producer_state` (acquire): whether the stream is open or closed (no more
    /// events will be published, spec 5.3 and 5.4).
    pub fn stream_state(&self) -> StreamState {
        StreamState::from_u32(self.producer_state().load(Ordering::Acquire))
    }

    /// Whether `producer_state` (acquire) is closed.
    pub(crate) fn stream_closed(&self) -> bool {
        self.stream_state() == StreamState::Closed
    }

    /// Number of registry entries that are active and have chosen where they start reading
    /// (`flags` bit 1, starting, clear: spec 5.7 step 6). A producer that waits for consumers
    /// before publishing waits on this: every event it publishes afterwards reaches them.
    pub fn active_consumers(&self) -> usize {
        self.entries().filter(|(_, e)| e.ready()).count()
    }

    /// Every registry entry that is not free, in index order. An entry with an undefined state
    /// value or a `name_len` out of 1..=48 is shown as [`EntryState::Corrupt`] (spec 4.3).
    pub fn registry(&self) -> Vec<EntryInfo> {
        self.entries()
            .filter_map(|(index, e)| {
                let word = e.state().load(Ordering::Acquire);
                let name = e.name_bytes();
                let state = match (EntryState::from_u32(l::state_value(word))?, &name) {
                    (EntryState::Corrupt(v), _) => EntryState::Corrupt(v),
                    (s, Some(_)) => s,
                    // Claiming entries may not have their name yet.
                    (EntryState::Claiming, None) => EntryState::Claiming,
                    (_, None) => EntryState::Corrupt(l::state_value(word)),
                };
                let owner = e.owner().load(Ordering::SeqCst);
                Some(EntryInfo {
                    index,
                    state,
                    name: decode_lossy(&name.unwrap_or_default()),
                    required: e.flags() & l::FLAG_REQUIRED != 0,
                    starting: e.flags() & l::FLAG_STARTING != 0,
                    generation: l::state_gen(word),
                    owner,
                    owner_pid: l::owner_pid(owner),
                    owner_dead: process::owner_dead(owner),
                    cursor: e.cursor().load(Ordering::Acquire),
                    lost: e.lost().load(Ordering::Acquire),
                    gaps_seen: e.gaps_seen().load(Ordering::Acquire),
                    heartbeat_ns: e.heartbeat().load(Ordering::Acquire),
                    depends_on: e.depends_on().load(Ordering::Acquire),
                })
            })
            .collect()
    }
}

/// `backing` as Go's `segment.Backing` writes it in a snapshot.
fn backing_text(backing: Backing<'_>) -> String {
    match backing {
        Backing::Shm(name) => format!("shm:{name}"),
        Backing::File(path) => format!("file:{}", path.display()),
        Backing::Heap => "heap".to_string(),
    }
}

/// Removes shared-memory object `name` (a creator replacing a stale segment MUST do this first).
pub fn unlink_shm(name: &str) -> Result<()> {
    check_segment_name(name.as_bytes())?;
    match mapping::unlink_shm(name) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => Err(Error::NotFound),
        r => Ok(r?),
    }
}

/// The stream's state, the header's `producer_state` (spec 4.1): distinct from the state of
/// one producer's registry entry ([`ProducerState`]).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum StreamState {
    /// 1: producers may still publish.
    Open,
    /// 2: no more events will be published; consumers end once they have read every published
    /// one (spec 5.5 step 4).
    Closed,
    /// A value the spec does not define: a corrupt header. Carries the value.
    Corrupt(u32),
}

impl StreamState {
    fn from_u32(v: u32) -> StreamState {
        match v {
            l::STREAM_OPEN => StreamState::Open,
            l::STREAM_CLOSED => StreamState::Closed,
            v => StreamState::Corrupt(v),
        }
    }
}

/// State of a registry entry that is not free.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum EntryState {
    /// Being filled in.
    Claiming,
    /// Owned by a live consumer.
    Active,
    /// Deregistered.
    Closed,
    /// Removed by a peer.
    Evicted,
    /// A state value the spec does not define, or a `name_len` out of 1..=48 (spec 4.3): the
    /// entry matches no name and never gates. Carries the state value.
    Corrupt(u32),
}

impl EntryState {
    pub(crate) fn from_u32(v: u32) -> Option<EntryState> {
        Some(match v {
            l::ENTRY_FREE => return None,
            l::ENTRY_CLAIMING => EntryState::Claiming,
            l::ENTRY_ACTIVE => EntryState::Active,
            l::ENTRY_CLOSED => EntryState::Closed,
            l::ENTRY_EVICTED => EntryState::Evicted,
            v => EntryState::Corrupt(v),
        })
    }

    /// The conformer's name for the state.
    pub fn as_str(self) -> &'static str {
        match self {
            EntryState::Claiming => "claiming",
            EntryState::Active => "active",
            EntryState::Closed => "closed",
            EntryState::Evicted => "evicted",
            EntryState::Corrupt(_) => "corrupt",
        }
    }
}

/// A snapshot of one registry entry.
#[derive(Debug, Clone)]
pub struct EntryInfo {
    /// Entry index.
    pub index: usize,
    /// State (bits 0-7 of `state`).
    pub state: EntryState,
    /// Consumer name (each byte that is not valid UTF-8 as U+FFFD, as Go's JSON writes it; empty
    /// for a corrupt `name_len`).
    pub name: String,
    /// `flags` bit 0.
    pub required: bool,
    /// `flags` bit 1: the consumer is still choosing its starting cursor (spec 5.7 steps 4-6).
    pub starting: bool,
    /// Generation (bits 8-31 of `state`).
    pub generation: u32,
    /// `owner`: the owner identity (spec 8).
    pub owner: u64,
    /// The pid of `owner`.
    pub owner_pid: u32,
    /// Whether `owner` names a dead process now (spec 8); `owner` 0 (no owner) counts as dead.
    pub owner_dead: bool,
    /// `cursor`.
    pub cursor: u64,
    /// `lost`.
    pub lost: u64,
    /// `gaps_seen`.
    pub gaps_seen: u64,
    /// `heartbeat_ns`.
    pub heartbeat_ns: u64,
    /// `depends_on`: bit i set for each entry i this consumer reads after.
    pub depends_on: u64,
}

/// State of a producer registry entry that is not free (spec 4.4).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ProducerState {
    /// Owned by a live (or not yet detected dead) producer.
    Active,
    /// The owner detached.
    Closed,
    /// Retired: the owner died and its claims are resolved.
    Dead,
    /// A state value the spec does not define.
    Corrupt(u32),
}

/// A snapshot of one producer registry entry.
#[derive(Debug, Clone)]
pub struct ProducerInfo {
    /// Entry index.
    pub index: usize,
    /// State (bits 0-7 of `state`).
    pub state: ProducerState,
    /// Generation (bits 8-31 of `state`).
    pub generation: u32,
    /// `owner`: the owner identity (spec 8).
    pub owner: u64,
    /// The pid of `owner`.
    pub owner_pid: u32,
    /// Whether `owner` names a dead process now (spec 8); `owner` 0 (no owner) counts as dead.
    pub owner_dead: bool,
    /// `heartbeat_ns`.
    pub heartbeat_ns: u64,
    /// `intent_start`, read as spec 5.8 reads an intent (0 while it was changing). It keeps the
    /// start of the owner's last claim when `intent_end` is 0.
    pub intent_start: u64,
    /// `intent_end` (0 when the owner holds no claim, or while it was changing).
    pub intent_end: u64,
    /// Whether the owner was changing its intent while it was read (`intent_end` read twice,
    /// around `intent_start`, differed): the two fields above are then 0.
    pub intent_changing: bool,
}

/// View of one consumer registry entry (spec 4.3): the only code that knows its fields.
pub(crate) struct Entry<'a> {
    map: &'a Mapping,
    base: usize,
}

impl<'a> Entry<'a> {
    fn u32(&self, f: Field) -> &'a AtomicU32 {
        self.map.u32_at(self.base + f.offset)
    }
    fn u64(&self, f: Field) -> &'a AtomicU64 {
        self.map.u64_at(self.base + f.offset)
    }
    /// `state`: value in bits 0-7, generation in bits 8-31; changed only by compare-and-swap.
    pub(crate) fn state(&self) -> &'a AtomicU32 {
        self.u32(l::ENT_STATE)
    }
    /// `owner`: the owner identity; changed only by compare-and-swap.
    pub(crate) fn owner(&self) -> &'a AtomicU64 {
        self.u64(l::ENT_OWNER)
    }
    pub(crate) fn cursor(&self) -> &'a AtomicU64 {
        self.u64(l::ENT_CURSOR)
    }
    pub(crate) fn heartbeat(&self) -> &'a AtomicU64 {
        self.u64(l::ENT_HEARTBEAT_NS)
    }
    pub(crate) fn depends_on(&self) -> &'a AtomicU64 {
        self.u64(l::ENT_DEPENDS_ON)
    }
    pub(crate) fn lost(&self) -> &'a AtomicU64 {
        self.u64(l::ENT_LOST)
    }
    pub(crate) fn gaps_seen(&self) -> &'a AtomicU64 {
        self.u64(l::ENT_GAPS_SEEN)
    }
    /// `flags` (release/acquire, spec 4.3).
    pub(crate) fn flags(&self) -> u32 {
        self.u32(l::ENT_FLAGS).load(Ordering::Acquire)
    }
    pub(crate) fn set_flags(&self, flags: u32) {
        self.u32(l::ENT_FLAGS).store(flags, Ordering::Release);
    }
    /// Clears `bits` of `flags` (an atomic and, release).
    pub(crate) fn clear_flags(&self, bits: u32) {
        self.u32(l::ENT_FLAGS).fetch_and(!bits, Ordering::Release);
    }
    /// Whether the entry is active with its start chosen (`flags` bit 1 clear, spec 5.7 step 6).
    pub(crate) fn ready(&self) -> bool {
        self.state_value() == l::ENTRY_ACTIVE && self.flags() & l::FLAG_STARTING == 0
    }
    /// The state value (bits 0-7) of an acquire load of `state`.
    pub(crate) fn state_value(&self) -> u32 {
        l::state_value(self.state().load(Ordering::Acquire))
    }
    /// The name, or `None` if `name_len` is out of 1..=48: such an entry is corrupt (spec 4.3)
    /// and matches no name. Never reads past the field.
    pub(crate) fn name_bytes(&self) -> Option<Vec<u8>> {
        let n = self.u32(l::ENT_NAME_LEN).load(Ordering::Relaxed) as usize;
        if !(1..=l::MAX_CONSUMER_NAME).contains(&n) {
            return None;
        }
        let mut b = vec![0u8; n];
        self.map.copy_out(self.base + l::ENT_NAME.offset, &mut b);
        Some(b)
    }
    /// Whether the entry's name is `name` (a corrupt entry matches nothing).
    pub(crate) fn name_is(&self, name: &[u8]) -> bool {
        self.name_bytes().is_some_and(|n| n == name)
    }
    pub(crate) fn write_name(&self, name: &[u8]) {
        let mut b = [0u8; l::MAX_CONSUMER_NAME];
        b[..name.len()].copy_from_slice(name);
        self.map.copy_in(self.base + l::ENT_NAME.offset, &b);
        self.u32(l::ENT_NAME_LEN)
            .store(name.len() as u32, Ordering::Relaxed);
    }
    /// Whether the entry gates the producer now (spec 5.3 step 1): active, required, and not
    /// corrupt (a valid `name_len`, spec 4.3).
    pub(crate) fn gates(&self) -> bool {
        self.gates_as(self.state().load(Ordering::SeqCst))
    }
    /// [`Entry::gates`] with `state` already loaded as `word` (the gating scan keeps it for its
    /// second pass): `flags` and `name_len` are loaded after it.
    pub(crate) fn gates_as(&self, word: u32) -> bool {
        l::state_value(word) == l::ENTRY_ACTIVE
            && self.flags() & l::FLAG_REQUIRED != 0
            && self.name_bytes().is_some()
    }
}

/// How an intent reads (spec 5.8): `intent_end` as `e1`, `intent_start`, `intent_end` as `e2`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Intent {
    /// `e1 == e2 == 0`: no claim held.
    None,
    /// `e1 == e2 != 0`: the claim `start..end`.
    Range(u64, u64),
    /// `e1 != e2`: the owner is changing it.
    InFlux,
}

impl Intent {
    /// Whether the intent covers sequence `s`.
    pub(crate) fn covers(self, s: u64) -> bool {
        matches!(self, Intent::Range(a, b) if a <= s && s < b)
    }
}

/// View of one producer registry entry (spec 4.4): the only code that knows its fields.
pub(crate) struct ProducerEntry<'a> {
    map: &'a Mapping,
    base: usize,
}

impl<'a> ProducerEntry<'a> {
    /// `state`: value in bits 0-7, generation in bits 8-31; changed only by compare-and-swap.
    pub(crate) fn state(&self) -> &'a AtomicU32 {
        self.map.u32_at(self.base + l::PRD_STATE.offset)
    }
    /// `owner`: the owner identity; changed only by compare-and-swap.
    pub(crate) fn owner(&self) -> &'a AtomicU64 {
        self.map.u64_at(self.base + l::PRD_OWNER.offset)
    }
    pub(crate) fn heartbeat(&self) -> &'a AtomicU64 {
        self.map.u64_at(self.base + l::PRD_HEARTBEAT_NS.offset)
    }
    pub(crate) fn intent_start(&self) -> &'a AtomicU64 {
        self.map.u64_at(self.base + l::PRD_INTENT_START.offset)
    }
    pub(crate) fn intent_end(&self) -> &'a AtomicU64 {
        self.map.u64_at(self.base + l::PRD_INTENT_END.offset)
    }
    /// Compare-and-swap of `owner` from `from` to `to` (seq-cst); whether it won.
    pub(crate) fn take_owner(&self, from: u64, to: u64) -> bool {
        self.owner()
            .compare_exchange(from, to, Ordering::SeqCst, Ordering::SeqCst)
            .is_ok()
    }
    /// Reads the intent's fields as spec 5.8 says: `intent_end`, `intent_start`, `intent_end`
    /// again; `(intent_start, intent_end)`, or `None` if `intent_end` changed meanwhile.
    pub(crate) fn intent_fields(&self) -> Option<(u64, u64)> {
        let e1 = self.intent_end().load(Ordering::SeqCst);
        let start = self.intent_start().load(Ordering::SeqCst);
        let e2 = self.intent_end().load(Ordering::SeqCst);
        (e1 == e2).then_some((start, e1))
    }
    /// The intent, read as [`ProducerEntry::intent_fields`] reads it.
    pub(crate) fn intent(&self) -> Intent {
        match self.intent_fields() {
            None => Intent::InFlux,
            Some((_, 0)) => Intent::None,
            Some((start, end)) => Intent::Range(start, end),
        }
    }
}
