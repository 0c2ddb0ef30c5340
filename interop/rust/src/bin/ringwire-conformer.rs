//! The Rust conformer: the command-line program of conformance/PROTOCOL.md.
//!
//! Subcommands `produce`, `consume`, `validate`, `golden`, `name` and `snapshot`; one JSON
//! object a line on standard output; exit codes 0 success, 1 verification failed, 2 usage, 3 segment error, 4 I/O.

use std::collections::HashMap;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use ringwire::conformance::{golden, ConformanceEvent};
use ringwire::{
    portable_name, unlink_shm, Backing, Config, Consumer, ConsumerOptions, Error, Item, Producer,
    ProducerMode, ProducerState, Segment,
};

/// A failure to report: its error line and exit code.
struct Fail {
    code: &'static str,
    message: String,
}

impl Fail {
    fn usage(message: impl Into<String>) -> Fail {
        Fail {
            code: "usage",
            message: message.into(),
        }
    }
    fn verify(message: impl Into<String>) -> Fail {
        Fail {
            code: "verify",
            message: message.into(),
        }
    }
    fn exit_code(&self) -> u8 {
        match self.code {
            "verify" => 1,
            "usage" => 2,
            "io" => 4,
            _ => 3,
        }
    }
}

impl From<Error> for Fail {
    fn from(e: Error) -> Fail {
        Fail {
            code: e.code(),
            message: e.to_string(),
        }
    }
}

type Out = Result<(), Fail>;

fn json_str(s: &str) -> String {
    let mut o = String::with_capacity(s.len() + 2);
    o.push('"');
    for c in s.chars() {
        match c {
            '"' => o.push_str("\\\""),
            '\\' => o.push_str("\\\\"),
            '\n' => o.push_str("\\n"),
            '\r' => o.push_str("\\r"),
            '\t' => o.push_str("\\t"),
            c if (c as u32) < 0x20 => o.push_str(&format!("\\u{:04x}", c as u32)),
            c => o.push(c),
        }
    }
    o.push('"');
    o
}

/// Parsed `--flag value` and `--switch` arguments of one subcommand.
struct Flags {
    values: HashMap<String, String>,
    switches: Vec<String>,
}

impl Flags {
    /// `valued` flags take a value; `switches` take none. Anything else is a usage error.
    fn parse(args: &[String], valued: &[&str], switches: &[&str]) -> Result<Flags, Fail> {
        let mut f = Flags {
            values: HashMap::new(),
            switches: Vec::new(),
        };
        let mut it = args.iter();
        while let Some(a) = it.next() {
            let name = a
                .strip_prefix("--")
                .ok_or_else(|| Fail::usage(format!("unexpected argument {a:?}")))?;
            if valued.contains(&name) {
                let v = it
                    .next()
                    .ok_or_else(|| Fail::usage(format!("--{name} needs a value")))?;
                f.values.insert(name.to_string(), v.clone());
            } else if switches.contains(&name) {
                f.switches.push(name.to_string());
            } else {
                return Err(Fail::usage(format!("unknown flag --{name}")));
            }
        }
        Ok(f)
    }

    fn str(&self, name: &str) -> Result<&str, Fail> {
        self.values
            .get(name)
            .map(String::as_str)
            .ok_or_else(|| Fail::usage(format!("--{name} is required")))
    }

    fn num(&self, name: &str, default: Option<u64>) -> Result<u64, Fail> {
        match (self.values.get(name), default) {
            (Some(v), _) => v
                .parse()
                .map_err(|_| Fail::usage(format!("--{name}: not a number: {v:?}"))),
            (None, Some(d)) => Ok(d),
            (None, None) => Err(Fail::usage(format!("--{name} is required"))),
        }
    }

    fn has(&self, name: &str) -> bool {
        self.switches.iter().any(|s| s == name)
    }
}

