//! Golden segment images of the conformance scenarios (conformance/PROTOCOL.md), built through
//! the real producer and consumer protocols on a heap segment, then masked.

use std::sync::atomic::Ordering;
use std::time::Duration;

use super::{fill_framed, framed_message, ConformanceEvent, FRAMED_TYPE_NAME};
use crate::consumer::{Consumer, ConsumerOptions, FramedConsumer, Start};
use crate::error::{Error, Result};
use crate::layout::{self as l, Field};
use crate::producer::{FramedProducer, Producer, FILL_PANICKED};
use crate::segment::{Backing, Config, FrameConfig, ProducerMode};
use crate::wait::WaitStrategy;

/// The scenario names, in the protocol's order.
pub const SCENARIOS: &[&str] = &[
    "empty",
    "single-wrapped",
    "multi-wrapped",
    "closed",
    "multi-gap",
    "poisoned",
    "framed-wrapped",
    "framed-multi-gap",
];

/// The framed scenarios (format 2.1) among [`SCENARIOS`].
pub const FRAMED_SCENARIOS: &[&str] = &["framed-wrapped", "framed-multi-gap"];

/// Message lengths of `framed-wrapped` (conformance/PROTOCOL.md), k = 0..11.
const WRAPPED_LENGTHS: [usize; 12] = [100, 20, 112, 64, 1, 48, 112, 30, 112, 7, 100, 40];

/// The framed rings of the framed scenarios: capacity 16, slot size 64 (alignment 16), frame
/// header 16, `max_message` 112, the conformance message type.
fn framed_config(mode: ProducerMode, producer_capacity: u32) -> Config {
    Config {
        producer_capacity,
        frames: Some(FrameConfig {
            slot_size: 64,
            max_message: 112,
            type_name: FRAMED_TYPE_NAME.to_string(),
        }),
        ..config(16, 2, mode)
    }
}

/// A framed creator that never blocks in the kernel (`producer_blockers` stays 0).
fn create_framed(cfg: &Config) -> Result<FramedProducer> {
    let mut p = FramedProducer::create(Backing::Heap, cfg)?;
    p.set_wait_strategy(WaitStrategy::Spin);
    Ok(p)
}

/// Reads `n` items (messages and gaps) with as many reads as it takes (a frame not all
/// published ends a read; the next passes its dead producer's claim over).
fn drain_frames(c: &mut FramedConsumer, n: usize) -> Result<()> {
    let mut got = 0;
    for _ in 0..64 {
        if got == n {
            return Ok(());
        }
        got += c.read(n - got)?.len();
    }
    Err(Error::InvalidArgument(format!(
        "golden: read {got} of {n} framed items"
    )))
}

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
        wait_strategy: WaitStrategy::Spin,
    }
}

/// A creator that never blocks in the kernel, so the image's `producer_blockers` stays 0.
fn create(cfg: &Config) -> Result<Producer<ConformanceEvent>> {
    let mut p = Producer::create(Backing::Heap, cfg)?;
    p.set_wait_strategy(WaitStrategy::Spin);
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
            let mut p1 = Producer::<ConformanceEvent>::register(&seg)?;
            p1.set_wait_strategy(WaitStrategy::Spin);
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
        "framed-wrapped" => {
            let mut p = create_framed(&framed_config(ProducerMode::Single, 0))?;
            let mut c1 = FramedConsumer::register(p.segment(), &opts("c1", true))?;
            for (k, &len) in WRAPPED_LENGTHS.iter().enumerate().take(10) {
                p.publish(&framed_message(k as u64, 0, len))?;
            }
            // c1 reads messages 0..9 (sequences 0-14): cursor 15.
            drain_frames(&mut c1, 10)?;
            for (k, &len) in WRAPPED_LENGTHS.iter().enumerate().skip(10) {
                p.publish(&framed_message(k as u64, 0, len))?;
            }
            c1.abandon();
            p.segment().image()
        }
        "framed-multi-gap" => {
            let mut p = create_framed(&framed_config(ProducerMode::Multi, 2))?;
            let seg = p.segment().clone();
            let mut c1 = FramedConsumer::register(&seg, &opts("c1", true))?;
            p.publish(&framed_message(0, 0, 100))?;
            p.publish(&framed_message(1, 0, 20))?;
            // Producer entry 1 (producer 1) claims the frame of its message 0 (70 bytes:
            // sequences 3-4), writes it, publishes sequence 3 alone and dies.
            let mut p1 = FramedProducer::register(&seg)?;
            p1.set_wait_strategy(WaitStrategy::Spin);
            let dead = p1.index();
            let mut claim = p1.claim(70)?;
            fill_framed(0, 1, claim.payload());
            let s = claim.seq();
            // Spec 5.4 step 5 for the frame's first sequence only: the direct layout write of
            // a producer that dies midway through publishing.
            seg.availability(s).store(s + 1, Ordering::Release);
            claim.leave();
            p1.forget();
            let e = seg.producer_entry(dead);
            e.take_owner(e.owner().load(Ordering::SeqCst), l::owner_word(DEAD_PID, 0));
            // c1 (stall timeout 0) reads messages 0 and 1, then passes sequence 4 over (spec
            // 5.8) and the frame at 3 whole (11.3 step 4): one item of two sequences.
            drain_frames(&mut c1, 3)?;
            if seg.retire_dead_producers() != 1 {
                return Err(Error::InvalidArgument(
                    "golden: the dead framed producer entry was not retired".into(),
                ));
            }
            p.publish(&framed_message(2, 0, 112))?;
            p.publish(&framed_message(3, 0, 5))?;
            drain_frames(&mut c1, 2)?;
            c1.abandon();
            seg.image()
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

/// conformance/testdata/v2/masked.tsv, the one list of the masked fields (the Go and C masking
/// are tested against the same file).
const MASKED_TSV: &str = include_str!(concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/../../conformance/testdata/v2/masked.tsv"
));

/// A structure of spec/LAYOUT.md whose fields a golden comparison may mask.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Table {
    /// "Table: header", at offset 0.
    Header,
    /// "Table: entry", in every consumer registry entry.
    Entry,
    /// "Table: producer", in every producer registry entry.
    Producer,
}

