//! The registry protocols (spec 4.3, 4.4, 5.4 attach/detach, 5.7): the owner word is the lock,
//! the state word carries the generation, and foreign entries are range-checked.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use super::*;
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

/// Takeover (spec 5.7): by compare-and-swap of the owner word, then of the state word to the
/// same state with generation + 1; name, cursor and flags are kept, and a taker of the other
/// kind (required versus optional) is refused before it touches anything.
#[test]
fn takeover_swaps_the_owner_bumps_the_generation_and_refuses_the_other_kind() {
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
    assert_eq!((t.index(), t.cursor(), t.generation()), (idx, 0, 2));
    assert_eq!(
        seg.entry(idx).state().load(Ordering::SeqCst),
        l::next_claim(before, l::ENTRY_ACTIVE)
    );
    assert_eq!(
        seg.entry(idx).owner().load(Ordering::SeqCst),
        own_identity()
    );
}

/// A claiming entry whose owner died after writing its name is taken over (its generation
/// bumped, still claiming) and goes on from step 4 (fields, then active with that generation).
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
    assert_eq!((c.index(), c.generation()), (0, 8));
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
    let mut a = Producer::<u64>::register(&seg).unwrap();
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
        Producer::<u64>::register(&seg),
        Err(Error::ProducerRegistryFull)
    ));
    set_producer_owner(&seg, 1, DEAD_PID);
    let b = Producer::<u64>::register(&seg).unwrap();
    assert_eq!((b.index(), b.generation()), (1, 2));
    // A corrupt producer state is never used.
    drop(b);
    e.state().store(l::state_word(7, 2), Ordering::SeqCst);
    assert!(matches!(
        seg.producer_registry()[1].state,
        ProducerState::Corrupt(7)
    ));
    assert!(Producer::<u64>::register(&seg).is_err());
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
            assert_eq!(seg.evict_where(|i, _, _, _| i == index), 1);
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
    assert_eq!(seg.evict_where(|i, _, _, _| i == index), 1);
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
/// that died with it set chooses the start (step 6) and clears it.
#[test]
fn an_entry_still_choosing_its_start_is_not_counted_as_an_active_consumer() {
    let (_p, seg) = seg8();
    let i = Consumer::<u64>::begin_register(&seg, &ConsumerOptions::required("early")).unwrap();
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
    assert_eq!((t.index(), t.generation()), (i, 2), "taken over");
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

/// Spec 5.7 step 4: the provisional cursor is `count - capacity` (0 below a ring), in both
/// modes, so the entry holds the producers back to the count they had reached until step 6.
#[test]
fn the_provisional_cursor_is_a_ring_below_the_count() {
    let (mut p, seg) = ring(4, 2);
    publish_n(&mut p, 8);
    let i = Consumer::<u64>::begin_register(&seg, &ConsumerOptions::required("s")).unwrap();
    assert_eq!(seg.consumer_cursor(i), Some(4));
    // A producer that scans now may publish up to 4 + capacity = 8, which it has reached: no
    // room (its cached bound, 4 from its scan at count 4, is used up).
    p.set_timeout(Duration::from_millis(50));
    assert!(matches!(p.publish(&8), Err(Error::Timeout)));
    assert_eq!(seg.counts(), (8, 8));

    let mut q = Producer::<u64>::create(Backing::Heap, &multi_cfg(8, 1)).unwrap();
    publish_n(&mut q, 3);
    let seg = q.segment().clone();
    let i = Consumer::<u64>::begin_register(&seg, &ConsumerOptions::required("m")).unwrap();
    assert_eq!(seg.consumer_cursor(i), Some(0), "below a ring: 0");
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

/// Spec 5.3 step 1, the gating scan's second pass (model finding F4). Entry 0 is closed (D
/// deregistered), Y (entry 1) has read 8 of a full ring of 16. While the scan's first pass is
/// past entry 0's state, X registers there at *oldest* (starting at Y's cursor, 8) and then Y
/// reads the remaining 8. A scan without the second pass saw entry 0 closed and Y at 16: bound
/// 16, and a publish of 16 would overwrite X's unread 8..15. With it the scan starts over and
/// sees X at 8: at most 8 new events.
fn gating_scan_sees_a_consumer_that_activated_during_its_first_pass(mode: ProducerMode) {
    use std::cell::RefCell;
    use std::rc::Rc;

    let mut p = Producer::<u64>::create(Backing::Heap, &cfg(16, 2, mode)).unwrap();
    let seg = p.segment().clone();
    let d = Consumer::<u64>::register(&seg, &opts("d", true, Start::Latest)).unwrap();
    let mut y = Consumer::<u64>::register(&seg, &opts("y", true, Start::Latest)).unwrap();
    assert_eq!((d.index(), y.index()), (0, 1));
    d.close().unwrap();
    publish_n(&mut p, 16);
    assert_eq!(y.poll(8, |_, _, _| {}).unwrap().delivered, 8);
    assert_eq!(y.cursor(), 8);

    let x: Rc<RefCell<Option<Consumer<u64>>>> = Rc::new(RefCell::new(None));
    let (x2, seg2) = (x.clone(), seg.clone());
    let mut y = Some(y);
    crate::producer::scan_hook::set(Box::new(move |i| {
        if i != 0 || x2.borrow().is_some() {
            return;
        }
        let c = Consumer::<u64>::register(&seg2, &opts("x", true, Start::Oldest)).unwrap();
        assert_eq!((c.index(), c.cursor()), (0, 8), "X starts at Y's cursor");
        *x2.borrow_mut() = Some(c);
        let mut y = y.take().unwrap();
        assert_eq!(y.poll(8, |_, _, _| {}).unwrap().delivered, 8);
        assert_eq!(y.cursor(), 16);
        y.abandon(); // stays active at 16: it no longer holds the producer back
    }));
    p.set_timeout(Duration::from_millis(100));
    let r = p.publish_batch(&(16..32).collect::<Vec<u64>>());
    crate::producer::scan_hook::clear();
    assert!(x.borrow().is_some(), "the hook did not run");
    assert!(
        matches!(r, Err(Error::Timeout)),
        "{mode:?}: the bound let 16 events overwrite X's unread 8..15: {r:?}"
    );
    // Room for exactly 8.
    p.publish_batch(&(16..24).collect::<Vec<u64>>()).unwrap();
    assert!(matches!(p.publish(&24), Err(Error::Timeout)));
    let mut x = x.borrow_mut().take().unwrap();
    let got: Vec<u64> = poll_all(&mut x)
        .into_iter()
        .map(|(item, _)| item.event().unwrap())
        .collect();
    assert_eq!(got, (8..24).collect::<Vec<u64>>());
}

#[test]
fn gating_scan_second_pass_single() {
    gating_scan_sees_a_consumer_that_activated_during_its_first_pass(ProducerMode::Single);
}

#[test]
fn gating_scan_second_pass_multi() {
    gating_scan_sees_a_consumer_that_activated_during_its_first_pass(ProducerMode::Multi);
}

/// Spec 5.7 step 6 ends with 5.5 step 3: the start raised the cursor above the provisional
/// one, which may have held a producer waiting for room, so a registration wakes the producer
/// word (here a blocker registered and waiting on it).
#[test]
fn choosing_the_start_wakes_producers_waiting_for_room() {
    let (mut p, seg) = ring(4, 2);
    publish_n(&mut p, 6);
    seg.producer_blockers().fetch_add(1, Ordering::SeqCst);
    seg.producer_waiters().fetch_add(1, Ordering::SeqCst);
    let before = seg.producer_wake().load(Ordering::SeqCst);
    let c = Consumer::<u64>::register(&seg, &opts("late", true, Start::Latest)).unwrap();
    assert_eq!(c.cursor(), 6);
    assert_ne!(
        seg.producer_wake().load(Ordering::SeqCst),
        before,
        "no wake after the start was stored"
    );
    seg.producer_waiters().fetch_sub(1, Ordering::SeqCst);
    seg.producer_blockers().fetch_sub(1, Ordering::SeqCst);
}

/// Spec 5.7 step 6, *oldest*: the minimum of the count and of the cursors of the other active
/// required entries whose bit 1 is clear; an entry still starting (its cursor provisional) is
/// not copied.
#[test]
fn oldest_skips_entries_still_choosing_their_start() {
    let (mut p, seg) = ring(8, 4);
    publish_n(&mut p, 2);
    let a = Consumer::<u64>::register(&seg, &opts("a", true, Start::Latest)).unwrap();
    assert_eq!(a.cursor(), 2);
    publish_n(&mut p, 3);
    let x = Consumer::<u64>::begin_register(&seg, &ConsumerOptions::required("x")).unwrap();
    assert_eq!(seg.consumer_cursor(x), Some(0), "provisional");
    let y = Consumer::<u64>::register(&seg, &opts("y", true, Start::Oldest)).unwrap();
    assert_eq!(y.cursor(), 2, "a's cursor, not x's provisional one");
    drop(a);
    let z = Consumer::<u64>::register(&seg, &opts("z", true, Start::Oldest)).unwrap();
    assert_eq!(z.cursor(), 2, "y's cursor");
    drop((y, z));
    let w = Consumer::<u64>::register(&seg, &opts("w", true, Start::Oldest)).unwrap();
    assert_eq!(w.cursor(), 5, "only x is left, still starting: the count");
}

/// Spec 5.7 step 6, `depends_on`: whatever the start, the minimum with the cursor of each
/// entry the consumer depends on (here *latest*, behind a slower stage).
#[test]
fn a_dependant_starts_no_later_than_its_dependency() {
    let (mut p, seg) = ring(8, 3);
    let a = Consumer::<u64>::register(&seg, &opts("a", true, Start::Latest)).unwrap();
    publish_n(&mut p, 5);
    let b = Consumer::<u64>::register(
        &seg,
        &ConsumerOptions {
            depends_on: 1 << a.index(),
            ..opts("b", true, Start::Latest)
        },
    )
    .unwrap();
    assert_eq!(b.cursor(), 0, "a has read nothing yet");
}

/// Spec 5.7 step 6: a dependency must be a required consumer. An optional one does not gate
/// the producers (here it was lapped: its cursor 0 is below the events still in the ring), so
/// its cursor is no safe start: refused, before anything is claimed, by a fresh registration
/// and by a taker alike.
#[test]
fn an_optional_dependency_is_refused() {
    let (mut p, seg) = ring(4, 3);
    let o = Consumer::<u64>::register(&seg, &opts("o", false, Start::Latest)).unwrap();
    publish_n(&mut p, 10);
    assert_eq!(seg.consumer_cursor(o.index()), Some(0), "lapped");
    let dependant = |name: &str| {
        Consumer::<u64>::register(
            &seg,
            &ConsumerOptions {
                depends_on: 1 << o.index(),
                ..opts(name, true, Start::Latest)
            },
        )
    };
    let r = dependant("b");
    assert!(
        matches!(r, Err(Error::DependencyUnavailable { index }) if index == o.index()),
        "{:?}",
        r.map(|c| c.cursor())
    );
    assert_eq!(
        (seg.entry(1).state_value(), seg.entry(2).state_value()),
        (l::ENTRY_FREE, l::ENTRY_FREE),
        "nothing claimed"
    );
    // A dead required "t" that had chosen its start: its taker is refused too, and the entry
    // is left as it was (active, gating, owner still the dead one) for a later taker.
    let t = Consumer::<u64>::register(&seg, &opts("t", true, Start::Latest)).unwrap();
    let ti = t.index();
    t.abandon();
    set_consumer_owner(&seg, ti, DEAD_PID);
    let before = seg.entry(ti).state().load(Ordering::SeqCst);
    let r = dependant("t");
    assert!(
        matches!(r, Err(Error::DependencyUnavailable { .. })),
        "{:?}",
        r.map(|c| c.cursor())
    );
    assert_eq!(seg.entry(ti).state().load(Ordering::SeqCst), before);
    assert_eq!(
        seg.entry(ti).owner().load(Ordering::SeqCst),
        l::owner_word(DEAD_PID, 0)
    );
}

/// Spec 5.7 step 6 (finding F3): `s = max(s, cursor)` with the entry's own cursor loaded at
/// step 6. A taker of an entry whose owner died during step 6, after storing its start but
/// before clearing bit 1, goes on from step 6 and must not lower that start (the producers may
/// have seen it), even when its own choice (*oldest*, behind a slower consumer) is lower.
#[test]
fn a_taker_never_lowers_a_start_its_dead_owner_stored() {
    let (mut p, seg) = ring(8, 3);
    let a = Consumer::<u64>::register(&seg, &opts("a", true, Start::Latest)).unwrap();
    publish_n(&mut p, 5);
    let i = Consumer::<u64>::begin_register(&seg, &ConsumerOptions::required("s")).unwrap();
    assert_eq!(seg.consumer_cursor(i), Some(0), "provisional");
    // The dead owner's step 6 got as far as storing its start (latest: 5).
    seg.entry(i).cursor().store(5, Ordering::Release);
    set_consumer_owner(&seg, i, DEAD_PID);
    let t = Consumer::<u64>::register(&seg, &opts("s", true, Start::Oldest)).unwrap();
    assert_eq!((t.index(), t.generation()), (i, 2), "taken over");
    assert_eq!(
        t.cursor(),
        5,
        "not a's cursor 0: the dead owner's start stands"
    );
    assert_eq!(seg.entry(i).flags(), l::FLAG_REQUIRED, "bit 1 cleared");
    assert_eq!(a.cursor(), 0);
}

/// Spec 5.7 step 6: a dependency still starting (bit 1 set) has no cursor to copy yet: the
/// dependant waits until its start is chosen, then copies it.
#[test]
fn a_dependant_waits_for_a_dependency_still_choosing_its_start() {
    let (mut p, seg) = ring(8, 3);
    publish_n(&mut p, 5);
    let x = Consumer::<u64>::begin_register(&seg, &ConsumerOptions::required("x")).unwrap();
    let seg2 = seg.clone();
    let finisher = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(150));
        // x's step 6: its start stored, then bit 1 cleared (release).
        let e = seg2.entry(x);
        e.cursor().store(3, Ordering::Release);
        e.clear_flags(l::FLAG_STARTING);
    });
    let t = Instant::now();
    let b = Consumer::<u64>::register(
        &seg,
        &ConsumerOptions {
            depends_on: 1 << x,
            ..opts("b", true, Start::Latest)
        },
    )
    .unwrap();
    assert!(t.elapsed() >= Duration::from_millis(100), "did not wait");
    assert_eq!(b.cursor(), 3, "x's chosen start");
    finisher.join().unwrap();
}

