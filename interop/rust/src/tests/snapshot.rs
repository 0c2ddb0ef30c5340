//! Snapshots (spec/VOCABULARY.md, "snapshot"): one reading of a segment, and its JSON, which is
//! Go's `segment.Snapshot` JSON (conformance/snapshot_test.go compares the two on real rings).

use std::sync::atomic::Ordering;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use super::*;
use crate::event::EventType;
use crate::layout as l;
use crate::poison::{Poison, PoisonPhase};
use crate::producer::Producer;
use crate::segment::{
    Backing, EntryInfo, EntryState, ProducerInfo, ProducerMode, ProducerState, StreamState,
};
use crate::snapshot::{FramesInfo, Liveness, Snapshot};

/// A process that ran and was killed with SIGKILL and reaped: its owner identity names a dead
/// process.
fn killed_owner() -> u64 {
    let mut child = std::process::Command::new("sleep")
        .arg("60")
        .spawn()
        .expect("spawn sleep");
    let pid = child.id();
    let owner = l::owner_word(pid, crate::process::start_time(pid));
    child.kill().unwrap();
    child.wait().unwrap();
    owner
}

/// Puts consumer entry `i` in state `value`, generation `generation`, named `name`.
fn set_entry(seg: &Segment, i: usize, name: &[u8], value: u32, generation: u32) {
    let e = seg.entry(i);
    e.write_name(name);
    e.state()
        .store(l::state_word(value, generation), Ordering::SeqCst);
}

