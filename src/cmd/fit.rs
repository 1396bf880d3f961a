//! `rca fit-fusion` (hidden, for developers): fit the retrieval fusion
//! weights from a feature dump of `rca backtest --dump-features`, report
//! out-of-fold accuracy, and print the weights fitted on all cases.

use super::out;
use crate::cli::FitArgs;
use crate::learn::{self, FitOptions, Group};
use crate::retrieve::{Fusion, FEATURES, NUM_FEATURES};
use anyhow::{Context, Result};
use std::collections::BTreeMap;
use std::fmt::Write as _;

struct Case {
    id: String,
    source: String,
    repo: String,
    group: Group,
}

fn read(path: &std::path::Path) -> Result<Vec<Case>> {
    let text =
        std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
    let mut cases: Vec<Case> = Vec::new();
    let mut index: BTreeMap<String, usize> = BTreeMap::new();
    let mut culprits: Vec<Option<usize>> = Vec::new();
    for line in text.lines() {
        let row: serde_json::Value = serde_json::from_str(line)?;
        let id = row["case"].as_str().unwrap_or_default().to_owned();
        let slot = *index.entry(id.clone()).or_insert_with(|| {
            cases.push(Case {
                id: id.clone(),
                source: row["source"].as_str().unwrap_or_default().to_owned(),
                repo: row["repo"].as_str().unwrap_or_default().to_owned(),
                group: Group {
                    features: Vec::new(),
                    culprit: 0,
                },
            });
            culprits.push(None);
            cases.len() - 1
        });
        let x: [f64; NUM_FEATURES] =
            std::array::from_fn(|k| row["features"][FEATURES[k]].as_f64().unwrap_or(0.0));
        if row["culprit"].as_bool() == Some(true) {
            culprits[slot] = Some(cases[slot].group.features.len());
        }
        cases[slot].group.features.push(x);
    }
    // Cases whose culprit never reached the dump cannot teach anything.
    Ok(cases
        .into_iter()
        .zip(culprits)
        .filter_map(|(mut case, culprit)| {
            case.group.culprit = culprit?;
            Some(case)
        })
        .collect())
}

/// 1-based rank of the culprit under `weights` (ties broken against it).
pub fn run(args: FitArgs) -> Result<u8> {
    let cases = read(&args.features)?;
    let options = FitOptions {
        l2: args.l2,
        ..FitOptions::default()
    };
    let folds = args.folds.max(2);
    let groups: Vec<Group> = cases.iter().map(|c| c.group.clone()).collect();
    let ranks = learn::out_of_fold_ranks(&groups, &options, folds);
    let report = |text: &mut String, name: &str, members: Vec<usize>| {
        let n = members.len().max(1) as f64;
        let hit = |k: usize| members.iter().filter(|&&i| ranks[i] <= k).count() as f64 / n;
        let mrr = members.iter().map(|&i| 1.0 / ranks[i] as f64).sum::<f64>() / n;
        let _ = writeln!(
            text,
            "{name:<24} {:>5} {:>6.3} {:>6.3} {:>6.3} {:>6.3} {:>8.3}",
            members.len(),
            hit(1),
            hit(5),
            hit(10),
            mrr,
            hit(200)
        );
    };
    let mut text = String::new();
    let _ = writeln!(text, "out-of-fold ({folds} folds, l2 {}):", args.l2);
    let _ = writeln!(
        text,
        "{:<24} {:>5} {:>6} {:>6} {:>6} {:>6} {:>8}",
        "group", "cases", "hit@1", "hit@5", "hit@10", "mrr", "rank<=200"
    );
    report(&mut text, "all", (0..cases.len()).collect());
    let mut keys: BTreeMap<String, Vec<usize>> = BTreeMap::new();
    for (i, c) in cases.iter().enumerate() {
        keys.entry(format!("source {}", c.source))
            .or_default()
            .push(i);
        keys.entry(format!("repo {}", c.repo)).or_default().push(i);
    }
    for (k, members) in keys {
        report(&mut text, &k, members);
    }
    let all = groups;
    let weights = learn::fit(&all, &options);
    let _ = writeln!(
        text,
        "\nweights fitted on all {} cases (loss {:.4}):",
        cases.len(),
        learn::loss(&all, &weights)
    );
    for (name, w) in FEATURES.iter().zip(weights.0) {
        let _ = writeln!(text, "  {name:<16} {w:>9.4}");
    }
    let _ = writeln!(
        text,
        "[{}]",
        weights
            .0
            .iter()
            .map(|w| format!("{w:.4}"))
            .collect::<Vec<_>>()
            .join(", ")
    );
    if let Some(path) = &args.out {
        let trained = serde_yaml::to_value(serde_json::json!({
            "from": args.features, "cases": all.len(), "l2": args.l2,
        }))?;
        learn::FusionFile::new(
            Fusion {
                weights,
                temperature: 1.0,
            },
            trained,
        )
        .save(path)?;
    }
    if args.verbose {
        for (c, r) in cases.iter().zip(&ranks) {
            let _ = writeln!(text, "{} {} {}", c.id, c.source, r);
        }
    }
    out(&text)?;
    Ok(0)
}
