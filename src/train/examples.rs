//! Training examples: what was known when an investigation opened, the
//! candidates the retriever offered, and which one was the culprit.
//!
//! An example becomes a prompt exactly as the election's judge builds one
//! for a batch ([`crate::rank::llm::batch_tokens`]): the same chat format,
//! facts, change lines, labels and answer prefix. The candidates' slots are
//! permuted by a seeded RNG, differently in every epoch, so that no label is
//! favoured by the data and the model cannot learn "the answer is A".

use crate::cases::Facts;
use crate::model::Model;
use crate::rank::llm::batch_tokens;
use crate::rank::LABELS;
use crate::retrieve::{Candidate, NUM_FEATURES};
use crate::when::Seconds;
use anyhow::Result;
use serde::{Deserialize, Serialize};
use std::io::{BufRead, Write};
use std::path::{Path, PathBuf};

/// The `schema` of every line of an examples file.
pub const EXAMPLES_SCHEMA: &str = "rca.examples/1";

/// One line of an examples file.
#[derive(Serialize, Deserialize)]
struct Line {
    schema: String,
    #[serde(flatten)]
    example: Example,
}

/// Writes `examples` as JSON lines (schema [`EXAMPLES_SCHEMA`]). What no
/// prompt shows is left out: retrieval evidence, and the parts of commit
/// bodies and diffs that the change card does not read.
pub fn save(path: &Path, examples: &[Example]) -> Result<()> {
    let write = || -> std::io::Result<()> {
        let mut out = std::io::BufWriter::new(std::fs::File::create(path)?);
        for example in examples {
            let mut example = example.clone();
            for c in &mut example.candidates {
                crate::rank::card::keep_card_fields(&mut c.commit);
                c.evidence = Default::default();
            }
            let line = Line {
                schema: EXAMPLES_SCHEMA.to_string(),
                example,
            };
            serde_json::to_writer(&mut out, &line)?;
            out.write_all(b"\n")?;
        }
        out.flush()
    };
    write().map_err(|e| crate::error::input(format!("writing {}: {e}", path.display())))
}

/// Reads an examples file written by [`save`]; every example is checked.
pub fn load(path: &Path) -> Result<Vec<Example>> {
    let file = std::fs::File::open(path)
        .map_err(|e| crate::error::input(format!("{}: {e}", path.display())))?;
    let mut examples = Vec::new();
    for (n, line) in std::io::BufReader::new(file).lines().enumerate() {
        let at = |e: &dyn std::fmt::Display| {
            crate::error::input(format!("{}:{}: {e}", path.display(), n + 1))
        };
        let line = line.map_err(|e| at(&e))?;
        if line.trim().is_empty() {
            continue;
        }
        let parsed: Line =
            serde_json::from_str(&line).map_err(|e| match other_signal_count(&line) {
                // A file from a version with another set of signals.
                Some(n) => at(&format!(
                    "the candidates carry {n} signals, this version has {NUM_FEATURES}; \
                 save the examples again with this rca (--save-examples)"
                )),
                None => at(&e),
            })?;
        if parsed.schema != EXAMPLES_SCHEMA {
            return Err(at(&format!(
                "schema {:?}, expected {EXAMPLES_SCHEMA:?}",
                parsed.schema
            )));
        }
        parsed.example.check().map_err(|e| at(&e))?;
        examples.push(parsed.example);
    }
    Ok(examples)
}

/// The examples of several files whose case opened before `until`, and how
/// many were left out.
pub fn load_before(paths: &[PathBuf], until: Seconds) -> Result<(Vec<Example>, usize)> {
    let mut kept = Vec::new();
    let mut excluded = 0;
    for path in paths {
        for example in load(path)? {
            if example.until < until {
                kept.push(example);
            } else {
                excluded += 1;
            }
        }
    }
    Ok((kept, excluded))
}

/// The number of signals of the first candidate in an examples line whose
/// signals are not the [`NUM_FEATURES`] of this version, if there is one.
fn other_signal_count(line: &str) -> Option<usize> {
    let value: serde_json::Value = serde_json::from_str(line).ok()?;
    value
        .get("candidates")?
        .as_array()?
        .iter()
        .filter_map(|c| c.get("features")?.as_array().map(Vec::len))
        .find(|&n| n != NUM_FEATURES)
}

/// One training example.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Example {
    /// The case it comes from (for audits; not part of the prompt).
    #[serde(default)]
    pub case: String,
    /// The sparse facts known at the start of the investigation.
    pub facts: Facts,
    /// When the investigation opened: change ages in the prompt count back
    /// from it.
    pub until: Seconds,
    /// 2 to 20 candidates (one batch of the election).
    pub candidates: Vec<Candidate>,
    /// Index of the culprit in `candidates`.
    pub culprit: usize,
}

