//! `rca cases mine` end to end on a planted history: which fixes and
//! reverts become cases, with which facts, and why the others drop out.
//!
//! The history (days after 2024-03-01, main line unless a branch is named):
//!
//! | day  | commit | what it plants |
//! |------|--------|----------------|
//! | 0    | init | CODEOWNERS: net/ @org/net, boot/ @org/boot, docs/ @org/docs |
//! | 0.5  | ancient | culprit of a fix 20.5 days later (too old) |
//! | 1    | net_rework | culprit of `fix_rx` |
//! | 1.5  | docs_restructure | target of a revert without reason and one without symptom |
//! | 3    | fix_rx | **kept**: `Fixes:` with a symptom sentence |
//! | 3.5  | fix_rx_again | same culprit again (duplicate) |
//! | 4    | boot_speedup (#41) | culprit of `revert_boot` |
//! | 5    | revert_boot | **kept**: `This reverts commit`, "Reason for revert:" |
//! | 6    | revert_no_reason | only "This reverts commit ..." |
//! | 6.5  | revert_no_symptom | a reason that names no symptom |
//! | 7    | net_stats (#45) | culprit of `revert_pr` |
//! | 9    | revert_pr (#47) | **kept**: "Reverts example/widgets#45" |
//! | 9.2  | revert_no_target | `Revert "..."` that names no commit |
//! | 9.5  | boot_retry | named by id in a fix's subject (leaky) |
//! | 10   | net_rings | named by subject in a fix's subject (leaky) |
//! | 11   | fix_retry, 11.5 fix_rings | the two leaky titles |
//! | 11.7 | fix_unknown | `Fixes:` an id that is no commit |
//! | 11.8 | fix_two | `Fixes:` two commits |
//! | 12.5, 13 | topic: loader, loader_docs | a side branch... |
//! | 16   | merge_topic | ...merged: the loader lands at day 16 |
//! | 18   | fix_loader | **kept**: its culprit came in through the merge |
//! | 19.2, 19.4 | topic2: queue, fix_queue | culprit and fix land together... |
//! | 20   | merge_topic2 | ...so the culprit was not on the main line before the fix |
//! | 21   | fix_install | `Fixes: ancient`, 20.5 days later |

mod common;
use common::*;

use git2::{Oid, Repository, Signature, Time};
use std::collections::{BTreeMap, HashMap};
use std::path::Path;

const DAY: i64 = 86_400;
/// 2024-03-01T00:00:00Z.
const T0: i64 = 1_709_251_200;

/// Builds commits from file maps, without a work tree checkout, so that the
/// same code makes bare and non-bare repositories.
struct Builder {
    repo: Repository,
    files: HashMap<Oid, BTreeMap<String, String>>,
    /// The tip of the main line.
    main: Option<Oid>,
    ids: BTreeMap<&'static str, Oid>,
}

impl Builder {
    fn new(path: &Path, bare: bool) -> Self {
        let repo = if bare {
            Repository::init_bare(path).unwrap()
        } else {
            Repository::init(path).unwrap()
        };
        Builder {
            repo,
            files: HashMap::new(),
            main: None,
            ids: BTreeMap::new(),
        }
    }

    /// A main-line commit that writes `file` (its content: the label).
    fn on_main(
        &mut self,
        label: &'static str,
        days: f64,
        message: impl AsRef<str>,
        file: &str,
    ) -> Oid {
        let parents: Vec<Oid> = self.main.into_iter().collect();
        let id = self.commit(
            &parents,
            days,
            message.as_ref(),
            &[(file, &format!("{label}\n"))],
        );
        self.main = Some(id);
        self.ids.insert(label, id);
        id
    }

