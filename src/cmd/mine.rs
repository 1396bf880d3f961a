//! `rca cases mine`: mine investigation cases from a repository's history.

use super::{out, progress};
use crate::cli::{Format, MineArgs};
use crate::error::{exit_code, input, usage};
use crate::history;
use crate::mine::{self, Report, Settings};
use crate::when::{self, Seconds};
use anyhow::Result;
use std::fmt::Write as _;
use std::path::Path;

/// The default mining period: one year before `--until`.
const DEFAULT_PERIOD: Seconds = 365 * 86_400;

pub fn run(args: MineArgs) -> Result<u8> {
    let mut settings = resolve(&args)?;
    if let Some(path) = &args.out {
        super::check_writable("--out", path)?;
    }
    let repo = history::open(&args.repo).map_err(|e| input(e.to_string()))?;
    if args.name.is_none() {
        // Named after the repository itself, not the path inside it.
        let root = repo.workdir().unwrap_or_else(|| repo.path());
        (settings.name, settings.prefix) = mine::names_for(&absolute(root));
    }
    let spinner = progress::spinner("mining fixes and reverts");
    let (file, report) = mine::mine(&repo, &settings)?;
    spinner.finish_and_clear();
    let yaml = crate::yaml::to_string(&file)?;
    if let Some(path) = &args.out {
        std::fs::write(path, &yaml).map_err(|e| input(format!("--out {}: {e}", path.display())))?;
    }
    match args.format {
        Format::Json => {
            let mut value = serde_json::json!({
                "schema": "rca.mined/1",
                "report": report,
            });
            match &args.out {
                Some(path) => value["out"] = path.display().to_string().into(),
                None => value["cases"] = serde_json::to_value(&file)?,
            }
            out(&format!("{}\n", serde_json::to_string_pretty(&value)?))?;
        }
        Format::Text => {
            if args.out.is_none() {
                out(&yaml)?;
            }
            eprint!("{}", render(&report, args.out.as_deref()));
        }
    }
    Ok(exit_code::SUCCESS)
}

/// Checks the arguments and turns them into settings.
fn resolve(args: &MineArgs) -> Result<Settings> {
    let duration = |flag: &str, text: &str| -> Result<Seconds> {
        let d = humantime::parse_duration(text.trim())
            .map_err(|e| usage(format!("{flag}: {text:?}: {e} (try 14d or 36h)")))?;
        match i64::try_from(d.as_secs()) {
            Ok(s) if s > 0 => Ok(s),
            _ => Err(usage(format!("{flag} must be a positive duration"))),
        }
    };
    let max_lag = duration("--max-lag", &args.max_lag)?;
    let lookback = duration("--lookback", &args.lookback)?;
    let (since, until) =
        when::period(args.since.as_deref(), args.until.as_deref(), DEFAULT_PERIOD)?;
    // Without --name, `run` names the cases after the repository it opens.
    let name = args.name.clone().unwrap_or_default();
    if args.name.is_some() && name.trim().is_empty() {
        return Err(usage("--name must not be empty"));
    }
    let (_, prefix) = mine::names_for(Path::new(&name.replace('/', "+")));
    Ok(Settings {
        name,
        prefix,
        reference: args.reference.clone(),
        since,
        until,
        max_lag,
        lookback,
    })
}

/// The path made absolute (for naming `.` after its folder).
fn absolute(path: &Path) -> std::path::PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

/// The report as text, for stderr.
pub fn render(report: &Report, out_path: Option<&Path>) -> String {
    let total = |m: &std::collections::BTreeMap<&str, usize>| m.values().sum::<usize>();
    let by_source = |m: &std::collections::BTreeMap<&str, usize>| {
        if m.is_empty() {
            return String::new();
        }
        let parts: Vec<String> = m.iter().map(|(k, v)| format!("{k} {v}")).collect();
        format!("  ({})", parts.join(", "))
    };
    let mut s = String::new();
    let _ = writeln!(
        s,
        "mined {} ({}) from {} to {}: {} commits scanned in {:.1}s",
        report.repo,
        report.default_branch,
        report.since,
        report.until,
        report.commits_scanned,
        report.seconds
    );
    let _ = writeln!(
        s,
        "  seen     {:>6}{}",
        total(&report.seen),
        by_source(&report.seen)
    );
    let _ = writeln!(
        s,
        "  kept     {:>6}{}",
        total(&report.kept),
        by_source(&report.kept)
    );
    let _ = writeln!(s, "  dropped  {:>6}", total(&report.dropped));
    let mut dropped: Vec<(&&str, &usize)> = report.dropped.iter().collect();
    dropped.sort_by(|a, b| b.1.cmp(a.1).then(a.0.cmp(b.0)));
    for (reason, count) in dropped {
        let _ = writeln!(s, "    {reason:<26}{count:>6}");
    }
    if let Some(path) = out_path {
        let _ = writeln!(s, "wrote {} cases to {}", report.cases, path.display());
    }
    s
}
