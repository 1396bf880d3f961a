//! A differentiable Llama forward pass with LoRA adapters, for training.
//!
//! The inference path (`model/llama.rs`) is built for speed: fused
//! projections and single-pass CPU kernels that have no backward pass. This
//! one computes the same function from plain candle ops that candle's
//! autograd can differentiate (matmul, broadcast arithmetic, `exp`, `sqrt`,
//! sums, `narrow`/`cat`), over frozen f32 copies of the GGUF weights, with a
//! LoRA pair on each targeted matrix:
//!
//! ```text
//! y = x · Wᵀ + (alpha / r) · (x · Aᵀ) · Bᵀ        A: (r, in), B: (out, r)
//! ```
//!
//! It follows the GGUF "llama" conventions the inference path uses:
//! interleaved RoPE (pairs `2i, 2i+1`) with the same tables, grouped-query
//! attention where consecutive query heads share a KV head, RMSNorm with the
//! GGUF's epsilon, and the output projection tied to the embedding when the
//! GGUF has no `output.weight`.
//!
//! **Memory.** A 2,000-token prompt's attention matrices are 9 × 2,000 ×
//! 2,000 floats per layer; keeping every layer's for the backward pass would
//! take tens of GB. [`TrainNet::step`] therefore checkpoints per layer: a
//! forward pass without the graph keeps only each layer's input, then the
//! backward pass recomputes one layer at a time with the graph and
//! back-propagates through it alone. Peak memory is one layer's graph.

use std::collections::BTreeMap;
use std::path::Path;

use candle_core::{DType, Device, Tensor, Var, D};

use crate::model::adapter::{self, Adapter, AdapterMeta};
use crate::model::gguf;
use crate::model::kernels as llama_rope;
use crate::model::llama::{self, Config};
use crate::model::{one_line, ModelError};

type CResult<T> = candle_core::Result<T>;

fn cerr(e: candle_core::Error) -> ModelError {
    ModelError::Other(one_line(&e.to_string()))
}

/// Gradients (or any per-factor tensors) keyed by GGUF weight name:
/// `(dA, dB)` for each adapted matrix.
pub type Gradients = BTreeMap<String, (Tensor, Tensor)>;

/// Shape of a LoRA adapter: rank, alpha and which matrices it adapts.
#[derive(Debug, Clone, PartialEq)]
pub struct LoraConfig {
    /// Rank `r` of each pair. Default 8.
    pub rank: usize,
    /// Scale numerator: the correction is `(alpha / r) · B · A`. Default 16.
    pub alpha: f64,
    /// Short names of the adapted matrices (see
    /// [`crate::model::adapter::TARGETS`]): default `["q", "v"]`; any of
    /// `q k v o gate up down`.
    pub targets: Vec<String>,
    /// Adapt only the top this many layers (`None`: every layer). The
    /// backward pass stops at the lowest adapted layer, so fewer layers
    /// train faster.
    pub top_layers: Option<usize>,
    /// Seed of the random initialisation of the A factors.
    pub seed: u64,
}

impl Default for LoraConfig {
    fn default() -> Self {
        LoraConfig {
            rank: 8,
            alpha: 16.0,
            targets: vec!["q".into(), "v".into()],
            top_layers: None,
            seed: 0x5EED,
        }
    }
}

/// The frozen weights of one layer, as `(out, in)` f32 matrices.
struct BaseLayer {
    attn_norm: Tensor,
    q: Tensor,
    k: Tensor,
    v: Tensor,
    o: Tensor,
    ffn_norm: Tensor,
    gate: Tensor,
    up: Tensor,
    down: Tensor,
}

impl BaseLayer {
    fn weight(&self, target: &str) -> &Tensor {
        match target {
            "q" => &self.q,
            "k" => &self.k,
            "v" => &self.v,
            "o" => &self.o,
            "gate" => &self.gate,
            "up" => &self.up,
            _ => &self.down,
        }
    }
}

/// The trainable LoRA factors, one `(A, B)` pair of [`Var`]s per adapted
/// GGUF weight, keyed by the GGUF tensor name.
pub struct Lora {
    pub config: LoraConfig,
    pub pairs: BTreeMap<String, (Var, Var)>,
}