    /// A commit on top of `parents` (the first parent's files, with
    /// `changes` applied; a merge takes the second parent's files).
    fn commit(
        &mut self,
        parents: &[Oid],
        days: f64,
        message: &str,
        changes: &[(&str, &str)],
    ) -> Oid {
        let mut files = match parents {
            [] => BTreeMap::new(),
            [only] => self.files[only].clone(),
            [_, side, ..] => self.files[side].clone(),
        };
        for (path, text) in changes {
            files.insert((*path).to_owned(), (*text).to_owned());
        }
        let tree = self.tree(&files, "");
        let tree = self.repo.find_tree(tree).unwrap();
        let when = Time::new(T0 + (days * DAY as f64) as i64, 0);
        let sig = Signature::new("Dev", "dev@example.com", &when).unwrap();
        let parents: Vec<git2::Commit<'_>> = parents
            .iter()
            .map(|p| self.repo.find_commit(*p).unwrap())
            .collect();
        let refs: Vec<&git2::Commit<'_>> = parents.iter().collect();
        let id = self
            .repo
            .commit(None, &sig, &sig, message, &tree, &refs)
            .unwrap();
        self.files.insert(id, files);
        id
    }

    /// Writes the tree of the files under `prefix`.
    fn tree(&self, files: &BTreeMap<String, String>, prefix: &str) -> Oid {
        let mut builder = self.repo.treebuilder(None).unwrap();
        let mut dirs: BTreeMap<String, ()> = BTreeMap::new();
        for path in files.keys() {
            let Some(rest) = path.strip_prefix(prefix) else {
                continue;
            };
            match rest.split_once('/') {
                Some((dir, _)) => {
                    dirs.insert(dir.to_owned(), ());
                }
                None => {
                    let blob = self.repo.blob(files[path].as_bytes()).unwrap();
                    builder.insert(rest, blob, 0o100644).unwrap();
                }
            }
        }
        for dir in dirs.keys() {
            let sub = self.tree(files, &format!("{prefix}{dir}/"));
            builder.insert(dir, sub, 0o040000).unwrap();
        }
        builder.write().unwrap()
    }

    /// A non-bare repository whose first commit makes @org/all own everything.
    fn owned_by_all(path: &Path) -> Self {
        let mut b = Builder::new(path, false);
        let init = b.commit(
            &[],
            0.0,
            "Initial import\n",
            &[("CODEOWNERS", "* @org/all\n")],
        );
        b.main = Some(init);
        b
    }

    fn finish(self, tip: Oid) {
        self.repo
            .reference("refs/heads/main", tip, true, "fixture")
            .unwrap();
        self.repo.set_head("refs/heads/main").unwrap();
    }
}

fn short(id: Oid, n: usize) -> String {
    id.to_string()[..n].to_owned()
}

/// The planted history, with the ids a test asserts on.
struct Planted {
    dir: tempfile::TempDir,
    ids: BTreeMap<&'static str, Oid>,
}

impl Planted {
    fn repo(&self) -> String {
        self.dir.path().join("widgets").display().to_string()
    }
    fn id(&self, label: &str) -> String {
        self.ids[label].to_string()
    }
}

