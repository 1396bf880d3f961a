//! `rca train`, the fusion part, on a repository built here with a planted regularity: every
//! culprit is a one-line change among larger ones, and nothing in the fix
//! titles names it. The hand-set fusion slightly favours larger changes; a
//! fusion learned from the repository's own fixes must learn the reverse.

mod common;

use common::{assert_one_line_error, rca, success_json};
use git2::{Repository, Signature, Time};
use std::path::Path;

const DAY: i64 = 86_400;
const START: i64 = 1_700_000_000; // 2023-11-14

/// 60 days, 6 commits a day; every other day up to day 48 one commit is a
/// one-line culprit, fixed two days and an hour later with a `Fixes:` trailer. Returns the
/// repository path and the time after the last commit.
fn build(dir: &Path) -> (std::path::PathBuf, i64) {
    let path = dir.join("repo");
    let repo = Repository::init_bare(&path).unwrap();
    let mut parent: Option<git2::Oid> = None;
    let mut culprits: Vec<(i64, String)> = Vec::new();
    let mut file_counter = 0usize;
    let words = [
        "cache",
        "parser",
        "scheduler",
        "logging",
        "metrics",
        "config",
        "router",
        "storage",
    ];
    for day in 0..60i64 {
        for slot in 0..6i64 {
            let time = START + day * DAY + slot * 3_600;
            let fixes: Vec<String> = culprits
                .iter()
                .filter(|(t, _)| *t + 2 * DAY + 3_600 == time)
                .map(|(_, id)| id.clone())
                .collect();
            let culprit = slot == 2 && day % 2 == 0 && day < 48;
            file_counter += 1;
            let word = words[(day as usize * 6 + slot as usize) % words.len()];
            let (subject, body, lines) = if let Some(id) = fixes.first() {
                (
                    format!("widget: fix crash number {day}"),
                    format!("The widget crashed on start.\n\nFixes: {}\n", &id[..12]),
                    60,
                )
            } else if culprit {
                (
                    format!("{word}: rework module {file_counter}"),
                    String::new(),
                    1,
                )
            } else {
                let lines = 20 + (file_counter * 37) % 200;
                (
                    format!("{word}: tidy module {file_counter}"),
                    String::new(),
                    lines,
                )
            };
            let content: String = (0..lines)
                .map(|i| format!("line {i} of {file_counter}\n"))
                .collect();
            let blob = repo.blob(content.as_bytes()).unwrap();
            let mut builder = match parent {
                Some(p) => repo
                    .treebuilder(Some(&repo.find_commit(p).unwrap().tree().unwrap()))
                    .unwrap(),
                None => repo.treebuilder(None).unwrap(),
            };
            builder
                .insert(format!("f{file_counter}.txt"), blob, 0o100644)
                .unwrap();
            let tree = repo.find_tree(builder.write().unwrap()).unwrap();
            let who = Signature::new("Dev", "dev@example.com", &Time::new(time, 0)).unwrap();
            let parents: Vec<git2::Commit> = parent
                .iter()
                .map(|p| repo.find_commit(*p).unwrap())
                .collect();
            let refs: Vec<&git2::Commit> = parents.iter().collect();
            let message = format!("{subject}\n\n{body}");
            let id = repo
                .commit(Some("refs/heads/main"), &who, &who, &message, &tree, &refs)
                .unwrap();
            if culprit {
                culprits.push((time, id.to_string()));
            }
            parent = Some(id);
        }
    }
    repo.set_head("refs/heads/main").unwrap();
    (path, START + 60 * DAY)
}

fn iso(secs: i64) -> String {
    rca::when::rfc3339(secs)
}

/// `rca investigate` on the built repository, window ending at `until`,
/// with the title "widget crash" and extra flags.
fn investigate(repo: &Path, until: i64, extra: &[&str]) -> std::process::Output {
    let until = iso(until);
    let mut args = vec![
        "investigate",
        "--repo",
        repo.to_str().unwrap(),
        "--title",
        "widget crash",
        "--since",
        "10d",
        "--until",
        &until,
    ];
    args.extend(extra);
    rca(&args)
}

