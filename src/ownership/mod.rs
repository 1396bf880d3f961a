//! Ownership: who owns which paths, read from CODEOWNERS, MAINTAINERS or
//! OWNERS files in the tree the investigation starts from.
//!
//! The retriever uses it twice: a commit whose files belong to the team that
//! was paged (`--team`) is a better suspect, and an incident title that names
//! an area ("net/mlx5: ...", "ACPI") points at the files of that area. So this
//! module answers two questions fast: `owners_of(path)`, called for every
//! changed file of every commit in the window, and `areas()`, the named
//! areas a title can mention.
//!
//! Three formats are understood, one per tree (see [`Ownership::from_tree`]
//! for how the one is chosen):
//!
//! - [`codeowners`]: GitHub/GitLab CODEOWNERS, the last matching rule wins;
//! - [`maintainers`]: Linux-style MAINTAINERS with `F:`/`X:`/`N:` patterns,
//!   every matching section owns the path (U-Boot's per-directory
//!   MAINTAINERS files included);
//! - [`owners`]: Chromium and Kubernetes OWNERS files, the nearest file up
//!   the directory tree plus its parents unless `set noparent`.
//!
//! Owner identifiers are plain strings: `@user`, `@org/team`, e-mail
//! addresses, MAINTAINERS section titles, OWNERS user names. They are
//! interned once, so that answering a path costs a few integer comparisons
//! and one clone per owner of the answer.
//!
//! Files are decoded as UTF-8. A file with NUL bytes (binary, UTF-16) or
//! whose bytes are mostly not UTF-8 is an error. A few stray invalid bytes
//! are decoded lossily: U-Boot's MAINTAINERS before 2014 spells names in
//! Latin-1 (410 of its historical blob versions), and an investigation of
//! such an old commit must not fail over a maintainer's name.

mod codeowners;
mod maintainers;
mod owners;

use std::borrow::Cow;
use std::cell::RefCell;
use std::collections::HashMap;

use serde::Serialize;

/// The format of the ownership files a tree uses.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Format {
    /// GitHub/GitLab CODEOWNERS.
    Codeowners,
    /// Linux-style MAINTAINERS (also DPDK, U-Boot).
    Maintainers,
    /// Chromium or Kubernetes OWNERS files.
    Owners,
}

/// A malformed ownership file: Display is one line, "FILE:LINE: what is
/// wrong". `line` is 1-based; 0 means the file as a whole.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{file}:{line}: {message}")]
pub struct OwnershipError {
    /// Path of the file in the tree.
    pub file: String,
    /// 1-based line number, or 0 when the problem is not on one line.
    pub line: usize,
    /// What is wrong, one line.
    pub message: String,
}

impl OwnershipError {
    fn new(file: &str, line: usize, message: impl Into<String>) -> Self {
        OwnershipError {
            file: file.to_owned(),
            line,
            message: message.into(),
        }
    }
}

/// A named area an incident title may name: a MAINTAINERS section, a
/// CODEOWNERS rule, an OWNERS directory.
#[derive(Debug, Clone)]
pub struct Area {
    /// The section title, the CODEOWNERS pattern, or the OWNERS directory
    /// (`/` for the root).
    pub name: String,
    /// Owner identifiers of the area, in the same spelling `owners_of`
    /// returns. For a MAINTAINERS section the title comes first.
    pub owners: Vec<String>,
    /// `crate::text::tokens` of the name and of the pattern path
    /// components (less a file pattern's extension), deduplicated, in
    /// first-seen order.
    pub tokens: Vec<String>,
}

/// Who owns what in one tree.
#[derive(Debug)]
pub struct Ownership {
    format: Option<Format>,
    /// Interned owner identifiers; matchers hold indices into this.
    names: Vec<String>,
    areas: Vec<Area>,
    matcher: Matcher,
}

#[derive(Debug)]
enum Matcher {
    None,
    Codeowners(codeowners::Codeowners),
    Maintainers(Box<maintainers::Maintainers>),
    Owners(owners::OwnersTree),
}

/// Where GitHub looks for CODEOWNERS, in its order of preference; GitLab's
/// `.gitlab/` comes last.
const CODEOWNERS_LOCATIONS: [&str; 4] = [
    ".github/CODEOWNERS",
    "CODEOWNERS",
    "docs/CODEOWNERS",
    ".gitlab/CODEOWNERS",
];

impl Ownership {
    /// Nobody owns anything.
    pub fn empty() -> Self {
        Ownership {
            format: None,
            names: Vec::new(),
            areas: Vec::new(),
            matcher: Matcher::None,
        }
    }

