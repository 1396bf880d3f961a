//! Builds every fixture in `fixtures/` into real repositories and checks,
//! with git2 alone, that each has the shape its YAML promises: the commit
//! count, stable ids, a visible culprit, and the hostile details (merges,
//! binary blobs, non-UTF-8 bytes, a 10,000-file commit) that the history
//! stage must survive.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use git2::{Delta, DiffFindOptions, Oid, Repository, Sort};
use rca::fixture::{self, BuiltFixture, FixtureSpec};

fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

fn fixture_paths() -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = std::fs::read_dir(fixtures_dir())
        .expect("fixtures/ exists")
        .map(|entry| entry.expect("readable entry").path())
        .filter(|path| path.extension().is_some_and(|ext| ext == "yaml"))
        .collect();
    paths.sort();
    paths
}

fn load(name: &str) -> FixtureSpec {
    fixture::load(&fixtures_dir().join(name)).unwrap_or_else(|e| panic!("{name}: {e:#}"))
}

/// Builds into a fresh temporary directory; the guard keeps it alive.
fn build(spec: &FixtureSpec, bare: bool) -> (tempfile::TempDir, BuiltFixture, Duration) {
    let dir = tempfile::tempdir().expect("tempdir");
    let target = dir.path().join(if bare { "repo.git" } else { "repo" });
    let started = Instant::now();
    let built =
        fixture::build(spec, &target, bare).unwrap_or_else(|e| panic!("{}: {e:#}", spec.name));
    (dir, built, started.elapsed())
}

fn oid(hex: &str) -> Oid {
    Oid::from_str(hex).expect("full hex id")
}

/// Ids along the first-parent chain from the default branch's tip.
fn first_parent_chain(repo: &Repository, spec: &FixtureSpec) -> Vec<Oid> {
    let mut walk = repo.revwalk().unwrap();
    walk.push_ref(&format!("refs/heads/{}", spec.default_branch))
        .unwrap();
    walk.simplify_first_parent().unwrap();
    walk.map(Result::unwrap).collect()
}

fn committer_time(repo: &Repository, id: Oid) -> i64 {
    repo.find_commit(id).unwrap().committer().when().seconds()
}

fn parse_time(text: &str) -> i64 {
    text.parse::<jiff::Timestamp>()
        .unwrap_or_else(|e| panic!("{text}: {e}"))
        .as_second()
}

#[test]
fn every_fixture_builds_with_its_commits_refs_and_culprit() {
    let paths = fixture_paths();
    assert!(
        paths.len() >= 5,
        "expected at least five fixtures, found {paths:?}"
    );
    for path in paths {
        let spec = fixture::load(&path).unwrap_or_else(|e| panic!("{}: {e:#}", path.display()));
        let (_dir, built, elapsed) = build(&spec, false);
        eprintln!(
            "{}: {} commits built (non-bare, checked out) in {elapsed:.2?}",
            spec.name,
            spec.commits.len()
        );
        let repo = Repository::open(&built.path).unwrap();

        // Every commit reachable from some branch, none lost, none extra.
        let mut walk = repo.revwalk().unwrap();
        walk.push_glob("refs/heads/*").unwrap();
        let reachable: BTreeSet<Oid> = walk.map(Result::unwrap).collect();
        let labelled: BTreeSet<Oid> = built.ids.values().map(|hex| oid(hex)).collect();
        assert_eq!(
            reachable, labelled,
            "{}: reachable commits differ from the labelled ones",
            spec.name
        );
        assert_eq!(
            labelled.len(),
            spec.commits.len(),
            "{}: two labels share an id",
            spec.name
        );

        assert_eq!(built.culprit, built.ids[&spec.incident.culprit]);
        repo.find_commit(oid(&built.culprit))
            .expect("culprit exists");

        let head = repo.find_reference("HEAD").unwrap();
        assert_eq!(
            head.symbolic_target(),
            Some(format!("refs/heads/{}", spec.default_branch).as_str())
        );
        let tip = first_parent_chain(&repo, &spec)[0];
        let last_main = spec
            .commits
            .iter()
            .rev()
            .find(|c| c.branch.as_deref().is_none_or(|b| b == spec.default_branch))
            .unwrap();
        assert_eq!(
            tip.to_string(),
            built.ids[&last_main.label],
            "{}: main tip",
            spec.name
        );

        // A checked-out fixture looks like a clean clone.
        let mut options = git2::StatusOptions::new();
        options.include_untracked(true).include_ignored(false);
        let statuses = repo.statuses(Some(&mut options)).unwrap();
        assert_eq!(statuses.len(), 0, "{}: work tree is not clean", spec.name);

        if spec.name != "tiny" {
            let count = spec.commits.len();
            assert!(
                (40..=120).contains(&count),
                "{}: {count} commits, want 40-120",
                spec.name
            );
        }
    }
}

