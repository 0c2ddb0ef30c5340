//! Unit tests of creating, validating, publishing and consuming, in one process.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use crate::consumer::{Consumer, ConsumerOptions, Item, Start};
use crate::error::Error;
use crate::event::{ConformanceEvent, Event, EventType};
use crate::layout as l;
use crate::producer::Producer;
use crate::segment::{self, Backing, Config, ProducerMode, Segment};
use crate::wait::WaitMode;
use crate::{golden, mapping::Mapping};

mod creation;
mod liveness;
mod optional;
mod recovery;
mod registry;
mod waking;

/// A shared-memory name `/rwrs-<pid>-<n>` that is unlinked when the guard drops, even when the
/// test fails.
pub(crate) struct ShmGuard(pub String);

impl ShmGuard {
    pub(crate) fn new() -> ShmGuard {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        ShmGuard(format!(
            "/rwrs-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ))
    }
}

impl Drop for ShmGuard {
    fn drop(&mut self) {
        let _ = segment::unlink_shm(&self.0);
    }
}

pub(crate) fn cfg(capacity: u64, registry_capacity: u32, mode: ProducerMode) -> Config {
    Config {
        capacity,
        registry_capacity,
        mode,
        ..Config::default()
    }
}

pub(crate) fn opts(name: &str, required: bool, start: Start) -> ConsumerOptions {
    ConsumerOptions {
        name: name.into(),
        required,
        start,
        depends_on: 0,
        stall_timeout: crate::DEFAULT_STALL_TIMEOUT,
        wait: WaitMode::Block,
    }
}

/// xorshift64*: deterministic randomness without a dependency.
struct Rng(u64);
impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

fn put32(img: &mut [u8], off: usize, v: u32) {
    img[off..off + 4].copy_from_slice(&v.to_le_bytes());
}
fn put64(img: &mut [u8], off: usize, v: u64) {
    img[off..off + 8].copy_from_slice(&v.to_le_bytes());
}

#[test]
fn validate_reports_each_check_in_order() {
    let good = golden::image("multi-wrapped").unwrap();
    type Corrupt = fn(&mut Vec<u8>);
    let cases: &[(&str, Corrupt, &str)] = &[
        ("1 short", |i| i.truncate(511), "too_small"),
        ("2 init 0", |i| put32(i, 8, 0), "initializing"),
        (
            "3 magic before state",
            |i| {
                put64(i, 0, 1);
                put32(i, 8, 7)
            },
            "bad_magic",
        ),
        ("4 state", |i| put32(i, 8, 2), "bad_state"),
        ("5 major 1 (a 1.x segment)", |i| i[12] = 1, "version"),
        ("5 major 3", |i| i[12] = 3, "version"),
        ("6 header_len", |i| put32(i, 16, 500), "header_length"),
        (
            "6 header_len > total",
            |i| put32(i, 16, 8192 + 8),
            "header_length",
        ),
        ("7 truncated", |i| i.truncate(8191), "truncated"),
        ("8 capacity", |i| put64(i, 32, 3), "capacity"),
        (
            "8 capacity before geometry",
            |i| {
                put64(i, 32, 1);
                put32(i, 192, 0)
            },
            "capacity",
        ),
        ("9 event size", |i| put32(i, 192, 0), "slot_geometry"),
        ("9 slot size", |i| put32(i, 40, 72), "slot_geometry"),
        ("9 align mismatch", |i| put32(i, 44, 16), "slot_geometry"),
        ("9 type name", |i| put32(i, 208, 65), "slot_geometry"),
        ("10 mode", |i| put32(i, 20, 3), "producer_mode"),
        (
            "10 producer capacity 0",
            |i| put32(i, 212, 0),
            "producer_mode",
        ),
        (
            "10 producer capacity 65",
            |i| put32(i, 212, 65),
            "producer_mode",
        ),
        ("11 registry capacity", |i| put32(i, 48, 65), "registry"),
        ("11 entry size", |i| put32(i, 52, 320), "registry"),
        ("12 cursors offset", |i| put64(i, 96, 520), "region"),
        ("12 wait overlap", |i| put64(i, 112, 512), "region"),
        ("12 slots past end", |i| put64(i, 160, 8192 - 128), "region"),
        ("12 availability length", |i| put64(i, 152, 8), "region"),
        ("12 registry length", |i| put64(i, 136, 256), "region"),
        ("12 producers length", |i| put64(i, 184, 128), "region"),
        ("12 producers overlap", |i| put64(i, 176, 1024), "region"),
        ("12 producers offset", |i| put64(i, 176, 1600), "region"),
    ];
    assert!(segment::validate_image(&good).is_ok());
    for (name, corrupt, code) in cases {
        let mut img = good.clone();
        corrupt(&mut img);
        match segment::validate_image(&img) {
            Ok(_) => panic!("{name}: accepted"),
            Err(e) => assert_eq!(e.code(), *code, "{name}: {e}"),
        }
    }
    // A later minor is accepted; the error of a wrong major reports both versions.
    let mut img = good.clone();
    img[14] = 9;
    assert_eq!(segment::validate_image(&img).unwrap().minor, 9);
    img[12] = 3;
    let msg = segment::validate_image(&img).unwrap_err().to_string();
    assert!(msg.contains("3.9") && msg.contains("2.0"), "{msg}");
}

#[test]
fn wrong_event_type_is_refused() {
    let p = Producer::<ConformanceEvent>::create(Backing::Heap, &Config::default()).unwrap();
    let e = Consumer::<u64>::register(p.segment(), &ConsumerOptions::required("c")).err();
    assert!(matches!(
        e,
        Some(Error::WrongEventType {
            found_size: 64,
            expected_size: 8,
            ..
        })
    ));
}

/// Random byte flips in valid images: validation and a consumer on top must return Ok or Err,
/// never panic or touch memory outside the mapping.
#[test]
fn corrupt_images_never_panic() {
    let mut rng = Rng(0x9e37_79b9_7f4a_7c15);
    let mut accepted = 0;
    for scenario in golden::SCENARIOS {
        let good = golden::image(scenario).unwrap();
        for round in 0..1000 {
            let mut img = good.clone();
            let flips = 1 + rng.next() % 8;
            for _ in 0..flips {
                // Mostly the header and registry, where the structure lives.
                let span = if round % 2 == 0 { 1536 } else { img.len() };
                let at = (rng.next() as usize) % span;
                img[at] ^= 1 << (rng.next() % 8);
            }
            if round % 4 == 1 {
                // A whole word of a field that arithmetic depends on set to an extreme value.
                const WORDS: &[usize] = &[
                    24,
                    32,
                    96,
                    104,
                    112,
                    120,
                    128,
                    136,
                    144,
                    152,
                    160,
                    168,
                    512,
                    640,
                    1024 + 8,
                    1024 + 128,
                    1024 + 40,
                    1280 + 8,
                    1280 + 128,
                ];
                let at = WORDS[(rng.next() as usize) % WORDS.len()];
                let v = match rng.next() % 4 {
                    0 => u64::MAX,
                    1 => u64::MAX - (rng.next() % 64),
                    2 => 1 << 63,
                    _ => rng.next(),
                };
                if at + 8 <= img.len() {
                    put64(&mut img, at, v);
                }
            }
            if round % 50 == 0 {
                img.truncate((rng.next() as usize) % img.len());
            }
            let Ok(seg) = Segment::from_image(&img) else {
                continue;
            };
            accepted += 1;
            let _ = seg.registry();
            let _ = seg.active_consumers();
            if let Ok(mut c) = Consumer::<ConformanceEvent>::register(
                &seg,
                &opts("fuzz", round % 3 != 0, Start::Oldest),
            ) {
                let _ = c.poll(64, |_, _, _| {});
                let _ = c.poll(64, |_, _, _| {});
            }
            if let Ok(mut p) = Producer::<ConformanceEvent>::attach(&seg) {
                p.set_timeout(Duration::from_millis(1));
                let _ = p.publish(&ConformanceEvent::new(0, 0));
            }
        }
    }
    assert!(
        accepted > 100,
        "only {accepted} corrupt images were accepted"
    );
}

#[test]
fn golden_images_are_deterministic_and_valid() {
    for s in golden::SCENARIOS {
        let a = golden::image(s).unwrap();
        assert_eq!(a, golden::image(s).unwrap(), "{s}");
        assert_eq!(a.len() % 4096, 0);
        let seg = Segment::from_image(&a).unwrap();
        assert_eq!(seg.geometry().incarnation, 0);
    }
    let seg = Segment::from_image(&golden::image("multi-wrapped").unwrap()).unwrap();
    let r = seg.registry();
    assert_eq!(r.len(), 2);
    assert_eq!(
        (r[0].name.as_str(), r[0].cursor, r[0].required),
        ("c1", 4, true)
    );
    assert_eq!(
        (r[1].name.as_str(), r[1].cursor, r[1].required),
        ("c2", 6, false)
    );
    assert_eq!(r[1].generation, 1);
    let words: Vec<u64> = (0..4)
        .map(|s| seg.availability(s).load(Ordering::Relaxed))
        .collect();
    assert_eq!(words, [5, 6, 3, 4]);
    assert_eq!(seg.claimed().load(Ordering::Relaxed), 6);
    assert_eq!(seg.published().load(Ordering::Relaxed), 0);
}

/// The committed golden files of format 2.0 (written by the Go conformer) equal ours byte for
/// byte after masking, and validate.
#[test]
fn golden_images_match_testdata_v2() {
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../../conformance/testdata/v2");
    for s in golden::SCENARIOS {
        let mut theirs =
            std::fs::read(format!("{dir}/{s}.bin")).unwrap_or_else(|e| panic!("{s}.bin: {e}"));
        assert!(
            Segment::from_image(&theirs).is_ok(),
            "{s}.bin does not validate"
        );
        golden::mask(&mut theirs);
        let ours = golden::image(s).unwrap();
        assert_eq!(theirs.len(), ours.len(), "{s}.bin length");
        if let Some(at) = (0..ours.len()).find(|&i| theirs[i] != ours[i]) {
            panic!(
                "{s}.bin differs first at byte {at}: {} (theirs) != {} (ours)",
                theirs[at], ours[at]
            );
        }
    }
    // The images of format 1.0 are refused with the version error naming both versions.
    let v1 = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../conformance/testdata/v1/empty.bin"
    );
    if let Ok(img) = std::fs::read(v1) {
        match Segment::from_image(&img) {
            Err(e @ Error::UnsupportedVersion { found_major: 1, .. }) => {
                assert!(
                    e.to_string().contains("1.0") && e.to_string().contains("2.0"),
                    "{e}"
                )
            }
            other => panic!("a 1.0 image: {:?}", other.map(|_| ())),
        }
    }
}

#[test]
fn shm_create_attach_and_guards() {
    let g = ShmGuard::new();
    let mut p =
        Producer::<ConformanceEvent>::create(Backing::Shm(&g.0), &cfg(16, 2, ProducerMode::Single))
            .unwrap();
    // Exclusive creation.
    let again = Producer::<ConformanceEvent>::create(Backing::Shm(&g.0), &Config::default());
    assert!(
        matches!(again, Err(Error::Io(ref e)) if e.kind() == std::io::ErrorKind::AlreadyExists)
    );
    let seg = Segment::attach_shm(&g.0, Duration::from_secs(1)).unwrap();
    assert_ne!(seg.geometry().incarnation, 0);
    assert_eq!(
        seg.geometry().incarnation,
        p.segment().geometry().incarnation
    );
    let mut c =
        Consumer::<ConformanceEvent>::register(&seg, &ConsumerOptions::required("c1")).unwrap();
    p.publish(&ConformanceEvent::new(0, 0)).unwrap();
    let mut got = Vec::new();
    c.poll(10, |e, s, eob| got.push((e.event().unwrap().seq, s, eob)))
        .unwrap();
    assert_eq!(got, [(0, 0, true)]);
    p.close().unwrap();
    assert!(c.poll(10, |_, _, _| {}).unwrap().ended);
    drop(c);
    assert_eq!(seg.registry()[0].state, crate::EntryState::Closed);
    // Not found, bounded.
    let t = Instant::now();
    let missing = ShmGuard::new();
    assert!(matches!(
        Segment::attach_shm(&missing.0, Duration::from_millis(30)),
        Err(Error::NotFound)
    ));
    assert!(t.elapsed() < Duration::from_secs(2));
}

#[test]
fn attach_waits_while_initializing() {
    let g = ShmGuard::new();
    let p = Producer::<ConformanceEvent>::create(Backing::Shm(&g.0), &Config::default()).unwrap();
    let init = p.segment().map().u32_at(l::INIT_STATE.offset);
    init.store(0, Ordering::SeqCst);
    assert!(matches!(
        Segment::attach_shm(&g.0, Duration::from_millis(20)),
        Err(Error::Initializing)
    ));
    let name = g.0.clone();
    let waiter = std::thread::spawn(move || Segment::attach_shm(&name, Duration::from_secs(5)));
    std::thread::sleep(Duration::from_millis(30));
    init.store(1, Ordering::Release);
    assert!(waiter.join().unwrap().is_ok());
}

#[test]
fn file_backed_segment() {
    let path = std::env::temp_dir().join(format!("rwrs-{}-file.seg", std::process::id()));
    let _ = std::fs::remove_file(&path);
    struct Rm(std::path::PathBuf);
    impl Drop for Rm {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }
    let _rm = Rm(path.clone());
    let mut p =
        Producer::<u64>::create(Backing::File(&path), &cfg(4, 1, ProducerMode::Single)).unwrap();
    let seg = Segment::attach_path(&path, Duration::from_secs(1)).unwrap();
    let mut c = Consumer::<u64>::register(&seg, &ConsumerOptions::required("f")).unwrap();
    p.publish_batch(&[7, 8, 9]).unwrap();
    let mut got = vec![];
    c.poll(100, |v, _, _| got.push(v.event().unwrap())).unwrap();
    assert_eq!(got, [7, 8, 9]);
    let meta = std::fs::metadata(&path).unwrap();
    assert_eq!(meta.len(), seg.geometry().total_size);
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(meta.permissions().mode() & 0o777, 0o600);
}

/// Producer thread and consumer thread through a small ring; checks order, batches and
/// end_of_batch, in both modes.
fn run_threads(mode: ProducerMode, producers: u64, per_producer: u64, batch: usize) {
    let p0 = Producer::<ConformanceEvent>::create(Backing::Heap, &cfg(8, 4, mode)).unwrap();
    let seg = p0.segment().clone();
    let mut c =
        Consumer::<ConformanceEvent>::register(&seg, &ConsumerOptions::required("c")).unwrap();
    let mut workers = Vec::new();
    let mut first = Some(p0);
    for id in 0..producers {
        let mut p = match first.take() {
            Some(p) => p,
            None => Producer::attach(&seg).unwrap(),
        };
        workers.push(std::thread::spawn(move || {
            let evs: Vec<_> = (0..per_producer)
                .map(|k| ConformanceEvent::new(k, id))
                .collect();
            for chunk in evs.chunks(batch) {
                p.publish_batch(chunk).unwrap();
            }
            p
        }));
    }
    let total = producers * per_producer;
    let mut next = vec![0u64; producers as usize];
    let (mut received, mut last_seq) = (0u64, None::<u64>);
    let deadline = Instant::now() + Duration::from_secs(20);
    while received < total {
        let mut batch_end_seen = false;
        let polled = c
            .poll(5, |e, s, eob| {
                let e = e.event().expect("no gaps without a dead producer");
                assert!(e.is_intact());
                assert_eq!(e.seq, next[e.producer as usize]);
                next[e.producer as usize] += 1;
                assert_eq!(s, last_seq.map_or(0, |l| l + 1));
                last_seq = Some(s);
                assert!(!batch_end_seen);
                batch_end_seen = eob;
            })
            .unwrap();
        assert!(polled.delivered == 0 || batch_end_seen);
        received += polled.delivered as u64;
        if polled.delivered == 0 {
            c.wait(deadline).unwrap();
        }
    }
    let producers: Vec<_> = workers.into_iter().map(|w| w.join().unwrap()).collect();
    drop(producers);
    assert!(c.poll(5, |_, _, _| {}).unwrap().ended);
}

#[test]
fn single_producer_wraps_around() {
    run_threads(ProducerMode::Single, 1, 5000, 3);
}

#[test]
fn multi_producer_wraps_around() {
    run_threads(ProducerMode::Multi, 2, 3000, 2);
}

#[test]
fn registration_rules() {
    let mut p = Producer::<u64>::create(Backing::Heap, &cfg(8, 2, ProducerMode::Single)).unwrap();
    let seg = p.segment().clone();
    let a = Consumer::<u64>::register(&seg, &ConsumerOptions::required("a")).unwrap();
    assert!(matches!(
        Consumer::<u64>::register(&seg, &ConsumerOptions::required("a")),
        Err(Error::DuplicateName)
    ));
    p.publish_batch(&[1, 2, 3]).unwrap();
    // Oldest starts at a's cursor (0); latest at the current count (3).
    let b = Consumer::<u64>::register(&seg, &opts("b", true, Start::Oldest)).unwrap();
    assert_eq!(b.cursor(), 0);
    assert!(matches!(
        Consumer::<u64>::register(&seg, &ConsumerOptions::required("c")),
        Err(Error::RegistryFull)
    ));
    drop(b);
    let c = Consumer::<u64>::register(&seg, &opts("c", true, Start::Latest)).unwrap();
    assert_eq!(c.cursor(), 3);
    let r = seg.registry();
    assert_eq!((r[1].name.as_str(), r[1].generation), ("c", 2));
    assert!(matches!(
        Consumer::<u64>::register(&seg, &ConsumerOptions::required("")),
        Err(Error::InvalidArgument(_))
    ));
    drop((a, c));
}

/// A pid no process has (above Linux's largest pid_max).
pub(crate) const DEAD_PID: u32 = 0x7fff_fff0;

/// Replaces the owner word of consumer entry `index` by the identity of process `pid` (by
/// compare-and-swap, as the protocol writes it), e.g. [`DEAD_PID`] to simulate its death.
pub(crate) fn set_consumer_owner(seg: &Segment, index: usize, pid: u32) {
    let e = seg.entry(index);
    let o = e.owner().load(Ordering::SeqCst);
    e.owner()
        .compare_exchange(o, l::owner_word(pid, 0), Ordering::SeqCst, Ordering::SeqCst)
        .unwrap();
}

/// Replaces the owner word of producer entry `index` by the identity of process `pid`.
pub(crate) fn set_producer_owner(seg: &Segment, index: usize, pid: u32) {
    let e = seg.producer_entry(index);
    assert!(e.take_owner(e.owner().load(Ordering::SeqCst), l::owner_word(pid, 0)));
}

#[test]
fn dead_required_consumer_is_evicted_and_told() {
    let mut p = Producer::<u64>::create(Backing::Heap, &cfg(4, 2, ProducerMode::Single)).unwrap();
    p.set_timeout(Duration::from_secs(5));
    let seg = p.segment().clone();
    let mut c = Consumer::<u64>::register(&seg, &ConsumerOptions::required("slow")).unwrap();
    p.publish_batch(&[0, 1, 2, 3]).unwrap();
    // The owner "dies": the ring is full and only eviction lets the producer on.
    set_consumer_owner(&seg, c.index(), DEAD_PID);
    p.publish(&4).unwrap();
    assert_eq!(seg.registry()[0].state, crate::EntryState::Evicted);
    assert!(matches!(c.poll(10, |_, _, _| {}), Err(Error::Evicted)));
}

/// Another pid no process has.
const DEAD_PID_2: u32 = 0x7fff_ffe0;

#[test]
fn dead_owner_is_taken_over_at_its_cursor() {
    let mut p = Producer::<u64>::create(Backing::Heap, &cfg(8, 2, ProducerMode::Single)).unwrap();
    let seg = p.segment().clone();
    let mut c = Consumer::<u64>::register(&seg, &ConsumerOptions::required("w")).unwrap();
    p.publish_batch(&[10, 11, 12]).unwrap();
    c.poll(1, |_, _, _| {}).unwrap();
    let idx = c.index();
    set_consumer_owner(&seg, idx, DEAD_PID);
    // The owner finds its owner word changed: evicted (spec 5.5 step 4).
    assert!(matches!(c.poll(10, |_, _, _| {}), Err(Error::Evicted)));
    c.abandon();
    let mut t = Consumer::<u64>::register(&seg, &ConsumerOptions::required("w")).unwrap();
    assert_eq!((t.index(), t.cursor(), t.generation()), (idx, 1, 2));
    // Taken over by a compare-and-swap of `owner`, then of `state` to active with the
    // generation bumped (spec 5.7): the entry never left the active state, the owner is the
    // taker, and the taker's registration is the bumped generation.
    let r = &seg.registry()[idx];
    assert_eq!(
        (r.state, r.generation, r.name.as_str(), r.owner),
        (
            crate::EntryState::Active,
            2,
            "w",
            crate::process::own_identity()
        )
    );
    let mut got = vec![];
    t.poll(10, |v, _, _| got.push(v.event().unwrap())).unwrap();
    assert_eq!(got, [11, 12]);
}

#[test]
fn takeover_killed_midway_leaves_the_entry_active_and_takeable() {
    let mut p = Producer::<u64>::create(Backing::Heap, &cfg(4, 2, ProducerMode::Single)).unwrap();
    p.set_timeout(Duration::from_millis(30));
    let seg = p.segment().clone();
    let c = Consumer::<u64>::register(&seg, &ConsumerOptions::required("w")).unwrap();
    let idx = c.index();
    c.abandon();
    p.publish_batch(&[1, 2, 3, 4]).unwrap();
    set_consumer_owner(&seg, idx, DEAD_PID);
    // A live taker that has won the owner CAS is not judged dead: the name stays taken.
    let opts = ConsumerOptions::required("w");
    assert_eq!(Consumer::<u64>::begin_takeover(&seg, &opts).unwrap(), 1);
    assert!(matches!(
        Consumer::<u64>::register(&seg, &opts),
        Err(Error::DuplicateName)
    ));
    // That taker dies midway: the entry never left the active state and still gates.
    set_consumer_owner(&seg, idx, DEAD_PID_2);
    let r = &seg.registry()[idx];
    assert_eq!(
        (r.state, r.required, r.generation, r.cursor),
        (crate::EntryState::Active, true, 1, 0)
    );
    assert_eq!(seg.counts(), (4, 4));
    // (Only this scan, not the producer's periodic eviction, is exercised: its timeout is
    // shorter than the eviction interval.)
    assert!(matches!(p.publish(&5), Err(Error::Timeout)));
    // The next taker takes it over at the same cursor.
    let mut t = Consumer::<u64>::register(&seg, &opts).unwrap();
    assert_eq!((t.index(), t.cursor()), (idx, 0));
    // The killed taker never bumped the generation; this one does.
    assert_eq!((seg.registry()[idx].generation, t.generation()), (2, 2));
    let mut got = vec![];
    t.poll(10, |v, _, _| got.push(v.event().unwrap())).unwrap();
    assert_eq!(got, [1, 2, 3, 4]);
    p.publish(&5).unwrap();
}

#[test]
fn cursor_store_wakes_dependants_on_the_consumer_word() {
    let mut p = Producer::<u64>::create(Backing::Heap, &cfg(8, 2, ProducerMode::Single)).unwrap();
    let seg = p.segment().clone();
    let mut a = Consumer::<u64>::register(&seg, &ConsumerOptions::required("a")).unwrap();
    p.publish(&1).unwrap();
    // A dependant of `a` registered as a blocker and blocked on the consumer word (spec 5.5
    // step 3).
    seg.consumer_blockers().fetch_add(1, Ordering::SeqCst);
    seg.consumer_waiters().fetch_add(1, Ordering::SeqCst);
    let before = seg.consumer_wake().load(Ordering::SeqCst);
    assert_eq!(a.poll(8, |_, _, _| {}).unwrap().delivered, 1);
    assert_ne!(seg.consumer_wake().load(Ordering::SeqCst), before);
    seg.consumer_waiters().fetch_sub(1, Ordering::SeqCst);
    seg.consumer_blockers().fetch_sub(1, Ordering::SeqCst);
}

#[test]
fn optional_consumer_counts_lost_events() {
    let mut p = Producer::<u64>::create(Backing::Heap, &cfg(4, 2, ProducerMode::Single)).unwrap();
    let seg = p.segment().clone();
    let mut c = Consumer::<u64>::register(&seg, &opts("opt", false, Start::Latest)).unwrap();
    p.publish_batch(&(0..10).collect::<Vec<u64>>()).unwrap();
    let mut got = vec![];
    let polled = c
        .poll(100, |v, s, _| got.push((v.event().unwrap(), s)))
        .unwrap();
    assert_eq!(polled.lost, 6);
    assert_eq!(got, [(6, 6), (7, 7), (8, 8), (9, 9)]);
    assert_eq!(seg.registry()[0].lost, 6);
}

#[test]
fn dependent_consumer_reads_behind_its_dependency() {
    let mut p = Producer::<u64>::create(Backing::Heap, &cfg(8, 2, ProducerMode::Multi)).unwrap();
    let seg = p.segment().clone();
    let mut a = Consumer::<u64>::register(&seg, &ConsumerOptions::required("a")).unwrap();
    let mut b = Consumer::<u64>::register(
        &seg,
        &ConsumerOptions {
            depends_on: 1 << a.index(),
            ..ConsumerOptions::required("b")
        },
    )
    .unwrap();
    p.publish_batch(&[1, 2, 3]).unwrap();
    assert_eq!(b.poll(10, |_, _, _| {}).unwrap().delivered, 0);
    assert_eq!(a.poll(2, |_, _, _| {}).unwrap().delivered, 2);
    assert_eq!(b.poll(10, |_, _, _| {}).unwrap().delivered, 2);
}

/// Spec 5.5 step 4 and 5.6 step 3: the stream ends for a consumer only once its `next` equals
/// the producers' count. A stage behind a slower one after the producer closed neither stops
/// early nor spins in its wait: it waits for the slower stage, then receives every event.
#[test]
fn a_stage_behind_a_slower_one_receives_every_event_after_the_close() {
    for mode in [ProducerMode::Single, ProducerMode::Multi] {
        let mut p = Producer::<u64>::create(Backing::Heap, &cfg(8, 2, mode)).unwrap();
        let seg = p.segment().clone();
        let mut a = Consumer::<u64>::register(&seg, &ConsumerOptions::required("a")).unwrap();
        let mut b = Consumer::<u64>::register(
            &seg,
            &ConsumerOptions {
                depends_on: 1 << a.index(),
                ..ConsumerOptions::required("b")
            },
        )
        .unwrap();
        p.publish_batch(&[1, 2, 3, 4]).unwrap();
        p.close().unwrap();
        let polled = b.poll(10, |_, _, _| {}).unwrap();
        assert_eq!((polled.delivered, polled.ended), (0, false), "{mode:?}");
        assert!(!b.read(10).unwrap().ended(), "{mode:?}");
        // Its wait blocks until the slower stage moves (it does not return at once, which
        // would make a caller's wait loop spin).
        let start = Instant::now();
        let r = b.wait(start + Duration::from_millis(100));
        assert!(matches!(r, Err(Error::Timeout)), "{mode:?}: {r:?}");
        let slow = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            let polled = a.poll(10, |_, _, _| {}).unwrap();
            assert_eq!(polled.delivered, 4);
            assert!(a.poll(10, |_, _, _| {}).unwrap().ended);
        });
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut got = Vec::new();
        loop {
            let polled = b
                .poll(10, |item, _, _| got.push(item.event().unwrap()))
                .unwrap();
            if polled.ended {
                break;
            }
            if polled.delivered == 0 {
                b.wait(deadline).unwrap();
            }
        }
        assert_eq!(got, [1, 2, 3, 4], "{mode:?}");
        slow.join().unwrap();
    }
}

