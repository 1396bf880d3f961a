//! History: the commits that landed in the investigation window.
//!
//! The walk is read-only. It starts from the last main-line commit whose
//! committer time is before `until` (the investigation's start), follows the
//! main line (first parents) back to `since`, and adds every commit that a
//! main-line merge brought in (`git log M^1..M` for each merge `M`). Those
//! merged-in commits "landed" when their merge did: their `landed_at` is the
//! merge's committer time, whatever their own dates say. Merge commits
//! themselves are not candidates; the commits they brought in are.
//!
//! Changed paths and line counts come from a tree diff against the first
//! parent, with rename detection, computed in parallel with one repository
//! handle per rayon worker (a `git2::Repository` is not `Sync`).

use crate::when::Seconds;
use anyhow::{Context, Result};
use git2::{Diff, DiffFindOptions, DiffOptions, Oid, Patch, Repository, Sort};
use rayon::prelude::*;
use serde::Serialize;
use std::path::{Path, PathBuf};

/// One changed file of a commit.
#[derive(Debug, Clone, Serialize)]
pub struct FileChange {
    /// Path after the change (lossy UTF-8 for non-UTF-8 paths).
    pub path: String,
    /// Path before the change, for renames.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub old_path: Option<String>,
    pub added: u32,
    pub removed: u32,
    /// Binary files have no line counts.
    pub binary: bool,
}

/// A commit in the window, as plain data.
#[derive(Debug, Clone, Serialize)]
pub struct Commit {
    pub id: String,
    pub author: String,
    pub email: String,
    pub authored_at: Seconds,
    pub committed_at: Seconds,
    /// When the commit reached the main line: its own committer time, or the
    /// committer time of the merge that brought it in.
    pub landed_at: Seconds,
    pub subject: String,
    pub body: String,
    pub files: Vec<FileChange>,
    /// The main-line merge that brought this commit in, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub merged_by: Option<String>,
}

impl Commit {
    pub fn short_id(&self) -> &str {
        &self.id[..self.id.len().min(12)]
    }
    pub fn lines_added(&self) -> u64 {
        self.files.iter().map(|f| u64::from(f.added)).sum()
    }
    pub fn lines_removed(&self) -> u64 {
        self.files.iter().map(|f| u64::from(f.removed)).sum()
    }
}

/// The commits of one investigation window.
#[derive(Debug, Clone)]
pub struct Window {
    /// The last main-line commit before `until`: the state of the
    /// repository when the investigation opened.
    pub start: String,
    pub since: Seconds,
    pub until: Seconds,
    /// Newest first (by landing time, then committer time, then id).
    pub commits: Vec<Commit>,
    /// How many of `commits` are on the main line itself.
    pub mainline: usize,
    /// Whether the walk hit the edge of a shallow clone.
    pub truncated: bool,
}

/// Errors a caller branches on (they become input errors).
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error("{0} is not a git repository")]
    NotARepository(String),
    #[error("unknown ref {0:?}")]
    UnknownRef(String),
    #[error("no commit on {reference} before {until}")]
    NothingBefore { reference: String, until: String },
    #[error("no commits landed between {since} and {until}")]
    EmptyWindow { since: String, until: String },
}

/// Opens a repository (bare or not) without changing it. A path inside a
/// work tree finds the repository above it, as git does.
pub fn open(path: &Path) -> Result<Repository, HistoryError> {
    Repository::open_ext(path, git2::RepositoryOpenFlags::empty(), std::iter::empty::<&Path>())
        .map_err(|_| HistoryError::NotARepository(path.display().to_string()))
}

/// Resolves `reference` (default: HEAD) to a commit, then walks back along
/// first parents to the last commit whose committer time is before `until`.
pub fn start_commit(repo: &Repository, reference: Option<&str>, until: Seconds) -> Result<Oid> {
    let name = reference.unwrap_or("HEAD");
    let tip = repo
        .revparse_single(name)
        .and_then(|o| o.peel_to_commit())
        .map_err(|_| HistoryError::UnknownRef(name.to_owned()))?;
    let mut current = tip;
    loop {
        if current.committer().when().seconds() < until {
            return Ok(current.id());
        }
        match current.parent(0) {
            Ok(parent) => current = parent,
            Err(_) => {
                return Err(HistoryError::NothingBefore {
                    reference: name.to_owned(),
                    until: crate::when::rfc3339(until),
                }
                .into())
            }
        }
    }
}

/// One entry of the walk before its diff is computed.
struct Pending {
    id: Oid,
    landed_at: Seconds,
    merged_by: Option<Oid>,
}

