//! rwperf: produce or consume N 64-byte events over a named ringwire segment, for the
//! cross-language throughput benchmarks of `bench/crossproc.go`, or bounce events between two
//! rings for the latency benchmark of `bench/latency.go`. Same flags and JSON lines as
//! `bench/interop/c/rwperf.c`:
//!
//! ```text
//! rwperf produce --name /NAME --events N [--batch B] [--capacity C] [--cpu K]
//! rwperf consume --name /NAME --events N [--cpu K]
//! rwperf ping --name /THERE --back /BACK --events N --warmup W [--cpu K]
//! rwperf pong --name /THERE --back /BACK --events M [--cpu K]
//! rwperf consume-framed --name /NAME --events N [--cpu K]
//! rwperf consume-fixed --name /NAME --events N [--cpu K]
//! ```
//!
//! The event is Go's `bench.Event64` (descriptor `struct{u64@0,[56]u8@8}:64:8`); only the
//! sequence word is written and checked. Both sides busy-spin: the consumer on `poll` (which never
//! blocks), the producer on the consumer's cursor before each claim, so the crate's own wait
//! (yield, then futex) is never entered.
//!
//! ping creates /THERE (capacity 64) and registers on /BACK; W + N times it publishes sequence i
//! and busy-spins for pong's reply, reading CLOCK_MONOTONIC once per round trip, and prints one
//! JSON line `{"samples":N,"p50_ns":..,"p99_ns":..,"p999_ns":..,"max_ns":..,"mean_ns":..}` of
//! one-way latency (round trip / 2, nearest rank over the N measured round trips). pong creates
//! /BACK, registers on /THERE and echoes M events.
//!
//! consume-framed and consume-fixed are the Rust consumers of the framed group
//! (`bench/framedrows.go`): N variable-length messages from a Go producer, through a framed ring
//! (`FramedConsumer::read`, in place) or a ring of `bench.fixedMessage` events (a u32 length, a
//! u32 pad, 512 bytes of room; `Consumer::read`, in place, `length` bytes each). Every byte goes
//! into the checksum of `bench/messages.go` (`msg_sum`, `fold`), printed with the count and the
//! payload bytes (`"bytes"`, `"checksum"`) for the harness to check.

use std::process::exit;
use std::time::Duration;

use ringwire::{
    monotonic_ns, Backing, Config, Consumer, ConsumerOptions, Event, FramedConsumer, MessageItem,
    Producer, ProducerMode, Segment, Start, WaitStrategy,
};

#[derive(Clone, Copy, Default)]
struct Event64 {
    seq: u64,
}

impl Event for Event64 {
    const DESCRIPTOR: &'static str = "struct{u64@0,[56]u8@8}:64:8";
    const TYPE_NAME: &'static str = "bench.Event64";
    fn encode(&self, out: &mut [u8]) {
        out[..8].copy_from_slice(&self.seq.to_le_bytes());
    }
    fn decode(bytes: &[u8]) -> Self {
        Event64 {
            seq: u64::from_le_bytes(bytes[..8].try_into().expect("8 bytes")),
        }
    }
}

fn fail(what: &str, err: impl std::fmt::Display) -> ! {
    eprintln!("rwperf: {what}: {err}");
    exit(1)
}

fn pin(cpu: i64) {
    if cpu < 0 {
        return;
    }
    // SAFETY: a zeroed cpu_set_t is a valid empty set; sched_setaffinity reads it.
    unsafe {
        let mut set: libc_cpu_set = std::mem::zeroed();
        set.bits[(cpu / 64) as usize] |= 1u64 << (cpu % 64);
        if sched_setaffinity(0, std::mem::size_of::<libc_cpu_set>(), &set) != 0 {
            eprintln!("rwperf: sched_setaffinity failed");
        }
    }
}

#[repr(C)]
struct libc_cpu_set {
    bits: [u64; 16],
}

extern "C" {
    fn sched_setaffinity(pid: i32, size: usize, set: *const libc_cpu_set) -> i32;
}

fn report(role: &str, n: u64, start: u64, end: u64, batch: u64) {
    println!(
        "{{\"lang\":\"rust\",\"role\":\"{role}\",\"events\":{n},\"batch\":{batch},\"start_ns\":{start},\"end_ns\":{end},\"seconds\":{:.9}}}",
        (end - start) as f64 / 1e9
    );
}

