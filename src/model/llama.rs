//! The Llama forward pass, owned here rather than taken from
//! `candle_transformers::models::quantized_llama`.
//!
//! The stock model was the starting point and this follows its structure, but
//! it could not give rca three things (model-notes.md, "Reusing a shared
//! prompt prefix"):
//!
//! - **An explicit weight format.** The stock loader dequantizes only when the
//!   `CANDLE_DEQUANTIZE_ALL` environment variable is set, read once per thread
//!   and latched; rca decides per model (see `WeightFormat`), because f32
//!   weights run the 135M default model's 2,000-token prompt at 400–500
//!   tokens/s on 2 threads against 14 for its Q4_1 weights as loaded
//!   (`benches/prompt_speed.rs --quantized`), but would not fit in memory
//!   for an 8B model.
//! - **State apart from weights.** Here the weights are immutable and shared,
//!   and the KV cache is a separate value ([`KvCache`]), so a prompt prefix is
//!   computed once and each suffix continues from a cheap clone of its cache.
//! - **The model's own context length** (8,192 for SmolLM2) rather than the
//!   stock 4,096 cap.
//!
//! It also fuses what it can for the CPU: the Q/K/V and gate/up projections
//! become one matrix product each when the weights are f32, and RoPE, the
//! causal softmax and SwiGLU run as single-pass kernels (`kernels.rs`).
//! Prompts run in fixed 256-token chunks: the attention matrices stay small
//! (9 heads × 256 × context instead of × prompt length), and the result does
//! not depend on how a caller splits its input.

use std::sync::Arc;

use candle_core::quantized::{GgmlDType, QMatMul, QTensor};
use candle_core::{DType, Device, IndexOp, Module, Tensor};
use candle_transformers::quantized_nn::RmsNorm;

use super::adapter::Adapter;
use super::gguf::GgufFile;
use super::kernels::{self, CausalSoftmax, RopeHeads, RopeTables};
use super::{one_line, ModelError};

/// Tokens per forward call during prefill. Fixed, because the Q4_1 path's
/// results move by about 0.05 with the chunk size (model-notes.md); the f32
/// path's do not, but a fixed size keeps every path deterministic.
pub(crate) const CHUNK: usize = 256;

/// How the weight matrices are held in memory.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum WeightFormat {
    /// Dequantized once at load to f32: exact, and the fastest CPU path for
    /// small models, whose candle quantized kernels (Q4_1 has no SIMD kernel
    /// in candle 0.11.1) are slower than f32 GEMM.
    F32,
    /// Kept in the GGUF's quantized types: the only option that fits large
    /// models in memory, and what candle's CUDA kernels expect.
    Quantized,
}

/// Models up to this many parameters are dequantized to f32 on the CPU:
/// 1B parameters is 4 GB of f32 weights, about what a laptop can spare.
/// Above it (Llama 3.2 1B at 1.24B, 7B/8B models) weights stay quantized.
pub const DEQUANTIZE_MAX_PARAMS: u64 = 1_000_000_000;

impl WeightFormat {
    /// f32 for models up to [`DEQUANTIZE_MAX_PARAMS`] on the CPU; quantized
    /// on CUDA (whose quantized kernels are fast and whose memory is scarce)
    /// and for larger models.
    pub fn choose(parameters: u64, device: &Device) -> WeightFormat {
        if device.is_cpu() && parameters <= DEQUANTIZE_MAX_PARAMS {
            WeightFormat::F32
        } else {
            WeightFormat::Quantized
        }
    }
}

#[derive(Debug, Clone)]
pub(crate) struct Config {
    /// The width of the hidden state (`embedding_length`).
    pub dim: usize,
    pub n_layer: usize,
    pub n_head: usize,
    pub n_kv_head: usize,
    pub head_dim: usize,
    pub context_length: usize,
    pub rms_eps: f64,
    pub vocab_size: usize,
    pub n_expert: usize,
    pub n_expert_used: usize,
    /// RoPE rotates dimension pairs `(i, i + head_dim/2)` (llama.cpp's
    /// NEOX layout: "qwen2") rather than `(2i, 2i+1)` ("llama", whose GGUF
    /// converter permutes Q and K to that layout). rca's kernel rotates
    /// interleaved pairs, so NEOX models have their Q and K rows permuted
    /// once at load ([`neox_to_interleaved`]): the attention scores are
    /// unchanged, because queries and keys get the same permutation.
    pub neox_rope: bool,
}

