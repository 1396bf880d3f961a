//! Error kinds and exit codes.
//!
//! Library stages return `anyhow` errors with context. Where the command
//! line must tell the user *what kind* of failure happened (so that runbook
//! scripts can branch on the exit code), the error carries a [`Kind`] through
//! [`Failure`]. Anything without a kind is an internal error.

use std::fmt;

/// Documented exit codes (see README.md).
pub mod exit_code {
    /// Suspects found with enough confidence.
    pub const SUCCESS: u8 = 0;
    /// The ranking ran, but no suspect reached `--min-confidence`: the tool abstains.
    pub const NOT_CONFIDENT: u8 = 1;
    /// Bad command line (clap's own code).
    pub const USAGE: u8 = 2;
    /// Bad input: not a repository, unknown ref, bad date, empty window,
    /// malformed ownership or cases file.
    pub const INPUT: u8 = 3;
    /// The model could not be used: missing, truncated, not GGUF, unsupported.
    pub const MODEL: u8 = 4;
    /// The ranking ran, but the window reaches past the edge of a shallow
    /// or incomplete clone: commits are missing from it (the report says
    /// which part and how to fetch it). Takes precedence over 1.
    pub const INCOMPLETE_HISTORY: u8 = 5;
    /// `rca bisect`: the culprit is not in the window. The command fails
    /// even before the window, or does not fail even at its tip.
    pub const NOT_IN_WINDOW: u8 = 6;
    /// The model server (`--model openai:...`) could not be used:
    /// unreachable or timed out after retries, no such model, no
    /// log-probabilities in its replies, a prompt longer than its context.
    pub const SERVER: u8 = 7;
    /// Interrupted (Ctrl-C): the scratch checkouts are removed.
    pub const INTERRUPTED: u8 = 130;
    /// A bug or an unexpected environment failure.
    pub const INTERNAL: u8 = 70;
}

/// What kind of failure an error is, for the exit code.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Usage,
    Input,
    Model,
    Server,
}

impl Kind {
    pub fn exit_code(self) -> u8 {
        match self {
            Kind::Usage => exit_code::USAGE,
            Kind::Input => exit_code::INPUT,
            Kind::Model => exit_code::MODEL,
            Kind::Server => exit_code::SERVER,
        }
    }
}

/// An error whose kind decides the exit code.
#[derive(Debug)]
pub struct Failure {
    pub kind: Kind,
    pub message: String,
}

impl fmt::Display for Failure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for Failure {}

/// Builds an input error.
pub fn input(message: impl Into<String>) -> anyhow::Error {
    Failure {
        kind: Kind::Input,
        message: message.into(),
    }
    .into()
}

/// Builds a usage error.
/// Reads and parses a YAML file. Both failures are one-line input errors
/// that start with `what` and the path; an empty file reads as `empty`.
pub fn read_yaml<T: serde::de::DeserializeOwned>(
    path: &std::path::Path,
    what: &str,
    empty: Option<T>,
) -> anyhow::Result<T> {
    let name = format!("{what}{}", path.display());
    let text = std::fs::read_to_string(path).map_err(|e| input(format!("{name}: {e}")))?;
    match empty {
        Some(value) if text.trim().is_empty() => Ok(value),
        _ => serde_yaml::from_str(&text)
            .map_err(|e| input(format!("{name}: {}", e.to_string().replace('\n', " ")))),
    }
}

pub fn usage(message: impl Into<String>) -> anyhow::Error {
    Failure {
        kind: Kind::Usage,
        message: message.into(),
    }
    .into()
}

/// Builds a model error.
pub fn model(message: impl Into<String>) -> anyhow::Error {
    Failure {
        kind: Kind::Model,
        message: message.into(),
    }
    .into()
}

/// Builds a model-server error.
pub fn server(message: impl Into<String>) -> anyhow::Error {
    Failure {
        kind: Kind::Server,
        message: message.into(),
    }
    .into()
}

/// The exit code for an error: the kind of the first [`Failure`] in its
/// chain, else internal.
pub fn exit_code_of(err: &anyhow::Error) -> u8 {
    err.chain()
        .find_map(|e| e.downcast_ref::<Failure>().map(|f| f.kind.exit_code()))
        .unwrap_or(exit_code::INTERNAL)
}

/// Renders an error as one line: the context chain joined by ": ", with
/// newlines folded so that a runbook log stays one record per failure.
pub fn one_line(err: &anyhow::Error) -> String {
    format!("{err:#}").replace(['\n', '\r'], " ")
}

/// Marks every error of a result as an input error, keeping its message.
pub trait InputContext<T> {
    fn input_err(self, what: impl FnOnce() -> String) -> anyhow::Result<T>;
}

impl<T, E: fmt::Display> InputContext<T> for Result<T, E> {
    fn input_err(self, what: impl FnOnce() -> String) -> anyhow::Result<T> {
        self.map_err(|e| input(format!("{}: {e}", what())))
    }
}
