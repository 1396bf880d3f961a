//! Retrieve: narrow thousands of commits to a few hundred candidates, each
//! with a heuristic score and the evidence behind it.
//!
//! Every signal is a named feature in [`FEATURES`]; the score is a weighted
//! sum ([`Weights`]); the softmax of scores over the window (at
//! [`PRIOR_TEMPERATURE`]) is the prior: the chance that a commit is the
//! culprit. `learn` fits such weights as a conditional logit. The stage is
//! judged by recall: the culprit must survive the cut to `limit`.

mod associations;
mod bm25;
mod diff;

pub use associations::{change_tokens, incident_words, Association, Associations};
use bm25::Bm25;
pub use diff::DiffMatch;

use crate::cases::Facts;
use crate::history::Commit;
use crate::mine::text::{
    differential_revision, fixes_targets, is_reland, is_revert, quoted_subject, revert_targets,
    trailing_pull, Target,
};
use crate::ownership::Ownership;
use crate::text;
use crate::when::Seconds;
use globset::{Glob, GlobSet, GlobSetBuilder};
use rayon::prelude::*;
use serde::Serialize;
use std::collections::hash_map::Entry;
use std::collections::{BTreeSet, HashMap, HashSet};

/// The names of the signals, in the order of [`Candidate::features`].
pub const FEATURES: [&str; NUM_FEATURES] = [
    "text_bm25",     // BM25 of title+impact against subject and body
    "subject_bm25",  // BM25 against the subject alone
    "path_bm25",     // BM25 against the tokens of the changed paths
    "component",     // the title's "component:" prefix equals the subject's
    "log_age_days",  // ln(1 + days between landing and the investigation start)
    "log_rank",      // ln(1 + position when the window is sorted newest first)
    "age_1d",        // landed within a day of the investigation start
    "age_3d",        // within three days
    "age_7d",        // within a week
    "age_14d",       // within two weeks
    "log_lines",     // ln(1 + lines added + removed)
    "log_files",     // ln(1 + files changed)
    "bot",           // automated rolls, bumps and translation updates
    "revert",        // the commit is itself a revert (as the miner tells them)
    "reland",        // the commit re-lands a reverted change
    "docs_or_tests", // touches only documentation or tests
    "team",          // touches files owned by a --team hint
    "area",          // touches an ownership area the title names
    "path_hint",     // touches a --path glob
    "author_window", // ln(1 + the author's other commits in the window)
    "log_lag_days",  // ln(1 + days between authoring and landing)
    "followed_up",   // a later commit of the window reverted it or names it in Fixes:
    "diff_bm25",     // BM25 against the identifiers its changed lines add or remove
    "string_bm25",   // BM25 against the string literals of its changed lines
    "hunk_bm25",     // BM25 against the functions its hunks touch
    "exact_match",   // code words of the title it edits whole, by rarity (idf)
    "association",   // learned title-word ↔ path and identifier associations
];

pub const NUM_FEATURES: usize = 27;

/// Index of `log_rank`, filled in once the whole window is scored.
const LOG_RANK: usize = 5;

/// Weights of the features. The default is set by hand from what the
/// signals mean; docs/benchmarks.md compares it with weights fitted on the
/// development cases.
#[derive(Debug, Clone, Copy, PartialEq, Serialize)]
pub struct Weights(pub [f64; NUM_FEATURES]);

impl Default for Weights {
    fn default() -> Self {
        Weights([
            0.35, 0.35, 0.25, 1.5, -0.9, -0.4, 0.0, 0.0, 0.0, 0.0, 0.15, 0.0, -2.0, -0.8, 0.5,
            -0.8, 1.0, 0.8, 1.5, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0, 0.0,
        ])
    }
}

/// The softmax temperature that turns scores into priors. With the default
/// weights, 1.5 makes the mean top-5 prior mass on the development cases
/// (0.55) match how often the culprit is in the top five (0.60); at 1.0 the
/// priors claimed 0.73. Calibration proper is a later stage's job.
pub const PRIOR_TEMPERATURE: f64 = 1.5;