impl Table {
    fn parse(name: &str) -> Option<Table> {
        Some(match name {
            "header" => Table::Header,
            "entry" => Table::Entry,
            "producer" => Table::Producer,
            _ => return None,
        })
    }

    /// This implementation's copy of the table (checked against the spec by the layout test).
    fn fields(self) -> &'static [(&'static str, Field)] {
        match self {
            Table::Header => l::HEADER_TABLE,
            Table::Entry => l::ENTRY_TABLE,
            Table::Producer => l::PRODUCER_TABLE,
        }
    }
}

/// The rows of a masked-fields file (`table<TAB>field`, `#` comments, blank lines skipped):
/// each field's table, name and place. An unknown table or field is an error naming its line.
pub(crate) fn parse_masked(tsv: &str) -> Result<Vec<(Table, &str, Field)>> {
    let mut rows = Vec::new();
    for (n, line) in tsv.lines().enumerate() {
        let line = line.trim_end();
        if line.is_empty() || line.starts_with('#') {
            continue;
        }
        let bad = || Error::InvalidArgument(format!("masked.tsv line {}: {line:?}", n + 1));
        let (table, field) = line.split_once('\t').ok_or_else(bad)?;
        let table = Table::parse(table).ok_or_else(bad)?;
        let &(_, f) = table
            .fields()
            .iter()
            .find(|(name, _)| *name == field)
            .ok_or_else(bad)?;
        rows.push((table, field, f));
    }
    Ok(rows)
}

/// The masked fields of conformance/testdata/v2/masked.tsv.
pub(crate) fn masked_fields() -> Vec<(Table, &'static str, Field)> {
    parse_masked(MASKED_TSV).expect("masked.tsv names fields of the spec tables (tested)")
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

/// The starts of `count` entries of `size` bytes from the offset the image's header holds in
/// `region`; entries whose start overflows are left out, and none if a value is missing.
fn entry_starts(img: &[u8], region: Field, count: Option<u32>, size: Option<u64>) -> Vec<usize> {
    let (Some(at), Some(n), Some(size)) = (get_u64(img, region.offset), count, size) else {
        return Vec::new();
    };
    (0..u64::from(n))
        .map_while(|i| {
            at.checked_add(i.checked_mul(size)?)
                .and_then(|a| usize::try_from(a).ok())
        })
        .collect()
}

/// Zeroes the fields a golden comparison ignores, those of conformance/testdata/v2/masked.tsv:
/// header fields once, entry and producer fields in every consumer and producer registry entry.
/// Entries are located through the image's own header; bytes outside the image are skipped.
pub fn mask(img: &mut [u8]) {
    let entries = entry_starts(
        img,
        l::REGION_REGISTRY,
        get_u32(img, l::REGISTRY_CAPACITY.offset).map(|n| n.min(64)),
        get_u32(img, l::REGISTRY_ENTRY_SIZE_F.offset).map(u64::from),
    );
    let producers = entry_starts(
        img,
        l::REGION_PRODUCERS,
        get_u32(img, l::PRODUCER_CAPACITY.offset).map(|n| n.min(l::MAX_PRODUCERS)),
        Some(l::PRODUCER_ENTRY_SIZE as u64),
    );
    for (table, _, f) in masked_fields() {
        let starts: &[usize] = match table {
            Table::Header => &[0],
            Table::Entry => &entries,
            Table::Producer => &producers,
        };
        for &at in starts {
            zero(img, at, f);
        }
    }
}
