//! How far to trust a ranking: the risk–coverage curve of a backtest and a
//! monotone calibration from the ranker's raw confidence to the observed
//! chance that the culprit is among the top five.
//!
//! Everything here is plain data in, plain data out, so the tests check it
//! on synthetic scores whose answer is known.
//!
//! - [`risk_coverage`]: precision@5 against the share of cases answered, as
//!   the confidence threshold sweeps from high to low.
//! - [`Map`]: isotonic regression (pool-adjacent-violators, the default) or
//!   Platt scaling on the logit of the confidence. Both are monotone.
//! - [`cross_validate`]: fit on all folds but one, measure Brier score and
//!   expected calibration error on the held-out fold, before and after.
//! - [`Calibration`]: the file `rca calibrate` writes and `investigate`
//!   reads.

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use std::path::Path;

pub const SCHEMA: &str = "rca.calibration/1";

/// Bins of the expected calibration error (equal width over [0, 1]).
pub const ECE_BINS: usize = 10;

/// One replayed case: the ranker's confidence and whether the culprit was
/// among the top five.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Observation {
    pub confidence: f64,
    pub hit: bool,
}

/// One point of the risk–coverage curve: answering every case whose
/// confidence is at least `threshold`.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct CurvePoint {
    pub threshold: f64,
    pub answered: usize,
    /// Share of the cases answered.
    pub coverage: f64,
    /// Share of the answered cases whose culprit is in the top five.
    pub precision: f64,
}

/// The risk–coverage curve, from the highest threshold (fewest answers) to
/// the lowest (every case answered). Cases with equal confidence enter
/// together, so every point is a threshold one could really set.
pub fn risk_coverage(observations: &[Observation]) -> Vec<CurvePoint> {
    let mut sorted: Vec<Observation> = observations.to_vec();
    sorted.sort_by(|a, b| b.confidence.total_cmp(&a.confidence));
    let n = sorted.len();
    let mut curve = Vec::new();
    let mut hits = 0usize;
    for (i, o) in sorted.iter().enumerate() {
        hits += usize::from(o.hit);
        let last_of_tie = sorted
            .get(i + 1)
            .is_none_or(|next| next.confidence != o.confidence);
        if last_of_tie {
            let answered = i + 1;
            curve.push(CurvePoint {
                threshold: o.confidence,
                answered,
                coverage: answered as f64 / n as f64,
                precision: hits as f64 / answered as f64,
            });
        }
    }
    curve
}

