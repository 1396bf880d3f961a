//! Writes saved training examples as the judge's token ids, for the reference
//! trainer `scripts/train-ref.py` (a PyTorch LoRA trainer for a GPU machine,
//! whose adapters rca loads with `--adapter`).
//!
//! ```text
//! cargo run --release --example export_prompts -- --out DIR \
//!     --train a.jsonl [b.jsonl ...] [--until UNIX] [--epochs 12] [--seed N] \
//!     --eval heldout.jsonl [--check 4] [--adapter FILE] [--pointwise [--fusion FILE]]
//! ```
//!
//! Each training example is rendered `--epochs` times, in the slot order
//! `rca train` gives it in that epoch (`training_order`); each evaluation
//! example once, in the order `Trainer::judge` uses (`judge_order`). DIR receives
//!
//! - `train.tok`, `eval.tok`: the prompts' token ids, little-endian u16
//!   (u32 for vocabularies over 65,536 tokens: `token_bytes` in the JSON),
//!   one prompt after another;
//! - `train.json`, `eval.json`: per prompt `[offset, length, culprit_slot,
//!   candidates]`, the label token ids A–T and the number of examples;
//! - `base.json`: the base model's identity, for the adapter's metadata;
//! - `check.json`: rca's own label log-probabilities for the first `--check`
//!   evaluation prompts, without an adapter and (with `--adapter`) with one,
//!   so that the reference trainer's forward pass can be compared with rca's.
//!
//! With `--pointwise`, the prompts are the pointwise judge's instead: one
//! per candidate (the incident's facts, one change card, the Yes/No
//! question), each example's candidates in their saved order, rendered once.
//! Per prompt `[offset, length, example, is_culprit]`; per example its case,
//! when it opened, its title regime and the fusion's scores of its
//! candidates (`--fusion`, else the shipped one), so that the judge can be
//! stacked onto the fusion without rca; the answer token ids Yes and No;
//! `check.json` holds rca's own log-odds (log p(Yes) − log p(No)) of the
//! first `--check` evaluation prompts, without and with `--adapter`.
#![allow(clippy::print_stdout)]

use std::path::{Path, PathBuf};

use anyhow::{bail, Context, Result};
use candle_core::Device;
use clap::Parser;
use rca::model::adapter::{base_identity, Adapter};
use rca::model::{DeviceChoice, LoadOptions, Model, WeightFormat};
use rca::train::{encode, examples, judge_order, training_order, Example, TrainConfig, TrainNet};

/// Token ids packed little-endian, as `name.tok` holds them: u16 where the
/// vocabulary fits (SmolLM2's 49,152), u32 otherwise (Qwen2's 151,936);
/// `name.json` says which (`token_bytes`).
struct TokenFile {
    bytes: Vec<u8>,
    width: usize,
}

impl TokenFile {
    fn new(model: &Model) -> TokenFile {
        let width = if model.vocab_size() <= 1 << 16 { 2 } else { 4 };
        TokenFile {
            bytes: Vec::new(),
            width,
        }
    }

    /// Appends one prompt's tokens: their offset, in tokens.
    fn push(&mut self, tokens: &[u32]) -> Result<usize> {
        let offset = self.bytes.len() / self.width;
        for &t in tokens {
            if self.width == 2 && t > u32::from(u16::MAX) {
                bail!("token id {t} does not fit in 16 bits");
            }
            // Little-endian: the low `width` bytes are the id.
            self.bytes.extend_from_slice(&t.to_le_bytes()[..self.width]);
        }
        Ok(offset)
    }

    /// Writes `name.tok` and, beside it, `name.json` with `json` and the
    /// token width.
    fn write(
        &self,
        dir: &Path,
        name: &str,
        prompts: usize,
        mut json: serde_json::Value,
    ) -> Result<()> {
        json["token_bytes"] = self.width.into();
        std::fs::write(dir.join(format!("{name}.tok")), &self.bytes)?;
        std::fs::write(dir.join(format!("{name}.json")), json.to_string())?;
        println!(
            "{name}: {prompts} prompts, {} tokens",
            self.bytes.len() / self.width
        );
        Ok(())
    }
}

/// The pointwise judge's prompts of `examples`, into `name.tok` and
/// `name.json` in `dir`.
fn write_pointwise_set(
    model: &Model,
    answers: [u32; 2],
    fusion: &[Vec<f64>],
    dir: &Path,
    name: &str,
    examples: &[Example],
) -> Result<()> {
    let mut file = TokenFile::new(model);
    let mut items = Vec::new();
    let mut meta = Vec::new();
    for (index, example) in examples.iter().enumerate() {
        for (i, candidate) in example.candidates.iter().enumerate() {
            let tokens = pointwise_tokens(model, example, &candidate.commit)?;
            items.push([
                file.push(&tokens)?,
                tokens.len(),
                index,
                usize::from(i == example.culprit),
            ]);
        }
        meta.push(serde_json::json!({
            "case": example.case,
            "until": example.until,
            "regime": rca::retrieve::Regime::of(&example.facts),
            "fusion": fusion[index],
        }));
    }
    let json = serde_json::json!({ "answers": answers, "items": items, "examples": meta });
    file.write(dir, name, items.len(), json)
}

