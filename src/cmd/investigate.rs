//! `rca investigate`: rank the commits of a window for one incident.

use super::{out, progress, shell_quote};
use crate::cases::Facts;
use crate::cli::{defaults, IncidentArgs, InvestigateArgs, ModelArgs, ReportFormat, SourceArgs};
use crate::config::Config;
use crate::error::{exit_code, input, usage};
use crate::history;
use crate::investigation::{self, Request};
use crate::retrieve;
use crate::train::fusion::fusion_id;
use crate::when;
use anyhow::Result;

pub fn run(mut args: InvestigateArgs) -> Result<u8> {
    let repo = history::open(&args.source.repo).map_err(|e| input(e.to_string()))?;
    let config = Config::find(args.source.config.as_deref(), repo.workdir())?;
    config.fill_model_args(&mut args.model)?;
    let request = resolve(&args, &config)?;
    let repository_label = super::repository_label(&repo);
    let reproduce = reproduce_command("investigate", &request, &args.source.repo, &args.model);
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
        ReportFormat::Json => out(&format!("{}\n", serde_json::to_string_pretty(&report)?))?,
        ReportFormat::Text => out(&crate::report::render_text(&report, args.explain))?,
        ReportFormat::Markdown => out(&crate::report::render_markdown(&report))?,
    }
    Ok(if report.window.incomplete() {
        exit_code::INCOMPLETE_HISTORY
    } else if report.abstained {
        exit_code::NOT_CONFIDENT
    } else {
        exit_code::SUCCESS
    })
}

/// Checks the arguments, with the config filling what they leave out, and
/// turns them into a request.
fn resolve(args: &InvestigateArgs, config: &Config) -> Result<Request> {
    let mut request = request(&args.incident, &args.source, &args.model, config)?;
    let calibration = super::calibrate::resolve(
        args.no_calibration,
        args.calibration.clone().or_else(|| {
            config
                .confidence
                .calibration
                .as_ref()
                .map(|p| config.path(p))
        }),
        args.model.ranker().as_str(),
        &fusion_id(&request.fusion),
    )?;
    // Flags override the config as a pair: --min-confidence also replaces
    // the config's precision, and the reverse.
    let (min_confidence, precision) = if args.min_confidence.is_some() || args.precision.is_some() {
        (args.min_confidence, args.precision)
    } else {
        (
            config.confidence.min_confidence,
            config.confidence.precision,
        )
    };
    request.min_confidence =
        super::calibrate::threshold(min_confidence, precision, calibration.as_ref())?;
    request.top = usize::from(args.top.or(config.ranking.top).unwrap_or(defaults::TOP));
    request.calibration = calibration.map(|(_, c)| c);
    Ok(request)
}

/// The request of an incident's facts and window, before the confidence
/// settings: no threshold, no calibration, the default top.
pub(super) fn request(
    incident: &IncidentArgs,
    source: &SourceArgs,
    model: &ModelArgs,
    config: &Config,
) -> Result<Request> {
    if incident.title.trim().is_empty() {
        return Err(usage("--title must not be empty"));
    }
    let paths = config.alias_paths(
        &format!(
            "{} {}",
            incident.title,
            incident.impact.as_deref().unwrap_or("")
        ),
        &incident.paths,
    );
    retrieve::path_globs(&paths).map_err(|e| usage(format!("--path: {e}")))?;
    let now = when::now();
    let until = match &incident.until {
        Some(text) => when::parse(text, now).map_err(|e| input(format!("--until: {e}")))?,
        None => now,
    };
    let since_text = incident
        .since
        .as_ref()
        .or(config.window.since.as_ref())
        .ok_or_else(|| usage("--since is required (or window.since in rca.yaml)"))?;
    let since = when::parse(since_text, until).map_err(|e| input(format!("--since: {e}")))?;
    Ok(Request {
        facts: Facts {
            title: incident.title.clone(),
            impact: incident.impact.clone(),
            team_hints: incident.teams.clone(),
            path_hints: paths,
        },
        since,
        until,
        reference: source
            .reference
            .clone()
            .or_else(|| config.window.reference.clone()),
        ownership_file: source
            .ownership_file
            .clone()
            .or_else(|| config.ownership_file.clone()),
        candidates: source
            .candidates
            .or(config.ranking.candidates)
            .unwrap_or(defaults::CANDIDATES) as usize,
        top: usize::from(defaults::TOP),
        min_confidence: 0.0,
        fusion: super::ranking::fusion(model)?,
        diff_cache: source.cache.diff_cache(),
        calibration: None,
    })
}

/// A command line that replays this investigation exactly: absolute
/// window bounds instead of relative ones. `command` is the subcommand and
/// its own flags.
pub(super) fn reproduce_command(
    command: &str,
    request: &Request,
    repo: &std::path::Path,
    model: &ModelArgs,
) -> String {
    let facts = &request.facts;
    let mut parts = vec![
        format!("rca {command}"),
        format!("--title {}", shell_quote(&facts.title)),
    ];
    if let Some(impact) = &facts.impact {
        parts.push(format!("--impact {}", shell_quote(impact)));
    }
    for team in &facts.team_hints {
        parts.push(format!("--team {}", shell_quote(team)));
    }
    for path in &facts.path_hints {
        parts.push(format!("--path {}", shell_quote(path)));
    }
    parts.push(format!("--since {}", when::rfc3339(request.since)));
    parts.push(format!("--until {}", when::rfc3339(request.until)));
    parts.push(format!(
        "--repo {}",
        shell_quote(&repo.display().to_string())
    ));
    if let Some(reference) = &request.reference {
        parts.push(format!("--ref {}", shell_quote(reference)));
    }
    if let Some(file) = &request.ownership_file {
        parts.push(format!("--ownership-file {}", shell_quote(file)));
    }
    parts.push(format!("--candidates {}", request.candidates));
    parts.extend(super::ranking::flags(model));
    parts.join(" ")
}
