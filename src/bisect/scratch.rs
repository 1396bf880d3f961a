//! Where `rca bisect` runs the user's command: scratch checkouts that never
//! touch the user's repository.
//!
//! A scratch checkout is a new repository in a temporary folder that
//! borrows the user's objects through `objects/info/alternates` (as
//! `git clone --shared` does), with a detached HEAD at the commit under
//! test. Nothing is written into the user's repository: not its HEAD,
//! index, working tree, refs or worktree list. Each checkout is removed
//! when it is dropped, on success, on error and on Ctrl-C. Build outputs
//! stay between runs in the same checkout, as with `git bisect run`.

use crate::error::input;
use anyhow::{Context, Result};
use git2::{build::CheckoutBuilder, Oid, Repository};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

/// One scratch checkout.
pub struct Scratch {
    repo: Repository,
    // Dropped last: removes the folder.
    dir: tempfile::TempDir,
}

impl Scratch {
    /// Creates an empty checkout that reads `source`'s objects.
    pub fn create(source: &Repository) -> Result<Scratch> {
        let dir = tempfile::Builder::new()
            .prefix("rca-bisect-")
            .tempdir()
            .context("creating a scratch folder")?;
        Repository::init(dir.path()).context("creating a scratch repository")?;
        let objects = source
            .commondir()
            .join("objects")
            .canonicalize()
            .context("finding the repository's objects")?;
        let git = dir.path().join(".git");
        std::fs::write(
            git.join("objects/info/alternates"),
            format!("{}\n", objects.display()),
        )?;
        // A shallow source's edge goes with it, so that git in the
        // checkout stops there as it does in the source.
        let shallow = source.commondir().join("shallow");
        if shallow.is_file() {
            std::fs::copy(&shallow, git.join("shallow"))?;
        }
        let repo = Repository::open(dir.path()).context("opening the scratch repository")?;
        Ok(Scratch { repo, dir })
    }

    pub fn path(&self) -> &Path {
        self.dir.path()
    }

    /// Checks out `id` (detached), replacing tracked files; untracked files
    /// (build outputs) stay.
    pub fn checkout(&self, id: &str) -> Result<()> {
        let oid = Oid::from_str(id)?;
        let commit = self.repo.find_commit(oid)?;
        self.repo
            .checkout_tree(commit.as_object(), Some(CheckoutBuilder::new().force()))
            .with_context(|| format!("checking out {id} in {}", self.path().display()))?;
        self.repo.set_head_detached(oid)?;
        Ok(())
    }
}

/// How one run of the command ended.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Ended {
    /// The exit code (None: killed by a signal).
    pub code: Option<i32>,
    pub seconds: f64,
}

/// Runs `command` with `sh -c` in each `(scratch, commit)` at once, and
/// waits for all. The command sees `RCA_BISECT_COMMIT`; its standard output
/// goes to rca's standard error, so that rca's own output stays clean.
pub fn run_all(command: &str, jobs: &[(&Scratch, &str)]) -> Result<Vec<Ended>> {
    crate::interrupt::check()?;
    let mut running: Vec<(Child, Instant)> = Vec::with_capacity(jobs.len());
    let mut spawned = || -> Result<()> {
        for (scratch, commit) in jobs {
            scratch.checkout(commit)?;
            crate::interrupt::check()?;
            running.push((spawn(command, scratch.path(), commit)?, Instant::now()));
        }
        Ok(())
    };
    let started = spawned();
    let mut ended: Vec<Option<Ended>> = vec![None; running.len()];
    let outcome = started.and_then(|()| loop {
        for (i, (child, at)) in running.iter_mut().enumerate() {
            if ended[i].is_none() {
                if let Some(status) = child.try_wait()? {
                    ended[i] = Some(Ended {
                        code: status.code(),
                        seconds: at.elapsed().as_secs_f64(),
                    });
                }
            }
        }
        if ended.iter().all(Option::is_some) {
            break Ok(());
        }
        crate::interrupt::check()?;
        std::thread::sleep(Duration::from_millis(20));
    });
    if let Err(e) = outcome {
        for (child, _) in &mut running {
            stop(child);
        }
        return Err(e);
    }
    Ok(ended.into_iter().map(|e| e.expect("all ended")).collect())
}

fn spawn(command: &str, dir: &Path, commit: &str) -> Result<Child> {
    use std::os::fd::AsFd as _;
    use std::os::unix::process::CommandExt as _;
    let stdout = std::io::stderr()
        .as_fd()
        .try_clone_to_owned()
        .map_or_else(|_| Stdio::null(), Stdio::from);
    Command::new("sh")
        .arg("-c")
        .arg(command)
        .current_dir(dir)
        .env("RCA_BISECT_COMMIT", commit)
        .stdin(Stdio::null())
        .stdout(stdout)
        // Its own process group, so that stopping it stops what it started.
        .process_group(0)
        .spawn()
        .map_err(|e| input(format!("--run: cannot start sh: {e}")))
}

/// Stops a command and everything in its process group.
fn stop(child: &mut Child) {
    if let Ok(pid) = i32::try_from(child.id()) {
        kill_group(pid, libc::SIGTERM);
        let deadline = Instant::now() + Duration::from_secs(2);
        while Instant::now() < deadline {
            if matches!(child.try_wait(), Ok(Some(_))) {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        kill_group(pid, libc::SIGKILL);
    }
    let _ = child.kill();
    let _ = child.wait();
}

#[allow(unsafe_code)]
fn kill_group(pid: i32, signal: i32) {
    // SAFETY: kill(2) with a negative pid signals that process group; it
    // reads and writes no memory of ours.
    unsafe {
        libc::kill(-pid, signal);
    }
}
