//! Learned associations between incident words and what changes touch.
//!
//! Symptom titles name a platform, a bot or a workload ("broke the macOS
//! build", "fails on MSVC", "breaks TSAN") that the culprit's message rarely
//! names; history says which paths and identifiers such words go with (macOS
//! with `apple/`, `darwin`, `.mm`; MSVC with `windows`, `_WIN32`).
//! [`Associations`] holds, for a title word `w` and a change token `t`, how
//! much more often past culprits of titles with `w` carried `t` than the
//! other candidates of their windows did:
//!
//! ```text
//! lift(w, t) = ln((E + 1) / (B + 1))
//! E = cases with w in the title whose culprit has t
//! B = Σ over those cases of the share of candidates that have t
//! ```
//!
//! `rca train` fits it from mined cases before its cut-off
//! (`train::fusion::fit_associations`) and stores it beside the fusion. A change's
//! `association` signal sums, over the incident's words, the best lift among
//! the change's tokens. A word is never associated with itself: BM25
//! already matches equal words.

use crate::cases::Facts;
use crate::history::Commit;
use crate::text;
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

/// Tokens kept per change.
const MAX_CHANGE_TOKENS: usize = 256;
/// Files and identifiers a change's tokens come from.
const MAX_FILES: usize = 200;
const MAX_IDENTIFIERS: usize = 256;

/// Title word → (change token → lift). Cheap to clone.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Associations(pub Arc<BTreeMap<String, BTreeMap<String, f64>>>);

/// A title word, the change token it goes with, and the lift.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Association {
    pub word: String,
    pub token: String,
    pub lift: f64,
}

impl Associations {
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn pairs(&self) -> usize {
        self.0.values().map(BTreeMap::len).sum()
    }

    /// The signal of one change: for each incident word, its best lift
    /// among the change's tokens, summed; and those best pairs, strongest
    /// first.
    pub fn score(&self, words: &[String], tokens: &BTreeSet<String>) -> (f64, Vec<Association>) {
        let mut total = 0.0;
        let mut found = Vec::new();
        for word in words {
            let Some(lifts) = self.0.get(word) else {
                continue;
            };
            // Walk the smaller side: a common word has thousands of lifts,
            // a change at most MAX_CHANGE_TOKENS tokens.
            let shared: Box<dyn Iterator<Item = (&String, &f64)>> = if lifts.len() > tokens.len() {
                Box::new(tokens.iter().filter_map(|token| lifts.get_key_value(token)))
            } else {
                Box::new(lifts.iter().filter(|(token, _)| tokens.contains(*token)))
            };
            let best = shared.max_by(|a, b| a.1.total_cmp(b.1).then(b.0.cmp(a.0)));
            if let Some((token, &lift)) = best {
                total += lift;
                found.push(Association {
                    word: word.clone(),
                    token: token.clone(),
                    lift,
                });
            }
        }
        found.sort_by(|a, b| b.lift.total_cmp(&a.lift).then(a.word.cmp(&b.word)));
        (total, found)
    }
}

/// The incident's words that associations are looked up by: the tokens of
/// the title and the impact, distinct.
pub fn incident_words(facts: &Facts) -> Vec<String> {
    let mut words: Vec<String> = Vec::new();
    for text in std::iter::once(&facts.title).chain(facts.impact.as_ref()) {
        for token in text::tokens(text) {
            if !words.contains(&token) {
                words.push(token);
            }
        }
    }
    words
}

/// A change's tokens: the words of its paths, its files' extensions (as
/// `.mm`) and the words of the code identifiers its lines add or remove
/// (those with `_`, a digit or a camelCase hump: plain words of comments
/// would pair any title word with prose).
pub fn change_tokens(commit: &Commit) -> BTreeSet<String> {
    let mut tokens = BTreeSet::new();
    for file in commit.files.iter().take(MAX_FILES) {
        if let Some((_, ext)) = file
            .path
            .rsplit('/')
            .next()
            .and_then(|n| n.rsplit_once('.'))
        {
            if !ext.is_empty() && ext.len() <= 8 {
                tokens.insert(format!(".{}", ext.to_ascii_lowercase()));
            }
        }
        tokens.extend(text::tokens(&file.path));
        if tokens.len() >= MAX_CHANGE_TOKENS {
            return tokens;
        }
    }
    for term in commit
        .diff
        .identifiers
        .iter()
        .filter(|t| crate::diff::is_code_like(&t.text))
        .take(MAX_IDENTIFIERS)
    {
        for token in text::tokens(&term.text) {
            if tokens.len() >= MAX_CHANGE_TOKENS {
                return tokens;
            }
            tokens.insert(token);
        }
    }
    tokens
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_change_scores_its_best_token_per_word() {
        let associations = Associations(Arc::new(BTreeMap::from([
            (
                "macos".to_owned(),
                BTreeMap::from([("apple".to_owned(), 1.5), (".mm".to_owned(), 2.0)]),
            ),
            (
                "msvc".to_owned(),
                BTreeMap::from([("windows".to_owned(), 1.0)]),
            ),
        ])));
        let tokens: BTreeSet<String> = ["apple", "metal", ".mm"].map(String::from).into();
        let words = vec!["macos".to_owned(), "build".to_owned(), "msvc".to_owned()];
        let (score, found) = associations.score(&words, &tokens);
        assert_eq!(score, 2.0);
        assert_eq!(found.len(), 1);
        assert_eq!(
            (found[0].word.as_str(), found[0].token.as_str()),
            ("macos", ".mm")
        );
    }

    #[test]
    fn both_lookup_directions_pick_the_same_token() {
        // Ties at the best lift go to the smallest token, whichever side
        // is walked.
        let lifts = BTreeMap::from([
            ("b".to_owned(), 2.0),
            ("a".to_owned(), 2.0),
            ("c".to_owned(), 1.0),
            ("d".to_owned(), 0.5),
        ]);
        let associations = Associations(Arc::new(BTreeMap::from([("w".to_owned(), lifts)])));
        let words = vec!["w".to_owned()];
        let few: BTreeSet<String> = ["b", "a"].map(String::from).into();
        let many: BTreeSet<String> = ["a", "b", "c", "d", "e", "f"].map(String::from).into();
        for tokens in [few, many] {
            let (score, found) = associations.score(&words, &tokens);
            assert_eq!(score, 2.0);
            assert_eq!(found[0].token, "a");
        }
    }
}
