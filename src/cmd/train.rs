//! `rca train`: learn from a repository's own past investigations.
//!
//! Cases come from mining each `--repo` (as `rca cases mine` does) and from
//! given case files. Nothing at or after `--until` enters training: mining
//! stops at the cut-off, and a given case that opened at or after it is
//! left out (and counted). Each case is replayed as a backtest replays it,
//! so its candidates are exactly what retrieval saw at the time, and the
//! fusion of the retrieval signals is fitted as a conditional logit
//! (`train::fusion::fit_fusion`) over them. Team hints are given on every other case, so
//! that the hint signals are learned and the rest learned without them.
//!
//! With `--lora` (or `--examples`), the judge is fine-tuned too, on examples
//! built from the same replays or saved by an earlier run
//! (`--save-examples`): a run with only `--examples` trains the judge alone,
//! on a machine that need not hold the repositories.

use super::{out, progress};
use crate::cache::DiffCache;
use crate::cases::{Case, CasesFile};
use crate::cli::{Format, TrainArgs};
use crate::error::{exit_code, input, usage};
use crate::history;
use crate::investigation::{self, Ranker, Request};
use crate::mine;
use crate::model::DeviceChoice;
use crate::retrieve::{change_tokens, incident_words, Fusion, Regime};
use crate::train::fusion::{
    self as learn, AssociationCase, AssociationOptions, FitOptions, FusionFile, Group, Vocabulary,
};
use crate::train::{self, Example, JudgeReport, TrainConfig, Trainer};
use crate::when::{self, rfc3339, Seconds};
use anyhow::{Context, Result};
use git2::Repository;
use serde::Serialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

/// Mining defaults, as in `rca cases mine`.
const MAX_LAG: Seconds = 14 * 86_400;
const LOOKBACK: Seconds = 42 * 86_400;
/// The default training period: four years before the cut-off.
const DEFAULT_PERIOD: Seconds = 4 * 365 * 86_400;

/// What training used and what it measured; written as train.json.
#[derive(Debug, Serialize)]
pub struct Manifest {
    pub schema: &'static str,
    pub until: String,
    pub since: String,
    pub repositories: Vec<RepositoryCases>,
    /// Given cases left out because they opened at or after `until`.
    pub excluded_after_until: usize,
    /// Cases whose culprit retrieval did not keep (nothing to learn from).
    pub culprit_not_retrieved: usize,
    /// Cases replayed before the time budget ran out, and used.
    pub cases_used: usize,
    /// The ids of the cases used, with their `opened_at`.
    pub cases: Vec<(String, String)>,
    pub by_source: BTreeMap<String, usize>,
    /// Cases per title regime (each regime has its own weights).
    pub by_regime: BTreeMap<Regime, usize>,
    pub candidates: usize,
    pub l2: f64,
    /// Learned (incident word, change token) pairs stored with the fusion.
    pub associations: usize,
    /// Out-of-fold (5 folds) culprit ranks on the training cases: the
    /// built-in fusion against the fitted one.
    pub built_in: RankMetrics,
    pub fitted_out_of_fold: RankMetrics,
    pub seconds: f64,
    pub stopped_by_time_budget: bool,
    pub fusion_file: PathBuf,
    /// With `--lora`: what the fine-tuning did.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lora: Option<LoraOutcome>,
}

#[derive(Debug, Serialize)]
pub struct RepositoryCases {
    pub path: String,
    pub mined: usize,
    pub given: usize,
}

#[derive(Debug, Serialize)]
pub struct RankMetrics {
    pub hit_at_1: f64,
    pub hit_at_5: f64,
    pub mrr: f64,
}

impl RankMetrics {
    fn of(ranks: &[usize]) -> RankMetrics {
        let ranks: Vec<Option<usize>> = ranks.iter().copied().map(Some).collect();
        RankMetrics {
            hit_at_1: super::backtest::hit_rate(&ranks, 1),
            hit_at_5: super::backtest::hit_rate(&ranks, 5),
            mrr: super::backtest::mrr(&ranks),
        }
    }
}

