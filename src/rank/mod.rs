//! Rank: order the retrieved candidates and give each suspect a probability.
//!
//! Three rankers share one output, a list of [`Suspect`]s:
//!
//! - **heuristic**: the retrieval score alone;
//! - **pointwise**: a [`Scorer`] (the pointwise judge, [`pointwise`]) reads
//!   the best `judge` candidates one at a time; its scores, centred over
//!   them, are the model term `m` of the fusion below;
//! - **election**: a [`Judge`] (the language model, or a scripted judge in
//!   tests) scores batches of at most `batch` changes. The best `keep` of each
//!   batch go on to the next round until at most `top` remain. Each batch is
//!   judged over `votes` orders (given, reversed, then seeded shuffles) to
//!   cancel the model's position bias.
//!
//! **Fusion.** A candidate's fused score is
//! `ln(prior) + model_weight × m`, where `prior` is the retrieval prior and
//! `m` the judge's label log-probability, renormalised over the batch's
//! labels and averaged over votes, from the last round the candidate took
//! part in. The suspect probability is the softmax of fused scores over all
//! retrieved candidates, scaled by the prior mass retrieval kept; with
//! `model_weight = 0` it is exactly the retrieval prior. The confidence of a
//! report is the sum of its suspects' probabilities: the chance that the
//! culprit is among them.

pub mod card;
pub mod llm;
pub mod pointwise;
pub mod prompt;

use crate::cases::Facts;
use crate::retrieve::{Candidate, Regime};
use crate::when::Seconds;
use anyhow::Result;
use serde::Serialize;

/// Scores a batch of changes against the facts of an investigation.
pub trait Judge {
    /// One log-probability per change, in the order given: how likely the
    /// judge finds each change to be the cause.
    fn judge(&mut self, facts: &Facts, until: Seconds, batch: &[&Candidate]) -> Result<Vec<f64>>;

    /// [`Judge::judge`] of each batch, in order; a judge that can work on
    /// several at once (a served model) overrides it. `done` is called as
    /// each batch is judged.
    fn judge_many(
        &mut self,
        facts: &Facts,
        until: Seconds,
        batches: &[Vec<&Candidate>],
        done: &mut dyn FnMut(),
    ) -> Result<Vec<Vec<f64>>> {
        batches
            .iter()
            .map(|batch| {
                let logprobs = self.judge(facts, until, batch);
                done();
                logprobs
            })
            .collect()
    }
}

/// Scores one change at a time against the facts of an investigation.
pub trait Scorer {
    /// How likely the change is the cause, on any scale (higher: likelier).
    fn score(&mut self, facts: &Facts, until: Seconds, change: &Candidate) -> Result<f64>;

    /// [`Scorer::score`] of each change, in order; a scorer that can work
    /// on several at once (a served model) overrides it. `done` is called
    /// as each is scored.
    fn score_many(
        &mut self,
        facts: &Facts,
        until: Seconds,
        changes: &[&Candidate],
        done: &mut dyn FnMut(),
    ) -> Result<Vec<f64>> {
        changes
            .iter()
            .map(|change| {
                let score = self.score(facts, until, change);
                done();
                score
            })
            .collect()
    }
}

/// Settings of the pointwise ranking.
#[derive(Debug, Clone, Serialize)]
pub struct PointwiseOptions {
    /// How many of the best candidates (by retrieval) the judge reads.
    pub judge: usize,
    /// Weight of the judge's centred score in the fused score, per title
    /// regime (fitted by `rca train --judge`).
    pub model_weight: std::collections::BTreeMap<Regime, f64>,
}

/// Settings of the election.
#[derive(Debug, Clone, Serialize)]
pub struct ElectionOptions {
    /// Changes per batch (at most 20: the labels are A–T).
    pub batch: usize,
    /// Winners kept from each batch.
    pub keep: usize,
    /// Orders each batch is judged in.
    pub votes: usize,
    /// How many suspects the election ends with.
    pub top: usize,
    /// Weight of the judge's log-probability in the fused score.
    pub model_weight: f64,
    /// How many of the best candidates (by retrieval) enter the election.
    pub elect: usize,
}