#[test]
fn producer_refuses_counts_reaching_2_pow_62() {
    let mut p = Producer::<u64>::create(Backing::Heap, &cfg(4, 1, ProducerMode::Multi)).unwrap();
    p.set_timeout(Duration::from_millis(10)); // close waits for the skipped sequences
    let seg = p.segment().clone();
    seg.claimed().store(l::MAX_SEQUENCE - 2, Ordering::SeqCst);
    p.publish(&1).unwrap();
    assert_eq!(seg.counts().1, l::MAX_SEQUENCE - 1);
    assert!(matches!(p.publish(&2), Err(Error::SequenceExhausted)));
    // A count of 2^62 would read as the closed bit.
    assert!(!seg.claims_closed());
}

#[test]
fn full_ring_times_out_without_consumer_progress() {
    let mut p = Producer::<u64>::create(Backing::Heap, &cfg(2, 1, ProducerMode::Single)).unwrap();
    p.set_timeout(Duration::from_millis(50));
    let _c = Consumer::<u64>::register(p.segment(), &ConsumerOptions::required("c")).unwrap();
    p.publish_batch(&[1, 2]).unwrap();
    assert!(matches!(p.publish(&3), Err(Error::Timeout)));
}

#[test]
fn heap_mapping_is_page_aligned() {
    let m = Mapping::heap(8192);
    assert_eq!(m.base() as usize % 4096, 0);
    let ty = EventType::of::<u64>().unwrap();
    let s = Segment::create(Backing::Heap, &Config::default(), &ty).unwrap();
    assert_eq!(s.geometry().slots.offset % 4096, 0);
}