impl Lora {
    /// The factors as plain tensors: for a forward pass without the graph.
    fn detached(&self) -> BTreeMap<String, (Tensor, Tensor)> {
        self.pairs
            .iter()
            .map(|(n, (a, b))| (n.clone(), (a.as_tensor().detach(), b.as_tensor().detach())))
            .collect()
    }

    fn tracked(&self) -> BTreeMap<String, (Tensor, Tensor)> {
        self.pairs
            .iter()
            .map(|(n, (a, b))| (n.clone(), (a.as_tensor().clone(), b.as_tensor().clone())))
            .collect()
    }

    /// Number of trainable parameters.
    pub fn parameter_count(&self) -> usize {
        self.pairs
            .values()
            .map(|(a, b)| a.elem_count() + b.elem_count())
            .sum()
    }
}

/// Where the training forward pass gets its base model: the frozen f32
/// weights, the shape, the RoPE tables, and who the base is.
pub struct TrainNet {
    config: Config,
    /// Where the weights live and the passes run.
    device: Device,
    dim: usize,
    embedding: Tensor,
    /// The output projection (the embedding itself when tied).
    output: Tensor,
    final_norm: Tensor,
    layers: Vec<BaseLayer>,
    cos: Tensor,
    sin: Tensor,
    /// The RoPE tables as flat slices, for the fused op.
    rope: llama_rope::RopeTables,
    /// Use the fused ops of `ops.rs` (default) or plain candle ops only.
    fused: bool,
    /// Bytes of computation graph the backward pass may hold at once.
    graph_budget: usize,
    /// File name, size and fingerprint of the GGUF (adapter metadata).
    identity: (String, u64, String),
}

/// The result of one training step on one example.
#[derive(Debug, Clone)]
pub struct StepOutput {
    /// Cross-entropy of the culprit's label over the batch's label tokens.
    pub loss: f32,
    /// Log-probabilities of the label tokens, renormalised over the labels.
    pub label_logprobs: Vec<f32>,
}

impl TrainNet {
    /// Reads a Llama-family GGUF and dequantizes every weight to f32 on
    /// `device`. Mixture-of-experts models are refused. On the CPU the
    /// passes use the fused ops of [`super::ops`]; elsewhere (CUDA) plain
    /// candle ops, with a graph budget of [`DEVICE_GRAPH_BUDGET`].
    pub fn load(path: &Path, device: &Device) -> Result<TrainNet, ModelError> {
        let identity = adapter::base_identity(path)?;
        let mut file = gguf::open(path)?;
        let config = llama::read_config(&file)?;
        if config.n_expert > 1 || config.neox_rope {
            return Err(ModelError::Other(format!(
                "LoRA training supports dense \"llama\" models, not mixtures of experts or \"{}\"",
                file.architecture()
            )));
        }
        let cpu = Device::Cpu;
        let has_output = file.content.tensor_infos.contains_key("output.weight");
        let has_rope_freqs = file.content.tensor_infos.contains_key("rope_freqs.weight");
        let display = path.display().to_string();
        let mut read = |name: &str| -> Result<Tensor, ModelError> {
            if !file.content.tensor_infos.contains_key(name) {
                return Err(ModelError::Other(format!(
                    "{display}: GGUF lacks tensor {name}"
                )));
            }
            file.content
                .tensor(&mut file.reader, name, &cpu)
                .and_then(|q| q.dequantize(&cpu))
                .and_then(|t| t.to_dtype(DType::F32))
                .and_then(|t| t.to_device(device))
                .map_err(|e| {
                    ModelError::Other(format!(
                        "{display}: reading {name}: {}",
                        one_line(&e.to_string())
                    ))
                })
        };
        let embedding = read("token_embd.weight")?;
        let output = if has_output {
            read("output.weight")?
        } else {
            embedding.clone()
        };
        let final_norm = read("output_norm.weight")?;
        let mut layers = Vec::with_capacity(config.n_layer);
        for i in 0..config.n_layer {
            let mut w = |s: &str| read(&format!("blk.{i}.{s}.weight"));
            layers.push(BaseLayer {
                attn_norm: w("attn_norm")?,
                q: w("attn_q")?,
                k: w("attn_k")?,
                v: w("attn_v")?,
                o: w("attn_output")?,
                ffn_norm: w("ffn_norm")?,
                gate: w("ffn_gate")?,
                up: w("ffn_up")?,
                down: w("ffn_down")?,
            });
        }
        let freq_factors = if has_rope_freqs {
            Some(read("rope_freqs.weight")?.to_vec1::<f32>().map_err(cerr)?)
        } else {
            None
        };
        let rope = llama::rope_tables(&file, &config, freq_factors.as_deref(), device)?;
        let dim = config.n_head * config.head_dim;
        Ok(TrainNet {
            device: device.clone(),
            dim,
            embedding,
            output,
            final_norm,
            layers,
            cos: rope.cos_t.clone(),
            sin: rope.sin_t.clone(),
            rope,
            fused: device.is_cpu(),
            graph_budget: if device.is_cpu() {
                DEFAULT_GRAPH_BUDGET
            } else {
                DEVICE_GRAPH_BUDGET
            },
            config,
            identity,
        })
    }