fn produce(name: &str, n: u64, batch: u64, capacity: u64) {
    let cfg = Config {
        capacity,
        registry_capacity: 4,
        mode: ProducerMode::Single,
        ..Config::default()
    };
    let mut p: Producer<Event64> =
        Producer::create(Backing::Shm(name), &cfg).unwrap_or_else(|e| fail("create", e));
    // It busy-spins: not a blocker, so wakers may take the release-store fast path (spec 5.6).
    p.set_wait_strategy(WaitStrategy::Spin);
    let seg: Segment = p.segment().clone();
    let deadline = monotonic_ns() + 10_000_000_000;
    while seg.active_consumers() == 0 {
        if monotonic_ns() > deadline {
            let _ = ringwire::unlink_shm(name);
            fail("wait", "no consumer registered");
        }
        std::thread::yield_now();
    }
    let mut bound = 0u64;
    let start = monotonic_ns();
    let mut i = 0u64;
    while i < n {
        let k = (n - i).min(batch);
        while i + k > bound + capacity {
            // Busy-spin for room: the lowest cursor of the registered consumers.
            bound = seg
                .registry()
                .iter()
                .map(|e| e.cursor)
                .min()
                .unwrap_or(u64::MAX / 2);
        }
        // Zero-copy, as the Go and C producers: the sequence written into each slot in place.
        let mut claim = p.claim(k as usize).unwrap_or_else(|e| fail("claim", e));
        let stride = claim.stride();
        let (a, b) = claim.slots_mut();
        for (slot, s) in a
            .chunks_exact_mut(stride)
            .chain(b.chunks_exact_mut(stride))
            .zip(i..)
        {
            slot[..8].copy_from_slice(&s.to_le_bytes());
        }
        claim.publish();
        i += k;
    }
    let end = monotonic_ns();
    let _ = p.close();
    report("producer", n, start, end, batch);
    let _ = ringwire::unlink_shm(name);
}

fn consume(name: &str, n: u64) {
    let seg =
        Segment::attach_shm(name, Duration::from_secs(10)).unwrap_or_else(|e| fail("attach", e));
    let mut opts = ConsumerOptions::required("bench");
    opts.start = Start::Latest;
    opts.wait_strategy = WaitStrategy::Spin;
    let mut c: Consumer<Event64> =
        Consumer::register(&seg, &opts).unwrap_or_else(|e| fail("register", e));
    let mut start = 0u64;
    let mut got = 0u64;
    let mut bad: Option<(u64, u64)> = None;
    while got < n {
        let polled = c
            .poll(usize::MAX / 2, |ev, s, _| {
                // A gap (None) cannot occur in single-producer mode; count it as wrong.
                let v = ev.event().map_or(u64::MAX, |e| e.seq);
                if v != s && bad.is_none() {
                    bad = Some((s, v));
                }
            })
            .unwrap_or_else(|e| fail("poll", e));
        if polled.delivered > 0 && start == 0 {
            start = monotonic_ns();
        }
        got += polled.delivered as u64;
        if let Some((s, v)) = bad {
            fail("check", format!("event {s} holds {v}"));
        }
        if polled.ended && got < n {
            fail("consume", format!("stream ended after {got} of {n} events"));
        }
    }
    let end = monotonic_ns();
    report("consumer", n, start, end, 0);
    let _ = c.close();
}

/// How long (ns) the ping-pong waits for the peer's ring, for the peer's registration, or for the
/// next event (that last one measured only every `STALL_SPINS` empty reads).
const PP_TIMEOUT_NS: u64 = 10_000_000_000;

/// Empty reads in a row between two looks at the clock (a few hundred milliseconds; a round trip
/// takes a few hundred nanoseconds, so never while measuring).
const STALL_SPINS: u32 = 1 << 22;

/// `fail`, after removing this side's ring `own`.
fn fail_unlink(own: &str, what: &str, err: impl std::fmt::Display) -> ! {
    let _ = ringwire::unlink_shm(own);
    fail(what, err)
}

/// One ring of the ping-pong: created here as its producer (single mode, capacity 64, two
/// registry entries), spinning.
fn pp_create(name: &str) -> Producer<Event64> {
    let cfg = Config {
        capacity: 64,
        registry_capacity: 2,
        mode: ProducerMode::Single,
        ..Config::default()
    };
    let mut p: Producer<Event64> =
        Producer::create(Backing::Shm(name), &cfg).unwrap_or_else(|e| fail("create", e));
    p.set_wait_strategy(WaitStrategy::Spin);
    p
}

