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
//! The text rules are pure functions over strings, unit-tested below;
//! [`mine`] applies them to a repository, read-only. The rules are
//! documented in docs/cases.md ("Mining cases").

use crate::cases::{Case, CasesFile};
use crate::history;
use crate::ownership::{Format as OwnershipFormat, Ownership};
use crate::when::{self, Seconds};
use anyhow::Result;
use git2::{Oid, Repository, Sort};
use serde::Serialize;
use std::collections::{BTreeMap, HashMap, HashSet};

/// Titles longer than this are cut at a word and end in " ...".
pub const TITLE_MAX: usize = 200;
/// Impacts longer than this are cut the same way.
pub const IMPACT_MAX: usize = 300;
/// At most this many owners go into a team hint.
pub const TEAM_HINT_MAX: usize = 6;
/// An impact needs at least this many words (after links are stripped, "See:"
/// or "Failure link:" says nothing).
const IMPACT_MIN_WORDS: usize = 3;

// ---------------------------------------------------------------------------
// Commit messages: sources and targets
// ---------------------------------------------------------------------------

/// Where a case comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Source {
    FixesTrailer,
    Revert,
}

impl Source {
    pub fn name(self) -> &'static str {
        match self {
            Source::FixesTrailer => "fixes-trailer",
            Source::Revert => "revert",
        }
    }
}

/// How a message names the commit it fixes or reverts.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Target {
    /// A commit id, full or abbreviated (7 to 40 hex digits).
    Commit(String),
    /// A pull-request number, to resolve to the commit whose subject ends
    /// with `(#N)`.
    Pull(u64),
}

/// Splits a message into its subject (first line) and body.
pub fn split_message(message: &str) -> (&str, &str) {
    let message = message.trim_start_matches(['\n', '\r']);
    match message.split_once('\n') {
        Some((subject, body)) => (subject.trim(), body),
        None => (message.trim(), ""),
    }
}

/// Whether `token` is an abbreviated or full commit id.
fn is_commit_id(token: &str) -> bool {
    (7..=40).contains(&token.len()) && token.bytes().all(|b| b.is_ascii_hexdigit())
}

/// The commit ids named by `Fixes:` trailers, in order, deduplicated. The
/// id may follow on the next line, with or without the word "commit"
/// (`Fixes:\ncommit 110d321a56c3 ("...")`). Quoted lines (`> Fixes: ...`)
/// belong to another message and are skipped; issue references
/// (`Fixes: #12`, `Fixes: https://...`) name no commit.
pub fn fixes_targets(body: &str) -> Vec<String> {
    let lines: Vec<&str> = body.lines().collect();
    let mut targets: Vec<String> = Vec::new();
    for (i, line) in lines.iter().enumerate() {
        let line = line.trim();
        let Some(value) = strip_prefix_ignore_case(line, "fixes:") else {
            continue;
        };
        let mut value = value.trim();
        if value.is_empty() {
            value = lines
                .get(i + 1..)
                .and_then(|rest| rest.iter().map(|l| l.trim()).find(|l| !l.is_empty()))
                .unwrap_or("");
        }
        let value = strip_prefix_ignore_case(value, "commit").unwrap_or(value);
        let token = value
            .split_whitespace()
            .next()
            .unwrap_or("")
            .trim_matches(|c: char| !c.is_ascii_alphanumeric());
        if is_commit_id(token) {
            let id = token.to_ascii_lowercase();
            if !targets.contains(&id) {
                targets.push(id);
            }
        }
    }
    targets
}

fn strip_prefix_ignore_case<'a>(text: &'a str, prefix: &str) -> Option<&'a str> {
    let head = text.get(..prefix.len())?;
    head.eq_ignore_ascii_case(prefix)
        .then(|| &text[prefix.len()..])
}

/// Whether a commit is a revert: its subject starts with "Revert", or its
/// body says "This reverts" or starts a line with "Reverts ". A reland
/// (`Reapply "..."`, `Reland ...`, `Revert "Revert "...""`) restores a
/// change rather than backing out a broken one, and is not.
pub fn is_revert(subject: &str, body: &str) -> bool {
    let lower = subject.to_ascii_lowercase();
    if [
        "reapply",
        "reland",
        "re-land",
        "revert \"revert ",
        "revert \"reapply ",
    ]
    .iter()
    .any(|p| lower.starts_with(p))
    {
        return false;
    }
    if lower.starts_with("revert ") || lower.starts_with("revert\"") || lower.starts_with("revert:")
    {
        return true;
    }
    let body = body.to_ascii_lowercase();
    body.contains("this reverts ")
        || body
            .lines()
            .any(|l| l.trim_start().starts_with("reverts ") && !l.trim_start().starts_with(">"))
}