    /// Chooses between the fused CPU ops of [`super::ops`] (the default on
    /// the CPU: several times faster) and the reference path built from
    /// plain candle ops only (what other devices run). Both compute the same
    /// values and gradients (tests check it). The fused ops need the CPU.
    pub fn set_fused(&mut self, on: bool) {
        self.fused = on && self.device.is_cpu();
    }

    /// Where the weights live.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Number of transformer layers.
    pub fn layer_count(&self) -> usize {
        self.config.n_layer
    }

    /// The model's context window in tokens.
    pub fn context_length(&self) -> usize {
        self.config.context_length
    }

    /// A fresh adapter: every A factor random (uniform in ±1/√in, from
    /// `config.seed`, so runs are reproducible), every B zero, so the
    /// adapted model starts exactly equal to the base.
    pub fn new_lora(&self, config: &LoraConfig) -> Result<Lora, ModelError> {
        if config.rank == 0 {
            return Err(ModelError::Adapter("LoRA rank must be at least 1".into()));
        }
        let mut rng = super::examples::Rng::new(config.seed);
        let mut pairs = BTreeMap::new();
        let lowest = self.layers.len()
            - config
                .top_layers
                .unwrap_or(usize::MAX)
                .min(self.layers.len());
        for (i, layer) in self.layers.iter().enumerate().skip(lowest) {
            for target in &config.targets {
                let name = adapter::target_tensor_name(target, i).ok_or_else(|| {
                    ModelError::Adapter(format!(
                        "unknown LoRA target {target} (expected q, k, v, o, gate, up or down)"
                    ))
                })?;
                let (out, inp) = layer.weight(target).dims2().map_err(cerr)?;
                let bound = 1.0 / (inp as f64).sqrt();
                let a: Vec<f32> = (0..config.rank * inp)
                    .map(|_| ((rng.next_f64() * 2.0 - 1.0) * bound) as f32)
                    .collect();
                let a = Tensor::from_vec(a, (config.rank, inp), &self.device).map_err(cerr)?;
                let b =
                    Tensor::zeros((out, config.rank), DType::F32, &self.device).map_err(cerr)?;
                pairs.insert(
                    name,
                    (
                        Var::from_tensor(&a).map_err(cerr)?,
                        Var::from_tensor(&b).map_err(cerr)?,
                    ),
                );
            }
        }
        Ok(Lora {
            config: config.clone(),
            pairs,
        })
    }

    /// The adapter file contents of `lora` for this base model (its
    /// factors copied to the CPU).
    pub fn to_adapter(&self, lora: &Lora) -> Result<Adapter, ModelError> {
        let (name, size, fingerprint) = self.identity.clone();
        let cpu = |v: &Var| v.as_tensor().detach().to_device(&Device::Cpu).map_err(cerr);
        let mut pairs = BTreeMap::new();
        for (n, (a, b)) in &lora.pairs {
            pairs.insert(n.clone(), (cpu(a)?, cpu(b)?));
        }
        Ok(Adapter {
            meta: AdapterMeta {
                base_model: name,
                base_size: size,
                base_fingerprint: fingerprint,
                rank: lora.config.rank,
                alpha: lora.config.alpha,
                targets: lora.config.targets.clone(),
            },
            pairs,
        })
    }

