//! The diff cache: what the history walk read from each commit's diff, kept
//! outside the repository so that a second investigation over the same
//! commits (another title, a wider window, a backtest) skips the blob reads.
//!
//! A commit's changed files and [`ChangeText`] are a function of the commit
//! alone (its tree against its first parent's, both fixed by its id) and of
//! the code that reads them. Entries are therefore keyed by commit id, under
//! a folder named after a digest of that code (`history.rs`, `diff.rs`,
//! this file) and rca's version: a build that reads diffs differently never sees another's
//! entries. A commit with a blob missing from the repository (a partial
//! clone) is not stored, since fetching the blob would change its reading.
//!
//! The folder is `$RCA_CACHE_DIR`, else `$XDG_CACHE_HOME/rca`, else
//! `~/.cache/rca`. Each entry is one small JSON file written to a temporary
//! name and renamed, so concurrent runs never see half an entry. The cache
//! is an accelerator only: an entry that cannot be read or parsed is read
//! from the repository again, and a folder that cannot be written is left
//! alone; neither fails the investigation.
//!
//! Each run through the user's cache marks its version's folder as used
//! (`last-used`) and removes the folders of other versions unused for
//! [`UNUSED_DAYS`] days, so that upgrades do not pile up old readings.

use crate::diff::ChangeText;
use crate::history::FileChange;
use git2::Oid;
use serde::{Deserialize, Serialize};
use std::borrow::Cow;
use std::io::Write;
use std::path::{Path, PathBuf};
use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

/// Folders of other reading versions unused this long are removed.
pub const UNUSED_DAYS: u64 = 30;

/// The file whose modification time says when a version's folder was last
/// used.
const MARKER: &str = "last-used";

/// A folder of cached diff readings, one file per commit.
#[derive(Debug, Clone)]
pub struct DiffCache {
    dir: PathBuf,
}

/// One commit's entry: written from borrowed readings, read back owned.
#[derive(Serialize, Deserialize)]
struct Entry<'a> {
    id: Cow<'a, str>,
    files: Cow<'a, [FileChange]>,
    diff: Cow<'a, ChangeText>,
}

/// A digest of the code that reads diffs and of rca's version: entries
/// written by other code live in other folders. Should hashing ever fail,
/// the folder is this process's own, so that no other build shares it.
fn reading_version() -> &'static str {
    static VERSION: OnceLock<String> = OnceLock::new();
    VERSION.get_or_init(|| {
        let code = [
            env!("CARGO_PKG_VERSION"),
            include_str!("history.rs"),
            include_str!("diff.rs"),
            include_str!("cache.rs"),
        ]
        .concat();
        match Oid::hash_object(git2::ObjectType::Blob, code.as_bytes()) {
            Ok(id) => id.to_string()[..16].to_owned(),
            Err(_) => format!("unhashed-{}", std::process::id()),
        }
    })
}

impl DiffCache {
    /// The cache under `root` (entries go in a subfolder per reading
    /// version).
    pub fn at(root: &Path) -> DiffCache {
        DiffCache {
            dir: root.join(format!("diff-{}", reading_version())),
        }
    }

    /// The user's cache: `$RCA_CACHE_DIR`, else `$XDG_CACHE_HOME/rca`, else
    /// `$HOME/.cache/rca`; none when no such folder can be named.
    pub fn user() -> Option<DiffCache> {
        let var = |name| std::env::var_os(name).filter(|v| !v.is_empty());
        let root = var("RCA_CACHE_DIR")
            .map(PathBuf::from)
            .or_else(|| var("XDG_CACHE_HOME").map(|d| PathBuf::from(d).join("rca")))
            .or_else(|| var("HOME").map(|d| PathBuf::from(d).join(".cache").join("rca")))?;
        Some(DiffCache::open(&root, SystemTime::now()))
    }

    /// The cache under `root`, marked as used at `now`, after removing the
    /// folders of other versions unused for [`UNUSED_DAYS`] days. Errors
    /// are ignored, as everywhere in the cache.
    pub fn open(root: &Path, now: SystemTime) -> DiffCache {
        let cache = DiffCache::at(root);
        let _ = std::fs::create_dir_all(&cache.dir)
            .and_then(|()| std::fs::File::create(cache.dir.join(MARKER)))
            .and_then(|marker| marker.set_modified(now));
        let stale = now
            .checked_sub(Duration::from_secs(UNUSED_DAYS * 86_400))
            .unwrap_or(SystemTime::UNIX_EPOCH);
        for entry in std::fs::read_dir(root).into_iter().flatten().flatten() {
            let path = entry.path();
            let is_version = entry.file_name().to_string_lossy().starts_with("diff-");
            if !is_version || path == cache.dir {
                continue;
            }
            let used = std::fs::metadata(path.join(MARKER))
                .or_else(|_| std::fs::metadata(&path))
                .and_then(|m| m.modified());
            if matches!(used, Ok(used) if used < stale) {
                let _ = std::fs::remove_dir_all(&path);
            }
        }
        cache
    }

    /// The folder entries are read from and written to.
    #[cfg(test)]
    fn dir(&self) -> &Path {
        &self.dir
    }

    fn path(&self, id: Oid) -> PathBuf {
        let hex = id.to_string();
        self.dir.join(&hex[..2]).join(&hex[2..])
    }

    /// The stored reading of commit `id`, if there is a sound one.
    pub fn get(&self, id: Oid) -> Option<(Vec<FileChange>, ChangeText)> {
        let bytes = std::fs::read(self.path(id)).ok()?;
        let entry: Entry = serde_json::from_slice(&bytes).ok()?;
        (entry.id == id.to_string()).then(|| (entry.files.into_owned(), entry.diff.into_owned()))
    }

