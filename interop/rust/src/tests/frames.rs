//! Framed rings (spec section 11): creation and checks 13-14, publishing with PADs, batches and
//! claims in place (11.2), consuming (11.3: gaps, corrupt and incomplete frames, PADs,
//! registration), optional consumers (11.4), and the frame-header checker under random input.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::*;
use crate::conformance::framed_message;
use crate::consumer::{ConsumerOptions, FramedConsumer, MessageItem};
use crate::error::Error;
use crate::frame::{framed_fingerprint, FrameGeometry, FrameHeader};
use crate::producer::{FramedProducer, Producer};
use crate::segment::{Backing, FrameConfig};

/// A framed ring on the heap: `capacity` slots of 64 bytes, `max_message` the largest (`(capacity
/// / 8) * 64 - 16`), registry 4, producer registry 2 in multi mode.
fn framed_cfg(capacity: u64, mode: ProducerMode) -> Config {
    Config {
        producer_capacity: if mode == ProducerMode::Multi { 2 } else { 0 },
        frames: Some(FrameConfig::default()),
        ..cfg(capacity, 4, mode)
    }
}

fn framed(capacity: u64, mode: ProducerMode) -> (FramedProducer, Segment) {
    let mut p = FramedProducer::create(Backing::Heap, &framed_cfg(capacity, mode)).unwrap();
    p.set_wait_strategy(WaitStrategy::Spin);
    let seg = p.segment().clone();
    (p, seg)
}

fn required(name: &str) -> ConsumerOptions {
    ConsumerOptions {
        stall_timeout: Duration::ZERO,
        wait_strategy: WaitStrategy::Spin,
        ..ConsumerOptions::required(name)
    }
}

/// What a read handed over, owned: a message (its sequence and bytes) or a gap (its sequence and
/// slots).
#[derive(Debug, Clone, PartialEq, Eq)]
enum Got {
    Msg(u64, Vec<u8>),
    Gap(u64, u64),
}

/// One read of at most `max` items, released at once.
fn read(c: &mut FramedConsumer, max: usize) -> crate::Result<Vec<Got>> {
    let b = c.read(max)?;
    Ok(b.iter()
        .map(|(s, item)| match item {
            MessageItem::Message(m) => Got::Msg(s, m.to_vec()),
            MessageItem::Gap { slots } => Got::Gap(s, slots),
        })
        .collect())
}

fn msg(k: u64, len: usize) -> Vec<u8> {
    framed_message(k, 0, len)
}

/// `n` one-slot messages (20 bytes) from k = `from`.
fn publish_small(p: &mut FramedProducer, from: u64, n: u64) {
    for k in from..from + n {
        p.publish(&msg(k, 20)).unwrap();
    }
}

fn header(seg: &Segment, s: u64) -> FrameHeader {
    seg.frame_header(s)
}

#[test]
fn a_framed_ring_records_its_geometry_and_a_fixed_ring_keeps_the_bytes_of_2_0() {
    let (p, seg) = framed(16, ProducerMode::Single);
    let g = seg.geometry();
    assert_eq!((g.major, g.minor, g.payload_kind), (2, 1, 1));
    assert_eq!((g.frame_header_len, g.max_message), (16, 112));
    assert_eq!((g.slot_size, g.event.size, g.event.align), (64, 64, 16));
    assert_eq!(g.event.name, "bytes");
    assert_eq!(g.event.fingerprint, 0x242b_d99b_5cd3_d746);
    assert_eq!(
        p.frame_geometry(),
        FrameGeometry {
            header_len: 16,
            max_message: 112,
            slot_size: 64,
            capacity: 16
        }
    );
    assert_eq!(seg.frame_geometry().unwrap(), p.frame_geometry());
    let fixed = Producer::<u64>::create(Backing::Heap, &cfg(16, 2, ProducerMode::Single)).unwrap();
    let g = fixed.segment().geometry();
    assert_eq!(
        (g.minor, g.payload_kind, g.frame_header_len, g.max_message),
        (0, 0, 0, 0)
    );
    let img = fixed.segment().image();
    assert!(img[l::PAYLOAD_KIND.offset..l::HEADER_LEN]
        .iter()
        .all(|&b| b == 0));
}

