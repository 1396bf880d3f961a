//! Text normalisation shared by the retriever and the ownership matcher.
//!
//! Tokens are lower-case runs of letters and digits. Identifiers are also
//! split at camelCase humps and at `_`, `-`, `.` and `/`, so that the path
//! `drivers/net/mlx5/mlx5_rxtx.c` and the title "net/mlx5: fix Rx" share
//! `net`, `mlx5` and `rx`.

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