/// Spec 5.7 step 6: a dependency whose owner died while it was still starting fails the
/// registration, which deregisters; one that is not active fails it before anything is
/// claimed; depending on itself (a taker of a starting entry naming that entry) fails too and
/// deregisters.
#[test]
fn a_dependency_that_cannot_become_ready_fails_the_registration() {
    let (mut p, seg) = ring(8, 3);
    publish_n(&mut p, 5);
    let x = Consumer::<u64>::begin_register(&seg, &ConsumerOptions::required("x")).unwrap();
    set_consumer_owner(&seg, x, DEAD_PID);
    let dependant = |name: &str, depends_on: u64| {
        Consumer::<u64>::register(
            &seg,
            &ConsumerOptions {
                depends_on,
                ..opts(name, true, Start::Latest)
            },
        )
    };
    let r = dependant("b", 1 << x);
    assert!(
        matches!(r, Err(Error::DependencyUnavailable { index }) if index == x),
        "{:?}",
        r.map(|c| c.cursor())
    );
    let b = seg.entry(1);
    assert_eq!(
        (b.state_value(), b.owner().load(Ordering::SeqCst)),
        (l::ENTRY_CLOSED, 0),
        "deregistered"
    );
    // Entry 2 is free, entry 1 closed (not active): refused before claiming anything.
    let r = dependant("c", 1 << 2);
    assert!(matches!(r, Err(Error::DependencyUnavailable { index: 2 })));
    let r = dependant("d", 1 << 1);
    assert!(matches!(r, Err(Error::DependencyUnavailable { index: 1 })));
    assert_eq!(
        (seg.entry(1).state_value(), seg.entry(2).state_value()),
        (l::ENTRY_CLOSED, l::ENTRY_FREE),
        "nothing claimed"
    );
    // The taker of x (starting, its owner dead) going on from step 6 would read behind itself.
    let r = dependant("x", 1 << x);
    assert!(
        matches!(r, Err(Error::InvalidArgument(_))),
        "{:?}",
        r.map(|c| c.cursor())
    );
    assert_eq!(seg.entry(x).state_value(), l::ENTRY_CLOSED, "deregistered");
}

