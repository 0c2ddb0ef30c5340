//! Waiting and waking (spec 5.3 step 5, 5.5 step 3, 5.6): blockers register lazily with the
//! barrier F3, wakers store first and load the count after, re-checks include poison, close
//! and the waiter's registration, and changes that are not cursor moves wake unconditionally.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::*;
use crate::consumer::{Consumer, ConsumerOptions};
use crate::error::Error;
use crate::producer::Producer;
use crate::segment::{Backing, ProducerMode, Segment};
use crate::wait::{self, Blocking, WaitStrategy, Words};

fn spin(name: &str) -> ConsumerOptions {
    ConsumerOptions {
        wait_strategy: WaitStrategy::Spin,
        ..ConsumerOptions::required(name)
    }
}

/// Lets a blocking consumer block once (a wait that times out), which registers it.
fn block_once(c: &mut Consumer<u64>) {
    assert!(matches!(
        c.wait(Instant::now() + Duration::from_millis(20)),
        Err(Error::Timeout)
    ));
}

/// The wake counters of both words.
fn wakes(seg: &Segment) -> (u32, u32) {
    (
        seg.consumer_wake().load(Ordering::SeqCst),
        seg.producer_wake().load(Ordering::SeqCst),
    )
}

#[test]
fn a_blocking_consumer_registers_at_its_first_kernel_wait_until_drop() {
    for mode in [ProducerMode::Single, ProducerMode::Multi] {
        let mut p = Producer::<u64>::create(Backing::Heap, &cfg(8, 4, mode)).unwrap();
        p.set_wait_strategy(WaitStrategy::Spin);
        let seg = p.segment().clone();
        assert_eq!(seg.blockers(), (0, 0), "{mode:?}");
        let mut a = Consumer::<u64>::register(&seg, &ConsumerOptions::required("a")).unwrap();
        assert_eq!(seg.blockers(), (0, 0), "{mode:?}: not before it blocks");
        block_once(&mut a);
        assert_eq!(seg.blockers(), (1, 0), "{mode:?}");
        block_once(&mut a);
        assert_eq!(seg.blockers(), (1, 0), "{mode:?}: once per lifetime");
        let mut s = Consumer::<u64>::register(&seg, &spin("s")).unwrap();
        assert!(matches!(
            s.wait(Instant::now() + Duration::from_millis(20)),
            Err(Error::Timeout)
        ));
        assert_eq!(
            seg.blockers(),
            (1, 0),
            "{mode:?}: a spinning consumer never registers"
        );
        drop(a);
        drop(s);
        assert_eq!(seg.blockers(), (0, 0), "{mode:?}");
        // An abandoned (crashed) consumer leaves its count behind.
        let mut c = Consumer::<u64>::register(&seg, &ConsumerOptions::required("c")).unwrap();
        block_once(&mut c);
        c.abandon();
        assert_eq!(seg.blockers(), (1, 0), "{mode:?}");
    }
}

#[test]
fn a_blocking_producer_registers_at_its_first_kernel_wait_until_close() {
    let mut p = Producer::<u64>::create(Backing::Heap, &cfg(2, 2, ProducerMode::Single)).unwrap();
    let seg = p.segment().clone();
    let _c = Consumer::<u64>::register(&seg, &spin("c")).unwrap();
    p.publish_batch(&[1, 2]).unwrap();
    assert_eq!(seg.blockers(), (0, 0));
    p.set_timeout(Duration::from_millis(20));
    assert!(matches!(p.publish(&3), Err(Error::Timeout)));
    assert_eq!(seg.blockers(), (0, 1));
    p.set_wait_strategy(WaitStrategy::Spin);
    assert_eq!(seg.blockers(), (0, 0));
    p.set_wait_strategy(WaitStrategy::Block);
    assert!(matches!(p.publish(&3), Err(Error::Timeout)));
    assert_eq!(seg.blockers(), (0, 1));
    p.close().unwrap();
    assert_eq!(seg.blockers(), (0, 0));
}

