//! A small backtracking regular-expression matcher for the regexes that
//! ownership files carry: MAINTAINERS `N:` lines and the `filters:` keys of
//! Kubernetes OWNERS files.
//!
//! It exists because the crate has no `regex` dependency, and because the
//! real files need a construct `regex` lacks anyway: U-Boot's MAINTAINERS
//! has `N: (?<!uni)versal`, a Perl lookbehind. get_maintainer.pl matches
//! `N:` with Perl's `m/$value/x`, so this follows Perl: an unanchored
//! search, and whitespace and `#` comments outside classes are ignored
//! (the `/x` flag).
//!
//! Supported: literals, `.`, classes with ranges, negation, `\d\w\s` and
//! POSIX names, `^ $ \A \z \Z \b \B`, groups `( )`, `(?: )` and
//! `(?<name> )`, lookaround `(?= ) (?! ) (?<= ) (?<! )`, alternation, and
//! the quantifiers `* + ? {n} {n,} {n,m}` (a trailing `?` or `+` on a
//! quantifier is accepted; laziness does not change whether a search
//! matches). Anything else, such as backreferences or inline flags, is
//! rejected with an error rather than silently matched differently.
//!
//! Matching works on bytes: paths are UTF-8 and every pattern seen in real
//! files is ASCII. Patterns are short and paths are short, so backtracking
//! is cheap; a literal every match must contain is extracted at compile
//! time and checked first, which rejects almost every path without running
//! the matcher at all. A step budget bounds the pathological cases.

use std::cell::Cell;

/// A compiled pattern.
#[derive(Debug, Clone)]
pub struct Regex {
    root: Node,
    /// A byte string that every match contains, to reject paths quickly.
    required: Vec<u8>,
}

/// A set of bytes, one bit each.
#[derive(Debug, Clone, PartialEq, Eq)]
struct ByteSet([u64; 4]);

impl ByteSet {
    fn new() -> Self {
        ByteSet([0; 4])
    }
    fn insert(&mut self, b: u8) {
        self.0[usize::from(b >> 6)] |= 1 << (b & 63);
    }
    fn insert_range(&mut self, lo: u8, hi: u8) {
        for b in lo..=hi {
            self.insert(b);
        }
    }
    fn contains(&self, b: u8) -> bool {
        self.0[usize::from(b >> 6)] & (1 << (b & 63)) != 0
    }
    fn union(&mut self, other: &ByteSet) {
        for (a, b) in self.0.iter_mut().zip(other.0) {
            *a |= b;
        }
    }
    fn negate(&mut self) {
        for a in &mut self.0 {
            *a = !*a;
        }
    }
}

#[derive(Debug, Clone)]
enum Node {
    Literal(u8),
    /// `.`: any byte but a newline.
    Any,
    Class(Box<ByteSet>),
    /// `^` and `\A`.
    Start,
    /// `$`, `\z` and `\Z`: paths never contain newlines.
    End,
    /// `\b` (false) and `\B` (true).
    WordBoundary {
        negated: bool,
    },
    Concat(Vec<Node>),
    Alternation(Vec<Node>),
    Repeat {
        node: Box<Node>,
        min: u32,
        max: Option<u32>,
    },
    Look {
        node: Box<Node>,
        ahead: bool,
        negated: bool,
    },
}

/// Why a pattern does not compile; the caller adds file and line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RegexError(pub String);

impl Regex {
    pub fn new(pattern: &str) -> Result<Regex, RegexError> {
        let mut parser = Parser {
            bytes: pattern.as_bytes(),
            pos: 0,
            depth: 0,
        };
        let root = parser.alternation()?;
        if parser.pos < parser.bytes.len() {
            // The only way to stop early is an unbalanced `)`.
            return Err(RegexError(format!("unmatched `)` in regex `{pattern}`")));
        }
        let mut required = Vec::new();
        required_literal(&root, &mut required);
        Ok(Regex { root, required })
    }

    /// Whether the pattern matches anywhere in `text`.
    pub fn is_match(&self, text: &str) -> bool {
        if !self.required.is_empty() && !contains(text.as_bytes(), &self.required) {
            return false;
        }
        self.is_match_unfiltered(text)
    }

