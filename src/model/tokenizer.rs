//! Text to token ids, exactly as llama.cpp tokenizes the same GGUF.
//!
//! The scores rca reports must be reproducible with llama.cpp, so the ids must
//! match it id for id. candle-core can build a `tokenizers::Tokenizer` from
//! GGUF metadata, but for `tokenizer.ggml.pre = "smollm"` its fallback
//! pre-tokenizer (byte-level with a prefix space) puts a space at the start of
//! the text and after every special token (model-notes.md, "Tokenizer from
//! the GGUF"). It also targets tokenizers 0.23 while this crate uses 0.22. So
//! this module builds the tokenizer itself, choosing the pre-tokenizer from
//! llama.cpp's own table (`llm_tokenizer_bpe` in llama-vocab.cpp) for the
//! pre-tokenizer names we have checked. `tests/model.rs` compares the result
//! with ids recorded from llama.cpp's `llama-tokenize`.
//!
//! A `tokenizer.json` can be given instead (`--tokenizer`); then the file
//! decides everything.

use std::path::Path;

use tokenizers::decoders::byte_level::ByteLevel as ByteLevelDecoder;
use tokenizers::models::bpe::BPE;
use tokenizers::pre_tokenizers::byte_level::ByteLevel;
use tokenizers::pre_tokenizers::digits::Digits;
use tokenizers::pre_tokenizers::sequence::Sequence;
use tokenizers::pre_tokenizers::split::{Split, SplitPattern};
use tokenizers::pre_tokenizers::PreTokenizerWrapper;
use tokenizers::{AddedToken, SplitDelimiterBehavior, Tokenizer};

use candle_core::quantized::gguf_file::Value;

use super::gguf::GgufFile;
use super::{one_line, ModelError};

/// llama.cpp's Llama 3 regex (`LLAMA_VOCAB_PRE_TYPE_LLAMA3`), the adapted form
/// without the case-insensitive group, which fancy-regex does not support.
const REGEX_LLAMA3: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}{1,3}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";
/// llama.cpp's Qwen2 regex (`LLAMA_VOCAB_PRE_TYPE_QWEN2`): Llama 3 with single
/// digits.
const REGEX_QWEN2: &str = r"(?:'[sS]|'[tT]|'[rR][eE]|'[vV][eE]|'[mM]|'[lL][lL]|'[dD])|[^\r\n\p{L}\p{N}]?\p{L}+|\p{N}| ?[^\s\p{L}\p{N}]+[\r\n]*|\s*[\r\n]+|\s+(?!\S)|\s+";

/// GGUF token types (`tokenizer.ggml.token_type`), as llama.cpp numbers them.
const TOKEN_TYPE_UNKNOWN: u32 = 2;
const TOKEN_TYPE_CONTROL: u32 = 3;
const TOKEN_TYPE_USER_DEFINED: u32 = 4;

/// A tokenizer plus the one llama.cpp behaviour `tokenizers` does not carry:
/// whether to put BOS in front.
pub(crate) struct TextTokenizer {
    inner: Tokenizer,
    /// `tokenizer.ggml.add_bos_token`: llama.cpp (`llama-tokenize`, and
    /// `common_tokenize` with add_special) prepends BOS when it is true.
    bos: Option<u32>,
    /// For `ModelInfo::tokenizer`.
    pub description: String,
}

