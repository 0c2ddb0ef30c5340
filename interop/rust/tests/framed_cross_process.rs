//! Framed rings across processes: the conformer's `--framed` roles as real producer and
//! consumer processes, a producer killed with SIGKILL in the middle of a frame, and the
//! conformer's framed contract (validate, golden, error codes).

use std::time::{Duration, Instant};

use ringwire::conformance::{framed_len, framed_message, golden, FRAMED_TYPE_NAME};
use ringwire::{
    Backing, Config, ConsumerOptions, Error, FrameConfig, FrameHeader, FramedConsumer,
    FramedProducer, MessageItem, ProducerMode, WaitStrategy,
};

mod common;
use common::{run, Proc, Shm};

fn done(consumer: &str, n: u64, producers: u64, gaps: u64) -> String {
    format!(
        "{{\"event\":\"done\",\"consumer\":\"{consumer}\",\"received\":{n},\"producers\":{producers},\"gaps\":{gaps},\"ok\":true}}"
    )
}

fn error_code(lines: &[String]) -> String {
    let line = lines.last().expect("an output line");
    let at = line.find("\"code\":\"").expect("an error line") + 8;
    line[at..at + line[at..].find('"').unwrap()].to_string()
}

#[test]
fn framed_producer_and_consumer_processes_in_single_mode() {
    let shm = Shm::new();
    let n = 5000u64;
    let ns = n.to_string();
    let producer = Proc::spawn(&[
        "produce",
        "--framed",
        "--name",
        &shm.0,
        "--count",
        &ns,
        "--capacity",
        "64",
        "--batch",
        "6",
        "--wait-consumers",
        "2",
    ]);
    let c1 = Proc::spawn(&[
        "consume",
        "--framed",
        "--name",
        &shm.0,
        "--consumer",
        "c1",
        "--count",
        &ns,
        "--batch",
    ]);
    let c2 = Proc::spawn(&[
        "consume",
        "--framed",
        "--name",
        &shm.0,
        "--consumer",
        "c2",
        "--count",
        &ns,
    ]);
    assert_eq!(c1.finish(), (0, vec![done("c1", n, 1, 0)]));
    assert_eq!(c2.finish(), (0, vec![done("c2", n, 1, 0)]));
    let (code, lines) = producer.finish();
    assert_eq!(code, 0, "{lines:?}");
}

#[test]
fn framed_producer_processes_in_multi_mode_with_a_small_slot_and_message() {
    let shm = Shm::new();
    let producer = Proc::spawn(&[
        "produce",
        "--framed",
        "--mode",
        "multi",
        "--name",
        &shm.0,
        "--count",
        "1500",
        "--capacity",
        "32",
        "--slot-size",
        "32",
        "--max-message",
        "40",
        "--batch",
        "3",
        "--wait-consumers",
        "1",
        "--wait-producers",
        "1",
    ]);
    let consumer = Proc::spawn(&[
        "consume",
        "--framed",
        "--name",
        &shm.0,
        "--consumer",
        "c1",
        "--count",
        "3000",
        "--producers",
        "2",
        "--batch",
    ]);
    // The attached producer waits for the segment, then for the consumer (started above).
    let attached = Proc::spawn(&[
        "produce",
        "--framed",
        "--attach",
        "--name",
        &shm.0,
        "--count",
        "1500",
        "--producer",
        "1",
        "--wait-consumers",
        "1",
    ]);
    assert_eq!(attached.finish().0, 0);
    assert_eq!(consumer.finish(), (0, vec![done("c1", 3000, 2, 0)]));
    assert_eq!(producer.finish().0, 0);
}

/// A registered producer process claims the frame of its message 7, writes its header and the
/// first half of its payload, and is killed with SIGKILL: the frame stays in the slots, never
/// published; a required consumer passes the claim over (spec 5.8, 11.3 step 1) and reads every
/// other message of both producers in order.
#[test]
fn a_producer_killed_mid_frame_is_passed_over_and_the_rest_is_read() {
    let shm = Shm::new();
    let cfg = Config {
        capacity: 64,
        registry_capacity: 4,
        mode: ProducerMode::Multi,
        frames: Some(FrameConfig {
            type_name: FRAMED_TYPE_NAME.into(),
            ..FrameConfig::default()
        }),
        ..Config::default()
    };
    let mut creator = FramedProducer::create(Backing::Shm(&shm.0), &cfg).unwrap();
    creator.set_wait_strategy(WaitStrategy::Spin);
    let seg = creator.segment().clone();
    let m = creator.max_message() as u32;
    let mut c = FramedConsumer::register(
        &seg,
        &ConsumerOptions {
            stall_timeout: Duration::from_millis(50),
            ..ConsumerOptions::required("c1")
        },
    )
    .unwrap();
    let (code, _) = run(&[
        "produce",
        "--framed",
        "--attach",
        "--name",
        &shm.0,
        "--count",
        "20",
        "--producer",
        "1",
        "--die-mid-frame",
        "7",
    ]);
    assert_eq!(
        code,
        -libc_sigkill(),
        "the producer was killed with SIGKILL"
    );
    // Its claim is the last one: the frame of message 7, after a PAD if it wrapped.
    let end = seg.claimed_count();
    let len = framed_len(7, 1, m);
    let k = u64::from(creator.frame_geometry().header_len + len as u32).div_ceil(64);
    let at = end - k;
    let dead = seg.producer_registry()[1].clone();
    assert_eq!(
        dead.intent_end, end,
        "the dead producer's intent covers its claim"
    );
    let h = frame_at(&seg, at);
    assert_eq!(h, FrameHeader::message(at, len as u32, k as u32));
    // ... and the first half of its payload, as the producer wrote it before it was killed.
    let first_half = &frame_bytes(&seg, at, 16 + len / 2)[16..];
    assert_eq!(first_half, &framed_message(7, 1, len)[..len / 2]);
    for k in 0..5 {
        creator
            .publish(&framed_message(k, 0, framed_len(k, 0, m)))
            .unwrap();
    }
    let mut next = [0u64; 2];
    let mut gaps = 0;
    let deadline = Instant::now() + Duration::from_secs(10);
    while next != [5, 7] {
        let b = c.read(100).unwrap();
        for (seq, item) in b.iter() {
            match item {
                MessageItem::Message(bytes) => {
                    let p = u64::from(bytes[0]);
                    let k = next[p as usize];
                    assert_eq!(bytes, framed_message(k, p, framed_len(k, p, m)), "at {seq}");
                    next[p as usize] += 1;
                }
                MessageItem::Gap { slots } => {
                    assert!(seq >= dead.intent_start && seq < end, "gap at {seq}");
                    gaps += slots;
                }
            }
        }
        let moved = b.end() > b.first();
        drop(b);
        if !moved {
            assert!(Instant::now() < deadline, "stuck at {}", c.cursor());
            c.wait(deadline).unwrap();
        }
    }
    assert_eq!(
        gaps,
        end - dead.intent_start,
        "every sequence of the dead claim"
    );
    assert_eq!((c.gaps_seen(), seg.gaps()), (gaps, gaps));
    assert_eq!(seg.retire_dead_producers(), 1);
}

