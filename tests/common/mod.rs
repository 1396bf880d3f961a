//! Shared helpers for the integration tests: build fixture repositories
//! with git2 and run the real `rca` binary against them.
#![allow(dead_code)]

pub mod parity;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// A fixture built into a temporary directory, with its incident as a case.
pub struct Fixture {
    pub dir: tempfile::TempDir,
    pub repo: PathBuf,
    pub cases_path: PathBuf,
    pub case: rca::cases::Case,
    pub culprit: String,
    pub ids: std::collections::BTreeMap<String, String>,
}

pub fn fixtures_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("fixtures")
}

/// Builds `fixtures/<name>.yaml`.
pub fn build(name: &str, bare: bool) -> Fixture {
    let spec = rca::fixture::load(&fixtures_dir().join(format!("{name}.yaml")))
        .expect("fixture spec loads");
    let dir = tempfile::tempdir().expect("tempdir");
    let repo = dir.path().join("repo");
    let built = rca::fixture::build(&spec, &repo, bare).expect("fixture builds");
    let cases_path = dir.path().join("cases.yaml");
    std::fs::write(&cases_path, rca::fixture::cases_yaml(&spec, &built)).expect("write cases");
    let file = rca::cases::load(&cases_path).expect("cases load");
    let case = file.cases[0].clone();
    Fixture {
        dir,
        repo: built.path.clone(),
        cases_path,
        case,
        culprit: built.culprit.clone(),
        ids: built.ids,
    }
}

/// Runs the binary with `args`, no terminal, a fixed environment, and a
/// diff cache of its own (no run sees another's readings).
pub fn rca(args: &[&str]) -> Output {
    let cache = tempfile::tempdir().expect("tempdir");
    rca_with_cache(args, cache.path())
}

/// Runs the binary with `args` and its diff cache in `cache`.
pub fn rca_with_cache(args: &[&str], cache: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_rca"))
        .args(args)
        .env("RAYON_NUM_THREADS", "2")
        .env("RCA_CACHE_DIR", cache)
        .output()
        .expect("rca runs")
}

impl Fixture {
    /// `investigate` arguments that replay the fixture's incident, with the
    /// paged team as a hint.
    pub fn investigate_args(&self) -> Vec<String> {
        let mut args = vec![
            "investigate".to_owned(),
            "--repo".to_owned(),
            self.repo.display().to_string(),
            "--title".to_owned(),
            self.case.title.clone(),
            "--since".to_owned(),
            self.case.since.clone(),
            "--until".to_owned(),
            self.case.opened_at.clone(),
        ];
        if let Some(impact) = &self.case.impact {
            args.extend(["--impact".to_owned(), impact.clone()]);
        }
        for team in &self.case.team_hint {
            args.extend(["--team".to_owned(), team.clone()]);
        }
        args
    }

    pub fn run(&self, extra: &[&str]) -> Output {
        let mut args = self.investigate_args();
        args.extend(extra.iter().map(|s| s.to_string()));
        let refs: Vec<&str> = args.iter().map(String::as_str).collect();
        rca(&refs)
    }
}

/// Parses stdout as JSON.
pub fn json(output: &Output) -> serde_json::Value {
    serde_json::from_slice(&output.stdout).unwrap_or_else(|e| {
        panic!(
            "stdout is not JSON ({e}): {}\nstderr: {}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        )
    })
}

/// Asserts a successful run and parses its JSON.
pub fn success_json(output: &Output) -> serde_json::Value {
    assert_eq!(
        output.status.code(),
        Some(0),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    json(output)
}

/// Asserts that the hostile fixture's "instruct the model" commit is not
/// among the suspects.
pub fn assert_injection_not_suspected(report: &serde_json::Value) {
    let subjects: Vec<&str> = report["suspects"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["subject"].as_str().unwrap())
        .collect();
    let injected = subjects
        .iter()
        .any(|s| s.to_lowercase().contains("ignore previous instructions"));
    assert!(!injected, "{subjects:?}");
}

/// The suspect ids of an investigation's JSON.
pub fn suspect_ids(report: &serde_json::Value) -> Vec<String> {
    report["suspects"]
        .as_array()
        .expect("suspects")
        .iter()
        .map(|s| s["id"].as_str().unwrap().to_owned())
        .collect()
}

/// Asserts a failure: the exit code, one line on stderr, no panic.
pub fn assert_one_line_error(output: &Output, code: i32, needle: &str) {
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(code), "stderr: {stderr}");
    assert_eq!(
        stderr.trim_end().lines().count(),
        1,
        "one line expected: {stderr}"
    );
    assert!(stderr.starts_with("rca: error: "), "{stderr}");
    assert!(
        stderr.contains(needle),
        "{stderr:?} should mention {needle:?}"
    );
    assert!(!stderr.contains("panicked"), "{stderr}");
}

/// A hash of every file under `dir` (paths and contents), to prove a run
/// changed nothing.
pub fn tree_hash(dir: &Path) -> u64 {
    use std::hash::{Hash, Hasher};
    let mut entries = Vec::new();
    let mut stack = vec![dir.to_path_buf()];
    while let Some(d) = stack.pop() {
        for entry in std::fs::read_dir(&d).unwrap() {
            let entry = entry.unwrap();
            let meta = entry.metadata().unwrap();
            if meta.is_dir() {
                stack.push(entry.path());
            } else {
                entries.push((
                    entry.path(),
                    std::fs::read(entry.path()).unwrap_or_default(),
                    meta.modified().ok(),
                ));
            }
        }
    }
    entries.sort();
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    entries.hash(&mut hasher);
    hasher.finish()
}

/// Starts the binary with `args`, its output piped, to be interrupted. Its
/// diff cache is one shared folder under the temporary directory (these
/// runs are stopped early and check no readings; one folder, pruned by rca
/// itself, rather than one left behind per test run).
pub fn spawn_rca<S: AsRef<std::ffi::OsStr>>(args: &[S]) -> std::process::Child {
    Command::new(env!("CARGO_BIN_EXE_rca"))
        .args(args)
        .env("RAYON_NUM_THREADS", "2")
        .env("RCA_CACHE_DIR", std::env::temp_dir().join("rca-test-cache"))
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("rca starts")
}

/// Sends Ctrl-C (SIGINT) to a running child, as a terminal would.
pub fn ctrl_c(child: &std::process::Child) {
    let sent = Command::new("kill")
        .args(["-INT", &child.id().to_string()])
        .status()
        .expect("kill runs");
    assert!(sent.success(), "kill -INT failed");
}
