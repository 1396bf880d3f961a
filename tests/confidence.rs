//! Knowing when to trust a ranking: backtest outputs, calibration and the
//! rca.yaml config, through the real binary on fixture repositories.

mod common;

use common::{assert_one_line_error, build, json, rca, success_json, suspect_ids};
use rca::calibrate::Calibration;
use std::path::{Path, PathBuf};

fn backtest(fixture: &common::Fixture, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "backtest",
        "--cases",
        fixture.cases_path.to_str().unwrap(),
        "--repo",
        fixture.repo.to_str().unwrap(),
    ];
    args.extend(extra);
    rca(&args)
}

#[test]
fn backtest_writes_summary_case_lines_and_curve_plot() {
    let fixture = build("codeowners-monorepo", true);
    let out = fixture.dir.path().join("bt");
    let output = backtest(
        &fixture,
        &["--out", out.to_str().unwrap(), "--format", "jsonl"],
    );
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    // stdout: one JSON line per case, the same lines as cases.jsonl
    let stdout = String::from_utf8(output.stdout).unwrap();
    let file = std::fs::read_to_string(out.join("cases.jsonl")).unwrap();
    assert_eq!(stdout, file);
    let line: serde_json::Value = serde_json::from_str(stdout.lines().next().unwrap()).unwrap();
    assert_eq!(line["id"], fixture.case.id.as_str());
    assert!(line["culprit_rank"].as_u64().unwrap() <= 5, "{line}");
    let raw = line["raw_confidence"].as_f64().unwrap();
    assert!((0.0..=1.0).contains(&raw));

    let summary: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(out.join("summary.json")).unwrap()).unwrap();
    assert_eq!(summary["cases"], 1);
    let curve = summary["curve"].as_array().unwrap();
    assert_eq!(curve.len(), 1);
    assert_eq!(curve[0]["coverage"], 1.0);
    assert_eq!(curve[0]["precision"], 1.0);
    let svg = std::fs::read_to_string(out.join("curve.svg")).unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("risk-coverage"));
}

#[test]
fn backtest_min_confidence_counts_answered_cases() {
    let fixture = build("codeowners-monorepo", true);
    let summary = success_json(&backtest(
        &fixture,
        &["--format", "json", "--min-confidence", "1"],
    ));
    assert_eq!(summary["answered"], 0);
    assert_eq!(
        summary["hit_at_5"], 1.0,
        "accuracy over all cases is unchanged"
    );
    assert!(summary["hit_at_5_answered"].is_null());
}

/// A backtest folder with a known answer: the culprit is in the top five
/// for 9 of 10 cases at raw confidence 0.9, and 1 of 10 at 0.2. Its summary
/// names no fusion, so the calibration is for the built-in one.
fn synthetic_backtest(dir: &Path, ranker: &str) {
    std::fs::create_dir_all(dir).unwrap();
    let mut lines = String::new();
    for i in 0..20 {
        let (confidence, hit) = if i % 2 == 0 {
            (0.9, i != 0)
        } else {
            (0.2, i == 1)
        };
        let rank = if hit { 1 } else { 50 };
        lines.push_str(&format!(
            "{{\"id\":\"c{i}\",\"culprit_rank\":{rank},\"raw_confidence\":{confidence}}}\n"
        ));
    }
    std::fs::write(dir.join("cases.jsonl"), lines).unwrap();
    std::fs::write(
        dir.join("summary.json"),
        format!("{{\"ranker\":\"{ranker}\",\"team_hint\":false}}"),
    )
    .unwrap();
}

/// A fixture with a synthetic backtest folder `bt` beside it, and where its
/// calibration is to go.
fn backtested(name: &str, ranker: &str) -> (common::Fixture, PathBuf, PathBuf) {
    let fixture = build(name, true);
    let bt = fixture.dir.path().join("bt");
    synthetic_backtest(&bt, ranker);
    let cal_path = fixture.dir.path().join("cal.yaml");
    (fixture, bt, cal_path)
}