pub(crate) fn multi_cfg(capacity: u64, producers: u32) -> Config {
    Config {
        producer_capacity: producers,
        ..cfg(capacity, 2, ProducerMode::Multi)
    }
}

#[test]
fn creator_and_attached_producers_take_entries() {
    let p = Producer::<u64>::create(Backing::Heap, &multi_cfg(8, 2)).unwrap();
    let seg = p.segment().clone();
    assert_eq!(seg.geometry().producer_capacity, 2);
    let r = seg.producer_registry();
    assert_eq!(r.len(), 1);
    assert_eq!(
        (r[0].index, r[0].state, r[0].generation),
        (0, crate::ProducerState::Active, 1)
    );
    assert_eq!(r[0].owner_pid, std::process::id());
    let mut a = Producer::<u64>::attach(&seg).unwrap();
    assert_eq!((a.index(), a.generation()), (1, 1));
    assert!(matches!(
        Producer::<u64>::attach(&seg),
        Err(Error::ProducerRegistryFull)
    ));
    a.close().unwrap();
    assert_eq!(
        seg.producer_registry()[1].state,
        crate::ProducerState::Closed
    );
    let b = Producer::<u64>::attach(&seg).unwrap();
    assert_eq!((b.index(), b.generation()), (1, 2));
    // Single mode: one entry, and no attaching.
    let s = Producer::<u64>::create(Backing::Heap, &cfg(8, 1, ProducerMode::Single)).unwrap();
    assert_eq!(s.segment().geometry().producer_capacity, 1);
    assert!(matches!(
        Producer::<u64>::attach(s.segment()),
        Err(Error::BadProducerMode { .. })
    ));
    let bad = Config {
        producer_capacity: 2,
        ..cfg(8, 1, ProducerMode::Single)
    };
    assert!(matches!(
        Producer::<u64>::create(Backing::Heap, &bad),
        Err(Error::InvalidArgument(_))
    ));
}

