//! Liveness (spec 5.5 step 4, section 8): consumers stop when every producer is dead, waiting
//! peers refresh their heartbeat at least once a second, and a stall timeout is at least 5 s.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::*;
use crate::consumer::{Consumer, ConsumerOptions, Item};
use crate::error::Error;
use crate::layout as l;
use crate::producer::Producer;
use crate::segment::{Backing, EntryState, ProducerMode, Segment};

/// The creator "dies": its pid in the header names no process.
fn kill_creator(seg: &Segment) {
    seg.map()
        .u32_at(l::CREATOR_PID.offset)
        .store(DEAD_PID, Ordering::SeqCst);
}

fn wait_result(c: &mut Consumer<u64>, limit: Duration) -> (Result<(), Error>, Duration) {
    let t = Instant::now();
    (c.wait(Instant::now() + limit), t.elapsed())
}

#[test]
fn a_consumer_stops_when_the_creator_of_a_single_ring_is_dead() {
    let mut p = Producer::<u64>::create(Backing::Heap, &cfg(8, 2, ProducerMode::Single)).unwrap();
    let seg = p.segment().clone();
    let mut c = Consumer::<u64>::register(&seg, &ConsumerOptions::required("c")).unwrap();
    p.publish_batch(&[1, 2]).unwrap();
    kill_creator(&seg);
    p.abandon();
    // What was published is still read; then the wait stops instead of running to its deadline.
    assert_eq!(poll_all(&mut c).len(), 2);
    let (r, took) = wait_result(&mut c, Duration::from_secs(10));
    assert!(
        matches!(r, Err(Error::ProducerDead { pid: DEAD_PID })),
        "{r:?}"
    );
    assert!(took < Duration::from_secs(3), "took {took:?}");
    // A stream the producer closed ends normally whatever its liveness.
    seg.producer_state()
        .store(l::STREAM_CLOSED, Ordering::SeqCst);
    assert!(c.poll(8, |_, _, _| {}).unwrap().ended);
}

#[test]
fn in_multi_mode_a_live_attached_producer_keeps_consumers_waiting() {
    let p = Producer::<u64>::create(Backing::Heap, &multi_cfg(8, 2)).unwrap();
    let seg = p.segment().clone();
    let mut c = Consumer::<u64>::register(&seg, &ConsumerOptions::required("c")).unwrap();
    let mut a = Producer::<u64>::register(&seg).unwrap();
    kill_creator(&seg);
    set_producer_owner(&seg, 0, DEAD_PID);
    p.abandon();
    // The attached producer (this process) is alive: a plain timeout.
    let (r, took) = wait_result(&mut c, Duration::from_millis(1200));
    assert!(matches!(r, Err(Error::Timeout)), "{r:?}");
    assert!(took >= Duration::from_millis(1200));
    // It detaches: nobody is left.
    a.close().unwrap();
    let (r, _) = wait_result(&mut c, Duration::from_secs(10));
    assert!(matches!(r, Err(Error::ProducerDead { .. })), "{r:?}");
}

/// Spec 5.5 step 4 (finding F2): the owner of every producer entry counts, whatever its state.
/// A producer between attach steps 2 and 3 holds an entry that is not active yet (owner won,
/// state still free); while it lives, the consumer keeps waiting although the creator is dead.
#[test]
fn a_producer_between_attach_steps_2_and_3_keeps_consumers_waiting() {
    let p = Producer::<u64>::create(Backing::Heap, &multi_cfg(8, 2)).unwrap();
    let seg = p.segment().clone();
    let mut c = Consumer::<u64>::register(&seg, &ConsumerOptions::required("c")).unwrap();
    let i = Producer::<u64>::begin_register(&seg).unwrap();
    assert_eq!(i, 1);
    let r = &seg.producer_registry();
    assert_eq!(r.len(), 1, "entry 1 is still free: {:?}", r);
    kill_creator(&seg);
    set_producer_owner(&seg, 0, DEAD_PID);
    p.abandon();
    let (r, took) = wait_result(&mut c, Duration::from_millis(1200));
    assert!(matches!(r, Err(Error::Timeout)), "{r:?}");
    assert!(took >= Duration::from_millis(1200));
    // The attacher dies between the steps: nobody is left.
    set_producer_owner(&seg, 1, DEAD_PID);
    let (r, _) = wait_result(&mut c, Duration::from_secs(10));
    assert!(matches!(r, Err(Error::ProducerDead { .. })), "{r:?}");
}

