//! Mining investigation cases from a repository's own history
//! (`rca cases mine`).
//!
//! A case pairs what was known when an investigation opened with the
//! commit that turned out to be the culprit. Two kinds of commit name their
//! culprit:
//!
//! - a fix with a `Fixes: <id>` trailer (source `fixes-trailer`);
//! - a revert that names its target (`This reverts commit <id>`, `Reverts
//!   #1234`, `Revert "... (#1234)"`) and says why (source `revert`).
//!
//! The facts a case keeps are sparse, as an alert or a bug report would be:
//! the fix's subject (or the revert's reason) as the title, a symptom
//! sentence as the impact, and the owners of the fix's files as the team
//! hint. Everything that could give the answer away is stripped or makes
//! the case drop out (see [`names_culprit`]).
//!
//! The text rules are pure functions over strings ([`text`], unit-tested
//! in `tests.rs`); [`mine`] applies them to a repository, read-only. The
//! rules are documented in docs/cases.md ("Mining cases").

pub mod text;
pub use text::*;

use crate::cases::{Case, CasesFile};
use crate::history;
use crate::ownership::{Format as OwnershipFormat, Ownership};
use crate::when::{self, Seconds};
use anyhow::Result;
use git2::{Oid, Repository, Sort};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet};

/// At most this many owners go into a team hint.
pub const TEAM_HINT_MAX: usize = 6;

/// What to mine.
#[derive(Debug, Clone)]
pub struct Settings {
    /// The `repo` name of the cases file, e.g. `DPDK/dpdk`.
    pub name: String,
    /// Case ids are `<prefix>-<n>`.
    pub prefix: String,
    /// The main line (default: HEAD).
    pub reference: Option<String>,
    /// Fixes whose committer time is in `[since, until)` are mined.
    pub since: Seconds,
    pub until: Seconds,
    /// The culprit landed at most this long before the fix.
    pub max_lag: Seconds,
    /// A case's window: `since = opened_at - lookback`.
    pub lookback: Seconds,
}

/// Why a candidate fix or revert did not become a case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Dropped {
    RevertWithoutTarget,
    RevertWithoutReason,
    RevertWithoutSymptom,
    UnknownCulprit,
    SeveralCulprits,
    CulpritIsMerge,
    CulpritNotOnMainLine,
    CulpritNotBeforeFix,
    CulpritTooOld,
    CulpritOutsideWindow,
    LeakyTitle,
    EmptyTitle,
    DuplicateCulprit,
}

impl Dropped {
    pub fn name(self) -> &'static str {
        match self {
            Dropped::RevertWithoutTarget => "revert-without-target",
            Dropped::RevertWithoutReason => "revert-without-reason",
            Dropped::RevertWithoutSymptom => "revert-without-symptom",
            Dropped::UnknownCulprit => "unknown-culprit",
            Dropped::SeveralCulprits => "several-culprits",
            Dropped::CulpritIsMerge => "culprit-is-merge",
            Dropped::CulpritNotOnMainLine => "culprit-not-on-main-line",
            Dropped::CulpritNotBeforeFix => "culprit-not-before-fix",
            Dropped::CulpritTooOld => "culprit-too-old",
            Dropped::CulpritOutsideWindow => "culprit-outside-window",
            Dropped::LeakyTitle => "leaky-title",
            Dropped::EmptyTitle => "empty-title",
            Dropped::DuplicateCulprit => "duplicate-culprit",
        }
    }
}

/// What mining saw, kept and dropped.
#[derive(Debug, Clone, Default, Serialize)]
pub struct Report {
    pub repo: String,
    pub default_branch: String,
    /// The commit `--ref` pointed at.
    pub tip: String,
    pub since: String,
    pub until: String,
    pub max_lag_seconds: Seconds,
    pub lookback_seconds: Seconds,
    /// Main-line and merged-in commits whose committer time is in
    /// `[since, until)`.
    pub commits_scanned: usize,
    /// Candidate fixes and reverts, by source.
    pub seen: BTreeMap<&'static str, usize>,
    /// Cases written, by source.
    pub kept: BTreeMap<&'static str, usize>,
    /// Candidates dropped, by reason.
    pub dropped: BTreeMap<&'static str, usize>,
    pub cases: usize,
    pub seconds: f64,
    /// Every dropped candidate with its reason, in mining order.
    pub drops: Vec<Drop>,
}

/// One dropped candidate.
#[derive(Debug, Clone, Serialize)]
pub struct Drop {
    pub fix: String,
    pub source: &'static str,
    pub reason: &'static str,
}

