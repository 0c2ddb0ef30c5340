//! Passing over dead producers' claims (spec 5.8): per sequence, counted once, never over a
//! sequence a live producer may hold.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::*;
use crate::consumer::{Consumer, ConsumerOptions, Item};
use crate::error::Error;
use crate::layout as l;
use crate::producer::Producer;
use crate::recovery::Resolution;
use crate::segment::Backing;

fn fast(name: &str) -> ConsumerOptions {
    ConsumerOptions {
        stall_timeout: Duration::ZERO,
        ..ConsumerOptions::required(name)
    }
}

/// Two required consumers stuck at the same dead claim both pass it over; each sequence is
/// resolved by exactly one compare-and-swap, so the header's `gaps` counts it once, while each
/// consumer counts in its own `gaps_seen` the gaps it passed.
#[test]
fn a_gap_is_counted_once_however_many_consumers_resolve_it() {
    let mut p = Producer::<u64>::create(Backing::Heap, &multi_cfg(8, 2)).unwrap();
    let seg = p.segment().clone();
    let mut a = Consumer::<u64>::register(&seg, &fast("a")).unwrap();
    let mut b = Consumer::<u64>::register(&seg, &fast("b")).unwrap();
    p.publish(&0).unwrap();
    Producer::<u64>::register(&seg)
        .unwrap()
        .claim_and_abandon(3)
        .unwrap();
    set_producer_owner(&seg, 1, DEAD_PID);
    p.publish(&4).unwrap();
    let want = [
        (Item::Event(0), 0),
        (Item::Gap, 1),
        (Item::Gap, 2),
        (Item::Gap, 3),
        (Item::Event(4), 4),
    ];
    // `a` resolves 1..4 (one poll to see it stuck, one to resolve); `b` finds them resolved.
    let mut got = poll_all(&mut a);
    got.extend(poll_all(&mut a));
    assert_eq!(got, want);
    assert_eq!(seg.gaps(), 3);
    let mut got = poll_all(&mut b);
    got.extend(poll_all(&mut b));
    assert_eq!(got, want);
    assert_eq!(seg.gaps(), 3, "counted again by the second consumer");
    assert_eq!((a.gaps_seen(), b.gaps_seen()), (3, 3));
    // Resolving an already resolved sequence changes nothing.
    assert_eq!(seg.resolve_sequence(2), Resolution::Resolved);
    assert_eq!(seg.gaps(), 3);
}

/// Step 3: an intent of a dead producer that covers a sequence a live producer also covers
/// (the dead one's claim CAS failed and it died before withdrawing) is never acted on: the
/// consumer waits for the live producer, which then publishes.
#[test]
fn a_stale_dead_intent_never_passes_over_a_live_claim() {
    let p = Producer::<u64>::create(Backing::Heap, &multi_cfg(8, 3)).unwrap();
    let seg = p.segment().clone();
    let mut c = Consumer::<u64>::register(&seg, &fast("c")).unwrap();
    let mut live = Producer::<u64>::register(&seg).unwrap();
    let dead = Producer::<u64>::register(&seg).unwrap();
    let dead_index = dead.index();
    dead.abandon();
    let mut claim = live.claim(2).unwrap(); // sequences 0 and 1, held by a live producer
    let e = seg.producer_entry(dead_index);
    e.intent_start().store(0, Ordering::SeqCst);
    e.intent_end().store(2, Ordering::SeqCst);
    set_producer_owner(&seg, dead_index, DEAD_PID);
    assert_eq!(seg.resolve_sequence(0), Resolution::Wait);
    assert_eq!(poll_all(&mut c), []);
    assert_eq!(poll_all(&mut c), []);
    assert_eq!(seg.gaps(), 0);
    claim.write(0, &10);
    claim.write(1, &11);
    claim.publish();
    assert_eq!(
        poll_all(&mut c),
        [(Item::Event(10), 0), (Item::Event(11), 1)]
    );
}

/// Per sequence: of a dead producer's claim, what it published before it died is delivered and
/// only the rest is passed over; a sequence nobody dead covers is waited for.
#[test]
fn only_the_unpublished_sequences_of_a_dead_claim_become_gaps() {
    let p = Producer::<u64>::create(Backing::Heap, &multi_cfg(8, 2)).unwrap();
    let seg = p.segment().clone();
    let mut c = Consumer::<u64>::register(&seg, &fast("c")).unwrap();
    let first = Producer::<u64>::register(&seg)
        .unwrap()
        .claim_and_abandon(3)
        .unwrap();
    // It wrote and published the middle one before it died.
    seg.map()
        .copy_in(seg.slot_offset(first + 1), &7u64.to_le_bytes());
    seg.availability(first + 1)
        .store(first + 2, Ordering::SeqCst);
    set_producer_owner(&seg, 1, DEAD_PID);
    let mut got = poll_all(&mut c);
    got.extend(poll_all(&mut c));
    assert_eq!(got, [(Item::Gap, 0), (Item::Event(7), 1), (Item::Gap, 2)]);
    assert_eq!(seg.gaps(), 2);
    // Nothing claimed beyond: nothing to resolve.
    assert_eq!(seg.resolve_sequence(3), Resolution::Wait);
}

/// The stall timeout is honoured: a consumer passes a dead claim over only after waiting that
/// long at it.
#[test]
fn gaps_are_resolved_only_after_the_stall_timeout() {
    let p = Producer::<u64>::create(Backing::Heap, &multi_cfg(8, 2)).unwrap();
    let seg = p.segment().clone();
    let mut c = Consumer::<u64>::register(
        &seg,
        &ConsumerOptions {
            stall_timeout: Duration::from_millis(200),
            ..ConsumerOptions::required("c")
        },
    )
    .unwrap();
    Producer::<u64>::register(&seg)
        .unwrap()
        .claim_and_abandon(1)
        .unwrap();
    set_producer_owner(&seg, 1, DEAD_PID);
    let t = Instant::now();
    assert_eq!(poll_all(&mut c), []);
    c.wait(Instant::now() + Duration::from_secs(5)).unwrap();
    assert!(t.elapsed() >= Duration::from_millis(200));
    assert_eq!(poll_all(&mut c), [(Item::Gap, 0)]);
    assert_eq!(seg.availability(0).load(Ordering::SeqCst), 1 | l::AVAIL_GAP);
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
    let a = Producer::<u64>::register(&seg).unwrap();
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
    let b = Producer::<u64>::register(&seg).unwrap();
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
    let mut a = Producer::<u64>::register(&seg).unwrap();
    a.publish(&1).unwrap();
    a.abandon();
    set_producer_owner(&seg, 1, DEAD_PID);
    let b = Producer::<u64>::register(&seg).unwrap();
    assert_eq!((b.index(), b.generation()), (1, 2));
    // Died mid-claim: its claim is unresolved, so the entry is neither retired nor reused,
    // whoever asks.
    let first = b.claim_and_abandon(2).unwrap();
    set_producer_owner(&seg, 1, DEAD_PID);
    assert!(matches!(
        Producer::<u64>::register(&seg),
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
    let d = Producer::<u64>::register(&seg).unwrap();
    assert_eq!((d.index(), d.generation()), (1, 3));
    assert_eq!(seg.producer_registry()[1].intent_end, 0);
}