/// Why a candidate is where it is.
#[derive(Debug, Clone, Default, Serialize, serde::Deserialize)]
pub struct Evidence {
    /// Query terms found in the message or the paths.
    pub matched_terms: Vec<String>,
    /// Owners of the changed files (at most a few, most frequent first).
    pub owners: Vec<String>,
    /// `--team` hints whose files the commit touches.
    pub team_hints: Vec<String>,
    /// Ownership areas named by the title that the commit touches.
    pub areas: Vec<String>,
    /// `--path` globs the commit touches.
    pub path_hints: Vec<String>,
    /// Later commits of the window that reverted this one or name it in a
    /// `Fixes:` trailer (short ids): it was dealt with before the
    /// investigation started.
    #[serde(default)]
    pub followed_up_by: Vec<String>,
    /// Query terms found in the words of the changed lines (identifiers,
    /// strings, hunk functions).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub diff_terms: Vec<String>,
    /// Code words or strings of the incident that the change edits whole,
    /// with the file and hunk.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub diff_matches: Vec<DiffMatch>,
    /// Learned associations between incident words and the change's tokens
    /// (at most three, strongest first).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub associations: Vec<Association>,
}

/// A commit that survived retrieval.
#[derive(Debug, Clone, Serialize, serde::Deserialize)]
pub struct Candidate {
    pub commit: Commit,
    pub features: [f64; NUM_FEATURES],
    /// Weighted sum of the features.
    pub score: f64,
    /// Softmax of `score` over the whole window: the retrieval prior.
    pub prior: f64,
    pub evidence: Evidence,
}

/// How the features fuse into a score and the score into a prior: the
/// hand-set [`Weights::default`] at [`PRIOR_TEMPERATURE`], or weights
/// learned by `rca train` (a conditional logit, at temperature 1).
///
/// There is one set of weights per [`Regime`] of the title: a title in the
/// form of a fix subject (`net/mlx5: fix …`) names its component, and text
/// matching carries it; a symptom title ("Breaks the roll into Skia") names
/// nothing, and recency has to. One linear score cannot serve both.
///
/// A trained fusion also carries the [`Associations`] its `association`
/// signal reads; the hand-set one has none.
#[derive(Debug, Clone, PartialEq)]
pub struct Fusion {
    pub component: Weights,
    pub symptom: Weights,
    pub temperature: f64,
    pub associations: Associations,
}

impl Default for Fusion {
    fn default() -> Self {
        Fusion {
            component: Weights::default(),
            symptom: Weights::default(),
            temperature: PRIOR_TEMPERATURE,
            associations: Associations::default(),
        }
    }
}

/// The two kinds of incident title, told apart by [`Regime::of`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Regime {
    /// The title starts with a `component:` prefix.
    Component,
    /// Any other title.
    Symptom,
}

impl Regime {
    pub fn of(facts: &Facts) -> Regime {
        if component_of(&facts.title).is_some() {
            Regime::Component
        } else {
            Regime::Symptom
        }
    }
}

impl Fusion {
    pub fn weights(&self, regime: Regime) -> &Weights {
        match regime {
            Regime::Component => &self.component,
            Regime::Symptom => &self.symptom,
        }
    }
}

/// Settings of the stage.
#[derive(Debug, Clone)]
pub struct Options {
    /// How many candidates to keep.
    pub limit: usize,
    pub fusion: Fusion,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            limit: 200,
            fusion: Fusion::default(),
        }
    }
}

/// The query built from the sparse facts.
pub(crate) struct Query {
    /// Distinct stems with their weight (title 1.0, impact 0.5).
    terms: Vec<(String, f64)>,
    /// Each stem's first word in the title or impact, for the evidence.
    surface: HashMap<String, String>,
    /// The title's words, unstemmed, that ownership areas are named by.
    title_words: HashSet<String>,
    /// The title's `component:` prefix, as tokens.
    component: Option<BTreeSet<String>>,
    /// Words of the title and impact that read as code, lower-case.
    identifiers: Vec<String>,
    /// Title and impact, lower-case, for quoted strings.
    lower: String,
    /// The words associations are looked up by.
    words: Vec<String>,
}

