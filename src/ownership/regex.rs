//! The regexes that ownership files carry (MAINTAINERS `N:` lines and the
//! `filters:` keys of Kubernetes OWNERS files), matched with `fancy-regex`.
//!
//! fancy-regex is needed rather than `regex` because real files use Perl
//! constructs: U-Boot's MAINTAINERS has `N: (?<!uni)versal`, a lookbehind.
//! get_maintainer.pl matches `N:` with Perl's `m/$value/x`, so this module
//! is a thin adapter that keeps Perl's reading of a pattern:
//!
//! - an unanchored search: a match anywhere in the path;
//! - `/x`: whitespace and `#` comments outside classes are ignored, inside
//!   classes they are literal (fancy-regex's own `x` flag would drop them
//!   there too, so the adapter strips them itself and never sets it);
//! - bytes, not characters: get_maintainer.pl does not `use utf8`, so `.`
//!   or `[^/]` matches one byte of a multi-byte UTF-8 path, and `\w`, `\d`,
//!   `\s` and `\b` are ASCII. Non-ASCII bytes of pattern and path are both
//!   mapped to private-use characters (U+E080..U+E0FF), one per byte, which
//!   no Unicode class counts as word, digit or space;
//! - a `{` that starts no quantifier (`x{`, `{,3}`) is a literal, and `\<`
//!   `\>` are the characters, not word boundaries;
//! - the syntax accepted is the one the crate's earlier hand-written
//!   matcher accepted: literals, `.`, classes with ranges, negation,
//!   `\d\w\s` and POSIX names, `^ $ \A \z \Z \b \B`, groups `( )`, `(?: )`,
//!   `(?<name> )` and `(?P<name> )`, lookaround (lookbehind of varying
//!   length too, where fancy-regex can size it), alternation and the
//!   quantifiers `* + ? {n} {n,} {n,m}` with a lazy `?` or possessive `+`
//!   suffix. Anything else (backreferences, inline flags, `\p{..}`) is an
//!   error rather than something matched differently from Perl. Where that
//!   matcher parted from Perl, this follows Perl: a possessive quantifier
//!   gives nothing back (`a*+a` never matches; it was read as greedy), and
//!   a quantifier on a quantifier (`a**`, `a* *`) is an error ("Nested
//!   quantifiers"; it was accepted).
//!
//! The pattern is translated into fancy-regex syntax once, at compile time;
//! matching is fancy-regex's (the `regex` crate's automata, or fancy-regex's
//! backtracking VM for lookaround and `\b`, with its backtrack limit: a
//! search that runs out fails to match rather than hang).

use std::borrow::Cow;

/// A compiled pattern.
#[derive(Debug, Clone)]
pub struct Regex {
    regex: fancy_regex::Regex,
    /// A byte string that every match contains, to reject paths quickly.
    required: Vec<u8>,
}

/// Why a pattern does not compile, one line; the caller adds file and line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegexError(pub String);

impl Regex {
    pub fn new(pattern: &str) -> Result<Regex, RegexError> {
        let error = |what: &str| {
            // One line, whatever the inner error's formatting.
            let what = what.split_whitespace().collect::<Vec<_>>().join(" ");
            RegexError(format!("{what} in regex `{pattern}`"))
        };
        let translated = translate(pattern.as_bytes()).map_err(|what| error(&what))?;
        let regex = fancy_regex::Regex::new(&translated).map_err(|e| {
            error(&match e {
                fancy_regex::Error::ParseError(_, e) => e.to_string(),
                e => e.to_string(),
            })
        })?;
        let required = fancy_regex::Expr::parse_tree(&translated)
            .map(|tree| required_literal(&tree.expr))
            .unwrap_or_default();
        Ok(Regex { regex, required })
    }

    /// Whether the pattern matches anywhere in `text`. A search that hits
    /// fancy-regex's backtrack limit counts as no match.
    pub fn is_match(&self, text: &str) -> bool {
        contains(text.as_bytes(), &self.required) && self.is_match_unfiltered(text)
    }

    /// `is_match` for a text known to contain `required_literal`.
    pub fn is_match_unfiltered(&self, text: &str) -> bool {
        self.regex.is_match(&haystack(text)).unwrap_or(false)
    }