    /// Trainable factors initialised from an adapter (to continue training
    /// it). Refused unless the adapter was made for this base model and its
    /// pairs fit the weights.
    pub fn lora_from_adapter(&self, adapter: &Adapter, seed: u64) -> Result<Lora, ModelError> {
        let (_, size, fingerprint) = &self.identity;
        if adapter.meta.base_size != *size || &adapter.meta.base_fingerprint != fingerprint {
            return Err(ModelError::Adapter(format!(
                "the adapter was trained on {} ({} bytes, fingerprint {}), not on {} ({size} bytes, fingerprint {fingerprint})",
                adapter.meta.base_model,
                adapter.meta.base_size,
                adapter.meta.base_fingerprint,
                self.identity.0
            )));
        }
        // The adapted layers are the top ones that have pairs.
        let lowest = (0..self.layers.len())
            .find(|&i| {
                adapter.meta.targets.iter().any(|t| {
                    adapter
                        .pairs
                        .contains_key(&adapter::target_tensor_name(t, i).unwrap_or_default())
                })
            })
            .unwrap_or(self.layers.len());
        let config = LoraConfig {
            rank: adapter.meta.rank,
            alpha: adapter.meta.alpha,
            targets: adapter.meta.targets.clone(),
            top_layers: (lowest > 0).then_some(self.layers.len() - lowest),
            seed,
        };
        let mut pairs = BTreeMap::new();
        for (i, layer) in self.layers.iter().enumerate().skip(lowest) {
            for target in &config.targets {
                let name = adapter::target_tensor_name(target, i).unwrap_or_default();
                let (a, b) = adapter.pairs.get(&name).ok_or_else(|| {
                    ModelError::Adapter(format!("the adapter lacks the pair for {name}"))
                })?;
                let (out, inp) = layer.weight(target).dims2().map_err(cerr)?;
                if a.dims() != [config.rank, inp] || b.dims() != [out, config.rank] {
                    return Err(ModelError::Adapter(format!(
                        "{name}: A {:?} and B {:?} do not fit the weight ({out}, {inp})",
                        a.dims(),
                        b.dims()
                    )));
                }
                let on_device = |t: &Tensor| {
                    t.to_device(&self.device)
                        .and_then(|t| Var::from_tensor(&t))
                        .map_err(cerr)
                };
                pairs.insert(name, (on_device(a)?, on_device(b)?));
            }
        }
        if pairs.len() != adapter.pairs.len() {
            return Err(ModelError::Adapter(
                "the adapter holds pairs for weights outside its targets or layers".into(),
            ));
        }
        Ok(Lora { config, pairs })
    }

    fn check_tokens(&self, tokens: &[u32]) -> Result<(), ModelError> {
        if tokens.is_empty() {
            return Err(ModelError::Other("no tokens to run".into()));
        }
        self.config.check_tokens(0, tokens)?;
        Ok(())
    }

    /// Logits `(vocab,)` for the token after `tokens`, through the training
    /// forward pass with `lora` (or the base model with `None`), without
    /// building a graph. For checking against the inference path.
    pub fn logits(&self, tokens: &[u32], lora: Option<&Lora>) -> Result<Vec<f32>, ModelError> {
        self.check_tokens(tokens)?;
        let pairs = lora.map(Lora::detached).unwrap_or_default();
        let scale = lora
            .map(|l| l.config.alpha / l.config.rank as f64)
            .unwrap_or(0.0);
        let run = || -> CResult<Vec<f32>> {
            let mut x = self.embed(tokens)?;
            for (i, layer) in self.layers.iter().enumerate() {
                x = self.layer_forward(i, layer, &x, &pairs, scale)?;
            }
            let last = self.final_hidden(&x)?;
            last.matmul(&self.output.t()?)?.squeeze(0)?.to_vec1()
        };
        run().map_err(cerr)
    }

