//! The language-model judge: one forward pass per batch prompt, scored by
//! the next-token log-probabilities of the labels A–T.
//!
//! The shared part of the prompt (chat header, instructions, facts) is run
//! once per investigation and its KV cache reused for every batch; only the
//! change lines and the question are run per batch. With `--dump-prompts`
//! every prompt is written with its label log-probabilities, so a ranking
//! can be reproduced and inspected by hand.

use super::prompt::{batch_text, facts_text, ANSWER_PREFIX};
use super::{Judge, LABELS};
use crate::cases::Facts;
use crate::model::{Model, PrefixCache};
use crate::retrieve::Candidate;
use crate::when::Seconds;
use anyhow::{Context, Result};
use std::path::PathBuf;

/// Judges batches with a loaded model.
pub struct LlmJudge {
    model: Model,
    /// Token ids of the labels, in slot order.
    labels: Vec<u32>,
    /// The shared part of the prompts (instruction and facts), run once.
    prefix: PrefixCache,
    dump: Option<PathBuf>,
    judged: usize,
}

impl LlmJudge {
    /// Wraps a model; fails when a label is not a single token.
    pub fn new(model: Model, dump: Option<PathBuf>) -> Result<LlmJudge> {
        let labels = label_tokens(&model)?;
        if let Some(dir) = &dump {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        Ok(LlmJudge {
            prefix: PrefixCache::new(&model),
            model,
            labels,
            dump,
            judged: 0,
        })
    }

    pub fn model(&self) -> &Model {
        &self.model
    }

    /// Turns the shared-prefix cache off (for measuring it). It stays off
    /// on devices other than the CPU.
    pub fn set_prefix_reuse(&mut self, on: bool) {
        self.prefix.set_reuse(on, &self.model);
    }

    /// The full prompt of a batch, split at the end of the shared part.
    pub fn prompt(&self, facts: &Facts, until: Seconds, batch: &[&Candidate]) -> (String, String) {
        batch_prompt(&self.model, facts, until, batch)
    }
}

/// The full prompt of a batch for `model`, split at the end of the part
/// that every batch of an investigation shares. [`LlmJudge`] scores it; LoRA
/// training (`crate::train`) learns on exactly the same text.
pub fn batch_prompt(
    model: &Model,
    facts: &Facts,
    until: Seconds,
    batch: &[&Candidate],
) -> (String, String) {
    // A marker splits the chat-formatted text where the batch starts.
    const SPLIT: &str = "\u{1}BATCH\u{1}";
    let user = format!("{}{SPLIT}{}", facts_text(facts), batch_text(batch, until));
    let full = format!("{}{ANSWER_PREFIX}", model.chat_prompt(None, &user));
    let (shared, rest) = full.split_once(SPLIT).expect("marker is in the prompt");
    (shared.to_owned(), rest.to_owned())
}

/// The token ids [`LlmJudge`] runs for a batch (with its default prefix
/// reuse): the shared part encoded with BOS, then the rest as a
/// continuation.
pub fn batch_tokens(
    model: &Model,
    facts: &Facts,
    until: Seconds,
    batch: &[&Candidate],
) -> Result<Vec<u32>, crate::model::ModelError> {
    let (shared, rest) = batch_prompt(model, facts, until, batch);
    let mut tokens = model.encode(&shared)?;
    tokens.extend(model.encode_continuation(&rest)?);
    Ok(tokens)
}

/// The token ids of the labels A–T for `model`, in slot order; fails when a
/// label is not a single token.
pub fn label_tokens(model: &Model) -> Result<Vec<u32>> {
    LABELS
        .iter()
        .map(|l| {
            model
                .single_token(&l.to_string())
                .with_context(|| format!("label {l} is not a single token for this tokenizer"))
        })
        .collect::<Result<Vec<u32>>>()
        .map_err(|e| crate::error::model(format!("{e:#}")))
}

impl Judge for LlmJudge {
    fn judge(&mut self, facts: &Facts, until: Seconds, batch: &[&Candidate]) -> Result<Vec<f64>> {
        let (shared, rest) = self.prompt(facts, until, batch);
        let labels = &self.labels[..batch.len()];
        let logprobs = self
            .prefix
            .next_token(&self.model, &shared, &rest, labels)
            .map_err(|e| crate::error::model(e.to_string()))?
            .logprobs;
        self.judged += 1;
        if let Some(dir) = &self.dump {
            let record = serde_json::json!({
                "prompt": format!("{shared}{rest}"),
                "labels": LABELS[..batch.len()].iter().map(|c| c.to_string()).collect::<Vec<_>>(),
                "label_logprobs": logprobs,
                "commits": batch.iter().map(|c| c.commit.id.clone()).collect::<Vec<_>>(),
            });
            let path = dir.join(format!("batch-{:04}.json", self.judged));
            std::fs::write(&path, serde_json::to_string_pretty(&record)?)
                .with_context(|| format!("writing {}", path.display()))?;
        }
        Ok(logprobs.into_iter().map(f64::from).collect())
    }
}
