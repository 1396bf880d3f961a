//! Command-line arguments as parsed, before they are checked. Each
//! subcommand's `Args` doc comment is its help text.

use clap::{Args, Parser, Subcommand, ValueEnum};
use std::path::PathBuf;

/// rca finds the commits most likely to have caused an incident, offline,
/// in a local git repository.
#[derive(Debug, Parser)]
#[command(name = "rca", version, about, max_term_width = 100)]
pub struct Cli {
    #[command(subcommand)]
    pub command: Command,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    // --title is required here; see IncidentArgs.
    #[command(mut_arg("title", |a| a.required(true)))]
    Investigate(InvestigateArgs),
    Bisect(BisectArgs),
    Backtest(BacktestArgs),
    Calibrate(CalibrateArgs),
    Train(TrainArgs),
    Fixture(FixtureArgs),
    Cases(CasesArgs),
    Completions(CompletionsArgs),
    Man(ManArgs),
}

/// Print a shell completion script: `rca completions bash > /etc/bash_completion.d/rca`.
#[derive(Debug, Args)]
pub struct CompletionsArgs {
    #[arg(value_enum)]
    pub shell: clap_complete::Shell,
}

/// Print the man page (roff): `rca man > rca.1; man ./rca.1`.
#[derive(Debug, Args)]
pub struct ManArgs {}

/// How `investigate` prints its report.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum ReportFormat {
    /// A table for the terminal.
    Text,
    /// The report as one JSON document (docs/json-schema.md).
    Json,
    /// Markdown to paste into an incident channel or ticket: the table,
    /// every suspect's evidence and the reproduce line.
    Markdown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum BacktestFormat {
    /// Per-case table and summary.
    Text,
    /// The summary as one JSON document.
    Json,
    /// One JSON line per case, written as each case finishes.
    Jsonl,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum RankerName {
    /// Retrieval signals only.
    Heuristic,
    /// Election by the language model, fused with the retrieval prior.
    Llm,
}

/// How the model judges the candidates (with `--ranker llm`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum JudgeName {
    /// One change at a time: log-odds of "Yes" against "No", read by the
    /// judge head and stacked onto the fusion.
    Pointwise,
    /// Batches of at most 20 changes labelled A–T; the best of each go on.
    Election,
}

impl JudgeName {
    pub fn as_str(self) -> &'static str {
        match self {
            JudgeName::Pointwise => "pointwise",
            JudgeName::Election => "election",
        }
    }
}

