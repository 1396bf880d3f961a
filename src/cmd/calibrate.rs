//! `rca calibrate`: fit a monotone calibration of the confidence from the
//! output of `rca backtest --out DIR`, and find the calibration an
//! investigation uses.

use super::out;
use crate::calibrate::{Calibration, Method, Observation};
use crate::cli::{CalibrateArgs, CalibrationMethod, Format};
use crate::error::{exit_code, input, usage};
use crate::plot::{self, Series};
use anyhow::Result;
use std::path::{Path, PathBuf};

/// What `calibrate` reads back from one line of `cases.jsonl`.
#[derive(Debug, serde::Deserialize)]
struct CaseLine {
    culprit_rank: Option<usize>,
    raw_confidence: f64,
}

/// What it reads from `summary.json`.
#[derive(Debug, serde::Deserialize)]
struct SummaryHead {
    ranker: String,
    #[serde(default = "built_in")]
    fusion: String,
    team_hint: bool,
}

fn built_in() -> String {
    crate::train::fusion::BUILT_IN.to_owned()
}

/// The backtest's cases, in the order it replayed them.
fn read_backtest(dir: &Path) -> Result<(SummaryHead, Vec<Observation>)> {
    let read = |name: &str| {
        let path = dir.join(name);
        std::fs::read_to_string(&path).map_err(|e| {
            input(format!(
                "{}: {e} (is it a folder written by rca backtest --out?)",
                path.display()
            ))
        })
    };
    let head: SummaryHead = serde_json::from_str(&read("summary.json")?)
        .map_err(|e| input(format!("{}: {e}", dir.join("summary.json").display())))?;
    let mut observations = Vec::new();
    for (n, line) in read("cases.jsonl")?.lines().enumerate() {
        if line.trim().is_empty() {
            continue;
        }
        let case: CaseLine = serde_json::from_str(line).map_err(|e| {
            input(format!(
                "{}:{}: {e}",
                dir.join("cases.jsonl").display(),
                n + 1
            ))
        })?;
        observations.push(Observation {
            confidence: case.raw_confidence,
            hit: case.culprit_rank.is_some_and(|r| r <= 5),
        });
    }
    if observations.len() < 4 {
        return Err(input(format!(
            "{}: {} cases; calibration needs at least 4",
            dir.display(),
            observations.len()
        )));
    }
    Ok((head, observations))
}

/// Where a ranker's calibration lives by default: next to the default
/// model.
pub fn default_path(ranker: &str) -> Option<PathBuf> {
    crate::model::find_in_models(&file_name(ranker))
}

fn file_name(ranker: &str) -> String {
    format!("calibration-{ranker}.yaml")
}

pub fn run(args: CalibrateArgs) -> Result<u8> {
    if !(0.0..=1.0).contains(&args.coverage) || args.coverage == 0.0 {
        return Err(usage("--coverage must be in (0, 1]"));
    }
    let (head, observations) = read_backtest(&args.from)?;
    let method = match args.method {
        CalibrationMethod::Isotonic => Method::Isotonic,
        CalibrationMethod::Platt => Method::Platt,
    };
    let calibration = Calibration::fit(
        &observations,
        method,
        &head.ranker,
        &head.fusion,
        head.team_hint,
        usize::from(args.folds),
        args.coverage,
    );
    let configured = match &args.config {
        Some(file) => {
            let config = crate::config::Config::load(file)?;
            config
                .confidence
                .calibration
                .as_ref()
                .map(|p| config.path(p))
        }
        None => None,
    };
    let path = match args.out.clone().or(configured) {
        Some(path) => path,
        None => crate::model::default_model_path()
            .and_then(|m| m.parent().map(|d| d.join(file_name(&head.ranker))))
            .ok_or_else(|| usage("no models/ folder found next to rca: pass --out FILE"))?,
    };
    calibration
        .save(&path)
        .map_err(|e| input(format!("{e:#}")))?;
    let svg = reliability_svg(&calibration, &observations)?;
    let plot_path = args.from.join("reliability.svg");
    std::fs::write(&plot_path, svg)
        .map_err(|e| input(format!("writing {}: {e}", plot_path.display())))?;
    match args.format {
        Format::Json => out(&format!(
            "{}\n",
            serde_json::to_string_pretty(&serde_json::json!({
                "calibration": path,
                "plot": plot_path,
                "ranker": calibration.ranker,
                "cases": calibration.cases,
                "cross_validation": calibration.cross_validation,
            }))?
        ))?,
        Format::Text => out(&render(&calibration, &path, &plot_path))?,
    }
    Ok(exit_code::SUCCESS)
}

