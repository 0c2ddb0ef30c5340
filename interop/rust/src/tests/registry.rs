//! The registry protocols (spec 4.3, 4.4, 5.4 attach/detach, 5.7): the owner word is the lock,
//! the state word carries the generation, and foreign entries are range-checked.

use std::sync::atomic::Ordering;
use std::time::Duration;

use super::{cfg, multi_cfg, opts, poll_all, set_consumer_owner, set_producer_owner, DEAD_PID};
use crate::consumer::{Consumer, ConsumerOptions, Start};
use crate::error::Error;
use crate::layout as l;
use crate::process::own_identity;
use crate::producer::Producer;
use crate::segment::{Backing, EntryState, ProducerMode, ProducerState, Segment};

/// pid 1 is alive in every Linux pid namespace; start time 0 is "unknown" and compares equal.
const LIVE_PID: u32 = 1;

fn seg8() -> (Producer<u64>, Segment) {
    let p = Producer::<u64>::create(Backing::Heap, &cfg(8, 2, ProducerMode::Single)).unwrap();
    let seg = p.segment().clone();
    (p, seg)
}

/// Writes entry `i` as another process would leave it: `state` word, owner, name, flags.
fn plant(seg: &Segment, i: usize, state: u32, owner_pid: u32, name: &str, required: bool) {
    let e = seg.entry(i);
    e.set_flags(if required { l::FLAG_REQUIRED } else { 0 });
    e.write_name(name.as_bytes());
    let o = e.owner().load(Ordering::SeqCst);
    e.owner()
        .compare_exchange(
            o,
            l::owner_word(owner_pid, 0),
            Ordering::SeqCst,
            Ordering::SeqCst,
        )
        .unwrap();
    e.state().store(state, Ordering::SeqCst);
}

#[test]
fn registration_writes_owner_then_state_with_generation_and_deregistration_clears_owner() {
    let (_p, seg) = seg8();
    let c = Consumer::<u64>::register(&seg, &ConsumerOptions::required("a")).unwrap();
    let e = seg.entry(c.index());
    assert_eq!(
        e.state().load(Ordering::SeqCst),
        l::state_word(l::ENTRY_ACTIVE, 1)
    );
    assert_eq!(e.owner().load(Ordering::SeqCst), own_identity());
    c.close().unwrap();
    assert_eq!(
        e.state().load(Ordering::SeqCst),
        l::state_word(l::ENTRY_CLOSED, 1)
    );
    assert_eq!(
        e.owner().load(Ordering::SeqCst),
        0,
        "deregistration clears the owner"
    );
    // Claimed again: generation 2 (every claim bumps it).
    let c = Consumer::<u64>::register(&seg, &ConsumerOptions::required("b")).unwrap();
    assert_eq!((c.index(), c.generation()), (0, 2));
}

#[test]
fn generations_wrap_modulo_2_pow_24() {
    let (_p, seg) = seg8();
    plant(
        &seg,
        0,
        l::state_word(l::ENTRY_CLOSED, (1 << 24) - 1),
        DEAD_PID,
        "old",
        true,
    );
    plant(
        &seg,
        1,
        l::state_word(l::ENTRY_ACTIVE, 5),
        LIVE_PID,
        "busy",
        true,
    );
    let c = Consumer::<u64>::register(&seg, &ConsumerOptions::required("a")).unwrap();
    assert_eq!((c.index(), c.generation()), (0, 0));
    assert_eq!(l::next_claim(l::state_word(3, 0xff_ffff), 1), 0x01);
}

/// Spec 5.7 step 2 (owner-word lock): a closed or evicted entry whose owner word still names a
/// live process is not claimable; 0 or a dead process is.
#[test]
fn only_entries_whose_owner_is_0_or_dead_are_claimable() {
    let (_p, seg) = seg8();
    plant(
        &seg,
        0,
        l::state_word(l::ENTRY_CLOSED, 1),
        LIVE_PID,
        "x",
        true,
    );
    plant(
        &seg,
        1,
        l::state_word(l::ENTRY_EVICTED, 1),
        LIVE_PID,
        "y",
        true,
    );
    assert!(matches!(
        Consumer::<u64>::register(&seg, &ConsumerOptions::required("a")),
        Err(Error::RegistryFull)
    ));
    set_consumer_owner(&seg, 1, DEAD_PID);
    let c = Consumer::<u64>::register(&seg, &ConsumerOptions::required("a")).unwrap();
    assert_eq!((c.index(), c.generation()), (1, 2));
}

