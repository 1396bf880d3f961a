//! Chromium (Gerrit find-owners) and Kubernetes (Prow) OWNERS files: one
//! file per directory, owning that directory and everything below it.
//!
//! The owners of a path are gathered walking up from its directory: every
//! OWNERS file on the way adds its owners, until one says `set noparent`
//! (Chromium) or `options: no_parent_owners: true` (Kubernetes). So the
//! nearest file comes first and its parents follow.
//!
//! Chromium syntax, as in Chromium and ANGLE: one e-mail or user name per
//! line; `*` (anyone, kept as the owner `*`); `set noparent`;
//! `per-file GLOB[,GLOB]=owner[,owner]`, `=file://path` or `=set noparent`;
//! `file://path/OWNERS` (the global owners of another file) and `include
//! path` (all of another file, per-file rules and `set noparent` too, as
//! Gerrit's code-owners plugin does); `#` comments, also at a line's end.
//! `//path` and `/path` are from the root, other paths from the file's
//! directory. Includes are resolved recursively, a cycle ends the
//! recursion, and a target outside this tree (ANGLE's OWNERS include
//! Chromium's `file://build/android/OWNERS`) contributes nothing.
//!
//! `per-file` globs are matched against the path relative to the OWNERS
//! file's directory, and `*` crosses `/` as in Python's fnmatch, which
//! depot_tools used; ANGLE's root OWNERS relies on paths in them
//! (`per-file third_party/zlib=*`). A matching per-file rule adds its owners
//! to the file's; with `set noparent` it replaces them and ends the walk.
//!
//! Kubernetes files are YAML: `approvers` and `reviewers` are owners,
//! `filters` maps a regex (matched against the relative path, see
//! [`super::PerlRegex`]) to more of them, and the root `OWNERS_ALIASES` names
//! groups, which stand for themselves and for their members.

use std::borrow::Cow;
use std::collections::HashMap;

use globset::{Candidate, GlobBuilder, GlobSet, GlobSetBuilder};

use super::{
    file_name, parent_dir, push_tokens, Area, Interner, OwnershipError, PerlRegex, Scratch,
};

#[derive(Debug)]
pub(super) struct OwnersTree {
    /// Directory ("" for the root) → its OWNERS file in `files`.
    dirs: HashMap<Box<str>, u32>,
    files: Vec<DirOwners>,
}

#[derive(Debug)]
struct DirOwners {
    /// Owners for every path below, includes resolved.
    owners: Vec<u32>,
    noparent: bool,
    rules: Vec<Rule>,
    /// Per-file globs; glob → index into `rules`.
    globs: GlobSet,
    glob_rule: Vec<u32>,
    /// Kubernetes filters: regex → index into `rules`.
    regexes: Vec<(PerlRegex, u32)>,
}

#[derive(Debug, Clone)]
struct Rule {
    owners: Vec<u32>,
    noparent: bool,
}

/// How a per-file rule picks its paths.
#[derive(Debug, Clone)]
enum Selector {
    Glob(String),
    Regex(PerlRegex),
}

/// A per-file rule as written, owners not yet resolved.
#[derive(Debug, Clone)]
struct RawRule {
    selectors: Vec<Selector>,
    owners: Vec<String>,
    file_includes: Vec<String>,
    noparent: bool,
}

/// An OWNERS file as written.
#[derive(Debug, Default)]
struct RawFile {
    owners: Vec<String>,
    noparent: bool,
    /// `file://` targets: their global owners only.
    file_includes: Vec<String>,
    /// `include` targets: everything.
    includes: Vec<String>,
    rules: Vec<RawRule>,
}

/// A file with its includes followed.
#[derive(Debug, Clone, Default)]
struct Resolved {
    owners: Vec<u32>,
    noparent: bool,
    rules: Vec<(Vec<Selector>, Rule)>,
}

