//! Each architecture rca runs in-process, proved without downloading a
//! model: the test writes a tiny GGUF of it with random weights (two layers,
//! width 256, the real metadata keys and tensor names, the quantization
//! types such models are published in) and compares rca's next-token
//! log-probabilities over the whole vocabulary with llama.cpp's on the same
//! file (`scripts/llama-ref`'s `llama-logprobs`, f32 KV cache, no flash
//! attention).

mod common;

use candle_core::quantized::{gguf_file, GgmlDType, QTensor};
use candle_core::{Device, Tensor};
use rca::model::{DeviceChoice, LoadOptions, Model, WeightFormat};
use std::collections::BTreeMap;
use std::path::Path;

const DIM: usize = 256;
const FFN: usize = 512;
const HEAD_DIM: usize = 64;
const LAYERS: usize = 2;
const CONTEXT: usize = 1024;
/// Prompt length: longer than rca's 256-token prefill chunk, so that the
/// KV cache is continued across chunks.
const PROMPT: usize = 300;

/// One architecture's shape, as its GGUF states it.
struct Spec {
    name: &'static str,
    arch: &'static str,
    pre: &'static str,
    heads: usize,
    kv_heads: usize,
    rope_base: f32,
    /// Llama 3.1's per-frequency RoPE divisors (`rope_freqs.weight`).
    rope_freqs: bool,
    /// Biases on the Q, K and V projections (Qwen2).
    qkv_bias: bool,
    /// No `output.weight`: the embedding is reused.
    tied: bool,
    /// Most matrices, and the ones llama.cpp's *_M mixes keep finer
    /// (`attn_v`, `ffn_down`, `output`).
    main: GgmlDType,
    fine: GgmlDType,
}

const SPECS: &[Spec] = &[
    Spec {
        name: "llama 3.1 (RoPE frequency factors, GQA 4:2, Q4_K_M)",
        arch: "llama",
        pre: "llama-bpe",
        heads: 4,
        kv_heads: 2,
        rope_base: 500_000.0,
        rope_freqs: true,
        qkv_bias: false,
        tied: false,
        main: GgmlDType::Q4K,
        fine: GgmlDType::Q6K,
    },
    Spec {
        name: "llama 2 style (no factors, tied output, F16)",
        arch: "llama",
        pre: "llama-bpe",
        heads: 4,
        kv_heads: 4,
        rope_base: 10_000.0,
        rope_freqs: false,
        qkv_bias: false,
        tied: true,
        main: GgmlDType::F16,
        fine: GgmlDType::F16,
    },
    Spec {
        name: "qwen2 (QKV bias, NEOX RoPE, tied output, Q5_K_M)",
        arch: "qwen2",
        pre: "qwen2",
        heads: 4,
        kv_heads: 2,
        rope_base: 1_000_000.0,
        rope_freqs: false,
        qkv_bias: true,
        tied: true,
        main: GgmlDType::Q5K,
        fine: GgmlDType::Q6K,
    },
    Spec {
        name: "mistral style (GQA 4:1, Q8_0)",
        arch: "llama",
        pre: "llama-bpe",
        heads: 4,
        kv_heads: 1,
        rope_base: 1_000_000.0,
        rope_freqs: false,
        qkv_bias: false,
        tied: false,
        main: GgmlDType::Q8_0,
        fine: GgmlDType::Q8_0,
    },
];

/// A seeded normal generator (xorshift64* and Box-Muller): the files are
/// the same on every run.
struct Normal(u64);

impl Normal {
    fn uniform(&mut self) -> f64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        ((self.0.wrapping_mul(0x2545_f491_4f6c_dd1d) >> 11) as f64 + 0.5) / (1u64 << 53) as f64
    }

    fn sample(&mut self) -> f32 {
        let (u, v) = (self.uniform(), self.uniform());
        ((-2.0 * u.ln()).sqrt() * (2.0 * std::f64::consts::PI * v).cos()) as f32
    }

    fn tensor(&mut self, shape: &[usize], mean: f32, std: f32) -> Tensor {
        let n: usize = shape.iter().product();
        let data: Vec<f32> = (0..n).map(|_| mean + std * self.sample()).collect();
        Tensor::from_vec(data, shape, &Device::Cpu).unwrap()
    }
}