#[test]
fn multi_claims_write_intent_and_clear_it_after_publishing() {
    let mut p = Producer::<u64>::create(Backing::Heap, &multi_cfg(8, 2)).unwrap();
    p.set_timeout(Duration::from_millis(10)); // close waits for the abandoned claim
    let seg = p.segment().clone();
    p.publish_batch(&[1, 2, 3]).unwrap();
    let e = seg.producer_entry(0);
    assert_eq!(e.intent_start().load(Ordering::SeqCst), 0);
    assert_eq!(e.intent_end().load(Ordering::SeqCst), 0);
    let a = Producer::<u64>::attach(&seg).unwrap();
    assert_eq!(a.claim_and_abandon(2).unwrap(), 3);
    let r = seg.producer_registry();
    assert_eq!((r[1].intent_start, r[1].intent_end), (3, 5));
    assert_eq!(r[1].state, crate::ProducerState::Active);
}

#[test]
fn closed_bit_refuses_claims_and_consumers_still_finish() {
    let mut p = Producer::<u64>::create(Backing::Heap, &multi_cfg(8, 2)).unwrap();
    let seg = p.segment().clone();
    let mut c = Consumer::<u64>::register(&seg, &ConsumerOptions::required("c")).unwrap();
    let mut a = Producer::<u64>::attach(&seg).unwrap();
    a.publish_batch(&[10, 11]).unwrap();
    p.publish(&1).unwrap();
    p.close().unwrap();
    assert!(seg.claims_closed());
    assert_eq!(seg.counts(), (0, 3));
    assert!(seg.producer_closed());
    assert!(matches!(a.publish(&12), Err(Error::Closed)));
    let mut got = vec![];
    let polled = c.poll(10, |v, _, _| got.push(v.event().unwrap())).unwrap();
    assert_eq!((polled.delivered, got), (3, vec![10, 11, 1]));
    assert!(c.poll(10, |_, _, _| {}).unwrap().ended);
    // A consumer registering now starts at the masked count.
    drop(c);
    let late = Consumer::<u64>::register(&seg, &opts("late", true, Start::Latest)).unwrap();
    assert_eq!(late.cursor(), 3);
}

