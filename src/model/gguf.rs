//! Opening a GGUF file and refusing the ones rca cannot run, before any
//! weight is read.
//!
//! A user can point `--model` at anything: a missing path, a download that
//! stopped half-way, a model of another family. Each of those must become one
//! typed, one-line [`ModelError`] rather than a panic or a candle error deep
//! inside weight loading. So this module checks, in order: the file exists,
//! it starts with the GGUF magic, its header parses, every tensor's data lies
//! inside the file, and `general.architecture` is one the Llama code runs.

use std::fs::File;
use std::io::{BufReader, Read};
use std::path::{Path, PathBuf};

use candle_core::quantized::gguf_file::{Content, Value};
use candle_core::quantized::GgmlDType;

use super::{one_line, ModelError};

/// The `general.architecture` values the Llama code in `llama.rs` runs.
///
/// llama.cpp's converter writes "llama" for every model with the Llama block
/// structure: Llama 1/2/3, Mistral and Mixtral, TinyLlama, SmolLM/SmolLM2 and
/// many fine-tunes. Other names ("mistral3", "qwen2", "gemma", ...) differ in
/// RoPE layout, norms or biases and would load but compute garbage, so they
/// are refused.
pub(crate) const SUPPORTED_ARCHITECTURES: &[&str] = &["llama"];

/// The four bytes every GGUF file starts with ("GGUF", little-endian u32
/// 0x46554747).
const GGUF_MAGIC: &[u8; 4] = b"GGUF";

/// A GGUF whose header parsed and whose tensor data is all present.
pub(crate) struct GgufFile {
    pub path: PathBuf,
    pub content: Content,
    pub reader: BufReader<File>,
    pub file_size: u64,
}

/// Opens and validates `path` without reading tensor data.
pub(crate) fn open(path: &Path) -> Result<GgufFile, ModelError> {
    let file = match File::open(path) {
        Ok(file) => file,
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => {
            return Err(ModelError::Missing(path.to_path_buf()))
        }
        Err(err) => return Err(ModelError::Other(format!("{}: {err}", path.display()))),
    };
    let file_size = file
        .metadata()
        .map_err(|err| ModelError::Other(format!("{}: {err}", path.display())))?
        .len();
    if file_size == 0 || !path.is_file() {
        return Err(ModelError::NotGguf(path.to_path_buf()));
    }
    let mut reader = BufReader::new(file);

    let mut magic = [0u8; 4];
    if reader.read_exact(&mut magic).is_err() || &magic != GGUF_MAGIC {
        return Err(ModelError::NotGguf(path.to_path_buf()));
    }
    use std::io::Seek;
    reader
        .rewind()
        .map_err(|err| ModelError::Other(format!("{}: {err}", path.display())))?;

    // candle bounds-checks every length it reads against the file size, so a
    // header cut short fails here with an error (never a huge allocation).
    // The magic was right, so a header that does not parse is either cut
    // short or corrupt; the I/O error kind tells the two apart.
    let content = Content::read(&mut reader).map_err(|err| {
        if is_truncation(&err) {
            ModelError::Truncated(path.to_path_buf())
        } else {
            ModelError::Other(format!(
                "{}: malformed GGUF header: {}",
                path.display(),
                one_line(&err.to_string())
            ))
        }
    })?;

    check_tensor_extents(path, &content, file_size)?;
    check_architecture(&content)?;

    Ok(GgufFile {
        path: path.to_path_buf(),
        content,
        reader,
        file_size,
    })
}

/// True for the errors candle gives when the file ends early: an unexpected
/// EOF from `read_exact`, or one of its "only N remaining" bounds checks.
fn is_truncation(err: &candle_core::Error) -> bool {
    let mut current: Option<&(dyn std::error::Error + 'static)> = Some(err);
    while let Some(e) = current {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            if io.kind() == std::io::ErrorKind::UnexpectedEof {
                return true;
            }
        }
        current = e.source();
    }
    let text = err.to_string();
    text.contains("remaining") || text.contains("failed to fill whole buffer")
}

