//! The model module against the real default model
//! (`models/SmolLM2-135M-Instruct.Q4_1.gguf`, installed by `models/fetch`):
//! loading, llama.cpp-exact tokenization, label tokens, prefix reuse,
//! determinism, and one-line errors for the bad files users will feed it.
//!
//! The model is small enough that these run in seconds with the dev profile
//! (dependencies are built with opt-level 3).

mod common;

use common::parity::{election_prompt, label_ids, parity_prompts, LABELS};

use std::path::{Path, PathBuf};
use std::sync::OnceLock;

use rca::model::{
    default_model_path, resolve, DeviceChoice, LoadOptions, Model, ModelError, WeightFormat,
};

fn model_path() -> PathBuf {
    default_model_path().expect("the default model is missing: run models/fetch")
}

/// One model shared by the tests (loading dequantizes 135M weights).
fn model() -> &'static Model {
    static MODEL: OnceLock<Model> = OnceLock::new();
    MODEL.get_or_init(|| {
        Model::load(
            &model_path(),
            &LoadOptions {
                device: DeviceChoice::Cpu,
                threads: None,
                tokenizer: None,
            },
        )
        .expect("the default model loads")
    })
}

#[test]
fn default_model_loads() {
    let model = model();
    let info = model.info();
    assert_eq!(info.architecture, "llama");
    assert_eq!(info.device, "cpu");
    assert!(info.weights.starts_with("Q4_1"), "{}", info.weights);
    assert_eq!(model.weight_format(), WeightFormat::F32);
    assert!(info.threads >= 1);
    assert!(info.file_size > 50_000_000);
    assert_eq!(model.context_length(), 8192);
    assert_eq!(model.vocab_size(), 49152);
    assert!(model.chat_template().unwrap_or("").contains("<|im_start|>"));
    // The struct is what `--explain` prints; it must serialize.
    let json = serde_json::to_string(info).unwrap();
    assert!(json.contains("\"architecture\":\"llama\""));
}

#[test]
fn tokenization_matches_llama_cpp() {
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/tokenizer_reference.json");
    let reference: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(data).unwrap()).unwrap();
    let text = reference["text"].as_str().unwrap();
    let expected: Vec<u32> = reference["ids"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v.as_u64().unwrap() as u32)
        .collect();
    let ids = model().encode(text).unwrap();
    if ids != expected {
        let first = ids.iter().zip(&expected).position(|(a, b)| a != b);
        panic!(
            "ids differ from llama.cpp's at index {first:?} (ours {} tokens, llama.cpp {}):\nours:   {:?}\nllama:  {:?}",
            ids.len(),
            expected.len(),
            &ids[first.unwrap_or(0).saturating_sub(3)..ids.len().min(first.unwrap_or(0) + 8)],
            &expected[first.unwrap_or(0).saturating_sub(3)..expected.len().min(first.unwrap_or(0) + 8)],
        );
    }
    // And back: decoding restores the text (special tokens included).
    assert_eq!(model().decode(&ids), text);
}

#[test]
fn a_tokenizer_json_can_replace_the_gguf_vocabulary() {
    let dir = tempfile::tempdir().unwrap();
    let json = dir.path().join("tokenizer.json");
    model().write_tokenizer_json(&json).unwrap();
    let opts = LoadOptions {
        tokenizer: Some(json.clone()),
        ..LoadOptions::default()
    };
    let other = Model::load(&model_path(), &opts).unwrap();
    assert!(other.info().tokenizer.contains("tokenizer.json"));
    let text = "<|im_start|>user\nCafé 2024: naïve 日本語 🚀 fn main() {}<|im_end|>\n";
    assert_eq!(other.encode(text).unwrap(), model().encode(text).unwrap());

    let missing = LoadOptions {
        tokenizer: Some(dir.path().join("absent.json")),
        ..LoadOptions::default()
    };
    let err = Model::load(&model_path(), &missing).err().unwrap();
    assert!(matches!(err, ModelError::Tokenizer(_)), "{err:?}");
    assert_one_line(&err);
}

#[test]
fn special_tokens_are_parsed_without_added_spaces() {
    let model = model();
    let ids = model.encode("<|im_start|>user\nHi<|im_end|>").unwrap();
    let im_start = model.single_token("<|im_start|>").unwrap();
    let im_end = model.single_token("<|im_end|>").unwrap();
    assert_eq!(ids.first(), Some(&im_start));
    assert_eq!(ids.last(), Some(&im_end));
    // "user" right after the special token, not " user".
    assert_eq!(model.decode(&ids[1..2]), "user");
    // Digit runs split into single digits.
    assert_eq!(model.encode("2024").unwrap().len(), 4);
}

