//! What `rca train` learns: the fusion of the retrieval signals
//! ([`fusion`]), the pointwise judge's head ([`judge`]), and the LoRA
//! fine-tuning of the election's judge, on the CPU, with candle (below).
//!
//! Out of the box the small judge model picks at chance and favours slot A
//! (docs/model-notes.md). Training teaches it to put the culprit's label
//! first: each [`Example`] (facts, 2–20 candidates, which one was the
//! culprit) becomes the very prompt the judge scores for a batch, with the
//! candidates in a fresh seeded order every epoch, and the loss is the
//! cross-entropy of the culprit's label among the batch's label tokens at
//! the answer position. Only LoRA factors on the chosen projections (q and v
//! by default) learn; the base weights stay frozen.
//!
//! - [`lora`]: the differentiable forward pass and its per-layer
//!   checkpointed backward pass ([`TrainNet`]), and the trainable factors
//!   ([`Lora`]).
//! - [`examples`]: the example format and its prompt.
//! - [`Trainer`]: the loop: AdamW, a time budget, a progress callback,
//!   resumable checkpoints, a loss log.
//!
//! The result is an [`Adapter`] (a safetensors file, see
//! [`crate::model::adapter`]) that [`Model::load_with_adapter`] merges into
//! the f32 weights for scoring. docs/training.md has the method and speed.

pub mod examples;
pub mod fusion;
pub mod judge;
pub mod lora;
pub mod ops;

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::Result;
use candle_core::Tensor;
use serde::{Deserialize, Serialize};

pub use examples::{encode, training_order, Encoded, Example, Rng};
pub use lora::{Gradients, Lora, LoraConfig, StepOutput, TrainNet};

use crate::model::adapter::Adapter;
use crate::model::{DeviceChoice, LoadOptions, Model, ModelError, WeightFormat};

/// Settings of a training run.
#[derive(Debug, Clone)]
pub struct TrainConfig {
    /// Rank, alpha, targets and initialisation seed of the adapter.
    pub lora: LoraConfig,
    /// AdamW step size. Default 2e-4.
    pub learning_rate: f64,
    /// AdamW decoupled weight decay. Default 0.
    pub weight_decay: f64,
    /// AdamW moment decay rates. Default 0.9 and 0.999.
    pub betas: (f64, f64),
    /// Passes over the examples. Default 2.
    pub epochs: usize,
    /// Examples per optimiser step (their gradients are averaged). Default 8.
    pub accumulate: usize,
    /// Clip the gradient's global L2 norm to this. Default 1.0.
    pub clip_norm: Option<f64>,
    /// Stop (after a checkpoint) once this many minutes have gone by, or
    /// before starting a step that would not finish in time.
    pub max_minutes: Option<f64>,
    /// Where to keep the checkpoint. When the file exists, the run resumes
    /// from it; it is rewritten every `checkpoint_every` steps and at the end.
    pub checkpoint: Option<PathBuf>,
    /// Steps between checkpoints. Default 20.
    pub checkpoint_every: usize,
    /// Seed of example order and slot permutations.
    pub seed: u64,
    /// Bytes of computation graph the backward pass may hold at once (see
    /// [`TrainNet::set_graph_budget`]). Default: 1.5 GB on the CPU,
    /// [`lora::DEVICE_GRAPH_BUDGET`] on a GPU.
    pub graph_budget: Option<usize>,
    /// Where the training passes run. Default: the CPU.
    pub device: DeviceChoice,
    /// Shuffle each example's candidates into fresh slots every epoch
    /// (default). Off, they keep their given order: only for experiments,
    /// since the model can then learn slot habits instead of content.
    pub permute: bool,
}

impl Default for TrainConfig {
    fn default() -> Self {
        TrainConfig {
            lora: LoraConfig::default(),
            learning_rate: 2e-4,
            weight_decay: 0.0,
            betas: (0.9, 0.999),
            epochs: 2,
            accumulate: 8,
            clip_norm: Some(1.0),
            max_minutes: None,
            checkpoint: None,
            checkpoint_every: 20,
            seed: 0x5EED,
            permute: true,
            graph_budget: None,
            device: DeviceChoice::Cpu,
        }
    }
}