/// One candidate's prompt as the in-process judge tokenizes it: the shared
/// part whole, the rest as a continuation.
fn pointwise_tokens(
    model: &Model,
    example: &Example,
    commit: &rca::history::Commit,
) -> Result<Vec<u32>> {
    let (shared, rest) = rca::rank::pointwise::prompt(model, &example.facts, example.until, commit);
    let mut tokens = model.encode(&shared)?;
    tokens.extend(model.encode_continuation(&rest)?);
    Ok(tokens)
}

/// Renders `(example, order)` pairs into `name.tok` and `name.json` in `dir`.
fn write_set(
    model: &Model,
    labels: &[u32],
    dir: &Path,
    name: &str,
    prompts: impl Iterator<Item = (usize, Vec<usize>)>,
    examples: &[Example],
) -> Result<()> {
    let mut file = TokenFile::new(model);
    let mut items = Vec::new();
    for (index, order) in prompts {
        let enc = encode(model, &examples[index], &order)?;
        let offset = file.push(&enc.tokens)?;
        items.push([offset, enc.tokens.len(), enc.culprit_slot, order.len()]);
    }
    let json = serde_json::json!({ "labels": labels, "items": items, "examples": examples.len() });
    file.write(dir, name, items.len(), json)
}

/// Writes saved training examples as the judge's token ids.
#[derive(Parser)]
struct Args {
    /// Output folder.
    #[arg(long)]
    out: PathBuf,
    /// Training examples files (rca train --save-examples).
    #[arg(long, num_args = 1.., required = true)]
    train: Vec<PathBuf>,
    /// Held-out examples files, rendered once each in the judge's order.
    #[arg(long, num_args = 1.., required = true)]
    eval: Vec<PathBuf>,
    /// Leave out training examples whose case opened at or after this Unix time.
    #[arg(long)]
    until: Option<i64>,
    /// Renderings (slot orders) per training example.
    #[arg(long, default_value_t = 12)]
    epochs: usize,
    /// Seed of the slot orders (rca train's default).
    #[arg(long, default_value_t = TrainConfig::default().seed)]
    seed: u64,
    /// How many held-out prompts rca scores for check.json.
    #[arg(long, default_value_t = 4)]
    check: usize,
    /// An adapter to score the check prompts with too.
    #[arg(long)]
    adapter: Option<PathBuf>,
    /// The base model (default: the embedded one).
    #[arg(long)]
    model: Option<PathBuf>,
    /// The pointwise judge's prompts, one per candidate, instead of the
    /// election's.
    #[arg(long)]
    pointwise: bool,
    /// The fusion whose scores go with `--pointwise` examples (default: the
    /// shipped one).
    #[arg(long)]
    fusion: Option<PathBuf>,
    /// With `--pointwise`: the training examples' fusion scores come from
    /// a fusion fitted on the other folds of the training examples (their
    /// 20 candidates each), so that no example is scored by a fusion that
    /// saw it; the evaluation examples keep `--fusion`'s.
    #[arg(long, default_value_t = 0)]
    oof_folds: usize,
}

