//! Unit tests, in one process, split by concept; this module holds the helpers they share.

use std::sync::atomic::{AtomicU64, Ordering};

use crate::consumer::{Consumer, ConsumerOptions, Item, Start};
use crate::layout as l;
use crate::segment::{self, Config, ProducerMode, Segment};
use crate::wait::WaitStrategy;

mod consuming;
mod creation;
mod frames;
mod gating;
mod golden;
mod liveness;
mod optional;
mod poison;
mod publishing;
mod recovery;
mod registry;
mod snapshot;
mod validation;
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
        wait_strategy: WaitStrategy::Block,
    }
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

pub(crate) fn multi_cfg(capacity: u64, producers: u32) -> Config {
    Config {
        producer_capacity: producers,
        ..cfg(capacity, 2, ProducerMode::Multi)
    }
}

pub(crate) fn poll_all<T: crate::Event>(c: &mut Consumer<T>) -> Vec<(Item<T>, u64)> {
    let mut got = vec![];
    c.poll(64, |i, s, _| got.push((i, s))).unwrap();
    got
}

/// The rows of "### Table: NAME" of spec/LAYOUT.md: (field, offset, size).
pub(crate) fn spec_table(name: &str) -> Vec<(String, usize, usize)> {
    crate::layout::tests::spec_table(&crate::layout::tests::spec(), name)
}