/// Whether a subject has the form git and GitHub give reverts:
/// `Revert "<subject>"`.
pub fn is_git_revert_subject(subject: &str) -> bool {
    let lower = subject.to_ascii_lowercase();
    lower.starts_with("revert \"") || lower.starts_with("revert '") || lower.starts_with("revert (")
}

/// The targets a revert names, most specific form first: commit ids from
/// "This reverts commit <id>"; else pull requests from "Reverts #N",
/// "Reverts owner/repo#N", "This reverts #N" or a pull-request URL; else the
/// `(#N)` of the reverted subject quoted in the revert's own subject
/// (`Revert "Add X (#1234)" (#1240)`: 1234, not the revert's own 1240).
pub fn revert_targets(subject: &str, body: &str) -> Vec<Target> {
    let body = unquoted(body);
    let lower = body.to_ascii_lowercase();
    let mut commits: Vec<Target> = Vec::new();
    for (at, _) in lower.match_indices("reverts commit") {
        let rest = body[at + "reverts commit".len()..].trim_start_matches(['s', 'S']);
        // "commit A", "commits A and B", "commits A, B".
        for word in rest.split_whitespace() {
            let token = word.trim_matches(|c: char| !c.is_ascii_alphanumeric());
            if is_commit_id(token) {
                let t = Target::Commit(token.to_ascii_lowercase());
                if !commits.contains(&t) {
                    commits.push(t);
                }
                if word.ends_with('.') {
                    break;
                }
            } else if !(token.eq_ignore_ascii_case("and") || token.is_empty()) {
                break;
            }
        }
    }
    if !commits.is_empty() {
        return commits;
    }
    let mut pulls: Vec<Target> = Vec::new();
    for (at, _) in lower.match_indices("reverts ") {
        // Only at a line start or after "This ".
        let before = lower[..at].trim_end_matches(' ');
        if !(before.is_empty() || before.ends_with('\n') || before.ends_with("this")) {
            continue;
        }
        let rest = &body[at + "reverts ".len()..];
        let mut words = rest.split_whitespace();
        let mut token = words.next().unwrap_or("");
        if token.eq_ignore_ascii_case("pr") || token.eq_ignore_ascii_case("pull") {
            token = words.next().unwrap_or("");
            if token.eq_ignore_ascii_case("request") {
                token = words.next().unwrap_or("");
            }
        }
        if let Some(n) = pull_number(token) {
            let t = Target::Pull(n);
            if !pulls.contains(&t) {
                pulls.push(t);
            }
        }
    }
    if !pulls.is_empty() {
        return pulls;
    }
    let full = full_subject(subject, &body);
    if let Some(quoted) = quoted_subject(&full) {
        if let Some(n) = trailing_pull(quoted) {
            return vec![Target::Pull(n)];
        }
    }
    Vec::new()
}

/// The body without quoted lines (`> ...`): the reverted change's own
/// message, which Gerrit reverts quote in full.
fn unquoted(body: &str) -> String {
    body.lines()
        .filter(|l| !l.trim_start().starts_with('>'))
        .collect::<Vec<_>>()
        .join("\n")
}

