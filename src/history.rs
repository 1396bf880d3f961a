//! History: the commits that landed in the investigation window.
//!
//! The walk is read-only. Commits count by when they landed on the main line
//! (first parents): a main-line commit lands no earlier than the main-line
//! commits before it, so its landing time is the latest committer time of it
//! and all of them (dates run backwards after sub-tree pulls). The walk starts
//! from the last main-line commit that landed before `until` (the
//! investigation's start), follows the main line back to the last one that
//! landed at or after `since`, and adds every commit that a main-line merge
//! brought in (`git log M^1..M` for each merge `M`). Those merged-in commits
//! landed with their merge, whatever their own dates say. Merge commits
//! themselves, main-line or merged in, are not candidates; the commits they
//! brought in are.
//!
//! Changed paths and line counts come from a tree diff against the first
//! parent (see [`changed_files`]), computed in parallel with one repository
//! handle per rayon worker (a `git2::Repository` is not `Sync`). With a
//! [`DiffCache`], readings of commits seen before come from it instead.

use crate::cache::DiffCache;
use crate::diff::{self, ChangeText};
use crate::when::Seconds;
use anyhow::{Context, Result};
use git2::{Oid, Repository, Sort};
use rayon::prelude::*;
use serde::Serialize;
use std::collections::{HashMap, HashSet};
use std::path::{Path, PathBuf};

/// One changed file of a commit.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct FileChange {
    /// Path after the change (lossy UTF-8 for non-UTF-8 paths).
    pub path: String,
    /// Path before the change, for renames.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub old_path: Option<String>,
    pub added: u32,
    pub removed: u32,
    /// Binary files, submodules (a gitlink whose commit changed) and blobs
    /// missing from a partial clone have no line counts.
    pub binary: bool,
    /// A blob of this change is missing (a partial clone, or a damaged
    /// repository): its lines could not be read.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub missing: bool,
}

/// A commit in the window, as plain data.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Commit {
    pub id: String,
    pub author: String,
    pub email: String,
    pub authored_at: Seconds,
    pub committed_at: Seconds,
    /// When the commit reached the main line: the landing time of its own
    /// main-line commit, or of the merge that brought it in (see the module
    /// docs).
    pub landed_at: Seconds,
    pub subject: String,
    pub body: String,
    pub files: Vec<FileChange>,
    /// What the changed lines say (identifiers, strings, hunk functions),
    /// read while the lines were counted.
    #[serde(default)]
    pub diff: ChangeText,
    /// The main-line merge that brought this commit in, if any.
    #[serde(default, skip_serializing_if = "Option::is_none")]
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
    /// The last main-line commit that landed before `until`: the state of the
    /// repository when the investigation opened.
    pub start: String,
    pub since: Seconds,
    pub until: Seconds,
    /// Newest first (by landing time, then committer time, then id).
    pub commits: Vec<Commit>,
    /// How many of `commits` are on the main line itself.
    pub mainline: usize,
    /// Whether the walk hit the edge of a shallow clone, in the window or in
    /// the older history that landing times look at.
    pub truncated: bool,
    /// Where the readable history stops, when the walk hit that edge.
    pub edge: Option<Edge>,
    /// The last main-line commit that landed before `since` (None when the
    /// walk reached the first commit or the edge of the history first).
    pub base: Option<String>,
    /// How many of `commits` had their diff reading from the cache.
    pub from_cache: usize,
}

/// The edge of a shallow or otherwise incomplete history, as the walk met it.
#[derive(Debug, Clone, Serialize)]
pub struct Edge {
    /// The repository is a shallow clone (git's `shallow` file).
    pub shallow_repository: bool,
    /// The oldest main-line commit the walk could read, and when it landed.
    pub oldest_commit: String,
    pub oldest_landed_at: Seconds,
    /// Window commits left out because their parent is missing: what they
    /// changed cannot be known (they are never diffed against an empty tree).
    pub not_diffed: Vec<String>,
    /// The window starts before `oldest_landed_at`: the commits that landed
    /// between the two are not in this clone.
    pub window_incomplete: bool,
}