/// GPT-2's byte-to-character table: token `b` is byte `b`.
fn byte_tokens() -> Vec<String> {
    let printable = |b: u32| {
        (u32::from(b'!')..=u32::from(b'~')).contains(&b)
            || (0xA1..=0xAC).contains(&b)
            || (0xAE..=0xFF).contains(&b)
    };
    let mut next = 256;
    (0..256u32)
        .map(|b| {
            let c = if printable(b) {
                b
            } else {
                next += 1;
                next - 1
            };
            char::from_u32(c).unwrap().to_string()
        })
        .collect()
}

/// Writes `spec` as a GGUF at `path`; returns the vocabulary size.
fn write_gguf(spec: &Spec, path: &Path, seed: u64) -> usize {
    write_gguf_merged(spec, path, seed, &BTreeMap::new())
}

/// [`write_gguf`] with corrections merged: a tensor named in `deltas` is
/// written as f32, its quantized weight dequantized plus the correction
/// (the same weights otherwise, from the same seed).
fn write_gguf_merged(
    spec: &Spec,
    path: &Path,
    seed: u64,
    deltas: &BTreeMap<String, Tensor>,
) -> usize {
    use gguf_file::Value;
    let mut tokens = byte_tokens();
    tokens.push("ĠĠ".into());
    let bos = tokens.len() as u32;
    tokens.push("<|begin_of_text|>".into());
    tokens.push("<|end_of_text|>".into());
    let vocab = tokens.len();
    let types: Vec<Value> = (0..vocab)
        .map(|i| Value::I32(if i as u32 >= bos { 3 } else { 1 }))
        .collect();
    let key = |k: &str| format!("{}.{k}", spec.arch);
    let metadata: Vec<(String, Value)> = vec![
        (
            "general.architecture".into(),
            Value::String(spec.arch.into()),
        ),
        (
            "general.name".into(),
            Value::String(format!("random {}", spec.name)),
        ),
        (key("context_length"), Value::U32(CONTEXT as u32)),
        (key("embedding_length"), Value::U32(DIM as u32)),
        (key("block_count"), Value::U32(LAYERS as u32)),
        (key("feed_forward_length"), Value::U32(FFN as u32)),
        (key("attention.head_count"), Value::U32(spec.heads as u32)),
        (
            key("attention.head_count_kv"),
            Value::U32(spec.kv_heads as u32),
        ),
        (key("attention.layer_norm_rms_epsilon"), Value::F32(1e-5)),
        (key("rope.freq_base"), Value::F32(spec.rope_base)),
        (key("rope.dimension_count"), Value::U32(HEAD_DIM as u32)),
        ("tokenizer.ggml.model".into(), Value::String("gpt2".into())),
        ("tokenizer.ggml.pre".into(), Value::String(spec.pre.into())),
        (
            "tokenizer.ggml.tokens".into(),
            Value::Array(tokens.iter().map(|t| Value::String(t.clone())).collect()),
        ),
        ("tokenizer.ggml.token_type".into(), Value::Array(types)),
        (
            "tokenizer.ggml.merges".into(),
            Value::Array(vec![Value::String("Ġ Ġ".into())]),
        ),
        ("tokenizer.ggml.bos_token_id".into(), Value::U32(bos)),
        ("tokenizer.ggml.eos_token_id".into(), Value::U32(bos + 1)),
        ("tokenizer.ggml.add_bos_token".into(), Value::Bool(true)),
    ];

    let mut rng = Normal(seed);
    let mut tensors: Vec<(String, QTensor)> = Vec::new();
    let mut add = |name: String, t: Tensor, dtype: GgmlDType| {
        let mut q = QTensor::quantize(&t, dtype).unwrap();
        if let Some(delta) = deltas.get(&name) {
            let merged = (q.dequantize(&Device::Cpu).unwrap() + delta).unwrap();
            q = QTensor::quantize(&merged, GgmlDType::F32).unwrap();
        }
        tensors.push((name, q));
    };
    let q = spec.heads * HEAD_DIM;
    let kv = spec.kv_heads * HEAD_DIM;
    let proj = |rng: &mut Normal, out: usize, inp: usize| {
        rng.tensor(&[out, inp], 0.0, 1.0 / (inp as f32).sqrt())
    };
    // Scaled like a projection, so that a tied output gives logits of the
    // same spread as an untied one (a few nats, not hundreds).
    add(
        "token_embd.weight".into(),
        proj(&mut rng, vocab, DIM).affine(2.0, 0.0).unwrap(),
        spec.main,
    );
    if !spec.tied {
        add(
            "output.weight".into(),
            proj(&mut rng, vocab, DIM),
            spec.fine,
        );
    }
    add(
        "output_norm.weight".into(),
        rng.tensor(&[DIM], 1.0, 0.1),
        GgmlDType::F32,
    );
    if spec.rope_freqs {
        // Llama 3.1's shape: 1 for the fast frequencies, up to 8 for the slow.
        let half = HEAD_DIM / 2;
        let factors: Vec<f32> = (0..half)
            .map(|i| 1.0 + 7.0 * (i as f32 / (half - 1) as f32).powi(2))
            .collect();
        add(
            "rope_freqs.weight".into(),
            Tensor::from_vec(factors, half, &Device::Cpu).unwrap(),
            GgmlDType::F32,
        );
    }
    for i in 0..LAYERS {
        let name = |s: &str| format!("blk.{i}.{s}");
        add(
            name("attn_norm.weight"),
            rng.tensor(&[DIM], 1.0, 0.1),
            GgmlDType::F32,
        );
        add(name("attn_q.weight"), proj(&mut rng, q, DIM), spec.main);
        add(name("attn_k.weight"), proj(&mut rng, kv, DIM), spec.main);
        add(name("attn_v.weight"), proj(&mut rng, kv, DIM), spec.fine);
        if spec.qkv_bias {
            add(
                name("attn_q.bias"),
                rng.tensor(&[q], 0.0, 0.5),
                GgmlDType::F32,
            );
            add(
                name("attn_k.bias"),
                rng.tensor(&[kv], 0.0, 0.5),
                GgmlDType::F32,
            );
            add(
                name("attn_v.bias"),
                rng.tensor(&[kv], 0.0, 0.5),
                GgmlDType::F32,
            );
        }
        add(
            name("attn_output.weight"),
            proj(&mut rng, DIM, q),
            spec.main,
        );
        add(
            name("ffn_norm.weight"),
            rng.tensor(&[DIM], 1.0, 0.1),
            GgmlDType::F32,
        );
        add(name("ffn_gate.weight"), proj(&mut rng, FFN, DIM), spec.main);
        add(name("ffn_up.weight"), proj(&mut rng, FFN, DIM), spec.main);
        add(name("ffn_down.weight"), proj(&mut rng, DIM, FFN), spec.fine);
    }
    let metadata: Vec<(&str, &Value)> = metadata.iter().map(|(k, v)| (k.as_str(), v)).collect();
    let tensors: Vec<(&str, &QTensor)> = tensors.iter().map(|(k, t)| (k.as_str(), t)).collect();
    let mut file = std::fs::File::create(path).unwrap();
    gguf_file::write(&mut file, &metadata, &tensors).unwrap();
    vocab
}