#[test]
fn train_learns_the_planted_signal_and_keeps_out_cases_after_the_cut_off() {
    let dir = tempfile::tempdir().unwrap();
    let (repo, end) = build(dir.path());
    let until = end - 5 * DAY;
    // A given case that opened after the cut-off must be left out.
    let late = dir.path().join("late.yaml");
    let head = Repository::open(&repo)
        .unwrap()
        .revparse_single("main")
        .unwrap()
        .id();
    std::fs::write(
        &late,
        format!(
            "repo: test/late\ndefault_branch: main\ncases:\n  - id: late-1\n    title: widget crash\n    \
             opened_at: {}\n    since: {}\n    root_cause: {head}\n    source: hand-written\n",
            iso(end - DAY),
            iso(end - 20 * DAY)
        ),
    )
    .unwrap();
    let out = dir.path().join("trained");
    let groups = dir.path().join("groups.jsonl");
    let before = common::tree_hash(&repo);
    let manifest = success_json(&rca(&[
        "train",
        "--repo",
        repo.to_str().unwrap(),
        "--cases",
        late.to_str().unwrap(),
        "--until",
        &iso(until),
        "--since",
        &iso(START),
        "--out",
        out.to_str().unwrap(),
        "--save-groups",
        groups.to_str().unwrap(),
        "--format",
        "json",
    ]));
    assert_eq!(
        common::tree_hash(&repo),
        before,
        "training only reads the repository"
    );
    // The saved groups name each case's candidates; the culprit's index
    // points at a planted one-line culprit.
    let git = Repository::open(&repo).unwrap();
    let lines = std::fs::read_to_string(&groups).unwrap();
    let saved: Vec<serde_json::Value> = lines
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(saved.len(), manifest["cases"].as_array().unwrap().len());
    for (group, case) in saved.iter().zip(manifest["cases"].as_array().unwrap()) {
        assert_eq!(group["case"], case[0]);
        let ids = group["ids"].as_array().unwrap();
        let features = group["features"].as_array().unwrap();
        assert_eq!(ids.len(), features.len());
        assert!(features
            .iter()
            .all(|f| f.as_array().unwrap().len() == rca::retrieve::FEATURES.len()));
        let culprit = &ids[group["culprit"].as_u64().unwrap() as usize];
        let commit = git
            .find_commit(git2::Oid::from_str(culprit.as_str().unwrap()).unwrap())
            .unwrap();
        assert!(
            commit.summary().unwrap().contains("rework module"),
            "{group}"
        );
    }
    assert_eq!(manifest["excluded_after_until"], 1);
    let cases = manifest["cases"].as_array().unwrap();
    assert!(cases.len() >= 15, "{manifest}");
    for case in cases {
        assert_ne!(case[0], "late-1");
        let opened = rca::when::parse(case[1].as_str().unwrap(), 0).unwrap();
        assert!(opened < until, "{case}");
    }
    // The learned fusion finds the culprits out of fold far better than
    // the hand-set one: it learns that small changes are the suspects.
    let built_in = manifest["built_in"]["hit_at_5"].as_f64().unwrap();
    let fitted = manifest["fitted_out_of_fold"]["hit_at_5"].as_f64().unwrap();
    assert!(
        fitted > built_in + 0.3,
        "fitted {fitted} built-in {built_in}"
    );
    let fusion: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(out.join("fusion.yaml")).unwrap()).unwrap();
    // The fix titles are `widget: fix …`: the component regime learns it.
    let log_lines = fusion["weights"]["component"]["log_lines"].as_f64();
    assert!(log_lines.unwrap() < -1.0, "{fusion:?}");

    // investigate uses it with --fusion and says so.
    let fusion_path = out.join("fusion.yaml");
    let report = success_json(&investigate(
        &repo,
        end,
        &[
            "--fusion",
            fusion_path.to_str().unwrap(),
            "--format",
            "json",
        ],
    ));
    assert_ne!(report["fusion"], "built-in");
    assert!(report["reproduce"].as_str().unwrap().contains("--fusion"));
    // the shipped calibration belongs to the built-in fusion: not applied
    assert_eq!(report["calibrated"], false);
}

