//! The text rules of mining, pure functions over strings: which commits
//! are candidates and what they name, how a revert's reason is found, how
//! titles and impacts are cleaned, split and checked for leaks.

use super::Dropped;

/// Titles longer than this are cut at a word and end in " ...".
pub const TITLE_MAX: usize = 200;
/// Impacts longer than this are cut the same way.
pub const IMPACT_MAX: usize = 300;
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
    /// A code-review number (`D12345`, Phabricator's), to resolve to the
    /// commit whose `Differential Revision:` line names it.
    Review(u64),
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

/// Whether a commit is a revert: its subject starts with "Revert" (or
/// Phabricator's "Back out" and "Reverting D<n>"), or its body says "This
/// reverts" or starts a line with "Reverts ". A reland (`Reapply "..."`,
/// `Reland ...`, `Revert "Revert "...""`) restores a change rather than
/// backing out a broken one, and is not.
pub fn is_revert(subject: &str, body: &str) -> bool {
    if is_reland(subject) {
        return false;
    }
    let lower = subject.to_ascii_lowercase();
    if ["revert ", "revert\"", "revert:", "back out ", "backout "]
        .iter()
        .any(|p| lower.starts_with(p))
    {
        return true;
    }
    // "Reverting D123", not "Reverting state on error".
    if strip_prefix_ignore_case(subject, "reverting ")
        .and_then(|rest| rest.split_whitespace().next())
        .and_then(review_number)
        .is_some()
    {
        return true;
    }
    let body = body.to_ascii_lowercase();
    body.contains("this reverts ")
        || body
            .lines()
            .any(|l| l.trim_start().starts_with("reverts ") && !l.trim_start().starts_with(">"))
}

/// Whether a subject re-lands a reverted change: `Reland "..."`,
/// `Re-land ...`, `Reapply "..."`, `[Reland] ...`, `Revert "Revert "...""`
/// or `Back out "Revert ..."`. `Revert "Reapply ..."` and `Revert "Reland
/// ..."` back the reland out again, and are reverts.
pub fn is_reland(subject: &str) -> bool {
    let lower = subject.trim_start().to_ascii_lowercase();
    [
        "reapply",
        "re-apply",
        "reland",
        "re-land",
        "[reland]",
        "[re-land]",
        "revert \"revert ",
        "back out \"revert ",
        "back out \"back out ",
    ]
    .iter()
    .any(|p| lower.starts_with(p))
}

/// Whether a subject has the form git and GitHub give reverts:
/// `Revert "<subject>"` (Phabricator's: `Back out "<subject>"`).
pub fn is_git_revert_subject(subject: &str) -> bool {
    let lower = subject.to_ascii_lowercase();
    ["revert \"", "revert '", "revert (", "back out \""]
        .iter()
        .any(|p| lower.starts_with(p))
}