/// llama.cpp's log-probabilities of every token after `ids`.
fn llama_cpp_logprobs(model: &Path, ids: &[u32], vocab: usize) -> Vec<f32> {
    let all: Vec<u32> = (0..vocab as u32).collect();
    let reply = common::parity::llama_logprobs(
        &common::parity::llama_bin("llama-logprobs"),
        model,
        ids,
        &all,
    );
    reply["asked"]
        .as_array()
        .unwrap()
        .iter()
        .map(|p| p[1].as_f64().unwrap() as f32)
        .collect()
}

/// Two threads on the CPU, the GGUF's own tokenizer.
fn cpu() -> LoadOptions {
    LoadOptions {
        device: DeviceChoice::Cpu,
        threads: Some(2),
        tokenizer: None,
    }
}

/// BOS and then `PROMPT - 1` random tokens of the vocabulary.
fn random_prompt(vocab: usize, seed: u64) -> Vec<u32> {
    let mut rng = Normal(seed);
    let bos = vocab as u32 - 2;
    std::iter::once(bos)
        .chain((1..PROMPT).map(|_| (rng.uniform() * (vocab - 2) as f64) as u32))
        .collect()
}

/// rca's log-probabilities of every token after `ids`.
fn logprobs(model: &Model, ids: &[u32]) -> Vec<f32> {
    let all: Vec<u32> = (0..model.vocab_size() as u32).collect();
    model.next_token(None, ids, &all).unwrap().logprobs
}