/// A repository and the cases to replay on it.
struct Source {
    repo: Repository,
    label: String,
    file: CasesFile,
    mined: usize,
}

pub fn run(args: TrainArgs) -> Result<u8> {
    let started = Instant::now();
    // Ctrl-C: nothing is written during the replay; during fine-tuning the
    // checkpoint is, and the same command resumes from it.
    crate::interrupt::cooperate();
    let budget = std::time::Duration::from_secs(u64::from(args.max_minutes) * 60);
    let (since, until) =
        when::period(args.since.as_deref(), args.until.as_deref(), DEFAULT_PERIOD)?;
    let lora = args.lora || !args.examples.is_empty();
    // Parsed before the long replay, so that a typo fails at once.
    let device: DeviceChoice = args
        .device
        .parse()
        .map_err(|e| usage(format!("--device: {e}")))?;
    let (saved, saved_excluded) =
        load_examples(&args.examples, until, usize::from(args.lora_candidates))?;
    let out_dir = match &args.out {
        Some(dir) => dir.clone(),
        None => crate::model::default_model_path()
            .and_then(|m| m.parent().map(Path::to_path_buf))
            .ok_or_else(|| usage("no models/ folder found next to rca: pass --out DIR"))?,
    };
    std::fs::create_dir_all(&out_dir)
        .map_err(|e| input(format!("--out {}: {e}", out_dir.display())))?;
    // Written after the long replay: a bad path fails now instead.
    for (flag, path) in [
        ("--save-examples", &args.save_examples),
        ("--save-groups", &args.save_groups),
    ] {
        if let Some(path) = path {
            super::check_writable(flag, path)?;
        }
    }
    if args.judge {
        let (examples, excluded) = train::examples::load_before(&args.examples, until)?;
        return super::judge::run(&args, &out_dir, &examples, excluded, until, started);
    }
    if args.repos.is_empty() && args.cases.is_empty() {
        if saved.is_empty() {
            return Err(usage(
                "nothing to train on: give --repo, --cases or --examples (with examples before --until)",
            ));
        }
        return judge_only(
            &args,
            device,
            &out_dir,
            &saved,
            saved_excluded,
            until,
            started,
        );
    }

    let (sources, excluded) = gather(&args, since, until)?;
    let total: usize = sources.iter().map(|s| s.file.cases.len()).sum();
    if total == 0 {
        return Err(input(format!(
            "no training cases before {} (mined or given)",
            rfc3339(until)
        )));
    }

    let bar = progress::bar(total as u64, "cases");
    let mut groups = Vec::new();
    let mut association_cases = Vec::new();
    let mut vocabulary = Vocabulary::default();
    let diff_cache = args.cache.diff_cache();
    let mut examples = Vec::new();
    let mut used = Vec::new();
    let mut candidate_ids = Vec::new();
    let mut by_source: BTreeMap<String, usize> = BTreeMap::new();
    let (mut not_retrieved, mut stopped) = (0usize, false);
    let mut index = 0usize;
    'replay: for source in &sources {
        for case in &source.file.cases {
            if crate::interrupt::requested() {
                bar.finish_and_clear();
                eprintln!("rca: interrupted while replaying cases; nothing was written");
                return Ok(exit_code::INTERRUPTED);
            }
            if started.elapsed() > budget {
                stopped = true;
                break 'replay;
            }
            bar.set_message(case.id.clone());
            // Team hints on every other case: both regimes are learned.
            let with_hint = !args.no_team_hint && index % 2 == 1;
            index += 1;
            let wants_examples = lora || args.save_examples.is_some();
            let example_size = if wants_examples && examples.len() < args.lora_examples {
                usize::from(args.lora_candidates)
            } else {
                0
            };
            match replay(
                source,
                case,
                with_hint,
                args.candidates as usize,
                example_size,
                &mut vocabulary,
                diff_cache.as_ref(),
            )? {
                Some(Replayed {
                    group,
                    association,
                    ids,
                    example,
                }) => {
                    groups.push(group);
                    association_cases.push(association);
                    candidate_ids.push(ids);
                    examples.extend(example);
                    used.push((case.id.clone(), case.opened_at.clone()));
                    *by_source.entry(case.source.clone()).or_default() += 1;
                }
                None => not_retrieved += 1,
            }
            bar.inc(1);
        }
    }
    bar.finish_and_clear();
    if groups.len() < 10 {
        return Err(input(format!(
            "only {} usable training cases; at least 10 are needed",
            groups.len()
        )));
    }

    let options = FitOptions {
        l2: args.l2,
        ..FitOptions::default()
    };
    let built_in: Vec<usize> = groups
        .iter()
        .map(|g| learn::culprit_rank(g, &Fusion::default()))
        .collect();
    // The association signal is stacked: each case's value comes from
    // associations fitted without its fold, as it will on unseen cases.
    // With --no-associations the signal stays 0 and gets no weight.
    let association_options = AssociationOptions::default();
    if !args.no_associations {
        learn::out_of_fold_associations(
            &mut groups,
            &association_cases,
            &vocabulary,
            &association_options,
            5,
        );
    }
    let out_of_fold = learn::out_of_fold_ranks(&groups, &options, 5);
    let mut fusion = learn::fit_fusion(&groups, &options);
    if !args.no_associations {
        fusion.associations = learn::fit_associations(
            &association_cases.iter().collect::<Vec<_>>(),
            &vocabulary,
            &association_options,
        );
    }
    drop(association_cases);
    let fusion_path = out_dir.join(super::ranking::FUSION_FILE);
    let mut manifest = Manifest {
        schema: "rca.training/1",
        until: rfc3339(until),
        since: rfc3339(since),
        repositories: sources
            .iter()
            .map(|s| RepositoryCases {
                path: s.label.clone(),
                mined: s.mined,
                given: s.file.cases.len() - s.mined,
            })
            .collect(),
        excluded_after_until: excluded,
        culprit_not_retrieved: not_retrieved,
        cases_used: groups.len(),
        cases: used,
        by_source,
        by_regime: groups.iter().fold(BTreeMap::new(), |mut m, g| {
            *m.entry(g.regime).or_default() += 1;
            m
        }),
        candidates: args.candidates as usize,
        l2: args.l2,
        associations: fusion.associations.pairs(),
        built_in: RankMetrics::of(&built_in),
        fitted_out_of_fold: RankMetrics::of(&out_of_fold),
        seconds: started.elapsed().as_secs_f64(),
        stopped_by_time_budget: stopped,
        fusion_file: fusion_path.clone(),
        lora: None,
    };
    let trained = serde_yaml::to_value(serde_json::json!({
        "until": manifest.until,
        "since": manifest.since,
        "cases": manifest.cases_used,
        "by_source": manifest.by_source,
        "repositories": manifest.repositories,
        "out_of_fold_hit_at_5": manifest.fitted_out_of_fold.hit_at_5,
    }))?;
    FusionFile::new(fusion, trained).save(&fusion_path)?;
    if let Some(path) = &args.save_examples {
        train::examples::save(path, &examples)?;
    }
    if let Some(path) = &args.save_groups {
        save_groups(path, &groups, &candidate_ids, &manifest.cases)?;
    }
    examples.extend(saved);
    manifest.excluded_after_until += saved_excluded;
    if lora {
        let minutes_left = f64::from(args.max_minutes) - started.elapsed().as_secs_f64() / 60.0;
        manifest.lora = Some(fine_tune(&args, device, &out_dir, &examples, minutes_left)?);
        manifest.seconds = started.elapsed().as_secs_f64();
    }
    let manifest_path = write_manifest(&out_dir, &manifest)?;
    if manifest
        .lora
        .as_ref()
        .is_some_and(|l| interrupted(l, &out_dir))
    {
        return Ok(exit_code::INTERRUPTED);
    }
    match args.format {
        Format::Json => out(&format!("{}\n", serde_json::to_string_pretty(&manifest)?))?,
        Format::Text => out(&render(&manifest, &manifest_path))?,
    }
    Ok(exit_code::SUCCESS)
}