impl OwnersTree {
    pub(super) fn parse(
        files: &[(&str, Cow<'_, str>)],
        names: &mut Interner,
    ) -> Result<(OwnersTree, Vec<Area>), OwnershipError> {
        let aliases = match files.iter().find(|(p, _)| *p == "OWNERS_ALIASES") {
            Some((path, text)) => parse_aliases(path, text)?,
            None => HashMap::new(),
        };
        let mut raw = HashMap::new();
        for (path, text) in files {
            if *path == "OWNERS_ALIASES" {
                continue;
            }
            raw.insert(*path, parse_file(path, text, &aliases)?);
        }
        let mut resolver = Resolver {
            raw: &raw,
            memo: HashMap::new(),
            stack: Vec::new(),
        };

        let mut directory_files: Vec<&str> = files
            .iter()
            .map(|(p, _)| *p)
            .filter(|p| file_name(p) == "OWNERS")
            .collect();
        directory_files.sort_unstable();
        directory_files.dedup();
        let mut dirs = HashMap::new();
        let mut out = Vec::new();
        let mut areas = Vec::new();
        for path in directory_files {
            let resolved = resolver.resolve(path, names);
            let mut globs = GlobSetBuilder::new();
            let mut glob_rule = Vec::new();
            let mut regexes = Vec::new();
            let mut rules = Vec::new();
            for (selectors, rule) in resolved.rules {
                let index = rules.len() as u32;
                for selector in selectors {
                    match selector {
                        Selector::Glob(glob) => {
                            // Checked when the line was parsed.
                            globs.add(per_file_glob(&glob).expect("a valid per-file glob"));
                            glob_rule.push(index);
                        }
                        Selector::Regex(regex) => regexes.push((regex, index)),
                    }
                }
                rules.push(rule);
            }
            let globs = globs.build().map_err(|e| {
                OwnershipError::new(path, 0, format!("cannot compile per-file patterns: {e}"))
            })?;
            let dir = parent_dir(path);
            if !resolved.owners.is_empty() {
                let mut tokens = Vec::new();
                push_tokens(&mut tokens, dir);
                areas.push(Area {
                    name: if dir.is_empty() {
                        "/".to_owned()
                    } else {
                        dir.to_owned()
                    },
                    owners: resolved
                        .owners
                        .iter()
                        .map(|&id| names.name(id).to_owned())
                        .collect(),
                    tokens,
                });
            }
            dirs.insert(dir.into(), out.len() as u32);
            out.push(DirOwners {
                owners: resolved.owners,
                noparent: resolved.noparent,
                rules,
                globs,
                glob_rule,
                regexes,
            });
        }
        Ok((OwnersTree { dirs, files: out }, areas))
    }

    pub(super) fn owners_of(&self, path: &str, scratch: &mut Scratch) {
        self.owners_up_to(path, scratch, false);
    }

    /// The owners from the nearest OWNERS file that names any for `path`
    /// (its per-file rules and its owners), without its parents'.
    pub(super) fn nearest_owners_of(&self, path: &str, scratch: &mut Scratch) {
        self.owners_up_to(path, scratch, true);
    }

    fn owners_up_to(&self, path: &str, scratch: &mut Scratch, nearest: bool) {
        let mut hits = std::mem::take(&mut scratch.hits);
        let mut dir = parent_dir(path);
        loop {
            if let Some(&index) = self.dirs.get(dir) {
                let file = &self.files[index as usize];
                let relative = if dir.is_empty() {
                    path
                } else {
                    &path[dir.len() + 1..]
                };
                let mut rules_noparent = false;
                if !file.rules.is_empty() {
                    hits.clear();
                    file.globs.matches_candidate_into(
                        &Candidate::from_bytes(relative.as_bytes()),
                        &mut scratch.globs,
                    );
                    hits.extend(scratch.globs.iter().map(|&g| (file.glob_rule[g], 0)));
                    hits.extend(
                        file.regexes
                            .iter()
                            .filter(|(re, _)| re.is_match(relative))
                            .map(|&(_, r)| (r, 0)),
                    );
                    hits.sort_unstable();
                    hits.dedup();
                    for &(rule, _) in &hits {
                        let rule = &file.rules[rule as usize];
                        scratch.extend(&rule.owners);
                        rules_noparent |= rule.noparent;
                    }
                }
                if rules_noparent {
                    break;
                }
                scratch.extend(&file.owners);
                if file.noparent || (nearest && !scratch.ids.is_empty()) {
                    break;
                }
            }
            if dir.is_empty() {
                break;
            }
            dir = parent_dir(dir);
        }
        scratch.hits = hits;
    }
}

/// Follows `file://` and `include` lines, memoised, with a guard against
/// cycles: a file already being resolved contributes nothing the second
/// time round. A result cut short that way (it lacks the owners of a file
/// further up the stack) is not memoised, so that the answer for a file
/// does not depend on which file was resolved first.
struct Resolver<'a> {
    raw: &'a HashMap<&'a str, RawFile>,
    memo: HashMap<String, Resolved>,
    /// The files being resolved, outermost first.
    stack: Vec<String>,
}

impl Resolver<'_> {
    fn resolve(&mut self, path: &str, names: &mut Interner) -> Resolved {
        self.resolve_at(path, names).0
    }