/// Settings of the model and the election (used with `--ranker llm`).
/// Options left out come from rca.yaml, then from the defaults shown.
#[derive(Debug, Clone, Args)]
pub struct ModelArgs {
    /// Ranking stage [default: heuristic].
    #[arg(long, value_enum)]
    pub ranker: Option<RankerName>,
    /// How the model judges, with --ranker llm [default: pointwise].
    #[arg(long, value_enum)]
    pub judge: Option<JudgeName>,
    /// The pointwise judge's head from `rca train --judge` (default:
    /// models/judge-head.json when present and trained on this model; `none`
    /// for the zero-shot log-odds).
    #[arg(long, value_name = "FILE")]
    pub judge_head: Option<String>,
    /// GGUF model: a local path or hf:OWNER/REPO/FILE.gguf (default: the
    /// embedded SmolLM2-135M-Instruct in models/).
    #[arg(long, value_name = "MODEL")]
    pub model: Option<String>,
    /// Allow downloading an hf: model that is not cached yet.
    #[arg(long)]
    pub allow_download: bool,
    /// LoRA adapter from `rca train --lora` or scripts/train-ref.py, merged
    /// into f32 weights or kept beside quantized ones (default:
    /// models/adapter.safetensors when present and trained on this model;
    /// `none` for none).
    #[arg(long, value_name = "FILE")]
    pub adapter: Option<String>,
    /// tokenizer.json to use instead of the GGUF's own tokenizer.
    #[arg(long, value_name = "FILE")]
    pub tokenizer: Option<PathBuf>,
    /// auto, cpu, cuda or cuda:N [default: auto].
    #[arg(long)]
    pub device: Option<String>,
    /// CPU threads for the model (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// How many of the best candidates the model judges (the rest keep
    /// their retrieval order behind them) [default: 20 pointwise, 60
    /// election].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub elect: Option<u32>,
    /// Changes per election batch, at most 20 [default: 20].
    #[arg(long, value_parser = clap::value_parser!(u16).range(2..=20))]
    pub batch: Option<u16>,
    /// Winners kept from each batch [default: 5].
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=19))]
    pub keep: Option<u16>,
    /// Orders each batch is judged in, against position bias [default: 2].
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=8))]
    pub votes: Option<u16>,
    /// Learned fusion weights from `rca train`, or `built-in` for the
    /// hand-set ones (default: models/fusion.yaml when present).
    #[arg(long, value_name = "FILE")]
    pub fusion: Option<String>,
    /// Weight of the model's log-probability against the retrieval prior
    /// [default: 0.25].
    #[arg(long)]
    pub model_weight: Option<f64>,
    /// Run every batch prompt from scratch instead of reusing the shared
    /// prefix's cache (for measuring what the reuse saves).
    #[arg(long, hide = true)]
    pub no_prefix_reuse: bool,
    /// Write every batch prompt with its label log-probabilities here.
    #[arg(long, value_name = "DIR")]
    pub dump_prompts: Option<PathBuf>,
    /// Requests in flight at once to a served model (--model openai:...)
    /// [default: 4].
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=256))]
    pub concurrency: Option<u16>,
    /// Seconds one request to a served model may take, connection included,
    /// before it is retried (three times, with backoff) [default: 120].
    #[arg(long, value_name = "SECONDS")]
    pub request_timeout: Option<f64>,
    /// The served model's chat template (a Jinja file, or its
    /// tokenizer_config.json), for servers that do not publish it at /props.
    #[arg(long, value_name = "FILE")]
    pub chat_template: Option<PathBuf>,
}

/// Rank the commits that landed in a window by how likely each is to have
/// caused an incident.
#[derive(Debug, Args)]
pub struct InvestigateArgs {
    #[command(flatten)]
    pub incident: IncidentArgs,
    #[command(flatten)]
    pub source: SourceArgs,
    /// How many suspects to report [default: 5].
    #[arg(long, value_parser = clap::value_parser!(u16).range(1..=100))]
    pub top: Option<u16>,
    /// Abstain (exit 1) when the confidence that the culprit is listed is
    /// below this [default: 0].
    #[arg(long, conflicts_with = "precision")]
    pub min_confidence: Option<f64>,
    /// Abstain unless the confidence reaches the threshold that gave this
    /// precision@5 in the calibration's backtest (needs a calibration).
    #[arg(long)]
    pub precision: Option<f64>,
    /// Calibration file from `rca calibrate` (default: rca.yaml's, else
    /// models/calibration-<ranker>.yaml when present).
    #[arg(long, value_name = "FILE")]
    pub calibration: Option<PathBuf>,
    /// Report the raw confidence even when a calibration is present.
    #[arg(long, conflicts_with = "calibration")]
    pub no_calibration: bool,
    #[arg(long, value_enum, default_value_t = ReportFormat::Text)]
    pub format: ReportFormat,
    /// Show the evidence and scores behind each suspect.
    #[arg(long)]
    pub explain: bool,
    #[command(flatten)]
    pub model: ModelArgs,
}