/// Writes the training groups as JSON lines, one per case: the candidates'
/// ids and features, in [`FEATURES`](crate::retrieve::FEATURES) order.
fn save_groups(
    path: &Path,
    groups: &[Group],
    ids: &[Vec<String>],
    cases: &[(String, String)],
) -> Result<()> {
    let mut text = String::new();
    for ((group, ids), (case, opened_at)) in groups.iter().zip(ids).zip(cases) {
        text.push_str(&group_line(case, opened_at, group, ids));
    }
    std::fs::write(path, text).map_err(|e| input(format!("writing {}: {e}", path.display())))
}

/// One line of a groups file (`rca.groups/1`).
pub(super) fn group_line(case: &str, opened_at: &str, group: &Group, ids: &[String]) -> String {
    let line = serde_json::json!({
        "schema": "rca.groups/1",
        "case": case,
        "opened_at": opened_at,
        "regime": group.regime,
        "culprit": group.culprit,
        "ids": ids,
        "features": group.features,
    });
    format!("{line}\n")
}

/// Writes train.json into `out_dir`; returns its path.
fn write_manifest(out_dir: &Path, manifest: &impl Serialize) -> Result<PathBuf> {
    let path = out_dir.join("train.json");
    std::fs::write(&path, serde_json::to_string_pretty(manifest)? + "\n")
        .map_err(|e| input(format!("writing {}: {e}", path.display())))?;
    Ok(path)
}