    /// `is_match` for a text known to contain `required_literal`.
    pub fn is_match_unfiltered(&self, text: &str) -> bool {
        let input = Input {
            text: text.as_bytes(),
            budget: Cell::new(STEP_BUDGET),
        };
        (0..=input.text.len()).any(|start| matches(&self.root, &input, start, &mut |_| true))
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

/// The longest run of literal bytes in the top-level sequence: every match
/// must contain it. Empty when there is none (an alternation at the top).
fn required_literal(root: &Node, out: &mut Vec<u8>) {
    let nodes = match root {
        Node::Concat(nodes) => nodes.as_slice(),
        Node::Literal(_) => std::slice::from_ref(root),
        _ => return,
    };
    let mut run = Vec::new();
    for node in nodes {
        match node {
            Node::Literal(b) => run.push(*b),
            // Zero-width assertions do not break a run of literals.
            Node::Start | Node::End | Node::WordBoundary { .. } | Node::Look { .. } => {}
            _ => {
                if run.len() > out.len() {
                    *out = std::mem::take(&mut run);
                }
                run.clear();
            }
        }
    }
    if run.len() > out.len() {
        *out = run;
    }
}

fn is_word(b: u8) -> bool {
    b.is_ascii_alphanumeric() || b == b'_'
}

/// Steps one search may take. Backtracking is exponential for nested
/// quantifiers such as `(a*)*b`; no real pattern comes close (a U-Boot path
/// takes a few hundred steps), and a search that runs out fails to match
/// rather than hang.
const STEP_BUDGET: u32 = 1_000_000;

/// The text being searched and the steps left.
struct Input<'t> {
    text: &'t [u8],
    budget: Cell<u32>,
}

impl Input<'_> {
    fn step(&self) -> bool {
        let left = self.budget.get();
        self.budget.set(left.saturating_sub(1));
        left > 0
    }
}

/// Matches `node` at `pos`, calling `k` with each end position until it
/// accepts: continuation-passing backtracking.
fn matches(node: &Node, input: &Input<'_>, pos: usize, k: &mut dyn FnMut(usize) -> bool) -> bool {
    if !input.step() {
        return false;
    }
    let text = input.text;
    match node {
        Node::Literal(b) => text.get(pos) == Some(b) && k(pos + 1),
        Node::Any => text.get(pos).is_some_and(|&b| b != b'\n') && k(pos + 1),
        Node::Class(set) => text.get(pos).is_some_and(|&b| set.contains(b)) && k(pos + 1),
        Node::Start => pos == 0 && k(pos),
        Node::End => pos == text.len() && k(pos),
        Node::WordBoundary { negated } => {
            let before = pos > 0 && is_word(text[pos - 1]);
            let after = pos < text.len() && is_word(text[pos]);
            ((before != after) != *negated) && k(pos)
        }
        Node::Concat(nodes) => matches_sequence(nodes, input, pos, k),
        Node::Alternation(branches) => branches.iter().any(|b| matches(b, input, pos, k)),
        Node::Repeat { node, min, max } => matches_repeat(node, *min, *max, 0, input, pos, k),
        Node::Look {
            node,
            ahead,
            negated,
        } => {
            let found = if *ahead {
                matches(node, input, pos, &mut |_| true)
            } else {
                (0..=pos)
                    .rev()
                    .any(|start| matches(node, input, start, &mut |end| end == pos))
            };
            found != *negated && k(pos)
        }
    }
}

fn matches_sequence(
    nodes: &[Node],
    input: &Input<'_>,
    pos: usize,
    k: &mut dyn FnMut(usize) -> bool,
) -> bool {
    match nodes.split_first() {
        None => k(pos),
        Some((first, rest)) => matches(first, input, pos, &mut |next| {
            matches_sequence(rest, input, next, k)
        }),
    }
}

fn matches_repeat(
    node: &Node,
    min: u32,
    max: Option<u32>,
    count: u32,
    input: &Input<'_>,
    pos: usize,
    k: &mut dyn FnMut(usize) -> bool,
) -> bool {
    if count < min {
        return matches(node, input, pos, &mut |next| {
            matches_repeat(node, min, max, count + 1, input, next, k)
        });
    }
    // Greedy: one more first, then stop. An iteration that consumes
    // nothing cannot help and would loop forever, so it is refused.
    let can_repeat = max.is_none_or(|m| count < m);
    (can_repeat
        && matches(node, input, pos, &mut |next| {
            next != pos && matches_repeat(node, min, max, count + 1, input, next, k)
        }))
        || k(pos)
}

struct Parser<'a> {
    bytes: &'a [u8],
    pos: usize,
    depth: usize,
}