impl Example {
    /// Fails (an input error) unless the example fits one batch and names a
    /// culprit among its candidates.
    pub fn check(&self) -> Result<()> {
        let n = self.candidates.len();
        if !(2..=LABELS.len()).contains(&n) {
            return Err(crate::error::input(format!(
                "a training example needs 2 to {} candidates, this one has {n}",
                LABELS.len()
            )));
        }
        if self.culprit >= n {
            return Err(crate::error::input(format!(
                "the culprit index {} is outside the example's {n} candidates",
                self.culprit
            )));
        }
        Ok(())
    }

    /// The example cut to at most `size` candidates (at least 2): the
    /// culprit, then the first other candidates in their saved order (the
    /// retriever's, so the hardest negatives stay). The culprit comes first;
    /// the trainer shuffles the slots anyway.
    pub fn trimmed(&self, size: usize) -> Example {
        let others = (0..self.candidates.len()).filter(|&i| i != self.culprit);
        let keep: Vec<usize> = std::iter::once(self.culprit)
            .chain(others.take(size.max(2) - 1))
            .collect();
        Example {
            case: self.case.clone(),
            facts: self.facts.clone(),
            until: self.until,
            candidates: keep.iter().map(|&i| self.candidates[i].clone()).collect(),
            culprit: 0,
        }
    }
}

/// An example as the model sees it in one presentation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoded {
    /// The prompt's token ids, ending with the answer prefix.
    pub tokens: Vec<u32>,
    /// `order[slot]` is the index in `candidates` of the change labelled
    /// `LABELS[slot]`.
    pub order: Vec<usize>,
    /// The culprit's slot (its label is `LABELS[culprit_slot]`).
    pub culprit_slot: usize,
}

/// Builds the prompt of `example` with its candidates in `order`.
pub fn encode(model: &Model, example: &Example, order: &[usize]) -> Result<Encoded> {
    example.check()?;
    let batch: Vec<&Candidate> = order.iter().map(|&i| &example.candidates[i]).collect();
    let tokens = batch_tokens(model, &example.facts, example.until, &batch)
        .map_err(|e| crate::error::model(e.to_string()))?;
    let culprit_slot = order
        .iter()
        .position(|&i| i == example.culprit)
        .ok_or_else(|| crate::error::input("the order leaves out the culprit".to_string()))?;
    Ok(Encoded {
        tokens,
        order: order.to_vec(),
        culprit_slot,
    })
}

/// The slot order of example `index` in epoch `epoch` of a run seeded with
/// `seed`: a uniform shuffle, reproducible everywhere.
pub fn training_order(seed: u64, epoch: usize, index: usize, len: usize) -> Vec<usize> {
    let mut rng = Rng::new(
        seed ^ (epoch as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15)
            ^ (index as u64).wrapping_mul(0xD1B5_4A32_D192_ED03),
    );
    let mut order: Vec<usize> = (0..len).collect();
    rng.shuffle(&mut order);
    order
}

/// SplitMix64: a small, fast generator whose output is the same on every
/// platform, for reproducible shuffles and initialisation.
#[derive(Debug, Clone)]
pub struct Rng(u64);

impl Rng {
    pub fn new(seed: u64) -> Rng {
        Rng(seed)
    }

    /// The generator's state, to save in a checkpoint.
    pub fn state(&self) -> u64 {
        self.0
    }

    pub fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `[0, 1)`.
    pub fn next_f64(&mut self) -> f64 {
        (self.next_u64() >> 11) as f64 / (1u64 << 53) as f64
    }

    /// Uniform in `0..n` (`n > 0`).
    pub fn below(&mut self, n: usize) -> usize {
        (self.next_u64() % n as u64) as usize
    }

    /// Fisher–Yates.
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            items.swap(i, self.below(i + 1));
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::{Commit, FileChange};

