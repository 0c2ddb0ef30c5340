//! SPSC through the `disruptor` crate: a single-producer ring with one busy-spinning event
//! handler on its own pinned thread, the producer publishing from the (pinned) calling thread.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Instant;

use disruptor::{BusySpin, ProcessorSettings, Producer, Sequence};

use crate::common::{check_cpu, locked_version, pin_current, Config, LineEvent, Outcome};

const NO_ERROR: u64 = u64::MAX;

/// Runs on a fresh thread, so that pinning it as the producer leaves the caller's affinity alone
/// (and core_affinity, which lists the calling thread's allowed cpus, sees them all).
pub fn run(cfg: Config) -> Result<Outcome, String> {
    std::thread::scope(|s| {
        std::thread::Builder::new()
            .name("rb-disruptor-producer".into())
            .spawn_scoped(s, || run_on_this_thread(cfg))
            .map_err(|e| format!("spawn producer: {e}"))?
            .join()
            .map_err(|_| "producer thread panicked".to_string())?
    })
}

fn run_on_this_thread(cfg: Config) -> Result<Outcome, String> {
    if !cfg.capacity.is_power_of_two() || cfg.capacity < 2 {
        return Err(format!(
            "capacity {} is not a power of two >= 2",
            cfg.capacity
        ));
    }
    if cfg.batch == 0 || cfg.batch > cfg.capacity {
        return Err(format!("batch {} is not in 1..=capacity", cfg.batch));
    }
    // pin_at_core panics on an unknown core; turn that into an error first.
    check_cpu(cfg.consumer_cpu)?;
    check_cpu(cfg.producer_cpu)?;

    let events = cfg.events;
    let ready = Arc::new(AtomicBool::new(false));
    let done_at = Arc::new(OnceLock::<Instant>::new());
    // First sequence whose event was wrong, or NO_ERROR; written only by the handler.
    let first_bad = Arc::new(AtomicU64::new(NO_ERROR));

    let init = {
        let ready = Arc::clone(&ready);
        // Runs on the handler thread, after pinning, before its first wait.
        move || {
            ready.store(true, Ordering::Release);
            0u64 // the next sequence the handler expects
        }
    };
    let handler = {
        let done_at = Arc::clone(&done_at);
        let first_bad = Arc::clone(&first_bad);
        move |expected: &mut u64, e: &LineEvent, seq: Sequence, _end_of_batch: bool| {
            if (e.seq != *expected || seq as u64 != *expected)
                && first_bad.load(Ordering::Relaxed) == NO_ERROR
            {
                first_bad.store(*expected, Ordering::Relaxed);
            }
            *expected += 1;
            if *expected == events {
                let _ = done_at.set(Instant::now());
            }
        }
    };
    let mut producer = disruptor::build_single_producer(
        cfg.capacity,
        || LineEvent {
            seq: 0,
            payload: [0; 56],
        },
        BusySpin,
    )
    .pin_at_core(cfg.consumer_cpu)
    .thread_name("rb-disruptor-consumer")
    .handle_events_and_state_with(handler, init)
    .build();
    // Only now: the builder's own cpu check (pin_at_core) lists this thread's allowed cpus.
    pin_current(cfg.producer_cpu)?;

    while !ready.load(Ordering::Acquire) {
        std::hint::spin_loop();
    }
    let start = Instant::now();
    let mut next = 0u64;
    if cfg.batch == 1 {
        while next < events {
            producer.publish(|e| e.seq = next);
            next += 1;
        }
    } else {
        while next < events {
            let k = (events - next).min(cfg.batch as u64);
            let base = next;
            producer.batch_publish(k as usize, |iter| {
                for (i, e) in iter.enumerate() {
                    e.seq = base + i as u64;
                }
            });
            next += k;
        }
    }
    // Dropping the producer lets the handler drain to the last published sequence, then joins it.
    drop(producer);

    let bad = first_bad.load(Ordering::Relaxed);
    if bad != NO_ERROR {
        return Err(format!(
            "consumer: event at sequence {bad} held the wrong sequence"
        ));
    }
    let end = done_at
        .get()
        .ok_or_else(|| format!("consumer: did not reach event {events}"))?;
    let publish = if cfg.batch == 1 {
        "publish() one event at a time".to_string()
    } else {
        format!("batch_publish({})", cfg.batch)
    };
    Ok(Outcome {
        elapsed: end.duration_since(start),
        note: format!(
            "disruptor {}: build_single_producer(capacity {}, BusySpin), {publish}, producer writes \
             seq only; one event handler (batch consumption, verifies seq) pinned via \
             pin_at_core({}), producer pinned to cpu {}; 64-byte cache-line-aligned events",
            locked_version("disruptor"),
            cfg.capacity,
            cfg.consumer_cpu,
            cfg.producer_cpu
        ),
    })
}