fn render(c: &Calibration, path: &Path, plot_path: &Path) -> String {
    use std::fmt::Write as _;
    let cv = &c.cross_validation;
    let mut text = String::new();
    let _ = writeln!(
        text,
        "{:?} calibration of the {} ranker from {} cases (team hints {}), {}-fold cross-validated:",
        cv.method,
        c.ranker,
        c.cases,
        if c.team_hint { "on" } else { "off" },
        cv.folds.len()
    );
    let _ = writeln!(
        text,
        "{:<8} {:>6} {:>6} {:>8} {:>8} {:>8} {:>8} {:>10} {:>9} {:>10}",
        "fold",
        "train",
        "test",
        "brier",
        "brier'",
        "ece",
        "ece'",
        "threshold",
        "coverage",
        "precision"
    );
    let precision = |p: Option<f64>| p.map_or("-".to_owned(), |p| format!("{p:.3}"));
    for (i, f) in cv.folds.iter().enumerate() {
        let _ = writeln!(
            text,
            "{:<8} {:>6} {:>6} {:>8.4} {:>8.4} {:>8.4} {:>8.4} {:>10.4} {:>9.3} {:>10}",
            i + 1,
            f.train_cases,
            f.test_cases,
            f.brier_before,
            f.brier_after,
            f.ece_before,
            f.ece_after,
            f.threshold,
            f.test_coverage,
            precision(f.test_precision)
        );
    }
    let _ = writeln!(
        text,
        "{:<8} {:>6} {:>6} {:>8.4} {:>8.4} {:>8.4} {:>8.4} {:>10} {:>9.3} {:>10}",
        "pooled",
        "",
        c.cases,
        cv.brier_before,
        cv.brier_after,
        cv.ece_before,
        cv.ece_after,
        "",
        cv.test_coverage,
        precision(cv.test_precision)
    );
    let _ = writeln!(
        text,
        "(' = after calibration; the threshold answers {:.0}% of the training fold and is applied to the held-out one)",
        cv.target_coverage * 100.0
    );
    let _ = writeln!(text, "wrote {} and {}", path.display(), plot_path.display());
    text
}

/// Observed hit rate against the mean predicted probability per bin,
/// before and after calibration, with the diagonal.
fn reliability_svg(c: &Calibration, observations: &[Observation]) -> Result<String> {
    let bins = |map: &dyn Fn(f64) -> f64| -> Vec<(f64, f64)> {
        let mut sums = [(0.0f64, 0.0f64, 0usize); crate::calibrate::ECE_BINS];
        for o in observations {
            let p = map(o.confidence);
            let b = ((p * sums.len() as f64) as usize).min(sums.len() - 1);
            sums[b].0 += p;
            sums[b].1 += f64::from(u8::from(o.hit));
            sums[b].2 += 1;
        }
        sums.iter()
            .filter(|s| s.2 > 0)
            .map(|&(p, h, n)| (p / n as f64, h / n as f64))
            .collect()
    };
    plot::chart(
        &format!("reliability of the {} ranker's confidence", c.ranker),
        "predicted chance the culprit is in the top 5",
        "observed share of cases",
        &[
            Series {
                label: "raw confidence".into(),
                points: bins(&|x| x),
                reference: false,
            },
            Series {
                label: format!("{:?} calibrated (in-sample)", c.cross_validation.method),
                points: bins(&|x| c.apply(x)),
                reference: false,
            },
            Series {
                label: "perfect calibration".into(),
                points: vec![(0.0, 0.0), (1.0, 1.0)],
                reference: true,
            },
        ],
    )
}

/// The calibration an investigation uses: none when asked for none, else
/// the given file, else the config's, else the ranker's default file when
/// present. A given file fitted for another ranker or fusion is refused;
/// the default file is then left out (the confidence stays uncalibrated).
pub fn resolve(
    disabled: bool,
    explicit: Option<PathBuf>,
    ranker: &str,
    fusion: &str,
) -> Result<Option<(PathBuf, Calibration)>> {
    if disabled {
        return Ok(None);
    }
    let is_default = explicit.is_none();
    let Some(path) = explicit.or_else(|| default_path(ranker)) else {
        return Ok(None);
    };
    let calibration = Calibration::load(&path)?;
    let mismatch = if calibration.ranker != ranker {
        Some(format!("the {} ranker, not {ranker}", calibration.ranker))
    } else if calibration.fusion != fusion {
        Some(format!("fusion {}, not {fusion}", calibration.fusion))
    } else {
        None
    };
    match mismatch {
        None => Ok(Some((path, calibration))),
        Some(_) if is_default => Ok(None),
        Some(what) => Err(input(format!(
            "calibration {} was fitted for {what}",
            path.display()
        ))),
    }
}

/// The abstention threshold on the reported confidence: `--min-confidence`
/// as given, or `--precision` resolved through the calibration.
pub fn threshold(
    min_confidence: Option<f64>,
    precision: Option<f64>,
    calibration: Option<&(PathBuf, Calibration)>,
) -> Result<f64> {
    match (min_confidence, precision) {
        (Some(_), Some(_)) => Err(usage(
            "give either a minimum confidence or a target precision, not both",
        )),
        (Some(m), None) if (0.0..=1.0).contains(&m) => Ok(m),
        (Some(_), None) => Err(usage("--min-confidence must be between 0 and 1")),
        (None, None) => Ok(0.0),
        (None, Some(p)) if !(0.0..=1.0).contains(&p) => {
            Err(usage("--precision must be between 0 and 1"))
        }
        (None, Some(p)) => {
            let (path, cal) = calibration.ok_or_else(|| {
                usage("--precision needs a calibration: run rca calibrate, or pass --calibration")
            })?;
            match cal.threshold_for_precision(p) {
                Some((threshold, _)) => Ok(threshold),
                None => {
                    let best = cal.best_precision();
                    Err(input(format!(
                        "calibration {} never reached precision {p:.2} on its backtest{}",
                        path.display(),
                        best.map_or(String::new(), |b| format!(
                            " (best {:.2} answering {:.0}% of cases)",
                            b.precision,
                            b.coverage * 100.0
                        ))
                    )))
                }
            }
        }
    }
}
