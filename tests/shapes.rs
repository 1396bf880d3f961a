//! Repository shapes runbooks meet: shallow clones, empty repositories, an
//! unborn HEAD, and flags that the chosen ranker would ignore. Each builds
//! its repository with git itself.

mod common;

use common::{assert_one_line_error, rca};
use std::path::Path;
use std::process::Command;

fn git(dir: &Path, args: &[&str]) {
    let status = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("HOME", dir)
        .status()
        .expect("git runs");
    assert!(status.success(), "git {args:?}");
}

/// A repository of `n` commits, one a day in May 2024, each adding a line.
fn daily_commits(dir: &Path, n: usize) {
    std::fs::create_dir_all(dir).unwrap();
    git(dir, &["init", "-q", "-b", "main"]);
    for i in 1..=n {
        std::fs::write(dir.join("f.c"), "int x;\n".repeat(i)).unwrap();
        git(dir, &["add", "f.c"]);
        let date = format!("2024-05-{i:02}T10:00:00Z");
        let status = Command::new("git")
            .args(["-c", "user.name=a", "-c", "user.email=a@example.com"])
            .args(["commit", "-q", "-m", &format!("change {i}")])
            .current_dir(dir)
            .env("GIT_AUTHOR_DATE", &date)
            .env("GIT_COMMITTER_DATE", &date)
            .env("GIT_CONFIG_NOSYSTEM", "1")
            .status()
            .unwrap();
        assert!(status.success());
    }
}

fn investigate(repo: &Path, extra: &[&str]) -> std::process::Output {
    let repo = repo.display().to_string();
    let mut args = vec![
        "investigate",
        "--repo",
        &repo,
        "--title",
        "x is wrong",
        "--since",
        "2024-04-01",
        "--until",
        "2024-06-01",
    ];
    args.extend_from_slice(extra);
    rca(&args)
}

#[test]
fn a_shallow_clone_says_what_is_missing_and_how_to_fetch_it() {
    let dir = tempfile::tempdir().unwrap();
    let full = dir.path().join("full");
    daily_commits(&full, 31);
    let url = format!("file://{}", full.display());
    git(
        dir.path(),
        &["clone", "-q", "--depth", "3", &url, "shallow"],
    );
    let shallow = dir.path().join("shallow");

    let output = investigate(&shallow, &["--format", "json"]);
    assert_eq!(
        output.status.code(),
        Some(5),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let edge = &report["window"]["edge"];
    assert_eq!(edge["shallow_repository"], true);
    assert_eq!(edge["window_incomplete"], true);
    assert_eq!(edge["oldest_landed_at"], "2024-05-29T10:00:00Z");
    assert_eq!(
        edge["fetch_command"],
        "git fetch --shallow-since=2024-03-31"
    );
    // The edge commit is never diffed against an empty tree: it is left out.
    let not_diffed = edge["not_diffed"].as_array().unwrap();
    assert_eq!(not_diffed.len(), 1);
    let suspects = report["suspects"].as_array().unwrap();
    assert_eq!(suspects.len(), 2);
    assert!(suspects.iter().all(|s| s["id"] != not_diffed[0]));
    assert!(suspects
        .iter()
        .all(|s| s["lines_added"].as_u64() <= Some(31)));
    assert_eq!(report["window"]["mainline"], 2);

    let text = investigate(&shallow, &[]);
    assert_eq!(text.status.code(), Some(5));
    let stdout = String::from_utf8_lossy(&text.stdout);
    assert!(stdout.contains("this clone is shallow"), "{stdout}");
    assert!(
        stdout.contains("git fetch --shallow-since=2024-03-31"),
        "{stdout}"
    );

    // The full repository gives the whole window and exit 0.
    let output = investigate(&full, &["--format", "json"]);
    assert_eq!(output.status.code(), Some(0));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["window"]["commits"], 31);
    assert!(report["window"].get("edge").is_none());
}

