//! Subcommands: one file each, with a `run` entry point. They turn parsed
//! arguments into checked settings, call the library stages, and print
//! through [`out`].

pub mod backtest;
pub mod bisect;
pub mod calibrate;
pub mod fixture;
pub mod investigate;
pub mod judge;
pub mod mine;
pub mod progress;
pub mod ranking;
pub mod train;

use crate::cli::{CasesCommand, Cli, Command};
use crate::error::exit_code;
use anyhow::Result;
use clap::CommandFactory;
use std::io::Write;

/// Runs a parsed command line; the value is the exit code.
pub fn run(cli: Cli) -> Result<u8> {
    match cli.command {
        Command::Investigate(args) => investigate::run(args),
        Command::Bisect(args) => bisect::run(args),
        Command::Backtest(args) => backtest::run(args),
        Command::Calibrate(args) => calibrate::run(args),
        Command::Train(args) => train::run(args),
        Command::Fixture(args) => fixture::run(args).map(|()| exit_code::SUCCESS),
        Command::Cases(cases) => match cases.command {
            CasesCommand::Mine(args) => mine::run(args),
        },
        Command::Completions(args) => {
            let mut text = Vec::new();
            clap_complete::generate(args.shell, &mut Cli::command(), "rca", &mut text);
            out(&String::from_utf8_lossy(&text))?;
            Ok(exit_code::SUCCESS)
        }
        Command::Man(_) => {
            let mut roff = Vec::new();
            clap_mangen::Man::new(Cli::command())
                .render(&mut roff)
                .map_err(|e| crate::error::input(format!("writing the man page: {e}")))?;
            out(&String::from_utf8_lossy(&roff))?;
            Ok(exit_code::SUCCESS)
        }
    }
}

/// Fails early, before long work, when an output file cannot be written:
/// a missing folder, a directory in the way, or a folder or file that
/// refuses writing. `flag` names the option. An existing file is opened
/// for appending and left as it is; otherwise a probe file is created in
/// the folder and removed again.
pub(crate) fn check_writable(flag: &str, path: &std::path::Path) -> Result<()> {
    let parent = match path.parent() {
        Some(p) if !p.as_os_str().is_empty() => p,
        _ => std::path::Path::new("."),
    };
    if !parent.is_dir() {
        return Err(crate::error::input(format!(
            "{flag} {}: folder {} does not exist",
            path.display(),
            parent.display()
        )));
    }
    if path.is_dir() {
        return Err(crate::error::input(format!(
            "{flag} {}: is a directory",
            path.display()
        )));
    }
    let refused = |e: std::io::Error| {
        crate::error::input(format!("{flag} {}: cannot write: {e}", path.display()))
    };
    if path.exists() {
        std::fs::OpenOptions::new()
            .append(true)
            .open(path)
            .map_err(refused)?;
    } else {
        let probe = parent.join(format!(".rca-write-probe-{}", std::process::id()));
        std::fs::OpenOptions::new()
            .write(true)
            .create_new(true)
            .open(&probe)
            .map_err(refused)?;
        let _ = std::fs::remove_file(&probe);
    }
    Ok(())
}

/// The one place that writes results to stdout. A closed pipe (`| head`)
/// ends the output quietly.
pub fn out(text: &str) -> Result<()> {
    let mut stdout = std::io::stdout().lock();
    match stdout
        .write_all(text.as_bytes())
        .and_then(|()| stdout.flush())
    {
        Err(e) if e.kind() == std::io::ErrorKind::BrokenPipe => Ok(()),
        other => Ok(other?),
    }
}

/// How a report names the repository: its work tree, or its git
/// directory when it is bare.
pub fn repository_label(repo: &git2::Repository) -> String {
    repo.workdir()
        .unwrap_or_else(|| repo.path())
        .display()
        .to_string()
}

/// Quotes a value for a reproducible shell command line.
pub fn shell_quote(value: &str) -> String {
    if !value.is_empty()
        && value
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-_./:@=+,".contains(&b))
    {
        value.to_owned()
    } else {
        format!("'{}'", value.replace('\'', r"'\''"))
    }
}