/// Spec 5.7 step 1 scans the whole registry: a live active entry of the name refuses even when
/// a dead one of the name comes first, and the dead one is left alone.
#[test]
fn a_live_entry_of_the_name_anywhere_refuses_before_any_takeover() {
    let (_p, seg) = ring(8, 3);
    plant(
        &seg,
        0,
        l::state_word(l::ENTRY_ACTIVE, 1),
        DEAD_PID,
        "w",
        true,
    );
    plant(
        &seg,
        1,
        l::state_word(l::ENTRY_ACTIVE, 1),
        LIVE_PID,
        "w",
        true,
    );
    assert!(matches!(
        Consumer::<u64>::register(&seg, &ConsumerOptions::required("w")),
        Err(Error::DuplicateName)
    ));
    let e = seg.entry(0);
    assert_eq!(
        (
            e.state().load(Ordering::SeqCst),
            e.owner().load(Ordering::SeqCst)
        ),
        (
            l::state_word(l::ENTRY_ACTIVE, 1),
            l::owner_word(DEAD_PID, 0)
        )
    );
}

/// Spec 5.7, taking over: after the generation bump the taker scans as in step 5; another
/// claiming or active entry of the name with a live owner (a racing registration) makes it
/// deregister and refuse.
#[test]
fn a_taker_that_sees_a_live_rival_of_the_name_deregisters_and_refuses() {
    let (_p, seg) = ring(8, 3);
    plant(
        &seg,
        0,
        l::state_word(l::ENTRY_ACTIVE, 1),
        DEAD_PID,
        "w",
        true,
    );
    plant(
        &seg,
        1,
        l::state_word(l::ENTRY_CLAIMING, 1),
        LIVE_PID,
        "w",
        true,
    );
    assert!(matches!(
        Consumer::<u64>::register(&seg, &ConsumerOptions::required("w")),
        Err(Error::DuplicateName)
    ));
    let e = seg.entry(0);
    assert_eq!(
        (
            e.state().load(Ordering::SeqCst),
            e.owner().load(Ordering::SeqCst)
        ),
        (l::state_word(l::ENTRY_CLOSED, 2), 0),
        "taken (generation 2), then deregistered"
    );
}

