//! LoRA training against the real default model
//! (`models/SmolLM2-135M-Instruct.Q4_1.gguf`, installed by `models/fetch`):
//! the training forward pass equals the inference path, its checkpointed
//! gradients equal finite differences, adapters round-trip and are refused
//! when they do not fit, a merged adapter scores exactly like the training
//! pass, and a tiny run teaches the judge its culprits.

mod common;

use common::{ctrl_c, spawn_rca};
use std::path::PathBuf;
use std::sync::{Mutex, OnceLock};

use candle_core::{Device, Tensor, Var};
use rca::cases::Facts;
use rca::history::{Commit, FileChange};
use rca::model::adapter::Adapter;
use rca::model::{default_model_path, DeviceChoice, LoadOptions, Model, ModelError, WeightFormat};
use rca::rank::llm::{batch_tokens, label_tokens, LlmJudge};
use rca::rank::{elect, ElectionOptions};
use rca::retrieve::{Candidate, NUM_FEATURES};
use rca::train::{Example, Lora, LoraConfig, Rng, TrainConfig, TrainNet, Trainer};

fn model_path() -> PathBuf {
    default_model_path().expect("the default model is missing: run models/fetch")
}

fn cpu() -> LoadOptions {
    LoadOptions {
        device: DeviceChoice::Cpu,
        threads: None,
        tokenizer: None,
    }
}

/// The inference model (f32 weights), shared by the tests.
fn model() -> &'static Model {
    static MODEL: OnceLock<Model> = OnceLock::new();
    MODEL.get_or_init(|| Model::load(&model_path(), &cpu()).expect("the default model loads"))
}

/// The training network, shared by the tests.
fn net() -> &'static TrainNet {
    static NET: OnceLock<TrainNet> = OnceLock::new();
    NET.get_or_init(|| TrainNet::load(&model_path(), &Device::Cpu).expect("the training net loads"))
}

/// The real-model tests run one at a time: on two cores, running them side
/// by side only makes each slower.
fn serial() -> std::sync::MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|e| e.into_inner())
}

const UNTIL: i64 = 1_700_000_000;

fn candidate(id: usize, subject: &str, path: &str, hours_ago: i64) -> Candidate {
    Candidate {
        commit: Commit {
            id: format!("{id:040x}"),
            author: "dev".into(),
            email: "dev@example.org".into(),
            authored_at: UNTIL - hours_ago * 3600,
            committed_at: UNTIL - hours_ago * 3600,
            landed_at: UNTIL - hours_ago * 3600,
            subject: subject.into(),
            body: String::new(),
            files: vec![FileChange {
                path: path.into(),
                old_path: None,
                added: 12,
                removed: 3,
                binary: false,
                missing: false,
            }],
            diff: Default::default(),
            merged_by: None,
        },
        features: [0.0; NUM_FEATURES],
        score: 0.0,
        prior: 0.2,
        evidence: Default::default(),
    }
}

/// Three short incidents of five changes each; the culprit is not in slot A.
#[allow(clippy::type_complexity)]
fn examples() -> Vec<Example> {
    let fields: [(&str, [(&str, &str); 5], usize); 3] = [
        (
            "checkout latency doubled",
            [
                ("docs: fix typo", "README.md"),
                ("ci: bump runner", ".ci/build.yml"),
                ("checkout: rewrite payment retries", "src/checkout.rs"),
                ("i18n: update French", "po/fr.po"),
                ("tests: add case", "tests/a.rs"),
            ],
            2,
        ),
        (
            "login fails for all users",
            [
                ("build: tidy flags", "Makefile"),
                ("auth: rewrite session cookies", "src/auth.rs"),
                ("docs: add FAQ", "docs/faq.md"),
                ("ui: new colors", "web/style.css"),
                ("deps: bump serde", "Cargo.lock"),
            ],
            1,
        ),
        (
            "disk fills up on workers",
            [
                ("docs: fix link", "docs/index.md"),
                ("ui: spacing", "web/app.css"),
                ("tests: flaky fix", "tests/b.rs"),
                ("logs: rewrite log rotation", "src/log.rs"),
                ("ci: cache", ".ci/cache.yml"),
            ],
            3,
        ),
    ];
    fields
        .iter()
        .enumerate()
        .map(|(e, (title, changes, culprit))| Example {
            case: String::new(),
            facts: Facts {
                title: title.to_string(),
                ..Facts::default()
            },
            until: UNTIL,
            candidates: changes
                .iter()
                .enumerate()
                .map(|(i, (s, p))| candidate(e * 10 + i, s, p, 2 + i as i64))
                .collect(),
            culprit: *culprit,
        })
        .collect()
}

