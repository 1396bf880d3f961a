//! `rca backtest`: replay past investigations whose culprit is known and
//! measure the ranking.
//!
//! Each case is replayed as docs/cases.md says: the window is
//! `[since, opened_at)` on the case file's default branch, and only the
//! title, impact and (unless `--no-team-hint`) team hints reach the
//! pipeline. The culprit id is used only to score the result.

use super::{out, progress};
use crate::cache::DiffCache;
use crate::calibrate::{at_coverage, risk_coverage, Calibration, CurvePoint, Observation};
use crate::cases::{self, Case, CasesFile};
use crate::cli::{defaults, BacktestArgs, BacktestFormat};
use crate::config::Config;
use crate::error::{exit_code, input, usage};
use crate::history;
use crate::investigation::{self, Request};
use crate::plot::{self, Series};
use crate::retrieve::Fusion;
use crate::train::fusion::fusion_id;
use crate::when::{self, Seconds};
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
    /// The reported confidence (calibrated when a calibration was given).
    pub confidence: f64,
    /// The ranker's own confidence, which `rca calibrate` fits.
    pub raw_confidence: f64,
    pub abstained: bool,
    pub history_s: f64,
    pub retrieve_s: f64,
    pub rank_s: f64,
    /// With `--bisect`: the simulated bisections (None when the culprit is
    /// not in the window).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bisect: Option<super::bisect::SimulatedCase>,
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
    pub min_confidence: f64,
    pub calibrated: bool,
    /// The fusion of the retrieval signals (`built-in` or its id).
    pub fusion: String,
    /// Precision@5 against coverage as the confidence threshold sweeps
    /// from high to low (on raw confidence; calibration keeps the order).
    pub curve: Vec<CurvePoint>,
    /// The curve at 25, 50, 75 and 100% coverage.
    pub operating_points: Vec<CurvePoint>,
    /// With `--bisect`: the simulated bisections.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub bisect: Option<super::bisect::SimulationSummary>,
}

pub fn metrics(results: &[&CaseResult]) -> Metrics {
    let n = results.len().max(1) as f64;
    let ranks: Vec<Option<usize>> = results.iter().map(|r| r.culprit_rank).collect();
    let mut windows: Vec<usize> = results.iter().map(|r| r.window).collect();
    windows.sort_unstable();
    let median_window = match windows.len() {
        0 => 0.0,
        len if len % 2 == 1 => windows[len / 2] as f64,
        len => (windows[len / 2 - 1] + windows[len / 2]) as f64 / 2.0,
    };
    let mean = |f: fn(&CaseResult) -> f64| results.iter().map(|r| f(r)).sum::<f64>() / n;
    let answered: Vec<Option<usize>> = results
        .iter()
        .filter(|r| !r.abstained)
        .map(|r| r.culprit_rank)
        .collect();
    Metrics {
        cases: results.len(),
        hit_at_1: hit_rate(&ranks, 1),
        hit_at_5: hit_rate(&ranks, 5),
        hit_at_10: hit_rate(&ranks, 10),
        mrr: mrr(&ranks),
        recall_at_candidates: ranks.iter().filter(|r| r.is_some()).count() as f64 / n,
        median_window,
        seconds_per_case: mean(|r| r.history_s + r.retrieve_s + r.rank_s),
        stage_seconds: BTreeMap::from([
            ("history", mean(|r| r.history_s)),
            ("retrieve", mean(|r| r.retrieve_s)),
            ("rank", mean(|r| r.rank_s)),
        ]),
        answered: answered.len(),
        hit_at_5_answered: (!answered.is_empty()).then(|| hit_rate(&answered, 5)),
    }
}

/// Share of `ranks` (1-based; `None`: not ranked) at or above `k`.
pub fn hit_rate(ranks: &[Option<usize>], k: usize) -> f64 {
    ranks.iter().filter(|r| r.is_some_and(|x| x <= k)).count() as f64 / ranks.len().max(1) as f64
}

/// Mean reciprocal rank (`None` counts 0).
pub fn mrr(ranks: &[Option<usize>]) -> f64 {
    ranks
        .iter()
        .map(|r| r.map_or(0.0, |x| 1.0 / x as f64))
        .sum::<f64>()
        / ranks.len().max(1) as f64
}

/// Each case's raw confidence and whether its culprit was in the top five.
pub fn observations(results: &[CaseResult]) -> Vec<Observation> {
    results
        .iter()
        .map(|r| Observation {
            confidence: r.raw_confidence,
            hit: r.culprit_rank.is_some_and(|x| x <= 5),
        })
        .collect()
}

