//! Cross-process tests: the built conformer runs as real producer and consumer processes.

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ringwire::conformance::{golden, ConformanceEvent};
use ringwire::{
    Backing, Config, Consumer, ConsumerOptions, EntryState, Producer, ProducerMode, ProducerState,
    Segment,
};

mod common;
use common::{run, Proc, Shm};

fn wait_for_segment(name: &str) -> Segment {
    Segment::attach_shm(name, Duration::from_secs(10)).expect("segment appears")
}

fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(2));
    }
}

fn done_line(consumer: &str, n: u64, producers: u64) -> String {
    done_gaps(consumer, n, producers, 0)
}

fn done_gaps(consumer: &str, n: u64, producers: u64, gaps: u64) -> String {
    format!(
        "{{\"event\":\"done\",\"consumer\":\"{consumer}\",\"received\":{n},\"producers\":{producers},\"gaps\":{gaps},\"ok\":true}}"
    )
}

#[test]
fn single_producer_process_two_consumer_processes_wrap_around() {
    let shm = Shm::new();
    let n = 60_000u64;
    let ns = n.to_string();
    let producer = Proc::spawn(&[
        "produce",
        "--name",
        &shm.0,
        "--count",
        &ns,
        "--capacity",
        "64",
        "--batch",
        "5",
        "--wait-consumers",
        "2",
    ]);
    let c1 = Proc::spawn(&[
        "consume",
        "--name",
        &shm.0,
        "--consumer",
        "c1",
        "--count",
        &ns,
        "--batch",
    ]);
    let c2 = Proc::spawn(&[
        "consume",
        "--name",
        &shm.0,
        "--consumer",
        "c2",
        "--count",
        &ns,
    ]);
    assert_eq!(c1.finish(), (0, vec![done_line("c1", n, 1)]));
    assert_eq!(c2.finish(), (0, vec![done_line("c2", n, 1)]));
    let (code, out) = producer.finish();
    assert_eq!(code, 0, "{out:?}");
    assert_eq!(out.len(), 1);
    for c in ["c1", "c2"] {
        // Entry indices depend on which consumer registered first.
        let want = format!("\"name\":\"{c}\",\"state\":\"closed\",\"cursor\":{n}}}");
        assert!(out[0].contains(&want), "{} lacks {want}", out[0]);
    }
    assert!(out[0].starts_with("{\"event\":\"registry\",\"entries\":["));
}

#[test]
fn three_producer_processes_multi_mode() {
    let shm = Shm::new();
    // The creator publishes once the consumer is there, then waits for both attached producers
    // to detach and ends the stream with the closed bit of `claimed` (PROTOCOL.md, produce).
    let creator = Proc::spawn(&[
        "produce",
        "--name",
        &shm.0,
        "--count",
        "5000",
        "--mode",
        "multi",
        "--capacity",
        "32",
        "--wait-consumers",
        "1",
        "--wait-producers",
        "2",
    ]);
    let seg = wait_for_segment(&shm.0);
    let consumer = Proc::spawn(&[
        "consume",
        "--name",
        &shm.0,
        "--consumer",
        "m",
        "--count",
        "21000",
        "--producers",
        "3",
        "--batch",
    ]);
    wait_until("consumer registers", || seg.active_consumers() == 1);
    let attached = |id: &str, batch: &str| {
        Proc::spawn(&[
            "produce",
            "--name",
            &shm.0,
            "--count",
            "8000",
            "--producer",
            id,
            "--attach",
            "--batch",
            batch,
        ])
    };
    let (p1, p2) = (attached("1", "1"), attached("2", "4"));
    assert_eq!(p1.finish(), (0, vec![]));
    assert_eq!(p2.finish(), (0, vec![]));
    assert_eq!(consumer.finish(), (0, vec![done_line("m", 21000, 3)]));
    let (code, out) = creator.finish();
    assert_eq!(code, 0, "{out:?}");
    assert_eq!(
        out,
        ["{\"event\":\"registry\",\"entries\":[{\"index\":0,\"name\":\"m\",\"state\":\"closed\",\"cursor\":21000}]}"]
    );
    assert!(seg.claims_closed());
    assert_eq!(seg.counts().1, 21000);
    let states: Vec<_> = seg.producer_registry().iter().map(|p| p.state).collect();
    assert_eq!(
        states,
        [
            ProducerState::Active,
            ProducerState::Closed,
            ProducerState::Closed
        ]
    );
}

