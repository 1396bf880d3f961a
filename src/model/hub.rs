//! `hf:OWNER/REPO/FILE.gguf` model specs, resolved through the Hugging Face
//! cache.
//!
//! rca runs offline (design.md, "Non-negotiables"): a hub model that is
//! already cached must load without touching the network, and nothing is
//! downloaded unless the caller allows it. hf-hub's `Cache` answers the first
//! part from the local files alone; its `Api` is built only when a download
//! is both needed and allowed.

use std::path::PathBuf;

use hf_hub::{Cache, Repo, RepoType};

use super::{one_line, ModelError};

/// A parsed `OWNER/REPO[@REVISION]/FILE` (FILE may contain `/`).
#[derive(Debug, PartialEq, Eq)]
struct HubSpec {
    repo_id: String,
    revision: String,
    file: String,
}

fn parse(hub_spec: &str) -> Option<HubSpec> {
    let mut parts = hub_spec.splitn(3, '/');
    let owner = parts.next().filter(|s| !s.is_empty())?;
    let repo = parts.next().filter(|s| !s.is_empty())?;
    let file = parts
        .next()
        .filter(|s| !s.is_empty() && !s.ends_with('/'))?;
    let (repo, revision) = match repo.split_once('@') {
        Some((repo, rev)) if !repo.is_empty() && !rev.is_empty() => (repo, rev),
        Some(_) => return None,
        None => (repo, "main"),
    };
    Some(HubSpec {
        repo_id: format!("{owner}/{repo}"),
        revision: revision.to_string(),
        file: file.to_string(),
    })
}

/// `spec` is the whole `--model` value (for messages); `hub_spec` the part
/// after `hf:`.
pub(super) fn resolve(
    spec: &str,
    hub_spec: &str,
    allow_download: bool,
) -> Result<PathBuf, ModelError> {
    let parsed = parse(hub_spec).ok_or_else(|| {
        ModelError::Other(format!(
            "bad model spec \"{spec}\": expected hf:OWNER/REPO/FILE.gguf or hf:OWNER/REPO@REVISION/FILE.gguf"
        ))
    })?;
    let repo = Repo::with_revision(
        parsed.repo_id.clone(),
        RepoType::Model,
        parsed.revision.clone(),
    );
    // Cache::from_env honours HF_HOME, like the Python tools that fill it.
    let cache = Cache::from_env();
    if let Some(path) = cache.repo(repo.clone()).get(&parsed.file) {
        return Ok(path);
    }
    if !allow_download {
        return Err(ModelError::NotCached(spec.to_string()));
    }
    let api = hf_hub::api::sync::ApiBuilder::from_env()
        .with_progress(true)
        .build()
        .map_err(|err| ModelError::Other(format!("{spec}: {}", one_line(&err.to_string()))))?;
    api.repo(repo).get(&parsed.file).map_err(|err| {
        ModelError::Other(format!(
            "downloading {spec} failed: {}",
            one_line(&err.to_string())
        ))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_specs() {
        assert_eq!(
            parse("bartowski/Llama-3.2-1B-GGUF/Llama-3.2-1B-Q4_K_M.gguf"),
            Some(HubSpec {
                repo_id: "bartowski/Llama-3.2-1B-GGUF".into(),
                revision: "main".into(),
                file: "Llama-3.2-1B-Q4_K_M.gguf".into(),
            })
        );
        assert_eq!(
            parse("o/r@v1.0/sub/dir/m.gguf").map(|s| (s.revision, s.file)),
            Some(("v1.0".into(), "sub/dir/m.gguf".into()))
        );
        assert_eq!(parse("o/r"), None);
        assert_eq!(parse("o//m.gguf"), None);
        assert_eq!(parse("o/r@/m.gguf"), None);
    }
}
