//! Training the pointwise judge's head (`rca train --judge`).
//!
//! The frozen model reads every candidate of every example once
//! ([`read_examples`]: the zero-shot log-odds and the last hidden state, see
//! `rank::pointwise`); those readings are cached in a file, so a stopped run
//! resumes and the head can be refitted in seconds. The head is a linear
//! score over the reading, fitted like a reranker: a listwise softmax over
//! each example's candidates (the culprit against the retriever's hardest
//! negatives), cross-entropy on the culprit, L2 on the hidden-state weights,
//! Adam on standardised inputs ([`fit_head`]).
//!
//! Stacking: the judge's score joins the fusion as `ln(prior) + w · z`,
//! where `z` is the judge's score centred over the judged candidates. `w` is
//! fitted per title regime on out-of-fold judge scores ([`stack_weights`]):
//! the judge never scores the cases it was trained on when its weight is
//! fitted, so a judge that does not help gets a weight near zero.

use super::examples::Example;
use crate::rank::pointwise::{Head, PointwiseJudge, Reading};
use crate::retrieve::{Fusion, Regime};
use anyhow::Result;
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::io::{BufRead, Write};
use std::path::Path;

/// The readings of one example's candidates, in the example's order.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReadExample {
    pub case: String,
    pub until: i64,
    pub readings: Vec<Reading>,
}

/// The schema of a readings cache line.
const READINGS_SCHEMA: &str = "rca.judge-readings/1";

/// Reads every candidate of `examples` with `judge`, reusing the readings
/// already in `cache` (JSON lines, appended as each example finishes, so a
/// stopped run resumes). `progress` is called after each example.
pub fn read_examples(
    judge: &mut PointwiseJudge,
    examples: &[Example],
    cache: &Path,
    progress: &mut dyn FnMut(usize),
) -> Result<Vec<ReadExample>> {
    let mut known: HashMap<(String, i64), ReadExample> = HashMap::new();
    if let Ok(file) = std::fs::File::open(cache) {
        for line in std::io::BufReader::new(file).lines() {
            let line = line?;
            // A line cut by a stopped run is read again.
            let Ok(value) = serde_json::from_str::<serde_json::Value>(&line) else {
                continue;
            };
            if value.get("schema").and_then(|s| s.as_str()) != Some(READINGS_SCHEMA) {
                continue;
            }
            if let Ok(read) = serde_json::from_value::<ReadExample>(value) {
                known.insert((read.case.clone(), read.until), read);
            }
        }
    }
    let mut out = std::io::BufWriter::new(
        std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(cache)
            .map_err(|e| crate::error::input(format!("{}: {e}", cache.display())))?,
    );
    let mut all = Vec::with_capacity(examples.len());
    for (i, example) in examples.iter().enumerate() {
        let key = (example.case.clone(), example.until);
        let read = match known.remove(&key) {
            Some(read) if read.readings.len() == example.candidates.len() => read,
            _ => {
                let commits: Vec<&crate::history::Commit> =
                    example.candidates.iter().map(|c| &c.commit).collect();
                let readings =
                    judge.read_many(&example.facts, example.until, &commits, &mut || {})?;
                let read = ReadExample {
                    case: example.case.clone(),
                    until: example.until,
                    readings,
                };
                let mut value = serde_json::to_value(&read)?;
                value["schema"] = READINGS_SCHEMA.into();
                serde_json::to_writer(&mut out, &value)?;
                out.write_all(b"\n")?;
                out.flush()?;
                read
            }
        };
        all.push(read);
        progress(i + 1);
    }
    Ok(all)
}

/// One example as the head's fit sees it.
pub struct Case<'a> {
    pub readings: &'a [Reading],
    pub culprit: usize,
}

/// Settings of the head's fit.
#[derive(Debug, Clone, Copy)]
pub struct HeadOptions {
    /// L2 penalty on the standardised hidden-state weights, per example.
    pub l2: f64,
    pub iterations: usize,
    pub learning_rate: f64,
}

impl Default for HeadOptions {
    fn default() -> Self {
        HeadOptions {
            l2: 10.0,
            iterations: 300,
            learning_rate: 0.02,
        }
    }
}

