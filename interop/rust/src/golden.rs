//! Golden segment images of the conformance scenarios (conformance/PROTOCOL.md), built through
//! the real producer and consumer protocols on a heap segment, then masked.

use crate::consumer::{Consumer, ConsumerOptions, Start};
use crate::error::{Error, Result};
use crate::event::ConformanceEvent;
use crate::layout::{self as l, Field};
use crate::producer::Producer;
use crate::segment::{Backing, Config, ProducerMode};

/// The scenario names, in the protocol's order.
pub const SCENARIOS: &[&str] = &["empty", "single-wrapped", "multi-wrapped", "closed"];

fn events(range: std::ops::Range<u64>) -> Vec<ConformanceEvent> {
    range.map(|k| ConformanceEvent::new(k, 0)).collect()
}

fn config(capacity: u64, registry_capacity: u32, mode: ProducerMode) -> Config {
    Config {
        capacity,
        registry_capacity,
        mode,
        ..Config::default()
    }
}

fn opts(name: &str, required: bool) -> ConsumerOptions {
    ConsumerOptions {
        name: name.into(),
        required,
        start: Start::Latest,
        depends_on: 0,
    }
}

fn drain(c: &mut Consumer<ConformanceEvent>, n: usize) -> Result<()> {
    let got = c.poll(n, |_, _, _| {})?.delivered;
    if got != n {
        return Err(Error::InvalidArgument(format!("golden: read {got} of {n}")));
    }
    Ok(())
}

/// The masked image of `scenario`, `total_size` bytes.
pub fn image(scenario: &str) -> Result<Vec<u8>> {
    let mut img = match scenario {
        "empty" => {
            let p = Producer::<ConformanceEvent>::create(
                Backing::Heap,
                &config(8, 4, ProducerMode::Single),
            )?;
            p.segment().image()
        }
        "single-wrapped" => {
            let mut p = Producer::create(Backing::Heap, &config(8, 4, ProducerMode::Single))?;
            let mut c1 = Consumer::register(p.segment(), &opts("c1", true))?;
            p.publish_batch(&events(0..5))?;
            drain(&mut c1, 5)?;
            p.publish_batch(&events(5..10))?;
            c1.abandon();
            p.segment().image()
        }
        "multi-wrapped" => {
            let mut p = Producer::create(Backing::Heap, &config(4, 2, ProducerMode::Multi))?;
            let mut c1 = Consumer::register(p.segment(), &opts("c1", true))?;
            let mut c2 = Consumer::register(p.segment(), &opts("c2", false))?;
            p.publish_batch(&events(0..4))?;
            drain(&mut c1, 4)?;
            drain(&mut c2, 4)?;
            p.publish_batch(&events(4..6))?;
            drain(&mut c2, 2)?;
            c2.close()?;
            c1.abandon();
            p.segment().image()
        }
        "closed" => {
            let mut p = Producer::create(Backing::Heap, &config(16, 2, ProducerMode::Single))?;
            let mut c1 = Consumer::register(p.segment(), &opts("c1", true))?;
            p.publish_batch(&events(0..3))?;
            drain(&mut c1, 3)?;
            c1.close()?;
            p.close();
            p.segment().image()
        }
        other => {
            return Err(Error::InvalidArgument(format!(
                "unknown scenario {other:?}"
            )))
        }
    };
    mask(&mut img);
    Ok(img)
}

fn zero(img: &mut [u8], at: usize, f: Field) {
    if let Some(b) = img.get_mut(at + f.offset..at + f.offset + f.size) {
        b.fill(0);
    }
}

fn get_u64(img: &[u8], off: usize) -> Option<u64> {
    Some(u64::from_le_bytes(img.get(off..off + 8)?.try_into().ok()?))
}

fn get_u32(img: &[u8], off: usize) -> Option<u32> {
    Some(u32::from_le_bytes(img.get(off..off + 4)?.try_into().ok()?))
}

/// Zeroes the fields a golden comparison ignores: incarnation, creator pid and start time,
/// creation time, producer heartbeat, and in every registry entry the owner pid, owner start
/// time and heartbeat. Entries are located through the image's own header; entries outside the
/// image are skipped.
pub fn mask(img: &mut [u8]) {
    for f in [
        l::INCARNATION,
        l::CREATOR_PID,
        l::CREATOR_START_TIME,
        l::CREATED_UNIX_NS,
        l::PRODUCER_HEARTBEAT_NS,
    ] {
        zero(img, 0, f);
    }
    let (Some(reg), Some(n), Some(size)) = (
        get_u64(img, l::REGION_REGISTRY.offset),
        get_u32(img, l::REGISTRY_CAPACITY.offset),
        get_u32(img, l::REGISTRY_ENTRY_SIZE_F.offset),
    ) else {
        return;
    };
    for i in 0..u64::from(n.min(64)) {
        let Some(at) = reg
            .checked_add(i * u64::from(size))
            .and_then(|a| usize::try_from(a).ok())
        else {
            return;
        };
        for f in [
            l::ENT_OWNER_PID,
            l::ENT_OWNER_START_TIME,
            l::ENT_HEARTBEAT_NS,
        ] {
            zero(img, at, f);
        }
    }
}