#[test]
fn a_window_inside_a_shallow_clone_is_complete() {
    let dir = tempfile::tempdir().unwrap();
    let full = dir.path().join("full");
    daily_commits(&full, 31);
    let url = format!("file://{}", full.display());
    git(
        dir.path(),
        &["clone", "-q", "--depth", "20", &url, "shallow"],
    );
    let repo = dir.path().join("shallow").display().to_string();
    let output = rca(&[
        "investigate",
        "--repo",
        &repo,
        "--title",
        "x",
        "--since",
        "2024-05-30",
        "--until",
        "2024-06-01",
        "--format",
        "json",
    ]);
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["window"]["commits"], 2);
    assert_eq!(report["window"]["edge"]["window_incomplete"], false);
}

#[test]
fn an_empty_repository_says_so() {
    let dir = tempfile::tempdir().unwrap();
    git(dir.path(), &["init", "-q"]);
    assert_one_line_error(&investigate(dir.path(), &[]), 3, "has no commits yet");
}

#[test]
fn an_unborn_head_names_its_branch() {
    let dir = tempfile::tempdir().unwrap();
    daily_commits(dir.path(), 2);
    git(dir.path(), &["symbolic-ref", "HEAD", "refs/heads/nothing"]);
    assert_one_line_error(&investigate(dir.path(), &[]), 3, "refs/heads/nothing");
    // --ref still reaches the history.
    let output = investigate(dir.path(), &["--ref", "main"]);
    assert_eq!(output.status.code(), Some(0));
}

#[test]
fn a_detached_head_is_investigated() {
    let dir = tempfile::tempdir().unwrap();
    daily_commits(dir.path(), 3);
    git(dir.path(), &["checkout", "-q", "--detach", "HEAD~1"]);
    let output = investigate(dir.path(), &["--format", "json"]);
    assert_eq!(output.status.code(), Some(0));
    let report: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(report["window"]["commits"], 2);
}

#[test]
fn flags_the_ranker_would_ignore_are_refused() {
    let dir = tempfile::tempdir().unwrap();
    daily_commits(dir.path(), 2);
    for (flags, needle) in [
        (
            &["--model", "broken.gguf"][..],
            "--model applies to the model ranker only",
        ),
        (
            &["--adapter", "a.safetensors"][..],
            "--adapter applies to the model ranker only",
        ),
        (
            &["--judge", "election"][..],
            "--judge applies to the model ranker only",
        ),
        (
            &["--ranker", "llm", "--batch", "10"][..],
            "--batch applies to --judge election only",
        ),
        (
            &[
                "--ranker",
                "llm",
                "--judge",
                "election",
                "--judge-head",
                "h.json",
            ][..],
            "--judge-head applies to --judge pointwise only",
        ),
    ] {
        assert_one_line_error(&investigate(dir.path(), flags), 2, needle);
    }
}

#[test]
fn completions_man_page_and_markdown_reports() {
    for shell in ["bash", "zsh", "fish"] {
        let output = rca(&["completions", shell]);
        assert_eq!(output.status.code(), Some(0), "{shell}");
        let script = String::from_utf8_lossy(&output.stdout);
        assert!(
            script.contains("investigate") && script.contains("since"),
            "{shell}"
        );
    }
    let bad = rca(&["completions", "tcsh"]);
    assert_eq!(bad.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&bad.stderr).contains("tcsh"));
    let man = rca(&["man"]);
    assert_eq!(man.status.code(), Some(0));
    let roff = String::from_utf8_lossy(&man.stdout);
    assert!(
        roff.starts_with(".ie") && roff.contains(".TH rca 1"),
        "{roff}"
    );
    assert!(roff.contains("investigate"));

    // Markdown: the table, the evidence, the reproduce line; repository
    // text cannot break the table.
    let dir = tempfile::tempdir().unwrap();
    daily_commits(dir.path(), 3);
    std::fs::write(dir.path().join("f.c"), "int pipe_x;\n").unwrap();
    git(dir.path(), &["add", "f.c"]);
    let status = Command::new("git")
        .args(["-c", "user.name=a|b", "-c", "user.email=a@example.com"])
        .args(["commit", "-q", "-m", "fix | table *breaker* <b>"])
        .current_dir(dir.path())
        .env("GIT_AUTHOR_DATE", "2024-05-04T10:00:00Z")
        .env("GIT_COMMITTER_DATE", "2024-05-04T10:00:00Z")
        .status()
        .unwrap();
    assert!(status.success());
    let output = investigate(dir.path(), &["--format", "markdown"]);
    assert_eq!(output.status.code(), Some(0));
    let text = String::from_utf8_lossy(&output.stdout);
    assert!(text.starts_with("### Investigation: x is wrong"), "{text}");
    let rows: Vec<&str> = text.lines().filter(|l| l.starts_with("| ")).collect();
    assert_eq!(rows.len(), 1 + 4, "{text}");
    // Every row has the header's 7 cells: escaped pipes do not split.
    for row in &rows {
        assert_eq!(row.replace("\\|", "").matches('|').count(), 8, "{row}");
    }
    assert!(
        text.contains("fix \\| table \\*breaker\\* \\<b\\>"),
        "{text}"
    );
    assert!(text.contains("<details><summary>Evidence</summary>"));
    assert!(text.contains("- files: f.c"));
    assert!(
        text.contains("```sh\nrca investigate --title 'x is wrong'"),
        "{text}"
    );
}

