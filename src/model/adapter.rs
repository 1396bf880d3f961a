//! LoRA adapter files: low-rank corrections to a base GGUF's weight
//! matrices, trained by `crate::train` or `scripts/train-ref.py`. When a
//! model loads ([`super::Model::load_with_adapter`]) they are merged into
//! f32 weights, or kept beside quantized ones and applied as two thin
//! matrix products per adapted projection.
//!
//! # File format
//!
//! A safetensors file. For each adapted weight matrix `W` (GGUF name, e.g.
//! `blk.3.attn_q.weight`, shape `(out, in)`) it holds two f32 tensors:
//!
//! - `blk.3.attn_q.weight.lora_a`, shape `(rank, in)`;
//! - `blk.3.attn_q.weight.lora_b`, shape `(out, rank)`.
//!
//! The adapted weight is `W + (alpha / rank) · B · A`. The safetensors
//! header's string metadata carries [`AdapterMeta`] (keys `rca.format`,
//! `rca.base_model`, `rca.base_size`, `rca.base_fingerprint`, `rca.rank`,
//! `rca.alpha`, `rca.targets`), so an adapter is never applied to a model it
//! was not trained on. Training checkpoints use the same file with extra
//! tensors (optimiser moments) and an `rca.train_state` key; they load as
//! adapters too.

use std::collections::{BTreeMap, HashMap};
use std::io::Read;
use std::path::Path;

use candle_core::{DType, Device, Tensor};

use super::{gguf, one_line, ModelError};

/// The value of the `rca.format` metadata key this version writes and reads.
pub const ADAPTER_FORMAT: &str = "rca-lora-1";

/// Weight matrices a LoRA adapter can target, by short name.
///
/// The short names are what [`AdapterMeta::targets`] stores; each maps to a
/// GGUF tensor name per layer (`blk.N.attn_q.weight` for `q`).
pub const TARGETS: [(&str, &str); 7] = [
    ("q", "attn_q"),
    ("k", "attn_k"),
    ("v", "attn_v"),
    ("o", "attn_output"),
    ("gate", "ffn_gate"),
    ("up", "ffn_up"),
    ("down", "ffn_down"),
];

/// The GGUF tensor name of target `target` (a short name from [`TARGETS`])
/// in layer `layer`, or `None` for an unknown target.
pub fn target_tensor_name(target: &str, layer: usize) -> Option<String> {
    TARGETS
        .iter()
        .find(|(short, _)| *short == target)
        .map(|(_, gguf)| format!("blk.{layer}.{gguf}.weight"))
}

/// Which base model an adapter belongs to, and its shape.
#[derive(Debug, Clone, PartialEq)]
pub struct AdapterMeta {
    /// File name of the base GGUF (informational: a renamed copy of the same
    /// file is accepted, because the fingerprint decides).
    pub base_model: String,
    /// Size in bytes of the base GGUF.
    pub base_size: u64,
    /// [`base_fingerprint`] of the base GGUF.
    pub base_fingerprint: String,
    /// LoRA rank `r`.
    pub rank: usize,
    /// LoRA `alpha`; the correction is scaled by `alpha / rank`.
    pub alpha: f64,
    /// Short names of the adapted matrices (see [`TARGETS`]), e.g. `["q", "v"]`.
    pub targets: Vec<String>,
}

impl AdapterMeta {
    /// `alpha / rank`, the factor applied to `B · A`.
    pub fn scale(&self) -> f64 {
        self.alpha / self.rank.max(1) as f64
    }

    /// Reads an adapter file's metadata alone (its safetensors header),
    /// without its tensors.
    pub fn read(path: &Path) -> Result<AdapterMeta, ModelError> {
        let bad = |e: String| ModelError::Adapter(format!("{}: {}", path.display(), one_line(&e)));
        let mut file = std::fs::File::open(path).map_err(|e| bad(e.to_string()))?;
        let mut len = [0u8; 8];
        file.read_exact(&mut len).map_err(|e| bad(e.to_string()))?;
        let len = u64::from_le_bytes(len);
        if len > 100_000_000 {
            return Err(bad(format!("a safetensors header of {len} bytes")));
        }
        let mut header = Vec::new();
        file.take(len)
            .read_to_end(&mut header)
            .map_err(|e| bad(e.to_string()))?;
        let header: safetensors::tensor::Metadata =
            serde_json::from_slice(&header).map_err(|e| bad(e.to_string()))?;
        AdapterMeta::from_map(&header.metadata().clone().unwrap_or_default(), path)
    }