#[test]
fn labels_are_single_tokens_after_the_answer_prefix() {
    let model = model();
    // Bare letters are what follows "(" in the prompt; all are single tokens.
    let bare = label_ids(model);
    let mut unique = bare.clone();
    unique.sort();
    unique.dedup();
    assert_eq!(unique.len(), 20);
    // With a space they are single tokens too (recorded here so that a
    // tokenizer change that breaks either form is caught).
    for label in LABELS {
        assert!(
            model.single_token(&format!(" {label}")).is_some(),
            "\" {label}\""
        );
    }
    // BPE does not merge "(" with the letter: prompt + "C" tokenizes as the
    // prompt's ids followed by the single id of "C".
    let prompt = election_prompt(model, 20);
    let base = model.encode(&prompt).unwrap();
    for (label, id) in LABELS.iter().zip(&bare) {
        let with = model.encode(&format!("{prompt}{label}")).unwrap();
        assert_eq!(&with[..base.len()], &base[..], "{label}");
        assert_eq!(&with[base.len()..], &[*id], "{label}");
    }
}

#[test]
fn chat_prompt_is_chatml_with_the_templates_default_system_turn() {
    let model = model();
    let prompt = model.chat_prompt(None, "hello");
    assert_eq!(
        prompt,
        "<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n<|im_start|>user\nhello<|im_end|>\n<|im_start|>assistant\n"
    );
    let prompt = model.chat_prompt(Some("Be brief."), "hello");
    assert!(prompt.starts_with("<|im_start|>system\nBe brief.<|im_end|>\n<|im_start|>user\nhello"));
}

#[test]
fn prefix_reuse_matches_a_full_run() {
    let model = model();
    // Just over one 256-token chunk, to cross a chunk boundary.
    let prompt = election_prompt(model, 4);
    let ids = model.encode(&prompt).unwrap();
    assert!(
        (257..400).contains(&ids.len()),
        "the prompt should span two chunks: {}",
        ids.len()
    );
    let candidates = label_ids(model);

    // The whole prompt in one go; with an empty suffix, a prefix scores the
    // next token after itself.
    let whole = model.prefix(&ids).unwrap();
    let full = model
        .next_token_logprobs(Some(&whole), &[], &candidates)
        .unwrap();
    // A split that is not a multiple of the chunk size.
    let split = ids.len() - 23;
    let prefix = model.prefix(&ids[..split]).unwrap();
    assert_eq!(prefix.len(), split);
    let reused = model
        .next_token_logprobs(Some(&prefix), &ids[split..], &candidates)
        .unwrap();
    for (a, b) in full.iter().zip(&reused) {
        assert!((a - b).abs() < 1e-3, "full {full:?}\nreused {reused:?}");
    }
    // The prefix is unchanged by use: a second suffix gives the same answer.
    let again = model
        .next_token_logprobs(Some(&prefix), &ids[split..], &candidates)
        .unwrap();
    assert_eq!(reused, again);

    // Sane values: log-probabilities, most mass on the labels after "(".
    assert!(full.iter().all(|&l| l <= 0.0 && l.is_finite()));
    let mass: f32 = full.iter().map(|l| l.exp()).sum();
    assert!(mass > 0.3, "label mass {mass}");
}

#[test]
fn logprobs_are_deterministic() {
    let model = model();
    let ids = model.encode(&election_prompt(model, 2)).unwrap();
    let candidates = label_ids(model);
    let first = model.next_token_logprobs(None, &ids, &candidates).unwrap();
    let second = model.next_token_logprobs(None, &ids, &candidates).unwrap();
    let bits = |v: &[f32]| v.iter().map(|x| x.to_bits()).collect::<Vec<_>>();
    assert_eq!(bits(&first), bits(&second));
    // And a run from scratch equals a prefix with an empty suffix.
    let prefix = model.prefix(&ids).unwrap();
    let third = model
        .next_token_logprobs(Some(&prefix), &[], &candidates)
        .unwrap();
    assert_eq!(bits(&first), bits(&third));
}

#[test]
fn a_thread_count_is_honoured_and_changes_nothing_but_speed() {
    let single = Model::load(
        &model_path(),
        &LoadOptions {
            threads: Some(1),
            ..LoadOptions::default()
        },
    )
    .unwrap();
    assert_eq!(single.info().threads, 1);
    let model = model();
    let ids = model.encode(&election_prompt(model, 1)).unwrap();
    let candidates = label_ids(model);
    let a = model.next_token_logprobs(None, &ids, &candidates).unwrap();
    let b = single.next_token_logprobs(None, &ids, &candidates).unwrap();
    for (x, y) in a.iter().zip(&b) {
        assert!((x - y).abs() < 1e-4, "{a:?}\n{b:?}");
    }
}