    /// The resolved file and the lowest stack depth a cycle reached from it
    /// (`usize::MAX` for none).
    fn resolve_at(&mut self, path: &str, names: &mut Interner) -> (Resolved, usize) {
        if let Some(done) = self.memo.get(path) {
            return (done.clone(), usize::MAX);
        }
        if let Some(depth) = self.stack.iter().position(|p| p == path) {
            return (Resolved::default(), depth);
        }
        let raw_files = self.raw;
        let Some(raw) = raw_files.get(path) else {
            return (Resolved::default(), usize::MAX);
        };
        let depth = self.stack.len();
        self.stack.push(path.to_owned());
        let mut low = usize::MAX;
        let mut resolved = Resolved {
            owners: Vec::new(),
            noparent: raw.noparent,
            rules: Vec::new(),
        };
        for owner in &raw.owners {
            push_unique(&mut resolved.owners, &[names.intern(owner)]);
        }
        for target in &raw.file_includes {
            let (included, reached) = self.resolve_at(target, names);
            low = low.min(reached);
            push_unique(&mut resolved.owners, &included.owners);
        }
        for target in &raw.includes {
            let (included, reached) = self.resolve_at(target, names);
            low = low.min(reached);
            push_unique(&mut resolved.owners, &included.owners);
            resolved.noparent |= included.noparent;
            resolved.rules.extend(included.rules);
        }
        for rule in &raw.rules {
            let mut owners = Vec::new();
            for owner in &rule.owners {
                push_unique(&mut owners, &[names.intern(owner)]);
            }
            for target in &rule.file_includes {
                let (included, reached) = self.resolve_at(target, names);
                low = low.min(reached);
                push_unique(&mut owners, &included.owners);
            }
            resolved.rules.push((
                rule.selectors.clone(),
                Rule {
                    owners,
                    noparent: rule.noparent,
                },
            ));
        }
        self.stack.pop();
        if low >= depth {
            self.memo.insert(path.to_owned(), resolved.clone());
            low = usize::MAX;
        }
        (resolved, low)
    }
}

fn push_unique(list: &mut Vec<u32>, ids: &[u32]) {
    for &id in ids {
        if !list.contains(&id) {
            list.push(id);
        }
    }
}

fn per_file_glob(pattern: &str) -> Result<globset::Glob, globset::Error> {
    GlobBuilder::new(pattern)
        .literal_separator(false)
        .backslash_escape(true)
        .build()
}