#[test]
fn creating_a_framed_ring_refuses_every_geometry_that_breaks_11_1() {
    let base = framed_cfg(16, ProducerMode::Single);
    let with = |f: &dyn Fn(&mut Config)| {
        let mut c = base.clone();
        f(&mut c);
        c
    };
    let frames =
        |f: &dyn Fn(&mut FrameConfig)| with(&|c: &mut Config| f(c.frames.as_mut().unwrap()));
    for (what, c) in [
        (
            "slot size not a multiple of 16",
            frames(&|f| f.slot_size = 40),
        ),
        (
            "slot size not above the header",
            frames(&|f| f.slot_size = 16),
        ),
        ("capacity below 8", with(&|c| c.capacity = 4)),
        (
            "largest message over an eighth",
            frames(&|f| f.max_message = 113),
        ),
        (
            "type name over 64 bytes",
            frames(&|f| f.type_name = "x".repeat(65)),
        ),
    ] {
        match FramedProducer::create(Backing::Heap, &c) {
            Err(Error::InvalidArgument(_)) => {}
            other => panic!("{what}: {:?}", other.err()),
        }
    }
    // The largest allowed, and a name of its own (fingerprint of `frames{name}`).
    let c = frames(&|f| {
        f.max_message = 112;
        f.type_name = "orders.v2".into();
    });
    let p = FramedProducer::create(Backing::Heap, &c).unwrap();
    let g = p.segment().geometry();
    assert_eq!(g.event.fingerprint, framed_fingerprint(b"orders.v2"));
    // Segment::create is for fixed events only.
    let ty = crate::EventType::of::<u64>().unwrap();
    assert!(matches!(
        Segment::create(Backing::Heap, &base, &ty),
        Err(Error::InvalidArgument(_))
    ));
}

/// Check 13: each API refuses the other payload kind, with "wrong payload kind".
#[test]
fn the_fixed_api_refuses_a_framed_ring_and_the_framed_api_a_fixed_one() {
    let (_p, framed_seg) = framed(16, ProducerMode::Multi);
    let fixed = Producer::<u64>::create(Backing::Heap, &multi_cfg(16, 2)).unwrap();
    let fixed_seg = fixed.segment().clone();
    let kind = |e: Error, found, expected| match e {
        Error::PayloadKind {
            found: f,
            expected: x,
        } if (f, x) == (found, expected) => {
            assert_eq!(e.code(), "payload_kind");
            assert!(e.to_string().contains("wrong payload kind"), "{e}");
        }
        e => panic!("{e:?}"),
    };
    kind(
        Consumer::<u64>::register(&framed_seg, &required("c"))
            .err()
            .unwrap(),
        1,
        0,
    );
    kind(Producer::<u64>::register(&framed_seg).err().unwrap(), 1, 0);
    kind(
        FramedConsumer::register(&fixed_seg, &required("c"))
            .err()
            .unwrap(),
        0,
        1,
    );
    kind(FramedProducer::register(&fixed_seg).err().unwrap(), 0, 1);
    kind(fixed_seg.frame_geometry().err().unwrap(), 0, 1);
    // Nothing was registered by the refusals.
    assert!(framed_seg.registry().is_empty() && fixed_seg.registry().is_empty());
}