/// Commits `files` (path → bytes) with a message and a date; `-c` settings
/// go to git.
fn commit_files(
    dir: &Path,
    files: &[(&str, &[u8])],
    message: &[u8],
    date: &str,
    settings: &[&str],
) {
    for (path, bytes) in files {
        let path = dir.join(path);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(&path, bytes).unwrap();
    }
    git(dir, &["add", "-A"]);
    let message_file = dir.join("../message.txt");
    std::fs::write(&message_file, message).unwrap();
    let mut args = vec!["-c", "user.name=a", "-c", "user.email=a@example.com"];
    for setting in settings {
        args.extend(["-c", setting]);
    }
    let status = Command::new("git")
        .args(&args)
        .args(["commit", "-q", "--allow-empty", "-F"])
        .arg(&message_file)
        .current_dir(dir)
        .env("GIT_AUTHOR_DATE", date)
        .env("GIT_COMMITTER_DATE", date)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .status()
        .unwrap();
    assert!(status.success());
}

fn report(output: &std::process::Output) -> serde_json::Value {
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).unwrap()
}

#[test]
fn worktrees_and_bare_mirrors_are_read_alike() {
    let dir = tempfile::tempdir().unwrap();
    let main = dir.path().join("main");
    daily_commits(&main, 4);
    git(&main, &["worktree", "add", "-q", "../wt", "HEAD~1"]);
    let url = format!("file://{}", main.display());
    git(dir.path(), &["clone", "-q", "--bare", &url, "bare.git"]);
    let of = |repo: &Path| report(&investigate(repo, &["--format", "json"]));
    assert_eq!(of(&dir.path().join("wt"))["window"]["commits"], 3);
    assert_eq!(of(&dir.path().join("bare.git"))["window"]["commits"], 4);
    assert_eq!(of(&main)["window"]["commits"], 4);
}

