//! The ranking stage as the command line sets it up: the heuristic ranker,
//! or the model loaded once and reused for every investigation of a run.

use super::progress::{self, ElectionBar};
use crate::cli::{JudgeName, ModelArgs, RankerName};
use crate::error::{model as model_error, server as server_error, usage};
use crate::investigation::Ranker;
use crate::model::engine::Engine;
use crate::model::openai::{self, Server, ServerError, ServerOptions};
use crate::model::{self, DeviceChoice, LoadOptions, Model};
use crate::rank::llm::LlmJudge;
use crate::rank::pointwise::{Head, PointwiseJudge};
use crate::rank::{ElectionOptions, PointwiseOptions};
use crate::report::Report;
use crate::retrieve::{Fusion, Regime};
use crate::train::fusion::{FusionFile, BUILT_IN};
use anyhow::Result;
use indicatif::ProgressBar;

/// The ranker of one run of the binary.
pub struct Session {
    election: ElectionOptions,
    pointwise: PointwiseOptions,
    judge: Option<Loaded>,
    bar: ElectionBar,
}

/// The model, loaded as the judge that `--judge` names.
enum Loaded {
    Election(LlmJudge),
    Pointwise(PointwiseJudge),
}

impl Loaded {
    fn engine(&self) -> &Engine {
        match self {
            Loaded::Election(j) => j.engine(),
            Loaded::Pointwise(j) => j.engine(),
        }
    }
}

/// Default weight of the model's log-probability in the fused score.
/// docs/benchmarks.md: on the development cases the untrained model does not
/// beat weight 0 (the heuristic order), which is why the heuristic ranker is
/// the default; 0.25 lets the model reorder only near-ties when asked for.
pub const DEFAULT_MODEL_WEIGHT: f64 = 0.25;

impl Session {
    pub fn new(args: &ModelArgs, top: usize) -> Result<Session> {
        let election = ElectionOptions {
            batch: usize::from(args.batch()),
            keep: usize::from(args.keep()).min(usize::from(args.batch()) - 1),
            votes: usize::from(args.votes()),
            top,
            model_weight: args.model_weight.unwrap_or(DEFAULT_MODEL_WEIGHT),
            elect: args.elect() as usize,
        };
        let judge = match (args.ranker(), args.judge()) {
            (RankerName::Heuristic, _) => None,
            (RankerName::Llm, JudgeName::Election) => Some(Loaded::Election(load_judge(args)?)),
            (RankerName::Llm, JudgeName::Pointwise) => {
                Some(Loaded::Pointwise(load_pointwise(args)?))
            }
        };
        let pointwise = PointwiseOptions {
            judge: args.elect() as usize,
            model_weight: match (&judge, args.model_weight) {
                (_, Some(w)) => [(Regime::Component, w), (Regime::Symptom, w)].into(),
                (Some(Loaded::Pointwise(j)), None) => j.head().fusion_weight.clone(),
                _ => Default::default(),
            },
        };
        Ok(Session {
            election,
            pointwise,
            judge,
            bar: ElectionBar(ProgressBar::hidden()),
        })
    }

    /// `heuristic` or `llm`, for reports.
    pub fn name(&self) -> &'static str {
        if self.judge.is_some() {
            RankerName::Llm.as_str()
        } else {
            RankerName::Heuristic.as_str()
        }
    }

    /// The ranker for one investigation; when the election starts, `bar`
    /// (a spinner until then) turns into a bar over its batches.
    pub fn ranker(&mut self, bar: &ProgressBar) -> Ranker<'_> {
        match &mut self.judge {
            None => Ranker::Heuristic,
            Some(Loaded::Election(judge)) => {
                self.bar = ElectionBar(bar.clone());
                Ranker::Election {
                    judge,
                    options: self.election.clone(),
                    progress: &mut self.bar,
                }
            }
            Some(Loaded::Pointwise(scorer)) => {
                self.bar = ElectionBar(bar.clone());
                Ranker::Pointwise {
                    scorer,
                    options: self.pointwise.clone(),
                    progress: &mut self.bar,
                }
            }
        }
    }

    /// Adds what the report should say about the model.
    pub fn annotate(&mut self, report: &mut Report) -> Result<()> {
        self.bar.0.finish_and_clear();
        if let Some(judge) = &self.judge {
            let mut info = serde_json::to_value(judge.engine().info())?;
            match judge {
                Loaded::Election(_) => info["election"] = serde_json::to_value(&self.election)?,
                Loaded::Pointwise(j) => {
                    info["pointwise"] = serde_json::to_value(&self.pointwise)?;
                    info["judge_head"] = serde_json::json!({
                        "trained": j.head().is_trained(),
                        "logodds_weight": j.head().logodds_weight,
                        "trained_on": j.head().trained,
                    });
                }
            }
            report.model = Some(info);
        }
        Ok(())
    }
}