/// One point of the loss log.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct LossPoint {
    /// Optimiser step, from 1.
    pub step: usize,
    pub epoch: usize,
    /// Mean cross-entropy of the step's examples (before the update).
    pub loss: f32,
}

/// What the progress callback hears after every optimiser step.
#[derive(Debug, Clone)]
pub struct TrainProgress {
    pub step: usize,
    /// Steps the whole run takes (all epochs).
    pub total_steps: usize,
    pub epoch: usize,
    pub loss: f32,
    pub elapsed_s: f64,
    /// Examples (forward + backward passes) per second in this session.
    pub examples_per_s: f64,
}

/// Why a run stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub enum StopReason {
    /// Every epoch ran.
    Finished,
    /// `max_minutes` ran out; the checkpoint resumes it.
    TimeBudget,
    /// Ctrl-C; the checkpoint resumes it.
    Interrupted,
}

/// The outcome of [`Trainer::run`].
#[derive(Debug, Clone, Serialize)]
pub struct TrainReport {
    /// Optimiser steps done, over all sessions of this run.
    pub steps: usize,
    /// Steps this session started from (0 unless it resumed a checkpoint).
    pub resumed_at: usize,
    /// The loss log, over all sessions.
    pub losses: Vec<LossPoint>,
    pub stopped: StopReason,
    /// Seconds this session took.
    pub elapsed_s: f64,
    /// Examples per second in this session.
    pub examples_per_s: f64,
}

impl TrainReport {
    /// Writes the loss log as tab-separated `step epoch loss` lines.
    pub fn write_loss_log(&self, path: &Path) -> Result<()> {
        let mut text = String::from("step\tepoch\tloss\n");
        for p in &self.losses {
            text.push_str(&format!("{}\t{}\t{}\n", p.step, p.epoch, p.loss));
        }
        std::fs::write(path, text)
            .map_err(|e| crate::error::input(format!("writing {}: {e}", path.display())))
    }
}

/// How the judge does on held-out examples, each shown once with its
/// candidates in a seeded order: the listwise measure of the fine-tuning.
#[derive(Debug, Clone, Serialize)]
pub struct JudgeReport {
    pub examples: usize,
    /// Share of examples whose culprit's label scored highest.
    pub top1: f64,
    /// What picking at random would reach: the mean of 1/candidates.
    pub chance: f64,
    /// Mean cross-entropy of the culprit's label over the labels.
    pub loss: f64,
    /// How often the judge picked each slot (A, B, …).
    pub picks_by_slot: Vec<usize>,
    /// The largest ratio, over slots, of picks to the slot's fair share:
    /// 1 is no slot bias; the zero-shot judge that always answers A has
    /// about the number of candidates.
    pub max_slot_bias: f64,
}

/// Seed of the slot orders of [`Trainer::judge`] (fixed, so that reports
/// before and after training see the same presentations).
const JUDGE_SEED: u64 = 0xE7A1;

/// The slot order in which [`Trainer::judge`] shows held-out example
/// `index` of `len` candidates.
pub fn judge_order(index: usize, len: usize) -> Vec<usize> {
    training_order(JUDGE_SEED, 0, index, len)
}

/// The resumable position of a run, kept in checkpoints as JSON.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
struct TrainState {
    step: usize,
    epoch: usize,
    /// Next position in the epoch's example order.
    index: usize,
    losses: Vec<LossPoint>,
    /// Identifies the example set (see [`examples_fingerprint`]).
    examples: String,
    seed: u64,
    accumulate: usize,
}

/// AdamW moments of one factor.
struct Moments {
    m: Tensor,
    v: Tensor,
}