    /// Cross-entropy of `labels[culprit]` among `labels` after `tokens`, and
    /// its gradient with respect to every LoRA factor (keyed like
    /// [`Lora::pairs`]), by per-layer checkpointed back-propagation.
    pub fn step(
        &self,
        tokens: &[u32],
        labels: &[u32],
        culprit: usize,
        lora: &Lora,
    ) -> Result<(StepOutput, Gradients), ModelError> {
        self.check_tokens(tokens)?;
        if culprit >= labels.len() {
            return Err(ModelError::Other(format!(
                "culprit slot {culprit} is outside the {} labels",
                labels.len()
            )));
        }
        self.step_inner(tokens, labels, culprit, lora).map_err(cerr)
    }

    fn step_inner(
        &self,
        tokens: &[u32],
        labels: &[u32],
        culprit: usize,
        lora: &Lora,
    ) -> CResult<(StepOutput, Gradients)> {
        let scale = lora.config.alpha / lora.config.rank as f64;
        let seq = tokens.len();
        let n_layer = self.layers.len();
        // Layers below the lowest adapted one need no backward pass at all.
        let lowest = (0..n_layer)
            .find(|&i| {
                lora.config
                    .targets
                    .iter()
                    .any(|t| lora.pairs.contains_key(&layer_name(t, i)))
            })
            .unwrap_or(n_layer);
        let per_segment = self.segment_layers(seq);
        let segments: Vec<(usize, usize)> = (lowest..n_layer)
            .step_by(per_segment)
            .map(|start| (start, (start + per_segment).min(n_layer)))
            .collect();
        let detached = lora.detached();
        let tracked = lora.tracked();

        // 1. Forward without the graph, keeping each segment's input.
        let mut x = self.embed(tokens)?;
        for i in 0..lowest {
            x = self.layer_forward(i, &self.layers[i], &x, &detached, scale)?;
        }
        let mut inputs = Vec::with_capacity(segments.len());
        for (n, &(start, end)) in segments.iter().enumerate() {
            inputs.push(x.clone());
            if n + 1 < segments.len() {
                for i in start..end {
                    x = self.layer_forward(i, &self.layers[i], &x, &detached, scale)?;
                }
            }
        }

        // 2. Backward one segment at a time, top first, recomputing each
        //    with the graph. The top segment ends in the loss.
        let ids = Tensor::new(labels, &self.device)?;
        let rows = self.output.index_select(&ids, 0)?;
        let mut g: Option<Tensor> = None;
        let mut out_grads = BTreeMap::new();
        let mut result = None;
        for (n, &(start, end)) in segments.iter().enumerate().rev() {
            let first = n == 0;
            let input = if first {
                inputs[n].clone()
            } else {
                Var::from_tensor(&inputs[n])?.into_inner()
            };
            let mut out = input.clone();
            for i in start..end {
                out = self.layer_forward(i, &self.layers[i], &out, &tracked, scale)?;
            }
            let surrogate = match &g {
                None => {
                    // The loss from the last position's hidden state.
                    let logits = self.final_hidden(&out)?.matmul(&rows.t()?)?; // (1, n)
                    let max = logits.max_keepdim(D::Minus1)?.detach();
                    let shifted = logits.broadcast_sub(&max)?;
                    let log_z = shifted.exp()?.sum_keepdim(D::Minus1)?.log()?;
                    let logprobs = shifted.broadcast_sub(&log_z)?; // (1, n)
                    let loss = logprobs.narrow(1, culprit, 1)?.neg()?.sum_all()?;
                    result = Some(StepOutput {
                        loss: loss.to_scalar::<f32>()?,
                        label_logprobs: logprobs.squeeze(0)?.to_vec1::<f32>()?,
                    });
                    loss
                }
                Some(g) => (out * g)?.sum_all()?,
            };
            let grads = surrogate.backward()?;
            for i in start..end {
                for target in &lora.config.targets {
                    let name = layer_name(target, i);
                    if let Some((a, b)) = lora.pairs.get(&name) {
                        let grad = |v: &Var| match grads.get(v.as_tensor()) {
                            Some(t) => Ok(t.clone()),
                            None => v.as_tensor().zeros_like(),
                        };
                        out_grads.insert(name, (grad(a)?, grad(b)?));
                    }
                }
            }
            if !first {
                g = Some(grads.get(&input).cloned().ok_or_else(|| {
                    candle_core::Error::Msg(format!("no gradient into layer {start}"))
                })?);
            }
            inputs.truncate(n);
        }
        let result = match result {
            Some(r) => r,
            // No adapted layer: just the loss, no gradients.
            None => {
                let logits = self.final_hidden(&x)?.matmul(&rows.t()?)?;
                let lp = log_softmax_vec(&logits.squeeze(0)?.to_vec1::<f32>()?);
                StepOutput {
                    loss: -lp[culprit],
                    label_logprobs: lp,
                }
            }
        };
        Ok((result, out_grads))
    }