    /// Stores the reading of commit `id`. Errors are ignored: the cache only
    /// saves time.
    pub fn put(&self, id: Oid, files: &[FileChange], diff: &ChangeText) {
        if files.iter().any(|f| f.missing) {
            return;
        }
        let _ = self.try_put(id, files, diff);
    }

    fn try_put(&self, id: Oid, files: &[FileChange], diff: &ChangeText) -> std::io::Result<()> {
        let path = self.path(id);
        let folder = path.parent().unwrap_or(&self.dir);
        std::fs::create_dir_all(folder)?;
        let entry = Entry {
            id: Cow::Owned(id.to_string()),
            files: Cow::Borrowed(files),
            diff: Cow::Borrowed(diff),
        };
        let mut file = tempfile::NamedTempFile::new_in(folder)?;
        serde_json::to_writer(&mut file, &entry)?;
        file.flush()?;
        file.persist(&path).map_err(|e| e.error)?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::diff::Term;

    fn sample() -> (Vec<FileChange>, ChangeText) {
        let files = vec![FileChange {
            path: "drivers/net/mlx5/mlx5_ethdev.c".into(),
            old_path: Some("drivers/net/mlx5/old.c".into()),
            added: 3,
            removed: 1,
            binary: false,
            missing: false,
        }];
        let diff = ChangeText {
            identifiers: vec![Term {
                text: "rte_eth_dev_stop".into(),
                file: 0,
                hunk: Some(0),
            }],
            functions: vec![Term {
                text: "mlx5_dev_stop".into(),
                file: 0,
                hunk: None,
            }],
            bytes_read: 120,
            cut: true,
            ..ChangeText::default()
        };
        (files, diff)
    }

    #[test]
    fn an_entry_reads_back_as_written() {
        let root = tempfile::tempdir().unwrap();
        let cache = DiffCache::at(root.path());
        let id = Oid::from_str("08ac03580ef29aef529d6fd1633a9052c6ceaacc").unwrap();
        assert!(cache.get(id).is_none());
        let (files, diff) = sample();
        cache.put(id, &files, &diff);
        let (read_files, read_diff) = cache.get(id).unwrap();
        assert_eq!(read_diff, diff);
        assert_eq!(
            serde_json::to_string(&read_files).unwrap(),
            serde_json::to_string(&files).unwrap()
        );
        assert!(cache.dir().starts_with(root.path()));
    }

    #[test]
    fn damaged_or_misplaced_entries_are_misses() {
        let root = tempfile::tempdir().unwrap();
        let cache = DiffCache::at(root.path());
        let id = Oid::from_str("08ac03580ef29aef529d6fd1633a9052c6ceaacc").unwrap();
        let other = Oid::from_str("63625c5da1853b6d5a4f44b713c7d4a3d49ceb0a").unwrap();
        let (files, diff) = sample();
        cache.put(id, &files, &diff);
        // An entry copied under another commit's name is not that commit's.
        std::fs::create_dir_all(cache.path(other).parent().unwrap()).unwrap();
        std::fs::copy(cache.path(id), cache.path(other)).unwrap();
        assert!(cache.get(other).is_none());
        // A truncated entry is a miss, and a later put mends it.
        std::fs::write(cache.path(id), b"{\"id\":\"08ac").unwrap();
        assert!(cache.get(id).is_none());
        cache.put(id, &files, &diff);
        assert!(cache.get(id).is_some());
    }

    #[test]
    fn readings_with_missing_blobs_are_not_stored() {
        let root = tempfile::tempdir().unwrap();
        let cache = DiffCache::at(root.path());
        let id = Oid::from_str("08ac03580ef29aef529d6fd1633a9052c6ceaacc").unwrap();
        let (mut files, diff) = sample();
        files[0].missing = true;
        cache.put(id, &files, &diff);
        assert!(cache.get(id).is_none());
    }

    #[test]
    fn other_versions_unused_for_a_month_are_removed() {
        let root = tempfile::tempdir().unwrap();
        let now = SystemTime::now();
        let day = Duration::from_secs(86_400);
        let version = |name: &str, used: SystemTime| {
            let dir = root.path().join(name);
            std::fs::create_dir_all(dir.join("ab")).unwrap();
            std::fs::write(dir.join("ab").join("cdef"), b"{}").unwrap();
            let marker = std::fs::File::create(dir.join(MARKER)).unwrap();
            marker.set_modified(used).unwrap();
            dir
        };
        let old = version("diff-0000000000000000", now - 40 * day);
        let recent = version("diff-1111111111111111", now - 10 * day);
        let unrelated = root.path().join("notes");
        std::fs::create_dir_all(&unrelated).unwrap();
        let cache = DiffCache::open(root.path(), now);
        assert!(!old.exists(), "a version unused for 40 days is removed");
        assert!(recent.exists(), "one used 10 days ago stays");
        assert!(unrelated.exists(), "only version folders are touched");
        assert!(cache.dir().join(MARKER).exists(), "this version is marked");
        // This version is never removed, however old its mark.
        let later = DiffCache::open(root.path(), now + 100 * day);
        assert_eq!(later.dir(), cache.dir());
        assert!(cache.dir().exists());
        assert!(!recent.exists());
    }

    #[test]
    fn an_unwritable_folder_is_not_an_error() {
        let root = tempfile::tempdir().unwrap();
        let blocker = root.path().join("file");
        std::fs::write(&blocker, b"not a folder").unwrap();
        let cache = DiffCache::at(&blocker);
        let id = Oid::from_str("08ac03580ef29aef529d6fd1633a9052c6ceaacc").unwrap();
        let (files, diff) = sample();
        cache.put(id, &files, &diff);
        assert!(cache.get(id).is_none());
    }
}
