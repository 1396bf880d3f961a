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
        "--judge",
        "election",
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
        "--judge",
        "election",
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
fn the_pointwise_judge_reads_each_change_and_stays_deterministic() {
    let fixture = build("codeowners-monorepo", true);
    let dump = fixture.dir.path().join("cards");
    let args = [
        "--format",
        "json",
        "--ranker",
        "llm",
        "--judge-head",
        "none",
        "--elect",
        "6",
        "--model-weight",
        "0.5",
        "--dump-prompts",
        dump.to_str().unwrap(),
    ];
    let output = fixture.run(&args);
    let report = success_json(&output);
    assert_eq!(report["ranker"], "llm");
    assert_eq!(report["model"]["pointwise"]["judge"], 6);
    assert_eq!(report["model"]["judge_head"]["trained"], false);
    // The six best candidates were read, one prompt each, and come first.
    let suspects = report["suspects"].as_array().unwrap();
    assert!(
        suspects.iter().all(|s| s["judge_score"].is_f64()),
        "{suspects:?}"
    );
    for n in 1..=6 {
        let card: serde_json::Value = serde_json::from_slice(
            &std::fs::read(dump.join(format!("change-{n:04}.json"))).unwrap(),
        )
        .unwrap();
        let prompt = card["prompt"].as_str().unwrap();
        assert!(prompt.contains("Subject: \""), "{prompt}");
        assert!(
            prompt.contains("Did this change cause the incident?"),
            "{prompt}"
        );
        let (yes, no) = (
            card["logprob_yes"].as_f64().unwrap(),
            card["logprob_no"].as_f64().unwrap(),
        );
        assert!(yes < 0.0 && no < 0.0);
        assert!((card["logodds"].as_f64().unwrap() - (yes - no)).abs() < 1e-4);
    }
    assert!(!dump.join("change-0007.json").exists());
    assert!(report["reproduce"]
        .as_str()
        .unwrap()
        .contains("--judge pointwise --elect 6 --model-weight 0.5"));
    let again = json(&fixture.run(&args));
    assert_eq!(report["suspects"], again["suspects"]);
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

#[test]
fn ctrl_c_ends_an_investigation_with_exit_code_130() {
    let fixture = build("codeowners-monorepo", true);
    let mut args = fixture.investigate_args();
    args.extend([
        "--ranker".into(),
        "llm".into(),
        "--elect".into(),
        "60".into(),
    ]);
    let child = spawn_rca(&args);
    // Loading the model and judging 60 changes takes seconds.
    std::thread::sleep(std::time::Duration::from_millis(700));
    ctrl_c(&child);
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(130), "{stderr}");
    assert!(stderr.trim_end().ends_with("rca: interrupted"), "{stderr}");
    assert!(output.stdout.is_empty(), "no partial report");
}

#[test]
fn ctrl_c_during_a_backtest_keeps_the_cases_it_streamed() {
    use std::io::BufRead as _;
    let fixture = build("codeowners-monorepo", true);
    // The fixture's case three times over, so that one finishes early.
    let text = std::fs::read_to_string(&fixture.cases_path).unwrap();
    let (head, case) = text.split_once("cases:\n").unwrap();
    let mut cases = format!("{head}cases:\n");
    for i in 0..3 {
        cases.push_str(&case.replacen("- id: ", &format!("- id: copy{i}-"), 1));
    }
    let path = fixture.dir.path().join("three.yaml");
    std::fs::write(&path, cases).unwrap();
    let mut child = spawn_rca(&[
        "backtest".as_ref(),
        "--cases".as_ref(),
        path.as_os_str(),
        "--repo".as_ref(),
        fixture.repo.as_os_str(),
        "--ranker".as_ref(),
        "llm".as_ref(),
        "--elect".as_ref(),
        "60".as_ref(),
        "--format".as_ref(),
        "jsonl".as_ref(),
    ] as &[&std::ffi::OsStr]);
    let mut stdout = std::io::BufReader::new(child.stdout.take().unwrap());
    let mut first = String::new();
    stdout.read_line(&mut first).unwrap();
    ctrl_c(&child);
    let mut rest = String::new();
    std::io::Read::read_to_string(&mut stdout, &mut rest).unwrap();
    let output = child.wait_with_output().unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(130), "{stderr}");
    let lines: Vec<&str> = std::iter::once(first.as_str())
        .chain(rest.lines())
        .filter(|l| !l.trim().is_empty())
        .collect();
    assert!(!lines.is_empty() && lines.len() < 3, "{lines:?}");
    for line in lines {
        let case: serde_json::Value = serde_json::from_str(line).expect("a whole JSON line");
        assert!(case["id"].as_str().unwrap().starts_with("copy"));
    }
}
