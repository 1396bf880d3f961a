//! The language model behind the rank stage: load a Llama-family GGUF,
//! tokenize exactly as llama.cpp does, and score label tokens quickly.
//!
//! The rank stage asks one question many times: given a prompt that lists up
//! to 20 labelled changes, how likely is each label as the next token? This
//! module answers it with [`Model::next_token_logprobs`], and makes the
//! shared part of those prompts cheap with [`Model::prefix`]. Everything a
//! user can get wrong (a missing, truncated or foreign GGUF, an uncached hub
//! model, a device this build lacks) comes back as a one-line [`ModelError`].
//!
//! Speed and exactness decisions, each re-measured from model-notes.md, are
//! documented where they are made: the weight format in `llama.rs`
//! ([`WeightFormat::choose`]), the allocator in [`tune_allocator`], threads
//! in [`configure_threads`], the tokenizer in `tokenizer.rs`.

pub mod adapter;
pub mod engine;
pub(crate) mod gguf;
mod hub;
pub(crate) mod kernels;
pub(crate) mod llama;
pub mod openai;
mod tokenizer;

use std::path::{Path, PathBuf};
use std::str::FromStr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::OnceLock;

use candle_core::Device;

pub use llama::{WeightFormat, DEQUANTIZE_MAX_PARAMS};

/// The file name of the embedded default model (see `models/fetch`).
pub const DEFAULT_MODEL_FILE: &str = "SmolLM2-135M-Instruct.Q4_1.gguf";

/// Tokens per forward pass when a prompt is longer than that; fixed so that
/// results never depend on how a prompt was split.
pub const PREFILL_CHUNK: usize = llama::CHUNK;

/// Where the model runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum DeviceChoice {
    /// CUDA device 0 if this build has CUDA and a GPU is present, else CPU.
    #[default]
    Auto,
    Cpu,
    Cuda(usize),
}

impl FromStr for DeviceChoice {
    type Err = ModelError;

    /// Accepts `auto`, `cpu`, `cuda` (device 0) and `cuda:N`.
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let bad = || {
            ModelError::Device(format!(
                "unknown device \"{s}\" (expected auto, cpu, cuda or cuda:N)"
            ))
        };
        match s.trim().to_ascii_lowercase().as_str() {
            "auto" => Ok(DeviceChoice::Auto),
            "cpu" => Ok(DeviceChoice::Cpu),
            "cuda" | "gpu" => Ok(DeviceChoice::Cuda(0)),
            other => match other.strip_prefix("cuda:") {
                Some(n) => n.parse().map(DeviceChoice::Cuda).map_err(|_| bad()),
                None => Err(bad()),
            },
        }
    }
}

impl std::fmt::Display for DeviceChoice {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            DeviceChoice::Auto => write!(f, "auto"),
            DeviceChoice::Cpu => write!(f, "cpu"),
            DeviceChoice::Cuda(n) => write!(f, "cuda:{n}"),
        }
    }
}

/// How to load a model.
#[derive(Debug, Clone, Default)]
pub struct LoadOptions {
    /// Where to run it.
    pub device: DeviceChoice,
    /// CPU threads; `None` keeps candle's default (the physical cores, or
    /// `RAYON_NUM_THREADS`). See [`configure_threads`].
    pub threads: Option<usize>,
    /// A Hugging Face `tokenizer.json` to use instead of the GGUF's
    /// vocabulary (needed for SentencePiece models such as Llama 2).
    pub tokenizer: Option<PathBuf>,
}

/// Everything that can go wrong getting a model ready. Each displays as one
/// line that names the file or value at fault.
#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("model file not found: {}", .0.display())]
    Missing(PathBuf),
    #[error("not a GGUF model file (it does not start with the GGUF magic): {}", .0.display())]
    NotGguf(PathBuf),
    #[error("GGUF model file is truncated (its tensor data runs past the end of the file; was the download interrupted?): {}", .0.display())]
    Truncated(PathBuf),
    #[error("unsupported model architecture \"{0}\": rca runs GGUFs whose general.architecture is \"llama\" (Llama 1/2/3, Mistral, Mixtral, TinyLlama, SmolLM and their fine-tunes) or \"qwen2\" (Qwen2, Qwen2.5)")]
    UnsupportedArchitecture(String),
    #[error("tokenizer: {0}")]
    Tokenizer(String),
    #[error("device: {0}")]
    Device(String),
    #[error("Hugging Face model {0} is not in the local cache, and downloading was not allowed")]
    NotCached(String),
    /// A LoRA adapter that is missing, malformed, or does not fit the model
    /// or its weight format.
    #[error("adapter: {0}")]
    Adapter(String),
    #[error("model: {0}")]
    Other(String),
}

