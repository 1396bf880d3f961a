//! Linux-style MAINTAINERS files (the kernel, DPDK, U-Boot): sections with a
//! title and tagged lines, where every section whose `F:`/`N:` patterns match
//! a path, and whose `X:` patterns don't, owns it.
//!
//! Parsing follows scripts/get_maintainer.pl, the program these files are
//! written for, rather than the prose in their headers:
//!
//! - a tag is `X:` at column 0 (a capital letter and a colon); the tag
//!   legend in the headers of the Linux, DPDK and U-Boot files is indented,
//!   so it reads as plain text;
//! - blank lines and `#` comments are skipped, and any other untagged line
//!   starts a section, so tags belong to the last title above them even
//!   across a blank line (U-Boot's board/beacon/imx8mm/MAINTAINERS has one
//!   between its title and its `M:`). A second untagged line straight after
//!   a title is an alias of it (board/friendlyarm/nanopi2/MAINTAINERS names
//!   two boards); underlines of dashes or equals signs are decoration;
//! - only sections with at least one `F:` or `N:` pattern are areas, which
//!   leaves out header prose, the legend and DPDK's "Next-net Tree" style
//!   sections;
//! - in the root file, an `F:`, `X:` or `N:` line before any title is an
//!   error, as is an `N:` regex that does not compile anywhere. A
//!   per-directory file that starts with its tags gets a section named after
//!   its directory (U-Boot had one in 2015, for two months).
//!
//! Pattern semantics, from get_maintainer.pl's `file_match_pattern`: the
//! pattern is a regex anchored at the start of the path, with `*` → `.*`
//! and `?` → `.`. With a trailing `/` it is a plain prefix match (the whole
//! directory). Without one the path must also have as many `/` as the
//! pattern, so `*` cannot cross a directory and `drivers/net/*` means
//! direct children; note that this makes every pattern a prefix within its
//! last component (`F: README` also matches `README.md`), as in the kernel.
//! get_maintainer.pl adds the `/` itself when the pattern names a directory
//! on disk; there is no disk here, so a pattern without wildcards also
//! matches everything below it (nothing can be below a file).
//!
//! `N:` lines are Perl regexes searched anywhere in the path, with `/x`
//! (whitespace ignored); see [`super::PerlRegex`]. `K:` (content keywords) is
//! ignored: ownership here is by path.
//!
//! Owner identifiers of a section: its title (and aliases), then the
//! e-mail addresses of its `M:` and `R:` lines.

use std::borrow::Cow;
use std::collections::HashMap;

use globset::{Candidate, GlobBuilder, GlobSet, GlobSetBuilder};

use super::{
    parent_dir, push_path_tokens, push_tokens, Area, Interner, OwnershipError, PerlRegex, Scratch,
};

#[derive(Debug)]
pub(super) struct Maintainers {
    /// Owner ids of each section (areas and sections share indices only by
    /// accident; sections without patterns are dropped before this).
    section_owners: Vec<Vec<u32>>,
    /// `F:` patterns; item → (section, specificity).
    files: PatternSet,
    file_items: Vec<(u32, u32)>,
    /// `X:` patterns; item → section.
    exclusions: PatternSet,
    exclusion_items: Vec<u32>,
    /// `N:` regexes and their sections.
    regexes: Vec<(u32, PerlRegex)>,
    /// `*literal*` for each regex with a required literal, so that one pass
    /// over a path finds the few regexes worth running (U-Boot has 56).
    regex_prefilter: GlobSet,
    /// Glob of `regex_prefilter` → index into `regexes`.
    prefilter_regex: Vec<u32>,
    /// Regexes without a required literal: always run.
    unfiltered_regexes: Vec<u32>,
}

/// A section while parsing.
struct RawSection<'a> {
    titles: Vec<&'a str>,
    emails: Vec<&'a str>,
    files: Vec<&'a str>,
    exclusions: Vec<&'a str>,
    regexes: Vec<(&'a str, PerlRegex)>,
    has_tags: bool,
}

impl<'a> RawSection<'a> {
    fn titled(title: &'a str) -> Self {
        RawSection {
            titles: vec![title],
            emails: Vec::new(),
            files: Vec::new(),
            exclusions: Vec::new(),
            regexes: Vec::new(),
            has_tags: false,
        }
    }
}

