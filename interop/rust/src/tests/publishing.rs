//! Publishing (spec 5.3, 5.4): claims, wrap-around in both modes, the intent of a multi-mode
//! claim, closing the stream, and the zero-copy claim.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::*;
use crate::conformance::ConformanceEvent;
use crate::consumer::{Consumer, ConsumerOptions, Item, Start};
use crate::error::Error;
use crate::event::Event;
use crate::layout as l;
use crate::producer::Producer;
use crate::segment::{Backing, ProducerMode, StreamState};

/// Producer thread and consumer thread through a small ring; checks order, batches and
/// end_of_batch, in both modes.
fn run_threads(mode: ProducerMode, producers: u64, per_producer: u64, batch: usize) {
    let p0 = Producer::<ConformanceEvent>::create(Backing::Heap, &cfg(8, 4, mode)).unwrap();
    let seg = p0.segment().clone();
    let mut c =
        Consumer::<ConformanceEvent>::register(&seg, &ConsumerOptions::required("c")).unwrap();
    let mut workers = Vec::new();
    let mut first = Some(p0);
    for id in 0..producers {
        let mut p = match first.take() {
            Some(p) => p,
            None => Producer::register(&seg).unwrap(),
        };
        workers.push(std::thread::spawn(move || {
            let evs: Vec<_> = (0..per_producer)
                .map(|k| ConformanceEvent::new(k, id))
                .collect();
            for chunk in evs.chunks(batch) {
                p.publish_batch(chunk).unwrap();
            }
            p
        }));
    }
    let total = producers * per_producer;
    let mut next = vec![0u64; producers as usize];
    let (mut received, mut last_seq) = (0u64, None::<u64>);
    let deadline = Instant::now() + Duration::from_secs(20);
    while received < total {
        let mut batch_end_seen = false;
        let polled = c
            .poll(5, |e, s, eob| {
                let e = e.event().expect("no gaps without a dead producer");
                assert!(e.is_intact());
                assert_eq!(e.seq, next[e.producer as usize]);
                next[e.producer as usize] += 1;
                assert_eq!(s, last_seq.map_or(0, |l| l + 1));
                last_seq = Some(s);
                assert!(!batch_end_seen);
                batch_end_seen = eob;
            })
            .unwrap();
        assert!(polled.delivered == 0 || batch_end_seen);
        received += polled.delivered as u64;
        if polled.delivered == 0 {
            c.wait(deadline).unwrap();
        }
    }
    let producers: Vec<_> = workers.into_iter().map(|w| w.join().unwrap()).collect();
    drop(producers);
    assert!(c.poll(5, |_, _, _| {}).unwrap().ended);
}

#[test]
fn single_producer_wraps_around() {
    run_threads(ProducerMode::Single, 1, 5000, 3);
}

#[test]
fn multi_producer_wraps_around() {
    run_threads(ProducerMode::Multi, 2, 3000, 2);
}

#[test]
fn producer_refuses_counts_reaching_2_pow_62() {
    let mut p = Producer::<u64>::create(Backing::Heap, &cfg(4, 1, ProducerMode::Multi)).unwrap();
    p.set_timeout(Duration::from_millis(10)); // close waits for the skipped sequences
    let seg = p.segment().clone();
    seg.claimed().store(l::MAX_SEQUENCE - 2, Ordering::SeqCst);
    // The last round below it published (the gating bound is the published prefix, 5.3 step 1).
    for s in l::MAX_SEQUENCE - 6..l::MAX_SEQUENCE - 2 {
        seg.availability(s).store(s + 1, Ordering::SeqCst);
    }
    p.publish(&1).unwrap();
    assert_eq!(seg.counts().1, l::MAX_SEQUENCE - 1);
    assert!(matches!(p.publish(&2), Err(Error::SequenceExhausted)));
    // A count of 2^62 would read as the closed bit.
    assert!(!seg.claims_closed());
}

#[test]
fn full_ring_times_out_without_consumer_progress() {
    let mut p = Producer::<u64>::create(Backing::Heap, &cfg(2, 1, ProducerMode::Single)).unwrap();
    p.set_timeout(Duration::from_millis(50));
    let _c = Consumer::<u64>::register(p.segment(), &ConsumerOptions::required("c")).unwrap();
    p.publish_batch(&[1, 2]).unwrap();
    assert!(matches!(p.publish(&3), Err(Error::Timeout)));
}

#[test]
fn multi_claims_write_intent_and_clear_it_after_publishing() {
    let mut p = Producer::<u64>::create(Backing::Heap, &multi_cfg(8, 2)).unwrap();
    p.set_timeout(Duration::from_millis(10)); // close waits for the abandoned claim
    let seg = p.segment().clone();
    p.publish_batch(&[1, 2, 3]).unwrap();
    let e = seg.producer_entry(0);
    assert_eq!(e.intent_start().load(Ordering::SeqCst), 0);
    assert_eq!(e.intent_end().load(Ordering::SeqCst), 0);
    let a = Producer::<u64>::register(&seg).unwrap();
    assert_eq!(a.claim_and_abandon(2).unwrap(), 3);
    let r = seg.producer_registry();
    assert_eq!((r[1].intent_start, r[1].intent_end), (3, 5));
    assert_eq!(r[1].state, crate::ProducerState::Active);
}

