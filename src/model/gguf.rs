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
/// many fine-tunes. "qwen2" (Qwen2, Qwen2.5) is the same block with biases
/// on the Q/K/V projections and NEOX-style RoPE. Other names ("mistral3",
/// "qwen3", "gemma", ...) differ in norms or attention and would load but
/// compute garbage, so they are refused.
pub(crate) const SUPPORTED_ARCHITECTURES: &[&str] = &["llama", "qwen2"];

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
            if path.to_string_lossy().starts_with(super::openai::SCHEME) {
                return Err(ModelError::Other(format!(
                    "{}: a served model judges investigate, backtest and bisect; this command reads the weights, so give a GGUF file",
                    path.display()
                )));
            }
            return Err(ModelError::Missing(path.to_path_buf()));
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
    let rewind = |reader: &mut BufReader<File>| {
        reader
            .rewind()
            .map_err(|err| ModelError::Other(format!("{}: {err}", path.display())))
    };
    rewind(&mut reader)?;
    // candle divides by general.alignment (candle-core 0.11.1,
    // `Content::read`): a 0 there would panic, so it is refused first.
    if declared_alignment(&mut reader) == Some(0) {
        return Err(ModelError::Other(format!(
            "{}: malformed GGUF header: general.alignment is 0",
            path.display()
        )));
    }
    rewind(&mut reader)?;

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
        // Checked: a corrupt header can declare dimensions whose product
        // overflows (candle's `elem_count` would panic or wrap).
        let elems = info
            .shape
            .dims()
            .iter()
            .try_fold(1u64, |n, &d| n.checked_mul(d as u64));
        let Some(elems) = elems else {
            return Err(ModelError::Other(format!(
                "{}: malformed GGUF: tensor {name} has more elements than fit in 64 bits",
                path.display()
            )));
        };
        let block = info.ggml_dtype.block_size() as u64;
        if block == 0 || !elems.is_multiple_of(block) {
            return Err(ModelError::Other(format!(
                "{}: malformed GGUF: tensor {name} has {elems} elements, not a multiple of its block size {block}",
                path.display()
            )));
        }
        let end = (elems / block)
            .checked_mul(info.ggml_dtype.type_size() as u64)
            .zip(content.tensor_data_offset.checked_add(info.offset))
            .and_then(|(bytes, start)| start.checked_add(bytes));
        match end {
            Some(end) if end <= file_size => {}
            _ => return Err(ModelError::Truncated(path.to_path_buf())),
        }
    }
    Ok(())
}