/// Trains a LoRA adapter for the judge.
pub struct Trainer {
    model: Model,
    net: TrainNet,
    labels: Vec<u32>,
    lora: Lora,
    /// Keyed `{weight}.lora_a` / `{weight}.lora_b`.
    moments: BTreeMap<String, Moments>,
    state: TrainState,
    config: TrainConfig,
}

fn model_err(e: ModelError) -> anyhow::Error {
    crate::error::model(e.to_string())
}

fn candle_err(e: candle_core::Error) -> anyhow::Error {
    crate::error::model(crate::model::one_line(&e.to_string()))
}

impl Trainer {
    /// Loads the base model from `model_path` and starts a fresh adapter, or
    /// resumes the one in `config.checkpoint` when that file exists.
    pub fn new(model_path: &Path, config: &TrainConfig) -> Result<Trainer> {
        if config.accumulate == 0 || config.checkpoint_every == 0 {
            return Err(crate::error::input(
                "accumulate and checkpoint_every must be at least 1".to_string(),
            ));
        }
        // Only the tokenizer and chat format are needed from it: keep its
        // weights quantized (small); the training pass has its own f32 copy.
        let model = Model::load_with_format(
            model_path,
            &LoadOptions {
                device: DeviceChoice::Cpu,
                threads: None,
                tokenizer: None,
            },
            Some(WeightFormat::Quantized),
        )
        .map_err(model_err)?;
        let labels = crate::rank::llm::label_tokens(&model)?;
        let device = crate::model::pick_device(config.device).map_err(model_err)?;
        let mut net = TrainNet::load(model_path, &device).map_err(model_err)?;
        if let Some(bytes) = config.graph_budget {
            net.set_graph_budget(bytes);
        }
        let mut trainer = Trainer {
            lora: net.new_lora(&config.lora).map_err(model_err)?,
            model,
            net,
            labels,
            moments: BTreeMap::new(),
            state: TrainState {
                seed: config.seed,
                accumulate: config.accumulate,
                ..TrainState::default()
            },
            config: config.clone(),
        };
        if let Some(path) = &config.checkpoint {
            if path.exists() {
                trainer.resume(path)?;
            }
        }
        Ok(trainer)
    }

    /// The model used for tokenizing and prompts (quantized weights).
    pub fn model(&self) -> &Model {
        &self.model
    }

    /// The differentiable base model.
    pub fn net(&self) -> &TrainNet {
        &self.net
    }

    /// The adapter being trained.
    pub fn lora(&self) -> &Lora {
        &self.lora
    }

    /// Optimiser steps done so far.
    pub fn steps(&self) -> usize {
        self.state.step
    }

    /// The label token ids A–T.
    pub fn labels(&self) -> &[u32] {
        &self.labels
    }

    /// The current adapter, ready to save or merge.
    pub fn adapter(&self) -> Result<Adapter> {
        self.net.to_adapter(&self.lora).map_err(model_err)
    }

    /// Label log-probabilities (renormalised over the batch's labels, in slot
    /// order) of `example` with its candidates in `order`, under the current
    /// adapter.
    pub fn evaluate(&self, example: &Example, order: &[usize]) -> Result<Vec<f32>> {
        let enc = encode(&self.model, example, order)?;
        self.net
            .label_logprobs(&enc.tokens, &self.labels[..order.len()], Some(&self.lora))
            .map_err(model_err)
    }

