//! `rca bisect`: find which commit of an investigation's window makes a
//! command fail, starting from the ranking (see [`crate::bisect`]).

use super::investigate::{reproduce_command, request};
use super::{out, progress, shell_quote};
use crate::bisect::scratch::{self, Scratch};
use crate::bisect::{
    self, Choice, Graph, Hypothesis, Limits, Noise, Outcome, Search, Stop, Target,
};
use crate::cli::{BisectArgs, Format, IncidentArgs, PriorName};
use crate::config::Config;
use crate::error::{exit_code, input, usage};
use crate::history;
use crate::investigation::{self, Request};
use anyhow::Result;
use git2::{Oid, Repository};
use serde::Serialize;
use std::path::Path;

pub const SCHEMA: &str = "rca.bisect/1";

/// The JSON document (docs/json-schema.md).
#[derive(Debug, Serialize)]
pub struct BisectReport {
    pub schema: &'static str,
    pub repository: String,
    /// The window's newest main-line commit, assumed to fail.
    pub start: String,
    /// The last main-line commit before the window, assumed to pass.
    pub base: Option<String>,
    pub since: String,
    pub until: String,
    pub window_commits: usize,
    pub prior: &'static str,
    pub prior_floor: f64,
    pub false_fail: f64,
    pub false_pass: f64,
    pub confidence: f64,
    pub max_runs: usize,
    pub jobs: usize,
    pub command: Option<String>,
    pub dry_run: bool,
    /// Every run, in order (empty with --dry-run).
    pub runs: Vec<RunReport>,
    /// With --dry-run: the first batch, and for one job at a time the run
    /// after it either way.
    pub plan: Option<Plan>,
    /// Why the search stopped (absent with --dry-run).
    pub stop: Option<Stop>,
    pub verdict: Option<Verdict>,
    /// The posterior's most probable hypotheses at the end.
    pub top: Vec<Belief>,
    pub reproduce: String,
}

#[derive(Debug, Serialize)]
pub struct RunReport {
    pub run: usize,
    pub commit: String,
    pub short_id: String,
    pub subject: String,
    /// `window`, or `base` for the last commit before the window.
    pub target: &'static str,
    pub result: Outcome,
    pub exit_code: Option<i32>,
    pub seconds: f64,
    /// The posterior's top five after this run's batch.
    pub top: Vec<Belief>,
}

#[derive(Debug, Clone, Serialize)]
pub struct Belief {
    /// `commit`, `before_window` (the culprit is older than the window) or
    /// `no_failure` (nothing in the window fails).
    pub hypothesis: &'static str,
    pub commit: Option<String>,
    pub short_id: Option<String>,
    pub subject: Option<String>,
    pub probability: f64,
    /// The commit's rank in the investigation's ranking (None: not ranked).
    pub ranked: Option<usize>,
}

#[derive(Debug, Serialize)]
pub struct Verdict {
    /// `culprit`, `before_window`, `no_failure`, or `undecided` when the
    /// budget ran out (or nothing was left to test) below --confidence.
    pub kind: &'static str,
    #[serde(flatten)]
    pub belief: Belief,
    pub runs: usize,
}

#[derive(Debug, Serialize)]
pub struct Plan {
    pub first: Vec<PlannedRun>,
    pub if_it_fails: Option<PlannedRun>,
    pub if_it_passes: Option<PlannedRun>,
}

#[derive(Debug, Serialize)]
pub struct PlannedRun {
    pub commit: String,
    pub short_id: String,
    pub subject: String,
    /// Chance under the prior that this commit fails.
    pub p_bad: f64,
    /// Expected information of the run (of the batch so far), in bits.
    pub bits: f64,
}

/// What the command works on once the investigation has run.
struct Context<'a> {
    repo: &'a Repository,
    graph: &'a Graph,
    /// Commit id → rank in the investigation's ranking (1-based).
    ranks: std::collections::HashMap<&'a str, usize>,
}