#[test]
fn odd_contents_and_encodings_give_honest_results() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    git(&repo, &["init", "-q", "-b", "main"]);
    commit_files(
        &repo,
        &[("a.c", b"int a;\n")],
        b"start",
        "2024-05-01T10:00:00Z",
        &[],
    );
    // A binary file, an LFS pointer and a symlink.
    commit_files(
        &repo,
        &[
            ("blob.bin", &[0u8, 159, 146, 150, 0, 1, 2][..]),
            (
                "big.psd",
                b"version https://git-lfs.github.com/spec/v1\noid sha256:4d7a2146\nsize 12345\n",
            ),
        ],
        b"assets: add the blob",
        "2024-05-02T10:00:00Z",
        &[],
    );
    std::os::unix::fs::symlink("a.c", repo.join("link.c")).unwrap();
    commit_files(&repo, &[], b"add a link", "2024-05-03T10:00:00Z", &[]);
    // A gitlink (submodule) change: a path that points at a commit.
    let status = Command::new("git")
        .args(["update-index", "--add", "--cacheinfo"])
        .arg("160000,1111111111111111111111111111111111111111,vendor/sub")
        .current_dir(&repo)
        .status()
        .unwrap();
    assert!(status.success());
    let status = Command::new("git")
        .args(["-c", "user.name=a", "-c", "user.email=a@example.com"])
        .args(["commit", "-q", "-m", "vendor/sub: bump the submodule"])
        .current_dir(&repo)
        .env("GIT_AUTHOR_DATE", "2024-05-04T10:00:00Z")
        .env("GIT_COMMITTER_DATE", "2024-05-04T10:00:00Z")
        .status()
        .unwrap();
    assert!(status.success());
    // Later commits stage what is on disk: keep the gitlink out of them.
    std::fs::create_dir_all(repo.join("vendor/sub")).unwrap();
    // A latin-1 message, declared as such.
    commit_files(
        &repo,
        &[("b.c", b"int b;\n")],
        b"r\xe9seau: fix the caf\xe9 path\n",
        "2024-05-05T10:00:00Z",
        &["i18n.commitEncoding=ISO-8859-1"],
    );
    // A message that is not valid in any declared encoding.
    commit_files(
        &repo,
        &[("c.c", b"int c;\n")],
        b"bad \xff\xfe bytes",
        "2024-05-06T10:00:00Z",
        &[],
    );
    let report = report(&investigate(&repo, &["--format", "json", "--top", "10"]));
    assert_eq!(report["window"]["commits"], 6);
    let suspects = report["suspects"].as_array().unwrap();
    let by_subject = |needle: &str| {
        suspects
            .iter()
            .find(|s| s["subject"].as_str().unwrap().contains(needle))
            .unwrap_or_else(|| panic!("no suspect {needle}: {suspects:?}"))
    };
    let submodule = by_subject("submodule");
    assert_eq!(submodule["files"], serde_json::json!(["vendor/sub"]));
    let assets = by_subject("assets");
    assert_eq!(assets["files_changed"], 2);
    assert!(by_subject("link")["files"]
        .as_array()
        .unwrap()
        .contains(&"link.c".into()));
    // Declared latin-1 is decoded as such; git itself re-encodes undeclared
    // bytes that are not UTF-8, and whatever is left is read lossily.
    assert_eq!(by_subject("seau")["subject"], "réseau: fix the café path");
    assert!(by_subject("bad")["subject"]
        .as_str()
        .unwrap()
        .starts_with("bad "));
}

