//! Diff signals: the incident's words against what each change's lines say
//! ([`crate::diff::ChangeText`]), not only its message and paths.
//!
//! - `diff_bm25`: BM25 of the title and impact against the words of the
//!   identifiers the change adds or removes (split at `_` and camelCase).
//! - `string_bm25`: the same against its string literals.
//! - `hunk_bm25`: the same against the functions its hunks touch.
//! - `exact_match`: identifiers quoted whole in the title (`buf_len`,
//!   `dev_read_u32_default`, a test or file name) that the change edits, or
//!   an error string of the change that the title quotes; each match counts
//!   by how rare it is in the window (its idf).

use super::bm25::{self, Bm25};
use super::Query;
use crate::history::Commit;
use crate::text;
use rayon::prelude::*;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeSet, HashMap};

/// A string literal shorter than this is not matched inside the title.
const MIN_QUOTED_STRING: usize = 10;
/// Whole words per change kept for exact matching.
const MAX_WHOLE_WORDS: usize = 2048;

/// Something the title names that the change contains, and where.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DiffMatch {
    /// The word or string as the change writes it.
    pub term: String,
    /// `identifier`, `function`, `string` or `path`.
    pub kind: String,
    /// The changed file it is in.
    pub path: String,
    /// The function whose body the line is in, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hunk: Option<String>,
}

impl DiffMatch {
    /// "title names `x`, which this change edits in p (hunk `f`)".
    pub fn describe(&self) -> String {
        let hunk = self
            .hunk
            .as_ref()
            .map(|h| format!(" (hunk `{h}`)"))
            .unwrap_or_default();
        match self.kind.as_str() {
            "string" => format!(
                "title quotes \"{}\", a string this change edits in {}{hunk}",
                self.term, self.path
            ),
            "function" => format!(
                "title names `{}`, a function this change edits in {}",
                self.term, self.path
            ),
            "path" => format!(
                "title names `{}`, a file this change touches: {}",
                self.term, self.path
            ),
            _ => format!(
                "title names `{}`, which this change edits in {}{hunk}",
                self.term, self.path
            ),
        }
    }
}

/// The diff signals of every commit of a window.
pub struct DiffSignals {
    identifiers: Bm25,
    strings: Bm25,
    hunks: Bm25,
    /// Per commit: lower-case whole words (identifiers, functions, path
    /// segments) → where the first one is.
    whole: Vec<HashMap<String, Place>>,
    /// In how many commits each whole word occurs.
    document_frequency: HashMap<String, u32>,
}

/// One commit's diff signal values and evidence.
pub struct Scored {
    pub identifiers: f64,
    pub strings: f64,
    pub hunks: f64,
    pub exact: f64,
    pub terms: BTreeSet<String>,
    pub matches: Vec<DiffMatch>,
}

impl DiffSignals {
    pub fn new(commits: &[Commit]) -> DiffSignals {
        let words = |terms: &[crate::diff::Term]| {
            let tokens: Vec<String> = terms.iter().flat_map(|t| text::tokens(&t.text)).collect();
            text::stem_counts(tokens.iter().map(String::as_str))
        };
        let whole = || {
            let whole: Vec<HashMap<String, Place>> = commits.par_iter().map(whole_words).collect();
            let frequency = bm25::document_frequency(&whole);
            (whole, frequency)
        };
        let field = |terms: fn(&Commit) -> &[crate::diff::Term]| {
            move || Bm25::new(commits.par_iter().map(|c| words(terms(c))).collect())
        };
        // Side by side, as the message indexes are (`retrieve`).
        let (((whole, document_frequency), identifiers), (strings, hunks)) = rayon::join(
            || rayon::join(whole, field(|c| &c.diff.identifiers)),
            || rayon::join(field(|c| &c.diff.strings), field(|c| &c.diff.functions)),
        );
        DiffSignals {
            identifiers,
            strings,
            hunks,
            whole,
            document_frequency,
        }
    }

    fn idf(&self, word: &str) -> f64 {
        bm25::idf(self.whole.len(), &self.document_frequency, word)
    }

    pub fn score(&self, index: usize, commit: &Commit, query: &Query) -> Scored {
        let mut terms = BTreeSet::new();
        let identifiers = self.identifiers.score(index, query, &mut terms);
        let strings = self.strings.score(index, query, &mut terms);
        let hunks = self.hunks.score(index, query, &mut terms);
        let mut exact = 0.0;
        let mut matches = Vec::new();
        for word in &query.identifiers {
            if let Some(place) = self.whole[index].get(word) {
                exact += self.idf(word);
                matches.push(place.located(commit));
            }
        }
        for literal in &commit.diff.strings {
            let lower = literal.text.to_lowercase();
            if lower.chars().filter(|c| c.is_alphabetic()).count() >= MIN_QUOTED_STRING
                && query.lower.contains(&lower)
                && !matches.iter().any(|m| m.term == literal.text)
            {
                exact += self.idf(&lower).max(1.0);
                matches.push(located(commit, literal, "string"));
            }
        }
        Scored {
            identifiers,
            strings,
            hunks,
            exact,
            terms,
            matches,
        }
    }
}