    /// Fails unless the adapter was trained on the GGUF at `path` (same
    /// size and [`base_fingerprint`]).
    pub fn check_base(&self, path: &Path) -> Result<(), ModelError> {
        let (name, size, fingerprint) = base_identity(path)?;
        if size != self.base_size || fingerprint != self.base_fingerprint {
            return Err(ModelError::Adapter(format!(
                "the adapter was trained on {} ({} bytes, fingerprint {}), not on {} ({size} bytes, fingerprint {fingerprint})",
                self.base_model, self.base_size, self.base_fingerprint, name
            )));
        }
        Ok(())
    }

    fn to_map(&self) -> HashMap<String, String> {
        HashMap::from([
            ("rca.format".to_string(), ADAPTER_FORMAT.to_string()),
            ("rca.base_model".to_string(), self.base_model.clone()),
            ("rca.base_size".to_string(), self.base_size.to_string()),
            (
                "rca.base_fingerprint".to_string(),
                self.base_fingerprint.clone(),
            ),
            ("rca.rank".to_string(), self.rank.to_string()),
            // `{:?}` prints the shortest text that parses back to the same f64.
            ("rca.alpha".to_string(), format!("{:?}", self.alpha)),
            ("rca.targets".to_string(), self.targets.join(",")),
        ])
    }

    fn from_map(map: &HashMap<String, String>, path: &Path) -> Result<AdapterMeta, ModelError> {
        let bad = |what: &str| {
            ModelError::Adapter(format!(
                "{}: not an rca LoRA adapter ({what})",
                path.display()
            ))
        };
        let get = |key: &str| map.get(key).ok_or_else(|| bad(&format!("no {key}")));
        if get("rca.format")? != ADAPTER_FORMAT {
            return Err(bad(&format!(
                "format {}, expected {ADAPTER_FORMAT}",
                get("rca.format")?
            )));
        }
        let targets: Vec<String> = get("rca.targets")?
            .split(',')
            .filter(|t| !t.is_empty())
            .map(str::to_string)
            .collect();
        if let Some(unknown) = targets
            .iter()
            .find(|t| !TARGETS.iter().any(|(short, _)| short == t))
        {
            return Err(bad(&format!("unknown target {unknown}")));
        }
        Ok(AdapterMeta {
            base_model: get("rca.base_model")?.clone(),
            base_size: get("rca.base_size")?
                .parse()
                .map_err(|_| bad("rca.base_size is not a number"))?,
            base_fingerprint: get("rca.base_fingerprint")?.clone(),
            rank: get("rca.rank")?
                .parse()
                .ok()
                .filter(|&r| r > 0)
                .ok_or_else(|| bad("rca.rank is not a positive number"))?,
            alpha: get("rca.alpha")?
                .parse()
                .ok()
                .filter(|a: &f64| a.is_finite())
                .ok_or_else(|| bad("rca.alpha is not a number"))?,
            targets,
        })
    }
}

/// A loaded (or freshly trained) adapter: metadata and, per adapted GGUF
/// weight name, the pair `(A, B)` as f32 tensors on the CPU.
#[derive(Debug, Clone)]
pub struct Adapter {
    pub meta: AdapterMeta,
    pub pairs: BTreeMap<String, (Tensor, Tensor)>,
}

