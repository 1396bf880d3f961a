//! Where the judges' language model runs: in this process (a GGUF through
//! candle) or on a serving engine (`openai:`). The judges ask one question
//! of either: the next token's log-probabilities of a few answer tokens
//! after a prompt, given as its shared part (the incident's facts) and the
//! rest.

use super::openai::{Server, ServerError};
use super::{Model, ModelError, ModelInfo, PrefixCache};

/// A judge's language model.
pub enum Engine {
    /// Scores in this process; the shared part of the prompts is run once
    /// and its KV cache reused (on the CPU).
    InProcess {
        model: Box<Model>,
        prefix: PrefixCache,
    },
    /// Scores on a server, `--concurrency` prompts at a time.
    Served(Server),
}

/// The answer tokens a judge reads: their texts (what a server returns) and,
/// in-process, their token ids.
#[derive(Debug, Clone)]
pub struct Answers {
    texts: Vec<String>,
    ids: Vec<u32>,
}

/// What the model says of the next token: the answers' log-probabilities,
/// and (in-process only) the hidden state they come from.
#[derive(Debug, Clone)]
pub struct Next {
    pub logprobs: Vec<f32>,
    /// Empty for a served model, which does not return it.
    pub hidden: Vec<f32>,
}

/// An engine failure: the model (exit 4) or the server (exit 7).
pub fn to_error(err: EngineError) -> anyhow::Error {
    match err {
        EngineError::Model(e) => crate::error::model(e.to_string()),
        EngineError::Server(e) => crate::error::server(e.to_string()),
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error(transparent)]
    Server(#[from] ServerError),
}

impl Engine {
    pub fn in_process(model: Model) -> Engine {
        Engine::InProcess {
            prefix: PrefixCache::new(&model),
            model: Box::new(model),
        }
    }

    /// The loaded model, when it runs in this process.
    pub fn model(&self) -> Option<&Model> {
        match self {
            Engine::InProcess { model, .. } => Some(model),
            Engine::Served(_) => None,
        }
    }

    /// How many tokens the model's tokenizer makes of `text`; `None` for a
    /// served model whose server does not say.
    pub fn count_tokens(&self, text: &str) -> Option<usize> {
        match self {
            Engine::InProcess { model, .. } => model.count_tokens(text),
            Engine::Served(server) => server.count_tokens(text),
        }
    }

    /// A prompt with one user message in the model's chat format.
    pub fn chat_prompt(&self, user: &str) -> String {
        match self {
            Engine::InProcess { model, .. } => model.chat_prompt(None, user),
            Engine::Served(server) => super::chat_prompt(Some(server.chat_template()), None, user),
        }
    }

    /// The answers `texts`; in-process, each must be a single token.
    pub fn answers(&self, texts: &[&str]) -> Result<Answers, String> {
        let ids = match self {
            Engine::InProcess { model, .. } => texts
                .iter()
                .map(|t| {
                    model
                        .single_token(t)
                        .ok_or_else(|| format!("{t:?} is not a single token for this tokenizer"))
                })
                .collect::<Result<Vec<u32>, String>>()?,
            Engine::Served(_) => Vec::new(),
        };
        Ok(Answers {
            texts: texts.iter().map(|t| t.to_string()).collect(),
            ids,
        })
    }

    /// The next token after each prompt (its shared part, then the rest),
    /// in the order given: one after the other in-process, reusing the
    /// shared part's KV cache; `--concurrency` at a time on a server. `done`
    /// is called as each finishes.
    pub fn next(
        &mut self,
        prompts: &[(String, String)],
        answers: &Answers,
        done: &mut dyn FnMut(),
    ) -> Result<Vec<Next>, EngineError> {
        match self {
            Engine::InProcess { model, prefix } => prompts
                .iter()
                .map(|(shared, rest)| {
                    let next = prefix.next_token(model, shared, rest, &answers.ids)?;
                    done();
                    Ok(Next {
                        logprobs: next.logprobs,
                        hidden: next.hidden,
                    })
                })
                .collect(),
            Engine::Served(server) => {
                let full: Vec<String> = prompts.iter().map(|(s, r)| format!("{s}{r}")).collect();
                Ok(server
                    .next_token_logprobs_many(&full, &answers.texts, done)?
                    .into_iter()
                    .map(|logprobs| Next {
                        logprobs,
                        hidden: Vec::new(),
                    })
                    .collect())
            }
        }
    }

    /// For reports and the prompt dumps.
    pub fn info(&self) -> ModelInfo {
        match self {
            Engine::InProcess { model, .. } => model.info().clone(),
            Engine::Served(server) => ModelInfo {
                path: format!(
                    "{}{}#{}",
                    super::openai::SCHEME,
                    server.base(),
                    server.model()
                ),
                architecture: "served".into(),
                name: Some(server.model().to_string()),
                file_size: 0,
                weights: format!("served at {}", server.base()),
                tokenizer: "the server's".into(),
                device: "server".into(),
                threads: server.concurrency(),
            },
        }
    }

    /// Turns the shared-prefix reuse off (in-process, for measuring it).
    pub fn set_prefix_reuse(&mut self, on: bool) {
        if let Engine::InProcess { model, prefix } = self {
            prefix.set_reuse(on, model);
        }
    }
}
