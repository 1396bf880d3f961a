//! Learn: fit the fusion weights of the retrieval features from past
//! investigations.
//!
//! The model is a conditional logit: within one investigation, the chance
//! that commit `i` is the culprit is `softmax(w · x_i)` over the window's
//! commits. Fitting maximises the log-likelihood of the known culprits with
//! an L2 penalty, by Adam on standardised features. Because the softmax is
//! taken within each investigation, the weights read as log-odds and the
//! resulting priors are probabilities, which is what the report's
//! confidence sums.

use crate::retrieve::{Associations, Fusion, Regime, Weights, FEATURES, NUM_FEATURES};
use std::collections::BTreeMap;

/// The candidates of one past investigation and which one was the culprit.
#[derive(Debug, Clone)]
pub struct Group {
    pub features: Vec<[f64; NUM_FEATURES]>,
    /// Index of the culprit in `features`.
    pub culprit: usize,
    /// The regime of the investigation's title: which weights rank it.
    pub regime: Regime,
}

/// A regime with fewer training cases than this shares the weights fitted
/// on all cases.
pub const MIN_REGIME_CASES: usize = 30;

/// Fits one set of weights per title regime, each on the cases of its
/// regime (or on all cases when its regime has too few), at temperature 1.
pub fn fit_fusion(groups: &[Group], options: &FitOptions) -> Fusion {
    let all = || fit(groups, options);
    let per_regime = |regime: Regime| {
        let own: Vec<Group> = groups
            .iter()
            .filter(|g| g.regime == regime)
            .cloned()
            .collect();
        let fitted = if own.len() >= MIN_REGIME_CASES {
            fit(&own, options)
        } else {
            all()
        };
        keep_unobserved(fitted, &own)
    };
    Fusion {
        component: per_regime(Regime::Component),
        symptom: per_regime(Regime::Symptom),
        temperature: 1.0,
        associations: Default::default(),
    }
}

/// Settings of the fit.
#[derive(Debug, Clone, Copy)]
pub struct FitOptions {
    pub l2: f64,
    pub iterations: usize,
    pub learning_rate: f64,
}

impl Default for FitOptions {
    fn default() -> Self {
        FitOptions {
            l2: 1.0,
            iterations: 400,
            learning_rate: 0.05,
        }
    }
}

/// Mean negative log-likelihood of the culprits under `weights`.
pub fn loss(groups: &[Group], weights: &Weights) -> f64 {
    let mut total = 0.0;
    for group in groups {
        let scores: Vec<f64> = group.features.iter().map(|x| weights.score(x)).collect();
        let max = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        let log_z = scores.iter().map(|s| (s - max).exp()).sum::<f64>().ln() + max;
        total += log_z - scores[group.culprit];
    }
    total / groups.len().max(1) as f64
}

/// Fits the weights. Deterministic: no sampling, fixed order.
pub fn fit(groups: &[Group], options: &FitOptions) -> Weights {
    // Standardise each feature over all rows so one learning rate fits all.
    let rows: usize = groups
        .iter()
        .map(|g| g.features.len())
        .sum::<usize>()
        .max(1);
    let mut mean = [0.0; NUM_FEATURES];
    let mut scale = [0.0; NUM_FEATURES];
    for x in groups.iter().flat_map(|g| &g.features) {
        for k in 0..NUM_FEATURES {
            mean[k] += x[k] / rows as f64;
        }
    }
    for x in groups.iter().flat_map(|g| &g.features) {
        for k in 0..NUM_FEATURES {
            scale[k] += (x[k] - mean[k]).powi(2) / rows as f64;
        }
    }
    for s in &mut scale {
        *s = if *s > 1e-12 { s.sqrt() } else { 1.0 };
    }
    let standardised: Vec<Vec<[f64; NUM_FEATURES]>> = groups
        .iter()
        .map(|g| {
            g.features
                .iter()
                .map(|x| std::array::from_fn(|k| (x[k] - mean[k]) / scale[k]))
                .collect()
        })
        .collect();

    let mut w = [0.0; NUM_FEATURES];
    let (mut m, mut v) = ([0.0; NUM_FEATURES], [0.0; NUM_FEATURES]);
    let (beta1, beta2) = (0.9, 0.999);
    let n = groups.len().max(1) as f64;
    for step in 1..=options.iterations {
        let mut gradient = [0.0; NUM_FEATURES];
        for (group, xs) in groups.iter().zip(&standardised) {
            let scores: Vec<f64> = xs.iter().map(|x| Weights(w).score(x)).collect();
            let max = scores.iter().copied().fold(f64::NEG_INFINITY, f64::max);
            let exps: Vec<f64> = scores.iter().map(|s| (s - max).exp()).collect();
            let z: f64 = exps.iter().sum();
            for (x, e) in xs.iter().zip(&exps) {
                let p = e / z;
                for k in 0..NUM_FEATURES {
                    gradient[k] += p * x[k];
                }
            }
            for k in 0..NUM_FEATURES {
                gradient[k] -= xs[group.culprit][k];
            }
        }
        for k in 0..NUM_FEATURES {
            let g = gradient[k] / n + options.l2 * w[k] / n;
            m[k] = beta1 * m[k] + (1.0 - beta1) * g;
            v[k] = beta2 * v[k] + (1.0 - beta2) * g * g;
            let m_hat = m[k] / (1.0 - beta1.powi(step as i32));
            let v_hat = v[k] / (1.0 - beta2.powi(step as i32));
            w[k] -= options.learning_rate * m_hat / (v_hat.sqrt() + 1e-8);
        }
    }
    // Back to raw features; the mean shift is constant within a group and
    // cancels in the softmax.
    Weights(std::array::from_fn(|k| w[k] / scale[k]))
}