/// Spec 5.7 step 5: an attacher that finds, after activating, another claiming or active entry
/// of its name with a live owner lost the race ("seer loses"): it deregisters and refuses.
#[test]
fn a_registration_that_sees_a_live_rival_claiming_its_name_backs_off() {
    let p = Producer::<u64>::create(Backing::Heap, &cfg(8, 3, ProducerMode::Single)).unwrap();
    let seg = p.segment().clone();
    // A live rival mid-registration (claiming, name written): step 1 passes it by.
    plant(
        &seg,
        0,
        l::state_word(l::ENTRY_CLAIMING, 1),
        LIVE_PID,
        "dup",
        true,
    );
    assert!(matches!(
        Consumer::<u64>::register(&seg, &ConsumerOptions::required("dup")),
        Err(Error::DuplicateName)
    ));
    // Our entry (1) went active, then closed, owner cleared, woken producers.
    let e = seg.entry(1);
    assert_eq!(
        e.state().load(Ordering::SeqCst),
        l::state_word(l::ENTRY_CLOSED, 1)
    );
    assert_eq!(e.owner().load(Ordering::SeqCst), 0);
    // A live active one is refused at step 1 without claiming anything.
    plant(
        &seg,
        0,
        l::state_word(l::ENTRY_ACTIVE, 1),
        LIVE_PID,
        "dup",
        true,
    );
    assert!(matches!(
        Consumer::<u64>::register(&seg, &ConsumerOptions::required("dup")),
        Err(Error::DuplicateName)
    ));
    assert_eq!(
        e.state().load(Ordering::SeqCst),
        l::state_word(l::ENTRY_CLOSED, 1)
    );
}

/// Takeover (spec 5.7): by compare-and-swap of the owner word alone; the state word and its
/// generation stay; name, cursor and flags are kept, and a taker of the other kind (required
/// versus optional) is refused.
#[test]
fn takeover_swaps_only_the_owner_and_refuses_the_other_kind() {
    let (mut p, seg) = seg8();
    let c = Consumer::<u64>::register(&seg, &ConsumerOptions::required("w")).unwrap();
    let idx = c.index();
    c.abandon();
    p.publish_batch(&[1, 2, 3]).unwrap();
    set_consumer_owner(&seg, idx, DEAD_PID);
    assert!(matches!(
        Consumer::<u64>::register(&seg, &ConsumerOptions::optional("w")),
        Err(Error::DuplicateName)
    ));
    assert_eq!(
        seg.entry(idx).owner().load(Ordering::SeqCst),
        l::owner_word(DEAD_PID, 0),
        "a refused taker leaves the owner alone"
    );
    let before = seg.entry(idx).state().load(Ordering::SeqCst);
    let t = Consumer::<u64>::register(
        &seg,
        &ConsumerOptions {
            depends_on: 0,
            ..ConsumerOptions::required("w")
        },
    )
    .unwrap();
    assert_eq!((t.index(), t.cursor(), t.generation()), (idx, 0, 1));
    assert_eq!(seg.entry(idx).state().load(Ordering::SeqCst), before);
    assert_eq!(
        seg.entry(idx).owner().load(Ordering::SeqCst),
        own_identity()
    );
}

/// A claiming entry whose owner died after writing its name is taken over and goes on from
/// step 4 (fields, then active with the same generation).
#[test]
fn a_claiming_entry_of_a_dead_owner_is_taken_over_from_step_4() {
    let (_p, seg) = seg8();
    plant(
        &seg,
        0,
        l::state_word(l::ENTRY_CLAIMING, 7),
        DEAD_PID,
        "half",
        false,
    );
    let c = Consumer::<u64>::register(&seg, &ConsumerOptions::required("half")).unwrap();
    assert_eq!((c.index(), c.generation()), (0, 7));
    let r = &seg.registry()[0];
    assert_eq!(
        (r.state, r.required, r.owner),
        (EntryState::Active, true, own_identity())
    );
}