impl Report {
    fn drop(&mut self, fix: Oid, source: Source, reason: Dropped) {
        *self.dropped.entry(reason.name()).or_default() += 1;
        self.drops.push(Drop {
            fix: fix.to_string(),
            source: source.name(),
            reason: reason.name(),
        });
    }
}

/// One commit of the main line, newest first.
struct Line {
    id: Oid,
    time: Seconds,
    /// Commits this one stands for in a window: 1, or for a merge the
    /// number of non-merge commits it brought in.
    weight: usize,
    merge: bool,
}

/// The main line from the tip back to a bound, with the commits merges
/// brought in, indexed for the checks.
struct MainLine {
    lines: Vec<Line>,
    /// Commit → index of the main-line commit that landed it (itself, or
    /// the merge that brought it in).
    landed_by: HashMap<Oid, usize>,
    /// The earliest time each line can have landed: the latest committer
    /// time of it and every main-line commit before it. Committer dates go
    /// backwards now and then (sub-tree pulls); a commit cannot be on the
    /// main line before its main-line ancestors are.
    landed_at: Vec<Seconds>,
    /// Pull-request number → lines (and merged-in commits) whose subject
    /// ends with `(#N)`, newest first.
    pulls: HashMap<u64, Vec<Oid>>,
    /// Review number → commits whose `Differential Revision:` line names
    /// it, newest first.
    reviews: HashMap<u64, Vec<Oid>>,
    /// Every non-merge commit on the main line or brought in by a merge,
    /// with its committer time.
    commits: Vec<(Oid, Seconds)>,
    /// Committer time below which the walk stopped.
    bound: Seconds,
}

impl MainLine {
    fn walk(repo: &Repository, tip: Oid, bound: Seconds) -> Result<Self> {
        let mut lines = Vec::new();
        let mut landed_by = HashMap::new();
        let mut pulls: HashMap<u64, Vec<Oid>> = HashMap::new();
        let mut reviews: HashMap<u64, Vec<Oid>> = HashMap::new();
        let mut commits = Vec::new();
        let mut note = |c: &git2::Commit<'_>| {
            let subject = String::from_utf8_lossy(c.summary_bytes().unwrap_or(b""));
            if let Some(n) = trailing_pull(&subject).or_else(|| text::merge_pull(&subject)) {
                pulls.entry(n).or_default().push(c.id());
            }
            if let Some(n) = differential_revision(&String::from_utf8_lossy(c.message_bytes())) {
                reviews.entry(n).or_default().push(c.id());
            }
            if c.parent_count() <= 1 {
                commits.push((c.id(), c.committer().when().seconds()));
            }
        };
        let mut current = Some(repo.find_commit(tip)?);
        while let Some(commit) = current {
            let time = commit.committer().when().seconds();
            if time < bound {
                break;
            }
            let index = lines.len();
            let merge = commit.parent_count() > 1;
            let mut weight = 1;
            if merge {
                let mut walk = repo.revwalk()?;
                walk.push(commit.id())?;
                let _ = walk.hide(commit.parent_id(0)?);
                walk.set_sorting(Sort::TOPOLOGICAL | Sort::TIME)?;
                weight = 0;
                for id in walk.flatten() {
                    if id == commit.id() {
                        continue;
                    }
                    landed_by.entry(id).or_insert(index);
                    if let Ok(c) = repo.find_commit(id) {
                        // Merges are not candidates, here as in a replay.
                        weight += usize::from(c.parent_count() <= 1);
                        note(&c);
                    }
                }
            }
            landed_by.insert(commit.id(), index);
            note(&commit);
            lines.push(Line {
                id: commit.id(),
                time,
                weight,
                merge,
            });
            current = commit.parent(0).ok();
        }
        let landed_at = history::landing_times(lines.iter().map(|l| l.time));
        Ok(MainLine {
            lines,
            landed_by,
            landed_at,
            pulls,
            reviews,
            commits,
            bound,
        })
    }

    /// Index of the newest main-line commit that had landed before `t`:
    /// where an investigation opened at `t` starts.
    fn landed_before(&self, t: Seconds) -> Option<usize> {
        let i = self.landed_at.partition_point(|&m| m >= t);
        (i < self.lines.len()).then_some(i)
    }

    /// The end (exclusive) of the main-line commits that landed at or after
    /// `since`.
    fn landed_since(&self, since: Seconds) -> usize {
        self.landed_at.partition_point(|&m| m >= since)
    }

    /// Commits in the lines `[start, end)`: main-line commits plus what
    /// merges brought in.
    fn window_commits(&self, start: usize, end: usize) -> u64 {
        self.lines[start..end]
            .iter()
            .map(|l| if l.merge { l.weight as u64 } else { 1 })
            .sum()
    }
}

