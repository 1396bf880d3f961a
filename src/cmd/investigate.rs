//! `rca investigate`: rank the commits of a window for one incident.

use super::{out, progress, shell_quote};
use crate::cases::Facts;
use crate::cli::{Format, InvestigateArgs};
use crate::error::{exit_code, input, usage};
use crate::history;
use crate::investigation::{self, Request};
use crate::retrieve::{self, Weights};
use crate::when;
use anyhow::Result;

pub fn run(args: InvestigateArgs) -> Result<u8> {
    let request = resolve(&args)?;
    let repo = history::open(&args.repo).map_err(|e| input(e.to_string()))?;
    let repository_label = repo
        .workdir()
        .unwrap_or_else(|| repo.path())
        .display()
        .to_string();
    let reproduce = reproduce_command(&args, &request);
    let mut session = super::ranking::Session::new(&args.model, request.top)?;
    let spinner = progress::spinner("walking history and retrieving");
    let outcome = investigation::run(
        &repo,
        &repository_label,
        &request,
        session.ranker(&spinner),
        reproduce,
    )?;
    spinner.finish_and_clear();
    let mut report = outcome.report;
    session.annotate(&mut report)?;
    match args.format {
        Format::Json => out(&format!("{}\n", serde_json::to_string_pretty(&report)?))?,
        Format::Text => out(&crate::report::render_text(&report, args.explain))?,
    }
    Ok(if report.abstained {
        exit_code::NOT_CONFIDENT
    } else {
        exit_code::SUCCESS
    })
}

/// Checks the arguments and turns them into a request.
fn resolve(args: &InvestigateArgs) -> Result<Request> {
    if args.title.trim().is_empty() {
        return Err(usage("--title must not be empty"));
    }
    if !(0.0..=1.0).contains(&args.min_confidence) {
        return Err(usage("--min-confidence must be between 0 and 1"));
    }
    retrieve::path_globs(&args.paths).map_err(|e| usage(format!("--path: {e}")))?;
    let now = when::now();
    let until = match &args.until {
        Some(text) => when::parse(text, now).map_err(|e| input(format!("--until: {e}")))?,
        None => now,
    };
    let since = when::parse(&args.since, until).map_err(|e| input(format!("--since: {e}")))?;
    Ok(Request {
        facts: Facts {
            title: args.title.clone(),
            impact: args.impact.clone(),
            team_hints: args.teams.clone(),
            path_hints: args.paths.clone(),
        },
        since,
        until,
        reference: args.reference.clone(),
        ownership_file: args.ownership_file.clone(),
        candidates: args.candidates as usize,
        top: usize::from(args.top),
        min_confidence: args.min_confidence,
        weights: Weights::default(),
    })
}

/// A command line that replays this investigation exactly: absolute
/// window bounds instead of relative ones.
fn reproduce_command(args: &InvestigateArgs, request: &Request) -> String {
    let mut parts = vec![
        "rca investigate".to_owned(),
        format!("--title {}", shell_quote(&args.title)),
    ];
    if let Some(impact) = &args.impact {
        parts.push(format!("--impact {}", shell_quote(impact)));
    }
    for team in &args.teams {
        parts.push(format!("--team {}", shell_quote(team)));
    }
    for path in &args.paths {
        parts.push(format!("--path {}", shell_quote(path)));
    }
    parts.push(format!("--since {}", when::rfc3339(request.since)));
    parts.push(format!("--until {}", when::rfc3339(request.until)));
    parts.push(format!(
        "--repo {}",
        shell_quote(&args.repo.display().to_string())
    ));
    if let Some(reference) = &args.reference {
        parts.push(format!("--ref {}", shell_quote(reference)));
    }
    parts.push(format!("--candidates {}", args.candidates));
    parts.extend(super::ranking::flags(&args.model));
    parts.join(" ")
}