impl Config {
    /// Refuses a prompt that, after `cached` tokens, would not fit the
    /// context, or that holds a token outside the vocabulary.
    pub(crate) fn check_tokens(&self, cached: usize, tokens: &[u32]) -> Result<(), ModelError> {
        let total = cached + tokens.len();
        if total > self.context_length {
            return Err(ModelError::Other(format!(
                "the prompt needs {total} tokens, more than the model's context of {}",
                self.context_length
            )));
        }
        if let Some(&bad) = tokens.iter().find(|&&t| t as usize >= self.vocab_size) {
            return Err(ModelError::Other(format!(
                "token id {bad} is outside the vocabulary ({} tokens)",
                self.vocab_size
            )));
        }
        Ok(())
    }
}

/// A projection: f32 or quantized, applied to `(tokens, in)` rows. A LoRA
/// correction is merged into f32 weights; beside quantized ones it stays
/// apart and adds `(x · Aᵀ) · (s·B)ᵀ`.
#[derive(Debug, Clone)]
struct Linear {
    weight: QMatMul,
    /// `Aᵀ` `(in, r)` and `(s·B)ᵀ` `(r, out)`, f32, on the model's device.
    lora: Option<(Tensor, Tensor)>,
}

impl Linear {
    fn new(weight: QMatMul) -> Linear {
        Linear { weight, lora: None }
    }

    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let y = self.weight.forward(x)?;
        let Some((a_t, b_t)) = &self.lora else {
            return Ok(y);
        };
        let low = x.to_dtype(DType::F32)?.matmul(a_t)?.matmul(b_t)?;
        let low = low.to_dtype(y.dtype())?;
        y + low
    }
}

#[derive(Debug, Clone)]
enum Attention {
    /// Q, K and V stacked into one `(q + 2·kv, dim)` matrix (f32 weights).
    Fused(Linear),
    Separate {
        q: Linear,
        k: Linear,
        v: Linear,
    },
}

#[derive(Debug, Clone)]
struct Mlp {
    /// Gate and up stacked into one `(2·ffn, dim)` matrix when f32;
    /// otherwise applied one after the other and concatenated.
    gate_up: GateUp,
    down: Linear,
}

#[derive(Debug, Clone)]
enum GateUp {
    Fused(Linear),
    Separate { gate: Linear, up: Linear },
}

impl Mlp {
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        let hidden = match &self.gate_up {
            GateUp::Fused(gate_up) => kernels::swiglu(&gate_up.forward(x)?)?,
            GateUp::Separate { gate, up } => (gate.forward(x)?.silu()? * up.forward(x)?)?,
        };
        self.down.forward(&hidden)
    }
}

#[derive(Debug, Clone)]
enum FeedForward {
    Dense(Mlp),
    /// Mixtral-style mixture of experts, as in candle's quantized_llama.
    Moe {
        router: Linear,
        experts: Vec<Mlp>,
        used: usize,
    },
}

impl FeedForward {
    fn forward(&self, x: &Tensor) -> candle_core::Result<Tensor> {
        match self {
            FeedForward::Dense(mlp) => mlp.forward(x),
            FeedForward::Moe {
                router,
                experts,
                used,
            } => moe_forward(x, router, experts, *used),
        }
    }
}

