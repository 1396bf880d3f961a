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
    Investigate(InvestigateArgs),
    Backtest(BacktestArgs),
    Fixture(FixtureArgs),
    Cases(CasesArgs),
    #[command(hide = true)]
    FitFusion(FitArgs),
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum Format {
    Text,
    Json,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum RankerName {
    /// Retrieval signals only.
    Heuristic,
    /// Election by the language model, fused with the retrieval prior.
    Llm,
}

/// Settings of the model and the election (used with `--ranker llm`).
#[derive(Debug, Clone, Args)]
pub struct ModelArgs {
    /// Ranking stage.
    #[arg(long, value_enum, default_value_t = RankerName::Heuristic)]
    pub ranker: RankerName,
    /// GGUF model: a local path or hf:OWNER/REPO/FILE.gguf (default: the
    /// embedded SmolLM2-135M-Instruct in models/).
    #[arg(long, value_name = "MODEL")]
    pub model: Option<String>,
    /// Allow downloading an hf: model that is not cached yet.
    #[arg(long)]
    pub allow_download: bool,
    /// tokenizer.json to use instead of the GGUF's own tokenizer.
    #[arg(long, value_name = "FILE")]
    pub tokenizer: Option<PathBuf>,
    /// auto, cpu, cuda or cuda:N.
    #[arg(long, default_value = "auto")]
    pub device: String,
    /// CPU threads for the model (default: all cores).
    #[arg(long)]
    pub threads: Option<usize>,
    /// How many of the best candidates enter the election (the rest keep
    /// their retrieval order behind the finalists).
    #[arg(long, default_value_t = 60, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub elect: u32,
    /// Changes per election batch (at most 20).
    #[arg(long, default_value_t = 20, value_parser = clap::value_parser!(u16).range(2..=20))]
    pub batch: u16,
    /// Winners kept from each batch.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u16).range(1..=19))]
    pub keep: u16,
    /// Orders each batch is judged in, against position bias.
    #[arg(long, default_value_t = 2, value_parser = clap::value_parser!(u16).range(1..=8))]
    pub votes: u16,
    /// Weight of the model's log-probability against the retrieval prior.
    #[arg(long)]
    pub model_weight: Option<f64>,
    /// Run every batch prompt from scratch instead of reusing the shared
    /// prefix's cache (for measuring what the reuse saves).
    #[arg(long, hide = true)]
    pub no_prefix_reuse: bool,
    /// Write every batch prompt with its label log-probabilities here.
    #[arg(long, value_name = "DIR")]
    pub dump_prompts: Option<PathBuf>,
}

/// Rank the commits that landed in a window by how likely each is to have
/// caused an incident.
#[derive(Debug, Args)]
pub struct InvestigateArgs {
    /// The incident's title, as the people on call wrote it.
    #[arg(long)]
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
    /// Relative forms count back from --until.
    #[arg(long, value_name = "WHEN")]
    pub since: String,
    /// Window end, the moment the investigation opened (default: now). Only
    /// commits that landed before it are seen.
    #[arg(long, value_name = "WHEN")]
    pub until: Option<String>,
    /// The repository (bare or not; default: the current directory).
    #[arg(long, value_name = "DIR", default_value = ".")]
    pub repo: PathBuf,
    /// The main line to investigate (default: HEAD).
    #[arg(long = "ref", value_name = "REF")]
    pub reference: Option<String>,
    /// Ownership file to use instead of detecting one.
    #[arg(long, value_name = "PATH")]
    pub ownership_file: Option<String>,
    /// How many suspects to report.
    #[arg(long, default_value_t = 5, value_parser = clap::value_parser!(u16).range(1..=100))]
    pub top: u16,
    /// How many candidates retrieval keeps for ranking.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub candidates: u32,
    /// Abstain (exit 1) when the confidence that the culprit is listed is
    /// below this.
    #[arg(long, default_value_t = 0.0)]
    pub min_confidence: f64,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Show the evidence and scores behind each suspect.
    #[arg(long)]
    pub explain: bool,
    #[command(flatten)]
    pub model: ModelArgs,
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
    /// How many candidates retrieval keeps for ranking.
    #[arg(long, default_value_t = 200, value_parser = clap::value_parser!(u32).range(1..=100_000))]
    pub candidates: u32,
    /// Only the first N cases of each file (for quick model runs).
    #[arg(long)]
    pub limit: Option<usize>,
    #[arg(long, value_enum, default_value_t = Format::Text)]
    pub format: Format,
    /// Write per-candidate features (JSON lines) for fitting the fusion.
    #[arg(long, value_name = "FILE", hide = true)]
    pub dump_features: Option<PathBuf>,
    #[command(flatten)]
    pub model: ModelArgs,
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

/// Fit the retrieval fusion weights from `rca backtest --dump-features`
/// output, with out-of-fold accuracy (for developers).
#[derive(Debug, Args)]
pub struct FitArgs {
    /// Feature dump (JSON lines).
    #[arg(long, value_name = "FILE")]
    pub features: PathBuf,
    #[arg(long, default_value_t = 5)]
    pub folds: usize,
    /// L2 penalty.
    #[arg(long, default_value_t = 1.0)]
    pub l2: f64,
    /// Print each case's out-of-fold culprit rank.
    #[arg(long)]
    pub verbose: bool,
}