/// Polls `cond` every millisecond until it holds or `deadline` passes, refreshing the
/// producer's heartbeat at least once a second meanwhile (spec 8: the creator waiting for
/// consumers or producers).
fn wait_for(
    producer: &Producer<ConformanceEvent>,
    deadline: Instant,
    mut cond: impl FnMut() -> bool,
) -> bool {
    let mut beat = Instant::now();
    while !cond() {
        if Instant::now() >= deadline {
            return false;
        }
        if beat.elapsed() >= Duration::from_millis(250) {
            beat = Instant::now();
            producer.heartbeat();
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    true
}

fn registry_line(seg: &Segment) -> String {
    let entries: Vec<String> = seg
        .registry()
        .iter()
        .map(|e| {
            format!(
                "{{\"index\":{},\"name\":{},\"state\":\"{}\",\"cursor\":{}}}",
                e.index,
                json_str(&e.name),
                e.state.as_str(),
                e.cursor
            )
        })
        .collect();
    format!(
        "{{\"event\":\"registry\",\"entries\":[{}]}}",
        entries.join(",")
    )
}

fn produce(args: &[String]) -> Out {
    let f = Flags::parse(
        args,
        &[
            "name",
            "count",
            "producer",
            "capacity",
            "mode",
            "batch",
            "wait-consumers",
            "wait-producers",
            "timeout-ms",
        ],
        &["attach"],
    )?;
    let name = f.str("name")?;
    let count = f.num("count", None)?;
    let producer_id = f.num("producer", Some(0))?;
    let capacity = f.num("capacity", Some(1024))?;
    let batch = f.num("batch", Some(1))?.max(1);
    let want_consumers = f.num("wait-consumers", Some(0))? as usize;
    let want_producers = f.num("wait-producers", Some(0))? as usize;
    let timeout = Duration::from_millis(f.num("timeout-ms", Some(20000))?);
    let mode = match f.values.get("mode").map(String::as_str) {
        None | Some("single") => ProducerMode::Single,
        Some("multi") => ProducerMode::Multi,
        Some(m) => {
            return Err(Fail::usage(format!(
                "--mode must be single or multi, not {m:?}"
            )))
        }
    };
    let attach = f.has("attach");

    let mut producer = if attach {
        let seg = Segment::attach_shm(name, timeout)?;
        Producer::<ConformanceEvent>::register(&seg)?
    } else {
        // Replace a stale segment of the same name: unlink first, never rewrite in place.
        match unlink_shm(name) {
            Ok(()) | Err(Error::NotFound) => {}
            Err(e) => return Err(e.into()),
        }
        let cfg = Config {
            capacity,
            registry_capacity: 8,
            mode,
            ..Config::default()
        };
        Producer::<ConformanceEvent>::create(Backing::Shm(name), &cfg).map_err(|e| match e {
            Error::InvalidArgument(m) => Fail::usage(m),
            e => e.into(),
        })?
    };
    producer.set_timeout(timeout);
    let seg = producer.segment().clone();
    let result = publish_all(
        &mut producer,
        &seg,
        want_consumers,
        count,
        producer_id,
        batch,
        timeout,
    );
    if attach {
        // Leaves its producer entry: the entry becomes closed.
        drop(producer);
        return result;
    }
    // Multi mode: producers of other processes (entries 1..) that registered and left again.
    let result = result.and_then(|()| {
        if mode != ProducerMode::Multi || want_producers == 0 {
            return Ok(());
        }
        let left = || {
            // A killed producer's entry stays active until its claims are resolved; retiring
            // it then (spec 5.8) is what tells that it has left.
            seg.retire_dead_producers();
            seg.producer_registry()
                .iter()
                .filter(|p| {
                    p.index > 0 && matches!(p.state, ProducerState::Closed | ProducerState::Dead)
                })
                .count()
        };
        if wait_for(&producer, Instant::now() + timeout, || {
            left() >= want_producers
        }) {
            Ok(())
        } else {
            Err(Fail {
                code: "timeout",
                message: format!("fewer than {want_producers} registered producers left"),
            })
        }
    });
    // Ends the stream; in multi mode first closes `claimed` and waits for every claim.
    let result = result.and(producer.close().map_err(Fail::from));
    // Consumers that died after the last event would never deregister: evict them meanwhile.
    let mut last_scan = Instant::now();
    let drained = wait_for(&producer, Instant::now() + timeout, || {
        if last_scan.elapsed() >= Duration::from_millis(100) {
            last_scan = Instant::now();
            producer.evict_dead_consumers();
        }
        seg.active_consumers() == 0
    });
    println!("{}", registry_line(&seg));
    let _ = unlink_shm(name);
    result?;
    if !drained {
        return Err(Fail {
            code: "timeout",
            message: "consumers still active after the producer closed".into(),
        });
    }
    Ok(())
}

fn publish_all(
    producer: &mut Producer<ConformanceEvent>,
    seg: &Segment,
    want_consumers: usize,
    count: u64,
    producer_id: u64,
    batch: u64,
    timeout: Duration,
) -> Out {
    // Active consumers whose start is chosen (spec 5.7 step 6): every event published from
    // here on reaches them.
    if !wait_for(producer, Instant::now() + timeout, || {
        seg.active_consumers() >= want_consumers
    }) {
        return Err(Fail {
            code: "timeout",
            message: format!("fewer than {want_consumers} consumers registered"),
        });
    }
    let mut events = Vec::with_capacity(batch as usize);
    let mut k = 0;
    while k < count {
        let n = batch.min(count - k);
        events.clear();
        events.extend((k..k + n).map(|k| ConformanceEvent::new(k, producer_id)));
        producer.publish_batch(&events)?;
        k += n;
    }
    Ok(())
}

/// Per-producer sequence check of the conformance stream.
struct Checker {
    next: Vec<u64>,
    /// Sequences passed over as gaps (spec 5.8); not events, not counted as received.
    gaps: u64,
    failure: Option<String>,
}

impl Checker {
    fn check(&mut self, item: &Item<ConformanceEvent>, seq: u64) {
        if self.failure.is_some() {
            return;
        }
        let Item::Event(ev) = item else {
            self.gaps += 1;
            return;
        };
        let p = ev.producer;
        if p >= self.next.len() as u64 {
            self.failure = Some(format!("sequence {seq}: unknown producer {p}"));
        } else if !ev.is_intact() {
            self.failure = Some(format!("sequence {seq}: corrupt event k={} p={p}", ev.seq));
        } else if ev.seq != self.next[p as usize] {
            self.failure = Some(format!(
                "sequence {seq}: producer {p} sent k={} where k={} was due",
                ev.seq, self.next[p as usize]
            ));
        } else {
            self.next[p as usize] += 1;
        }
    }
}

fn consume(args: &[String]) -> Out {
    let f = Flags::parse(
        args,
        &["name", "consumer", "count", "producers", "timeout-ms"],
        &["batch"],
    )?;
    let name = f.str("name")?;
    let cname = f.str("consumer")?;
    let count = f.num("count", None)?;
    let producers = f.num("producers", Some(1))?;
    let timeout = Duration::from_millis(f.num("timeout-ms", Some(20000))?);
    let batch = f.has("batch");
    let deadline = Instant::now() + timeout;

    let seg = Segment::attach_shm(name, timeout)?;
    let mut consumer =
        Consumer::<ConformanceEvent>::register(&seg, &ConsumerOptions::required(cname)).map_err(
            |e| match e {
                Error::InvalidArgument(m) => Fail::usage(m),
                e => e.into(),
            },
        )?;
    let mut checker = Checker {
        next: vec![0; producers as usize],
        gaps: 0,
        failure: None,
    };
    let mut received = 0u64;
    let mut stop: Option<Fail> = None;
    while received < count && checker.failure.is_none() {
        let max = if batch {
            (count - received) as usize
        } else {
            1
        };
        let polled = match consumer.poll(max, |item, seq, _end_of_batch| checker.check(&item, seq))
        {
            Ok(p) => p,
            Err(e) => {
                stop = Some(e.into());
                break;
            }
        };
        received += polled.delivered as u64;
        if polled.delivered > 0 || polled.gaps > 0 {
            continue;
        }
        if polled.ended {
            checker.failure = Some(format!(
                "producer closed after {received} of {count} events"
            ));
            break;
        }
        if let Err(e) = consumer.wait(deadline) {
            stop = Some(e.into());
            break;
        }
    }
    let closed = consumer.close();
    if let Some(fail) = stop {
        return Err(fail);
    }
    if let Err(e) = closed {
        return Err(e.into());
    }
    let ok = checker.failure.is_none();
    println!(
        "{{\"event\":\"done\",\"consumer\":{},\"received\":{received},\"producers\":{producers},\"gaps\":{},\"ok\":{ok}}}",
        json_str(cname),
        checker.gaps
    );
    match checker.failure {
        None => Ok(()),
        Some(m) => Err(Fail::verify(m)),
    }
}

fn positional<'a>(args: &'a [String], n: usize, usage: &str) -> Result<Vec<&'a str>, Fail> {
    if args.len() != n || args.iter().any(|a| a.starts_with("--")) {
        return Err(Fail::usage(format!("usage: {usage}")));
    }
    Ok(args.iter().map(String::as_str).collect())
}

