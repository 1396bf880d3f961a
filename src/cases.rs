//! Investigation cases: past incidents whose culprit is known, in the YAML
//! format that `rca backtest` replays (see docs/cases.md).
//!
//! Only `title`, `impact`, `team_hint` and the repository as it stood at
//! `opened_at` may reach the pipeline. `root_cause`, `fix`, `source` and
//! `window_commits` are answers or bookkeeping: [`Case::facts`] is the one
//! door through which a case enters an investigation.

use crate::when::Seconds;
use anyhow::Result;
use serde::{Deserialize, Serialize};
use std::path::Path;

/// A cases file: the cases of one repository.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CasesFile {
    /// A name for reports, e.g. `DPDK/dpdk`.
    pub repo: String,
    /// Folder name of a bare mirror (`owner+name`), used when `--repo` is a
    /// folder of mirrors.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mirror: Option<String>,
    #[serde(default = "default_branch")]
    pub default_branch: String,
    /// A hint only: the format is detected from the tree.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ownership_file: Option<String>,
    pub cases: Vec<Case>,
}

fn default_branch() -> String {
    "main".into()
}

/// One past investigation.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Case {
    pub id: String,
    pub title: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub impact: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub team_hint: Vec<String>,
    /// RFC 3339: the investigation opens; later commits are invisible.
    pub opened_at: String,
    /// RFC 3339: older commits are not candidates.
    pub since: String,
    pub root_cause: String,
    pub source: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fix: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window_commits: Option<u64>,
}

/// What was known when an investigation opened: all a replay may use.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Facts {
    pub title: String,
    pub impact: Option<String>,
    pub team_hints: Vec<String>,
    pub path_hints: Vec<String>,
}

impl Case {
    /// The sparse facts of the case, with or without the team hint.
    pub fn facts(&self, with_team_hint: bool) -> Facts {
        Facts {
            title: self.title.clone(),
            impact: self.impact.clone(),
            team_hints: if with_team_hint {
                self.team_hint.clone()
            } else {
                Vec::new()
            },
            path_hints: Vec::new(),
        }
    }

    /// `opened_at` and `since` as seconds.
    pub fn window(&self) -> Result<(Seconds, Seconds)> {
        let parse = |field: &str, text: &str| {
            crate::when::parse(text, 0)
                .map_err(|e| crate::error::input(format!("case {}: {field}: {e}", self.id)))
        };
        Ok((
            parse("since", &self.since)?,
            parse("opened_at", &self.opened_at)?,
        ))
    }
}

/// Reads and checks a cases file. Errors are input errors naming the file.
pub fn load(path: &Path) -> Result<CasesFile> {
    let file: CasesFile = crate::error::read_yaml(path, "", None)?;
    for case in &file.cases {
        let (since, opened) = case.window()?;
        if since >= opened {
            return Err(crate::error::input(format!(
                "{}: case {}: since is not before opened_at",
                path.display(),
                case.id
            )));
        }
        if case.root_cause.len() < 7 || !case.root_cause.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(crate::error::input(format!(
                "{}: case {}: root_cause {:?} is not a commit id",
                path.display(),
                case.id,
                case.root_cause
            )));
        }
    }
    Ok(file)
}
