//! GitHub/GitLab CODEOWNERS: gitignore-style patterns, each followed by its
//! owners, where the last matching line wins.
//!
//! Pattern semantics follow what GitHub does rather than gitignore to the
//! letter; the two differ on `docs/*`, which GitHub documents as matching
//! `docs/getting-started.md` but not `docs/build-app/troubleshooting.md`
//! (gitignore would match the directory `docs/build-app` and so everything
//! below it). The translation below mirrors the widely used
//! hmarr/codeowners matcher, whose test table encodes GitHub's behaviour:
//!
//! - a leading `/`, or a `/` in the middle, anchors the pattern at the root;
//!   otherwise it matches at any depth (`**/` is prepended);
//! - a trailing `/` means "everything below this directory";
//! - `*` and `?` do not cross `/`, `**` does;
//! - a last segment that is a lone `*` matches direct children only;
//!   any other last segment matches the path itself and everything below
//!   it (so `/src/foo` owns `src/foo/bar.c` when `src/foo` is a directory).
//!
//! Each rule becomes one or two globs in a single `GlobSet`; a path's owner
//! is the rule with the highest index among the matches. A rule without
//! owners un-owns what it matches. `{` and `}` are literal in CODEOWNERS, so
//! they are escaped before globset sees them; character classes `[...]`
//! are left to globset, which reports an unclosed `[` as an error.
//!
//! GitLab section headers (`[Section]`, `^[Optional section][2] @owner`)
//! are skipped; their default owners are not applied to owner-less rules,
//! which therefore read as un-owning, as on GitHub.

use globset::{Candidate, GlobBuilder, GlobSet, GlobSetBuilder};

use super::{push_path_tokens, Area, Interner, OwnershipError, Scratch};

#[derive(Debug)]
pub(super) struct Codeowners {
    set: GlobSet,
    /// The rule each glob of `set` belongs to.
    glob_rule: Vec<u32>,
    /// Owners of each rule, in file order; empty un-owns.
    rule_owners: Vec<Vec<u32>>,
}

impl Codeowners {
    pub(super) fn parse(
        file: &str,
        text: &str,
        names: &mut Interner,
    ) -> Result<(Codeowners, Vec<Area>), OwnershipError> {
        let mut builder = GlobSetBuilder::new();
        let mut glob_rule = Vec::new();
        let mut rule_owners = Vec::new();
        let mut areas = Vec::new();
        for (index, raw) in text.lines().enumerate() {
            let line_no = index + 1;
            let line = raw.trim();
            if line.is_empty() || line.starts_with('#') || is_section_header(line) {
                continue;
            }
            let error = |message: String| OwnershipError::new(file, line_no, message);
            let mut words = split_unescaped_whitespace(line).into_iter();
            let pattern = words.next().expect("a non-empty line has a first word");
            let mut owners = Vec::new();
            for owner in words.take_while(|w| !w.starts_with('#')) {
                if !is_valid_owner(owner) {
                    return Err(error(format!(
                        "owner `{owner}` is neither @user, @org/team nor an e-mail address"
                    )));
                }
                let id = names.intern(owner);
                if !owners.contains(&id) {
                    owners.push(id);
                }
            }
            let rule = u32::try_from(rule_owners.len()).expect("fewer than 2^32 rules");
            for glob in
                pattern_globs(pattern).map_err(|m| error(format!("pattern `{pattern}`: {m}")))?
            {
                let compiled = GlobBuilder::new(&glob)
                    .literal_separator(true)
                    .backslash_escape(true)
                    .build()
                    .map_err(|e| {
                        error(format!(
                            "pattern `{pattern}` is not a valid glob: {}",
                            e.kind()
                        ))
                    })?;
                builder.add(compiled);
                glob_rule.push(rule);
            }
            if !owners.is_empty() {
                let mut tokens = Vec::new();
                push_path_tokens(&mut tokens, pattern);
                areas.push(Area {
                    name: pattern.to_owned(),
                    owners: owners.iter().map(|&id| names.name(id).to_owned()).collect(),
                    tokens,
                });
            }
            rule_owners.push(owners);
        }
        let set = builder
            .build()
            .map_err(|e| OwnershipError::new(file, 0, format!("cannot compile patterns: {e}")))?;
        Ok((
            Codeowners {
                set,
                glob_rule,
                rule_owners,
            },
            areas,
        ))
    }

    pub(super) fn owners_of(&self, path: &str, scratch: &mut Scratch) {
        self.set
            .matches_candidate_into(&Candidate::from_bytes(path.as_bytes()), &mut scratch.globs);
        // The last matching line wins.
        let Some(rule) = scratch.globs.iter().map(|&g| self.glob_rule[g]).max() else {
            return;
        };
        scratch.extend(&self.rule_owners[rule as usize]);
    }
}