impl Maintainers {
    pub(super) fn parse(
        files: &[(&str, Cow<'_, str>)],
        names: &mut Interner,
    ) -> Result<(Maintainers, Vec<Area>), OwnershipError> {
        let mut sections: Vec<RawSection<'_>> = Vec::new();
        for (file, text) in files {
            parse_file(file, text, &mut sections)?;
        }

        let mut section_owners = Vec::new();
        let mut areas = Vec::new();
        let mut files_builder = PatternSetBuilder::new();
        let mut file_items = Vec::new();
        let mut exclusions_builder = PatternSetBuilder::new();
        let mut exclusion_items = Vec::new();
        let mut regexes = Vec::new();
        for raw in sections {
            if raw.files.is_empty() && raw.regexes.is_empty() {
                continue;
            }
            let section = u32::try_from(section_owners.len()).expect("fewer than 2^32 sections");
            let mut owners = Vec::new();
            for name in raw.titles.iter().chain(&raw.emails) {
                let id = names.intern(name);
                if !owners.contains(&id) {
                    owners.push(id);
                }
            }
            let mut tokens = Vec::new();
            for title in &raw.titles {
                push_tokens(&mut tokens, title);
            }
            for pattern in &raw.files {
                push_path_tokens(&mut tokens, pattern);
                files_builder.add(pattern, file_items.len() as u32);
                file_items.push((section, specificity(pattern)));
            }
            for pattern in &raw.exclusions {
                exclusions_builder.add(pattern, exclusion_items.len() as u32);
                exclusion_items.push(section);
            }
            for (pattern, regex) in raw.regexes {
                push_tokens(&mut tokens, pattern);
                regexes.push((section, regex));
            }
            areas.push(Area {
                name: raw.titles[0].to_owned(),
                owners: owners.iter().map(|&id| names.name(id).to_owned()).collect(),
                tokens,
            });
            section_owners.push(owners);
        }
        let mut prefilter = GlobSetBuilder::new();
        let mut prefilter_regex = Vec::new();
        let mut unfiltered_regexes = Vec::new();
        for (index, (_, regex)) in regexes.iter().enumerate() {
            let literal = regex.required_literal();
            let glob = (!literal.is_empty())
                .then(|| GlobBuilder::new(&format!("*{}*", globset::escape(&literal))).build())
                .and_then(Result::ok);
            match glob {
                Some(glob) => {
                    prefilter.add(glob);
                    prefilter_regex.push(index as u32);
                }
                None => unfiltered_regexes.push(index as u32),
            }
        }
        let first_file = files.first().map_or("MAINTAINERS", |f| f.0);
        let build_error = |e: globset::Error| {
            OwnershipError::new(first_file, 0, format!("cannot compile patterns: {e}"))
        };
        Ok((
            Maintainers {
                section_owners,
                files: files_builder.build().map_err(build_error)?,
                file_items,
                exclusions: exclusions_builder.build().map_err(build_error)?,
                exclusion_items,
                regexes,
                regex_prefilter: prefilter.build().map_err(build_error)?,
                prefilter_regex,
                unfiltered_regexes,
            },
            areas,
        ))
    }

    pub(super) fn owners_of(&self, path: &str, scratch: &mut Scratch) {
        let mut hits = std::mem::take(&mut scratch.hits);
        hits.clear();
        self.files
            .matches_into(path, &mut scratch.globs, &mut scratch.globs2);
        hits.extend(scratch.globs2.iter().map(|&item| self.file_items[item]));
        if !self.regexes.is_empty() {
            let candidate = Candidate::from_bytes(path.as_bytes());
            self.regex_prefilter
                .matches_candidate_into(&candidate, &mut scratch.globs);
            let filtered = scratch.globs.iter().map(|&g| self.prefilter_regex[g]);
            for index in filtered.chain(self.unfiltered_regexes.iter().copied()) {
                let (section, regex) = &self.regexes[index as usize];
                if !hits.iter().any(|h| h.0 == *section) && regex.is_match(path) {
                    hits.push((*section, 0));
                }
            }
        }
        if !hits.is_empty() && !self.exclusion_items.is_empty() {
            self.exclusions
                .matches_into(path, &mut scratch.globs, &mut scratch.globs2);
            let excluded = &scratch.globs2;
            hits.retain(|h| {
                !excluded
                    .iter()
                    .any(|&item| self.exclusion_items[item] == h.0)
            });
        }
        // One entry per section at its most specific pattern, most specific
        // first, then file order: get_maintainer.pl's ranking.
        hits.sort_unstable_by(|a, b| a.0.cmp(&b.0).then(b.1.cmp(&a.1)));
        hits.dedup_by_key(|h| h.0);
        hits.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
        for &(section, _) in &hits {
            scratch.extend(&self.section_owners[section as usize]);
        }
        scratch.hits = hits;
    }
}

fn parse_file<'a>(
    file: &'a str,
    text: &'a str,
    sections: &mut Vec<RawSection<'a>>,
) -> Result<(), OwnershipError> {
    // The section tags of this file go to; none before the first title.
    let mut current: Option<usize> = None;
    // Whether the previous line was a title (so this one may be an alias).
    let mut after_title = false;
    for (index, line) in text.lines().enumerate() {
        let line_no = index + 1;
        let trimmed = line.trim();
        if trimmed.is_empty() {
            after_title = false;
            continue;
        }
        if trimmed.starts_with('#') {
            continue;
        }
        let Some((tag, value)) = tag_of(line) else {
            if trimmed
                .chars()
                .all(|c| matches!(c, '-' | '=' | '_' | '*' | '~') || c.is_whitespace())
            {
                // An underline or a rule: decoration, and the end of a title.
                after_title = false;
                continue;
            }
            match current {
                Some(cur) if after_title && !sections[cur].has_tags => {
                    sections[cur].titles.push(trimmed)
                }
                _ => {
                    sections.push(RawSection::titled(trimmed));
                    current = Some(sections.len() - 1);
                }
            }
            after_title = true;
            continue;
        };
        after_title = false;
        let cur = match current {
            Some(cur) => cur,
            // A per-directory file that starts with its tags gets a section
            // named after its directory: U-Boot had one such file in 2015
            // (board/st/stm32f429-discovery/MAINTAINERS), and the root file
            // names the area it covers anyway.
            None if file.contains('/') => {
                sections.push(RawSection::titled(parent_dir(file)));
                current = Some(sections.len() - 1);
                sections.len() - 1
            }
            None if matches!(tag, 'F' | 'X' | 'N') => {
                return Err(OwnershipError::new(
                    file,
                    line_no,
                    format!("{tag}: line outside any section"),
                ));
            }
            // Other tags before the first title (a legend written at column
            // 0, say) own nothing and are ignored.
            None => continue,
        };
        let section = &mut sections[cur];
        section.has_tags = true;
        match tag {
            'M' | 'R' => {
                if let Some(email) = email_of(value) {
                    if !section.emails.contains(&email) {
                        section.emails.push(email);
                    }
                }
            }
            // The first word: a pattern never holds whitespace, and a note
            // after it must not become part of it.
            'F' | 'X' => {
                if let Some(pattern) = value.split_whitespace().next() {
                    if tag == 'F' {
                        section.files.push(pattern);
                    } else {
                        section.exclusions.push(pattern);
                    }
                }
            }
            'N' if !value.is_empty() => {
                let regex = PerlRegex::new(value).map_err(|e| {
                    OwnershipError::new(file, line_no, format!("invalid N: regex: {e}"))
                })?;
                section.regexes.push((value, regex));
            }
            _ => {}
        }
    }
    Ok(())
}

/// `X:` followed by the value, for a line that starts with a tag at column 0.
fn tag_of(line: &str) -> Option<(char, &str)> {
    let bytes = line.as_bytes();
    if bytes.len() >= 2 && bytes[0].is_ascii_uppercase() && bytes[1] == b':' {
        Some((bytes[0] as char, line[2..].trim()))
    } else {
        None
    }
}

/// The address in "Full Name <address>" or a bare address; `None` for
/// "Orphan" and the like.
fn email_of(value: &str) -> Option<&str> {
    if let Some(start) = value.find('<') {
        if let Some(len) = value[start..].find('>') {
            let inner = value[start + 1..start + len].trim();
            if inner.contains('@') {
                return Some(inner);
            }
        }
    }
    value
        .split_whitespace()
        .find(|w| w.contains('@'))
        .map(|w| w.trim_matches(|c: char| matches!(c, '<' | '>' | '(' | ')' | '"' | ',' | ';')))
        .filter(|w| w.len() > 2)
}

/// How specific an `F:` pattern is, as get_maintainer.pl ranks sections:
/// its depth in directories, one more for a file pattern, least for a
/// pattern that starts with a wildcard.
fn specificity(pattern: &str) -> u32 {
    if pattern.starts_with('*') {
        return 0;
    }
    let slashes = pattern.matches('/').count() as u32;
    slashes + u32::from(!pattern.ends_with('/'))
}

/// F:/X: patterns compiled for fast matching.
///
/// Most patterns need no glob engine. U-Boot's MAINTAINERS files hold
/// about 4,600 of them, 318 with wildcards, and all but 56 of those only end
/// in `*` (`F: arch/arm/dts/rk3528-generic*`), which adds nothing to the
/// prefix match a file pattern already is. So a pattern is, by shape:
///
/// - `dir/` → everything below `dir` (a hash lookup per ancestor);
/// - `dir/name` or `dir/name*` → names in `dir` starting with `name`
///   (a [`PrefixTable`]), and for `dir/name` also everything below it;
/// - `dir/name*/` → everything below a directory of `dir` whose name
///   starts with `name`;
/// - anything else → a glob in a `GlobSet`.
#[derive(Debug)]
struct PatternSet {
    /// Items owning everything below a directory (key: the directory).
    dirs: HashMap<Box<str>, Vec<u32>>,
    /// Items owning everything below the directories of a parent whose
    /// names start with a prefix.
    dir_prefixes: PrefixTable,
    /// Items owning the files of a directory whose names start with a
    /// prefix.
    prefixes: PrefixTable,
    globs: GlobSet,
    glob_items: Vec<u32>,
}

struct PatternSetBuilder {
    dirs: HashMap<Box<str>, Vec<u32>>,
    dir_prefixes: PrefixTable,
    prefixes: PrefixTable,
    globs: GlobSetBuilder,
    glob_items: Vec<u32>,
    /// The first glob that failed to compile; reported by `build`.
    error: Option<globset::Error>,
}

impl PatternSetBuilder {
    fn new() -> Self {
        PatternSetBuilder {
            dirs: HashMap::new(),
            dir_prefixes: PrefixTable::default(),
            prefixes: PrefixTable::default(),
            globs: GlobSetBuilder::new(),
            glob_items: Vec::new(),
            error: None,
        }
    }