/// The files that `file://`, `file:` and `include` lines of `text` (the
/// file at `path`) name, as paths in the tree; for reading them before
/// parsing.
pub(super) fn include_targets(path: &str, text: &str) -> Vec<String> {
    let dir = parent_dir(path);
    let mut targets = Vec::new();
    for line in text.lines() {
        let line = strip_comment(line);
        let value = match line.strip_prefix("per-file") {
            Some(rest) => rest.split_once('=').map_or("", |(_, v)| v.trim()),
            None => line,
        };
        let target = if let Some(rest) = value.strip_prefix("file:") {
            rest
        } else if let Some(rest) = include_directive(value) {
            rest
        } else {
            continue;
        };
        if let Some(resolved) = resolve_path(dir, target) {
            targets.push(resolved);
        }
    }
    targets
}

fn strip_comment(line: &str) -> &str {
    line.find('#').map_or(line, |i| &line[..i]).trim()
}

/// The target of an `include PATH` line.
fn include_directive(line: &str) -> Option<&str> {
    let rest = line.strip_prefix("include")?;
    rest.starts_with(char::is_whitespace).then(|| rest.trim())
}

/// The tree path an include names: `//x` and `/x` from the root, others
/// from `dir`. `None` for another repository's file (`repo:path`) or a path
/// that leaves the tree.
fn resolve_path(dir: &str, target: &str) -> Option<String> {
    let target = target.trim();
    if target.is_empty() || target.contains(':') {
        return None;
    }
    let (base, rest) = match target
        .strip_prefix("//")
        .or_else(|| target.strip_prefix('/'))
    {
        Some(absolute) => ("", absolute),
        None => (dir, target),
    };
    let mut parts: Vec<&str> = base.split('/').filter(|p| !p.is_empty()).collect();
    for part in rest.split('/') {
        match part {
            "" | "." => {}
            ".." => {
                parts.pop()?;
            }
            _ => parts.push(part),
        }
    }
    (!parts.is_empty()).then(|| parts.join("/"))
}

/// Top-level keys of a Kubernetes OWNERS file.
const YAML_KEYS: [&str; 8] = [
    "approvers:",
    "reviewers:",
    "options:",
    "filters:",
    "labels:",
    "emeritus_approvers:",
    "emeritus_reviewers:",
    "required_reviewers:",
];

fn parse_file(
    path: &str,
    text: &str,
    aliases: &HashMap<String, Vec<String>>,
) -> Result<RawFile, OwnershipError> {
    let first = text.lines().map(strip_comment).find(|l| !l.is_empty());
    if first.is_some_and(|l| YAML_KEYS.iter().any(|k| l.starts_with(k))) {
        return parse_yaml(path, text, aliases);
    }
    let dir = parent_dir(path);
    let mut file = RawFile::default();
    for (index, raw_line) in text.lines().enumerate() {
        let line_no = index + 1;
        let line = strip_comment(raw_line);
        let error = |message: &str| OwnershipError::new(path, line_no, message);
        if line.is_empty() {
            continue;
        }
        if line == "set noparent" {
            file.noparent = true;
        } else if let Some(rest) = line
            .strip_prefix("per-file")
            .filter(|r| r.starts_with(char::is_whitespace))
        {
            let Some((patterns, value)) = rest.split_once('=') else {
                return Err(error("per-file line without `=`"));
            };
            let mut rule = RawRule {
                selectors: Vec::new(),
                owners: Vec::new(),
                file_includes: Vec::new(),
                noparent: false,
            };
            for pattern in patterns.split(',').map(str::trim).filter(|p| !p.is_empty()) {
                per_file_glob(pattern).map_err(|e| {
                    error(&format!(
                        "per-file pattern `{pattern}` is not a valid glob: {}",
                        e.kind()
                    ))
                })?;
                rule.selectors.push(Selector::Glob(pattern.to_owned()));
            }
            if rule.selectors.is_empty() {
                return Err(error("per-file line without a pattern"));
            }
            let value = value.trim();
            if value == "set noparent" {
                rule.noparent = true;
            } else if let Some(target) = value.strip_prefix("file:") {
                rule.file_includes.extend(resolve_path(dir, target));
            } else {
                for owner in value.split(',').map(str::trim).filter(|o| !o.is_empty()) {
                    if owner.contains(char::is_whitespace) {
                        return Err(error(&format!(
                            "per-file owner `{owner}` contains whitespace"
                        )));
                    }
                    rule.owners.push(owner.to_owned());
                }
                if rule.owners.is_empty() {
                    return Err(error("per-file line without owners"));
                }
            }
            file.rules.push(rule);
        } else if let Some(target) = line.strip_prefix("file:") {
            file.file_includes.extend(resolve_path(dir, target));
        } else if let Some(target) = include_directive(line) {
            file.includes.extend(resolve_path(dir, target));
        } else if !line.contains(char::is_whitespace) {
            // An e-mail address, a user name, or `*`.
            file.owners.push(line.to_owned());
        } else {
            return Err(error(&format!("unrecognised OWNERS line `{line}`")));
        }
    }
    Ok(file)
}

