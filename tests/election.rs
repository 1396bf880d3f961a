//! The model election end to end with the real embedded model
//! (models/SmolLM2-135M-Instruct.Q4_1.gguf, installed by `models/fetch`).

mod common;
use common::*;

fn model_path() -> std::path::PathBuf {
    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("models/SmolLM2-135M-Instruct.Q4_1.gguf");
    assert!(path.exists(), "run models/fetch first (just test does)");
    path
}

#[test]
fn election_puts_the_fixture_culprit_in_the_top_five_deterministically() {
    let fixture = build("codeowners-monorepo", true);
    let dump = fixture.dir.path().join("prompts");
    let args = [
        "--format",
        "json",
        "--ranker",
        "llm",
        "--dump-prompts",
        dump.to_str().unwrap(),
    ];
    let output = fixture.run(&args);
    let report = success_json(&output);
    assert_eq!(report["ranker"], "llm");
    assert!(
        report["model"]["architecture"] == "llama",
        "{}",
        report["model"]
    );
    let ids = suspect_ids(&report);
    assert!(
        ids.contains(&fixture.culprit),
        "culprit {} not in {ids:?}",
        fixture.culprit
    );
    // Every suspect went through the election.
    for suspect in report["suspects"].as_array().unwrap() {
        assert!(
            !suspect["rounds"].as_array().unwrap().is_empty(),
            "{suspect}"
        );
    }
    // The prompts were written with their label log-probabilities.
    let manifest: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dump.join("manifest.json")).unwrap()).unwrap();
    assert!(manifest["model"]["path"]
        .as_str()
        .unwrap()
        .ends_with(".gguf"));
    let batch: serde_json::Value =
        serde_json::from_slice(&std::fs::read(dump.join("batch-0001.json")).unwrap()).unwrap();
    let logprobs = batch["label_logprobs"].as_array().unwrap();
    assert_eq!(logprobs.len(), batch["commits"].as_array().unwrap().len());
    assert!(logprobs.iter().all(|l| l.as_f64().unwrap() < 0.0));
    assert!(batch["prompt"]
        .as_str()
        .unwrap()
        .ends_with("The change that caused this incident is ("));

    // Same input, same ranking and scores.
    let again = json(&fixture.run(&args));
    assert_eq!(report["suspects"], again["suspects"]);
}

#[test]
fn the_instruct_the_model_commit_stays_out_of_an_unrelated_top_five() {
    let fixture = build("hostile-repo", true);
    let output = fixture.run(&[
        "--format",
        "json",
        "--ranker",
        "llm",
        "--candidates",
        "1000",
        "--elect",
        "1000",
    ]);
    let report = success_json(&output);
    assert_injection_not_suspected(&report);
    // It was judged, not filtered out before the model saw it.
    assert!(report["window"]["commits"].as_u64().unwrap() <= 1000);
}

#[test]
fn model_problems_are_one_line_errors_with_exit_code_4() {
    let fixture = build("tiny", true);
    let dir = tempfile::tempdir().unwrap();

    let missing = dir.path().join("missing.gguf");
    let output = fixture.run(&["--ranker", "llm", "--model", missing.to_str().unwrap()]);
    assert_one_line_error(&output, 4, "not found");

    let not_gguf = dir.path().join("notes.gguf");
    std::fs::write(&not_gguf, "these are not weights\n".repeat(100)).unwrap();
    let output = fixture.run(&["--ranker", "llm", "--model", not_gguf.to_str().unwrap()]);
    assert_one_line_error(&output, 4, "not a GGUF");

    let truncated = dir.path().join("truncated.gguf");
    let bytes = std::fs::read(model_path()).unwrap();
    std::fs::write(&truncated, &bytes[..1 << 20]).unwrap();
    let output = fixture.run(&["--ranker", "llm", "--model", truncated.to_str().unwrap()]);
    assert_one_line_error(&output, 4, "truncated");

    let output = fixture.run(&["--ranker", "llm", "--model", "hf:nobody/nothing/none.gguf"]);
    assert_one_line_error(&output, 4, "not in the local cache");

    let output = fixture.run(&["--ranker", "llm", "--device", "tpu"]);
    assert_one_line_error(&output, 2, "unknown device");
}