    fn add(&mut self, raw: &str, item: u32) {
        let pattern = raw.trim_start_matches("./").trim_start_matches('/');
        if pattern.is_empty() {
            return;
        }
        let is_dir = pattern.ends_with('/');
        let body = pattern.trim_end_matches('/');
        let literal = body.trim_end_matches('*');
        let had_star = literal.len() < body.len();
        if !literal.contains(['*', '?']) {
            let (parent, name) = literal.rsplit_once('/').unwrap_or(("", literal));
            match (is_dir, had_star) {
                (true, false) => self.dirs.entry(literal.into()).or_default().push(item),
                (true, true) => self.dir_prefixes.add(parent, name, item),
                (false, _) => {
                    self.prefixes.add(parent, name, item);
                    // It may name a directory, which get_maintainer.pl
                    // would check on disk: cover what is below it too.
                    if !had_star {
                        self.dirs.entry(literal.into()).or_default().push(item);
                    }
                }
            }
            return;
        }
        // Translate to a glob: `*` and `?` keep their meaning, other glob
        // syntax is escaped, and runs of `*` collapse (`**` means something
        // else to globset).
        let mut glob = String::new();
        for c in pattern.chars() {
            if c == '*' && glob.ends_with('*') {
                continue;
            }
            if matches!(c, '[' | ']' | '{' | '}' | '\\') {
                glob.push('\\');
            }
            glob.push(c);
        }
        // A directory pattern is a prefix of anything below it (`*` may
        // cross `/`); otherwise a prefix within the last component.
        if !glob.ends_with('*') {
            glob.push('*');
        }
        match GlobBuilder::new(&glob)
            .literal_separator(!is_dir)
            .backslash_escape(true)
            .build()
        {
            Ok(compiled) => {
                self.globs.add(compiled);
                self.glob_items.push(item);
            }
            Err(e) => {
                self.error.get_or_insert(e);
            }
        }
    }