/// The incident's facts and its window, as `investigate` and `bisect` take
/// them.
#[derive(Debug, Clone, Args)]
pub struct IncidentArgs {
    /// The incident's title, as the people on call wrote it.
    // Not `required` here: a flattened `Option` of these args (bisect's)
    // would then be required too (clap issue 5092). `investigate` marks it
    // required on its own command.
    #[arg(long, required = false)]
    pub title: String,
    /// A sentence on the impact or symptom.
    #[arg(long)]
    pub impact: Option<String>,
    /// The paged team: @user, @org/team, e-mail or MAINTAINERS section title.
    #[arg(long = "team", value_name = "OWNER")]
    pub teams: Vec<String>,
    /// A path or glob the incident points at (repeatable).
    #[arg(long = "path", value_name = "GLOB")]
    pub paths: Vec<String>,
    /// Window start: RFC 3339, YYYY-MM-DD, 36h, "2 days ago", yesterday.
    /// Relative forms count back from --until. Required unless rca.yaml
    /// sets window.since.
    #[arg(long, value_name = "WHEN")]
    pub since: Option<String>,
    /// Window end, the moment the investigation opened (default: now). Only
    /// commits that landed before it are seen.
    #[arg(long, value_name = "WHEN")]
    pub until: Option<String>,
}

/// The diff cache (`rca::cache`), for the commands that walk history.
#[derive(Debug, Clone, Args)]
pub struct CacheArgs {
    /// Read every diff from the repository, neither using nor filling the
    /// diff cache ($RCA_CACHE_DIR, else ~/.cache/rca).
    #[arg(long)]
    pub no_cache: bool,
}

impl CacheArgs {
    /// The user's diff cache, unless `--no-cache`.
    pub fn diff_cache(&self) -> Option<crate::cache::DiffCache> {
        if self.no_cache {
            None
        } else {
            crate::cache::DiffCache::user()
        }
    }
}

/// Where the commits come from and how many go to the ranking.
#[derive(Debug, Clone, Args)]
pub struct SourceArgs {
    /// The repository (bare or not; default: the current directory).
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub repo: PathBuf,
    /// The main line to investigate (default: HEAD).
    #[arg(long = "ref", value_name = "REF")]
    pub reference: Option<String>,
    /// Ownership file to use instead of detecting one.
    #[arg(long, value_name = "PATH")]
    pub ownership_file: Option<String>,
    /// How many candidates retrieval keeps for ranking [default: 200].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub candidates: Option<u32>,
    /// Config file (default: rca.yaml at the root of the repository's work
    /// tree, when present).
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[command(flatten)]
    pub cache: CacheArgs,
}

/// Find which commit of an investigation's window makes a command fail:
/// a Bayesian bisection that starts from rca's ranking and allows for flaky
/// runs. Runs happen in scratch checkouts; the repository is not touched.
#[derive(Debug, Args)]
pub struct BisectArgs {
    /// The reproduction, run with `sh -c` at the root of a scratch checkout
    /// of each commit tested: exit 0 good, 125 cannot test (skip), any
    /// other code from 1 to 127 bad (126 and 127, a command that cannot
    /// run, stop the bisection).
    #[arg(long, value_name = "CMD", required_unless_present = "dry_run")]
    pub run: Option<String>,
    /// The JSON report `rca investigate --format json` wrote: the same
    /// facts, window and tip (instead of --title and the window flags).
    #[arg(long, value_name = "FILE")]
    pub from: Option<PathBuf>,
    #[command(flatten)]
    pub incident: Option<IncidentArgs>,
    #[command(flatten)]
    pub source: SourceArgs,
    /// Stop when one commit's posterior probability reaches this.
    #[arg(long, default_value_t = 0.95)]
    pub confidence: f64,
    /// Stop after this many runs [default: 2 × log2(window) + 8].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub max_runs: Option<u32>,
    /// Chance that a good commit's run fails anyway (a flaky test).
    #[arg(long, default_value_t = 0.01)]
    pub false_fail: f64,
    /// Chance that a bad commit's run passes anyway.
    #[arg(long, default_value_t = 0.01)]
    pub false_pass: f64,
    /// Where the prior comes from.
    #[arg(long, value_enum, default_value_t = PriorName::Ranking)]
    pub prior: PriorName,
    /// Share of the prior spread evenly over every commit of the window,
    /// so that a commit the ranking missed is still found.
    #[arg(long, default_value_t = defaults::PRIOR_FLOOR)]
    pub prior_floor: f64,
    /// Commits tested at once (each in its own scratch checkout), chosen
    /// to be informative together.
    #[arg(long, default_value_t = 1, value_parser = clap::value_parser!(u16).range(1..=8))]
    pub jobs: u16,
    /// Print the first commits it would test, and why, without running.
    #[arg(long)]
    pub dry_run: bool,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    #[command(flatten)]
    pub model: ModelArgs,
}