/// A signal that never varied within a training case (no `--path` hints in
/// mined cases, say) taught the fit nothing, and the penalty left its
/// weight at 0. It keeps its hand-set weight instead, rescaled from the
/// built-in temperature to 1, so that a hint the training never saw still
/// counts.
fn keep_unobserved(mut weights: Weights, groups: &[Group]) -> Weights {
    let built_in = Weights::default();
    for k in 0..NUM_FEATURES {
        let varies = groups.iter().any(|g| {
            let first = g.features.first().map_or(0.0, |x| x[k]);
            g.features.iter().any(|x| x[k] != first)
        });
        if !varies {
            weights.0[k] = built_in.0[k] / crate::retrieve::PRIOR_TEMPERATURE;
        }
    }
    weights
}

/// 1-based rank of the culprit under `fusion` (ties count against it).
pub fn culprit_rank(group: &Group, fusion: &Fusion) -> usize {
    let weights = fusion.weights(group.regime);
    let target = weights.score(&group.features[group.culprit]);
    1 + group
        .features
        .iter()
        .enumerate()
        .filter(|(i, x)| *i != group.culprit && weights.score(x) >= target)
        .count()
}

/// Each group's culprit rank under a fusion fitted without it: group `i`
/// is held out in fold `i mod folds`.
pub fn out_of_fold_ranks(groups: &[Group], options: &FitOptions, folds: usize) -> Vec<usize> {
    out_of_fold(groups, options, folds, |i, fusion| {
        culprit_rank(&groups[i], fusion)
    })
}