/// Fits the head's weights (log-odds weight, hidden-state direction) by a
/// listwise softmax loss; deterministic.
pub fn fit_head(cases: &[Case<'_>], options: &HeadOptions) -> (f64, Vec<f32>) {
    let Some(dim) = cases
        .iter()
        .flat_map(|c| c.readings.first())
        .map(|r| r.hidden.len())
        .next()
    else {
        return (1.0, Vec::new());
    };
    let d = dim + 1;
    let row = |r: &Reading| -> Vec<f64> {
        std::iter::once(f64::from(r.logodds))
            .chain(r.hidden.iter().map(|&h| f64::from(h)))
            .collect()
    };
    let rows: Vec<Vec<Vec<f64>>> = cases
        .iter()
        .map(|c| c.readings.iter().map(row).collect())
        .collect();
    let count = rows.iter().map(Vec::len).sum::<usize>().max(1) as f64;
    let mut mean = vec![0.0; d];
    let mut scale = vec![0.0; d];
    for x in rows.iter().flatten() {
        for k in 0..d {
            mean[k] += x[k] / count;
        }
    }
    for x in rows.iter().flatten() {
        for k in 0..d {
            scale[k] += (x[k] - mean[k]).powi(2) / count;
        }
    }
    for s in &mut scale {
        *s = if *s > 1e-12 { s.sqrt() } else { 1.0 };
    }
    let z: Vec<Vec<Vec<f64>>> = rows
        .iter()
        .map(|g| {
            g.iter()
                .map(|x| (0..d).map(|k| (x[k] - mean[k]) / scale[k]).collect())
                .collect()
        })
        .collect();
    // Start at the zero-shot judge: the log-odds alone.
    let mut w = vec![0.0; d];
    w[0] = scale[0];
    let (mut m, mut v) = (vec![0.0; d], vec![0.0; d]);
    let n = cases.len().max(1) as f64;
    for step in 1..=options.iterations {
        let mut gradient = vec![0.0; d];
        for (group, case) in z.iter().zip(cases) {
            let scores: Vec<f64> = group
                .iter()
                .map(|x| x.iter().zip(&w).map(|(a, b)| a * b).sum())
                .collect();
            let max = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let exps: Vec<f64> = scores.iter().map(|s| (s - max).exp()).collect();
            let total: f64 = exps.iter().sum();
            for (x, e) in group.iter().zip(&exps) {
                let p = e / total;
                for k in 0..d {
                    gradient[k] += p * x[k];
                }
            }
            for k in 0..d {
                gradient[k] -= group[case.culprit][k];
            }
        }
        for k in 0..d {
            // The log-odds weight is not penalised: shrinking it would pull
            // the judge below its zero-shot self.
            let penalty = if k == 0 { 0.0 } else { options.l2 * w[k] };
            let g = (gradient[k] + penalty) / n;
            m[k] = 0.9 * m[k] + 0.1 * g;
            v[k] = 0.999 * v[k] + 0.001 * g * g;
            let m_hat = m[k] / (1.0 - 0.9f64.powi(step as i32));
            let v_hat = v[k] / (1.0 - 0.999f64.powi(step as i32));
            w[k] -= options.learning_rate * m_hat / (v_hat.sqrt() + 1e-8);
        }
    }
    // Back to raw inputs; the mean shift is the same for every candidate of
    // an example and cancels in the softmax.
    let logodds_weight = w[0] / scale[0];
    let direction = (1..d).map(|k| (w[k] / scale[k]) as f32).collect();
    (logodds_weight, direction)
}

/// A head with the given weights (no base identity; see [`Head::load`]).
pub fn head_with(logodds_weight: f64, direction: Vec<f32>) -> Head {
    Head {
        logodds_weight,
        direction,
        ..Head::zero_shot()
    }
}

/// Each example's judge scores from a head fitted without its fold
/// (example `i` in fold `i mod folds`).
pub fn out_of_fold_scores(
    cases: &[Case<'_>],
    options: &HeadOptions,
    folds: usize,
) -> Vec<Vec<f64>> {
    let folds = folds.max(2);
    let mut scores = vec![Vec::new(); cases.len()];
    for fold in 0..folds {
        let train: Vec<Case<'_>> = cases
            .iter()
            .enumerate()
            .filter(|(i, _)| i % folds != fold)
            .map(|(_, c)| Case {
                readings: c.readings,
                culprit: c.culprit,
            })
            .collect();
        let (a, u) = fit_head(&train, options);
        let head = head_with(a, u);
        for (i, case) in cases.iter().enumerate().filter(|(i, _)| i % folds == fold) {
            scores[i] = case.readings.iter().map(|r| head.score(r)).collect();
        }
    }
    scores
}

/// 1-based rank of `culprit` by `scores` (ties count against it).
pub fn rank_of(scores: &[f64], culprit: usize) -> usize {
    1 + scores
        .iter()
        .enumerate()
        .filter(|&(i, &s)| i != culprit && s >= scores[culprit])
        .count()
}

pub use crate::rank::centred;

/// The fusion's log-prior of each candidate of an example, up to a
/// constant: its score over the temperature, as `ln(prior)` in the ranking.
pub fn fusion_scores(example: &Example, fusion: &Fusion) -> Vec<f64> {
    let weights = fusion.weights(Regime::of(&example.facts));
    example
        .candidates
        .iter()
        .map(|c| weights.score(&c.features) / fusion.temperature)
        .collect()
}

/// The judge's weight in the fusion per title regime: maximises the
/// culprits' likelihood under `fusion + w · centred(judge)` over `w ≥ 0`
/// (a judge worse than nothing gets 0), by a fine search.
pub fn stack_weights(
    examples: &[&Example],
    judge_scores: &[Vec<f64>],
    fusion: &Fusion,
) -> std::collections::BTreeMap<Regime, f64> {
    let mut out = std::collections::BTreeMap::new();
    for regime in [Regime::Component, Regime::Symptom] {
        let rows: Vec<(Vec<f64>, Vec<f64>, usize)> = examples
            .iter()
            .zip(judge_scores)
            .filter(|(e, _)| Regime::of(&e.facts) == regime)
            .map(|(e, j)| (fusion_scores(e, fusion), centred(j), e.culprit))
            .collect();
        let likelihood = |w: f64| -> f64 {
            rows.iter()
                .map(|(f, j, c)| {
                    let s: Vec<f64> = f.iter().zip(j).map(|(a, b)| a + w * b).collect();
                    let max = s.iter().copied().fold(f64::NEG_INFINITY, f64::max);
                    let log_z = s.iter().map(|x| (x - max).exp()).sum::<f64>().ln() + max;
                    s[*c] - log_z
                })
                .sum()
        };
        let best = (0..=400)
            .map(|i| f64::from(i) * 0.01)
            .map(|w| (w, likelihood(w)))
            .fold(
                (0.0, f64::NEG_INFINITY),
                |a, b| if b.1 > a.1 { b } else { a },
            );
        out.insert(regime, best.0);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The culprit's hidden state carries a marker on one dimension that the
    /// log-odds miss: the head must find it.
    #[test]
    fn the_head_learns_what_the_log_odds_miss() {
        let mut rng = crate::train::Rng::new(11);
        let mut next = || rng.next_f64() as f32;
        let examples: Vec<Vec<Reading>> = (0..60)
            .map(|i| {
                (0..8)
                    .map(|j| Reading {
                        logodds: next() - 0.5,
                        hidden: vec![
                            next(),
                            if j == i % 8 { 1.0 + next() } else { next() },
                            next(),
                        ],
                    })
                    .collect()
            })
            .collect();
        let cases: Vec<Case<'_>> = examples
            .iter()
            .enumerate()
            .map(|(i, r)| Case {
                readings: r,
                culprit: i % 8,
            })
            .collect();
        let oof = out_of_fold_scores(
            &cases,
            &HeadOptions {
                l2: 0.1,
                ..HeadOptions::default()
            },
            5,
        );
        let top1 = oof
            .iter()
            .zip(&cases)
            .filter(|(s, c)| rank_of(s, c.culprit) == 1)
            .count();
        assert!(top1 >= 50, "top-1 {top1} of 60");
    }
}