/// Re-exec target: attaches a producer (id 1) to $RWR_CHILD_PRODUCER_SHM, publishes k = 0..2,
/// then claims two more sequences and hangs inside the fill until killed. A no-op in a normal
/// test run.
#[test]
fn child_producer_that_hangs_mid_claim() {
    let Ok(name) = std::env::var("RWR_CHILD_PRODUCER_SHM") else {
        return;
    };
    let seg = Segment::attach_shm(&name, Duration::from_secs(10)).unwrap();
    let mut p = Producer::<ConformanceEvent>::register(&seg).unwrap();
    for k in 0..3 {
        p.publish(&ConformanceEvent::new(k, 1)).unwrap();
    }
    let _ = p.try_publish_with(2, |_, _| -> Result<ConformanceEvent, &str> {
        std::thread::sleep(Duration::from_secs(60));
        Err("not killed")
    });
}

#[test]
fn consumer_passes_over_the_claim_of_a_producer_killed_mid_claim() {
    let shm = Shm::new();
    let creator = Proc::spawn(&[
        "produce",
        "--name",
        &shm.0,
        "--count",
        "5",
        "--mode",
        "multi",
        "--capacity",
        "16",
        "--wait-consumers",
        "2",
        "--wait-producers",
        "1",
    ]);
    let seg = wait_for_segment(&shm.0);
    let consumer = Proc::spawn(&[
        "consume",
        "--name",
        &shm.0,
        "--consumer",
        "c",
        "--count",
        "8",
        "--producers",
        "2",
    ]);
    wait_until("consumer registers", || seg.active_consumers() == 1);
    let mut victim = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_producer_that_hangs_mid_claim",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("RWR_CHILD_PRODUCER_SHM", &shm.0)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    // Its claim of sequences 3 and 4 is made (claimed = 5) and announced, never published.
    wait_until("victim claims", || {
        seg.counts().1 == 5
            && seg
                .producer_registry()
                .iter()
                .any(|p| p.index == 1 && (p.intent_start, p.intent_end) == (3, 5))
    });
    victim.kill().unwrap();
    victim.wait().unwrap();
    // Only now may the creator publish: a second (optional) consumer releases it.
    let starter = Consumer::<ConformanceEvent>::register(
        &seg,
        &ConsumerOptions {
            required: false,
            start: ringwire::Start::Latest,
            ..ConsumerOptions::required("starter")
        },
    )
    .unwrap();
    assert_eq!(consumer.finish(), (0, vec![done_gaps("c", 8, 2, 2)]));
    drop(starter);
    let (code, out) = creator.finish();
    assert_eq!(code, 0, "{out:?}");
    assert!(
        out[0].contains("\"name\":\"c\",\"state\":\"closed\",\"cursor\":10}"),
        "{out:?}"
    );
    assert_eq!(seg.gaps(), 2);
    let dead = &seg.producer_registry()[1];
    assert_eq!(
        (dead.state, dead.intent_start, dead.intent_end),
        (ProducerState::Dead, 3, 5)
    );
}

#[test]
fn consumer_process_stops_at_a_poisoned_ring() {
    let shm = Shm::new();
    let mut p = Producer::<ConformanceEvent>::create(
        Backing::Shm(&shm.0),
        &Config {
            capacity: 8,
            ..Config::default()
        },
    )
    .unwrap();
    let consumer = Proc::spawn(&[
        "consume",
        "--name",
        &shm.0,
        "--consumer",
        "c",
        "--count",
        "5",
    ]);
    let seg = p.segment().clone();
    wait_until("consumer registers", || seg.active_consumers() == 1);
    p.publish_batch(&[ConformanceEvent::new(0, 0), ConformanceEvent::new(1, 0)])
        .unwrap();
    let failed = p.try_publish_with(1, |_, _| -> Result<ConformanceEvent, &str> {
        Err("sensor offline")
    });
    assert!(matches!(failed, Err(ringwire::Error::Poisoned(_))));
    let (code, out) = consumer.finish();
    assert_eq!(code, 3, "{out:?}");
    assert!(
        out[0].starts_with("{\"event\":\"error\",\"code\":\"poisoned\""),
        "{out:?}"
    );
    assert!(out[0].contains("sensor offline"), "{out:?}");
}