/// A candidate fix, in the order they are mined.
struct Candidate {
    id: Oid,
    time: Seconds,
    /// Position in the walk (newest first).
    order: usize,
}

/// Mines the cases of `settings` from `repo`, read-only.
pub fn mine(repo: &Repository, settings: &Settings) -> Result<(CasesFile, Report)> {
    let clock = std::time::Instant::now();
    let reference = settings.reference.as_deref().unwrap_or("HEAD");
    let tip = repo
        .revparse_single(reference)
        .and_then(|o| o.peel_to_commit())
        .map_err(|_| {
            crate::error::input(history::HistoryError::UnknownRef(reference.to_owned()).to_string())
        })?;
    let default_branch = branch_name(repo, settings.reference.as_deref());

    // Walk far enough back for every window and every culprit lag, and a
    // month more: landing times are settled by the commits before them,
    // whose dates may run backwards.
    let bound = settings.since - settings.lookback.max(settings.max_lag) - 30 * 86_400;
    let main = MainLine::walk(repo, tip.id(), bound)?;

    let mut candidates: Vec<Candidate> = main
        .commits
        .iter()
        .filter(|(_, time)| (settings.since..settings.until).contains(time))
        .enumerate()
        .map(|(order, &(id, time))| Candidate { id, time, order })
        .collect();
    // Oldest first; equal times in history order (the walk lists newest
    // first).
    candidates.sort_by(|a, b| a.time.cmp(&b.time).then(b.order.cmp(&a.order)));

    let mut report = Report {
        repo: settings.name.clone(),
        default_branch: default_branch.clone(),
        tip: tip.id().to_string(),
        since: when::rfc3339(settings.since),
        until: when::rfc3339(settings.until),
        max_lag_seconds: settings.max_lag,
        lookback_seconds: settings.lookback,
        commits_scanned: candidates.len(),
        ..Report::default()
    };
    let mut cases = Vec::new();
    let mut culprits_taken = HashSet::new();
    let mut ownership_cache: Option<(Oid, Ownership)> = None;
    for candidate in &candidates {
        let commit = repo.find_commit(candidate.id)?;
        let message = String::from_utf8_lossy(commit.message_bytes()).into_owned();
        let (subject, body) = split_message(&message);
        let Some(named) = classify(subject, body) else {
            continue;
        };
        let source = named.0;
        *report.seen.entry(source.name()).or_default() += 1;
        let mut draft = match check(repo, &main, settings, candidate, named, subject, body) {
            Err(reason) => {
                report.drop(candidate.id, source, reason);
                continue;
            }
            Ok(draft) => draft,
        };
        if !culprits_taken.insert(draft.culprit) {
            report.drop(candidate.id, source, Dropped::DuplicateCulprit);
            continue;
        }
        *report.kept.entry(source.name()).or_default() += 1;
        let start = main.lines[draft.start].id;
        if ownership_cache.as_ref().map(|(id, _)| *id) != Some(start) {
            let tree = repo.find_commit(start)?.tree()?;
            let ownership =
                Ownership::from_tree(repo, &tree, None).unwrap_or_else(|_| Ownership::empty());
            ownership_cache = Some((start, ownership));
        }
        if let Some((_, ownership)) = &ownership_cache {
            draft.case.team_hint = team_hint(ownership, &changed_paths(repo, &commit)?);
        }
        draft.case.id = format!("{}-{}", settings.prefix, cases.len() + 1);
        cases.push(draft.case);
    }

    let ownership_file =
        start_ownership_format(repo, settings.reference.as_deref(), settings.until);
    report.cases = cases.len();
    report.seconds = clock.elapsed().as_secs_f64();
    let file = CasesFile {
        repo: settings.name.clone(),
        mirror: None,
        default_branch,
        ownership_file,
        cases,
    };
    Ok((file, report))
}

/// A case that passed every check but the duplicate one.
struct Draft {
    case: Case,
    culprit: Oid,
    /// Main-line index where the replay starts.
    start: usize,
}