    /// Detects and parses the ownership files in `tree`. `location`, when
    /// given (from a config file), names the one ownership file to use (e.g.
    /// "build/CODEOWNERS"); its format is detected by file name. Reads
    /// blobs only; never writes.
    ///
    /// Without `location`, the first that exists wins: a CODEOWNERS file
    /// (GitHub's order: `.github/`, root, `docs/`, then `.gitlab/`), a root
    /// `MAINTAINERS` (with every other file named MAINTAINERS in the tree,
    /// as U-Boot's get_maintainer.pl reads them), OWNERS files anywhere.
    ///
    /// A `location` that is a bare file name not present at the root
    /// ("CODEOWNERS" for a repository that keeps it in `.github/`) selects
    /// the format and is looked for in that format's usual places, because
    /// case files name the format that way. A `location` that can't be found
    /// is an error (line 0).
    pub fn from_tree(
        repo: &git2::Repository,
        tree: &git2::Tree<'_>,
        location: Option<&str>,
    ) -> Result<Self, OwnershipError> {
        let reader = TreeReader { repo, tree };
        if let Some(location) = location {
            let location = location
                .trim()
                .trim_start_matches("./")
                .trim_start_matches('/');
            let format = format_of_name(location).ok_or_else(|| {
                OwnershipError::new(location, 0, "unknown ownership file format (expected a name like CODEOWNERS, MAINTAINERS or OWNERS)")
            })?;
            if let Some(contents) = reader.blob(location)? {
                return match format {
                    Format::Codeowners => Self::parse(format, &[(location.to_owned(), contents)]),
                    Format::Maintainers => {
                        // The named file and the per-directory files below
                        // its directory.
                        let dir = parent_dir(location);
                        let mut files = vec![(location.to_owned(), contents)];
                        for (path, data) in reader.collect_named(b"MAINTAINERS")? {
                            if path != location && is_under(&path, dir) {
                                files.push((path, data));
                            }
                        }
                        Self::parse(format, &files)
                    }
                    Format::Owners => Self::parse(format, &reader.owners_files()?),
                };
            }
            if location.contains('/') {
                return Err(OwnershipError::new(
                    location,
                    0,
                    "ownership file not found in the tree",
                ));
            }
            let found = match format {
                Format::Codeowners => reader.first_codeowners()?.map(|f| vec![f]),
                Format::Maintainers => Some(reader.collect_named(b"MAINTAINERS")?),
                Format::Owners => Some(reader.owners_files()?),
            };
            return match found {
                Some(files) if !files.is_empty() => Self::parse(format, &files),
                _ => Err(OwnershipError::new(
                    location,
                    0,
                    "ownership file not found in the tree",
                )),
            };
        }
        if let Some(file) = reader.first_codeowners()? {
            return Self::parse(Format::Codeowners, &[file]);
        }
        if tree.get_path(std::path::Path::new("MAINTAINERS")).is_ok() {
            return Self::parse(Format::Maintainers, &reader.collect_named(b"MAINTAINERS")?);
        }
        let files = reader.owners_files()?;
        if files.is_empty() {
            return Ok(Self::empty());
        }
        Self::parse(Format::Owners, &files)
    }

    /// The same from in-memory files, given as (path in tree, contents).
    ///
    /// The format is chosen from the file names as in `from_tree`: any
    /// CODEOWNERS (the first in GitHub's order is used), else every file
    /// named MAINTAINERS, else every file named OWNERS. Files with other
    /// names are available to OWNERS `file://` and `include` lines and
    /// `OWNERS_ALIASES`, and otherwise ignored.
    pub fn from_files(files: &[(String, Vec<u8>)]) -> Result<Self, OwnershipError> {
        let has = |name: &str| files.iter().any(|(p, _)| file_name(p) == name);
        if has("CODEOWNERS") {
            let chosen = CODEOWNERS_LOCATIONS
                .iter()
                .find_map(|loc| files.iter().find(|(p, _)| p == loc))
                .or_else(|| files.iter().find(|(p, _)| file_name(p) == "CODEOWNERS"))
                .expect("a CODEOWNERS file is present");
            return Self::parse(Format::Codeowners, std::slice::from_ref(chosen));
        }
        if has("MAINTAINERS") {
            let maintainers: Vec<_> = files
                .iter()
                .filter(|(p, _)| file_name(p) == "MAINTAINERS")
                .cloned()
                .collect();
            return Self::parse(Format::Maintainers, &maintainers);
        }
        if has("OWNERS") {
            return Self::parse(Format::Owners, files);
        }
        Ok(Self::empty())
    }