/// The other ring: attached (waiting up to 10 s) and registered on as required consumer `who`
/// from the latest event, spinning. `own` is this side's ring, removed on failure.
fn pp_attach(name: &str, who: &str, own: &str) -> Consumer<Event64> {
    let seg = Segment::attach_shm(name, Duration::from_nanos(PP_TIMEOUT_NS))
        .unwrap_or_else(|e| fail_unlink(own, "attach", e));
    let mut opts = ConsumerOptions::required(who);
    opts.start = Start::Latest;
    opts.wait_strategy = WaitStrategy::Spin;
    Consumer::register(&seg, &opts).unwrap_or_else(|e| fail_unlink(own, "register", e))
}

/// Waits (yielding, up to 10 s) until a consumer is registered on this side's ring `own`.
fn pp_await_consumer(p: &Producer<Event64>, own: &str) {
    let seg = p.segment();
    let deadline = monotonic_ns() + PP_TIMEOUT_NS;
    while seg.active_consumers() == 0 {
        if monotonic_ns() > deadline {
            fail_unlink(own, "wait", format!("no consumer registered on {own}"));
        }
        std::thread::yield_now();
    }
}

/// Publishes one event holding `v`, zero-copy (the claim never waits: one event in flight).
#[inline(always)]
fn pp_send(p: &mut Producer<Event64>, v: u64, own: &str) {
    let mut claim = p.claim(1).unwrap_or_else(|e| fail_unlink(own, "claim", e));
    claim.slot_mut(0)[..8].copy_from_slice(&v.to_le_bytes());
    claim.publish();
}

/// Busy-spins until the next event of `c` is published, then reads its sequence word in place
/// and releases it. The spin is on `read(1)`, which never blocks and returns an empty batch while
/// nothing is available, so the event is handed over by the same call that sees it published.
/// No allocation or syscall here; the crate itself reads CLOCK_MONOTONIC (vDSO) in every `read`
/// (the entry's heartbeat) and in an empty one (poison check), and in every `claim`. Spinning on
/// `Segment::counts` instead and calling `read` once was slower (p50 245 against 178 ns one way
/// on a 2-core VM): the clock read of that `read` then comes after the event is seen.
#[inline(always)]
fn pp_receive(c: &mut Consumer<Event64>, own: &str) -> u64 {
    let mut spins = 0u32;
    let mut since = 0u64;
    loop {
        let batch = c.read(1).unwrap_or_else(|e| fail_unlink(own, "read", e));
        if !batch.is_empty() {
            let v = batch.bytes(batch.first()).map_or(u64::MAX, |b| {
                u64::from_le_bytes(b[..8].try_into().expect("8 bytes"))
            });
            batch.release();
            return v;
        }
        if batch.ended() {
            fail_unlink(own, "read", "the peer closed its ring");
        }
        spins = spins.wrapping_add(1);
        if spins.is_multiple_of(STALL_SPINS) {
            pp_stalled(&mut since, own);
        }
    }
}

/// Out of the hot path, after `STALL_SPINS` empty reads in a row: fails after 10 s without an
/// event (a peer that died without closing its ring).
#[cold]
#[inline(never)]
fn pp_stalled(since: &mut u64, own: &str) {
    let now = monotonic_ns();
    if *since == 0 {
        *since = now;
    } else if now - *since > PP_TIMEOUT_NS {
        fail_unlink(own, "read", "no event within 10 s");
    }
}

fn ping(there: &str, back: &str, n: u64, warmup: u64) {
    let mut p = pp_create(there);
    let mut c = pp_attach(back, "ping", there);
    pp_await_consumer(&p, there);
    let mut rtt = vec![0u64; n as usize];
    let mut prev = monotonic_ns();
    for i in 0..warmup + n {
        pp_send(&mut p, i, there);
        let v = pp_receive(&mut c, there);
        let now = monotonic_ns();
        if v != i {
            fail_unlink(there, "check", format!("pong answered {v} to {i}"));
        }
        if i >= warmup {
            rtt[(i - warmup) as usize] = now - prev;
        }
        prev = now;
    }
    rtt.sort_unstable();
    // Nearest rank: the smallest sample with at least q * n samples at or below it.
    let rank = |q: f64| rtt[((q * n as f64).ceil() as usize).clamp(1, rtt.len()) - 1] as f64 / 2.0;
    let mean = rtt.iter().map(|&v| v as f64).sum::<f64>() / n as f64 / 2.0;
    println!(
        "{{\"samples\":{n},\"p50_ns\":{:.1},\"p99_ns\":{:.1},\"p999_ns\":{:.1},\"max_ns\":{:.1},\"mean_ns\":{mean:.1}}}",
        rank(0.50),
        rank(0.99),
        rank(0.999),
        rtt[rtt.len() - 1] as f64 / 2.0,
    );
    let _ = p.close();
    drop(p);
    let _ = c.close();
    let _ = ringwire::unlink_shm(there);
}

