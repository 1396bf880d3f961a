//! `rca train --judge`: fit the pointwise judge's head on saved examples,
//! and its weight in the fusion out of fold (see `train::judge`).

use super::{out, progress};
use crate::cli::{Format, TrainArgs};
use crate::error::{exit_code, input};
use crate::model::{DeviceChoice, LoadOptions, Model};
use crate::rank::pointwise::{Head, PointwiseJudge};
use crate::retrieve::{Fusion, Regime};
use crate::train::judge::{
    centred, fit_head, fusion_scores, head_with, out_of_fold_scores, rank_of, read_examples,
    stack_weights, Case, HeadOptions, ReadExample,
};
use crate::train::Example;
use crate::when::{rfc3339, Seconds};
use anyhow::Result;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

/// Ranks of the culprit among an example's candidates, by one scorer.
#[derive(Debug, Serialize)]
pub struct Ranks {
    pub examples: usize,
    pub top_1: f64,
    pub top_5: f64,
    pub mrr: f64,
}

impl Ranks {
    fn of(ranks: &[usize]) -> Ranks {
        let n = ranks.len().max(1) as f64;
        Ranks {
            examples: ranks.len(),
            top_1: ranks.iter().filter(|&&r| r == 1).count() as f64 / n,
            top_5: ranks.iter().filter(|&&r| r <= 5).count() as f64 / n,
            mrr: ranks.iter().map(|&r| 1.0 / r as f64).sum::<f64>() / n,
        }
    }
}

/// The judge, the zero-shot judge, the fusion and the two stacked, on one
/// set of examples.
#[derive(Debug, Serialize)]
pub struct Comparison {
    pub judge: Ranks,
    pub zero_shot: Ranks,
    pub fusion: Ranks,
    pub fusion_with_judge: Ranks,
}

/// What `rca train --judge` writes into train.json.
#[derive(Debug, Serialize)]
pub struct JudgeHeadManifest {
    pub schema: &'static str,
    pub until: String,
    pub model: String,
    pub examples: usize,
    pub examples_read: usize,
    pub excluded_after_until: usize,
    pub candidates_per_example: usize,
    pub l2: f64,
    /// Out of fold (5 folds) on the training examples.
    pub out_of_fold: Comparison,
    /// On --eval-examples, as saved (20 candidates each).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub held_out: Option<Comparison>,
    pub fusion_weight: BTreeMap<Regime, f64>,
    pub seconds_reading: f64,
    pub seconds: f64,
    pub stopped_by_time_budget: bool,
    pub head_file: std::path::PathBuf,
}

fn compare(
    examples: &[&Example],
    read: &[ReadExample],
    judge_scores: &[Vec<f64>],
    fusion: &Fusion,
    weights: &BTreeMap<Regime, f64>,
) -> Comparison {
    let mut ranks: [Vec<usize>; 4] = Default::default();
    for ((example, read), scores) in examples.iter().zip(read).zip(judge_scores) {
        let c = example.culprit;
        let zero: Vec<f64> = read.readings.iter().map(|r| f64::from(r.logodds)).collect();
        let fused = fusion_scores(example, fusion);
        let w = weights
            .get(&Regime::of(&example.facts))
            .copied()
            .unwrap_or(0.0);
        let stacked: Vec<f64> = fused
            .iter()
            .zip(centred(scores))
            .map(|(f, j)| f + w * j)
            .collect();
        ranks[0].push(rank_of(scores, c));
        ranks[1].push(rank_of(&zero, c));
        ranks[2].push(rank_of(&fused, c));
        ranks[3].push(rank_of(&stacked, c));
    }
    Comparison {
        judge: Ranks::of(&ranks[0]),
        zero_shot: Ranks::of(&ranks[1]),
        fusion: Ranks::of(&ranks[2]),
        fusion_with_judge: Ranks::of(&ranks[3]),
    }
}

