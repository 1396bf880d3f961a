//! Fixture repositories: YAML descriptions of small synthetic monorepos,
//! built into real git repositories with fixed signatures and times.
//!
//! Tests and backtests need repositories whose culprit is known, whose
//! history has the awkward shapes real repositories have (merges, renames,
//! binary files, huge commits, non-UTF-8 bytes), and whose commit ids never
//! change. Writing them as YAML keeps a fixture reviewable as a story; this
//! module turns one into a repository with git2 only (no `git` binary), and
//! turns its incident into an investigation case (`docs/cases.md`) so that
//! `rca backtest` can replay it.
//!
//! # The spec format
//!
//! ```yaml
//! name: tiny                      # used for the case id and the cases file's `repo`
//! description: Two services and a broken timeout.
//! default_branch: main            # optional, default `main`
//! base_time: 2024-05-01T09:00:00Z # optional; needed when times are offsets
//! ownership_file: CODEOWNERS      # optional hint for the cases file; detected otherwise
//! authors:                        # referenced by key
//!   alice: {name: Alice Chen, email: alice@example.com}
//!   bot: {name: roll-bot, email: bot@example.com, tz: "-07:00"}
//! commits:                        # in order; each lands on its branch's tip
//!   - label: init                 # unique; the key of `BuiltFixture::ids`
//!     author: alice
//!     time: "+0"                  # RFC 3339, or an offset from base_time: +2d3h, +90m, -1w
//!     message: |
//!       Initial import
//!
//!       Body text after a blank line.
//!     changes:
//!       - write: .github/CODEOWNERS
//!         text: "/services/checkout/ @org/checkout\n"
//!       - write: services/checkout/cart.go
//!         lines: 40               # 40 deterministic filler lines
//!   - label: topic-work
//!     author: alice
//!     time: "+1d"
//!     committed: "+3d"            # optional committer time (default: author time)
//!     committer: bot              # optional committer key (default: the author)
//!     branch: topic/cache         # optional; created on first use from `from`
//!     from: init                  # fork point label (default: the default branch's tip)
//!     message: "Tune the cache"
//!     changes:
//!       - edit: services/checkout/cart.go
//!         append: "// cache\n"
//!   - label: merge-cache
//!     author: alice
//!     time: "+3d"
//!     merge: topic/cache          # second parent: that branch's tip; tree: 3-way merge
//!     tag: v1.0                   # optional lightweight tag
//!     message: "Merge branch 'topic/cache'"
//! incident:
//!   title: "checkout p99 latency doubled"
//!   impact: "p99 went from 180ms to 400ms."   # optional
//!   team_hint: ["@org/checkout"]              # optional
//!   opened_at: "+4d"              # same forms as commit times
//!   since: "+0"
//!   culprit: topic-work           # label of the root cause
//!   fix: merge-cache              # optional label of the fixing commit
//! ```
//!
//! A change is one of:
//!
//! - `write: PATH` with exactly one content: `text: STR`, `lines: N`
//!   (deterministic filler lines, so line counts are known), `binary: N`
//!   (N deterministic bytes with NUL bytes in them, so git sees a binary
//!   file), `symlink: TARGET` or `gitlink: HEX40` (a submodule entry).
//!   `executable: true` gives mode 100755. Writing an existing path
//!   replaces it.
//! - `edit: PATH` with `replace: OLD` and `with: NEW` (OLD must occur
//!   exactly once, so a fixture cannot silently edit the wrong spot) or
//!   `append: STR`.
//! - `delete: PATH`: a file, or a whole directory like `git rm -r`.
//! - `rename: OLD` with `to: NEW`: a file (optionally with a new content
//!   as for `write`: a rename with edits) or a whole directory.
//! - `generate: {count: N, path: "vendor/gen/f{n}.txt", lines: 1}`: writes N
//!   files, `{n}` running from 0 to N-1, each with its own filler lines.
//!
//! Filler content (`lines`, `binary`, `generate`) is derived from the path
//! and the commit's label, so re-writing a file in a later commit changes it.
//! Its words are Latin filler, so it never adds text relevance by accident.
//!
//! Any path, message, text or symlink target may be given as raw bytes
//! instead of a string: `{latin1: "café"}` encodes each character as one
//! Latin-1 byte (é becomes 0xE9, which is not UTF-8), and `{hex: "63 61 66
//! e9"}` gives the bytes in hex. A commit may also set `encoding:
//! ISO-8859-1` to write git's `encoding` header; without it the bytes are
//! stored undeclared, as careless tools in the wild do.
//!
//! A message may name an earlier commit: `{id:LABEL}` becomes its full id
//! and `{short:LABEL}` its first 12 digits, for `Fixes:` trailers and
//! `This reverts commit ...` lines.
//!
//! A `merge:` commit takes the tip of the named branch as its second parent.
//! Its tree is a file-level three-way merge against the merge base: a path
//! changed on one side only takes that side. A path both sides changed
//! differently is a conflict, and the merge commit's own `changes` must
//! write or delete it, as a person resolving the conflict would.
//!
//! `fixtures/README.md` describes the fixtures that ship with the crate.
//!
//! # What `build` produces
//!
//! Objects are written into an in-memory object database (libgit2's
//! mempack) and flushed as one pack at the end, which keeps the
//! 10,000-file commits of stress fixtures fast. Trees are built
//! hierarchically from an in-memory model that remembers the id of every
//! unchanged subtree, so a commit rewrites only the trees along the paths
//! it touches. Commit objects are formatted by hand (the same bytes
//! `git commit` writes) because git2's commit API only takes UTF-8
//! messages. Every branch gets `refs/heads/<name>`, tags get
//! `refs/tags/<name>`, and HEAD is symbolic to the default branch. A
//! non-bare repository also gets its work tree and index checked out, so
//! `git status` is clean.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::fmt;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::rc::Rc;

use anyhow::{anyhow, bail, ensure, Context as _, Result};
use git2::{ObjectType, Oid, Repository, RepositoryInitOptions};
use serde::de::{self, Deserializer, MapAccess, Visitor};
use serde::{Deserialize, Serialize};

/// A fixture: a small synthetic monorepo with a known incident.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FixtureSpec {
    /// Short name; the case id and the cases file's `repo` derive from it.
    pub name: String,
    /// What the fixture is for, in a sentence or two.
    #[serde(default)]
    pub description: String,
    /// The main line; `refs/heads/<default_branch>` and HEAD point at it.
    #[serde(default = "default_branch")]
    pub default_branch: String,
    /// RFC 3339 time that offsets like `+2d3h` count from.
    #[serde(default)]
    pub base_time: Option<String>,
    /// `CODEOWNERS`, `MAINTAINERS` or `OWNERS`, for the cases file; detected
    /// from the written paths when absent.
    #[serde(default)]
    pub ownership_file: Option<String>,
    /// Authors and committers by key.
    pub authors: BTreeMap<String, Author>,
    /// The history, in the order the commits are made.
    pub commits: Vec<CommitSpec>,
    /// The incident whose culprit is known.
    pub incident: Incident,
}

fn default_branch() -> String {
    "main".to_owned()
}