/// A longer prompt (eight changes, over one 256-token chunk).
fn long_tokens() -> Vec<u32> {
    let batch: Vec<Candidate> = (0..8)
        .map(|i| {
            candidate(
                i,
                &format!("net/mlx5: fix Rx queue stall in ring {i} when the port restarts"),
                &format!("drivers/net/mlx5/mlx5_rxq_{i}.c"),
                i as i64 + 1,
            )
        })
        .collect();
    let refs: Vec<&Candidate> = batch.iter().collect();
    let facts = Facts {
        title: "packet loss on mlx5 ports after upgrade".into(),
        impact: Some("edge routers drop 2% of packets".into()),
        ..Facts::default()
    };
    let tokens = batch_tokens(model(), &facts, UNTIL, &refs).unwrap();
    assert!(tokens.len() > 256, "{} tokens", tokens.len());
    tokens
}

/// Full-vocabulary log-softmax of logits, in f64.
fn log_softmax(logits: &[f32]) -> Vec<f64> {
    let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max) as f64;
    let log_z = max
        + logits
            .iter()
            .map(|&l| (l as f64 - max).exp())
            .sum::<f64>()
            .ln();
    logits.iter().map(|&l| l as f64 - log_z).collect()
}

fn max_abs_diff(a: &[f64], b: &[f32]) -> f64 {
    assert_eq!(a.len(), b.len());
    a.iter()
        .zip(b)
        .map(|(x, &y)| (x - y as f64).abs())
        .fold(0.0, f64::max)
}

/// An adapter with every B factor random (non-zero), deterministic.
fn random_lora(config: &LoraConfig, magnitude: f64) -> Lora {
    let lora = net().new_lora(config).unwrap();
    let mut rng = Rng::new(42);
    for (_, b) in lora.pairs.values() {
        let n = b.elem_count();
        let v: Vec<f32> = (0..n)
            .map(|_| ((rng.next_f64() * 2.0 - 1.0) * magnitude) as f32)
            .collect();
        b.set(&Tensor::from_vec(v, b.dims(), &Device::Cpu).unwrap())
            .unwrap();
    }
    lora
}

#[test]
fn training_forward_with_zero_lora_equals_inference() {
    let _guard = serial();
    let tokens = long_tokens();
    let vocab: Vec<u32> = (0..model().vocab_size() as u32).collect();
    let inference = model().next_token_logprobs(None, &tokens, &vocab).unwrap();
    let lora = net().new_lora(&LoraConfig::default()).unwrap();
    let training = log_softmax(&net().logits(&tokens, Some(&lora)).unwrap());
    let diff = max_abs_diff(&training, &inference);
    assert!(diff < 1e-3, "max |Δ logprob| = {diff}");
    // And the label log-probabilities, which the election reads.
    let labels = label_tokens(model()).unwrap();
    for &l in &labels {
        assert!((training[l as usize] - inference[l as usize] as f64).abs() < 1e-3);
    }
}

#[test]
fn merged_adapter_equals_training_forward() {
    let _guard = serial();
    let tokens = long_tokens();
    let lora = random_lora(&LoraConfig::default(), 0.05);
    let training = log_softmax(&net().logits(&tokens, Some(&lora)).unwrap());
    let base = log_softmax(&net().logits(&tokens, None).unwrap());
    let moved = base
        .iter()
        .zip(&training)
        .map(|(a, b)| (a - b).abs())
        .fold(0.0, f64::max);
    assert!(
        moved > 0.05,
        "the adapter should change the output ({moved})"
    );
    let merged = Model::load_merged(
        &model_path(),
        &cpu(),
        None,
        &net().to_adapter(&lora).unwrap(),
    )
    .unwrap();
    assert!(
        merged.info().weights.contains("LoRA"),
        "{}",
        merged.info().weights
    );
    let vocab: Vec<u32> = (0..merged.vocab_size() as u32).collect();
    let inference = merged.next_token_logprobs(None, &tokens, &vocab).unwrap();
    let diff = max_abs_diff(&training, &inference);
    assert!(diff < 1e-3, "max |Δ logprob| = {diff}");
}

