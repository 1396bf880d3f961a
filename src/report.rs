//! Report: the result of an investigation as a human table or as JSON.
//!
//! [`Report`] is the JSON document (schema in docs/json-schema.md); the
//! text rendering reads the same value, so the two never disagree.

use crate::rank::{RoundScore, Suspect};
use crate::retrieve::{Evidence, FEATURES};
use crate::when::{age, rfc3339, Seconds};
use serde::Serialize;
use std::collections::BTreeMap;
use std::fmt::Write as _;

pub const SCHEMA: &str = "rca.investigation/1";

/// An investigation's result.
#[derive(Debug, Clone, Serialize)]
pub struct Report {
    pub schema: &'static str,
    pub title: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub impact: Option<String>,
    pub team_hints: Vec<String>,
    pub path_hints: Vec<String>,
    pub repository: String,
    /// The commit the investigation starts from.
    pub start: String,
    pub since: String,
    pub until: String,
    pub window: WindowSummary,
    /// Candidates kept by retrieval.
    pub candidates: usize,
    /// `heuristic` or `llm`.
    pub ranker: String,
    /// The fusion of the retrieval signals: `built-in`, or the id of a
    /// fusion trained by `rca train`.
    pub fusion: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub model: Option<serde_json::Value>,
    /// Chance that the culprit is among the suspects: calibrated when
    /// `calibrated`, else `raw_confidence`.
    pub confidence: f64,
    /// The sum of the listed suspects' probabilities, before calibration.
    pub raw_confidence: f64,
    /// Whether `confidence` went through a fitted calibration.
    pub calibrated: bool,
    pub min_confidence: f64,
    /// True when `confidence < min_confidence`: the suspects are listed, but
    /// the tool does not stand behind them.
    pub abstained: bool,
    pub suspects: Vec<SuspectReport>,
    pub timings: Timings,
    /// A command line that reproduces this ranking.
    pub reproduce: String,
}

#[derive(Debug, Clone, Serialize)]
pub struct WindowSummary {
    pub commits: usize,
    pub mainline: usize,
    pub merged_in: usize,
    /// The walk reached the edge of a shallow clone.
    pub truncated: bool,
    /// Commits whose diff reading came from the cache rather than the
    /// repository's blobs.
    pub from_cache: usize,
    /// Where the readable history stops, when `truncated`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub edge: Option<EdgeReport>,
    /// Commits of the window with a blob missing from the repository (a
    /// partial clone, or damage): their line counts and diff words are
    /// incomplete. Ids, at most 20.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub missing_objects: Vec<String>,
}

impl WindowSummary {
    /// The warning about missing objects, if any.
    pub fn missing_objects_line(&self) -> Option<String> {
        (!self.missing_objects.is_empty()).then(|| {
            format!(
                "warning: objects are missing from this repository (a partial clone, or damage): the changes of {} window commit(s) were read in part (first: {}); `git fsck` tells which",
                self.missing_objects.len(),
                &self.missing_objects[0][..12.min(self.missing_objects[0].len())]
            )
        })
    }

    /// Commits of the window are missing from this clone.
    pub fn incomplete(&self) -> bool {
        self.edge.as_ref().is_some_and(|e| e.window_incomplete)
    }
}

/// The edge of a shallow or incomplete history (see `history::Edge`).
#[derive(Debug, Clone, Serialize)]
pub struct EdgeReport {
    pub shallow_repository: bool,
    /// The oldest main-line commit the walk could read.
    pub oldest_commit: String,
    pub oldest_landed_at: String,
    /// Commits of the window are missing: those that landed between the
    /// window's start and `oldest_landed_at`, and `not_diffed`.
    pub window_incomplete: bool,
    /// Window commits left out because their parent is missing.
    pub not_diffed: Vec<String>,
    /// What completes the history, for a shallow clone.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fetch_command: Option<String>,
}

impl EdgeReport {
    pub fn new(edge: &crate::history::Edge, since: Seconds) -> EdgeReport {
        // A day of margin: landing times look a little further back.
        let day = since.saturating_sub(86_400);
        let date = rfc3339(day);
        EdgeReport {
            shallow_repository: edge.shallow_repository,
            oldest_commit: edge.oldest_commit.clone(),
            oldest_landed_at: rfc3339(edge.oldest_landed_at),
            window_incomplete: edge.window_incomplete,
            not_diffed: edge.not_diffed.clone(),
            fetch_command: edge
                .shallow_repository
                .then(|| format!("git fetch --shallow-since={}", &date[..10])),
        }
    }