#[test]
fn quantized_weights_agree_with_f32() {
    let quantized = Model::load_with_format(
        &model_path(),
        &LoadOptions::default(),
        Some(WeightFormat::Quantized),
    )
    .unwrap();
    assert!(quantized.info().weights.contains("kept quantized"));
    let model = model();
    // Short: candle's Q4_1 kernel is scalar (model-notes.md).
    let prompt = model.chat_prompt(
        None,
        "Changes:\nA. fix typo in README\nB. rewrite the checkout payment path\nWhich change broke checkout?",
    ) + "The change that broke checkout is (";
    let ids = model.encode(&prompt).unwrap();
    let candidates = &label_ids(model)[..2];
    let a = model.next_token_logprobs(None, &ids, candidates).unwrap();
    let b = quantized
        .next_token_logprobs(None, &ids, candidates)
        .unwrap();
    // Q4_1 matmuls quantize activations to Q8_1; the top label must still
    // agree and the values stay close.
    let argmax = |v: &[f32]| (0..v.len()).max_by(|&i, &j| v[i].total_cmp(&v[j])).unwrap();
    assert_eq!(argmax(&a), argmax(&b), "{a:?}\n{b:?}");
    for (x, y) in a.iter().zip(&b) {
        assert!((x - y).abs() < 0.5, "{a:?}\n{b:?}");
    }
}

#[test]
fn bad_calls_are_errors_not_panics() {
    let model = model();
    let other = model.prefix(&[1, 2, 3]).unwrap();
    assert!(model.next_token_logprobs(None, &[], &[1]).is_err());
    assert!(model
        .next_token_logprobs(Some(&other), &[5], &[49152])
        .is_err());
    assert!(model.next_token_logprobs(None, &[60_000], &[1]).is_err());
    let too_long = vec![198u32; model.context_length() + 1];
    let err = model
        .next_token_logprobs(None, &too_long, &[1])
        .unwrap_err();
    assert!(err.to_string().contains("context"), "{err}");
}

// ---- bad model files -------------------------------------------------------

fn load(path: &Path) -> Result<Model, ModelError> {
    Model::load(path, &LoadOptions::default())
}

fn assert_one_line(err: &ModelError) {
    let text = err.to_string();
    assert!(!text.contains('\n'), "not one line: {text:?}");
    assert!(!text.is_empty());
}

#[test]
fn missing_model_is_missing() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("nope.gguf");
    let err = load(&path).err().unwrap();
    assert!(
        matches!(err, ModelError::Missing(ref p) if p == &path),
        "{err:?}"
    );
    assert_one_line(&err);
    assert!(matches!(
        resolve(path.to_str().unwrap(), false),
        Err(ModelError::Missing(_))
    ));
}

#[test]
fn random_bytes_are_not_gguf() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("random.gguf");
    // A fixed xorshift stream: "random", but the same on every run.
    let mut state = 0x9E37_79B9_7F4A_7C15u64;
    let bytes: Vec<u8> = (0..100_000)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state as u8
        })
        .collect();
    std::fs::write(&path, bytes).unwrap();
    let err = load(&path).err().unwrap();
    assert!(matches!(err, ModelError::NotGguf(_)), "{err:?}");
    assert_one_line(&err);

    std::fs::write(&path, b"").unwrap();
    assert!(matches!(load(&path).err().unwrap(), ModelError::NotGguf(_)));
    // A directory is not a GGUF either.
    assert!(matches!(
        load(dir.path()).err().unwrap(),
        ModelError::NotGguf(_)
    ));
}

#[test]
fn truncated_model_is_truncated() {
    let original = std::fs::read(model_path()).unwrap();
    let dir = tempfile::tempdir().unwrap();
    // Cut in the header (the first megabyte holds part of the vocabulary),
    // and cut in the tensor data.
    for (name, len) in [
        ("head.gguf", 1 << 20),
        ("tail.gguf", original.len() - 4096),
        ("magic-only.gguf", 4),
    ] {
        let path = dir.path().join(name);
        std::fs::write(&path, &original[..len]).unwrap();
        let err = load(&path).err().unwrap();
        assert!(matches!(err, ModelError::Truncated(_)), "{name}: {err:?}");
        assert_one_line(&err);
    }
}