/// train.json of a run that only fine-tunes the judge, on saved examples.
#[derive(Debug, Serialize)]
pub struct JudgeManifest {
    pub schema: &'static str,
    pub until: String,
    pub examples_files: Vec<PathBuf>,
    /// Saved examples left out because their case opened at or after
    /// `until`.
    pub excluded_after_until: usize,
    pub seconds: f64,
    pub lora: LoraOutcome,
}

/// The examples of the `--examples` files whose case opened before
/// `until`, cut to `size` candidates, and how many were left out.
fn load_examples(paths: &[PathBuf], until: Seconds, size: usize) -> Result<(Vec<Example>, usize)> {
    let (kept, excluded) = train::examples::load_before(paths, until)?;
    Ok((kept.iter().map(|e| e.trimmed(size)).collect(), excluded))
}

/// Whether Ctrl-C stopped the fine-tuning; says where the checkpoint is.
fn interrupted(lora: &LoraOutcome, out_dir: &Path) -> bool {
    let stopped = lora.report.stopped == train::StopReason::Interrupted;
    if stopped {
        eprintln!(
            "rca: interrupted: the fine-tuning checkpoint is in {}; the same command resumes it",
            out_dir.display()
        );
    }
    stopped
}

/// Fine-tunes the judge on saved examples alone and writes train.json.
fn judge_only(
    args: &TrainArgs,
    device: DeviceChoice,
    out_dir: &Path,
    examples: &[Example],
    excluded: usize,
    until: Seconds,
    started: Instant,
) -> Result<u8> {
    let minutes_left = f64::from(args.max_minutes) - started.elapsed().as_secs_f64() / 60.0;
    let lora = fine_tune(args, device, out_dir, examples, minutes_left)?;
    let manifest = JudgeManifest {
        schema: "rca.training/1",
        until: rfc3339(until),
        examples_files: args.examples.clone(),
        excluded_after_until: excluded,
        seconds: started.elapsed().as_secs_f64(),
        lora,
    };
    let manifest_path = write_manifest(out_dir, &manifest)?;
    if interrupted(&manifest.lora, out_dir) {
        return Ok(exit_code::INTERRUPTED);
    }
    match args.format {
        Format::Json => out(&format!("{}\n", serde_json::to_string_pretty(&manifest)?))?,
        Format::Text => {
            let mut text = format!(
                "trained the judge on {} saved examples before {} ({} left out, {} s)\n",
                manifest.lora.examples,
                manifest.until,
                excluded,
                manifest.seconds.round()
            );
            text.push_str(&render_lora(&manifest.lora));
            text.push_str(&format!("wrote {}\n", manifest_path.display()));
            out(&text)?
        }
    }
    Ok(exit_code::SUCCESS)
}