/// Squeezes a multi-line message into one line, leaving out the backtrace
/// that candle errors can carry (frames `N: symbol` and `at file:line`).
pub(crate) fn one_line(text: &str) -> String {
    let frame = |line: &str| {
        line.starts_with("at ")
            || line
                .split_once(": ")
                .is_some_and(|(n, _)| !n.is_empty() && n.bytes().all(|b| b.is_ascii_digit()))
    };
    text.lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !frame(line))
        .collect::<Vec<_>>()
        .join("; ")
}

/// Turns a `--model` value into a local file.
///
/// `hf:OWNER/REPO/FILE.gguf` (or `hf:OWNER/REPO@REVISION/FILE.gguf`) is looked
/// up in the Hugging Face cache (`HF_HOME`, else `~/.cache/huggingface`); the
/// network is used only when it is not cached and `allow_download` is true.
/// Anything else is a local path, which must exist.
pub fn resolve(spec: &str, allow_download: bool) -> Result<PathBuf, ModelError> {
    match spec.strip_prefix("hf:") {
        Some(hub_spec) => hub::resolve(spec, hub_spec, allow_download),
        None => {
            let path = PathBuf::from(spec);
            if path.exists() {
                Ok(path)
            } else {
                Err(ModelError::Missing(path))
            }
        }
    }
}

/// The default model, `models/SmolLM2-135M-Instruct.Q4_1.gguf`, from the first
/// of these places that has it:
///
/// 1. a `models/` directory next to the running executable or in any of its
///    ancestors (`target/release/rca` finds the checkout's `models/`;
///    `PREFIX/bin/rca` finds `PREFIX/models/`);
/// 2. `models/` in the source checkout this binary was built from
///    (`CARGO_MANIFEST_DIR`), for `cargo run` and tests;
/// 3. `models/` under the current directory.
pub fn default_model_path() -> Option<PathBuf> {
    find_in_models(DEFAULT_MODEL_FILE)
}

/// A file in the `models/` folder: next to the binary or above it, in the
/// source tree, or in the current directory, the first that has it.
pub fn find_in_models(name: &str) -> Option<PathBuf> {
    let mut candidates = Vec::new();
    if let Ok(exe) = std::env::current_exe() {
        let exe = exe.canonicalize().unwrap_or(exe);
        for dir in exe.ancestors().skip(1) {
            candidates.push(dir.join("models").join(name));
        }
    }
    candidates.push(
        Path::new(env!("CARGO_MANIFEST_DIR"))
            .join("models")
            .join(name),
    );
    if let Ok(cwd) = std::env::current_dir() {
        candidates.push(cwd.join("models").join(name));
    }
    candidates.into_iter().find(|path| path.is_file())
}

/// Keeps large freed blocks inside the process instead of returning them to
/// the kernel. Call once at start-up, before the model runs.
///
/// glibc gives every allocation above its mmap threshold (at most 32 MB) back
/// to the kernel on free, so buffers freed and re-allocated for every layer
/// (attention scores, projections) page-fault back in every time. Without
/// chunked prefill that was about 30% of the f32 path's time (model-notes.md);
/// with 256-token chunks it is less, but still measurable:
/// `benches/prompt_speed.rs` counts 30,600 minor page faults per 2,025-token
/// prompt with glibc's defaults and 800 with this tuning. No mmap'd chunks
/// plus a trim threshold larger than any working set removes them, at the
/// cost of keeping the peak heap resident until exit (peak RSS is the same,
/// 672 MB, either way). Does nothing on non-glibc targets.
pub fn tune_allocator() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        #[cfg(all(target_os = "linux", target_env = "gnu"))]
        #[allow(unsafe_code)]
        // SAFETY: mallopt only changes glibc malloc parameters; it is called
        // once, with valid parameter numbers and values.
        unsafe {
            libc::mallopt(libc::M_MMAP_MAX, 0);
            libc::mallopt(libc::M_TRIM_THRESHOLD, i32::MAX);
        }
    });
}