/// Spec 5.7 step 2: an entry left claiming by a claimer that died while filling it in (here a
/// child that has exited and been reaped) is claimable by any attacher, whatever its name: owner,
/// then state to claiming with generation + 1, then active. A live claimer's entry is not.
#[test]
fn a_claiming_entry_of_a_dead_claimer_is_claimable_under_another_name() {
    let p = Producer::<u64>::create(Backing::Heap, &cfg(8, 1, ProducerMode::Single)).unwrap();
    let seg = p.segment().clone();
    let claiming = l::state_word(l::ENTRY_CLAIMING, 7);
    plant(&seg, 0, claiming, LIVE_PID, "gone", false);
    assert!(matches!(
        Consumer::<u64>::register(&seg, &ConsumerOptions::required("other")),
        Err(Error::RegistryFull)
    ));
    assert_eq!(seg.entry(0).state().load(Ordering::SeqCst), claiming);
    let mut child = std::process::Command::new("true").spawn().unwrap();
    let dead = child.id();
    child.wait().unwrap();
    set_consumer_owner(&seg, 0, dead);
    let c = Consumer::<u64>::register(&seg, &ConsumerOptions::required("other")).unwrap();
    assert_eq!((c.index(), c.generation()), (0, 8));
    let e = seg.entry(0);
    assert_eq!(
        e.state().load(Ordering::SeqCst),
        l::state_word(l::ENTRY_ACTIVE, 8)
    );
    assert_eq!(e.owner().load(Ordering::SeqCst), own_identity());
    assert!(e.name_is(b"other"));
    assert!(seg.registry()[0].required);
}

/// Eviction (spec 5.7): state active -> evicted (same generation), then the owner word cleared;
/// the entry stops gating at once and can be claimed again.
#[test]
fn eviction_clears_the_owner_and_frees_the_entry() {
    let (mut p, seg) = seg8();
    p.set_timeout(Duration::from_secs(5));
    let c = Consumer::<u64>::register(&seg, &ConsumerOptions::required("slow")).unwrap();
    let idx = c.index();
    c.abandon();
    p.publish_batch(&(0..8).collect::<Vec<u64>>()).unwrap();
    set_consumer_owner(&seg, idx, DEAD_PID);
    p.publish(&8).unwrap(); // the waiting producer evicts the dead owner
    let e = seg.entry(idx);
    assert_eq!(
        e.state().load(Ordering::SeqCst),
        l::state_word(l::ENTRY_EVICTED, 1)
    );
    assert_eq!(e.owner().load(Ordering::SeqCst), 0);
    let again = Consumer::<u64>::register(&seg, &ConsumerOptions::required("new")).unwrap();
    assert_eq!((again.index(), again.generation()), (idx, 2));
}

/// Spec 4.3: an entry whose `name_len` is 0 or over 48, or whose state value is over 4, is
/// corrupt: it matches no name, never gates, and shows as corrupt. Reads never pass the field.
#[test]
fn corrupt_entries_match_no_name_and_never_gate() {
    let (mut p, seg) = seg8();
    p.set_timeout(Duration::from_millis(50));
    for (name_len, state) in [(0u32, l::ENTRY_ACTIVE), (49, l::ENTRY_ACTIVE), (3, 9)] {
        plant(&seg, 0, l::state_word(state, 1), LIVE_PID, "bad", true);
        seg.map()
            .u32_at(seg.geometry().registry.offset as usize + l::ENT_NAME_LEN.offset)
            .store(name_len, Ordering::SeqCst);
        assert!(
            matches!(seg.registry()[0].state, EntryState::Corrupt(_)),
            "{name_len}/{state}"
        );
        // It never gates: the producer fills the ring and more without waiting.
        p.publish_batch(&(0..16).collect::<Vec<u64>>()).unwrap();
        // And its name matches nothing: "bad" registers in another entry.
        let c = Consumer::<u64>::register(&seg, &ConsumerOptions::required("bad")).unwrap();
        assert_eq!(c.index(), 1);
        drop(c);
    }
    // A poison message length over 64 is clamped, never read past.
    seg.poison(&crate::Poison {
        phase: crate::PoisonPhase::Handler,
        seq: 0,
        pid: 1,
        stage: 0,
        message: "m".into(),
    });
    seg.map()
        .u32_at(l::POISON_MESSAGE_LEN.offset)
        .store(100_000, Ordering::SeqCst);
    assert_eq!(
        seg.poison_record().unwrap().message.len(),
        l::MAX_POISON_MESSAGE
    );
}