/// Routes each token to its `used` best experts and mixes their outputs by
/// renormalised router weight (candle's quantized_llama algorithm).
fn moe_forward(
    x: &Tensor,
    router: &Linear,
    experts: &[Mlp],
    used: usize,
) -> candle_core::Result<Tensor> {
    let (_, hidden) = x.dims2()?;
    let logits = router.forward(x)?;
    let weights = softmax_rows(&logits.to_dtype(DType::F32)?.to_vec2::<f32>()?);
    let mut rows_for = vec![Vec::<u32>::new(); experts.len()];
    let mut weights_for = vec![Vec::<f32>::new(); experts.len()];
    for (row, w) in weights.iter().enumerate() {
        let mut order: Vec<usize> = (0..w.len()).collect();
        order.sort_by(|&a, &b| w[b].total_cmp(&w[a]).then(a.cmp(&b)));
        let chosen = &order[..used.min(order.len())];
        let total: f32 = chosen.iter().map(|&e| w[e]).sum();
        for &e in chosen {
            rows_for[e].push(row as u32);
            weights_for[e].push(w[e] / total);
        }
    }
    let mut out = x.zeros_like()?;
    for (e, expert) in experts.iter().enumerate() {
        if rows_for[e].is_empty() {
            continue;
        }
        let rows = Tensor::new(rows_for[e].as_slice(), x.device())?;
        let w = Tensor::new(weights_for[e].as_slice(), x.device())?
            .reshape(((), 1))?
            .to_dtype(x.dtype())?;
        let y = expert.forward(&x.index_select(&rows, 0)?.reshape(((), hidden))?)?;
        out = out.index_add(&rows, &y.broadcast_mul(&w)?, 0)?;
    }
    Ok(out)
}

fn softmax_rows(rows: &[Vec<f32>]) -> Vec<Vec<f32>> {
    rows.iter()
        .map(|row| {
            let max = row.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let exps: Vec<f32> = row.iter().map(|v| (v - max).exp()).collect();
            let sum: f32 = exps.iter().sum();
            exps.iter().map(|e| e / sum).collect()
        })
        .collect()
}

#[derive(Debug, Clone)]
struct Layer {
    attn_norm: RmsNorm,
    attention: Attention,
    /// Biases of the Q, K and V projections, concatenated in that order
    /// (Qwen2); `None` for Llama.
    qkv_bias: Option<Tensor>,
    attn_out: Linear,
    ffn_norm: RmsNorm,
    ffn: FeedForward,
}

/// The immutable weights; shared by every forward pass.
#[derive(Debug)]
pub(crate) struct Weights {
    pub config: Config,
    pub format: WeightFormat,
    embedding: QMatMul,
    layers: Vec<Layer>,
    norm: RmsNorm,
    output: Linear,
    rope: RopeTables,
    device: Device,
}

/// Keys and values for the positions run so far, per layer, each
/// `(kv_heads, positions, head_dim)`. Cloning shares the tensors; appending
/// builds new ones, so a clone never sees another's later positions.
#[derive(Debug, Clone, Default)]
pub(crate) struct KvCache {
    layers: Vec<Option<(Tensor, Tensor)>>,
    pub len: usize,
}

fn candle_err(err: candle_core::Error) -> ModelError {
    ModelError::Other(one_line(&err.to_string()))
}