/// Check 14: a framed image whose header breaks one rule of 11.1 is refused with "bad frame
/// geometry" naming it (checks 1 to 12 still pass).
#[test]
fn check_14_refuses_each_broken_frame_geometry() {
    let (_p, seg) = framed(16, ProducerMode::Single);
    let good = seg.image();
    let put32 = |img: &mut Vec<u8>, f: l::Field, v: u32| {
        img[f.offset..f.offset + 4].copy_from_slice(&v.to_le_bytes())
    };
    let put64 = |img: &mut Vec<u8>, f: l::Field, v: u64| {
        img[f.offset..f.offset + 8].copy_from_slice(&v.to_le_bytes())
    };
    type Edit = Box<dyn Fn(&mut Vec<u8>)>;
    let cases: Vec<(&str, Edit)> = vec![
        (
            "version",
            Box::new(move |i| put32(i, l::VERSION_MAJOR_F, 2)),
        ),
        (
            "slot alignment",
            Box::new(move |i| {
                put32(i, l::SLOT_ALIGN, 8);
                put32(i, l::EVENT_ALIGN, 8);
            }),
        ),
        ("event size", Box::new(move |i| put32(i, l::EVENT_SIZE, 60))),
        (
            "frame header length 8",
            Box::new(move |i| put32(i, l::FRAME_HEADER_LEN_F, 8)),
        ),
        (
            "frame header length 24",
            Box::new(move |i| put32(i, l::FRAME_HEADER_LEN_F, 24)),
        ),
        (
            "frame header length 64",
            Box::new(move |i| put32(i, l::FRAME_HEADER_LEN_F, 64)),
        ),
        (
            "capacity 4",
            Box::new(move |i| {
                put64(i, l::CAPACITY, 4);
                put64(
                    i,
                    l::Field {
                        offset: l::REGION_SLOTS.offset + 8,
                        size: 8,
                    },
                    256,
                );
            }),
        ),
        (
            "max_message 0",
            Box::new(move |i| put32(i, l::MAX_MESSAGE, 0)),
        ),
        (
            "max_message 113",
            Box::new(move |i| put32(i, l::MAX_MESSAGE, 113)),
        ),
        (
            "fingerprint",
            Box::new(move |i| i[l::TYPE_NAME.offset] = b'B'),
        ),
    ];
    for (what, edit) in cases {
        let mut img = good.clone();
        edit(&mut img);
        let seg = Segment::from_image(&img).unwrap_or_else(|e| panic!("{what}: checks 1-12: {e}"));
        match seg.frame_geometry() {
            Err(e @ Error::FrameGeometry { .. }) => {
                assert_eq!(e.code(), "frame_geometry");
                assert!(e.to_string().starts_with("bad frame geometry"), "{e}");
            }
            other => panic!("{what}: {other:?}"),
        }
        assert!(matches!(
            FramedConsumer::register(&seg, &required("c")),
            Err(Error::FrameGeometry { .. })
        ));
    }
    assert!(Segment::from_image(&good).unwrap().frame_geometry().is_ok());
}

/// 11.2 step 2: a message that would cross the end of the array goes to the next lap's slot 0
/// after a PAD, which consumers skip.
#[test]
fn a_message_that_would_cross_the_end_wraps_after_a_pad() {
    let (mut p, seg) = framed(16, ProducerMode::Single);
    let mut c = FramedConsumer::register(&seg, &required("c")).unwrap();
    publish_small(&mut p, 0, 15);
    assert_eq!(read(&mut c, 100).unwrap().len(), 15);
    p.publish(&msg(15, 100)).unwrap();
    assert_eq!(seg.claimed_count(), 18);
    assert_eq!(header(&seg, 15), FrameHeader::pad(15, 1));
    assert_eq!(header(&seg, 16), FrameHeader::message(16, 100, 2));
    assert_eq!(read(&mut c, 100).unwrap(), [Got::Msg(16, msg(15, 100))]);
    assert_eq!((c.cursor(), c.gaps_seen()), (18, 0));
    assert_eq!(seg.consumer_cursor(c.index()), Some(18));
}

/// 11.2: a batch is one claim, its PAD in the middle when a message would cross the end.
#[test]
fn a_batch_is_one_claim_with_a_pad_in_the_middle() {
    let (mut p, seg) = framed(16, ProducerMode::Multi);
    let mut c = FramedConsumer::register(&seg, &required("c")).unwrap();
    publish_small(&mut p, 0, 14);
    read(&mut c, 100).unwrap();
    let batch = [msg(14, 40), msg(15, 100), msg(16, 20)];
    let refs: Vec<&[u8]> = batch.iter().map(Vec::as_slice).collect();
    p.publish_batch(&refs).unwrap();
    // One claim from 14 to 19 (the creator's intent starts at the claim's first sequence).
    assert_eq!(seg.claimed_count(), 19);
    assert_eq!(seg.producer_registry()[0].intent_start, 14);
    assert_eq!(header(&seg, 15), FrameHeader::pad(15, 1));
    assert_eq!(
        read(&mut c, 100).unwrap(),
        [
            Got::Msg(14, msg(14, 40)),
            Got::Msg(16, msg(15, 100)),
            Got::Msg(18, msg(16, 20))
        ]
    );
    assert_eq!(c.cursor(), 19);
    // At most `max` items a read, the rest on the next.
    p.publish_batch(&refs).unwrap();
    assert_eq!(read(&mut c, 2).unwrap().len(), 2);
    assert_eq!(read(&mut c, 2).unwrap(), [Got::Msg(22, msg(16, 20))]);
}

