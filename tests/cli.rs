//! The binary end to end on fixture repositories, heuristic ranker: the
//! answers, the JSON, the exit codes and the promise not to touch the repo.

mod common;
use common::*;

#[test]
fn codeowners_fixture_culprit_is_in_the_top_five() {
    let fixture = build("codeowners-monorepo", false);
    let output = fixture.run(&["--format", "json"]);
    let report = success_json(&output);
    assert_eq!(report["schema"], "rca.investigation/1");
    assert_eq!(report["ranker"], "heuristic");
    let ids = suspect_ids(&report);
    assert_eq!(ids.len(), 5);
    assert!(
        ids.contains(&fixture.culprit),
        "culprit {} not in {ids:?}",
        fixture.culprit
    );
    // Probabilities are ordered and the raw confidence is their sum.
    let probabilities: Vec<f64> = report["suspects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["probability"].as_f64().unwrap())
        .collect();
    assert!(
        probabilities.windows(2).all(|w| w[0] >= w[1]),
        "{probabilities:?}"
    );
    let sum: f64 = probabilities.iter().sum();
    assert!((report["raw_confidence"].as_f64().unwrap() - sum).abs() < 1e-9);
    // No calibration ships (docs/confidence.md): the report says so.
    assert_eq!(report["calibrated"], false);
    assert_eq!(report["confidence"], report["raw_confidence"]);
    for key in [
        "title",
        "since",
        "until",
        "start",
        "window",
        "candidates",
        "abstained",
        "timings",
        "reproduce",
    ] {
        assert!(report.get(key).is_some(), "missing {key}");
    }
    let first = &report["suspects"][0];
    for key in [
        "rank",
        "id",
        "short_id",
        "subject",
        "author",
        "age_seconds",
        "probability",
        "evidence",
        "features",
        "files",
    ] {
        assert!(first.get(key).is_some(), "suspect missing {key}");
    }
}

/// With the paged team as a hint, the heuristic ranking with the hand-set
/// fusion puts each fixture's culprit in its top five, except two: the
/// hostile one, whose culprit it ranks eighth (the model election is tested
/// on it in tests/election.rs), and the monorepo's, sixth, since the title's
/// "doubled" meets the decoy "double checkout replicas" by stem. The
/// shipped trained fusion, fitted on real repositories rather than on these
/// small made-up ones, keeps every culprit in its top ten, and in its top
/// five where it ranks them first to third.
#[test]
fn every_fixture_replays_with_its_culprit_in_the_top_five() {
    for (name, fusion, k) in [
        ("codeowners-monorepo", "built-in", 10),
        ("maintainers-repo", "built-in", 5),
        ("merge-repo", "built-in", 5),
        ("hostile-repo", "built-in", 10),
        ("tiny", "built-in", 5),
        ("codeowners-monorepo", "default", 5),
        ("maintainers-repo", "default", 5),
        ("merge-repo", "default", 10),
        ("hostile-repo", "default", 10),
        ("tiny", "default", 5),
    ] {
        let fixture = build(name, true);
        let mut args = vec![
            "backtest",
            "--cases",
            fixture.cases_path.to_str().unwrap(),
            "--repo",
            fixture.repo.to_str().unwrap(),
            "--format",
            "json",
        ];
        if fusion == "built-in" {
            args.extend(["--fusion", "built-in"]);
        }
        let output = rca(&args);
        assert_eq!(
            output.status.code(),
            Some(0),
            "{name}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let summary = json(&output);
        assert_eq!(summary["cases"], 1);
        assert_eq!(
            summary[format!("hit_at_{k}")],
            1.0,
            "{name}, {fusion} fusion: {summary}"
        );
        for key in [
            "hit_at_1",
            "hit_at_10",
            "mrr",
            "recall_at_candidates",
            "median_window",
            "seconds_per_case",
            "by_source",
            "by_repo",
        ] {
            assert!(summary.get(key).is_some(), "missing {key}");
        }
    }
}

#[test]
fn merge_fixture_finds_the_commit_inside_the_merge() {
    let fixture = build("merge-repo", true);
    let report = json(&fixture.run(&["--format", "json", "--ref", "master", "--top", "10"]));
    let culprit = report["suspects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == fixture.culprit.as_str());
    let culprit = culprit.expect("culprit in the top ten");
    assert!(
        culprit["merged_by"].is_string(),
        "the culprit came in through a merge: {culprit}"
    );
    assert!(report["window"]["merged_in"].as_u64().unwrap() > 0);
}

#[test]
fn hostile_fixture_does_not_crash_and_injection_stays_out() {
    let fixture = build("hostile-repo", true);
    let output = fixture.run(&["--format", "json", "--candidates", "1000"]);
    let report = success_json(&output);
    assert_injection_not_suspected(&report);
    assert!(report["window"]["commits"].as_u64().unwrap() > 10);
}

#[test]
fn text_output_is_a_table_with_an_honest_heading() {
    let fixture = build("tiny", true);
    let output = fixture.run(&["--explain"]);
    assert_eq!(output.status.code(), Some(0));
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.contains("heuristic ranking"), "{text}");
    assert!(text.contains(&fixture.culprit[..12]), "{text}");
    assert!(
        text.contains("Confidence that the culprit is listed"),
        "{text}"
    );
    assert!(text.contains("Reproduce: rca investigate"), "{text}");
}

#[test]
fn same_input_same_output() {
    let fixture = build("maintainers-repo", true);
    let a = json(&fixture.run(&["--format", "json"]));
    let b = json(&fixture.run(&["--format", "json"]));
    assert_eq!(suspect_ids(&a), suspect_ids(&b));
    assert_eq!(a["suspects"], b["suspects"]);
}

#[test]
fn abstains_below_min_confidence_with_exit_code_1() {
    let fixture = build("codeowners-monorepo", true);
    let output = fixture.run(&["--format", "json", "--min-confidence", "1.0"]);
    assert_eq!(output.status.code(), Some(1));
    let report = json(&output);
    assert_eq!(report["abstained"], true);
    assert_eq!(suspect_ids(&report).len(), 5, "suspects are still listed");

    // The text says how to narrow it, only when no team or path was named.
    let text = |args: &[String]| {
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        let output = rca(&refs);
        assert_eq!(output.status.code(), Some(1));
        String::from_utf8(output.stdout).expect("UTF-8")
    };
    let mut args = fixture.investigate_args();
    args.extend(["--min-confidence".to_owned(), "1.0".to_owned()]);
    let with_team = text(&args);
    assert!(with_team.contains("Not confident"), "{with_team}");
    assert!(!with_team.contains("Naming the paged team"), "{with_team}");
    let team = args
        .iter()
        .position(|a| a == "--team")
        .expect("the fixture names a team");
    args.drain(team..team + 2);
    assert!(!args.contains(&"--team".to_owned()), "one team");
    let without = text(&args);
    assert!(
        without.contains("Naming the paged team (--team)"),
        "{without}"
    );
}

#[test]
fn relative_dates_count_back_from_until() {
    let fixture = build("tiny", true);
    let until = &fixture.case.opened_at;
    let output = rca(&[
        "investigate",
        "--repo",
        fixture.repo.to_str().unwrap(),
        "--title",
        "checkout latency",
        "--since",
        "5 days ago",
        "--until",
        until,
        "--format",
        "json",
    ]);
    let report = success_json(&output);
    let since = rca::when::parse(report["since"].as_str().unwrap(), 0).unwrap();
    let until = rca::when::parse(until, 0).unwrap();
    assert_eq!(until - since, 5 * 86400);
}

#[test]
fn investigate_and_backtest_leave_the_repository_unchanged() {
    let fixture = build("codeowners-monorepo", false);
    let before = tree_hash(&fixture.repo);
    assert_eq!(fixture.run(&["--format", "json"]).status.code(), Some(0));
    let output = rca(&[
        "backtest",
        "--cases",
        fixture.cases_path.to_str().unwrap(),
        "--repo",
        fixture.repo.to_str().unwrap(),
    ]);
    assert_eq!(output.status.code(), Some(0));
    assert_eq!(before, tree_hash(&fixture.repo), "the repository changed");
}

#[test]
fn the_diff_cache_gives_the_same_report_and_lives_outside_the_repository() {
    let fixture = build("codeowners-monorepo", false);
    let before = tree_hash(&fixture.repo);
    let cache = tempfile::tempdir().unwrap();
    let mut args = fixture.investigate_args();
    args.extend(["--format".into(), "json".into()]);
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let run = |extra: &[&str]| {
        let all: Vec<&str> = args.iter().chain(extra).copied().collect();
        let mut report = success_json(&rca_with_cache(&all, cache.path()));
        let from_cache = report["window"]["from_cache"].as_u64().unwrap();
        report.as_object_mut().unwrap().remove("timings");
        report["window"]
            .as_object_mut()
            .unwrap()
            .remove("from_cache");
        (report, from_cache)
    };
    // Every file but the folder's `last-used` mark is a commit's entry.
    let entries = || {
        walk_files(cache.path())
            .into_iter()
            .filter(|p| !p.ends_with("last-used"))
            .collect::<Vec<_>>()
    };

    let (uncached, none) = run(&["--no-cache"]);
    assert_eq!(none, 0);
    assert!(entries().is_empty(), "--no-cache wrote {:?}", entries());
    let (cold, none) = run(&[]);
    assert_eq!(none, 0);
    let commits = cold["window"]["commits"].as_u64().unwrap();
    assert_eq!(entries().len() as u64, commits, "one entry per commit");
    let (warm, all) = run(&[]);
    assert_eq!(all, commits, "a second run reads every diff from the cache");
    assert_eq!(cold, uncached);
    assert_eq!(warm, uncached);

    // A damaged entry is read from the repository again, and mended.
    let damaged = &entries()[0];
    std::fs::write(damaged, b"{\"id\": 12").unwrap();
    let (mended, from_cache) = run(&[]);
    assert_eq!(mended, uncached);
    assert_eq!(from_cache, commits - 1);
    let (_, all) = run(&[]);
    assert_eq!(all, commits);
    assert_eq!(before, tree_hash(&fixture.repo), "the repository changed");
}

/// Every file under `dir`.
fn walk_files(dir: &std::path::Path) -> Vec<std::path::PathBuf> {
    let mut files = Vec::new();
    for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
        let path = entry.path();
        if path.is_dir() {
            files.extend(walk_files(&path));
        } else {
            files.push(path);
        }
    }
    files
}

// ---- bad input: one line, a documented exit code, never a panic ----

/// `rca investigate` on `repo` with a dummy title and the given window.
fn investigate_window(repo: &str, since: &str, until: Option<&str>) -> std::process::Output {
    let mut args = vec![
        "investigate",
        "--repo",
        repo,
        "--title",
        "x",
        "--since",
        since,
    ];
    if let Some(until) = until {
        args.extend(["--until", until]);
    }
    rca(&args)
}

#[test]
fn not_a_repository() {
    let dir = tempfile::tempdir().unwrap();
    let output = investigate_window(dir.path().to_str().unwrap(), "2d", None);
    assert_one_line_error(&output, 3, "is not a git repository");
}

#[test]
fn unknown_ref() {
    let fixture = build("tiny", true);
    let output = fixture.run(&["--ref", "no-such-branch"]);
    assert_one_line_error(&output, 3, "unknown ref");
}

#[test]
fn since_after_until() {
    let fixture = build("tiny", true);
    let output = investigate_window(
        fixture.repo.to_str().unwrap(),
        "2024-03-10",
        Some("2024-03-01"),
    );
    assert_one_line_error(&output, 3, "is not before --until");
}

#[test]
fn unparsable_date() {
    let fixture = build("tiny", true);
    let output = investigate_window(
        fixture.repo.to_str().unwrap(),
        "the day the music died",
        None,
    );
    assert_one_line_error(&output, 3, "--since");
}

#[test]
fn empty_window() {
    let fixture = build("tiny", true);
    let output = investigate_window(
        fixture.repo.to_str().unwrap(),
        "2030-01-01",
        Some("2030-01-02"),
    );
    assert_one_line_error(&output, 3, "no commits landed");
}

#[test]
fn before_the_first_commit() {
    let fixture = build("tiny", true);
    let output = investigate_window(
        fixture.repo.to_str().unwrap(),
        "1999-01-01",
        Some("2000-01-01"),
    );
    assert_one_line_error(&output, 3, "no commit on HEAD before");
}

#[test]
fn malformed_ownership_file() {
    // A repository whose CODEOWNERS has an invalid pattern.
    let dir = tempfile::tempdir().unwrap();
    let repo = git2::Repository::init(dir.path()).unwrap();
    let signature =
        git2::Signature::new("A", "a@example.com", &git2::Time::new(1_700_000_000, 0)).unwrap();
    let mut index = repo.index().unwrap();
    for (path, content) in [
        ("CODEOWNERS", "src/[unclosed @team\n"),
        ("src/main.c", "int main;\n"),
    ] {
        let blob = repo.blob(content.as_bytes()).unwrap();
        let entry = git2::IndexEntry {
            ctime: git2::IndexTime::new(0, 0),
            mtime: git2::IndexTime::new(0, 0),
            dev: 0,
            ino: 0,
            mode: 0o100644,
            uid: 0,
            gid: 0,
            file_size: content.len() as u32,
            id: blob,
            flags: path.len() as u16,
            flags_extended: 0,
            path: path.as_bytes().to_vec(),
        };
        index.add(&entry).unwrap();
    }
    let tree = repo.find_tree(index.write_tree().unwrap()).unwrap();
    repo.commit(Some("HEAD"), &signature, &signature, "add code", &tree, &[])
        .unwrap();
    let output = investigate_window(
        dir.path().to_str().unwrap(),
        "2023-11-01",
        Some("2023-11-30"),
    );
    assert_one_line_error(&output, 3, "CODEOWNERS:1");
}

#[test]
fn cases_file_with_a_missing_field() {
    let fixture = build("tiny", true);
    let text = std::fs::read_to_string(&fixture.cases_path).unwrap();
    let broken: String = text
        .lines()
        .filter(|l| !l.trim_start().starts_with("opened_at:"))
        .map(|l| format!("{l}\n"))
        .collect();
    std::fs::write(&fixture.cases_path, broken).unwrap();
    let output = rca(&[
        "backtest",
        "--cases",
        fixture.cases_path.to_str().unwrap(),
        "--repo",
        fixture.repo.to_str().unwrap(),
    ]);
    assert_one_line_error(&output, 3, "opened_at");
}

#[test]
fn cases_file_with_an_unknown_root_cause() {
    let fixture = build("tiny", true);
    let text = std::fs::read_to_string(&fixture.cases_path)
        .unwrap()
        .replace(&fixture.culprit, &"ab".repeat(20));
    std::fs::write(&fixture.cases_path, text).unwrap();
    let output = rca(&[
        "backtest",
        "--cases",
        fixture.cases_path.to_str().unwrap(),
        "--repo",
        fixture.repo.to_str().unwrap(),
    ]);
    assert_one_line_error(&output, 3, "unknown root_cause");
}

#[test]
fn usage_errors_exit_2() {
    let output = rca(&["investigate", "--title", "x"]);
    assert_eq!(output.status.code(), Some(2));
    let output = rca(&["investigate", "--title", " ", "--since", "2d"]);
    assert_one_line_error(&output, 2, "--title");
}

#[test]
fn path_hints_show_up_as_evidence_and_lift_the_commit() {
    let fixture = build("codeowners-monorepo", true);
    let rank_of_culprit = |report: &serde_json::Value| {
        suspect_ids(report)
            .iter()
            .position(|id| *id == fixture.culprit)
    };
    let without = json(&fixture.run(&["--format", "json"]));
    let with = json(&fixture.run(&["--format", "json", "--path", "services/checkout/config"]));
    let (before, after) = (
        rank_of_culprit(&without).unwrap(),
        rank_of_culprit(&with).unwrap(),
    );
    assert!(
        after < before,
        "the hint lifts the culprit: rank {before} -> {after}"
    );
    assert_eq!(
        with["suspects"][after]["evidence"]["path_hints"][0],
        "services/checkout/config"
    );
}