/// Where a term of the change is: its file and hunk.
fn located(commit: &Commit, term: &crate::diff::Term, kind: &str) -> DiffMatch {
    DiffMatch {
        term: term.text.clone(),
        kind: kind.to_owned(),
        path: commit
            .files
            .get(term.file as usize)
            .map(|f| f.path.clone())
            .unwrap_or_default(),
        hunk: term
            .hunk
            .and_then(|h| commit.diff.functions.get(h as usize))
            .map(|f| f.text.clone()),
    }
}

/// Where a whole word of a change is, resolved to a [`DiffMatch`] only
/// when the title names it.
enum Place {
    /// The i-th of the change's functions.
    Function(usize),
    /// The i-th of the change's identifiers.
    Identifier(usize),
    /// A segment of the i-th changed file's path, as the path writes it.
    Path(usize, String),
}

impl Place {
    fn located(&self, commit: &Commit) -> DiffMatch {
        match self {
            Place::Function(i) => located(commit, &commit.diff.functions[*i], "function"),
            Place::Identifier(i) => located(commit, &commit.diff.identifiers[*i], "identifier"),
            Place::Path(i, segment) => DiffMatch {
                term: segment.clone(),
                kind: "path".to_owned(),
                path: commit.files[*i].path.clone(),
                hunk: None,
            },
        }
    }
}

/// A commit's whole words: the identifiers and functions of its lines and
/// the segments of its paths, lower-case.
fn whole_words(commit: &Commit) -> HashMap<String, Place> {
    let mut out: HashMap<String, Place> = HashMap::new();
    let terms = (commit.diff.functions.iter().enumerate())
        .map(|(i, t)| (t, Place::Function(i)))
        .chain(
            (commit.diff.identifiers.iter().enumerate()).map(|(i, t)| (t, Place::Identifier(i))),
        );
    for (term, place) in terms {
        if out.len() >= MAX_WHOLE_WORDS {
            break;
        }
        out.entry(term.text.to_lowercase()).or_insert(place);
    }
    for (i, file) in commit.files.iter().take(200).enumerate() {
        for segment in words_of(&file.path) {
            if out.len() >= MAX_WHOLE_WORDS {
                break;
            }
            out.entry(segment.to_lowercase())
                .or_insert_with(|| Place::Path(i, segment.to_owned()));
        }
    }
    out
}

/// Runs of letters, digits and `_`.
fn words_of(text: &str) -> impl Iterator<Item = &str> {
    text.split(|c: char| !(c.is_alphanumeric() || c == '_'))
        .filter(|w| !w.is_empty())
}

/// The words of the incident that read as code: identifiers with `_`, a
/// digit or a camelCase hump (at least 4 characters), and any word of at
/// least 3 quoted in backticks or quotes. Lower-case, distinct.
pub fn identifiers_in(text: &str) -> Vec<String> {
    let mut out: Vec<String> = Vec::new();
    let mut push = |word: &str| {
        let lower = word.to_lowercase();
        if !out.contains(&lower) {
            out.push(lower);
        }
    };
    for word in words_of(text) {
        let has_letter = word.chars().any(char::is_alphabetic);
        if word.len() >= 4 && has_letter && crate::diff::is_code_like(word) {
            push(word);
        }
    }
    for quote in ['`', '\'', '"'] {
        for (i, part) in text.split(quote).enumerate() {
            if i % 2 == 1 && part.len() <= 120 {
                for word in words_of(part) {
                    if word.len() >= 3
                        && word.chars().any(char::is_alphabetic)
                        && !text::is_stopword(&word.to_lowercase())
                    {
                        push(word);
                    }
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn code_words_of_a_title() {
        assert_eq!(
            identifiers_in("`buf_len` and some other variables unused break builds"),
            vec!["buf_len"]
        );
        assert_eq!(
            identifiers_in("Fails: iree/tests/e2e/check_llvm-cpu_layernorm.mlir on smollm2_135m"),
            vec!["check_llvm", "cpu_layernorm", "smollm2_135m"]
        );
        assert_eq!(
            identifiers_in("Broke the build: 'ModuleNotFoundError' in the test"),
            vec!["modulenotfounderror"]
        );
        assert!(identifiers_in("Breaking internal tests").is_empty());
    }
}