/// The point of the curve that answers at least `coverage` of the cases
/// with the fewest answers.
pub fn at_coverage(curve: &[CurvePoint], coverage: f64) -> Option<CurvePoint> {
    curve
        .iter()
        .find(|p| p.coverage + 1e-12 >= coverage)
        .copied()
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Method {
    Isotonic,
    Platt,
}

/// A monotone (non-decreasing) map from raw confidence to probability.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "method", rename_all = "lowercase")]
pub enum Map {
    /// Piecewise linear through `(raw, probability)` knots, flat outside
    /// them. The knots are the blocks of pool-adjacent-violators.
    Isotonic { knots: Vec<[f64; 2]> },
    /// `1 / (1 + exp(-(a · logit(raw) + b)))` with `a >= 0`.
    Platt { a: f64, b: f64 },
}

impl Map {
    pub fn fit(method: Method, observations: &[Observation]) -> Map {
        match method {
            Method::Isotonic => fit_isotonic(observations),
            Method::Platt => fit_platt(observations),
        }
    }

    pub fn apply(&self, raw: f64) -> f64 {
        match self {
            Map::Isotonic { knots } => interpolate(knots, raw),
            Map::Platt { a, b } => sigmoid(a * logit(raw) + b),
        }
    }
}

fn logit(p: f64) -> f64 {
    let p = p.clamp(1e-4, 1.0 - 1e-4);
    (p / (1.0 - p)).ln()
}

fn sigmoid(z: f64) -> f64 {
    1.0 / (1.0 + (-z).exp())
}

fn interpolate(knots: &[[f64; 2]], x: f64) -> f64 {
    let Some(first) = knots.first() else {
        return x;
    };
    if x <= first[0] {
        return first[1];
    }
    for pair in knots.windows(2) {
        let ([x0, y0], [x1, y1]) = (pair[0], pair[1]);
        if x <= x1 {
            return if x1 > x0 {
                y0 + (y1 - y0) * (x - x0) / (x1 - x0)
            } else {
                y1
            };
        }
    }
    knots[knots.len() - 1][1]
}

/// Pool-adjacent-violators on the observations sorted by confidence. Block
/// means are kept away from 0 and 1 by `1 / (n + 2)`: a handful of cases
/// never justifies certainty.
fn fit_isotonic(observations: &[Observation]) -> Map {
    let mut sorted = observations.to_vec();
    sorted.sort_by(|a, b| a.confidence.total_cmp(&b.confidence));
    // (sum of confidences, sum of hits, count)
    let mut blocks: Vec<(f64, f64, f64)> = Vec::new();
    for o in &sorted {
        let y = if o.hit { 1.0 } else { 0.0 };
        match blocks.last_mut() {
            // equal confidences always share a block
            Some(last) if last.0 / last.2 == o.confidence => {
                *last = (last.0 + o.confidence, last.1 + y, last.2 + 1.0);
            }
            _ => blocks.push((o.confidence, y, 1.0)),
        }
        while blocks.len() >= 2 {
            let (b, a) = (blocks[blocks.len() - 1], blocks[blocks.len() - 2]);
            if a.1 / a.2 < b.1 / b.2 {
                break;
            }
            blocks.pop();
            *blocks.last_mut().expect("two blocks") = (a.0 + b.0, a.1 + b.1, a.2 + b.2);
        }
    }
    let floor = 1.0 / (sorted.len() as f64 + 2.0);
    let knots = blocks
        .iter()
        .map(|&(sx, sy, n)| [sx / n, (sy / n).clamp(floor, 1.0 - floor)])
        .collect();
    Map::Isotonic { knots }
}

/// Logistic regression of the hit on `logit(confidence)` by Newton's
/// method, with a small ridge for stability. A negative slope (confidence
/// that predicts nothing, or the reverse) becomes the flat base rate.
fn fit_platt(observations: &[Observation]) -> Map {
    let ridge = 1e-3;
    let data: Vec<(f64, f64)> = observations
        .iter()
        .map(|o| (logit(o.confidence), if o.hit { 1.0 } else { 0.0 }))
        .collect();
    let loss = |a: f64, b: f64| {
        data.iter()
            .map(|&(z, y)| {
                let s = a * z + b;
                // log(1 + e^s) - y s, computed without overflow
                s.max(0.0) + (-s.abs()).exp().ln_1p() - y * s
            })
            .sum::<f64>()
            + 0.5 * ridge * a * a
    };
    let (mut a, mut b) = (1.0f64, 0.0f64);
    for _ in 0..100 {
        let (mut ga, mut gb, mut haa, mut hab, mut hbb) = (ridge * a, 0.0, ridge, 0.0, 1e-9);
        for &(z, y) in &data {
            let p = sigmoid(a * z + b);
            let w = p * (1.0 - p);
            ga += (p - y) * z;
            gb += p - y;
            haa += w * z * z;
            hab += w * z;
            hbb += w;
        }
        let det = haa * hbb - hab * hab;
        if det.abs() < 1e-12 {
            break;
        }
        let da = (hbb * ga - hab * gb) / det;
        let db = (haa * gb - hab * ga) / det;
        // Newton's step, halved until the loss goes down.
        let (current, mut step) = (loss(a, b), 1.0);
        while step > 1e-6 && loss(a - step * da, b - step * db) > current {
            step /= 2.0;
        }
        a -= step * da;
        b -= step * db;
        if step * (da.abs() + db.abs()) < 1e-10 {
            break;
        }
    }
    if a < 0.0 || !a.is_finite() || !b.is_finite() {
        let n = observations.len().max(1) as f64;
        let rate = observations.iter().filter(|o| o.hit).count() as f64 / n;
        return Map::Platt {
            a: 0.0,
            b: logit(rate),
        };
    }
    Map::Platt { a, b }
}

/// Mean squared error of the probabilities against the outcomes.
pub fn brier(probabilities: &[f64], hits: &[bool]) -> f64 {
    let n = probabilities.len().max(1) as f64;
    probabilities
        .iter()
        .zip(hits)
        .map(|(p, &h)| (p - if h { 1.0 } else { 0.0 }).powi(2))
        .sum::<f64>()
        / n
}

/// Expected calibration error: the case-weighted gap between mean
/// probability and hit rate over [`ECE_BINS`] equal-width bins.
pub fn ece(probabilities: &[f64], hits: &[bool]) -> f64 {
    let n = probabilities.len().max(1) as f64;
    let mut bins = [(0.0f64, 0.0f64, 0usize); ECE_BINS];
    for (p, &h) in probabilities.iter().zip(hits) {
        let bin = ((p * ECE_BINS as f64) as usize).min(ECE_BINS - 1);
        bins[bin].0 += p;
        bins[bin].1 += if h { 1.0 } else { 0.0 };
        bins[bin].2 += 1;
    }
    bins.iter()
        .filter(|b| b.2 > 0)
        .map(|&(sp, sh, _)| (sp - sh).abs() / n)
        .sum()
}

/// Calibration quality of one held-out fold, and the operating point chosen
/// on the training folds (the threshold answering `target_coverage` of
/// them) as it turns out on the held-out one.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct FoldReport {
    pub train_cases: usize,
    pub test_cases: usize,
    pub brier_before: f64,
    pub brier_after: f64,
    pub ece_before: f64,
    pub ece_after: f64,
    /// The raw-confidence threshold chosen on the training folds.
    pub threshold: f64,
    pub test_coverage: f64,
    pub test_precision: Option<f64>,
}

