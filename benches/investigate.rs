//! Benchmark: a whole cold investigation (`rca investigate --no-cache`, the
//! shipped fusion, no model) as a process, against `git log --first-parent
//! --numstat` over the same window, alternating, in one run.
//!
//! Usage: `cargo bench --bench investigate -- [REPO SINCE UNTIL [RUNS]]`
//! (defaults: the DPDK mirror in $RCA_MIRRORS and the largest development
//! window, dpdk-22's: 1,639 commits from 2021-09-17 to 2021-11-26).
//! Prints the median wall time of each, their ratio pair by pair, and the
//! investigation's peak RSS (measured on its first, uncounted run).

#![allow(clippy::print_stdout)] // a bench binary reports on stdout

use std::process::{Command, Stdio};
use std::time::Instant;

mod common;
use common::median;

/// Runs a command to the end with its output thrown away: wall seconds.
fn timed(command: &mut Command) -> anyhow::Result<f64> {
    let t = Instant::now();
    let status = command
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()?;
    anyhow::ensure!(status.success(), "{command:?} failed: {status}");
    Ok(t.elapsed().as_secs_f64())
}

/// The largest peak RSS of any child this process has waited for, in MiB.
fn children_peak_mib() -> f64 {
    // SAFETY: getrusage fills the struct it is given.
    #[allow(unsafe_code)]
    let usage = unsafe {
        let mut usage: libc::rusage = std::mem::zeroed();
        libc::getrusage(libc::RUSAGE_CHILDREN, &mut usage);
        usage
    };
    usage.ru_maxrss as f64 / 1024.0
}

fn main() -> anyhow::Result<()> {
    let common::Window {
        repo,
        since,
        until,
        runs,
    } = common::window("2021-09-17T12:27:37Z", "2021-11-26T12:27:37Z", 5);
    let (since, until) = (since.as_str(), until.as_str());

    let rca = || {
        let mut c = Command::new(env!("CARGO_BIN_EXE_rca"));
        c.arg("investigate")
            .arg("--repo")
            .arg(&repo)
            .args(["--title", "x", "--since", since, "--until", until])
            .args(["--no-cache", "--format", "json"]);
        c
    };
    // git's window: the main line's commits by committer date, from the
    // commit the investigation starts at (its JSON says which).
    let first = rca().output()?;
    anyhow::ensure!(first.status.success(), "rca investigate failed");
    let peak = children_peak_mib();
    let report: serde_json::Value = serde_json::from_slice(&first.stdout)?;
    let start = report["start"].as_str().unwrap_or("HEAD").to_owned();
    let commits = report["window"]["commits"].as_u64().unwrap_or(0);
    let git = || {
        let mut c = Command::new("git");
        c.arg("--git-dir")
            .arg(&repo)
            .args(["log", "--first-parent", "--numstat"])
            .arg(format!("--since={since}"))
            .arg(format!("--until={until}"))
            .arg(&start);
        c
    };
    timed(&mut git())?;

    let (mut ours, mut theirs, mut ratios) = (Vec::new(), Vec::new(), Vec::new());
    for _ in 0..runs {
        // Alternate the two so that machine noise hits both alike.
        let a = timed(&mut rca())?;
        let b = timed(&mut git())?;
        ours.push(a);
        theirs.push(b);
        ratios.push(a / b);
    }
    println!("window: {commits} commits from {since} to {until}, starting at {start}");
    println!(
        "rca investigate --no-cache  median {:.3} s over {runs} runs",
        median(ours)
    );
    println!(
        "git log --numstat           median {:.3} s over {runs} runs",
        median(theirs)
    );
    println!(
        "ratio rca/git, pair by pair median {:.2} (below 1 is faster)",
        median(ratios)
    );
    println!("rca peak RSS                {peak:.0} MiB");
    Ok(())
}