impl Query {
    fn new(facts: &Facts) -> Query {
        let mut terms: Vec<(String, f64)> = Vec::new();
        let mut surface: HashMap<String, String> = HashMap::new();
        let mut add = |text: &str, weight: f64| {
            for word in text::tokens(text) {
                if let Entry::Vacant(new) = surface.entry(text::stem(&word)) {
                    terms.push((new.key().clone(), weight));
                    new.insert(word);
                }
            }
        };
        add(&facts.title, 1.0);
        if let Some(impact) = &facts.impact {
            add(impact, 0.5);
        }
        let text = match &facts.impact {
            Some(impact) => format!("{}\n{impact}", facts.title),
            None => facts.title.clone(),
        };
        Query {
            terms,
            surface,
            title_words: text::tokens(&facts.title).into_iter().collect(),
            component: component_of(&facts.title),
            identifiers: diff::identifiers_in(&text),
            lower: text.to_lowercase(),
            words: incident_words(facts),
        }
    }

    /// The incident's own words for matched stems.
    fn words_of(&self, stems: BTreeSet<String>) -> Vec<String> {
        let words: BTreeSet<&String> = stems
            .iter()
            .map(|stem| self.surface.get(stem).unwrap_or(stem))
            .collect();
        words.into_iter().cloned().collect()
    }
}

/// The `component:` prefix of a subject line ("net/mlx5: fix …"), if any.
fn component_of(subject: &str) -> Option<BTreeSet<String>> {
    let (head, _) = subject.split_once(": ")?;
    if head.is_empty() || head.len() > 60 || head.split_whitespace().count() > 3 {
        return None;
    }
    let tokens: BTreeSet<String> = text::tokens(head).into_iter().collect();
    (!tokens.is_empty()).then_some(tokens)
}

fn is_bot(commit: &Commit) -> bool {
    let subject = commit.subject.to_ascii_lowercase();
    let who = format!("{} {}", commit.author, commit.email).to_ascii_lowercase();
    who.contains("[bot]")
        || who.contains("autoroll")
        || who.contains("-bot@")
        || subject.starts_with("roll ")
        || subject.starts_with("bump ")
        || subject.starts_with("update translations")
        || subject.starts_with("automated ")
        || subject.starts_with("[automated]")
}

fn is_docs_or_test(path: &str) -> bool {
    let lower = path.to_ascii_lowercase();
    let docs_ext = [".md", ".rst", ".txt", ".adoc", ".html", ".png", ".svg"];
    docs_ext.iter().any(|e| lower.ends_with(e))
        || lower.starts_with("doc/")
        || lower.starts_with("docs/")
        || lower.contains("/test/")
        || lower.contains("/tests/")
        || lower.starts_with("test/")
        || lower.starts_with("tests/")
        || lower.contains("_test.")
        || lower.contains("test_")
}

/// Ownership areas the query names: an area is named when one of its
/// tokens that few areas share appears in the title.
fn named_areas(ownership: &Ownership, query: &Query) -> Vec<usize> {
    let areas = ownership.areas();
    let mut area_frequency: HashMap<&str, usize> = HashMap::new();
    for area in areas {
        for t in area.tokens.iter().collect::<HashSet<_>>() {
            *area_frequency.entry(t.as_str()).or_default() += 1;
        }
    }
    let rare_limit = (areas.len() / 50).max(3);
    areas
        .iter()
        .enumerate()
        .filter(|(_, area)| {
            area.tokens.iter().any(|t| {
                query.title_words.contains(t)
                    && area_frequency.get(t.as_str()).copied().unwrap_or(0) <= rare_limit
            })
        })
        .map(|(i, _)| i)
        .collect()
}