impl Default for ElectionOptions {
    fn default() -> Self {
        ElectionOptions {
            batch: 20,
            keep: 5,
            votes: 2,
            top: 5,
            model_weight: 0.25,
            elect: 60,
        }
    }
}

/// One batch's verdict on one candidate.
#[derive(Debug, Clone, Serialize)]
pub struct RoundScore {
    pub round: usize,
    pub batch: usize,
    /// Mean over votes of the renormalised label log-probability.
    pub model_logprob: f64,
    /// The label this candidate had in each vote.
    pub labels: Vec<char>,
    pub kept: bool,
}

/// A ranked suspect.
#[derive(Debug, Clone, Serialize)]
pub struct Suspect {
    pub candidate: Candidate,
    /// Chance that this commit is the culprit.
    pub probability: f64,
    /// The fused score the ranking used.
    pub fused_score: f64,
    /// The election rounds it took part in (empty for the other rankers).
    pub rounds: Vec<RoundScore>,
    /// The pointwise judge's score, centred over the judged candidates
    /// (none when the pointwise judge did not read it).
    pub judge_score: Option<f64>,
}

/// Labels of the slots of a batch: single tokens for Llama tokenizers.
pub const LABELS: [char; 20] = [
    'A', 'B', 'C', 'D', 'E', 'F', 'G', 'H', 'I', 'J', 'K', 'L', 'M', 'N', 'O', 'P', 'Q', 'R', 'S',
    'T',
];

/// The heuristic ranking: every candidate by retrieval score.
pub fn heuristic(candidates: Vec<Candidate>) -> Vec<Suspect> {
    let ordered = candidates
        .into_iter()
        .map(|c| (c, 0.0, Vec::new()))
        .collect();
    finish_ordered(ordered, 0.0)
}

/// The pointwise ranking: the judge reads the best `options.judge`
/// candidates; they come first, by fused score, then the others in retrieval
/// order. Deterministic for a deterministic scorer.
pub fn pointwise(
    candidates: Vec<Candidate>,
    facts: &Facts,
    until: Seconds,
    scorer: &mut dyn Scorer,
    options: &PointwiseOptions,
    progress: &mut dyn Progress,
) -> Result<Vec<Suspect>> {
    let judged = candidates.len().min(options.judge);
    progress.batches_planned(judged);
    let judged_changes: Vec<&Candidate> = candidates[..judged].iter().collect();
    let scores = scorer.score_many(facts, until, &judged_changes, &mut || progress.batch_done())?;
    anyhow::ensure!(
        scores.len() == judged,
        "judge returned {} scores for {judged} changes",
        scores.len()
    );
    let scores = centred(&scores);
    let mut ordered: Vec<(Candidate, f64, Vec<RoundScore>)> = candidates
        .into_iter()
        .enumerate()
        .map(|(i, c)| (c, scores.get(i).copied().unwrap_or(0.0), Vec::new()))
        .collect();
    let w = options
        .model_weight
        .get(&Regime::of(facts))
        .copied()
        .unwrap_or(0.0);
    ordered[..judged]
        .sort_by(|a, b| fused_score(b.0.prior, w, b.1).total_cmp(&fused_score(a.0.prior, w, a.1)));
    let judge_scores: Vec<f64> = ordered[..judged].iter().map(|e| e.1).collect();
    let mut suspects = finish_ordered(ordered, w);
    for (suspect, score) in suspects.iter_mut().zip(judge_scores) {
        suspect.judge_score = Some(score);
    }
    Ok(suspects)
}

/// Scores centred over the judged candidates: what the fusion adds, so that
/// a judge that scores every change alike moves nothing.
pub fn centred(scores: &[f64]) -> Vec<f64> {
    let mean = scores.iter().sum::<f64>() / scores.len().max(1) as f64;
    scores.iter().map(|s| s - mean).collect()
}