/// Lists the window `[since, until)` ending at `start`, with changed paths
/// and line counts.
pub fn window(repo: &Repository, start: Oid, since: Seconds, until: Seconds) -> Result<Window> {
    let mut pending = Vec::new();
    let mut mainline = 0;
    let mut truncated = false;
    let mut current = Some(repo.find_commit(start)?);
    while let Some(commit) = current {
        let time = commit.committer().when().seconds();
        if time < since {
            break;
        }
        if commit.parent_count() > 1 {
            // The commits this merge brought in: reachable from the merge but
            // not from its first parent.
            let mut walk = repo.revwalk()?;
            walk.push(commit.id())?;
            if walk.hide(commit.parent_id(0)?).is_err() {
                truncated = true;
            }
            walk.set_sorting(Sort::TOPOLOGICAL | Sort::TIME)?;
            for id in walk {
                let Ok(id) = id else {
                    truncated = true;
                    break;
                };
                if id != commit.id() {
                    pending.push(Pending { id, landed_at: time, merged_by: Some(commit.id()) });
                }
            }
        } else {
            pending.push(Pending { id: commit.id(), landed_at: time, merged_by: None });
            mainline += 1;
        }
        current = match commit.parent(0) {
            Ok(parent) => Some(parent),
            Err(_) => {
                // A root commit has no parent; a shallow clone's edge has one
                // that is missing.
                truncated |= commit.parent_count() > 0;
                None
            }
        };
    }

    let git_dir: PathBuf = repo.path().to_path_buf();
    let mut commits = pending
        .par_iter()
        .map_init(
            || Repository::open(&git_dir),
            |repo, entry| -> Result<Commit> {
                let repo = repo.as_ref().map_err(|e| anyhow::anyhow!("reopening repository: {e}"))?;
                describe(repo, entry)
            },
        )
        .collect::<Result<Vec<_>>>()?;
    commits.sort_by(|a, b| {
        b.landed_at
            .cmp(&a.landed_at)
            .then(b.committed_at.cmp(&a.committed_at))
            .then(a.id.cmp(&b.id))
    });

    Ok(Window { start: start.to_string(), since, until, commits, mainline, truncated })
}

/// Reads one commit: metadata, message and per-file line counts.
fn describe(repo: &Repository, entry: &Pending) -> Result<Commit> {
    let commit = repo.find_commit(entry.id)?;
    let message = String::from_utf8_lossy(commit.message_bytes());
    let message = message.trim();
    let (subject, body) = match message.split_once('\n') {
        Some((subject, body)) => (subject.trim().to_owned(), body.trim().to_owned()),
        None => (message.to_owned(), String::new()),
    };
    let author = commit.author();
    let committed_at = commit.committer().when().seconds();
    let files = changed_files(repo, &commit)
        .with_context(|| format!("diffing commit {}", entry.id))?;
    Ok(Commit {
        id: entry.id.to_string(),
        author: String::from_utf8_lossy(author.name_bytes()).into_owned(),
        email: String::from_utf8_lossy(author.email_bytes()).into_owned(),
        authored_at: author.when().seconds(),
        committed_at,
        landed_at: entry.landed_at,
        subject,
        body,
        files,
        merged_by: entry.merged_by.map(|id| id.to_string()),
    })
}

/// Above this many changed files, rename detection is skipped (as git does
/// past its rename limit).
const RENAME_LIMIT: usize = 1000;

/// The files a commit changed against its first parent.
fn changed_files(repo: &Repository, commit: &git2::Commit<'_>) -> Result<Vec<FileChange>> {
    let new_tree = commit.tree()?;
    // A missing parent (shallow clone edge) is diffed like a root commit.
    let old_tree = commit.parent(0).ok().and_then(|p| p.tree().ok());
    let mut options = DiffOptions::new();
    options.ignore_submodules(true).context_lines(0);
    let mut diff = repo.diff_tree_to_tree(old_tree.as_ref(), Some(&new_tree), Some(&mut options))?;
    if diff.deltas().len() <= RENAME_LIMIT {
        diff.find_similar(Some(DiffFindOptions::new().renames(true)))?;
    }
    line_counts(&diff)
}

fn line_counts(diff: &Diff<'_>) -> Result<Vec<FileChange>> {
    let mut files = Vec::with_capacity(diff.deltas().len());
    for (index, delta) in diff.deltas().enumerate() {
        let new_path = delta.new_file().path_bytes().or(delta.old_file().path_bytes());
        let path = new_path.map(|p| String::from_utf8_lossy(p).into_owned()).unwrap_or_default();
        let old_path = match delta.status() {
            git2::Delta::Renamed | git2::Delta::Copied => {
                delta.old_file().path_bytes().map(|p| String::from_utf8_lossy(p).into_owned())
            }
            _ => None,
        };
        let (mut added, mut removed, mut binary) = (0, 0, delta.flags().is_binary());
        if !binary {
            match Patch::from_diff(diff, index)? {
                Some(patch) => {
                    if patch.delta().flags().is_binary() {
                        binary = true;
                    } else {
                        let (_, adds, dels) = patch.line_stats()?;
                        added = u32::try_from(adds).unwrap_or(u32::MAX);
                        removed = u32::try_from(dels).unwrap_or(u32::MAX);
                    }
                }
                None => binary = true,
            }
        }
        files.push(FileChange { path, old_path, added, removed, binary });
    }
    Ok(files)
}