/// The largest difference between two sets of log-probabilities.
fn max_gap(a: &[f32], b: &[f32]) -> f32 {
    a.iter()
        .zip(b)
        .map(|(x, y)| (x - y).abs())
        .fold(0f32, f32::max)
}

/// An adapter of `pairs` (rank `rank`) for the GGUF at `base`.
fn adapter_for(
    base: &Path,
    rank: usize,
    alpha: f64,
    pairs: BTreeMap<String, (Tensor, Tensor)>,
) -> rca::model::adapter::Adapter {
    use rca::model::adapter::{base_identity, Adapter, AdapterMeta, TARGETS};
    let (base_model, base_size, base_fingerprint) = base_identity(base).unwrap();
    let targets = TARGETS
        .iter()
        .filter(|(_, gguf)| pairs.keys().any(|n| n.contains(&format!(".{gguf}."))))
        .map(|(short, _)| short.to_string())
        .collect();
    Adapter {
        meta: AdapterMeta {
            base_model,
            base_size,
            base_fingerprint,
            rank,
            alpha,
            targets,
        },
        pairs,
    }
}

/// How far rca may be from llama.cpp, in nats, on any token.
///
/// The two compute the same function with different arithmetic: rca
/// dequantizes the weights to f32 (or runs candle's quantized kernels),
/// llama.cpp multiplies quantized weights against activations it quantizes
/// to 8 bits (F16 weights against F16 activations). Measured on these files
/// (the test prints them): largest gaps 0.005 (F16) to 0.11 nats (Q8_0 with
/// candle's quantized kernels), over log-probabilities that span 5 to 13
/// nats. Reading a NEOX model with Llama's RoPE pairing instead gives 0.98
/// nats: a wrong forward pass is several times the tolerance away.
const TOLERANCE: f32 = 0.15;

#[test]
fn random_weight_models_match_llama_cpp() {
    let dir = tempfile::tempdir().unwrap();
    let mut report = Vec::new();
    for (n, spec) in SPECS.iter().enumerate() {
        let path = dir.path().join(format!("{}-{n}.gguf", spec.arch));
        let vocab = write_gguf(spec, &path, 0x9e37_79b9_7f4a_7c15 ^ n as u64);
        let ids = random_prompt(vocab, 42 + n as u64);
        let theirs = llama_cpp_logprobs(&path, &ids, vocab);
        for format in [WeightFormat::F32, WeightFormat::Quantized] {
            let model = Model::load_with_format(&path, &cpu(), Some(format))
                .unwrap_or_else(|e| panic!("{}: {e}", spec.name));
            assert_eq!(model.info().architecture, spec.arch);
            let ours = logprobs(&model, &ids);
            let argmax = |v: &[f32]| (0..v.len()).max_by(|&a, &b| v[a].total_cmp(&v[b])).unwrap();
            let worst = max_gap(&ours, &theirs);
            let spread = theirs.iter().copied().fold(f32::NEG_INFINITY, f32::max)
                - theirs.iter().copied().fold(f32::INFINITY, f32::min);
            report.push(format!(
                "{} [{format:?}]: largest gap {worst:.4} nats (log-probabilities span {spread:.1})",
                spec.name
            ));
            assert!(
                spread > 3.0,
                "{}: the random model is too flat to tell anything",
                spec.name
            );
            assert_eq!(argmax(&ours), argmax(&theirs), "{} [{format:?}]", spec.name);
            assert!(
                worst < TOLERANCE,
                "{} [{format:?}]: rca is {worst} nats from llama.cpp",
                spec.name
            );
        }
    }
    eprintln!("{}", report.join("\n"));
}