#[test]
fn dates_before_1970_and_in_the_future_do_not_break_the_walk() {
    // git refuses to date a commit before 1970, but such objects exist:
    // write them raw.
    let dir = tempfile::tempdir().unwrap();
    git(dir.path(), &["init", "-q"]);
    let run = |args: &[&str], input: &str| -> String {
        let mut child = Command::new("git")
            .args(args)
            .current_dir(dir.path())
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .spawn()
            .unwrap();
        use std::io::Write as _;
        child
            .stdin
            .take()
            .unwrap()
            .write_all(input.as_bytes())
            .unwrap();
        let output = child.wait_with_output().unwrap();
        assert!(output.status.success(), "git {args:?}");
        String::from_utf8(output.stdout).unwrap().trim().to_owned()
    };
    let tree = run(&["write-tree"], "");
    let mut parent = String::new();
    for (seconds, message) in [
        (-14_182_940i64, "old"),
        (1_715_335_200, "now"),
        (4_070_908_800, "future"),
    ] {
        let mut body = format!("tree {tree}\n");
        if !parent.is_empty() {
            body.push_str(&format!("parent {parent}\n"));
        }
        body.push_str(&format!(
            "author a <a@example.com> {seconds} +0000\ncommitter a <a@example.com> {seconds} +0000\n\n{message}\n"
        ));
        parent = run(
            &[
                "hash-object",
                "-t",
                "commit",
                "-w",
                "--literally",
                "--stdin",
            ],
            &body,
        );
    }
    run(&["update-ref", "HEAD", &parent], "");
    // 2024-05-10 lands in May; the future commit lands after --until.
    let report = report(&investigate(dir.path(), &["--format", "json"]));
    assert_eq!(report["window"]["commits"], 1);
    let whole = rca(&[
        "investigate",
        "--repo",
        dir.path().to_str().unwrap(),
        "--title",
        "x",
        "--since",
        "1960-01-01",
        "--until",
        "2100-01-01",
        "--format",
        "json",
    ]);
    let whole = crate::report(&whole);
    assert_eq!(whole["window"]["commits"], 3);
    let landed: Vec<&str> = whole["suspects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["landed_at"].as_str().unwrap())
        .collect();
    assert!(landed.contains(&"1969-07-20T20:17:40Z"), "{landed:?}");
}

/// Builds history with `git fast-import` from a stream.
fn fast_import(dir: &Path, stream: &[u8]) {
    use std::io::Write as _;
    let mut child = Command::new("git")
        .args(["fast-import", "--quiet"])
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .stdin(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    child.stdin.take().unwrap().write_all(stream).unwrap();
    assert!(child.wait().unwrap().success());
}

#[test]
fn a_commit_of_fifty_thousand_files_and_non_utf8_paths() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    std::fs::create_dir_all(&repo).unwrap();
    git(&repo, &["init", "-q", "-b", "main"]);
    let mut stream: Vec<u8> = b"blob\nmark :1\ndata 8\nint x;\n\n".to_vec();
    let commit = |stream: &mut Vec<u8>, mark: u32, day: u32, message: &str, body: &[u8]| {
        stream.extend(format!(
            "commit refs/heads/main\nmark :{mark}\ncommitter a <a@example.com> {} +0000\ndata {}\n{message}\n",
            1_714_550_400 + day * 86_400,
            message.len() + 1
        ).bytes());
        if mark > 2 {
            stream.extend(format!("from :{}\n", mark - 1).bytes());
        }
        stream.extend_from_slice(body);
        stream.push(b'\n');
    };
    commit(&mut stream, 2, 0, "base", b"M 100644 :1 README\n");
    let mut many = Vec::new();
    for i in 0..50_000 {
        many.extend(format!("M 100644 :1 gen/d{}/f{i}.c\n", i % 100).bytes());
    }
    commit(
        &mut stream,
        3,
        1,
        "vendor: import fifty thousand files",
        &many,
    );
    // A path in latin-1 bytes (café.c), not UTF-8.
    commit(
        &mut stream,
        4,
        2,
        "cafe: add the latin-1 file",
        b"M 100644 :1 src/caf\xe9.c\n",
    );
    fast_import(&repo, &stream);
    let started = std::time::Instant::now();
    let output = investigate(&repo, &["--format", "json"]);
    let elapsed = started.elapsed();
    let report = report(&output);
    assert_eq!(report["window"]["commits"], 3);
    let suspects = report["suspects"].as_array().unwrap();
    let big = suspects
        .iter()
        .find(|s| s["subject"] == "vendor: import fifty thousand files")
        .expect("the big commit is ranked");
    assert_eq!(big["files_changed"], 50_000);
    assert_eq!(big["lines_added"], 100_000, "two lines per file");
    assert!(big["files"].as_array().unwrap().len() <= 10);
    let cafe = suspects
        .iter()
        .find(|s| s["subject"] == "cafe: add the latin-1 file")
        .expect("the latin-1 commit is ranked");
    assert_eq!(cafe["files"][0], "src/caf\u{fffd}.c", "{cafe}");
    assert!(elapsed.as_secs() < 120, "{elapsed:?}");
}

#[test]
fn a_missing_object_is_reported_not_hidden() {
    let dir = tempfile::tempdir().unwrap();
    let repo = dir.path().join("repo");
    daily_commits(&repo, 4);
    let rev = |what: &str| {
        let out = Command::new("git")
            .args(["rev-parse", what])
            .current_dir(&repo)
            .output()
            .unwrap();
        String::from_utf8(out.stdout).unwrap().trim().to_owned()
    };
    // Remove the blob that the newest commit wrote (objects are loose here).
    let blob = rev("HEAD:f.c");
    std::fs::remove_file(repo.join(".git/objects").join(&blob[..2]).join(&blob[2..])).unwrap();
    let report = report(&investigate(&repo, &["--format", "json"]));
    assert_eq!(
        report["window"]["missing_objects"],
        serde_json::json!([rev("HEAD")])
    );
    let text = investigate(&repo, &[]);
    let stdout = String::from_utf8_lossy(&text.stdout);
    assert!(
        stdout.contains("objects are missing from this repository"),
        "{stdout}"
    );
}