/// A pull-request number from `#12`, `owner/repo#12` or
/// `https://host/owner/repo/pull/12`, with trailing punctuation.
fn pull_number(token: &str) -> Option<u64> {
    let token = token.trim_end_matches(|c: char| !c.is_ascii_alphanumeric());
    let digits = if let Some((_, n)) = token.rsplit_once('#') {
        n
    } else if let Some((_, n)) = token.rsplit_once("/pull/") {
        n
    } else {
        return None;
    };
    if digits.is_empty() || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// GitHub cuts long squash subjects with "…" and moves the rest to the
/// first body line, which starts with "…". Joins them back.
fn full_subject(subject: &str, body: &str) -> String {
    let first = body.trim_start().lines().next().unwrap_or("").trim();
    match (subject.find('…'), first.strip_prefix('…')) {
        (Some(cut), Some(rest)) => format!("{}{}", &subject[..cut], rest),
        _ => subject.to_owned(),
    }
}

/// The reverted subject inside `Revert "..."`: from the first to the last
/// double quote.
fn quoted_subject(subject: &str) -> Option<&str> {
    let lower = subject.to_ascii_lowercase();
    if !lower.starts_with("revert") {
        return None;
    }
    let start = subject.find('"')?;
    let end = subject.rfind('"')?;
    (end > start).then(|| &subject[start + 1..end])
}

/// The `N` of a subject ending with `(#N)`.
pub fn trailing_pull(subject: &str) -> Option<u64> {
    let s = subject.trim_end();
    let inner = s.strip_suffix(')')?;
    let open = inner.rfind("(#")?;
    let digits = &inner[open + 2..];
    (!digits.is_empty() && digits.bytes().all(|b| b.is_ascii_digit()))
        .then(|| digits.parse().ok())
        .flatten()
}

/// The `N` of a GitHub merge subject `Merge pull request #N from ...`.
fn merge_pull(subject: &str) -> Option<u64> {
    let rest = subject.strip_prefix("Merge pull request #")?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

// ---------------------------------------------------------------------------
// Text: cleaning, sentences, symptoms
// ---------------------------------------------------------------------------

/// Subject tags that are patch-mail or tooling bookkeeping, not part of the
/// description: `[PATCH v2 3/4]`, `[RFC]`, `[cherry-pick]`, `fixup!` ...
/// Component tags such as `[Codegen]` or `net/mlx5:` stay.
pub fn strip_subject_tags(subject: &str) -> String {
    const BRACKETED: [&str; 10] = [
        "patch",
        "rfc",
        "resend",
        "cherry-pick",
        "cherry pick",
        "cherrypick",
        "backport",
        "wip",
        "draft",
        "do not merge",
    ];
    const BANG: [&str; 3] = ["fixup!", "squash!", "amend!"];
    let mut s = subject.trim();
    loop {
        let before = s;
        if s.starts_with('[') {
            if let Some(end) = s.find(']') {
                let tag = s[1..end].trim().to_ascii_lowercase();
                if BRACKETED.iter().any(|t| tag.starts_with(t)) {
                    s = s[end + 1..].trim_start();
                }
            }
        }
        for bang in BANG {
            if let Some(rest) = strip_prefix_ignore_case(s, bang) {
                s = rest.trim_start();
            }
        }
        if s == before {
            return s.to_owned();
        }
    }
}

/// Removes what an investigation could not have known or what would give
/// the culprit away: links (see [`strip_links`]), commit ids (7 to 40 hex
/// digits with a digit and a letter), Gerrit `Change-Id` values,
/// pull-request references (`#123`, `owner/repo#123`), @mentions,
/// footnote markers (`[1]`), Markdown bold markers, and the empty brackets these leave behind (`()` of `foo()`
/// goes too). Whitespace is collapsed.
pub fn clean_text(text: &str) -> String {
    let text = strip_links(text).replace("**", "");
    let mut words: Vec<String> = Vec::new();
    for token in text.split_whitespace() {
        let core_start = token
            .find(|c: char| c.is_ascii_alphanumeric() || c == '#')
            .unwrap_or(token.len());
        let core_end = token
            .rfind(|c: char| c.is_ascii_alphanumeric())
            .map_or(core_start, |i| i + 1)
            .max(core_start);
        let core = &token[core_start..core_end];
        if is_mention_or_note(token) {
            // Keep the punctuation after it: "[1]," leaves ",".
            let punctuation = &token[token.trim_end_matches(['.', ',', ':', ';']).len()..];
            if !punctuation.is_empty() {
                words.push(punctuation.to_owned());
            }
            continue;
        }
        if is_id_like(core) {
            let kept = format!("{}{}", &token[..core_start], &token[core_end..]);
            if !kept.is_empty() {
                words.push(kept);
            }
        } else {
            words.push(token.to_owned());
        }
    }
    let mut s = words.join(" ");
    for (from, to) in [
        ("()", " "),
        ("( )", " "),
        ("[]", ""),
        ("( ", "("),
        (" )", ")"),
        (" ,", ","),
        (" .", "."),
        (" ;", ";"),
        (" :", ":"),
    ] {
        while s.contains(from) {
            s = s.replace(from, to);
        }
    }
    let s = s.split_whitespace().collect::<Vec<_>>().join(" ");
    s.trim_matches(|c: char| c.is_whitespace() || matches!(c, ',' | ';' | '-' | '–'))
        .trim_end_matches(':')
        .trim()
        .to_owned()
}

/// Removes links: URLs, host/path links (`crrev.com/c/123`), tracker
/// references (`b/123`, `angleproject:123`) and Markdown links. What a link
/// points at is not a fact of the incident; a culprit id inside a URL is
/// not a leak, one in the prose is.
pub fn strip_links(text: &str) -> String {
    let text = strip_markdown_links(text);
    let mut words: Vec<String> = Vec::new();
    for token in text.split_whitespace() {
        let middle = token.trim_start_matches(['(', '<', '[', '"', '\'']);
        let lead = &token[..token.len() - middle.len()];
        let middle = middle.trim_end_matches([')', '>', ']', '"', '\'', '.', ',', ';', ':']);
        let trail = &token[lead.len() + middle.len()..];
        if is_link(middle) {
            let kept = format!("{lead}{trail}");
            if !kept.is_empty() {
                words.push(kept);
            }
        } else {
            words.push(token.to_owned());
        }
    }
    words.join(" ")
}

/// `[text](url)` removed whole: the text of such links is mostly an id.
fn strip_markdown_links(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut rest = text;
    while let Some(open) = rest.find('[') {
        let after = &rest[open..];
        let link_end = after.find("](").and_then(|close| {
            let inside = &after[1..close];
            if inside.contains('[') || inside.contains('\n') {
                return None;
            }
            after[close + 2..].find(')').map(|end| close + 2 + end + 1)
        });
        match link_end {
            Some(end) => {
                out.push_str(&rest[..open]);
                rest = &rest[open + end..];
            }
            None => {
                out.push_str(&rest[..open + 1]);
                rest = &rest[open + 1..];
            }
        }
    }
    out.push_str(rest);
    out
}

/// A URL, a host/path link or a tracker reference.
fn is_link(token: &str) -> bool {
    let t = token.trim_matches(|c: char| {
        matches!(
            c,
            '(' | ')' | '<' | '>' | '[' | ']' | ',' | '.' | ';' | '"' | '\''
        )
    });
    let lower = t.to_ascii_lowercase();
    if lower.contains("://") || lower.starts_with("www.") {
        return true;
    }
    // host.tld/path, e.g. crrev.com/c/123, anglebug.com/6922.
    if let Some((host, _)) = lower.split_once('/') {
        if host.contains('.')
            && [".com", ".org", ".net", ".io", ".dev", ".app", ".ly"]
                .iter()
                .any(|tld| host.ends_with(tld))
        {
            return true;
        }
        // Short tracker links: b/123, crbug/123, go/name.
        if matches!(host, "b" | "crbug" | "go") {
            return true;
        }
    }
    // Tracker references such as angleproject:1234 or chromium:1234 (not
    // Makefile:189).
    if let Some((name, number)) = t.split_once(':') {
        if !name.is_empty()
            && name.bytes().all(|b| b.is_ascii_lowercase())
            && !number.is_empty()
            && number.bytes().all(|b| b.is_ascii_digit())
        {
            return true;
        }
    }
    false
}

/// An @mention (`@user`, `@org/team`) or a footnote marker (`[1]`): who
/// was told and where it is written down are not facts of the incident.
fn is_mention_or_note(token: &str) -> bool {
    let t = token.trim_end_matches(['.', ',', ':', ';', ')']);
    let t = t.trim_start_matches('(');
    if let Some(name) = t.strip_prefix('@') {
        return !name.is_empty()
            && name
                .chars()
                .all(|c| c.is_alphanumeric() || "-_/.".contains(c));
    }
    t.len() >= 3
        && t.starts_with('[')
        && t.ends_with(']')
        && t[1..t.len() - 1].bytes().all(|b| b.is_ascii_digit())
}

/// A commit id (hex with a digit and a letter), a Gerrit Change-Id, or a
/// pull-request reference.
fn is_id_like(core: &str) -> bool {
    let hex_id = |s: &str| {
        is_commit_id(s)
            && s.bytes().any(|b| b.is_ascii_digit())
            && s.bytes().any(|b| b.is_ascii_alphabetic())
    };
    if hex_id(core) {
        return true;
    }
    if core.len() == 41 && core.starts_with('I') && core[1..].bytes().all(|b| b.is_ascii_hexdigit())
    {
        return true;
    }
    if let Some((repo, number)) = core.rsplit_once('#') {
        let repo_ok = repo.is_empty()
            || repo.split('/').all(|p| {
                !p.is_empty()
                    && p.bytes()
                        .all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
            });
        return repo_ok && !number.is_empty() && number.bytes().all(|b| b.is_ascii_digit());
    }
    false
}

/// Splits text into sentences: after `.`, `!` or `?` followed by a space
/// and a capital letter, a quote or an opening bracket. A lower-case
/// continuation (`... value. ocm_mask is ...`) and abbreviations (`e.g.`)
/// do not end a sentence.
pub fn sentences(text: &str) -> Vec<String> {
    const ABBREVIATIONS: [&str; 6] = ["e.g", "i.e", "etc", "vs", "cf", "approx"];
    let text = text.split_whitespace().collect::<Vec<_>>().join(" ");
    let chars: Vec<(usize, char)> = text.char_indices().collect();
    let mut out = Vec::new();
    let mut start = 0;
    for (k, &(i, c)) in chars.iter().enumerate() {
        if !matches!(c, '.' | '!' | '?') {
            continue;
        }
        let (Some(&(_, space)), Some(&(_, next))) = (chars.get(k + 1), chars.get(k + 2)) else {
            continue;
        };
        if space != ' ' || !(next.is_uppercase() || matches!(next, '"' | '\'' | '(' | '[')) {
            continue;
        }
        if c == '.' {
            let word = text[start..i]
                .rsplit(' ')
                .next()
                .unwrap_or("")
                .trim_start_matches(['(', '"', '\''])
                .to_ascii_lowercase();
            if ABBREVIATIONS.contains(&word.as_str()) {
                continue;
            }
        }
        out.push(text[start..=i].trim().to_owned());
        start = i + 2;
    }
    let last = text[start.min(text.len())..].trim();
    if !last.is_empty() {
        out.push(last.to_owned());
    }
    out
}

/// Word beginnings that mark a symptom: something broke, failed, crashed,
/// regressed, or is wrong. Matched at the start of a word, case-insensitive
/// ("build" matches "builds", "fail" matches "failure").
const SYMPTOMS: [&str; 54] = [
    "abort",
    "assert",
    "asan",
    "bad",
    "block",
    "break",
    "broke",
    "bug",
    "build",
    "can't",
    "cannot",
    "caus",
    "compil",
    "corrupt",
    "coverity",
    "crash",
    "deadlock",
    "dereferenc",
    "error",
    "fail",
    "flak",
    "garbage",
    "hang",
    "hung",
    "hurt",
    "incorrect",
    "invalid",
    "issue",
    "leak",
    "lost",
    "miscompil",
    "mismatch",
    "missing",
    "msan",
    "null",
    "overflow",
    "panic",
    "perf",
    "problem",
    "race",
    "racy",
    "regress",
    "repro",
    "segfault",
    "sigsegv",
    "slow",
    "stuck",
    "timeout",
    "tsan",
    "ubsan",
    "undefined",
    "uninitiali",
    "unused",
    "violat",
];

/// Phrases that mark a symptom anywhere.
const SYMPTOM_PHRASES: [&str; 5] = [
    "not work",
    "stopped working",
    "time out",
    "timed out",
    "wrong",
];

/// Whether a sentence describes a symptom (see [`SYMPTOMS`]).
pub fn has_symptom(sentence: &str) -> bool {
    let lower = sentence.to_lowercase();
    if SYMPTOM_PHRASES.iter().any(|p| lower.contains(p)) {
        return true;
    }
    lower
        .split(|c: char| !(c.is_alphanumeric() || c == '\''))
        .any(|word| SYMPTOMS.iter().any(|s| word.starts_with(s)))
}

/// Cuts `text` to at most `max` bytes at a word boundary, ending in " ...".
pub fn truncate(text: &str, max: usize) -> String {
    if text.len() <= max {
        return text.to_owned();
    }
    let mut cut = max;
    while !text.is_char_boundary(cut) {
        cut -= 1;
    }
    let head = &text[..cut];
    let head = match head.rfind(' ') {
        Some(space) if space > 0 => &head[..space],
        _ => head,
    };
    format!("{} ...", head.trim_end())
}

// ---------------------------------------------------------------------------
// Titles and impacts
// ---------------------------------------------------------------------------

/// What a case says about the culprit, to keep it out of the facts.
#[derive(Debug, Clone, Default)]
pub struct CulpritNames {
    /// Full commit id, lower case.
    pub id: String,
    /// Its subject without tags, lower case, whitespace collapsed; with and
    /// without a trailing `(#N)`.
    pub subjects: Vec<String>,
    /// Its pull-request number, when its subject ends with `(#N)`.
    pub pull: Option<u64>,
}

impl CulpritNames {
    pub fn new(id: &str, subject: &str) -> Self {
        let subject = normalize(&strip_subject_tags(subject));
        let pull = trailing_pull(&subject);
        let mut subjects = vec![subject.clone()];
        if let Some(open) = subject.rfind("(#") {
            let bare = subject[..open].trim_end().to_owned();
            if pull.is_some() && !bare.is_empty() {
                subjects.push(bare);
            }
        }
        // A subject of a few characters ("fix") would match anything.
        subjects.retain(|s| s.len() >= 10);
        CulpritNames {
            id: id.to_ascii_lowercase(),
            subjects,
            pull,
        }
    }
}

fn normalize(text: &str) -> String {
    text.split_whitespace()
        .collect::<Vec<_>>()
        .join(" ")
        .to_lowercase()
}

/// Whether `text` names the culprit: a hex prefix of its id (7 digits or
/// more), its subject, or its pull-request number.
pub fn names_culprit(text: &str, culprit: &CulpritNames) -> bool {
    let lower = normalize(text);
    let names_id = lower
        .split(|c: char| !c.is_ascii_alphanumeric())
        .any(|t| t.len() >= 7 && is_commit_id(t) && culprit.id.starts_with(t));
    if names_id {
        return true;
    }
    if culprit.subjects.iter().any(|s| lower.contains(s.as_str())) {
        return true;
    }
    if let Some(n) = culprit.pull {
        let needle = format!("#{n}");
        let mut rest = lower.as_str();
        while let Some(at) = rest.find(&needle) {
            let after = &rest[at + needle.len()..];
            if !after.starts_with(|c: char| c.is_ascii_digit()) {
                return true;
            }
            rest = after;
        }
    }
    false
}

/// The title of a fix: its subject without tags, cleaned.
pub fn fix_title(subject: &str) -> String {
    truncate(&clean_text(&strip_subject_tags(subject)), TITLE_MAX)
}

/// Sentences that describe the fix, not the symptom.
fn describes_the_change(sentence: &str) -> bool {
    let lower = sentence.to_ascii_lowercase();
    [
        "this patch",
        "this commit",
        "this change",
        "this series",
        "this pr ",
    ]
    .iter()
    .any(|p| lower.starts_with(p))
}

/// The impact of a fix: the first sentence of its body's first paragraph,
/// when it describes a symptom (see [`has_symptom`]), does not describe the
/// change itself ("This patch ..."), and does not name the culprit.
pub fn fix_impact(body: &str, culprit: &CulpritNames) -> Option<String> {
    let paragraph: Vec<&str> = body
        .lines()
        .map(str::trim)
        .skip_while(|l| l.is_empty())
        .take_while(|l| !l.is_empty())
        .collect();
    if paragraph.is_empty() || paragraph.iter().all(|l| is_trailer(l)) {
        return None;
    }
    let first = sentences(&paragraph.join(" ")).into_iter().next()?;
    if names_culprit(&strip_links(&first), culprit) || describes_the_change(&first) {
        return None;
    }
    let cleaned = clean_text(&first);
    (has_symptom(&cleaned) && cleaned.split_whitespace().count() >= IMPACT_MIN_WORDS)
        .then(|| truncate(&cleaned, IMPACT_MAX))
}

/// Trailer keys that end a message's prose (compared in lower case).
const TRAILERS: [&str; 38] = [
    "signed-off-by",
    "acked-by",
    "reviewed-by",
    "tested-by",
    "reported-by",
    "suggested-by",
    "requested-by",
    "co-authored-by",
    "co-developed-by",
    "helped-by",
    "cc",
    "change-id",
    "reviewed-on",
    "commit-queue",
    "auto-submit",
    "bot-commit",
    "owners-override",
    "no-presubmit",
    "no-tree-checks",
    "no-try",
    "bug",
    "bugs",
    "test",
    "link",
    "closes",
    "fixes",
    "refs",
    "pull request resolved",
    "differential revision",
    "ghstack-source-id",
    "fbshipit-source-id",
    "reviewers",
    "subscribers",
    "tags",
    "coverity issue",
    "bugzilla id",
    "addresses-coverity-id",
    "original-commit-id",
];

/// A trailer line (`Signed-off-by: ...`), an old-style Chromium tag
/// (`TBR=...`) or a "cc @user" line.
fn is_trailer(line: &str) -> bool {
    let line = line.trim();
    if let Some((key, _)) = line.split_once(':') {
        if TRAILERS.contains(&key.trim().to_ascii_lowercase().as_str()) {
            return true;
        }
    }
    if let Some((key, _)) = line.split_once('=') {
        if !key.is_empty() && key.bytes().all(|b| b.is_ascii_uppercase() || b == b'_') {
            return true;
        }
    }
    let lower = line.to_ascii_lowercase();
    lower.starts_with("cc @") || lower.starts_with("(cherry picked from commit")
}

/// The reason a revert gives, as prose, before cleaning: the body without
/// the quoted original message, trailers, headings, code blocks, the
/// "This reverts commit ..." and "Reverts #N" boilerplate, and a leading
/// "Reason for revert:". Empty when the revert gives no reason.
pub fn revert_reason(body: &str) -> String {
    let mut lines: Vec<&str> = Vec::new();
    let mut first = true;
    for line in body.lines() {
        let trimmed = line.trim();
        if first && trimmed.is_empty() {
            continue;
        }
        // GitHub's continuation of a cut subject.
        if first && trimmed.starts_with('…') {
            first = false;
            continue;
        }
        first = false;
        let lower = trimmed.to_ascii_lowercase();
        if lower.starts_with("original change's description")
            || trimmed.starts_with("```")
            || (trimmed.starts_with('#')
                && lower.trim_start_matches('#').trim().starts_with("test"))
        {
            break;
        }
        if trimmed.starts_with('>')
            || is_trailer(trimmed)
            || lower.starts_with("[please remove]")
            || lower.starts_with("<insert reasoning here>")
            || trimmed.starts_with("<!--")
            || (trimmed.starts_with("##"))
            || (trimmed.starts_with("# ") && lower.contains("cq checks"))
            || (trimmed.len() >= 3 && trimmed.chars().all(|c| matches!(c, '-' | '=' | '_')))
        {
            continue;
        }
        let without_bullet = trimmed
            .strip_prefix("* ")
            .or_else(|| trimmed.strip_prefix("- "))
            .unwrap_or(trimmed);
        lines.push(without_bullet);
    }
    let text = lines.join(" ");
    let text = remove_revert_boilerplate(&text);
    let text = text.trim();
    // "Reason for revert: X", "Reason to revert: X", "Reason: X",
    // "Summary: X".
    let lower = text.to_ascii_lowercase();
    let text = match lower.find("reason for revert:") {
        Some(at) => &text[at + "reason for revert:".len()..],
        None => ["reason to revert:", "reason:", "summary:"]
            .iter()
            .find_map(|p| strip_prefix_ignore_case(text, p))
            .unwrap_or(text),
    };
    strip_connectives(text.trim()).to_owned()
}

/// Removes "This reverts commit <id>[, reversing changes made to <id>]."
/// and "Reverts <owner/repo>#N" / "This reverts #N" phrases.
fn remove_revert_boilerplate(text: &str) -> String {
    let words: Vec<&str> = text.split_whitespace().collect();
    let mut out: Vec<&str> = Vec::with_capacity(words.len());
    let mut i = 0;
    let lower = |w: &str| w.to_ascii_lowercase();
    while i < words.len() {
        let w = lower(words[i]);
        let this = w == "this" && words.get(i + 1).is_some_and(|n| lower(n) == "reverts");
        let start = if this { i + 1 } else { i };
        if lower(words.get(start).copied().unwrap_or("")) == "reverts" {
            let mut j = start + 1;
            if words.get(j).is_some_and(|n| {
                let n = lower(n);
                n == "commit" || n == "pr" || n == "pull"
            }) {
                j += 1;
                if words.get(j).is_some_and(|n| lower(n) == "request") {
                    j += 1;
                }
            }
            let target = words.get(j).copied().unwrap_or("");
            let core = target.trim_matches(|c: char| !c.is_ascii_alphanumeric());
            if is_commit_id(core) || pull_number(target).is_some() {
                let mut end = j + 1;
                // ", reversing changes made to <id>."
                if target.ends_with(',')
                    && words.get(end).is_some_and(|n| lower(n) == "reversing")
                    && words.get(end + 1).is_some_and(|n| lower(n) == "changes")
                {
                    end += 4;
                }
                if target.ends_with(',') && end == j + 1 {
                    out.push(",");
                }
                i = end.min(words.len());
                continue;
            }
        }
        out.push(words[i]);
        i += 1;
    }
    out.join(" ").replace(" ,", ",")
}

/// Drops leading punctuation and connectives left by removed boilerplate:
/// ", which breaks X" and "because X" give "breaks X" and "X".
fn strip_connectives(text: &str) -> &str {
    let mut s =
        text.trim_start_matches(|c: char| c.is_whitespace() || matches!(c, ',' | '.' | ':' | ';'));
    for word in [
        "because of",
        "because",
        "due to",
        "since",
        "as",
        "which",
        "based on",
    ] {
        if let Some(rest) = strip_prefix_ignore_case(s, word) {
            if rest.starts_with(' ') && word != "based on" {
                s = rest.trim_start();
                break;
            }
        }
    }
    s
}

/// A revert's title and impact from its reason: the title is the first
/// sentence that describes a symptom, the impact the sentences after it,
/// when they describe one too. A reason without a symptom ("Not ready
/// yet.") drops the case, as does a title that names the culprit; a later
/// sentence that names it drops only the impact.
pub fn revert_facts(
    reason: &str,
    culprit: &CulpritNames,
) -> Result<(String, Option<String>), Dropped> {
    let raw: Vec<String> = sentences(reason);
    let cleaned: Vec<String> = raw.iter().map(|s| clean_text(s)).collect();
    let title_at = (0..raw.len())
        .find(|&k| has_symptom(&cleaned[k]))
        .ok_or(Dropped::RevertWithoutSymptom)?;
    if names_culprit(&strip_links(&raw[title_at]), culprit) {
        return Err(Dropped::LeakyTitle);
    }
    let title = truncate(&cleaned[title_at], TITLE_MAX);
    // Leftovers of stripped links ("See:", "Log") say nothing.
    let rest: Vec<&str> = (title_at + 1..raw.len())
        .filter(|&k| words_in(&cleaned[k]) >= 2)
        .map(|k| cleaned[k].as_str())
        .collect();
    let impact = rest.join(" ");
    let names = (title_at + 1..raw.len()).any(|k| names_culprit(&strip_links(&raw[k]), culprit));
    let impact = (!names && words_in(&impact) >= IMPACT_MIN_WORDS && has_symptom(&impact))
        .then(|| truncate(&impact, IMPACT_MAX));
    Ok((title, impact))
}

/// Words with at least one letter or digit.
fn words_in(text: &str) -> usize {
    text.split_whitespace()
        .filter(|w| w.chars().any(char::is_alphanumeric))
        .count()
}

/// Whether a revert's reason says anything: two words, one of three
/// letters or more.
pub fn has_reason(reason: &str) -> bool {
    let cleaned = clean_text(reason);
    words_in(&cleaned) >= 2
        && cleaned
            .split_whitespace()
            .any(|w| w.chars().filter(|c| c.is_alphabetic()).count() >= 3)
}

// ---------------------------------------------------------------------------
// Mining a repository
// ---------------------------------------------------------------------------

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
    /// Kept cases whose culprit a first-parent walk bounded by committer
    /// dates (`history::window`) does not reach, because dates run backwards
    /// around the window. Their culprit is in the window by landing time.
    pub walk_misses: usize,
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
    /// `min(time[0..=i])`: the first `i` with `prefix_min[i] < t` is where
    /// `history::start_commit` starts a replay that opens at `t`.
    prefix_min: Vec<Seconds>,
    /// Pull-request number → lines (and merged-in commits) whose subject
    /// ends with `(#N)`, newest first.
    pulls: HashMap<u64, Vec<Oid>>,
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
        let mut commits = Vec::new();
        let mut note = |c: &git2::Commit<'_>| {
            let subject = String::from_utf8_lossy(c.summary_bytes().unwrap_or(b""));
            if let Some(n) = trailing_pull(&subject).or_else(|| merge_pull(&subject)) {
                pulls.entry(n).or_default().push(c.id());
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
        let mut landed_at = vec![0; lines.len()];
        let mut latest = Seconds::MIN;
        for i in (0..lines.len()).rev() {
            latest = latest.max(lines[i].time);
            landed_at[i] = latest;
        }
        let mut prefix_min = Vec::with_capacity(lines.len());
        let mut min = Seconds::MAX;
        for line in &lines {
            min = min.min(line.time);
            prefix_min.push(min);
        }
        Ok(MainLine {
            lines,
            landed_by,
            landed_at,
            prefix_min,
            pulls,
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

    /// Whether a first-parent walk as `history::window` does it (from the
    /// first commit before `until` whose committer time is before it, back to
    /// the first one older than `since`) reaches line `at`. It does not
    /// when committer dates run backwards around the window.
    fn walk_reaches(&self, at: usize, since: Seconds, until: Seconds) -> bool {
        let start = self.prefix_min.partition_point(|&m| m >= until);
        if at < start {
            return false;
        }
        !(start..=at).any(|j| self.lines[j].time < since)
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
        report.walk_misses += usize::from(draft.walk_misses);
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
    /// Whether a date-bounded first-parent walk misses the culprit.
    walk_misses: bool,
}

/// What a commit is a candidate for, and what it names: a revert's
/// targets (a `Revert "..."` subject that names none has an empty list, or
/// its Fixes: trailers), else a fix's trailers. `None` when it is neither.
pub fn classify(subject: &str, body: &str) -> Option<(Source, Vec<Target>)> {
    let revert = is_revert(subject, body);
    let reverted = if revert {
        revert_targets(subject, body)
    } else {
        Vec::new()
    };
    let fixes: Vec<Target> = fixes_targets(body)
        .into_iter()
        .map(Target::Commit)
        .collect();
    if !reverted.is_empty() {
        Some((Source::Revert, reverted))
    } else if revert && is_git_revert_subject(subject) {
        Some((Source::Revert, fixes))
    } else if !fixes.is_empty() {
        Some((Source::FixesTrailer, fixes))
    } else {
        None
    }
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
        walk_misses: !main.walk_reaches(culprit_at, since, opened_at),
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
    let mut found: Vec<Oid> = Vec::new();
    let mut unknown = 0;
    for target in targets {
        let id = match target {
            Target::Commit(text) => repo.find_commit_by_prefix(text).ok().map(|c| c.id()),
            // The newest commit with that number that landed before the fix.
            Target::Pull(n) => main.pulls.get(n).and_then(|ids| {
                ids.iter()
                    .copied()
                    .find(|id| *id != fix && main.landed_by.get(id).is_some_and(|&at| at >= fix_at))
            }),
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