/// Errors a caller branches on (they become input errors).
#[derive(Debug, thiserror::Error)]
pub enum HistoryError {
    #[error("{0} is not a git repository")]
    NotARepository(String),
    #[error("unknown ref {0:?}")]
    UnknownRef(String),
    #[error("the repository has no commits yet")]
    NoCommits,
    #[error("HEAD points at {0}, which has no commits yet: pass --ref")]
    UnbornHead(String),
    #[error("no commit on {reference} before {until}")]
    NothingBefore { reference: String, until: String },
    #[error("no commits landed between {since} and {until}")]
    EmptyWindow { since: String, until: String },
}

/// Opens a repository (bare or not) without changing it. A path inside a
/// work tree finds the repository above it, as git does.
pub fn open(path: &Path) -> Result<Repository, HistoryError> {
    // Reading verifies every object's SHA-1 by default (with collision
    // detection, a fifth of the walk's time). The repository is the user's
    // own and nothing is written, so skip it, as `git log` does.
    git2::opts::strict_hash_verification(false);
    // A file's version is read twice: as the new side of one change and as
    // the old side of the next. Let libgit2 cache blobs as well as trees.
    // SAFETY: sets a process-wide libgit2 option before any reads.
    #[allow(unsafe_code)]
    unsafe {
        let _ = git2::opts::set_cache_object_limit(git2::ObjectType::Blob, 1 << 20);
    }
    Repository::open_ext(
        path,
        git2::RepositoryOpenFlags::empty(),
        std::iter::empty::<&Path>(),
    )
    .map_err(|_| HistoryError::NotARepository(path.display().to_string()))
}

/// Committer dates run backwards on some main lines: a sub-tree pull lands
/// commits that keep their old dates. A main-line commit therefore lands no
/// earlier than the main-line commits before it, and its landing time is the
/// latest committer time of it and all of them. The walks below read this
/// much older history than they need, at least, so that an older main-line
/// commit with a later date is seen (DPDK's dates jump back by up to 81
/// days)...
const MIN_SKEW: Seconds = 120 * 86_400;
/// ...or twice the largest backward jump seen so far in the walk, up to this.
const MAX_SKEW: Seconds = 366 * 86_400;

/// One main-line (first-parent) commit.
struct Line {
    id: Oid,
    /// Committer time.
    time: Seconds,
    /// Landing time: the latest committer time of this line and every line
    /// before it (as far as the walk went).
    landed_at: Seconds,
    merge: bool,
}

/// The main line from `tip` back, newest first, with landing times: it stops
/// at the first commit older than `floor` by more than the backward jumps its
/// dates have made so far (see [`MIN_SKEW`]). Also returns whether
/// it hit the edge of a shallow clone before that.
///
/// The first-parent chain is read through [`CHAINS`], so that the many
/// replays of a backtest or a training run walk each commit once.
fn main_line(
    repo: &Repository,
    tip: Oid,
    floor: Seconds,
    edge: &HashSet<Oid>,
) -> (Vec<Line>, bool) {
    let mut chains = CHAINS
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner);
    let known = chains.entry(repo.path().to_path_buf()).or_default();
    let found = known
        .iter()
        .enumerate()
        .find_map(|(c, chain)| Some((c, *chain.index.get(&tip)?)));
    let (c, mut at) = found.unwrap_or_else(|| {
        if known.len() >= MAX_CHAINS {
            known.remove(0);
        }
        known.push(Chain::new(tip));
        (known.len() - 1, 0)
    });
    let chain = &mut known[c];
    let mut lines: Vec<Line> = Vec::new();
    let mut oldest = Seconds::MAX;
    let mut skew = 0;
    let truncated = loop {
        if at == chain.steps.len() {
            match chain.end {
                // Past a root commit or a shallow clone's edge.
                Some(truncated) => break truncated,
                None => chain.extend(repo, edge),
            }
            continue;
        }
        let step = chain.steps[at];
        skew = skew.max(step.time.saturating_sub(oldest));
        oldest = oldest.min(step.time);
        lines.push(Line {
            id: step.id,
            time: step.time,
            landed_at: step.time,
            merge: step.merge,
        });
        if step.time < floor.saturating_sub(skew.saturating_mul(2).clamp(MIN_SKEW, MAX_SKEW)) {
            break false;
        }
        at += 1;
    };
    let landed = landing_times(lines.iter().map(|l| l.time));
    for (line, landed_at) in lines.iter_mut().zip(landed) {
        line.landed_at = landed_at;
    }
    (lines, truncated)
}