impl TextTokenizer {
    pub fn from_gguf(gguf: &GgufFile) -> Result<Self, ModelError> {
        let model = gguf.string("tokenizer.ggml.model").unwrap_or_default();
        if model != "gpt2" {
            // "llama" is SentencePiece (Llama 2, Mistral, TinyLlama): llama.cpp
            // merges by score, which a `tokenizers` BPE built from the GGUF
            // does not reproduce exactly; rather than approximate, ask for
            // the model's own tokenizer.json.
            return Err(ModelError::Tokenizer(format!(
                "cannot build a tokenizer from this GGUF's metadata (tokenizer.ggml.model = \"{model}\"; only \"gpt2\" byte-level BPE is supported): pass the model's tokenizer.json with --tokenizer"
            )));
        }
        let pre = gguf
            .string("tokenizer.ggml.pre")
            .unwrap_or_else(|| "default".to_string());
        let pre_tokenizer = pre_tokenizer_for(&pre).ok_or_else(|| {
            ModelError::Tokenizer(format!(
                "unsupported tokenizer.ggml.pre = \"{pre}\" (supported: {}): pass the model's tokenizer.json with --tokenizer",
                SUPPORTED_PRE.join(", ")
            ))
        })?;

        let tokens = string_array(gguf, "tokenizer.ggml.tokens")?;
        let merges = string_array(gguf, "tokenizer.ggml.merges")?
            .into_iter()
            .map(|merge| {
                merge
                    .split_once(' ')
                    .map(|(a, b)| (a.to_string(), b.to_string()))
                    .ok_or_else(|| ModelError::Tokenizer(format!("malformed merge \"{merge}\"")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let vocab: tokenizers::models::bpe::Vocab = tokens
            .iter()
            .enumerate()
            .map(|(id, token)| (token.clone(), id as u32))
            .collect();
        // llama.cpp's Llama 3 vocabularies take a pre-token that is itself in
        // the vocabulary as one token, whatever the merges would make of it,
        // and put BOS in front unless the GGUF says otherwise.
        let llama3 = matches!(pre.as_str(), "llama3" | "llama-v3" | "llama-bpe");
        let bpe = BPE::builder()
            .vocab_and_merges(vocab, merges)
            .ignore_merges(llama3)
            .build()
            .map_err(|err| ModelError::Tokenizer(one_line(&err.to_string())))?;

        let mut inner = Tokenizer::new(bpe);
        inner.with_pre_tokenizer(Some(pre_tokenizer));
        inner.with_decoder(Some(ByteLevelDecoder::default()));

        // llama.cpp parses these token types out of the text when
        // parse_special is true (`cache_special_tokens` in llama-vocab.cpp).
        let types = match gguf.content.metadata.get("tokenizer.ggml.token_type") {
            Some(Value::Array(types)) => types
                .iter()
                .map(|v| {
                    v.to_i32()
                        .map(|t| t as u32)
                        .or_else(|_| v.to_u32())
                        .unwrap_or(1)
                })
                .collect(),
            _ => Vec::new(),
        };
        let specials: Vec<AddedToken> = types
            .iter()
            .zip(&tokens)
            .filter(|(ty, _)| {
                matches!(
                    **ty,
                    TOKEN_TYPE_UNKNOWN | TOKEN_TYPE_CONTROL | TOKEN_TYPE_USER_DEFINED
                )
            })
            .map(|(_, token)| AddedToken::from(token.clone(), true))
            .collect();
        inner.add_special_tokens(&specials);

        let bos = if gguf.bool("tokenizer.ggml.add_bos_token").unwrap_or(llama3) {
            gguf.usize("tokenizer.ggml.bos_token_id")
                .map(|id| id as u32)
        } else {
            None
        };
        Ok(TextTokenizer {
            inner,
            bos,
            description: format!(
                "GGUF byte-level BPE, pre-tokenizer \"{pre}\", {} tokens, {} special",
                tokens.len(),
                specials.len()
            ),
        })
    }

    /// Loads a Hugging Face `tokenizer.json`. Whether BOS is added is then up
    /// to the file's post-processor, as in `transformers`.
    pub fn from_file(path: &Path) -> Result<Self, ModelError> {
        if !path.exists() {
            return Err(ModelError::Tokenizer(format!(
                "tokenizer file not found: {}",
                path.display()
            )));
        }
        let inner = Tokenizer::from_file(path).map_err(|err| {
            ModelError::Tokenizer(format!(
                "{}: {}",
                path.display(),
                one_line(&err.to_string())
            ))
        })?;
        Ok(TextTokenizer {
            inner,
            bos: None,
            description: format!("tokenizer.json from {}", path.display()),
        })
    }

    /// Token ids for `text`, special tokens in the text parsed as special
    /// (llama.cpp's parse_special = true), BOS added if the GGUF asks for it.
    pub fn encode(&self, text: &str) -> Result<Vec<u32>, ModelError> {
        let encoding = self
            .inner
            .encode_fast(text, true)
            .map_err(|err| ModelError::Tokenizer(one_line(&err.to_string())))?;
        let mut ids = Vec::with_capacity(encoding.len() + 1);
        if let Some(bos) = self.bos {
            if encoding.get_ids().first() != Some(&bos) {
                ids.push(bos);
            }
        }
        ids.extend_from_slice(encoding.get_ids());
        Ok(ids)
    }

    /// Token ids for `text` with nothing added in front: the building block for
    /// label checks and prompt suffixes.
    pub fn encode_plain(&self, text: &str) -> Result<Vec<u32>, ModelError> {
        let encoding = self
            .inner
            .encode_fast(text, false)
            .map_err(|err| ModelError::Tokenizer(one_line(&err.to_string())))?;
        Ok(encoding.get_ids().to_vec())
    }

    pub fn decode(&self, ids: &[u32]) -> String {
        self.inner.decode(ids, false).unwrap_or_default()
    }

    /// Writes the tokenizer as a Hugging Face `tokenizer.json`.
    pub fn save(&self, path: &Path) -> Result<(), ModelError> {
        self.inner.save(path, true).map_err(|err| {
            ModelError::Tokenizer(format!(
                "{}: {}",
                path.display(),
                one_line(&err.to_string())
            ))
        })
    }

    pub fn id_to_token(&self, id: u32) -> Option<String> {
        self.inner.id_to_token(id)
    }

    pub fn vocab_size(&self) -> usize {
        self.inner.get_vocab_size(true)
    }
}

/// The `tokenizer.ggml.pre` names `pre_tokenizer_for` knows, for messages.
const SUPPORTED_PRE: &[&str] = &[
    "smollm",
    "starcoder",
    "refact",
    "command-r",
    "codeshell",
    "exaone",
    "minerva",
    "gpt-2",
    "gpt2",
    "mpt",
    "olmo",
    "jais",
    "llama-bpe",
    "llama3",
    "llama-v3",
    "smaug-bpe",
    "dbrx",
    "qwen2",
    "stablelm2",
];

/// The pre-tokenizer that splits text as llama.cpp does for `pre`.
///
/// Each arm mirrors one group of `llm_tokenizer_bpe`'s switch. The byte-level
/// step never adds a prefix space: llama.cpp does not, and with one the first
/// word and every word after a special token get a spurious leading space
/// (the candle default for "smollm", measured in model-notes.md).
fn pre_tokenizer_for(pre: &str) -> Option<PreTokenizerWrapper> {
    let byte_level_with_gpt2_regex = || ByteLevel::new(false, false, true);
    let byte_level_only = || ByteLevel::new(false, false, false);
    let split = |regex: &str| {
        Split::new(
            SplitPattern::Regex(regex.to_string()),
            SplitDelimiterBehavior::Isolated,
            false,
        )
        .ok()
    };
    Some(match pre {
        // "\p{N}" isolated, then the GPT-2 regex. `Digits(true)` splits on
        // `char::is_numeric`, which is Unicode category N, the same set.
        "smollm" | "starcoder" | "refact" | "command-r" | "codeshell" | "exaone" | "minerva" => {
            Sequence::new(vec![
                Digits::new(true).into(),
                byte_level_with_gpt2_regex().into(),
            ])
            .into()
        }
        "gpt-2" | "gpt2" | "mpt" | "olmo" | "jais" => byte_level_with_gpt2_regex().into(),
        "llama-bpe" | "llama3" | "llama-v3" | "smaug-bpe" | "dbrx" => {
            Sequence::new(vec![split(REGEX_LLAMA3)?.into(), byte_level_only().into()]).into()
        }
        "qwen2" | "stablelm2" => {
            Sequence::new(vec![split(REGEX_QWEN2)?.into(), byte_level_only().into()]).into()
        }
        _ => return None,
    })
}

fn string_array(gguf: &GgufFile, key: &str) -> Result<Vec<String>, ModelError> {
    let missing = || ModelError::Tokenizer(format!("GGUF metadata lacks {key}"));
    let values = match gguf.content.metadata.get(key) {
        Some(Value::Array(values)) => values,
        _ => return Err(missing()),
    };
    values
        .iter()
        .map(|v| match v {
            Value::String(s) => Ok(s.clone()),
            _ => Err(ModelError::Tokenizer(format!("{key} holds a non-string"))),
        })
        .collect()
}
