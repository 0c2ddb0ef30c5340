//! Cross-process tests: the built conformer runs as real producer and consumer processes.

use std::io::Read;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use ringwire::{ConformanceEvent, Consumer, ConsumerOptions, EntryState, Segment};

const BIN: &str = env!("CARGO_BIN_EXE_ringwire-conformer");

/// A shared-memory name `/rwr-t-<pid>-<n>`, unlinked on drop even when the test fails.
struct Shm(String);

impl Shm {
    fn new() -> Shm {
        static NEXT: AtomicU64 = AtomicU64::new(0);
        Shm(format!(
            "/rwr-t-{}-x{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ))
    }
}

impl Drop for Shm {
    fn drop(&mut self) {
        let _ = ringwire::unlink_shm(&self.0);
    }
}

/// A child process killed (SIGKILL) and reaped on drop if the test did not wait for it.
struct Proc(Option<Child>);

impl Proc {
    fn spawn(args: &[&str]) -> Proc {
        let child = Command::new(BIN)
            .args(args)
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("spawn conformer");
        Proc(Some(child))
    }

    /// Waits for exit; returns the exit code and stdout lines.
    fn finish(mut self) -> (i32, Vec<String>) {
        let mut child = self.0.take().expect("running");
        let mut out = String::new();
        child
            .stdout
            .take()
            .expect("stdout")
            .read_to_string(&mut out)
            .expect("read stdout");
        let status = child.wait().expect("wait");
        (
            status.code().unwrap_or(-1),
            out.lines().map(str::to_string).collect(),
        )
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        if let Some(mut c) = self.0.take() {
            let _ = c.kill();
            let _ = c.wait();
        }
    }
}

fn run(args: &[&str]) -> (i32, Vec<String>) {
    Proc::spawn(args).finish()
}

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
    format!(
        "{{\"event\":\"done\",\"consumer\":\"{consumer}\",\"received\":{n},\"producers\":{producers},\"ok\":true}}"
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
fn two_producer_processes_multi_mode() {
    let shm = Shm::new();
    // The creator closes the segment after its own events: the protocol has no count of attached
    // producers, so a consumer would see the stream end while attached producers still publish.
    // The two attached producers therefore contend with each other first (CAS on `claimed`
    // across processes) and the creator, held back by `--wait-consumers 2`, publishes after them.
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
    let p1 = Proc::spawn(&[
        "produce",
        "--name",
        &shm.0,
        "--count",
        "8000",
        "--producer",
        "1",
        "--attach",
        "--wait-consumers",
        "1",
    ]);
    let p2 = Proc::spawn(&[
        "produce",
        "--name",
        &shm.0,
        "--count",
        "8000",
        "--producer",
        "2",
        "--attach",
        "--batch",
        "4",
        "--wait-consumers",
        "1",
    ]);
    assert_eq!(p1.finish(), (0, vec![]));
    assert_eq!(p2.finish(), (0, vec![]));
    // An optional consumer never gates the producers; it only releases the creator.
    let starter = Consumer::<ConformanceEvent>::register(
        &seg,
        &ConsumerOptions {
            name: "starter".into(),
            required: false,
            start: ringwire::Start::Latest,
            depends_on: 0,
        },
    )
    .unwrap();
    assert_eq!(consumer.finish(), (0, vec![done_line("m", 21000, 3)]));
    drop(starter);
    let (code, out) = creator.finish();
    assert_eq!(code, 0, "{out:?}");
    assert_eq!(out.len(), 1);
    assert!(
        out[0].contains("{\"index\":0,\"name\":\"m\",\"state\":\"closed\",\"cursor\":21000}"),
        "{out:?}"
    );
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

#[test]
fn conformer_contract() {
    let dir = std::env::temp_dir().join(format!("rwr-t-{}-golden", std::process::id()));
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
    ];
    for (s, cap, mode, reg) in want {
        let f = dir.join(format!("{s}.bin"));
        let fs = f.to_str().unwrap();
        assert_eq!(run(&["golden", s, fs]), (0, vec![]));
        let line = format!(
            "{{\"event\":\"valid\",\"major\":1,\"minor\":0,\"capacity\":{cap},\"slot_size\":64,\"mode\":\"{mode}\",\"registry\":{reg}}}"
        );
        assert_eq!(run(&["validate", fs]), (0, vec![line]));
        assert_eq!(
            std::fs::read(&f).unwrap(),
            ringwire::golden::image(s).unwrap()
        );
    }
    let bad = dir.join("bad.bin");
    let mut img = ringwire::golden::image("empty").unwrap();
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
        "{\"event\":\"done\",\"consumer\":\"c\",\"received\":10,\"producers\":1,\"ok\":false}"
    );
    assert!(out[1].contains("\"code\":\"verify\""));
    assert_eq!(producer.finish().0, 0);
}