/// First-parent chains read so far in this process, per repository (by its
/// git folder), at most [`MAX_CHAINS`] each: a commit's chain never
/// changes, so a replay that starts on a chain already read reuses it.
static CHAINS: std::sync::LazyLock<std::sync::Mutex<HashMap<PathBuf, Vec<Chain>>>> =
    std::sync::LazyLock::new(Default::default);
const MAX_CHAINS: usize = 4;
/// Commits read at a time when a walk goes past what a chain holds.
const CHAIN_READ: usize = 256;

/// One commit of a first-parent chain.
#[derive(Clone, Copy)]
struct Step {
    id: Oid,
    time: Seconds,
    merge: bool,
}

/// The first-parent chain from a tip, as far as it has been read.
struct Chain {
    tip: Oid,
    steps: Vec<Step>,
    index: HashMap<Oid, usize>,
    /// Once the chain's end is read: whether it ends at a shallow clone's
    /// edge or a missing parent (true) rather than a root commit.
    end: Option<bool>,
}

impl Chain {
    fn new(tip: Oid) -> Chain {
        Chain {
            tip,
            steps: Vec::new(),
            index: HashMap::new(),
            end: None,
        }
    }

    /// Reads up to [`CHAIN_READ`] more commits, or to the chain's end.
    fn extend(&mut self, repo: &Repository, edge: &HashSet<Oid>) {
        let next = match self.steps.last() {
            None => repo.find_commit(self.tip),
            Some(last) => repo.find_commit(last.id).and_then(|c| c.parent(0)),
        };
        let Ok(mut current) = next else {
            self.end = Some(true);
            return;
        };
        for _ in 0..CHAIN_READ {
            let id = current.id();
            self.index.insert(id, self.steps.len());
            self.steps.push(Step {
                id,
                time: current.committer().when().seconds(),
                merge: current.parent_count() > 1,
            });
            if edge.contains(&id) {
                self.end = Some(true);
                return;
            }
            match current.parent(0) {
                Ok(parent) => current = parent,
                // A root commit has no parent; a shallow clone's edge has
                // one that is missing.
                Err(_) => {
                    self.end = Some(current.parent_count() > 0);
                    return;
                }
            }
        }
    }
}

/// The landing times of main-line commits given newest first by committer
/// time: each is the latest time of it and every commit after it in the list
/// (before it on the main line).
pub fn landing_times(times: impl DoubleEndedIterator<Item = Seconds>) -> Vec<Seconds> {
    let mut landed: Vec<Seconds> = times
        .rev()
        .scan(Seconds::MIN, |latest, time| {
            *latest = (*latest).max(time);
            Some(*latest)
        })
        .collect();
    landed.reverse();
    landed
}

/// Resolves `reference` (default: HEAD) to a commit, then walks back along
/// first parents to the last commit that landed before `until` (see
/// [`main_line`]): the state of the repository at that time. A later commit
/// whose own date is older (a sub-tree pull) does not count: it landed after
/// the main-line commits before it.
pub fn start_commit(repo: &Repository, reference: Option<&str>, until: Seconds) -> Result<Oid> {
    let name = reference.unwrap_or("HEAD");
    if reference.is_none() {
        if let Err(e) = repo.head() {
            if e.code() == git2::ErrorCode::UnbornBranch {
                return Err(if repo.is_empty().unwrap_or(false) {
                    HistoryError::NoCommits
                } else {
                    let branch = repo
                        .find_reference("HEAD")
                        .ok()
                        .and_then(|h| h.symbolic_target().map(str::to_owned))
                        .unwrap_or_else(|| "an unborn branch".to_owned());
                    HistoryError::UnbornHead(branch)
                }
                .into());
            }
        }
    }
    let tip = repo
        .revparse_single(name)
        .and_then(|o| o.peel_to_commit())
        .map_err(|_| HistoryError::UnknownRef(name.to_owned()))?;
    let (lines, _) = main_line(repo, tip.id(), until, &shallow_edge(repo));
    match lines.iter().find(|l| l.landed_at < until) {
        Some(line) => Ok(line.id),
        None => Err(HistoryError::NothingBefore {
            reference: name.to_owned(),
            until: crate::when::rfc3339(until),
        }
        .into()),
    }
}