fn plant(bare: bool) -> Planted {
    let dir = tempfile::tempdir().unwrap();
    let mut b = Builder::new(&dir.path().join("widgets"), bare);
    let owners = "/net/ @org/net\n/boot/ @org/boot\n/docs/ @org/docs\n";
    let init = b.commit(
        &[],
        0.0,
        "Initial import\n",
        &[
            ("CODEOWNERS", owners),
            ("net/rx.c", "rx 1\n"),
            ("boot/load.c", "load 1\n"),
            ("docs/guide.md", "guide 1\n"),
        ],
    );
    b.main = Some(init);
    let ancient = b.on_main(
        "ancient",
        0.5,
        "docs: add install guide\n",
        "docs/install.md",
    );
    let net_rework = b.on_main(
        "net_rework",
        1.0,
        "net: rework buffer handling\n",
        "net/rx.c",
    );
    let docs = b.on_main(
        "docs_restructure",
        1.5,
        "docs: restructure guide\n",
        "docs/guide.md",
    );
    b.on_main(
        "fix_rx",
        3.0,
        format!(
            "[PATCH v2] net: fix buffer overflow in rx path\n\nThe rx path crashes with a buffer overflow on short frames.\nThis patch checks the length.\n\nFixes: {} (\"net: rework buffer handling\")\nSigned-off-by: Dev <dev@example.com>\n",
            short(net_rework, 12)
        ),
        "net/rx.c",
    );
    b.on_main(
        "fix_rx_again",
        3.5,
        format!(
            "net: fix another overflow\n\nFixes: {}\n",
            short(net_rework, 12)
        ),
        "net/rx.c",
    );
    let boot = b.on_main(
        "boot_speedup",
        4.0,
        "boot: speed up image loading (#41)\n",
        "boot/load.c",
    );
    b.on_main(
        "revert_boot",
        5.0,
        format!(
            "Revert \"boot: speed up image loading (#41)\"\n\nThis reverts commit {boot}.\n\nReason for revert: boards hang at the boot prompt.\nEvery board in the lab fails to boot since yesterday.\nLog: https://ci.example.com/run/{boot}\n\nBug: b/1234\nChange-Id: I0123456789abcdef0123456789abcdef01234567\n"
        ),
        "boot/load.c",
    );
    b.on_main(
        "revert_no_reason",
        6.0,
        format!("Revert \"docs: restructure guide\"\n\nThis reverts commit {docs}.\n"),
        "docs/guide.md",
    );
    b.on_main(
        "revert_no_symptom",
        6.5,
        format!("Revert \"docs: restructure guide\"\n\nThis reverts commit {}.\n\nNot ready yet, it landed by accident.\n", short(docs, 10)),
        "docs/guide.md",
    );
    b.on_main(
        "net_stats",
        7.0,
        "net: add statistics counters (#45)\n",
        "net/rx.c",
    );
    b.on_main(
        "revert_pr",
        9.0,
        "Revert \"net: add statistics counters (#45)\" (#47)\n\nReverts example/widgets#45\n\nThe counters break the build on 32-bit targets.\ncc @someone\n",
        "net/rx.c",
    );
    b.on_main(
        "revert_no_target",
        9.2,
        "Revert \"net: drop legacy ioctl\"\n\nThe removal breaks old tools.\n",
        "net/rx.c",
    );
    let retry = b.on_main("boot_retry", 9.5, "boot: add retry\n", "boot/load.c");
    let rings = b.on_main(
        "net_rings",
        10.0,
        "net: tune the receive ring sizes\n",
        "net/rx.c",
    );
    b.on_main(
        "fix_retry",
        11.0,
        format!(
            "boot: fix retry loop added in {}\n\nFixes: {}\n",
            short(retry, 10),
            short(retry, 12)
        ),
        "boot/load.c",
    );
    b.on_main(
        "fix_rings",
        11.5,
        format!(
            "net: go back on \"net: tune the receive ring sizes\"\n\nFixes: {}\n",
            short(rings, 12)
        ),
        "net/rx.c",
    );
    b.on_main(
        "fix_unknown",
        11.7,
        "net: fix checksum\n\nFixes: deadbeefcafe1234\n",
        "net/rx.c",
    );
    let fork = b.on_main(
        "fix_two",
        11.8,
        format!(
            "net: fix two things\n\nFixes: {}\nFixes: {}\n",
            short(retry, 12),
            short(rings, 12)
        ),
        "net/rx.c",
    );
    // A topic branch merged at day 16.
    let loader = b.commit(
        &[fork],
        12.5,
        "boot: new loader\n",
        &[("boot/load.c", "loader\n")],
    );
    let loader_docs = b.commit(
        &[loader],
        13.0,
        "docs: describe the loader\n",
        &[("docs/loader.md", "loader\n")],
    );
    let merge = b.commit(&[fork, loader_docs], 16.0, "Merge branch 'topic'\n", &[]);
    b.ids.insert("loader", loader);
    b.main = Some(merge);
    b.on_main(
        "fix_loader",
        18.0,
        format!(
            "boot: fix loader crash\n\nThe new loader crashes on empty images.\n\nFixes: {}\n",
            short(loader, 12)
        ),
        "boot/load.c",
    );
    // Culprit and fix on one branch: they land together.
    let queue = b.commit(
        &[merge],
        19.2,
        "net: new queue\n",
        &[("net/queue.c", "queue\n")],
    );
    let fix_queue = b.commit(
        &[queue],
        19.4,
        &format!(
            "net: fix new queue\n\nThe new queue leaks memory.\n\nFixes: {}\n",
            short(queue, 12)
        ),
        &[("net/queue.c", "queue fixed\n")],
    );
    let main = b.main.unwrap();
    let merge2 = b.commit(&[main, fix_queue], 20.0, "Merge branch 'topic2'\n", &[]);
    b.ids.insert("fix_queue", fix_queue);
    b.main = Some(merge2);
    let tip = b.on_main(
        "fix_install",
        21.0,
        format!("docs: fix typo in install guide\n\nThe install guide is missing a step.\n\nFixes: {}\n", short(ancient, 12)),
        "docs/install.md",
    );
    let ids = std::mem::take(&mut b.ids);
    b.finish(tip);
    Planted { dir, ids }
}