impl Adapter {
    /// Writes the adapter as a safetensors file with its metadata, plus any
    /// `extra` tensors and metadata entries (training checkpoints use them).
    pub fn save_with(
        &self,
        path: &Path,
        extra_tensors: &BTreeMap<String, Tensor>,
        extra_meta: &[(&str, String)],
    ) -> Result<(), ModelError> {
        let mut tensors: BTreeMap<String, Tensor> = BTreeMap::new();
        for (name, (a, b)) in &self.pairs {
            tensors.insert(
                format!("{name}.lora_a"),
                a.to_dtype(DType::F32).map_err(err)?,
            );
            tensors.insert(
                format!("{name}.lora_b"),
                b.to_dtype(DType::F32).map_err(err)?,
            );
        }
        for (name, t) in extra_tensors {
            tensors.insert(name.clone(), t.clone());
        }
        let mut meta = self.meta.to_map();
        for (key, value) in extra_meta {
            meta.insert(key.to_string(), value.clone());
        }
        // Write to a temporary name and rename, so that a run stopped
        // mid-write never leaves a half-written checkpoint.
        let tmp = path.with_extension("safetensors.part");
        safetensors::serialize_to_file(tensors.iter(), Some(meta), &tmp).map_err(|e| {
            ModelError::Adapter(format!(
                "writing {}: {}",
                tmp.display(),
                one_line(&e.to_string())
            ))
        })?;
        std::fs::rename(&tmp, path)
            .map_err(|e| ModelError::Adapter(format!("writing {}: {e}", path.display())))
    }

    /// Writes the adapter as a safetensors file with its metadata.
    pub fn save(&self, path: &Path) -> Result<(), ModelError> {
        self.save_with(path, &BTreeMap::new(), &[])
    }

    /// Reads an adapter file; see [`Adapter::load_with`].
    pub fn load(path: &Path) -> Result<Adapter, ModelError> {
        Ok(Self::load_with(path)?.0)
    }

    /// Reads an adapter (or checkpoint) file and returns the adapter, the
    /// tensors that are not LoRA pairs, and all string metadata. Fails with
    /// [`ModelError::Adapter`] (never a panic) on a missing or malformed file,
    /// a pair with a missing half, or shapes that disagree with the rank.
    #[allow(clippy::type_complexity)]
    pub fn load_with(
        path: &Path,
    ) -> Result<(Adapter, BTreeMap<String, Tensor>, HashMap<String, String>), ModelError> {
        let bytes = std::fs::read(path).map_err(|e| {
            if e.kind() == std::io::ErrorKind::NotFound {
                ModelError::Adapter(format!("adapter file not found: {}", path.display()))
            } else {
                ModelError::Adapter(format!("{}: {e}", path.display()))
            }
        })?;
        let bad = |e: String| {
            ModelError::Adapter(format!(
                "{}: not a readable safetensors adapter: {}",
                path.display(),
                one_line(&e)
            ))
        };
        let (_, header) =
            safetensors::SafeTensors::read_metadata(&bytes).map_err(|e| bad(e.to_string()))?;
        let map = header.metadata().clone().unwrap_or_default();
        let meta = AdapterMeta::from_map(&map, path)?;
        let tensors = candle_core::safetensors::load_buffer(&bytes, &Device::Cpu)
            .map_err(|e| bad(e.to_string()))?;
        let mut halves: BTreeMap<String, (Option<Tensor>, Option<Tensor>)> = BTreeMap::new();
        let mut extra = BTreeMap::new();
        for (name, t) in tensors {
            if let Some(base) = name.strip_suffix(".lora_a") {
                halves.entry(base.to_string()).or_default().0 = Some(t);
            } else if let Some(base) = name.strip_suffix(".lora_b") {
                halves.entry(base.to_string()).or_default().1 = Some(t);
            } else {
                extra.insert(name, t);
            }
        }
        let mut pairs = BTreeMap::new();
        for (name, (a, b)) in halves {
            let (a, b) = match (a, b) {
                (Some(a), Some(b)) => (a, b),
                _ => {
                    return Err(ModelError::Adapter(format!(
                        "{}: {name} lacks half of its LoRA pair",
                        path.display()
                    )))
                }
            };
            let shapes_ok = matches!((a.dims(), b.dims()), ([ra, _], [_, rb]) if *ra == meta.rank && *rb == meta.rank);
            if !shapes_ok || a.dtype() != DType::F32 || b.dtype() != DType::F32 {
                return Err(ModelError::Adapter(format!(
                    "{}: {name}: A {:?} {:?} and B {:?} {:?} are not f32 rank-{} factors",
                    path.display(),
                    a.dims(),
                    a.dtype(),
                    b.dims(),
                    b.dtype(),
                    meta.rank
                )));
            }
            pairs.insert(name, (a, b));
        }
        if pairs.is_empty() {
            return Err(ModelError::Adapter(format!(
                "{}: the adapter holds no LoRA pairs",
                path.display()
            )));
        }
        Ok((Adapter { meta, pairs }, extra, map))
    }