/// A person (or bot) who authors or commits.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Author {
    pub name: String,
    pub email: String,
    /// UTC offset (`+05:30`, `-07:00`, `Z`) shown in this person's
    /// signatures; by default the offset of the time string (or base time).
    #[serde(default)]
    pub tz: Option<String>,
}

/// One commit of the fixture's history.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CommitSpec {
    /// Unique name of the commit within the fixture.
    pub label: String,
    /// Author key.
    pub author: String,
    /// Committer key; the author by default.
    #[serde(default)]
    pub committer: Option<String>,
    /// Author time: RFC 3339 or an offset from `base_time`.
    pub time: String,
    /// Committer time; the author time by default. A side-branch commit
    /// authored days before its merge sets only `time`.
    #[serde(default)]
    pub committed: Option<String>,
    /// Branch the commit lands on; the default branch when absent.
    #[serde(default)]
    pub branch: Option<String>,
    /// Label the branch forks from when this commit creates it.
    #[serde(default)]
    pub from: Option<String>,
    /// Branch joined in as the second parent, making this a merge commit.
    #[serde(default)]
    pub merge: Option<String>,
    /// Lightweight tag to put on this commit.
    #[serde(default)]
    pub tag: Option<String>,
    /// Subject, blank line, body. May be empty.
    pub message: Bytes,
    /// Value of git's `encoding` header, when the message declares one.
    #[serde(default)]
    pub encoding: Option<String>,
    /// What the commit changes, applied in order.
    #[serde(default)]
    pub changes: Vec<Change>,
}

/// The incident a fixture is built around.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Incident {
    /// Case id; the fixture's name by default.
    #[serde(default)]
    pub id: Option<String>,
    pub title: String,
    #[serde(default)]
    pub impact: Option<String>,
    #[serde(default)]
    pub team_hint: Vec<String>,
    /// When the investigation opens; later commits are invisible to it.
    pub opened_at: String,
    /// Window start.
    pub since: String,
    /// Label of the root-cause commit.
    pub culprit: String,
    /// Label of the commit that fixed it, if the fixture has one.
    #[serde(default)]
    pub fix: Option<String>,
}

/// Bytes given in YAML as a plain string (UTF-8), as `{latin1: "..."}` or as
/// `{hex: "..."}`; the latter two exist so that fixtures can hold paths and
/// messages that are not UTF-8.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Bytes(pub Vec<u8>);

impl fmt::Display for Bytes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}", String::from_utf8_lossy(&self.0))
    }
}