impl Weights {
    /// Reads the weights in `format` with `adapter`'s corrections: merged
    /// into f32 weights, kept beside quantized ones.
    pub fn load(
        gguf: &mut GgufFile,
        device: &Device,
        format: WeightFormat,
        adapter: Option<&Adapter>,
    ) -> Result<Weights, ModelError> {
        let config = read_config(gguf)?;
        let corrected = std::cell::RefCell::new(std::collections::BTreeSet::<String>::new());
        // The adapter's factors `(A, s·B)` of GGUF weight `name`, checked
        // against the weight's `(out, in)` and with B's rows in the order
        // rca runs the weight's (NEOX Q and K rows are permuted at load).
        let factors = |name: &str,
                       out: usize,
                       inp: usize|
         -> Result<Option<(Tensor, Tensor)>, ModelError> {
            let Some((a, b)) = adapter.map(|a| a.scaled_pair(name)).transpose()?.flatten() else {
                return Ok(None);
            };
            let (rank, a_in) = a.dims2().map_err(candle_err)?;
            let (b_out, b_rank) = b.dims2().map_err(candle_err)?;
            if a_in != inp || b_out != out || b_rank != rank {
                return Err(ModelError::Adapter(format!(
                    "{name}: the adapter's correction is [{b_out}, {a_in}] (rank {rank}, {b_rank}) but the model's weight is [{out}, {inp}]"
                )));
            }
            let b = match neox_heads(&config, name) {
                Some(heads) => b
                    .index_select(
                        &Tensor::new(neox_order(heads, config.head_dim).as_slice(), b.device())
                            .map_err(candle_err)?,
                        0,
                    )
                    .map_err(candle_err)?,
                None => b,
            };
            corrected.borrow_mut().insert(name.to_string());
            Ok(Some((a, b)))
        };
        // The f32 matrix of GGUF weight `name`, with the adapter's
        // correction added when it has one.
        let dense = |name: &str, t: &QTensor| -> Result<Tensor, ModelError> {
            let w = t.dequantize(device).map_err(candle_err)?;
            let (out, inp) = w.dims2().map_err(candle_err)?;
            let Some((a, b)) = factors(name, out, inp)? else {
                return Ok(w);
            };
            let delta = b.matmul(&a).map_err(candle_err)?;
            (w + delta.to_device(device).map_err(candle_err)?).map_err(candle_err)
        };
        let path = gguf.path.display().to_string();
        let missing = |name: &str| ModelError::Other(format!("{path}: GGUF lacks tensor {name}"));
        let mut read = |name: &str| -> Result<QTensor, ModelError> {
            if !gguf.content.tensor_infos.contains_key(name) {
                return Err(missing(name));
            }
            gguf.content
                .tensor(&mut gguf.reader, name, device)
                .map_err(|err| {
                    ModelError::Other(format!(
                        "{path}: reading {name}: {}",
                        one_line(&err.to_string())
                    ))
                })
        };
        let names: std::collections::HashSet<String> =
            gguf.content.tensor_infos.keys().cloned().collect();
        let has = |name: &str| names.contains(name);
        // Biases rca applies: Q, K and V (Qwen2; optional in llama.cpp's
        // Llama). Any other would be silently left out, so it is refused.
        let applied = |n: &str| {
            n.starts_with("blk.")
                && ["attn_q.bias", "attn_k.bias", "attn_v.bias"]
                    .iter()
                    .any(|b| n.ends_with(b))
        };
        if let Some(bias) = names
            .iter()
            .filter(|n| n.ends_with(".bias") && !applied(n))
            .min()
        {
            return Err(ModelError::Other(format!(
                "{path}: tensor {bias} is a bias rca does not apply (it runs Q/K/V biases only)"
            )));
        }

        let linear = |name: &str, t: QTensor| -> Result<Linear, ModelError> {
            if format == WeightFormat::F32 {
                return Ok(Linear::new(QMatMul::Tensor(dense(name, &t)?)));
            }
            let (out, inp) = t.shape().dims2().map_err(candle_err)?;
            let lora = match factors(name, out, inp)? {
                Some((a, b)) => {
                    let side = |m: Tensor| {
                        m.t()
                            .and_then(|m| m.contiguous())
                            .and_then(|m| m.to_device(device))
                            .map_err(candle_err)
                    };
                    Some((side(a)?, side(b)?))
                }
                None => None,
            };
            Ok(Linear {
                weight: matmul_weights(t, format).map_err(candle_err)?,
                lora,
            })
        };
        // Stacks several weight matrices into one (rows concatenated), f32 only.
        let fused = |ts: Vec<(String, QTensor)>| -> Result<Linear, ModelError> {
            let parts = ts
                .iter()
                .map(|(name, t)| dense(name, t))
                .collect::<Result<Vec<_>, ModelError>>()?;
            Ok(Linear::new(QMatMul::Tensor(
                Tensor::cat(&parts, 0).map_err(candle_err)?,
            )))
        };
        let norm = |t: QTensor| RmsNorm::from_qtensor(t, config.rms_eps).map_err(candle_err);

        let embedding_q = read("token_embd.weight")?;
        let tied = !has("output.weight");
        let embedding = match format {
            WeightFormat::F32 => {
                QMatMul::Tensor(embedding_q.dequantize(device).map_err(candle_err)?)
            }
            WeightFormat::Quantized => QMatMul::QTensor(Arc::new(embedding_q)),
        };
        let output = if tied {
            // Tied embeddings: the output projection shares the tensor.
            Linear::new(embedding.clone())
        } else {
            linear("output.weight", read("output.weight")?)?
        };
        let final_norm = norm(read("output_norm.weight")?)?;

        let mut layers = Vec::with_capacity(config.n_layer);
        for i in 0..config.n_layer {
            let name = |suffix: &str| format!("blk.{i}.{suffix}");
            let mut named = |suffix: &str| -> Result<(String, QTensor), ModelError> {
                let n = name(suffix);
                let t = read(&n)?;
                Ok((n, t))
            };
            let (mut q, mut k, v) = (
                named("attn_q.weight")?,
                named("attn_k.weight")?,
                named("attn_v.weight")?,
            );
            let mut qkv_bias = None;
            if has(&name("attn_q.bias")) {
                let (mut bq, mut bk, bv) = (
                    named("attn_q.bias")?.1,
                    named("attn_k.bias")?.1,
                    named("attn_v.bias")?.1,
                );
                if config.neox_rope {
                    bq = neox_to_interleaved(&bq, config.n_head, config.head_dim)?;
                    bk = neox_to_interleaved(&bk, config.n_kv_head, config.head_dim)?;
                }
                let parts = [bq, bk, bv]
                    .iter()
                    .map(|t| t.dequantize(device))
                    .collect::<candle_core::Result<Vec<_>>>()
                    .map_err(candle_err)?;
                qkv_bias = Some(Tensor::cat(&parts, 0).map_err(candle_err)?);
            }
            if config.neox_rope {
                q.1 = neox_to_interleaved(&q.1, config.n_head, config.head_dim)?;
                k.1 = neox_to_interleaved(&k.1, config.n_kv_head, config.head_dim)?;
            }
            let attention = match format {
                WeightFormat::F32 => Attention::Fused(fused(vec![q, k, v])?),
                WeightFormat::Quantized => Attention::Separate {
                    q: linear(&q.0, q.1)?,
                    k: linear(&k.0, k.1)?,
                    v: linear(&v.0, v.1)?,
                },
            };
            let mlp = |gate: (String, QTensor),
                       up: (String, QTensor),
                       down: (String, QTensor)|
             -> Result<Mlp, ModelError> {
                let gate_up = match format {
                    WeightFormat::F32 => GateUp::Fused(fused(vec![gate, up])?),
                    WeightFormat::Quantized => GateUp::Separate {
                        gate: linear(&gate.0, gate.1)?,
                        up: linear(&up.0, up.1)?,
                    },
                };
                Ok(Mlp {
                    gate_up,
                    down: linear(&down.0, down.1)?,
                })
            };
            let ffn = if config.n_expert <= 1 {
                FeedForward::Dense(mlp(
                    named("ffn_gate.weight")?,
                    named("ffn_up.weight")?,
                    named("ffn_down.weight")?,
                )?)
            } else {
                let mut experts = Vec::with_capacity(config.n_expert);
                for e in 0..config.n_expert {
                    experts.push(mlp(
                        named(&format!("ffn_gate.{e}.weight"))?,
                        named(&format!("ffn_up.{e}.weight"))?,
                        named(&format!("ffn_down.{e}.weight"))?,
                    )?);
                }
                let (router_name, router) = named("ffn_gate_inp.weight")?;
                FeedForward::Moe {
                    router: linear(&router_name, router)?,
                    experts,
                    used: config.n_expert_used.max(1),
                }
            };
            let (out_name, out) = named("attn_output.weight")?;
            layers.push(Layer {
                attn_norm: norm(read(&name("attn_norm.weight"))?)?,
                attention,
                qkv_bias,
                attn_out: linear(&out_name, out)?,
                ffn_norm: norm(read(&name("ffn_norm.weight"))?)?,
                ffn,
            });
        }

        // Llama 3.1+ GGUFs carry per-frequency RoPE divisors.
        let freq_factors = if has("rope_freqs.weight") {
            let t = read("rope_freqs.weight")?
                .dequantize(&Device::Cpu)
                .and_then(|t| t.to_vec1::<f32>())
                .map_err(candle_err)?;
            Some(t)
        } else {
            None
        };
        let rope = rope_tables(gguf, &config, freq_factors.as_deref(), device)?;
        if let Some(adapter) = adapter {
            let corrected = corrected.borrow();
            if let Some(unused) = adapter.pairs.keys().find(|n| !corrected.contains(*n)) {
                return Err(ModelError::Adapter(format!(
                    "the adapter corrects {unused}, which this model does not have"
                )));
            }
        }

        Ok(Weights {
            config,
            format,
            embedding,
            layers,
            norm: final_norm,
            output,
            rope,
            device: device.clone(),
        })
    }