/// 11.2: a claim in place published with fewer bytes becomes the message over the slots it
/// needs and a PAD over the rest; abandoned (or dropped), it becomes PADs; every sequence is
/// published and nothing is poisoned.
#[test]
fn a_claim_in_place_shrinks_to_a_message_and_a_pad_or_is_abandoned() {
    for mode in [ProducerMode::Single, ProducerMode::Multi] {
        let (mut p, seg) = framed(16, mode);
        let mut c = FramedConsumer::register(&seg, &required("c")).unwrap();
        let mut claim = p.claim(100).unwrap();
        assert_eq!((claim.seq(), claim.claimed(), claim.max_len()), (0, 2, 100));
        assert_eq!(claim.payload().len(), 100);
        assert_eq!(
            claim.payload().as_ptr() as usize % 16,
            0,
            "payloads are 16-aligned"
        );
        claim.payload()[..30].copy_from_slice(&msg(0, 30));
        claim.publish(30).unwrap();
        assert_eq!(header(&seg, 0), FrameHeader::message(0, 30, 1));
        assert_eq!(header(&seg, 1), FrameHeader::pad(1, 1));
        p.claim(40).unwrap().abandon();
        assert_eq!(header(&seg, 2), FrameHeader::pad(2, 1));
        drop(p.claim(112).unwrap());
        assert_eq!(header(&seg, 3), FrameHeader::pad(3, 2));
        let claim = p.claim(20).unwrap();
        assert!(matches!(claim.publish(21), Err(Error::InvalidArgument(_))));
        assert_eq!(header(&seg, 5), FrameHeader::pad(5, 1));
        p.publish(b"end").unwrap();
        assert_eq!(seg.claimed_count(), 7);
        assert!(!seg.is_poisoned(), "{mode:?}");
        assert_eq!(
            read(&mut c, 100).unwrap(),
            [Got::Msg(0, msg(0, 30)), Got::Msg(6, b"end".to_vec())],
            "{mode:?}"
        );
        assert_eq!((c.cursor(), c.gaps_seen()), (7, 0));
        // A claim that wraps: PAD first, the message at slot 0 of the next lap.
        publish_small(&mut p, 0, 8);
        read(&mut c, 100).unwrap();
        let mut claim = p.claim(100).unwrap();
        assert_eq!((claim.seq(), claim.claimed()), (16, 3), "{mode:?}");
        claim.payload().copy_from_slice(&msg(9, 100));
        claim.publish(100).unwrap();
        assert_eq!(read(&mut c, 100).unwrap(), [Got::Msg(16, msg(9, 100))]);
    }
}

/// 11.2 step 1: a message over `max_message` is refused before anything is claimed, and so is a
/// batch whose claim could exceed the ring.
#[test]
fn a_message_too_large_is_refused_before_any_claim() {
    let (mut p, seg) = framed(16, ProducerMode::Multi);
    let too_large = |r: crate::Result<()>| match r {
        Err(
            e @ Error::TooLarge {
                len: 113,
                max_message: 112,
            },
        ) => {
            assert_eq!(e.code(), "too_large")
        }
        other => panic!("{other:?}"),
    };
    too_large(p.publish(&[0u8; 113]));
    too_large(p.publish_batch(&[b"ok", &[0u8; 113]]));
    too_large(p.claim(113).map(|_| ()));
    // Eight frames of two slots need up to 17 sequences: more than 16, wherever they start.
    let big = [[7u8; 100]; 8];
    let refs: Vec<&[u8]> = big.iter().map(|m| m.as_slice()).collect();
    assert!(matches!(
        p.publish_batch(&refs),
        Err(Error::InvalidArgument(_))
    ));
    assert_eq!(seg.claimed_count(), 0, "nothing was claimed");
    assert_eq!(seg.producer_registry()[0].intent_end, 0);
    p.publish(&[0u8; 112]).unwrap();
    p.publish_batch(&refs[..7]).unwrap();
    assert_eq!(seg.claimed_count(), 2 + 14);
}

/// Writes `h` over the header at `s` (as a buggy producer would).
fn corrupt(seg: &Segment, s: u64, h: FrameHeader) {
    seg.write_frame_header(s, &h);
}