impl Context<'_> {
    fn id(&self, target: Target) -> &str {
        match target {
            Target::Commit(c) => &self.graph.ids[c],
            Target::Base => self.graph.base.as_deref().unwrap_or_default(),
        }
    }

    fn subject(&self, id: &str) -> String {
        Oid::from_str(id)
            .ok()
            .and_then(|oid| self.repo.find_commit(oid).ok())
            .map(|c| String::from_utf8_lossy(c.summary_bytes().unwrap_or_default()).into_owned())
            .unwrap_or_default()
    }

    fn belief(&self, hypothesis: Hypothesis, probability: f64) -> Belief {
        match hypothesis {
            Hypothesis::Commit(c) => {
                let id = &self.graph.ids[c];
                Belief {
                    hypothesis: "commit",
                    commit: Some(id.clone()),
                    short_id: Some(id[..12.min(id.len())].to_owned()),
                    subject: Some(self.subject(id)),
                    probability,
                    ranked: self.ranks.get(id.as_str()).copied(),
                }
            }
            other => Belief {
                hypothesis: if other == Hypothesis::BeforeWindow {
                    "before_window"
                } else {
                    "no_failure"
                },
                commit: None,
                short_id: None,
                subject: None,
                probability,
                ranked: None,
            },
        }
    }

    fn top(&self, search: &Search<'_>, k: usize) -> Vec<Belief> {
        search
            .top(k)
            .into_iter()
            .map(|(h, p)| self.belief(h, p))
            .collect()
    }

    fn planned(&self, choice: &Choice) -> PlannedRun {
        let id = self.id(choice.target).to_owned();
        PlannedRun {
            short_id: id[..12.min(id.len())].to_owned(),
            subject: self.subject(&id),
            commit: id,
            p_bad: choice.p_bad,
            bits: choice.bits,
        }
    }
}

