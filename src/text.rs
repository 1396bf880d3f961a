//! Text normalisation shared by the retriever and the ownership matcher.
//!
//! Tokens are lower-case runs of letters and digits. Identifiers are also
//! split at camelCase humps and at `_`, `-`, `.` and `/`, so that the path
//! `drivers/net/mlx5/mlx5_rxtx.c` and the title "net/mlx5: fix Rx" share
//! `net`, `mlx5` and `rx`. Retrieval matches English stems ([`stem`]), so
//! that "crashes" in a title meets "crash" in a subject.

use std::collections::HashMap;

/// Words too common in commit messages and incident titles to carry signal.
const STOPWORDS: &[&str] = &[
    "a", "after", "all", "also", "an", "and", "any", "are", "as", "at", "be", "been", "before",
    "but", "by", "c", "can", "cc", "could", "cpp", "did", "do", "does", "for", "from", "h", "has",
    "have", "if", "in", "into", "is", "it", "its", "may", "md", "more", "no", "not", "of", "on",
    "only", "or", "other", "our", "py", "should", "so", "some", "such", "than", "that", "the",
    "then", "there", "these", "they", "this", "to", "txt", "use", "used", "using", "via", "was",
    "we", "were", "when", "which", "will", "with", "would", "you",
];

/// Whether `word` (already lower-case) is a stopword.
pub fn is_stopword(word: &str) -> bool {
    STOPWORDS.binary_search(&word).is_ok() || word.len() < 2
}

/// Splits `text` into lower-case tokens, dropping stopwords and one-letter
/// tokens. camelCase and snake_case identifiers are split into their words.
pub fn tokens(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for_each_token(text, |t| {
        if !is_stopword(t) {
            out.push(t.to_owned());
        }
    });
    out
}

/// The English stem of one lower-case token (Snowball): "crashes",
/// "crashed" and "crashing" all give "crash"; code words mostly stay as
/// they are ("mlx5", "rxtx").
pub fn stem(token: &str) -> String {
    use rust_stemmers::{Algorithm, Stemmer};
    use std::sync::LazyLock;
    static STEMMER: LazyLock<Stemmer> = LazyLock::new(|| Stemmer::create(Algorithm::English));
    STEMMER.stem(token).into_owned()
}

/// How often each stem occurs among `tokens`. Each distinct token is
/// stemmed once: a change's identifiers repeat.
pub fn stem_counts<'a>(tokens: impl IntoIterator<Item = &'a str>) -> HashMap<String, u32> {
    let mut by_token: HashMap<&str, u32> = HashMap::new();
    for token in tokens {
        *by_token.entry(token).or_default() += 1;
    }
    let mut by_stem: HashMap<String, u32> = HashMap::with_capacity(by_token.len());
    for (token, n) in by_token {
        *by_stem.entry(stem(token)).or_default() += n;
    }
    by_stem
}

/// Calls `f` with every lower-case token of `text`, stopwords included.
pub fn for_each_token(text: &str, mut f: impl FnMut(&str)) {
    let mut word = String::new();
    let mut prev: Option<char> = None;
    let flush = |word: &mut String, f: &mut dyn FnMut(&str)| {
        if !word.is_empty() {
            f(word);
            word.clear();
        }
    };
    for ch in text.chars() {
        if ch.is_alphanumeric() {
            // A hump: lower → Upper starts a new word ("rxQueue" → rx, queue).
            if let Some(p) = prev {
                if p.is_lowercase() && ch.is_uppercase() {
                    flush(&mut word, &mut f);
                }
            }
            word.extend(ch.to_lowercase());
        } else {
            flush(&mut word, &mut f);
        }
        prev = Some(ch);
    }
    flush(&mut word, &mut f);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stopwords_are_sorted_for_binary_search() {
        let mut sorted = STOPWORDS.to_vec();
        sorted.sort_unstable();
        assert_eq!(sorted, STOPWORDS);
    }

    #[test]
    fn stems_words_and_counts_them_once_per_stem() {
        for (word, stemmed) in [
            ("crashes", "crash"),
            ("crashing", "crash"),
            ("queues", "queue"),
            ("builds", "build"),
            ("mlx5", "mlx5"),
            ("rxtx", "rxtx"),
        ] {
            assert_eq!(stem(word), stemmed, "{word}");
        }
        let counts = stem_counts(["tests", "test", "testing", "queue"]);
        assert_eq!(counts.get("test"), Some(&3));
        assert_eq!(counts.get("queue"), Some(&1));
        assert_eq!(counts.len(), 2);
    }

    #[test]
    fn splits_paths_and_identifiers() {
        assert_eq!(
            tokens("drivers/net/mlx5/mlx5_rxtx.c"),
            vec!["drivers", "net", "mlx5", "mlx5", "rxtx"]
        );
        assert_eq!(
            tokens("fix rxQueue setup"),
            vec!["fix", "rx", "queue", "setup"]
        );
        assert_eq!(
            tokens("The Rx path is broken"),
            vec!["rx", "path", "broken"]
        );
    }
}