/// How a run was set up, for its summary.
pub struct RunInfo<'a> {
    pub fusion: String,
    pub team_hint: bool,
    pub ranker: &'a str,
    pub candidates_limit: usize,
    pub min_confidence: f64,
    pub calibrated: bool,
    /// `--bisect` with this share of bad runs passing.
    pub bisect: Option<f64>,
}

pub fn summarize(results: &[CaseResult], info: &RunInfo<'_>) -> Summary {
    let all: Vec<&CaseResult> = results.iter().collect();
    let curve = risk_coverage(&observations(results));
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
        team_hint: info.team_hint,
        ranker: info.ranker.to_owned(),
        candidates_limit: info.candidates_limit,
        min_confidence: info.min_confidence,
        calibrated: info.calibrated,
        fusion: info.fusion.clone(),
        operating_points: [0.25, 0.5, 0.75, 1.0]
            .iter()
            .filter_map(|&c| at_coverage(&curve, c))
            .collect(),
        curve,
        bisect: info.bisect.map(|false_pass| {
            let cases: Vec<_> = results.iter().map(|r| r.bisect.clone()).collect();
            super::bisect::summarize_simulation(&cases, false_pass)
        }),
    }
}

/// The repository a cases file is replayed on: its mirror inside `root`
/// when there is one (the file's `mirror`, else `owner+name` from its
/// `repo`, as `rca cases mine` writes it), else `root` itself.
pub fn repository_for(root: &Path, file: &CasesFile) -> Result<Repository> {
    let mirror = file
        .mirror
        .clone()
        .unwrap_or_else(|| file.repo.replace('/', "+"));
    let candidate: PathBuf = root.join(&mirror).join("repo");
    if candidate.exists() {
        return history::open(&candidate).map_err(|e| input(e.to_string()));
    }
    history::open(root).map_err(|e| input(format!("{e}, and it holds no mirror {mirror}/repo")))
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

pub fn run(mut args: BacktestArgs) -> Result<u8> {
    if !(0.0..=1.0).contains(&args.min_confidence) {
        return Err(usage("--min-confidence must be between 0 and 1"));
    }
    if !(0.0..0.5).contains(&args.bisect_false_pass) {
        return Err(usage(
            "--bisect-false-pass must be at least 0 and below 0.5",
        ));
    }
    let config = match &args.config {
        Some(path) => Config::load(path)?,
        None => Config::default(),
    };
    config.fill_model_args(&mut args.model)?;
    let fusion = super::ranking::fusion(&args.model)?;
    // Only a calibration given with --calibration applies: the raw
    // confidence, which every case line keeps, is what `rca calibrate` fits.
    let calibration = match &args.calibration {
        Some(path) => super::calibrate::resolve(
            false,
            Some(path.clone()),
            args.model.ranker().as_str(),
            &fusion_id(&fusion),
        )?,
        None => None,
    };
    let candidates = args
        .candidates
        .or(config.ranking.candidates)
        .unwrap_or(defaults::CANDIDATES) as usize;
    let bound = |flag: &str, text: &Option<String>| -> Result<Option<Seconds>> {
        text.as_deref()
            .map(|t| when::parse(t, when::now()).map_err(|e| input(format!("{flag}: {e}"))))
            .transpose()
    };
    let (from, before) = (
        bound("--opened-from", &args.opened_from)?,
        bound("--opened-before", &args.opened_before)?,
    );
    let mut files = Vec::new();
    for path in &args.cases {
        let mut file = cases::load(path)?;
        let mut kept = Vec::new();
        for case in file.cases {
            let (_, opened) = case.window()?;
            if from.is_none_or(|f| opened >= f) && before.is_none_or(|b| opened < b) {
                kept.push(case);
            }
        }
        file.cases = kept;
        let repo = repository_for(&args.repo, &file)?;
        check_root_causes(&repo, path, &file)?;
        files.push((file, repo));
    }
    for (flag, path) in [
        ("--save-groups", &args.save_groups),
        ("--save-examples", &args.save_examples),
    ] {
        if let Some(path) = path {
            super::check_writable(flag, path)?;
        }
    }
    let mut groups = String::new();
    let mut examples = Vec::new();
    let mut output = match &args.out {
        Some(dir) => Some(OutDir::create(dir)?),
        None => None,
    };
    let total: usize = files
        .iter()
        .map(|(f, _)| args.limit.map_or(f.cases.len(), |l| l.min(f.cases.len())))
        .sum();
    let mut session = super::ranking::Session::new(&args.model, 10)?;
    let settings = Settings {
        fusion,
        team_hint: !args.no_team_hint,
        candidates,
        min_confidence: args.min_confidence,
        calibration: calibration.map(|(_, c)| c),
        diff_cache: args.cache.diff_cache(),
        bisect: args.bisect.then_some(args.bisect_false_pass),
    };
    let bar = progress::bar(total as u64, "cases");
    let mut results = Vec::new();
    for (file, repo) in &files {
        for case in file.cases.iter().take(args.limit.unwrap_or(usize::MAX)) {
            bar.set_message(case.id.clone());
            let (result, group, example) = replay(repo, file, case, &settings, &mut session)?;
            groups.push_str(&group);
            examples.extend(example);
            let line = serde_json::to_string(&result)?;
            if args.format == BacktestFormat::Jsonl {
                bar.suspend(|| out(&format!("{line}\n")))?;
            }
            if let Some(dir) = output.as_mut() {
                dir.case_line(&line)?;
            }
            results.push(result);
            bar.inc(1);
        }
    }
    bar.finish_and_clear();
    let summary = summarize(
        &results,
        &RunInfo {
            fusion: fusion_id(&settings.fusion),
            team_hint: settings.team_hint,
            ranker: session.name(),
            candidates_limit: candidates,
            min_confidence: settings.min_confidence,
            calibrated: settings.calibration.is_some(),
            bisect: settings.bisect,
        },
    );
    if let Some(dir) = output {
        dir.finish(&summary, &results)?;
    }
    if let Some(path) = &args.save_groups {
        std::fs::write(path, groups)
            .map_err(|e| input(format!("writing {}: {e}", path.display())))?;
    }
    if let Some(path) = &args.save_examples {
        crate::train::examples::save(path, &examples)?;
    }
    match args.format {
        BacktestFormat::Json => out(&format!("{}\n", serde_json::to_string_pretty(&summary)?))?,
        BacktestFormat::Text => {
            out(&render(&results, &summary))?;
            if let Some(simulation) = &summary.bisect {
                out(&super::bisect::render_simulation(simulation))?;
            }
        }
        BacktestFormat::Jsonl => {}
    }
    Ok(exit_code::SUCCESS)
}

/// What every replayed case shares.
struct Settings {
    fusion: Fusion,
    team_hint: bool,
    candidates: usize,
    min_confidence: f64,
    calibration: Option<Calibration>,
    diff_cache: Option<DiffCache>,
    /// Simulate bisections, with this share of bad runs passing.
    bisect: Option<f64>,
}

/// The `--out` folder: per-case lines as they finish (a stopped run keeps
/// what it did), then the summary and the risk-coverage plot.
struct OutDir {
    dir: PathBuf,
    cases: std::io::BufWriter<std::fs::File>,
}

impl OutDir {
    fn create(dir: &Path) -> Result<OutDir> {
        let fail = |e: std::io::Error| input(format!("--out {}: {e}", dir.display()));
        std::fs::create_dir_all(dir).map_err(fail)?;
        let cases = std::fs::File::create(dir.join("cases.jsonl")).map_err(fail)?;
        Ok(OutDir {
            dir: dir.to_path_buf(),
            cases: std::io::BufWriter::new(cases),
        })
    }

    fn case_line(&mut self, line: &str) -> Result<()> {
        writeln!(self.cases, "{line}")?;
        Ok(self.cases.flush()?)
    }

    fn finish(self, summary: &Summary, results: &[CaseResult]) -> Result<()> {
        let write = |name: &str, text: String| {
            let path = self.dir.join(name);
            std::fs::write(&path, text)
                .map_err(|e| input(format!("writing {}: {e}", path.display())))
        };
        write(
            "summary.json",
            serde_json::to_string_pretty(summary)? + "\n",
        )?;
        write("curve.svg", curve_svg(summary, results)?)
    }
}

/// Precision@5 against coverage, overall and per source, with hit@5 over
/// all cases as the floor every threshold is measured against.
fn curve_svg(summary: &Summary, results: &[CaseResult]) -> Result<String> {
    let points = |curve: Vec<CurvePoint>| curve.iter().map(|p| (p.coverage, p.precision)).collect();
    let overall = summary.overall.hit_at_5;
    let mut series = vec![Series {
        label: "all cases".into(),
        points: points(summary.curve.clone()),
        reference: false,
    }];
    if summary.by_source.len() > 1 {
        for source in summary.by_source.keys() {
            let cases: Vec<CaseResult> = results
                .iter()
                .filter(|r| &r.source == source)
                .cloned()
                .collect();
            series.push(Series {
                label: format!("source {source} ({} cases)", cases.len()),
                points: points(risk_coverage(&observations(&cases))),
                reference: false,
            });
        }
    }
    series.push(Series {
        label: format!("hit@5 over all cases ({overall:.3})"),
        points: vec![(0.0, overall), (1.0, overall)],
        reference: true,
    });
    plot::chart(
        &format!(
            "risk-coverage: {} ranker, {} cases, team hints {}",
            summary.ranker,
            summary.overall.cases,
            if summary.team_hint { "on" } else { "off" }
        ),
        "coverage (share of cases answered)",
        "precision@5 (culprit in the top 5)",
        &series,
    )
}

/// A seed from a case id (FNV-1a), the same on every machine.
fn seed_of(id: &str) -> u64 {
    id.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// Candidates per `--save-examples` example: the judge's electorate.
const EXAMPLE_SIZE: usize = 20;

fn replay(
    repo: &Repository,
    file: &CasesFile,
    case: &Case,
    settings: &Settings,
    session: &mut super::ranking::Session,
) -> Result<(CaseResult, String, Option<crate::train::Example>)> {
    let (since, opened_at) = case.window()?;
    let request = Request {
        facts: case.facts(settings.team_hint),
        since,
        until: opened_at,
        reference: Some(format!("refs/heads/{}", file.default_branch)),
        ownership_file: None,
        candidates: settings.candidates,
        // The confidence is that the culprit is in the top five, which is
        // what hit@5 and the calibration measure.
        top: 5,
        min_confidence: settings.min_confidence,
        fusion: settings.fusion.clone(),
        calibration: settings.calibration.clone(),
        diff_cache: settings.diff_cache.clone(),
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
    let group = match culprit_rank {
        Some(rank) => super::train::group_line(
            &case.id,
            &case.opened_at,
            &crate::train::fusion::Group {
                features: outcome
                    .ranking
                    .iter()
                    .map(|s| s.candidate.features)
                    .collect(),
                culprit: rank - 1,
                regime: crate::retrieve::Regime::of(&request.facts),
            },
            &outcome
                .ranking
                .iter()
                .map(|s| s.candidate.commit.id.clone())
                .collect::<Vec<_>>(),
        ),
        None => String::new(),
    };
    let example = culprit_rank
        .filter(|&rank| rank <= EXAMPLE_SIZE)
        .map(|rank| crate::train::Example {
            case: case.id.clone(),
            facts: request.facts.clone(),
            until: opened_at,
            candidates: outcome
                .ranking
                .iter()
                .take(EXAMPLE_SIZE)
                .map(|s| s.candidate.clone())
                .collect(),
            culprit: rank - 1,
        });
    let report = &outcome.report;
    let result = CaseResult {
        id: case.id.clone(),
        repo: file.repo.clone(),
        source: case.source.clone(),
        culprit_rank,
        window: report.window.commits,
        candidates: report.candidates,
        confidence: report.confidence,
        raw_confidence: report.raw_confidence,
        abstained: report.abstained,
        history_s: report.timings.history_s,
        retrieve_s: report.timings.retrieve_s,
        rank_s: report.timings.rank_s,
        bisect: match settings.bisect {
            Some(false_pass) => {
                super::bisect::simulate(repo, &outcome, &culprit, false_pass, seed_of(&case.id))?
            }
            None => None,
        },
    };
    Ok((result, group, example))
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
    let _ = writeln!(
        text,
        "\nrisk-coverage (answer when confidence >= threshold)\n{:>9} {:>9} {:>9} {:>10}",
        "coverage", "answered", "threshold", "precision"
    );
    for p in &summary.operating_points {
        let _ = writeln!(
            text,
            "{:>8.0}% {:>9} {:>9.4} {:>10.3}",
            p.coverage * 100.0,
            p.answered,
            p.threshold,
            p.precision
        );
    }
    if summary.min_confidence > 0.0 {
        let o = &summary.overall;
        let _ = writeln!(
            text,
            "at --min-confidence {}: answered {} of {} cases, precision@5 {}",
            summary.min_confidence,
            o.answered,
            o.cases,
            o.hit_at_5_answered
                .map_or("-".to_owned(), |p| format!("{p:.3}"))
        );
    }
    text
}