pub fn run(mut args: BisectArgs) -> Result<u8> {
    check(&args)?;
    let repo = history::open(&args.source.repo).map_err(|e| input(e.to_string()))?;
    let config = Config::find(args.source.config.as_deref(), repo.workdir())?;
    config.fill_model_args(&mut args.model)?;
    let (request, reported) = match (&args.from, &args.incident) {
        (Some(_), Some(_)) => {
            return Err(usage(
                "--from takes the facts and the window from the report: leave out --title, --impact, --team, --path, --since and --until",
            ))
        }
        (None, None) => {
            return Err(usage(
                "give the incident (--title and --since) or --from REPORT.json",
            ))
        }
        (Some(path), None) => {
            let saved = SavedReport::load(path)?;
            let mut source = args.source.clone();
            source.reference = Some(saved.start.clone());
            let request = request(&saved.incident(), &source, &args.model, &config)?;
            (request, Some(saved))
        }
        (None, Some(incident)) => (
            request(incident, &args.source, &args.model, &config)?,
            None,
        ),
    };
    let repository_label = super::repository_label(&repo);
    let mut session = super::ranking::Session::new(&args.model, request.top)?;
    let spinner = progress::spinner("walking history and ranking the window");
    let outcome = investigation::run(
        &repo,
        &repository_label,
        &request,
        session.ranker(&spinner),
        String::new(),
    )?;
    spinner.finish_and_clear();
    if let Some(saved) = &reported {
        saved.compare(&outcome)?;
    }
    if outcome.report.window.incomplete() {
        eprintln!(
            "rca: warning: the window reaches past the edge of this shallow or incomplete clone; commits missing from it cannot be tested (see `rca investigate`)"
        );
    }
    let graph = Graph::from_repository(&repo, &outcome.report.start, outcome.base.as_deref())?;
    let context = Context {
        repo: &repo,
        graph: &graph,
        ranks: outcome
            .ranking
            .iter()
            .enumerate()
            .map(|(i, s)| (s.candidate.commit.id.as_str(), i + 1))
            .collect(),
    };
    let prior = match args.prior {
        PriorName::Flat => vec![1.0; graph.len()],
        PriorName::Ranking => prior_of(&graph, &outcome, args.prior_floor),
    };
    let noise = Noise {
        false_fail: args.false_fail,
        false_pass: args.false_pass,
    };
    let limits = Limits {
        confidence: args.confidence,
        max_runs: args
            .max_runs
            .map_or_else(|| default_max_runs(graph.len()), |m| m as usize),
        jobs: usize::from(args.jobs),
    };
    let mut search = Search::new(&graph, &prior, noise);
    let mut report = BisectReport {
        schema: SCHEMA,
        repository: repository_label,
        start: outcome.report.start.clone(),
        base: graph.base.clone(),
        since: outcome.report.since.clone(),
        until: outcome.report.until.clone(),
        window_commits: graph.len(),
        prior: match args.prior {
            PriorName::Ranking => "ranking",
            PriorName::Flat => "flat",
        },
        prior_floor: args.prior_floor,
        false_fail: args.false_fail,
        false_pass: args.false_pass,
        confidence: limits.confidence,
        max_runs: limits.max_runs,
        jobs: limits.jobs,
        command: args.run.clone(),
        dry_run: args.dry_run,
        runs: Vec::new(),
        plan: None,
        stop: None,
        verdict: None,
        top: Vec::new(),
        reproduce: reproduce(&args, &request),
    };
    let text = args.format == Format::Text;
    if text {
        out(&header(&report))?;
    }
    if args.dry_run {
        report.plan = Some(plan(&context, &search, limits.jobs));
        report.top = context.top(&search, 5);
        out(&if text {
            render_plan(&report)
        } else {
            format!("{}\n", serde_json::to_string_pretty(&report)?)
        })?;
        return Ok(exit_code::SUCCESS);
    }
    let command = args.run.clone().unwrap_or_default();
    crate::interrupt::cooperate();
    let scratches = (0..limits.jobs)
        .map(|_| Scratch::create(&repo))
        .collect::<Result<Vec<_>>>()?;
    let mut runs: Vec<RunReport> = Vec::new();
    let mut failure: Option<anyhow::Error> = None;
    let ended_codes: std::cell::RefCell<Vec<(Option<i32>, f64)>> = Default::default();
    let stopped = bisect::drive(
        &mut search,
        &limits,
        |batch| {
            let jobs: Vec<(&Scratch, &str)> = batch
                .iter()
                .zip(&scratches)
                .map(|(c, s)| (s, context.id(c.target)))
                .collect();
            let ended = scratch::run_all(&command, &jobs)?;
            *ended_codes.borrow_mut() = ended.iter().map(|e| (e.code, e.seconds)).collect();
            batch
                .iter()
                .zip(&ended)
                .map(|(choice, e)| outcome_of(e.code, context.id(choice.target), &command))
                .collect()
        },
        |search, done| {
            let top = context.top(search, 5);
            for ((choice, outcome), (code, seconds)) in done.iter().zip(ended_codes.borrow().iter())
            {
                let id = context.id(choice.target).to_owned();
                let run = RunReport {
                    run: runs.len() + 1,
                    short_id: id[..12.min(id.len())].to_owned(),
                    subject: context.subject(&id),
                    commit: id,
                    target: match choice.target {
                        Target::Commit(_) => "window",
                        Target::Base => "base",
                    },
                    result: *outcome,
                    exit_code: *code,
                    seconds: *seconds,
                    top: top.clone(),
                };
                let line = run_line(&run);
                let written = if text {
                    out(&line)
                } else {
                    eprint!("rca: {line}");
                    Ok(())
                };
                if let Err(e) = written {
                    failure.get_or_insert(e);
                }
                runs.push(run);
            }
        },
    );
    drop(scratches);
    let (stop, count) = match stopped {
        Ok(done) => done,
        Err(e) if e.is::<crate::interrupt::Interrupted>() => {
            eprintln!(
                "rca: interrupted after {} runs; the scratch checkouts are removed",
                runs.len()
            );
            return Ok(exit_code::INTERRUPTED);
        }
        Err(e) => return Err(e),
    };
    if let Some(e) = failure {
        return Err(e);
    }
    let (best, probability) = search.best();
    let kind = match (stop, best) {
        (Stop::Confident, Hypothesis::Commit(_)) => "culprit",
        (Stop::Confident, Hypothesis::BeforeWindow) => "before_window",
        (Stop::Confident, Hypothesis::NoFailure) => "no_failure",
        _ => "undecided",
    };
    report.runs = runs;
    report.stop = Some(stop);
    report.top = context.top(&search, 5);
    report.verdict = Some(Verdict {
        kind,
        belief: context.belief(best, probability),
        runs: count,
    });
    out(&if text {
        render_verdict(&report)
    } else {
        format!("{}\n", serde_json::to_string_pretty(&report)?)
    })?;
    Ok(match kind {
        "culprit" => exit_code::SUCCESS,
        "undecided" => exit_code::NOT_CONFIDENT,
        _ => exit_code::NOT_IN_WINDOW,
    })
}

