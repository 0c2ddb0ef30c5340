//! Golden segment images of the conformance scenarios (conformance/PROTOCOL.md), built through
//! the real producer and consumer protocols on a heap segment, then masked.

use std::sync::atomic::Ordering;
use std::time::Duration;

use crate::consumer::{Consumer, ConsumerOptions, Start};
use crate::error::{Error, Result};
use crate::event::ConformanceEvent;
use crate::layout::{self as l, Field};
use crate::producer::{Producer, FILL_PANICKED};
use crate::segment::{Backing, Config, ProducerMode};
use crate::wait::WaitMode;

/// The scenario names, in the protocol's order.
pub const SCENARIOS: &[&str] = &[
    "empty",
    "single-wrapped",
    "multi-wrapped",
    "closed",
    "multi-gap",
    "poisoned",
];

/// A pid no process has (above Linux's largest pid_max): marks a producer as dead. Masked.
const DEAD_PID: u32 = 0x7fff_fff0;

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

/// Publishes events k of producer 0, one claim each (PROTOCOL.md: "The creator publishes one
/// event per claim"), so a multi-mode creator's `intent_start` ends at its last sequence.
fn publish_each(p: &mut Producer<ConformanceEvent>, ks: std::ops::Range<u64>) -> Result<()> {
    for k in ks {
        p.publish(&ConformanceEvent::new(k, 0))?;
    }
    Ok(())
}

fn opts(name: &str, required: bool) -> ConsumerOptions {
    ConsumerOptions {
        name: name.into(),
        required,
        start: Start::Latest,
        depends_on: 0,
        stall_timeout: Duration::ZERO,
        // Golden images have both blockers counts 0 (peers that never block in the kernel).
        wait: WaitMode::Spin,
    }
}

/// A creator that never blocks in the kernel, so the image's `producer_blockers` stays 0.
fn create(cfg: &Config) -> Result<Producer<ConformanceEvent>> {
    let mut p = Producer::create(Backing::Heap, cfg)?;
    p.set_wait(WaitMode::Spin);
    Ok(p)
}

fn drain(c: &mut Consumer<ConformanceEvent>, n: usize) -> Result<()> {
    let p = c.poll(n, |_, _, _| {})?;
    let got = p.delivered + p.gaps as usize;
    if got != n {
        return Err(Error::InvalidArgument(format!("golden: read {got} of {n}")));
    }
    Ok(())
}

/// The masked image of `scenario`, `total_size` bytes.
pub fn image(scenario: &str) -> Result<Vec<u8>> {
    let mut img = match scenario {
        "empty" => {
            let p = create(&config(8, 4, ProducerMode::Single))?;
            p.segment().image()
        }
        "single-wrapped" => {
            let mut p = create(&config(8, 4, ProducerMode::Single))?;
            let mut c1 = Consumer::register(p.segment(), &opts("c1", true))?;
            p.publish_batch(&events(0..5))?;
            drain(&mut c1, 5)?;
            p.publish_batch(&events(5..10))?;
            c1.abandon();
            p.segment().image()
        }
        "multi-wrapped" => {
            let mut p = create(&config(4, 2, ProducerMode::Multi))?;
            let mut c1 = Consumer::register(p.segment(), &opts("c1", true))?;
            let mut c2 = Consumer::register(p.segment(), &opts("c2", false))?;
            publish_each(&mut p, 0..4)?;
            drain(&mut c1, 4)?;
            drain(&mut c2, 4)?;
            publish_each(&mut p, 4..6)?;
            drain(&mut c2, 2)?;
            c2.close()?;
            c1.abandon();
            p.segment().image()
        }
        "closed" => {
            let mut p = create(&config(16, 2, ProducerMode::Single))?;
            let mut c1 = Consumer::register(p.segment(), &opts("c1", true))?;
            p.publish_batch(&events(0..3))?;
            drain(&mut c1, 3)?;
            c1.close()?;
            p.close()?;
            p.segment().image()
        }
        "multi-gap" => {
            let cfg = Config {
                producer_capacity: 2,
                ..config(8, 2, ProducerMode::Multi)
            };
            let mut p = create(&cfg)?;
            let seg = p.segment().clone();
            let mut c1 = Consumer::register(&seg, &opts("c1", true))?;
            publish_each(&mut p, 0..2)?;
            // Producer entry 1 claims sequences 2..4 and dies before publishing them.
            let mut p1 = Producer::<ConformanceEvent>::attach(&seg)?;
            p1.set_wait(WaitMode::Spin);
            let dead = p1.index();
            p1.claim_and_abandon(3)?;
            let e = seg.producer_entry(dead);
            e.take_owner(e.owner().load(Ordering::SeqCst), l::owner_word(DEAD_PID, 0));
            drain(&mut c1, 2)?;
            // c1 (stall timeout 0) passes the claim over (spec 5.8) and reads the gaps; once the
            // claim is resolved, a peer retires the dead entry (dead, generation 1).
            drain(&mut c1, 3)?;
            if seg.retire_dead_producers() != 1 {
                return Err(Error::InvalidArgument(
                    "golden: the dead producer entry was not retired".into(),
                ));
            }
            publish_each(&mut p, 2..3)?;
            drain(&mut c1, 1)?;
            c1.abandon();
            seg.image()
        }
        "poisoned" => {
            let mut p = create(&config(8, 2, ProducerMode::Single))?;
            p.publish_batch(&events(0..2))?;
            // resume_unwind unwinds like a panic without running the panic hook (no stderr).
            let failed = p.try_publish_with(1, |_, _| -> std::result::Result<_, &str> {
                std::panic::resume_unwind(Box::new(FILL_PANICKED))
            });
            if !matches!(failed, Err(Error::Poisoned(_))) {
                return Err(Error::InvalidArgument(format!(
                    "golden: fill failure gave {failed:?}"
                )));
            }
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
/// creation time, producer heartbeat, poison pid, and in every consumer and producer registry
/// entry the owner identity and heartbeat. Entries are located through the image's
/// own header; entries outside the image are skipped.
pub fn mask(img: &mut [u8]) {
    for f in [
        l::INCARNATION,
        l::CREATOR_PID,
        l::CREATOR_START_TIME,
        l::CREATED_UNIX_NS,
        l::PRODUCER_HEARTBEAT_NS,
        l::POISON_PID,
    ] {
        zero(img, 0, f);
    }
    if let (Some(at), Some(n)) = (
        get_u64(img, l::REGION_PRODUCERS.offset),
        get_u32(img, l::PRODUCER_CAPACITY.offset),
    ) {
        for i in 0..u64::from(n.min(l::MAX_PRODUCERS)) {
            let Some(at) = at
                .checked_add(i * l::PRODUCER_ENTRY_SIZE as u64)
                .and_then(|a| usize::try_from(a).ok())
            else {
                break;
            };
            for f in [l::PRD_OWNER, l::PRD_HEARTBEAT_NS] {
                zero(img, at, f);
            }
        }
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
        for f in [l::ENT_OWNER, l::ENT_HEARTBEAT_NS] {
            zero(img, at, f);
        }
    }
}