/// Spec 5.6 F3: registration is followed by `membarrier(MEMBARRIER_CMD_GLOBAL)`; where the
/// kernel supports it, the blocker is fenced (kernel waits up to 20 ms), and a blocker whose
/// barrier failed bounds every kernel wait to 1 ms for as long as it is registered.
#[cfg(target_os = "linux")]
#[test]
fn registration_issues_the_global_barrier_or_bounds_every_wait_to_1ms() {
    let p = Producer::<u64>::create(Backing::Heap, &cfg(8, 2, ProducerMode::Single)).unwrap();
    let seg = p.segment().clone();
    let mut c = Consumer::<u64>::register(&seg, &ConsumerOptions::required("c")).unwrap();
    block_once(&mut c);
    const MEMBARRIER_CMD_GLOBAL: u64 = 1;
    let supported =
        crate::atomics::membarrier_query().is_some_and(|m| m & MEMBARRIER_CMD_GLOBAL != 0);
    let mut b = Blocking::new(WaitStrategy::Block);
    let count = std::sync::atomic::AtomicU32::new(0);
    b.register_with(&count, crate::atomics::membarrier_global);
    assert_eq!(count.load(Ordering::SeqCst), 1);
    if supported {
        assert_eq!(
            b.fenced(),
            Some(true),
            "membarrier GLOBAL is supported but failed"
        );
    } else {
        eprintln!("membarrier(MEMBARRIER_CMD_GLOBAL) is not supported here: fallback only");
    }
    // A failed barrier: every kernel wait of the waiter is at most 1 ms, long after it
    // registered. Measured as the re-checks of a waiter that nobody wakes: in 400 ms, about 400
    // (a 20 ms bound gives about 20), besides the 32 yields before it blocks.
    let mut unfenced = Blocking::new(WaitStrategy::Block);
    unfenced.register_with(seg.consumer_blockers(), || false);
    assert_eq!(unfenced.fenced(), Some(false));
    std::thread::sleep(Duration::from_millis(150)); // no early phase any more
    let mut checks = 0u32;
    let r = wait::wait_until(
        seg.consumer_waiters(),
        seg.consumer_wake(),
        seg.consumer_blockers(),
        &mut unfenced,
        Instant::now() + Duration::from_millis(200),
        || {
            checks += 1;
            Ok(false)
        },
    );
    assert!(matches!(r, Ok(false)));
    assert!(
        checks > 32 + 40,
        "only {checks} re-checks in 200 ms: waits not bounded to 1 ms"
    );
    unfenced.release(seg.consumer_blockers());
    b.release(&count);
}

/// Spec 5.3 step 5: the producer stores `published` (or the availability words) first and
/// loads `consumer_blockers` after. A consumer that registers between the two (forced by the
/// test seam) is woken; a waker that loaded the count before its store would skip the wake.
#[test]
fn a_publisher_loads_the_blockers_count_after_its_store() {
    for mode in [ProducerMode::Single, ProducerMode::Multi] {
        let mut p = Producer::<u64>::create(Backing::Heap, &cfg(8, 2, mode)).unwrap();
        let seg = p.segment().clone();
        let mut c = Consumer::<u64>::register(&seg, &spin("c")).unwrap();
        let (cw, _) = wakes(&seg);
        let s2 = seg.clone();
        wait::hook::set_after_store(Some(Box::new(move || {
            // A blocker registers and announces itself as a waiter after the store.
            s2.consumer_blockers().fetch_add(1, Ordering::SeqCst);
            s2.consumer_waiters().fetch_add(1, Ordering::SeqCst);
        })));
        p.publish(&1).unwrap();
        wait::hook::set_after_store(None);
        assert_eq!(
            wakes(&seg).0,
            cw + 1,
            "{mode:?}: the late blocker was not woken"
        );
        seg.consumer_waiters().fetch_sub(1, Ordering::SeqCst);
        seg.consumer_blockers().fetch_sub(1, Ordering::SeqCst);
        // Without a blocker the publisher skips the handshake even with waiters announced.
        seg.consumer_waiters().fetch_add(1, Ordering::SeqCst);
        p.publish(&2).unwrap();
        assert_eq!(wakes(&seg).0, cw + 1, "{mode:?}");
        seg.consumer_waiters().fetch_sub(1, Ordering::SeqCst);
        assert_eq!(c.poll(10, |_, _, _| {}).unwrap().delivered, 2);
    }
}