/// `rca cases mine` over days 2..30 with a 14-day lookback (unless `extra`
/// sets one), plus `extra`.
fn mine(planted: &Planted, extra: &[&str]) -> std::process::Output {
    let repo = planted.repo();
    let mut args = vec![
        "cases",
        "mine",
        "--repo",
        &repo,
        "--since",
        "2024-03-03",
        "--until",
        "2024-03-31",
        "--name",
        "example/widgets",
    ];
    if !extra.contains(&"--lookback") {
        args.extend(["--lookback", "14d"]);
    }
    args.extend_from_slice(extra);
    rca(&args)
}

fn rfc3339(seconds: i64) -> String {
    rca::when::rfc3339(seconds)
}

#[test]
fn mines_exactly_the_planted_cases() {
    let planted = plant(false);
    let before = tree_hash(planted.dir.path());
    let out_dir = tempfile::tempdir().unwrap();
    let out = out_dir.path().join("mined.yaml");
    let output = mine(
        &planted,
        &["--out", out.to_str().unwrap(), "--format", "json"],
    );
    let json = success_json(&output);
    assert_eq!(
        before,
        tree_hash(planted.dir.path()),
        "mining changed the repository"
    );

    let report = &json["report"];
    assert_eq!(
        report["seen"],
        serde_json::json!({"fixes-trailer": 9, "revert": 5})
    );
    assert_eq!(
        report["kept"],
        serde_json::json!({"fixes-trailer": 2, "revert": 2})
    );
    assert_eq!(
        report["dropped"],
        serde_json::json!({
            "culprit-not-before-fix": 1,
            "culprit-too-old": 1,
            "duplicate-culprit": 1,
            "leaky-title": 2,
            "revert-without-reason": 1,
            "revert-without-symptom": 1,
            "revert-without-target": 1,
            "several-culprits": 1,
            "unknown-culprit": 1,
        })
    );
    let dropped_fix = |reason: &str| -> Vec<String> {
        report["drops"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d["reason"] == reason)
            .map(|d| d["fix"].as_str().unwrap().to_owned())
            .collect()
    };
    assert_eq!(
        dropped_fix("duplicate-culprit"),
        [planted.id("fix_rx_again")]
    );
    assert_eq!(
        dropped_fix("leaky-title"),
        [planted.id("fix_retry"), planted.id("fix_rings")]
    );
    assert_eq!(
        dropped_fix("culprit-not-before-fix"),
        [planted.id("fix_queue")]
    );
    assert_eq!(dropped_fix("culprit-too-old"), [planted.id("fix_install")]);
    assert_eq!(
        dropped_fix("revert-without-reason"),
        [planted.id("revert_no_reason")]
    );
    assert_eq!(
        dropped_fix("revert-without-symptom"),
        [planted.id("revert_no_symptom")]
    );
    assert_eq!(json["out"], out.display().to_string());

    let file = rca::cases::load(&out).expect("the mined file loads");
    assert_eq!(file.repo, "example/widgets");
    assert_eq!(file.default_branch, "main");
    assert_eq!(file.ownership_file.as_deref(), Some("CODEOWNERS"));
    let summary: Vec<(&str, &str, &str, &str)> = file
        .cases
        .iter()
        .map(|c| {
            (
                c.id.as_str(),
                c.source.as_str(),
                c.root_cause.as_str(),
                c.fix.as_deref().unwrap(),
            )
        })
        .collect();
    let (net_rework, boot, stats, loader) = (
        planted.id("net_rework"),
        planted.id("boot_speedup"),
        planted.id("net_stats"),
        planted.id("loader"),
    );
    let (fix_rx, revert_boot, revert_pr, fix_loader) = (
        planted.id("fix_rx"),
        planted.id("revert_boot"),
        planted.id("revert_pr"),
        planted.id("fix_loader"),
    );
    assert_eq!(
        summary,
        [
            (
                "widgets-1",
                "fixes-trailer",
                net_rework.as_str(),
                fix_rx.as_str()
            ),
            ("widgets-2", "revert", boot.as_str(), revert_boot.as_str()),
            ("widgets-3", "revert", stats.as_str(), revert_pr.as_str()),
            (
                "widgets-4",
                "fixes-trailer",
                loader.as_str(),
                fix_loader.as_str()
            ),
        ]
    );

    // Sparse facts: tags, links, ids, mentions and boilerplate are gone.
    let facts: Vec<(&str, Option<&str>, Vec<&str>)> = file
        .cases
        .iter()
        .map(|c| {
            (
                c.title.as_str(),
                c.impact.as_deref(),
                c.team_hint.iter().map(String::as_str).collect(),
            )
        })
        .collect();
    assert_eq!(
        facts,
        [
            (
                "net: fix buffer overflow in rx path",
                Some("The rx path crashes with a buffer overflow on short frames."),
                vec!["@org/net"]
            ),
            (
                "boards hang at the boot prompt.",
                Some("Every board in the lab fails to boot since yesterday."),
                vec!["@org/boot"]
            ),
            (
                "The counters break the build on 32-bit targets.",
                None,
                vec!["@org/net"]
            ),
            (
                "boot: fix loader crash",
                Some("The new loader crashes on empty images."),
                vec!["@org/boot"]
            ),
        ]
    );

    // The window: opened one second before the fix, 14 days back; the
    // merged-in loader counts as landed with its merge (day 16).
    let first = &file.cases[0];
    assert_eq!(first.opened_at, rfc3339(T0 + 3 * DAY - 1));
    assert_eq!(first.since, rfc3339(T0 + 3 * DAY - 1 - 14 * DAY));
    assert_eq!(
        first.window_commits,
        Some(4),
        "init, ancient, net_rework, docs_restructure"
    );
    let last = &file.cases[3];
    assert_eq!(last.opened_at, rfc3339(T0 + 18 * DAY - 1));
    // Days 4..18: 13 main-line commits and the 2 the merge brought in.
    assert_eq!(last.window_commits, Some(15));
}