    /// Parses `files` as `format`. For CODEOWNERS the first file is the one;
    /// for MAINTAINERS every file is read, the root one first; for OWNERS
    /// files named OWNERS are directory files and the rest are include
    /// targets.
    pub fn parse(format: Format, files: &[(String, Vec<u8>)]) -> Result<Self, OwnershipError> {
        let mut names = Interner::default();
        let (matcher, areas) = match format {
            Format::Codeowners => {
                let Some((path, data)) = files.first() else {
                    return Ok(Self::empty());
                };
                let text = decode(path, data)?;
                let (parsed, areas) = codeowners::Codeowners::parse(path, &text, &mut names)?;
                (Matcher::Codeowners(parsed), areas)
            }
            Format::Maintainers => {
                let mut decoded = Vec::new();
                for (path, data) in files {
                    decoded.push((path.as_str(), decode(path, data)?));
                }
                // The shallowest file (the root one) first, then the rest
                // by path, so that section order (and so owner order) is
                // stable.
                decoded.sort_by_key(|(path, _)| (path.matches('/').count(), *path));
                let (parsed, areas) = maintainers::Maintainers::parse(&decoded, &mut names)?;
                (Matcher::Maintainers(Box::new(parsed)), areas)
            }
            Format::Owners => {
                let mut decoded = Vec::new();
                for (path, data) in files {
                    decoded.push((path.as_str(), decode(path, data)?));
                }
                let (parsed, areas) = owners::OwnersTree::parse(&decoded, &mut names)?;
                (Matcher::Owners(parsed), areas)
            }
        };
        Ok(Ownership {
            format: Some(format),
            names: names.names,
            areas,
            matcher,
        })
    }

    /// The format in use, `None` when the tree has no ownership files.
    pub fn format(&self) -> Option<Format> {
        self.format
    }

    /// Owner identifiers of `path`, deduplicated, in a stable order. Empty
    /// when nobody owns it.
    ///
    /// The order: CODEOWNERS, the winning rule's owners as written;
    /// MAINTAINERS, the most specific section first (as get_maintainer.pl
    /// ranks them), each section's title then its M: and R: e-mails;
    /// OWNERS, the nearest file's owners first, then its parents'.
    pub fn owners_of(&self, path: &str) -> Vec<String> {
        let path = path.trim_start_matches('/');
        SCRATCH.with(|scratch| {
            let scratch = &mut *scratch.borrow_mut();
            scratch.ids.clear();
            match &self.matcher {
                Matcher::None => {}
                Matcher::Codeowners(m) => m.owners_of(path, scratch),
                Matcher::Maintainers(m) => m.owners_of(path, scratch),
                Matcher::Owners(m) => m.owners_of(path, scratch),
            }
            scratch
                .ids
                .iter()
                .map(|&id| self.names[id as usize].clone())
                .collect()
        })
    }

    /// The owners of `path` by its nearest rule only: for OWNERS, the
    /// nearest OWNERS file that names owners for it, without the parents'
    /// files; for CODEOWNERS and MAINTAINERS the same as [`owners_of`]
    /// (the winning rule; the sections, most specific first).
    ///
    /// [`owners_of`]: Ownership::owners_of
    pub fn nearest_owners_of(&self, path: &str) -> Vec<String> {
        let Matcher::Owners(m) = &self.matcher else {
            return self.owners_of(path);
        };
        let path = path.trim_start_matches('/');
        SCRATCH.with(|scratch| {
            let scratch = &mut *scratch.borrow_mut();
            scratch.ids.clear();
            m.nearest_owners_of(path, scratch);
            scratch
                .ids
                .iter()
                .map(|&id| self.names[id as usize].clone())
                .collect()
        })
    }

    /// Whether a team hint (an @user, @org/team, e-mail or MAINTAINERS
    /// section title) names `owner`. Case-insensitive; "@" optional on both
    /// sides; an e-mail hint also matches "Name <email>" forms (either way
    /// round). Surrounding whitespace and a trailing `:` are ignored, since
    /// MAINTAINERS titles are sometimes written "ACPI:" and sometimes "ACPI".
    pub fn hint_matches(hint: &str, owner: &str) -> bool {
        let hint = normalize_identifier(hint);
        let owner = normalize_identifier(owner);
        if hint.is_empty() || owner.is_empty() {
            return false;
        }
        eq_ignore_case(hint, owner)
            || match (angle_email(hint), angle_email(owner)) {
                (None, None) => false,
                (h, o) => eq_ignore_case(h.unwrap_or(hint), o.unwrap_or(owner)),
            }
    }