    /// A string every match contains (empty when there is none), so that a
    /// caller with many regexes can filter them all in one pass.
    pub fn required_literal(&self) -> &[u8] {
        &self.required
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    let Some((&first, rest)) = needle.split_first() else {
        return true;
    };
    haystack
        .iter()
        .enumerate()
        .take((haystack.len() + 1).saturating_sub(needle.len()))
        .any(|(i, &b)| b == first && haystack[i + 1..].starts_with(rest))
}

/// Private-use code points standing for the bytes 0x80..=0xFF.
const BYTE_BASE: u32 = 0xE000;

/// `text` with every non-ASCII byte as its private-use character.
fn haystack(text: &str) -> Cow<'_, str> {
    if text.is_ascii() {
        Cow::Borrowed(text)
    } else {
        Cow::Owned(text.bytes().map(byte_char).collect())
    }
}

fn byte_char(b: u8) -> char {
    if b.is_ascii() {
        char::from(b)
    } else {
        char::from_u32(BYTE_BASE + u32::from(b)).expect("a private-use code point")
    }
}

/// The byte a character of a translated pattern stands for.
fn char_byte(c: char) -> Option<u8> {
    match u32::from(c) {
        n if n < 0x80 => u8::try_from(n).ok(),
        n if (BYTE_BASE + 0x80..=BYTE_BASE + 0xFF).contains(&n) => u8::try_from(n - BYTE_BASE).ok(),
        _ => None,
    }
}

/// Appends byte `b` as a literal: letters and digits as themselves, any
/// other byte as a `\x{..}` escape, which means the same in and outside a
/// class and can't combine with what follows.
fn push_literal(out: &mut String, b: u8) {
    if b.is_ascii_alphanumeric() {
        out.push(char::from(b));
    } else {
        out.push_str(&format!("\\x{{{:X}}}", u32::from(byte_char(b))));
    }
}

/// The longest run of literal characters in the top-level sequence of the
/// translated pattern's parse: every match contains it. Zero-width
/// assertions and lookaround don't break a run (what they sit between is
/// adjacent in the text); anything else does. Empty when there is none (an
/// alternation at the top).
fn required_literal(root: &fancy_regex::Expr) -> Vec<u8> {
    use fancy_regex::Expr;
    let nodes = match root {
        Expr::Concat(nodes) => nodes.as_slice(),
        _ => std::slice::from_ref(root),
    };
    let mut best = Vec::new();
    let mut run = Vec::new();
    for node in nodes {
        match node {
            Expr::Literal { val, casei: false } if val.chars().all(|c| char_byte(c).is_some()) => {
                run.extend(val.chars().filter_map(char_byte));
            }
            Expr::Assertion(_) | Expr::LookAround(..) | Expr::Empty => {}
            _ => {
                if run.len() > best.len() {
                    best = std::mem::take(&mut run);
                }
                run.clear();
            }
        }
    }
    if run.len() > best.len() {
        best = run;
    }
    best
}

/// What the last token of the translation was, for where a quantifier may
/// go.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Last {
    /// Start of the pattern, of a group or of an alternative.
    Nothing,
    Atom,
    /// `^ $ \A \z \Z \b \B` or a lookaround group.
    Assertion,
    Quantifier,
}