/// For each commit, the short ids of the later commits of the window that
/// revert it (by id, pull request or quoted subject) or name it in a
/// `Fixes:` trailer. Only commits before the investigation's start are in
/// the window, so this is what was known then. A change landed again under
/// its old subject after its revert is not taken for the reverted one.
fn follow_ups(commits: &[Commit], reverts: &[bool]) -> Vec<Vec<String>> {
    let mut by_pull: HashMap<u64, Vec<usize>> = HashMap::new();
    // Reading every body for a `Differential Revision:` line is left until
    // a revert in the window names a review.
    let mut by_review: Option<HashMap<u64, Vec<usize>>> = None;
    let mut by_subject: HashMap<&str, Vec<usize>> = HashMap::new();
    for (i, c) in commits.iter().enumerate() {
        if let Some(n) = trailing_pull(&c.subject) {
            by_pull.entry(n).or_default().push(i);
        }
        by_subject.entry(c.subject.as_str()).or_default().push(i);
    }
    let by_id_prefix = |prefix: &str| -> Vec<usize> {
        commits
            .iter()
            .enumerate()
            .filter(|(_, c)| c.id.starts_with(prefix))
            .map(|(i, _)| i)
            .collect()
    };
    let mut out = vec![Vec::new(); commits.len()];
    for (j, c) in commits.iter().enumerate() {
        let mut targets: Vec<usize> = fixes_targets(&c.body)
            .iter()
            .flat_map(|id| by_id_prefix(id))
            .collect();
        if reverts[j] {
            for target in revert_targets(&c.subject, &c.body) {
                match target {
                    Target::Commit(id) => targets.extend(by_id_prefix(&id)),
                    Target::Pull(n) => targets.extend(by_pull.get(&n).into_iter().flatten()),
                    Target::Review(n) => {
                        let by_review = by_review.get_or_insert_with(|| by_review_of(commits));
                        targets.extend(by_review.get(&n).into_iter().flatten())
                    }
                }
            }
            if let Some(quoted) = quoted_subject(&c.subject) {
                targets.extend(by_subject.get(quoted).into_iter().flatten());
            }
        }
        targets.sort_unstable();
        targets.dedup();
        for i in targets
            .into_iter()
            .filter(|&i| i != j && commits[i].landed_at <= c.landed_at)
        {
            out[i].push(c.short_id().to_owned());
        }
    }
    out
}

/// Review number → the commits whose `Differential Revision:` line names it.
fn by_review_of(commits: &[Commit]) -> HashMap<u64, Vec<usize>> {
    let mut index: HashMap<u64, Vec<usize>> = HashMap::new();
    for (i, c) in commits.iter().enumerate() {
        if let Some(n) = differential_revision(&c.body) {
            index.entry(n).or_default().push(i);
        }
    }
    index
}

/// Builds a glob set from `--path` hints. A hint without glob characters
/// matches the path itself and everything below it.
pub fn path_globs(hints: &[String]) -> Result<GlobSet, globset::Error> {
    let mut builder = GlobSetBuilder::new();
    for hint in hints {
        let hint = hint.trim_start_matches('/');
        builder.add(Glob::new(hint)?);
        if !hint.contains(['*', '?', '[']) {
            builder.add(Glob::new(&format!("{}/**", hint.trim_end_matches('/')))?);
        }
    }
    builder.build()
}