    /// How many layers' graphs fit in the graph memory budget at once for a
    /// `seq`-token prompt (at least one).
    fn segment_layers(&self, seq: usize) -> usize {
        let cfg = &self.config;
        let ffn = self
            .layers
            .first()
            .and_then(|l| l.gate.dim(0).ok())
            .unwrap_or(self.dim);
        // Attention scores and probabilities and their gradients, plus
        // about twenty activations of width dim or ffn, in f32.
        let per_layer = 4 * (4 * cfg.n_head * seq * seq + 20 * seq * ffn.max(self.dim));
        (self.graph_budget / per_layer.max(1)).max(1)
    }

    /// Sets the memory the backward pass may hold in computation graphs
    /// (default 1.5 GB). More means fewer layers recomputed: with room for
    /// every adapted layer at once nothing is recomputed; with room for one,
    /// each layer is run twice.
    pub fn set_graph_budget(&mut self, bytes: usize) {
        self.graph_budget = bytes;
    }

    /// Log-probabilities of `labels` renormalised over them, after `tokens`.
    pub fn label_logprobs(
        &self,
        tokens: &[u32],
        labels: &[u32],
        lora: Option<&Lora>,
    ) -> Result<Vec<f32>, ModelError> {
        let logits = self.logits(tokens, lora)?;
        let picked: Vec<f32> = labels
            .iter()
            .map(|&l| logits.get(l as usize).copied().unwrap_or(f32::NEG_INFINITY))
            .collect();
        Ok(log_softmax_vec(&picked))
    }

    fn embed(&self, tokens: &[u32]) -> CResult<Tensor> {
        let ids = Tensor::new(tokens, &self.device)?;
        self.embedding.index_select(&ids, 0)
    }

    fn final_hidden(&self, x: &Tensor) -> CResult<Tensor> {
        let seq = x.dim(0)?;
        let last = x.narrow(0, seq - 1, 1)?;
        rms_norm(&last, &self.final_norm, self.config.rms_eps)
    }

    /// One transformer block on `x` `(seq, dim)` at positions `0..seq`.
    fn layer_forward(
        &self,
        index: usize,
        layer: &BaseLayer,
        x: &Tensor,
        pairs: &BTreeMap<String, (Tensor, Tensor)>,
        scale: f64,
    ) -> CResult<Tensor> {
        let cfg = &self.config;
        let seq = x.dim(0)?;
        let hd = cfg.head_dim;
        let n_rep = cfg.n_head / cfg.n_kv_head;
        let proj = |h: &Tensor, target: &str| -> CResult<Tensor> {
            let w = layer.weight(target);
            let y = if self.fused {
                super::ops::frozen_linear(h, w)?
            } else {
                h.matmul(&w.t()?)?
            };
            match pairs.get(&layer_name(target, index)) {
                Some((a, b)) => {
                    let low = h.matmul(&a.t()?)?.matmul(&b.t()?)?;
                    y + (low * scale)?
                }
                None => Ok(y),
            }
        };
        let h = rms_norm(x, &layer.attn_norm, cfg.rms_eps)?;
        let q = proj(&h, "q")?;
        let k = proj(&h, "k")?;
        let v = proj(&h, "v")?;
        // Head-major (heads, seq, hd), queries and keys rotated.
        let heads = |t: Tensor, n: usize| t.reshape((seq, n, hd))?.transpose(0, 1)?.contiguous();
        let q = self.rope(&heads(q, cfg.n_head)?)?;
        let k = self.rope(&heads(k, cfg.n_kv_head)?)?;
        let v = heads(v, cfg.n_kv_head)?;
        // The n_rep query heads that share a KV head are consecutive.
        let q = q.reshape((cfg.n_kv_head, n_rep * seq, hd))?;
        let scale = 1.0 / (hd as f64).sqrt();
        let probs = if self.fused {
            super::ops::causal_softmax(&q.matmul(&k.t()?)?, seq, scale as f32)?
        } else {
            let att = (q.matmul(&k.t()?)? * scale)?
                .reshape((cfg.n_kv_head, n_rep, seq, seq))?
                .broadcast_add(&causal_mask(seq, &self.device)?)?;
            let max = att.max_keepdim(D::Minus1)?.detach();
            let exp = att.broadcast_sub(&max)?.exp()?;
            exp.broadcast_div(&exp.sum_keepdim(D::Minus1)?)?.reshape((
                cfg.n_kv_head,
                n_rep * seq,
                seq,
            ))?
        };
        let y = probs
            .matmul(&v)?
            .reshape((cfg.n_head, seq, hd))?
            .transpose(0, 1)?
            .contiguous()?
            .reshape((seq, cfg.n_head * hd))?;
        let x = (x + proj(&y, "o")?)?;
        let h = rms_norm(&x, &layer.ffn_norm, cfg.rms_eps)?;
        let hidden = (proj(&h, "gate")?.silu()? * proj(&h, "up")?)?;
        x + proj(&hidden, "down")?
    }