/// Translates a Perl `/x` pattern into fancy-regex syntax with the same
/// meaning on byte-mapped text (see the module docs); errors say what is
/// wrong.
fn translate(p: &[u8]) -> Result<String, String> {
    let mut out = String::with_capacity(p.len() * 2);
    let mut pos = 0;
    let mut last = Last::Nothing;
    // For each open group: whether it is a lookaround.
    let mut groups: Vec<bool> = Vec::new();
    loop {
        // `/x`: whitespace and comments between tokens.
        while let Some(&b) = p.get(pos) {
            if b.is_ascii_whitespace() {
                pos += 1;
            } else if b == b'#' {
                while p.get(pos).is_some_and(|&b| b != b'\n') {
                    pos += 1;
                }
            } else {
                break;
            }
        }
        let Some(&b) = p.get(pos) else { break };
        pos += 1;
        let quantifier = match b {
            b'*' | b'+' | b'?' => Some(char::from(b).to_string()),
            b'{' if last != Last::Nothing => counted_repeat(p, &mut pos)?,
            _ => None,
        };
        if let Some(quantifier) = quantifier {
            match last {
                Last::Nothing => return Err("nothing to repeat".into()),
                Last::Assertion => return Err("quantifier after an assertion".into()),
                Last::Quantifier => return Err("nested quantifiers".into()),
                Last::Atom => {}
            }
            out.push_str(&quantifier);
            // A lazy or possessive suffix, written right after it.
            if let Some(&m @ (b'?' | b'+')) = p.get(pos) {
                out.push(char::from(m));
                pos += 1;
            }
            last = Last::Quantifier;
            continue;
        }
        last = match b {
            b'|' => {
                out.push('|');
                Last::Nothing
            }
            b'(' => {
                let (prefix, look, skip) = group_prefix(&p[pos..])?;
                if groups.len() >= 100 {
                    return Err("groups nested too deeply".into());
                }
                out.push_str(prefix);
                pos += skip;
                groups.push(look);
                Last::Nothing
            }
            b')' => {
                let look = groups.pop().ok_or("unmatched `)`")?;
                out.push(')');
                if look {
                    Last::Assertion
                } else {
                    Last::Atom
                }
            }
            b'.' => {
                out.push('.');
                Last::Atom
            }
            b'^' | b'$' => {
                out.push(char::from(b));
                Last::Assertion
            }
            b'[' => {
                class(p, &mut pos, &mut out)?;
                Last::Atom
            }
            b'\\' => {
                let e = *p.get(pos).ok_or("trailing backslash")?;
                pos += 1;
                match e {
                    b'A' => {
                        out.push_str("\\A");
                        Last::Assertion
                    }
                    // Paths hold no newline, so `\Z` is `\z` (fancy-regex
                    // would make it a lookahead).
                    b'z' | b'Z' => {
                        out.push_str("\\z");
                        Last::Assertion
                    }
                    b'b' | b'B' => {
                        out.push('\\');
                        out.push(char::from(e));
                        Last::Assertion
                    }
                    _ => {
                        match escape(p, &mut pos, e)? {
                            Escape::Byte(byte) => push_literal(&mut out, byte),
                            Escape::Set(set) => out.push_str(set),
                        }
                        Last::Atom
                    }
                }
            }
            _ => {
                push_literal(&mut out, b);
                Last::Atom
            }
        };
    }
    if !groups.is_empty() {
        return Err("unclosed `(`".into());
    }
    Ok(out)
}

/// After `(`: the prefix to write, whether the group is a lookaround, and
/// how many bytes of `rest` the group syntax took.
fn group_prefix(rest: &[u8]) -> Result<(&'static str, bool, usize), String> {
    let Some(rest) = rest.strip_prefix(b"?") else {
        // Groups capture (nothing refers to them); `(?:)` would not, and
        // fancy-regex refuses to repeat an empty non-capturing group.
        return Ok(("(", false, 0));
    };
    Ok(if rest.starts_with(b":") {
        ("(", false, 2)
    } else if rest.starts_with(b"=") {
        ("(?=", true, 2)
    } else if rest.starts_with(b"!") {
        ("(?!", true, 2)
    } else if rest.starts_with(b"<=") {
        ("(?<=", true, 3)
    } else if rest.starts_with(b"<!") {
        ("(?<!", true, 3)
    } else if let Some(skip) = group_name_length(rest) {
        // `(?<name>` and `(?P<name>`: nothing refers to the name either.
        ("(", false, skip + 1)
    } else {
        return Err("unsupported group syntax `(?`".into());
    })
}

/// The length of `<name>` or `P<name>` at the start of `rest` (just after
/// `(?`), if that is what it holds.
fn group_name_length(rest: &[u8]) -> Option<usize> {
    let skip = usize::from(rest.first() == Some(&b'P'));
    let rest = rest[skip..].strip_prefix(b"<")?;
    let len = rest.iter().position(|&b| b == b'>')?;
    let name = &rest[..len];
    (!name.is_empty() && name.iter().all(|b| b.is_ascii_alphanumeric() || *b == b'_'))
        .then_some(skip + len + 2)
}