/// Scores every commit of the window and keeps the best `options.limit`,
/// best first. Merge commits never reach here (see `history`).
pub fn retrieve(
    commits: Vec<Commit>,
    until: Seconds,
    facts: &Facts,
    ownership: &Ownership,
    options: &Options,
) -> Vec<Candidate> {
    let query = Query::new(facts);
    let weights = options.fusion.weights(Regime::of(facts));
    // Each commit's words are read once for the message indexes. Path
    // stems are counted once per commit, so that a commit touching
    // thousands of files does not win on volume alone.
    let (message, (subject, path)): (Vec<_>, (Vec<_>, Vec<_>)) = commits
        .par_iter()
        .map(|c| {
            let subject = text::tokens(&c.subject);
            let body = text::tokens(&c.body);
            let message = text::stem_counts(subject.iter().chain(&body).map(String::as_str));
            let subject = text::stem_counts(subject.iter().map(String::as_str));
            let mut paths = BTreeSet::new();
            for f in &c.files {
                paths.extend(text::tokens(&f.path));
            }
            let path = paths.iter().map(|t| (text::stem(t), 1)).collect();
            (message, (subject, path))
        })
        .unzip();
    // The indexes are built side by side: each ends in a serial count of
    // its document frequencies.
    let ((text_index, subject_index), (path_index, diff_signals)) = rayon::join(
        || rayon::join(|| Bm25::new(message), || Bm25::new(subject)),
        || rayon::join(|| Bm25::new(path), || diff::DiffSignals::new(&commits)),
    );
    let associations = &options.fusion.associations;
    let areas = named_areas(ownership, &query);
    // A MAINTAINERS area is matched by its section title: its maintainers'
    // e-mails recur across many sections. Other formats name areas by
    // pattern, so they are matched by their owners.
    let by_title = ownership.format() == Some(crate::ownership::Format::Maintainers);
    let area_owners: Vec<(&str, &[String])> = areas
        .iter()
        .map(|&i| {
            let area = &ownership.areas()[i];
            (
                area.name.as_str(),
                if by_title {
                    &[][..]
                } else {
                    area.owners.as_slice()
                },
            )
        })
        .collect();
    // One glob set per hint, for the evidence, and one for them all.
    let hint_globs: Vec<(&String, GlobSet)> = facts
        .path_hints
        .iter()
        .filter_map(|hint| Some((hint, path_globs(std::slice::from_ref(hint)).ok()?)))
        .collect();

    let mut by_author: HashMap<&str, usize> = HashMap::new();
    for commit in &commits {
        *by_author.entry(commit.email.as_str()).or_default() += 1;
    }
    let author_window: Vec<f64> = commits
        .iter()
        .map(|c| ((by_author[c.email.as_str()] - 1) as f64).ln_1p())
        .collect();

    let reverts: Vec<bool> = commits
        .iter()
        .map(|c| is_revert(&c.subject, &c.body))
        .collect();
    let followed_up_by = follow_ups(&commits, &reverts);

    let mut candidates: Vec<Candidate> = commits
        .into_par_iter()
        .enumerate()
        .map(|(index, commit)| {
            let mut evidence = Evidence::default();
            let mut matched = BTreeSet::new();
            let text_score = text_index.score(index, &query, &mut matched);
            let subject_score = subject_index.score(index, &query, &mut matched);
            let path_score = path_index.score(index, &query, &mut matched);
            evidence.matched_terms = query.words_of(matched);
            evidence.followed_up_by = followed_up_by[index].clone();
            let diff = diff_signals.score(index, &commit, &query);
            evidence.diff_terms = query.words_of(diff.terms);
            evidence.diff_matches = diff.matches;
            let association = if associations.is_empty() {
                0.0
            } else {
                let (score, mut found) = associations.score(&query.words, &change_tokens(&commit));
                found.truncate(3);
                evidence.associations = found;
                score
            };

            let component = match (&query.component, component_of(&commit.subject)) {
                (Some(a), Some(b)) => {
                    a.intersection(&b).count() as f64 / a.union(&b).count().max(1) as f64
                }
                _ => 0.0,
            };

            // Owners, most frequent first; hints and areas against them.
            let mut owner_counts: HashMap<String, usize> = HashMap::new();
            for file in commit.files.iter().take(2000) {
                for owner in ownership.owners_of(&file.path) {
                    *owner_counts.entry(owner).or_default() += 1;
                }
            }
            let mut owners: Vec<(String, usize)> = owner_counts.into_iter().collect();
            owners.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
            for hint in &facts.team_hints {
                if owners.iter().any(|(o, _)| Ownership::hint_matches(hint, o)) {
                    evidence.team_hints.push(hint.clone());
                }
            }
            for (name, area_owner_list) in &area_owners {
                if owners
                    .iter()
                    .any(|(o, _)| area_owner_list.contains(o) || o == name)
                {
                    evidence.areas.push((*name).to_owned());
                }
            }
            evidence.owners = owners.into_iter().take(4).map(|(o, _)| o).collect();
            for (hint, set) in &hint_globs {
                if commit.files.iter().any(|f| set.is_match(&f.path)) {
                    evidence.path_hints.push((*hint).clone());
                }
            }

            let lines = (commit.lines_added() + commit.lines_removed()) as f64;
            let age_days = (until - commit.landed_at).max(0) as f64 / 86400.0;
            let lag_days =
                commit.landed_at.saturating_sub(commit.authored_at).max(0) as f64 / 86400.0;
            let features = [
                text_score,
                subject_score,
                path_score,
                component,
                age_days.ln_1p(),
                0.0, // log_rank, filled below
                f64::from(u8::from(age_days < 1.0)),
                f64::from(u8::from(age_days < 3.0)),
                f64::from(u8::from(age_days < 7.0)),
                f64::from(u8::from(age_days < 14.0)),
                lines.ln_1p(),
                (commit.files.len() as f64).ln_1p(),
                f64::from(u8::from(is_bot(&commit))),
                f64::from(u8::from(reverts[index])),
                f64::from(u8::from(is_reland(&commit.subject))),
                f64::from(u8::from(
                    !commit.files.is_empty()
                        && commit.files.iter().all(|f| is_docs_or_test(&f.path)),
                )),
                f64::from(u8::from(!evidence.team_hints.is_empty())),
                f64::from(u8::from(!evidence.areas.is_empty())),
                f64::from(u8::from(!evidence.path_hints.is_empty())),
                author_window[index],
                lag_days.ln_1p(),
                f64::from(u8::from(!evidence.followed_up_by.is_empty())),
                diff.identifiers,
                diff.strings,
                diff.hunks,
                diff.exact,
                association,
            ];
            Candidate {
                commit,
                features,
                score: 0.0,
                prior: 0.0,
                evidence,
            }
        })
        .collect();

    // Commits arrive newest first; their position is the recency rank.
    for (rank, candidate) in candidates.iter_mut().enumerate() {
        candidate.features[LOG_RANK] = (rank as f64).ln_1p();
        candidate.score = weights.score(&candidate.features);
    }
    let max = candidates
        .iter()
        .map(|c| c.score)
        .fold(f64::NEG_INFINITY, f64::max);
    let total: f64 = candidates
        .iter()
        .map(|c| ((c.score - max) / options.fusion.temperature).exp())
        .sum();
    for candidate in &mut candidates {
        candidate.prior = ((candidate.score - max) / options.fusion.temperature).exp() / total;
    }
    sort_best_first(&mut candidates);
    candidates.truncate(options.limit);
    candidates
}