    fn describe(&self) -> String {
        let what = if self.shallow_repository {
            "this clone is shallow"
        } else {
            "history is incomplete (a missing object)"
        };
        let mut text = if self.window_incomplete {
            format!(
                "Warning: {what}: history stops at {} (landed {}), so commits of the window are missing",
                &self.oldest_commit[..self.oldest_commit.len().min(12)],
                self.oldest_landed_at
            )
        } else {
            format!("Note: {what}: landing times before the window may be off")
        };
        if !self.not_diffed.is_empty() {
            text.push_str(&format!(
                "; {} commit(s) left out because their parent is missing",
                self.not_diffed.len()
            ));
        }
        if let Some(fetch) = &self.fetch_command {
            text.push_str(&format!(". To complete it: {fetch}"));
        }
        text
    }
}

#[derive(Debug, Clone, Default, Serialize)]
pub struct Timings {
    pub history_s: f64,
    pub retrieve_s: f64,
    pub rank_s: f64,
    pub total_s: f64,
}

#[derive(Debug, Clone, Serialize)]
pub struct SuspectReport {
    pub rank: usize,
    pub id: String,
    pub short_id: String,
    pub subject: String,
    pub author: String,
    pub email: String,
    pub landed_at: String,
    /// Seconds between landing and the investigation start.
    pub age_seconds: Seconds,
    pub probability: f64,
    /// Retrieval score and prior.
    pub score: f64,
    pub prior: f64,
    pub fused_score: f64,
    pub lines_added: u64,
    pub lines_removed: u64,
    pub files_changed: usize,
    /// The first changed paths (at most 10).
    pub files: Vec<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub merged_by: Option<String>,
    pub evidence: Evidence,
    /// What the diff reading kept of the change.
    pub diff: DiffRead,
    pub features: BTreeMap<&'static str, f64>,
    pub rounds: Vec<RoundScore>,
    /// The pointwise judge's score, centred over the changes it read; absent
    /// when it did not read this one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub judge_score: Option<f64>,
}

/// How much of a change the history walk read (see `crate::diff`).
#[derive(Debug, Clone, Serialize)]
pub struct DiffRead {
    pub identifiers: usize,
    pub strings: usize,
    /// The functions its hunks touch (at most 10).
    pub functions: Vec<String>,
    pub bytes_read: u32,
    /// The reading stopped at its cap before the end of the change.
    pub cut: bool,
    /// Files not read: binary, vendored or generated.
    pub skipped_files: u32,
}

impl DiffRead {
    fn of(text: &crate::diff::ChangeText) -> DiffRead {
        DiffRead {
            identifiers: text.identifiers.len(),
            strings: text.strings.len(),
            functions: text
                .functions
                .iter()
                .take(10)
                .map(|f| f.text.clone())
                .collect(),
            bytes_read: text.bytes_read,
            cut: text.cut,
            skipped_files: text.skipped_files,
        }
    }

    fn describe(&self) -> String {
        let mut text = format!(
            "read {} KB of changed lines: {} identifiers, {} strings",
            self.bytes_read.div_ceil(1024),
            self.identifiers,
            self.strings
        );
        if !self.functions.is_empty() {
            text.push_str(&format!(", in {}", self.functions.join(", ")));
        }
        if self.cut {
            text.push_str(&format!(" (cut at {} KB)", crate::diff::MAX_BYTES / 1024));
        }
        if self.skipped_files > 0 {
            text.push_str(&format!(
                "; {} binary, vendored or generated files not read",
                self.skipped_files
            ));
        }
        text
    }
}

impl SuspectReport {
    pub fn new(rank: usize, suspect: &Suspect, until: Seconds) -> SuspectReport {
        let c = &suspect.candidate;
        let commit = &c.commit;
        SuspectReport {
            rank,
            id: commit.id.clone(),
            short_id: commit.short_id().to_owned(),
            subject: commit.subject.clone(),
            author: commit.author.clone(),
            email: commit.email.clone(),
            landed_at: rfc3339(commit.landed_at),
            age_seconds: until - commit.landed_at,
            probability: suspect.probability,
            score: c.score,
            prior: c.prior,
            fused_score: suspect.fused_score,
            lines_added: commit.lines_added(),
            lines_removed: commit.lines_removed(),
            files_changed: commit.files.len(),
            files: commit
                .files
                .iter()
                .take(10)
                .map(|f| f.path.clone())
                .collect(),
            merged_by: commit.merged_by.clone(),
            evidence: c.evidence.clone(),
            diff: DiffRead::of(&commit.diff),
            features: FEATURES
                .iter()
                .copied()
                .zip(c.features.iter().copied())
                .collect(),
            rounds: suspect.rounds.clone(),
            judge_score: suspect.judge_score,
        }
    }