/// Fits the judge head; `examples` are the training examples (before the
/// cut-off) as saved.
pub fn run(
    args: &TrainArgs,
    out_dir: &Path,
    examples: &[Example],
    excluded: usize,
    until: Seconds,
    started: Instant,
) -> Result<u8> {
    let budget = std::time::Duration::from_secs(u64::from(args.max_minutes) * 60);
    let model_path = match &args.model {
        Some(path) => path.clone(),
        None => crate::model::default_model_path().ok_or_else(|| {
            crate::error::model(
                "the default model is not installed: run models/fetch, or pass --model",
            )
        })?,
    };
    let fusion = super::ranking::fusion_or_default(args.fusion.as_deref())?;
    let size = usize::from(args.judge_candidates);
    let training: Vec<Example> = examples.iter().map(|e| e.trimmed(size)).collect();
    let held_out = match &args.eval_examples {
        Some(path) => crate::train::examples::load(path)?,
        None => Vec::new(),
    };
    let model = Model::load(
        &model_path,
        &LoadOptions {
            device: DeviceChoice::Cpu,
            threads: None,
            tokenizer: None,
        },
    )
    .map_err(|e| crate::error::model(e.to_string()))?;
    let mut reader = PointwiseJudge::new(model, Head::zero_shot(), None)?;

    // Held-out first: it is small, and its figures are the point.
    let reading_started = Instant::now();
    let bar = progress::bar(held_out.len() as u64, "reading held-out examples");
    let held_read = read_examples(
        &mut reader,
        &held_out,
        &out_dir.join("judge-readings-eval.jsonl"),
        &mut |n| bar.set_position(n as u64),
    )?;
    bar.finish_and_clear();
    let bar = progress::bar(training.len() as u64, "reading training examples");
    let mut stopped = false;
    let mut read = Vec::new();
    for chunk in training.chunks(8) {
        if started.elapsed() > budget {
            stopped = true;
            break;
        }
        let done = read.len();
        read.extend(read_examples(
            &mut reader,
            chunk,
            &out_dir.join("judge-readings.jsonl"),
            &mut |n| bar.set_position((done + n) as u64),
        )?);
    }
    bar.finish_and_clear();
    let seconds_reading = reading_started.elapsed().as_secs_f64();
    if read.len() < 10 {
        return Err(input(format!(
            "only {} training examples were read; at least 10 are needed",
            read.len()
        )));
    }

    let options = HeadOptions {
        l2: args.judge_l2,
        ..HeadOptions::default()
    };
    let training_refs: Vec<&Example> = training.iter().take(read.len()).collect();
    let cases: Vec<Case<'_>> = read
        .iter()
        .zip(&training_refs)
        .map(|(r, e)| Case {
            readings: &r.readings,
            culprit: e.culprit,
        })
        .collect();
    let oof = out_of_fold_scores(&cases, &options, 5);
    let fusion_weight = stack_weights(&training_refs, &oof, &fusion);
    let out_of_fold = compare(&training_refs, &read, &oof, &fusion, &fusion_weight);
    let (logodds_weight, direction) = fit_head(&cases, &options);
    let (base_model, base_size, base_fingerprint) =
        crate::model::adapter::base_identity(&model_path)
            .map_err(|e| crate::error::model(e.to_string()))?;
    let mut head = head_with(logodds_weight, direction);
    head.base_model = base_model;
    head.base_size = base_size;
    head.base_fingerprint = base_fingerprint;
    head.fusion_weight = fusion_weight.clone();
    let held_out_comparison = (!held_read.is_empty()).then(|| {
        let refs: Vec<&Example> = held_out.iter().collect();
        let scores: Vec<Vec<f64>> = held_read
            .iter()
            .map(|r| r.readings.iter().map(|x| head.score(x)).collect())
            .collect();
        compare(&refs, &held_read, &scores, &fusion, &fusion_weight)
    });
    let head_path = out_dir.join(super::ranking::HEAD_FILE);
    let manifest = JudgeHeadManifest {
        schema: "rca.training/1",
        until: rfc3339(until),
        model: model_path.display().to_string(),
        examples: training.len(),
        examples_read: read.len(),
        excluded_after_until: excluded,
        candidates_per_example: size,
        l2: args.judge_l2,
        out_of_fold,
        held_out: held_out_comparison,
        fusion_weight,
        seconds_reading,
        seconds: started.elapsed().as_secs_f64(),
        stopped_by_time_budget: stopped,
        head_file: head_path.clone(),
    };
    head.trained = serde_json::json!({
        "until": manifest.until,
        "examples": manifest.examples_read,
        "candidates_per_example": size,
        "l2": args.judge_l2,
        "out_of_fold_top_1": manifest.out_of_fold.judge.top_1,
    });
    head.save(&head_path)?;
    let manifest_path = out_dir.join("train.json");
    std::fs::write(
        &manifest_path,
        serde_json::to_string_pretty(&manifest)? + "\n",
    )
    .map_err(|e| input(format!("writing {}: {e}", manifest_path.display())))?;
    match args.format {
        Format::Json => out(&format!("{}\n", serde_json::to_string_pretty(&manifest)?))?,
        Format::Text => out(&render(&manifest, &manifest_path))?,
    }
    Ok(exit_code::SUCCESS)
}

fn render(m: &JudgeHeadManifest, manifest_path: &Path) -> String {
    use std::fmt::Write as _;
    let mut text = String::new();
    let _ = writeln!(
        text,
        "trained the judge head on {} of {} examples before {} ({} candidates each; {} left out; reading {:.0} s, {:.0} s in all){}",
        m.examples_read,
        m.examples,
        m.until,
        m.candidates_per_example,
        m.excluded_after_until,
        m.seconds_reading,
        m.seconds,
        if m.stopped_by_time_budget { ", stopped by --max-minutes" } else { "" }
    );
    let mut table = |label: &str, c: &Comparison| {
        let _ = writeln!(text, "{label}:");
        for (name, r) in [
            ("judge", &c.judge),
            ("zero-shot", &c.zero_shot),
            ("fusion", &c.fusion),
            ("fusion+judge", &c.fusion_with_judge),
        ] {
            let _ = writeln!(
                text,
                "  {name:<13} top-1 {:.3}  top-5 {:.3}  MRR {:.3}  ({} examples)",
                r.top_1, r.top_5, r.mrr, r.examples
            );
        }
    };
    table("out of fold, on the training examples", &m.out_of_fold);
    if let Some(h) = &m.held_out {
        table("held out", h);
    }
    let _ = writeln!(
        text,
        "weight in the fusion: {}",
        m.fusion_weight
            .iter()
            .map(|(r, w)| format!("{r:?} {w:.2}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    let _ = writeln!(
        text,
        "wrote {} and {}",
        m.head_file.display(),
        manifest_path.display()
    );
    text
}