/// The checks one candidate goes through, in order; the first that fails
/// is why it drops.
fn check(
    repo: &Repository,
    main: &MainLine,
    settings: &Settings,
    candidate: &Candidate,
    (source, targets): (Source, Vec<Target>),
    subject: &str,
    body: &str,
) -> Result<Draft, Dropped> {
    let revert = source == Source::Revert;
    if targets.is_empty() {
        return Err(Dropped::RevertWithoutTarget);
    }
    let reason = if revert {
        revert_reason(body)
    } else {
        String::new()
    };
    if revert && !has_reason(&reason) {
        return Err(Dropped::RevertWithoutReason);
    }
    let culprit = resolve(repo, main, &targets, candidate.id)?;
    let culprit_commit = repo
        .find_commit(culprit)
        .map_err(|_| Dropped::UnknownCulprit)?;
    if culprit_commit.parent_count() > 1 {
        return Err(Dropped::CulpritIsMerge);
    }
    let Some(&culprit_at) = main.landed_by.get(&culprit) else {
        return Err(
            if culprit_commit.committer().when().seconds() < main.bound {
                Dropped::CulpritTooOld
            } else {
                Dropped::CulpritNotOnMainLine
            },
        );
    };
    // The investigation opens a second before the fix; the culprit must
    // have landed by then, at most --max-lag earlier, and inside the window.
    let opened_at = candidate.time - 1;
    let start = main
        .landed_before(opened_at)
        .ok_or(Dropped::CulpritNotBeforeFix)?;
    if culprit_at < start || culprit == candidate.id {
        return Err(Dropped::CulpritNotBeforeFix);
    }
    if candidate.time - main.landed_at[culprit_at] > settings.max_lag {
        return Err(Dropped::CulpritTooOld);
    }
    let since = opened_at - settings.lookback;
    let end = main.landed_since(since);
    if culprit_at >= end {
        return Err(Dropped::CulpritOutsideWindow);
    }
    let names = CulpritNames::new(
        &culprit.to_string(),
        &String::from_utf8_lossy(culprit_commit.summary_bytes().unwrap_or(b"")),
        &String::from_utf8_lossy(culprit_commit.message_bytes()),
    );
    let (title, impact) = if revert {
        revert_facts(&reason, &names)?
    } else {
        let title = fix_title(subject);
        if names_culprit(&strip_links(subject), &names) || names_culprit(&title, &names) {
            return Err(Dropped::LeakyTitle);
        }
        (title, fix_impact(body, &names))
    };
    if title.is_empty() {
        return Err(Dropped::EmptyTitle);
    }
    Ok(Draft {
        case: Case {
            id: String::new(),
            title,
            impact,
            team_hint: Vec::new(),
            opened_at: when::rfc3339(opened_at),
            since: when::rfc3339(since),
            root_cause: culprit.to_string(),
            source: source.name().to_owned(),
            fix: Some(candidate.id.to_string()),
            window_commits: Some(main.window_commits(start, end)),
        },
        culprit,
        start,
    })
}

/// The one commit the targets name.
fn resolve(
    repo: &Repository,
    main: &MainLine,
    targets: &[Target],
    fix: Oid,
) -> Result<Oid, Dropped> {
    let fix_at = main.landed_by.get(&fix).copied().unwrap_or(0);
    let landed_before = |ids: &Vec<Oid>| {
        ids.iter()
            .copied()
            .find(|id| *id != fix && main.landed_by.get(id).is_some_and(|&at| at >= fix_at))
    };
    let mut found: Vec<Oid> = Vec::new();
    let mut unknown = 0;
    for target in targets {
        let id = match target {
            Target::Commit(text) => repo.find_commit_by_prefix(text).ok().map(|c| c.id()),
            // The newest commit with that number that landed before the fix.
            Target::Pull(n) => main.pulls.get(n).and_then(&landed_before),
            Target::Review(n) => main.reviews.get(n).and_then(&landed_before),
        };
        match id {
            Some(id) if !found.contains(&id) => found.push(id),
            Some(_) => {}
            None => unknown += 1,
        }
    }
    match (found.len(), unknown) {
        (1, 0) => Ok(found[0]),
        (0, _) => Err(Dropped::UnknownCulprit),
        _ => Err(Dropped::SeveralCulprits),
    }
}

/// The paths a commit changed against its first parent (names only;
/// submodules are skipped, as in `history`).
fn changed_paths(repo: &Repository, commit: &git2::Commit<'_>) -> Result<Vec<String>> {
    let new_tree = commit.tree()?;
    let old_tree = commit.parent(0).ok().and_then(|p| p.tree().ok());
    let diff = repo.diff_tree_to_tree(old_tree.as_ref(), Some(&new_tree), None)?;
    let mut paths: Vec<String> = diff
        .deltas()
        .filter(|d| {
            d.new_file().mode() != git2::FileMode::Commit
                && d.old_file().mode() != git2::FileMode::Commit
        })
        .filter_map(|d| {
            d.new_file()
                .path()
                .or_else(|| d.old_file().path())
                .map(|p| p.to_string_lossy().into_owned())
        })
        .collect();
    paths.dedup();
    Ok(paths)
}