    fn build(mut self) -> Result<PatternSet, globset::Error> {
        if let Some(e) = self.error {
            return Err(e);
        }
        self.dir_prefixes.finish();
        self.prefixes.finish();
        Ok(PatternSet {
            dirs: self.dirs,
            dir_prefixes: self.dir_prefixes,
            prefixes: self.prefixes,
            globs: self.globs.build()?,
            glob_items: self.glob_items,
        })
    }
}

impl PatternSet {
    /// The items matching `path`, into `out` (cleared first); `globs` is
    /// scratch space.
    fn matches_into(&self, path: &str, globs: &mut Vec<usize>, out: &mut Vec<usize>) {
        out.clear();
        for (i, _) in path.match_indices('/') {
            let ancestor = &path[..i];
            if let Some(items) = self.dirs.get(ancestor) {
                out.extend(items.iter().map(|&item| item as usize));
            }
            if !self.dir_prefixes.is_empty() {
                let (parent, name) = ancestor.rsplit_once('/').unwrap_or(("", ancestor));
                self.dir_prefixes.matches_into(parent, name, out);
            }
        }
        let (parent, name) = path.rsplit_once('/').unwrap_or(("", path));
        self.prefixes.matches_into(parent, name, out);
        if !self.glob_items.is_empty() {
            self.globs
                .matches_candidate_into(&Candidate::from_bytes(path.as_bytes()), globs);
            out.extend(globs.iter().map(|&g| self.glob_items[g] as usize));
        }
    }
}

/// Items keyed by a directory and a name prefix: which entries of a
/// directory start with which strings.
#[derive(Debug, Default)]
struct PrefixTable {
    /// Directory → its prefixes.
    by_dir: HashMap<Box<str>, PrefixList>,
}

/// (prefix, item) pairs, sorted once built.
type PrefixList = Vec<(Box<[u8]>, u32)>;

impl PrefixTable {
    fn add(&mut self, dir: &str, prefix: &str, item: u32) {
        self.by_dir
            .entry(dir.into())
            .or_default()
            .push((prefix.as_bytes().into(), item));
    }