    /// Scores `examples` under the current adapter (each once, in a fixed
    /// seeded slot order), calling `progress` after each.
    pub fn judge(
        &self,
        examples: &[Example],
        progress: &mut dyn FnMut(usize),
    ) -> Result<JudgeReport> {
        if examples.is_empty() {
            return Err(crate::error::input("no examples to judge".to_string()));
        }
        let width = examples
            .iter()
            .map(|e| e.candidates.len())
            .max()
            .unwrap_or(0);
        let mut picks = vec![0usize; width];
        let mut fair = vec![0f64; width];
        let (mut hits, mut chance, mut loss) = (0usize, 0f64, 0f64);
        for (i, example) in examples.iter().enumerate() {
            let n = example.candidates.len();
            let order = judge_order(i, n);
            let logprobs = self.evaluate(example, &order)?;
            let pick =
                logprobs.iter().enumerate().fold(
                    0,
                    |best, (s, &lp)| if lp > logprobs[best] { s } else { best },
                );
            let slot = order
                .iter()
                .position(|&c| c == example.culprit)
                .unwrap_or(0);
            hits += usize::from(pick == slot);
            loss -= f64::from(logprobs[slot]);
            chance += 1.0 / n as f64;
            picks[pick] += 1;
            for share in fair.iter_mut().take(n) {
                *share += 1.0 / n as f64;
            }
            progress(i + 1);
        }
        let count = examples.len() as f64;
        let max_slot_bias = picks
            .iter()
            .zip(&fair)
            .filter(|(_, &f)| f > 0.0)
            .map(|(&p, &f)| p as f64 / f)
            .fold(0.0, f64::max);
        Ok(JudgeReport {
            examples: examples.len(),
            top1: hits as f64 / count,
            chance: chance / count,
            loss: loss / count,
            picks_by_slot: picks,
            max_slot_bias,
        })
    }

    /// Forward and backward on one example in `order`, without updating.
    pub fn example_step(
        &self,
        example: &Example,
        order: &[usize],
    ) -> Result<(StepOutput, Gradients)> {
        let enc = encode(&self.model, example, order)?;
        self.net
            .step(
                &enc.tokens,
                &self.labels[..order.len()],
                enc.culprit_slot,
                &self.lora,
            )
            .map_err(model_err)
    }

    /// Runs the remaining epochs over `examples` (resuming where a
    /// checkpoint left off), calling `progress` after each optimiser step.
    /// Saves the checkpoint every `checkpoint_every` steps and when it stops.
    pub fn run(
        &mut self,
        examples: &[Example],
        progress: &mut dyn FnMut(&TrainProgress),
    ) -> Result<TrainReport> {
        if examples.is_empty() {
            return Err(crate::error::input("no training examples".to_string()));
        }
        for e in examples {
            e.check()?;
        }
        let fingerprint = examples_fingerprint(examples);
        if self.state.step > 0 && self.state.examples != fingerprint {
            return Err(crate::error::input(
                "the checkpoint was made for another set of training examples".to_string(),
            ));
        }
        self.state.examples = fingerprint;
        let acc = self.config.accumulate;
        let steps_per_epoch = examples.len().div_ceil(acc);
        let total_steps = steps_per_epoch * self.config.epochs;
        let start = Instant::now();
        let resumed_at = self.state.step;
        let mut seen = 0usize;
        let mut last_step_s = 0.0f64;
        let mut stopped = StopReason::Finished;
        while self.state.epoch < self.config.epochs {
            let order = epoch_order(self.config.seed, self.state.epoch, examples.len());
            if self.state.index >= order.len() {
                self.state.epoch += 1;
                self.state.index = 0;
                continue;
            }
            if crate::interrupt::requested() {
                stopped = StopReason::Interrupted;
                break;
            }
            if let Some(minutes) = self.config.max_minutes {
                let elapsed = start.elapsed().as_secs_f64();
                if elapsed + last_step_s > minutes * 60.0 {
                    stopped = StopReason::TimeBudget;
                    break;
                }
            }
            let step_start = Instant::now();
            let batch: Vec<usize> =
                order[self.state.index..(self.state.index + acc).min(order.len())].to_vec();
            let mut sum: BTreeMap<String, (Tensor, Tensor)> = BTreeMap::new();
            let mut loss = 0.0f32;
            for &i in &batch {
                let example = &examples[i];
                let slots = if self.config.permute {
                    training_order(
                        self.config.seed,
                        self.state.epoch,
                        i,
                        example.candidates.len(),
                    )
                } else {
                    (0..example.candidates.len()).collect()
                };
                let (out, grads) = self.example_step(example, &slots)?;
                loss += out.loss;
                for (name, (ga, gb)) in grads {
                    match sum.get_mut(&name) {
                        Some((sa, sb)) => {
                            *sa = (&*sa + ga).map_err(candle_err)?;
                            *sb = (&*sb + gb).map_err(candle_err)?;
                        }
                        None => {
                            sum.insert(name, (ga, gb));
                        }
                    }
                }
            }
            let n = batch.len() as f64;
            self.update(&sum, 1.0 / n).map_err(candle_err)?;
            seen += batch.len();
            self.state.index += batch.len();
            self.state.step += 1;
            let point = LossPoint {
                step: self.state.step,
                epoch: self.state.epoch,
                loss: loss / n as f32,
            };
            self.state.losses.push(point);
            if self.state.index >= order.len() {
                self.state.epoch += 1;
                self.state.index = 0;
            }
            last_step_s = step_start.elapsed().as_secs_f64();
            let elapsed = start.elapsed().as_secs_f64();
            progress(&TrainProgress {
                step: self.state.step,
                total_steps,
                epoch: point.epoch,
                loss: point.loss,
                elapsed_s: elapsed,
                examples_per_s: seen as f64 / elapsed.max(1e-9),
            });
            if let Some(path) = &self.config.checkpoint {
                if self.state.step.is_multiple_of(self.config.checkpoint_every) {
                    self.save_checkpoint(path)?;
                }
            }
        }
        if let Some(path) = &self.config.checkpoint {
            self.save_checkpoint(path)?;
        }
        let elapsed_s = start.elapsed().as_secs_f64();
        Ok(TrainReport {
            steps: self.state.step,
            resumed_at,
            losses: self.state.losses.clone(),
            stopped,
            elapsed_s,
            examples_per_s: seen as f64 / elapsed_s.max(1e-9),
        })
    }