/// The team that was paged for a change to `paths`: for each path its most
/// specific owners, ranked by how many of the paths they own (ties in
/// first-seen order), at most [`TEAM_HINT_MAX`].
///
/// Most specific means: MAINTAINERS, the first (most specific) section's
/// title; CODEOWNERS, the owners of the rule that wins; OWNERS, the owners
/// in the nearest OWNERS file (see [`Ownership::nearest_owners_of`]). `*`
/// (anyone) and `@ghost` (GitHub's "no owner" placeholder) are not owners.
pub fn team_hint(ownership: &Ownership, paths: &[String]) -> Vec<String> {
    let titles_only = ownership.format() == Some(OwnershipFormat::Maintainers);
    let mut counts: Vec<(String, usize)> = Vec::new();
    for path in paths {
        let owners = ownership.nearest_owners_of(path);
        let specific: Vec<String> = if titles_only {
            owners
                .into_iter()
                .filter(|o| !o.contains('@'))
                .take(1)
                .collect()
        } else {
            owners
        };
        for owner in specific {
            if owner == "*" || owner.eq_ignore_ascii_case("@ghost") {
                continue;
            }
            match counts.iter_mut().find(|(o, _)| *o == owner) {
                Some((_, n)) => *n += 1,
                None => counts.push((owner, 1)),
            }
        }
    }
    counts.sort_by_key(|(_, n)| std::cmp::Reverse(*n));
    counts
        .into_iter()
        .take(TEAM_HINT_MAX)
        .map(|(o, _)| o)
        .collect()
}

/// The branch name a replay should use: `--ref`'s short name, or the
/// branch HEAD points at.
fn branch_name(repo: &Repository, reference: Option<&str>) -> String {
    let name = match reference {
        Some(r) => repo
            .resolve_reference_from_short_name(r)
            .ok()
            .and_then(|r| r.shorthand().map(str::to_owned))
            .unwrap_or_else(|| r.to_owned()),
        None => repo
            .head()
            .ok()
            .and_then(|h| h.shorthand().map(str::to_owned))
            .unwrap_or_else(|| "HEAD".to_owned()),
    };
    name.strip_prefix("refs/heads/").unwrap_or(&name).to_owned()
}

/// The ownership file format at the last main-line commit before `until`.
fn start_ownership_format(
    repo: &Repository,
    reference: Option<&str>,
    until: Seconds,
) -> Option<String> {
    let start = history::start_commit(repo, reference, until).ok()?;
    let tree = repo.find_commit(start).ok()?.tree().ok()?;
    let ownership = Ownership::from_tree(repo, &tree, None).ok()?;
    Some(
        match ownership.format()? {
            OwnershipFormat::Codeowners => "CODEOWNERS",
            OwnershipFormat::Maintainers => "MAINTAINERS",
            OwnershipFormat::Owners => "OWNERS",
        }
        .to_owned(),
    )
}

/// A report name and a case-id prefix for a repository path: a mirror's
/// `owner+name/repo` gives `owner/name` and `name`; a checkout `dir` gives
/// `dir` and `dir`. Case ids keep letters and digits only, lower case
/// (`u-boot` gives `uboot`).
pub fn names_for(path: &std::path::Path) -> (String, String) {
    let mut components: Vec<String> = path
        .components()
        .filter_map(|c| match c {
            std::path::Component::Normal(s) => Some(s.to_string_lossy().into_owned()),
            _ => None,
        })
        .collect();
    while components
        .last()
        .is_some_and(|c| c == "repo" || c == ".git" || c.is_empty())
    {
        components.pop();
    }
    let last = components.pop().unwrap_or_else(|| "repo".to_owned());
    let last = last.strip_suffix(".git").unwrap_or(&last).to_owned();
    let name = last.replacen('+', "/", 1);
    let short = name.rsplit('/').next().unwrap_or(&name);
    let mut prefix: String = short
        .chars()
        .filter(char::is_ascii_alphanumeric)
        .collect::<String>()
        .to_ascii_lowercase();
    if prefix.is_empty() {
        prefix = "case".to_owned();
    }
    (name, prefix)
}

#[cfg(test)]
mod tests;
