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
use crate::model::engine::{to_error, Answers, Engine};
use crate::model::Model;
use crate::retrieve::Candidate;
use crate::when::Seconds;
use anyhow::{Context, Result};
use std::path::PathBuf;

/// Judges batches with a language model.
pub struct LlmJudge {
    engine: Engine,
    /// The labels A–T, in slot order.
    labels: Answers,
    dump: Option<PathBuf>,
    judged: usize,
}

impl LlmJudge {
    /// Wraps an in-process model; fails when a label is not a single token.
    pub fn new(model: Model, dump: Option<PathBuf>) -> Result<LlmJudge> {
        Self::with_engine(Engine::in_process(model), dump)
    }

    /// Wraps any engine.
    pub fn with_engine(engine: Engine, dump: Option<PathBuf>) -> Result<LlmJudge> {
        let texts: Vec<String> = LABELS.iter().map(char::to_string).collect();
        let texts: Vec<&str> = texts.iter().map(String::as_str).collect();
        let labels = engine
            .answers(&texts)
            .map_err(|e| crate::error::model(format!("label {e}")))?;
        if let Some(dir) = &dump {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        Ok(LlmJudge {
            engine,
            labels,
            dump,
            judged: 0,
        })
    }

    pub fn engine(&self) -> &Engine {
        &self.engine
    }

    /// Turns the shared-prefix cache off (for measuring it). It stays off
    /// on devices other than the CPU.
    pub fn set_prefix_reuse(&mut self, on: bool) {
        self.engine.set_prefix_reuse(on);
    }

    /// The full prompt of a batch, split at the end of the shared part.
    pub fn prompt(&self, facts: &Facts, until: Seconds, batch: &[&Candidate]) -> (String, String) {
        split_batch_prompt(|user| self.engine.chat_prompt(user), facts, until, batch)
    }

    /// Writes a judged batch to the dump folder, when there is one.
    fn record(
        &mut self,
        prompt: &(String, String),
        batch: &[&Candidate],
        logprobs: &[f32],
    ) -> Result<()> {
        self.judged += 1;
        if let Some(dir) = &self.dump {
            let record = serde_json::json!({
                "prompt": format!("{}{}", prompt.0, prompt.1),
                "labels": LABELS[..batch.len()].iter().map(|c| c.to_string()).collect::<Vec<_>>(),
                "label_logprobs": logprobs,
                "commits": batch.iter().map(|c| c.commit.id.clone()).collect::<Vec<_>>(),
            });
            let path = dir.join(format!("batch-{:04}.json", self.judged));
            std::fs::write(&path, serde_json::to_string_pretty(&record)?)
                .with_context(|| format!("writing {}", path.display()))?;
        }
        Ok(())
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
    split_batch_prompt(|user| model.chat_prompt(None, user), facts, until, batch)
}

/// [`batch_prompt`] in the chat format `chat` renders.
fn split_batch_prompt(
    chat: impl Fn(&str) -> String,
    facts: &Facts,
    until: Seconds,
    batch: &[&Candidate],
) -> (String, String) {
    // A marker splits the chat-formatted text where the batch starts.
    const SPLIT: &str = "\u{1}BATCH\u{1}";
    let user = format!("{}{SPLIT}{}", facts_text(facts), batch_text(batch, until));
    let full = format!("{}{ANSWER_PREFIX}", chat(&user));
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
        let batches = [batch.to_vec()];
        Ok(self
            .judge_many(facts, until, &batches, &mut || {})?
            .remove(0))
    }

    fn judge_many(
        &mut self,
        facts: &Facts,
        until: Seconds,
        batches: &[Vec<&Candidate>],
        done: &mut dyn FnMut(),
    ) -> Result<Vec<Vec<f64>>> {
        let prompts: Vec<(String, String)> = batches
            .iter()
            .map(|batch| self.prompt(facts, until, batch))
            .collect();
        // Every label is scored (the log-softmax is over the whole
        // vocabulary, so a label's value does not depend on the others);
        // each batch keeps its own.
        let nexts = self
            .engine
            .next(&prompts, &self.labels, done)
            .map_err(to_error)?;
        let mut results = Vec::with_capacity(batches.len());
        for ((prompt, batch), next) in prompts.iter().zip(batches).zip(nexts) {
            let logprobs = &next.logprobs[..batch.len()];
            self.record(prompt, batch, logprobs)?;
            results.push(logprobs.iter().copied().map(f64::from).collect());
        }
        Ok(results)
    }
}