/// The commits at a shallow clone's edge (git's `shallow` file). libgit2
/// shows them as root commits: their parents exist but are not here.
fn shallow_edge(repo: &Repository) -> HashSet<Oid> {
    if !repo.is_shallow() {
        return HashSet::new();
    }
    std::fs::read_to_string(repo.path().join("shallow"))
        .unwrap_or_default()
        .lines()
        .filter_map(|line| Oid::from_str(line.trim()).ok())
        .collect()
}

/// One entry of the walk before its diff is computed.
struct Pending {
    id: Oid,
    landed_at: Seconds,
    merged_by: Option<Oid>,
}

/// Lists the commits that landed in `[since, until)` on the main line ending
/// at `start`, with changed paths and line counts (read through `cache`
/// when one is given).
pub fn window(
    repo: &Repository,
    start: Oid,
    since: Seconds,
    until: Seconds,
    cache: Option<&DiffCache>,
) -> Result<Window> {
    let edge = shallow_edge(repo);
    let (lines, mut truncated) = main_line(repo, start, since, &edge);
    // Landing times only fall along the walk, so the window is one stretch.
    let mut pending = Vec::new();

    for line in lines
        .iter()
        .skip_while(|l| l.landed_at >= until)
        .take_while(|l| l.landed_at >= since)
    {
        if line.merge {
            // The commits this merge brought in: reachable from the merge but
            // not from its first parent.
            let merge = repo.find_commit(line.id)?;
            let mut walk = repo.revwalk()?;
            walk.push(line.id)?;
            if walk.hide(merge.parent_id(0)?).is_err() {
                truncated = true;
            }
            walk.set_sorting(Sort::TOPOLOGICAL | Sort::TIME)?;
            for id in walk {
                let Ok(id) = id else {
                    truncated = true;
                    break;
                };
                // Merges inside the merged-in history are dropped when the
                // commits are read ([`describe`]).
                if id == line.id {
                    continue;
                }
                pending.push(Pending {
                    id,
                    landed_at: line.landed_at,
                    merged_by: Some(line.id),
                });
            }
        } else {
            pending.push(Pending {
                id: line.id,
                landed_at: line.landed_at,
                merged_by: None,
            });
        }
    }

    let git_dir: PathBuf = repo.path().to_path_buf();
    let read = pending
        .par_iter()
        .map_init(
            || Repository::open(&git_dir),
            |repo, entry| -> Result<Read> {
                let repo = repo
                    .as_ref()
                    .map_err(|e| anyhow::anyhow!("reopening repository: {e}"))?;
                describe(repo, entry, &edge, cache)
            },
        )
        .collect::<Result<Vec<Read>>>()?;
    let mut not_diffed = Vec::new();
    let mut from_cache = 0;
    let mut commits: Vec<Commit> = read
        .into_iter()
        .filter_map(|read| match read {
            Read::Commit(commit, cached) => {
                from_cache += usize::from(cached);
                Some(*commit)
            }
            Read::InnerMerge => None,
            Read::ParentMissing(id) => {
                not_diffed.push(id);
                None
            }
        })
        .collect();
    truncated |= !not_diffed.is_empty();
    let mainline = commits.iter().filter(|c| c.merged_by.is_none()).count();
    let edge = truncated.then(|| {
        let oldest = lines.last();
        let oldest_landed_at = oldest.map_or(since, |l| l.landed_at);
        Edge {
            shallow_repository: repo.is_shallow(),
            oldest_commit: oldest.map(|l| l.id.to_string()).unwrap_or_default(),
            oldest_landed_at,
            window_incomplete: oldest_landed_at > since || !not_diffed.is_empty(),
            not_diffed,
        }
    });
    commits.sort_by(|a, b| {
        b.landed_at
            .cmp(&a.landed_at)
            .then(b.committed_at.cmp(&a.committed_at))
            .then(a.id.cmp(&b.id))
    });

    let base = lines
        .iter()
        .skip_while(|l| l.landed_at >= until)
        .find(|l| l.landed_at < since)
        .map(|l| l.id.to_string());
    Ok(Window {
        base,
        start: start.to_string(),
        since,
        until,
        commits,
        mainline,
        truncated,
        edge,
        from_cache,
    })
}

