//! The gating bound of a multi-mode ring with no required consumer (spec 5.3 step 1, model
//! finding F5): the published prefix, not the claimed count, and a producer waiting behind a
//! dead producer's claim passes it over (5.8).

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::*;
use crate::error::Error;
use crate::producer::Producer;
use crate::segment::Backing;

/// Holds `[c, c + n)` in producer entry `index` as a producer between 5.4 steps 3 and 4 would
/// (spec 5.4 steps 2 and 3 by hand: the intent, then `claimed` from `c` by compare-and-swap).
/// Returns `c`.
fn claim_by_hand(seg: &Segment, index: usize, n: u64) -> u64 {
    let c = seg.claimed_count();
    let e = seg.producer_entry(index);
    e.intent_start().store(c, Ordering::SeqCst);
    e.intent_end().store(c + n, Ordering::SeqCst);
    seg.claimed()
        .compare_exchange(c, c + n, Ordering::SeqCst, Ordering::SeqCst)
        .unwrap();
    c
}

/// A multi-mode ring of capacity 8, no consumer: the creator has published sequence 0 and a
/// second producer entry (owner this process) holds the claim `[1, 3)` unwritten. Returns the
/// creator, with a 50 ms timeout, and the second entry's index.
fn ring_with_a_held_claim() -> (Producer<u64>, Segment, usize, u64) {
    let mut p = Producer::<u64>::create(Backing::Heap, &multi_cfg(8, 2)).unwrap();
    let seg = p.segment().clone();
    let other = Producer::<u64>::register(&seg).unwrap();
    let index = other.index();
    other.abandon();
    p.publish(&0).unwrap();
    let c = claim_by_hand(&seg, index, 2);
    p.set_timeout(Duration::from_millis(50));
    (p, seg, index, c)
}

/// Finding F5: the creator may fill the ring up to `c + capacity` but not claim the slot of
/// `c`, which the other producer claimed and has not written; once that one publishes, the
/// creator goes on.
#[test]
fn a_producer_never_claims_the_slot_of_another_producers_unwritten_claim() {
    let (mut p, seg, index, c) = ring_with_a_held_claim();
    for v in c + 2..c + 8 {
        p.publish(&v).unwrap();
    }
    assert!(matches!(p.publish(&99), Err(Error::Timeout)));
    assert_eq!(seg.claimed_count(), c + 8, "claimed past c + capacity");
    assert!(!seg.resolved(c), "the held claim was passed over");
    // The other producer writes and publishes its two (5.4 steps 4-6).
    for s in c..c + 2 {
        seg.map().copy_in(seg.slot_offset(s), &s.to_le_bytes());
        seg.availability(s).store(s + 1, Ordering::Release);
    }
    seg.producer_entry(index)
        .intent_end()
        .store(0, Ordering::Release);
    p.publish(&(c + 8)).unwrap();
    p.publish(&(c + 9)).unwrap();
    assert_eq!(seg.claimed_count(), c + 10);
    assert_eq!(seg.gaps(), 0);
}

/// With the other producer dead, the waiting creator passes its claim over (5.8, after about
/// 100 ms of waiting, never on the fast path): both sequences become gaps, counted in the header,
/// and the creator goes on.
#[test]
fn a_waiting_producer_passes_a_dead_producers_claim_over() {
    let (mut p, seg, index, c) = ring_with_a_held_claim();
    set_producer_owner(&seg, index, DEAD_PID);
    for v in c + 2..c + 8 {
        p.publish(&v).unwrap();
    }
    assert_eq!(seg.gaps(), 0, "passed over on the fast path");
    p.set_timeout(Duration::from_secs(10));
    let t = Instant::now();
    p.publish(&(c + 8)).unwrap();
    assert!(t.elapsed() >= Duration::from_millis(100));
    // Sequence c's slot now holds the creator's c + 8; c + 1's still shows the gap.
    assert_eq!(seg.availability(c).load(Ordering::SeqCst), c + 9);
    assert_eq!(
        seg.availability(c + 1).load(Ordering::SeqCst),
        l::avail_gap(c + 1)
    );
    assert_eq!(seg.gaps(), 2);
    p.publish(&(c + 9)).unwrap();
    assert_eq!(seg.claimed_count(), c + 10);
}