#[test]
fn close_waits_for_every_claim_then_times_out() {
    let mut p = Producer::<u64>::create(Backing::Heap, &multi_cfg(8, 2)).unwrap();
    let seg = p.segment().clone();
    let a = Producer::<u64>::attach(&seg).unwrap();
    a.claim_and_abandon(1).unwrap();
    p.set_timeout(Duration::from_millis(50));
    assert!(matches!(p.close(), Err(Error::Timeout)));
    assert!(seg.producer_closed() && seg.claims_closed());
}

pub(crate) fn poll_all<T: crate::Event>(c: &mut Consumer<T>) -> Vec<(crate::Item<T>, u64)> {
    let mut got = vec![];
    c.poll(64, |i, s, _| got.push((i, s))).unwrap();
    got
}

#[test]
fn consumer_passes_over_a_dead_producers_claim() {
    use crate::Item;
    let mut p = Producer::<u64>::create(Backing::Heap, &multi_cfg(8, 2)).unwrap();
    let seg = p.segment().clone();
    let mut c = Consumer::<u64>::register(
        &seg,
        &ConsumerOptions {
            stall_timeout: Duration::from_millis(30),
            ..ConsumerOptions::required("c")
        },
    )
    .unwrap();
    p.publish(&100).unwrap();
    let a = Producer::<u64>::attach(&seg).unwrap();
    a.claim_and_abandon(2).unwrap();
    p.publish(&103).unwrap();
    assert_eq!(poll_all(&mut c), [(Item::Event(100), 0)]);
    // The claimer is alive (it is this process): waiting does not pass it over.
    let t = Instant::now() + Duration::from_millis(100);
    assert!(matches!(c.wait(t), Err(Error::Timeout)));
    assert_eq!(poll_all(&mut c), []);
    // Its owner dies: after the stall timeout the claim becomes two gaps.
    set_producer_owner(&seg, 1, DEAD_PID);
    c.wait(Instant::now() + Duration::from_secs(5)).unwrap();
    assert_eq!(
        poll_all(&mut c),
        [(Item::Gap, 1), (Item::Gap, 2), (Item::Event(103), 3)]
    );
    assert_eq!((c.gaps_seen(), seg.gaps()), (2, 2));
    assert_eq!(seg.registry()[0].gaps_seen, 2);
    // Passing over does not retire the entry (spec 5.8): it stays active, its owner dead,
    // until a peer that finds it resolved retires it.
    let r = &seg.producer_registry()[1];
    assert_eq!(
        (r.state, r.owner_dead),
        (crate::ProducerState::Active, true)
    );
    assert_eq!(seg.availability(1).load(Ordering::SeqCst), 2 | l::AVAIL_GAP);
    // Resolved now: attaching retires it (active -> dead, generation 1) and takes it again
    // (generation 2); the creator's close completes over the gaps.
    let b = Producer::<u64>::attach(&seg).unwrap();
    assert_eq!((b.index(), b.generation()), (1, 2));
    drop(b);
    p.close().unwrap();
    assert!(c.poll(64, |_, _, _| {}).unwrap().ended);
}