    /// Runs `tokens` after the positions in `cache`, appending to it, and
    /// returns the final hidden state `(dim,)` (after the output norm) and
    /// the logits `(vocab,)` for the next token after the last one.
    pub fn forward(&self, cache: &mut KvCache, tokens: &[u32]) -> Result<Next, ModelError> {
        if tokens.is_empty() {
            return Err(ModelError::Other("no tokens to run".into()));
        }
        self.config.check_tokens(cache.len, tokens)?;
        if cache.layers.is_empty() {
            cache.layers = vec![None; self.config.n_layer];
        }
        let mut last = None;
        for chunk in tokens.chunks(CHUNK) {
            last = Some(self.forward_chunk(cache, chunk).map_err(candle_err)?);
        }
        last.ok_or_else(|| ModelError::Other("no tokens to run".into()))
    }

    fn forward_chunk(&self, cache: &mut KvCache, tokens: &[u32]) -> candle_core::Result<Next> {
        let cfg = &self.config;
        let seq = tokens.len();
        let pos = cache.len;
        let ids = Tensor::new(tokens, &self.device)?;
        let mut x = self.embedding.embedding(&ids)?;
        let n_rep = cfg.n_head / cfg.n_kv_head;
        let scale = 1.0 / (cfg.head_dim as f32).sqrt();
        for (layer, slot) in self.layers.iter().zip(cache.layers.iter_mut()) {
            let h = layer.attn_norm.forward(&x)?;
            let mut qkv = match &layer.attention {
                Attention::Fused(w) => w.forward(&h)?,
                Attention::Separate { q, k, v } => {
                    Tensor::cat(&[q.forward(&h)?, k.forward(&h)?, v.forward(&h)?], 1)?
                }
            };
            if let Some(bias) = &layer.qkv_bias {
                qkv = qkv.broadcast_add(bias)?;
            }
            // (n_head + 2·n_kv, seq, head_dim): queries and keys rotated.
            let heads = kernels::rope_heads(
                &qkv,
                &RopeHeads {
                    n_heads: cfg.n_head + 2 * cfg.n_kv_head,
                    n_rope_heads: cfg.n_head + cfg.n_kv_head,
                    head_dim: cfg.head_dim,
                    pos,
                    tables: &self.rope,
                },
            )?;
            let q = heads.narrow(0, 0, cfg.n_head)?;
            let k = heads.narrow(0, cfg.n_head, cfg.n_kv_head)?;
            let v = heads.narrow(0, cfg.n_head + cfg.n_kv_head, cfg.n_kv_head)?;
            let (k, v) = match slot.take() {
                Some((k_past, v_past)) => (
                    Tensor::cat(&[&k_past, &k], 1)?,
                    Tensor::cat(&[&v_past, &v], 1)?,
                ),
                None => (k.contiguous()?, v.contiguous()?),
            };
            *slot = Some((k.clone(), v.clone()));

            // Grouped-query attention without copying K and V per query head:
            // the n_rep query heads that share a KV head are consecutive, so
            // (n_head, seq, hd) reshapes to (n_kv, n_rep·seq, hd).
            let kv_len = pos + seq;
            let q = q.reshape((cfg.n_kv_head, n_rep * seq, cfg.head_dim))?;
            let att = q.matmul(&k.t()?)?;
            let att = kernels::causal_softmax(
                att,
                &CausalSoftmax {
                    seq,
                    offset: pos,
                    scale,
                },
            )?;
            debug_assert_eq!(att.dims(), &[cfg.n_kv_head, n_rep * seq, kv_len]);
            let y = att
                .matmul(&v)?
                .reshape((cfg.n_head, seq, cfg.head_dim))?
                .transpose(0, 1)?
                .contiguous()?
                .reshape((seq, cfg.n_head * cfg.head_dim))?;
            let x_attn = kernels::add_into(layer.attn_out.forward(&y)?, &x)?;
            let h = layer.ffn_norm.forward(&x_attn)?;
            x = kernels::add_into(layer.ffn.forward(&h)?, &x_attn)?;
        }
        cache.len += seq;
        // Only the next token after the last position is ever asked for.
        let last = x.i((seq - 1..seq, ..))?;
        let hidden = self.norm.forward(&last)?;
        Ok(Next {
            logits: self
                .output
                .forward(&hidden)?
                .squeeze(0)?
                .to_dtype(DType::F32)?,
            hidden: hidden.squeeze(0)?.to_dtype(DType::F32)?,
        })
    }
}