/// Checks the numbers before any work.
fn check(args: &BisectArgs) -> Result<()> {
    if !(args.confidence > 0.0 && args.confidence < 1.0) {
        return Err(usage("--confidence must be between 0 and 1 (exclusive)"));
    }
    for (flag, rate) in [
        ("--false-fail", args.false_fail),
        ("--false-pass", args.false_pass),
    ] {
        if !(0.0..0.5).contains(&rate) {
            return Err(usage(format!(
                "{flag} must be at least 0 and below 0.5 (a test wrong half the time says nothing)"
            )));
        }
    }
    if !(0.0..=1.0).contains(&args.prior_floor) {
        return Err(usage("--prior-floor must be between 0 and 1"));
    }
    if args.run.as_deref().is_some_and(|c| c.trim().is_empty()) {
        return Err(usage("--run must not be empty"));
    }
    Ok(())
}

/// Enough for `git bisect`'s count twice over, and a few reruns.
pub fn default_max_runs(window: usize) -> usize {
    2 * (usize::BITS - window.leading_zeros()) as usize + 8
}

/// A run's exit code as `git bisect run` reads it.
fn outcome_of(code: Option<i32>, commit: &str, command: &str) -> Result<Outcome> {
    let short = &commit[..12.min(commit.len())];
    match code {
        Some(0) => Ok(Outcome::Pass),
        Some(125) => Ok(Outcome::Skip),
        Some(c @ (126 | 127)) => Err(input(format!(
            "--run {}: exited {c} at {short}: the command {}",
            shell_quote(command),
            if c == 127 {
                "was not found"
            } else {
                "could not be executed"
            }
        ))),
        Some(c) if (1..=127).contains(&c) => Ok(Outcome::Fail),
        Some(c) => Err(input(format!(
            "--run {}: exited {c} at {short}: codes above 127 stop the bisection (as in git bisect run)",
            shell_quote(command)
        ))),
        None => Err(input(format!(
            "--run {}: killed by a signal at {short}",
            shell_quote(command)
        ))),
    }
}

fn plan(context: &Context<'_>, search: &Search<'_>, jobs: usize) -> Plan {
    let first = search.next(jobs);
    let after = |failed: bool| {
        let choice = first.first()?;
        if jobs > 1 {
            return None;
        }
        let mut then = search.clone();
        then.observe(choice.target, failed);
        then.next(1).first().map(|c| context.planned(c))
    };
    Plan {
        if_it_fails: after(true),
        if_it_passes: after(false),
        first: first.iter().map(|c| context.planned(c)).collect(),
    }
}

fn reproduce(args: &BisectArgs, request: &Request) -> String {
    let mut own = format!(
        "bisect --run {}",
        shell_quote(args.run.as_deref().unwrap_or(""))
    );
    own.push_str(&format!(
        " --confidence {} --false-fail {} --false-pass {} --prior {} --prior-floor {} --jobs {}",
        args.confidence,
        args.false_fail,
        args.false_pass,
        if args.prior == PriorName::Flat {
            "flat"
        } else {
            "ranking"
        },
        args.prior_floor,
        args.jobs
    ));
    if let Some(m) = args.max_runs {
        own.push_str(&format!(" --max-runs {m}"));
    }
    reproduce_command(&own, request, &args.source.repo, &args.model)
}

fn header(report: &BisectReport) -> String {
    format!(
        "bisecting {} commits from {} (fails) back to {}, prior: {}\n",
        report.window_commits,
        &report.start[..12.min(report.start.len())],
        report
            .base
            .as_deref()
            .map_or("the first commit".to_owned(), |b| format!(
                "{} (passes)",
                &b[..12.min(b.len())]
            )),
        report.prior,
    )
}

fn belief_short(b: &Belief) -> String {
    match &b.short_id {
        Some(id) => format!("{} {:.2}", &id[..8.min(id.len())], b.probability),
        None => format!("{} {:.2}", b.hypothesis, b.probability),
    }
}