    /// The named areas, for matching against an incident title.
    pub fn areas(&self) -> &[Area] {
        &self.areas
    }
}

/// Trims whitespace, a leading `@` and a trailing `:`.
fn normalize_identifier(s: &str) -> &str {
    let s = s.trim();
    let s = s.strip_prefix('@').unwrap_or(s);
    s.strip_suffix(':').unwrap_or(s).trim()
}

/// The address of "Name <address>", if `s` has that form.
fn angle_email(s: &str) -> Option<&str> {
    let start = s.rfind('<')?;
    let end = start + s[start..].find('>')?;
    let email = s[start + 1..end].trim();
    email.contains('@').then_some(email)
}

fn eq_ignore_case(a: &str, b: &str) -> bool {
    a.eq_ignore_ascii_case(b)
        || ((!a.is_ascii() || !b.is_ascii())
            && a.chars()
                .flat_map(char::to_lowercase)
                .eq(b.chars().flat_map(char::to_lowercase)))
}

/// Owner identifiers, interned: matchers store `u32` indices.
#[derive(Debug, Default)]
struct Interner {
    names: Vec<String>,
    index: HashMap<String, u32>,
}

impl Interner {
    fn intern(&mut self, name: &str) -> u32 {
        if let Some(&id) = self.index.get(name) {
            return id;
        }
        let id = u32::try_from(self.names.len()).expect("fewer than 2^32 owners");
        self.names.push(name.to_owned());
        self.index.insert(name.to_owned(), id);
        id
    }

    fn name(&self, id: u32) -> &str {
        &self.names[id as usize]
    }
}

/// Per-thread buffers reused by every `owners_of` call, so that a call
/// allocates only its result.
#[derive(Default)]
struct Scratch {
    /// The answer, as interned ids, deduplicated, in order.
    ids: Vec<u32>,
    /// Glob indices from a GlobSet.
    globs: Vec<usize>,
    /// More glob indices (exclusions), when two sets are consulted.
    globs2: Vec<usize>,
    /// (item, rank) pairs a matcher sorts.
    hits: Vec<(u32, u32)>,
}

impl Scratch {
    fn push(&mut self, id: u32) {
        if !self.ids.contains(&id) {
            self.ids.push(id);
        }
    }

    fn extend(&mut self, ids: &[u32]) {
        for &id in ids {
            self.push(id);
        }
    }
}

thread_local! {
    static SCRATCH: RefCell<Scratch> = RefCell::new(Scratch::default());
}

/// Decodes an ownership file as UTF-8 text (see the module docs for the
/// policy on invalid bytes). A UTF-8 byte-order mark is dropped.
fn decode<'a>(path: &str, data: &'a [u8]) -> Result<Cow<'a, str>, OwnershipError> {
    let data = data.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(data);
    let line_at = |offset: usize| 1 + data[..offset].iter().filter(|&&b| b == b'\n').count();
    if let Some(nul) = data.iter().position(|&b| b == 0) {
        return Err(OwnershipError::new(
            path,
            line_at(nul),
            "not UTF-8 text (contains NUL bytes)",
        ));
    }
    if let Ok(text) = std::str::from_utf8(data) {
        return Ok(Cow::Borrowed(text));
    }
    let mut invalid = 0;
    let mut first_invalid = None;
    let mut offset = 0;
    for chunk in data.utf8_chunks() {
        offset += chunk.valid().len();
        if !chunk.invalid().is_empty() {
            first_invalid.get_or_insert(offset);
            invalid += chunk.invalid().len();
            offset += chunk.invalid().len();
        }
    }
    // Isolated Latin-1 letters in names are a few bytes per hundred lines;
    // more than one byte in fifty is not text in an encoding we read.
    if invalid * 50 > data.len() {
        return Err(OwnershipError::new(
            path,
            line_at(first_invalid.unwrap_or(0)),
            "not UTF-8 text",
        ));
    }
    Ok(String::from_utf8_lossy(data))
}

/// The ownership format a file name stands for.
fn format_of_name(path: &str) -> Option<Format> {
    let name = file_name(path).to_ascii_uppercase();
    if name.contains("CODEOWNERS") {
        Some(Format::Codeowners)
    } else if name.contains("MAINTAINERS") {
        Some(Format::Maintainers)
    } else if name.contains("OWNERS") {
        Some(Format::Owners)
    } else {
        None
    }
}

