//! SPSC through a bounded `crossbeam-channel`: 64-byte events moved by value, both ends
//! busy-spinning on try_send / try_recv on two pinned threads.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::thread;
use std::time::Instant;

use crossbeam_channel::{bounded, TryRecvError, TrySendError};

use crate::common::{check_cpu, locked_version, pin_current, Config, Event64, Outcome};

/// Runs on a fresh thread, so that pinning it as the producer leaves the caller's affinity alone.
pub fn run(cfg: Config) -> Result<Outcome, String> {
    thread::scope(|s| {
        thread::Builder::new()
            .name("rb-crossbeam-producer".into())
            .spawn_scoped(s, || run_on_this_thread(cfg))
            .map_err(|e| format!("spawn producer: {e}"))?
            .join()
            .map_err(|_| "producer thread panicked".to_string())?
    })
}

fn run_on_this_thread(cfg: Config) -> Result<Outcome, String> {
    check_cpu(cfg.consumer_cpu)?;
    check_cpu(cfg.producer_cpu)?;
    pin_current(cfg.producer_cpu)?;
    let events = cfg.events;
    let (tx, rx) = bounded::<Event64>(cfg.capacity);
    let ready = Arc::new(AtomicBool::new(false));
    let consumer = {
        let ready = Arc::clone(&ready);
        let cpu = cfg.consumer_cpu;
        thread::Builder::new()
            .name("rb-crossbeam-consumer".into())
            .spawn(move || -> Result<Instant, String> {
                pin_current(cpu)?;
                ready.store(true, Ordering::Release);
                let mut expected = 0u64;
                while expected < events {
                    match rx.try_recv() {
                        Ok(e) if e.seq == expected => expected += 1,
                        Ok(e) => {
                            return Err(format!("consumer: expected seq {expected}, got {}", e.seq))
                        }
                        Err(TryRecvError::Empty) => {}
                        Err(TryRecvError::Disconnected) => {
                            return Err(format!("consumer: disconnected at seq {expected}"))
                        }
                    }
                }
                Ok(Instant::now())
            })
            .map_err(|e| format!("spawn consumer: {e}"))?
    };

    while !ready.load(Ordering::Acquire) {
        if consumer.is_finished() {
            break; // it failed before getting ready; join below reports why
        }
        std::hint::spin_loop();
    }
    let start = Instant::now();
    'produce: for seq in 0..events {
        let mut ev = Event64 {
            seq,
            payload: [0; 56],
        };
        loop {
            match tx.try_send(ev) {
                Ok(()) => break,
                Err(TrySendError::Full(back)) => ev = back,
                Err(TrySendError::Disconnected(_)) => break 'produce, // consumer failed
            }
        }
    }
    drop(tx);
    let end = consumer
        .join()
        .map_err(|_| "consumer thread panicked".to_string())??;
    Ok(Outcome {
        elapsed: end.duration_since(start),
        note: format!(
            "crossbeam-channel {}: bounded({}), 64-byte events by value, busy-spin on \
             try_send/try_recv, producer pinned to cpu {}, consumer thread to cpu {}",
            locked_version("crossbeam-channel"),
            cfg.capacity,
            cfg.producer_cpu,
            cfg.consumer_cpu
        ),
    })
}