/// What reading one walked commit gives.
enum Read {
    /// The commit, and whether its diff reading came from the cache.
    Commit(Box<Commit>, bool),
    /// A merge inside merged-in history: its commits are listed instead.
    InnerMerge,
    /// Its parent is missing (a shallow clone's edge): not diffed.
    ParentMissing(String),
}

/// Reads one commit: metadata, message and per-file line counts. A merge
/// inside merged-in history (a sub-maintainer's pull) is not a change of its
/// own, since its commits are listed.
fn describe(
    repo: &Repository,
    entry: &Pending,
    edge: &HashSet<Oid>,
    cache: Option<&DiffCache>,
) -> Result<Read> {
    let commit = repo.find_commit(entry.id)?;
    if entry.merged_by.is_some() && commit.parent_count() > 1 {
        return Ok(Read::InnerMerge);
    }
    if edge.contains(&entry.id) || (commit.parent_count() > 0 && commit.parent(0).is_err()) {
        return Ok(Read::ParentMissing(entry.id.to_string()));
    }
    let encoding = commit.message_encoding();
    let message = decode(commit.message_bytes(), encoding);
    let message = message.trim();
    let (subject, body) = match message.split_once('\n') {
        Some((subject, body)) => (subject.trim().to_owned(), body.trim().to_owned()),
        None => (message.to_owned(), String::new()),
    };
    let author = commit.author();
    let committed_at = commit.committer().when().seconds();
    let cached = cache.and_then(|cache| cache.get(entry.id));
    let from_cache = cached.is_some();
    let (files, diff) = match cached {
        Some(reading) => reading,
        None => {
            let (files, diff) = changed_files(repo, &commit)
                .with_context(|| format!("diffing commit {}", entry.id))?;
            if let Some(cache) = cache {
                cache.put(entry.id, &files, &diff);
            }
            (files, diff)
        }
    };
    Ok(Read::Commit(
        Box::new(Commit {
            id: entry.id.to_string(),
            author: decode(author.name_bytes(), encoding).into_owned(),
            email: String::from_utf8_lossy(author.email_bytes()).into_owned(),
            authored_at: author.when().seconds(),
            committed_at,
            landed_at: entry.landed_at,
            subject,
            body,
            files,
            diff,
            merged_by: entry.merged_by.map(|id| id.to_string()),
        }),
        from_cache,
    ))
}

/// Commit text in the encoding its `encoding` header declares (git writes
/// one for `i18n.commitEncoding`, e.g. ISO-8859-1), else UTF-8; bytes that
/// do not decode become U+FFFD.
fn decode<'a>(bytes: &'a [u8], encoding: Option<&str>) -> std::borrow::Cow<'a, str> {
    match encoding.and_then(|label| encoding_rs::Encoding::for_label(label.as_bytes())) {
        Some(encoding) if std::str::from_utf8(bytes).is_err() => {
            encoding.decode_without_bom_handling(bytes).0
        }
        _ => String::from_utf8_lossy(bytes),
    }
}

