//! `rca bisect` on a real repository: a test script committed in the
//! fixture starts failing at a planted commit on a merged-in branch, and a
//! second script is flaky. Every run happens in a scratch checkout; the
//! repository (work tree, index, HEAD, refs, `.git` as a whole) is the same
//! afterwards, and no scratch folder is left behind.

mod common;

use common::{assert_one_line_error, ctrl_c, tree_hash};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

fn git(dir: &Path, args: &[&str], date: Option<&str>) -> String {
    let mut command = Command::new("git");
    command
        .args(["-c", "user.name=a", "-c", "user.email=a@example.com"])
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        // `git status` must not refresh the index: the state checks read it.
        .env("GIT_OPTIONAL_LOCKS", "0")
        .env("HOME", dir);
    if let Some(date) = date {
        command
            .env("GIT_AUTHOR_DATE", date)
            .env("GIT_COMMITTER_DATE", date);
    }
    let output = command.output().expect("git runs");
    assert!(output.status.success(), "git {args:?}: {output:?}");
    String::from_utf8(output.stdout).unwrap().trim().to_owned()
}

/// The fixture: a main line of 30 daily commits in May 2024; a branch from
/// day 10 with three commits, the second of which sets `limit = 0`, merged
/// on day 22. `test.sh` fails when the limit is 0; `flaky.sh` fails every
/// third time it runs (its counter lives outside the repository).
struct Repo {
    _dir: tempfile::TempDir,
    path: PathBuf,
    culprit: String,
    tmp: PathBuf,
    counter: PathBuf,
}

fn day(d: u32) -> String {
    format!("2024-05-{d:02}T10:00:00Z")
}

fn commit(dir: &Path, file: &str, text: &str, message: &str, date: &str) -> String {
    std::fs::write(dir.join(file), text).unwrap();
    git(dir, &["add", file], None);
    git(dir, &["commit", "-q", "-m", message], Some(date));
    git(dir, &["rev-parse", "HEAD"], None)
}

fn repo() -> Repo {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("repo");
    std::fs::create_dir_all(&path).unwrap();
    git(&path, &["init", "-q", "-b", "main"], None);
    std::fs::write(
        path.join("test.sh"),
        "grep -q 'limit = 0' config.txt && { echo 'limit is zero'; exit 1; }\nexit 0\n",
    )
    .unwrap();
    std::fs::write(
        path.join("flaky.sh"),
        "n=$(cat \"$FLAKY_COUNTER\" 2>/dev/null || echo 0)\necho $((n + 1)) > \"$FLAKY_COUNTER\"\n[ $((n % 3)) -ne 2 ]\n",
    )
    .unwrap();
    git(&path, &["add", "test.sh", "flaky.sh"], None);
    commit(
        &path,
        "config.txt",
        "limit = 10\n",
        "config: limits",
        &day(1),
    );
    let mut culprit = String::new();
    for d in 2..=30 {
        if d == 11 {
            git(&path, &["checkout", "-q", "-b", "tuning", "HEAD~1"], None);
            commit(&path, "tuning.txt", "a\n", "tuning: notes", &day(11));
            culprit = commit(
                &path,
                "config.txt",
                "limit = 0\n",
                "config: let the limit be set by the caller",
                &day(12),
            );
            commit(
                &path,
                "tuning.txt",
                "a\nb\n",
                "tuning: more notes",
                &day(13),
            );
            git(&path, &["checkout", "-q", "main"], None);
        }
        if d == 22 {
            git(
                &path,
                &[
                    "merge",
                    "-q",
                    "--no-ff",
                    "-m",
                    "Merge branch tuning",
                    "tuning",
                ],
                Some(&day(22)),
            );
            continue;
        }
        commit(
            &path,
            &format!("src{}.c", d % 4),
            &format!("int v{d};\n"),
            &format!("src: change {d}"),
            &day(d),
        );
    }
    let tmp = dir.path().join("tmp");
    std::fs::create_dir_all(&tmp).unwrap();
    let counter = dir.path().join("counter");
    Repo {
        _dir: dir,
        path,
        culprit,
        tmp,
        counter,
    }
}