/// A producer that died mid-claim is passed over (5.8) before the consumer concludes that
/// every producer is dead.
#[test]
fn dead_claims_are_passed_over_before_producer_dead() {
    let p = Producer::<u64>::create(Backing::Heap, &multi_cfg(8, 2)).unwrap();
    let seg = p.segment().clone();
    let mut c = Consumer::<u64>::register(
        &seg,
        &ConsumerOptions {
            stall_timeout: Duration::from_millis(1500),
            ..ConsumerOptions::required("c")
        },
    )
    .unwrap();
    Producer::<u64>::register(&seg)
        .unwrap()
        .claim_and_abandon(2)
        .unwrap();
    set_producer_owner(&seg, 1, DEAD_PID);
    kill_creator(&seg);
    set_producer_owner(&seg, 0, DEAD_PID);
    p.abandon();
    c.wait(Instant::now() + Duration::from_secs(10)).unwrap();
    assert_eq!(poll_all(&mut c), [(Item::Gap, 0), (Item::Gap, 1)]);
    let (r, _) = wait_result(&mut c, Duration::from_secs(10));
    assert!(matches!(r, Err(Error::ProducerDead { .. })), "{r:?}");
}

/// Spec 8: owners refresh their heartbeat at least once a second while they wait: a consumer
/// waiting for events and a producer waiting for room. Observed from another thread during
/// the wait (a wait that only beats when it returns would fail).
#[test]
fn waiting_consumers_and_producers_refresh_their_heartbeat() {
    let mut p = Producer::<u64>::create(Backing::Heap, &cfg(2, 2, ProducerMode::Single)).unwrap();
    let seg = p.segment().clone();
    let mut c = Consumer::<u64>::register(&seg, &ConsumerOptions::required("c")).unwrap();
    let index = c.index();
    let beats = move |seg: &Segment| {
        (
            seg.entry(index).heartbeat().load(Ordering::SeqCst),
            seg.producer_entry(0).heartbeat().load(Ordering::SeqCst),
            seg.producer_heartbeat().load(Ordering::SeqCst),
        )
    };
    let waiter = std::thread::spawn(move || {
        let r = c.wait(Instant::now() + Duration::from_millis(1500));
        (r, c)
    });
    std::thread::sleep(Duration::from_millis(100));
    let before = beats(&seg).0;
    std::thread::sleep(Duration::from_millis(1000));
    assert!(
        beats(&seg).0 > before,
        "the waiting consumer's heartbeat did not move"
    );
    let (r, mut c) = waiter.join().unwrap();
    assert!(matches!(r, Err(Error::Timeout)));
    // The producer fills the ring and waits for room.
    p.publish_batch(&[1, 2]).unwrap();
    p.set_timeout(Duration::from_millis(1500));
    let seg2 = seg.clone();
    let watcher = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        let (_, e0, h0) = beats(&seg2);
        std::thread::sleep(Duration::from_millis(1000));
        let (_, e1, h1) = beats(&seg2);
        (e1 > e0, h1 > h0)
    });
    assert!(matches!(p.publish(&3), Err(Error::Timeout)));
    assert_eq!(watcher.join().unwrap(), (true, true));
    assert_eq!(c.poll(8, |_, _, _| {}).unwrap().delivered, 2);
}

/// Spec 8: a stall timeout under 5 s is refused; a live consumer whose cursor stays and whose
/// heartbeat is older than the timeout is evicted as stalled, while one that waits (and so
/// beats) is not.
#[test]
fn stalled_consumers_are_evicted_after_at_least_5_seconds() {
    let mut p = Producer::<u64>::create(Backing::Heap, &cfg(4, 3, ProducerMode::Single)).unwrap();
    assert!(matches!(
        p.set_stall_eviction(Some(Duration::from_millis(4999))),
        Err(Error::InvalidArgument(_))
    ));
    p.set_stall_eviction(Some(crate::MIN_STALL_TIMEOUT))
        .unwrap();
    let seg = p.segment().clone();
    // `silent` is alive (this process) but never polls; `waiter` reads behind it and waits.
    let silent = Consumer::<u64>::register(&seg, &ConsumerOptions::required("silent")).unwrap();
    let silent_index = silent.index();
    let mut waiter = Consumer::<u64>::register(
        &seg,
        &ConsumerOptions {
            depends_on: 1 << silent_index,
            ..ConsumerOptions::required("waiter")
        },
    )
    .unwrap();
    let waiter_index = waiter.index();
    p.publish_batch(&[1, 2, 3, 4]).unwrap();
    let w = std::thread::spawn(move || {
        let r = waiter.wait(Instant::now() + Duration::from_millis(6500));
        (r, waiter)
    });
    // Not before 5 s: the producer times out at 4 s with both still active.
    p.set_timeout(Duration::from_secs(4));
    let t = Instant::now();
    assert!(matches!(p.publish(&5), Err(Error::Timeout)));
    assert_eq!(seg.registry()[silent_index].state, EntryState::Active);
    // Past 5 s the silent one is evicted; the waiting one (heartbeat fresh) still gates.
    p.set_timeout(Duration::from_millis(2500));
    assert!(matches!(p.publish(&5), Err(Error::Timeout)));
    assert!(t.elapsed() >= Duration::from_secs(5));
    let r = seg.registry();
    assert_eq!(r[silent_index].state, EntryState::Evicted);
    assert_eq!(r[waiter_index].state, EntryState::Active);
    silent.abandon();
    let (_, waiter) = w.join().unwrap();
    drop(waiter);
}