/// Sets the CPU thread count for the whole process, once, and returns the
/// count in effect. The binary calls it at start-up, before any other stage
/// starts rayon; `Model::load` calls it too.
///
/// candle's CPU backend takes its thread count from the environment in two
/// places: the GEMM splits each product into `RAYON_NUM_THREADS` parts (read
/// on every call) and runs them on the current rayon pool, and the
/// element-wise barrier pool sizes itself from `CANDLE_NUM_THREADS` when it
/// first starts. So a request sets both variables and builds rayon's global
/// pool. The first request wins: the environment is not touched again (other
/// threads may be reading it), and running pools cannot be resized. If rayon's
/// global pool was already running with another size, `Model::load` runs the
/// model in a pool of its own with the configured size.
pub fn configure_threads(threads: Option<usize>) -> usize {
    static CONFIGURED: OnceLock<usize> = OnceLock::new();
    if let Some(&n) = CONFIGURED.get() {
        return n;
    }
    match threads.filter(|&n| n > 0) {
        Some(n) => *CONFIGURED.get_or_init(|| {
            std::env::set_var("RAYON_NUM_THREADS", n.to_string());
            std::env::set_var("CANDLE_NUM_THREADS", n.to_string());
            // Fails only if the global pool already runs, with its own size.
            let _ = rayon::ThreadPoolBuilder::new()
                .num_threads(n)
                .build_global();
            n
        }),
        None => candle_core::utils::get_num_threads(),
    }
}

/// What was loaded and how; printed by `--explain` and written with
/// `--dump-prompts`.
#[derive(Debug, Clone, serde::Serialize)]
pub struct ModelInfo {
    pub path: String,
    pub architecture: String,
    /// `general.name`, e.g. "SmolLM2 135M Instruct".
    pub name: Option<String>,
    pub file_size: u64,
    /// e.g. "Q4_1 dequantized to f32", "Q4_K+Q6_K kept quantized".
    pub weights: String,
    pub tokenizer: String,
    /// "cpu" or "cuda:N".
    pub device: String,
    pub threads: usize,
}

/// A loaded model. Immutable: every method takes `&self`, so one model can
/// serve many scoring calls, and a [`Prefix`] carries the only state.
pub struct Model {
    weights: llama::Weights,
    /// A rayon pool of the configured size when the global pool has another
    /// (it was started before the thread count was configured); all model
    /// work runs inside it.
    pool: Option<rayon::ThreadPool>,
    tokenizer: tokenizer::TextTokenizer,
    chat_template: Option<String>,
    info: ModelInfo,
    /// Distinguishes models so that a prefix is never continued by another.
    id: usize,
}

/// A prompt prefix that has been run once. Cloning is cheap (the cached keys
/// and values are shared, reference-counted tensors), and continuing from it
/// never changes it.
#[derive(Clone)]
pub struct Prefix {
    cache: llama::KvCache,
    /// Logits after the last prefix token, for an empty suffix.
    next: llama::Next,
    tokens: Vec<u32>,
    model_id: usize,
}

impl Prefix {
    /// Number of tokens in the prefix.
    pub fn len(&self) -> usize {
        self.tokens.len()
    }

    pub fn is_empty(&self) -> bool {
        self.tokens.is_empty()
    }

    pub fn tokens(&self) -> &[u32] {
        &self.tokens
    }
}

impl std::fmt::Debug for Prefix {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Prefix").field("len", &self.len()).finish()
    }
}