/// `score(i, fusion)` for each group `i`, under a fusion fitted on the
/// other folds (group `i` is in fold `i mod folds`, at least 2 folds).
pub fn out_of_fold<T: Default + Clone>(
    groups: &[Group],
    options: &FitOptions,
    folds: usize,
    score: impl Fn(usize, &Fusion) -> T,
) -> Vec<T> {
    let folds = folds.max(2);
    let mut out = vec![T::default(); groups.len()];
    for fold in 0..folds {
        let train: Vec<Group> = groups
            .iter()
            .enumerate()
            .filter(|(i, _)| i % folds != fold)
            .map(|(_, g)| g.clone())
            .collect();
        let fusion = fit_fusion(&train, options);
        for i in (0..groups.len()).filter(|i| i % folds == fold) {
            out[i] = score(i, &fusion);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Culprits are the commits with the largest feature 0: the fit must
    /// learn a positive weight for it and a near-zero one for noise.
    #[test]
    fn learns_the_informative_feature() {
        let mut groups = Vec::new();
        let mut state = 7u64;
        let mut next = || {
            state = state
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (state >> 33) as f64 / (1u64 << 31) as f64
        };
        for _ in 0..40 {
            let features: Vec<[f64; NUM_FEATURES]> = (0..30)
                .map(|_| std::array::from_fn(|k| if k < 2 { next() } else { 0.0 }))
                .collect();
            let culprit = (0..30)
                .max_by(|&a, &b| features[a][0].total_cmp(&features[b][0]))
                .unwrap();
            groups.push(Group {
                features,
                culprit,
                regime: Regime::Symptom,
            });
        }
        let weights = fit(&groups, &FitOptions::default());
        assert!(weights.0[0] > 3.0, "{:?}", weights.0);
        assert!(weights.0[1].abs() < weights.0[0] / 3.0, "{:?}", weights.0);
        assert!(loss(&groups, &weights) < loss(&groups, &Weights([0.0; NUM_FEATURES])));
    }
}

/// The name of the hand-set fusion, for `--fusion` and reports.
pub const BUILT_IN: &str = "built-in";

/// The schema of a fusion file.
pub const FUSION_SCHEMA: &str = "rca.fusion/1";

/// The largest weight or association lift a fusion file may hold: fitted
/// ones are below 100 (standardised features, lifts are log-ratios).
pub const MAX_MAGNITUDE: f64 = 1e6;

/// Learned fusion weights as `rca train` writes them (YAML).
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct FusionFile {
    pub schema: String,
    /// Per title regime (`component`, `symptom`): feature name (see
    /// `retrieve::FEATURES`) → weight. Every feature must be present.
    pub weights: BTreeMap<Regime, BTreeMap<String, f64>>,
    /// Softmax temperature of the prior.
    pub temperature: f64,
    /// What the `association` signal reads: incident word → (change token
    /// → lift); see `retrieve::Associations`.
    #[serde(default, skip_serializing_if = "Associations::is_empty")]
    pub associations: Associations,
    /// How it was trained (cut-off, cases, out-of-fold metrics); for
    /// people, not read back.
    #[serde(default)]
    pub trained: serde_yaml::Value,
}

impl FusionFile {
    pub fn new(fusion: Fusion, trained: serde_yaml::Value) -> FusionFile {
        let named = |w: &Weights| {
            FEATURES
                .iter()
                .zip(w.0)
                .map(|(name, w)| ((*name).to_owned(), w))
                .collect()
        };
        FusionFile {
            schema: FUSION_SCHEMA.to_owned(),
            weights: BTreeMap::from([
                (Regime::Component, named(&fusion.component)),
                (Regime::Symptom, named(&fusion.symptom)),
            ]),
            temperature: fusion.temperature,
            associations: fusion.associations,
            trained,
        }
    }

    /// Reads and checks a fusion file; errors are one-line input errors.
    /// Weights and lifts beyond [`MAX_MAGNITUDE`] are refused, so that no
    /// score can overflow.
    pub fn load(path: &std::path::Path) -> anyhow::Result<Fusion> {
        let file: FusionFile = crate::error::read_yaml(path, "fusion ", None)?;
        let fail = |what: String| crate::error::input(format!("fusion {}: {what}", path.display()));
        if file.schema != FUSION_SCHEMA {
            return Err(fail(format!(
                "schema {:?}, expected {FUSION_SCHEMA:?}",
                file.schema
            )));
        }
        if !(file.temperature > 0.0 && file.temperature.is_finite()) {
            return Err(fail("the temperature must be finite and above 0".into()));
        }
        let weights = |regime: Regime| -> anyhow::Result<Weights> {
            let named = file
                .weights
                .get(&regime)
                .ok_or_else(|| fail(format!("no weights for the {regime:?} regime")))?;
            if let Some(unknown) = named.keys().find(|k| !FEATURES.contains(&k.as_str())) {
                return Err(fail(format!("unknown feature {unknown:?}")));
            }
            let mut w = [0.0; NUM_FEATURES];
            for (k, name) in FEATURES.iter().enumerate() {
                w[k] = *named
                    .get(*name)
                    .ok_or_else(|| fail(format!("no weight for feature {name:?}")))?;
                if !(w[k].is_finite() && w[k].abs() <= MAX_MAGNITUDE) {
                    return Err(fail(format!(
                        "weight of {name:?} is {}: not a finite number within ±{MAX_MAGNITUDE}",
                        w[k]
                    )));
                }
            }
            Ok(Weights(w))
        };
        if let Some((word, token)) = file.associations.0.iter().find_map(|(word, lifts)| {
            lifts
                .iter()
                .find(|(_, lift)| !(lift.is_finite() && lift.abs() <= MAX_MAGNITUDE))
                .map(|(token, _)| (word, token))
        }) {
            return Err(fail(format!(
                "association {word:?} ↔ {token:?} is not a finite number within ±{MAX_MAGNITUDE}"
            )));
        }
        Ok(Fusion {
            component: weights(Regime::Component)?,
            symptom: weights(Regime::Symptom)?,
            temperature: file.temperature,
            associations: file.associations,
        })
    }

    pub fn save(&self, path: &std::path::Path) -> anyhow::Result<()> {
        std::fs::write(path, crate::yaml::to_string(self)?)
            .map_err(|e| crate::error::input(format!("writing {}: {e}", path.display())))
    }
}

/// A short stable id of a fusion (FNV-1a over its numbers), so that a
/// calibration can name the fusion whose confidence it was fitted on.
pub fn fusion_id(fusion: &Fusion) -> String {
    if *fusion == Fusion::default() {
        return BUILT_IN.to_owned();
    }
    let mut hash: u64 = 0xcbf29ce484222325;
    let mut add = |bytes: &[u8]| {
        for &byte in bytes {
            hash = (hash ^ u64::from(byte)).wrapping_mul(0x100000001b3);
        }
    };
    let numbers = fusion.component.0.iter().chain(&fusion.symptom.0);
    for value in numbers.chain([&fusion.temperature]) {
        add(&value.to_bits().to_le_bytes());
    }
    for (word, lifts) in fusion.associations.0.iter() {
        add(word.as_bytes());
        for (token, lift) in lifts {
            add(token.as_bytes());
            add(&lift.to_bits().to_le_bytes());
        }
    }
    format!("{hash:016x}")
}

/// One past investigation as the associations see it: the incident's
/// words, each candidate's change tokens (ids into a shared vocabulary) and
/// the culprit's index.
#[derive(Debug, Clone)]
pub struct AssociationCase {
    pub words: Vec<String>,
    pub candidates: Vec<Vec<u32>>,
    pub culprit: usize,
}

/// Interns change tokens so that hundreds of thousands of candidates'
/// token sets stay small.
#[derive(Debug, Default)]
pub struct Vocabulary {
    names: Vec<String>,
    ids: std::collections::HashMap<String, u32>,
}

impl Vocabulary {
    pub fn id(&mut self, token: &str) -> u32 {
        if let Some(&id) = self.ids.get(token) {
            return id;
        }
        let id = self.names.len() as u32;
        self.names.push(token.to_owned());
        self.ids.insert(token.to_owned(), id);
        id
    }

    pub fn ids(&mut self, tokens: impl IntoIterator<Item = String>) -> Vec<u32> {
        let mut ids: Vec<u32> = tokens.into_iter().map(|t| self.id(&t)).collect();
        ids.sort_unstable();
        ids.dedup();
        ids
    }

    pub fn name(&self, id: u32) -> &str {
        &self.names[id as usize]
    }
}

/// Settings of the association fit.
#[derive(Debug, Clone, Copy)]
pub struct AssociationOptions {
    /// A word must be in at least this many training titles.
    pub min_word_cases: usize,
    /// A pair must have this many culprits behind it.
    pub min_support: u32,
    /// Pairs with a smaller lift are dropped.
    pub min_lift: f64,
    /// Tokens kept per word, best lift first.
    pub per_word: usize,
}

impl Default for AssociationOptions {
    fn default() -> Self {
        AssociationOptions {
            min_word_cases: 3,
            min_support: 3,
            min_lift: 0.5,
            per_word: 32,
        }
    }
}

/// Fits the associations (see `retrieve::Associations` for the lift):
/// deterministic, and a word is never associated with itself.
pub fn fit_associations(
    cases: &[&AssociationCase],
    vocabulary: &Vocabulary,
    options: &AssociationOptions,
) -> Associations {
    use std::collections::HashMap;
    let mut word_cases: HashMap<&str, usize> = HashMap::new();
    for case in cases {
        for word in &case.words {
            *word_cases.entry(word).or_default() += 1;
        }
    }
    let frequent = |w: &str| word_cases.get(w).copied().unwrap_or(0) >= options.min_word_cases;
    // E: culprits with the token, per (word, token).
    let mut evidence: HashMap<(&str, u32), u32> = HashMap::new();
    for case in cases {
        let Some(culprit) = case.candidates.get(case.culprit) else {
            continue;
        };
        for word in case.words.iter().filter(|w| frequent(w)) {
            for &token in culprit {
                if vocabulary.name(token) != word {
                    *evidence.entry((word.as_str(), token)).or_default() += 1;
                }
            }
        }
    }
    evidence.retain(|_, e| *e >= options.min_support);
    let mut by_word: HashMap<&str, Vec<u32>> = HashMap::new();
    for &(word, token) in evidence.keys() {
        by_word.entry(word).or_default().push(token);
    }
    // B: the expected count had the culprit been any candidate.
    let mut baseline: HashMap<(&str, u32), f64> = HashMap::new();
    for case in cases {
        let wanted: Vec<(&str, &Vec<u32>)> = case
            .words
            .iter()
            .filter_map(|w| by_word.get(w.as_str()).map(|t| (w.as_str(), t)))
            .collect();
        if wanted.is_empty() || case.candidates.is_empty() {
            continue;
        }
        let mut share: HashMap<u32, f64> = HashMap::new();
        for (_, tokens) in &wanted {
            for &t in tokens.iter() {
                share.insert(t, 0.0);
            }
        }
        let n = case.candidates.len() as f64;
        for candidate in &case.candidates {
            for token in candidate {
                if let Some(s) = share.get_mut(token) {
                    *s += 1.0 / n;
                }
            }
        }
        for (word, tokens) in wanted {
            for &t in tokens {
                *baseline.entry((word, t)).or_default() += share[&t];
            }
        }
    }
    let mut table: BTreeMap<String, Vec<(String, f64)>> = BTreeMap::new();
    for (&(word, token), &e) in &evidence {
        let b = baseline.get(&(word, token)).copied().unwrap_or(0.0);
        let lift = ((f64::from(e) + 1.0) / (b + 1.0)).ln();
        if lift >= options.min_lift {
            table
                .entry(word.to_owned())
                .or_default()
                .push((vocabulary.name(token).to_owned(), lift));
        }
    }
    let table = table
        .into_iter()
        .map(|(word, mut lifts)| {
            lifts.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
            lifts.truncate(options.per_word);
            // Rounded so that the file reads well and ids stay stable.
            let lifts = lifts
                .into_iter()
                .map(|(t, l)| (t, (l * 1e4).round() / 1e4))
                .collect();
            (word, lifts)
        })
        .collect();
    Associations(std::sync::Arc::new(table))
}

/// The `association` signal of every candidate of each case under
/// `associations` (as `Associations::score` computes it, on token ids).
pub fn association_scores(
    cases: &[&AssociationCase],
    vocabulary: &Vocabulary,
    associations: &Associations,
) -> Vec<Vec<f64>> {
    let by_id: std::collections::HashMap<&str, Vec<(u32, f64)>> = associations
        .0
        .iter()
        .map(|(word, lifts)| {
            let ids = lifts
                .iter()
                .filter_map(|(t, &l)| vocabulary.ids.get(t).map(|&id| (id, l)))
                .collect();
            (word.as_str(), ids)
        })
        .collect();
    cases
        .iter()
        .map(|case| {
            let lists: Vec<&Vec<(u32, f64)>> = case
                .words
                .iter()
                .filter_map(|w| by_id.get(w.as_str()))
                .collect();
            case.candidates
                .iter()
                .map(|tokens| {
                    lists
                        .iter()
                        .filter_map(|lifts| {
                            lifts
                                .iter()
                                .filter(|(id, _)| tokens.binary_search(id).is_ok())
                                .map(|&(_, l)| l)
                                .max_by(f64::total_cmp)
                        })
                        .sum()
                })
                .collect()
        })
        .collect()
}

/// Replaces each group's `association` signal by one from associations
/// fitted without its fold (group `i` in fold `i mod folds`), so that the
/// fusion weighs the signal as it will behave on unseen cases.
pub fn out_of_fold_associations(
    groups: &mut [Group],
    cases: &[AssociationCase],
    vocabulary: &Vocabulary,
    options: &AssociationOptions,
    folds: usize,
) {
    let k = FEATURES
        .iter()
        .position(|f| *f == "association")
        .expect("the association signal");
    let folds = folds.max(2);
    for fold in 0..folds {
        let train: Vec<&AssociationCase> = cases
            .iter()
            .enumerate()
            .filter(|(i, _)| i % folds != fold)
            .map(|(_, c)| c)
            .collect();
        let associations = fit_associations(&train, vocabulary, options);
        let held_out: Vec<usize> = (0..cases.len()).filter(|i| i % folds == fold).collect();
        let refs: Vec<&AssociationCase> = held_out.iter().map(|&i| &cases[i]).collect();
        let scores = association_scores(&refs, vocabulary, &associations);
        for (&i, scores) in held_out.iter().zip(scores) {
            for (x, score) in groups[i].features.iter_mut().zip(scores) {
                x[k] = score;
            }
        }
    }
}