#[test]
fn train_refuses_bad_input_with_one_line_errors() {
    let dir = tempfile::tempdir().unwrap();
    let (repo, end) = build(dir.path());
    let out = dir.path().join("o");
    // nothing to learn from before the cut-off
    let output = rca(&[
        "train",
        "--repo",
        repo.to_str().unwrap(),
        "--until",
        &iso(START + DAY),
        "--since",
        &iso(START),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_one_line_error(&output, 3, "no training cases");
    // a file that could only be written after the replay fails at once:
    // a missing folder, or (on Linux) a folder that refuses new files,
    // even to root
    let missing = dir.path().join("no-such-folder").join("groups.jsonl");
    let mut unwritable = vec![("--save-groups", missing.to_str().unwrap(), "--save-groups")];
    if cfg!(target_os = "linux") {
        unwritable.push((
            "--save-examples",
            "/proc/rca-examples.jsonl",
            "cannot write",
        ));
    }
    for (flag, path, message) in unwritable {
        let output = rca(&[
            "train",
            "--repo",
            repo.to_str().unwrap(),
            "--out",
            out.to_str().unwrap(),
            flag,
            path,
        ]);
        assert_one_line_error(&output, 3, message);
        assert!(!out.join("train.json").exists(), "failed before training");
    }
    let output = rca(&[
        "train",
        "--repo",
        dir.path().to_str().unwrap(),
        "--out",
        out.to_str().unwrap(),
    ]);
    assert_one_line_error(&output, 3, "repository");
    let bad = dir.path().join("bad.yaml");
    std::fs::write(
        &bad,
        "schema: rca.fusion/1\nweights: {component: {text_bm25: 1}, symptom: {}}\ntemperature: 1\n",
    )
    .unwrap();
    let output = investigate(&repo, end, &["--fusion", bad.to_str().unwrap()]);
    assert_one_line_error(&output, 3, "no weight for feature");
    // the shipped fusion with one weight, then one lift, too large to score
    let shipped: serde_yaml::Value = serde_yaml::from_str(
        &std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("models/fusion.yaml"))
            .unwrap(),
    )
    .unwrap();
    let mut edited = shipped.clone();
    edited["weights"]["symptom"]["age_1d"] = 1e300.into();
    let mut lift = shipped.clone();
    let (_, lifts) = lift["associations"]
        .as_mapping_mut()
        .unwrap()
        .iter_mut()
        .next()
        .unwrap();
    let (_, first) = lifts.as_mapping_mut().unwrap().iter_mut().next().unwrap();
    *first = (-1e300).into();
    for (file, message) in [(edited, "weight of \"age_1d\""), (lift, "association")] {
        std::fs::write(&bad, serde_yaml::to_string(&file).unwrap()).unwrap();
        let output = investigate(&repo, end, &["--fusion", bad.to_str().unwrap()]);
        assert_one_line_error(&output, 3, message);
        assert!(String::from_utf8_lossy(&output.stderr).contains("within ±1000000"));
    }
}

/// `--lora` fine-tunes the real model on examples from the same replays
/// (tiny: three examples of four changes, the top two layers, one epoch),
/// writes the adapter, the loss log and plot, and `investigate --ranker
/// llm --adapter` loads it.
#[test]
fn train_lora_writes_an_adapter_that_investigate_loads() {
    let dir = tempfile::tempdir().unwrap();
    let (repo, end) = build(dir.path());
    let out = dir.path().join("trained");
    let saved = dir.path().join("examples.jsonl");
    let manifest = success_json(&rca(&[
        "train",
        "--repo",
        repo.to_str().unwrap(),
        "--until",
        &iso(end - 5 * DAY),
        "--since",
        &iso(START),
        "--out",
        out.to_str().unwrap(),
        "--lora",
        "--lora-examples",
        "3",
        "--lora-candidates",
        "4",
        "--lora-top-layers",
        "2",
        "--lora-epochs",
        "1",
        "--lora-accumulate",
        "1",
        "--save-examples",
        saved.to_str().unwrap(),
        "--format",
        "json",
    ]));
    let lora = &manifest["lora"];
    assert_eq!(lora["examples"], 3, "{manifest}");
    assert_eq!(lora["report"]["steps"], 3);
    assert_eq!(lora["report"]["losses"].as_array().unwrap().len(), 3);
    for file in ["adapter.safetensors", "loss.tsv", "loss.svg"] {
        assert!(out.join(file).is_file(), "{file}");
    }
    let adapter = out.join("adapter.safetensors");
    let report = success_json(&investigate(
        &repo,
        end,
        &[
            "--ranker",
            "llm",
            "--elect",
            "8",
            "--adapter",
            adapter.to_str().unwrap(),
            "--format",
            "json",
        ],
    ));
    assert_eq!(report["ranker"], "llm");
    assert!(report["reproduce"].as_str().unwrap().contains("--adapter"));

    // As models/adapter.safetensors (here the models/ of the working
    // folder) it is the default for the model it was trained on, and left
    // out for any other: a copy of the model with bytes appended is
    // another file to the adapter's fingerprint.
    let cwd = dir.path().join("cwd");
    std::fs::create_dir_all(cwd.join("models")).unwrap();
    std::fs::copy(&adapter, cwd.join("models/adapter.safetensors")).unwrap();
    let mut other = std::fs::read(rca::model::default_model_path().unwrap()).unwrap();
    other.extend_from_slice(&[0; 64]);
    let other_model = dir.path().join("other.gguf");
    std::fs::write(&other_model, other).unwrap();
    let until = iso(end);
    let run = |extra: &[&str]| {
        let cache = tempfile::tempdir().unwrap();
        let output = std::process::Command::new(env!("CARGO_BIN_EXE_rca"))
            .args([
                "investigate",
                "--repo",
                repo.to_str().unwrap(),
                "--title",
                "widget crash",
            ])
            .args([
                "--since", "10d", "--until", &until, "--ranker", "llm", "--elect", "4",
            ])
            .args(["--format", "json"])
            .args(extra)
            .current_dir(&cwd)
            .env("RAYON_NUM_THREADS", "2")
            .env("RCA_CACHE_DIR", cache.path())
            .output()
            .unwrap();
        success_json(&output)
    };
    let same = run(&[]);
    let weights = same["model"]["weights"].as_str().unwrap();
    assert!(weights.contains("LoRA"), "{weights}");
    assert!(same["reproduce"]
        .as_str()
        .unwrap()
        .contains("models/adapter.safetensors"));
    let other = run(&["--model", other_model.to_str().unwrap()]);
    let weights = other["model"]["weights"].as_str().unwrap();
    assert!(!weights.contains("LoRA"), "{weights}");
    assert!(
        !other["reproduce"].as_str().unwrap().contains("--adapter"),
        "{other}"
    );

    // The saved examples train the judge alone, without the repository;
    // the latest one is at the new cut-off and stays out.
    let lines: Vec<serde_json::Value> = std::fs::read_to_string(&saved)
        .unwrap()
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    assert_eq!(lines.len(), 3);
    assert!(lines.iter().all(|l| l["schema"] == "rca.examples/1"));
    assert!(lines
        .iter()
        .all(|l| l["candidates"].as_array().unwrap().len() == 4));
    let untils: Vec<i64> = lines.iter().map(|l| l["until"].as_i64().unwrap()).collect();
    let cut = *untils.iter().max().unwrap();
    let later = untils.iter().filter(|&&u| u >= cut).count();
    let judge_only = dir.path().join("judge-only");
    let manifest = success_json(&rca(&[
        "train",
        "--examples",
        saved.to_str().unwrap(),
        "--eval-examples",
        saved.to_str().unwrap(),
        "--until",
        &iso(cut),
        "--out",
        judge_only.to_str().unwrap(),
        "--lora-top-layers",
        "1",
        "--lora-epochs",
        "1",
        // A graph budget below one layer's: every layer is recomputed.
        "--lora-graph-gb",
        "0.001",
        "--format",
        "json",
    ]));
    assert_eq!(manifest["excluded_after_until"], later, "{manifest}");
    let lora = &manifest["lora"];
    assert_eq!(lora["examples"], 3 - later);
    for when in ["heldout_before", "heldout_after"] {
        let judged = &lora[when];
        assert_eq!(judged["examples"], 3, "{manifest}");
        let picks: u64 = judged["picks_by_slot"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p.as_u64().unwrap())
            .sum();
        assert_eq!(picks, 3);
        assert!((judged["chance"].as_f64().unwrap() - 0.25).abs() < 1e-9);
    }
    assert!(judge_only.join("adapter.safetensors").is_file());

    // Bad inputs: nothing to train on, a missing examples file, no device.
    let output = rca(&["train", "--out", judge_only.to_str().unwrap()]);
    assert_one_line_error(&output, 2, "nothing to train on");
    let missing = dir.path().join("missing.jsonl");
    let output = rca(&["train", "--examples", missing.to_str().unwrap()]);
    assert_one_line_error(&output, 3, "missing.jsonl");
    std::fs::write(&missing, "{\"schema\": \"other\"}\n").unwrap();
    let output = rca(&["train", "--examples", missing.to_str().unwrap()]);
    assert_one_line_error(&output, 3, "missing.jsonl:1");
    let output = rca(&[
        "train",
        "--examples",
        saved.to_str().unwrap(),
        "--device",
        "tpu",
    ]);
    assert_one_line_error(&output, 2, "--device");
}