    /// Interleaved RoPE on `(heads, seq, hd)` at positions `0..seq`.
    fn rope(&self, x: &Tensor) -> CResult<Tensor> {
        let (n, seq, hd) = x.dims3()?;
        let half = hd / 2;
        if self.fused {
            return super::ops::rope(x, &self.rope.cos, &self.rope.sin, half);
        }
        let table = |t: &Tensor| t.narrow(0, 0, seq)?.reshape((1, seq, half, 1));
        let (cos, sin) = (table(&self.cos)?, table(&self.sin)?);
        let pairs = x.reshape((n, seq, half, 2))?;
        let a = pairs.narrow(3, 0, 1)?;
        let b = pairs.narrow(3, 1, 1)?;
        let ya = (a.broadcast_mul(&cos)? - b.broadcast_mul(&sin)?)?;
        let yb = (a.broadcast_mul(&sin)? + b.broadcast_mul(&cos)?)?;
        Tensor::cat(&[ya, yb], 3)?.reshape((n, seq, hd))
    }
}

/// Default [`TrainNet::set_graph_budget`] on the CPU: 1.5 GB.
pub const DEFAULT_GRAPH_BUDGET: usize = 1536 << 20;

/// Default graph budget on a GPU: 32 GiB, room for all 30 layers of the
/// default model's graph at 2,000 tokens, so that nothing is recomputed.
/// Smaller cards need a smaller budget (`TrainConfig::graph_budget`).
pub const DEVICE_GRAPH_BUDGET: usize = 32 << 30;

fn log_softmax_vec(values: &[f32]) -> Vec<f32> {
    let max = values.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
    let log_z = max
        + values
            .iter()
            .map(|&v| (v as f64 - max).exp())
            .sum::<f64>()
            .ln();
    values.iter().map(|&v| (v as f64 - log_z) as f32).collect()
}

fn layer_name(target: &str, layer: usize) -> String {
    adapter::target_tensor_name(target, layer).unwrap_or_default()
}

/// `x / sqrt(mean(x²) + eps) · w` over the last dimension.
fn rms_norm(x: &Tensor, w: &Tensor, eps: f64) -> CResult<Tensor> {
    let ms = (x.sqr()?.mean_keepdim(D::Minus1)? + eps)?;
    x.broadcast_div(&ms.sqrt()?)?.broadcast_mul(w)
}

/// `(1, 1, seq, seq)`: 0 where a query may see a key, -1e9 above the
/// diagonal (exactly 0 after the softmax, and no infinities in gradients).
fn causal_mask(seq: usize, device: &Device) -> CResult<Tensor> {
    let mask: Vec<f32> = (0..seq)
        .flat_map(|i| (0..seq).map(move |j| if j <= i { 0.0 } else { -1e9 }))
        .collect();
    Tensor::from_vec(mask, (1, 1, seq, seq), device)
}