#[test]
fn builds_are_deterministic_bare_or_not() {
    for path in fixture_paths() {
        let spec = fixture::load(&path).unwrap();
        let (_a, work_tree, _) = build(&spec, false);
        let (_b, bare, _) = build(&spec, true);
        assert_eq!(
            work_tree.ids, bare.ids,
            "{}: ids differ between builds",
            spec.name
        );
        assert_eq!(work_tree.culprit, bare.culprit);
        let repo = Repository::open(&bare.path).unwrap();
        assert!(repo.is_bare());
        assert!(repo.find_commit(oid(&bare.culprit)).is_ok());
    }
}

/// Ids are pinned: a change to how commits are written (header order,
/// trailing newline, time format) would silently move every case file's
/// `root_cause`, so it must show up here first.
#[test]
fn tiny_fixture_ids_are_pinned() {
    let spec = load("tiny.yaml");
    let (_dir, built, _) = build(&spec, true);
    assert_eq!(built.culprit, "454954d31ddee459ecb647ec5fba54ed9a2bf8e7");
}

#[test]
fn merge_fixture_culprit_arrives_through_a_second_parent() {
    let spec = load("merge-repo.yaml");
    let (_dir, built, _) = build(&spec, true);
    let repo = Repository::open(&built.path).unwrap();
    let culprit = oid(&built.culprit);
    let main_line = first_parent_chain(&repo, &spec);
    assert!(
        !main_line.contains(&culprit),
        "the culprit must not be on the first-parent chain"
    );

    let merges: Vec<Oid> = main_line
        .iter()
        .copied()
        .filter(|&id| repo.find_commit(id).unwrap().parent_count() == 2)
        .collect();
    assert!(
        merges.len() >= 5,
        "a merge-based history, got {} merges",
        merges.len()
    );
    let bringing: Vec<Oid> = merges
        .iter()
        .copied()
        .filter(|&merge| {
            let commit = repo.find_commit(merge).unwrap();
            let (first, second) = (commit.parent_id(0).unwrap(), commit.parent_id(1).unwrap());
            let via_second =
                second == culprit || repo.graph_descendant_of(second, culprit).unwrap();
            let via_first = first == culprit || repo.graph_descendant_of(first, culprit).unwrap();
            via_second && !via_first
        })
        .collect();
    assert_eq!(bringing.len(), 1, "exactly one merge brings the culprit in");

    // Authored days before it was merged: a tool keyed on the culprit's own
    // date alone would look in the wrong place.
    let culprit_commit = repo.find_commit(culprit).unwrap();
    let merged_at = committer_time(&repo, bringing[0]);
    assert!(merged_at - culprit_commit.author().when().seconds() >= 2 * 86_400);
}

#[test]
fn hostile_fixture_has_every_hostile_shape() {
    let spec = load("hostile-repo.yaml");
    let (_dir, built, elapsed) = build(&spec, true);
    eprintln!("hostile-repo: bare build in {elapsed:.2?}");
    let repo = Repository::open(&built.path).unwrap();

    let mut walk = repo.revwalk().unwrap();
    walk.push_glob("refs/heads/*").unwrap();
    walk.set_sorting(Sort::TOPOLOGICAL | Sort::REVERSE).unwrap();
    let (mut huge, mut binary, mut renamed, mut odd_path) = (false, false, false, false);
    let (mut odd_message, mut empty_message, mut injection) = (false, false, None);
    for id in walk {
        let commit = repo.find_commit(id.unwrap()).unwrap();
        let message = commit.message_bytes();
        odd_message |= std::str::from_utf8(message).is_err();
        empty_message |= message.is_empty();
        if String::from_utf8_lossy(message)
            .to_lowercase()
            .starts_with("ignore previous instructions")
        {
            injection = Some(commit.id());
        }
        let parent_tree = commit.parent(0).ok().map(|p| p.tree().unwrap());
        let mut diff = repo
            .diff_tree_to_tree(parent_tree.as_ref(), Some(&commit.tree().unwrap()), None)
            .unwrap();
        diff.find_similar(Some(DiffFindOptions::new().renames(true)))
            .unwrap();
        let added = diff.deltas().filter(|d| d.status() == Delta::Added).count();
        huge |= added >= 10_000;
        for delta in diff.deltas() {
            renamed |= delta.status() == Delta::Renamed;
            let file = delta.new_file();
            if let Some(path) = file.path_bytes() {
                odd_path |= std::str::from_utf8(path).is_err();
            }
            if delta.status() != Delta::Deleted {
                if let Ok(blob) = repo.find_blob(file.id()) {
                    binary |= blob.is_binary();
                }
            }
        }
    }
    assert!(huge, "a commit adding 10,000 files");
    assert!(binary, "a binary blob");
    assert!(renamed, "a rename");
    assert!(odd_path, "a non-UTF-8 path");
    assert!(odd_message, "a non-UTF-8 message");
    assert!(empty_message, "an empty message");
    let injection = injection.expect("the prompt-injection commit");
    assert_ne!(
        injection.to_string(),
        built.culprit,
        "the injection commit is a decoy, not the culprit"
    );
}