/// Mines every repository up to `until` and adds the given case files,
/// leaving out (and counting) the given cases that opened at or after
/// `until`.
fn gather(args: &TrainArgs, since: Seconds, until: Seconds) -> Result<(Vec<Source>, usize)> {
    let mut sources = Vec::new();
    for path in &args.repos {
        let repo = history::open(path).map_err(|e| input(e.to_string()))?;
        let (name, prefix) =
            mine::names_for(&std::path::absolute(path).unwrap_or_else(|_| path.clone()));
        let settings = mine::Settings {
            prefix,
            name,
            reference: args.reference.clone(),
            since,
            until,
            max_lag: MAX_LAG,
            lookback: LOOKBACK,
        };
        let spinner = progress::spinner(&format!("mining {}", path.display()));
        let (file, _) =
            mine::mine(&repo, &settings).with_context(|| format!("mining {}", path.display()))?;
        spinner.finish_and_clear();
        let mined = file.cases.len();
        sources.push(Source {
            repo,
            label: path.display().to_string(),
            file,
            mined,
        });
    }
    let mut excluded = 0;
    for path in &args.cases {
        let mut file = crate::cases::load(path)?;
        let before = file.cases.len();
        let mut kept = Vec::new();
        for case in file.cases {
            let (_, opened_at) = case.window()?;
            if opened_at < until {
                kept.push(case);
            }
        }
        excluded += before - kept.len();
        file.cases = kept;
        let root = args
            .mirrors
            .clone()
            .or_else(|| args.repos.first().cloned())
            .ok_or_else(|| usage("--cases needs --mirrors or a --repo to replay on"))?;
        let repo = super::backtest::repository_for(&root, &file)?;
        sources.push(Source {
            repo,
            label: path.display().to_string(),
            file,
            mined: 0,
        });
    }
    Ok((sources, excluded))
}

/// What one case's replay yields: its training group, the candidates'
/// commit ids (in the group's order) and, when asked for, a LoRA example.
struct Replayed {
    group: Group,
    association: AssociationCase,
    ids: Vec<String>,
    example: Option<Example>,
}

/// Replays one case's retrieval: its group and candidate ids, or None
/// when retrieval dropped the culprit. With
/// `example_size > 1`, also a LoRA example: the culprit and the best
/// `example_size - 1` other candidates (hard negatives).
fn replay(
    source: &Source,
    case: &Case,
    with_hint: bool,
    candidates: usize,
    example_size: usize,
    vocabulary: &mut Vocabulary,
    diff_cache: Option<&DiffCache>,
) -> Result<Option<Replayed>> {
    let (since, opened_at) = case.window()?;
    let request = Request {
        facts: case.facts(with_hint),
        since,
        until: opened_at,
        reference: Some(format!("refs/heads/{}", source.file.default_branch)),
        ownership_file: None,
        candidates,
        top: 5,
        min_confidence: 0.0,
        fusion: Fusion::default(),
        calibration: None,
        diff_cache: diff_cache.cloned(),
    };
    let outcome = match investigation::run(
        &source.repo,
        &source.file.repo,
        &request,
        Ranker::Heuristic,
        String::new(),
    ) {
        Ok(outcome) => outcome,
        // A window that is empty at replay time teaches nothing.
        Err(e) if crate::error::exit_code_of(&e) == exit_code::INPUT => return Ok(None),
        Err(e) => return Err(e.context(format!("case {}", case.id))),
    };
    let culprit = match source.repo.revparse_single(&case.root_cause) {
        Ok(object) => object.id().to_string(),
        Err(_) => return Ok(None),
    };
    let ranking = &outcome.ranking;
    let Some(index) = ranking
        .iter()
        .position(|s| s.candidate.commit.id == culprit)
    else {
        return Ok(None);
    };
    // The trainer shuffles the slots every epoch.
    let example = (example_size > 1).then(|| {
        Example {
            case: case.id.clone(),
            facts: request.facts.clone(),
            until: opened_at,
            candidates: ranking
                .iter()
                .take(example_size.max(index + 1))
                .map(|s| s.candidate.clone())
                .collect(),
            culprit: index,
        }
        .trimmed(example_size)
    });
    let group = Group {
        features: ranking.iter().map(|s| s.candidate.features).collect(),
        culprit: index,
        regime: Regime::of(&request.facts),
    };
    let ids = ranking
        .iter()
        .map(|s| s.candidate.commit.id.clone())
        .collect();
    let association = AssociationCase {
        words: incident_words(&request.facts),
        candidates: ranking
            .iter()
            .map(|s| vocabulary.ids(change_tokens(&s.candidate.commit)))
            .collect(),
        culprit: index,
    };
    Ok(Some(Replayed {
        group,
        association,
        ids,
        example,
    }))
}