    fn finish(&mut self) {
        for list in self.by_dir.values_mut() {
            list.sort();
        }
    }

    fn is_empty(&self) -> bool {
        self.by_dir.is_empty()
    }

    /// Pushes the items of `dir` whose prefix starts `name`.
    ///
    /// Rather than a lookup per prefix length, this looks for the greatest
    /// entry not above the key: if it is a prefix of the key, it matches and
    /// the search goes on below its length; if not, no prefix of the key
    /// can be longer than what the two have in common. A few binary
    /// searches even in U-Boot's `configs/` with its 1,500 entries.
    fn matches_into(&self, dir: &str, name: &str, out: &mut Vec<usize>) {
        let Some(list) = self.by_dir.get(dir) else {
            return;
        };
        let name = name.as_bytes();
        let mut limit = name.len();
        loop {
            let key = &name[..limit];
            let end = list.partition_point(|(p, _)| &**p <= key);
            let Some((candidate, _)) = end.checked_sub(1).map(|i| &list[i]) else {
                return;
            };
            let common = candidate
                .iter()
                .zip(key)
                .take_while(|(a, b)| a == b)
                .count();
            if common < candidate.len() {
                limit = common;
                continue;
            }
            for (p, item) in list[..end].iter().rev() {
                if p != candidate {
                    break;
                }
                out.push(*item as usize);
            }
            match candidate.len().checked_sub(1) {
                Some(shorter) => limit = shorter,
                None => return,
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(
        files: &[(&str, &str)],
    ) -> Result<(Maintainers, Vec<Area>, Vec<String>), OwnershipError> {
        let mut names = Interner::default();
        let files: Vec<(&str, Cow<'_, str>)> =
            files.iter().map(|(p, t)| (*p, Cow::Borrowed(*t))).collect();
        let (m, areas) = Maintainers::parse(&files, &mut names)?;
        Ok((m, areas, names.names))
    }

    fn owners(m: &Maintainers, names: &[String], path: &str) -> Vec<String> {
        let mut scratch = Scratch::default();
        m.owners_of(path, &mut scratch);
        scratch
            .ids
            .iter()
            .map(|&i| names[i as usize].clone())
            .collect()
    }

    const HEADER: &str = "\
Project Maintainers
===================

Descriptions of section entries:

\tM: Mail patches to: FullName <address@domain>
\tF: Files and directories with wildcard patterns.
\t   A trailing slash includes all files and subdirectory files.
\t   F:\tdrivers/net/\tall files in and below drivers/net
\tX: Files and directories exclusion, same rules as F:

General Project Administration
------------------------------

Main Branch
M: Thomas Monjalon <thomas@monjalon.net>
T: git://dpdk.org/dpdk

";

    #[test]
    fn header_and_legend_make_no_areas() {
        let (m, areas, names) = parse(&[("MAINTAINERS", HEADER)]).unwrap();
        assert!(areas.is_empty(), "{areas:?}");
        assert!(owners(&m, &names, "drivers/net/x.c").is_empty());
    }

    #[test]
    fn f_x_n_and_overlapping_sections() {
        let text = format!(
            "{HEADER}\
Networking
M:\tAlice <alice@example.com>
R:\tBob <bob@example.com>
S:\tMaintained
F:\tdrivers/net/
X:\tdrivers/net/wireless/
K:\tnet_device

Mellanox mlx5
M: Carol <carol@example.com>
F: drivers/net/mlx5/
F: doc/guides/nics/mlx5.rst

Direct children only
M: dave@example.com
F: lib/*

Tegra
M: Eve <eve@example.com>
N: [^a-z]tegra

THE REST
M:\tTom <trini@example.com>
F:\t*
F:\t*/
"
        );
        let (m, areas, names) = parse(&[("MAINTAINERS", &text)]).unwrap();
        assert_eq!(areas.len(), 5);
        assert_eq!(areas[0].name, "Networking");
        assert_eq!(
            areas[0].owners,
            ["Networking", "alice@example.com", "bob@example.com"]
        );
        assert_eq!(
            areas[1].tokens,
            ["mellanox", "mlx5", "drivers", "net", "doc", "guides", "nics"]
        );

        // The most specific section first, THE REST last.
        assert_eq!(
            owners(&m, &names, "drivers/net/mlx5/mlx5_rxtx.c"),
            [
                "Mellanox mlx5",
                "carol@example.com",
                "Networking",
                "alice@example.com",
                "bob@example.com",
                "THE REST",
                "trini@example.com"
            ]
        );
        assert_eq!(
            owners(&m, &names, "drivers/net/wireless/x.c"),
            ["THE REST", "trini@example.com"]
        );
        assert_eq!(
            owners(&m, &names, "lib/a.c")[..2],
            ["Direct children only", "dave@example.com"]
        );
        assert_eq!(
            owners(&m, &names, "lib/sub/a.c"),
            ["THE REST", "trini@example.com"]
        );
        assert_eq!(owners(&m, &names, "drivers/gpu/tegra/x.c")[0], "Tegra");
        assert!(!owners(&m, &names, "drivers/gpu/xtegra.c").contains(&"Tegra".to_owned()));
        assert_eq!(
            owners(&m, &names, "README"),
            ["THE REST", "trini@example.com"]
        );
    }

    #[test]
    fn pattern_semantics_follow_get_maintainer() {
        let text = "\
Readme
M: a@x.org
F: README

Board
M: b@x.org
F: board/acme/widget

Dts
M: c@x.org
F: arch/arm/dts/rk3528-generic*

Any net
M: d@x.org
F: */net/*

Tegra dirs
M: e@x.org
F: arch/asm/arch-tegra*/

Odd
M: f@x.org
F: drivers/*/pm8???-*
";
        let (m, _, names) = parse(&[("MAINTAINERS", text)]).unwrap();
        let first = |p: &str| owners(&m, &names, p).first().cloned().unwrap_or_default();
        // A pattern is a prefix within its last component.
        assert_eq!(first("README.md"), "Readme");
        assert_eq!(first("docs/README"), "");
        // A wildcard-free pattern that names a directory covers it.
        assert_eq!(first("board/acme/widget/widget.c"), "Board");
        assert_eq!(first("board/acme/widget/sub/x.c"), "Board");
        assert_eq!(first("board/acme/widgets.c"), "Board");
        assert_eq!(first("arch/arm/dts/rk3528-generic-x.dts"), "Dts");
        assert_eq!(first("arch/arm/dts/rk3528-radxa.dts"), "");
        assert_eq!(first("drivers/net/x.c"), "Any net");
        assert_eq!(first("drivers/x/net/x.c"), "");
        assert_eq!(first("arch/asm/arch-tegra30/x/y.h"), "Tegra dirs");
        assert_eq!(first("arch/asm/arch-tegra.h"), "");
        assert_eq!(first("drivers/power/pm8916-x.c"), "Odd");
        assert_eq!(first("drivers/power/pm89-x.c"), "");
    }

    #[test]
    fn prefix_table_finds_every_prefix() {
        let entries = ["", "a", "ab", "abc-x", "abd", "b", "abd.c", "abd.cc", "ab"];
        let mut table = PrefixTable::default();
        for (i, e) in entries.iter().enumerate() {
            table.add("d", e, i as u32);
        }
        table.finish();
        for name in [
            "abd.c", "ab", "a", "", "zzz", "abc", "abd.cx", "abc-xyz", "b",
        ] {
            let mut found = Vec::new();
            table.matches_into("d", name, &mut found);
            found.sort_unstable();
            let expected: Vec<usize> = entries
                .iter()
                .enumerate()
                .filter(|(_, e)| name.starts_with(**e))
                .map(|(i, _)| i)
                .collect();
            assert_eq!(found, expected, "{name}");
        }
        let mut found = Vec::new();
        table.matches_into("elsewhere", "abd", &mut found);
        assert!(found.is_empty());
    }

    #[test]
    fn u_boot_layouts_and_per_directory_files() {
        let root = "\
Maintainers List (try to look for most precise areas first)

\t\t-----------------------------------
ACPI:
M:\tSimon Glass <sjg@chromium.org>
S:\tMaintained
F:\tlib/acpi/

ONENAND
#M:\tLukasz Majewski <l.majewski@majess.pl>
S:\tOrphaned (Since 2017-01)
F:\tdrivers/mtd/onenand/
";
        let beacon = "\
i.MX8MM Beacon EmbeddedWorks Devkit

M:\tAdam Ford <aford173@gmail.com>
F:\tboard/beacon/imx8mm/
";
        let nanopi = "NANOPI2 BOARD\nNANOPC-T2 BOARD\nM:  Stefan <stefan@x.net>\nF:  board/s5p4418/nanopi2/\n";
        let (m, areas, names) = parse(&[
            ("MAINTAINERS", root),
            ("board/beacon/imx8mm/MAINTAINERS", beacon),
            ("board/friendlyarm/nanopi2/MAINTAINERS", nanopi),
        ])
        .unwrap();
        let titles: Vec<&str> = areas.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(
            titles,
            [
                "ACPI:",
                "ONENAND",
                "i.MX8MM Beacon EmbeddedWorks Devkit",
                "NANOPI2 BOARD"
            ]
        );
        assert_eq!(
            owners(&m, &names, "lib/acpi/x.c"),
            ["ACPI:", "sjg@chromium.org"]
        );
        assert_eq!(owners(&m, &names, "drivers/mtd/onenand/x.c"), ["ONENAND"]);
        assert_eq!(
            owners(&m, &names, "board/beacon/imx8mm/spl.c"),
            ["i.MX8MM Beacon EmbeddedWorks Devkit", "aford173@gmail.com"]
        );
        assert_eq!(
            owners(&m, &names, "board/s5p4418/nanopi2/x.c"),
            ["NANOPI2 BOARD", "NANOPC-T2 BOARD", "stefan@x.net"]
        );
    }

    #[test]
    fn malformed_files_are_errors() {
        let err = parse(&[("MAINTAINERS", "F: drivers/\n\nA\nF: x/\n")])
            .err()
            .unwrap();
        assert_eq!(
            err.to_string(),
            "MAINTAINERS:1: F: line outside any section"
        );
        let err = parse(&[("board/x/MAINTAINERS", "X BOARD\nM: a@b.c\nN: tegra(\n")])
            .err()
            .unwrap();
        assert_eq!(err.line, 3);
        assert!(
            err.to_string()
                .starts_with("board/x/MAINTAINERS:3: invalid N: regex"),
            "{err}"
        );
    }

    #[test]
    fn untitled_per_directory_file_is_named_after_its_directory() {
        let board = "M:\tKamil <rev13@wp.pl>\nF:\tboard/st/stm32f429-discovery/\n";
        let (m, areas, names) = parse(&[
            ("MAINTAINERS", "A\nF: a/\n"),
            ("board/st/stm32f429-discovery/MAINTAINERS", board),
        ])
        .unwrap();
        assert_eq!(areas[1].name, "board/st/stm32f429-discovery");
        assert_eq!(
            owners(&m, &names, "board/st/stm32f429-discovery/board.c"),
            ["board/st/stm32f429-discovery", "rev13@wp.pl"]
        );
    }
}