/// Re-exec target: registers a required consumer on $RWR_CHILD_SHM and hangs until killed.
/// A no-op in a normal test run.
#[test]
fn child_consumer_that_hangs() {
    let Ok(name) = std::env::var("RWR_CHILD_SHM") else {
        return;
    };
    let seg = Segment::attach_shm(&name, Duration::from_secs(10)).unwrap();
    let c =
        Consumer::<ConformanceEvent>::register(&seg, &ConsumerOptions::required("victim")).unwrap();
    std::thread::sleep(Duration::from_secs(60));
    drop(c);
}

/// Re-exec target: does the first step of a takeover of the dead consumer "victim" on
/// $RWR_CHILD_TAKER_SHM (the compare-and-swap of its owner word, spec 5.7), prints the entry's
/// generation and hangs until killed. A no-op in a normal test run.
#[test]
fn child_taker_that_stops_midway() {
    let Ok(name) = std::env::var("RWR_CHILD_TAKER_SHM") else {
        return;
    };
    let seg = Segment::attach_shm(&name, Duration::from_secs(10)).unwrap();
    let g =
        Consumer::<ConformanceEvent>::begin_takeover(&seg, &ConsumerOptions::required("victim"))
            .unwrap();
    // On its own line: libtest has already printed "test ... " without a newline.
    println!("\ntaken {g}");
    std::thread::sleep(Duration::from_secs(60));
}

fn reexec(test: &str, var: &str, shm: &str) -> Child {
    Command::new(std::env::current_exe().unwrap())
        .args(["--exact", test, "--nocapture", "--test-threads=1"])
        .env(var, shm)
        .stdout(Stdio::piped())
        .spawn()
        .unwrap()
}

#[test]
fn takeover_by_a_taker_killed_midway_stays_active_and_takeable() {
    let shm = Shm::new();
    let mut p = Producer::<ConformanceEvent>::create(
        Backing::Shm(&shm.0),
        &Config {
            capacity: 4,
            registry_capacity: 2,
            ..Config::default()
        },
    )
    .unwrap();
    let seg = p.segment().clone();
    let victim_entry = || {
        seg.registry()
            .into_iter()
            .find(|e| e.name == "victim")
            .expect("entry victim")
    };
    // The owner registers and is killed with SIGKILL (and reaped, so its pid is gone).
    let mut owner = reexec("child_consumer_that_hangs", "RWR_CHILD_SHM", &shm.0);
    wait_until("owner registers", || {
        seg.registry()
            .iter()
            .any(|e| e.name == "victim" && e.state == EntryState::Active)
    });
    owner.kill().unwrap();
    owner.wait().unwrap();
    for k in 0..3 {
        p.publish(&ConformanceEvent::new(k, 0)).unwrap();
    }
    // A taker wins the owner CAS and is killed there.
    let mut taker = reexec(
        "child_taker_that_stops_midway",
        "RWR_CHILD_TAKER_SHM",
        &shm.0,
    );
    let out = BufReader::new(taker.stdout.take().unwrap());
    let taken = out
        .lines()
        .map(|l| l.unwrap())
        .find(|l| l.starts_with("taken "))
        .expect("the taker's line");
    // The owner word changed; the state word (generation 1) did not.
    assert_eq!(taken, "taken 1");
    // While the taker lives the name is taken.
    assert!(matches!(
        Consumer::<ConformanceEvent>::register(&seg, &ConsumerOptions::required("victim")),
        Err(ringwire::Error::DuplicateName)
    ));
    taker.kill().unwrap();
    taker.wait().unwrap();
    // The entry never left the active state: it still gates the producer at its cursor.
    let e = victim_entry();
    assert_eq!(
        (e.state, e.required, e.generation, e.cursor),
        (EntryState::Active, true, 1, 0)
    );
    // The next taker resumes at the cursor, and gets every event.
    let mut c =
        Consumer::<ConformanceEvent>::register(&seg, &ConsumerOptions::required("victim")).unwrap();
    assert_eq!((c.index(), c.cursor(), c.generation()), (e.index, 0, 2));
    assert_eq!(
        victim_entry().generation,
        2,
        "the takeover bumps the generation"
    );
    assert_eq!(victim_entry().owner_pid, std::process::id());
    let mut got = vec![];
    c.poll(8, |item, _, _| got.push(item.event().unwrap().seq))
        .unwrap();
    assert_eq!(got, [0, 1, 2]);
    c.close().unwrap();
    p.close().unwrap();
}