/// `[Section]`, `^[Section]`, `[Section][2]`, `[Section] @owner`: a GitLab
/// section header. A pattern that starts with a class (`[Mm]akefile`) goes
/// on without a space after the `]` and is not one.
fn is_section_header(line: &str) -> bool {
    let rest = line.strip_prefix('^').unwrap_or(line);
    if !rest.starts_with('[') {
        return false;
    }
    match rest.find(']') {
        Some(close) => rest[close + 1..]
            .chars()
            .next()
            .is_none_or(|c| c.is_whitespace() || c == '['),
        None => false,
    }
}

/// Splits on whitespace that is not escaped with a backslash (`a\ b` is a
/// pattern with a space). Escapes stay in place for globset.
fn split_unescaped_whitespace(line: &str) -> Vec<&str> {
    let mut words = Vec::new();
    let mut start = None;
    let mut escaped = false;
    for (i, c) in line.char_indices() {
        if escaped {
            escaped = false;
            continue;
        }
        if c == '\\' {
            escaped = true;
            start.get_or_insert(i);
        } else if c.is_whitespace() {
            if let Some(s) = start.take() {
                words.push(&line[s..i]);
            }
        } else {
            start.get_or_insert(i);
        }
    }
    if let Some(s) = start {
        words.push(&line[s..]);
    }
    words
}

/// `@user`, `@org/team` (GitLab also `@group/subgroup` and `@@role`), or an
/// e-mail address.
fn is_valid_owner(owner: &str) -> bool {
    if let Some(name) = owner.strip_prefix('@') {
        let name = name.strip_prefix('@').unwrap_or(name);
        return !name.is_empty()
            && !name.starts_with('/')
            && !name.ends_with('/')
            && name
                .chars()
                .all(|c| c.is_alphanumeric() || matches!(c, '-' | '_' | '.' | '/'));
    }
    match owner.split_once('@') {
        Some((local, domain)) => {
            !local.is_empty()
                && !domain.is_empty()
                && !domain.contains('@')
                && !owner.contains(['<', '>', ',', ';'])
        }
        None => false,
    }
}