#[test]
fn closed_bit_refuses_claims_and_consumers_still_finish() {
    let mut p = Producer::<u64>::create(Backing::Heap, &multi_cfg(8, 2)).unwrap();
    let seg = p.segment().clone();
    let mut c = Consumer::<u64>::register(&seg, &ConsumerOptions::required("c")).unwrap();
    let mut a = Producer::<u64>::register(&seg).unwrap();
    a.publish_batch(&[10, 11]).unwrap();
    p.publish(&1).unwrap();
    p.close().unwrap();
    assert!(seg.claims_closed());
    assert_eq!(seg.counts(), (0, 3));
    assert_eq!(seg.stream_state(), StreamState::Closed);
    assert!(matches!(a.publish(&12), Err(Error::Closed)));
    let mut got = vec![];
    let polled = c.poll(10, |v, _, _| got.push(v.event().unwrap())).unwrap();
    assert_eq!((polled.delivered, got), (3, vec![10, 11, 1]));
    assert!(c.poll(10, |_, _, _| {}).unwrap().ended);
    // A consumer registering now starts at the masked count.
    drop(c);
    let late = Consumer::<u64>::register(&seg, &opts("late", true, Start::Latest)).unwrap();
    assert_eq!(late.cursor(), 3);
}

#[test]
fn close_waits_for_every_claim_then_times_out() {
    let mut p = Producer::<u64>::create(Backing::Heap, &multi_cfg(8, 2)).unwrap();
    let seg = p.segment().clone();
    let a = Producer::<u64>::register(&seg).unwrap();
    a.claim_and_abandon(1).unwrap();
    p.set_timeout(Duration::from_millis(50));
    assert!(matches!(p.close(), Err(Error::Timeout)));
    assert_eq!(seg.stream_state(), StreamState::Closed);
    assert!(seg.claims_closed());
}

// ---- Zero-copy claims and batches ----

#[test]
fn zero_copy_claim_and_read_round_trip() {
    for mode in [ProducerMode::Single, ProducerMode::Multi] {
        let mut p = Producer::<ConformanceEvent>::create(Backing::Heap, &cfg(8, 2, mode)).unwrap();
        let seg = p.segment().clone();
        let mut c =
            Consumer::<ConformanceEvent>::register(&seg, &ConsumerOptions::required("c")).unwrap();
        let ev = |seq| ConformanceEvent::new(seq, 0);
        // Wraps around the ring: 6 + 5 over 8 slots.
        let mut seqs = Vec::new();
        for batch in [6, 5] {
            let mut claim = p.claim(batch).unwrap();
            assert_eq!(claim.len(), batch);
            let first = claim.first();
            for i in 0..batch {
                claim.write(i, &ev(first + i as u64));
            }
            claim.publish();
            let b = c.read(100).unwrap();
            assert_eq!(
                (b.first(), b.end(), b.gaps()),
                (first, first + batch as u64, 0)
            );
            for (s, item) in b.iter() {
                assert_eq!(item.unwrap(), Item::Event(ev(s)), "{mode:?}");
                seqs.push(s);
            }
            let mut bytes = vec![0u8; 64];
            ev(first).encode(&mut bytes);
            assert_eq!(b.bytes(first), Some(&bytes[..]));
            b.release();
            assert_eq!(seg.consumer_cursor(c.index()), Some(first + batch as u64));
        }
        assert_eq!(seqs, (0..11).collect::<Vec<_>>());
        let empty = c.read(10).unwrap();
        assert!(empty.is_empty() && !empty.ended());
        drop(empty);
        p.close().unwrap();
        assert!(c.read(10).unwrap().ended(), "{mode:?}");
        assert_eq!(seg.consumer_cursor(99), None);
    }
}

#[test]
fn claim_slots_mut_splits_at_the_ring_end_and_round_trips() {
    let mut p =
        Producer::<ConformanceEvent>::create(Backing::Heap, &cfg(8, 2, ProducerMode::Single))
            .unwrap();
    let seg = p.segment().clone();
    let mut c =
        Consumer::<ConformanceEvent>::register(&seg, &ConsumerOptions::required("c")).unwrap();
    let ev = |seq| ConformanceEvent::new(seq, 7);
    // 6 then 5 over 8 slots: the second claim is slots 6, 7 then 0, 1, 2.
    for (batch, split) in [(6usize, (6usize, 0usize)), (5, (2, 3))] {
        let mut claim = p.claim(batch).unwrap();
        let first = claim.first();
        let stride = claim.stride();
        assert!(stride >= 64);
        let (a, b) = claim.slots_mut();
        assert_eq!((a.len(), b.len()), (split.0 * stride, split.1 * stride));
        for (i, slot) in a
            .chunks_exact_mut(stride)
            .chain(b.chunks_exact_mut(stride))
            .enumerate()
        {
            ev(first + i as u64).encode(&mut slot[..64]);
        }
        claim.publish();
        let got = c.read(100).unwrap();
        assert_eq!((got.first(), got.end()), (first, first + batch as u64));
        for (s, item) in got.iter() {
            assert_eq!(item.unwrap(), Item::Event(ev(s)));
        }
        got.release();
    }
}