    /// One AdamW update from summed gradients times `factor`, after
    /// clipping their global norm.
    fn update(
        &mut self,
        grads: &BTreeMap<String, (Tensor, Tensor)>,
        factor: f64,
    ) -> candle_core::Result<()> {
        let mut scale = factor;
        if let Some(max) = self.config.clip_norm {
            let mut sq = 0.0f64;
            for (a, b) in grads.values() {
                sq += a.sqr()?.sum_all()?.to_scalar::<f32>()? as f64;
                sq += b.sqr()?.sum_all()?.to_scalar::<f32>()? as f64;
            }
            let norm = sq.sqrt() * factor;
            if norm > max {
                scale *= max / norm;
            }
        }
        let t = (self.state.step + 1) as i32;
        let (b1, b2) = self.config.betas;
        let lr = self.config.learning_rate;
        let wd = self.config.weight_decay;
        let bias1 = 1.0 - b1.powi(t);
        let bias2 = 1.0 - b2.powi(t);
        for (name, (var_a, var_b)) in &self.lora.pairs {
            let Some((ga, gb)) = grads.get(name) else {
                continue;
            };
            for (suffix, var, g) in [("lora_a", var_a, ga), ("lora_b", var_b, gb)] {
                let g = (g * scale)?;
                let key = format!("{name}.{suffix}");
                let moments = match self.moments.remove(&key) {
                    Some(m) => m,
                    None => Moments {
                        m: g.zeros_like()?,
                        v: g.zeros_like()?,
                    },
                };
                let m = ((moments.m * b1)? + (&g * (1.0 - b1))?)?;
                let v = ((moments.v * b2)? + (g.sqr()? * (1.0 - b2))?)?;
                let m_hat = (&m / bias1)?;
                let v_hat = (&v / bias2)?;
                let adam = m_hat.div(&(v_hat.sqrt()? + 1e-8)?)?;
                let theta = var.as_tensor();
                let new = ((theta * (1.0 - lr * wd))? - (adam * lr)?)?;
                var.set(&new)?;
                self.moments.insert(key, Moments { m, v });
            }
        }
        Ok(())
    }