fn render(m: &Manifest, manifest_path: &Path) -> String {
    use std::fmt::Write as _;
    let mut text = String::new();
    let _ = writeln!(
        text,
        "trained on {} cases opened in [{}, {}) ({} s){}",
        m.cases_used,
        m.since,
        m.until,
        m.seconds.round(),
        if m.stopped_by_time_budget {
            ", stopped by --max-minutes"
        } else {
            ""
        }
    );
    for r in &m.repositories {
        let _ = writeln!(text, "  {}: {} mined, {} given", r.path, r.mined, r.given);
    }
    let _ = writeln!(
        text,
        "  left out: {} given cases at or after the cut-off, {} whose culprit retrieval dropped",
        m.excluded_after_until, m.culprit_not_retrieved
    );
    let _ = writeln!(
        text,
        "fusion on the training cases (5-fold out of fold for the fitted one):"
    );
    for (name, r) in [("built-in", &m.built_in), ("fitted", &m.fitted_out_of_fold)] {
        let _ = writeln!(
            text,
            "  {name:<9} hit@1 {:.3}  hit@5 {:.3}  MRR {:.3}",
            r.hit_at_1, r.hit_at_5, r.mrr
        );
    }
    if let Some(lora) = &m.lora {
        text.push_str(&render_lora(lora));
    }
    let _ = writeln!(
        text,
        "wrote {} and {}",
        m.fusion_file.display(),
        manifest_path.display()
    );
    text
}

/// The LoRA lines of the text report.
fn render_lora(lora: &LoraOutcome) -> String {
    use std::fmt::Write as _;
    let loss =
        |p: Option<&crate::train::LossPoint>| p.map_or("-".into(), |p| format!("{:.3}", p.loss));
    let mut text = format!(
        "LoRA on {}: {} examples of up to {} changes, {} steps ({:?}), loss {} -> {}, {:.3} examples/s; wrote {}\n",
        lora.device,
        lora.examples,
        lora.candidates_per_example,
        lora.report.steps,
        lora.report.stopped,
        loss(lora.report.losses.first()),
        loss(lora.report.losses.last()),
        lora.examples_per_s,
        lora.adapter.display()
    );
    for (when, report) in [
        ("before", &lora.heldout_before),
        ("after", &lora.heldout_after),
    ] {
        if let Some(r) = report {
            let _ = writeln!(
                text,
                "  held-out judge {when}: top-1 {:.3} (chance {:.3}) over {} examples, loss {:.3}, max slot bias {:.2}x",
                r.top1, r.chance, r.examples, r.loss, r.max_slot_bias
            );
        }
    }
    text
}