/// The prior of `rca bisect`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum PriorName {
    /// The investigation's ranking over every commit of the window.
    Ranking,
    /// Every commit alike (what `git bisect` assumes).
    Flat,
}

/// Replay past investigations whose culprit is known and measure the
/// ranking (hit@k, MRR, retriever recall).
#[derive(Debug, Args)]
pub struct BacktestArgs {
    /// Cases files (YAML, see docs/cases.md).
    #[arg(long, required = true, num_args = 1.., value_name = "FILE")]
    pub cases: Vec<PathBuf>,
    /// The repository, or a folder of bare mirrors named owner+name/repo.
    #[arg(long, value_name = "DIR")]
    pub repo: PathBuf,
    /// Replay without the team hints.
    #[arg(long)]
    pub no_team_hint: bool,
    #[command(flatten)]
    pub cache: CacheArgs,
    /// How many candidates retrieval keeps for ranking [default: 200].
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub candidates: Option<u32>,
    /// Only the first N cases of each file (for quick model runs).
    #[arg(long)]
    pub limit: Option<usize>,
    /// Only cases opened at or after this (e.g. the cut-off of a training
    /// run, for an honest time split).
    #[arg(long, value_name = "WHEN")]
    pub opened_from: Option<String>,
    /// Only cases opened before this.
    #[arg(long, value_name = "WHEN")]
    pub opened_before: Option<String>,
    /// Count a case as answered only when its confidence reaches this.
    #[arg(long, default_value_t = 0.0)]
    pub min_confidence: f64,
    /// Calibration applied to each case's confidence (default: none; the
    /// raw confidence is what `rca calibrate` fits).
    #[arg(long, value_name = "FILE")]
    pub calibration: Option<PathBuf>,
    /// Config file for the ranking settings.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = BacktestFormat::Text)]
    pub format: BacktestFormat,
    /// Also write summary.json, cases.jsonl and curve.svg (risk-coverage
    /// plot) into this folder.
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Write each case's candidates (commit ids and signals under the
    /// fusion used) and the culprit's index as JSON lines, in the format of
    /// `rca train --save-groups`, to study learners on held-out cases.
    #[arg(long, value_name = "FILE")]
    pub save_groups: Option<PathBuf>,
    /// Write each case whose culprit is among the ranking's first 20 as a
    /// judge example (the 20 in ranked order), in the format of `rca train
    /// --save-examples`, to measure a judge on the candidates it would see.
    #[arg(long, value_name = "FILE")]
    pub save_examples: Option<PathBuf>,
    /// Also simulate `rca bisect` on each case, with a test that fails
    /// exactly when the culprit is in the commit tested: runs and accuracy
    /// of git bisect, of rca bisect with a flat prior and with the ranking's.
    #[arg(long)]
    pub bisect: bool,
    /// In the simulation, the chance that a bad commit's run passes (also
    /// told to rca bisect's model, which uses at least 0.01).
    #[arg(long, default_value_t = 0.0, requires = "bisect")]
    pub bisect_false_pass: f64,
    #[command(flatten)]
    pub model: ModelArgs,
}

