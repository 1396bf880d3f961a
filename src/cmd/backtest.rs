//! `rca backtest`: replay past investigations whose culprit is known and
//! measure the ranking.
//!
//! Each case is replayed as docs/cases.md says: the window is
//! `[since, opened_at)` on the case file's default branch, and only the
//! title, impact and (unless `--no-team-hint`) team hints reach the
//! pipeline. The culprit id is used only to score the result.

use super::{out, progress};
use crate::cases::{self, Case, CasesFile};
use crate::cli::{BacktestArgs, Format};
use crate::error::{exit_code, input};
use crate::history;
use crate::investigation::{self, Request};
use crate::retrieve::{Weights, FEATURES};
use anyhow::{Context, Result};
use git2::Repository;
use serde::Serialize;
use std::collections::BTreeMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};

/// The result of one replayed case.
#[derive(Debug, Clone, Serialize)]
pub struct CaseResult {
    pub id: String,
    pub repo: String,
    pub source: String,
    /// 1-based rank of the culprit, or None when retrieval dropped it.
    pub culprit_rank: Option<usize>,
    pub window: usize,
    pub candidates: usize,
    pub confidence: f64,
    pub abstained: bool,
    pub history_s: f64,
    pub retrieve_s: f64,
    pub rank_s: f64,
}