/// Reads a GGUF as [`Model::load`] does before it reads any weight: opens
/// and checks the header (magic, metadata, tensor extents, architecture),
/// builds the tokenizer from the metadata and reads the Llama
/// hyper-parameters. Tensor data is never read. Every problem is a
/// [`ModelError`]; the fuzz targets (`fuzz/`) drive the GGUF reader
/// through this.
pub fn read_gguf_metadata(path: &Path) -> Result<(), ModelError> {
    let file = gguf::open(path)?;
    tokenizer::TextTokenizer::from_gguf(&file)?;
    let _ = (
        file.parameter_count(),
        file.weight_dtypes(),
        file.string("general.name"),
    );
    llama::read_config(&file)?;
    Ok(())
}

/// A GGUF's tokenizer alone, without its weights: for checking a model
/// family's vocabulary (llama.cpp ships vocabulary-only GGUFs) and for
/// counting tokens.
pub struct Vocabulary(tokenizer::TextTokenizer);

impl Vocabulary {
    /// Builds the tokenizer from a GGUF's metadata, as [`Model::load`] does.
    pub fn from_gguf(path: &Path) -> Result<Vocabulary, ModelError> {
        Ok(Vocabulary(tokenizer::TextTokenizer::from_gguf(
            &gguf::open(path)?,
        )?))
    }

    /// Token ids for `text`, as [`Model::encode`].
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, ModelError> {
        self.0.encode(text)
    }

    /// Token ids with nothing added in front (no BOS).
    pub fn encode_plain(&self, text: &str) -> Result<Vec<u32>, ModelError> {
        self.0.encode_plain(text)
    }

    pub fn description(&self) -> &str {
        &self.0.description
    }
}

impl Model {
    /// Loads a GGUF, choosing the weight format with [`WeightFormat::choose`].
    pub fn load(path: &Path, opts: &LoadOptions) -> Result<Model, ModelError> {
        Self::load_with_format(path, opts, None)
    }

    /// Loads a GGUF with an explicit weight format (`None`: the default rule).
    /// The benches use it to compare formats.
    pub fn load_with_format(
        path: &Path,
        opts: &LoadOptions,
        format: Option<WeightFormat>,
    ) -> Result<Model, ModelError> {
        Self::load_full(path, opts, format, None)
    }

    /// Loads a GGUF with a LoRA adapter file (see [`adapter`]). Into f32
    /// weights (the default for models up to [`DEQUANTIZE_MAX_PARAMS`] on the
    /// CPU) it is merged once, `W += (alpha / rank) · B · A`, so scoring runs
    /// exactly as fast as without it; beside quantized weights (larger
    /// models, CUDA) each adapted projection adds `(x · Aᵀ) · (s·B)ᵀ`, two
    /// thin products. The adapter is refused with [`ModelError::Adapter`]
    /// when it was trained on another base model (file size and
    /// fingerprint), names a weight the model lacks, or has factors whose
    /// shapes do not fit. `adapter = None` is [`Model::load`].
    pub fn load_with_adapter(
        path: &Path,
        opts: &LoadOptions,
        adapter: Option<&Path>,
    ) -> Result<Model, ModelError> {
        match adapter {
            None => Self::load_full(path, opts, None, None),
            Some(file) => {
                let adapter = adapter::Adapter::load(file)?;
                Self::load_merged(path, opts, None, &adapter)
            }
        }
    }

    /// Loads a GGUF with an adapter already in memory (see
    /// [`Model::load_with_adapter`]); `format: None` is the default rule.
    pub fn load_merged(
        path: &Path,
        opts: &LoadOptions,
        format: Option<WeightFormat>,
        adapter: &adapter::Adapter,
    ) -> Result<Model, ModelError> {
        adapter.check_base(path)?;
        Self::load_full(path, opts, format, Some(adapter))
    }