fn pong(there: &str, back: &str, m: u64) {
    let mut p = pp_create(back);
    let mut c = pp_attach(there, "pong", back);
    pp_await_consumer(&p, back);
    for _ in 0..m {
        let v = pp_receive(&mut c, back);
        pp_send(&mut p, v, back);
    }
    let _ = p.close();
    drop(p);
    let _ = c.close();
    let _ = ringwire::unlink_shm(back);
}

/// `bench.fixedMessage`: a u32 length, a u32 pad, 512 bytes of room. Read in place
/// (`Batch::bytes`); `decode` keeps only the length, and nothing here encodes one.
#[derive(Clone, Copy, Default)]
struct FixedMessage {
    len: u32,
}

/// Offset of the payload in a `FixedMessage`, and its room.
const FIXED_PAYLOAD: usize = 8;
const FIXED_ROOM: usize = 512;

impl Event for FixedMessage {
    const DESCRIPTOR: &'static str = "struct{u32@0,u32@4,[512]u8@8}:520:4";
    const TYPE_NAME: &'static str = "bench.fixedMessage";
    fn encode(&self, out: &mut [u8]) {
        out[..4].copy_from_slice(&self.len.to_le_bytes());
    }
    fn decode(bytes: &[u8]) -> Self {
        FixedMessage {
            len: u32::from_le_bytes(bytes[..4].try_into().expect("4 bytes")),
        }
    }
}

/// The wrapping sum of the message's little-endian 64-bit words, the last partial word
/// zero-extended: `bench/messages.go` `msgSum`, every byte read.
#[inline(always)]
fn msg_sum(b: &[u8]) -> u64 {
    let word = |c: &[u8]| u64::from_le_bytes(c[..8].try_into().expect("8 bytes"));
    let mut chunks = b.chunks_exact(16);
    let (mut s0, mut s1) = (0u64, 0u64);
    for c in &mut chunks {
        s0 = s0.wrapping_add(word(c));
        s1 = s1.wrapping_add(word(&c[8..]));
    }
    let mut rest = chunks.remainder();
    if rest.len() >= 8 {
        s0 = s0.wrapping_add(word(rest));
        rest = &rest[8..];
    }
    let mut t = 0u64;
    for (j, &x) in rest.iter().enumerate() {
        t |= (x as u64) << (8 * j);
    }
    s0.wrapping_add(s1).wrapping_add(t)
}

/// The stream checksum after one more message (`bench/messages.go` `fold`).
#[inline(always)]
fn fold(c: u64, sum: u64, n: usize) -> u64 {
    c.rotate_left(7) ^ sum.wrapping_add(n as u64)
}

fn report_messages(n: u64, bytes: u64, sum: u64, start: u64, end: u64) {
    println!(
        "{{\"lang\":\"rust\",\"role\":\"consumer\",\"events\":{n},\"batch\":0,\"bytes\":{bytes},\"checksum\":{sum},\"start_ns\":{start},\"end_ns\":{end},\"seconds\":{:.9}}}",
        (end - start) as f64 / 1e9
    );
}

fn message_options() -> ConsumerOptions {
    let mut opts = ConsumerOptions::required("bench");
    opts.start = Start::Latest;
    opts.wait_strategy = WaitStrategy::Spin;
    opts
}

/// Reads n messages of a framed ring in place, up to 256 per read, spinning on `read` (which
/// never blocks) while nothing is there.
fn consume_framed(name: &str, n: u64) {
    let seg =
        Segment::attach_shm(name, Duration::from_secs(10)).unwrap_or_else(|e| fail("attach", e));
    let mut c =
        FramedConsumer::register(&seg, &message_options()).unwrap_or_else(|e| fail("register", e));
    let (mut start, mut got, mut bytes, mut sum) = (0u64, 0u64, 0u64, 0u64);
    while got < n {
        let batch = c.read(256).unwrap_or_else(|e| fail("read", e));
        if batch.is_empty() {
            if batch.ended() {
                fail(
                    "consume",
                    format!("stream ended after {got} of {n} messages"),
                );
            }
            continue;
        }
        if start == 0 {
            start = monotonic_ns();
        }
        for (seq, item) in batch.iter() {
            match item {
                MessageItem::Message(m) => {
                    sum = fold(sum, msg_sum(m), m.len());
                    bytes += m.len() as u64;
                    got += 1;
                }
                MessageItem::Gap { slots } => {
                    fail("read", format!("a gap of {slots} slots at {seq}"))
                }
            }
        }
        batch.release();
    }
    let end = monotonic_ns();
    report_messages(got, bytes, sum, start, end);
    let _ = c.close();
}