impl Repo {
    fn command(&self, args: &[&str]) -> Command {
        let mut command = Command::new(env!("CARGO_BIN_EXE_rca"));
        command
            .arg("bisect")
            .args(["--repo", self.path.to_str().unwrap()])
            .args(args)
            .env("TMPDIR", &self.tmp)
            .env("FLAKY_COUNTER", &self.counter)
            .env("RAYON_NUM_THREADS", "2");
        command
    }

    fn bisect(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("rca runs")
    }

    /// Everything a bisect must leave as it was.
    fn state(&self) -> (u64, String, String) {
        (
            tree_hash(&self.path),
            git(&self.path, &["status", "--porcelain", "--ignored"], None),
            git(&self.path, &["show-ref", "--head"], None),
        )
    }

    fn assert_no_scratch_left(&self) {
        let left: Vec<_> = std::fs::read_dir(&self.tmp).unwrap().collect();
        assert!(left.is_empty(), "scratch left behind: {left:?}");
    }
}

const WINDOW: [&str; 6] = [
    "--title",
    "requests rejected: limit exceeded",
    "--since",
    "2024-05-05",
    "--until",
    "2024-05-31T12:00:00Z",
];

fn report(output: &Output) -> serde_json::Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "not JSON ({e}): {}\n{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

#[test]
fn finds_the_planted_commit_despite_a_flaky_script_and_changes_nothing() {
    let repo = repo();
    let before = repo.state();
    let mut args = WINDOW.to_vec();
    args.extend([
        "--run",
        "sh flaky.sh && sh test.sh",
        "--false-fail",
        "0.35",
        "--prior",
        "flat",
        "--format",
        "json",
    ]);
    let output = repo.bisect(&args);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report = report(&output);
    assert_eq!(report["verdict"]["kind"], "culprit");
    assert_eq!(report["verdict"]["commit"], repo.culprit.as_str());
    assert!(report["verdict"]["probability"].as_f64().unwrap() >= 0.95);
    let runs = report["runs"].as_array().unwrap();
    assert!(!runs.is_empty() && runs.len() <= 30, "{} runs", runs.len());
    for run in runs {
        assert_eq!(run["commit"].as_str().unwrap().len(), 40);
        assert!(["pass", "fail", "skip"].contains(&run["result"].as_str().unwrap()));
        assert!(run["top"].as_array().unwrap().len() <= 5);
    }
    // The flaky script did fail some good commits, and was outvoted.
    let counter: u32 = std::fs::read_to_string(&repo.counter)
        .unwrap()
        .trim()
        .parse()
        .unwrap();
    assert!(counter >= 3, "flaky.sh ran {counter} times");
    assert_eq!(repo.state(), before, "the repository changed");
    repo.assert_no_scratch_left();
}

#[test]
fn batches_dry_runs_and_saved_reports() {
    let repo = repo();
    let before = repo.state();
    // Three at a time.
    let mut args = WINDOW.to_vec();
    args.extend(["--run", "sh test.sh", "--jobs", "3", "--format", "json"]);
    let report3 = report(&repo.bisect(&args));
    assert_eq!(report3["verdict"]["commit"], repo.culprit.as_str());
    assert_eq!(report3["runs"].as_array().unwrap().len() % 3, 0);
    // A dry run says what it would test first and why, and runs nothing.
    let mut args = WINDOW.to_vec();
    args.extend(["--dry-run"]);
    let output = repo.bisect(&args);
    let text = String::from_utf8_lossy(&output.stdout);
    assert_eq!(output.status.code(), Some(0), "{text}");
    assert!(
        text.contains("first run 1:") && text.contains("if it fails, then:"),
        "{text}"
    );
    // The JSON report of investigate gives the same window.
    let saved = repo.tmp.parent().unwrap().join("report.json");
    let investigate = Command::new(env!("CARGO_BIN_EXE_rca"))
        .arg("investigate")
        .args(["--repo", repo.path.to_str().unwrap()])
        .args(WINDOW)
        .args(["--format", "json"])
        .output()
        .unwrap();
    std::fs::write(&saved, &investigate.stdout).unwrap();
    let output = repo.bisect(&[
        "--from",
        saved.to_str().unwrap(),
        "--run",
        "sh test.sh",
        "--format",
        "json",
    ]);
    let from = report(&output);
    assert_eq!(from["verdict"]["commit"], repo.culprit.as_str());
    assert_eq!(from["start"], report3["start"]);
    assert_eq!(from["window_commits"], report3["window_commits"]);
    assert_eq!(repo.state(), before);
    repo.assert_no_scratch_left();
}