/// The globs (for `literal_separator(true)`) that together match what
/// GitHub matches for `pattern`.
fn pattern_globs(pattern: &str) -> Result<Vec<String>, String> {
    if pattern.contains("***") {
        return Err("three consecutive asterisks".to_owned());
    }
    if pattern.starts_with('!') {
        return Err("negated patterns are not supported in CODEOWNERS".to_owned());
    }
    let anchored = pattern.starts_with('/');
    let body = pattern.trim_start_matches('/');
    let directory_only = body.ends_with('/');
    let body = body.trim_end_matches('/');
    if body.is_empty() {
        // "/" names the root itself, which holds no file.
        return Ok(Vec::new());
    }
    let first = body.split('/').next().unwrap_or("");
    let last = body.rsplit('/').next().unwrap_or("");
    let mut glob = String::new();
    if !anchored && !body.contains('/') && first != "**" {
        glob.push_str("**/");
    }
    // `{` and `}` are literal here; escape them unless already escaped.
    let mut escaped = false;
    for c in body.chars() {
        if !escaped && matches!(c, '{' | '}') {
            glob.push('\\');
        }
        escaped = !escaped && c == '\\';
        glob.push(c);
    }
    Ok(if directory_only {
        vec![format!("{glob}/**")]
    } else if last == "*" || last == "**" {
        vec![glob]
    } else {
        let below = format!("{glob}/**");
        vec![glob, below]
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> (Codeowners, Vec<String>) {
        let mut names = Interner::default();
        let (c, _) = Codeowners::parse("CODEOWNERS", text, &mut names).unwrap();
        (c, names.names)
    }

    fn owners(text: &str, path: &str) -> Vec<String> {
        let (c, names) = parse(text);
        let mut scratch = Scratch::default();
        c.owners_of(path, &mut scratch);
        scratch
            .ids
            .iter()
            .map(|&i| names[i as usize].clone())
            .collect()
    }

    /// One pattern against many paths, as in hmarr/codeowners' table.
    fn check(pattern: &str, cases: &[(&str, bool)]) {
        let text = format!("{pattern} @x\n");
        for &(path, expected) in cases {
            assert_eq!(
                !owners(&text, path).is_empty(),
                expected,
                "`{pattern}` against `{path}`"
            );
        }
    }

    #[test]
    fn unanchored_single_segment_matches_at_any_depth() {
        check(
            "foo",
            &[
                ("foo", true),
                ("foo.txt", false),
                ("foo/bar", true),
                ("bar/foo", true),
                ("bar/foo/baz", true),
                ("bar/baz", false),
            ],
        );
        check(
            "*.js",
            &[("a.js", true), ("src/deep/b.js", true), ("a.jsx", false)],
        );
    }

    #[test]
    fn leading_or_middle_slash_anchors() {
        check(
            "/foo",
            &[
                ("foo", true),
                ("foo/bar/baz", true),
                ("bar/foo", false),
                ("fool.txt", false),
            ],
        );
        check(
            "foo/bar",
            &[
                ("foo/bar", true),
                ("foo/bar/baz", true),
                ("baz/foo/bar", false),
                ("foo/bart", false),
            ],
        );
    }

    #[test]
    fn trailing_slash_means_directory_contents() {
        check(
            "foo/",
            &[("foo", false), ("foo/bar", true), ("bar/foo/baz/qux", true)],
        );
        check("/foo/", &[("foo/bar", true), ("bar/foo/baz", false)]);
        check("/*/", &[("foo", false), ("foo/bar", true)]);
    }

    #[test]
    fn stars() {
        check(
            "docs/*",
            &[
                ("docs/getting-started.md", true),
                ("docs/build-app/troubleshooting.md", false),
            ],
        );
        check("/*", &[("foo", true), ("foo/bar", false)]);
        check("*", &[("foo", true), ("a/b/c", true)]);
        check(
            "foo/*.txt",
            &[
                ("foo/bar.txt", true),
                ("foo/bar/baz.txt", false),
                ("qux/foo/bar.txt", false),
            ],
        );
        check(
            "**/foo/bar",
            &[
                ("foo/bar", true),
                ("qux/foo/bar/baz", true),
                ("foo/baz/bar", false),
            ],
        );
        check(
            "foo/**/bar",
            &[
                ("foo/bar", true),
                ("foo/a/b/bar/c", true),
                ("qux/foo/bar", false),
            ],
        );
        check(
            "foo/bar/**",
            &[("foo/bar", false), ("foo/bar/baz/qux", true)],
        );
        check("f?o", &[("foo", true), ("fooo", false)]);
        check(r"f\*o", &[("f*o", true), ("foo", false)]);
        check("/src/{a,b}", &[("src/{a,b}", true), ("src/a", false)]);
    }

    #[test]
    fn last_match_wins_and_empty_owners_unown() {
        let text = "\
# comment
*       @everyone
/docs/  @docs-team  # trailing comment
/docs/internal/
*.rs    @rustaceans @org/rust-team
/src/special.rs  someone@example.com
";
        assert_eq!(owners(text, "README"), ["@everyone"]);
        assert_eq!(owners(text, "docs/a.md"), ["@docs-team"]);
        assert!(
            owners(text, "docs/internal/x.md").is_empty(),
            "an owner-less rule un-owns"
        );
        assert_eq!(
            owners(text, "docs/internal/x.rs"),
            ["@rustaceans", "@org/rust-team"]
        );
        assert_eq!(owners(text, "src/special.rs"), ["someone@example.com"]);
        assert_eq!(
            owners(text, "src/other.rs"),
            ["@rustaceans", "@org/rust-team"]
        );
    }

    #[test]
    fn gitlab_sections_are_skipped() {
        let text = "[Docs] @docs\n/docs/ @writers\n^[Optional][2]\n[Mm]akefile @build\n";
        assert_eq!(owners(text, "docs/x"), ["@writers"]);
        assert_eq!(owners(text, "Makefile"), ["@build"]);
    }

    #[test]
    fn areas_are_rules_with_owners() {
        let mut names = Interner::default();
        let (_, areas) = Codeowners::parse(
            "CODEOWNERS",
            "/compiler/Codegen/LLVMGPU/ @a @b\n/x/\n",
            &mut names,
        )
        .unwrap();
        assert_eq!(areas.len(), 1);
        assert_eq!(areas[0].name, "/compiler/Codegen/LLVMGPU/");
        assert_eq!(areas[0].owners, ["@a", "@b"]);
        assert_eq!(areas[0].tokens, ["compiler", "codegen", "llvmgpu"]);
    }

    #[test]
    fn malformed_lines_are_errors() {
        let mut names = Interner::default();
        let err = Codeowners::parse("CODEOWNERS", "# ok\n/src/[abc @x\n", &mut names).unwrap_err();
        assert_eq!(err.line, 2);
        assert!(
            err.to_string()
                .starts_with("CODEOWNERS:2: pattern `/src/[abc`"),
            "{err}"
        );
        let err =
            Codeowners::parse(".github/CODEOWNERS", "/src/ @ok bob\n", &mut names).unwrap_err();
        assert_eq!(
            err.to_string(),
            ".github/CODEOWNERS:1: owner `bob` is neither @user, @org/team nor an e-mail address"
        );
        assert!(Codeowners::parse("CODEOWNERS", "!/src/ @x\n", &mut names).is_err());
        assert!(Codeowners::parse("CODEOWNERS", "/a/***/b @x\n", &mut names).is_err());
    }
}