/// Spec 5.4 attach step 1 and 5.8: an active producer entry whose owner is dead is retired and
/// reused only once every sequence of its intent below the claimed count is resolved.
#[test]
fn dead_producer_entries_are_retired_only_when_resolved() {
    let mut p = Producer::<u64>::create(Backing::Heap, &multi_cfg(8, 2)).unwrap();
    p.set_timeout(Duration::from_millis(10)); // close waits for the abandoned claim
    let seg = p.segment().clone();
    // Died outside a claim (`intent_end` 0): resolved, so retired and taken again.
    let mut a = Producer::<u64>::attach(&seg).unwrap();
    a.publish(&1).unwrap();
    a.abandon();
    set_producer_owner(&seg, 1, DEAD_PID);
    let b = Producer::<u64>::attach(&seg).unwrap();
    assert_eq!((b.index(), b.generation()), (1, 2));
    // Died mid-claim: its claim is unresolved, so the entry is neither retired nor reused,
    // whoever asks.
    let first = b.claim_and_abandon(2).unwrap();
    set_producer_owner(&seg, 1, DEAD_PID);
    assert!(matches!(
        Producer::<u64>::attach(&seg),
        Err(Error::ProducerRegistryFull)
    ));
    assert_eq!(seg.retire_dead_producers(), 0);
    let r = &seg.producer_registry()[1];
    assert_eq!(
        (r.state, r.generation, r.intent_start, r.intent_end),
        (crate::ProducerState::Active, 2, first, first + 2)
    );
    // One of its two sequences resolved (published just before the owner died): still not.
    seg.availability(first).store(first + 1, Ordering::SeqCst);
    assert_eq!(seg.retire_dead_producers(), 0);
    // Both resolved (the second passed over): retired, then reused with generation 3.
    seg.availability(first + 1)
        .store((first + 2) | l::AVAIL_GAP, Ordering::SeqCst);
    assert_eq!(seg.retire_dead_producers(), 1);
    let r = &seg.producer_registry()[1];
    assert_eq!((r.state, r.generation), (crate::ProducerState::Dead, 2));
    let d = Producer::<u64>::attach(&seg).unwrap();
    assert_eq!((d.index(), d.generation()), (1, 3));
    assert_eq!(seg.producer_registry()[1].intent_end, 0);
}