#[test]
fn the_mined_cases_replay_and_nothing_is_written() {
    let planted = plant(true);
    let before = tree_hash(planted.dir.path());
    let output = mine(&planted, &[]);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(
        before,
        tree_hash(planted.dir.path()),
        "mining changed the repository"
    );
    // Text mode: the YAML on stdout, the report on stderr.
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(
        stderr.contains("kept          4  (fixes-trailer 2, revert 2)"),
        "{stderr}"
    );
    assert!(stderr.contains("leaky-title"), "{stderr}");
    let cases = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(cases.path(), &output.stdout).unwrap();
    let file = rca::cases::load(cases.path()).unwrap();
    assert_eq!(file.cases.len(), 4);

    let replay = rca(&[
        "backtest",
        "--cases",
        cases.path().to_str().unwrap(),
        "--repo",
        &planted.repo(),
        "--format",
        "json",
    ]);
    let summary = success_json(&replay);
    assert_eq!(summary["cases"], 4);
    assert_eq!(
        before,
        tree_hash(planted.dir.path()),
        "the replay changed the repository"
    );
}

/// A mined file names no mirror: given a folder of mirrors, the replay
/// finds `owner+name/repo` from the file's `repo`, and says which folder it
/// looked for when there is none.
#[test]
fn a_mined_file_replays_against_a_folder_of_mirrors() {
    let planted = plant(true);
    let output = mine(&planted, &[]);
    assert_eq!(output.status.code(), Some(0));
    let cases = tempfile::NamedTempFile::new().unwrap();
    std::fs::write(cases.path(), &output.stdout).unwrap();
    assert!(rca::cases::load(cases.path()).unwrap().mirror.is_none());
    let mirrors = tempfile::tempdir().unwrap();
    let backtest = |root: &Path| {
        rca(&[
            "backtest",
            "--cases",
            cases.path().to_str().unwrap(),
            "--repo",
            root.to_str().unwrap(),
            "--format",
            "json",
        ])
    };
    let missing = backtest(mirrors.path());
    assert_eq!(missing.status.code(), Some(3));
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert!(
        stderr.contains("no mirror example+widgets/repo"),
        "{stderr}"
    );
    std::fs::create_dir(mirrors.path().join("example+widgets")).unwrap();
    std::fs::rename(
        planted.dir.path().join("widgets"),
        mirrors.path().join("example+widgets/repo"),
    )
    .unwrap();
    assert_eq!(success_json(&backtest(mirrors.path()))["cases"], 4);
}