    fn example(n: usize) -> Example {
        let candidates = (0..n)
            .map(|i| Candidate {
                commit: Commit {
                    id: format!("{i:040x}"),
                    author: "Ana Lima".into(),
                    email: "ana@x".into(),
                    authored_at: 10,
                    committed_at: 20,
                    landed_at: 30 + i as i64,
                    subject: format!("net/ice: change {i}"),
                    body: "a long body the prompt never shows".into(),
                    files: vec![FileChange {
                        path: format!("drivers/net/ice/f{i}.c"),
                        old_path: None,
                        added: 3,
                        removed: 1,
                        binary: false,
                        missing: false,
                    }],
                    diff: Default::default(),
                    merged_by: None,
                },
                features: [0.5; crate::retrieve::NUM_FEATURES],
                score: 1.0,
                prior: 0.1,
                evidence: crate::retrieve::Evidence {
                    matched_terms: vec!["ice".into()],
                    ..Default::default()
                },
            })
            .collect();
        Example {
            case: "dpdk-1".into(),
            facts: Facts {
                title: "net/ice: fix crash".into(),
                impact: Some("crash on start".into()),
                ..Facts::default()
            },
            until: 1_000,
            candidates,
            culprit: 1,
        }
    }

    #[test]
    fn examples_files_round_trip_what_the_prompt_needs() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("examples.jsonl");
        let examples = vec![example(3), example(2)];
        save(&path, &examples).unwrap();
        let loaded = load(&path).unwrap();
        assert_eq!(loaded.len(), 2);
        for (a, b) in examples.iter().zip(&loaded) {
            assert_eq!(
                (a.case.as_str(), a.until, a.culprit),
                (b.case.as_str(), b.until, b.culprit)
            );
            assert_eq!(a.facts.title, b.facts.title);
            assert_eq!(a.facts.impact, b.facts.impact);
            for (x, y) in a.candidates.iter().zip(&b.candidates) {
                // Everything the change line shows survives.
                assert_eq!(
                    crate::rank::prompt::change_line('A', x, a.until),
                    crate::rank::prompt::change_line('A', y, b.until)
                );
                assert_eq!(x.features, y.features);
                // So does the change card, and what neither shows is left out.
                assert_eq!(
                    crate::rank::card::card(&x.commit, a.until),
                    crate::rank::card::card(&y.commit, b.until)
                );
                assert!(y.evidence.matched_terms.is_empty());
            }
        }
    }

    #[test]
    fn examples_files_refuse_bad_lines_with_their_number() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("examples.jsonl");
        save(&path, &[example(2)]).unwrap();
        let mut text = std::fs::read_to_string(&path).unwrap();
        text.push_str(&text.replace("\"culprit\":1", "\"culprit\":7"));
        std::fs::write(&path, text).unwrap();
        let err = load(&path).unwrap_err().to_string();
        assert!(
            err.contains("examples.jsonl:2") && err.contains("culprit"),
            "{err}"
        );
        // A file saved by a version with fewer signals says what to do.
        let text = std::fs::read_to_string(&path).unwrap();
        let first = text.lines().next().unwrap();
        let fewer = first.replacen("[0.5,0.5,", "[", 1);
        assert_ne!(fewer, first);
        std::fs::write(&path, fewer).unwrap();
        let err = load(&path).unwrap_err().to_string();
        assert!(
            err.contains("examples.jsonl:1")
                && err.contains(&format!("carry {} signals", NUM_FEATURES - 2))
                && err.contains("save the examples again"),
            "{err}"
        );
    }

    #[test]
    fn trimming_keeps_the_culprit_and_the_hardest_negatives_in_order() {
        let full = example(6); // culprit at index 1
        let cut = full.trimmed(3);
        let ids: Vec<&str> = cut.candidates.iter().map(|c| &c.commit.id[38..]).collect();
        assert_eq!(ids, ["01", "00", "02"]);
        assert_eq!(cut.culprit, 0);
        assert_eq!((cut.case.as_str(), cut.until), ("dpdk-1", 1_000));
        // Larger than the example: all of it, culprit first.
        assert_eq!(full.trimmed(20).candidates.len(), 6);
        // Never below the two a batch needs.
        assert_eq!(full.trimmed(0).candidates.len(), 2);
        cut.check().unwrap();
    }

    #[test]
    fn training_orders_are_permutations_reproducible_and_vary_by_epoch() {
        let a = training_order(7, 0, 3, 20);
        let mut sorted = a.clone();
        sorted.sort_unstable();
        assert_eq!(sorted, (0..20).collect::<Vec<_>>());
        assert_eq!(a, training_order(7, 0, 3, 20));
        assert_ne!(a, training_order(7, 1, 3, 20));
        assert_ne!(a, training_order(7, 0, 4, 20));
    }

    #[test]
    fn every_slot_gets_the_culprit_about_equally_often() {
        let mut counts = [0usize; 5];
        for epoch in 0..2000 {
            let order = training_order(1, epoch, 0, 5);
            counts[order.iter().position(|&i| i == 0).unwrap()] += 1;
        }
        for c in counts {
            assert!((330..470).contains(&c), "{counts:?}");
        }
    }
}