impl Weights {
    /// The weighted sum of `features`: a candidate's score.
    pub fn score(&self, features: &[f64; NUM_FEATURES]) -> f64 {
        self.0.iter().zip(features).map(|(w, x)| w * x).sum()
    }
}

/// Best score first; ties go to the newer commit, then to the smaller id,
/// so the order is deterministic.
pub fn sort_best_first(candidates: &mut [Candidate]) {
    candidates.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then(b.commit.landed_at.cmp(&a.commit.landed_at))
            .then(a.commit.id.cmp(&b.commit.id))
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn commit(id: &str, email: &str, authored_at: Seconds, landed_at: Seconds) -> Commit {
        Commit {
            id: id.to_owned(),
            author: email.to_owned(),
            email: email.to_owned(),
            authored_at,
            committed_at: landed_at,
            landed_at,
            subject: format!("change {id}"),
            body: String::new(),
            files: Vec::new(),
            diff: Default::default(),
            merged_by: None,
        }
    }

    fn feature(candidates: &[Candidate], id: &str, name: &str) -> f64 {
        let k = FEATURES.iter().position(|f| *f == name).unwrap();
        candidates
            .iter()
            .find(|c| c.commit.id == id)
            .unwrap()
            .features[k]
    }

    #[test]
    fn author_activity_and_review_lag_are_counted_per_commit() {
        const DAY: Seconds = 86_400;
        let commits = vec![
            commit("a", "busy@x", 10 * DAY, 10 * DAY),
            commit("b", "busy@x", 2 * DAY, 9 * DAY),
            commit("c", "busy@x", 8 * DAY, 8 * DAY),
            // Authored after it landed (a rebase can do that): no lag.
            commit("d", "once@x", 8 * DAY, 7 * DAY),
        ];
        let facts = Facts {
            title: "something broke".into(),
            ..Facts::default()
        };
        let candidates = retrieve(
            commits,
            11 * DAY,
            &facts,
            &Ownership::empty(),
            &Options::default(),
        );
        assert_eq!(feature(&candidates, "a", "author_window"), 2f64.ln_1p());
        assert_eq!(feature(&candidates, "d", "author_window"), 0.0);
        assert_eq!(feature(&candidates, "a", "log_lag_days"), 0.0);
        assert_eq!(feature(&candidates, "b", "log_lag_days"), 7f64.ln_1p());
        assert_eq!(feature(&candidates, "d", "log_lag_days"), 0.0);
    }

    #[test]
    fn titles_match_messages_and_paths_by_stem_and_say_it_in_their_own_words() {
        let mut commits = vec![commit("a", "x@x", 0, 0), commit("b", "x@x", 0, 0)];
        commits[0].subject = "net: fix a crash when queues are reset".into();
        commits[0].files = vec![crate::history::FileChange {
            path: "drivers/net/queue/setup.c".into(),
            old_path: None,
            added: 3,
            removed: 1,
            binary: false,
            missing: false,
        }];
        commits[1].subject = "doc: reword the guide".into();
        let facts = Facts {
            title: "Crashes in queue setup".into(),
            ..Facts::default()
        };
        let candidates = retrieve(commits, 1, &facts, &Ownership::empty(), &Options::default());
        assert_eq!(candidates[0].commit.id, "a");
        assert!(feature(&candidates, "a", "subject_bm25") > 0.0);
        assert!(feature(&candidates, "a", "path_bm25") > 0.0);
        assert_eq!(feature(&candidates, "b", "subject_bm25"), 0.0);
        assert_eq!(
            candidates[0].evidence.matched_terms,
            ["crashes", "queue", "setup"]
        );
    }

    #[test]
    fn a_revert_of_a_revert_is_a_reland() {
        let mut relands = vec![commit("a", "x@x", 0, 0), commit("b", "x@x", 0, 0)];
        relands[0].subject = "Revert \"Revert \"[GPU] Tile it\"\"".into();
        relands[0].body = "This reverts commit 0123456789abcdef.".into();
        relands[1].subject = "Reapply \"[GPU] Tile it\" (#18320)".into();
        let mut reverts = vec![commit("c", "x@x", 0, 0), commit("d", "x@x", 0, 0)];
        reverts[0].subject = "Revert \"[GPU] Tile it\"".into();
        reverts[1].subject = "Back out the tiling".into();
        reverts[1].body = "This reverts commit 0123456789abcdef.".into();
        let facts = Facts::default();
        let candidates = retrieve(
            relands.into_iter().chain(reverts).collect(),
            1,
            &facts,
            &Ownership::empty(),
            &Options::default(),
        );
        for (id, revert, reland) in [
            ("a", 0.0, 1.0),
            ("b", 0.0, 1.0),
            ("c", 1.0, 0.0),
            ("d", 1.0, 0.0),
        ] {
            assert_eq!(feature(&candidates, id, "revert"), revert, "{id}");
            assert_eq!(feature(&candidates, id, "reland"), reland, "{id}");
        }
    }

    #[test]
    fn reverted_and_fixed_commits_are_followed_up() {
        // Newest first, as the window lists them: "g" lands "Tune it" again
        // after its revert "e".
        let commits: Vec<Commit> = [
            ("g", "Tune it", ""),
            ("h", "Revert D77: Cache the widget (#50)", ""),
            (
                "a",
                "net: fix the ring",
                "Fixes: b012345678 (\"net: add a ring\")",
            ),
            ("b", "net: add a ring", ""),
            ("c", "Revert \"Add the cache (#41)\" (#45)", ""),
            ("d", "Add the cache (#41)", ""),
            ("e", "Revert \"Tune it\"", ""),
            ("f", "Tune it", ""),
            (
                "i",
                "Cache the widget",
                "Summary: x\n\nDifferential Revision: D77",
            ),
        ]
        .iter()
        .enumerate()
        .map(|(age, (id, subject, body))| {
            let at = 100 - age as Seconds;
            let mut c = commit(&format!("{id}0123456789abcdef"), "x@x", at, at);
            c.subject = (*subject).into();
            c.body = (*body).into();
            c
        })
        .collect();
        let candidates = retrieve(
            commits,
            101,
            &Facts::default(),
            &Ownership::empty(),
            &Options::default(),
        );
        let follow_ups = |id: &str| {
            let c = candidates
                .iter()
                .find(|c| c.commit.id.starts_with(id))
                .unwrap();
            (
                c.evidence.followed_up_by.clone(),
                feature(&candidates, &c.commit.id, "followed_up"),
            )
        };
        assert_eq!(follow_ups("b"), (vec!["a0123456789a".to_owned()], 1.0));
        assert_eq!(follow_ups("d"), (vec!["c0123456789a".to_owned()], 1.0));
        assert_eq!(follow_ups("f"), (vec!["e0123456789a".to_owned()], 1.0));
        // A Phabricator-exported revert names the review the change landed by.
        assert_eq!(follow_ups("i"), (vec!["h0123456789a".to_owned()], 1.0));
        for id in ["a", "c", "e", "g", "h"] {
            assert_eq!(follow_ups(id), (vec![], 0.0), "{id}");
        }
    }
}