/// Re-exec target: creates the single-producer segment $RWR_CHILD_CREATOR_SHM, publishes
/// k = 0, 1 once a consumer has registered, and hangs until killed. A no-op in a normal test run.
#[test]
fn child_creator_that_hangs() {
    let Ok(name) = std::env::var("RWR_CHILD_CREATOR_SHM") else {
        return;
    };
    let mut p = Producer::<ConformanceEvent>::create(
        Backing::Shm(&name),
        &Config {
            capacity: 8,
            ..Config::default()
        },
    )
    .unwrap();
    let seg = p.segment().clone();
    wait_until("a consumer registers", || seg.active_consumers() == 1);
    p.publish_batch(&[ConformanceEvent::new(0, 0), ConformanceEvent::new(1, 0)])
        .unwrap();
    std::thread::sleep(Duration::from_secs(60));
}

/// Spec 5.5 step 4 with a real kill -9: a consumer waiting on a ring whose only producer was
/// killed stops with "producer dead" (naming the creator's pid) instead of waiting for its
/// deadline; the killed creator counts as dead while still a zombie (spec 8), before it is
/// reaped.
#[test]
fn a_consumer_stops_when_its_producer_is_killed_with_sigkill() {
    let shm = Shm::new();
    let mut creator = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_creator_that_hangs",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("RWR_CHILD_CREATOR_SHM", &shm.0)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    let seg = wait_for_segment(&shm.0);
    let mut c =
        Consumer::<ConformanceEvent>::register(&seg, &ConsumerOptions::required("c")).unwrap();
    let mut got = 0;
    while got < 2 {
        got += c.poll(8, |_, _, _| {}).unwrap().delivered;
        if got < 2 {
            c.wait(Instant::now() + Duration::from_secs(10)).unwrap();
        }
    }
    // Alive: a wait runs to its deadline.
    assert!(matches!(
        c.wait(Instant::now() + Duration::from_millis(1200)),
        Err(ringwire::Error::Timeout)
    ));
    // kill -9, not reaped yet: a zombie.
    creator.kill().unwrap();
    let t = Instant::now();
    let r = c.wait(Instant::now() + Duration::from_secs(20));
    let pid = creator.id();
    assert!(
        matches!(r, Err(ringwire::Error::ProducerDead { pid: p }) if p == pid),
        "{r:?}"
    );
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "took {:?}",
        t.elapsed()
    );
    creator.wait().unwrap();
    c.close().unwrap();
}

/// Re-exec target: creates the multi-producer segment $RWR_CHILD_MULTI_CREATOR_SHM and hangs
/// until killed. A no-op in a normal test run.
#[test]
fn child_multi_creator_that_hangs() {
    let Ok(name) = std::env::var("RWR_CHILD_MULTI_CREATOR_SHM") else {
        return;
    };
    let _p = Producer::<ConformanceEvent>::create(
        Backing::Shm(&name),
        &Config {
            capacity: 8,
            mode: ProducerMode::Multi,
            ..Config::default()
        },
    )
    .unwrap();
    std::thread::sleep(Duration::from_secs(60));
}

/// Re-exec target: does spec 5.4 attach steps 1 and 2 on $RWR_CHILD_ATTACHER_SHM (its owner
/// word won, its state not yet active), prints the entry's index and hangs until killed. A
/// no-op in a normal test run.
#[test]
fn child_attacher_stopped_between_steps_2_and_3() {
    let Ok(name) = std::env::var("RWR_CHILD_ATTACHER_SHM") else {
        return;
    };
    let seg = Segment::attach_shm(&name, Duration::from_secs(10)).unwrap();
    let i = Producer::<ConformanceEvent>::begin_register(&seg).unwrap();
    // On its own line: libtest has already printed "test ... " without a newline.
    println!("\nlocked {i}");
    std::thread::sleep(Duration::from_secs(60));
}