/// Spec 5.5 steps 2-3: the same for a consumer's cursor store and both blockers counts.
#[test]
fn a_consumer_loads_the_blockers_counts_after_its_cursor_store() {
    let mut p = Producer::<u64>::create(Backing::Heap, &cfg(8, 2, ProducerMode::Single)).unwrap();
    p.set_wait_strategy(WaitStrategy::Spin);
    let seg = p.segment().clone();
    let mut c = Consumer::<u64>::register(&seg, &spin("c")).unwrap();
    p.publish_batch(&[1, 2]).unwrap();
    let (cw, pw) = wakes(&seg);
    let s2 = seg.clone();
    wait::hook::set_after_store(Some(Box::new(move || {
        for (count, waiters) in [
            (s2.producer_blockers(), s2.producer_waiters()),
            (s2.consumer_blockers(), s2.consumer_waiters()),
        ] {
            count.fetch_add(1, Ordering::SeqCst);
            waiters.fetch_add(1, Ordering::SeqCst);
        }
    })));
    assert_eq!(c.poll(1, |_, _, _| {}).unwrap().delivered, 1);
    wait::hook::set_after_store(None);
    assert_eq!(wakes(&seg), (cw + 1, pw + 1));
    for (count, waiters) in [
        (seg.producer_blockers(), seg.producer_waiters()),
        (seg.consumer_blockers(), seg.consumer_waiters()),
    ] {
        count.fetch_sub(1, Ordering::SeqCst);
        waiters.fetch_sub(1, Ordering::SeqCst);
    }
    // Both counts 0: no handshake, whatever the waiters words say.
    seg.producer_waiters().fetch_add(1, Ordering::SeqCst);
    assert_eq!(c.poll(1, |_, _, _| {}).unwrap().delivered, 1);
    assert_eq!(wakes(&seg), (cw + 1, pw + 1));
    seg.producer_waiters().fetch_sub(1, Ordering::SeqCst);
}

/// Spec 5.6 "wake unconditionally": close, poison, deregistration and eviction load the
/// waiters word of the words they concern whatever the blockers counts say (here 0).
#[test]
fn close_poison_deregistration_and_eviction_wake_unconditionally() {
    let mut p = Producer::<u64>::create(Backing::Heap, &multi_cfg(8, 2)).unwrap();
    p.set_wait_strategy(WaitStrategy::Spin);
    p.set_timeout(Duration::from_millis(10));
    let seg = p.segment().clone();
    seg.consumer_waiters().fetch_add(1, Ordering::SeqCst);
    seg.producer_waiters().fetch_add(1, Ordering::SeqCst);
    assert_eq!(seg.blockers(), (0, 0));
    // Deregistration: the producer word.
    let (cw, pw) = wakes(&seg);
    Consumer::<u64>::register(&seg, &spin("d"))
        .unwrap()
        .close()
        .unwrap();
    assert_eq!(wakes(&seg), (cw, pw + 1), "deregistration");
    // Eviction: both words.
    let c = Consumer::<u64>::register(&seg, &spin("e")).unwrap();
    set_consumer_owner(&seg, c.index(), DEAD_PID);
    c.abandon();
    let (cw, pw) = wakes(&seg);
    assert_eq!(p.evict_dead_consumers(), 1);
    assert_eq!(wakes(&seg), (cw + 1, pw + 1), "eviction");
    // Close: the consumer word.
    let (cw, pw) = wakes(&seg);
    p.close().unwrap();
    assert_eq!(wakes(&seg), (cw + 1, pw), "close");
    // Poison: both words.
    let (cw, pw) = wakes(&seg);
    assert!(seg.poison(&crate::Poison {
        phase: crate::PoisonPhase::Handler,
        seq: 0,
        pid: 1,
        stage: 0,
        message: "x".into(),
    }));
    assert_eq!(wakes(&seg), (cw + 1, pw + 1), "poison");
    seg.consumer_waiters().fetch_sub(1, Ordering::SeqCst);
    seg.producer_waiters().fetch_sub(1, Ordering::SeqCst);
    let _ = Words::BOTH;
}

/// Spec 5.6 step 3: a blocked consumer re-checks its own registration when woken: evicted (or
/// its owner word replaced) while it sleeps, it stops with `Evicted` at once instead of sleeping
/// until its deadline.
#[test]
fn a_blocked_consumer_stops_when_evicted_or_taken_over() {
    for how in ["evicted", "owner replaced"] {
        let p = Producer::<u64>::create(Backing::Heap, &cfg(8, 2, ProducerMode::Single)).unwrap();
        let seg = p.segment().clone();
        let mut c = Consumer::<u64>::register(&seg, &ConsumerOptions::required("c")).unwrap();
        let index = c.index();
        let waiter = std::thread::spawn(move || {
            let t = Instant::now();
            let r = c.wait(Instant::now() + Duration::from_secs(20));
            (r, t.elapsed(), c)
        });
        // Once it sleeps in the kernel.
        let deadline = Instant::now() + Duration::from_secs(10);
        while seg.consumer_waiters().load(Ordering::SeqCst) == 0 {
            assert!(Instant::now() < deadline);
            std::thread::sleep(Duration::from_millis(1));
        }
        std::thread::sleep(Duration::from_millis(30));
        if how == "evicted" {
            assert_eq!(seg.evict_where(|i, _, _, _| i == index), 1);
        } else {
            set_consumer_owner(&seg, index, DEAD_PID);
            wait::wake_unconditionally(&seg, Words::CONSUMER);
        }
        let (r, took, c) = waiter.join().unwrap();
        assert!(matches!(r, Err(Error::Evicted)), "{how}: {r:?}");
        assert!(took < Duration::from_secs(10), "{how}: took {took:?}");
        c.abandon();
    }
}

