//! Measures LoRA training speed on this CPU: examples (forward + backward +
//! update) per second for synthetic election prompts of a given size.
//!
//! ```text
//! cargo run --release --example train_speed -- --candidates 20 --steps 3
//! /usr/bin/time -v target/release/examples/train_speed --candidates 8 --steps 5
//! ```
//!
//! `--top-layers N` adapts only the top N layers.
//!
//! Prints the prompt length in tokens, seconds per example and examples per
//! second. Peak RSS comes from `/usr/bin/time -v`.
#![allow(clippy::print_stdout)]

use std::time::Instant;

use rca::cases::Facts;
use rca::history::{Commit, FileChange};
use rca::retrieve::{Candidate, NUM_FEATURES};
use rca::train::{encode, Example, TrainConfig, Trainer};

fn candidate(i: usize) -> Candidate {
    let areas = [
        "net/mlx5",
        "mempool",
        "eal/linux",
        "ethdev",
        "vhost",
        "crypto/qat",
        "bus/pci",
    ];
    let area = areas[i % areas.len()];
    Candidate {
        commit: Commit {
            id: format!("{:040x}", 0xabc000 + i),
            author: format!("Developer Number{i}"),
            email: format!("dev{i}@example.org"),
            authored_at: 0,
            committed_at: 0,
            landed_at: 1_700_000_000 - (i as i64 + 1) * 7_200,
            subject: format!(
                "{area}: fix handling of queue {i} when the device is reconfigured at runtime"
            ),
            body: String::new(),
            files: (0..5)
                .map(|f| FileChange {
                    path: format!("drivers/{area}/{area}_component_{f}_{i}.c"),
                    old_path: None,
                    added: 10 + f as u32 * 3,
                    removed: 2 + i as u32 % 5,
                    binary: false,
                    missing: false,
                })
                .collect(),
            diff: Default::default(),
            merged_by: None,
        },
        features: [0.0; NUM_FEATURES],
        score: 0.0,
        prior: 0.05,
        evidence: Default::default(),
    }
}

fn main() -> anyhow::Result<()> {
    let args: Vec<String> = std::env::args().collect();
    let arg = |name: &str, default: usize| -> usize {
        args.iter()
            .position(|a| a == name)
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse().ok())
            .unwrap_or(default)
    };
    let n = arg("--candidates", 20);
    let steps = arg("--steps", 3);
    let top_layers = args
        .iter()
        .position(|a| a == "--top-layers")
        .and_then(|i| args.get(i + 1))
        .and_then(|v| v.parse().ok());
    rca::model::tune_allocator();
    let threads = rca::model::configure_threads(
        args.iter()
            .position(|a| a == "--threads")
            .and_then(|i| args.get(i + 1))
            .and_then(|v| v.parse().ok()),
    );
    let path = rca::model::default_model_path().expect("run models/fetch");
    let examples: Vec<Example> = (0..steps)
        .map(|s| Example {
            case: String::new(),
            facts: Facts {
                title: format!("packet loss on port {s} after upgrade"),
                impact: Some("traffic drops on the mlx5 ports of the edge routers".into()),
                ..Facts::default()
            },
            until: 1_700_000_000,
            candidates: (0..n).map(|i| candidate(i + s)).collect(),
            culprit: s % n,
        })
        .collect();
    let load = Instant::now();
    let mut trainer = Trainer::new(
        &path,
        &TrainConfig {
            epochs: 1,
            lora: rca::train::LoraConfig {
                top_layers,
                ..Default::default()
            },
            ..TrainConfig::default()
        },
    )?;
    let load_s = load.elapsed().as_secs_f64();
    let order: Vec<usize> = (0..n).collect();
    let tokens = encode(trainer.model(), &examples[0], &order)?.tokens.len();
    println!("threads {threads}, candidates {n}, prompt {tokens} tokens, load {load_s:.1} s");
    let report = trainer.run(&examples, &mut |p| {
        println!(
            "step {}/{}: loss {:.3}, {:.1} s elapsed",
            p.step, p.total_steps, p.loss, p.elapsed_s
        );
    })?;
    println!(
        "{} examples in {:.1} s: {:.2} s per example, {:.4} examples/s, {:.0} tokens/s",
        steps,
        report.elapsed_s,
        report.elapsed_s / steps as f64,
        report.examples_per_s,
        report.examples_per_s * tokens as f64
    );
    Ok(())
}
