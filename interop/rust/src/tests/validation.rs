//! Validation (spec 5.2 checks 1 to 13): each check in the spec's order with its own error, and
//! corrupt images that never make validation or a consumer on top panic.

use std::time::Duration;

use super::*;
use crate::conformance::{golden, ConformanceEvent};
use crate::consumer::{Consumer, ConsumerOptions, Start};
use crate::error::Error;
use crate::producer::Producer;
use crate::segment::{Backing, Config, Segment};

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

/// Checks 1 to 12 on a copy of `img`.
fn validate(img: &[u8]) -> crate::Result<crate::Geometry> {
    Segment::from_image(img).map(|s| s.geometry().clone())
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
    assert!(validate(&good).is_ok());
    for (name, corrupt, code) in cases {
        let mut img = good.clone();
        corrupt(&mut img);
        match validate(&img) {
            Ok(_) => panic!("{name}: accepted"),
            Err(e) => assert_eq!(e.code(), *code, "{name}: {e}"),
        }
    }
    // A later minor is accepted; the error of a wrong major reports both versions.
    let mut img = good.clone();
    img[14] = 9;
    assert_eq!(validate(&img).unwrap().minor, 9);
    img[12] = 3;
    let msg = validate(&img).unwrap_err().to_string();
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
            if let Ok(mut p) = Producer::<ConformanceEvent>::register(&seg) {
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
