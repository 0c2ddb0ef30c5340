//! One reading of a segment for tools (spec/VOCABULARY.md, "snapshot"): the Rust side of Go's
//! `segment.Snapshot`, with the same facts and, through [`Snapshot::to_json`], the same JSON.

use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use crate::atomics::monotonic_ns;
use crate::json::{self, Object};
use crate::layout as l;
use crate::poison::{Poison, PoisonPhase};
use crate::process;
use crate::segment::{
    EntryInfo, EntryState, ProducerInfo, ProducerMode, ProducerState, Segment, StreamState,
};

/// What a snapshot found of a process that a segment names by its pid and start time (spec
/// section 8). Go's `segment.Liveness`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Liveness {
    /// No process is named (pid 0, or owner word 0).
    None,
    /// The process runs (or cannot be told dead).
    Alive,
    /// No process has the pid, it is a zombie, or another process has it now.
    Dead,
}

impl Liveness {
    /// `none`, `alive` or `dead`, as in the JSON.
    pub fn as_str(self) -> &'static str {
        match self {
            Liveness::None => "none",
            Liveness::Alive => "alive",
            Liveness::Dead => "dead",
        }
    }

    /// The liveness of an owner identity (spec 4.3, 4.4 and 8) that was found dead or not.
    fn of_owner(owner: u64, dead: bool) -> Liveness {
        match (owner, dead) {
            (0, _) => Liveness::None,
            (_, true) => Liveness::Dead,
            _ => Liveness::Alive,
        }
    }
}

impl ProducerInfo {
    /// Whether the entry names no owner, a live one or a dead one.
    pub fn owner_liveness(&self) -> Liveness {
        Liveness::of_owner(self.owner, self.owner_dead)
    }
}

impl EntryInfo {
    /// Whether the entry names no owner, a live one or a dead one.
    pub fn owner_liveness(&self) -> Liveness {
        Liveness::of_owner(self.owner, self.owner_dead)
    }
}

/// One reading of a segment, for tools: its header, its producer and consumer registries, the
/// liveness of the processes they name, its counters and its poison record. Go's
/// `segment.Snapshot`, field for field (its derived fields, the heartbeat ages and the lags, are
/// methods here), and [`Snapshot::to_json`] writes Go's JSON.
///
/// A plain value copied out of the segment: it holds no reference to the mapping. Peers go on
/// working while it is taken, so each field was true at some instant of the reading, not all of
/// them at one instant. The registries are read before the counters, so that a consumer's lag is
/// never negative. Safe to share between threads.
#[derive(Debug, Clone)]
pub struct Snapshot {
    /// Where the segment lives: `shm:/name`, `file:/path` or `heap` ([`Segment::backing`]).
    pub backing: String,
    /// Wall-clock time of the reading.
    pub taken_at: SystemTime,
    /// `CLOCK_MONOTONIC` at the reading: heartbeat ages are measured from it.
    pub monotonic_ns: u64,

    /// `total_size`.
    pub total_size: u64,
    /// `version_major`.
    pub version_major: u16,
    /// `version_minor`.
    pub version_minor: u16,
    /// `header_len`.
    pub header_len: u32,
    /// `producer_mode`.
    pub mode: ProducerMode,
    /// `capacity`.
    pub capacity: u64,
    /// `slot_size`.
    pub slot_size: u32,
    /// `event_size`.
    pub event_size: u32,
    /// `event_align`.
    pub event_align: u32,
    /// `type_name` (each byte that is not valid UTF-8 as U+FFFD).
    pub type_name: String,
    /// `type_fingerprint`.
    pub type_fingerprint: u64,
    /// `incarnation`.
    pub incarnation: u64,
    /// `creator_pid` (0: unknown).
    pub creator_pid: u32,
    /// `creator_start_time`.
    pub creator_start_time: u64,
    /// The creator's process.
    pub creator: Liveness,
    /// `created_unix_ns` as a time.
    pub created_at: SystemTime,
    /// `producer_state`: whether the stream is open or closed.
    pub stream: StreamState,
    /// The header's `producer_heartbeat_ns`.
    pub producer_heartbeat_ns: u64,