/// Spec 5.6 step 3: a producer blocked for room re-checks poison and the closed bit.
#[test]
fn a_blocked_producer_stops_when_poisoned_or_closed() {
    for how in ["poisoned", "closed"] {
        let p = Producer::<u64>::create(Backing::Heap, &multi_cfg(2, 2)).unwrap();
        let seg = p.segment().clone();
        let _c = Consumer::<u64>::register(&seg, &spin("c")).unwrap();
        let mut a = Producer::<u64>::register(&seg).unwrap();
        a.publish_batch(&[1, 2]).unwrap();
        a.set_timeout(Duration::from_secs(20));
        let blocked = std::thread::spawn(move || {
            let t = Instant::now();
            (a.publish(&3), t.elapsed())
        });
        let deadline = Instant::now() + Duration::from_secs(10);
        while seg.producer_waiters().load(Ordering::SeqCst) == 0 {
            assert!(Instant::now() < deadline);
            std::thread::sleep(Duration::from_millis(1));
        }
        if how == "poisoned" {
            seg.poison(&crate::Poison {
                phase: crate::PoisonPhase::Handler,
                seq: 0,
                pid: 1,
                stage: 0,
                message: "stop".into(),
            });
        } else {
            seg.claimed()
                .fetch_or(crate::layout::CLAIMED_CLOSED, Ordering::SeqCst);
            wait::wake_unconditionally(&seg, Words::PRODUCER);
        }
        let (r, took) = blocked.join().unwrap();
        match how {
            "poisoned" => assert!(matches!(r, Err(Error::Poisoned(_))), "{r:?}"),
            _ => assert!(matches!(r, Err(Error::Closed)), "{r:?}"),
        }
        assert!(took < Duration::from_secs(10), "{how}: took {took:?}");
        drop(p);
    }
}

#[test]
fn blocking_consumer_is_woken_by_a_publish_from_another_thread() {
    for mode in [ProducerMode::Single, ProducerMode::Multi] {
        let mut p = Producer::<u64>::create(Backing::Heap, &cfg(8, 2, mode)).unwrap();
        let seg = p.segment().clone();
        let mut c = Consumer::<u64>::register(&seg, &ConsumerOptions::required("c")).unwrap();
        let publisher = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(30));
            p.publish(&7).unwrap();
            p
        });
        c.wait(Instant::now() + Duration::from_secs(10)).unwrap();
        assert_eq!(c.poll(10, |_, _, _| {}).unwrap().delivered, 1, "{mode:?}");
        let mut p = publisher.join().unwrap();
        p.close().unwrap();
    }
}

#[test]
fn producer_blocked_for_room_is_woken_by_a_consumer() {
    let mut p = Producer::<u64>::create(Backing::Heap, &cfg(2, 2, ProducerMode::Single)).unwrap();
    let seg = p.segment().clone();
    let mut c = Consumer::<u64>::register(&seg, &spin("c")).unwrap();
    p.publish_batch(&[1, 2]).unwrap();
    let reader = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(150));
        let n = c.poll(10, |_, _, _| {}).unwrap().delivered;
        (c, n)
    });
    p.set_timeout(Duration::from_secs(10));
    p.publish(&3).unwrap();
    let (mut c, n) = reader.join().unwrap();
    assert_eq!(n, 2);
    assert_eq!(c.poll(10, |_, _, _| {}).unwrap().delivered, 1);
}

#[test]
fn cursor_store_wakes_dependants_on_the_consumer_word() {
    let mut p = Producer::<u64>::create(Backing::Heap, &cfg(8, 2, ProducerMode::Single)).unwrap();
    let seg = p.segment().clone();
    let mut a = Consumer::<u64>::register(&seg, &ConsumerOptions::required("a")).unwrap();
    p.publish(&1).unwrap();
    // A dependant of `a` registered as a blocker and blocked on the consumer word (spec 5.5
    // step 3).
    seg.consumer_blockers().fetch_add(1, Ordering::SeqCst);
    seg.consumer_waiters().fetch_add(1, Ordering::SeqCst);
    let before = seg.consumer_wake().load(Ordering::SeqCst);
    assert_eq!(a.poll(8, |_, _, _| {}).unwrap().delivered, 1);
    assert_ne!(seg.consumer_wake().load(Ordering::SeqCst), before);
    seg.consumer_waiters().fetch_sub(1, Ordering::SeqCst);
    seg.consumer_blockers().fetch_sub(1, Ordering::SeqCst);
}