/// The fusion of the retrieval signals: `--fusion FILE`, `--fusion
/// built-in`, else models/fusion.yaml when present, else the hand-set one.
pub fn fusion(args: &ModelArgs) -> Result<Fusion> {
    match args.fusion.as_deref() {
        Some(BUILT_IN) => Ok(Fusion::default()),
        path => fusion_or_default(path.map(std::path::Path::new)),
    }
}

/// The fusion in `path`, else models/fusion.yaml when present, else the
/// hand-set one.
pub fn fusion_or_default(path: Option<&std::path::Path>) -> Result<Fusion> {
    match path
        .map(std::path::Path::to_path_buf)
        .or_else(|| model::find_in_models(FUSION_FILE))
    {
        Some(path) => FusionFile::load(&path),
        None => Ok(Fusion::default()),
    }
}

/// The default fusion file's name in models/.
pub const FUSION_FILE: &str = "fusion.yaml";

/// The default LoRA adapter's name in models/.
pub const ADAPTER_FILE: &str = "adapter.safetensors";

/// The default judge head's name in models/.
pub const HEAD_FILE: &str = "judge-head.json";

/// models/`name` (the adapter or the judge head), when present and trained
/// on the GGUF at `model_path`: the default that goes with that model. One
/// trained on another model is left out, as if absent, so that changing
/// `--model` needs no `--adapter none`.
fn default_for(name: &str, model_path: &std::path::Path) -> Option<std::path::PathBuf> {
    let file = model::find_in_models(name)?;
    let fits = if name == ADAPTER_FILE {
        model::adapter::AdapterMeta::read(&file)
            .is_ok_and(|meta| meta.check_base(model_path).is_ok())
    } else {
        Head::trained_on(&file, model_path)
    };
    fits.then_some(file)
}

/// Whether `--model` names a served model (`openai:...`).
fn served(args: &ModelArgs) -> bool {
    args.model
        .as_deref()
        .is_some_and(|m| m.starts_with(openai::SCHEME))
}

/// Loads the model as the pointwise judge with its head: `--judge-head`,
/// else models/judge-head.json when it was trained on this model, else the
/// zero-shot log-odds (always for a served model, whose hidden states a
/// trained head cannot read).
fn load_pointwise(args: &ModelArgs) -> Result<PointwiseJudge> {
    let (path, engine) = load_engine(args)?;
    let head = match (engine.model(), args.judge_head.as_deref()) {
        (_, Some("none")) => Head::zero_shot(),
        (None, Some(_)) => {
            return Err(usage(
                "--judge-head: a trained head reads the model's hidden states, which a served model does not return; use --judge-head none",
            ))
        }
        (None, None) => Head::zero_shot(),
        (Some(model), Some(file)) => {
            Head::load(std::path::Path::new(file), &path, model.hidden_size())?
        }
        // Head::load refuses a head trained on another model.
        (Some(model), None) => model::find_in_models(HEAD_FILE)
            .and_then(|file| Head::load(&file, &path, model.hidden_size()).ok())
            .unwrap_or_else(Head::zero_shot),
    };
    let judge = PointwiseJudge::with_engine(engine, head, args.dump_prompts.clone())?;
    write_dump_manifest(args, judge.engine())?;
    Ok(judge)
}

/// Finds and loads the model as the election's judge.
fn load_judge(args: &ModelArgs) -> Result<LlmJudge> {
    let (_, engine) = load_engine(args)?;
    let mut judge = LlmJudge::with_engine(engine, args.dump_prompts.clone())?;
    judge.set_prefix_reuse(!args.no_prefix_reuse);
    write_dump_manifest(args, judge.engine())?;
    Ok(judge)
}

/// The judge's engine: a served model (`--model openai:...`), connected and
/// checked, or the GGUF loaded in-process (with its adapter), with a
/// spinner while it loads.
fn load_engine(args: &ModelArgs) -> Result<(std::path::PathBuf, Engine)> {
    if let Some(spec) = args.model.as_deref().filter(|_| served(args)) {
        let timeout = args.request_timeout();
        if !(timeout > 0.0 && timeout <= 86_400.0) {
            return Err(usage(format!(
                "--request-timeout {timeout}: give seconds above 0 and at most 86400"
            )));
        }
        let options = ServerOptions {
            concurrency: args.concurrency(),
            timeout: std::time::Duration::from_secs_f64(timeout),
            chat_template: args.chat_template.clone(),
        };
        let spinner = progress::spinner(&format!("connecting to {spec}"));
        let server = Server::connect(spec, options).map_err(|e| match e {
            ServerError::Spec(message) => usage(message),
            other => server_error(other.to_string()),
        });
        spinner.finish_and_clear();
        return Ok((std::path::PathBuf::from(spec), Engine::Served(server?)));
    }
    let (path, model) = load_model(args)?;
    Ok((path, Engine::in_process(model)))
}