#[test]
fn foreign_architecture_is_refused() {
    let dir = tempfile::tempdir().unwrap();

    // A small GGUF written with candle's writer, claiming to be GPT-2.
    use candle_core::quantized::{gguf_file, GgmlDType, QTensor};
    let path = dir.path().join("gpt2.gguf");
    let tensor = QTensor::quantize(
        &candle_core::Tensor::zeros((4, 32), candle_core::DType::F32, &candle_core::Device::Cpu)
            .unwrap(),
        GgmlDType::F32,
    )
    .unwrap();
    let arch = gguf_file::Value::String("gpt2".into());
    let mut file = std::fs::File::create(&path).unwrap();
    gguf_file::write(
        &mut file,
        &[("general.architecture", &arch)],
        &[("token_embd.weight", &tensor)],
    )
    .unwrap();
    drop(file);
    let err = load(&path).err().unwrap();
    assert!(
        matches!(err, ModelError::UnsupportedArchitecture(ref a) if a == "gpt2"),
        "{err:?}"
    );
    assert_one_line(&err);
    let text = err.to_string();
    assert!(text.contains("gpt2") && text.contains("llama"), "{text}");

    // The real model with its architecture string patched to "qwen3" (same
    // length, so every offset stays valid): a Llama-like block rca does not
    // run (it normalises queries and keys per head).
    let mut bytes = std::fs::read(model_path()).unwrap();
    let key = b"general.architecture";
    let at = bytes
        .windows(key.len())
        .position(|w| w == key)
        .expect("the key is in the header");
    // key, then u32 value type (8 = string), u64 length 5, then "llama".
    let value = at + key.len() + 4 + 8;
    assert_eq!(&bytes[value..value + 5], b"llama");
    bytes[value..value + 5].copy_from_slice(b"qwen3");
    let path = dir.path().join("qwen3.gguf");
    std::fs::write(&path, bytes).unwrap();
    let err = load(&path).err().unwrap();
    assert!(
        matches!(err, ModelError::UnsupportedArchitecture(ref a) if a == "qwen3"),
        "{err:?}"
    );
}

#[test]
fn uncached_hub_model_is_not_cached_and_offline() {
    // Nothing downloads without permission: the spec is looked up in the
    // local cache only.
    let spec = "hf:rca-tests-never-published/never-cached/model.Q4_0.gguf";
    let err = resolve(spec, false).unwrap_err();
    assert!(
        matches!(err, ModelError::NotCached(ref s) if s == spec),
        "{err:?}"
    );
    assert_one_line(&err);
    assert!(matches!(
        resolve("hf:only-an-owner", false),
        Err(ModelError::Other(_))
    ));
}

#[test]
fn device_choices_parse() {
    assert_eq!("auto".parse::<DeviceChoice>().unwrap(), DeviceChoice::Auto);
    assert_eq!("CPU".parse::<DeviceChoice>().unwrap(), DeviceChoice::Cpu);
    assert_eq!(
        "cuda".parse::<DeviceChoice>().unwrap(),
        DeviceChoice::Cuda(0)
    );
    assert_eq!(
        "cuda:3".parse::<DeviceChoice>().unwrap(),
        DeviceChoice::Cuda(3)
    );
    assert!("cuda:x".parse::<DeviceChoice>().is_err());
    assert!("tpu".parse::<DeviceChoice>().is_err());
    assert_eq!(DeviceChoice::Cuda(1).to_string(), "cuda:1");
}

#[test]
#[cfg(not(feature = "cuda"))]
fn cuda_without_the_feature_is_a_device_error() {
    let err = Model::load(
        &model_path(),
        &LoadOptions {
            device: DeviceChoice::Cuda(0),
            ..LoadOptions::default()
        },
    )
    .err()
    .unwrap();
    assert!(matches!(err, ModelError::Device(_)), "{err:?}");
    assert_one_line(&err);
}

/// rca's next-token log-probabilities agree with llama.cpp's on the same
/// GGUF (tests/data/logprob_reference.json, recorded by `just
/// parity-reference` with scripts/llama-logprobs.cpp, f32 KV cache, no
/// flash attention): the same most likely token, the same top-10 tokens,
/// and every top-10 and asked token within [`TOLERANCE`].
///
/// Why 0.25 nats: rca runs the Q4_1 weights dequantized to f32, llama.cpp
/// multiplies them against activations quantized to 8 bits, and on a
/// 1,063-token prompt through 30 layers that moves log-probabilities by
/// hundredths to tenths. Measured: the largest gap is 0.22 nats (a label at
/// rank 8), the top tokens agree within 0.03; llama.cpp itself moves by up
/// to 0.08 nats when only its KV cache goes from f16 to f32, and rca's own
/// quantized path (candle's Q4_1 × Q8_1 kernels) is as far from llama.cpp
/// as its f32 one (up to 0.17). A wrong forward pass (a RoPE variant, a
/// norm, a head split) moves them by whole nats and reorders the top 10.
const TOLERANCE: f32 = 0.25;