    fn load_full(
        path: &Path,
        opts: &LoadOptions,
        format: Option<WeightFormat>,
        adapter: Option<&adapter::Adapter>,
    ) -> Result<Model, ModelError> {
        let mut file = gguf::open(path)?;
        let device = pick_device(opts.device)?;
        // The count is process-wide (see `configure_threads`): a model that
        // asks for one gets the first count requested in this process.
        let threads = configure_threads(opts.threads);
        let pool = if opts.threads.is_some() && rayon::current_num_threads() != threads {
            let pool = rayon::ThreadPoolBuilder::new()
                .num_threads(threads)
                .thread_name(|i| format!("rca-model-{i}"))
                .build()
                .map_err(|err| ModelError::Other(format!("thread pool: {err}")))?;
            Some(pool)
        } else {
            None
        };
        let tokenizer = match &opts.tokenizer {
            Some(json) => tokenizer::TextTokenizer::from_file(json)?,
            None => tokenizer::TextTokenizer::from_gguf(&file)?,
        };
        let format =
            format.unwrap_or_else(|| WeightFormat::choose(file.parameter_count(), &device));
        let dtypes = file
            .weight_dtypes()
            .iter()
            .map(|&d| ggml_name(d))
            .collect::<Vec<_>>()
            .join("+");
        let weights = llama::Weights::load(&mut file, &device, format, adapter)?;
        if weights.config.vocab_size < tokenizer.vocab_size() {
            return Err(ModelError::Tokenizer(format!(
                "the tokenizer has {} tokens but the model only {}",
                tokenizer.vocab_size(),
                weights.config.vocab_size
            )));
        }
        static NEXT_ID: AtomicUsize = AtomicUsize::new(1);
        let info = ModelInfo {
            path: path.display().to_string(),
            architecture: file.architecture(),
            name: file.string("general.name"),
            file_size: file.file_size,
            weights: match (format, adapter) {
                (WeightFormat::F32, None) => format!("{dtypes} dequantized to f32"),
                (WeightFormat::F32, Some(a)) => format!(
                    "{dtypes} dequantized to f32, LoRA rank {} on {} merged",
                    a.meta.rank,
                    a.meta.targets.join("+")
                ),
                (WeightFormat::Quantized, None) => format!("{dtypes} kept quantized"),
                (WeightFormat::Quantized, Some(a)) => format!(
                    "{dtypes} kept quantized, LoRA rank {} on {} applied beside",
                    a.meta.rank,
                    a.meta.targets.join("+")
                ),
            },
            tokenizer: tokenizer.description.clone(),
            device: device_name(&device),
            threads,
        };
        Ok(Model {
            weights,
            pool,
            tokenizer,
            chat_template: file.string("tokenizer.chat_template"),
            info,
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
        })
    }

    pub fn info(&self) -> &ModelInfo {
        &self.info
    }

    /// The width of the hidden state [`NextToken::hidden`] returns.
    pub fn hidden_size(&self) -> usize {
        self.weights.config.dim
    }

    /// The weight format in use.
    pub fn weight_format(&self) -> WeightFormat {
        self.weights.format
    }