fn run_line(run: &RunReport) -> String {
    format!(
        "run {:>3}  {}  {:<4}  {:>7.1} s   top: {}\n",
        run.run,
        run.short_id,
        match run.result {
            Outcome::Pass => "pass",
            Outcome::Fail => "fail",
            Outcome::Skip => "skip",
        },
        run.seconds,
        run.top
            .iter()
            .map(belief_short)
            .collect::<Vec<_>>()
            .join(", ")
    )
}

fn render_plan(report: &BisectReport) -> String {
    let mut text = String::from("dry run: nothing is checked out or run\n");
    let describe = |r: &PlannedRun| {
        format!(
            "{} {}  (fails with chance {:.2}; {:.2} bits)",
            r.short_id, r.subject, r.p_bad, r.bits
        )
    };
    if let Some(plan) = &report.plan {
        for (i, r) in plan.first.iter().enumerate() {
            text.push_str(&format!("first run {}: {}\n", i + 1, describe(r)));
        }
        if let Some(r) = &plan.if_it_fails {
            text.push_str(&format!("  if it fails, then: {}\n", describe(r)));
        }
        if let Some(r) = &plan.if_it_passes {
            text.push_str(&format!("  if it passes, then: {}\n", describe(r)));
        }
    }
    text.push_str("prior's top five:\n");
    text.push_str(&render_top(&report.top));
    text
}

fn render_top(top: &[Belief]) -> String {
    top.iter()
        .map(|b| match &b.short_id {
            Some(id) => format!(
                "  {:.3}  {}  {}{}\n",
                b.probability,
                id,
                b.subject.as_deref().unwrap_or(""),
                b.ranked
                    .map_or(String::new(), |r| format!("  (ranked {r})"))
            ),
            None => format!(
                "  {:.3}  {}\n",
                b.probability,
                if b.hypothesis == "before_window" {
                    "(the culprit is older than the window)"
                } else {
                    "(nothing in the window fails)"
                }
            ),
        })
        .collect()
}

fn render_verdict(report: &BisectReport) -> String {
    let Some(verdict) = &report.verdict else {
        return String::new();
    };
    let belief = &verdict.belief;
    let mut text = match verdict.kind {
        "culprit" => format!(
            "culprit: {} {} (posterior {:.3} after {} runs{})\n",
            belief.commit.as_deref().unwrap_or(""),
            belief.subject.as_deref().unwrap_or(""),
            belief.probability,
            verdict.runs,
            belief
                .ranked
                .map_or(", not in the ranking".to_owned(), |r| format!(
                    "; the ranking had it at {r}"
                ))
        ),
        "before_window" => format!(
            "the window does not contain the culprit: the command fails even at {}, the last commit before the window (posterior {:.3} after {} runs); widen --since\n",
            report.base.as_deref().unwrap_or("the base"),
            belief.probability,
            verdict.runs
        ),
        "no_failure" => format!(
            "the command does not fail in this window, not even at {} (posterior {:.3} after {} runs): it does not reproduce the incident here\n",
            report.start,
            belief.probability,
            verdict.runs
        ),
        _ => format!(
            "undecided after {} runs: no commit reached {:.2} ({}); the most likely:\n{}",
            verdict.runs,
            report.confidence,
            match report.stop {
                Some(Stop::Budget) => "the run budget is spent; raise --max-runs",
                _ => "nothing left to test: the commits around the culprit were skipped",
            },
            render_top(&report.top)
        ),
    };
    text.push_str(&format!("reproduce: {}\n", report.reproduce));
    text
}

/// What `--from` reads of an investigation's JSON report.
#[derive(Debug, serde::Deserialize)]
struct SavedReport {
    title: String,
    #[serde(default)]
    impact: Option<String>,
    #[serde(default)]
    team_hints: Vec<String>,
    #[serde(default)]
    path_hints: Vec<String>,
    start: String,
    since: String,
    until: String,
    #[serde(default)]
    suspects: Vec<SavedSuspect>,
}

#[derive(Debug, serde::Deserialize)]
struct SavedSuspect {
    id: String,
}