#[test]
fn next_token_logprobs_match_llama_cpp() {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/logprob_reference.json");
    let model = model();
    let prompts = parity_prompts(model);
    if let Ok(probe) = std::env::var("RCA_RECORD_LLAMA") {
        let mut records = Vec::new();
        for (name, prompt, asked) in &prompts {
            let ids = model.encode(prompt).unwrap();
            let reference =
                common::parity::llama_logprobs(Path::new(&probe), &model_path(), &ids, asked);
            records.push(serde_json::json!({
                "name": name, "prompt": prompt, "ids": ids,
                "top": reference["top"], "asked": reference["asked"],
            }));
        }
        let data = serde_json::json!({
            "llama_cpp": "llama-cpp-python 0.3.36 (scripts/llama-ref), AVX2/AVX-512, no AMX",
            "model": rca::model::DEFAULT_MODEL_FILE,
            "prompts": records,
        });
        std::fs::write(&path, serde_json::to_string_pretty(&data).unwrap() + "\n").unwrap();
    }
    let data: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(&path).unwrap()).unwrap();
    let records = data["prompts"].as_array().unwrap();
    assert_eq!(records.len(), prompts.len());
    let mut worst = 0f32;
    for ((name, prompt, asked), record) in prompts.iter().zip(records) {
        assert_eq!(
            record["prompt"].as_str().unwrap(),
            prompt,
            "{name}: the prompt changed; record again"
        );
        let ids = model.encode(prompt).unwrap();
        let expected_ids: Vec<u32> = record["ids"]
            .as_array()
            .unwrap()
            .iter()
            .map(|v| v.as_u64().unwrap() as u32)
            .collect();
        assert_eq!(ids, expected_ids, "{name}");
        let comparison = common::parity::compare(model, &ids, &record["top"], &record["asked"]);
        assert!(comparison.same_top10, "{name}: top-10 tokens differ");
        assert!(
            comparison.same_first,
            "{name}: the most likely token differs"
        );
        eprintln!("{name}: (token, rca, llama.cpp) {:?}", comparison.gaps);
        for &(id, ours, theirs) in &comparison.gaps {
            assert!(
                (ours - theirs).abs() < TOLERANCE,
                "{name}: token {id}: rca {ours} llama.cpp {theirs}"
            );
        }
        worst = worst.max(comparison.worst());
        assert_eq!(
            common::parity::pairs(&record["asked"])
                .iter()
                .map(|p| p.0)
                .collect::<Vec<_>>(),
            *asked
        );
    }
    eprintln!("largest log-probability gap to llama.cpp: {worst:.4} nats");
}

/// The fingerprint is remembered per path, size and modification time: a
/// file changed in place under the same path is fingerprinted again.
#[test]
fn a_changed_model_file_is_fingerprinted_again() {
    use rca::model::adapter::base_identity;
    use std::io::Write;
    let dir = tempfile::tempdir().unwrap();
    let copy = dir.path().join("copy.gguf");
    std::fs::copy(model_path(), &copy).unwrap();
    let first = base_identity(&copy).unwrap();
    assert_eq!(base_identity(&copy).unwrap(), first);
    assert_eq!(
        first.2,
        base_identity(&model_path()).unwrap().2,
        "same bytes"
    );
    // Same size, one letter of the organization's name in the header changed, and
    // a later modification time.
    let mut bytes = std::fs::read(&copy).unwrap();
    let at = bytes
        .windows(13)
        .position(|w| w == b"HuggingFaceTB")
        .expect("the header names the model");
    bytes[at] = b'T';
    std::fs::write(&copy, &bytes).unwrap();
    // (set, so that a coarse file-system clock cannot hide the change)
    let later =
        std::fs::metadata(&copy).unwrap().modified().unwrap() + std::time::Duration::from_secs(10);
    std::fs::File::options()
        .write(true)
        .open(&copy)
        .unwrap()
        .set_modified(later)
        .unwrap();
    let changed = base_identity(&copy).unwrap();
    assert_eq!(changed.1, first.1, "same size");
    assert_ne!(changed.2, first.2);
    // Grown: another size.
    std::fs::File::options()
        .append(true)
        .open(&copy)
        .unwrap()
        .write_all(&[0; 64])
        .unwrap();
    assert_eq!(base_identity(&copy).unwrap().1, first.1 + 64);
}
