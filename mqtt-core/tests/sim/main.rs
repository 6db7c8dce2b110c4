//! The seeded whole-broker simulation: N shards in one process, M clients doing random
//! things, a virtual clock, shard-to-shard batches delivered in a random interleaving that
//! is FIFO per (from, to) link, and the invariants of `README.md` checked after every step.
//!
//! - `cargo test -p mqtt-core sim`: 200 seeds of 10,000 steps (`SIM_SEEDS`, `STEPS`,
//!   `SIM_SEED_BASE`, `SIM_SHARDS` change that);
//! - `SEED=<n> cargo test -p mqtt-core --test sim sim`: replays one seed exactly, and prints
//!   its fingerprint and counts;
//! - `SIM_SOAK=<seeds> cargo test --release -p mqtt-core --test sim sim_soak`: a long soak
//!   on every core.
#![allow(
    // The harness times itself and runs the soak on threads; the core it drives is sans-IO.
    clippy::disallowed_types,
    clippy::disallowed_methods,
    clippy::unwrap_used,
    clippy::expect_used,
    clippy::indexing_slicing,
    clippy::panic
)]

mod checks;
mod client;
mod model;
mod plan;
mod rng;
mod sim;
mod world;

use std::panic::{catch_unwind, AssertUnwindSafe};
use std::time::Instant;

use plan::{Report, STEP};
use sim::Options;

/// Test functions the default seeds are spread over (libtest runs them in parallel).
const PARTS: u64 = 4;

fn env(name: &str) -> Option<u64> {
    std::env::var(name).ok()?.trim().parse().ok()
}

fn steps() -> u64 {
    env("STEPS").unwrap_or(10_000)
}

/// `SIM_SHARDS=<n>`, else 1 to 4 shards by seed.
fn shards(seed: u64) -> u16 {
    env("SIM_SHARDS").map_or(1 + (seed % 4) as u16, |n| n.clamp(1, 64) as u16)
}

fn replay(seed: u64, steps: u64, shards: u16) -> String {
    format!("SEED={seed} STEPS={steps} SIM_SHARDS={shards} cargo test -p mqtt-core --test sim sim")
}

/// Runs one seed; a failure (an invariant violation or a panic) names the seed, the step and
/// the command that replays it.
fn run_one(seed: u64, steps: u64, shards: u16) -> Result<Report, String> {
    let opts = Options {
        seed,
        steps,
        shards,
    };
    match catch_unwind(AssertUnwindSafe(|| plan::run(opts))) {
        Ok(Ok(report)) => Ok(report),
        Ok(Err(f)) => Err(format!(
            "seed {seed} step {}: {}\n    replay: {}",
            f.step,
            f.message,
            replay(seed, steps, shards)
        )),
        Err(panic) => {
            let msg = panic
                .downcast_ref::<String>()
                .cloned()
                .or_else(|| panic.downcast_ref::<&str>().map(|s| s.to_string()))
                .unwrap_or_default();
            Err(format!(
                "seed {seed} step {}: panicked: {msg}\n    replay: {}",
                STEP.with(|s| s.get()),
                replay(seed, steps, shards)
            ))
        }
    }
}

/// Runs the seeds `base..base + count` that fall to `part`, and fails listing every failing
/// seed.
fn run_part(part: u64) {
    let steps = steps();
    if let Some(seed) = env("SEED") {
        if part == 0 {
            match run_one(seed, steps, shards(seed)) {
                Ok(r) => println!("{r:#?}"),
                Err(e) => panic!("{e}"),
            }
        }
        return;
    }
    let base = env("SIM_SEED_BASE").unwrap_or(1);
    let count = env("SIM_SEEDS").unwrap_or(200);
    let started = Instant::now();
    let mut failures = Vec::new();
    let mut done = 0;
    for seed in (base..base + count).filter(|s| s % PARTS == part) {
        done += 1;
        if let Err(e) = run_one(seed, steps, shards(seed)) {
            failures.push(e);
        }
    }
    println!(
        "sim part {part}: {done} seeds x {steps} steps in {:?}",
        started.elapsed()
    );
    assert!(
        failures.is_empty(),
        "{} failing seeds:\n{}",
        failures.len(),
        failures.join("\n")
    );
}

#[test]
fn sim_seeds_part_0() {
    run_part(0);
}

#[test]
fn sim_seeds_part_1() {
    run_part(1);
}

#[test]
fn sim_seeds_part_2() {
    run_part(2);
}

#[test]
fn sim_seeds_part_3() {
    run_part(3);
}

/// The same seed gives the same run, byte for byte (everything the clients read).
#[test]
fn sim_replay_is_exact() {
    if env("SEED").is_some() {
        return;
    }
    for shards in [1, 3] {
        let a = run_one(7, 2_000, shards).map(|r| r.fingerprint);
        let b = run_one(7, 2_000, shards).map(|r| r.fingerprint);
        if let (Ok(a), Ok(b)) = (&a, &b) {
            assert_eq!(a, b, "seed 7 on {shards} shard(s) did not replay exactly");
        }
    }
}

/// A long soak, off unless `SIM_SOAK=<seeds>` is set: seeds from `SIM_SEED_BASE` (default
/// 1,000,000), `STEPS` each, on every core.
#[test]
fn sim_soak() {
    let Some(count) = env("SIM_SOAK") else {
        return;
    };
    let steps = steps();
    let base = env("SIM_SEED_BASE").unwrap_or(1_000_000);
    let threads = std::thread::available_parallelism().map_or(2, |n| n.get()) as u64;
    let started = Instant::now();
    let results: Vec<(u64, Vec<String>)> = std::thread::scope(|s| {
        let handles: Vec<_> = (0..threads)
            .map(|t| {
                s.spawn(move || {
                    let mut steps_run = 0;
                    let mut failures = Vec::new();
                    for seed in (base..base + count).filter(|x| x % threads == t) {
                        match run_one(seed, steps, shards(seed)) {
                            Ok(r) => steps_run += r.steps,
                            Err(e) => {
                                eprintln!("{e}");
                                failures.push(e);
                            }
                        }
                    }
                    (steps_run, failures)
                })
            })
            .collect();
        handles.into_iter().map(|h| h.join().unwrap()).collect()
    });
    let total: u64 = results.iter().map(|r| r.0).sum();
    let failures: Vec<String> = results.into_iter().flat_map(|r| r.1).collect();
    println!(
        "sim soak: {count} seeds from {base}, {total} steps, {} failing, in {:?}",
        failures.len(),
        started.elapsed()
    );
    assert!(
        failures.is_empty(),
        "{} failing seeds:\n{}",
        failures.len(),
        failures.join("\n")
    );
}