/// Cross-validated calibration quality.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct CrossValidation {
    pub method: Method,
    pub folds: Vec<FoldReport>,
    /// Held-out predictions of every fold pooled together.
    pub brier_before: f64,
    pub brier_after: f64,
    pub ece_before: f64,
    pub ece_after: f64,
    pub target_coverage: f64,
    pub test_coverage: f64,
    pub test_precision: Option<f64>,
}

/// K-fold cross-validation. Case `i` is held out in fold `i % folds`, so
/// folds interleave the input order (a backtest lists cases repository by
/// repository, which makes every fold hold every repository).
pub fn cross_validate(
    observations: &[Observation],
    method: Method,
    folds: usize,
    target_coverage: f64,
) -> CrossValidation {
    let folds = folds.clamp(2, observations.len().max(2));
    let mut reports = Vec::new();
    let (mut raw_all, mut cal_all, mut hit_all) = (Vec::new(), Vec::new(), Vec::new());
    let (mut answered_all, mut answered_hits) = (0usize, 0usize);
    for fold in 0..folds {
        let split = |keep: bool| -> Vec<Observation> {
            observations
                .iter()
                .enumerate()
                .filter(|(i, _)| (i % folds == fold) == keep)
                .map(|(_, o)| *o)
                .collect()
        };
        let (train, test) = (split(false), split(true));
        if train.is_empty() || test.is_empty() {
            continue;
        }
        let map = Map::fit(method, &train);
        let raw: Vec<f64> = test.iter().map(|o| o.confidence).collect();
        let cal: Vec<f64> = raw.iter().map(|&c| map.apply(c)).collect();
        let hits: Vec<bool> = test.iter().map(|o| o.hit).collect();
        let threshold =
            at_coverage(&risk_coverage(&train), target_coverage).map_or(0.0, |p| p.threshold);
        let answered: Vec<bool> = test
            .iter()
            .filter(|o| o.confidence >= threshold)
            .map(|o| o.hit)
            .collect();
        let answered_hit = answered.iter().filter(|&&h| h).count();
        answered_all += answered.len();
        answered_hits += answered_hit;
        reports.push(FoldReport {
            train_cases: train.len(),
            test_cases: test.len(),
            brier_before: brier(&raw, &hits),
            brier_after: brier(&cal, &hits),
            ece_before: ece(&raw, &hits),
            ece_after: ece(&cal, &hits),
            threshold,
            test_coverage: answered.len() as f64 / test.len() as f64,
            test_precision: (!answered.is_empty())
                .then(|| answered_hit as f64 / answered.len() as f64),
        });
        raw_all.extend(raw);
        cal_all.extend(cal);
        hit_all.extend(hits);
    }
    CrossValidation {
        method,
        folds: reports,
        brier_before: brier(&raw_all, &hit_all),
        brier_after: brier(&cal_all, &hit_all),
        ece_before: ece(&raw_all, &hit_all),
        ece_after: ece(&cal_all, &hit_all),
        target_coverage,
        test_coverage: answered_all as f64 / hit_all.len().max(1) as f64,
        test_precision: (answered_all > 0).then(|| answered_hits as f64 / answered_all as f64),
    }
}