/// The files a commit changed against its first parent, and the text of
/// its changed lines ([`diff`]).
///
/// The tree diff is our own: a merge-join of sorted tree entries that skips
/// identical subtrees by id, as git's own tree diff does. It is several
/// times cheaper than a full `git_diff` with patches. Line counts come from
/// modified blobs only; added and deleted blobs are counted by their
/// newlines. Renames are detected when the content is unchanged (a
/// deleted and an added path with the same blob); an edited rename shows as
/// a deletion and an addition. Line counts are described at
/// [`changed_lines`].
fn changed_files(
    repo: &Repository,
    commit: &git2::Commit<'_>,
) -> Result<(Vec<FileChange>, ChangeText)> {
    let new_tree = commit.tree()?;
    // A root commit is diffed against the empty tree (one whose parent is
    // missing never reaches here: see `describe`).
    let old_tree = match commit.parent(0) {
        Ok(parent) => Some(parent.tree()?),
        Err(_) => None,
    };
    let mut changes = Vec::new();
    diff_trees(
        repo,
        old_tree.as_ref(),
        Some(&new_tree),
        &mut Vec::new(),
        &mut changes,
    )?;

    // Pair exact renames: a deletion and an addition of the same blob.
    let mut deleted: HashMap<Oid, Vec<usize>> = HashMap::new();
    for (i, change) in changes.iter().enumerate() {
        if let (Some(old), None) = (change.old, change.new) {
            deleted.entry(old).or_default().push(i);
        }
    }
    let mut renamed_from: HashMap<usize, usize> = HashMap::new();
    let mut consumed = vec![false; changes.len()];
    for (i, change) in changes.iter().enumerate() {
        if let (None, Some(new)) = (change.old, change.new) {
            if let Some(slots) = deleted.get_mut(&new) {
                if let Some(j) = slots.pop() {
                    renamed_from.insert(i, j);
                    consumed[j] = true;
                }
            }
        }
    }

    let mut files = Vec::with_capacity(changes.len());
    let mut reader = diff::Reader::default();
    for (i, change) in changes.iter().enumerate() {
        if consumed[i] {
            continue;
        }
        let path = String::from_utf8_lossy(&change.path).into_owned();
        if let Some(&j) = renamed_from.get(&i) {
            let old_path = Some(String::from_utf8_lossy(&changes[j].path).into_owned());
            files.push(FileChange {
                path,
                old_path,
                added: 0,
                removed: 0,
                binary: false,
                missing: false,
            });
            continue;
        }
        let index = u32::try_from(files.len()).unwrap_or(u32::MAX);
        // A submodule has no lines here: counted like a binary file.
        let (added, removed, binary, missing) = if change.gitlink {
            (0, 0, true, false)
        } else {
            line_counts(repo, change.old, change.new, &path, index, &mut reader)?
        };
        files.push(FileChange {
            path,
            old_path: None,
            added,
            removed,
            binary,
            missing,
        });
    }
    Ok((files, reader.finish()))
}

/// One changed blob: ids before and after (None for added or deleted).
struct BlobChange {
    path: Vec<u8>,
    old: Option<Oid>,
    new: Option<Oid>,
    /// A submodule's commit rather than a blob on one side.
    gitlink: bool,
}

/// Tree entries sort as their names, with a tree's name followed by "/".
fn entry_key(entry: &git2::TreeEntry<'_>) -> Vec<u8> {
    let mut key = entry.name_bytes().to_vec();
    if entry.kind() == Some(git2::ObjectType::Tree) {
        key.push(b'/');
    }
    key
}

fn diff_trees(
    repo: &Repository,
    old: Option<&git2::Tree<'_>>,
    new: Option<&git2::Tree<'_>>,
    prefix: &mut Vec<u8>,
    out: &mut Vec<BlobChange>,
) -> Result<()> {
    let old_entries: Vec<git2::TreeEntry<'_>> = old.map(|t| t.iter().collect()).unwrap_or_default();
    let new_entries: Vec<git2::TreeEntry<'_>> = new.map(|t| t.iter().collect()).unwrap_or_default();
    let old_keys: Vec<Vec<u8>> = old_entries.iter().map(entry_key).collect();
    let new_keys: Vec<Vec<u8>> = new_entries.iter().map(entry_key).collect();
    let (mut i, mut j) = (0, 0);
    while i < old_entries.len() || j < new_entries.len() {
        let order = match (old_keys.get(i), new_keys.get(j)) {
            (Some(a), Some(b)) => a.cmp(b),
            (Some(_), None) => std::cmp::Ordering::Less,
            _ => std::cmp::Ordering::Greater,
        };
        match order {
            std::cmp::Ordering::Equal => {
                let (a, b) = (&old_entries[i], &new_entries[j]);
                if a.id() != b.id() || a.filemode() != b.filemode() {
                    visit(repo, Some(a), Some(b), prefix, out)?;
                }
                i += 1;
                j += 1;
            }
            std::cmp::Ordering::Less => {
                visit(repo, Some(&old_entries[i]), None, prefix, out)?;
                i += 1;
            }
            std::cmp::Ordering::Greater => {
                visit(repo, None, Some(&new_entries[j]), prefix, out)?;
                j += 1;
            }
        }
    }
    Ok(())
}