/// What the model says about the next token after a run.
#[derive(Debug, Clone)]
pub struct Next {
    /// The last position's hidden state after the output norm, `(dim,)`:
    /// what the output layer (and a judge's head) reads.
    pub hidden: Tensor,
    /// `(vocab,)`.
    pub logits: Tensor,
}

/// Reorders the rows of a Q or K projection (or its bias) from NEOX RoPE's
/// pairing to the interleaved one: within each head, row `i` of the first
/// half goes to `2i` and row `i` of the second half to `2i + 1`. Rows are
/// whole quantization blocks (they run along the input dimension), so the
/// bytes move as they are, in any GGUF type.
fn neox_to_interleaved(t: &QTensor, heads: usize, head_dim: usize) -> Result<QTensor, ModelError> {
    let order = neox_order(heads, head_dim);
    let rows = t.shape().dims().first().copied().unwrap_or(0);
    let data = t.data().map_err(candle_err)?;
    if rows != heads * head_dim || rows == 0 || data.len() % rows != 0 {
        return Err(ModelError::Other(format!(
            "a Q/K tensor of shape {:?} does not hold {heads} heads of {head_dim}",
            t.shape().dims()
        )));
    }
    let row_bytes = data.len() / rows;
    let mut out = vec![0u8; data.len()];
    for (to, &from) in order.iter().enumerate() {
        let from = from as usize;
        out[to * row_bytes..(to + 1) * row_bytes]
            .copy_from_slice(&data[from * row_bytes..(from + 1) * row_bytes]);
    }
    let storage = candle_core::quantized::QStorage::from_data(
        std::borrow::Cow::Owned(out),
        &t.device(),
        t.dtype(),
    )
    .map_err(candle_err)?;
    QTensor::new(storage, t.shape().clone()).map_err(candle_err)
}

