//! Poisoning (spec 5.9): a failed or panicking fill and a dropped claim poison the ring, once.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::*;
use crate::consumer::{Consumer, ConsumerOptions};
use crate::error::Error;
use crate::producer::Producer;
use crate::segment::{Backing, ProducerMode};

#[test]
fn failed_fill_poisons_the_ring() {
    use crate::{Item, PoisonPhase};
    let mut p = Producer::<u64>::create(Backing::Heap, &cfg(8, 2, ProducerMode::Single)).unwrap();
    let seg = p.segment().clone();
    let mut c = Consumer::<u64>::register(&seg, &ConsumerOptions::required("c")).unwrap();
    p.publish_batch(&[1, 2]).unwrap();
    let err = p
        .try_publish_with(2, |s, _| if s == 3 { Err("disk full") } else { Ok(s) })
        .unwrap_err();
    let Error::Poisoned(rec) = err else {
        panic!("{err:?}")
    };
    assert_eq!(
        (rec.phase, rec.seq, rec.stage, rec.pid, rec.message.as_str()),
        (PoisonPhase::Publish, 2, 0, std::process::id(), "disk full")
    );
    assert_eq!(seg.counts(), (2, 4));
    // Consumers read what was published, then stop with the record.
    assert_eq!(poll_all(&mut c), [(Item::Event(1), 0), (Item::Event(2), 1)]);
    match c.poll(8, |_, _, _| {}) {
        Err(Error::Poisoned(r)) => assert_eq!(r, rec),
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        c.wait(Instant::now() + Duration::from_secs(1)),
        Ok(())
    ));
    // Producers refuse; a later failure is not recorded.
    assert!(matches!(p.publish(&3), Err(Error::Poisoned(_))));
    assert!(!seg.poison(&crate::Poison {
        phase: PoisonPhase::Handler,
        seq: 9,
        pid: 1,
        stage: 1,
        message: "later".into(),
    }));
    assert_eq!(seg.poison_record(), Some(rec));
}

#[test]
fn panicking_fill_in_multi_mode_poisons_with_its_entry() {
    let p = Producer::<u64>::create(Backing::Heap, &multi_cfg(8, 2)).unwrap();
    let seg = p.segment().clone();
    let mut a = Producer::<u64>::register(&seg).unwrap();
    let err = a
        .try_publish_with(1, |_, _| -> Result<u64, &str> { panic!("bug in fill") })
        .unwrap_err();
    let Error::Poisoned(rec) = err else {
        panic!("{err:?}")
    };
    assert_eq!(
        (rec.seq, rec.stage, rec.message.as_str()),
        (0, 1, crate::FILL_PANICKED)
    );
    assert_eq!(seg.availability(0).load(Ordering::SeqCst), 0);
    // A long message is cut to 64 bytes at a character boundary.
    let q = Producer::<u64>::create(Backing::Heap, &cfg(2, 1, ProducerMode::Single)).unwrap();
    q.segment().poison(&crate::Poison {
        phase: crate::PoisonPhase::Handler,
        seq: 0,
        pid: 0,
        stage: 0,
        message: "é".repeat(40),
    });
    assert_eq!(q.segment().poison_record().unwrap().message, "é".repeat(32));
}

#[test]
fn dropped_claim_poisons_the_ring() {
    let mut p = Producer::<u64>::create(Backing::Heap, &cfg(8, 2, ProducerMode::Single)).unwrap();
    let seg = p.segment().clone();
    let mut c = Consumer::<u64>::register(&seg, &ConsumerOptions::required("c")).unwrap();
    p.publish(&1).unwrap();
    drop(p.claim(2).unwrap());
    let Err(Error::Poisoned(rec)) = p.publish(&2) else {
        panic!("publish after a dropped claim must fail poisoned");
    };
    assert_eq!((rec.seq, rec.message.as_str()), (1, crate::CLAIM_DROPPED));
    assert_eq!(c.poll(10, |_, _, _| {}).unwrap().delivered, 1);
    assert!(matches!(c.poll(10, |_, _, _| {}), Err(Error::Poisoned(_))));
}