impl SavedReport {
    fn load(path: &Path) -> Result<SavedReport> {
        let text = std::fs::read_to_string(path)
            .map_err(|e| input(format!("--from {}: {e}", path.display())))?;
        serde_json::from_str(&text).map_err(|e| {
            input(format!(
                "--from {}: not a report of `rca investigate --format json`: {e}",
                path.display()
            ))
        })
    }

    fn incident(&self) -> IncidentArgs {
        IncidentArgs {
            title: self.title.clone(),
            impact: self.impact.clone(),
            teams: self.team_hints.clone(),
            paths: self.path_hints.clone(),
            since: Some(self.since.clone()),
            until: Some(self.until.clone()),
        }
    }

    /// The same window and, unless the ranking flags differ, the same
    /// suspects: a different tip is an error, a different ranking a warning.
    fn compare(&self, outcome: &investigation::Outcome) -> Result<()> {
        if outcome.report.start != self.start {
            return Err(input(format!(
                "--from: the report's window ends at {}, but this repository's ends at {}",
                self.start, outcome.report.start
            )));
        }
        let now: Vec<&str> = outcome
            .ranking
            .iter()
            .take(self.suspects.len())
            .map(|s| s.candidate.commit.id.as_str())
            .collect();
        let saved: Vec<&str> = self.suspects.iter().map(|s| s.id.as_str()).collect();
        if now != saved {
            eprintln!(
                "rca: warning: this ranking's top {} differs from the report's; the prior comes from this run's ranking (pass the ranking flags of the report's reproduce line to get the same)",
                saved.len()
            );
        }
        Ok(())
    }
}

/// One strategy's result on one simulated case.
#[derive(Debug, Clone, Copy, Default, Serialize)]
pub struct Simulated {
    pub runs: usize,
    /// Rounds of runs made at once (the wall time with enough machines).
    pub rounds: usize,
    pub found: bool,
}

/// `rca backtest --bisect`: each strategy on one case.
#[derive(Debug, Clone, Default, Serialize)]
pub struct SimulatedCase {
    pub window: usize,
    pub git_bisect: Simulated,
    /// git bisect with every step run twice, bad when either run fails.
    pub git_bisect_rerun: Simulated,
    pub flat: Simulated,
    pub ranking: Simulated,
    /// The ranking's prior, four runs at a time (`--jobs 4`).
    pub ranking_jobs4: Simulated,
}