fn main() -> Result<()> {
    let Args {
        out,
        train: train_files,
        eval: eval_files,
        until,
        epochs,
        seed,
        check,
        adapter,
        model,
        pointwise,
        fusion,
        oof_folds,
    } = Args::parse();
    let model_path = match model {
        Some(p) => p,
        None => rca::model::default_model_path().context("run models/fetch")?,
    };
    std::fs::create_dir_all(&out)?;

    let (train, excluded) = examples::load_before(&train_files, until.unwrap_or(i64::MAX))?;
    println!(
        "training examples: {} ({excluded} left out by --until)",
        train.len()
    );
    let (eval, _) = examples::load_before(&eval_files, i64::MAX)?;

    let model = Model::load_with_format(
        &model_path,
        &LoadOptions {
            device: DeviceChoice::Cpu,
            threads: None,
            tokenizer: None,
        },
        // The pointwise check scores in the format the judge runs the model
        // in (f32 up to 1B parameters on the CPU, else quantized).
        (!pointwise).then_some(WeightFormat::Quantized),
    )?;
    let (name, size, fingerprint) = base_identity(&model_path)?;
    let base = serde_json::json!({ "base_model": name, "base_size": size.to_string(),
        "base_fingerprint": fingerprint });
    std::fs::write(out.join("base.json"), base.to_string())?;
    if pointwise {
        let fusion = rca::cmd::ranking::fusion_or_default(fusion.as_deref())?;
        let scores = |examples: &[Example]| -> Vec<Vec<f64>> {
            examples
                .iter()
                .map(|e| rca::train::judge::fusion_scores(e, &fusion))
                .collect()
        };
        let train_fusion = if oof_folds > 1 {
            out_of_fold_fusion(&train, oof_folds)
        } else {
            scores(&train)
        };
        let (Some(yes), Some(no)) = (model.single_token("Yes"), model.single_token("No")) else {
            bail!("Yes and No must be single tokens");
        };
        let answers = [yes, no];
        write_pointwise_set(&model, answers, &train_fusion, &out, "train", &train)?;
        write_pointwise_set(&model, answers, &scores(&eval), &out, "eval", &eval)?;
        return pointwise_check(
            &model,
            answers,
            &model_path,
            adapter.as_deref(),
            &eval,
            check,
            &out,
        );
    }
    let labels = rca::rank::llm::label_tokens(&model)?;
    let train_prompts = (0..epochs).flat_map(|epoch| {
        let train = &train;
        (0..train.len())
            .map(move |i| (i, training_order(seed, epoch, i, train[i].candidates.len())))
    });
    write_set(&model, &labels, &out, "train", train_prompts, &train)?;
    let eval_prompts = (0..eval.len()).map(|i| (i, judge_order(i, eval[i].candidates.len())));
    write_set(&model, &labels, &out, "eval", eval_prompts, &eval)?;

    // rca's own label log-probabilities, to compare forward passes with.
    let net = TrainNet::load(&model_path, &Device::Cpu)?;
    let adapter = match adapter {
        Some(path) => Some(net.lora_from_adapter(&Adapter::load(&path)?, 0)?),
        None => None,
    };
    let mut results = Vec::new();
    for (i, example) in eval.iter().enumerate().take(check) {
        let tokens = encode(&model, example, &judge_order(i, example.candidates.len()))?.tokens;
        let width = example.candidates.len();
        let base = net.label_logprobs(&tokens, &labels[..width], None)?;
        let adapted = match &adapter {
            Some(lora) => Some(net.label_logprobs(&tokens, &labels[..width], Some(lora))?),
            None => None,
        };
        results.push(serde_json::json!({ "prompt": i, "base": base, "adapted": adapted }));
    }
    write_check(&out, results)
}

/// Writes `check.json`, the last file of the output folder.
fn write_check(out: &Path, results: Vec<serde_json::Value>) -> Result<()> {
    std::fs::write(
        out.join("check.json"),
        serde_json::Value::from(results).to_string(),
    )?;
    println!("wrote {}", out.display());
    Ok(())
}

/// rca's own log-odds of the first `check` evaluation prompts (in
/// `eval.json`'s order), with the base model (`model`, f32) and with
/// `adapter` merged.
fn pointwise_check(
    model: &Model,
    answers: [u32; 2],
    model_path: &Path,
    adapter: Option<&Path>,
    eval: &[Example],
    check: usize,
    out: &Path,
) -> Result<()> {
    let options = LoadOptions {
        device: DeviceChoice::Cpu,
        threads: None,
        tokenizer: None,
    };
    let adapted = match adapter {
        Some(path) => Some(Model::load_with_adapter(model_path, &options, Some(path))?),
        None => None,
    };
    let logodds = |model: &Model, tokens: &[u32]| -> Result<f32> {
        let lp = model.next_token_logprobs(None, tokens, &answers)?;
        Ok(lp[0] - lp[1])
    };
    let mut results = Vec::new();
    let prompts = eval
        .iter()
        .flat_map(|e| e.candidates.iter().map(move |c| (e, &c.commit)));
    for (i, (example, commit)) in prompts.take(check).enumerate() {
        let tokens = pointwise_tokens(model, example, commit)?;
        let with = match &adapted {
            Some(m) => Some(logodds(m, &tokens)?),
            None => None,
        };
        results.push(serde_json::json!({
            "prompt": i, "base": logodds(model, &tokens)?, "adapted": with }));
    }
    write_check(out, results)
}

/// Each example's fusion scores under a fusion fitted, as `rca train` fits
/// one, on the other folds' examples (`train::fusion::out_of_fold`); the
/// out-of-fold top-1 and MRR are printed.
fn out_of_fold_fusion(examples: &[Example], folds: usize) -> Vec<Vec<f64>> {
    use rca::train::fusion::{out_of_fold, FitOptions, Group};
    use rca::train::judge::{fusion_scores, rank_of};
    let groups: Vec<Group> = examples
        .iter()
        .map(|e| Group {
            features: e.candidates.iter().map(|c| c.features).collect(),
            culprit: e.culprit,
            regime: rca::retrieve::Regime::of(&e.facts),
        })
        .collect();
    let scores = out_of_fold(&groups, &FitOptions::default(), folds, |i, fusion| {
        fusion_scores(&examples[i], fusion)
    });
    let ranks: Vec<usize> = scores
        .iter()
        .zip(examples)
        .map(|(s, e)| rank_of(s, e.culprit))
        .collect();
    let n = ranks.len().max(1) as f64;
    println!(
        "out-of-fold fusion ({folds} folds) on the training examples: top-1 {:.3}, MRR {:.3}",
        ranks.iter().filter(|&&r| r == 1).count() as f64 / n,
        ranks.iter().map(|&r| 1.0 / r as f64).sum::<f64>() / n
    );
    scores
}