fn expect_corrupt(c: &mut FramedConsumer, seq: u64, reason: &str) {
    for _ in 0..2 {
        match c.read(100) {
            Err(e @ Error::CorruptFrame { .. }) => {
                let Error::CorruptFrame { seq: s, reason: r } = &e else {
                    unreachable!()
                };
                assert_eq!(*s, seq, "{e}");
                assert!(r.contains(reason), "{e}: expected {reason:?}");
                assert_eq!(e.code(), "corrupt_frame");
            }
            Err(e) => panic!("{reason}: {e}"),
            Ok(b) => panic!("{reason}: read {} items", b.len()),
        }
        // The cursor stays at the corrupt frame, in the consumer and in its entry.
        assert_eq!(c.cursor(), seq, "{reason}");
        assert_eq!(
            c.segment().consumer_cursor(c.index()),
            Some(seq),
            "{reason}"
        );
    }
}

/// 11.3 step 2: every rule of 11.1 broken by a hand-written header is a corrupt frame naming the
/// sequence; the frames before it are delivered first, the cursor never passes it.
#[test]
fn every_broken_rule_of_11_1_is_a_corrupt_frame_and_the_cursor_stays() {
    let rules: [(&str, FrameHeader); 7] = [
        ("rule 1", FrameHeader::message(1 + 16, 100, 2)),
        (
            "rule 1",
            FrameHeader {
                seq_flags: 1 | l::FRAME_RESERVED_BIT,
                length: 100,
                slots: 2,
            },
        ),
        ("rule 2", FrameHeader::message(1, 0, 0)),
        ("rule 2", FrameHeader::pad(1, 16)),
        (
            "rule 3",
            FrameHeader {
                length: 5,
                ..FrameHeader::pad(1, 1)
            },
        ),
        ("rule 3", FrameHeader::message(1, 113, 3)),
        ("rule 3", FrameHeader::message(1, 100, 1)),
    ];
    for (rule, bad) in rules {
        let (mut p, seg) = framed(16, ProducerMode::Single);
        let mut c = FramedConsumer::register(&seg, &required("c")).unwrap();
        p.publish(&msg(0, 20)).unwrap();
        p.publish(&msg(1, 100)).unwrap();
        corrupt(&seg, 1, bad);
        assert_eq!(
            read(&mut c, 100).unwrap(),
            [Got::Msg(0, msg(0, 20))],
            "{rule}"
        );
        expect_corrupt(&mut c, 1, rule);
    }
    // Step 3, single mode: a valid header whose frame runs past the published count.
    let (mut p, seg) = framed(16, ProducerMode::Single);
    let mut c = FramedConsumer::register(&seg, &required("c")).unwrap();
    p.publish(&msg(0, 20)).unwrap();
    corrupt(&seg, 0, FrameHeader::message(0, 100, 2));
    expect_corrupt(&mut c, 0, "past the published count");
    // Step 3, multi mode: past the claimed count.
    let (mut p, seg) = framed(16, ProducerMode::Multi);
    let mut c = FramedConsumer::register(&seg, &required("c")).unwrap();
    p.publish(&msg(0, 20)).unwrap();
    corrupt(&seg, 0, FrameHeader::message(0, 100, 2));
    expect_corrupt(&mut c, 0, "past the claimed count");
}

/// 11.3 step 3, multi mode: a frame whose later sequences are claimed but not yet published is
/// not corrupt: the consumer waits for it (an empty read, and `wait` does not return for it),
/// and reads it whole once it is published.
#[test]
fn a_frame_not_all_published_is_waited_for() {
    let (mut p, seg) = framed(16, ProducerMode::Multi);
    let mut c = FramedConsumer::register(
        &seg,
        &ConsumerOptions {
            stall_timeout: Duration::from_secs(60),
            ..required("c")
        },
    )
    .unwrap();
    let mut claim = p.claim(100).unwrap();
    claim.payload().copy_from_slice(&msg(0, 100));
    // The frame's first sequence published alone, as a producer midway through 5.4 step 5.
    seg.availability(0).store(1, Ordering::Release);
    assert_eq!(read(&mut c, 100).unwrap(), []);
    assert_eq!(c.cursor(), 0);
    let waited = c.wait(Instant::now() + Duration::from_millis(30));
    assert!(matches!(waited, Err(Error::Timeout)), "{waited:?}");
    claim.publish(100).unwrap();
    c.wait(Instant::now() + Duration::from_secs(5)).unwrap();
    assert_eq!(read(&mut c, 100).unwrap(), [Got::Msg(0, msg(0, 100))]);
}