#[test]
fn failed_fill_poisons_the_ring() {
    use crate::{Item, PoisonPhase};
    let mut p = Producer::<u64>::create(Backing::Heap, &cfg(8, 2, ProducerMode::Single)).unwrap();
    let seg = p.segment().clone();
    let mut c = Consumer::<u64>::register(&seg, &ConsumerOptions::required("c")).unwrap();
    p.publish_batch(&[1, 2]).unwrap();
    let err = p
        .try_publish_with(2, |s, _| if s == 3 { Err("disk full") } else { Ok(s) })
        .unwrap_err();
    let Error::Poisoned(rec) = err else {
        panic!("{err:?}")
    };
    assert_eq!(
        (rec.phase, rec.seq, rec.stage, rec.pid, rec.message.as_str()),
        (PoisonPhase::Publish, 2, 0, std::process::id(), "disk full")
    );
    assert_eq!(seg.counts(), (2, 4));
    // Consumers read what was published, then stop with the record.
    assert_eq!(poll_all(&mut c), [(Item::Event(1), 0), (Item::Event(2), 1)]);
    match c.poll(8, |_, _, _| {}) {
        Err(Error::Poisoned(r)) => assert_eq!(r, rec),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        c.wait(Instant::now() + Duration::from_secs(1)),
        Ok(())
    ));
    // Producers refuse; a later failure is not recorded.
    assert!(matches!(p.publish(&3), Err(Error::Poisoned(_))));
    assert!(!seg.poison(&crate::Poison {
        phase: PoisonPhase::Handler,
        seq: 9,
        pid: 1,
        stage: 1,
        message: "later".into(),
    }));
    assert_eq!(seg.poison_record(), Some(rec));
}

#[test]
fn panicking_fill_in_multi_mode_poisons_with_its_entry() {
    let p = Producer::<u64>::create(Backing::Heap, &multi_cfg(8, 2)).unwrap();
    let seg = p.segment().clone();
    let mut a = Producer::<u64>::attach(&seg).unwrap();
    let err = a
        .try_publish_with(1, |_, _| -> Result<u64, &str> { panic!("bug in fill") })
        .unwrap_err();
    let Error::Poisoned(rec) = err else {
        panic!("{err:?}")
    };
    assert_eq!(
        (rec.seq, rec.stage, rec.message.as_str()),
        (0, 1, crate::FILL_PANICKED)
    );
    assert_eq!(seg.availability(0).load(Ordering::SeqCst), 0);
    // A long message is cut to 64 bytes at a character boundary.
    let q = Producer::<u64>::create(Backing::Heap, &cfg(2, 1, ProducerMode::Single)).unwrap();
    q.segment().poison(&crate::Poison {
        phase: crate::PoisonPhase::Handler,
        seq: 0,
        pid: 0,
        stage: 0,
        message: "é".repeat(40),
    });
    assert_eq!(q.segment().poison_record().unwrap().message, "é".repeat(32));
}