/// Every tensor's bytes must lie inside the file. candle checks this only
/// when it reads a tensor, halfway through loading; checking all of them up
/// front turns a partial download into `Truncated` before any work is done.
fn check_tensor_extents(path: &Path, content: &Content, file_size: u64) -> Result<(), ModelError> {
    for (name, info) in &content.tensor_infos {
        let elems = info.shape.elem_count() as u64;
        let block = info.ggml_dtype.block_size() as u64;
        if block == 0 || !elems.is_multiple_of(block) {
            return Err(ModelError::Other(format!(
                "{}: malformed GGUF: tensor {name} has {elems} elements, not a multiple of its block size {block}",
                path.display()
            )));
        }
        let bytes = elems / block * info.ggml_dtype.type_size() as u64;
        let end = content
            .tensor_data_offset
            .checked_add(info.offset)
            .and_then(|start| start.checked_add(bytes));
        match end {
            Some(end) if end <= file_size => {}
            _ => return Err(ModelError::Truncated(path.to_path_buf())),
        }
    }
    Ok(())
}

fn check_architecture(content: &Content) -> Result<(), ModelError> {
    let arch = match content.metadata.get("general.architecture") {
        Some(Value::String(arch)) => arch.clone(),
        Some(_) => "(not a string)".to_string(),
        None => "(missing general.architecture)".to_string(),
    };
    if SUPPORTED_ARCHITECTURES.contains(&arch.as_str()) {
        Ok(())
    } else {
        Err(ModelError::UnsupportedArchitecture(arch))
    }
}

/// Typed access to GGUF metadata.
impl GgufFile {
    pub fn architecture(&self) -> String {
        self.string("general.architecture").unwrap_or_default()
    }

    pub fn string(&self, key: &str) -> Option<String> {
        match self.content.metadata.get(key) {
            Some(Value::String(s)) => Some(s.clone()),
            _ => None,
        }
    }

    /// A numeric metadata value of any integer type.
    pub fn usize(&self, key: &str) -> Option<usize> {
        let value = self.content.metadata.get(key)?;
        value
            .to_u64()
            .ok()
            .map(|v| v as usize)
            .or_else(|| value.to_u32().ok().map(|v| v as usize))
            .or_else(|| value.to_i32().ok().and_then(|v| usize::try_from(v).ok()))
            .or_else(|| value.to_u16().ok().map(|v| v as usize))
            .or_else(|| value.to_u8().ok().map(|v| v as usize))
    }

    pub fn f32(&self, key: &str) -> Option<f32> {
        let value = self.content.metadata.get(key)?;
        value
            .to_f32()
            .ok()
            .or_else(|| value.to_f64().ok().map(|v| v as f32))
    }

    pub fn bool(&self, key: &str) -> Option<bool> {
        self.content.metadata.get(key)?.to_bool().ok()
    }

    /// `{arch}.{key}`, which is where llama.cpp keeps the hyper-parameters.
    pub fn arch_usize(&self, key: &str) -> Option<usize> {
        self.usize(&format!("{}.{key}", self.architecture()))
    }

    pub fn arch_f32(&self, key: &str) -> Option<f32> {
        self.f32(&format!("{}.{key}", self.architecture()))
    }

    pub fn require_arch_usize(&self, key: &str) -> Result<usize, ModelError> {
        self.arch_usize(key).ok_or_else(|| {
            ModelError::Other(format!(
                "{}: GGUF metadata lacks {}.{key}",
                self.path.display(),
                self.architecture()
            ))
        })
    }

    /// Number of parameters, counted from the tensor shapes.
    pub fn parameter_count(&self) -> u64 {
        self.content
            .tensor_infos
            .values()
            .map(|info| info.shape.elem_count() as u64)
            .sum()
    }

    /// The quantization types of the 2-D weight tensors, most common first,
    /// e.g. ["Q4_1", "Q6_K"].
    pub fn weight_dtypes(&self) -> Vec<GgmlDType> {
        let mut counts: Vec<(GgmlDType, usize)> = Vec::new();
        for info in self.content.tensor_infos.values() {
            if info.shape.rank() < 2 {
                continue;
            }
            match counts
                .iter_mut()
                .find(|(dtype, _)| *dtype == info.ggml_dtype)
            {
                Some((_, n)) => *n += 1,
                None => counts.push((info.ggml_dtype, 1)),
            }
        }
        counts.sort_by(|a, b| {
            b.1.cmp(&a.1)
                .then(format!("{:?}", a.0).cmp(&format!("{:?}", b.0)))
        });
        counts.into_iter().map(|(dtype, _)| dtype).collect()
    }
}