/// `{n}`, `{n,}` or `{n,m}` just after the `{` at `*pos`, moving past it;
/// `None` (cursor unchanged) when the brace starts no quantifier, for Perl
/// reads such a `{` literally.
fn counted_repeat(p: &[u8], pos: &mut usize) -> Result<Option<String>, String> {
    let rest = &p[*pos..];
    let Some(close) = rest.iter().position(|&b| b == b'}') else {
        return Ok(None);
    };
    let Ok(inner) = std::str::from_utf8(&rest[..close]) else {
        return Ok(None);
    };
    let number = |s: &str| -> Option<u32> {
        if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
            None
        } else {
            s.parse().ok()
        }
    };
    let (min, max) = match inner.split_once(',') {
        None => match number(inner) {
            Some(n) => (n, Some(n)),
            None => return Ok(None),
        },
        Some((lo, "")) => match number(lo) {
            Some(n) => (n, None),
            None => return Ok(None),
        },
        Some((lo, hi)) => match (number(lo), number(hi)) {
            (Some(lo), Some(hi)) => (lo, Some(hi)),
            _ => return Ok(None),
        },
    };
    if max.is_some_and(|max| max < min) {
        return Err("repetition range out of order".into());
    }
    *pos += close + 1;
    Ok(Some(match max {
        Some(max) if max == min => format!("{{{min}}}"),
        Some(max) => format!("{{{min},{max}}}"),
        None => format!("{{{min},}}"),
    }))
}