#[test]
fn same_history_same_output() {
    let planted = plant(false);
    let a = mine(&planted, &[]);
    let b = mine(&planted, &[]);
    assert_eq!(a.stdout, b.stdout);
    assert!(!a.stdout.is_empty());
}

#[test]
fn lag_and_lookback_are_honoured() {
    let planted = plant(false);
    // A one-day lag keeps only the revert whose culprit is a day old.
    let output = mine(&planted, &["--max-lag", "1d", "--format", "json"]);
    let json = success_json(&output);
    assert_eq!(json["report"]["kept"], serde_json::json!({"revert": 1}));
    assert_eq!(json["cases"]["cases"][0]["fix"], planted.id("revert_boot"));
    // A one-day lookback leaves every older culprit outside its window:
    // fix_rx, fix_rx_again, revert_no_symptom, revert_pr, fix_retry,
    // fix_rings and fix_loader.
    let output = mine(&planted, &["--lookback", "1d", "--format", "json"]);
    let json = success_json(&output);
    assert_eq!(json["report"]["dropped"]["culprit-outside-window"], 7);
    assert_eq!(json["report"]["kept"], serde_json::json!({"revert": 1}));
}

// ---- bad input: one line, a documented exit code, never a panic ----

#[test]
fn bad_input_is_one_line_with_its_exit_code() {
    let planted = plant(false);
    let repo = planted.repo();
    let not_a_repo = tempfile::tempdir().unwrap();
    let run = |args: &[&str]| {
        let mut all = vec!["cases", "mine"];
        all.extend_from_slice(args);
        rca(&all)
    };
    assert_one_line_error(
        &run(&["--repo", not_a_repo.path().to_str().unwrap()]),
        3,
        "is not a git repository",
    );
    assert_one_line_error(
        &run(&["--repo", &repo, "--since", "the week before"]),
        3,
        "--since",
    );
    assert_one_line_error(
        &run(&["--repo", &repo, "--until", "2024-13-45"]),
        3,
        "--until",
    );
    assert_one_line_error(
        &run(&[
            "--repo",
            &repo,
            "--since",
            "2024-03-10",
            "--until",
            "2024-03-01",
        ]),
        3,
        "is not before --until",
    );
    assert_one_line_error(
        &run(&["--repo", &repo, "--ref", "no-such-branch"]),
        3,
        "unknown ref",
    );
    let missing = not_a_repo.path().join("no/such/dir/out.yaml");
    assert_one_line_error(
        &run(&["--repo", &repo, "--out", missing.to_str().unwrap()]),
        3,
        "--out",
    );
    assert_one_line_error(
        &run(&[
            "--repo",
            &repo,
            "--out",
            not_a_repo.path().to_str().unwrap(),
        ]),
        3,
        "--out",
    );
    assert_one_line_error(
        &run(&["--repo", &repo, "--max-lag", "soon"]),
        2,
        "--max-lag",
    );
    assert_one_line_error(
        &run(&["--repo", &repo, "--lookback", "0s"]),
        2,
        "--lookback",
    );
}