#[test]
fn checkpointed_gradients_equal_finite_differences() {
    let _guard = serial();
    // A short prompt, every layer adapted, on q, v and the MLP's down
    // projection; B non-zero so that A gets gradients too.
    let example = &examples()[0];
    let order: Vec<usize> = (0..example.candidates.len()).collect();
    let refs: Vec<&Candidate> = example.candidates.iter().collect();
    let tokens = batch_tokens(model(), &example.facts, UNTIL, &refs).unwrap();
    let labels = &label_tokens(model()).unwrap()[..order.len()];
    let config = LoraConfig {
        targets: vec!["q".into(), "v".into(), "down".into()],
        ..LoraConfig::default()
    };
    let lora = random_lora(&config, 0.02);
    let mut small = TrainNet::load(&model_path(), &Device::Cpu).unwrap();
    // One layer per segment: the most recomputation, the most to get wrong.
    small.set_graph_budget(1);
    let (out, grads) = small.step(&tokens, labels, example.culprit, &lora).unwrap();
    let (out_full, grads_full) = net().step(&tokens, labels, example.culprit, &lora).unwrap();
    assert!((out.loss - out_full.loss).abs() < 1e-5);
    assert_eq!(grads.len(), lora.pairs.len());
    for (name, (a, b)) in &grads {
        let (fa, fb) = &grads_full[name];
        for (x, y) in [(a, fa), (b, fb)] {
            let d: f32 = (x - y)
                .unwrap()
                .abs()
                .unwrap()
                .flatten_all()
                .unwrap()
                .max(0)
                .unwrap()
                .to_scalar()
                .unwrap();
            assert!(d < 1e-4, "{name}: segmenting changed the gradient by {d}");
        }
    }
    // The reference path (plain candle ops only) agrees with the fused one.
    let mut reference = TrainNet::load(&model_path(), &Device::Cpu).unwrap();
    reference.set_fused(false);
    let (out_ref, grads_ref) = reference
        .step(&tokens, labels, example.culprit, &lora)
        .unwrap();
    assert!(
        (out.loss - out_ref.loss).abs() < 1e-4,
        "{} vs {}",
        out.loss,
        out_ref.loss
    );
    // A directional derivative along a random direction over all factors.
    let mut rng = Rng::new(7);
    let directions: Vec<(String, Tensor, Tensor)> = lora
        .pairs
        .iter()
        .map(|(name, (a, b))| {
            let mut dir = |t: &Var| {
                let v: Vec<f32> = (0..t.elem_count())
                    .map(|_| (rng.next_f64() * 2.0 - 1.0) as f32)
                    .collect();
                Tensor::from_vec(v, t.dims(), &Device::Cpu).unwrap()
            };
            (name.clone(), dir(a), dir(b))
        })
        .collect();
    let dot = |g: &std::collections::BTreeMap<String, (Tensor, Tensor)>| -> f64 {
        directions
            .iter()
            .map(|(name, da, db)| {
                let (ga, gb) = &g[name];
                let s = |x: &Tensor, y: &Tensor| -> f64 {
                    (x * y)
                        .unwrap()
                        .sum_all()
                        .unwrap()
                        .to_scalar::<f32>()
                        .unwrap() as f64
                };
                s(ga, da) + s(gb, db)
            })
            .sum()
    };
    let analytic = dot(&grads);
    let analytic_ref = dot(&grads_ref);
    let eps = 1e-3;
    let loss_at = |sign: f64| -> f64 {
        let moved = net().new_lora(&config).unwrap();
        for (name, da, db) in &directions {
            let (a, b) = &lora.pairs[name];
            let (ma, mb) = &moved.pairs[name];
            ma.set(&(a.as_tensor() + (da * (sign * eps)).unwrap()).unwrap())
                .unwrap();
            mb.set(&(b.as_tensor() + (db * (sign * eps)).unwrap()).unwrap())
                .unwrap();
        }
        let lp = net().label_logprobs(&tokens, labels, Some(&moved)).unwrap();
        -(lp[example.culprit] as f64)
    };
    let numeric = (loss_at(1.0) - loss_at(-1.0)) / (2.0 * eps);
    let tolerance = 0.02 * numeric.abs().max(analytic.abs()) + 1e-3;
    assert!(
        (analytic - numeric).abs() < tolerance,
        "analytic {analytic} vs numeric {numeric}"
    );
    assert!(
        (analytic_ref - numeric).abs() < tolerance,
        "reference analytic {analytic_ref} vs numeric {numeric}"
    );
}