/// A LoRA adapter on every target of every layer applies to each
/// architecture as the merged weights do: rca with the adapter, merged
/// into f32 weights and kept beside quantized ones, against llama.cpp on a
/// GGUF whose weights have the correction merged (written as f32). The
/// correction is in the GGUF's own row order, so a NEOX model's Q and K
/// corrections must follow the row permutation rca applies at load: a
/// correction left in NEOX order moves rca's log-probabilities by more
/// than the tolerance (the test prints how far the adapter moves them).
#[test]
fn adapters_apply_to_every_architecture() {
    use rca::model::adapter::{target_tensor_name, TARGETS};
    let dir = tempfile::tempdir().unwrap();
    let mut report = Vec::new();
    for (n, spec) in SPECS.iter().enumerate() {
        let seed = 0x51ed_2701_u64 ^ n as u64;
        let base = dir.path().join(format!("{}-{n}.gguf", spec.arch));
        let vocab = write_gguf(spec, &base, seed);
        let rank = 4;
        let mut rng = Normal(7 + n as u64);
        let mut pairs = BTreeMap::new();
        let (q, kv) = (spec.heads * HEAD_DIM, spec.kv_heads * HEAD_DIM);
        for layer in 0..LAYERS {
            for (target, _) in TARGETS {
                let (out, inp) = match target {
                    "q" => (q, DIM),
                    "k" | "v" => (kv, DIM),
                    "o" => (DIM, q),
                    "gate" | "up" => (FFN, DIM),
                    _ => (DIM, FFN),
                };
                let a = rng.tensor(&[rank, inp], 0.0, 1.0 / (inp as f32).sqrt());
                let b = rng.tensor(&[out, rank], 0.0, 0.5 / (rank as f32).sqrt());
                pairs.insert(target_tensor_name(target, layer).unwrap(), (a, b));
            }
        }
        let adapter = adapter_for(&base, rank, 8.0, pairs);
        assert_eq!(adapter.meta.targets.len(), TARGETS.len());
        let deltas: BTreeMap<String, Tensor> = adapter
            .pairs
            .keys()
            .map(|name| (name.clone(), adapter.delta(name).unwrap().unwrap()))
            .collect();
        let merged = dir.path().join(format!("{}-{n}-merged.gguf", spec.arch));
        write_gguf_merged(spec, &merged, seed, &deltas);

        let ids = random_prompt(vocab, 99 + n as u64);
        let theirs = llama_cpp_logprobs(&merged, &ids, vocab);
        let plain = Model::load_with_format(&base, &cpu(), Some(WeightFormat::F32)).unwrap();
        let plain = logprobs(&plain, &ids);
        for format in [WeightFormat::F32, WeightFormat::Quantized] {
            let model = Model::load_merged(&base, &cpu(), Some(format), &adapter)
                .unwrap_or_else(|e| panic!("{} [{format:?}]: {e}", spec.name));
            let weights = &model.info().weights;
            assert!(weights.contains("LoRA rank 4"), "{weights}");
            let ours = logprobs(&model, &ids);
            let (worst, moved) = (max_gap(&ours, &theirs), max_gap(&ours, &plain));
            report.push(format!(
                "{} [{format:?}]: the adapter moves rca by up to {moved:.2} nats; rca is within {worst:.4} of llama.cpp on the merged weights",
                spec.name
            ));
            assert!(
                moved > 4.0 * TOLERANCE,
                "{}: the adapter barely moves the model ({moved})",
                spec.name
            );
            assert!(
                worst < TOLERANCE,
                "{} [{format:?}]: rca with the adapter is {worst} nats from llama.cpp on the merged weights",
                spec.name
            );
        }
    }
    eprintln!("{}", report.join("\n"));
}

/// With f32 weights in the file, both formats run the same plain matrices,
/// so an adapter merged into them and one kept beside them are the same
/// sum: the two agree to rounding, on a NEOX model (whose Q and K
/// corrections are permuted either way) and a Llama one.
#[test]
fn an_adapter_beside_the_weights_equals_it_merged() {
    let dir = tempfile::tempdir().unwrap();
    for (n, spec) in SPECS
        .iter()
        .enumerate()
        .filter(|(_, s)| s.rope_freqs || s.qkv_bias)
    {
        let spec = Spec {
            main: GgmlDType::F32,
            fine: GgmlDType::F32,
            ..*spec
        };
        let path = dir.path().join(format!("{}-{n}-f32.gguf", spec.arch));
        let vocab = write_gguf(&spec, &path, 0xf32 ^ n as u64);
        let mut rng = Normal(3 + n as u64);
        let rank = 2;
        let mut pairs = BTreeMap::new();
        for (name, out) in [
            ("blk.0.attn_q.weight", spec.heads * HEAD_DIM),
            ("blk.1.attn_k.weight", spec.kv_heads * HEAD_DIM),
            ("blk.1.ffn_up.weight", FFN),
        ] {
            let a = rng.tensor(&[rank, DIM], 0.0, 1.0 / (DIM as f32).sqrt());
            let b = rng.tensor(&[out, rank], 0.0, 0.5);
            pairs.insert(name.to_string(), (a, b));
        }
        let adapter = adapter_for(&path, rank, 4.0, pairs);
        let ids = random_prompt(vocab, 5 + n as u64);
        let run = |format: WeightFormat| {
            logprobs(
                &Model::load_merged(&path, &cpu(), Some(format), &adapter).unwrap(),
                &ids,
            )
        };
        let plain = logprobs(
            &Model::load_with_format(&path, &cpu(), Some(WeightFormat::F32)).unwrap(),
            &ids,
        );
        let (merged, beside) = (run(WeightFormat::F32), run(WeightFormat::Quantized));
        let (moved, apart) = (max_gap(&merged, &plain), max_gap(&merged, &beside));
        eprintln!("{} with f32 weights: the adapter moves {moved:.3}; merged and beside within {apart:.1e}", spec.name);
        assert!(
            moved > 0.1,
            "{}: the adapter barely moves the model ({moved})",
            spec.name
        );
        assert!(
            apart < 1e-4,
            "{}: merged and beside differ by {apart}",
            spec.name
        );
    }
}