/// Re-exec target: registers the required consumer "starter" on $RWR_CHILD_STARTER_SHM up to
/// spec 5.7 step 4 (active, `flags` bit 1 set, provisional cursor), prints the entry's index and
/// hangs until killed. A no-op in a normal test run.
#[test]
fn child_registrant_stopped_before_step_6() {
    let Ok(name) = std::env::var("RWR_CHILD_STARTER_SHM") else {
        return;
    };
    let seg = Segment::attach_shm(&name, Duration::from_secs(10)).unwrap();
    let i =
        Consumer::<ConformanceEvent>::begin_register(&seg, &ConsumerOptions::required("starter"))
            .unwrap();
    println!("\nstarting {i}");
    std::thread::sleep(Duration::from_secs(60));
}

/// The first line of `child`'s stdout that starts with `prefix`, without the prefix.
fn line_of(child: &mut Child, prefix: &str) -> String {
    let out = BufReader::new(child.stdout.take().unwrap());
    out.lines()
        .map(|l| l.unwrap())
        .find_map(|l| l.strip_prefix(prefix).map(str::to_string))
        .unwrap_or_else(|| panic!("no line {prefix:?}"))
}

/// Spec 5.5 step 4 (finding F2) with real kill -9: the creator of a multi-producer ring is
/// killed while another process is between 5.4 attach steps 2 and 3 (its owner word won, its
/// entry not yet active). The consumer keeps waiting while that process lives, and stops with
/// "producer dead" once it is killed too.
#[test]
fn a_consumer_keeps_waiting_while_an_attaching_producer_lives() {
    let shm = Shm::new();
    let mut creator = reexec(
        "child_multi_creator_that_hangs",
        "RWR_CHILD_MULTI_CREATOR_SHM",
        &shm.0,
    );
    let seg = wait_for_segment(&shm.0);
    let mut c =
        Consumer::<ConformanceEvent>::register(&seg, &ConsumerOptions::required("c")).unwrap();
    let mut attacher = reexec(
        "child_attacher_stopped_between_steps_2_and_3",
        "RWR_CHILD_ATTACHER_SHM",
        &shm.0,
    );
    assert_eq!(line_of(&mut attacher, "locked "), "1");
    let entry = &seg.producer_registry();
    assert_eq!(
        entry.len(),
        1,
        "entry 1 is not active (still free): {entry:?}"
    );
    creator.kill().unwrap();
    creator.wait().unwrap();
    // The attacher is alive: a plain timeout, not "producer dead".
    let r = c.wait(Instant::now() + Duration::from_millis(1200));
    assert!(matches!(r, Err(ringwire::Error::Timeout)), "{r:?}");
    attacher.kill().unwrap();
    attacher.wait().unwrap();
    let t = Instant::now();
    let r = c.wait(Instant::now() + Duration::from_secs(20));
    assert!(
        matches!(r, Err(ringwire::Error::ProducerDead { .. })),
        "{r:?}"
    );
    assert!(
        t.elapsed() < Duration::from_secs(5),
        "took {:?}",
        t.elapsed()
    );
    c.close().unwrap();
}