#[test]
fn adapter_files_round_trip_bit_exactly_and_bad_ones_are_refused() {
    let _guard = serial();
    let dir = tempfile::tempdir().unwrap();
    let lora = random_lora(&LoraConfig::default(), 0.05);
    let adapter = net().to_adapter(&lora).unwrap();
    let path = dir.path().join("judge.safetensors");
    adapter.save(&path).unwrap();
    let loaded = Adapter::load(&path).unwrap();
    assert_eq!(loaded.meta, adapter.meta);
    assert_eq!(loaded.meta.targets, vec!["q".to_string(), "v".to_string()]);
    assert_eq!(
        loaded.pairs.keys().collect::<Vec<_>>(),
        adapter.pairs.keys().collect::<Vec<_>>()
    );
    let bits = |t: &Tensor| -> Vec<u32> {
        t.flatten_all()
            .unwrap()
            .to_vec1::<f32>()
            .unwrap()
            .iter()
            .map(|v| v.to_bits())
            .collect()
    };
    for (name, (a, b)) in &adapter.pairs {
        let (la, lb) = &loaded.pairs[name];
        assert_eq!(la.dims(), a.dims());
        assert_eq!(bits(la), bits(a), "{name} A");
        assert_eq!(bits(lb), bits(b), "{name} B");
    }

    // Another base model: refused, with an adapter error, not a panic.
    let mut foreign = adapter.clone();
    foreign.meta.base_fingerprint = "0123456789abcdef".into();
    let err = Model::load_merged(&model_path(), &cpu(), None, &foreign)
        .err()
        .unwrap();
    assert!(matches!(err, ModelError::Adapter(_)), "{err:?}");
    assert!(err.to_string().contains("trained on"), "{err}");
    let foreign_path = dir.path().join("foreign.safetensors");
    foreign.save(&foreign_path).unwrap();
    let err = Model::load_with_adapter(&model_path(), &cpu(), Some(&foreign_path))
        .err()
        .unwrap();
    assert!(matches!(err, ModelError::Adapter(_)), "{err:?}");

    // Shapes that do not fit the model's weights.
    let mut misshapen = adapter.clone();
    let (a, _) = misshapen.pairs["blk.0.attn_q.weight"].clone();
    let wide = Tensor::zeros((999, 8), candle_core::DType::F32, &Device::Cpu).unwrap();
    misshapen
        .pairs
        .insert("blk.0.attn_q.weight".into(), (a, wide));
    let err = Model::load_merged(&model_path(), &cpu(), None, &misshapen)
        .err()
        .unwrap();
    assert!(matches!(err, ModelError::Adapter(_)), "{err:?}");

    // A weight the model does not have.
    let mut extra = adapter.clone();
    let pair = extra.pairs["blk.0.attn_q.weight"].clone();
    extra.pairs.insert("blk.99.attn_q.weight".into(), pair);
    let err = Model::load_merged(&model_path(), &cpu(), None, &extra)
        .err()
        .unwrap();
    assert!(err.to_string().contains("blk.99"), "{err}");

    // Beside quantized weights, the same checks.
    let err = Model::load_merged(
        &model_path(),
        &cpu(),
        Some(WeightFormat::Quantized),
        &misshapen,
    )
    .err()
    .unwrap();
    assert!(matches!(err, ModelError::Adapter(_)), "{err:?}");

    // Files that are not adapters.
    let junk = dir.path().join("junk.safetensors");
    std::fs::write(&junk, b"not a safetensors file").unwrap();
    assert!(matches!(Adapter::load(&junk), Err(ModelError::Adapter(_))));
    assert!(matches!(
        Adapter::load(&dir.path().join("missing.safetensors")),
        Err(ModelError::Adapter(_))
    ));
}

/// Rank (0 = first) of the culprit in an election over each example's
/// candidates, judged by `model` in the given slot order.
fn election_ranks(model: Model, examples: &[Example]) -> Vec<usize> {
    let mut judge = LlmJudge::new(model, None).unwrap();
    // One batch, one vote in the given order, one finalist: the judge alone
    // decides (the priors are equal).
    let options = ElectionOptions {
        model_weight: 1.0,
        top: 1,
        votes: 1,
        ..ElectionOptions::default()
    };
    examples
        .iter()
        .map(|example| {
            let suspects = elect(
                example.candidates.clone(),
                &example.facts,
                example.until,
                &mut judge,
                &options,
                &mut (),
            )
            .unwrap();
            let culprit = &example.candidates[example.culprit].commit.id;
            suspects
                .iter()
                .position(|s| &s.candidate.commit.id == culprit)
                .unwrap()
        })
        .collect()
}

