//! One investigation through every stage: history → retrieve → rank →
//! report. `rca investigate` runs it once; `rca backtest` runs it per case.

use crate::cache::DiffCache;
use crate::calibrate::Calibration;
use crate::cases::Facts;
use crate::error::input;
use crate::history::{self, HistoryError};
use crate::ownership::Ownership;
use crate::rank::{self, ElectionOptions, Judge, PointwiseOptions, Progress, Scorer, Suspect};
use crate::report::{EdgeReport, Report, SuspectReport, Timings, WindowSummary};
use crate::retrieve::{self, Fusion};
use crate::when::{rfc3339, Seconds};
use anyhow::{Context, Result};
use git2::Repository;
use std::time::Instant;

/// Everything an investigation needs besides the repository and the ranker.
#[derive(Debug, Clone)]
pub struct Request {
    pub facts: Facts,
    pub since: Seconds,
    pub until: Seconds,
    /// Where the main line ends (default HEAD).
    pub reference: Option<String>,
    /// Ownership file to use instead of detection.
    pub ownership_file: Option<String>,
    pub candidates: usize,
    pub top: usize,
    /// Abstain below this confidence (calibrated when `calibration` is set).
    pub min_confidence: f64,
    pub fusion: Fusion,
    /// Maps the ranker's raw confidence to a calibrated one.
    pub calibration: Option<Calibration>,
    /// Where diff readings of commits seen before are kept (none: read
    /// every diff from the repository).
    pub diff_cache: Option<DiffCache>,
}

/// How candidates are ranked.
pub enum Ranker<'a> {
    Heuristic,
    Election {
        judge: &'a mut dyn Judge,
        options: ElectionOptions,
        progress: &'a mut dyn Progress,
    },
    Pointwise {
        scorer: &'a mut dyn Scorer,
        options: PointwiseOptions,
        progress: &'a mut dyn Progress,
    },
}

/// The result: the report and, for backtests, the whole ranking.
pub struct Outcome {
    pub report: Report,
    /// Every candidate, best first (the report holds the first `top`).
    pub ranking: Vec<Suspect>,
    /// The last main-line commit before the window, when the history has it.
    pub base: Option<String>,
}

/// Maps history errors to input errors; the rest stays internal.
fn history_error(err: anyhow::Error) -> anyhow::Error {
    match err.downcast::<HistoryError>() {
        Ok(e) => input(e.to_string()),
        Err(e) => e,
    }
}

/// Runs one investigation on an opened repository.
pub fn run(
    repo: &Repository,
    repository_label: &str,
    request: &Request,
    ranker: Ranker<'_>,
    reproduce: String,
) -> Result<Outcome> {
    let started = Instant::now();
    if request.since >= request.until {
        return Err(input(format!(
            "--since ({}) is not before --until ({})",
            rfc3339(request.since),
            rfc3339(request.until)
        )));
    }
    let start = history::start_commit(repo, request.reference.as_deref(), request.until)
        .map_err(history_error)?;
    let window = history::window(
        repo,
        start,
        request.since,
        request.until,
        request.diff_cache.as_ref(),
    )
    .context("walking history")?;
    if window.commits.is_empty() {
        return Err(input(
            HistoryError::EmptyWindow {
                since: rfc3339(request.since),
                until: rfc3339(request.until),
            }
            .to_string(),
        ));
    }
    let history_s = started.elapsed().as_secs_f64();

    let retrieve_started = Instant::now();
    let tree = repo.find_commit(start)?.tree()?;
    let ownership = Ownership::from_tree(repo, &tree, request.ownership_file.as_deref())
        .map_err(|e| input(format!("malformed ownership file: {e}")))?;
    let summary = WindowSummary {
        commits: window.commits.len(),
        mainline: window.mainline,
        merged_in: window.commits.len() - window.mainline,
        truncated: window.truncated,
        from_cache: window.from_cache,
        edge: window
            .edge
            .as_ref()
            .map(|e| EdgeReport::new(e, request.since)),
        missing_objects: window
            .commits
            .iter()
            .filter(|c| c.files.iter().any(|f| f.missing))
            .take(20)
            .map(|c| c.id.clone())
            .collect(),
    };
    let base = window.base.clone();
    let options = retrieve::Options {
        limit: request.candidates.max(1),
        fusion: request.fusion.clone(),
    };
    let candidates = retrieve::retrieve(
        window.commits,
        request.until,
        &request.facts,
        &ownership,
        &options,
    );
    let candidate_count = candidates.len();
    let retrieve_s = retrieve_started.elapsed().as_secs_f64();

    let rank_started = Instant::now();
    let (ranker_name, suspects): (&str, Vec<Suspect>) = match ranker {
        Ranker::Heuristic => ("heuristic", rank::heuristic(candidates)),
        Ranker::Election {
            judge,
            options,
            progress,
        } => (
            "llm",
            rank::elect(
                candidates,
                &request.facts,
                request.until,
                judge,
                &options,
                progress,
            )?,
        ),
        Ranker::Pointwise {
            scorer,
            options,
            progress,
        } => (
            "llm",
            rank::pointwise(
                candidates,
                &request.facts,
                request.until,
                scorer,
                &options,
                progress,
            )?,
        ),
    };
    let rank_s = rank_started.elapsed().as_secs_f64();

    let top: Vec<SuspectReport> = suspects
        .iter()
        .take(request.top)
        .enumerate()
        .map(|(i, s)| SuspectReport::new(i + 1, s, request.until))
        .collect();
    let raw_confidence: f64 = top
        .iter()
        .map(|s| s.probability)
        .sum::<f64>()
        .clamp(0.0, 1.0);
    let confidence = request
        .calibration
        .as_ref()
        .map_or(raw_confidence, |c| c.apply(raw_confidence));
    let report = Report {
        schema: crate::report::SCHEMA,
        title: request.facts.title.clone(),
        impact: request.facts.impact.clone(),
        team_hints: request.facts.team_hints.clone(),
        path_hints: request.facts.path_hints.clone(),
        repository: repository_label.to_owned(),
        start: window.start,
        since: rfc3339(request.since),
        until: rfc3339(request.until),
        window: summary,
        candidates: candidate_count,
        ranker: ranker_name.to_owned(),
        fusion: crate::train::fusion::fusion_id(&request.fusion),
        model: None,
        confidence,
        raw_confidence,
        calibrated: request.calibration.is_some(),
        min_confidence: request.min_confidence,
        abstained: confidence < request.min_confidence,
        suspects: top,
        timings: Timings {
            history_s,
            retrieve_s,
            rank_s,
            total_s: started.elapsed().as_secs_f64(),
        },
        reproduce,
    };
    Ok(Outcome {
        report,
        ranking: suspects,
        base,
    })
}