/// Progress of an election, for progress bars.
pub trait Progress {
    fn batches_planned(&mut self, _total: usize) {}
    fn batch_done(&mut self) {}
}

impl Progress for () {}

/// The number of batches an election over `n` candidates will judge.
pub fn planned_batches(mut n: usize, options: &ElectionOptions) -> usize {
    let mut total = 0;
    while n > options.top {
        let batches = n.div_ceil(options.batch);
        total += batches;
        n = if batches == 1 {
            options.top
        } else {
            (batches * options.keep).min(n)
        };
        if batches == 1 {
            break;
        }
    }
    total * options.votes.max(1)
}

/// Runs the election and returns every candidate: the finalists first, then
/// the others, each group by fused score. Deterministic for a deterministic
/// judge.
pub fn elect(
    candidates: Vec<Candidate>,
    facts: &Facts,
    until: Seconds,
    judge: &mut dyn Judge,
    options: &ElectionOptions,
    progress: &mut dyn Progress,
) -> Result<Vec<Suspect>> {
    let batch_size = options.batch.clamp(2, LABELS.len());
    let keep = options.keep.clamp(1, batch_size - 1);
    let votes = options.votes.max(1);
    let electorate = candidates.len().min(options.elect.max(options.top));
    progress.batches_planned(planned_batches(electorate, options));

    // Latest model score of every candidate (index into `scored`); the
    // candidates arrive best first, so the electorate is the first ones.
    let mut scored: Vec<(Candidate, f64, Vec<RoundScore>)> = candidates
        .into_iter()
        .map(|c| (c, 0.0, Vec::new()))
        .collect();
    let mut alive: Vec<usize> = (0..electorate).collect();
    let mut round = 0;
    while alive.len() > options.top {
        round += 1;
        // Deal the candidates, strongest first, round-robin into batches, so
        // that the strongest do not knock each other out in round one.
        let batch_count = alive.len().div_ceil(batch_size);
        let mut batches: Vec<Vec<usize>> = vec![Vec::new(); batch_count];
        alive.sort_by(|&a, &b| {
            fused(&scored[b], options)
                .total_cmp(&fused(&scored[a], options))
                .then(a.cmp(&b))
        });
        for (i, &index) in alive.iter().enumerate() {
            batches[i % batch_count].push(index);
        }
        let winners_per_batch = if batch_count == 1 { options.top } else { keep };
        // Every batch and vote of the round is judged in one go: they are
        // independent, and a served model takes several at once.
        let orders: Vec<Vec<usize>> = batches
            .iter()
            .enumerate()
            .flat_map(|(b, batch)| {
                (0..votes).map(move |vote| permutation(batch.len(), vote, round, b))
            })
            .collect();
        let prompts: Vec<Vec<&Candidate>> = orders
            .iter()
            .enumerate()
            .map(|(k, order)| {
                let batch = &batches[k / votes];
                order.iter().map(|&slot| &scored[batch[slot]].0).collect()
            })
            .collect();
        let judged = judge.judge_many(facts, until, &prompts, &mut || progress.batch_done())?;
        anyhow::ensure!(
            judged.len() == prompts.len(),
            "judge returned {} batches for {}",
            judged.len(),
            prompts.len()
        );
        let mut next = Vec::new();
        for (batch_index, batch) in batches.iter().enumerate() {
            let mut sums = vec![0.0; batch.len()];
            let mut labels = vec![Vec::new(); batch.len()];
            for vote in 0..votes {
                let k = batch_index * votes + vote;
                let (order, logprobs) = (&orders[k], &judged[k]);
                anyhow::ensure!(
                    logprobs.len() == order.len(),
                    "judge returned {} scores for {} changes",
                    logprobs.len(),
                    order.len()
                );
                let normalised = log_softmax(logprobs);
                for (position, &slot) in order.iter().enumerate() {
                    sums[slot] += normalised[position];
                    labels[slot].push(LABELS[position]);
                }
            }
            for (slot, &index) in batch.iter().enumerate() {
                let model_logprob = sums[slot] / votes as f64;
                scored[index].1 = model_logprob;
                scored[index].2.push(RoundScore {
                    round,
                    batch: batch_index,
                    model_logprob,
                    labels: std::mem::take(&mut labels[slot]),
                    kept: false,
                });
            }
            let mut ranked = batch.clone();
            ranked.sort_by(|&a, &b| {
                fused(&scored[b], options)
                    .total_cmp(&fused(&scored[a], options))
                    .then(a.cmp(&b))
            });
            for &winner in ranked.iter().take(winners_per_batch) {
                if let Some(last) = scored[winner].2.last_mut() {
                    last.kept = true;
                }
                next.push(winner);
            }
        }
        alive = next;
        if batch_count == 1 {
            break;
        }
    }
    // Finalists first, then the rest of the electorate by the round they
    // reached, then those outside it; each group by fused score.
    let finalists: std::collections::HashSet<usize> = alive.into_iter().collect();
    let stage = |i: usize| {
        if finalists.contains(&i) {
            usize::MAX
        } else {
            scored[i].2.len()
        }
    };
    let mut order: Vec<usize> = (0..scored.len()).collect();
    order.sort_by(|&a, &b| {
        stage(b)
            .cmp(&stage(a))
            .then(fused(&scored[b], options).total_cmp(&fused(&scored[a], options)))
            .then(a.cmp(&b))
    });
    let mut ordered: Vec<(Candidate, f64, Vec<RoundScore>)> = Vec::with_capacity(scored.len());
    let mut slots: Vec<Option<(Candidate, f64, Vec<RoundScore>)>> =
        scored.into_iter().map(Some).collect();
    for index in order {
        if let Some(entry) = slots[index].take() {
            ordered.push(entry);
        }
    }
    Ok(finish_ordered(ordered, options.model_weight))
}