/// Aggregate metrics over a set of cases.
#[derive(Debug, Clone, Serialize)]
pub struct Metrics {
    pub cases: usize,
    pub hit_at_1: f64,
    pub hit_at_5: f64,
    pub hit_at_10: f64,
    pub mrr: f64,
    /// Share of cases whose culprit survived retrieval.
    pub recall_at_candidates: f64,
    pub median_window: f64,
    pub seconds_per_case: f64,
    /// Mean seconds per case in each stage.
    pub stage_seconds: BTreeMap<&'static str, f64>,
    /// Cases not abstained from, and hit@5 over them.
    pub answered: usize,
    pub hit_at_5_answered: Option<f64>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Summary {
    #[serde(flatten)]
    pub overall: Metrics,
    pub by_source: BTreeMap<String, Metrics>,
    pub by_repo: BTreeMap<String, Metrics>,
    pub team_hint: bool,
    pub ranker: String,
    pub candidates_limit: usize,
}

pub fn metrics(results: &[&CaseResult]) -> Metrics {
    let n = results.len().max(1) as f64;
    let hit = |k: usize| {
        results
            .iter()
            .filter(|r| r.culprit_rank.is_some_and(|x| x <= k))
            .count() as f64
            / n
    };
    let mut windows: Vec<usize> = results.iter().map(|r| r.window).collect();
    windows.sort_unstable();
    let median_window = match windows.len() {
        0 => 0.0,
        len if len % 2 == 1 => windows[len / 2] as f64,
        len => (windows[len / 2 - 1] + windows[len / 2]) as f64 / 2.0,
    };
    let mean = |f: fn(&CaseResult) -> f64| results.iter().map(|r| f(r)).sum::<f64>() / n;
    let answered: Vec<&&CaseResult> = results.iter().filter(|r| !r.abstained).collect();
    Metrics {
        cases: results.len(),
        hit_at_1: hit(1),
        hit_at_5: hit(5),
        hit_at_10: hit(10),
        mrr: results
            .iter()
            .map(|r| r.culprit_rank.map_or(0.0, |x| 1.0 / x as f64))
            .sum::<f64>()
            / n,
        recall_at_candidates: results.iter().filter(|r| r.culprit_rank.is_some()).count() as f64
            / n,
        median_window,
        seconds_per_case: mean(|r| r.history_s + r.retrieve_s + r.rank_s),
        stage_seconds: BTreeMap::from([
            ("history", mean(|r| r.history_s)),
            ("retrieve", mean(|r| r.retrieve_s)),
            ("rank", mean(|r| r.rank_s)),
        ]),
        answered: answered.len(),
        hit_at_5_answered: (!answered.is_empty()).then(|| {
            answered
                .iter()
                .filter(|r| r.culprit_rank.is_some_and(|x| x <= 5))
                .count() as f64
                / answered.len() as f64
        }),
    }
}

pub fn summarize(
    results: &[CaseResult],
    team_hint: bool,
    ranker: &str,
    candidates_limit: usize,
) -> Summary {
    let all: Vec<&CaseResult> = results.iter().collect();
    let group = |key: fn(&CaseResult) -> &str| {
        let mut groups: BTreeMap<String, Vec<&CaseResult>> = BTreeMap::new();
        for r in results {
            groups.entry(key(r).to_owned()).or_default().push(r);
        }
        groups.into_iter().map(|(k, v)| (k, metrics(&v))).collect()
    };
    Summary {
        overall: metrics(&all),
        by_source: group(|r| &r.source),
        by_repo: group(|r| &r.repo),
        team_hint,
        ranker: ranker.to_owned(),
        candidates_limit,
    }
}

/// The repository a cases file is replayed on: its mirror inside `root`
/// when there is one, else `root` itself.
fn repository_for(root: &Path, file: &CasesFile) -> Result<Repository> {
    if let Some(mirror) = &file.mirror {
        let candidate: PathBuf = root.join(mirror).join("repo");
        if candidate.exists() {
            return history::open(&candidate).map_err(|e| input(e.to_string()));
        }
    }
    history::open(root).map_err(|e| {
        input(match &file.mirror {
            Some(m) => format!("{e}, and it holds no mirror {m}/repo"),
            None => e.to_string(),
        })
    })
}

/// Checks that every case's culprit exists, before anything runs.
fn check_root_causes(repo: &Repository, path: &Path, file: &CasesFile) -> Result<()> {
    for case in &file.cases {
        let found = repo
            .revparse_single(&case.root_cause)
            .and_then(|o| o.peel_to_commit())
            .is_ok();
        if !found {
            return Err(input(format!(
                "{}: case {}: unknown root_cause {} (not in the repository)",
                path.display(),
                case.id,
                case.root_cause
            )));
        }
    }
    Ok(())
}

pub fn run(args: BacktestArgs) -> Result<u8> {
    let mut files = Vec::new();
    for path in &args.cases {
        let file = cases::load(path)?;
        let repo = repository_for(&args.repo, &file)?;
        check_root_causes(&repo, path, &file)?;
        files.push((file, repo));
    }
    let total: usize = files
        .iter()
        .map(|(f, _)| args.limit.map_or(f.cases.len(), |l| l.min(f.cases.len())))
        .sum();
    let mut session = super::ranking::Session::new(&args.model, 10)?;
    let mut features_out = match &args.dump_features {
        Some(path) => Some(std::io::BufWriter::new(
            std::fs::File::create(path).with_context(|| format!("creating {}", path.display()))?,
        )),
        None => None,
    };
    let bar = progress::bar(total as u64, "cases");
    let mut results = Vec::new();
    for (file, repo) in &files {
        for case in file.cases.iter().take(args.limit.unwrap_or(usize::MAX)) {
            bar.set_message(case.id.clone());
            let result = replay(repo, file, case, &args, &mut session, features_out.as_mut())?;
            results.push(result);
            bar.inc(1);
        }
    }
    bar.finish_and_clear();
    if let Some(mut w) = features_out {
        w.flush()?;
    }
    let summary = summarize(
        &results,
        !args.no_team_hint,
        session.name(),
        args.candidates as usize,
    );
    match args.format {
        Format::Json => out(&format!("{}\n", serde_json::to_string_pretty(&summary)?))?,
        Format::Text => out(&render(&results, &summary))?,
    }
    Ok(exit_code::SUCCESS)
}

fn replay(
    repo: &Repository,
    file: &CasesFile,
    case: &Case,
    args: &BacktestArgs,
    session: &mut super::ranking::Session,
    features_out: Option<&mut std::io::BufWriter<std::fs::File>>,
) -> Result<CaseResult> {
    let (since, opened_at) = case.window()?;
    let request = Request {
        facts: case.facts(!args.no_team_hint),
        since,
        until: opened_at,
        reference: Some(format!("refs/heads/{}", file.default_branch)),
        ownership_file: None,
        candidates: args.candidates as usize,
        top: 10,
        min_confidence: 0.0,
        weights: Weights::default(),
    };
    let outcome = investigation::run(
        repo,
        &file.repo,
        &request,
        session.ranker(&indicatif::ProgressBar::hidden()), // the cases bar stays a bar over cases
        String::new(),
    )
    .with_context(|| format!("case {}", case.id))?;
    let culprit = repo.revparse_single(&case.root_cause)?.id().to_string();
    let culprit_rank = outcome
        .ranking
        .iter()
        .position(|s| s.candidate.commit.id == culprit)
        .map(|i| i + 1);
    if let Some(w) = features_out {
        for (position, suspect) in outcome.ranking.iter().enumerate() {
            let c = &suspect.candidate;
            let features: BTreeMap<&str, f64> = FEATURES
                .iter()
                .copied()
                .zip(c.features.iter().copied())
                .collect();
            let row = serde_json::json!({
                "case": case.id, "repo": file.repo, "source": case.source,
                "commit": c.commit.id, "culprit": c.commit.id == culprit,
                "rank": position + 1, "features": features,
            });
            writeln!(w, "{row}")?;
        }
    }
    let report = &outcome.report;
    Ok(CaseResult {
        id: case.id.clone(),
        repo: file.repo.clone(),
        source: case.source.clone(),
        culprit_rank,
        window: report.window.commits,
        candidates: report.candidates,
        confidence: report.confidence,
        abstained: report.abstained,
        history_s: report.timings.history_s,
        retrieve_s: report.timings.retrieve_s,
        rank_s: report.timings.rank_s,
    })
}

fn render(results: &[CaseResult], summary: &Summary) -> String {
    use std::fmt::Write as _;
    let mut text = String::new();
    let _ = writeln!(
        text,
        "{:<16} {:<20} {:<14} {:>6} {:>7} {:>10}",
        "case", "repo", "source", "window", "rank", "confidence"
    );
    for r in results {
        let rank = r.culprit_rank.map_or("-".to_owned(), |x| x.to_string());
        let _ = writeln!(
            text,
            "{:<16} {:<20} {:<14} {:>6} {:>7} {:>10.3}",
            r.id, r.repo, r.source, r.window, rank, r.confidence
        );
    }
    let line = |name: &str, m: &Metrics| {
        format!(
            "{:<22} {:>5} {:>6.3} {:>6.3} {:>6.3} {:>6.3} {:>7.3} {:>7.0} {:>7.2}\n",
            name,
            m.cases,
            m.hit_at_1,
            m.hit_at_5,
            m.hit_at_10,
            m.mrr,
            m.recall_at_candidates,
            m.median_window,
            m.seconds_per_case
        )
    };
    let _ = writeln!(
        text,
        "\nranker {}, team hints {}, candidates {}\n{:<22} {:>5} {:>6} {:>6} {:>6} {:>6} {:>7} {:>7} {:>7}",
        summary.ranker,
        if summary.team_hint { "on" } else { "off" },
        summary.candidates_limit,
        "group", "cases", "hit@1", "hit@5", "hit@10", "mrr", "recall", "window", "s/case"
    );
    text.push_str(&line("all", &summary.overall));
    for (k, m) in &summary.by_source {
        text.push_str(&line(&format!("source {k}"), m));
    }
    for (k, m) in &summary.by_repo {
        text.push_str(&line(&format!("repo {k}"), m));
    }
    text
}