/// A Kubernetes OWNERS file.
fn parse_yaml(
    path: &str,
    text: &str,
    aliases: &HashMap<String, Vec<String>>,
) -> Result<RawFile, OwnershipError> {
    let value: serde_yaml::Value = serde_yaml::from_str(text).map_err(|e| yaml_error(path, &e))?;
    let mut file = RawFile::default();
    let names = |value: Option<&serde_yaml::Value>, out: &mut Vec<String>| {
        for name in value
            .and_then(|v| v.as_sequence())
            .into_iter()
            .flatten()
            .filter_map(yaml_scalar)
        {
            out.push(name.clone());
            for member in aliases.get(&name).into_iter().flatten() {
                out.push(member.clone());
            }
        }
    };
    names(value.get("approvers"), &mut file.owners);
    names(value.get("reviewers"), &mut file.owners);
    file.noparent = value
        .get("options")
        .and_then(|o| o.get("no_parent_owners"))
        .and_then(serde_yaml::Value::as_bool)
        .unwrap_or(false);
    if let Some(filters) = value.get("filters").and_then(|f| f.as_mapping()) {
        for (key, filter) in filters {
            let Some(pattern) = key.as_str() else {
                continue;
            };
            let mut owners = Vec::new();
            names(filter.get("approvers"), &mut owners);
            names(filter.get("reviewers"), &mut owners);
            if pattern == ".*" {
                file.owners.extend(owners);
                continue;
            }
            let regex = PerlRegex::new(pattern).map_err(|e| {
                let line = text
                    .lines()
                    .position(|l| l.contains(pattern))
                    .map_or(0, |i| i + 1);
                OwnershipError::new(path, line, format!("invalid filters regex: {e}"))
            })?;
            file.rules.push(RawRule {
                selectors: vec![Selector::Regex(regex)],
                owners,
                file_includes: Vec::new(),
                noparent: false,
            });
        }
    }
    Ok(file)
}

fn yaml_scalar(value: &serde_yaml::Value) -> Option<String> {
    match value {
        serde_yaml::Value::String(s) => Some(s.trim().to_owned()),
        serde_yaml::Value::Number(n) => Some(n.to_string()),
        _ => None,
    }
}

fn yaml_error(path: &str, e: &serde_yaml::Error) -> OwnershipError {
    let line = e.location().map_or(0, |l| l.line());
    let message = e.to_string();
    // serde_yaml appends " at line N column M"; the line is in ours.
    let message = message.split(" at line ").next().unwrap_or(&message);
    OwnershipError::new(path, line, format!("invalid YAML: {message}"))
}