fn fused(entry: &(Candidate, f64, Vec<RoundScore>), options: &ElectionOptions) -> f64 {
    fused_score(entry.0.prior, options.model_weight, entry.1)
}

/// Turns an ordered list into suspects with probabilities (see the module
/// docs for the formula).
fn finish_ordered(
    ordered: Vec<(Candidate, f64, Vec<RoundScore>)>,
    model_weight: f64,
) -> Vec<Suspect> {
    let kept_mass: f64 = ordered.iter().map(|e| e.0.prior).sum();
    let weights: Vec<f64> = ordered
        .iter()
        .map(|e| e.0.prior * (model_weight * e.1).exp())
        .collect();
    let total: f64 = weights.iter().sum::<f64>().max(f64::MIN_POSITIVE);
    ordered
        .into_iter()
        .zip(weights)
        .map(|((candidate, model, rounds), weight)| Suspect {
            fused_score: fused_score(candidate.prior, model_weight, model),
            probability: kept_mass * weight / total,
            candidate,
            rounds,
            judge_score: None,
        })
        .collect()
}

/// The fusion formula of the module docs: `ln(prior) + w × model`.
fn fused_score(prior: f64, model_weight: f64, model: f64) -> f64 {
    prior.max(f64::MIN_POSITIVE).ln() + model_weight * model
}

/// Log-softmax of judge scores over one batch.
fn log_softmax(values: &[f64]) -> Vec<f64> {
    let max = values.iter().copied().fold(f64::NEG_INFINITY, f64::max);
    let log_total = values.iter().map(|v| (v - max).exp()).sum::<f64>().ln() + max;
    values.iter().map(|v| v - log_total).collect()
}

