//! What the history and investigation benches share: their arguments
//! (`REPO SINCE UNTIL [RUNS]`, the repository defaulting to the DPDK mirror
//! in $RCA_MIRRORS) and the median.

use std::path::PathBuf;

/// The window a bench times, and how many times.
pub struct Window {
    pub repo: PathBuf,
    pub since: String,
    pub until: String,
    pub runs: usize,
}

/// The window from the command line, each part defaulting to what is given.
pub fn window(since: &str, until: &str, runs: usize) -> Window {
    let args: Vec<String> = std::env::args()
        .skip(1)
        .filter(|a| a != "--bench")
        .collect();
    let mirrors = std::env::var("RCA_MIRRORS").unwrap_or_else(|_| "../.mirror".into());
    Window {
        repo: args
            .first()
            .map(PathBuf::from)
            .unwrap_or_else(|| PathBuf::from(mirrors).join("DPDK+dpdk/repo")),
        since: args.get(1).cloned().unwrap_or_else(|| since.into()),
        until: args.get(2).cloned().unwrap_or_else(|| until.into()),
        runs: args.get(3).and_then(|r| r.parse().ok()).unwrap_or(runs),
    }
}

pub fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}