/// Reads n `FixedMessage` events in place, up to 256 per read, checksumming `length` bytes of
/// each.
fn consume_fixed(name: &str, n: u64) {
    let seg =
        Segment::attach_shm(name, Duration::from_secs(10)).unwrap_or_else(|e| fail("attach", e));
    let mut c: Consumer<FixedMessage> =
        Consumer::register(&seg, &message_options()).unwrap_or_else(|e| fail("register", e));
    let (mut start, mut got, mut bytes, mut sum) = (0u64, 0u64, 0u64, 0u64);
    while got < n {
        let batch = c
            .read((n - got).min(256) as usize)
            .unwrap_or_else(|e| fail("read", e));
        if batch.is_empty() {
            if batch.ended() {
                fail(
                    "consume",
                    format!("stream ended after {got} of {n} messages"),
                );
            }
            continue;
        }
        if start == 0 {
            start = monotonic_ns();
        }
        for s in batch.first()..batch.end() {
            let e = batch
                .bytes(s)
                .unwrap_or_else(|| fail("read", format!("a gap at {s}")));
            let len = u32::from_le_bytes(e[..4].try_into().expect("4 bytes")) as usize;
            if len > FIXED_ROOM {
                fail("read", format!("event {s}: length {len} over {FIXED_ROOM}"));
            }
            let m = &e[FIXED_PAYLOAD..FIXED_PAYLOAD + len];
            sum = fold(sum, msg_sum(m), len);
            bytes += len as u64;
            got += 1;
        }
        batch.release();
    }
    let end = monotonic_ns();
    report_messages(got, bytes, sum, start, end);
    let _ = c.close();
}

fn num(s: &str) -> u64 {
    s.replace('_', "").parse().unwrap_or_else(|_| {
        eprintln!("rwperf: bad number {s}");
        exit(64)
    })
}

fn main() {
    let args: Vec<String> = std::env::args().collect();
    if args.len() < 2 {
        eprintln!("usage: rwperf produce|consume --name /NAME --events N [--batch B] [--capacity C] [--cpu K]");
        eprintln!("       rwperf consume-framed|consume-fixed --name /NAME --events N [--cpu K]");
        eprintln!(
            "       rwperf ping|pong --name /THERE --back /BACK --events N [--warmup W] [--cpu K]"
        );
        exit(64);
    }
    let (mut name, mut n, mut batch, mut capacity, mut cpu) =
        (String::new(), 1_000_000, 64, 4096, -1i64);
    let (mut back, mut warmup) = (String::new(), 0u64);
    let mut it = args[2..].iter();
    while let Some(f) = it.next() {
        let v = it.next().unwrap_or_else(|| {
            eprintln!("rwperf: {f} needs a value");
            exit(64)
        });
        match f.as_str() {
            "--name" => name = v.clone(),
            "--events" => n = num(v),
            "--batch" => batch = num(v),
            "--capacity" => capacity = num(v),
            "--cpu" => cpu = num(v) as i64,
            "--back" => back = v.clone(),
            "--warmup" => warmup = num(v),
            _ => {
                eprintln!("rwperf: unknown flag {f}");
                exit(64)
            }
        }
    }
    if name.is_empty() || batch == 0 || batch > capacity || n == 0 {
        eprintln!("rwperf: need --name, 1 <= batch <= capacity, events > 0");
        exit(64);
    }
    let role = args[1].as_str();
    if (role == "ping" || role == "pong") && (back.is_empty() || back == name) {
        eprintln!("rwperf: {role} needs --back, another name than --name");
        exit(64);
    }
    pin(cpu);
    match role {
        "produce" => produce(&name, n, batch, capacity),
        "consume" => consume(&name, n),
        "consume-framed" => consume_framed(&name, n),
        "consume-fixed" => consume_fixed(&name, n),
        "ping" => ping(&name, &back, n, warmup),
        "pong" => pong(&name, &back, n),
        r => {
            eprintln!("rwperf: unknown role {r}");
            exit(64)
        }
    }
}