/// Spec 5.4 attach (owner-word lock) and detach: a closed producer entry whose owner word names
/// a live process is not usable; detaching clears the owner word.
#[test]
fn producer_entries_are_locked_by_their_owner_word() {
    let p = Producer::<u64>::create(Backing::Heap, &multi_cfg(8, 2)).unwrap();
    let seg = p.segment().clone();
    let mut a = Producer::<u64>::attach(&seg).unwrap();
    let e = seg.producer_entry(1);
    assert_eq!(e.state().load(Ordering::SeqCst), 0x101);
    assert_eq!(e.owner().load(Ordering::SeqCst), own_identity());
    a.close().unwrap();
    assert_eq!(
        e.state().load(Ordering::SeqCst),
        0x102,
        "closed, generation 1"
    );
    assert_eq!(
        e.owner().load(Ordering::SeqCst),
        0,
        "detach clears the owner"
    );
    // Closed but its owner word names a live process: not usable.
    set_producer_owner(&seg, 1, LIVE_PID);
    assert!(matches!(
        Producer::<u64>::attach(&seg),
        Err(Error::ProducerRegistryFull)
    ));
    set_producer_owner(&seg, 1, DEAD_PID);
    let b = Producer::<u64>::attach(&seg).unwrap();
    assert_eq!((b.index(), b.generation()), (1, 2));
    // A corrupt producer state is never used.
    drop(b);
    e.state().store(l::state_word(7, 2), Ordering::SeqCst);
    assert!(matches!(
        seg.producer_registry()[1].state,
        ProducerState::Corrupt(7)
    ));
    assert!(Producer::<u64>::attach(&seg).is_err());
}

/// Spec 5.5 step 2: a consumer evicted in the middle of a batch delivers nothing more of it (its
/// entry stopped gating, so the producer may be reusing those slots), reports `Evicted` and
/// stores no cursor; in `poll` and in a zero-copy `read`.
#[test]
fn a_consumer_evicted_mid_batch_delivers_nothing_more_of_it() {
    let (mut p, seg) = seg8();
    let mut c = Consumer::<u64>::register(&seg, &ConsumerOptions::required("c")).unwrap();
    let index = c.index();
    p.publish_batch(&[10, 11, 12, 13]).unwrap();
    let mut seen = Vec::new();
    let r = c.poll(10, |item, s, _| {
        seen.push((s, item.event().unwrap()));
        if s == 1 {
            assert_eq!(seg.evict_where(|i, _| i == index), 1);
        }
    });
    assert!(matches!(r, Err(Error::Evicted)), "{r:?}");
    assert_eq!(seen, [(0, 10), (1, 11)]);
    assert_eq!(seg.consumer_cursor(index), Some(0));
    assert_eq!(c.cursor(), 0);
    drop(c);

    let (mut p, seg) = seg8();
    let mut c = Consumer::<u64>::register(&seg, &ConsumerOptions::required("c")).unwrap();
    let index = c.index();
    p.publish_batch(&[10, 11, 12, 13]).unwrap();
    let b = c.read(10).unwrap();
    assert_eq!(b.len(), 4);
    assert_eq!(b.get(0).unwrap().event(), Some(10));
    assert!(b.try_bytes(1).unwrap().is_some());
    assert_eq!(seg.evict_where(|i, _| i == index), 1);
    assert!(matches!(b.get(1), Err(Error::Evicted)));
    assert!(matches!(b.try_bytes(2), Err(Error::Evicted)));
    assert!(b
        .iter()
        .all(|(_, item)| matches!(item, Err(Error::Evicted))));
    drop(b);
    assert_eq!(seg.consumer_cursor(index), Some(0));
    assert!(matches!(c.poll(10, |_, _, _| {}), Err(Error::Evicted)));
}

