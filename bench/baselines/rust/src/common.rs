//! What every baseline shares: the event types, pinning, the run configuration and the result.

use std::time::Duration;

/// A 64-byte event aligned to a cache line: the shape of a ringwire slot holding the Go
/// benchmark's `Event64`. Used where the baseline owns the storage (the disruptor ring), so each
/// event is exactly one line, as in ringwire.
#[repr(C, align(64))]
pub struct LineEvent {
    pub seq: u64,
    pub payload: [u8; 56],
}

/// A 64-byte event with its natural alignment (8): what a user would pass by value through a
/// channel. Aligning it to 64 would double a crossbeam slot (stamp + message) to 128 bytes.
#[repr(C)]
#[derive(Clone, Copy)]
pub struct Event64 {
    pub seq: u64,
    pub payload: [u8; 56],
}

const _: () = assert!(std::mem::size_of::<LineEvent>() == 64);
const _: () = assert!(std::mem::size_of::<Event64>() == 64);

/// One run's parameters. Not every baseline uses every field (`batch` is the disruptor's).
#[derive(Clone, Copy, Debug)]
pub struct Config {
    pub events: u64,
    pub capacity: usize,
    pub batch: usize,
    pub producer_cpu: usize,
    pub consumer_cpu: usize,
}

/// A completed, verified run: `elapsed` runs from the producer's first publish to the moment
/// the consumer handled the last event.
pub struct Outcome {
    pub elapsed: Duration,
    pub note: String,
}

/// Pins the calling thread to `cpu`, or says why it could not. Validate `cpu` with [check_cpu]
/// from an unpinned thread first: a thread spawned by a pinned one inherits its single cpu.
pub fn pin_current(cpu: usize) -> Result<(), String> {
    if core_affinity::set_for_current(core_affinity::CoreId { id: cpu }) {
        Ok(())
    } else {
        Err(format!("could not pin thread to cpu {cpu}"))
    }
}

/// Fails unless `cpu` is one the calling thread may run on (core_affinity lists the calling
/// thread's allowed cpus, so call it before pinning anything).
pub fn check_cpu(cpu: usize) -> Result<(), String> {
    let ids = core_affinity::get_core_ids().ok_or("cannot list cpus")?;
    if ids.iter().any(|c| c.id == cpu) {
        Ok(())
    } else {
        Err(format!("cpu {cpu} is not available (have {})", ids.len()))
    }
}

/// The version of `krate` locked in this crate's Cargo.lock, for the notes ("?" if absent).
pub fn locked_version(krate: &str) -> &'static str {
    const LOCK: &str = include_str!("../Cargo.lock");
    let want = format!("name = \"{krate}\"");
    let mut lines = LOCK.lines();
    while let Some(line) = lines.next() {
        if line.trim() == want {
            if let Some(v) = lines
                .next()
                .and_then(|l| l.trim().strip_prefix("version = "))
            {
                return v.trim_matches('"');
            }
        }
    }
    "?"
}