/// Spec 5.7: an evictor that loaded the state word and then the dead owner, and judged it,
/// fails its compare-and-swap once a taker has bumped the generation: the live taker is not
/// evicted.
#[test]
fn an_eviction_judged_against_the_dead_owner_fails_once_the_entry_is_taken_over() {
    let (mut p, seg) = ring(8, 2);
    let c = Consumer::<u64>::register(&seg, &ConsumerOptions::required("w")).unwrap();
    let idx = c.index();
    c.abandon();
    publish_n(&mut p, 3);
    set_consumer_owner(&seg, idx, DEAD_PID);
    let mut taker = None;
    let evicted = seg.evict_where(|i, _, _, owner| {
        if i != idx || !crate::process::owner_dead(owner) {
            return false;
        }
        // Judged dead; before the evictor's compare-and-swap, a taker takes the entry over.
        taker = Some(Consumer::<u64>::register(&seg, &ConsumerOptions::required("w")).unwrap());
        true
    });
    assert_eq!(evicted, 0, "the live taker was evicted");
    let mut t = taker.unwrap();
    assert_eq!((t.index(), t.generation(), t.cursor()), (idx, 2, 0));
    assert_eq!(poll_all(&mut t).len(), 3);
}

/// Spec 5.7: a takeover whose entry is evicted between its owner compare-and-swap and its
/// generation bump (by a peer that judged the dead owner) gives the owner word back and starts
/// again from step 1, which claims the evicted entry afresh.
#[test]
fn a_takeover_that_loses_the_entry_to_an_eviction_starts_again() {
    let (mut p, seg) = ring(8, 1);
    let c = Consumer::<u64>::register(&seg, &ConsumerOptions::required("w")).unwrap();
    let idx = c.index();
    c.abandon();
    publish_n(&mut p, 3);
    set_consumer_owner(&seg, idx, DEAD_PID);
    let seg2 = seg.clone();
    crate::registry::hook::set_before_generation_bump(Box::new(move || {
        // The evictor's compare-and-swaps, prepared against the dead owner: the state one
        // succeeds, the owner one fails (the taker holds it).
        let e = seg2.entry(idx);
        let active = l::state_word(l::ENTRY_ACTIVE, 1);
        e.state()
            .compare_exchange(
                active,
                l::with_value(active, l::ENTRY_EVICTED),
                Ordering::SeqCst,
                Ordering::SeqCst,
            )
            .unwrap();
        let dead = l::owner_word(DEAD_PID, 0);
        assert!(e
            .owner()
            .compare_exchange(dead, 0, Ordering::SeqCst, Ordering::SeqCst)
            .is_err());
    }));
    let r = Consumer::<u64>::register(&seg, &ConsumerOptions::required("w"));
    let t = r.expect("registration after the lost takeover");
    // Claimed afresh (evicted, generation 1 -> claiming then active, generation 2), starting
    // at the count: nothing is left to resume.
    assert_eq!((t.index(), t.generation(), t.cursor()), (idx, 2, 3));
    let e = seg.entry(idx);
    assert_eq!(
        (
            e.state().load(Ordering::SeqCst),
            e.owner().load(Ordering::SeqCst)
        ),
        (l::state_word(l::ENTRY_ACTIVE, 2), own_identity())
    );
    assert_eq!(e.flags(), l::FLAG_REQUIRED);
}