#[test]
fn golden_gap_and_poison_scenarios() {
    let seg = Segment::from_image(&golden::image("multi-gap").unwrap()).unwrap();
    assert_eq!(seg.geometry().producer_capacity, 2);
    assert_eq!((seg.gaps(), seg.counts()), (3, (0, 6)));
    let words: Vec<u64> = (0..6)
        .map(|s| seg.availability(s).load(Ordering::Relaxed))
        .collect();
    let g = l::AVAIL_GAP;
    assert_eq!(words, [1, 2, 3 | g, 4 | g, 5 | g, 6]);
    let r = seg.producer_registry();
    assert_eq!(
        (r[0].state, r[0].intent_start, r[0].intent_end),
        (crate::ProducerState::Active, 5, 0)
    );
    assert_eq!(
        (
            r[1].state,
            r[1].generation,
            r[1].intent_start,
            r[1].intent_end
        ),
        (crate::ProducerState::Dead, 1, 2, 5)
    );
    assert_eq!(
        (seg.registry()[0].cursor, seg.registry()[0].gaps_seen),
        (6, 3)
    );
    let seg = Segment::from_image(&golden::image("poisoned").unwrap()).unwrap();
    assert_eq!(seg.counts(), (2, 3));
    let rec = seg.poison_record().unwrap();
    assert_eq!(
        (rec.phase, rec.seq, rec.stage, rec.pid, rec.message.as_str()),
        (crate::PoisonPhase::Publish, 2, 0, 0, "fill panicked")
    );
}

// ---- Zero-copy claims and batches ----

#[test]
fn zero_copy_claim_and_read_round_trip() {
    for mode in [ProducerMode::Single, ProducerMode::Multi] {
        let mut p = Producer::<ConformanceEvent>::create(Backing::Heap, &cfg(8, 2, mode)).unwrap();
        let seg = p.segment().clone();
        let mut c =
            Consumer::<ConformanceEvent>::register(&seg, &ConsumerOptions::required("c")).unwrap();
        let ev = |seq| ConformanceEvent::new(seq, 0);
        // Wraps around the ring: 6 + 5 over 8 slots.
        let mut seqs = Vec::new();
        for batch in [6, 5] {
            let mut claim = p.claim(batch).unwrap();
            assert_eq!(claim.len(), batch);
            let first = claim.first();
            for i in 0..batch {
                claim.write(i, &ev(first + i as u64));
            }
            claim.publish();
            let b = c.read(100).unwrap();
            assert_eq!(
                (b.first(), b.end(), b.gaps()),
                (first, first + batch as u64, 0)
            );
            for (s, item) in b.iter() {
                assert_eq!(item.unwrap(), Item::Event(ev(s)), "{mode:?}");
                seqs.push(s);
            }
            let mut bytes = vec![0u8; 64];
            ev(first).encode(&mut bytes);
            assert_eq!(b.bytes(first), Some(&bytes[..]));
            b.release();
            assert_eq!(seg.consumer_cursor(c.index()), Some(first + batch as u64));
        }
        assert_eq!(seqs, (0..11).collect::<Vec<_>>());
        let empty = c.read(10).unwrap();
        assert!(empty.is_empty() && !empty.ended());
        drop(empty);
        p.close().unwrap();
        assert!(c.read(10).unwrap().ended(), "{mode:?}");
        assert_eq!(seg.consumer_cursor(99), None);
    }
}

#[test]
fn claim_slots_mut_splits_at_the_ring_end_and_round_trips() {
    let mut p =
        Producer::<ConformanceEvent>::create(Backing::Heap, &cfg(8, 2, ProducerMode::Single))
            .unwrap();
    let seg = p.segment().clone();
    let mut c =
        Consumer::<ConformanceEvent>::register(&seg, &ConsumerOptions::required("c")).unwrap();
    let ev = |seq| ConformanceEvent::new(seq, 7);
    // 6 then 5 over 8 slots: the second claim is slots 6, 7 then 0, 1, 2.
    for (batch, split) in [(6usize, (6usize, 0usize)), (5, (2, 3))] {
        let mut claim = p.claim(batch).unwrap();
        let first = claim.first();
        let stride = claim.stride();
        assert!(stride >= 64);
        let (a, b) = claim.slots_mut();
        assert_eq!((a.len(), b.len()), (split.0 * stride, split.1 * stride));
        for (i, slot) in a
            .chunks_exact_mut(stride)
            .chain(b.chunks_exact_mut(stride))
            .enumerate()
        {
            ev(first + i as u64).encode(&mut slot[..64]);
        }
        claim.publish();
        let got = c.read(100).unwrap();
        assert_eq!((got.first(), got.end()), (first, first + batch as u64));
        for (s, item) in got.iter() {
            assert_eq!(item.unwrap(), Item::Event(ev(s)));
        }
        got.release();
    }
}

#[test]
fn zero_copy_read_refuses_an_optional_consumer() {
    let p = Producer::<u64>::create(Backing::Heap, &cfg(8, 2, ProducerMode::Single)).unwrap();
    let mut c = Consumer::<u64>::register(p.segment(), &opts("o", false, Start::Latest)).unwrap();
    assert!(matches!(c.read(1), Err(Error::InvalidArgument(_))));
}

#[test]
fn dropped_claim_poisons_the_ring() {
    let mut p = Producer::<u64>::create(Backing::Heap, &cfg(8, 2, ProducerMode::Single)).unwrap();
    let seg = p.segment().clone();
    let mut c = Consumer::<u64>::register(&seg, &ConsumerOptions::required("c")).unwrap();
    p.publish(&1).unwrap();
    drop(p.claim(2).unwrap());
    let Err(Error::Poisoned(rec)) = p.publish(&2) else {
        panic!("publish after a dropped claim must fail poisoned");
    };
    assert_eq!((rec.seq, rec.message.as_str()), (1, crate::CLAIM_DROPPED));
    assert_eq!(c.poll(10, |_, _, _| {}).unwrap().delivered, 1);
    assert!(matches!(c.poll(10, |_, _, _| {}), Err(Error::Poisoned(_))));
}