/// The targets a revert names, most specific form first: commit ids from
/// `This reverts commit <id>`; else pull requests from `Reverts #N`,
/// `Reverts owner/repo#N`, `This reverts #N` or a pull-request URL; else
/// review numbers (`Revert D123: ...`, `This diff reverts D123`, `Original
/// Phabricator Diff: D123`); else the `(#N)` of the reverted subject quoted
/// in the revert's own subject (`Revert "Add X (#1234)" (#1240)`: 1234, not
/// the revert's own 1240).
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
    let reviews = review_targets(subject, &body);
    if !reviews.is_empty() {
        return reviews;
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

/// The number of a review id `D123` (with trailing punctuation), or of a
/// review URL ending in `/D123`.
fn review_number(token: &str) -> Option<u64> {
    let token = token.trim_end_matches(|c: char| !c.is_ascii_alphanumeric());
    let token = token.rsplit('/').next().unwrap_or(token);
    let digits = token.strip_prefix('D')?;
    if digits.is_empty() || digits.len() > 12 || !digits.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    digits.parse().ok()
}

/// The reviews a Phabricator-exported revert names: `Revert D123: ...`,
/// `Revert D123 and D124`, `Reverting D123`, `Back out D123`, and in the
/// body `This diff reverts D123`, `This diff is reverting D123`, `Original
/// Phabricator Diff: D123`. `Depends on D123` names no target.
fn review_targets(subject: &str, body: &str) -> Vec<Target> {
    let mut reviews: Vec<Target> = Vec::new();
    let mut add = |n: u64| {
        if !reviews.contains(&Target::Review(n)) {
            reviews.push(Target::Review(n));
        }
    };
    let rest = [
        "revert of ",
        "reverting ",
        "revert ",
        "back out ",
        "backout ",
    ]
    .iter()
    .find_map(|p| strip_prefix_ignore_case(subject, p));
    if let Some(rest) = rest {
        // "D1", "D1: subject", "D1 and D2", "D1, D2: ..."
        for word in rest.split_whitespace() {
            if let Some(n) = review_number(word) {
                add(n);
                if word.ends_with(':') {
                    break;
                }
            } else if !word.eq_ignore_ascii_case("and") {
                break;
            }
        }
    }
    for line in body.lines() {
        let after = [
            "this diff reverts ",
            "this diff is reverting ",
            "original phabricator diff:",
        ]
        .iter()
        .find_map(|p| strip_prefix_ignore_case(line.trim(), p));
        if let Some(n) = after
            .and_then(|a| a.split_whitespace().next())
            .and_then(review_number)
        {
            add(n);
        }
    }
    reviews
}

/// The review a commit landed through: the `D123` of its `Differential
/// Revision:` line (an id or a URL), Phabricator's export.
pub fn differential_revision(message: &str) -> Option<u64> {
    message.lines().find_map(|line| {
        let value = strip_prefix_ignore_case(line.trim(), "differential revision:")?;
        value.split_whitespace().find_map(review_number)
    })
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

/// The reverted subject inside `Revert "..."` (or `Back out "..."`): from
/// the first to the last double quote.
pub fn quoted_subject(subject: &str) -> Option<&str> {
    let lower = subject.to_ascii_lowercase();
    if !(lower.starts_with("revert") || lower.starts_with("back out")) {
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
pub(super) fn merge_pull(subject: &str) -> Option<u64> {
    let rest = subject.strip_prefix("Merge pull request #")?;
    let digits: String = rest.chars().take_while(char::is_ascii_digit).collect();
    digits.parse().ok()
}

// ---------------------------------------------------------------------------
// Text: cleaning, sentences, symptoms
// ---------------------------------------------------------------------------

/// Subject tags that are patch-mail or tooling bookkeeping, not part of the
/// description: `[PATCH v2 3/4]`, `[RFC]`, `[cherry-pick]`, `fixup!` ...
/// Component tags such as `[Layout]` or `net/mlx5:` stay.
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
/// references (`b/123`, `project:123`) and Markdown links. What a link
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
    // host.tld/path, e.g. crrev.com/c/123, tracker.example.com/42.
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
    // Tracker references such as project:1234 (not
    // Makefile:12).
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
/// continuation (`... value. the_flag is ...`) and abbreviations (`e.g.`)
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

/// Whether a sentence describes a symptom (see `SYMPTOMS`).
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
    /// Its review number (`D123`), when its message has a `Differential
    /// Revision:` line.
    pub review: Option<u64>,
}

impl CulpritNames {
    /// The names of the commit `id` with this subject (git's summary) and
    /// whole message.
    pub fn new(id: &str, subject: &str, message: &str) -> Self {
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
            review: differential_revision(message),
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
/// more), its subject, its pull-request number or its review number.
pub fn names_culprit(text: &str, culprit: &CulpritNames) -> bool {
    let lower = normalize(text);
    let review = culprit.review.map(|n| format!("d{n}"));
    let names_token = lower.split(|c: char| !c.is_ascii_alphanumeric()).any(|t| {
        review.as_deref() == Some(t)
            || (t.len() >= 7 && is_commit_id(t) && culprit.id.starts_with(t))
    });
    if names_token {
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
const TRAILERS: [&str; 43] = [
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
    "original commit changeset",
    "original phabricator diff",
    "reviewed by",
    "pulled by",
    "x-link",
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

/// Lines of Phabricator's exported reverts that say nothing of the
/// symptom (the revert's target is read from them first).
const PHABRICATOR_BOILERPLATE: [&str; 12] = [
    "(note: this ignores all push blocking failures!)",
    "tests affected:",
    "this diff reverts d",
    "this diff is reverting d",
    "depends on d",
    "re-landing d",
    "(the context such as a sandcastle job",
    "here's the multisect link",
    "here are the tasks that are relevant",
    "we're generating a revert",
    "if you believe this diff has been generated in error",
    "bypass-github-export-checks",
];

/// A line of Phabricator's export that says nothing of the symptom: the
/// boilerplate above, or an automatic bisection's blame, `D123: <another
/// change's subject> by <author> has been identified to be causing the
/// following test or build failures:`, which names a change, not a symptom.
fn is_phabricator_boilerplate(line: &str, lower: &str) -> bool {
    PHABRICATOR_BOILERPLATE.iter().any(|p| lower.starts_with(p))
        || (line
            .split_once(':')
            .is_some_and(|(id, _)| review_number(id).is_some())
            && lower.contains("has been identified to be causing"))
}

/// The reason a revert gives, as prose, before cleaning: the body without
/// the quoted original message, the revert's subject repeated, trailers,
/// headings, code blocks, a test plan, a pull-request template's "[PLEASE
/// REMOVE]" paragraphs, Phabricator's export boilerplate, the "This
/// reverts commit ..." and "Reverts #N" boilerplate, and a leading "Reason
/// for revert:". Empty when the revert gives no reason.
pub fn revert_reason(body: &str) -> String {
    let mut lines: Vec<&str> = Vec::new();
    let mut first = true;
    // Inside a pull-request template's "[PLEASE REMOVE] ..." paragraph,
    // which runs to the next blank line.
    let mut template = false;
    for line in body.lines() {
        let trimmed = line.trim();
        if trimmed.is_empty() {
            template = false;
        }
        if template || (first && trimmed.is_empty()) {
            continue;
        }
        // GitHub's continuation of a cut subject, or the subject again
        // (a squashed pull request's title, `Revert "..."`).
        if first && (trimmed.starts_with('…') || is_git_revert_subject(trimmed)) {
            first = false;
            continue;
        }
        first = false;
        let lower = trimmed.to_ascii_lowercase();
        if lower.starts_with("[please remove]") {
            template = true;
            continue;
        }
        if lower.starts_with("original change's description")
            || lower.starts_with("test plan:")
            || trimmed.starts_with("```")
            || (trimmed.starts_with('#')
                && lower.trim_start_matches('#').trim().starts_with("test"))
        {
            break;
        }
        if trimmed.starts_with('>')
            || is_trailer(trimmed)
            || is_phabricator_boilerplate(trimmed, &lower)
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
    let text = merge_bot_reason(text.trim());
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

/// The reason of a merge bot's revert, `Reverted <pull request> on behalf
/// of <user> due to <reason> ([comment](...))`: what follows "due to" (the
/// comment link goes with the other links when the title is cleaned).
fn merge_bot_reason(text: &str) -> &str {
    let lower = text.to_ascii_lowercase();
    if !lower.starts_with("reverted ") {
        return text;
    }
    match (lower.find(" on behalf of "), lower.find(" due to ")) {
        (Some(by), Some(due)) if by < due => &text[due + " due to ".len()..],
        _ => text,
    }
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