#[test]
fn a_snapshot_reports_every_field_of_a_heap_ring() {
    let cfg = Config {
        producer_capacity: 4,
        ..cfg(16, 4, ProducerMode::Multi)
    };
    let seg = Segment::create(Backing::Heap, &cfg, &EventType::of::<u64>().unwrap()).unwrap();
    let (me, dead) = (crate::process::own_identity(), killed_owner());
    let mono = crate::monotonic_ns();

    // Producer 0 is the creator, this process; 1 died mid-claim; 2 left.
    let p1 = seg.producer_entry(1);
    assert!(p1.take_owner(0, dead));
    p1.heartbeat().store(mono - 1_000_000_000, Ordering::SeqCst);
    p1.intent_start().store(5, Ordering::SeqCst);
    p1.intent_end().store(9, Ordering::SeqCst);
    p1.state()
        .store(l::state_word(l::PRODUCER_DEAD, 3), Ordering::SeqCst);
    let p2 = seg.producer_entry(2);
    assert!(p2.take_owner(0, me));
    p2.state()
        .store(l::state_word(l::PRODUCER_CLOSED, 1), Ordering::SeqCst);

    // Consumer 0 active and required; 1 optional, starting, after 0 and 3, its owner dead;
    // 2 closed; 3 free.
    set_entry(&seg, 0, b"audit", l::ENTRY_ACTIVE, 7);
    let e0 = seg.entry(0);
    e0.set_flags(l::FLAG_REQUIRED);
    e0.owner().store(me, Ordering::SeqCst);
    e0.cursor().store(4, Ordering::SeqCst);
    e0.heartbeat().store(mono, Ordering::SeqCst);
    e0.lost().store(2, Ordering::SeqCst);
    e0.gaps_seen().store(1, Ordering::SeqCst);
    set_entry(&seg, 1, b"risk\n", l::ENTRY_ACTIVE, 1);
    let e1 = seg.entry(1);
    e1.set_flags(l::FLAG_STARTING);
    e1.owner().store(dead, Ordering::SeqCst);
    e1.depends_on().store(1 << 0 | 1 << 3, Ordering::SeqCst);
    e1.cursor().store(2, Ordering::SeqCst);
    set_entry(&seg, 2, b"gone", l::ENTRY_CLOSED, 2);
    seg.entry(2).cursor().store(1, Ordering::SeqCst);

    seg.claimed()
        .store(10 | l::CLAIMED_CLOSED, Ordering::SeqCst);
    seg.producer_state()
        .store(l::STREAM_CLOSED, Ordering::SeqCst);
    seg.gaps_word().store(1, Ordering::SeqCst);
    seg.consumer_blockers().store(2, Ordering::SeqCst);
    seg.producer_blockers().store(1, Ordering::SeqCst);
    let record = Poison {
        phase: PoisonPhase::Handler,
        seq: 6,
        pid: 42,
        stage: 1,
        message: "boom".into(),
    };
    assert!(seg.poison(&record));

    let s = seg.snapshot();
    let g = seg.geometry();
    assert_eq!(s.backing, "heap");
    assert!(s.monotonic_ns >= mono);
    let age = SystemTime::now().duration_since(s.taken_at).unwrap();
    assert!(age < Duration::from_secs(60));
    assert_eq!(
        (s.total_size, s.version_major, s.version_minor, s.header_len),
        (
            g.total_size,
            l::VERSION_MAJOR,
            l::VERSION_MINOR,
            l::HEADER_LEN as u32
        )
    );
    assert_eq!(s.mode, ProducerMode::Multi);
    assert_eq!(
        (s.capacity, s.slot_size, s.event_size, s.event_align),
        (16, 8, 8, 8)
    );
    assert_eq!(s.type_name, "u64");
    assert_eq!(
        s.type_fingerprint,
        EventType::of::<u64>().unwrap().fingerprint
    );
    assert_eq!(s.incarnation, g.incarnation);
    assert_eq!(s.creator_pid, std::process::id());
    assert_eq!(s.creator_start_time, seg.creator_start_time());
    assert_eq!(s.creator, Liveness::Alive);
    let created = s.created_at.duration_since(UNIX_EPOCH).unwrap();
    assert!(created.as_secs() > 1_600_000_000);
    assert_eq!(s.stream, StreamState::Closed);
    assert!(s.closed());
    assert!(s.producer_alive);

    assert_eq!(
        s.published, 10,
        "multi mode: the claimed count, without bit 62"
    );
    assert_eq!(s.claimed, 10);
    assert!(s.claims_closed);
    assert_eq!(s.gaps, 1);
    assert_eq!((s.consumer_blockers, s.producer_blockers), (2, 1));
    assert_eq!(s.poison, Some(record));

    assert_eq!(s.producer_capacity, 4);
    let states: Vec<_> = s.producers.iter().map(|p| (p.index, p.state)).collect();
    assert_eq!(
        states,
        [
            (0, ProducerState::Active),
            (1, ProducerState::Dead),
            (2, ProducerState::Closed)
        ]
    );
    assert_eq!(s.producers[0].owner_liveness(), Liveness::Alive);
    let p = &s.producers[1];
    assert_eq!((p.generation, p.owner_pid), (3, l::owner_pid(dead)));
    assert_eq!(p.owner_liveness(), Liveness::Dead);
    assert_eq!(
        (p.intent_start, p.intent_end, p.intent_changing),
        (5, 9, false)
    );
    assert!(s.heartbeat_age(p.heartbeat_ns).unwrap() >= Duration::from_secs(1));

    assert_eq!(s.registry_capacity, 4);
    let consumers: Vec<_> = s
        .consumers
        .iter()
        .map(|e| {
            (
                e.index,
                e.name.as_str(),
                e.state,
                e.generation,
                e.required,
                e.starting,
                e.owner_liveness(),
                e.cursor,
                s.lag(e),
                e.depends_on,
                e.lost,
                e.gaps_seen,
            )
        })
        .collect();
    assert_eq!(
        consumers,
        [
            (
                0,
                "audit",
                EntryState::Active,
                7,
                true,
                false,
                Liveness::Alive,
                4,
                Some(6),
                0,
                2,
                1
            ),
            (
                1,
                "risk\n",
                EntryState::Active,
                1,
                false,
                true,
                Liveness::Dead,
                2,
                Some(8),
                0b1001,
                0,
                0
            ),
            (
                2,
                "gone",
                EntryState::Closed,
                2,
                false,
                false,
                Liveness::None,
                1,
                None,
                0,
                0,
                0
            ),
        ]
    );
    assert_eq!(s.consumers[0].owner_pid, std::process::id());
    assert_eq!(s.consumers[1].owner_pid, l::owner_pid(dead));
    assert_eq!(
        s.heartbeat_age(s.consumers[0].heartbeat_ns).map(|_| ()),
        Some(())
    );
    assert_eq!(
        s.heartbeat_age(s.consumers[1].heartbeat_ns),
        None,
        "never stored"
    );

    // The JSON has Go's members, in Go's order, with its conventions.
    let j = s.to_json();
    for want in [
        r#"{"backing":"heap","taken_at":""#,
        r#","mode":"multi","capacity":16,"slot_size":8,"event_size":8,"event_align":8,"type_name":"u64","#,
        r#","creator":"alive","created_at":""#,
        r#","stream":"closed","producer_heartbeat_ns":"#,
        r#","published":10,"claimed":10,"claims_closed":true,"gaps":1,"consumer_blockers":2,"producer_blockers":1,"producer_alive":true,"producer_capacity":4,"producers":[{"index":0,"state":"active","generation":1,"#,
        r#"{"index":1,"state":"dead","generation":3,"owner_pid":"#,
        r#","owner":"dead","heartbeat_ns":"#,
        r#","intent_start":5,"intent_end":9,"intent_changing":false},{"index":2,"state":"closed","#,
        r#"],"registry_capacity":4,"consumers":[{"index":0,"name":"audit","state":"active","generation":7,"required":true,"starting":false,"owner_pid":"#,
        r#","owner":"alive","cursor":4,"lag":6,"heartbeat_ns":"#,
        r#","depends_on":[],"lost":2,"gaps_seen":1},{"index":1,"name":"risk\n","state":"active","generation":1,"required":false,"starting":true,"#,
        r#","cursor":2,"lag":8,"heartbeat_ns":0,"heartbeat_age_ns":-1,"depends_on":[0,3],"lost":0,"gaps_seen":0},"#,
        r#"{"index":2,"name":"gone","state":"closed","generation":2,"required":false,"starting":false,"owner_pid":0,"owner":"none","cursor":1,"lag":-1,"#,
        r#"}],"poison":{"phase":"handler","seq":6,"pid":42,"stage":1,"message":"boom"}}"#,
    ] {
        assert!(j.contains(want), "{want}\nnot in\n{j}");
    }
}