/// Spec 5.7 with real kill -9: a registrant killed between steps 4 and 6 leaves its entry
/// active, gating at the provisional cursor (`count - capacity`) with `flags` bit 1 set. The
/// producer is held there; a taker bumps the generation and goes on from step 6, choosing its
/// start (here *latest*), which releases the producer.
#[test]
fn a_registrant_killed_before_choosing_its_start_is_taken_over_from_step_6() {
    let shm = Shm::new();
    let mut p = Producer::<ConformanceEvent>::create(
        Backing::Shm(&shm.0),
        &Config {
            capacity: 4,
            registry_capacity: 2,
            ..Config::default()
        },
    )
    .unwrap();
    let seg = p.segment().clone();
    for k in 0..8 {
        p.publish(&ConformanceEvent::new(k, 0)).unwrap();
    }
    let mut starter = reexec(
        "child_registrant_stopped_before_step_6",
        "RWR_CHILD_STARTER_SHM",
        &shm.0,
    );
    let i: usize = line_of(&mut starter, "starting ").parse().unwrap();
    let e = seg.registry()[i].clone();
    assert_eq!(
        (e.state, e.starting, e.generation, e.cursor),
        (EntryState::Active, true, 1, 4)
    );
    assert_eq!(seg.active_consumers(), 0);
    starter.kill().unwrap();
    starter.wait().unwrap();
    // Held at the provisional cursor: 4 + capacity = 8 events, all published.
    p.set_timeout(Duration::from_millis(50));
    assert!(matches!(
        p.publish(&ConformanceEvent::new(8, 0)),
        Err(ringwire::Error::Timeout)
    ));
    let mut c = Consumer::<ConformanceEvent>::register(
        &seg,
        &ConsumerOptions {
            start: ringwire::Start::Latest,
            ..ConsumerOptions::required("starter")
        },
    )
    .unwrap();
    assert_eq!((c.index(), c.generation(), c.cursor()), (i, 2, 8));
    let e = seg.registry()[i].clone();
    assert_eq!((e.starting, e.generation, e.cursor), (false, 2, 8));
    assert_eq!(seg.active_consumers(), 1);
    p.set_timeout(Duration::from_secs(10));
    for k in 8..10 {
        p.publish(&ConformanceEvent::new(k, 0)).unwrap();
    }
    let mut got = vec![];
    c.poll(8, |item, s, _| got.push((s, item.event().unwrap().seq)))
        .unwrap();
    assert_eq!(got, [(8, 8), (9, 9)]);
    c.close().unwrap();
    p.close().unwrap();
}

#[test]
fn producer_evicts_a_consumer_killed_with_sigkill() {
    let shm = Shm::new();
    let producer = Proc::spawn(&[
        "produce",
        "--name",
        &shm.0,
        "--count",
        "200",
        "--capacity",
        "16",
        "--wait-consumers",
        "1",
        "--timeout-ms",
        "10000",
    ]);
    let seg = wait_for_segment(&shm.0);
    let mut victim = Command::new(std::env::current_exe().unwrap())
        .args([
            "--exact",
            "child_consumer_that_hangs",
            "--nocapture",
            "--test-threads=1",
        ])
        .env("RWR_CHILD_SHM", &shm.0)
        .stdout(Stdio::null())
        .spawn()
        .unwrap();
    wait_until("victim registers", || {
        seg.registry()
            .iter()
            .any(|e| e.name == "victim" && e.state == EntryState::Active)
    });
    // Let the producer fill the ring, then kill -9 and reap, so the pid is gone.
    wait_until("ring full", || seg.counts() == (16, 16));
    victim.kill().unwrap();
    victim.wait().unwrap();
    let (code, out) = producer.finish();
    assert_eq!(code, 0, "{out:?}");
    assert_eq!(
        out,
        ["{\"event\":\"registry\",\"entries\":[{\"index\":0,\"name\":\"victim\",\"state\":\"evicted\",\"cursor\":0}]}"]
    );
}

/// Spec 5.7 step 6: `produce --wait-consumers 1` publishes nothing while the only active entry
/// is still choosing its start (`flags` bit 1 set), and publishes once a consumer has registered
/// (bit 1 clear).
#[test]
fn conformer_waits_for_a_consumer_whose_start_is_chosen() {
    let shm = Shm::new();
    let mut p = Producer::<ConformanceEvent>::create(
        Backing::Shm(&shm.0),
        &Config {
            capacity: 8,
            mode: ProducerMode::Multi,
            ..Config::default()
        },
    )
    .unwrap();
    let seg = p.segment().clone();
    Consumer::<ConformanceEvent>::begin_register(&seg, &ConsumerOptions::required("early"))
        .unwrap();
    let produce = |timeout: &str| {
        run(&[
            "produce",
            "--name",
            &shm.0,
            "--attach",
            "--count",
            "1",
            "--wait-consumers",
            "1",
            "--timeout-ms",
            timeout,
        ])
    };
    let (code, out) = produce("300");
    assert_eq!(code, 3, "{out:?}");
    assert!(
        out.iter().any(|l| l.contains("\"code\":\"timeout\"")),
        "{out:?}"
    );
    assert_eq!(seg.counts(), (0, 0), "nothing claimed");
    let c =
        Consumer::<ConformanceEvent>::register(&seg, &ConsumerOptions::required("late")).unwrap();
    let (code, out) = produce("10000");
    assert_eq!(code, 0, "{out:?}");
    assert_eq!(seg.counts().1, 1, "one claimed");
    c.close().unwrap();
    p.close().unwrap();
}