/// The slot order of vote `vote`: as given, reversed, then deterministic
/// shuffles seeded by the vote, round and batch.
pub fn permutation(len: usize, vote: usize, round: usize, batch: usize) -> Vec<usize> {
    let mut order: Vec<usize> = (0..len).collect();
    match vote {
        0 => {}
        1 => order.reverse(),
        _ => {
            let mut state =
                (vote as u64) << 32 ^ (round as u64) << 16 ^ batch as u64 ^ 0x9E37_79B9_7F4A_7C15;
            for i in (1..len).rev() {
                // xorshift64*: small, fast and reproducible everywhere.
                state ^= state >> 12;
                state ^= state << 25;
                state ^= state >> 27;
                let r = state.wrapping_mul(0x2545_F491_4F6C_DD1D);
                order.swap(i, (r % (i as u64 + 1)) as usize);
            }
        }
    }
    order
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::Commit;

    fn candidate(i: usize, prior: f64) -> Candidate {
        Candidate {
            commit: Commit {
                id: format!("{i:040x}"),
                author: "a".into(),
                email: "a@x".into(),
                authored_at: 0,
                committed_at: 0,
                landed_at: 0,
                subject: format!("change {i}"),
                body: String::new(),
                files: Vec::new(),
                diff: Default::default(),
                merged_by: None,
            },
            features: [0.0; crate::retrieve::NUM_FEATURES],
            score: prior.ln(),
            prior,
            evidence: Default::default(),
        }
    }

    /// Candidates with equal priors, best first by index.
    fn field(n: usize) -> Vec<Candidate> {
        (0..n).map(|i| candidate(i, 1.0 / n as f64)).collect()
    }

    /// Scores the change with this subject high, every other one alike.
    struct Spotter(String, usize);
    impl Scorer for Spotter {
        fn score(&mut self, _: &Facts, _: Seconds, change: &Candidate) -> Result<f64> {
            self.1 += 1;
            Ok(if change.commit.subject == self.0 {
                3.0
            } else {
                -1.0
            })
        }
    }

    #[test]
    fn pointwise_reads_only_the_best_and_moves_them_by_its_weight() {
        // Priors fall with the index; the judge spots change 3.
        let field: Vec<Candidate> = (0..10)
            .map(|i| candidate(i, 0.2 / (1.0 + i as f64)))
            .collect();
        let run = |weight: f64, judge: usize| {
            let mut scorer = Spotter("change 3".into(), 0);
            let options = PointwiseOptions {
                judge,
                model_weight: [(Regime::Component, weight), (Regime::Symptom, weight)].into(),
            };
            let suspects = pointwise(
                field.clone(),
                &Facts::default(),
                0,
                &mut scorer,
                &options,
                &mut (),
            )
            .unwrap();
            (suspects, scorer.1)
        };
        // Weight 0: the retrieval order, untouched.
        let (suspects, read) = run(0.0, 5);
        assert_eq!(read, 5);
        let order: Vec<&str> = suspects
            .iter()
            .map(|s| s.candidate.commit.subject.as_str())
            .collect();
        assert_eq!(order[..4], ["change 0", "change 1", "change 2", "change 3"]);
        // Centred: the judged scores sum to zero; the others have none.
        let sum: f64 = suspects.iter().filter_map(|s| s.judge_score).sum();
        assert!(sum.abs() < 1e-9);
        assert_eq!(
            suspects.iter().filter(|s| s.judge_score.is_some()).count(),
            5
        );
        // Weight 1: the spotted change comes first, with the most probability.
        let (suspects, _) = run(1.0, 5);
        assert_eq!(suspects[0].candidate.commit.subject, "change 3");
        assert!(suspects[0].probability > suspects[1].probability);
        let total: f64 = suspects.iter().map(|s| s.probability).sum();
        assert!((total - field.iter().map(|c| c.prior).sum::<f64>()).abs() < 1e-9);
        // Out of reach of the judge, it stays where retrieval put it.
        let (suspects, read) = run(1.0, 3);
        assert_eq!(read, 3);
        assert_eq!(suspects[3].candidate.commit.subject, "change 3");
        assert!(suspects[3].judge_score.is_none());
    }

    /// Always prefers slot A, whatever it holds.
    struct SlotA;
    impl Judge for SlotA {
        fn judge(&mut self, _: &Facts, _: Seconds, batch: &[&Candidate]) -> Result<Vec<f64>> {
            Ok((0..batch.len())
                .map(|i| if i == 0 { 0.0 } else { -5.0 })
                .collect())
        }
    }

    /// Knows the culprit: strongly prefers the change with this subject.
    struct Oracle(String, usize);
    impl Judge for Oracle {
        fn judge(&mut self, _: &Facts, _: Seconds, batch: &[&Candidate]) -> Result<Vec<f64>> {
            self.1 += 1;
            Ok(batch
                .iter()
                .map(|c| {
                    if c.commit.subject == self.0 {
                        0.0
                    } else {
                        -6.0
                    }
                })
                .collect())
        }
    }

    #[test]
    fn an_oracle_judge_elects_the_culprit_from_two_hundred() {
        let mut judge = Oracle("change 137".into(), 0);
        let options = ElectionOptions {
            elect: 200,
            ..ElectionOptions::default()
        };
        let suspects = elect(
            field(200),
            &Facts::default(),
            0,
            &mut judge,
            &options,
            &mut (),
        )
        .unwrap();
        assert_eq!(suspects[0].candidate.commit.subject, "change 137");
        assert_eq!(suspects.len(), 200, "every candidate is returned");
        // 200 → 10 batches → 50 → 3 batches → 15 → 1 batch → 5; two votes each.
        assert_eq!(judge.1, (10 + 3 + 1) * 2);
        assert_eq!(planned_batches(200, &options), judge.1);
        let probability: f64 = suspects.iter().map(|s| s.probability).sum();
        assert!((probability - 1.0).abs() < 1e-9);
        assert!(suspects[0].probability > suspects[1].probability);
    }

    #[test]
    fn reversed_votes_cancel_a_pure_position_bias() {
        // With the given and the reversed order, slot A's favourite and
        // the last slot's change get the same mean: position alone cannot
        // lift one change above the others by more than that.
        let options = ElectionOptions {
            elect: 20,
            model_weight: 1.0,
            ..ElectionOptions::default()
        };
        let suspects = elect(
            field(20),
            &Facts::default(),
            0,
            &mut SlotA,
            &options,
            &mut (),
        )
        .unwrap();
        let first = suspects
            .iter()
            .find(|s| s.candidate.commit.subject == "change 0")
            .unwrap();
        let last = suspects
            .iter()
            .find(|s| s.candidate.commit.subject == "change 19")
            .unwrap();
        assert!((first.rounds[0].model_logprob - last.rounds[0].model_logprob).abs() < 1e-9);
    }

    #[test]
    fn model_weight_zero_keeps_the_retrieval_order() {
        let candidates: Vec<Candidate> = (0..30)
            .map(|i| candidate(i, 0.5f64.powi(i as i32 + 1)))
            .collect();
        let options = ElectionOptions {
            elect: 30,
            model_weight: 0.0,
            ..ElectionOptions::default()
        };
        let suspects = elect(
            candidates.clone(),
            &Facts::default(),
            0,
            &mut SlotA,
            &options,
            &mut (),
        )
        .unwrap();
        let heuristic = heuristic(candidates);
        let ids = |s: &[Suspect]| {
            s.iter()
                .take(5)
                .map(|s| s.candidate.commit.id.clone())
                .collect::<Vec<_>>()
        };
        assert_eq!(ids(&suspects), ids(&heuristic));
        for (a, b) in suspects.iter().zip(&heuristic).take(5) {
            assert!((a.probability - b.probability).abs() < 1e-12);
        }
    }

    #[test]
    fn permutations_are_permutations_and_reproducible() {
        for vote in 0..5 {
            let p = permutation(20, vote, 1, 3);
            let mut sorted = p.clone();
            sorted.sort_unstable();
            assert_eq!(sorted, (0..20).collect::<Vec<_>>());
            assert_eq!(p, permutation(20, vote, 1, 3));
        }
        assert_ne!(permutation(20, 2, 1, 3), permutation(20, 3, 1, 3));
    }
}