    /// Writes the adapter, the optimiser moments and the run's position to
    /// `path` (a safetensors file that also loads as an adapter).
    pub fn save_checkpoint(&self, path: &Path) -> Result<()> {
        let mut extra = BTreeMap::new();
        for (key, moments) in &self.moments {
            let cpu = |t: &Tensor| t.to_device(&candle_core::Device::Cpu).map_err(candle_err);
            extra.insert(format!("{key}.m"), cpu(&moments.m)?);
            extra.insert(format!("{key}.v"), cpu(&moments.v)?);
        }
        let state = serde_json::to_string(&self.state)?;
        self.adapter()?
            .save_with(path, &extra, &[("rca.train_state", state)])
            .map_err(model_err)
    }

    fn resume(&mut self, path: &Path) -> Result<()> {
        let (adapter, extra, meta) = Adapter::load_with(path).map_err(model_err)?;
        let state: TrainState = meta
            .get("rca.train_state")
            .ok_or_else(|| {
                crate::error::input(format!(
                    "{}: an adapter, but not a training checkpoint",
                    path.display()
                ))
            })
            .and_then(|s| {
                serde_json::from_str(s).map_err(|e| {
                    crate::error::input(format!("{}: bad training state: {e}", path.display()))
                })
            })?;
        let lora = &self.config.lora;
        if adapter.meta.rank != lora.rank
            || adapter.meta.alpha != lora.alpha
            || adapter.meta.targets != lora.targets
            || state.seed != self.config.seed
            || state.accumulate != self.config.accumulate
        {
            return Err(crate::error::input(format!(
                "{}: the checkpoint was made with other settings (rank {}, alpha {}, targets {}, seed {}, accumulate {})",
                path.display(),
                adapter.meta.rank,
                adapter.meta.alpha,
                adapter.meta.targets.join(","),
                state.seed,
                state.accumulate
            )));
        }
        let resumed = self
            .net
            .lora_from_adapter(&adapter, lora.seed)
            .map_err(model_err)?;
        if !resumed.pairs.keys().eq(self.lora.pairs.keys()) {
            return Err(crate::error::input(format!(
                "{}: the checkpoint adapts other layers than these settings",
                path.display()
            )));
        }
        self.lora = resumed;
        self.moments.clear();
        for name in self.lora.pairs.keys() {
            for suffix in ["lora_a", "lora_b"] {
                let key = format!("{name}.{suffix}");
                if let (Some(m), Some(v)) = (
                    extra.get(&format!("{key}.m")),
                    extra.get(&format!("{key}.v")),
                ) {
                    let device = self.net.device();
                    self.moments.insert(
                        key,
                        Moments {
                            m: m.to_device(device).map_err(candle_err)?,
                            v: v.to_device(device).map_err(candle_err)?,
                        },
                    );
                }
            }
        }
        self.state = state;
        Ok(())
    }
}

/// The example order of an epoch: a seeded shuffle.
fn epoch_order(seed: u64, epoch: usize, len: usize) -> Vec<usize> {
    let mut rng = Rng::new(seed ^ 0xE90C_u64.wrapping_mul(epoch as u64 + 1));
    let mut order: Vec<usize> = (0..len).collect();
    rng.shuffle(&mut order);
    order
}

/// FNV-1a of every example's candidate ids and culprit, as hex: a resumed
/// run must see the same examples in the same order.
fn examples_fingerprint(examples: &[Example]) -> String {
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut eat = |bytes: &[u8]| {
        for &b in bytes {
            hash ^= u64::from(b);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
    };
    for e in examples {
        eat(e.facts.title.as_bytes());
        eat(&e.until.to_le_bytes());
        for c in &e.candidates {
            eat(c.commit.id.as_bytes());
        }
        eat(&(e.culprit as u64).to_le_bytes());
    }
    format!("{hash:016x}")
}