/// 11.3 steps 1 and 4, multi mode: a frame whose producer died after publishing its first
/// sequence is passed over whole (its slots counted in `gaps_seen`), and a claim that died
/// before publishing anything is passed over a sequence at a time.
#[test]
fn a_dead_producers_frames_are_passed_over_as_gaps() {
    let (mut p, seg) = framed(16, ProducerMode::Multi);
    let mut c = FramedConsumer::register(&seg, &required("c")).unwrap();
    p.publish(&msg(0, 20)).unwrap();
    let mut p1 = FramedProducer::register(&seg).unwrap();
    let dead = p1.index();
    let mut claim = p1.claim(70).unwrap();
    claim.payload().copy_from_slice(&msg(0, 70));
    seg.availability(1).store(2, Ordering::Release);
    claim.leave();
    p1.forget();
    set_producer_owner(&seg, dead, DEAD_PID);
    assert_eq!(read(&mut c, 100).unwrap(), [Got::Msg(0, msg(0, 20))]);
    // Stuck at the frame at 1 (2 not published); its producer is dead: 2 becomes a GAP and the
    // frame is one gap of two sequences.
    assert_eq!(read(&mut c, 100).unwrap(), [Got::Gap(1, 2)]);
    assert_eq!((c.cursor(), c.gaps_seen(), seg.gaps()), (3, 2, 1));
    assert_eq!(seg.registry()[0].gaps_seen, 2);
    assert_eq!(seg.retire_dead_producers(), 1);
    // A claim of two sequences (3 and 4) that died with nothing published.
    let mut p2 = FramedProducer::register(&seg).unwrap();
    let dead = p2.index();
    p2.claim(112).unwrap().leave();
    p2.forget();
    set_producer_owner(&seg, dead, DEAD_PID);
    p.publish(&msg(1, 5)).unwrap();
    let mut got = vec![];
    for _ in 0..8 {
        got.extend(read(&mut c, 100).unwrap());
    }
    assert_eq!(
        got,
        [Got::Gap(3, 1), Got::Gap(4, 1), Got::Msg(5, msg(1, 5))]
    );
    assert_eq!((c.cursor(), c.gaps_seen(), seg.gaps()), (6, 4, 3));
}

/// 11.4: an optional consumer copies; lapped, it resumes at the claimed count (a frame
/// boundary) and counts the lost sequences (slots, not messages) in `lost`.
#[test]
fn a_lapped_optional_consumer_resyncs_at_the_claimed_count() {
    for mode in [ProducerMode::Single, ProducerMode::Multi] {
        let (mut p, seg) = framed(16, mode);
        let mut o = FramedConsumer::register(&seg, &ConsumerOptions::optional("o")).unwrap();
        p.publish(&msg(0, 100)).unwrap();
        assert_eq!(
            read(&mut o, 10).unwrap(),
            [Got::Msg(0, msg(0, 100))],
            "{mode:?}"
        );
        // 2 + 7 * 3 sequences beyond: the frame at 2 was overwritten.
        for k in 1..8 {
            p.publish(&msg(k, 100)).unwrap();
            p.publish(&msg(k, 20)).unwrap();
        }
        let l = seg.claimed_count();
        let b = o.read(10).unwrap();
        assert_eq!(
            (b.lost_from(), b.lost(), b.len(), b.end()),
            (2, l - 2, 0, l),
            "{mode:?}"
        );
        drop(b);
        assert_eq!((o.cursor(), o.lost()), (l, l - 2));
        assert_eq!(seg.registry()[0].lost, l - 2);
        p.publish(&msg(9, 33)).unwrap();
        let b = o.read(10).unwrap();
        assert_eq!(b.lost(), 0);
        let got: Vec<_> = b.iter().collect();
        assert_eq!(got, [(l, MessageItem::Message(&msg(9, 33)))], "{mode:?}");
    }
}