#[test]
fn a_tiny_training_run_teaches_the_judge_its_culprits() {
    let _guard = serial();
    let dir = tempfile::tempdir().unwrap();
    let examples = examples();
    let config = TrainConfig {
        lora: LoraConfig {
            // The top layers only: the backward pass stops there, which
            // keeps this test short on two cores.
            top_layers: Some(4),
            ..LoraConfig::default()
        },
        learning_rate: 5e-3,
        accumulate: 1,
        epochs: 4,
        checkpoint: Some(dir.path().join("ckpt.safetensors")),
        checkpoint_every: 5,
        // Fixed slots: twelve steps are enough to learn three answers, not
        // to learn to read changes in any order (that takes real data; see
        // docs/training.md). The permutations have their own unit tests.
        permute: false,
        ..TrainConfig::default()
    };
    let mut trainer = Trainer::new(&model_path(), &config).unwrap();
    let identity: Vec<usize> = (0..5).collect();
    let before: Vec<f32> = examples
        .iter()
        .map(|e| trainer.evaluate(e, &identity).unwrap()[e.culprit])
        .collect();
    let ranks_before = election_ranks(Model::load(&model_path(), &cpu()).unwrap(), &examples);
    let mut calls = 0;
    let report = trainer
        .run(&examples, &mut |p| {
            calls += 1;
            eprintln!(
                "step {}: loss {:.3} at {:.1} s",
                p.step, p.loss, p.elapsed_s
            );
        })
        .unwrap();
    let steps = 3 * config.epochs;
    assert_eq!(report.steps, steps);
    assert_eq!(calls, steps);
    assert_eq!(report.losses.len(), steps);
    let first: f32 = report.losses[..3].iter().map(|p| p.loss).sum::<f32>() / 3.0;
    let last: f32 = report.losses[steps - 3..]
        .iter()
        .map(|p| p.loss)
        .sum::<f32>()
        / 3.0;
    eprintln!("loss {first} -> {last}");
    assert!(
        last < first * 0.8,
        "loss {first} -> {last}: {:?}",
        report.losses
    );
    let after: Vec<f32> = examples
        .iter()
        .map(|e| trainer.evaluate(e, &identity).unwrap()[e.culprit])
        .collect();
    for (b, a) in before.iter().zip(&after) {
        assert!(a > b, "culprit log-probability {b} -> {a}");
    }
    // The merged adapter in the election: every culprit wins.
    let adapter_path = dir.path().join("judge.safetensors");
    trainer.adapter().unwrap().save(&adapter_path).unwrap();
    let ranks_after = election_ranks(
        Model::load_with_adapter(&model_path(), &cpu(), Some(&adapter_path)).unwrap(),
        &examples,
    );
    eprintln!("before {before:?} {ranks_before:?} after {after:?} {ranks_after:?}");
    assert!(
        ranks_after.iter().zip(&ranks_before).all(|(a, b)| a <= b)
            && ranks_after.iter().sum::<usize>() < ranks_before.iter().sum::<usize>(),
        "culprit ranks {ranks_before:?} -> {ranks_after:?}"
    );
    // The checkpoint resumes where the run stopped: nothing is left to do.
    let mut resumed = Trainer::new(&model_path(), &config).unwrap();
    assert_eq!(resumed.steps(), steps);
    let report = resumed.run(&examples, &mut |_| {}).unwrap();
    assert_eq!(report.steps, steps);
    assert_eq!(report.resumed_at, steps);
}

#[test]
fn ctrl_c_stops_fine_tuning_at_a_checkpoint_that_resumes() {
    let _guard = serial();
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("examples.jsonl");
    rca::train::examples::save(&file, &examples()).unwrap();
    let out = dir.path().join("out");
    let model = model_path();
    let child = spawn_rca(&[
        "train".as_ref(),
        "--examples".as_ref(),
        file.as_os_str(),
        "--until".as_ref(),
        "2030-01-01".as_ref(),
        "--lora-top-layers".as_ref(),
        "2".as_ref(),
        "--lora-epochs".as_ref(),
        "1000".as_ref(),
        "--lora-accumulate".as_ref(),
        "1".as_ref(),
        "--model".as_ref(),
        model.as_os_str(),
        "--out".as_ref(),
        out.as_os_str(),
    ] as &[&std::ffi::OsStr]);
    // A thousand epochs take far longer than this.
    std::thread::sleep(std::time::Duration::from_secs(8));
    ctrl_c(&child);
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(130), "{stderr}");
    assert!(stderr.contains("the same command resumes it"), "{stderr}");
    let checkpoint = out.join("lora-checkpoint.safetensors");
    assert!(checkpoint.exists(), "no checkpoint: {stderr}");
}
