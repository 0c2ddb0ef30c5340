//! Consuming (spec 5.5): dependants reading behind their dependency, the end of the stream,
//! zero-copy reads.

use std::time::{Duration, Instant};

use super::*;
use crate::consumer::{Consumer, ConsumerOptions, Start};
use crate::error::Error;
use crate::producer::Producer;
use crate::segment::{Backing, ProducerMode};

#[test]
fn dependent_consumer_reads_behind_its_dependency() {
    let mut p = Producer::<u64>::create(Backing::Heap, &cfg(8, 2, ProducerMode::Multi)).unwrap();
    let seg = p.segment().clone();
    let mut a = Consumer::<u64>::register(&seg, &ConsumerOptions::required("a")).unwrap();
    let mut b = Consumer::<u64>::register(
        &seg,
        &ConsumerOptions {
            depends_on: 1 << a.index(),
            ..ConsumerOptions::required("b")
        },
    )
    .unwrap();
    p.publish_batch(&[1, 2, 3]).unwrap();
    assert_eq!(b.poll(10, |_, _, _| {}).unwrap().delivered, 0);
    assert_eq!(a.poll(2, |_, _, _| {}).unwrap().delivered, 2);
    assert_eq!(b.poll(10, |_, _, _| {}).unwrap().delivered, 2);
}

/// Spec 5.5 step 4 and 5.6 step 3: the stream ends for a consumer only once its `next` equals
/// the producers' count. A stage behind a slower one after the producer closed neither stops
/// early nor spins in its wait: it waits for the slower stage, then receives every event.
#[test]
fn a_stage_behind_a_slower_one_receives_every_event_after_the_close() {
    for mode in [ProducerMode::Single, ProducerMode::Multi] {
        let mut p = Producer::<u64>::create(Backing::Heap, &cfg(8, 2, mode)).unwrap();
        let seg = p.segment().clone();
        let mut a = Consumer::<u64>::register(&seg, &ConsumerOptions::required("a")).unwrap();
        let mut b = Consumer::<u64>::register(
            &seg,
            &ConsumerOptions {
                depends_on: 1 << a.index(),
                ..ConsumerOptions::required("b")
            },
        )
        .unwrap();
        p.publish_batch(&[1, 2, 3, 4]).unwrap();
        p.close().unwrap();
        let polled = b.poll(10, |_, _, _| {}).unwrap();
        assert_eq!((polled.delivered, polled.ended), (0, false), "{mode:?}");
        assert!(!b.read(10).unwrap().ended(), "{mode:?}");
        // Its wait blocks until the slower stage moves (it does not return at once, which
        // would make a caller's wait loop spin).
        let start = Instant::now();
        let r = b.wait(start + Duration::from_millis(100));
        assert!(matches!(r, Err(Error::Timeout)), "{mode:?}: {r:?}");
        let slow = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(50));
            let polled = a.poll(10, |_, _, _| {}).unwrap();
            assert_eq!(polled.delivered, 4);
            assert!(a.poll(10, |_, _, _| {}).unwrap().ended);
        });
        let deadline = Instant::now() + Duration::from_secs(10);
        let mut got = Vec::new();
        loop {
            let polled = b
                .poll(10, |item, _, _| got.push(item.event().unwrap()))
                .unwrap();
            if polled.ended {
                break;
            }
            if polled.delivered == 0 {
                b.wait(deadline).unwrap();
            }
        }
        assert_eq!(got, [1, 2, 3, 4], "{mode:?}");
        slow.join().unwrap();
    }
}

#[test]
fn zero_copy_read_refuses_an_optional_consumer() {
    let p = Producer::<u64>::create(Backing::Heap, &cfg(8, 2, ProducerMode::Single)).unwrap();
    let mut c = Consumer::<u64>::register(p.segment(), &opts("o", false, Start::Latest)).unwrap();
    assert!(matches!(c.read(1), Err(Error::InvalidArgument(_))));
}