/// Committer dates that run backwards (a sub-tree pull of old commits):
/// a commit lands no earlier than the main-line commits before it, so the
/// lag and the window go by that landing time, not by its own date.
#[test]
fn landing_time_not_committer_date() {
    let dir = tempfile::tempdir().unwrap();
    let mut b = Builder::owned_by_all(&dir.path().join("pulled"));
    b.on_main("base", 10.0, "core: add base\n", "core/base.c");
    // Committed on day 2 in a sub-tree, pulled onto the main line after day 10.
    let pulled = b.on_main("pulled", 2.0, "core: rework queues\n", "core/queue.c");
    let fix = b.on_main(
        "fix",
        12.0,
        format!(
            "core: fix queue stall\n\nQueues stall under load.\n\nFixes: {}\n",
            short(pulled, 12)
        ),
        "core/queue.c",
    );
    b.finish(fix);
    let repo = dir.path().join("pulled").display().to_string();
    let run = |max_lag: &str| {
        rca(&[
            "cases",
            "mine",
            "--repo",
            &repo,
            "--since",
            "2024-03-05",
            "--until",
            "2024-03-31",
            "--max-lag",
            max_lag,
            "--lookback",
            "5d",
            "--format",
            "json",
        ])
    };
    // Landed on day 10, fixed on day 12: a 2-day lag, though its date says 10.
    let json = success_json(&run("5d"));
    let case = &json["cases"]["cases"][0];
    assert_eq!(case["root_cause"], pulled.to_string());
    assert_eq!(case["since"], rfc3339(T0 + 7 * DAY - 1));
    // In [day 7, day 12): base and the pulled commit, by landing time.
    assert_eq!(case["window_commits"], 2);
    let json = success_json(&run("1d"));
    assert_eq!(json["report"]["dropped"]["culprit-too-old"], 1);
}

/// Phabricator-exported history: reverts name the review (`D123`) a change
/// landed by, in the subject or in the body, and carry the export's
/// boilerplate; a review number is resolved to the newest change that
/// landed by it before the revert.
#[test]
fn phabricator_exported_reverts_are_mined() {
    let dir = tempfile::tempdir().unwrap();
    let mut b = Builder::owned_by_all(&dir.path().join("exported"));
    // An older change that landed by the same review number: not the target.
    b.on_main(
        "older",
        1.0,
        "core: first try at the route cache\n\nDifferential Revision: D1207\n",
        "core/route.c",
    );
    let cache = b.on_main(
        "cache",
        2.0,
        "core: cache the route table (#40)\n\nSummary: Caches it.\n\nReviewed By: someone\n\nDifferential Revision: D1207\n",
        "core/route.c",
    );
    b.on_main("other", 3.0, "docs: note the cache\n", "docs/route.md");
    let by_subject = b.on_main(
        "by_subject",
        4.0,
        "Revert D1207: core: cache the route table (#42)\n\nSummary:\nPings time out on IPv6 hosts since this change.\n\nTest Plan: CI\n\nDifferential Revision: D1210\n\nPulled By: someone\n",
        "core/route.c",
    );
    let parser = b.on_main(
        "parser",
        5.0,
        "core: new option parser\n\nDifferential Revision: D1300\n",
        "core/opts.c",
    );
    let by_body = b.on_main(
        "by_body",
        6.0,
        "Back out \"core: new option parser\"\n\nSummary:\nThis diff reverts D1300\nDepends on D1290\n\nThe daemon crashes at start with an empty config.\n\nTest Plan: sandcastle\n\nDifferential Revision: D1311\n",
        "core/opts.c",
    );
    let no_reason = b.on_main(
        "no_reason",
        7.0,
        "Revert D1300\n\nDifferential Revision: D1320\n",
        "core/opts.c",
    );
    b.finish(no_reason);
    let repo = dir.path().join("exported").display().to_string();
    let json = success_json(&rca(&[
        "cases",
        "mine",
        "--repo",
        &repo,
        "--since",
        "2024-03-02",
        "--until",
        "2024-03-31",
        "--lookback",
        "5d",
        "--format",
        "json",
    ]));
    assert_eq!(json["report"]["seen"], serde_json::json!({"revert": 3}));
    assert_eq!(
        json["report"]["dropped"],
        serde_json::json!({"revert-without-reason": 1})
    );
    let cases: Vec<(String, String, String)> = json["cases"]["cases"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| {
            (
                c["root_cause"].as_str().unwrap().to_owned(),
                c["fix"].as_str().unwrap().to_owned(),
                c["title"].as_str().unwrap().to_owned(),
            )
        })
        .collect();
    assert_eq!(
        cases,
        [
            (
                cache.to_string(),
                by_subject.to_string(),
                "Pings time out on IPv6 hosts since this change.".to_owned()
            ),
            (
                parser.to_string(),
                by_body.to_string(),
                "The daemon crashes at start with an empty config.".to_owned()
            ),
        ]
    );
}