    /// The correction `(alpha / rank) · B · A` for GGUF weight `name`, shape
    /// `(out, in)`, if the adapter has one.
    pub fn delta(&self, name: &str) -> Result<Option<Tensor>, ModelError> {
        let Some((a, b)) = self.scaled_pair(name)? else {
            return Ok(None);
        };
        Ok(Some(b.matmul(&a).map_err(err)?))
    }

    /// The factors of GGUF weight `name` with the scale folded into B:
    /// `(A, (alpha / rank) · B)`, shapes `(r, in)` and `(out, r)`, if the
    /// adapter has them.
    pub fn scaled_pair(&self, name: &str) -> Result<Option<(Tensor, Tensor)>, ModelError> {
        let Some((a, b)) = self.pairs.get(name) else {
            return Ok(None);
        };
        let b = b.affine(self.meta.scale(), 0.0).map_err(err)?;
        Ok(Some((a.clone(), b)))
    }

    /// Fails unless this adapter was trained on the GGUF at `path`; see
    /// [`AdapterMeta::check_base`].
    pub fn check_base(&self, path: &Path) -> Result<(), ModelError> {
        self.meta.check_base(path)
    }
}

fn err(e: candle_core::Error) -> ModelError {
    ModelError::Adapter(one_line(&e.to_string()))
}

/// Bytes of tensor data that go into the fingerprint after the header.
const FINGERPRINT_DATA_BYTES: u64 = 1 << 20;

/// A GGUF's file name, size and fingerprint: FNV-1a 64 of its header (all
/// metadata and tensor descriptions) and the first MiB of tensor data, as 16
/// hex digits. Cheap for any model size, and different for any two GGUFs
/// that differ in vocabulary, shapes, quantization or leading weights.
///
/// Remembered per path, size and modification time for the rest of the
/// process: loading a judge checks the same GGUF for its default adapter,
/// the adapter it loads, its head and the reproduce line, and each
/// fingerprint reads the whole header (35–37 ms for the 135M, 104–109 ms for a
/// 1.5B with a 151,936-token vocabulary).
pub fn base_identity(path: &Path) -> Result<(String, u64, String), ModelError> {
    type Key = (std::path::PathBuf, u64, std::time::SystemTime);
    type Identity = (String, u64, String);
    static SEEN: std::sync::Mutex<Vec<(Key, Identity)>> = std::sync::Mutex::new(Vec::new());
    let seen = || SEEN.lock().unwrap_or_else(|e| e.into_inner());
    let key = std::fs::metadata(path)
        .and_then(|m| Ok((path.to_path_buf(), m.len(), m.modified()?)))
        .ok();
    if let Some(key) = &key {
        if let Some((_, id)) = seen().iter().find(|(k, _)| k == key) {
            return Ok(id.clone());
        }
    }
    let id = fingerprint(path)?;
    if let Some(key) = key {
        seen().push((key, id.clone()));
    }
    Ok(id)
}

fn fingerprint(path: &Path) -> Result<(String, u64, String), ModelError> {
    let file = gguf::open(path)?;
    let take = (file.content.tensor_data_offset + FINGERPRINT_DATA_BYTES).min(file.file_size);
    let mut reader = std::fs::File::open(path)
        .map_err(|e| ModelError::Other(format!("{}: {e}", path.display())))?
        .take(take);
    let mut hash: u64 = 0xcbf2_9ce4_8422_2325;
    let mut buf = vec![0u8; 1 << 16];
    loop {
        let n = reader
            .read(&mut buf)
            .map_err(|e| ModelError::Other(format!("{}: {e}", path.display())))?;
        if n == 0 {
            break;
        }
        for &byte in &buf[..n] {
            hash ^= u64::from(byte);
            hash = hash.wrapping_mul(0x0000_0100_0000_01b3);
        }
    }
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    Ok((name, file.file_size, format!("{hash:016x}")))
}