/// 11.4 and 5.10 in multi mode: an optional consumer lapped more than once finds a later
/// round's availability word at its cursor (nothing looks published there); the claimed count
/// `L` alone tells it that it was lapped. Waiting ends, the read reports `L - next` sequences lost
/// from `next` and goes on at `L`.
#[test]
fn a_lapped_optional_consumer_of_a_multi_producer_ring_stops_waiting_and_resumes_at_the_claimed_count(
) {
    let (mut p, seg) = framed(16, ProducerMode::Multi);
    // The only consumer: nothing gates the producer.
    let mut o = FramedConsumer::register(&seg, &ConsumerOptions::optional("o")).unwrap();
    for k in 0..20 {
        p.publish(&msg(k, 100)).unwrap(); // 2 slots each: 40 slots, two and a half laps
    }
    assert_eq!(
        seg.availability(0).load(Ordering::Acquire),
        33,
        "sequence 0's availability word is sequence 32's"
    );
    o.wait(Instant::now() + Duration::from_secs(3))
        .expect("a lapped consumer must not wait for its cursor's sequence");
    let b = o.read(10).unwrap();
    assert_eq!((b.lost_from(), b.lost(), b.len(), b.end()), (0, 40, 0, 40));
    drop(b);
    assert_eq!((o.cursor(), o.lost(), seg.registry()[0].lost), (40, 40, 40));
    p.publish(&msg(20, 7)).unwrap();
    o.wait(Instant::now() + Duration::from_secs(3)).unwrap();
    assert_eq!(read(&mut o, 10).unwrap(), [Got::Msg(40, msg(20, 7))]);
}

/// 11.3 step 5: the registration check before each message: an evicted consumer gets `Evicted`
/// and stores nothing.
#[test]
fn an_evicted_framed_consumer_is_told_before_a_message() {
    let (mut p, seg) = framed(16, ProducerMode::Single);
    let mut c = FramedConsumer::register(&seg, &required("c")).unwrap();
    p.publish(&msg(0, 20)).unwrap();
    assert_eq!(seg.evict_where(|i, _, _, _| i == c.index()), 1);
    assert!(matches!(c.read(10), Err(Error::Evicted)));
    assert_eq!(seg.consumer_cursor(0), Some(0));
}

/// The end of the stream: an empty read after the close that found everything read.
#[test]
fn a_framed_stream_ends_at_the_close() {
    let (mut p, seg) = framed(16, ProducerMode::Multi);
    let mut c = FramedConsumer::register(&seg, &required("c")).unwrap();
    p.publish(&msg(0, 20)).unwrap();
    p.close().unwrap();
    assert!(matches!(p.publish(b"late"), Err(Error::InvalidArgument(_))));
    assert!(p.claim(1).is_err());
    assert_eq!(read(&mut c, 10).unwrap().len(), 1);
    let b = c.read(10).unwrap();
    assert!(b.is_empty() && b.ended());
}

/// A small deterministic generator (xorshift64*), so that the random tests need no dependency
/// and every failure is reproducible from its seed.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: u64) -> u64 {
        self.next() % n
    }
    /// Mostly values near `around` (where the rules' edges are), sometimes anything.
    fn near(&mut self, around: u64) -> u64 {
        match self.below(4) {
            0 => self.next(),
            1 => self.below(around.saturating_mul(2).max(2)),
            _ => around.wrapping_add(self.below(5)).wrapping_sub(2),
        }
    }
}