/// A fitted calibration, as `rca calibrate` writes it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Calibration {
    pub schema: String,
    /// The ranker whose confidence this calibrates (`heuristic` or `llm`).
    pub ranker: String,
    /// The fusion of the retrieval signals whose confidence this
    /// calibrates (`built-in`, or the id of a trained fusion).
    #[serde(default = "built_in")]
    pub fusion: String,
    /// Whether the backtest it was fitted on used team hints.
    pub team_hint: bool,
    pub cases: usize,
    pub map: Map,
    /// The risk–coverage curve of the fitting cases, on raw confidence.
    pub curve: Vec<CurvePoint>,
    pub cross_validation: CrossValidation,
}

fn built_in() -> String {
    crate::train::fusion::BUILT_IN.to_owned()
}

impl Calibration {
    #[allow(clippy::too_many_arguments)]
    pub fn fit(
        observations: &[Observation],
        method: Method,
        ranker: &str,
        fusion: &str,
        team_hint: bool,
        folds: usize,
        target_coverage: f64,
    ) -> Calibration {
        Calibration {
            schema: SCHEMA.to_owned(),
            ranker: ranker.to_owned(),
            fusion: fusion.to_owned(),
            team_hint,
            cases: observations.len(),
            map: Map::fit(method, observations),
            curve: risk_coverage(observations),
            cross_validation: cross_validate(observations, method, folds, target_coverage),
        }
    }

    /// Reads a calibration file; errors are input errors naming the file.
    /// A map that is not monotone onto probabilities, or a curve point out
    /// of range, is refused: an edited file must not report a confidence
    /// of 300% or NaN.
    pub fn load(path: &Path) -> Result<Calibration> {
        let calibration: Calibration = crate::error::read_yaml(path, "calibration ", None)?;
        let fail =
            |what: String| crate::error::input(format!("calibration {}: {what}", path.display()));
        if calibration.schema != SCHEMA {
            return Err(fail(format!(
                "schema {:?}, expected {SCHEMA:?}",
                calibration.schema
            )));
        }
        let probability = |p: f64| (0.0..=1.0).contains(&p);
        match &calibration.map {
            Map::Isotonic { knots } => {
                if let Some([raw, p]) = knots
                    .iter()
                    .find(|[raw, p]| !probability(*raw) || !probability(*p))
                {
                    return Err(fail(format!(
                        "the knot ({raw}, {p}) is not a pair of probabilities"
                    )));
                }
                if knots
                    .windows(2)
                    .any(|w| w[1][0] < w[0][0] || w[1][1] < w[0][1])
                {
                    return Err(fail("the isotonic knots do not rise".into()));
                }
            }
            Map::Platt { a, b } => {
                if !(a.is_finite() && *a >= 0.0 && b.is_finite()) {
                    return Err(fail(format!(
                        "Platt a = {a}, b = {b}: a must be finite and at least 0, b finite"
                    )));
                }
            }
        }
        if let Some(point) = calibration.curve.iter().find(|c| {
            !probability(c.threshold) || !probability(c.coverage) || !probability(c.precision)
        }) {
            return Err(fail(format!(
                "the curve point at threshold {} has a value outside [0, 1]",
                point.threshold
            )));
        }
        Ok(calibration)
    }

