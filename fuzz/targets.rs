//! The bodies of rca's fuzz targets, shared by the cargo-fuzz crate
//! (`fuzz/fuzz_targets/*.rs`, libFuzzer) and the stable smoke test
//! (`tests/fuzz_smoke.rs`), which both include this file with
//! `#[path = ...] mod targets;` so that the two never drift.
//!
//! Every target takes arbitrary bytes and must return without panicking,
//! hanging or allocating without bound; errors from the parsers are fine.
//! Each one drives a parser of untrusted text the way rca does, then
//! exercises the parsed value a little (queries, accessors) so that a
//! parse that "succeeds" into an inconsistent state is caught too.
//!
//! Only `rca` and `std` are used here: the fuzz crate and the main crate's
//! tests have different dependency lists.

#![allow(dead_code)]

use std::cell::RefCell;
use std::path::PathBuf;

use rca::ownership::{Format, Ownership};

/// A target: name, function and the name of its corpus folder under
/// `fuzz/corpus/`.
pub type Target = fn(&[u8]);

/// Every target, by the name of its fuzz binary (and corpus folder).
pub const ALL: &[(&str, Target)] = &[
    ("codeowners", codeowners),
    ("maintainers", maintainers),
    ("owners", owners),
    ("cases", cases),
    ("config", config),
    ("when", when),
    ("gguf", gguf),
    ("adapter", adapter),
    ("learned", learned),
];

/// Separates the files of a multi-file input (`maintainers`, `owners`).
/// It is a control byte that ownership files never contain.
pub const FILE_SEPARATOR: u8 = 0x01;

/// Paths every ownership target asks about, besides paths taken from the
/// input itself.
const PATHS: &[&str] = &[
    "README.md",
    "src/main.rs",
    "drivers/net/mlx5/mlx5.c",
    "doc/guides/nics/mlx5.rst",
    "board/sunxi/board.c",
    "src/libANGLE/Context.cpp",
    "runtime/src/iree/hal/api.h",
    "pkg/sub/dir/file_test.go",
    "a/b/c/d/e/f/g/h.txt",
    "",
    "/",
    "//",
    ".github/CODEOWNERS",
];

/// Asks `ownership` about a few fixed paths and about path-like words of
/// the input (the first word of its first lines, wildcards and comment
/// marks stripped), so that patterns the fuzzer invents get matched.
fn query(ownership: &Ownership, text: &str) {
    let mut paths: Vec<String> = PATHS.iter().map(|p| (*p).to_owned()).collect();
    for line in text.lines().take(32) {
        let word = line
            .split_whitespace()
            .find(|w| w.contains('/') || w.contains('.'))
            .unwrap_or("");
        let word = word.trim_start_matches(['F', 'X', ':', '#']).trim();
        let path: String = word
            .chars()
            .filter(|c| !matches!(c, '*' | '?' | '[' | ']'))
            .collect();
        if !path.is_empty() {
            paths.push(path.trim_start_matches('/').to_owned());
            paths.push(format!("{}/x/y.c", path.trim_matches('/')));
        }
    }
    for path in &paths {
        let owners = ownership.owners_of(path);
        let nearest = ownership.nearest_owners_of(path);
        // The nearest rule's owners are among all the owners.
        for owner in &nearest {
            assert!(
                owners.contains(owner),
                "{path}: nearest owner {owner} not among {owners:?}"
            );
        }
    }
    for area in ownership.areas().iter().take(64) {
        for owner in area.owners.iter().take(4) {
            let _ = Ownership::hint_matches(owner, owner);
            let _ = Ownership::hint_matches(&area.name, owner);
        }
    }
}

/// Splits a multi-file input into its files at `FILE_SEPARATOR`.
fn split_files(data: &[u8]) -> Vec<&[u8]> {
    data.split(|&b| b == FILE_SEPARATOR).take(16).collect()
}

/// A GitHub/GitLab CODEOWNERS file.
pub fn codeowners(data: &[u8]) {
    let files = [(".github/CODEOWNERS".to_owned(), data.to_vec())];
    if let Ok(ownership) = Ownership::parse(Format::Codeowners, &files) {
        query(&ownership, &String::from_utf8_lossy(data));
    }
}

/// Linux-style MAINTAINERS: the root file, then per-directory ones (as in
/// U-Boot), separated by `FILE_SEPARATOR`.
pub fn maintainers(data: &[u8]) {
    let files: Vec<(String, Vec<u8>)> = split_files(data)
        .into_iter()
        .enumerate()
        .map(|(i, file)| {
            let path = match i {
                0 => "MAINTAINERS".to_owned(),
                i => format!("board/b{i}/MAINTAINERS"),
            };
            (path, file.to_vec())
        })
        .collect();
    if let Ok(ownership) = Ownership::parse(Format::Maintainers, &files) {
        query(&ownership, &String::from_utf8_lossy(data));
    }
}