/// The root OWNERS_ALIASES of a Kubernetes repository: `aliases: {name:
/// [members]}`.
fn parse_aliases(path: &str, text: &str) -> Result<HashMap<String, Vec<String>>, OwnershipError> {
    let value: serde_yaml::Value = serde_yaml::from_str(text).map_err(|e| yaml_error(path, &e))?;
    let mut aliases = HashMap::new();
    if let Some(map) = value.get("aliases").and_then(|a| a.as_mapping()) {
        for (name, members) in map {
            let Some(name) = name.as_str() else { continue };
            let members = members
                .as_sequence()
                .into_iter()
                .flatten()
                .filter_map(yaml_scalar)
                .collect();
            aliases.insert(name.to_owned(), members);
        }
    }
    Ok(aliases)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tree(
        files: &[(&str, &str)],
    ) -> Result<(OwnersTree, Vec<Area>, Vec<String>), OwnershipError> {
        let mut names = Interner::default();
        let files: Vec<(&str, Cow<'_, str>)> =
            files.iter().map(|(p, t)| (*p, Cow::Borrowed(*t))).collect();
        let (t, areas) = OwnersTree::parse(&files, &mut names)?;
        Ok((t, areas, names.names))
    }

    fn owners(t: &(OwnersTree, Vec<Area>, Vec<String>), path: &str) -> Vec<String> {
        let mut scratch = Scratch::default();
        t.0.owners_of(path, &mut scratch);
        scratch
            .ids
            .iter()
            .map(|&i| t.2[i as usize].clone())
            .collect()
    }

    #[test]
    fn nearest_file_then_parents_until_noparent() {
        let t = tree(&[
            ("OWNERS", "# root\nroot@chromium.org\nboth@chromium.org\n"),
            (
                "src/OWNERS",
                "src@chromium.org  # trailing comment\nboth@chromium.org\n",
            ),
            ("src/vulkan/OWNERS", "vk@google.com\n"),
            ("src/secret/OWNERS", "set noparent\nsecret@google.com\n"),
        ])
        .unwrap();
        assert_eq!(
            owners(&t, "src/vulkan/deep/x.cpp"),
            [
                "vk@google.com",
                "src@chromium.org",
                "both@chromium.org",
                "root@chromium.org"
            ]
        );
        assert_eq!(
            owners(&t, "src/x.cpp"),
            ["src@chromium.org", "both@chromium.org", "root@chromium.org"]
        );
        assert_eq!(
            owners(&t, "README.md"),
            ["root@chromium.org", "both@chromium.org"]
        );
        assert_eq!(owners(&t, "src/secret/key.cc"), ["secret@google.com"]);
        let names: Vec<&str> = t.1.iter().map(|a| a.name.as_str()).collect();
        assert_eq!(names, ["/", "src", "src/secret", "src/vulkan"]);
        assert_eq!(t.1[3].tokens, ["src", "vulkan"]);
    }

    #[test]
    fn per_file_rules() {
        let t = tree(&[
            ("OWNERS", "root@x.org\nper-file DEPS=*\nper-file third_party/zlib=zlib@x.org\n"),
            (
                "src/OWNERS",
                "src@x.org\nper-file *capture*,*Capture*=cap@x.org, cap2@x.org\nper-file *.mojom=set noparent\nper-file *.mojom=file://ipc/SECURITY_OWNERS\n",
            ),
            ("ipc/SECURITY_OWNERS", "sec@x.org\n"),
        ])
        .unwrap();
        assert_eq!(owners(&t, "DEPS"), ["*", "root@x.org"]);
        assert_eq!(owners(&t, "third_party/zlib"), ["zlib@x.org", "root@x.org"]);
        assert_eq!(
            owners(&t, "src/a/FrameCapture.cpp"),
            ["cap@x.org", "cap2@x.org", "src@x.org", "root@x.org"]
        );
        assert_eq!(
            owners(&t, "src/a/b.mojom"),
            ["sec@x.org"],
            "per-file set noparent drops the rest"
        );
        assert_eq!(owners(&t, "src/a/b.cc"), ["src@x.org", "root@x.org"]);
    }

    #[test]
    fn includes_resolve_and_cycles_stop() {
        let t = tree(&[
            ("OWNERS", "root@x.org\n"),
            ("a/OWNERS", "file://b/OWNERS\nfile://build/android/OWNERS\n"),
            ("b/OWNERS", "b@x.org\ninclude /c/OWNERS\n"),
            (
                "c/OWNERS",
                "set noparent\nc@x.org\ninclude ../b/OWNERS\nper-file *.py=py@x.org\n",
            ),
            ("d/OWNERS", "include ../c/OWNERS\n"),
        ])
        .unwrap();
        // file:// brings global owners (b's, and c's through b's include).
        assert_eq!(owners(&t, "a/x.c"), ["b@x.org", "c@x.org", "root@x.org"]);
        // include brings everything: noparent and per-file rules too.
        assert_eq!(owners(&t, "d/x.py"), ["py@x.org", "c@x.org", "b@x.org"]);
        assert_eq!(owners(&t, "c/x.c"), ["c@x.org", "b@x.org"]);
    }

    #[test]
    fn kubernetes_yaml() {
        let t = tree(&[
            ("OWNERS_ALIASES", "aliases:\n  sig-node-approvers:\n    - alice\n    - bob\n"),
            ("OWNERS", "# See the OWNERS docs\napprovers:\n  - sig-node-approvers\nreviewers:\n  - carol\n"),
            (
                "pkg/kubelet/OWNERS",
                "options:\n  no_parent_owners: true\napprovers:\n  - dave\nfilters:\n  \".*\":\n    reviewers:\n      - erin\n  \"\\\\.go$\":\n    approvers:\n      - gopher\n",
            ),
        ])
        .unwrap();
        assert_eq!(
            owners(&t, "main.go"),
            ["sig-node-approvers", "alice", "bob", "carol"]
        );
        assert_eq!(
            owners(&t, "pkg/kubelet/kubelet.go"),
            ["gopher", "dave", "erin"]
        );
        assert_eq!(owners(&t, "pkg/kubelet/README.md"), ["dave", "erin"]);
    }

    #[test]
    fn malformed_lines_are_errors() {
        let err = tree(&[("src/OWNERS", "a@x.org\nper-file *.cc\n")])
            .err()
            .unwrap();
        assert_eq!(err.to_string(), "src/OWNERS:2: per-file line without `=`");
        let err = tree(&[("OWNERS", "per-file [abc=a@x.org\n")])
            .err()
            .unwrap();
        assert_eq!(err.line, 1);
        let err = tree(&[("OWNERS", "a@x.org\nthis is not an owner\n")])
            .err()
            .unwrap();
        assert_eq!(
            err.to_string(),
            "OWNERS:2: unrecognised OWNERS line `this is not an owner`"
        );
        let err = tree(&[("OWNERS", "approvers:\n  - a\n reviewers: [\n")])
            .err()
            .unwrap();
        assert!(err.to_string().starts_with("OWNERS:"), "{err}");
        assert!(err.line > 0, "{err}");
    }

    #[test]
    fn include_paths() {
        assert_eq!(
            resolve_path("a/b", "//x/OWNERS").as_deref(),
            Some("x/OWNERS")
        );
        assert_eq!(
            resolve_path("a/b", "/x/OWNERS").as_deref(),
            Some("x/OWNERS")
        );
        assert_eq!(
            resolve_path("a/b", "../OWNERS").as_deref(),
            Some("a/OWNERS")
        );
        assert_eq!(resolve_path("a", "../../OWNERS"), None);
        assert_eq!(resolve_path("a", "chromium/src:/OWNERS"), None);
        assert_eq!(
            include_targets(
                "x/OWNERS",
                "file://ipc/OWNERS\nper-file a=file:b/OWNERS\ninclude /c/OWNERS # c\nfoo@x\n"
            ),
            ["ipc/OWNERS", "x/b/OWNERS", "c/OWNERS"]
        );
    }
}