impl<'de> Deserialize<'de> for Bytes {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct BytesVisitor;
        impl<'de> Visitor<'de> for BytesVisitor {
            type Value = Bytes;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str(r#"a string, {latin1: "..."} or {hex: "..."}"#)
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Bytes, E> {
                Ok(Bytes(v.as_bytes().to_vec()))
            }
            // YAML reads `text: 300` as a number; the author meant the text.
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<Bytes, E> {
                Ok(Bytes(v.to_string().into_bytes()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Bytes, E> {
                Ok(Bytes(v.to_string().into_bytes()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Bytes, E> {
                Ok(Bytes(v.to_string().into_bytes()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Bytes, E> {
                Ok(Bytes(v.to_string().into_bytes()))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Bytes, A::Error> {
                let Some(key) = map.next_key::<String>()? else {
                    return Err(de::Error::custom(
                        "empty map: expected {latin1: ...} or {hex: ...}",
                    ));
                };
                let value: String = map.next_value()?;
                if map.next_key::<String>()?.is_some() {
                    return Err(de::Error::custom(
                        "give one of latin1 or hex, not several keys",
                    ));
                }
                let bytes = match key.as_str() {
                    "latin1" => latin1_bytes(&value),
                    "hex" => hex_bytes(&value),
                    other => Err(format!(
                        "unknown byte encoding `{other}` (expected latin1 or hex)"
                    )),
                };
                bytes.map(Bytes).map_err(de::Error::custom)
            }
        }
        deserializer.deserialize_any(BytesVisitor)
    }
}

fn latin1_bytes(text: &str) -> std::result::Result<Vec<u8>, String> {
    text.chars()
        .map(|c| {
            u8::try_from(u32::from(c)).map_err(|_| format!("`{c}` is not a Latin-1 character"))
        })
        .collect()
}

fn hex_bytes(text: &str) -> std::result::Result<Vec<u8>, String> {
    let digits: Vec<u8> = text.bytes().filter(|b| !b.is_ascii_whitespace()).collect();
    if !digits.len().is_multiple_of(2) {
        return Err(format!("odd number of hex digits in `{text}`"));
    }
    digits
        .chunks(2)
        .map(|pair| {
            let pair = std::str::from_utf8(pair).unwrap_or("??");
            u8::from_str_radix(pair, 16).map_err(|_| format!("`{pair}` is not a hex byte"))
        })
        .collect()
}

/// One change a commit makes to the tree.
#[derive(Debug, Clone, Deserialize)]
#[serde(try_from = "RawChange")]
pub enum Change {
    Write {
        path: Bytes,
        content: Content,
        executable: bool,
    },
    Edit {
        path: Bytes,
        edit: Edit,
    },
    Delete {
        path: Bytes,
    },
    Rename {
        from: Bytes,
        to: Bytes,
        content: Option<Content>,
        executable: bool,
    },
    Generate(Generate),
}

/// What a written file holds.
#[derive(Debug, Clone)]
pub enum Content {
    Text(Bytes),
    /// N filler lines derived from the path and the commit label.
    Lines(usize),
    /// N filler bytes with NUL bytes in them.
    Binary(usize),
    Symlink(Bytes),
    /// A submodule entry pointing at this commit id.
    Gitlink(String),
}

/// An in-place modification of an existing file.
#[derive(Debug, Clone)]
pub enum Edit {
    Replace { old: Bytes, new: Bytes },
    Append(Bytes),
}

/// Many files at once: `path` holds `{n}`, replaced by 0..count.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Generate {
    pub count: usize,
    pub path: String,
    #[serde(default = "one")]
    pub lines: usize,
}

fn one() -> usize {
    1
}

/// The YAML shape of a change: a flat map, checked into a [`Change`] so that
/// a wrong combination gets a message naming the fields, not serde's
/// "did not match any variant".
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawChange {
    write: Option<Bytes>,
    edit: Option<Bytes>,
    delete: Option<Bytes>,
    rename: Option<Bytes>,
    to: Option<Bytes>,
    generate: Option<Generate>,
    text: Option<Bytes>,
    lines: Option<usize>,
    binary: Option<usize>,
    symlink: Option<Bytes>,
    gitlink: Option<String>,
    executable: Option<bool>,
    replace: Option<Bytes>,
    with: Option<Bytes>,
    append: Option<Bytes>,
}

impl TryFrom<RawChange> for Change {
    type Error = String;

    fn try_from(raw: RawChange) -> std::result::Result<Self, String> {
        let kinds = [
            raw.write.is_some(),
            raw.edit.is_some(),
            raw.delete.is_some(),
            raw.rename.is_some(),
            raw.generate.is_some(),
        ];
        if kinds.iter().filter(|&&k| k).count() != 1 {
            return Err(
                "a change needs exactly one of write, edit, delete, rename, generate".into(),
            );
        }
        let mut contents = Vec::new();
        if let Some(text) = raw.text {
            contents.push(Content::Text(text));
        }
        if let Some(n) = raw.lines {
            contents.push(Content::Lines(n));
        }
        if let Some(n) = raw.binary {
            contents.push(Content::Binary(n));
        }
        if let Some(target) = raw.symlink {
            contents.push(Content::Symlink(target));
        }
        if let Some(id) = raw.gitlink {
            contents.push(Content::Gitlink(id));
        }
        if contents.len() > 1 {
            return Err("give at most one of text, lines, binary, symlink, gitlink".into());
        }
        let content = contents.pop();
        let executable = raw.executable.unwrap_or(false);
        let has_edit_fields = raw.replace.is_some() || raw.with.is_some() || raw.append.is_some();
        if has_edit_fields && raw.edit.is_none() {
            return Err("replace, with and append belong to `edit`".into());
        }
        if raw.to.is_some() && raw.rename.is_none() {
            return Err("`to` belongs to `rename`".into());
        }
        if raw.executable.is_some() && raw.write.is_none() && raw.rename.is_none() {
            return Err("`executable` belongs to `write` or `rename`".into());
        }
        if let Some(path) = raw.write {
            let content =
                content.ok_or("`write` needs one of text, lines, binary, symlink, gitlink")?;
            return Ok(Change::Write {
                path,
                content,
                executable,
            });
        }
        if content.is_some() && raw.rename.is_none() {
            return Err(
                "text, lines, binary, symlink and gitlink belong to `write` or `rename`".into(),
            );
        }
        if let Some(path) = raw.edit {
            let edit = match (raw.replace, raw.with, raw.append) {
                (Some(old), Some(new), None) => Edit::Replace { old, new },
                (None, None, Some(text)) => Edit::Append(text),
                _ => return Err("`edit` needs either replace + with, or append".into()),
            };
            return Ok(Change::Edit { path, edit });
        }
        if let Some(path) = raw.delete {
            return Ok(Change::Delete { path });
        }
        if let Some(from) = raw.rename {
            let to = raw.to.ok_or("`rename` needs `to`")?;
            return Ok(Change::Rename {
                from,
                to,
                content,
                executable,
            });
        }
        let generate = raw.generate.ok_or("unreachable: no change kind")?;
        if !generate.path.contains("{n}") {
            return Err(format!(
                "generate path `{}` needs a {{n}} placeholder",
                generate.path
            ));
        }
        Ok(Change::Generate(generate))
    }
}

/// Reads and checks a fixture spec.
pub fn load(path: &Path) -> Result<FixtureSpec> {
    let text = std::fs::read_to_string(path)
        .with_context(|| format!("reading fixture {}", path.display()))?;
    let spec: FixtureSpec = serde_yaml::from_str(&text)
        .with_context(|| format!("parsing fixture {}", path.display()))?;
    check(&spec).with_context(|| format!("checking fixture {}", path.display()))?;
    Ok(spec)
}

/// Checks what can be checked without building: references between
/// labels, authors and branches, and every time string.
fn check(spec: &FixtureSpec) -> Result<()> {
    let mut labels = BTreeSet::new();
    for commit in &spec.commits {
        ensure!(
            labels.insert(commit.label.as_str()),
            "commit label `{}` is used twice",
            commit.label
        );
        for key in std::iter::once(&commit.author).chain(&commit.committer) {
            ensure!(
                spec.authors.contains_key(key),
                "commit `{}`: unknown author `{key}`",
                commit.label
            );
        }
    }
    for (key, author) in &spec.authors {
        for (what, text) in [("name", &author.name), ("email", &author.email)] {
            ensure!(
                !text.contains(['<', '>', '\n']),
                "author `{key}`: {what} may not contain <, > or a newline"
            );
        }
        if let Some(tz) = &author.tz {
            parse_offset(tz).with_context(|| format!("author `{key}`: bad tz"))?;
        }
    }
    Times::resolve(spec)?;
    let incident = &spec.incident;
    ensure!(
        labels.contains(incident.culprit.as_str()),
        "incident culprit `{}` is not a commit label",
        incident.culprit
    );
    if let Some(fix) = &incident.fix {
        ensure!(
            labels.contains(fix.as_str()),
            "incident fix `{fix}` is not a commit label"
        );
    }
    Ok(())
}

/// The repository a fixture became.
#[derive(Debug, Clone)]
pub struct BuiltFixture {
    /// The repository: the work tree for a non-bare build, the git directory
    /// for a bare one.
    pub path: PathBuf,
    /// Commit label -> full hex id.
    pub ids: BTreeMap<String, String>,
    /// Full hex id of the incident's culprit.
    pub culprit: String,
}

/// Builds `spec` into a new git repository at `dir` (must not exist or be
/// empty). `bare` makes a bare repository.
///
/// Deterministic: fixed author/committer signatures and times from the spec,
/// so the same spec gives the same commit ids every time.
pub fn build(spec: &FixtureSpec, dir: &Path, bare: bool) -> Result<BuiltFixture> {
    check(spec)?;
    if dir.exists() {
        let mut entries =
            std::fs::read_dir(dir).with_context(|| format!("reading {}", dir.display()))?;
        ensure!(
            entries.next().is_none(),
            "{} exists and is not empty",
            dir.display()
        );
    }
    let mut options = RepositoryInitOptions::new();
    // No templates: hooks or a description from the machine's git install
    // would make the fixture differ between machines.
    options
        .bare(bare)
        .initial_head(&spec.default_branch)
        .external_template(false)
        .mkdir(true)
        .mkpath(true);
    let repo = Repository::init_opts(dir, &options)
        .with_context(|| format!("creating a repository at {}", dir.display()))?;

    let ids = {
        let odb = repo.odb()?;
        // Objects go to memory and reach disk as one pack: 10,000 loose
        // object files would cost more than everything else together.
        let mempack = odb.add_new_mempack_backend(1000)?;
        let mut builder = Builder::new(spec, &repo)?;
        for commit in &spec.commits {
            builder
                .commit(commit)
                .with_context(|| format!("building commit `{}`", commit.label))?;
        }
        let mut pack = git2::Buf::new();
        mempack.dump(&repo, &mut pack)?;
        let mut writer = odb.packwriter()?;
        writer.write_all(&pack)?;
        writer.commit()?;
        mempack.reset()?;
        builder.finish()?
    };

    if !bare && repo.head().is_ok() {
        let mut checkout = git2::build::CheckoutBuilder::new();
        checkout.force();
        repo.checkout_head(Some(&mut checkout))
            .context("checking out the work tree")?;
    }
    let culprit = ids[&spec.incident.culprit].clone();
    let path = if bare {
        repo.path().to_path_buf()
    } else {
        dir.to_path_buf()
    };
    Ok(BuiltFixture { path, ids, culprit })
}

/// One line of the cases file; see `docs/cases.md`.
#[derive(Serialize)]
struct CasesFile {
    repo: String,
    default_branch: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    ownership_file: Option<String>,
    cases: Vec<Case>,
}

#[derive(Serialize)]
struct Case {
    id: String,
    title: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    impact: Option<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    team_hint: Vec<String>,
    opened_at: String,
    since: String,
    root_cause: String,
    source: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    fix: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    window_commits: Option<usize>,
}

/// The incident of the fixture as an investigation-cases YAML document
/// (format: `docs/cases.md`), with `root_cause` set to the built culprit id,
/// so `rca backtest --cases FILE --repo DIR` can replay it.
pub fn cases_yaml(spec: &FixtureSpec, built: &BuiltFixture) -> String {
    let incident = &spec.incident;
    // A spec that built resolves; if someone hands in one that does not, keep
    // the raw strings rather than fail, since this only formats.
    let times = Times::resolve(spec).ok();
    let when = |text: &str| match parse_when(text, times.as_ref().and_then(|t| t.base)) {
        Ok(moment) => moment.timestamp().to_string(),
        Err(_) => text.to_owned(),
    };
    let window_commits = times.as_ref().and_then(|times| {
        let base = times.base;
        let opened_at = parse_when(&incident.opened_at, base).ok()?.seconds;
        let since = parse_when(&incident.since, base).ok()?.seconds;
        let count = spec
            .commits
            .iter()
            .zip(&times.committed)
            .filter(|(commit, _)| {
                commit
                    .branch
                    .as_deref()
                    .is_none_or(|b| b == spec.default_branch)
            })
            .filter(|(_, committed)| since <= committed.seconds && committed.seconds < opened_at)
            .count();
        Some(count)
    });
    let file = CasesFile {
        repo: format!("fixture/{}", spec.name),
        default_branch: spec.default_branch.clone(),
        ownership_file: spec
            .ownership_file
            .clone()
            .or_else(|| detect_ownership_file(spec)),
        cases: vec![Case {
            id: incident.id.clone().unwrap_or_else(|| spec.name.clone()),
            title: incident.title.clone(),
            impact: incident.impact.clone(),
            team_hint: incident.team_hint.clone(),
            opened_at: when(&incident.opened_at),
            since: when(&incident.since),
            root_cause: built.culprit.clone(),
            source: "hand-written",
            fix: incident
                .fix
                .as_ref()
                .and_then(|label| built.ids.get(label).cloned()),
            window_commits,
        }],
    };
    let body =
        crate::yaml::to_string(&file).unwrap_or_else(|e| format!("# cannot serialize: {e}\n"));
    format!(
        "# Generated by rca::fixture from the fixture `{}`.\n{body}",
        spec.name
    )
}

/// The kind of ownership file a fixture writes, from the file names of the
/// paths its commits write.
fn detect_ownership_file(spec: &FixtureSpec) -> Option<String> {
    let written = spec
        .commits
        .iter()
        .flat_map(|c| &c.changes)
        .filter_map(|change| match change {
            Change::Write { path, .. } => Some(&path.0),
            Change::Rename { to, .. } => Some(&to.0),
            _ => None,
        });
    let mut found = None;
    for path in written {
        let file_name = path.rsplit(|&b| b == b'/').next().unwrap_or(path);
        for kind in ["CODEOWNERS", "MAINTAINERS", "OWNERS"] {
            // CODEOWNERS outranks a stray OWNERS file; first kind found wins otherwise.
            if file_name == kind.as_bytes() && (found.is_none() || kind == "CODEOWNERS") {
                found = Some(kind.to_owned());
            }
        }
    }
    found
}

// ---------------------------------------------------------------------------
// Times

/// A point in time as git stores it: seconds since the epoch and the UTC
/// offset, in minutes, shown in the signature.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Moment {
    seconds: i64,
    offset_minutes: i32,
}

impl Moment {
    fn timestamp(self) -> jiff::Timestamp {
        jiff::Timestamp::from_second(self.seconds).unwrap_or(jiff::Timestamp::UNIX_EPOCH)
    }

    fn with_tz(self, tz: Option<&str>) -> Result<Moment> {
        Ok(match tz {
            Some(tz) => Moment {
                offset_minutes: parse_offset(tz)?,
                ..self
            },
            None => self,
        })
    }

    /// `1714550400 +0200`, as in a commit header.
    fn git_format(self) -> String {
        let sign = if self.offset_minutes < 0 { '-' } else { '+' };
        let minutes = self.offset_minutes.unsigned_abs();
        format!(
            "{} {sign}{:02}{:02}",
            self.seconds,
            minutes / 60,
            minutes % 60
        )
    }
}

/// Author and committer times of every commit, resolved once.
struct Times {
    base: Option<Moment>,
    authored: Vec<Moment>,
    committed: Vec<Moment>,
}

impl Times {
    fn resolve(spec: &FixtureSpec) -> Result<Times> {
        let base = spec
            .base_time
            .as_deref()
            .map(|text| parse_when(text, None).context("bad base_time"))
            .transpose()?;
        let mut authored = Vec::new();
        let mut committed = Vec::new();
        for commit in &spec.commits {
            let tz = |key: &str| spec.authors.get(key).and_then(|a| a.tz.as_deref());
            let committer = commit.committer.as_deref().unwrap_or(&commit.author);
            let context = || format!("commit `{}`: bad time", commit.label);
            let author_time = parse_when(&commit.time, base).with_context(context)?;
            let commit_time = match &commit.committed {
                Some(text) => parse_when(text, base).with_context(context)?,
                None => author_time,
            };
            authored.push(
                author_time
                    .with_tz(tz(&commit.author))
                    .with_context(context)?,
            );
            committed.push(commit_time.with_tz(tz(committer)).with_context(context)?);
        }
        for text in [&spec.incident.opened_at, &spec.incident.since] {
            parse_when(text, base).context("incident: bad time")?;
        }
        Ok(Times {
            base,
            authored,
            committed,
        })
    }
}

/// Parses RFC 3339 (`2024-05-01T09:00:00+02:00`) or an offset from `base`
/// (`+2d3h`, `-1w`, `+90m`, `+0`; units w, d, h, m, s).
fn parse_when(text: &str, base: Option<Moment>) -> Result<Moment> {
    let text = text.trim();
    if text.starts_with(['+', '-']) {
        let base =
            base.ok_or_else(|| anyhow!("`{text}` is an offset, but the fixture has no base_time"))?;
        let seconds = parse_offset_duration(text)?;
        return Ok(Moment {
            seconds: base.seconds + seconds,
            ..base
        });
    }
    let timestamp: jiff::Timestamp = text
        .parse()
        .with_context(|| format!("`{text}` is neither RFC 3339 nor an offset like +2d3h"))?;
    // jiff keeps the instant only; the offset shown in signatures comes from
    // the text itself.
    let offset_minutes = if text.ends_with(['Z', 'z']) {
        0
    } else {
        let split = text.len().saturating_sub(6);
        parse_offset(text.get(split..).unwrap_or(""))?
    };
    Ok(Moment {
        seconds: timestamp.as_second(),
        offset_minutes,
    })
}

/// `+2d3h` -> seconds.
fn parse_offset_duration(text: &str) -> Result<i64> {
    let (sign, rest) = match text.split_at(1) {
        ("-", rest) => (-1, rest),
        (_, rest) => (1, rest),
    };
    ensure!(!rest.is_empty(), "empty offset `{text}`");
    let mut total: i64 = 0;
    let mut number = String::new();
    for c in rest.chars() {
        if c.is_ascii_digit() {
            number.push(c);
            continue;
        }
        let unit = match c {
            'w' => 7 * 86_400,
            'd' => 86_400,
            'h' => 3_600,
            'm' => 60,
            's' => 1,
            _ => bail!("bad unit `{c}` in offset `{text}` (use w, d, h, m, s)"),
        };
        ensure!(
            !number.is_empty(),
            "unit `{c}` without a number in `{text}`"
        );
        total += number.parse::<i64>()? * unit;
        number.clear();
    }
    // A bare number (`+0`) counts seconds.
    if !number.is_empty() {
        total += number.parse::<i64>()?;
    }
    Ok(sign * total)
}

/// `Z`, `+05:30`, `-0700` -> minutes east of UTC.
fn parse_offset(text: &str) -> Result<i32> {
    if text == "Z" || text == "z" {
        return Ok(0);
    }
    let digits: String = text.chars().skip(1).filter(|c| *c != ':').collect();
    let sign = match text.chars().next() {
        Some('+') => 1,
        Some('-') => -1,
        _ => bail!("`{text}` is not a UTC offset like +02:00 or Z"),
    };
    ensure!(
        digits.len() == 4 && digits.chars().all(|c| c.is_ascii_digit()),
        "`{text}` is not a UTC offset like +02:00 or Z"
    );
    let hours: i32 = digits[..2].parse()?;
    let minutes: i32 = digits[2..].parse()?;
    Ok(sign * (hours * 60 + minutes))
}

// ---------------------------------------------------------------------------
// Deterministic filler content

/// The filler vocabulary is Latin on purpose: it shares no word with
/// incident titles, so generated lines never add text relevance by accident.
const FILLER_WORDS: &[&str] = &[
    "lorem",
    "ipsum",
    "dolor",
    "sit",
    "amet",
    "consectetur",
    "adipiscing",
    "elit",
    "sed",
    "eiusmod",
    "tempor",
    "incididunt",
    "labore",
    "dolore",
    "magna",
    "aliqua",
    "enim",
    "minim",
    "veniam",
    "quis",
    "nostrud",
    "exercitation",
    "ullamco",
    "laboris",
    "nisi",
    "aliquip",
    "commodo",
    "consequat",
];

/// splitmix64, seeded with FNV-1a of the seed bytes: tiny, portable, and the
/// same on every platform and Rust version.
struct FillerRng(u64);

impl FillerRng {
    fn new(seed: &[&[u8]]) -> FillerRng {
        let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
        for part in seed {
            for &byte in part.iter().chain(&[0xff]) {
                hash ^= u64::from(byte);
                hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
            }
        }
        FillerRng(hash)
    }

    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9e37_79b9_7f4a_7c15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
        z ^ (z >> 31)
    }
}

/// `count` lines, each `<n> <five filler words>`; every line differs, so a
/// diff counts exactly what was written.
fn filler_lines(path: &[u8], label: &str, count: usize) -> Vec<u8> {
    let mut rng = FillerRng::new(&[path, label.as_bytes()]);
    let mut out = Vec::with_capacity(count * 48);
    for line in 1..=count {
        write!(out, "{line:04}").ok();
        for _ in 0..5 {
            let word = FILLER_WORDS[(rng.next() % FILLER_WORDS.len() as u64) as usize];
            write!(out, " {word}").ok();
        }
        out.push(b'\n');
    }
    out
}

/// `size` bytes with a NUL every 16 bytes, so git's binary check (a NUL in
/// the first 8000 bytes) always fires.
fn filler_binary(path: &[u8], label: &str, size: usize) -> Vec<u8> {
    let mut rng = FillerRng::new(&[path, label.as_bytes(), b"binary"]);
    (0..size)
        .map(|i| if i % 16 == 1 { 0 } else { rng.next() as u8 })
        .collect()
}

/// Replaces `{id:LABEL}` with the full id and `{short:LABEL}` with the
/// 12-digit abbreviation of an earlier commit, so that a fixture can hold
/// `Fixes: {short:culprit}` trailers and `This reverts commit {id:x}.`
/// lines, the raw material `rca cases mine` looks for.
fn expand_commit_refs(message: &[u8], ids: &BTreeMap<String, Oid>) -> Result<Vec<u8>> {
    let mut out = Vec::with_capacity(message.len());
    let mut rest = message;
    while let Some(open) = rest.iter().position(|&b| b == b'{') {
        out.extend_from_slice(&rest[..open]);
        rest = &rest[open..];
        let close = rest.iter().position(|&b| b == b'}');
        let reference = close.and_then(|close| {
            let inner = std::str::from_utf8(&rest[1..close]).ok()?;
            let (kind, label) = inner.split_once(':')?;
            matches!(kind, "id" | "short").then_some((kind, label, close))
        });
        let Some((kind, label, close)) = reference else {
            out.push(b'{');
            rest = &rest[1..];
            continue;
        };
        let id = ids
            .get(label)
            .ok_or_else(|| anyhow!("message names `{{{kind}:{label}}}`, not an earlier commit"))?
            .to_string();
        out.extend_from_slice(if kind == "id" { &id[..] } else { &id[..12] }.as_bytes());
        rest = &rest[close + 1..];
    }
    out.extend_from_slice(rest);
    Ok(out)
}

// ---------------------------------------------------------------------------
// The in-memory tree model

const MODE_FILE: i32 = 0o100644;
const MODE_EXECUTABLE: i32 = 0o100755;
const MODE_SYMLINK: i32 = 0o120000;
const MODE_GITLINK: i32 = 0o160000;
const MODE_TREE: i32 = 0o040000;

/// A file entry: blob (or gitlink commit) id and mode.
type FileEntry = (Oid, i32);

/// A directory of the model. `oid` caches the written tree and is cleared on
/// every change below it, so writing a commit's tree only rewrites the
/// directories along the changed paths. Children are `Rc` so that branches
/// and per-commit snapshots share unchanged subtrees.
#[derive(Clone, Default)]
struct Dir {
    entries: BTreeMap<Vec<u8>, Node>,
    oid: Option<Oid>,
}

#[derive(Clone)]
enum Node {
    File(FileEntry),
    Dir(Rc<Dir>),
}

/// Splits and checks a repository path.
fn components(path: &[u8]) -> Result<Vec<&[u8]>> {
    let parts: Vec<&[u8]> = path.split(|&b| b == b'/').collect();
    for part in &parts {
        let bad = part.is_empty()
            || *part == b"."
            || *part == b".."
            || part.eq_ignore_ascii_case(b".git")
            || part.contains(&0);
        ensure!(!bad, "bad path `{}`", String::from_utf8_lossy(path));
    }
    Ok(parts)
}

/// Records the file paths a change touched (every file below a directory),
/// so that a merge commit's changes can resolve its conflicts.
fn touch(touched: &mut BTreeSet<Vec<u8>>, path: &[u8], node: &Node) {
    match node {
        Node::File(_) => {
            touched.insert(path.to_vec());
        }
        Node::Dir(dir) => {
            let mut files = BTreeMap::new();
            dir.flatten(&mut path.to_vec(), &mut files);
            touched.extend(files.into_keys());
        }
    }
}

impl Dir {
    fn get(&self, parts: &[&[u8]]) -> Option<FileEntry> {
        match (self.entries.get(parts[0])?, parts.len()) {
            (Node::File(entry), 1) => Some(*entry),
            (Node::Dir(dir), n) if n > 1 => dir.get(&parts[1..]),
            _ => None,
        }
    }

    fn set(self: &mut Rc<Dir>, parts: &[&[u8]], entry: FileEntry) -> Result<()> {
        self.put(parts, Node::File(entry))
    }

    /// Puts a file or a whole directory at `parts`, creating parents. A file
    /// may replace a file; nothing replaces a directory silently.
    fn put(self: &mut Rc<Dir>, parts: &[&[u8]], node: Node) -> Result<()> {
        let dir = Rc::make_mut(self);
        dir.oid = None;
        if parts.len() == 1 {
            if let Some(Node::Dir(_)) = dir.entries.get(parts[0]) {
                bail!("`{}` is a directory", String::from_utf8_lossy(parts[0]));
            }
            if matches!(node, Node::Dir(_)) && dir.entries.contains_key(parts[0]) {
                bail!("`{}` exists", String::from_utf8_lossy(parts[0]));
            }
            dir.entries.insert(parts[0].to_vec(), node);
            return Ok(());
        }
        let child = dir
            .entries
            .entry(parts[0].to_vec())
            .or_insert_with(|| Node::Dir(Rc::default()));
        match child {
            Node::Dir(child) => child.put(&parts[1..], node),
            Node::File(_) => bail!(
                "`{}` is a file, not a directory",
                String::from_utf8_lossy(parts[0])
            ),
        }
    }

    /// Removes a file or a whole directory, and any directories that leaves
    /// empty (git has no empty trees below the root).
    fn take(self: &mut Rc<Dir>, parts: &[&[u8]]) -> Option<Node> {
        match (self.entries.get(parts[0])?, parts.len()) {
            (_, 1) | (Node::Dir(_), _) => {}
            _ => return None,
        }
        let dir = Rc::make_mut(self);
        dir.oid = None;
        if parts.len() == 1 {
            return dir.entries.remove(parts[0]);
        }
        let Some(Node::Dir(child)) = dir.entries.get_mut(parts[0]) else {
            return None;
        };
        let taken = child.take(&parts[1..]);
        if child.entries.is_empty() {
            dir.entries.remove(parts[0]);
        }
        taken
    }

    /// Removes a file (not a directory).
    fn remove(self: &mut Rc<Dir>, parts: &[&[u8]]) -> Option<FileEntry> {
        match self.get(parts) {
            Some(_) => match self.take(parts) {
                Some(Node::File(entry)) => Some(entry),
                _ => None,
            },
            None => None,
        }
    }

    fn flatten(&self, prefix: &mut Vec<u8>, out: &mut BTreeMap<Vec<u8>, FileEntry>) {
        for (name, node) in &self.entries {
            let len = prefix.len();
            if !prefix.is_empty() {
                prefix.push(b'/');
            }
            prefix.extend_from_slice(name);
            match node {
                Node::File(entry) => {
                    out.insert(prefix.clone(), *entry);
                }
                Node::Dir(dir) => dir.flatten(prefix, out),
            }
            prefix.truncate(len);
        }
    }

    fn write(self: &mut Rc<Dir>, repo: &Repository) -> Result<Oid> {
        if let Some(oid) = self.oid {
            return Ok(oid);
        }
        let dir = Rc::make_mut(self);
        let mut builder = repo.treebuilder(None)?;
        for (name, node) in &mut dir.entries {
            let (oid, mode) = match node {
                Node::File(entry) => *entry,
                Node::Dir(child) => (child.write(repo)?, MODE_TREE),
            };
            builder.insert(name.as_slice(), oid, mode)?;
        }
        let oid = builder.write()?;
        dir.oid = Some(oid);
        Ok(oid)
    }
}

// ---------------------------------------------------------------------------
// The builder

struct Branch {
    tip: Option<Oid>,
    root: Rc<Dir>,
}

struct Builder<'a> {
    spec: &'a FixtureSpec,
    repo: &'a Repository,
    times: Times,
    index: usize,
    branches: BTreeMap<String, Branch>,
    /// Tree model of every commit, for merge bases and forks.
    snapshots: HashMap<Oid, Rc<Dir>>,
    ids: BTreeMap<String, Oid>,
    tags: Vec<(String, Oid)>,
}

impl<'a> Builder<'a> {
    fn new(spec: &'a FixtureSpec, repo: &'a Repository) -> Result<Builder<'a>> {
        let mut branches = BTreeMap::new();
        branches.insert(
            spec.default_branch.clone(),
            Branch {
                tip: None,
                root: Rc::default(),
            },
        );
        Ok(Builder {
            spec,
            repo,
            times: Times::resolve(spec)?,
            index: 0,
            branches,
            snapshots: HashMap::new(),
            ids: BTreeMap::new(),
            tags: Vec::new(),
        })
    }

    fn commit(&mut self, commit: &CommitSpec) -> Result<()> {
        let index = self.index;
        self.index += 1;
        let branch_name = commit
            .branch
            .clone()
            .unwrap_or_else(|| self.spec.default_branch.clone());
        if !self.branches.contains_key(&branch_name) {
            let tip = match &commit.from {
                Some(label) => Some(
                    *self
                        .ids
                        .get(label)
                        .ok_or_else(|| anyhow!("`from: {label}` names no earlier commit"))?,
                ),
                None => self.branches[&self.spec.default_branch].tip,
            };
            let root = tip
                .map(|oid| self.snapshots[&oid].clone())
                .unwrap_or_default();
            self.branches
                .insert(branch_name.clone(), Branch { tip, root });
        } else if commit.from.is_some() {
            bail!("`from` only applies when a commit creates its branch; `{branch_name}` exists");
        }
        let branch = &self.branches[&branch_name];
        let mut parents: Vec<Oid> = branch.tip.into_iter().collect();
        let mut root = branch.root.clone();

        let mut conflicts = BTreeSet::new();
        if let Some(other_name) = &commit.merge {
            ensure!(*other_name != branch_name, "a branch cannot merge itself");
            let other = self
                .branches
                .get(other_name)
                .ok_or_else(|| anyhow!("merge: no branch `{other_name}`"))?;
            let (Some(ours), Some(theirs)) = (parents.first().copied(), other.tip) else {
                bail!("merge: both `{branch_name}` and `{other_name}` need commits");
            };
            conflicts = self.merge_into(&mut root, ours, theirs)?;
            parents.push(theirs);
        }

        let label = &commit.label;
        let mut touched = BTreeSet::new();
        for change in &commit.changes {
            self.apply(&mut root, change, label, &mut touched)?;
        }
        let unresolved: Vec<String> = conflicts
            .difference(&touched)
            .map(|p| String::from_utf8_lossy(p).into_owned())
            .collect();
        ensure!(
            unresolved.is_empty(),
            "merge conflicts left unresolved (write or delete them in the merge commit): {}",
            unresolved.join(", ")
        );

        let tree = root.write(self.repo)?;
        let oid = self.write_commit(commit, index, tree, &parents)?;
        self.snapshots.insert(oid, root.clone());
        self.branches.insert(
            branch_name,
            Branch {
                tip: Some(oid),
                root,
            },
        );
        self.ids.insert(label.clone(), oid);
        if let Some(tag) = &commit.tag {
            self.tags.push((tag.clone(), oid));
        }
        Ok(())
    }

    /// Three-way merge at file level into `ours_root`: a path changed only on
    /// their side takes their version. Returns the paths both sides changed
    /// differently; the merge commit's own changes must resolve them.
    fn merge_into(
        &self,
        ours_root: &mut Rc<Dir>,
        ours: Oid,
        theirs: Oid,
    ) -> Result<BTreeSet<Vec<u8>>> {
        let base = self.repo.merge_base(ours, theirs).ok();
        let flatten = |oid: Option<Oid>| {
            let mut out = BTreeMap::new();
            if let Some(dir) = oid.and_then(|oid| self.snapshots.get(&oid)) {
                dir.flatten(&mut Vec::new(), &mut out);
            }
            out
        };
        let (base, ours_files, theirs_files) =
            (flatten(base), flatten(Some(ours)), flatten(Some(theirs)));
        let paths: BTreeSet<&Vec<u8>> = base
            .keys()
            .chain(ours_files.keys())
            .chain(theirs_files.keys())
            .collect();
        let mut conflicts = BTreeSet::new();
        for path in paths {
            let (b, o, t) = (base.get(path), ours_files.get(path), theirs_files.get(path));
            if t == b || t == o {
                continue;
            }
            if o != b {
                conflicts.insert(path.clone());
                continue;
            }
            let parts = components(path)?;
            match t {
                Some(entry) => ours_root.set(&parts, *entry)?,
                None => {
                    ours_root.remove(&parts);
                }
            }
        }
        Ok(conflicts)
    }

    fn apply(
        &self,
        root: &mut Rc<Dir>,
        change: &Change,
        label: &str,
        touched: &mut BTreeSet<Vec<u8>>,
    ) -> Result<()> {
        match change {
            Change::Write {
                path,
                content,
                executable,
            } => {
                let entry = self
                    .content_entry(&path.0, content, *executable, label)
                    .with_context(|| format!("write `{path}`"))?;
                root.set(&components(&path.0)?, entry)
                    .with_context(|| format!("write `{path}`"))?;
                touched.insert(path.0.clone());
            }
            Change::Edit { path, edit } => {
                let parts = components(&path.0)?;
                let (oid, mode) = root
                    .get(&parts)
                    .ok_or_else(|| anyhow!("edit `{path}`: no such file"))?;
                ensure!(
                    mode == MODE_FILE || mode == MODE_EXECUTABLE,
                    "edit `{path}`: not a regular file"
                );
                let old = self.repo.find_blob(oid)?.content().to_vec();
                let new = match edit {
                    Edit::Append(text) => [old.as_slice(), &text.0].concat(),
                    Edit::Replace {
                        old: needle,
                        new: replacement,
                    } => {
                        let found: Vec<usize> = old
                            .windows(needle.0.len().max(1))
                            .enumerate()
                            .filter(|(_, w)| *w == needle.0.as_slice())
                            .map(|(i, _)| i)
                            .collect();
                        ensure!(
                            found.len() == 1 && !needle.0.is_empty(),
                            "edit `{path}`: `{needle}` occurs {} times, expected once",
                            found.len()
                        );
                        let at = found[0];
                        [
                            &old[..at],
                            replacement.0.as_slice(),
                            &old[at + needle.0.len()..],
                        ]
                        .concat()
                    }
                };
                root.set(&parts, (self.repo.blob(&new)?, mode))?;
                touched.insert(path.0.clone());
            }
            Change::Delete { path } => {
                let node = root
                    .take(&components(&path.0)?)
                    .ok_or_else(|| anyhow!("delete `{path}`: no such file or directory"))?;
                touch(touched, &path.0, &node);
            }
            Change::Rename {
                from,
                to,
                content,
                executable,
            } => {
                let node = root
                    .take(&components(&from.0)?)
                    .ok_or_else(|| anyhow!("rename `{from}`: no such file or directory"))?;
                touch(touched, &from.0, &node);
                let node = match (node, content) {
                    (Node::File(_), Some(content)) => {
                        Node::File(self.content_entry(&to.0, content, *executable, label)?)
                    }
                    (Node::File((oid, _)), None) if *executable => {
                        Node::File((oid, MODE_EXECUTABLE))
                    }
                    (Node::Dir(_), Some(_)) => {
                        bail!("rename `{from}`: a directory cannot take a new content")
                    }
                    (node, _) => node,
                };
                touch(touched, &to.0, &node);
                root.put(&components(&to.0)?, node)
                    .with_context(|| format!("rename to `{to}`"))?;
            }
            Change::Generate(generate) => {
                for n in 0..generate.count {
                    let path = generate.path.replace("{n}", &n.to_string());
                    let content = filler_lines(path.as_bytes(), label, generate.lines);
                    root.set(
                        &components(path.as_bytes())?,
                        (self.repo.blob(&content)?, MODE_FILE),
                    )
                    .with_context(|| format!("generate `{path}`"))?;
                    touched.insert(path.into_bytes());
                }
            }
        }
        Ok(())
    }

    fn content_entry(
        &self,
        path: &[u8],
        content: &Content,
        executable: bool,
        label: &str,
    ) -> Result<FileEntry> {
        let mode = if executable {
            MODE_EXECUTABLE
        } else {
            MODE_FILE
        };
        Ok(match content {
            Content::Text(text) => (self.repo.blob(&text.0)?, mode),
            Content::Lines(count) => (self.repo.blob(&filler_lines(path, label, *count))?, mode),
            Content::Binary(size) => (self.repo.blob(&filler_binary(path, label, *size))?, mode),
            Content::Symlink(target) => (self.repo.blob(&target.0)?, MODE_SYMLINK),
            Content::Gitlink(hex) => {
                ensure!(hex.len() == 40, "gitlink needs a full 40-digit commit id");
                (Oid::from_str(hex)?, MODE_GITLINK)
            }
        })
    }

    /// Writes the commit object byte for byte as `git commit` would; git2's
    /// `Repository::commit` takes `&str` and so cannot store the non-UTF-8
    /// messages real histories contain.
    fn write_commit(
        &self,
        commit: &CommitSpec,
        index: usize,
        tree: Oid,
        parents: &[Oid],
    ) -> Result<Oid> {
        let author = &self.spec.authors[&commit.author];
        let committer = &self.spec.authors[commit.committer.as_ref().unwrap_or(&commit.author)];
        let mut object = Vec::new();
        writeln!(object, "tree {tree}")?;
        for parent in parents {
            writeln!(object, "parent {parent}")?;
        }
        writeln!(
            object,
            "author {} <{}> {}",
            author.name,
            author.email,
            self.times.authored[index].git_format()
        )?;
        writeln!(
            object,
            "committer {} <{}> {}",
            committer.name,
            committer.email,
            self.times.committed[index].git_format()
        )?;
        if let Some(encoding) = &commit.encoding {
            ensure!(
                !encoding.contains('\n'),
                "encoding may not contain a newline"
            );
            writeln!(object, "encoding {encoding}")?;
        }
        object.push(b'\n');
        // Like `git commit`: one trailing newline, none for an empty message.
        let message = &expand_commit_refs(&commit.message.0, &self.ids)?;
        let end = message
            .iter()
            .rposition(|b| !b.is_ascii_whitespace())
            .map_or(0, |i| i + 1);
        if end > 0 {
            object.extend_from_slice(&message[..end]);
            object.push(b'\n');
        }
        Ok(self.repo.odb()?.write(ObjectType::Commit, &object)?)
    }

    /// Points the refs at the built commits and returns the label -> id map.
    fn finish(self) -> Result<BTreeMap<String, String>> {
        for (name, branch) in &self.branches {
            if let Some(tip) = branch.tip {
                self.repo
                    .reference(&format!("refs/heads/{name}"), tip, true, "fixture")
                    .with_context(|| format!("branch `{name}`"))?;
            }
        }
        for (tag, oid) in &self.tags {
            self.repo
                .reference(&format!("refs/tags/{tag}"), *oid, false, "fixture")
                .with_context(|| format!("tag `{tag}`"))?;
        }
        self.repo
            .set_head(&format!("refs/heads/{}", self.spec.default_branch))?;
        Ok(self
            .ids
            .into_iter()
            .map(|(label, oid)| (label, oid.to_string()))
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_parse_as_rfc3339_or_offsets() {
        let base = parse_when("2024-05-01T09:00:00+02:00", None).unwrap();
        assert_eq!(
            base,
            Moment {
                seconds: 1_714_546_800,
                offset_minutes: 120
            }
        );
        let later = parse_when("+1d2h30m", Some(base)).unwrap();
        assert_eq!(later.seconds - base.seconds, 86_400 + 2 * 3_600 + 30 * 60);
        assert_eq!(later.offset_minutes, 120);
        assert_eq!(
            parse_when("-1w", Some(base)).unwrap().seconds,
            base.seconds - 7 * 86_400
        );
        assert_eq!(parse_when("+0", Some(base)).unwrap(), base);
        assert_eq!(
            parse_when("2024-05-01T07:00:00Z", None).unwrap().seconds,
            base.seconds
        );
        assert!(parse_when("+2x", Some(base)).is_err());
        assert!(parse_when("+1d", None).is_err());
        assert!(parse_when("yesterday", None).is_err());
        assert_eq!(
            Moment {
                seconds: 5,
                offset_minutes: -330
            }
            .git_format(),
            "5 -0530"
        );
    }

    #[test]
    fn bytes_accept_strings_latin1_and_hex() {
        let parse = |yaml: &str| serde_yaml::from_str::<Bytes>(yaml).map(|b| b.0);
        assert_eq!(parse("café").unwrap(), "café".as_bytes());
        assert_eq!(parse("{latin1: café}").unwrap(), b"caf\xe9");
        assert_eq!(parse("{hex: '63 61 66 e9'}").unwrap(), b"caf\xe9");
        assert_eq!(parse("300").unwrap(), b"300");
        assert!(parse("{latin1: 日本}").is_err());
        assert!(parse("{utf16: x}").is_err());
    }

    #[test]
    fn changes_reject_wrong_field_combinations() {
        let parse = |yaml: &str| serde_yaml::from_str::<Change>(yaml);
        assert!(matches!(
            parse("{write: a.txt, lines: 3}").unwrap(),
            Change::Write {
                content: Content::Lines(3),
                ..
            }
        ));
        assert!(matches!(
            parse("{rename: a, to: b}").unwrap(),
            Change::Rename { content: None, .. }
        ));
        assert!(parse("{write: a.txt}").is_err());
        assert!(parse("{write: a.txt, text: x, lines: 3}").is_err());
        assert!(parse("{delete: a, to: b}").is_err());
        assert!(parse("{edit: a, replace: x}").is_err());
        assert!(parse("{generate: {count: 3, path: same.txt}}").is_err());
        assert!(parse("{write: a, text: x, colour: red}").is_err());
    }

    #[test]
    fn filler_is_deterministic_and_counted() {
        let lines = filler_lines(b"src/a.c", "init", 40);
        assert_eq!(lines, filler_lines(b"src/a.c", "init", 40));
        assert_ne!(lines, filler_lines(b"src/a.c", "later", 40));
        assert_eq!(lines.iter().filter(|&&b| b == b'\n').count(), 40);
        let binary = filler_binary(b"logo.png", "init", 4096);
        assert_eq!(binary.len(), 4096);
        assert!(binary[..8000.min(binary.len())].contains(&0));
    }

    #[test]
    fn messages_can_name_earlier_commits() {
        let id = Oid::from_str("0123456789abcdef0123456789abcdef01234567").unwrap();
        let ids = BTreeMap::from([("bad".to_owned(), id)]);
        let expanded = expand_commit_refs(b"Fixes: {short:bad}\nreverts {id:bad} {x} {", &ids);
        assert_eq!(
            String::from_utf8(expanded.unwrap()).unwrap(),
            "Fixes: 0123456789ab\nreverts 0123456789abcdef0123456789abcdef01234567 {x} {"
        );
        assert!(expand_commit_refs(b"{id:later}", &ids).is_err());
    }

    #[test]
    fn directories_are_deleted_and_renamed_whole() {
        let id = Oid::from_str("0123456789abcdef0123456789abcdef01234567").unwrap();
        let mut root: Rc<Dir> = Rc::default();
        for path in [&b"a/b/one"[..], b"a/b/two", b"a/three"] {
            root.set(&components(path).unwrap(), (id, MODE_FILE))
                .unwrap();
        }
        let b = root.take(&components(b"a/b").unwrap()).unwrap();
        root.put(&components(b"c/b").unwrap(), b).unwrap();
        let mut files = BTreeMap::new();
        root.flatten(&mut Vec::new(), &mut files);
        let paths: Vec<&[u8]> = files.keys().map(Vec::as_slice).collect();
        assert_eq!(paths, [&b"a/three"[..], b"c/b/one", b"c/b/two"]);
        assert!(root.remove(&components(b"a/three").unwrap()).is_some());
        assert!(
            !root.entries.contains_key(&b"a"[..]),
            "empty directories go away"
        );
        assert!(root
            .set(&components(b"c/b/one/x").unwrap(), (id, MODE_FILE))
            .is_err());
    }

    #[test]
    fn paths_are_checked() {
        assert!(components(b"a/b/c.txt").is_ok());
        for bad in [&b"/a"[..], b"a//b", b"a/../b", b".git/config", b"a/"] {
            assert!(components(bad).is_err(), "{}", String::from_utf8_lossy(bad));
        }
    }
}