/// Fit a monotone calibration of the confidence from a backtest's output
/// (`rca backtest --out DIR`), with cross-validated Brier score and
/// expected calibration error.
#[derive(Debug, Args)]
pub struct CalibrateArgs {
    /// The folder `rca backtest --out` wrote.
    #[arg(long, value_name = "DIR")]
    pub from: PathBuf,
    /// Where to write the calibration (default: the --config file's
    /// confidence.calibration, else models/calibration-<ranker>.yaml next to
    /// the default model, where investigate finds it).
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    /// A repository's rca.yaml whose confidence.calibration names the file
    /// to write.
    #[arg(long, value_name = "FILE")]
    pub config: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = CalibrationMethod::Platt)]
    pub method: CalibrationMethod,
    /// Cross-validation folds (2: fit on one half, test on the other).
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u16).range(2..=100))]
    pub folds: u16,
    /// Coverage of the operating point reported per fold.
    #[arg(long, default_value_t = 0.5)]
    pub coverage: f64,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CalibrationMethod {
    /// Pool-adjacent-violators, piecewise linear.
    Isotonic,
    /// Logistic regression on the logit of the confidence.
    Platt,
}

/// Learn from history: mine past investigations from each repository (and
/// take given case files), all opened before --until, replay them, and fit
/// the fusion of the retrieval signals. Writes fusion.yaml and train.json.
#[derive(Debug, Args)]
pub struct TrainArgs {
    /// Repositories to mine training cases from (bare or not).
    #[arg(long = "repo", value_name = "DIR", num_args = 1..)]
    pub repos: Vec<PathBuf>,
    /// Case files to train on as well (their cases at or after --until are
    /// left out).
    #[arg(long, value_name = "FILE", num_args = 1..)]
    pub cases: Vec<PathBuf>,
    /// A folder of bare mirrors (owner+name/repo) for --cases files (default:
    /// the first --repo).
    #[arg(long, value_name = "DIR")]
    pub mirrors: Option<PathBuf>,
    /// The main line to mine (default: HEAD).
    #[arg(long = "ref", value_name = "REF")]
    pub reference: Option<String>,
    /// The cut-off: nothing at or after it enters training (default: now).
    #[arg(long, value_name = "WHEN")]
    pub until: Option<String>,
    /// Mine fixes from this time on (default: four years before --until).
    #[arg(long, value_name = "WHEN")]
    pub since: Option<String>,
    /// Where to write fusion.yaml and train.json (default: models/, where
    /// investigate and backtest pick the fusion up).
    #[arg(long, value_name = "DIR")]
    pub out: Option<PathBuf>,
    /// Learn no title-word associations: the `association` signal stays 0
    /// (they need many cases: docs/benchmarks.md, "Twelve years of
    /// history").
    #[arg(long)]
    pub no_associations: bool,
    #[command(flatten)]
    pub cache: CacheArgs,
    /// Time budget: replaying stops when it is spent.
    #[arg(long, default_value_t = 120, value_parser = clap::value_parser!(u32).range(1..=10_000))]
    pub max_minutes: u32,
    /// Candidates retrieval keeps per case.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(2..=100_000))]
    pub candidates: u32,
    /// L2 penalty of the fit.
    #[arg(long, default_value_t = 1.0)]
    pub l2: f64,
    /// Also fine-tune the judge model with LoRA on the replayed cases, in
    /// the time the budget leaves (writes adapter.safetensors, loss.tsv,
    /// loss.svg; a checkpoint resumes a stopped run).
    #[arg(long)]
    pub lora: bool,
    /// The base model to fine-tune (default: the embedded one).
    #[arg(long, value_name = "GGUF")]
    pub model: Option<PathBuf>,
    /// Changes per LoRA example: the culprit and the retriever's best other
    /// candidates (hard negatives). Saved --examples are cut to this size
    /// too; --eval-examples are judged as saved.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(2..=20))]
    pub lora_candidates: u16,
    /// At most this many LoRA examples (the cases in replay order).
    #[arg(long, default_value_t = 200)]
    pub lora_examples: usize,
    /// Adapt only the top N layers (cheaper steps); default all.
    #[arg(long)]
    pub lora_top_layers: Option<usize>,
    /// Passes over the LoRA examples.
    #[arg(long, default_value_t = 2)]
    pub lora_epochs: usize,
    /// AdamW step size of the LoRA factors.
    #[arg(long, default_value_t = 2e-4)]
    pub lora_rate: f64,
    /// Examples per LoRA optimiser step (their gradients are averaged).
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=4096))]
    pub lora_accumulate: u32,
    /// Rank of each LoRA pair.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u32).range(1..=512))]
    pub lora_rank: u32,
    /// The matrices LoRA adapts, comma-separated, of q k v o gate up down.
    #[arg(long, value_delimiter = ',', default_value = "q,v")]
    pub lora_targets: Vec<String>,
    /// Where the LoRA passes run: cpu, cuda or cuda:N (CUDA needs a build
    /// with --features cuda).
    #[arg(long, default_value = "cpu")]
    pub device: String,
    /// GiB of computation graph a LoRA backward pass may hold at once
    /// (default: 1.5 on the CPU, 32 on a GPU; less means more recomputing).
    #[arg(long, value_name = "GIB")]
    pub lora_graph_gb: Option<f64>,
    /// Train the judge on LoRA examples saved earlier with --save-examples
    /// (implies --lora). With them, --repo and --cases may be left out: then
    /// only the judge is trained. Examples of cases opened at or after
    /// --until are left out.
    #[arg(long, value_name = "FILE", num_args = 1..)]
    pub examples: Vec<PathBuf>,
    /// Write the LoRA examples replay builds (JSON lines, see
    /// docs/training.md), to train on them elsewhere (a GPU machine without
    /// the repositories) or to hold them out.
    #[arg(long, value_name = "FILE")]
    pub save_examples: Option<PathBuf>,
    /// Write the fusion's training groups (each case's candidates, with
    /// their commit ids and features, and the culprit's index) as JSON
    /// lines, to study other learners on them (see docs/training.md).
    #[arg(long, value_name = "FILE")]
    pub save_groups: Option<PathBuf>,
    /// Held-out LoRA examples: the judge's listwise top-1 on them is
    /// measured before and after fine-tuning.
    #[arg(long, value_name = "FILE")]
    pub eval_examples: Option<PathBuf>,
    /// Replay every case without its team hint (default: every other case
    /// has it, so both regimes are learned).
    #[arg(long)]
    pub no_team_hint: bool,
    /// Train the pointwise judge's head on --examples instead of LoRA: the
    /// frozen model reads each candidate once (cached in the --out folder,
    /// so a stopped run resumes), a linear head is fitted as a reranker and
    /// its weight in the fusion out of fold. Writes judge-head.json.
    #[arg(long, requires = "examples", conflicts_with = "lora")]
    pub judge: bool,
    /// Candidates per example the judge trains on: the culprit and the
    /// retriever's hardest other candidates.
    #[arg(long, default_value_t = 8, value_parser = clap::value_parser!(u16).range(2..=20))]
    pub judge_candidates: u16,
    /// L2 penalty of the judge head's hidden-state weights.
    #[arg(long, default_value_t = 10.0)]
    pub judge_l2: f64,
    /// The fusion the judge is stacked onto (default: models/fusion.yaml).
    #[arg(long, value_name = "FILE")]
    pub fusion: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// Build a fixture repository from its YAML description (for demos and