fn file_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// The directory of `path`, "" at the root.
fn parent_dir(path: &str) -> &str {
    path.rfind('/').map_or("", |i| &path[..i])
}

fn is_under(path: &str, dir: &str) -> bool {
    dir.is_empty()
        || path
            .strip_prefix(dir)
            .is_some_and(|rest| rest.starts_with('/'))
}

/// Distinct tokens of `text`, appended to `out` in first-seen order.
fn push_tokens(out: &mut Vec<String>, text: &str) {
    for token in crate::text::tokens(text) {
        if !out.contains(&token) {
            out.push(token);
        }
    }
}

/// `push_tokens` for a path pattern, without the file extension of its
/// last component: `doc/guides/nics/mlx5.rst` gives doc, guides, nics and
/// mlx5, because an extension like `rst` or `sh` names no area and would
/// only make unrelated areas look alike.
fn push_path_tokens(out: &mut Vec<String>, pattern: &str) {
    let (dir, last) = pattern.rsplit_once('/').unwrap_or(("", pattern));
    let stem = match last.rsplit_once('.') {
        Some((stem, _)) if !stem.trim_matches('*').is_empty() => stem,
        _ => last,
    };
    push_tokens(out, dir);
    push_tokens(out, stem);
}

/// A regex of an ownership file (a MAINTAINERS `N:` line, a `filters:` key
/// of a Kubernetes OWNERS file), read the way get_maintainer.pl reads `N:`:
/// Perl's `m/$value/x`. fancy-regex parses and matches it (not `regex`:
/// U-Boot has `N: (?<!uni)versal`, a lookbehind); this adapter adds what
/// that reading needs:
///
/// - an unanchored search: `is_match` is true for a match anywhere;
/// - `/x`, as fancy-regex's inline `(?x)`: whitespace and `#` comments are
///   ignored outside bracketed classes and literal inside them, as in Perl
///   (only the inline flag does that in fancy-regex 0.17: its
///   `RegexBuilder::ignore_whitespace` drops them inside classes too);
/// - a search that hits fancy-regex's backtrack limit is no match, so that
///   a pathological pattern cannot hang an investigation.
///
/// The rest is fancy-regex's syntax, which agrees with Perl on what real
/// files write (literals, classes, `?`, `.*`, groups, lookaround). Where the
/// two part, fancy-regex's reading wins: characters rather than bytes (`.`
/// is all of "é"; `\w`, `\d`, `\s`, `\b` are Unicode), `regex`'s class
/// syntax (`[[]` is an unclosed nested class; `&&`, `--` are operators),
/// `\<` and `\>` as word boundaries.
#[derive(Debug, Clone)]
struct PerlRegex(fancy_regex::Regex);

impl PerlRegex {
    /// Compiles `pattern`; the error is one line that names it (the caller
    /// adds file and line).
    fn new(pattern: &str) -> Result<PerlRegex, String> {
        fancy_regex::Regex::new(&format!("(?x){pattern}"))
            .map(PerlRegex)
            .map_err(|e| {
                // Without the position, which counts the `(?x)`.
                let what = match e {
                    fancy_regex::Error::ParseError(_, e) => e.to_string(),
                    e => e.to_string(),
                };
                let what = what.split_whitespace().collect::<Vec<_>>().join(" ");
                format!("{what} in regex `{pattern}`")
            })
    }

    /// Whether the pattern matches anywhere in `text`.
    fn is_match(&self, text: &str) -> bool {
        self.0.is_match(text).unwrap_or(false)
    }

    /// A string every match contains ("" when there is none), so that a
    /// caller with many regexes can skip most of them in one pass over a
    /// path (U-Boot's owners_of runs about 4x faster with it): the longest
    /// run of literal characters in the top-level sequence. Assertions and
    /// lookaround do not end a run (what they sit between is adjacent in
    /// the text); anything else does.
    fn required_literal(&self) -> String {
        use fancy_regex::Expr;
        let Ok(tree) = Expr::parse_tree(self.0.as_str()) else {
            return String::new();
        };
        let nodes = match &tree.expr {
            Expr::Concat(nodes) => nodes.as_slice(),
            node => std::slice::from_ref(node),
        };
        fn literal(node: &Expr) -> Option<&str> {
            match node {
                Expr::Literal { val, casei: false } => Some(val),
                _ => None,
            }
        }
        let zero_width = |node: &Expr| matches!(node, Expr::Assertion(_) | Expr::LookAround(..));
        nodes
            .split(|node| literal(node).is_none() && !zero_width(node))
            .map(|run| run.iter().filter_map(literal).collect::<String>())
            .max_by_key(String::len)
            .unwrap_or_default()
    }
}