    /// The evidence `--explain` prints under a suspect, one item a line.
    pub fn explain_lines(&self) -> Vec<String> {
        let mut lines = vec![format!(
            "landed {}{}",
            self.landed_at,
            self.merged_by
                .as_ref()
                .map(|m| format!(" (merged by {})", &m[..m.len().min(12)]))
                .unwrap_or_default()
        )];
        lines.push(format!(
            "files: {}",
            self.files
                .iter()
                .take(5)
                .cloned()
                .collect::<Vec<_>>()
                .join(", ")
        ));
        let e = &self.evidence;
        if !e.owners.is_empty() {
            lines.push(format!("owners: {}", e.owners.join(", ")));
        }
        lines.push(format!("diff: {}", self.diff.describe()));
        if !e.diff_terms.is_empty() {
            lines.push(format!("words in its lines: {}", e.diff_terms.join(", ")));
        }
        lines.extend(e.diff_matches.iter().map(|m| m.describe()));
        lines.extend(e.associations.iter().map(|a| {
            format!(
                "learned: past culprits of incidents saying \"{}\" had \"{}\" {:.1}x as often as the other changes of their windows",
                a.word,
                a.token,
                a.lift.exp()
            )
        }));
        let features: Vec<String> = self
            .features
            .iter()
            .filter(|(_, v)| **v != 0.0)
            .map(|(k, v)| format!("{k}={v:.2}"))
            .collect();
        lines.push(format!(
            "score {:.3} (prior {:.4}): {}",
            self.score,
            self.prior,
            features.join(" ")
        ));
        if let Some(judge) = self.judge_score {
            lines.push(format!(
                "pointwise judge {judge:+.3} against the mean of the changes it read (fused score {:.3})",
                self.fused_score
            ));
        }
        lines.extend(self.rounds.iter().map(|r| {
            format!(
                "round {} batch {} labels {} model logprob {:.3}{}",
                r.round,
                r.batch,
                r.labels.iter().collect::<String>(),
                r.model_logprob,
                if r.kept { " kept" } else { "" }
            )
        }));
        lines
    }

    /// A short "why" for the table.
    fn why(&self) -> String {
        let mut parts = Vec::new();
        let e = &self.evidence;
        if !e.matched_terms.is_empty() {
            parts.push(format!(
                "terms: {}",
                e.matched_terms
                    .iter()
                    .take(4)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(",")
            ));
        }
        if !e.team_hints.is_empty() {
            parts.push(format!("team: {}", e.team_hints.join(",")));
        }
        if !e.areas.is_empty() {
            parts.push(format!(
                "area: {}",
                e.areas
                    .iter()
                    .take(2)
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(",")
            ));
        }
        if !e.path_hints.is_empty() {
            parts.push(format!("path: {}", e.path_hints.join(",")));
        }
        if !e.followed_up_by.is_empty() {
            parts.push(format!("followed up by {}", e.followed_up_by.join(",")));
        }
        if !e.diff_matches.is_empty() {
            parts.push(format!(
                "edits: {}",
                e.diff_matches
                    .iter()
                    .take(3)
                    .map(|m| m.term.as_str())
                    .collect::<Vec<_>>()
                    .join(",")
            ));
        }
        if let Some(a) = e.associations.first() {
            parts.push(format!("{} ↔ {}", a.word, a.token));
        }
        parts.push(format!("+{} -{}", self.lines_added, self.lines_removed));
        parts.join("; ")
    }
}

fn clip(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        text.to_owned()
    } else {
        let mut s: String = text.chars().take(width.saturating_sub(1)).collect();
        s.push('…');
        s
    }
}

/// The confidence sentence that ends a report.
fn confidence_line(report: &Report) -> String {
    let calibrated = if report.calibrated {
        "calibrated"
    } else {
        "uncalibrated"
    };
    if report.abstained {
        // Naming the paged team is the input that helps most where the
        // title does not (docs/benchmarks.md: held-out top 5 from 0.708 to
        // 0.846), so an unsure answer without hints says so.
        let narrow = if report.team_hints.is_empty() && report.path_hints.is_empty() {
            " Naming the paged team (--team) or a path the incident points at (--path) narrows the ranking."
        } else {
            ""
        };
        format!(
            "Not confident: {:.0}% ({calibrated}) that the culprit is listed, below the {:.0}% threshold. Treat these as leads, not answers.{narrow}",
            report.confidence * 100.0,
            report.min_confidence * 100.0
        )
    } else {
        format!(
            "Confidence that the culprit is listed: {:.0}% ({calibrated}).",
            report.confidence * 100.0
        )
    }
}