/// Chromium and Kubernetes OWNERS trees: files separated by
/// `FILE_SEPARATOR`, each one's first line its path in the tree (e.g.
/// `OWNERS`, `pkg/OWNERS`, `OWNERS_ALIASES`, `build/OWNERS.android`), the
/// rest its contents.
pub fn owners(data: &[u8]) {
    let files: Vec<(String, Vec<u8>)> = split_files(data)
        .into_iter()
        .map(|file| {
            let (path, contents) = match file.iter().position(|&b| b == b'\n') {
                Some(n) => (&file[..n], &file[n + 1..]),
                None => (&b"OWNERS"[..], file),
            };
            let path = String::from_utf8_lossy(path).trim().to_owned();
            let path = if path.is_empty() {
                "OWNERS".to_owned()
            } else {
                path
            };
            (path, contents.to_vec())
        })
        .collect();
    if let Ok(ownership) = Ownership::parse(Format::Owners, &files) {
        query(&ownership, &String::from_utf8_lossy(data));
    }
    // The same files through the format detection of in-memory trees.
    let _ = Ownership::from_files(&files);
}

thread_local! {
    /// One scratch file per thread, for the readers that take a path.
    static SCRATCH: RefCell<Option<PathBuf>> = const { RefCell::new(None) };
}

/// Writes `data` to this thread's scratch file named `name` and runs `f`
/// on its path.
fn with_file<R>(name: &str, data: &[u8], f: impl FnOnce(&std::path::Path) -> R) -> R {
    SCRATCH.with(|scratch| {
        let mut scratch = scratch.borrow_mut();
        let dir = scratch.get_or_insert_with(|| {
            static NEXT: std::sync::atomic::AtomicUsize = std::sync::atomic::AtomicUsize::new(0);
            let n = NEXT.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
            let dir = std::env::temp_dir().join(format!("rca-fuzz-{}-{n}", std::process::id()));
            std::fs::create_dir_all(&dir).expect("create the scratch folder");
            dir
        });
        let path = dir.join(name);
        std::fs::write(&path, data).expect("write the scratch file");
        f(&path)
    })
}

/// A cases file (`rca backtest`'s YAML), read with `rca::cases::load`, and
/// every case's facts and window.
pub fn cases(data: &[u8]) {
    with_file("cases.yaml", data, |path| {
        if let Ok(file) = rca::cases::load(path) {
            for case in &file.cases {
                let _ = case.facts(true);
                let (since, opened) = case.window().expect("load checked the window");
                assert!(since < opened);
            }
        }
    });
}

/// An `rca.yaml` config, read with `rca::config::Config::load`, and its
/// aliases applied to a title.
pub fn config(data: &[u8]) {
    with_file("rca.yaml", data, |path| {
        if let Ok(config) = rca::config::Config::load(path) {
            let title = String::from_utf8_lossy(data);
            let paths: Vec<String> = config.aliases.keys().take(4).cloned().collect();
            let _ = config.alias_paths(&title, &paths);
            if let Some(judge_head) = &config.ranking.judge_head {
                let _ = config.path(std::path::Path::new(judge_head));
            }
        }
    });
}

/// Reference instants `when` phrases are resolved against: the epoch, a
/// day in 2024, and the extremes.
const REFERENCES: &[i64] = &[0, 1_714_824_000, -1, i64::MAX, i64::MIN];

/// A `--since`/`--until` phrase (`rca::when::parse`), against several
/// reference instants, and as a `--since`/`--until` pair.
pub fn when(data: &[u8]) {
    let Ok(text) = std::str::from_utf8(data) else {
        return;
    };
    for &reference in REFERENCES {
        let _ = rca::when::parse(text, reference);
    }
    let (since, until) = text
        .split_once('\u{1}')
        .unwrap_or((text, "2024-05-04T12:00:00Z"));
    let _ = rca::when::period(Some(since), Some(until), 86_400);
}

/// A GGUF file's header and metadata, read as loading a model does before
/// it reads any weight (`rca::model::read_gguf_metadata`).
pub fn gguf(data: &[u8]) {
    with_file("model.gguf", data, |path| {
        let _ = rca::model::read_gguf_metadata(path);
    });
}

/// A LoRA adapter file (safetensors), read as `--adapter` reads it: the
/// header alone (how rca picks a default adapter), then the whole file, and
/// the scaled factors of every pair.
pub fn adapter(data: &[u8]) {
    use rca::model::adapter::{Adapter, AdapterMeta};
    with_file("adapter.safetensors", data, |path| {
        let _ = AdapterMeta::read(path);
        if let Ok(adapter) = Adapter::load(path) {
            assert!(adapter.meta.scale().is_finite());
            for name in adapter.pairs.keys() {
                let _ = adapter.scaled_pair(name);
            }
        }
    });
}

/// What rca learned and reads back from files a user may edit: the bytes
/// as a fusion (`--fusion`) and as a calibration (`--calibration`), each
/// then used as an investigation uses it.
pub fn learned(data: &[u8]) {
    with_file("learned.yaml", data, |path| {
        if let Ok(fusion) = rca::train::fusion::FusionFile::load(path) {
            let _ = rca::train::fusion::fusion_id(&fusion);
            let words: Vec<String> = ["macos", "build", "crash"].map(String::from).into();
            let tokens = ["apple", ".mm", "metal"].map(String::from).into();
            let (score, _) = fusion.associations.score(&words, &tokens);
            assert!(score.is_finite());
        }
        if let Ok(calibration) = rca::calibrate::Calibration::load(path) {
            for raw in [0.0, 0.37, 1.0] {
                let p = calibration.apply(raw);
                assert!((0.0..=1.0).contains(&p), "calibrated {raw} to {p}");
            }
            let _ = calibration.threshold_for_precision(0.9);
            let _ = calibration.best_precision();
        }
    });
}