/// A snapshot built by hand, every value known: its JSON, byte for byte.
#[test]
fn to_json_writes_go_s_json() {
    let s = Snapshot {
        backing: "shm:/orders".into(),
        taken_at: UNIX_EPOCH + Duration::new(1_700_000_000, 123_456_000),
        monotonic_ns: 5_000,
        total_size: 8192,
        version_major: 2,
        version_minor: 0,
        header_len: 1024,
        mode: ProducerMode::Single,
        capacity: 8,
        slot_size: 8,
        event_size: 8,
        event_align: 8,
        type_name: "u64".into(),
        type_fingerprint: u64::MAX,
        incarnation: 1 << 63,
        creator_pid: 7,
        creator_start_time: 99,
        creator: Liveness::Dead,
        created_at: UNIX_EPOCH,
        stream: StreamState::Corrupt(9),
        producer_heartbeat_ns: 6_000,
        published: 3,
        claimed: 4,
        claims_closed: false,
        gaps: 0,
        consumer_blockers: 0,
        producer_blockers: 0,
        producer_alive: false,
        producer_capacity: 1,
        producers: vec![ProducerInfo {
            index: 0,
            state: ProducerState::Corrupt(7),
            generation: 1,
            owner: 0,
            owner_pid: 0,
            owner_dead: true,
            heartbeat_ns: 4_000,
            intent_start: 0,
            intent_end: 0,
            intent_changing: true,
        }],
        registry_capacity: 2,
        consumers: vec![EntryInfo {
            index: 1,
            state: EntryState::Corrupt(l::ENTRY_ACTIVE),
            name: "q\"b\\s\u{1}\u{8}<&\u{2028}\u{fffd}é".into(),
            required: true,
            starting: false,
            generation: 3,
            owner: l::owner_word(12, 0),
            owner_pid: 12,
            owner_dead: true,
            cursor: 1,
            lost: 0,
            gaps_seen: 0,
            heartbeat_ns: 5_000,
            depends_on: 1 << 63,
        }],
        poison: None,
        frames: None,
    };
    assert_eq!(
        s.to_json(),
        concat!(
            r#"{"backing":"shm:/orders","taken_at":"2023-11-14T22:13:20.123456Z","monotonic_ns":5000,"#,
            r#""total_size":8192,"version_major":2,"version_minor":0,"header_len":1024,"mode":"single","#,
            r#""capacity":8,"slot_size":8,"event_size":8,"event_align":8,"type_name":"u64","#,
            r#""type_fingerprint":18446744073709551615,"incarnation":9223372036854775808,"#,
            r#""creator_pid":7,"creator_start_time":99,"creator":"dead","created_at":"1970-01-01T00:00:00Z","#,
            r#""stream":"unknown","producer_heartbeat_ns":6000,"producer_heartbeat_age_ns":-1,"#,
            r#""published":3,"claimed":4,"claims_closed":false,"gaps":0,"consumer_blockers":0,"#,
            r#""producer_blockers":0,"producer_alive":false,"producer_capacity":1,"#,
            r#""producers":[{"index":0,"state":"unknown","generation":1,"owner_pid":0,"owner":"none","#,
            r#""heartbeat_ns":4000,"heartbeat_age_ns":1000,"intent_start":0,"intent_end":0,"intent_changing":true}],"#,
            r#""registry_capacity":2,"consumers":[{"index":1,"#,
            r#""name":"q\"b\\s\u0001\b\u003c\u0026\u2028\ufffdé","state":"active","generation":3,"#,
            r#""required":true,"starting":false,"owner_pid":12,"owner":"dead","cursor":1,"lag":2,"#,
            r#""heartbeat_ns":5000,"heartbeat_age_ns":0,"depends_on":[63],"lost":0,"gaps_seen":0}],"#,
            r#""poison":null}"#
        )
    );
}