/// Spec 5.7: a taker whose compare-and-swap of `state` keeps failing (the entry changes under
/// it between its owner and state compare-and-swaps, round after round) restarts at step 1 a
/// bounded number of times, 16, then fails with `RegistryBusy`.
#[test]
fn takeover_restarts_are_bounded_then_registry_busy() {
    use std::cell::Cell;
    use std::rc::Rc;

    fn arm(seg: Segment, idx: usize, rounds: Rc<Cell<usize>>) {
        crate::registry::hook::set_before_generation_bump(Box::new(move || {
            rounds.set(rounds.get() + 1);
            // Another peer's change between the taker's two compare-and-swaps: its state
            // compare-and-swap fails, it gives the owner word back (0, which is dead) and
            // starts again at step 1, which finds the entry to take over again.
            let e = seg.entry(idx);
            let st = e.state().load(Ordering::SeqCst);
            e.state()
                .store(l::next_claim(st, l::ENTRY_ACTIVE), Ordering::SeqCst);
            arm(seg.clone(), idx, rounds.clone());
        }));
    }

    let (_p, seg) = ring(8, 1);
    let c = Consumer::<u64>::register(&seg, &ConsumerOptions::required("w")).unwrap();
    let idx = c.index();
    c.abandon();
    set_consumer_owner(&seg, idx, DEAD_PID);
    let rounds = Rc::new(Cell::new(0));
    arm(seg.clone(), idx, rounds.clone());
    let r = Consumer::<u64>::register(&seg, &ConsumerOptions::required("w"));
    crate::registry::hook::clear();
    assert!(
        matches!(r, Err(Error::RegistryBusy)),
        "{:?}",
        r.map(|c| c.cursor())
    );
    assert_eq!(rounds.get(), 16);
    assert_eq!(
        seg.entry(idx).owner().load(Ordering::SeqCst),
        0,
        "given back"
    );
}