/// `rca calibrate --from bt --out cal` with extra flags.
fn calibrate(bt: &Path, cal: &Path, extra: &[&str]) -> std::process::Output {
    let mut args = vec![
        "calibrate",
        "--from",
        bt.to_str().unwrap(),
        "--out",
        cal.to_str().unwrap(),
    ];
    args.extend(extra);
    rca(&args)
}

#[test]
fn calibrate_fits_the_known_answer_and_investigate_uses_it() {
    let (fixture, bt, cal_path) = backtested("codeowners-monorepo", "heuristic");
    for method in ["isotonic", "platt"] {
        let output = calibrate(&bt, &cal_path, &["--method", method, "--format", "json"]);
        let report = success_json(&output);
        assert_eq!(report["cases"], 20);
        assert_eq!(
            report["cross_validation"]["folds"]
                .as_array()
                .unwrap()
                .len(),
            2
        );
        let cal = Calibration::load(&cal_path).unwrap();
        assert!(
            (cal.apply(0.9) - 0.9).abs() < 0.06,
            "{method}: {}",
            cal.apply(0.9)
        );
        assert!(
            (cal.apply(0.2) - 0.1).abs() < 0.06,
            "{method}: {}",
            cal.apply(0.2)
        );
        assert!(bt.join("reliability.svg").is_file());
    }

    // investigate reports the calibrated confidence and says so
    let report = success_json(&fixture.run(&[
        "--format",
        "json",
        "--fusion",
        "built-in",
        "--calibration",
        cal_path.to_str().unwrap(),
    ]));
    let cal = Calibration::load(&cal_path).unwrap();
    let raw = report["raw_confidence"].as_f64().unwrap();
    assert_eq!(report["calibrated"], true);
    assert!((report["confidence"].as_f64().unwrap() - cal.apply(raw)).abs() < 1e-12);

    // a target precision resolves through the calibration's curve
    let output = fixture.run(&[
        "--format",
        "json",
        "--fusion",
        "built-in",
        "--calibration",
        cal_path.to_str().unwrap(),
        "--precision",
        "0.85",
    ]);
    let report = json(&output);
    let (threshold, point) = cal.threshold_for_precision(0.85).unwrap();
    assert_eq!(point.answered, 10);
    assert!((report["min_confidence"].as_f64().unwrap() - threshold).abs() < 1e-12);
    let expected = if report["confidence"].as_f64().unwrap() < threshold {
        1
    } else {
        0
    };
    assert_eq!(output.status.code(), Some(expected));

    // unreachable precision, and precision without a calibration
    let output = fixture.run(&[
        "--fusion",
        "built-in",
        "--calibration",
        cal_path.to_str().unwrap(),
        "--precision",
        "0.99",
    ]);
    assert_one_line_error(&output, 3, "never reached precision 0.99");
    let output = fixture.run(&["--precision", "0.9", "--no-calibration"]);
    assert_one_line_error(&output, 2, "needs a calibration");
}

#[test]
fn a_calibration_for_another_ranker_is_refused() {
    let (fixture, bt, cal_path) = backtested("tiny", "llm");
    let output = calibrate(&bt, &cal_path, &[]);
    assert_eq!(output.status.code(), Some(0));
    let output = fixture.run(&["--calibration", cal_path.to_str().unwrap()]);
    assert_one_line_error(&output, 3, "fitted for the llm ranker");
}