    /// The count of events consumers read up to (spec 5.5 step 1): `published` in single mode,
    /// the claimed count in multi mode (where the availability words say which are published).
    pub published: u64,
    /// The claimed count: `cursors.claimed` without its closed bit.
    pub claimed: u64,
    /// Bit 62 of `cursors.claimed`: the stream is closed to further claims.
    pub claims_closed: bool,
    /// The header's `gaps`: sequences passed over because their producer died.
    pub gaps: u64,
    /// The header's `consumer_blockers`.
    pub consumer_blockers: u32,
    /// The header's `producer_blockers`.
    pub producer_blockers: u32,
    /// Whether a process that can publish is alive ([`Segment::live_producer`]).
    pub producer_alive: bool,

    /// `producer_capacity`.
    pub producer_capacity: u32,
    /// Every producer entry that is not free, in index order ([`Segment::producer_registry`]).
    pub producers: Vec<ProducerInfo>,
    /// `registry_capacity`.
    pub registry_capacity: u32,
    /// Every consumer entry that is not free, in index order ([`Segment::registry`]).
    pub consumers: Vec<EntryInfo>,
    /// The poison record; `None` while the ring is not poisoned.
    pub poison: Option<Poison>,
    /// A framed ring's frame geometry (spec section 11); `None` for a ring of fixed events
    /// (`payload_kind` 0).
    pub frames: Option<FramesInfo>,
}

/// The frame geometry of a framed ring (spec 11.1) as its header records it: Go's
/// `segment.FramesInfo`. Present for every `payload_kind` but 0 (fixed events).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FramesInfo {
    /// `frame_header_len`.
    pub frame_header_len: u32,
    /// `max_message`.
    pub max_message: u32,
    /// Why the ring fails check 14 of spec 5.2 (or 13, for a `payload_kind` the spec does not
    /// define), as [`Segment::frame_geometry`] reports it; `None` when it passes. The text is
    /// this crate's, not Go's: only whether it is there compares with Go.
    pub invalid: Option<String>,
}

impl Segment {
    /// Takes a snapshot of the segment: header, registries (producers, then consumers), then the
    /// counters, then the poison record, as Go's `segment.TakeSnapshot` reads them. Reads
    /// `/proc` for the liveness of every process named: for tools, not hot paths.
    pub fn snapshot(&self) -> Snapshot {
        let g = self.geometry();
        let monotonic_ns = monotonic_ns();
        let taken_at = SystemTime::now();
        let creator_pid = self.creator_pid();
        let creator_start_time = self.creator_start_time();
        let creator = match creator_pid {
            0 => Liveness::None,
            pid if process::is_dead(pid, creator_start_time) => Liveness::Dead,
            _ => Liveness::Alive,
        };
        let created_unix_ns = self
            .map()
            .u64_at(l::CREATED_UNIX_NS.offset)
            .load(Ordering::Relaxed);
        let stream = self.stream_state();
        let producer_heartbeat_ns = self.producer_heartbeat().load(Ordering::Acquire);
        let producers = self.producer_registry();
        let producer_alive = self.live_producer().is_some();
        let consumers = self.registry();

        // The counters after the cursors: a cursor never passes the count, which only grows.
        // One load of `claimed` gives the count and the closed bit; the count consumers read up
        // to is `count()`'s: `published` in single mode, the claimed count in multi mode.
        let claimed_word = self.claimed().load(Ordering::Acquire);
        let claimed = l::claimed_count(claimed_word);
        let published = match g.mode {
            ProducerMode::Single => self.published().load(Ordering::Acquire),
            ProducerMode::Multi => claimed,
        };
        let (consumer_blockers, producer_blockers) = self.blockers();
        Snapshot {
            backing: self.backing().to_string(),
            taken_at,
            monotonic_ns,
            total_size: g.total_size,
            version_major: g.major,
            version_minor: g.minor,
            header_len: g.header_len,
            mode: g.mode,
            capacity: g.capacity,
            slot_size: g.slot_size,
            event_size: g.event.size,
            event_align: g.event.align,
            type_name: g.event.name.clone(),
            type_fingerprint: g.event.fingerprint,
            incarnation: g.incarnation,
            creator_pid,
            creator_start_time,
            creator,
            created_at: UNIX_EPOCH + Duration::from_nanos(created_unix_ns),
            stream,
            producer_heartbeat_ns,
            published,
            claimed,
            claims_closed: l::claims_closed(claimed_word),
            gaps: self.gaps(),
            consumer_blockers,
            producer_blockers,
            producer_alive,
            producer_capacity: g.producer_capacity,
            producers,
            registry_capacity: g.registry_capacity,
            consumers,
            poison: self.poison_record(),
            frames: (g.payload_kind != l::PAYLOAD_FIXED).then(|| FramesInfo {
                frame_header_len: g.frame_header_len,
                max_message: g.max_message,
                invalid: self.frame_geometry().err().map(|e| e.to_string()),
            }),
        }
    }
}