/// The interleaved row order of a NEOX Q or K projection: entry `to` is the
/// NEOX row that goes there. Within each head, row `i` of the first half
/// goes to `2i` and row `i` of the second half to `2i + 1`.
fn neox_order(heads: usize, head_dim: usize) -> Vec<u32> {
    let half = head_dim / 2;
    (0..heads * head_dim)
        .map(|to| {
            let (head, j) = (to / head_dim, to % head_dim);
            (head * head_dim + j / 2 + if j % 2 == 0 { 0 } else { half }) as u32
        })
        .collect()
}

/// How many heads the rows of GGUF weight `name` hold, where rca permutes
/// them at load (Q and K of a NEOX model); `None` for every other weight.
fn neox_heads(config: &Config, name: &str) -> Option<usize> {
    if !config.neox_rope {
        None
    } else if name.ends_with(".attn_q.weight") {
        Some(config.n_head)
    } else if name.ends_with(".attn_k.weight") {
        Some(config.n_kv_head)
    } else {
        None
    }
}

/// A GGUF weight as a matrix-product operand in the chosen format. Tensors
/// that are already f32/f16 are always plain tensors.
fn matmul_weights(t: QTensor, format: WeightFormat) -> candle_core::Result<QMatMul> {
    let dequantize = format == WeightFormat::F32
        || matches!(t.dtype(), GgmlDType::F32 | GgmlDType::F16 | GgmlDType::BF16);
    if dequantize {
        let device = t.device();
        Ok(QMatMul::Tensor(t.dequantize(&device)?))
    } else {
        Ok(QMatMul::QTensor(Arc::new(t)))
    }
}