    pub fn save(&self, path: &Path) -> Result<()> {
        std::fs::write(path, crate::yaml::to_string(self)?)
            .with_context(|| format!("writing {}", path.display()))
    }

    pub fn apply(&self, raw: f64) -> f64 {
        self.map.apply(raw)
    }

    /// The calibrated threshold that reaches `precision` on the fitting
    /// cases while answering as many as possible, with its coverage. None
    /// when no threshold reaches it.
    pub fn threshold_for_precision(&self, precision: f64) -> Option<(f64, CurvePoint)> {
        self.curve
            .iter()
            .rev()
            .find(|p| p.precision + 1e-12 >= precision)
            .map(|p| (self.apply(p.threshold), *p))
    }

    /// The best precision the fitting cases allow, at its coverage (for
    /// error messages).
    pub fn best_precision(&self) -> Option<CurvePoint> {
        self.curve.iter().copied().max_by(|a, b| {
            a.precision
                .total_cmp(&b.precision)
                .then(a.answered.cmp(&b.answered))
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A deterministic stream in [0, 1).
    fn uniform(seed: u64, n: usize) -> Vec<f64> {
        let mut state = seed;
        (0..n)
            .map(|_| {
                state = state
                    .wrapping_mul(6364136223846793005)
                    .wrapping_add(1442695040888963407);
                (state >> 11) as f64 / (1u64 << 53) as f64
            })
            .collect()
    }

    /// Outcomes drawn with a known chance `truth(confidence)`.
    fn synthetic(n: usize, truth: impl Fn(f64) -> f64) -> Vec<Observation> {
        let conf = uniform(7, n);
        let draw = uniform(11, n);
        conf.iter()
            .zip(draw)
            .map(|(&c, u)| Observation {
                confidence: c,
                hit: u < truth(c),
            })
            .collect()
    }

    #[test]
    fn curve_sweeps_from_most_to_least_confident() {
        let obs = [
            Observation {
                confidence: 0.9,
                hit: true,
            },
            Observation {
                confidence: 0.1,
                hit: false,
            },
            Observation {
                confidence: 0.5,
                hit: false,
            },
            Observation {
                confidence: 0.5,
                hit: true,
            },
        ];
        let curve = risk_coverage(&obs);
        let points: Vec<(f64, usize, f64)> = curve
            .iter()
            .map(|p| (p.threshold, p.answered, p.precision))
            .collect();
        assert_eq!(
            points,
            vec![(0.9, 1, 1.0), (0.5, 3, 2.0 / 3.0), (0.1, 4, 0.5)]
        );
        assert_eq!(at_coverage(&curve, 0.5).unwrap().answered, 3);
        assert_eq!(at_coverage(&curve, 1.0).unwrap().coverage, 1.0);
    }

    #[test]
    fn isotonic_pools_violators_and_stays_monotone() {
        let obs: Vec<Observation> = [
            (0.1, false),
            (0.2, true),
            (0.3, false),
            (0.4, true),
            (0.5, true),
        ]
        .iter()
        .map(|&(c, h)| Observation {
            confidence: c,
            hit: h,
        })
        .collect();
        let Map::Isotonic { knots } = Map::fit(Method::Isotonic, &obs) else {
            panic!("isotonic")
        };
        // 0.2 (hit) and 0.3 (miss) violate the order and pool to 0.5.
        // 0.4 and 0.5 (both hits) share a block too.
        assert_eq!(knots.len(), 3);
        assert!((knots[1][0] - 0.25).abs() < 1e-12 && (knots[1][1] - 0.5).abs() < 1e-12);
        let map = Map::Isotonic { knots };
        let ys: Vec<f64> = (0..=20).map(|i| map.apply(i as f64 / 20.0)).collect();
        assert!(ys.windows(2).all(|w| w[0] <= w[1]), "{ys:?}");
        // Never certain: clamped to [1/7, 6/7].
        assert!((map.apply(0.0) - 1.0 / 7.0).abs() < 1e-12);
        assert!((map.apply(1.0) - 6.0 / 7.0).abs() < 1e-12);
    }

    #[test]
    fn isotonic_recovers_a_known_overconfident_score() {
        // The true chance is half the stated confidence.
        let obs = synthetic(4000, |c| c / 2.0);
        let map = Map::fit(Method::Isotonic, &obs);
        for c in [0.2, 0.5, 0.8] {
            assert!(
                (map.apply(c) - c / 2.0).abs() < 0.06,
                "{c}: {}",
                map.apply(c)
            );
        }
        let cv = cross_validate(&obs, Method::Isotonic, 2, 0.5);
        assert!(cv.ece_before > 0.2, "{}", cv.ece_before);
        assert!(cv.ece_after < 0.03, "{}", cv.ece_after);
        assert!(cv.brier_after < cv.brier_before);
    }

    #[test]
    fn platt_recovers_a_known_logistic_score() {
        // truth = sigmoid(2 logit(c) - 1)
        let obs = synthetic(4000, |c| sigmoid(2.0 * logit(c) - 1.0));
        let Map::Platt { a, b } = Map::fit(Method::Platt, &obs) else {
            panic!("platt")
        };
        assert!(
            (a - 2.0).abs() < 0.25 && (b + 1.0).abs() < 0.2,
            "a {a} b {b}"
        );
        let cv = cross_validate(&obs, Method::Platt, 2, 0.5);
        assert!(cv.ece_after < 0.03 && cv.ece_after < cv.ece_before);
    }

    #[test]
    fn useless_confidence_calibrates_to_the_base_rate() {
        let obs = synthetic(2000, |_| 0.3);
        for method in [Method::Platt, Method::Isotonic] {
            let cal = Calibration::fit(&obs, method, "heuristic", "built-in", false, 2, 0.5);
            let spread = cal.apply(0.95) - cal.apply(0.05);
            assert!(
                (cal.apply(0.5) - 0.3).abs() < 0.06,
                "{method:?} {:?} {}",
                cal.map,
                cal.apply(0.5)
            );
            assert!(spread < 0.15, "{method:?} spread {spread}");
        }
    }

    #[test]
    fn a_perfect_ranker_scores_zero_error() {
        let probs = [0.0, 1.0, 1.0, 0.0];
        let hits = [false, true, true, false];
        assert_eq!(brier(&probs, &hits), 0.0);
        assert_eq!(ece(&probs, &hits), 0.0);
        assert!((ece(&[0.8, 0.8], &[true, false]) - 0.3).abs() < 1e-12);
    }

    #[test]
    fn precision_targets_resolve_through_the_curve() {
        // Confident cases are right, the rest are coin flips.
        let obs = synthetic(1000, |c| if c > 0.6 { 0.97 } else { 0.4 });
        let cal = Calibration::fit(
            &obs,
            Method::Isotonic,
            "heuristic",
            "built-in",
            false,
            2,
            0.5,
        );
        let (threshold, point) = cal.threshold_for_precision(0.9).expect("reachable");
        assert!(point.precision >= 0.9);
        assert!((0.3..0.5).contains(&point.coverage), "{point:?}");
        assert!(threshold > cal.apply(0.3));
        assert!(cal.threshold_for_precision(1.01).is_none());
        let text = serde_yaml::to_string(&cal).unwrap();
        let back: Calibration = serde_yaml::from_str(&text).unwrap();
        assert_eq!(back.map, cal.map);
    }
}