fn io_fail(e: std::io::Error) -> Fail {
    Fail {
        code: "io",
        message: e.to_string(),
    }
}

fn validate(args: &[String]) -> Out {
    let a = positional(args, 1, "validate FILE")?;
    let bytes = std::fs::read(a[0]).map_err(io_fail)?;
    let seg = Segment::from_image(&bytes)?;
    let g = seg.geometry();
    println!(
        "{{\"event\":\"valid\",\"major\":{},\"minor\":{},\"capacity\":{},\"slot_size\":{},\"mode\":\"{}\",\"registry\":{}}}",
        g.major,
        g.minor,
        g.capacity,
        g.slot_size,
        g.mode.as_str(),
        g.registry_capacity
    );
    Ok(())
}

fn golden_cmd(args: &[String]) -> Out {
    let a = positional(args, 2, "golden SCENARIO FILE")?;
    if !golden::SCENARIOS.contains(&a[0]) {
        return Err(Fail::usage(format!(
            "unknown scenario {:?}; one of {}",
            a[0],
            golden::SCENARIOS.join(", ")
        )));
    }
    let img = golden::image(a[0])?;
    std::fs::write(a[1], img).map_err(io_fail)
}

/// `snapshot --name NAME | --file PATH [--timeout-ms T]`: attaches (checks 1 to 12, waiting up
/// to T, default 0, for a segment still being created) and prints the segment's snapshot as Go's
/// JSON on one line.
fn snapshot(args: &[String]) -> Out {
    let f = Flags::parse(args, &["name", "file", "timeout-ms"], &[])?;
    let timeout = Duration::from_millis(f.num("timeout-ms", Some(0))?);
    let seg = match (f.values.get("name"), f.values.get("file")) {
        (Some(name), None) => Segment::attach_shm(name, timeout)?,
        (None, Some(path)) => Segment::attach_path(std::path::Path::new(path), timeout)?,
        _ => {
            return Err(Fail::usage(
                "snapshot needs one of --name NAME and --file PATH",
            ))
        }
    };
    println!("{}", seg.snapshot().to_json());
    Ok(())
}

fn run(args: &[String]) -> Out {
    let (cmd, rest) = args.split_first().ok_or_else(|| {
        Fail::usage("usage: ringwire-conformer produce|consume|validate|golden|name|snapshot ...")
    })?;
    match cmd.as_str() {
        "produce" => produce(rest),
        "consume" => consume(rest),
        "validate" => validate(rest),
        "golden" => golden_cmd(rest),
        "snapshot" => snapshot(rest),
        "name" => {
            let a = positional(rest, 1, "name LABEL")?;
            println!("{}", portable_name(a[0]));
            Ok(())
        }
        other => Err(Fail::usage(format!("unknown subcommand {other:?}"))),
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match run(&args) {
        Ok(()) => ExitCode::SUCCESS,
        Err(f) => {
            println!(
                "{{\"event\":\"error\",\"code\":\"{}\",\"message\":{}}}",
                f.code,
                json_str(&f.message)
            );
            ExitCode::from(f.exit_code())
        }
    }
}
