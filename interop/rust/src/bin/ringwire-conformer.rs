//! The Rust conformer: the command-line program of conformance/PROTOCOL.md.
//!
//! Subcommands `produce`, `consume`, `validate`, `golden`, `name` and `snapshot`; one JSON
//! object a line on standard output; exit codes 0 success, 1 verification failed, 2 usage, 3 segment error, 4 I/O.

use std::collections::HashMap;
use std::process::ExitCode;
use std::time::{Duration, Instant};

use ringwire::conformance::{
    fill_framed, framed_len, framed_message, golden, kill_self, ConformanceEvent, FRAMED_TYPE_NAME,
};
use ringwire::{
    portable_name, unlink_shm, Backing, Config, Consumer, ConsumerOptions, Error, FrameConfig,
    FramedConsumer, FramedProducer, Item, MessageItem, Producer, ProducerMode, ProducerState,
    Segment,
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

/// The producer of `produce`: of conformance events, or of framed conformance messages.
enum AnyProducer {
    Fixed(Producer<ConformanceEvent>),
    Framed(FramedProducer),
}

impl AnyProducer {
    fn heartbeat(&self) {
        match self {
            AnyProducer::Fixed(p) => p.heartbeat(),
            AnyProducer::Framed(p) => p.heartbeat(),
        }
    }
    fn segment(&self) -> &Segment {
        match self {
            AnyProducer::Fixed(p) => p.segment(),
            AnyProducer::Framed(p) => p.segment(),
        }
    }
    fn set_timeout(&mut self, t: Duration) {
        match self {
            AnyProducer::Fixed(p) => p.set_timeout(t),
            AnyProducer::Framed(p) => p.set_timeout(t),
        }
    }
    fn close(&mut self) -> Result<(), Error> {
        match self {
            AnyProducer::Fixed(p) => p.close(),
            AnyProducer::Framed(p) => p.close(),
        }
    }
    fn evict_dead_consumers(&self) -> usize {
        match self {
            AnyProducer::Fixed(p) => p.evict_dead_consumers(),
            AnyProducer::Framed(p) => p.evict_dead_consumers(),
        }
    }
}

/// Polls `cond` every millisecond until it holds or `deadline` passes, refreshing the
/// producer's heartbeat at least once a second meanwhile (spec 8: the creator waiting for
/// consumers or producers).
fn wait_for(producer: &AnyProducer, deadline: Instant, mut cond: impl FnMut() -> bool) -> bool {
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
            "slot-size",
            "max-message",
            "die-mid-frame",
        ],
        &["attach", "framed"],
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
    let framed = f.has("framed");
    if !framed
        && ["slot-size", "max-message", "die-mid-frame"]
            .iter()
            .any(|v| f.values.contains_key(*v))
    {
        return Err(Fail::usage(
            "--slot-size, --max-message and --die-mid-frame need --framed",
        ));
    }
    let die_at = match f.values.get("die-mid-frame") {
        Some(_) => Some(f.num("die-mid-frame", None)?),
        None => None,
    };
    let slot_size = f.num("slot-size", Some(64))?;
    let max_message = f.num("max-message", Some(0))?;
    let frames = FrameConfig {
        slot_size: u32::try_from(slot_size).map_err(|_| Fail::usage("--slot-size too large"))?,
        max_message: u32::try_from(max_message)
            .map_err(|_| Fail::usage("--max-message too large"))?,
        type_name: FRAMED_TYPE_NAME.to_string(),
    };

    let mut producer = if attach {
        let seg = Segment::attach_shm(name, timeout)?;
        if framed {
            AnyProducer::Framed(FramedProducer::register(&seg)?)
        } else {
            AnyProducer::Fixed(Producer::<ConformanceEvent>::register(&seg)?)
        }
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
            frames: framed.then_some(frames),
            ..Config::default()
        };
        let usage = |e| match e {
            Error::InvalidArgument(m) => Fail::usage(m),
            e => e.into(),
        };
        if framed {
            AnyProducer::Framed(FramedProducer::create(Backing::Shm(name), &cfg).map_err(usage)?)
        } else {
            AnyProducer::Fixed(
                Producer::<ConformanceEvent>::create(Backing::Shm(name), &cfg).map_err(usage)?,
            )
        }
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
        die_at,
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

#[allow(clippy::too_many_arguments)]
fn publish_all(
    producer: &mut AnyProducer,
    seg: &Segment,
    want_consumers: usize,
    count: u64,
    producer_id: u64,
    batch: u64,
    timeout: Duration,
    die_at: Option<u64>,
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
    let producer = match producer {
        AnyProducer::Fixed(p) => p,
        AnyProducer::Framed(p) => {
            return publish_framed(p, count, producer_id, batch, die_at);
        }
    };
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

/// Publishes the framed conformance messages k = 0..count-1 of producer `p`, up to `batch` of
/// them per claim (fewer when a batch's claim could exceed the ring, spec 11.2 step 1). With
/// `die_at` = D: claims the frame of message D, writes its header (the claim does) and the
/// first half of its payload, and kills itself with SIGKILL before publishing.
fn publish_framed(
    producer: &mut FramedProducer,
    count: u64,
    p: u64,
    batch: u64,
    die_at: Option<u64>,
) -> Out {
    let g = producer.frame_geometry();
    let m = g.max_message;
    let end = die_at.map_or(count, |d| d.min(count));
    let mut k = 0;
    while k < end {
        let mut msgs = Vec::new();
        let (mut slots, mut largest) = (0, 0);
        while k < end && (msgs.len() as u64) < batch {
            let len = framed_len(k, p, m);
            let s = g.slots_for(len as u64);
            if !msgs.is_empty() && slots + s + largest.max(s) - 1 > g.capacity {
                break;
            }
            slots += s;
            largest = largest.max(s);
            msgs.push(framed_message(k, p, len));
            k += 1;
        }
        let refs: Vec<&[u8]> = msgs.iter().map(Vec::as_slice).collect();
        producer.publish_batch(&refs)?;
    }
    if let Some(d) = die_at.filter(|&d| d < count) {
        let len = framed_len(d, p, m);
        let mut claim = producer.claim(len)?;
        fill_framed(d, p, &mut claim.payload()[..len / 2]);
        kill_self();
    }
    Ok(())
}

/// The end of both consume roles: a failure that stopped the reading, then the close's, then the
/// `done` line and the verdict of the checks.
fn done(
    stop: Option<Fail>,
    closed: Out,
    cname: &str,
    received: u64,
    producers: u64,
    gaps: u64,
    failure: Option<String>,
) -> Out {
    if let Some(fail) = stop {
        return Err(fail);
    }
    closed?;
    let ok = failure.is_none();
    println!(
        "{{\"event\":\"done\",\"consumer\":{},\"received\":{received},\"producers\":{producers},\"gaps\":{gaps},\"ok\":{ok}}}",
        json_str(cname)
    );
    match failure {
        None => Ok(()),
        Some(m) => Err(Fail::verify(m)),
    }
}

/// Per-producer check of the framed conformance stream (PROTOCOL.md, "The framed conformance
/// message").
struct FramedChecker {
    next: Vec<u64>,
    max_message: u32,
    /// Sequences passed over as gaps (spec 11.3 steps 1 and 4).
    gaps: u64,
    failure: Option<String>,
}

impl FramedChecker {
    fn check(&mut self, seq: u64, msg: &[u8]) {
        if self.failure.is_some() {
            return;
        }
        let Some(&p) = msg.first() else {
            self.failure = Some(format!("sequence {seq}: empty message"));
            return;
        };
        let p = u64::from(p);
        let Some(k) = self.next.get(p as usize).copied() else {
            self.failure = Some(format!("sequence {seq}: unknown producer {p}"));
            return;
        };
        let len = framed_len(k, p, self.max_message);
        if msg.len() != len {
            self.failure = Some(format!(
                "sequence {seq}: producer {p} message {k} has {} bytes, F(k, p) = {len}",
                msg.len()
            ));
        } else if msg != framed_message(k, p, len).as_slice() {
            self.failure = Some(format!(
                "sequence {seq}: producer {p} message {k} is not the conformance message (lost, reordered or corrupt)"
            ));
        } else {
            self.next[p as usize] += 1;
        }
    }
}

/// `consume --framed`: reads N framed conformance messages (spec 11.3), in place.
fn consume_framed(
    seg: &Segment,
    cname: &str,
    count: u64,
    producers: u64,
    batch: bool,
    deadline: Instant,
) -> Out {
    let mut consumer =
        FramedConsumer::register(seg, &ConsumerOptions::required(cname)).map_err(|e| match e {
            Error::InvalidArgument(m) => Fail::usage(m),
            e => e.into(),
        })?;
    let mut checker = FramedChecker {
        next: vec![0; producers as usize],
        max_message: consumer.frame_geometry().max_message,
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
        let b = match consumer.read(max) {
            Ok(b) => b,
            Err(e) => {
                stop = Some(e.into());
                break;
            }
        };
        for (seq, item) in b.iter() {
            match item {
                MessageItem::Message(bytes) => {
                    checker.check(seq, bytes);
                    received += 1;
                }
                MessageItem::Gap { slots } => checker.gaps += slots,
            }
        }
        let (moved, ended) = (b.end() > b.first(), b.ended());
        drop(b);
        if moved {
            continue;
        }
        if ended {
            checker.failure = Some(format!(
                "producer closed after {received} of {count} messages"
            ));
            break;
        }
        if let Err(e) = consumer.wait(deadline) {
            stop = Some(e.into());
            break;
        }
    }
    let closed = consumer.close().map_err(Fail::from);
    done(
        stop,
        closed,
        cname,
        received,
        producers,
        checker.gaps,
        checker.failure,
    )
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
        &["batch", "framed"],
    )?;
    let name = f.str("name")?;
    let cname = f.str("consumer")?;
    let count = f.num("count", None)?;
    let producers = f.num("producers", Some(1))?;
    let timeout = Duration::from_millis(f.num("timeout-ms", Some(20000))?);
    let batch = f.has("batch");
    let deadline = Instant::now() + timeout;

    let seg = Segment::attach_shm(name, timeout)?;
    if f.has("framed") {
        return consume_framed(&seg, cname, count, producers, batch, deadline);
    }
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
    let closed = consumer.close().map_err(Fail::from);
    done(
        stop,
        closed,
        cname,
        received,
        producers,
        checker.gaps,
        checker.failure,
    )
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
    // A framed ring: check 14 too, and its frame geometry in the line.
    let framed = if g.payload_kind == 1 {
        let fg = seg.frame_geometry()?;
        format!(
            ",\"payload_kind\":1,\"frame_header_len\":{},\"max_message\":{}",
            fg.header_len, fg.max_message
        )
    } else {
        String::new()
    };
    println!(
        "{{\"event\":\"valid\",\"major\":{},\"minor\":{},\"capacity\":{},\"slot_size\":{},\"mode\":\"{}\",\"registry\":{}{framed}}}",
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