impl Snapshot {
    /// How long before the reading a heartbeat stored at `then` (`CLOCK_MONOTONIC` ns) was:
    /// `None` when `then` is 0 (never stored) or later than the reading (a clock this host does
    /// not share). Go's `segment.HeartbeatAge`, with `None` for its -1.
    pub fn heartbeat_age(&self, then: u64) -> Option<Duration> {
        (then != 0 && then <= self.monotonic_ns && self.monotonic_ns - then <= i64::MAX as u64)
            .then(|| Duration::from_nanos(self.monotonic_ns - then))
    }

    /// How many published events consumer entry `e` has yet to release: `published - cursor`;
    /// `None` when it does not follow the stream (its state value is not active), or its cursor
    /// is past `published` (a corrupt entry). Go's `ConsumerInfo.Lag`, with `None` for its -1.
    pub fn lag(&self, e: &EntryInfo) -> Option<u64> {
        // By the state value, as Go: an active entry with a corrupt `name_len` included.
        let active = matches!(
            e.state,
            EntryState::Active | EntryState::Corrupt(l::ENTRY_ACTIVE)
        );
        (active && e.cursor <= self.published).then(|| self.published - e.cursor)
    }

    /// Whether the producers closed the stream: no more events will come.
    pub fn closed(&self) -> bool {
        self.stream == StreamState::Closed
    }

    /// The snapshot as one JSON object, with the field names and value conventions of Go's
    /// `segment.Snapshot` (what `ringwire inspect --json` prints), members in Go's order:
    ///
    /// - strings escaped as Go escapes them (a byte of a name that is not valid UTF-8 is
    ///   `\ufffd`);
    /// - states by Go's names: `stream` and producer `state` `unknown` for a value the spec does
    ///   not define; a consumer `state` by its state value (`unknown` for an undefined one), also
    ///   for an entry whose `name_len` is out of range, which [`EntryState::Corrupt`] marks and
    ///   whose `name` is empty here (Go shows it with an empty name too);
    /// - `taken_at` and `created_at` in RFC 3339 with nanoseconds, in UTC (Go writes its local
    ///   offset: the same instant);
    /// - heartbeat ages in nanoseconds, -1 for unknown; `lag` -1 for an entry that does not
    ///   follow the stream; `depends_on` the indices of the set bits; `poison` `null` when not
    ///   poisoned;
    /// - `frames` (`frame_header_len`, `max_message`, and `invalid` when the geometry fails its
    ///   check) only for a framed ring: absent for fixed events, as Go omits it. The text of
    ///   `invalid` is this crate's; Go's differs.
    ///
    /// Every other field of Go's snapshot is always present.
    pub fn to_json(&self) -> String {
        let mut out = String::with_capacity(1024);
        let mut o = Object::new(&mut out);
        o.field("backing", self.backing.as_str())
            .field_with("taken_at", |w| json::time(w, self.taken_at))
            .field("monotonic_ns", &self.monotonic_ns)
            .field("total_size", &self.total_size)
            .field("version_major", &self.version_major)
            .field("version_minor", &self.version_minor)
            .field("header_len", &self.header_len)
            .field("mode", self.mode.as_str())
            .field("capacity", &self.capacity)
            .field("slot_size", &self.slot_size)
            .field("event_size", &self.event_size)
            .field("event_align", &self.event_align)
            .field("type_name", self.type_name.as_str())
            .field("type_fingerprint", &self.type_fingerprint)
            .field("incarnation", &self.incarnation)
            .field("creator_pid", &self.creator_pid)
            .field("creator_start_time", &self.creator_start_time)
            .field("creator", self.creator.as_str())
            .field_with("created_at", |w| json::time(w, self.created_at))
            .field("stream", stream_name(self.stream))
            .field("producer_heartbeat_ns", &self.producer_heartbeat_ns)
            .field(
                "producer_heartbeat_age_ns",
                &self.age_ns(self.producer_heartbeat_ns),
            )
            .field("published", &self.published)
            .field("claimed", &self.claimed)
            .field("claims_closed", &self.claims_closed)
            .field("gaps", &self.gaps)
            .field("consumer_blockers", &self.consumer_blockers)
            .field("producer_blockers", &self.producer_blockers)
            .field("producer_alive", &self.producer_alive)
            .field("producer_capacity", &self.producer_capacity)
            .field_with("producers", |w| {
                json::array(w, &self.producers, |w, p| self.producer_json(w, p))
            })
            .field("registry_capacity", &self.registry_capacity)
            .field_with("consumers", |w| {
                json::array(w, &self.consumers, |w, e| self.consumer_json(w, e))
            })
            .field_with("poison", |w| match &self.poison {
                None => w.push_str("null"),
                Some(p) => {
                    Object::new(w)
                        .field("phase", phase_name(p.phase))
                        .field("seq", &p.seq)
                        .field("pid", &p.pid)
                        .field("stage", &p.stage)
                        .field("message", p.message.as_str())
                        .end();
                }
            });
        if let Some(f) = &self.frames {
            o.field_with("frames", |w| {
                let mut fo = Object::new(w);
                fo.field("frame_header_len", &f.frame_header_len)
                    .field("max_message", &f.max_message);
                if let Some(why) = &f.invalid {
                    fo.field("invalid", why.as_str());
                }
                fo.end();
            });
        }
        o.end();
        out
    }