/// tests), and write its incident as a cases file next to it.
#[derive(Debug, Args)]
pub struct FixtureArgs {
    /// The fixture description (see fixtures/README.md).
    #[arg(long, value_name = "FILE")]
    pub spec: PathBuf,
    /// Where to create the repository (must not exist).
    #[arg(long, value_name = "DIR")]
    pub out: PathBuf,
    /// Create a bare repository.
    #[arg(long)]
    pub bare: bool,
}

/// Work with investigation cases (see docs/cases.md).
#[derive(Debug, Args)]
pub struct CasesArgs {
    #[command(subcommand)]
    pub command: CasesCommand,
}

#[derive(Debug, Subcommand)]
pub enum CasesCommand {
    Mine(MineArgs),
}

/// Mine investigation cases from a repository's own history: fixes with a
/// `Fixes: <id>` trailer and reverts that name their target and give a
/// symptom as their reason. Writes a cases file for `rca backtest`; reports
/// what was seen, kept and dropped (rules: docs/cases.md).
#[derive(Debug, Args)]
pub struct MineArgs {
    /// The repository (bare or not; default: the current directory). It is
    /// only read.
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub repo: PathBuf,
    /// The main line to mine (default: HEAD).
    #[arg(long = "ref", value_name = "REF")]
    pub reference: Option<String>,
    /// Mine fixes committed at or after this (default: one year before
    /// --until). Relative forms count back from --until.
    #[arg(long, value_name = "WHEN")]
    pub since: Option<String>,
    /// Mine fixes committed before this (default: now).
    #[arg(long, value_name = "WHEN")]
    pub until: Option<String>,
    /// Keep a case only if its culprit landed at most this long before the
    /// fix.
    #[arg(long, value_name = "DURATION", default_value = "14d")]
    pub max_lag: String,
    /// Each case's window: `since` is this long before `opened_at`.
    #[arg(long, value_name = "DURATION", default_value = "42d")]
    pub lookback: String,
    /// The cases file's `repo` name (default: the repository's folder; a mirror's
    /// `owner+name/repo` gives owner/name). Case ids use its last part.
    #[arg(long, value_name = "NAME")]
    pub name: Option<String>,
    /// Write the cases here instead of stdout.
    #[arg(long, value_name = "FILE")]
    pub out: Option<PathBuf>,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
}

