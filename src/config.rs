//! `rca.yaml`: what a team sets once for its repository. Every key is
//! optional and every flag overrides its key (docs/config.md lists them).
//!
//! The file is found at the root of the repository's work tree, or given
//! with `--config`. Relative paths in it are relative to the file's folder.

use crate::cli::{JudgeName, ModelArgs, RankerName};
use crate::error::read_yaml;
use crate::train::fusion::BUILT_IN;
use anyhow::Result;
use serde::Deserialize;
use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

pub const FILE_NAME: &str = "rca.yaml";

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Config {
    /// Ownership file to use instead of detecting one (a path in the tree).
    pub ownership_file: Option<String>,
    /// Component name → path globs. A component named in the title or
    /// impact, or given as `--path NAME`, adds its globs as path hints.
    #[serde(default)]
    pub aliases: BTreeMap<String, Vec<String>>,
    #[serde(default)]
    pub window: WindowConfig,
    #[serde(default)]
    pub ranking: RankingConfig,
    #[serde(default)]
    pub confidence: ConfidenceConfig,
    #[serde(default)]
    pub model: ModelConfig,
    /// The folder relative paths are resolved against (not a key).
    #[serde(skip)]
    pub base: PathBuf,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindowConfig {
    /// Default `--since`, e.g. `2d`.
    pub since: Option<String>,
    /// Default `--ref`, the main line.
    #[serde(rename = "ref")]
    pub reference: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RankingConfig {
    pub ranker: Option<RankerName>,
    pub judge: Option<JudgeName>,
    /// Judge head file from `rca train --judge`, or `none`.
    pub judge_head: Option<String>,
    pub candidates: Option<u32>,
    pub top: Option<u16>,
    pub elect: Option<u32>,
    pub batch: Option<u16>,
    pub keep: Option<u16>,
    pub votes: Option<u16>,
    pub model_weight: Option<f64>,
    /// Fusion file from `rca train`, or `built-in`.
    pub fusion: Option<String>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ConfidenceConfig {
    /// Calibration file from `rca calibrate`.
    pub calibration: Option<PathBuf>,
    pub min_confidence: Option<f64>,
    /// Target precision@5, resolved through the calibration.
    pub precision: Option<f64>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ModelConfig {
    /// A local GGUF path or hf:OWNER/REPO/FILE.gguf.
    pub path: Option<String>,
    pub tokenizer: Option<PathBuf>,
    pub device: Option<String>,
    pub threads: Option<usize>,
}

impl Config {
    /// Reads a config file; errors are one-line input errors naming it.
    pub fn load(path: &Path) -> Result<Config> {
        let mut config: Config = read_yaml(path, "config ", Some(Config::default()))?;
        config.base = path.parent().map(Path::to_path_buf).unwrap_or_default();
        Ok(config)
    }

    /// The explicit file, else `rca.yaml` at the work tree's root when
    /// there is one, else an empty config.
    pub fn find(explicit: Option<&Path>, workdir: Option<&Path>) -> Result<Config> {
        match (explicit, workdir) {
            (Some(path), _) => Config::load(path),
            (None, Some(root)) if root.join(FILE_NAME).is_file() => {
                Config::load(&root.join(FILE_NAME))
            }
            _ => Ok(Config::default()),
        }
    }

    /// A path from the file, resolved against the file's folder.
    pub fn path(&self, path: &Path) -> PathBuf {
        if path.is_absolute() {
            path.to_path_buf()
        } else {
            self.base.join(path)
        }
    }

    /// Fills the model and election options the flags left out, then
    /// refuses a flag that the resulting ranker would ignore.
    pub fn fill_model_args(&self, args: &mut ModelArgs) -> Result<()> {
        let given = args.model_flags();
        self.fill(args);
        args.refuse_unused(&given).map_err(crate::error::usage)
    }

    fn fill(&self, args: &mut ModelArgs) {
        let r = &self.ranking;
        let m = &self.model;
        args.ranker = args.ranker.or(r.ranker);
        args.judge = args.judge.or(r.judge);
        if args.judge_head.is_none() {
            args.judge_head = r.judge_head.as_ref().map(|f| {
                if f == "none" {
                    f.clone()
                } else {
                    self.path(Path::new(f)).display().to_string()
                }
            });
        }
        args.elect = args.elect.or(r.elect);
        args.batch = args.batch.or(r.batch);
        args.keep = args.keep.or(r.keep);
        args.votes = args.votes.or(r.votes);
        args.model_weight = args.model_weight.or(r.model_weight);
        if args.fusion.is_none() {
            args.fusion = r.fusion.as_ref().map(|f| {
                if f == BUILT_IN {
                    f.clone()
                } else {
                    self.path(Path::new(f)).display().to_string()
                }
            });
        }
        args.threads = args.threads.or(m.threads);
        if args.device.is_none() {
            args.device.clone_from(&m.device);
        }
        if args.model.is_none() {
            // A local path is relative to the config; hf: specs are not paths.
            args.model = m.path.as_ref().map(|spec| {
                if spec.starts_with("hf:") || spec.starts_with(crate::model::openai::SCHEME) {
                    spec.clone()
                } else {
                    self.path(Path::new(spec)).display().to_string()
                }
            });
        }
        if args.tokenizer.is_none() {
            args.tokenizer = m.tokenizer.as_ref().map(|t| self.path(t));
        }
    }

    /// Path hints from the aliases: the globs of every component that the
    /// text names as a whole word (case-insensitive), and of every `--path`
    /// that is a component name rather than a glob.
    pub fn alias_paths(&self, text: &str, paths: &[String]) -> Vec<String> {
        let words: Vec<String> = text
            .split(|c: char| !(c.is_alphanumeric() || c == '_' || c == '-'))
            .filter(|w| !w.is_empty())
            .map(str::to_lowercase)
            .collect();
        let mut out: Vec<String> = Vec::new();
        for path in paths {
            match self.aliases.get(path) {
                Some(globs) => out.extend(globs.iter().cloned()),
                None => out.push(path.clone()),
            }
        }
        for (name, globs) in &self.aliases {
            let name = name.to_lowercase();
            if words.contains(&name) {
                out.extend(globs.iter().cloned());
            }
        }
        let mut seen = std::collections::BTreeSet::new();
        out.retain(|g| seen.insert(g.clone()));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Config {
        serde_yaml::from_str(text).unwrap()
    }

    #[test]
    fn every_documented_key_parses() {
        let c = parse(
            "ownership_file: .github/CODEOWNERS\n\
             aliases: {gpu: ['src/gpu/**'], net: ['drivers/net/**', 'lib/net/**']}\n\
             window: {since: 2d, ref: main}\n\
             ranking: {ranker: llm, candidates: 100, top: 3, elect: 40, batch: 10, keep: 3, votes: 4, model_weight: 0.5, fusion: built-in}\n\
             confidence: {calibration: cal.yaml, min_confidence: 0.4, precision: 0.9}\n\
             model: {path: m.gguf, tokenizer: t.json, device: cpu, threads: 2}\n",
        );
        assert_eq!(c.window.since.as_deref(), Some("2d"));
        assert_eq!(c.ranking.ranker, Some(RankerName::Llm));
        assert_eq!(c.confidence.precision, Some(0.9));
        assert_eq!(c.model.threads, Some(2));
    }

    #[test]
    fn unknown_keys_are_refused() {
        assert!(serde_yaml::from_str::<Config>("rankr: {}\n").is_err());
        assert!(serde_yaml::from_str::<Config>("ranking: {elects: 3}\n").is_err());
    }

    #[test]
    fn aliases_expand_named_components_and_path_names() {
        let c = parse("aliases: {gpu: ['src/gpu/**'], net: ['drivers/net/**']}\n");
        assert_eq!(
            c.alias_paths("GPU hangs after resume", &[]),
            vec!["src/gpu/**"]
        );
        assert_eq!(
            c.alias_paths("crash", &["net".into(), "docs/*".into()]),
            vec!["drivers/net/**", "docs/*"]
        );
        // "network" is not the component "net"
        assert!(c.alias_paths("network timeouts", &[]).is_empty());
    }
}
