//! The language model: GGUF loading, tokenizer, and label scoring.