/// Defaults of the options that rca.yaml may also set.
pub mod defaults {
    pub const CANDIDATES: u32 = 200;
    pub const TOP: u16 = 5;
    pub const ELECT: u32 = 60;
    pub const ELECT_POINTWISE: u32 = 20;
    pub const BATCH: u16 = 20;
    pub const KEEP: u16 = 5;
    pub const VOTES: u16 = 2;
    pub const DEVICE: &str = "auto";
    /// `--concurrency` for a served model.
    pub const CONCURRENCY: u16 = 4;
    /// `--request-timeout` in seconds.
    pub const REQUEST_TIMEOUT: f64 = 120.0;
    /// `rca bisect --prior-floor`.
    pub const PRIOR_FLOOR: f64 = 0.1;
}

impl RankerName {
    pub fn as_str(self) -> &'static str {
        match self {
            RankerName::Heuristic => "heuristic",
            RankerName::Llm => "llm",
        }
    }
}

/// Which model ranker a flag applies to.
#[derive(Debug, Clone, Copy, Default)]
pub struct FlagScope {
    /// The one judge it applies to (`None`: both).
    pub judge: Option<JudgeName>,
    /// Whether it applies to a served model only (`Some(true)`), to one run
    /// in-process only (`Some(false)`), or to both.
    pub served: Option<bool>,
}

