//! rca: an offline investigator that ranks the commits most likely to have
//! caused an incident.
//!
//! The pipeline runs one way over plain data, one module per stage:
//!
//! ```text
//! history ──▶ retrieve ──▶ rank ──▶ report
//! (Commit)    (Candidate)  (Suspect)
//! ```
//!
//! `ownership` feeds the retriever, `model` serves the rank stage's judge,
//! `cases` and `fixture` serve backtests and tests; `mine` finds cases in a
//! repository's own history.

pub mod bisect;
pub mod cache;
pub mod calibrate;
pub mod cases;
pub mod cli;
pub mod cmd;
pub mod config;
pub mod diff;
pub mod error;
pub mod fixture;
pub mod history;
pub mod interrupt;
pub mod investigation;
pub mod mine;
pub mod model;
pub mod ownership;
pub mod plot;
pub mod rank;
pub mod report;
pub mod retrieve;
pub mod text;
pub mod train;
pub mod when;
pub mod yaml;