impl Parser<'_> {
    fn error(&self, what: &str) -> RegexError {
        RegexError(format!(
            "{what} in regex `{}`",
            String::from_utf8_lossy(self.bytes)
        ))
    }

    /// Skips whitespace and `#` comments, as Perl's `/x` does.
    fn skip_extended(&mut self) {
        while let Some(&b) = self.bytes.get(self.pos) {
            if b.is_ascii_whitespace() {
                self.pos += 1;
            } else if b == b'#' {
                while self.bytes.get(self.pos).is_some_and(|&b| b != b'\n') {
                    self.pos += 1;
                }
            } else {
                break;
            }
        }
    }

    fn peek(&mut self) -> Option<u8> {
        self.skip_extended();
        self.bytes.get(self.pos).copied()
    }

    fn alternation(&mut self) -> Result<Node, RegexError> {
        let mut branches = vec![self.concat()?];
        while self.peek() == Some(b'|') {
            self.pos += 1;
            branches.push(self.concat()?);
        }
        Ok(if branches.len() == 1 {
            branches.pop().unwrap()
        } else {
            Node::Alternation(branches)
        })
    }

    fn concat(&mut self) -> Result<Node, RegexError> {
        let mut nodes = Vec::new();
        while let Some(b) = self.peek() {
            if b == b'|' || b == b')' {
                break;
            }
            let atom = self.atom()?;
            nodes.push(self.quantified(atom)?);
        }
        Ok(if nodes.len() == 1 {
            nodes.pop().unwrap()
        } else {
            Node::Concat(nodes)
        })
    }

    fn quantified(&mut self, mut atom: Node) -> Result<Node, RegexError> {
        loop {
            let (min, max) = match self.peek() {
                Some(b'*') => {
                    self.pos += 1;
                    (0, None)
                }
                Some(b'+') => {
                    self.pos += 1;
                    (1, None)
                }
                Some(b'?') => {
                    self.pos += 1;
                    (0, Some(1))
                }
                Some(b'{') => match self.counted_repeat() {
                    Some(bounds) => bounds,
                    // Perl reads a `{` that starts no quantifier literally.
                    None => return Ok(atom),
                },
                _ => return Ok(atom),
            };
            if matches!(
                atom,
                Node::Start | Node::End | Node::WordBoundary { .. } | Node::Look { .. }
            ) {
                return Err(self.error("quantifier after an assertion"));
            }
            if let Some(max) = max {
                if max < min {
                    return Err(self.error("repetition range out of order"));
                }
            }
            // Lazy (`*?`) and possessive (`*+`) forms match the same set of
            // strings as far as "is there a match" goes.
            if matches!(self.bytes.get(self.pos), Some(b'?' | b'+')) {
                self.pos += 1;
            }
            atom = Node::Repeat {
                node: Box::new(atom),
                min,
                max,
            };
        }
    }

    /// Parses `{n}`, `{n,}` or `{n,m}` at the cursor and moves past it; `None`
    /// (cursor unchanged) when the brace starts no quantifier.
    fn counted_repeat(&mut self) -> Option<(u32, Option<u32>)> {
        let rest = &self.bytes[self.pos + 1..];
        let close = rest.iter().position(|&b| b == b'}')?;
        let inner = std::str::from_utf8(&rest[..close]).ok()?;
        let number = |s: &str| -> Option<u32> {
            if s.is_empty() || !s.bytes().all(|b| b.is_ascii_digit()) {
                None
            } else {
                s.parse().ok()
            }
        };
        let bounds = match inner.split_once(',') {
            None => {
                let n = number(inner)?;
                (n, Some(n))
            }
            Some((lo, "")) => (number(lo)?, None),
            Some((lo, hi)) => (number(lo)?, Some(number(hi)?)),
        };
        self.pos += close + 2;
        Some(bounds)
    }

    fn atom(&mut self) -> Result<Node, RegexError> {
        let b = self.bytes[self.pos];
        self.pos += 1;
        Ok(match b {
            b'.' => Node::Any,
            b'^' => Node::Start,
            b'$' => Node::End,
            b'*' | b'+' | b'?' => return Err(self.error("nothing to repeat")),
            b'[' => Node::Class(Box::new(self.class()?)),
            b'(' => self.group()?,
            b'\\' => self.escape()?,
            _ => Node::Literal(b),
        })
    }

    fn group(&mut self) -> Result<Node, RegexError> {
        self.depth += 1;
        if self.depth > 100 {
            return Err(self.error("groups nested too deeply"));
        }
        let mut look = None;
        if self.bytes.get(self.pos) == Some(&b'?') {
            let rest = &self.bytes[self.pos + 1..];
            let (skip, kind) = if rest.starts_with(b":") {
                (2, None)
            } else if rest.starts_with(b"=") {
                (2, Some((true, false)))
            } else if rest.starts_with(b"!") {
                (2, Some((true, true)))
            } else if rest.starts_with(b"<=") {
                (3, Some((false, false)))
            } else if rest.starts_with(b"<!") {
                (3, Some((false, true)))
            } else if let Some(skip) = group_name_length(rest) {
                // `(?<name>` and `(?P<name>`: a plain group here.
                (skip + 1, None)
            } else {
                return Err(self.error("unsupported group syntax `(?`"));
            };
            self.pos += skip;
            look = kind;
        }
        let inner = self.alternation()?;
        if self.peek() != Some(b')') {
            return Err(self.error("unclosed `(`"));
        }
        self.pos += 1;
        self.depth -= 1;
        Ok(match look {
            None => inner,
            Some((ahead, negated)) => Node::Look {
                node: Box::new(inner),
                ahead,
                negated,
            },
        })
    }

    /// A backslash escape outside a class.
    fn escape(&mut self) -> Result<Node, RegexError> {
        let Some(&b) = self.bytes.get(self.pos) else {
            return Err(self.error("trailing backslash"));
        };
        self.pos += 1;
        Ok(match b {
            b'A' => Node::Start,
            b'z' | b'Z' => Node::End,
            b'b' => Node::WordBoundary { negated: false },
            b'B' => Node::WordBoundary { negated: true },
            _ => match self.escape_set(b)? {
                EscapeValue::Byte(byte) => Node::Literal(byte),
                EscapeValue::Set(set) => Node::Class(Box::new(set)),
            },
        })
    }

    /// An escape that stands for a byte or a set of bytes (the escaped byte
    /// `b` has been consumed).
    fn escape_set(&mut self, b: u8) -> Result<EscapeValue, RegexError> {
        let mut set = ByteSet::new();
        match b.to_ascii_lowercase() {
            b'd' => set.insert_range(b'0', b'9'),
            b'w' => {
                set.insert_range(b'0', b'9');
                set.insert_range(b'a', b'z');
                set.insert_range(b'A', b'Z');
                set.insert(b'_');
            }
            b's' => {
                for c in [b' ', b'\t', b'\n', b'\r', 0x0b, 0x0c] {
                    set.insert(c);
                }
            }
            _ => {
                return Ok(EscapeValue::Byte(match b {
                    b'n' => b'\n',
                    b't' => b'\t',
                    b'r' => b'\r',
                    b'f' => 0x0c,
                    b'e' => 0x1b,
                    b'x' => self.hex_escape()?,
                    // Punctuation escapes stand for themselves; other
                    // letters and digits are classes or backreferences
                    // this matcher does not know.
                    _ if !b.is_ascii_alphanumeric() => b,
                    _ => return Err(self.error(&format!("unsupported escape `\\{}`", b as char))),
                }));
            }
        }
        // `\D`, `\W`, `\S`: the complement.
        let negated = b.is_ascii_uppercase();
        if negated {
            set.negate();
        }
        Ok(EscapeValue::Set(set))
    }

    fn hex_escape(&mut self) -> Result<u8, RegexError> {
        let digits = self.bytes[self.pos..]
            .iter()
            .take(2)
            .take_while(|b| b.is_ascii_hexdigit())
            .count();
        let text = std::str::from_utf8(&self.bytes[self.pos..self.pos + digits]).unwrap_or("");
        let value = u8::from_str_radix(text, 16).map_err(|_| self.error("bad `\\x` escape"))?;
        self.pos += digits;
        Ok(value)
    }

    /// A bracketed class; the `[` has been consumed. Whitespace is literal
    /// inside classes, even under `/x`.
    fn class(&mut self) -> Result<ByteSet, RegexError> {
        let mut set = ByteSet::new();
        let negated = self.bytes.get(self.pos) == Some(&b'^');
        if negated {
            self.pos += 1;
        }
        let mut first = true;
        loop {
            let Some(&b) = self.bytes.get(self.pos) else {
                return Err(self.error("unclosed `[`"));
            };
            self.pos += 1;
            if b == b']' && !first {
                break;
            }
            first = false;
            let lo = match b {
                b'[' if self.bytes.get(self.pos) == Some(&b':') => {
                    set.union(&self.posix_class()?);
                    continue;
                }
                b'\\' => {
                    let Some(&e) = self.bytes.get(self.pos) else {
                        return Err(self.error("unclosed `[`"));
                    };
                    self.pos += 1;
                    match self.escape_set(e)? {
                        EscapeValue::Byte(byte) => byte,
                        EscapeValue::Set(s) => {
                            set.union(&s);
                            continue;
                        }
                    }
                }
                _ => b,
            };
            // A range, unless the `-` is last in the class.
            if self.bytes.get(self.pos) == Some(&b'-')
                && self.bytes.get(self.pos + 1).is_some_and(|&n| n != b']')
            {
                self.pos += 1;
                let mut hi = self.bytes[self.pos];
                self.pos += 1;
                if hi == b'\\' {
                    let Some(&e) = self.bytes.get(self.pos) else {
                        return Err(self.error("unclosed `[`"));
                    };
                    self.pos += 1;
                    hi = match self.escape_set(e)? {
                        EscapeValue::Byte(byte) => byte,
                        EscapeValue::Set(_) => return Err(self.error("class in a range")),
                    };
                }
                if hi < lo {
                    return Err(self.error("class range out of order"));
                }
                set.insert_range(lo, hi);
            } else {
                set.insert(lo);
            }
        }
        if negated {
            set.negate();
        }
        Ok(set)
    }

    /// `[:name:]` inside a class; the `[` has been consumed.
    fn posix_class(&mut self) -> Result<ByteSet, RegexError> {
        let rest = &self.bytes[self.pos..];
        let end = rest
            .windows(2)
            .position(|w| w == b":]")
            .ok_or_else(|| self.error("unclosed `[:`"))?;
        let name = &rest[1..end];
        self.pos += end + 2;
        let mut set = ByteSet::new();
        match name {
            b"alpha" => {
                set.insert_range(b'a', b'z');
                set.insert_range(b'A', b'Z');
            }
            b"digit" => set.insert_range(b'0', b'9'),
            b"alnum" => {
                set.insert_range(b'a', b'z');
                set.insert_range(b'A', b'Z');
                set.insert_range(b'0', b'9');
            }
            b"upper" => set.insert_range(b'A', b'Z'),
            b"lower" => set.insert_range(b'a', b'z'),
            b"space" => {
                for c in [b' ', b'\t', b'\n', b'\r', 0x0b, 0x0c] {
                    set.insert(c);
                }
            }
            b"punct" => {
                for c in (0x21u8..0x7f).filter(|c| c.is_ascii_punctuation()) {
                    set.insert(c);
                }
            }
            b"xdigit" => {
                set.insert_range(b'0', b'9');
                set.insert_range(b'a', b'f');
                set.insert_range(b'A', b'F');
            }
            _ => return Err(self.error("unknown POSIX class")),
        }
        Ok(set)
    }
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