    /// Token ids exactly as llama.cpp produces them for this GGUF: special
    /// tokens written in the text (`<|im_start|>`) become their ids, and BOS
    /// is prepended when the GGUF's `tokenizer.ggml.add_bos_token` says so.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, ModelError> {
        self.tokenizer.encode(text)
    }

    /// Like [`Model::encode`] but never prepends BOS: for text that continues
    /// a prompt, such as a suffix after a [`Prefix`].
    ///
    /// The two parts give the same ids as the whole text only where the
    /// pre-tokenizer splits anyway; right after a newline is such a place,
    /// the middle of a word is not.
    pub fn encode_continuation(&self, text: &str) -> Result<Vec<u32>, ModelError> {
        self.tokenizer.encode_plain(text)
    }

    /// How many tokens `text` makes as a continuation; `None` when it
    /// cannot be tokenized.
    pub fn count_tokens(&self, text: &str) -> Option<usize> {
        self.encode_continuation(text).ok().map(|t| t.len())
    }

    /// The text of `ids`, special tokens included.
    pub fn decode(&self, ids: &[u32]) -> String {
        self.tokenizer.decode(ids)
    }

    /// The id of `text` if it is exactly one token, e.g. the labels "A".."T".
    pub fn single_token(&self, text: &str) -> Option<u32> {
        match self.tokenizer.encode_plain(text).ok()?.as_slice() {
            [id] => Some(*id),
            _ => None,
        }
    }

    /// Writes the tokenizer in use as a Hugging Face `tokenizer.json`, so
    /// that other tools (Python `tokenizers`, `--tokenizer`) can reproduce
    /// rca's token ids. BOS handling is not part of the file: the GGUF's
    /// `tokenizer.ggml.add_bos_token` decides it.
    pub fn write_tokenizer_json(&self, path: &Path) -> Result<(), ModelError> {
        self.tokenizer.save(path)
    }

    /// The token string (vocabulary entry) of `id`.
    pub fn token_text(&self, id: u32) -> Option<String> {
        self.tokenizer.id_to_token(id)
    }

    /// The GGUF's `tokenizer.chat_template` (Jinja), if it has one.
    pub fn chat_template(&self) -> Option<&str> {
        self.chat_template.as_deref()
    }

    /// A prompt with one user message, ending where the assistant's answer
    /// starts, in the model's chat format ([`chat_prompt`]).
    pub fn chat_prompt(&self, system: Option<&str>, user: &str) -> String {
        chat_prompt(self.chat_template.as_deref(), system, user)
    }

    /// Runs `tokens` once and keeps the model state after them.
    pub fn prefix(&self, tokens: &[u32]) -> Result<Prefix, ModelError> {
        let mut cache = llama::KvCache::default();
        let next = self.run(&mut cache, tokens)?;
        Ok(Prefix {
            cache,
            next,
            tokens: tokens.to_vec(),
            model_id: self.id,
        })
    }

    /// Log-probabilities (log-softmax over the whole vocabulary) of the
    /// `candidates` as the next token after `prefix` + `suffix`, in the order
    /// given. With no prefix the suffix runs from scratch; with a prefix the
    /// suffix may be empty.
    ///
    /// Deterministic: the same inputs on the same machine and thread count
    /// give bit-identical results (fixed chunking, no data-dependent
    /// parallel reductions, the final log-sum-exp in f64 in a fixed order).
    pub fn next_token_logprobs(
        &self,
        prefix: Option<&Prefix>,
        suffix: &[u32],
        candidates: &[u32],
    ) -> Result<Vec<f32>, ModelError> {
        Ok(self.next_token(prefix, suffix, candidates)?.logprobs)
    }

    /// [`Model::next_token_logprobs`], with the last position's hidden state
    /// (after the output norm) that the logits come from.
    pub fn next_token(
        &self,
        prefix: Option<&Prefix>,
        suffix: &[u32],
        candidates: &[u32],
    ) -> Result<NextToken, ModelError> {
        let next = match prefix {
            Some(prefix) => {
                if prefix.model_id != self.id {
                    return Err(ModelError::Other(
                        "this prefix was computed by another model".into(),
                    ));
                }
                if suffix.is_empty() {
                    prefix.next.clone()
                } else {
                    let mut cache = prefix.cache.clone();
                    self.run(&mut cache, suffix)?
                }
            }
            None => {
                if suffix.is_empty() {
                    return Err(ModelError::Other(
                        "next_token_logprobs needs a prefix or a non-empty suffix".into(),
                    ));
                }
                let mut cache = llama::KvCache::default();
                self.run(&mut cache, suffix)?
            }
        };
        let vector = |t: &candle_core::Tensor| -> Result<Vec<f32>, ModelError> {
            t.to_vec1()
                .map_err(|err| ModelError::Other(one_line(&err.to_string())))
        };
        let logits = vector(&next.logits)?;
        Ok(NextToken {
            logprobs: log_softmax_at(&logits, candidates)?,
            hidden: vector(&next.hidden)?,
        })
    }

    /// Runs the model on the configured threads.
    fn run(&self, cache: &mut llama::KvCache, tokens: &[u32]) -> Result<llama::Next, ModelError> {
        match &self.pool {
            Some(pool) => pool.install(|| self.weights.forward(cache, tokens)),
            None => self.weights.forward(cache, tokens),
        }
    }

    /// The model's context window in tokens (`llama.context_length`).
    pub fn context_length(&self) -> usize {
        self.weights.config.context_length
    }

    /// Number of vocabulary entries (rows of the embedding).
    pub fn vocab_size(&self) -> usize {
        self.weights.config.vocab_size
    }
}