/// Reads ownership files out of a git tree.
struct TreeReader<'r, 't> {
    repo: &'r git2::Repository,
    tree: &'t git2::Tree<'r>,
}

impl TreeReader<'_, '_> {
    /// The blob at `path`, `None` when there is no file there.
    fn blob(&self, path: &str) -> Result<Option<Vec<u8>>, OwnershipError> {
        let Ok(entry) = self.tree.get_path(std::path::Path::new(path)) else {
            return Ok(None);
        };
        if entry.kind() != Some(git2::ObjectType::Blob) || entry.filemode() == 0o120000 {
            return Ok(None);
        }
        self.read(path, entry.id()).map(Some)
    }

    fn read(&self, path: &str, id: git2::Oid) -> Result<Vec<u8>, OwnershipError> {
        let blob = self.repo.find_blob(id).map_err(|e| {
            OwnershipError::new(path, 0, format!("cannot read blob {id}: {}", e.message()))
        })?;
        Ok(blob.content().to_vec())
    }

    fn first_codeowners(&self) -> Result<Option<(String, Vec<u8>)>, OwnershipError> {
        for location in CODEOWNERS_LOCATIONS {
            if let Some(data) = self.blob(location)? {
                return Ok(Some((location.to_owned(), data)));
            }
        }
        Ok(None)
    }

    /// Every regular file called `name` in the tree, in one walk of its
    /// trees (blobs other than the matches are never read). The walk is our
    /// own rather than `Tree::walk`, whose callback cannot take directory
    /// names that are not UTF-8.
    fn collect_named(&self, name: &[u8]) -> Result<Vec<(String, Vec<u8>)>, OwnershipError> {
        let mut found = Vec::new();
        let mut stack: Vec<(Vec<u8>, git2::Oid)> = vec![(Vec::new(), self.tree.id())];
        while let Some((dir, id)) = stack.pop() {
            let tree = self.repo.find_tree(id).map_err(|e| {
                OwnershipError::new("", 0, format!("cannot walk the tree: {}", e.message()))
            })?;
            for entry in tree.iter() {
                match entry.kind() {
                    Some(git2::ObjectType::Tree) => {
                        let mut path = dir.clone();
                        path.extend_from_slice(entry.name_bytes());
                        path.push(b'/');
                        stack.push((path, entry.id()));
                    }
                    Some(git2::ObjectType::Blob)
                        if entry.name_bytes() == name && entry.filemode() != 0o120000 =>
                    {
                        let path = format!(
                            "{}{}",
                            String::from_utf8_lossy(&dir),
                            String::from_utf8_lossy(name)
                        );
                        found.push((path, entry.id()));
                    }
                    _ => {}
                }
            }
        }
        found.sort();
        found
            .into_iter()
            .map(|(path, id)| Ok((path.clone(), self.read(&path, id)?)))
            .collect()
    }

    /// Every OWNERS file, the root OWNERS_ALIASES, and the files their
    /// `file://` and `include` lines name (read on demand, since Chromium
    /// includes files such as SECURITY_OWNERS).
    fn owners_files(&self) -> Result<Vec<(String, Vec<u8>)>, OwnershipError> {
        let mut files = self.collect_named(b"OWNERS")?;
        if let Some(data) = self.blob("OWNERS_ALIASES")? {
            files.push(("OWNERS_ALIASES".to_owned(), data));
        }
        let mut pending: Vec<String> = Vec::new();
        let mut known: std::collections::HashSet<String> =
            files.iter().map(|(p, _)| p.clone()).collect();
        let mut scan = |files: &[(String, Vec<u8>)], pending: &mut Vec<String>| {
            for (path, data) in files {
                for target in owners::include_targets(path, &String::from_utf8_lossy(data)) {
                    if known.insert(target.clone()) {
                        pending.push(target);
                    }
                }
            }
        };
        scan(&files, &mut pending);
        while let Some(target) = pending.pop() {
            if let Some(data) = self.blob(&target)? {
                let added = [(target, data)];
                scan(&added, &mut pending);
                let [file] = added;
                files.push(file);
            }
        }
        Ok(files)
    }
}

#[cfg(test)]
mod tests;