    /// A heartbeat age in nanoseconds for the JSON: -1 for unknown.
    fn age_ns(&self, then: u64) -> i64 {
        self.heartbeat_age(then)
            .map_or(-1, |d| i64::try_from(d.as_nanos()).unwrap_or(i64::MAX))
    }

    fn producer_json(&self, w: &mut String, p: &ProducerInfo) {
        Object::new(w)
            .field("index", &p.index)
            .field("state", producer_state_name(p.state))
            .field("generation", &p.generation)
            .field("owner_pid", &p.owner_pid)
            .field("owner", p.owner_liveness().as_str())
            .field("heartbeat_ns", &p.heartbeat_ns)
            .field("heartbeat_age_ns", &self.age_ns(p.heartbeat_ns))
            .field("intent_start", &p.intent_start)
            .field("intent_end", &p.intent_end)
            .field("intent_changing", &p.intent_changing)
            .end();
    }

    fn consumer_json(&self, w: &mut String, e: &EntryInfo) {
        let lag = self
            .lag(e)
            .map_or(-1, |n| i64::try_from(n).unwrap_or(i64::MAX));
        Object::new(w)
            .field("index", &e.index)
            .field("name", e.name.as_str())
            .field("state", entry_state_name(e.state))
            .field("generation", &e.generation)
            .field("required", &e.required)
            .field("starting", &e.starting)
            .field("owner_pid", &e.owner_pid)
            .field("owner", e.owner_liveness().as_str())
            .field("cursor", &e.cursor)
            .field("lag", &lag)
            .field("heartbeat_ns", &e.heartbeat_ns)
            .field("heartbeat_age_ns", &self.age_ns(e.heartbeat_ns))
            .field_with("depends_on", |w| {
                json::array(
                    w,
                    (0..64usize).filter(|i| e.depends_on >> i & 1 == 1),
                    |w, i| json::Value::write_json(&i, w),
                )
            })
            .field("lost", &e.lost)
            .field("gaps_seen", &e.gaps_seen)
            .end();
    }
}

fn stream_name(s: StreamState) -> &'static str {
    match s {
        StreamState::Open => "open",
        StreamState::Closed => "closed",
        StreamState::Corrupt(_) => "unknown",
    }
}

fn producer_state_name(s: ProducerState) -> &'static str {
    match s {
        ProducerState::Active => "active",
        ProducerState::Closed => "closed",
        ProducerState::Dead => "dead",
        ProducerState::Corrupt(_) => "unknown",
    }
}

/// A consumer entry's state by its state value, as Go's `layout.StateName` names it.
fn entry_state_name(s: EntryState) -> &'static str {
    match s {
        EntryState::Corrupt(v) => match EntryState::from_u32(v) {
            Some(EntryState::Corrupt(_)) | None => "unknown",
            Some(defined) => defined.as_str(),
        },
        s => s.as_str(),
    }
}

fn phase_name(p: PoisonPhase) -> &'static str {
    match p {
        PoisonPhase::Publish => "publish",
        PoisonPhase::Handler => "handler",
        PoisonPhase::Other(_) => "unknown",
    }
}