impl ModelArgs {
    /// The model-ranker flags set here, each with what it applies to.
    pub fn model_flags(&self) -> Vec<(&'static str, FlagScope)> {
        use JudgeName::{Election, Pointwise};
        let both = FlagScope::default();
        let judge = |j| FlagScope {
            judge: Some(j),
            served: None,
        };
        let in_process = FlagScope {
            judge: None,
            served: Some(false),
        };
        let served = FlagScope {
            judge: None,
            served: Some(true),
        };
        [
            (self.judge.is_some(), "--judge", both),
            (self.model.is_some(), "--model", both),
            (self.allow_download, "--allow-download", in_process),
            (self.adapter.is_some(), "--adapter", in_process),
            (self.tokenizer.is_some(), "--tokenizer", in_process),
            (self.device.is_some(), "--device", in_process),
            (self.threads.is_some(), "--threads", in_process),
            (self.elect.is_some(), "--elect", both),
            (self.model_weight.is_some(), "--model-weight", both),
            (self.dump_prompts.is_some(), "--dump-prompts", both),
            (
                self.no_prefix_reuse,
                "--no-prefix-reuse",
                FlagScope {
                    judge: Some(Election),
                    served: Some(false),
                },
            ),
            (self.batch.is_some(), "--batch", judge(Election)),
            (self.keep.is_some(), "--keep", judge(Election)),
            (self.votes.is_some(), "--votes", judge(Election)),
            (self.judge_head.is_some(), "--judge-head", judge(Pointwise)),
            (self.concurrency.is_some(), "--concurrency", served),
            (self.request_timeout.is_some(), "--request-timeout", served),
            (self.chat_template.is_some(), "--chat-template", served),
        ]
        .into_iter()
        .filter(|(set, _, _)| *set)
        .map(|(_, name, scope)| (name, scope))
        .collect()
    }

    /// Refuses a flag of `given` (those set on the command line) that the
    /// chosen ranker, judge or kind of model would ignore: a runbook's
    /// typo'd or misplaced flag must not pass silently.
    pub fn refuse_unused(&self, given: &[(&'static str, FlagScope)]) -> Result<(), String> {
        for &(flag, scope) in given {
            if self.ranker() == RankerName::Heuristic {
                return Err(format!(
                    "{flag} applies to the model ranker only: add --ranker llm, or drop {flag}"
                ));
            }
            if let Some(judge) = scope.judge.filter(|&j| j != self.judge()) {
                return Err(format!(
                    "{flag} applies to --judge {} only, not to --judge {}",
                    judge.as_str(),
                    self.judge().as_str()
                ));
            }
            match scope.served {
                Some(false) if self.served() => {
                    return Err(format!(
                        "{flag} applies to a model run in-process, not to a served model (--model openai:...)"
                    ))
                }
                Some(true) if !self.served() => {
                    return Err(format!(
                        "{flag} applies to a served model only (--model openai:http://HOST:PORT/v1)"
                    ))
                }
                _ => {}
            }
        }
        Ok(())
    }

    /// Whether the model is served (`--model openai:...`).
    pub fn served(&self) -> bool {
        self.model
            .as_deref()
            .is_some_and(|m| m.starts_with(crate::model::openai::SCHEME))
    }
    pub fn concurrency(&self) -> usize {
        usize::from(self.concurrency.unwrap_or(defaults::CONCURRENCY))
    }
    pub fn request_timeout(&self) -> f64 {
        self.request_timeout.unwrap_or(defaults::REQUEST_TIMEOUT)
    }

    pub fn ranker(&self) -> RankerName {
        self.ranker.unwrap_or(RankerName::Heuristic)
    }
    pub fn device(&self) -> &str {
        self.device.as_deref().unwrap_or(defaults::DEVICE)
    }
    pub fn judge(&self) -> JudgeName {
        self.judge.unwrap_or(JudgeName::Pointwise)
    }
    pub fn elect(&self) -> u32 {
        self.elect.unwrap_or(match self.judge() {
            JudgeName::Pointwise => defaults::ELECT_POINTWISE,
            JudgeName::Election => defaults::ELECT,
        })
    }
    pub fn batch(&self) -> u16 {
        self.batch.unwrap_or(defaults::BATCH)
    }
    pub fn keep(&self) -> u16 {
        self.keep.unwrap_or(defaults::KEEP)
    }
    pub fn votes(&self) -> u16 {
        self.votes.unwrap_or(defaults::VOTES)
    }
}