/// Spec 5.7 step 6: a dependency still starting (bit 1 set, its owner alive) is waited for at
/// most [`crate::DEPENDENCY_WAIT`]; then the registration fails with `DependencyUnavailable`
/// and deregisters.
#[test]
fn a_dependency_still_starting_at_the_deadline_fails_the_registration() {
    let (mut p, seg) = ring(8, 3);
    publish_n(&mut p, 5);
    let x = Consumer::<u64>::begin_register(&seg, &ConsumerOptions::required("x")).unwrap();
    let t = Instant::now();
    let r = Consumer::<u64>::register(
        &seg,
        &ConsumerOptions {
            depends_on: 1 << x,
            ..opts("b", true, Start::Latest)
        },
    );
    assert!(
        matches!(r, Err(Error::DependencyUnavailable { index }) if index == x),
        "{:?}",
        r.map(|c| c.cursor())
    );
    assert!(t.elapsed() >= crate::DEPENDENCY_WAIT, "{:?}", t.elapsed());
    let b = seg.entry(1);
    assert_eq!(
        (b.state_value(), b.owner().load(Ordering::SeqCst)),
        (l::ENTRY_CLOSED, 0),
        "deregistered"
    );
}

/// Spec 5.7 step 6: a dependency must still be active when its cursor is read: one that
/// deregisters while the dependant waits for its start fails the registration, which
/// deregisters.
#[test]
fn a_dependency_that_deregisters_while_awaited_fails_the_registration() {
    let (mut p, seg) = ring(8, 3);
    publish_n(&mut p, 5);
    let x = Consumer::<u64>::begin_register(&seg, &ConsumerOptions::required("x")).unwrap();
    let seg2 = seg.clone();
    let quitter = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(100));
        let gen = l::state_gen(seg2.entry(x).state().load(Ordering::SeqCst));
        assert!(seg2.deregister(x, gen, own_identity()));
    });
    let t = Instant::now();
    let r = Consumer::<u64>::register(
        &seg,
        &ConsumerOptions {
            depends_on: 1 << x,
            ..opts("b", true, Start::Latest)
        },
    );
    quitter.join().unwrap();
    assert!(
        matches!(r, Err(Error::DependencyUnavailable { index }) if index == x),
        "{:?}",
        r.map(|c| c.cursor())
    );
    assert!(t.elapsed() < Duration::from_secs(2), "{:?}", t.elapsed());
    assert_eq!(seg.entry(1).state_value(), l::ENTRY_CLOSED, "deregistered");
}