#[test]
fn conformer_contract() {
    let dir = std::env::temp_dir().join(format!("rwrs-{}-golden", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    struct Rm(std::path::PathBuf);
    impl Drop for Rm {
        fn drop(&mut self) {
            let _ = std::fs::remove_dir_all(&self.0);
        }
    }
    let _rm = Rm(dir.clone());
    let want = [
        ("empty", 8, "single", 4),
        ("single-wrapped", 8, "single", 4),
        ("multi-wrapped", 4, "multi", 2),
        ("closed", 16, "single", 2),
        ("multi-gap", 8, "multi", 2),
        ("poisoned", 8, "single", 2),
    ];
    for (s, cap, mode, reg) in want {
        let f = dir.join(format!("{s}.bin"));
        let fs = f.to_str().unwrap();
        assert_eq!(run(&["golden", s, fs]), (0, vec![]));
        let line = format!(
            "{{\"event\":\"valid\",\"major\":2,\"minor\":0,\"capacity\":{cap},\"slot_size\":64,\"mode\":\"{mode}\",\"registry\":{reg}}}"
        );
        assert_eq!(run(&["validate", fs]), (0, vec![line]));
        assert_eq!(std::fs::read(&f).unwrap(), golden::image(s).unwrap());
    }
    let bad = dir.join("bad.bin");
    let mut img = golden::image("empty").unwrap();
    img[0] = b'X';
    std::fs::write(&bad, img).unwrap();
    let (code, out) = run(&["validate", bad.to_str().unwrap()]);
    assert_eq!(code, 3);
    assert!(
        out[0].starts_with("{\"event\":\"error\",\"code\":\"bad_magic\""),
        "{out:?}"
    );

    assert_eq!(
        run(&["name", "trades:eu"]),
        (0, vec!["/trades_eu-163d668a0f".into()])
    );
    assert_eq!(run(&["name", ""]), (0, vec!["/rw-cbf29ce484".into()]));
    for usage in [
        &[
            "produce",
            "--name",
            "/x",
            "--count",
            "1",
            "--frobnicate",
            "2",
        ][..],
        &["consume", "--name", "/x"][..],
        &["golden", "nope", "/dev/null"][..],
        &["bogus"][..],
        &[][..],
    ] {
        let (code, out) = run(usage);
        assert_eq!(code, 2, "{usage:?}");
        assert!(out[0].contains("\"code\":\"usage\""), "{out:?}");
    }
    let missing = Shm::new();
    let (code, out) = run(&[
        "consume",
        "--name",
        &missing.0,
        "--consumer",
        "c",
        "--count",
        "1",
        "--timeout-ms",
        "50",
    ]);
    assert_eq!(code, 3);
    assert!(out[0].contains("\"code\":\"not_found\""), "{out:?}");
    let (code, out) = run(&["validate", dir.join("absent.bin").to_str().unwrap()]);
    assert_eq!(code, 4);
    assert!(out[0].contains("\"code\":\"io\""), "{out:?}");
}

#[test]
fn consumer_fails_verification_when_stream_ends_early() {
    let shm = Shm::new();
    let producer = Proc::spawn(&[
        "produce",
        "--name",
        &shm.0,
        "--count",
        "10",
        "--wait-consumers",
        "1",
    ]);
    let (code, out) = run(&[
        "consume",
        "--name",
        &shm.0,
        "--consumer",
        "c",
        "--count",
        "20",
    ]);
    assert_eq!(code, 1, "{out:?}");
    assert_eq!(
        out[0],
        "{\"event\":\"done\",\"consumer\":\"c\",\"received\":10,\"producers\":1,\"gaps\":0,\"ok\":false}"
    );
    assert!(out[1].contains("\"code\":\"verify\""));
    assert_eq!(producer.finish().0, 0);
}
