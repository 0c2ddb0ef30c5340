//! rust-baselines: in-process SPSC throughput of 64-byte events between two pinned threads,
//! through the `disruptor` crate and through a bounded `crossbeam-channel`, printed as one JSON
//! line per run per baseline for the ringwire benchmark harness (see ../README.md).

mod common;
#[cfg(feature = "crossbeam")]
mod crossbeam_spsc;
#[cfg(feature = "disruptor")]
mod disruptor_spsc;

use std::process::ExitCode;

use common::{Config, Outcome};

const USAGE: &str = "usage: rust-baselines [flags]
  --events N         events per run (default 20000000)
  --runs K           runs; each prints one line per baseline (default 1)
  --capacity C       ring / channel capacity, a power of two (default 4096)
  --batch B          disruptor events per batch_publish; 1 = publish() (default 64)
  --only NAME        run only `disruptor` or `crossbeam`
  --producer-cpu N   (default 0)    --consumer-cpu N  (default 1)";

#[derive(Clone, Copy, PartialEq)]
enum Which {
    Disruptor,
    Crossbeam,
}

impl Which {
    fn label(self) -> &'static str {
        match self {
            Which::Disruptor => "rust-disruptor",
            Which::Crossbeam => "crossbeam-channel",
        }
    }

    fn run(self, cfg: Config) -> Result<Outcome, String> {
        match self {
            #[cfg(feature = "disruptor")]
            Which::Disruptor => disruptor_spsc::run(cfg),
            #[cfg(not(feature = "disruptor"))]
            Which::Disruptor => Err(not_built("disruptor")),
            #[cfg(feature = "crossbeam")]
            Which::Crossbeam => crossbeam_spsc::run(cfg),
            #[cfg(not(feature = "crossbeam"))]
            Which::Crossbeam => Err(not_built("crossbeam")),
        }
    }
}

#[allow(dead_code)] // used only when a feature is off
fn not_built(feature: &str) -> String {
    format!("not built: this binary was compiled without the `{feature}` feature (its crate did not build from the registry?)")
}

struct Args {
    cfg: Config,
    runs: u64,
    only: Option<Which>,
}

fn parse_num(flag: &str, value: Option<String>) -> Result<u64, String> {
    let v = value.ok_or_else(|| format!("{flag} needs a value"))?;
    v.replace('_', "")
        .parse::<u64>()
        .map_err(|e| format!("bad value for {flag}: {v}: {e}"))
}

fn parse_args() -> Result<Option<Args>, String> {
    let mut cfg = Config {
        events: 20_000_000,
        capacity: 4096,
        batch: 64,
        producer_cpu: 0,
        consumer_cpu: 1,
    };
    let mut runs = 1;
    let mut only = None;
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        match flag.as_str() {
            "--events" => cfg.events = parse_num(&flag, it.next())?,
            "--runs" => runs = parse_num(&flag, it.next())?,
            "--capacity" => cfg.capacity = parse_num(&flag, it.next())? as usize,
            "--batch" => cfg.batch = parse_num(&flag, it.next())? as usize,
            "--producer-cpu" => cfg.producer_cpu = parse_num(&flag, it.next())? as usize,
            "--consumer-cpu" => cfg.consumer_cpu = parse_num(&flag, it.next())? as usize,
            "--only" => {
                only = Some(match it.next().as_deref() {
                    Some("disruptor") => Which::Disruptor,
                    Some("crossbeam") => Which::Crossbeam,
                    other => {
                        return Err(format!(
                            "--only wants disruptor or crossbeam, got {other:?}"
                        ))
                    }
                })
            }
            "--help" | "-h" => return Ok(None),
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    if cfg.events == 0 || runs == 0 {
        return Err("--events and --runs must be at least 1".into());
    }
    if cfg.events >= 1 << 62 {
        return Err("--events must be below 2^62".into());
    }
    if !cfg.capacity.is_power_of_two() || cfg.capacity < 2 || cfg.capacity > 1 << 30 {
        return Err("--capacity must be a power of two in 2..=2^30".into());
    }
    if cfg.batch == 0 || cfg.batch > cfg.capacity {
        return Err("--batch must be in 1..=capacity".into());
    }
    Ok(Some(Args { cfg, runs, only }))
}

/// A JSON string literal for `s`.
fn json_str(s: &str) -> String {
    let mut out = String::with_capacity(s.len() + 2);
    out.push('"');
    for c in s.chars() {
        match c {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => out.push_str(&format!("\\u{:04x}", c as u32)),
            c => out.push(c),
        }
    }
    out.push('"');
    out
}

fn main() -> ExitCode {
    let args = match parse_args() {
        Ok(Some(a)) => a,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            eprintln!("rust-baselines: {e}\n{USAGE}");
            return ExitCode::from(64);
        }
    };
    let which: Vec<Which> = match args.only {
        Some(w) => vec![w],
        None => vec![Which::Disruptor, Which::Crossbeam],
    };
    let mut failed = false;
    for _ in 0..args.runs {
        for &w in &which {
            let cfg = args.cfg;
            match w.run(cfg) {
                Ok(o) => {
                    let seconds = o.elapsed.as_secs_f64();
                    println!(
                        "{{\"baseline\":\"{}\",\"events\":{},\"seconds\":{:.6},\"events_per_sec\":{:.0},\"event_size\":64,\"capacity\":{}{},\"note\":{}}}",
                        w.label(),
                        cfg.events,
                        seconds,
                        cfg.events as f64 / seconds,
                        cfg.capacity,
                        if w == Which::Disruptor { format!(",\"batch\":{}", cfg.batch) } else { String::new() },
                        json_str(&o.note)
                    );
                }
                Err(e) => {
                    failed = true;
                    println!(
                        "{{\"baseline\":\"{}\",\"error\":{}}}",
                        w.label(),
                        json_str(&e)
                    );
                }
            }
        }
    }
    if failed {
        ExitCode::FAILURE
    } else {
        ExitCode::SUCCESS
    }
}