/// A prompt split where its shared part ends, scored with that part's KV
/// cache computed once and reused while the shared text stays the same
/// (the judges' facts prefix).
///
/// Reuse is on the CPU only, where it is bit-exact. On CUDA, candle's
/// quantized kernels give the suffix run different log-probabilities than
/// the full prompt (up to 0.36 measured on an H200, enough to reorder a
/// top-5), and the reuse saved nothing measurable there
/// (docs/benchmarks.md).
pub struct PrefixCache {
    reuse: bool,
    /// The last shared text run, and its cache.
    last: Option<(String, Prefix)>,
}

impl PrefixCache {
    /// Reuse on `model`'s device when it is the CPU.
    pub fn new(model: &Model) -> PrefixCache {
        PrefixCache {
            reuse: model.info().device == "cpu",
            last: None,
        }
    }

    /// Turns reuse off (for measuring it); it stays off on other devices.
    pub fn set_reuse(&mut self, on: bool, model: &Model) {
        self.reuse = on && model.info().device == "cpu";
    }

    /// [`Model::next_token`] after `shared` then `rest`.
    pub fn next_token(
        &mut self,
        model: &Model,
        shared: &str,
        rest: &str,
        candidates: &[u32],
    ) -> Result<NextToken, ModelError> {
        if !self.reuse {
            let tokens = model.encode(&format!("{shared}{rest}"))?;
            return model.next_token(None, &tokens, candidates);
        }
        if self.last.as_ref().map(|(text, _)| text.as_str()) != Some(shared) {
            let tokens = model.encode(shared)?;
            self.last = Some((shared.to_owned(), model.prefix(&tokens)?));
        }
        let suffix = model.encode_continuation(rest)?;
        model.next_token(self.last.as_ref().map(|(_, p)| p), &suffix, candidates)
    }
}

/// The next token's log-probabilities for chosen tokens, and the hidden
/// state they come from.
#[derive(Debug, Clone)]
pub struct NextToken {
    /// In the order the candidates were given.
    pub logprobs: Vec<f32>,
    /// The last position's hidden state after the output norm.
    pub hidden: Vec<f32>,
}

/// `logits[c] - logsumexp(logits)` for each candidate, the sum taken in f64
/// in index order so the result does not depend on threading.
fn log_softmax_at(logits: &[f32], candidates: &[u32]) -> Result<Vec<f32>, ModelError> {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
    let sum: f64 = logits.iter().map(|&l| (l as f64 - max).exp()).sum();
    let log_z = max + sum.ln();
    candidates
        .iter()
        .map(|&c| {
            logits
                .get(c as usize)
                .map(|&l| (l as f64 - log_z) as f32)
                .ok_or_else(|| {
                    ModelError::Other(format!(
                        "candidate token id {c} is outside the vocabulary ({} tokens)",
                        logits.len()
                    ))
                })
        })
        .collect()
}

/// A prompt with one user message, ending where the assistant's answer
/// starts, in the chat format of `template` (a model's Jinja chat template).
///
/// The format is recognised from the template: ChatML
/// (`<|im_start|>role\n...<|im_end|>\n`, SmolLM2, Qwen) and Llama 3
/// headers; other models get plain text. With `system = None`, a default
/// system message written literally in the template (SmolLM2's "You are
/// a helpful AI assistant named SmolLM...") is used, as the template
/// itself would. BOS is not included: the tokenizer adds it.
pub fn chat_prompt(template: Option<&str>, system: Option<&str>, user: &str) -> String {
    let template = template.unwrap_or("");
    if template.contains("<|im_start|>") {
        let system = system
            .map(str::to_string)
            .or_else(|| chatml_default_system(template));
        let mut prompt = String::new();
        if let Some(system) = system {
            prompt.push_str(&format!("<|im_start|>system\n{system}<|im_end|>\n"));
        }
        prompt.push_str(&format!(
            "<|im_start|>user\n{user}<|im_end|>\n<|im_start|>assistant\n"
        ));
        prompt
    } else if template.contains("<|start_header_id|>") {
        let mut prompt = String::new();
        if let Some(system) = system {
            prompt.push_str(&format!(
                "<|start_header_id|>system<|end_header_id|>\n\n{system}<|eot_id|>"
            ));
        }
        prompt.push_str(&format!(
            "<|start_header_id|>user<|end_header_id|>\n\n{user}<|eot_id|><|start_header_id|>assistant<|end_header_id|>\n\n"
        ));
        prompt
    } else {
        match system {
            Some(system) => format!("{system}\n\n{user}\n\n"),
            None => format!("{user}\n\n"),
        }
    }
}

