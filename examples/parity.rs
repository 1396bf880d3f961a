//! Checks rca's forward pass on any GGUF against llama.cpp's: the next-token
//! log-probabilities after the parity prompts of tests/model.rs (a
//! 20-change election prompt and a pointwise judge prompt, rendered in the
//! model's own chat format), from rca and from `llama-logprobs`
//! (`scripts/llama-ref build`). The test does this for the default model
//! against a recorded reference; this runs it live on a model you bring.
//!
//! ```sh
//! cargo run --release --example parity -- --model Qwen2.5-Coder-1.5B-Instruct-Q4_K_M.gguf
//! ```
//!
//! Prints, per prompt, its length, whether the most likely token and the
//! top-10 tokens agree, and the largest gap over llama.cpp's top 10 and the
//! answer tokens; exits 1 when a check fails: a different first token, a
//! gap over `--tolerance` (0.25 nats: see tests/model.rs for why), or one of
//! llama.cpp's top 10 further than that below rca's tenth (closer
//! neighbours of the tenth may swap across the boundary).
#![allow(clippy::print_stdout)]

#[path = "../tests/common/parity.rs"]
mod parity;

use std::path::PathBuf;
use std::time::Instant;

use anyhow::Result;
use clap::Parser;
use rca::model::{LoadOptions, Model};

#[derive(Parser)]
struct Args {
    /// The GGUF to check.
    #[arg(long)]
    model: PathBuf,
    /// llama.cpp's probe (default: scripts/llama-ref's llama-logprobs).
    #[arg(long)]
    probe: Option<PathBuf>,
    /// The largest gap allowed, in nats.
    #[arg(long, default_value_t = 0.25)]
    tolerance: f32,
}

fn main() -> Result<()> {
    let args = Args::parse();
    let probe = args
        .probe
        .unwrap_or_else(|| parity::llama_bin("llama-logprobs"));
    let start = Instant::now();
    let model = Model::load(&args.model, &LoadOptions::default())?;
    let info = model.info();
    println!(
        "{} ({}, {}), loaded in {:.1} s",
        args.model.display(),
        info.architecture,
        info.weights,
        start.elapsed().as_secs_f32()
    );
    let mut ok = true;
    for (name, prompt, asked) in parity::parity_prompts(&model) {
        let ids = model.encode(&prompt)?;
        let start = Instant::now();
        let reference = parity::llama_logprobs(&probe, &args.model, &ids, &asked);
        let theirs = start.elapsed().as_secs_f32();
        let start = Instant::now();
        let comparison = parity::compare(&model, &ids, &reference["top"], &reference["asked"]);
        let ours = start.elapsed().as_secs_f32();
        let worst = comparison.worst();
        let passed = comparison.agrees(args.tolerance);
        ok &= passed;
        println!(
            "{name}: {} tokens; same first token: {}; same top 10: {}{}; largest gap {worst:.3} nats; \
             rca {ours:.1} s, llama.cpp {theirs:.1} s; {}",
            ids.len(),
            comparison.same_first,
            comparison.same_top10,
            comparison
                .outside_top10
                .iter()
                .map(|(id, gap)| format!(" (llama.cpp's {id} is {gap:.3} nats below rca's tenth)"))
                .collect::<String>(),
            if passed { "ok" } else { "FAILED" }
        );
        println!("  (token, rca, llama.cpp): {:?}", comparison.gaps);
    }
    if !ok {
        std::process::exit(1);
    }
    Ok(())
}