/// A name of bytes that are not UTF-8 reads as Go's JSON writes it: each such byte one U+FFFD
/// (Rust's `from_utf8_lossy` would give one for the truncated sequence `e2 82`).
#[test]
fn a_name_that_is_not_utf8_reads_as_go_writes_it() {
    let seg = Segment::create(
        Backing::Heap,
        &cfg(8, 2, ProducerMode::Single),
        &EventType::of::<u64>().unwrap(),
    )
    .unwrap();
    set_entry(
        &seg,
        0,
        b"a\"\\\x01\xe2\x82z\xff\tok\xc3\xa9",
        l::ENTRY_ACTIVE,
        1,
    );
    let s = seg.snapshot();
    assert_eq!(
        s.consumers[0].name,
        "a\"\\\u{1}\u{fffd}\u{fffd}z\u{fffd}\tok\u{e9}"
    );
    assert!(
        s.to_json()
            .contains(r#""name":"a\"\\\u0001\ufffd\ufffdz\ufffd\toké""#),
        "{}",
        s.to_json()
    );
    assert_eq!(
        crate::naming::decode_lossy(b"\xed\xa0\x80"),
        "\u{fffd}".repeat(3)
    );
    assert_eq!(crate::naming::decode_lossy(b"ok"), "ok");
}

/// Dates in the JSON: the Unix epoch, a leap day, the day after a century that is not a leap
/// year, and trailing zeros of the fraction dropped as Go drops them.
#[test]
fn times_are_rfc3339_in_utc() {
    let at = |secs: u64, nanos: u32| {
        let mut out = String::new();
        crate::json::time(&mut out, UNIX_EPOCH + Duration::new(secs, nanos));
        out
    };
    assert_eq!(at(0, 0), r#""1970-01-01T00:00:00Z""#);
    assert_eq!(at(951_782_400, 1), r#""2000-02-29T00:00:00.000000001Z""#);
    assert_eq!(
        at(4_107_542_400, 500_000_000),
        r#""2100-03-01T00:00:00.5Z""#
    );
    assert_eq!(at(1_709_251_199, 0), r#""2024-02-29T23:59:59Z""#);
}

/// A real multi-producer ring that closed: bit 62 of `claimed` is set, and the counts are without
/// it.
#[test]
fn a_closed_multi_ring_counts_without_the_closed_bit() {
    let mut p = Producer::<u64>::create(Backing::Heap, &multi_cfg(16, 2)).unwrap();
    let seg = p.segment().clone();
    p.publish_batch(&[1, 2, 3]).unwrap();
    p.close().unwrap();
    let s = seg.snapshot();
    assert!(s.closed() && s.claims_closed);
    assert_eq!((s.published, s.claimed), (3, 3));
    assert!(s
        .to_json()
        .contains(r#""published":3,"claimed":3,"claims_closed":true"#));
}

/// Single mode: `published` is `cursors.published`, which may trail the claimed count.
#[test]
fn a_single_ring_publishes_its_published_cursor() {
    let seg = Segment::create(
        Backing::Heap,
        &cfg(8, 2, ProducerMode::Single),
        &EventType::of::<u64>().unwrap(),
    )
    .unwrap();
    seg.published().store(2, Ordering::SeqCst);
    seg.claimed().store(3, Ordering::SeqCst);
    set_entry(&seg, 0, b"c", l::ENTRY_ACTIVE, 1);
    seg.entry(0).cursor().store(2, Ordering::SeqCst);
    let s = seg.snapshot();
    assert_eq!((s.published, s.claimed, s.claims_closed), (2, 3, false));
    assert_eq!(s.lag(&s.consumers[0]), Some(0));
    assert_eq!(s.mode, ProducerMode::Single);
    assert_eq!(s.poison, None);
    assert!(s.to_json().ends_with(r#""poison":null}"#));
}

/// With its creator and every producer entry's owner dead, nobody can publish.
#[test]
fn a_ring_whose_producers_died_has_no_live_producer() {
    let seg = Segment::create(
        Backing::Heap,
        &multi_cfg(8, 2),
        &EventType::of::<u64>().unwrap(),
    )
    .unwrap();
    seg.map()
        .u32_at(l::CREATOR_PID.offset)
        .store(DEAD_PID, Ordering::SeqCst);
    set_producer_owner(&seg, 0, DEAD_PID);
    let s = seg.snapshot();
    assert_eq!(s.creator, Liveness::Dead);
    assert_eq!(s.producers[0].owner_liveness(), Liveness::Dead);
    assert!(!s.producer_alive);
    assert!(s.to_json().contains(r#""producer_alive":false"#));
}

/// A shared-memory and a file segment name their backing as Go does.
#[test]
fn the_backing_is_named_as_go_names_it() {
    let ty = EventType::of::<u64>().unwrap();
    let name = ShmGuard::new();
    let seg =
        Segment::create(Backing::Shm(&name.0), &cfg(8, 2, ProducerMode::Single), &ty).unwrap();
    assert_eq!(seg.snapshot().backing, format!("shm:{}", name.0));
    let attached = Segment::attach_shm(&name.0, Duration::ZERO).unwrap();
    assert_eq!(attached.snapshot().backing, format!("shm:{}", name.0));
    assert_eq!(
        Segment::from_image(&seg.image())
            .unwrap()
            .snapshot()
            .backing,
        "heap"
    );
    let path = std::env::temp_dir().join(format!("rwrs-snap-{}", std::process::id()));
    let _ = std::fs::remove_file(&path);
    let file = Segment::create(Backing::File(&path), &cfg(8, 2, ProducerMode::Single), &ty);
    let backing = file.map(|f| f.snapshot().backing);
    let _ = std::fs::remove_file(&path);
    assert_eq!(backing.unwrap(), format!("file:{}", path.display()));
}

/// A framed ring's snapshot has Go's `frames` member (its frame geometry), last; a ring of fixed
/// events has none; a framed ring whose geometry fails check 14 says why in `frames.invalid`.
#[test]
fn a_framed_ring_shows_its_frame_geometry_and_a_fixed_one_none() {
    let fixed = Producer::<u64>::create(Backing::Heap, &cfg(16, 2, ProducerMode::Single)).unwrap();
    let s = fixed.segment().snapshot();
    assert_eq!(s.frames, None);
    assert!(!s.to_json().contains("frames"), "{}", s.to_json());

    let framed_cfg = Config {
        frames: Some(crate::segment::FrameConfig::default()),
        ..cfg(16, 2, ProducerMode::Single)
    };
    let mut p = crate::producer::FramedProducer::create(Backing::Heap, &framed_cfg).unwrap();
    p.publish(b"hello").unwrap();
    let seg = p.segment().clone();
    let s = seg.snapshot();
    let max = seg.geometry().max_message;
    assert_eq!(
        s.frames,
        Some(FramesInfo {
            frame_header_len: 16,
            max_message: max,
            invalid: None
        })
    );
    assert!(
        s.to_json().ends_with(&format!(
            r#","poison":null,"frames":{{"frame_header_len":16,"max_message":{max}}}}}"#
        )),
        "{}",
        s.to_json()
    );

    // max_message past an eighth of the ring: checks 1 to 12 pass, check 14 does not.
    let mut img = seg.image();
    let at = l::MAX_MESSAGE.offset;
    img[at..at + 4].copy_from_slice(&(max + 1).to_le_bytes());
    let bad = Segment::from_image(&img).unwrap().snapshot();
    let f = bad.frames.clone().expect("still a framed ring");
    assert_eq!((f.frame_header_len, f.max_message), (16, max + 1));
    let why = f.invalid.expect("the geometry fails check 14");
    assert!(why.starts_with("bad frame geometry"), "{why}");
    let j = bad.to_json();
    assert!(
        j.contains(&format!(
            r#","frames":{{"frame_header_len":16,"max_message":{},"invalid":"bad frame geometry"#,
            max + 1
        )),
        "{j}"
    );
}
