//! Ownership answers on real repositories, written out so that two builds
//! (say, before and after a change to the ownership regexes) can be
//! compared with `cmp`. Ignored by default: it needs the benchmark mirrors.
//!
//! ```text
//! REGEX_PARITY_TAG=before cargo test --release --test ownership_regex_parity -- --ignored --nocapture
//! # ... change the code ...
//! REGEX_PARITY_TAG=after cargo test --release --test ownership_regex_parity -- --ignored --nocapture
//! for r in dpdk u-boot angle iree executorch; do
//!     cmp /tmp/regex-parity/$r-before.txt /tmp/regex-parity/$r-after.txt
//! done
//! ```
//!
//! For each mirror (bare repositories under `REGEX_PARITY_MIRRORS`, by
//! default /work/.mirror/<owner>+<name>/repo) it loads the ownership at the
//! tip of refs/heads/main and writes, for every path in that tree, the
//! owners `owners_of` gives (and `nearest_owners_of` for OWNERS trees) to
//! /tmp/regex-parity/<repo>-<tag>.txt (`REGEX_PARITY_OUT` overrides the
//! folder). Timings go to stderr and to <repo>-<tag>.time, not into the
//! answers file.

use std::fmt::Write as _;
use std::path::PathBuf;
use std::time::{Duration, Instant};

use rca::ownership::{Format, Ownership};

const REPOS: [(&str, &str); 5] = [
    ("dpdk", "DPDK+dpdk"),
    ("u-boot", "u-boot+u-boot"),
    ("angle", "google+angle"),
    ("iree", "iree-org+iree"),
    ("executorch", "pytorch+executorch"),
];

/// Every path in `tree` (blobs and gitlinks), in tree order.
fn tree_paths(tree: &git2::Tree<'_>) -> Vec<String> {
    let mut paths = Vec::new();
    tree.walk(git2::TreeWalkMode::PreOrder, |dir, entry| {
        if matches!(
            entry.kind(),
            Some(git2::ObjectType::Blob | git2::ObjectType::Commit)
        ) {
            let name = String::from_utf8_lossy(entry.name_bytes());
            paths.push(format!("{dir}{name}"));
        }
        git2::TreeWalkResult::Ok
    })
    .expect("walk the tree");
    paths
}

#[test]
#[ignore = "needs the benchmark mirrors; see the file's header"]
fn ownership_answers_on_benchmark_mirrors() {
    let tag = std::env::var("REGEX_PARITY_TAG").unwrap_or_else(|_| "run".to_owned());
    let mirrors = PathBuf::from(
        std::env::var("REGEX_PARITY_MIRRORS").unwrap_or_else(|_| "/work/.mirror".to_owned()),
    );
    let out_dir = PathBuf::from(
        std::env::var("REGEX_PARITY_OUT").unwrap_or_else(|_| "/tmp/regex-parity".to_owned()),
    );
    std::fs::create_dir_all(&out_dir).expect("create the output folder");

    for (short, mirror) in REPOS {
        let repo_path = mirrors.join(mirror).join("repo");
        let repo = git2::Repository::open_bare(&repo_path)
            .unwrap_or_else(|e| panic!("open {}: {e}", repo_path.display()));
        let commit = repo
            .revparse_single("refs/heads/main")
            .and_then(|o| o.peel_to_commit())
            .unwrap_or_else(|e| panic!("{short}: refs/heads/main: {e}"));
        let tree = commit.tree().expect("tree of main");

        let started = Instant::now();
        let ownership = Ownership::from_tree(&repo, &tree, None)
            .unwrap_or_else(|e| panic!("{short}: ownership: {e}"));
        let load = started.elapsed();

        let paths = tree_paths(&tree);
        let nearest = ownership.format() == Some(Format::Owners);
        let mut text = String::new();
        writeln!(
            text,
            "# {short} {} format {:?}, {} areas, {} paths",
            commit.id(),
            ownership.format(),
            ownership.areas().len(),
            paths.len()
        )
        .unwrap();
        let mut owned = 0usize;
        for path in &paths {
            let owners = ownership.owners_of(path);
            owned += usize::from(!owners.is_empty());
            write!(text, "{path}\t{}", owners.join(" | ")).unwrap();
            if nearest {
                write!(
                    text,
                    "\tnearest: {}",
                    ownership.nearest_owners_of(path).join(" | ")
                )
                .unwrap();
            }
            text.push('\n');
        }

        // Lookup speed: the best of five passes over every path.
        let mut lookup = Duration::MAX;
        for _ in 0..5 {
            let started = Instant::now();
            let mut total = 0usize;
            for path in &paths {
                total += ownership.owners_of(path).len();
            }
            std::hint::black_box(total);
            lookup = lookup.min(started.elapsed());
        }

        let answers = out_dir.join(format!("{short}-{tag}.txt"));
        std::fs::write(&answers, &text).expect("write the answers");
        let timing = format!(
            "{short}: {} paths, {owned} owned; load {:.1} ms, owners_of over all paths {:.1} ms (best of 5)\n",
            paths.len(),
            load.as_secs_f64() * 1e3,
            lookup.as_secs_f64() * 1e3,
        );
        std::fs::write(out_dir.join(format!("{short}-{tag}.time")), &timing)
            .expect("write the timing");
        eprint!("{timing}");
    }
}