/// SmolLM2's template inserts a fixed system turn when the conversation has
/// none: `{{ '<|im_start|>system\nYou are ...<|im_end|>\n' }}`. Extract that
/// literal so `chat_prompt(None, ..)` renders what the template would.
fn chatml_default_system(template: &str) -> Option<String> {
    // The newline after "system" is a real newline in SmolLM2's GGUF, but
    // an escaped "\n" in some templates.
    let (start, escaped) = ["<|im_start|>system\n", "<|im_start|>system\\n"]
        .iter()
        .enumerate()
        .find_map(|(i, marker)| template.find(marker).map(|at| (at + marker.len(), i == 1)))?;
    let rest = &template[start..];
    let text = &rest[..rest.find("<|im_end|>")?];
    // A Jinja expression there means the system text comes from the
    // messages, not a literal.
    if text.is_empty() || text.contains("{{") || text.contains('\'') || text.contains('+') {
        return None;
    }
    Some(if escaped {
        text.replace("\\n", "\n")
    } else {
        text.to_string()
    })
}

/// The candle device for `choice`; a device error when it is not there.
pub fn pick_device(choice: DeviceChoice) -> Result<Device, ModelError> {
    match choice {
        DeviceChoice::Cpu => Ok(Device::Cpu),
        DeviceChoice::Auto => {
            if cfg!(feature = "cuda") {
                Device::cuda_if_available(0)
                    .map_err(|err| ModelError::Device(one_line(&err.to_string())))
            } else {
                Ok(Device::Cpu)
            }
        }
        DeviceChoice::Cuda(n) => {
            if !cfg!(feature = "cuda") {
                return Err(ModelError::Device(format!(
                    "cuda:{n} requested, but this rca was built without CUDA (rebuild with --features cuda)"
                )));
            }
            Device::new_cuda(n).map_err(|err| {
                ModelError::Device(format!("cuda:{n}: {}", one_line(&err.to_string())))
            })
        }
    }
}

fn device_name(device: &Device) -> String {
    match device.location() {
        candle_core::DeviceLocation::Cpu => "cpu".to_string(),
        candle_core::DeviceLocation::Cuda { gpu_id } => format!("cuda:{gpu_id}"),
        candle_core::DeviceLocation::Metal { gpu_id } => format!("metal:{gpu_id}"),
    }
}

/// llama.cpp's names for the quantization types.
fn ggml_name(dtype: candle_core::quantized::GgmlDType) -> &'static str {
    use candle_core::quantized::GgmlDType::*;
    match dtype {
        F32 => "F32",
        F16 => "F16",
        BF16 => "BF16",
        Q4_0 => "Q4_0",
        Q4_1 => "Q4_1",
        Q5_0 => "Q5_0",
        Q5_1 => "Q5_1",
        Q8_0 => "Q8_0",
        Q8_1 => "Q8_1",
        Q2K => "Q2_K",
        Q3K => "Q3_K",
        Q4K => "Q4_K",
        Q5K => "Q5_K",
        Q6K => "Q6_K",
        Q8K => "Q8_K",
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn one_line_keeps_the_message_and_drops_backtrace_frames() {
        let text = "DriverError(CUDA_ERROR_OUT_OF_MEMORY, \"out of memory\")\n   0: <unknown>\n   1: candle_core::cuda::alloc\n             at src/cuda.rs:12:5\n  19: __libc_start_main\nshape mismatch: lhs 2: rhs 3\n";
        assert_eq!(
            super::one_line(text),
            "DriverError(CUDA_ERROR_OUT_OF_MEMORY, \"out of memory\"); shape mismatch: lhs 2: rhs 3"
        );
    }
}