#[test]
fn cases_yaml_parses_back_and_names_a_visible_culprit() {
    for path in fixture_paths() {
        let spec = fixture::load(&path).unwrap();
        let (_dir, built, _) = build(&spec, true);
        let text = fixture::cases_yaml(&spec, &built);
        let doc: serde_yaml::Value =
            serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{}: {e}\n{text}", spec.name));
        assert!(text.contains(&built.culprit));
        assert_eq!(
            doc["default_branch"].as_str(),
            Some(spec.default_branch.as_str())
        );
        let case = &doc["cases"][0];
        assert_eq!(
            case["root_cause"].as_str(),
            Some(built.culprit.as_str()),
            "{}",
            spec.name
        );
        assert_eq!(case["title"].as_str(), Some(spec.incident.title.as_str()));
        assert_eq!(case["source"].as_str(), Some("hand-written"));
        assert!(
            doc["ownership_file"].as_str().is_some(),
            "{}: ownership file detected",
            spec.name
        );

        // The replay rules of docs/cases.md: the culprit must be reachable
        // from the last main-line commit before opened_at, and be (or be
        // merged by) a commit inside the window.
        let opened_at = parse_time(case["opened_at"].as_str().unwrap());
        let since = parse_time(case["since"].as_str().unwrap());
        let repo = Repository::open(&built.path).unwrap();
        let main_line = first_parent_chain(&repo, &spec);
        let visible_tip = *main_line
            .iter()
            .find(|&&id| committer_time(&repo, id) < opened_at)
            .unwrap();
        let culprit = oid(&built.culprit);
        assert!(
            visible_tip == culprit || repo.graph_descendant_of(visible_tip, culprit).unwrap(),
            "{}: culprit invisible at opened_at",
            spec.name
        );
        let window: Vec<Oid> = main_line
            .iter()
            .copied()
            .filter(|&id| (since..opened_at).contains(&committer_time(&repo, id)))
            .collect();
        assert_eq!(
            case["window_commits"].as_u64(),
            Some(window.len() as u64),
            "{}: window_commits",
            spec.name
        );
        let landed_in_window = window.iter().any(|&id| {
            id == culprit
                || repo
                    .find_commit(id)
                    .unwrap()
                    .parent_ids()
                    .skip(1)
                    .any(|p| p == culprit || repo.graph_descendant_of(p, culprit).unwrap())
        });
        assert!(
            landed_in_window,
            "{}: culprit did not land inside the window",
            spec.name
        );

        if let Some(fix) = case["fix"].as_str() {
            assert!(
                committer_time(&repo, oid(fix)) >= opened_at,
                "{}: the fix must come after opened_at",
                spec.name
            );
        }
    }
}

#[test]
fn ten_thousand_file_commit_builds_in_well_under_seconds() {
    let spec: FixtureSpec = serde_yaml::from_str(
        r#"
name: ten-thousand
base_time: 2024-01-01T00:00:00Z
authors: {a: {name: A, email: a@example.com}}
commits:
  - {label: init, author: a, time: "+0", message: init, changes: [{write: README, text: hi}]}
  - label: vendor
    author: a
    time: "+1h"
    message: "Vendor generated sources"
    changes: [{generate: {count: 10000, path: "vendor/gen/f{n}.txt", lines: 3}}]
  - {label: after, author: a, time: "+2h", message: after, changes: [{edit: README, append: "!"}]}
incident: {title: t, opened_at: "+3h", since: "+0", culprit: vendor}
"#,
    )
    .unwrap();
    let (_bare_dir, bare, bare_time) = build(&spec, true);
    // Bare only: checking 10,000 files out measures the file system, not
    // the builder (3-12 s on the shared development machine).
    eprintln!("10,000-file commit: bare build {bare_time:.2?}");
    let repo = Repository::open(&bare.path).unwrap();
    let tree = repo
        .find_commit(oid(&bare.ids["vendor"]))
        .unwrap()
        .tree()
        .unwrap();
    let generated = tree
        .get_path(Path::new("vendor/gen"))
        .unwrap()
        .to_object(&repo)
        .unwrap()
        .peel_to_tree()
        .unwrap();
    assert_eq!(generated.len(), 10_000);
    // The next commit leaves vendor/ alone, so its subtree is shared.
    let after = repo
        .find_commit(oid(&bare.ids["after"]))
        .unwrap()
        .tree()
        .unwrap();
    assert_eq!(
        after.get_name("vendor").unwrap().id(),
        tree.get_name("vendor").unwrap().id()
    );
    // Debug build on a shared two-core machine; measured well under this.
    assert!(
        bare_time < Duration::from_secs(5),
        "bare build took {bare_time:?}"
    );
}