enum EscapeValue {
    Byte(u8),
    Set(ByteSet),
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
        assert!(
            is_match("x{", "x{"),
            "a brace that starts no quantifier is literal"
        );
    }

    #[test]
    fn lookbehind_as_in_u_boot() {
        assert!(is_match("(?<!uni)versal", "board/xilinx/versal/board.c"));
        assert!(!is_match("(?<!uni)versal", "drivers/universal.c"));
        assert!(is_match("(?<=/)mmc", "drivers/mmc/x.c"));
        assert!(!is_match("(?<=/)mmc", "drivers/xmmc/x.c"));
    }

    #[test]
    fn word_boundaries_and_extended_whitespace() {
        assert!(is_match(r"\bmlx5", "drivers/net/mlx5/x.c"));
        assert!(!is_match(r"\bmlx5", "drivers/net/xmlx5/x.c"));
        assert!(
            is_match("foo bar  # comment", "a/foobar"),
            "/x ignores whitespace"
        );
    }

    #[test]
    fn named_groups_and_pathological_patterns() {
        assert!(is_match("(?<soc>rk|px)3", "arch/arm/mach-rockchip/px30.c"));
        assert!(is_match("(?P<soc>imx)8", "board/imx8/x.c"));
        // Exponential backtracking gives up instead of hanging.
        let text = format!("c{}!", "a".repeat(40));
        let started = std::time::Instant::now();
        assert!(!is_match("(a*)*c$", &text));
        assert!(started.elapsed() < std::time::Duration::from_secs(5));
    }

    #[test]
    fn invalid_patterns_are_errors() {
        for bad in [
            "[a-", "(foo", "foo)", "*x", r"\1", "(?i)foo", "a{3,2}", r"x\",
        ] {
            assert!(Regex::new(bad).is_err(), "{bad} should not compile");
        }
    }

    #[test]
    fn required_literal_is_longest_plain_run() {
        assert_eq!(Regex::new("bcm[9]?47622").unwrap().required, b"47622");
        assert_eq!(Regex::new("(?<!uni)versal").unwrap().required, b"versal");
        assert!(Regex::new("a|b").unwrap().required.is_empty());
    }
}