/// What the LoRA part of a run did.
#[derive(Debug, Serialize)]
pub struct LoraOutcome {
    /// Where the passes ran.
    pub device: String,
    pub examples: usize,
    pub candidates_per_example: usize,
    /// The judge on the `--eval-examples`, before and after fine-tuning.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub heldout_before: Option<JudgeReport>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub heldout_after: Option<JudgeReport>,
    pub report: crate::train::TrainReport,
    /// Forward and backward passes per second, as the trainer measured.
    pub examples_per_s: f64,
    pub adapter: PathBuf,
    pub loss_log: PathBuf,
    pub loss_plot: PathBuf,
}

/// Fine-tunes the judge on the examples in the minutes left, with a
/// checkpoint in the output folder so that a stopped run resumes.
fn fine_tune(
    args: &TrainArgs,
    device: DeviceChoice,
    out_dir: &Path,
    examples: &[Example],
    minutes_left: f64,
) -> Result<LoraOutcome> {
    if minutes_left <= 0.0 {
        return Err(input(
            "--max-minutes was spent before fine-tuning could start",
        ));
    }
    let model = match &args.model {
        Some(path) => path.clone(),
        None => crate::model::default_model_path().ok_or_else(|| {
            crate::error::model(
                "the default model is not installed: run models/fetch, or pass --model",
            )
        })?,
    };
    let mut config = TrainConfig {
        epochs: args.lora_epochs.max(1),
        max_minutes: Some(minutes_left),
        checkpoint: Some(out_dir.join("lora-checkpoint.safetensors")),
        learning_rate: args.lora_rate,
        graph_budget: args
            .lora_graph_gb
            .map(|gib| (gib.max(0.0) * f64::from(1u32 << 30)) as usize),
        accumulate: args.lora_accumulate as usize,
        device,
        ..TrainConfig::default()
    };
    config.lora.top_layers = args.lora_top_layers;
    config.lora.rank = args.lora_rank as usize;
    config.lora.alpha = 2.0 * f64::from(args.lora_rank);
    config.lora.targets = args.lora_targets.clone();
    let held_out = match &args.eval_examples {
        Some(path) => train::examples::load(path)?,
        None => Vec::new(),
    };
    let mut trainer = Trainer::new(&model, &config)?;
    let judge = |trainer: &Trainer, when: &str| -> Result<Option<JudgeReport>> {
        if held_out.is_empty() {
            return Ok(None);
        }
        let bar = progress::bar(held_out.len() as u64, &format!("judging held-out ({when})"));
        let report = trainer.judge(&held_out, &mut |n| bar.set_position(n as u64))?;
        bar.finish_and_clear();
        Ok(Some(report))
    };
    let heldout_before = judge(&trainer, "before")?;
    let bar = progress::bar(0, "LoRA steps");
    let mut rate = 0.0;
    let report = trainer.run(examples, &mut |p| {
        bar.set_length(p.total_steps as u64);
        bar.set_position(p.step as u64);
        bar.set_message(format!("loss {:.3}", p.loss));
        rate = p.examples_per_s;
    })?;
    bar.finish_and_clear();
    let heldout_after = judge(&trainer, "after")?;
    let adapter = out_dir.join(super::ranking::ADAPTER_FILE);
    trainer.adapter()?.save(&adapter)?;
    let loss_log = out_dir.join("loss.tsv");
    report.write_loss_log(&loss_log)?;
    let loss_plot = out_dir.join("loss.svg");
    let points: Vec<(f64, f64)> = report
        .losses
        .iter()
        .map(|p| (p.step as f64, f64::from(p.loss)))
        .collect();
    std::fs::write(&loss_plot, crate::plot::loss_chart(&points)?)
        .map_err(|e| input(format!("writing {}: {e}", loss_plot.display())))?;
    Ok(LoraOutcome {
        device: device.to_string(),
        heldout_before,
        heldout_after,
        examples: examples.len(),
        candidates_per_example: examples
            .iter()
            .map(|e| e.candidates.len())
            .max()
            .unwrap_or(0),
        report,
        examples_per_s: rate,
        adapter,
        loss_log,
        loss_plot,
    })
}