/// Records a changed entry, descending into trees.
fn visit(
    repo: &Repository,
    old: Option<&git2::TreeEntry<'_>>,
    new: Option<&git2::TreeEntry<'_>>,
    prefix: &mut Vec<u8>,
    out: &mut Vec<BlobChange>,
) -> Result<()> {
    use git2::ObjectType::{Blob, Commit, Tree};
    let name = old
        .or(new)
        .map(|e| e.name_bytes().to_vec())
        .unwrap_or_default();
    let kind = |e: Option<&git2::TreeEntry<'_>>| e.and_then(|e| e.kind());
    let (old_kind, new_kind) = (kind(old), kind(new));
    let mark = prefix.len();
    prefix.extend_from_slice(&name);
    if old_kind == Some(Tree) || new_kind == Some(Tree) {
        let tree = |e: Option<&git2::TreeEntry<'_>>, k| match (e, k) {
            (Some(e), Some(Tree)) => repo.find_tree(e.id()).ok(),
            _ => None,
        };
        let (old_tree, new_tree) = (tree(old, old_kind), tree(new, new_kind));
        prefix.push(b'/');
        diff_trees(repo, old_tree.as_ref(), new_tree.as_ref(), prefix, out)?;
        prefix.pop();
    }
    // Blobs (and a blob replaced by a tree or back), and gitlinks: a
    // submodule bumped, added or removed is a change to its path.
    let blob = |e: Option<&git2::TreeEntry<'_>>, k| match (e, k) {
        (Some(e), Some(Blob | Commit)) => Some(e.id()),
        _ => None,
    };
    let (old_blob, new_blob) = (blob(old, old_kind), blob(new, new_kind));
    if old_blob.is_some() || new_blob.is_some() {
        out.push(BlobChange {
            path: prefix.clone(),
            old: old_blob,
            new: new_blob,
            gitlink: old_kind == Some(Commit) || new_kind == Some(Commit),
        });
    }
    prefix.truncate(mark);
    Ok(())
}

/// Git's binary heuristic: a NUL byte in the first 8,000 bytes.
fn is_binary(content: &[u8]) -> bool {
    content[..content.len().min(8000)].contains(&0)
}

/// (added, removed, binary, missing) between two blobs; the changed lines go to
/// `reader` while its budget lasts, unless the file is vendored or generated.
///
/// Lines are compared as [`diff::changed_lines`] does: common ends trimmed,
/// then a multiset difference. This equals git's numstat unless lines moved
/// within the changed region, where it counts fewer, and it costs a
/// fraction of a full Myers diff, which dominated the walk's time. Exact
/// figures matter less here than what they are used for: a size signal.
fn line_counts(
    repo: &Repository,
    old: Option<Oid>,
    new: Option<Oid>,
    path: &str,
    index: u32,
    reader: &mut diff::Reader,
) -> Result<(u32, u32, bool, bool)> {
    // A blob missing from a partial or filtered clone has no line counts,
    // like a binary one; the path still counts.
    let (Ok(old_blob), Ok(new_blob)) = (
        old.map(|id| repo.find_blob(id)).transpose(),
        new.map(|id| repo.find_blob(id)).transpose(),
    ) else {
        reader.skip();
        return Ok((0, 0, true, true));
    };
    let old_content = old_blob.as_ref().map_or(&[][..], |b| b.content());
    let new_content = new_blob.as_ref().map_or(&[][..], |b| b.content());
    if is_binary(old_content) || is_binary(new_content) {
        reader.skip();
        return Ok((0, 0, true, false));
    }
    if old_content == new_content {
        return Ok((0, 0, false, false));
    }
    let lines = diff::changed_lines(old_content, new_content);
    let readable = !diff::is_vendored_or_generated_path(path)
        && !diff::is_generated_content(new_content)
        && !diff::is_generated_content(old_content);
    if !readable {
        reader.skip();
    } else if reader.wants_more() {
        reader.read(index, path, &lines);
    }
    Ok((
        u32::try_from(lines.added.len()).unwrap_or(u32::MAX),
        u32::try_from(lines.removed.len()).unwrap_or(u32::MAX),
        false,
        false,
    ))
}

#[cfg(test)]
mod tests {
    use super::landing_times;

    #[test]
    fn a_commit_lands_no_earlier_than_the_ones_before_it() {
        // Newest first: the commits dated 2 and 5 came in after the one dated 10.
        assert_eq!(
            landing_times([5, 2, 10, 3, 1].into_iter()),
            vec![10, 10, 10, 3, 1]
        );
        assert!(landing_times(std::iter::empty()).is_empty());
    }
}