/// The GGUF an in-process judge loads: `--model`, else the embedded
/// default; an `hf:` model is downloaded only with `download`.
fn model_path(args: &ModelArgs, download: bool) -> Result<std::path::PathBuf> {
    Ok(match &args.model {
        Some(spec) => model::resolve(spec, download).map_err(|e| model_error(e.to_string()))?,
        None => model::default_model_path().ok_or_else(|| {
            model_error(format!(
                "the default model {} is not installed: run models/fetch, or pass --model",
                model::DEFAULT_MODEL_FILE
            ))
        })?,
    })
}

/// Finds and loads the model (with its adapter), with a spinner while it
/// loads.
fn load_model(args: &ModelArgs) -> Result<(std::path::PathBuf, Model)> {
    let path = model_path(args, args.allow_download)?;
    let device: DeviceChoice = args
        .device()
        .parse()
        .map_err(|e: model::ModelError| usage(e.to_string()))?;
    let options = LoadOptions {
        device,
        threads: args.threads,
        tokenizer: args.tokenizer.clone(),
    };
    let adapter = match args.adapter.as_deref() {
        Some("none") => None,
        Some(file) => Some(std::path::PathBuf::from(file)),
        None => default_for(ADAPTER_FILE, &path),
    };
    let spinner = progress::spinner(&format!("loading {}", path.display()));
    let loaded = Model::load_with_adapter(&path, &options, adapter.as_deref())
        .map_err(|e| model_error(e.to_string()));
    spinner.finish_and_clear();
    Ok((path, loaded?))
}

/// With --dump-prompts, what a person needs to replay the prompts: model,
/// tokenizer, flags.
fn write_dump_manifest(args: &ModelArgs, engine: &Engine) -> Result<()> {
    if let Some(dir) = &args.dump_prompts {
        let manifest = serde_json::json!({
            "model": engine.info(),
            "command_line": std::env::args().collect::<Vec<_>>(),
            "flags": flags(args),
        });
        let path = dir.join("manifest.json");
        std::fs::write(&path, serde_json::to_string_pretty(&manifest)?)
            .map_err(|e| crate::error::input(format!("writing {}: {e}", path.display())))?;
    }
    Ok(())
}

/// The ranking flags of a reproduce command.
pub fn flags(args: &ModelArgs) -> Vec<String> {
    let fusion = args
        .fusion
        .clone()
        .or_else(|| model::find_in_models(FUSION_FILE).map(|p| p.display().to_string()));
    let fusion = fusion.map(|f| format!(" --fusion {}", super::shell_quote(&f)));
    let mut flags = ranker_flags(args);
    flags[0].push_str(fusion.as_deref().unwrap_or(""));
    flags
}

fn ranker_flags(args: &ModelArgs) -> Vec<String> {
    match args.ranker() {
        RankerName::Heuristic => vec!["--ranker heuristic".to_owned()],
        RankerName::Llm => {
            let mut flags = vec![match args.judge() {
                JudgeName::Election => format!(
                    "--ranker llm --judge election --elect {} --batch {} --keep {} --votes {} --model-weight {}",
                    args.elect(),
                    args.batch(),
                    args.keep(),
                    args.votes(),
                    args.model_weight.unwrap_or(DEFAULT_MODEL_WEIGHT)
                ),
                JudgeName::Pointwise => {
                    let mut flag = format!("--ranker llm --judge pointwise --elect {}", args.elect());
                    if let Some(w) = args.model_weight {
                        flag.push_str(&format!(" --model-weight {w}"));
                    }
                    flag
                }
            }];
            // The defaults that went with the model: none for a served one.
            let in_process = (!served(args))
                .then(|| model_path(args, false).ok())
                .flatten();
            let default = |name: &str| {
                in_process
                    .as_deref()
                    .and_then(|path| default_for(name, path))
                    .map(|file| file.display().to_string())
            };
            if args.judge() == JudgeName::Pointwise {
                let head = args.judge_head.clone().or_else(|| default(HEAD_FILE));
                if let Some(head) = head {
                    flags.push(format!("--judge-head {}", super::shell_quote(&head)));
                }
            }
            if let Some(model) = &args.model {
                flags.push(format!("--model {}", super::shell_quote(model)));
            }
            if let Some(template) = &args.chat_template {
                flags.push(format!(
                    "--chat-template {}",
                    super::shell_quote(&template.display().to_string())
                ));
            }
            let adapter = args.adapter.clone().or_else(|| default(ADAPTER_FILE));
            if let Some(adapter) = adapter {
                flags.push(format!("--adapter {}", super::shell_quote(&adapter)));
            }
            if let Some(tokenizer) = &args.tokenizer {
                flags.push(format!(
                    "--tokenizer {}",
                    super::shell_quote(&tokenizer.display().to_string())
                ));
            }
            flags
        }
    }
}