/// Spec 5.7 steps 4 to 6: `flags` bit 1 (starting) is set from step 4 until the start is
/// stored, and `active_consumers` (what a producer awaiting consumers waits on) counts only
/// active entries with it clear. It changes no gating and is no corruption; a taker of an owner
/// that died with it set resumes at the kept cursor and clears it.
#[test]
fn an_entry_still_choosing_its_start_is_not_counted_as_an_active_consumer() {
    let (_p, seg) = seg8();
    let i = Consumer::<u64>::begin_registration(&seg, &ConsumerOptions::required("early")).unwrap();
    let e = seg.entry(i);
    assert_eq!(e.state_value(), l::ENTRY_ACTIVE);
    assert_eq!(e.flags(), l::FLAG_REQUIRED | l::FLAG_STARTING);
    assert_eq!(
        seg.active_consumers(),
        0,
        "active but still choosing its start"
    );
    assert!(e.gates(), "bit 1 does not change gating");
    let info = &seg.registry()[0];
    assert_eq!(
        (info.state, info.name.as_str(), info.required, info.starting),
        (EntryState::Active, "early", true, true)
    );

    let c = Consumer::<u64>::register(&seg, &ConsumerOptions::required("late")).unwrap();
    assert_eq!(
        seg.entry(c.index()).flags(),
        l::FLAG_REQUIRED,
        "bit 1 clear after step 6"
    );
    assert!(!seg.registry()[c.index()].starting);
    assert_eq!(seg.active_consumers(), 1);

    set_consumer_owner(&seg, i, DEAD_PID);
    let t = Consumer::<u64>::register(&seg, &ConsumerOptions::required("early")).unwrap();
    assert_eq!(t.index(), i, "taken over");
    assert_eq!(e.flags(), l::FLAG_REQUIRED);
    assert_eq!(seg.active_consumers(), 2);
}

fn ring(capacity: u64, registry: u32) -> (Producer<u64>, Segment) {
    let p = Producer::<u64>::create(
        Backing::Heap,
        &cfg(capacity, registry, ProducerMode::Single),
    )
    .unwrap();
    let seg = p.segment().clone();
    (p, seg)
}

fn publish_n(p: &mut Producer<u64>, n: u64) {
    p.publish_batch(&(0..n).collect::<Vec<u64>>()).unwrap();
}

/// Spec 5.3 step 1: with no gating entry the bound is the count the producer had published
/// when it computed it, never the end of the claim it computed it for: a consumer that
/// registers (at *latest*) between that scan and the publish starts at that count, and the
/// producer must not overwrite it without scanning again.
#[test]
fn a_producer_without_consumers_bounds_itself_by_its_count() {
    let (mut p, seg) = ring(4, 2);
    publish_n(&mut p, 4);
    let mut c = None;
    p.try_publish_with(2, |s, i| {
        if i == 0 {
            // Between the producer's scan (no consumer) and its publish.
            c = Some(Consumer::<u64>::register(&seg, &opts("c", true, Start::Latest)).unwrap());
        }
        Ok::<u64, &str>(s)
    })
    .unwrap();
    let mut c = c.unwrap();
    assert_eq!(c.cursor(), 4);
    p.set_timeout(Duration::from_millis(50));
    p.publish_batch(&[6, 7]).unwrap();
    assert!(
        matches!(p.publish(&8), Err(Error::Timeout)),
        "sequence 8 overwrote the unread sequence 4"
    );
    let got: Vec<u64> = poll_all(&mut c)
        .into_iter()
        .map(|(item, _)| item.event().unwrap())
        .collect();
    assert_eq!(got, [4, 5, 6, 7]);
}