/// Markdown for an incident channel or ticket: the table, each suspect's
/// evidence, the confidence and the reproduce line. Text from the
/// repository is escaped so that it cannot break the table or add markup.
pub fn render_markdown(report: &Report) -> String {
    let cell = |text: &str| -> String {
        text.chars()
            .flat_map(|c| match c {
                '|' | '\\' | '`' | '*' | '_' | '[' | ']' | '<' | '>' | '#' => vec!['\\', c],
                '\n' | '\r' => vec![' '],
                c => vec![c],
            })
            .collect()
    };
    let mut out = String::new();
    let _ = writeln!(out, "### Investigation: {}\n", cell(&report.title));
    let _ = writeln!(
        out,
        "Window {} .. {} at `{}`: {} commits, {} candidates, {} ranking.\n",
        report.since,
        report.until,
        &report.start[..report.start.len().min(12)],
        report.window.commits,
        report.candidates,
        report.ranker
    );
    if let Some(line) = report.window.missing_objects_line() {
        let _ = writeln!(out, "> **{}**\n", cell(&line));
    }
    if let Some(edge) = &report.window.edge {
        let _ = writeln!(out, "> **{}**\n", cell(&edge.describe()));
    }
    let _ = writeln!(
        out,
        "| rank | commit | prob | age | author | subject | why |"
    );
    let _ = writeln!(out, "|---:|---|---:|---:|---|---|---|");
    for s in &report.suspects {
        let _ = writeln!(
            out,
            "| {} | `{}` | {:.3} | {} | {} | {} | {} |",
            s.rank,
            s.short_id,
            s.probability,
            age(s.age_seconds),
            cell(&s.author),
            cell(&s.subject),
            cell(&s.why())
        );
    }
    let _ = writeln!(out, "\n{}\n", confidence_line(report));
    let _ = writeln!(out, "<details><summary>Evidence</summary>\n");
    for s in &report.suspects {
        let _ = writeln!(
            out,
            "**{}. `{}`** {}\n",
            s.rank,
            s.short_id,
            cell(&s.subject)
        );
        for line in s.explain_lines() {
            let _ = writeln!(out, "- {}", cell(&line));
        }
        let _ = writeln!(out);
    }
    let _ = writeln!(out, "</details>\n");
    // A fence longer than any run of backticks in the command.
    let longest = report
        .reproduce
        .split(|c| c != '`')
        .map(str::len)
        .max()
        .unwrap_or(0);
    let fence = "`".repeat(longest.max(2) + 1);
    let _ = writeln!(
        out,
        "Reproduce:\n\n{fence}sh\n{}\n{fence}",
        report.reproduce
    );
    out
}

/// The human rendering.
pub fn render_text(report: &Report, explain: bool) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "Investigation: {}", report.title);
    let _ = writeln!(
        out,
        "Window: {} .. {} at {} ({} commits, {} candidates)",
        report.since,
        report.until,
        &report.start[..report.start.len().min(12)],
        report.window.commits,
        report.candidates
    );
    let ranking = match report.ranker.as_str() {
        "heuristic" => "heuristic ranking (retrieval signals only, no model)".to_owned(),
        other => format!("{other} ranking"),
    };
    let _ = writeln!(out, "Ranking: {ranking}");
    if let Some(line) = report.window.missing_objects_line() {
        let _ = writeln!(out, "{line}");
    }
    if let Some(edge) = &report.window.edge {
        let _ = writeln!(out, "{}", edge.describe());
    }
    let _ = writeln!(out);
    let _ = writeln!(
        out,
        "{:>4}  {:<12}  {:>5}  {:>4}  {:<18}  {:<50}  why",
        "rank", "commit", "prob", "age", "author", "subject"
    );
    for s in &report.suspects {
        let _ = writeln!(
            out,
            "{:>4}  {:<12}  {:>5.3}  {:>4}  {:<18}  {:<50}  {}",
            s.rank,
            s.short_id,
            s.probability,
            age(s.age_seconds),
            clip(&s.author, 18),
            clip(&s.subject, 50),
            s.why()
        );
        if explain {
            for line in s.explain_lines() {
                let _ = writeln!(out, "        {line}");
            }
        }
    }
    let _ = writeln!(out);
    let _ = writeln!(out, "{}", confidence_line(report));
    let _ = writeln!(out, "Reproduce: {}", report.reproduce);
    out
}