/// Spec 5.7: an active entry taken over whose bit 1 (starting) is still set (its owner died
/// before step 6) goes on from step 6: its cursor was only provisional, so the taker chooses
/// the start (here *latest*) and the producer is released.
#[test]
fn a_starting_entry_taken_over_chooses_its_start() {
    let (mut p, seg) = ring(4, 2);
    publish_n(&mut p, 6);
    let i = Consumer::<u64>::begin_register(&seg, &ConsumerOptions::required("s")).unwrap();
    assert_eq!(seg.consumer_cursor(i), Some(2), "provisional");
    set_consumer_owner(&seg, i, DEAD_PID);
    let mut t = Consumer::<u64>::register(&seg, &opts("s", true, Start::Latest)).unwrap();
    assert_eq!((t.index(), t.generation(), t.cursor()), (i, 2, 6));
    assert_eq!(seg.entry(i).flags(), l::FLAG_REQUIRED);
    p.set_timeout(Duration::from_secs(5));
    p.publish(&60).unwrap();
    assert_eq!(poll_all(&mut t), [(crate::Item::Event(60), 6)]);
}

/// Spec 5.4 attach step 1: an active producer entry is retired only if its owner is dead; one
/// whose owner is alive is never retired, however resolved its intent.
#[test]
fn a_live_producers_resolved_entry_is_never_retired() {
    let p = Producer::<u64>::create(Backing::Heap, &multi_cfg(8, 2)).unwrap();
    let seg = p.segment().clone();
    let mut a = Producer::<u64>::register(&seg).unwrap();
    a.publish(&1).unwrap();
    a.abandon(); // intent_end 0, owner this (live) process
    assert!(matches!(
        Producer::<u64>::register(&seg),
        Err(Error::ProducerRegistryFull)
    ));
    assert_eq!(seg.retire_dead_producers(), 0);
    assert_eq!(seg.producer_registry()[1].state, ProducerState::Active);
}

#[test]
fn registration_rules() {
    let mut p = Producer::<u64>::create(Backing::Heap, &cfg(8, 2, ProducerMode::Single)).unwrap();
    let seg = p.segment().clone();
    let a = Consumer::<u64>::register(&seg, &ConsumerOptions::required("a")).unwrap();
    assert!(matches!(
        Consumer::<u64>::register(&seg, &ConsumerOptions::required("a")),
        Err(Error::DuplicateName)
    ));
    p.publish_batch(&[1, 2, 3]).unwrap();
    // Oldest starts at a's cursor (0); latest at the current count (3).
    let b = Consumer::<u64>::register(&seg, &opts("b", true, Start::Oldest)).unwrap();
    assert_eq!(b.cursor(), 0);
    assert!(matches!(
        Consumer::<u64>::register(&seg, &ConsumerOptions::required("c")),
        Err(Error::RegistryFull)
    ));
    drop(b);
    let c = Consumer::<u64>::register(&seg, &opts("c", true, Start::Latest)).unwrap();
    assert_eq!(c.cursor(), 3);
    let r = seg.registry();
    assert_eq!((r[1].name.as_str(), r[1].generation), ("c", 2));
    assert!(matches!(
        Consumer::<u64>::register(&seg, &ConsumerOptions::required("")),
        Err(Error::InvalidArgument(_))
    ));
    drop((a, c));
}

#[test]
fn dead_required_consumer_is_evicted_and_told() {
    let mut p = Producer::<u64>::create(Backing::Heap, &cfg(4, 2, ProducerMode::Single)).unwrap();
    p.set_timeout(Duration::from_secs(5));
    let seg = p.segment().clone();
    let mut c = Consumer::<u64>::register(&seg, &ConsumerOptions::required("slow")).unwrap();
    p.publish_batch(&[0, 1, 2, 3]).unwrap();
    // The owner "dies": the ring is full and only eviction lets the producer on.
    set_consumer_owner(&seg, c.index(), DEAD_PID);
    p.publish(&4).unwrap();
    assert_eq!(seg.registry()[0].state, crate::EntryState::Evicted);
    assert!(matches!(c.poll(10, |_, _, _| {}), Err(Error::Evicted)));
}

/// Another pid no process has.
const DEAD_PID_2: u32 = 0x7fff_ffe0;

