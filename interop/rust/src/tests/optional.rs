//! Optional consumers (spec 5.10): copy, fence F4, load `claimed`, keep only the copies the
//! producer cannot have overwritten; lapped events are counted in `lost` and reported.

use super::*;
use crate::consumer::{Consumer, ConsumerOptions, Item};
use crate::producer::Producer;
use crate::segment::{Backing, ProducerMode};

#[test]
fn a_lapped_optional_consumer_reports_what_it_lost_and_goes_on_in_both_modes() {
    for mode in [ProducerMode::Single, ProducerMode::Multi] {
        let mut p = Producer::<u64>::create(Backing::Heap, &cfg(4, 2, mode)).unwrap();
        let seg = p.segment().clone();
        let mut c = Consumer::<u64>::register(&seg, &ConsumerOptions::optional("opt")).unwrap();
        p.publish_batch(&(0..10).collect::<Vec<u64>>()).unwrap();
        let mut got = vec![];
        let mut lost = vec![];
        for _ in 0..3 {
            let polled = c
                .poll(100, |v, s, _| got.push((v.event().unwrap(), s)))
                .unwrap();
            if polled.lost > 0 {
                lost.push((polled.lost_from, polled.lost));
            }
        }
        // Sequences 0..5 were overwritten (the ring holds 6..9): reported from 0, 6 of them.
        assert_eq!(lost, [(0, 6)], "{mode:?}");
        assert_eq!(got, [(6, 6), (7, 7), (8, 8), (9, 9)], "{mode:?}");
        assert_eq!((c.lost(), c.cursor()), (6, 10), "{mode:?}");
        assert_eq!(seg.registry()[0].lost, 6, "{mode:?}");
        // Not lapped any more: nothing lost, the stream ends cleanly.
        p.publish(&10).unwrap();
        let polled = c.poll(100, |v, s, eob| {
            assert_eq!((v, s, eob), (Item::Event(10), 10, true))
        });
        assert_eq!((polled.unwrap().lost, c.lost()), (0, 6), "{mode:?}");
        p.close().unwrap();
        assert!(c.poll(100, |_, _, _| {}).unwrap().ended, "{mode:?}");
    }
}

/// An optional consumer never gates: the producer never waits for it.
#[test]
fn an_optional_consumer_never_gates() {
    let mut p = Producer::<u64>::create(Backing::Heap, &cfg(2, 1, ProducerMode::Single)).unwrap();
    p.set_timeout(std::time::Duration::from_millis(1));
    let _c = Consumer::<u64>::register(p.segment(), &ConsumerOptions::optional("o")).unwrap();
    p.publish_batch(&(0..50).collect::<Vec<u64>>()).unwrap();
}

#[test]
fn optional_consumer_counts_lost_events() {
    let mut p = Producer::<u64>::create(Backing::Heap, &cfg(4, 2, ProducerMode::Single)).unwrap();
    let seg = p.segment().clone();
    let mut c = Consumer::<u64>::register(&seg, &opts("opt", false, Start::Latest)).unwrap();
    p.publish_batch(&(0..10).collect::<Vec<u64>>()).unwrap();
    let mut got = vec![];
    let polled = c
        .poll(100, |v, s, _| got.push((v.event().unwrap(), s)))
        .unwrap();
    assert_eq!(polled.lost, 6);
    assert_eq!(got, [(6, 6), (7, 7), (8, 8), (9, 9)]);
    assert_eq!(seg.registry()[0].lost, 6);
}

/// Spec 5.10 in multi mode: an optional consumer lapped more than once finds, at its next
/// sequence, the availability word of a later round, so nothing looks published there (`hi ==
/// next`); only the claimed count tells it that it was lapped. Waiting must end (steps 3 and 4
/// apply with nothing to copy), the loss is reported from `next`, and reading goes on from
/// `claimed - capacity` with those events intact.
#[test]
fn a_lapped_optional_consumer_of_a_multi_producer_ring_stops_waiting_and_resumes_a_ring_behind() {
    let mut p = Producer::<u64>::create(Backing::Heap, &multi_cfg(8, 2)).unwrap();
    let seg = p.segment().clone();
    // The only consumer: nothing gates the producer.
    let mut c = Consumer::<u64>::register(&seg, &ConsumerOptions::optional("opt")).unwrap();
    for k in 0..20u64 {
        p.publish(&(k * 3)).unwrap();
    }
    assert_eq!(
        seg.availability(0)
            .load(std::sync::atomic::Ordering::Acquire),
        17,
        "sequence 0's availability word is sequence 16's"
    );
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(3);
    let (mut got, mut lost) = (vec![], vec![]);
    while c.cursor() < 20 {
        c.wait(deadline)
            .expect("a lapped consumer must not wait for its next sequence");
        let polled = c
            .poll(8, |v, s, _| got.push((v.event().unwrap(), s)))
            .unwrap();
        if polled.lost > 0 {
            lost.push((polled.lost_from, polled.lost));
        }
    }
    assert_eq!(lost, [(0, 12)]);
    assert_eq!(got, (12..20).map(|s| (s * 3, s)).collect::<Vec<_>>());
    assert_eq!((c.lost(), seg.registry()[0].lost), (12, 12));
    assert!(
        matches!(
            c.wait(std::time::Instant::now() + std::time::Duration::from_millis(50)),
            Err(crate::error::Error::Timeout)
        ),
        "caught up: nothing more to wait for"
    );
}