/// The replay goes by landing time too: a sub-tree pull that lands after the
/// investigation opened, with dates from before it, stays out of the state
/// investigated, and so does the fix it sits on; a commit dated before
/// `since` that landed after it is a candidate, with its landing time.
#[test]
fn replay_goes_by_landing_time() {
    let dir = tempfile::tempdir().unwrap();
    let mut b = Builder::owned_by_all(&dir.path().join("pulled"));
    let base = b.on_main("base", 10.0, "core: add base\n", "core/base.c");
    // Committed on day 2 in a sub-tree, pulled onto the main line after day 10.
    let pulled = b.on_main("pulled", 2.0, "core: rework queues\n", "core/queue.c");
    let docs = b.on_main("docs", 11.0, "docs: describe queues\n", "docs/queue.md");
    let fix = b.on_main(
        "fix",
        12.0,
        "core: fix queue stall\n\nQueues stall under load.\n",
        "core/queue.c",
    );
    // Another sub-tree pull, after the fix, dated day 5.
    let late = b.on_main(
        "late",
        5.0,
        "core: tidy queue stall paths\n",
        "core/queue.c",
    );
    let tip = b.on_main("tip", 13.0, "net: add rings\n", "net/rings.c");
    b.finish(tip);
    let repo = dir.path().join("pulled").display().to_string();
    let until = rfc3339(T0 + 11 * DAY + DAY / 2);
    let json = success_json(&rca(&[
        "investigate",
        "--repo",
        &repo,
        "--title",
        "queue stall under load",
        "--since",
        &rfc3339(T0 + 7 * DAY),
        "--until",
        &until,
        "--format",
        "json",
    ]));
    // By committer dates the state would be `late`, after the fix.
    assert_eq!(json["start"], docs.to_string());
    assert_eq!(json["window"]["commits"], 3);
    let ids = suspect_ids(&json);
    let mut expected = vec![base.to_string(), pulled.to_string(), docs.to_string()];
    let mut got = ids.clone();
    expected.sort();
    got.sort();
    assert_eq!(got, expected);
    assert!(!ids.contains(&fix.to_string()) && !ids.contains(&late.to_string()));
    let pulled_report = json["suspects"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == pulled.to_string())
        .unwrap();
    assert_eq!(pulled_report["landed_at"], rfc3339(T0 + 10 * DAY));
    assert_eq!(pulled_report["age_seconds"], DAY + DAY / 2);
}

/// A main-line merge that brings in a sub-maintainer's merge: the inner
/// merge is not a candidate, the commits under it are.
#[test]
fn merges_inside_a_merge_are_not_candidates() {
    let dir = tempfile::tempdir().unwrap();
    let mut b = Builder::owned_by_all(&dir.path().join("nested"));
    let base = b.on_main("base", 1.0, "core: add base\n", "core/base.c");
    let left = b.commit(
        &[base],
        2.0,
        "net: add rings\n",
        &[("net/rings.c", "rings\n")],
    );
    let right = b.commit(&[base], 3.0, "usb: add hub\n", &[("usb/hub.c", "hub\n")]);
    let inner = b.commit(
        &[left, right],
        4.0,
        "Merge tag 'usb-next' into net\n",
        &[("net/rings.c", "rings\n")],
    );
    let outer = b.commit(&[base, inner], 5.0, "Merge tag 'net-next'\n", &[]);
    b.main = Some(outer);
    let tip = b.on_main("tip", 6.0, "docs: describe rings\n", "docs/rings.md");
    b.finish(tip);
    let json = success_json(&rca(&[
        "investigate",
        "--repo",
        &dir.path().join("nested").display().to_string(),
        "--title",
        "rings broke",
        "--since",
        &rfc3339(T0 + DAY + DAY / 2),
        "--until",
        &rfc3339(T0 + 7 * DAY),
        "--format",
        "json",
    ]));
    let mut got = suspect_ids(&json);
    got.sort();
    let mut expected = vec![left.to_string(), right.to_string(), tip.to_string()];
    expected.sort();
    assert_eq!(got, expected);
    assert_eq!(json["window"]["commits"], 3);
}