#[test]
fn commands_that_cannot_find_the_culprit_say_why() {
    let repo = repo();
    let before = repo.state();
    let run = |command: &str| {
        let mut args = WINDOW.to_vec();
        args.extend(["--run", command]);
        repo.bisect(&args)
    };
    // The command's own stderr comes first; rca's error is the last line.
    let missing = run("no-such-command-here --check");
    let stderr = String::from_utf8_lossy(&missing.stderr);
    assert_eq!(missing.status.code(), Some(3), "{stderr}");
    let last = stderr.trim_end().lines().last().unwrap_or_default();
    assert!(
        last.starts_with("rca: error: ") && last.contains("was not found"),
        "{stderr}"
    );
    let fails = run("exit 1");
    let text = String::from_utf8_lossy(&fails.stdout);
    assert_eq!(fails.status.code(), Some(6), "{text}");
    assert!(
        text.contains("the window does not contain the culprit"),
        "{text}"
    );
    let passes = run("exit 0");
    let text = String::from_utf8_lossy(&passes.stdout);
    assert_eq!(passes.status.code(), Some(6), "{text}");
    assert!(text.contains("does not fail in this window"), "{text}");
    // Every commit skipped: undecided, exit 1.
    let skipped = run("exit 125");
    let text = String::from_utf8_lossy(&skipped.stdout);
    assert_eq!(skipped.status.code(), Some(1), "{text}");
    assert!(text.contains("undecided"), "{text}");
    // A window of one commit.
    let one = repo.bisect(&[
        "--title",
        "x",
        "--since",
        "2024-05-30T00:00:00Z",
        "--until",
        "2024-05-30T12:00:00Z",
        "--run",
        "exit 1",
        "--format",
        "json",
    ]);
    let one = report(&one);
    assert_eq!(one["window_commits"], 1);
    assert_eq!(one["verdict"]["kind"], "before_window");
    // Bad numbers are usage errors.
    let mut args = WINDOW.to_vec();
    args.extend(["--run", "exit 0", "--false-pass", "0.7"]);
    assert_one_line_error(&repo.bisect(&args), 2, "--false-pass");
    assert_one_line_error(&repo.bisect(&["--run", "exit 0"]), 2, "--from");
    assert_eq!(repo.state(), before);
    repo.assert_no_scratch_left();
}

#[test]
fn an_interrupted_bisection_stops_its_command_and_cleans_up() {
    let repo = repo();
    let before = repo.state();
    let marker = repo.tmp.parent().unwrap().join("started");
    let mut args = WINDOW.to_vec();
    let command = format!("touch {}; sleep 60", marker.display());
    args.extend(["--run", &command]);
    let child = repo
        .command(&args)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let started = std::time::Instant::now();
    while !marker.exists() {
        assert!(
            started.elapsed().as_secs() < 60,
            "the command never started"
        );
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    ctrl_c(&child);
    let output = child.wait_with_output().unwrap();
    assert_eq!(output.status.code(), Some(130), "{output:?}");
    assert!(
        started.elapsed().as_secs() < 30,
        "the running command was not stopped"
    );
    assert!(String::from_utf8_lossy(&output.stderr).contains("interrupted"));
    assert_eq!(repo.state(), before);
    repo.assert_no_scratch_left();
}
