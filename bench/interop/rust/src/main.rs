//! rwperf: produce or consume N 64-byte events over a named ringwire segment, for the
//! cross-language throughput benchmarks of `bench/crosslang.go`. Same flags and JSON line as
//! `bench/interop/c/rwperf.c`:
//!
//! ```text
//! rwperf produce --name /NAME --events N [--batch B] [--capacity C] [--cpu K]
//! rwperf consume --name /NAME --events N [--cpu K]
//! ```
//!
//! The event is Go's `bench.Event64` (descriptor `struct{u64@0,[56]u8@8}:64:8`); only the
//! sequence word is written and checked. Both sides busy-spin: the consumer on `poll` (which never
//! blocks), the producer on the consumer's cursor before each claim, so the crate's own wait
//! (yield, then futex) is never entered.

use std::process::exit;
use std::time::Duration;

use ringwire::{
    monotonic_ns, Backing, Config, Consumer, ConsumerOptions, Event, Producer, ProducerMode,
    Segment, Start,
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
    p.set_wait(ringwire::WaitMode::Spin);
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
    opts.wait = ringwire::WaitMode::Spin;
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
        exit(64);
    }
    let (mut name, mut n, mut batch, mut capacity, mut cpu) =
        (String::new(), 1_000_000, 64, 4096, -1i64);
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
    pin(cpu);
    match args[1].as_str() {
        "produce" => produce(&name, n, batch, capacity),
        "consume" => consume(&name, n),
        r => {
            eprintln!("rwperf: unknown role {r}");
            exit(64)
        }
    }
}