/// The vocabulary-only GGUFs llama.cpp ships for its tokenizer tests.
fn vocab_gguf(name: &str) -> std::path::PathBuf {
    let path = Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("target/llama-ref/src/models")
        .join(format!("ggml-vocab-{name}.gguf"));
    assert!(
        path.is_file(),
        "{} is missing: run `scripts/llama-ref build` (just test does)",
        path.display()
    );
    path
}

/// The Llama 3 and Qwen2 vocabularies (byte-level BPE with their own
/// pre-tokenizer regexes) tokenize as llama.cpp does: a shared text of
/// code, prose in several scripts, emoji, digits and chat markers against
/// `llama-tokenize` on the same file, and llama.cpp's own tokenizer test
/// cases for each vocabulary (`ggml-vocab-*.gguf.inp` and `.out`).
#[test]
fn family_vocabularies_tokenize_as_llama_cpp() {
    let reference: serde_json::Value = serde_json::from_str(
        &std::fs::read_to_string(
            Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/tokenizer_reference.json"),
        )
        .unwrap(),
    )
    .unwrap();
    let text = reference["text"].as_str().unwrap();
    let dir = tempfile::tempdir().unwrap();
    let text_file = dir.path().join("text.txt");
    std::fs::write(&text_file, text).unwrap();
    for name in ["llama-bpe", "qwen2"] {
        let path = vocab_gguf(name);
        let vocabulary =
            rca::model::Vocabulary::from_gguf(&path).unwrap_or_else(|e| panic!("{name}: {e}"));
        let output = std::process::Command::new(common::parity::llama_bin("llama-tokenize"))
            .arg("-m")
            .arg(&path)
            .arg("-f")
            .arg(&text_file)
            .args(["--ids", "--no-escape", "--log-disable"])
            .output()
            .unwrap();
        assert!(output.status.success(), "{name}: llama-tokenize failed");
        let stdout = String::from_utf8_lossy(&output.stdout);
        let theirs: Vec<u32> = serde_json::from_str(stdout.trim().lines().last().unwrap())
            .unwrap_or_else(|e| panic!("{name}: {e}: {stdout}"));
        let ours = vocabulary.encode(text).unwrap();
        assert_eq!(ours, theirs, "{name} ({})", vocabulary.description());

        let inputs = std::fs::read_to_string(path.with_extension("gguf.inp")).unwrap();
        let outputs = std::fs::read_to_string(path.with_extension("gguf.out")).unwrap();
        // Each case ends with the separator line.
        let inputs: Vec<&str> = inputs.split("\n__ggml_vocab_test__\n").collect();
        let inputs = &inputs[..inputs.len() - 1];
        let outputs: Vec<&str> = outputs.lines().collect();
        assert_eq!(
            inputs.len(),
            outputs.len(),
            "{name}: .inp and .out disagree"
        );
        for (input, expected) in inputs.iter().zip(&outputs) {
            let expected: Vec<u32> = expected
                .split_whitespace()
                .map(|id| id.parse().unwrap())
                .collect();
            assert_eq!(
                vocabulary.encode_plain(input).unwrap(),
                expected,
                "{name}: {input:?}"
            );
        }
        eprintln!(
            "{name}: {} shared-text tokens and {} test cases agree",
            ours.len(),
            inputs.len()
        );
    }
}