fn libc_sigkill() -> i32 {
    9
}

/// `n` bytes of the segment from the start of the slot of sequence `s`.
fn frame_bytes(seg: &ringwire::Segment, s: u64, n: usize) -> Vec<u8> {
    let g = seg.geometry();
    let at = (g.slots.offset + (s & (g.capacity - 1)) * u64::from(g.slot_size)) as usize;
    seg.image()[at..at + n].to_vec()
}

/// The frame header at sequence `s`, from the segment's bytes.
fn frame_at(seg: &ringwire::Segment, s: u64) -> FrameHeader {
    FrameHeader::decode(&frame_bytes(seg, s, 16))
}

#[test]
fn the_conformers_framed_contract() {
    let dir = std::env::temp_dir();
    let file = dir.join(format!("rw-rframe-{}-golden.bin", std::process::id()));
    let path = file.to_str().unwrap();
    for s in golden::FRAMED_SCENARIOS {
        assert_eq!(run(&["golden", s, path]), (0, vec![]));
        assert_eq!(
            std::fs::read(&file).unwrap(),
            golden::image(s).unwrap(),
            "{s}"
        );
        let (code, lines) = run(&["validate", path]);
        assert_eq!(code, 0);
        let mode = if *s == "framed-wrapped" {
            "single"
        } else {
            "multi"
        };
        assert_eq!(
            lines,
            [format!(
                "{{\"event\":\"valid\",\"major\":2,\"minor\":1,\"capacity\":16,\"slot_size\":64,\"mode\":\"{mode}\",\"registry\":2,\"payload_kind\":1,\"frame_header_len\":16,\"max_message\":112}}"
            )]
        );
    }
    // Check 14 in validate: a framed image whose max_message breaks 11.1.
    let mut img = golden::image("framed-wrapped").unwrap();
    img[400..404].copy_from_slice(&200u32.to_le_bytes());
    std::fs::write(&file, &img).unwrap();
    let (code, lines) = run(&["validate", path]);
    assert_eq!((code, error_code(&lines).as_str()), (3, "frame_geometry"));
    let _ = std::fs::remove_file(&file);

    // A fixed-event consumer on a framed ring and a framed one on a ring of fixed events.
    let shm = Shm::new();
    let cfg = Config {
        capacity: 16,
        frames: Some(FrameConfig::default()),
        ..Config::default()
    };
    let framed = FramedProducer::create(Backing::Shm(&shm.0), &cfg).unwrap();
    let (code, lines) = run(&[
        "consume",
        "--name",
        &shm.0,
        "--consumer",
        "c",
        "--count",
        "1",
    ]);
    assert_eq!((code, error_code(&lines).as_str()), (3, "payload_kind"));
    drop(framed);
    let fixed = Shm::new();
    let p = ringwire::Producer::<u64>::create(Backing::Shm(&fixed.0), &Config::default()).unwrap();
    let (code, lines) = run(&[
        "consume",
        "--framed",
        "--name",
        &fixed.0,
        "--consumer",
        "c",
        "--count",
        "1",
    ]);
    assert_eq!((code, error_code(&lines).as_str()), (3, "payload_kind"));
    drop(p);
    // Usage: framed flags without --framed, and a largest message over an eighth of the ring.
    let other = Shm::new();
    for args in [
        vec![
            "produce",
            "--name",
            &other.0,
            "--count",
            "1",
            "--slot-size",
            "64",
        ],
        vec![
            "produce",
            "--framed",
            "--name",
            &other.0,
            "--count",
            "1",
            "--capacity",
            "16",
            "--max-message",
            "113",
        ],
    ] {
        let (code, lines) = run(&args);
        assert_eq!(
            (code, error_code(&lines).as_str()),
            (2, "usage"),
            "{args:?}"
        );
    }
    // The error of a refused message, as the conformer names it.
    assert_eq!(
        Error::TooLarge {
            len: 2,
            max_message: 1
        }
        .code(),
        "too_large"
    );
}