#[test]
fn an_edited_calibration_out_of_range_is_refused() {
    let (fixture, bt, cal_path) = backtested("tiny", "heuristic");
    assert_eq!(calibrate(&bt, &cal_path, &[]).status.code(), Some(0));
    let fitted: serde_yaml::Value =
        serde_yaml::from_str(&std::fs::read_to_string(&cal_path).unwrap()).unwrap();
    let with = |cal: &Path| {
        fixture.run(&[
            "--fusion",
            "built-in",
            "--calibration",
            cal.to_str().unwrap(),
        ])
    };
    assert_eq!(
        with(&cal_path).status.code(),
        Some(0),
        "the fitted file is accepted"
    );
    for (map, message) in [
        ("{method: platt, a: .nan, b: 0}", "Platt a = NaN"),
        ("{method: platt, a: -1, b: 0}", "at least 0"),
        (
            "{method: isotonic, knots: [[0.2, 0.1], [0.5, 3.0]]}",
            "not a pair of probabilities",
        ),
        (
            "{method: isotonic, knots: [[0.2, 0.6], [0.5, 0.3]]}",
            "do not rise",
        ),
    ] {
        let mut edited = fitted.clone();
        edited["map"] = serde_yaml::from_str(map).unwrap();
        std::fs::write(&cal_path, serde_yaml::to_string(&edited).unwrap()).unwrap();
        assert_one_line_error(&with(&cal_path), 3, message);
    }
}

#[test]
fn calibrate_refuses_a_folder_that_is_not_a_backtest() {
    let dir = tempfile::tempdir().unwrap();
    let output = calibrate(dir.path(), Path::new("x.yaml"), &[]);
    assert_one_line_error(&output, 3, "summary.json");
}

#[test]
fn config_fills_what_flags_leave_out_and_flags_win() {
    let fixture = build("codeowners-monorepo", false);
    std::fs::write(
        fixture.repo.join("rca.yaml"),
        format!(
            "window: {{since: {:?}}}\n\
             ranking: {{top: 2, candidates: 50}}\n\
             confidence: {{min_confidence: 1.0}}\n\
             aliases: {{checkout: ['services/checkout/**']}}\n",
            fixture.case.since
        ),
    )
    .unwrap();
    let base = [
        "investigate",
        "--repo",
        fixture.repo.to_str().unwrap(),
        "--title",
        "checkout errors after deploy",
        "--until",
        fixture.case.opened_at.as_str(),
        "--format",
        "json",
    ];
    // config only: its window, top, threshold (abstains) and aliases apply
    let output = rca(&base);
    assert_eq!(
        output.status.code(),
        Some(1),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report = json(&output);
    assert_eq!(suspect_ids(&report).len(), 2);
    assert_eq!(report["since"], fixture.case.since.as_str());
    assert_eq!(report["path_hints"][0], "services/checkout/**");
    assert!(report["reproduce"]
        .as_str()
        .unwrap()
        .contains("--candidates 50"));
    // flags override every one of those keys
    let mut args = base.to_vec();
    args.extend([
        "--top",
        "4",
        "--min-confidence",
        "0",
        "--since",
        "3d",
        "--candidates",
        "60",
    ]);
    let report = success_json(&rca(&args));
    assert_eq!(suspect_ids(&report).len(), 4);
    assert_ne!(report["since"], fixture.case.since.as_str());
    assert!(report["reproduce"]
        .as_str()
        .unwrap()
        .contains("--candidates 60"));
    // an explicit --config replaces the one in the work tree
    let other = fixture.dir.path().join("other.yaml");
    std::fs::write(
        &other,
        format!(
            "window: {{since: {:?}}}\nranking: {{top: 3}}\n",
            fixture.case.since
        ),
    )
    .unwrap();
    let mut args = base.to_vec();
    args.extend(["--config", other.to_str().unwrap()]);
    assert_eq!(suspect_ids(&success_json(&rca(&args))).len(), 3);
}

#[test]
fn a_bad_config_is_a_one_line_input_error() {
    let fixture = build("tiny", false);
    std::fs::write(fixture.repo.join("rca.yaml"), "ranking: {elects: 3}\n").unwrap();
    assert_one_line_error(&fixture.run(&[]), 3, "rca.yaml");
    std::fs::write(fixture.repo.join("rca.yaml"), "window: [\n").unwrap();
    assert_one_line_error(&fixture.run(&[]), 3, "rca.yaml");
}