#[test]
fn dead_owner_is_taken_over_at_its_cursor() {
    let mut p = Producer::<u64>::create(Backing::Heap, &cfg(8, 2, ProducerMode::Single)).unwrap();
    let seg = p.segment().clone();
    let mut c = Consumer::<u64>::register(&seg, &ConsumerOptions::required("w")).unwrap();
    p.publish_batch(&[10, 11, 12]).unwrap();
    c.poll(1, |_, _, _| {}).unwrap();
    let idx = c.index();
    set_consumer_owner(&seg, idx, DEAD_PID);
    // The owner finds its owner word changed: evicted (spec 5.5 step 4).
    assert!(matches!(c.poll(10, |_, _, _| {}), Err(Error::Evicted)));
    c.abandon();
    let mut t = Consumer::<u64>::register(&seg, &ConsumerOptions::required("w")).unwrap();
    assert_eq!((t.index(), t.cursor(), t.generation()), (idx, 1, 2));
    // Taken over by a compare-and-swap of `owner`, then of `state` to active with the
    // generation bumped (spec 5.7): the entry never left the active state, the owner is the
    // taker, and the taker's registration is the bumped generation.
    let r = &seg.registry()[idx];
    assert_eq!(
        (r.state, r.generation, r.name.as_str(), r.owner),
        (
            crate::EntryState::Active,
            2,
            "w",
            crate::process::own_identity()
        )
    );
    let mut got = vec![];
    t.poll(10, |v, _, _| got.push(v.event().unwrap())).unwrap();
    assert_eq!(got, [11, 12]);
}

#[test]
fn takeover_killed_midway_leaves_the_entry_active_and_takeable() {
    let mut p = Producer::<u64>::create(Backing::Heap, &cfg(4, 2, ProducerMode::Single)).unwrap();
    p.set_timeout(Duration::from_millis(30));
    let seg = p.segment().clone();
    let c = Consumer::<u64>::register(&seg, &ConsumerOptions::required("w")).unwrap();
    let idx = c.index();
    c.abandon();
    p.publish_batch(&[1, 2, 3, 4]).unwrap();
    set_consumer_owner(&seg, idx, DEAD_PID);
    // A live taker that has won the owner CAS is not judged dead: the name stays taken.
    let opts = ConsumerOptions::required("w");
    assert_eq!(Consumer::<u64>::begin_takeover(&seg, &opts).unwrap(), 1);
    assert!(matches!(
        Consumer::<u64>::register(&seg, &opts),
        Err(Error::DuplicateName)
    ));
    // That taker dies midway: the entry never left the active state and still gates.
    set_consumer_owner(&seg, idx, DEAD_PID_2);
    let r = &seg.registry()[idx];
    assert_eq!(
        (r.state, r.required, r.generation, r.cursor),
        (crate::EntryState::Active, true, 1, 0)
    );
    assert_eq!(seg.counts(), (4, 4));
    // (Only this scan, not the producer's periodic eviction, is exercised: its timeout is
    // shorter than the eviction interval.)
    assert!(matches!(p.publish(&5), Err(Error::Timeout)));
    // The next taker takes it over at the same cursor.
    let mut t = Consumer::<u64>::register(&seg, &opts).unwrap();
    assert_eq!((t.index(), t.cursor()), (idx, 0));
    // The killed taker never bumped the generation; this one does.
    assert_eq!((seg.registry()[idx].generation, t.generation()), (2, 2));
    let mut got = vec![];
    t.poll(10, |v, _, _| got.push(v.event().unwrap())).unwrap();
    assert_eq!(got, [1, 2, 3, 4]);
    p.publish(&5).unwrap();
}

#[test]
fn creator_and_registered_producers_take_entries() {
    let p = Producer::<u64>::create(Backing::Heap, &multi_cfg(8, 2)).unwrap();
    let seg = p.segment().clone();
    assert_eq!(seg.geometry().producer_capacity, 2);
    let r = seg.producer_registry();
    assert_eq!(r.len(), 1);
    assert_eq!(
        (r[0].index, r[0].state, r[0].generation),
        (0, crate::ProducerState::Active, 1)
    );
    assert_eq!(r[0].owner_pid, std::process::id());
    let mut a = Producer::<u64>::register(&seg).unwrap();
    assert_eq!((a.index(), a.generation()), (1, 1));
    assert!(matches!(
        Producer::<u64>::register(&seg),
        Err(Error::ProducerRegistryFull)
    ));
    a.close().unwrap();
    assert_eq!(
        seg.producer_registry()[1].state,
        crate::ProducerState::Closed
    );
    let b = Producer::<u64>::register(&seg).unwrap();
    assert_eq!((b.index(), b.generation()), (1, 2));
    // Single mode: one entry, and no attaching.
    let s = Producer::<u64>::create(Backing::Heap, &cfg(8, 1, ProducerMode::Single)).unwrap();
    assert_eq!(s.segment().geometry().producer_capacity, 1);
    assert!(matches!(
        Producer::<u64>::register(s.segment()),
        Err(Error::BadProducerMode { .. })
    ));
    let bad = Config {
        producer_capacity: 2,
        ..cfg(8, 1, ProducerMode::Single)
    };
    assert!(matches!(
        Producer::<u64>::create(Backing::Heap, &bad),
        Err(Error::InvalidArgument(_))
    ));
}