impl SimulatedCase {
    /// Each strategy by name, in the order of the fields.
    pub fn strategies(&self) -> [(&'static str, Simulated); 5] {
        [
            ("git_bisect", self.git_bisect),
            ("git_bisect_rerun", self.git_bisect_rerun),
            ("flat", self.flat),
            ("ranking", self.ranking),
            ("ranking_jobs4", self.ranking_jobs4),
        ]
    }
}

/// Simulates the bisections of one replayed case whose culprit is
/// `culprit`; None when the culprit is not in the window. `seed` makes the
/// flaky runs the same on every replay.
pub fn simulate(
    repo: &Repository,
    outcome: &investigation::Outcome,
    culprit: &str,
    false_pass: f64,
    seed: u64,
) -> Result<Option<SimulatedCase>> {
    let graph = Graph::from_repository(repo, &outcome.report.start, outcome.base.as_deref())?;
    let Some(culprit) = graph.ids.iter().position(|id| id == culprit) else {
        return Ok(None);
    };
    let truth = Noise {
        false_fail: 0.0,
        false_pass,
    };
    let model = Noise {
        false_fail: 0.01,
        false_pass: false_pass.max(0.01),
    };
    let limits = Limits {
        confidence: 0.95,
        max_runs: 200,
        jobs: 1,
    };
    let oracle = |salt: u64| bisect::Oracle {
        graph: &graph,
        culprit,
        noise: truth,
        rng: crate::train::examples::Rng::new(seed ^ salt.wrapping_mul(0x9E37_79B9_7F4A_7C15)),
    };
    let git = |repeats: usize, salt: u64| {
        let (runs, named) = bisect::simulate_git_bisect(&mut oracle(salt), repeats);
        Simulated {
            runs,
            // The repeats of a step can run at once.
            rounds: runs / repeats,
            found: named == culprit,
        }
    };
    let search = |prior: &[f64], jobs: usize, salt: u64| {
        let limits = Limits { jobs, ..limits };
        let (runs, rounds, verdict) =
            bisect::simulate_search(&mut oracle(salt), prior, model, &limits);
        Simulated {
            runs,
            rounds,
            found: verdict == Some(Hypothesis::Commit(culprit)),
        }
    };
    let prior = prior_of(&graph, outcome, crate::cli::defaults::PRIOR_FLOOR);
    Ok(Some(SimulatedCase {
        window: graph.len(),
        git_bisect: git(1, 1),
        git_bisect_rerun: git(2, 2),
        flat: search(&vec![1.0; graph.len()], 1, 3),
        ranking: search(&prior, 1, 4),
        ranking_jobs4: search(&prior, 4, 5),
    }))
}

/// The ranking's prior over the graph's commits (see
/// [`bisect::ranking_prior`]).
fn prior_of(graph: &Graph, outcome: &investigation::Outcome, floor: f64) -> Vec<f64> {
    let index: std::collections::HashMap<&str, usize> = graph
        .ids
        .iter()
        .enumerate()
        .map(|(i, id)| (id.as_str(), i))
        .collect();
    let ranked: Vec<(usize, f64)> = outcome
        .ranking
        .iter()
        .filter_map(|s| {
            index
                .get(s.candidate.commit.id.as_str())
                .map(|&i| (i, s.probability))
        })
        .collect();
    bisect::ranking_prior(graph.len(), &ranked, floor)
}

/// Mean and 90th-percentile runs and accuracy per strategy.
#[derive(Debug, Clone, Serialize)]
pub struct SimulationSummary {
    pub cases: usize,
    /// Cases left out: the culprit was not in the replayed window.
    pub not_in_window: usize,
    pub false_pass: f64,
    pub strategies: Vec<StrategySummary>,
}

#[derive(Debug, Clone, Serialize)]
pub struct StrategySummary {
    pub strategy: &'static str,
    pub mean_runs: f64,
    pub p90_runs: usize,
    /// Rounds of runs made at once, on average.
    pub mean_rounds: f64,
    /// Share of cases whose culprit it named (with rca bisect: named with
    /// posterior ≥ 0.95).
    pub accuracy: f64,
}

pub fn summarize_simulation(cases: &[Option<SimulatedCase>], false_pass: f64) -> SimulationSummary {
    let kept: Vec<&SimulatedCase> = cases.iter().flatten().collect();
    let n = kept.len().max(1) as f64;
    let names = SimulatedCase::default().strategies().map(|(name, _)| name);
    SimulationSummary {
        cases: kept.len(),
        not_in_window: cases.len() - kept.len(),
        false_pass,
        strategies: names
            .iter()
            .enumerate()
            .map(|(i, &strategy)| {
                let of: Vec<Simulated> = kept.iter().map(|c| c.strategies()[i].1).collect();
                let mut runs: Vec<usize> = of.iter().map(|s| s.runs).collect();
                runs.sort_unstable();
                StrategySummary {
                    strategy,
                    mean_runs: runs.iter().sum::<usize>() as f64 / n,
                    p90_runs: runs
                        .get(((runs.len() as f64 * 0.9).ceil() as usize).saturating_sub(1))
                        .copied()
                        .unwrap_or(0),
                    mean_rounds: of.iter().map(|s| s.rounds).sum::<usize>() as f64 / n,
                    accuracy: of.iter().filter(|s| s.found).count() as f64 / n,
                }
            })
            .collect(),
    }
}

pub fn render_simulation(summary: &SimulationSummary) -> String {
    let mut text = format!(
        "\nbisect simulation: {} cases ({} left out: culprit not in the window), {:.0}% of bad runs pass\n{:<18} {:>9} {:>8} {:>11} {:>9}\n",
        summary.cases,
        summary.not_in_window,
        summary.false_pass * 100.0,
        "strategy",
        "mean runs",
        "p90 runs",
        "mean rounds",
        "accuracy"
    );
    for s in &summary.strategies {
        text.push_str(&format!(
            "{:<18} {:>9.2} {:>8} {:>11.2} {:>9.3}\n",
            s.strategy, s.mean_runs, s.p90_runs, s.mean_rounds, s.accuracy
        ));
    }
    text
}