/// `general.alignment` as the header declares it, when it is one of the
/// integer types candle reads it as (u8, u16, u32, i8, i16, i32); `None`
/// when it is absent, of another type, or the header cannot be walked
/// (candle then reports the problem). Reads the metadata without keeping
/// it: string and array values are skipped.
fn declared_alignment(reader: &mut BufReader<File>) -> Option<i64> {
    fn bytes<const N: usize>(r: &mut BufReader<File>) -> Option<[u8; N]> {
        let mut b = [0u8; N];
        r.read_exact(&mut b).ok().map(|()| b)
    }
    fn u32_(r: &mut BufReader<File>) -> Option<u32> {
        bytes::<4>(r).map(u32::from_le_bytes)
    }
    // GGUF v1 writes lengths and counts as u32, later versions as u64.
    fn length(r: &mut BufReader<File>, wide: bool) -> Option<u64> {
        if wide {
            bytes::<8>(r).map(u64::from_le_bytes)
        } else {
            u32_(r).map(u64::from)
        }
    }
    fn skip_bytes(r: &mut BufReader<File>, n: u64) -> Option<()> {
        r.seek_relative(i64::try_from(n).ok()?).ok()
    }
    fn fixed_size(value_type: u32) -> Option<u64> {
        match value_type {
            0 | 1 | 7 => Some(1),
            2 | 3 => Some(2),
            4..=6 => Some(4),
            10..=12 => Some(8),
            _ => None,
        }
    }
    fn skip_value(r: &mut BufReader<File>, value_type: u32, wide: bool, depth: u32) -> Option<()> {
        if let Some(size) = fixed_size(value_type) {
            return skip_bytes(r, size);
        }
        match value_type {
            8 => {
                let n = length(r, wide)?;
                skip_bytes(r, n)
            }
            9 if depth < 8 => {
                let element = u32_(r)?;
                let n = length(r, wide)?;
                if let Some(size) = fixed_size(element) {
                    return skip_bytes(r, n.checked_mul(size)?);
                }
                // Every element reads at least one length: the loop ends at
                // the end of the file.
                for _ in 0..n {
                    skip_value(r, element, wide, depth + 1)?;
                }
                Some(())
            }
            _ => None,
        }
    }
    const KEY: &[u8] = b"general.alignment";
    let _magic = bytes::<4>(reader)?;
    let wide = u32_(reader)? >= 2;
    let _tensors = length(reader, wide)?;
    let entries = length(reader, wide)?;
    for _ in 0..entries {
        let key_len = length(reader, wide)?;
        let is_alignment = if key_len == KEY.len() as u64 {
            bytes::<17>(reader)? == *KEY
        } else {
            skip_bytes(reader, key_len)?;
            false
        };
        let value_type = u32_(reader)?;
        if is_alignment {
            return match value_type {
                0 => bytes::<1>(reader).map(|b| i64::from(b[0])),
                1 => bytes::<1>(reader).map(|b| i64::from(i8::from_le_bytes(b))),
                2 => bytes::<2>(reader).map(|b| i64::from(u16::from_le_bytes(b))),
                3 => bytes::<2>(reader).map(|b| i64::from(i16::from_le_bytes(b))),
                4 => u32_(reader).map(i64::from),
                5 => bytes::<4>(reader).map(|b| i64::from(i32::from_le_bytes(b))),
                _ => None,
            };
        }
        skip_value(reader, value_type, wide, 0)?;
    }
    None
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A GGUF v3: metadata `(key, type, value bytes)`, tensors `(name,
    /// dims as written, ggml type, offset)`, then 32 bytes of tensor data.
    fn gguf(kvs: &[(&str, u32, Vec<u8>)], tensors: &[(&str, &[u64], u32, u64)]) -> Vec<u8> {
        let string = |s: &str| [&(s.len() as u64).to_le_bytes()[..], s.as_bytes()].concat();
        let mut out = b"GGUF".to_vec();
        out.extend(3u32.to_le_bytes());
        out.extend((tensors.len() as u64).to_le_bytes());
        out.extend((kvs.len() as u64).to_le_bytes());
        for (key, value_type, value) in kvs {
            out.extend(string(key));
            out.extend(value_type.to_le_bytes());
            out.extend(value);
        }
        for (name, dims, dtype, offset) in tensors {
            out.extend(string(name));
            out.extend((dims.len() as u32).to_le_bytes());
            for d in *dims {
                out.extend(d.to_le_bytes());
            }
            out.extend(dtype.to_le_bytes());
            out.extend(offset.to_le_bytes());
        }
        out.resize(out.len().div_ceil(32) * 32 + 32, 0);
        out
    }

    fn llama_kvs(head_count: u64) -> Vec<(&'static str, u32, Vec<u8>)> {
        let string = |s: &str| [&(s.len() as u64).to_le_bytes()[..], s.as_bytes()].concat();
        vec![
            ("general.architecture", 8, string("llama")),
            (
                "llama.attention.head_count",
                10,
                head_count.to_le_bytes().to_vec(),
            ),
            (
                "llama.attention.key_length",
                10,
                4u64.to_le_bytes().to_vec(),
            ),
            ("llama.embedding_length", 10, 8u64.to_le_bytes().to_vec()),
            ("llama.block_count", 10, 1u64.to_le_bytes().to_vec()),
        ]
    }

    fn open_bytes(bytes: &[u8]) -> Result<GgufFile, ModelError> {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("m.gguf");
        std::fs::write(&path, bytes).unwrap();
        open(&path)
    }

    fn message(result: Result<impl Sized, ModelError>) -> String {
        match result {
            Ok(_) => panic!("expected an error"),
            Err(err) => err.to_string(),
        }
    }

    /// Crashed the gguf fuzz target (fuzz/): candle divides by
    /// general.alignment, and a 0 there panicked.
    #[test]
    fn a_zero_alignment_is_an_error() {
        let mut kvs = llama_kvs(2);
        kvs.push(("general.alignment", 4, 0u32.to_le_bytes().to_vec()));
        let err = message(open_bytes(&gguf(&kvs, &[])));
        assert!(err.contains("general.alignment is 0"), "{err}");
        // Other alignments still read, whatever the type.
        kvs.pop();
        kvs.push(("general.alignment", 0, vec![32]));
        assert!(open_bytes(&gguf(&kvs, &[])).is_ok());
    }

    /// Crashed the gguf fuzz target: dimensions whose product overflows panicked in
    /// the extents check.
    #[test]
    fn overflowing_dimensions_are_an_error() {
        let tensors: [(&str, &[u64], u32, u64); 1] =
            [("token_embd.weight", &[1 << 40, 1 << 40], 0, 0)];
        let err = message(open_bytes(&gguf(&llama_kvs(2), &tensors)));
        assert!(err.contains("more elements than fit"), "{err}");
        // A product that fits but whose byte size does not is truncation.
        let tensors: [(&str, &[u64], u32, u64); 1] = [("token_embd.weight", &[1 << 62], 0, 0)];
        assert!(matches!(
            open_bytes(&gguf(&llama_kvs(2), &tensors)),
            Err(ModelError::Truncated(_))
        ));
    }

    /// Crashed the gguf fuzz target: a rank-0 token_embd.weight panicked reading the
    /// vocabulary size.
    #[test]
    fn a_rank_0_embedding_is_an_error() {
        let tensors: [(&str, &[u64], u32, u64); 1] = [("token_embd.weight", &[], 0, 0)];
        let file = open_bytes(&gguf(&llama_kvs(2), &tensors)).unwrap();
        let err = message(crate::model::llama::read_config(&file));
        assert!(err.contains("has no dimensions"), "{err}");
        let tensors: [(&str, &[u64], u32, u64); 1] = [("token_embd.weight", &[8, 4], 0, 0)];
        let mut bytes = gguf(&llama_kvs(2), &tensors);
        bytes.resize(bytes.len() + 128, 0);
        let file = open_bytes(&bytes).unwrap();
        assert_eq!(
            crate::model::llama::read_config(&file).unwrap().vocab_size,
            4
        );
    }

    /// A head count whose product with the head size overflows is an
    /// unsupported shape, not an overflow.
    #[test]
    fn an_overflowing_head_count_is_an_error() {
        let tensors: [(&str, &[u64], u32, u64); 1] = [("token_embd.weight", &[1, 1], 0, 0)];
        let file = open_bytes(&gguf(&llama_kvs(1 << 62), &tensors)).unwrap();
        let err = message(crate::model::llama::read_config(&file));
        assert!(err.contains("unsupported attention shape"), "{err}");
    }
}