/// Property of the frame-header checker (11.1) over random geometries and random or near-valid
/// headers: whatever it accepts names its sequence, lies inside the slot array, carries at most
/// `max_message` bytes that fit in its slots after the header, and has the slot count the rules
/// say; it never panics.
#[test]
fn the_frame_checker_never_accepts_a_frame_outside_the_array_or_over_max_message() {
    let mut rng = Rng(0x5eed_f4a3_e5ba_d00d);
    let mut accepted = 0u64;
    for _ in 0..200_000 {
        let capacity = 1u64 << (3 + rng.below(18));
        let slot_size = 16 * (2 + rng.below(64)) as u32;
        let header_len = 16 * (1 + rng.below(u64::from(slot_size / 16 - 1))) as u32;
        let largest = crate::frame::largest_message(capacity, slot_size, header_len);
        if largest == 0 {
            continue;
        }
        let g = FrameGeometry {
            header_len,
            max_message: (1 + rng.below(largest.min(u64::from(u32::MAX)))) as u32,
            slot_size,
            capacity,
        };
        let seq = rng.near(capacity * 3) & l::FRAME_SEQ_MASK;
        let length = rng.near(u64::from(g.max_message)) as u32;
        let slots = match rng.below(3) {
            0 => g.slots_for(u64::from(length)),
            1 => rng.near(capacity - (seq & (capacity - 1))),
            _ => rng.next(),
        } as u32;
        let mut seq_flags = match rng.below(4) {
            0 => rng.next(),
            1 => seq.wrapping_sub(capacity),
            _ => seq,
        };
        if rng.below(3) == 0 {
            seq_flags |= l::FRAME_PAD;
        }
        if rng.below(8) == 0 {
            seq_flags |= l::FRAME_RESERVED_BIT;
        }
        let h = FrameHeader {
            seq_flags,
            length: if seq_flags & l::FRAME_PAD != 0 && rng.below(2) == 0 {
                0
            } else {
                length
            },
            slots,
        };
        if g.check(seq, &h).is_ok() {
            accepted += 1;
            let i = seq & (capacity - 1);
            assert_eq!(h.seq(), seq);
            assert!(
                h.slots >= 1 && i + u64::from(h.slots) <= capacity,
                "{g:?} {seq} {h:?}"
            );
            assert!(h.length <= g.max_message, "{g:?} {h:?}");
            assert!(
                u64::from(header_len) + u64::from(h.length)
                    <= u64::from(h.slots) * u64::from(slot_size),
                "{g:?} {h:?}"
            );
            if h.is_pad() {
                assert_eq!(h.length, 0);
            } else {
                assert_eq!(u64::from(h.slots), g.slots_for(u64::from(h.length)));
            }
        }
    }
    assert!(
        accepted > 10_000,
        "the generator must reach valid headers too: {accepted}"
    );
}

/// The consumer over random header bytes at its cursor (a buggy producer): it delivers only
/// frames the checker accepts and whose bytes lie in the ring, or reports the frame corrupt
/// with its cursor unchanged; it never panics.
#[test]
fn a_consumer_over_random_frame_headers_never_reads_outside_its_frame() {
    let mut rng = Rng(0xf4a3_0bad_cafe_0001);
    for mode in [ProducerMode::Single, ProducerMode::Multi] {
        let (mut p, seg) = framed(16, mode);
        let g = seg.frame_geometry().unwrap();
        let mut c = FramedConsumer::register(&seg, &required("c")).unwrap();
        for round in 0..2000u64 {
            let at = c.cursor();
            // A real frame of random size, then its header replaced by random or nearly valid
            // bytes.
            p.publish(&msg(round, 1 + rng.below(112) as usize)).unwrap();
            let end = seg.claimed_count();
            let h = FrameHeader {
                seq_flags: if rng.below(2) == 0 { at } else { rng.next() },
                length: rng.near(100) as u32,
                slots: rng.near(2) as u32,
            };
            corrupt(&seg, at, h);
            let outcome = match c.read(100) {
                Ok(b) => {
                    assert!(g.check(at, &h).is_ok(), "{h:?} accepted at {at}");
                    for (s, item) in b.iter() {
                        if let MessageItem::Message(m) = item {
                            assert!(s == at && m.len() == h.length as usize);
                        }
                    }
                    assert!(b.end() <= end);
                    Ok(())
                }
                Err(e) => Err(e),
            };
            match outcome {
                Ok(()) => {}
                Err(Error::CorruptFrame { seq, .. }) => {
                    assert!(g.check(at, &h).is_err() || u64::from(h.slots) > end - at);
                    assert_eq!((seq, c.cursor()), (at, at));
                    assert_eq!(seg.consumer_cursor(c.index()), Some(at));
                }
                Err(e) => panic!("{e}"),
            }
            // Whatever the forged header made of the claim, PADs over what is left of it bring
            // the consumer to the producer's next boundary.
            while c.cursor() < end {
                let t = c.cursor();
                let room = g.capacity - seg.ring_index(t);
                corrupt(&seg, t, FrameHeader::pad(t, (end - t).min(room) as u32));
                read(&mut c, 100).unwrap();
            }
        }
    }
}
