//! Benchmark: listing a window of commits with changed paths and line
//! counts, against `git log --numstat` over the same range, in one run; and
//! the same window read through a warm diff cache (`rca::cache`), filled
//! once before the timed runs in a temporary folder.
//!
//! Usage: `cargo bench --bench history -- REPO SINCE UNTIL [RUNS]`
//! (defaults: the DPDK mirror in $RCA_MIRRORS, a window of about 800 commits).
//! Prints the median wall time of each and their ratio.

#![allow(clippy::print_stdout)] // a bench binary reports on stdout

use std::process::Command;
use std::time::Instant;

mod common;
use common::median;

fn main() -> anyhow::Result<()> {
    let common::Window {
        repo: repo_path,
        since: since_text,
        until: until_text,
        runs,
    } = common::window("2021-05-11T21:33:24Z", "2021-07-20T21:33:24Z", 5);

    let since = rca::when::parse(&since_text, 0).map_err(anyhow::Error::msg)?;
    let until = rca::when::parse(&until_text, 0).map_err(anyhow::Error::msg)?;
    let repo = rca::history::open(&repo_path)?;
    let start = rca::history::start_commit(&repo, Some("refs/heads/main"), until)?;

    let cache_dir = tempfile::tempdir()?;
    let cache = rca::cache::DiffCache::at(cache_dir.path());
    let filled = rca::history::window(&repo, start, since, until, Some(&cache))?;
    let mut ours = Vec::new();
    let mut warm = Vec::new();
    let mut theirs = Vec::new();
    let mut counts = (0, 0);
    let mut agreement = (0usize, 0usize);
    let mut merge_files = 0usize;
    for _ in 0..runs {
        // Alternate the two so that machine noise hits both alike.
        let t = Instant::now();
        let window = rca::history::window(&repo, start, since, until, None)?;
        ours.push(t.elapsed().as_secs_f64());
        counts.0 = window.commits.len();

        let t = Instant::now();
        let cached = rca::history::window(&repo, start, since, until, Some(&cache))?;
        warm.push(t.elapsed().as_secs_f64());
        anyhow::ensure!(
            cached.from_cache == filled.commits.len()
                && serde_json::to_string(&cached.commits)?
                    == serde_json::to_string(&window.commits)?,
            "the warm cache read a different window"
        );
        let ours_counts: std::collections::HashMap<(String, String), (u32, u32)> = window
            .commits
            .iter()
            .flat_map(|c| {
                c.files
                    .iter()
                    .map(move |f| ((c.id.clone(), f.path.clone()), (f.added, f.removed)))
            })
            .collect();

        let listed: std::collections::HashSet<&str> =
            window.commits.iter().map(|c| c.id.as_str()).collect();

        let t = Instant::now();
        let output = Command::new("git")
            .arg("--git-dir")
            .arg(&repo_path)
            .args([
                "log",
                "--numstat",
                "--first-parent",
                "--format=%H%x00%an%x00%ct%x00%B",
            ])
            .arg(format!("--since={since}"))
            .arg(start.to_string())
            .output()?;
        theirs.push(t.elapsed().as_secs_f64());
        anyhow::ensure!(output.status.success(), "git log failed");
        let text = String::from_utf8_lossy(&output.stdout);
        counts.1 = text.matches('\0').count() / 3;
        // How often our line counts equal git's, file by file. A main-line
        // merge's numstat is its whole merged diff, while rca lists the
        // merged-in commits instead: those files are counted apart.
        agreement = (0, 0);
        merge_files = 0;
        let mut commit = String::new();
        for line in text.lines() {
            if line.len() > 41 && line.as_bytes()[40] == 0 {
                commit = line[..40].to_owned();
            } else if let [a, r, path] = line.splitn(3, '\t').collect::<Vec<_>>()[..] {
                if let (Ok(a), Ok(r)) = (a.parse::<u32>(), r.parse::<u32>()) {
                    if !listed.contains(commit.as_str()) {
                        merge_files += 1;
                        continue;
                    }
                    agreement.1 += 1;
                    if ours_counts.get(&(commit.clone(), path.to_owned())) == Some(&(a, r)) {
                        agreement.0 += 1;
                    }
                }
            }
        }
    }
    let (a, b, w) = (median(ours), median(theirs), median(warm));
    println!(
        "window: {} commits (rca), {} commits (git log)",
        counts.0, counts.1
    );
    println!("rca history::window   median {a:.3} s over {runs} runs");
    println!("git log --numstat     median {b:.3} s over {runs} runs");
    println!("rca, warm diff cache  median {w:.3} s over {runs} runs");
    println!(
        "line counts equal to git's numstat: {}/{} files ({:.1}%)",
        agreement.0,
        agreement.1,
        100.0 * agreement.0 as f64 / agreement.1.max(1) as f64
    );
    if merge_files > 0 {
        println!("  (not compared: {merge_files} files of main-line merges, listed by rca as their merged-in commits)");
    }
    println!("ratio rca/git         {:.2} (below 1 is faster)", a / b);
    println!("ratio warm cache/git  {:.2}", w / b);
    Ok(())
}