/// What a backslash escape stands for.
enum Escape {
    Byte(u8),
    /// A class of bytes, in fancy-regex syntax valid in and outside a class.
    Set(&'static str),
}

/// The escape `\e` (the `e` consumed; `*pos` just after it).
fn escape(p: &[u8], pos: &mut usize, e: u8) -> Result<Escape, String> {
    Ok(match e {
        // Unicode classes, ASCII on byte-mapped text.
        b'd' => Escape::Set("\\d"),
        b'D' => Escape::Set("\\D"),
        b'w' => Escape::Set("\\w"),
        b'W' => Escape::Set("\\W"),
        b's' => Escape::Set("\\s"),
        b'S' => Escape::Set("\\S"),
        b'n' => Escape::Byte(b'\n'),
        b't' => Escape::Byte(b'\t'),
        b'r' => Escape::Byte(b'\r'),
        b'f' => Escape::Byte(0x0c),
        b'e' => Escape::Byte(0x1b),
        b'x' => {
            // One or two hex digits, as Perl reads `\xH` and `\xHH`.
            let digits = p[*pos..]
                .iter()
                .take(2)
                .take_while(|b| b.is_ascii_hexdigit())
                .count();
            let text = std::str::from_utf8(&p[*pos..*pos + digits]).unwrap_or("");
            let value = u8::from_str_radix(text, 16).map_err(|_| "bad `\\x` escape")?;
            *pos += digits;
            Escape::Byte(value)
        }
        // Punctuation escapes stand for themselves; other letters and
        // digits are classes, backreferences or properties not accepted.
        _ if !e.is_ascii_alphanumeric() => Escape::Byte(e),
        _ => return Err(format!("unsupported escape `\\{}`", char::from(e))),
    })
}

/// A bracketed class; the `[` has been consumed. Whitespace and `#` are
/// literal inside classes, even under `/x`. Written back with every member
/// escaped, so that nothing in it reads as fancy-regex's or `regex`'s
/// class syntax (nested classes, `&&`, `--`, `~~`) that Perl lacks.
fn class(p: &[u8], pos: &mut usize, out: &mut String) -> Result<(), String> {
    out.push('[');
    if p.get(*pos) == Some(&b'^') {
        out.push('^');
        *pos += 1;
    }
    let mut first = true;
    loop {
        let &b = p.get(*pos).ok_or("unclosed `[`")?;
        *pos += 1;
        if b == b']' && !first {
            break;
        }
        first = false;
        let lo = match b {
            b'[' if p.get(*pos) == Some(&b':') => {
                posix_class(p, pos, out)?;
                continue;
            }
            b'\\' => {
                let &e = p.get(*pos).ok_or("unclosed `[`")?;
                *pos += 1;
                match escape(p, pos, e)? {
                    Escape::Byte(byte) => byte,
                    Escape::Set(set) => {
                        out.push_str(set);
                        continue;
                    }
                }
            }
            _ => b,
        };
        // A range, unless the `-` is last in the class.
        if p.get(*pos) == Some(&b'-') && p.get(*pos + 1).is_some_and(|&n| n != b']') {
            let mut hi = p[*pos + 1];
            *pos += 2;
            if hi == b'\\' {
                let &e = p.get(*pos).ok_or("unclosed `[`")?;
                *pos += 1;
                hi = match escape(p, pos, e)? {
                    Escape::Byte(byte) => byte,
                    Escape::Set(_) => return Err("class in a range".into()),
                };
            }
            if hi < lo {
                return Err("class range out of order".into());
            }
            push_literal(out, lo);
            out.push('-');
            push_literal(out, hi);
        } else {
            push_literal(out, lo);
        }
    }
    out.push(']');
    Ok(())
}

/// `[:name:]` inside a class; the `[` has been consumed, `*pos` is at the
/// `:`. The names are `regex`'s ASCII classes, the same as Perl's.
fn posix_class(p: &[u8], pos: &mut usize, out: &mut String) -> Result<(), String> {
    let rest = &p[*pos..];
    let end = rest
        .get(1..)
        .and_then(|r| r.windows(2).position(|w| w == b":]"))
        .ok_or("unclosed `[:`")?
        + 1;
    let name = &rest[1..end];
    if !matches!(
        name,
        b"alpha" | b"digit" | b"alnum" | b"upper" | b"lower" | b"space" | b"punct" | b"xdigit"
    ) {
        return Err("unknown POSIX class".into());
    }
    out.push('[');
    out.push_str(std::str::from_utf8(&rest[..end + 2]).expect("ASCII"));
    *pos += end + 2;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn is_match(pattern: &str, text: &str) -> bool {
        Regex::new(pattern).unwrap().is_match(text)
    }

    #[test]
    fn literals_search_anywhere() {
        assert!(is_match("tegra", "drivers/gpu/tegra/foo.c"));
        assert!(!is_match("tegra", "drivers/gpu/teg/foo.c"));
        assert!(is_match("rk3", "arch/arm/dts/rk3399.dtsi"));
    }

    #[test]
    fn classes_and_quantifiers() {
        assert!(is_match("[^a-z]tegra", "drivers/tegra.c"));
        assert!(!is_match("[^a-z]tegra", "drivers/xtegra.c"));
        assert!(is_match("bcm[9]?47622", "configs/bcm947622_defconfig"));
        assert!(is_match("bcm[9]?47622", "dts/bcm47622.dtsi"));
        assert!(!is_match("bcm[9]?47622", "dts/bcm847622.dtsi"));
        assert!(is_match(r"a\d{2,3}b", "xa12b"));
        assert!(!is_match(r"a\d{2,3}b", "xa1b"));
        assert!(is_match("^board/.*/foo$", "board/x/y/foo"));
        assert!(!is_match("^board/.*/foo$", "xboard/x/foo"));
        assert!(is_match("(?:omap|am33)xx", "arch/am33xx/x.c"));
        assert!(is_match("a(b|)*c", "ac"));
        assert!(is_match("a()*c", "ac"), "an empty group may be repeated");
        assert!(is_match(r"[[:digit:]_]x", "a_x"));
        assert!(is_match(r"[\w.]+\.c$", "dir/x.y.c"));
    }

    #[test]
    fn perl_literals_that_other_syntaxes_read_otherwise() {
        assert!(
            is_match("x{", "x{"),
            "a brace that starts no quantifier is literal"
        );
        assert!(is_match("x{,3}", "x{,3}"));
        assert!(!is_match("x{,3}", "xx"));
        assert!(is_match("{2}", "{2}"), "nothing to repeat: literal");
        assert!(is_match(r"\<a\>", "<a>"), "not word boundaries");
        assert!(!is_match(r"\<a\>", "a"));
        // Inside classes: `[` without `:`, `&&` and `--` are Perl literals.
        assert!(is_match("[[]", "a[b"));
        assert!(is_match("[a&&b]", "&"));
        assert!(!is_match("[a&&b]", "c"));
        assert!(is_match("[+--]", ","), "a range from + to -");
        assert!(is_match("[a-]", "-"));
        assert!(is_match("[]a]", "]"));
        assert!(is_match(r"\x41\x4", "A\x04"));
        assert!(is_match(r"\Z", "a"));
        assert!(is_match(r"a\Z", "xa"));
        assert!(!is_match(r"a\Z", "ax"));
    }

    #[test]
    fn lookbehind_as_in_u_boot() {
        assert!(is_match("(?<!uni)versal", "board/xilinx/versal/board.c"));
        assert!(!is_match("(?<!uni)versal", "drivers/universal.c"));
        assert!(is_match("(?<=/)mmc", "drivers/mmc/x.c"));
        assert!(!is_match("(?<=/)mmc", "drivers/xmmc/x.c"));
        assert!(is_match("mmc(?=/)", "drivers/mmc/x.c"));
        assert!(!is_match("mmc(?!/)", "drivers/mmc/x.c"));
        assert!(
            is_match("(?<=a+)b", "xaab"),
            "a lookbehind of varying length"
        );
        assert!(!is_match("(?<=a+)b", "xb"));
    }

    #[test]
    fn word_boundaries_and_extended_whitespace() {
        assert!(is_match(r"\bmlx5", "drivers/net/mlx5/x.c"));
        assert!(!is_match(r"\bmlx5", "drivers/net/xmlx5/x.c"));
        assert!(
            is_match("foo bar  # comment", "a/foobar"),
            "/x ignores whitespace"
        );
        assert!(is_match("foo # comment\n bar", "a/foobar"));
        assert!(is_match("a +b", "aaab"), "whitespace before a quantifier");
        assert!(is_match("[ ]x", "a x"), "whitespace is literal in classes");
        assert!(!is_match("[ ]x", "ax"));
        assert!(is_match("[#]x", "#x"), "so is `#`");
        assert!(is_match(r"a\ b", "a b"), "an escaped space is a space");
    }

    #[test]
    fn bytes_not_characters() {
        // get_maintainer.pl matches bytes: `.` is one byte of "é" (two).
        assert!(is_match("a..b", "aéb"));
        assert!(!is_match("a.b", "aéb"));
        assert!(is_match("é", "café/x"));
        assert!(is_match("[é]", "\u{e9}"), "a class of the two bytes");
        assert!(!is_match(r"\w", "é"), "ASCII classes");
        assert!(is_match(r"\W\W", "é"));
        assert!(is_match(r"\bb", "éb"), "a boundary after a non-ASCII byte");
        assert!(!is_match(r"\Bb", "éb"));
        assert!(is_match(r"\xC3", "é"), "a byte escape");
    }

    #[test]
    fn named_groups_and_pathological_patterns() {
        assert!(is_match("(?<soc>rk|px)3", "arch/arm/mach-rockchip/px30.c"));
        assert!(is_match("(?P<soc>imx)8", "board/imx8/x.c"));
        // Exponential backtracking neither hangs nor matches.
        let text = format!("c{}!", "a".repeat(40));
        let started = std::time::Instant::now();
        assert!(!is_match("(a*)*c$", &text));
        assert!(!is_match("(?<!x)(a*)*c$", &text));
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }

    #[test]
    fn lazy_and_possessive_suffixes() {
        assert!(is_match("a+?b", "aab"));
        assert!(is_match("a*+b", "aab"));
        // Possessive, as in Perl: `a*+` takes every `a` and gives none back.
        assert!(!is_match("a*+a", "aaa"));
    }

    #[test]
    fn invalid_patterns_are_one_line_errors() {
        for bad in [
            "[a-",
            "(foo",
            "foo)",
            "*x",
            r"\1",
            "(?i)foo",
            "a{3,2}",
            r"x\",
            "[[:]",
            "[[:foo:]]",
            r"\p{L}",
            "[z-a]",
            r"[\d-z]x\q",
            "a**",
            "a* *",
            "^*",
            "(?=a)+",
            "( ?:a)",
            "a|*b",
            r"\xg",
        ] {
            let error = Regex::new(bad).expect_err(bad).0;
            assert!(!error.contains('\n'), "{bad}: {error}");
            assert!(
                error.ends_with(&format!("in regex `{bad}`")),
                "{bad}: {error}"
            );
        }
        assert_eq!(
            Regex::new("(foo").unwrap_err().0,
            "unclosed `(` in regex `(foo`"
        );
    }

    #[test]
    fn required_literal_is_longest_plain_run() {
        let required = |p: &str| Regex::new(p).unwrap().required;
        assert_eq!(required("bcm[9]?47622"), b"47622");
        assert_eq!(required("(?<!uni)versal"), b"versal");
        assert_eq!(required("(?<!uni)versal-net"), b"versal-net");
        assert_eq!(required("foo bar"), b"foobar");
        assert_eq!(required(r"^board/\.x$"), b"board/.x");
        assert_eq!(required("ab*c"), b"a");
        assert_eq!(required("(?:omap|am33)xx"), b"xx");
        assert_eq!(required("café"), "café".as_bytes());
        assert!(required("a|b").is_empty());
        assert!(required("[ab]").is_empty());
    }
}