pub(crate) fn read_config(gguf: &GgufFile) -> Result<Config, ModelError> {
    let n_head = gguf.require_arch_usize("attention.head_count")?;
    let dim = gguf.require_arch_usize("embedding_length")?;
    let n_kv_head = gguf.arch_usize("attention.head_count_kv").unwrap_or(n_head);
    let head_dim = gguf
        .arch_usize("attention.key_length")
        .unwrap_or(dim / n_head.max(1));
    let vocab_size = match gguf.content.tensor_infos.get("token_embd.weight") {
        None => {
            return Err(ModelError::Other(format!(
                "{}: GGUF lacks tensor token_embd.weight",
                gguf.path.display()
            )))
        }
        // A corrupt header can declare a tensor of rank 0.
        Some(info) => *info.shape.dims().first().ok_or_else(|| {
            ModelError::Other(format!(
                "{}: malformed GGUF: tensor token_embd.weight has no dimensions",
                gguf.path.display()
            ))
        })?,
    };
    let config = Config {
        dim,
        n_layer: gguf.require_arch_usize("block_count")?,
        n_head,
        n_kv_head,
        head_dim,
        // Some GGUFs omit it; 4,096 is llama.cpp's fallback for Llama 2.
        context_length: gguf.arch_usize("context_length").unwrap_or(4096),
        rms_eps: gguf
            .arch_f32("attention.layer_norm_rms_epsilon")
            .unwrap_or(1e-5) as f64,
        vocab_size,
        n_expert: gguf.arch_usize("expert_count").unwrap_or(0),
        n_expert_used: gguf.arch_usize("expert_used_count").unwrap_or(0),
        neox_rope: gguf.architecture() == "qwen2",
    };
    let shape_ok = n_head > 0
        && n_kv_head > 0
        && n_head % n_kv_head == 0
        && head_dim.is_multiple_of(2)
        && n_head.checked_mul(head_dim) == Some(dim);
    if !shape_ok {
        return Err(ModelError::Other(format!(
            "{}: unsupported attention shape (heads {n_head}, kv heads {n_kv_head}, head size {head_dim}, width {dim})",
            gguf.path.display()
        )));
    }
    Ok(config)
}

pub(crate) fn rope_tables(
    gguf: &GgufFile,
    config: &Config,
    freq_factors: Option<&[f32]>,
    device: &Device,
) -> Result<RopeTables, ModelError> {
    let rope_dim = gguf
        .arch_usize("rope.dimension_count")
        .unwrap_or(config.head_dim);
    if rope_dim != config.head_dim {
        return Err(ModelError::Other(format!(
            "{}: partial RoPE ({rope_dim} of {} dims) is not supported",
            gguf.path.display(),
            config.head_dim
        )));
    }
    let base = gguf.arch_f32("rope.freq_base").unwrap_or(10_000.0);
    // Linear RoPE scaling divides positions by the factor. Llama 3.1's
    // scaling comes as per-frequency factors (`rope_freqs.weight`), which
    // llama.cpp's converter computes from the model's rope_scaling. YaRN
    // and the rest change attention in ways this forward pass does not.
    let scaling = gguf.string(&format!("{}.rope.scaling.type", gguf.architecture()));
    let linear_scale = match scaling.as_deref() {
        None | Some("none") => 1.0,
        Some("linear") => gguf.arch_f32("rope.scaling.factor").unwrap_or(1.0),
        Some(other) => {
            return Err(ModelError::Other(format!(
                "{}: RoPE scaling \"{other}\" is not supported (rca runs none, linear, and Llama 3.1's frequency factors)",
                gguf.path.display()
            )))
        }
    };
    let half = rope_dim / 2;
    let inv_freq: Vec<f32> = (0..half)
        .map(|i| {
            let f = 1.0 / base.powf((2 * i) as f32 / rope_dim as f32);
            let factor = freq_factors.and_then(|f| f.get(i)).copied().unwrap_or(1.0);
            f / factor / linear_scale
        })
        .collect();
    let ctx = config.context_length;
    let mut cos = Vec::with_capacity(ctx * half);
    let mut sin = Vec::with_capacity(ctx * half);
    for p in 0..ctx {
        for &f in &inv_freq {
            // Angles in f64 so that far positions keep full f32 precision.
            let angle = p as f64 * f as f64;
            cos.push(angle.cos() as f32);
            sin.push(angle.sin() as f32);
        }
    }
    let cos_t = Tensor::from_slice(&cos, (ctx, half), device).map_err(candle_err)?;
    let sin_t = Tensor::from_slice(&sin, (ctx, half), device).map_err(candle_err)?;
    Ok(RopeTables {
        cos: cos.into(),
        sin: sin.into(),
        half,
        cos_t,
        sin_t,
    })
}
