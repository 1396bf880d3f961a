//! Fused CPU kernels for the three element-wise steps of a Llama block that
//! candle-core alone would spread over many passes: RoPE, causal softmax and
//! SwiGLU.
//!
//! candle-nn has fused versions of the first two, but this crate depends only
//! on candle-core and candle-transformers; composing them from candle-core ops
//! costs four to eight passes over the attention matrix, which is most of a
//! 2,000-token prompt's memory traffic. The kernels here do one pass each,
//! skip the masked half of the causal attention matrix, and evaluate `exp`
//! with a polynomial the compiler vectorises: a 2,000-token prompt on the
//! default model needs about 550M exponentials (30 layers × 9 heads ×
//! 2,000² / 2), which at libm's few nanoseconds each would be seconds.
//!
//! Every kernel has a composed-op fallback for other devices (CUDA) and
//! dtypes; `tests/model.rs` checks the two agree on the CPU.

use std::sync::Arc;

use candle_core::{
    CpuStorage, CustomOp1, DType, InplaceOp1, InplaceOp2, Layout, Result, Shape, Tensor, D,
};
use rayon::prelude::*;

/// `exp(x)` for f32, written so that LLVM vectorises a loop of it (no
/// branches, no libm call, rounding by the 1.5·2²³ trick instead of `floor`).
/// Cephes' `expf` polynomial: relative error below 2e-7 over the range used
/// here (x ≤ 0 after max subtraction), within 1 ulp of libm in practice.
#[inline(always)]
fn exp_approx(x: f32) -> f32 {
    const LOG2E: f32 = std::f32::consts::LOG2_E;
    const LN2_HI: f32 = 0.693_359_4;
    const LN2_LO: f32 = -2.121_944_4e-4;
    const ROUND: f32 = 12_582_912.0; // 1.5 * 2^23
    let x = x.clamp(-87.0, 88.0);
    let t = x * LOG2E + ROUND;
    let n = t - ROUND; // round(x * log2 e), as a float
    let r = x - n * LN2_HI - n * LN2_LO;
    let p = 1.987_569_1e-4_f32;
    let p = p * r + 1.398_199_9e-3;
    let p = p * r + 8.333_452e-3;
    let p = p * r + 4.166_579_6e-2;
    let p = p * r + 1.666_666_5e-1;
    let p = p * r + 5e-1;
    let p = p * r * r + r + 1.0;
    // 2^n from the low bits of t, which hold n + 2^22 + 2^23's mantissa.
    let n_int = t.to_bits().wrapping_sub(ROUND.to_bits()) as i32;
    let scale = f32::from_bits(((n_int + 127) as u32) << 23);
    p * scale
}

/// Numerically stable softmax of `row[..valid]` scaled by `scale`, in place,
/// with `row[valid..]` set to zero. Written with eight independent
/// accumulators so that the max and the sum vectorise.
#[inline(always)]
fn softmax_row(row: &mut [f32], valid: usize, scale: f32) {
    let (live, dead) = row.split_at_mut(valid);
    dead.fill(0.0);
    let mut maxes = [f32::NEG_INFINITY; 8];
    let mut chunks = live.chunks_exact_mut(8);
    for chunk in &mut chunks {
        for i in 0..8 {
            chunk[i] *= scale;
            maxes[i] = maxes[i].max(chunk[i]);
        }
    }
    let mut max = maxes.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    for v in chunks.into_remainder() {
        *v *= scale;
        max = max.max(*v);
    }
    let mut sums = [0f32; 8];
    let mut chunks = live.chunks_exact_mut(8);
    for chunk in &mut chunks {
        for i in 0..8 {
            let e = exp_approx(chunk[i] - max);
            chunk[i] = e;
            sums[i] += e;
        }
    }
    let mut sum: f32 = sums.iter().sum();
    for v in chunks.into_remainder() {
        let e = exp_approx(*v - max);
        *v = e;
        sum += e;
    }
    let inv = 1.0 / sum;
    for v in live.iter_mut() {
        *v *= inv;
    }
}

#[inline(always)]
fn swiglu_row(gate: &[f32], up: &[f32], out: &mut [f32]) {
    for ((o, &g), &u) in out.iter_mut().zip(gate).zip(up) {
        *o = g / (1.0 + exp_approx(-g)) * u;
    }
}

// The same loops compiled for AVX2+FMA, chosen at run time: the default
// x86-64 target only allows SSE2, which halves the width of the exp loops.
#[cfg(target_arch = "x86_64")]
mod x86 {
    #![allow(unsafe_code)]

    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn softmax_row(row: &mut [f32], valid: usize, scale: f32) {
        super::softmax_row(row, valid, scale)
    }

    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn swiglu_row(gate: &[f32], up: &[f32], out: &mut [f32]) {
        super::swiglu_row(gate, up, out)
    }

    pub(super) fn has_avx2() -> bool {
        static HAS: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        *HAS.get_or_init(|| is_x86_feature_detected!("avx2") && is_x86_feature_detected!("fma"))
    }
}

#[allow(unsafe_code)]
pub(crate) fn softmax_row_dispatch(row: &mut [f32], valid: usize, scale: f32) {
    #[cfg(target_arch = "x86_64")]
    if x86::has_avx2() {
        // SAFETY: the CPU supports AVX2 and FMA (checked above).
        return unsafe { x86::softmax_row(row, valid, scale) };
    }
    softmax_row(row, valid, scale)
}

#[allow(unsafe_code)]
fn swiglu_row_dispatch(gate: &[f32], up: &[f32], out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    if x86::has_avx2() {
        // SAFETY: the CPU supports AVX2 and FMA (checked above).
        return unsafe { x86::swiglu_row(gate, up, out) };
    }
    swiglu_row(gate, up, out)
}

pub(crate) fn cpu_f32<'a>(storage: &'a CpuStorage, layout: &Layout, op: &str) -> Result<&'a [f32]> {
    let data = match storage {
        CpuStorage::F32(data) => data,
        _ => candle_core::bail!("{op}: expects f32"),
    };
    match layout.contiguous_offsets() {
        Some((start, end)) => Ok(&data[start..end]),
        None => candle_core::bail!("{op}: expects a contiguous input"),
    }
}

/// RoPE tables for positions `0..context`, `(context, rope_dim / 2)` each.
#[derive(Debug, Clone)]
pub(crate) struct RopeTables {
    pub cos: Arc<[f32]>,
    pub sin: Arc<[f32]>,
    pub half: usize,
    /// The same tables as tensors on the model's device, for the fallback.
    pub cos_t: Tensor,
    pub sin_t: Tensor,
}

/// Splits a fused projection `(seq, n_heads * head_dim)` into head-major
/// `(n_heads, seq, head_dim)`, rotating the first `n_rope_heads` heads
/// (queries and keys) with interleaved RoPE (GGUF "llama" layout: pairs
/// `2i, 2i+1`) and copying the rest (values) unchanged.
pub(crate) struct RopeHeads<'a> {
    pub n_heads: usize,
    pub n_rope_heads: usize,
    pub head_dim: usize,
    pub pos: usize,
    pub tables: &'a RopeTables,
}

impl CustomOp1 for RopeHeads<'_> {
    fn name(&self) -> &'static str {
        "rca-rope-heads"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let src = cpu_f32(storage, layout, self.name())?;
        let (seq, width) = layout.shape().dims2()?;
        let hd = self.head_dim;
        if width != self.n_heads * hd || hd != 2 * self.tables.half {
            candle_core::bail!("rope-heads: bad shape ({seq}, {width})");
        }
        let mut dst = vec![0f32; seq * width];
        let half = self.tables.half;
        dst.par_chunks_mut(seq * hd)
            .enumerate()
            .for_each(|(head, out)| {
                for t in 0..seq {
                    let x = &src[t * width + head * hd..t * width + (head + 1) * hd];
                    let y = &mut out[t * hd..(t + 1) * hd];
                    if head < self.n_rope_heads {
                        let row = (self.pos + t) * half;
                        let cos = &self.tables.cos[row..row + half];
                        let sin = &self.tables.sin[row..row + half];
                        for i in 0..half {
                            let (a, b) = (x[2 * i], x[2 * i + 1]);
                            y[2 * i] = a * cos[i] - b * sin[i];
                            y[2 * i + 1] = a * sin[i] + b * cos[i];
                        }
                    } else {
                        y.copy_from_slice(x);
                    }
                }
            });
        Ok((CpuStorage::F32(dst), Shape::from((self.n_heads, seq, hd))))
    }
}

/// [`RopeHeads`] on any device.
pub(crate) fn rope_heads(x: &Tensor, op: &RopeHeads) -> Result<Tensor> {
    if x.device().is_cpu() && x.dtype() == DType::F32 {
        return x.contiguous()?.apply_op1_no_bwd(op);
    }
    rope_heads_composed(x, op)
}

/// [`RopeHeads`] from candle-core ops, for devices without the CPU kernel.
fn rope_heads_composed(x: &Tensor, op: &RopeHeads) -> Result<Tensor> {
    let (seq, _) = x.dims2()?;
    let hd = op.head_dim;
    let heads = x
        .reshape((seq, op.n_heads, hd))?
        .transpose(0, 1)?
        .contiguous()?;
    let rotated = heads.narrow(0, 0, op.n_rope_heads)?;
    let table = |t: &Tensor| {
        t.narrow(0, op.pos, seq)?
            .reshape((1, seq, op.tables.half, 1))?
            .to_dtype(x.dtype())
    };
    let (cos, sin) = (table(&op.tables.cos_t)?, table(&op.tables.sin_t)?);
    let pairs = rotated.reshape((op.n_rope_heads, seq, op.tables.half, 2))?;
    let a = pairs.narrow(3, 0, 1)?;
    let b = pairs.narrow(3, 1, 1)?;
    let ya = (a.broadcast_mul(&cos)? - b.broadcast_mul(&sin)?)?;
    let yb = (a.broadcast_mul(&sin)? + b.broadcast_mul(&cos)?)?;
    let rotated = Tensor::cat(&[ya, yb], 3)?.reshape((op.n_rope_heads, seq, hd))?;
    if op.n_rope_heads == op.n_heads {
        Ok(rotated)
    } else {
        let rest = heads.narrow(0, op.n_rope_heads, op.n_heads - op.n_rope_heads)?;
        Tensor::cat(&[rotated, rest], 0)
    }
}

/// Scaled causal softmax over attention scores laid out as
/// `(kv_heads, group * seq, kv_len)`: row `r` is query position
/// `offset + r % seq`, which may see keys `0..=offset + r % seq`.
pub(crate) struct CausalSoftmax {
    pub seq: usize,
    pub offset: usize,
    pub scale: f32,
}

impl InplaceOp1 for CausalSoftmax {
    fn name(&self) -> &'static str {
        "rca-causal-softmax"
    }

    fn cpu_fwd(&self, storage: &mut CpuStorage, layout: &Layout) -> Result<()> {
        let data = match storage {
            CpuStorage::F32(data) => data,
            _ => candle_core::bail!("causal-softmax: expects f32"),
        };
        let (start, end) = match layout.contiguous_offsets() {
            Some(range) => range,
            None => candle_core::bail!("causal-softmax: expects a contiguous input"),
        };
        let kv_len = layout.shape().dims().last().copied().unwrap_or(0);
        if kv_len == 0 {
            return Ok(());
        }
        data[start..end]
            .par_chunks_mut(kv_len)
            .enumerate()
            .for_each(|(row, values)| {
                let valid = (self.offset + row % self.seq + 1).min(kv_len);
                softmax_row_dispatch(values, valid, self.scale);
            });
        Ok(())
    }
}

/// [`CausalSoftmax`] on any device; returns the probabilities (the input
/// itself on the CPU, where it works in place).
pub(crate) fn causal_softmax(att: Tensor, op: &CausalSoftmax) -> Result<Tensor> {
    if att.device().is_cpu() && att.dtype() == DType::F32 && att.is_contiguous() {
        att.inplace_op1(op)?;
        return Ok(att);
    }
    causal_softmax_composed(&att, op)
}

/// [`CausalSoftmax`] from candle-core ops: an additive -inf mask, then a
/// max-subtracted softmax.
fn causal_softmax_composed(att: &Tensor, op: &CausalSoftmax) -> Result<Tensor> {
    let (groups, rows, kv_len) = att.dims3()?;
    let mask: Vec<f32> = (0..op.seq)
        .flat_map(|i| {
            (0..kv_len).map(move |j| {
                if j <= op.offset + i {
                    0.0
                } else {
                    f32::NEG_INFINITY
                }
            })
        })
        .collect();
    let mask =
        Tensor::from_vec(mask, (1, 1, op.seq, kv_len), att.device())?.to_dtype(att.dtype())?;
    let att = (att.reshape((groups, rows / op.seq, op.seq, kv_len))? * op.scale as f64)?
        .broadcast_add(&mask)?;
    let max = att.max_keepdim(D::Minus1)?;
    let exp = att.broadcast_sub(&max)?.exp()?;
    let sum = exp.sum_keepdim(D::Minus1)?;
    exp.broadcast_div(&sum)?.reshape((groups, rows, kv_len))
}

/// `silu(gate) * up` from a fused `(seq, 2 * ffn)` projection whose first
/// half is the gate.
pub(crate) struct SwiGlu;

impl CustomOp1 for SwiGlu {
    fn name(&self) -> &'static str {
        "rca-swiglu"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let src = cpu_f32(storage, layout, self.name())?;
        let (seq, width) = layout.shape().dims2()?;
        let ffn = width / 2;
        let mut dst = vec![0f32; seq * ffn];
        dst.par_chunks_mut(ffn).enumerate().for_each(|(t, out)| {
            let row = &src[t * width..(t + 1) * width];
            swiglu_row_dispatch(&row[..ffn], &row[ffn..], out);
        });
        Ok((CpuStorage::F32(dst), Shape::from((seq, ffn))))
    }
}

/// [`SwiGlu`] on any device.
pub(crate) fn swiglu(fused: &Tensor) -> Result<Tensor> {
    if fused.device().is_cpu() && fused.dtype() == DType::F32 {
        return fused.contiguous()?.apply_op1_no_bwd(&SwiGlu);
    }
    swiglu_composed(fused)
}

fn swiglu_composed(fused: &Tensor) -> Result<Tensor> {
    let ffn = fused.dim(D::Minus1)? / 2;
    let gate = fused.narrow(D::Minus1, 0, ffn)?;
    let up = fused.narrow(D::Minus1, ffn, ffn)?;
    gate.silu()? * up
}

/// `dst += src` in place, for the residual connections.
///
/// candle's own `+` sends tensors this size to its element-wise barrier
/// pool, whose caller spins until the workers finish; with the GEMM's rayon
/// threads on the same cores that spin took 6–8% of a 2,000-token prompt in
/// perf profiles (2 threads, a busy machine). A single pass on the calling
/// thread takes ~30 µs.
struct AddAssign;

impl InplaceOp2 for AddAssign {
    fn name(&self) -> &'static str {
        "rca-add-assign"
    }

    fn cpu_fwd(
        &self,
        dst: &mut CpuStorage,
        dst_l: &Layout,
        src: &CpuStorage,
        src_l: &Layout,
    ) -> Result<()> {
        let src = cpu_f32(src, src_l, self.name())?;
        let dst = match dst {
            CpuStorage::F32(data) => data,
            _ => candle_core::bail!("add-assign: expects f32"),
        };
        let (start, end) = match dst_l.contiguous_offsets() {
            Some(range) => range,
            None => candle_core::bail!("add-assign: expects a contiguous destination"),
        };
        let dst = &mut dst[start..end];
        if dst.len() != src.len() {
            candle_core::bail!("add-assign: {} vs {} elements", dst.len(), src.len());
        }
        for (d, s) in dst.iter_mut().zip(src) {
            *d += s;
        }
        Ok(())
    }
}

/// `dst + src`, reusing `dst`'s storage on the CPU.
pub(crate) fn add_into(dst: Tensor, src: &Tensor) -> Result<Tensor> {
    let fusable = dst.device().is_cpu()
        && dst.dtype() == DType::F32
        && src.dtype() == DType::F32
        && dst.is_contiguous()
        && src.is_contiguous()
        && dst.shape() == src.shape();
    if fusable {
        dst.inplace_op2(src, &AddAssign)?;
        Ok(dst)
    } else {
        dst + src
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    #[test]
    fn exp_approx_matches_libm() {
        let mut worst = 0f32;
        let mut x = -87.0f32;
        while x < 88.0 {
            let rel = ((exp_approx(x) - x.exp()) / x.exp()).abs();
            worst = worst.max(rel);
            x += 0.001_7;
        }
        assert!(worst < 4e-7, "worst relative error {worst}");
    }

    #[test]
    fn softmax_row_masks_and_normalises() {
        let mut row: Vec<f32> = (0..21).map(|i| i as f32 * 0.3 - 2.0).collect();
        softmax_row(&mut row, 13, 0.5);
        let sum: f32 = row.iter().sum();
        assert!((sum - 1.0).abs() < 1e-6);
        assert!(row[13..].iter().all(|&v| v == 0.0));
        let expected: Vec<f32> = {
            let xs: Vec<f32> = (0..13).map(|i| (i as f32 * 0.3 - 2.0) * 0.5).collect();
            let m = xs.iter().copied().fold(f32::NEG_INFINITY, f32::max);
            let s: f32 = xs.iter().map(|x| (x - m).exp()).sum();
            xs.iter().map(|x| (x - m).exp() / s).collect()
        };
        for (a, b) in row.iter().zip(&expected) {
            assert!((a - b).abs() < 1e-6);
        }
    }

    /// The largest absolute element-wise difference of two tensors.
    pub(crate) fn max_abs_diff(a: &Tensor, b: &Tensor) -> f32 {
        (a - b)
            .unwrap()
            .abs()
            .unwrap()
            .flatten_all()
            .unwrap()
            .max(0)
            .unwrap()
            .to_scalar::<f32>()
            .unwrap()
    }

    fn tables(ctx: usize, half: usize) -> RopeTables {
        let mut cos = Vec::new();
        let mut sin = Vec::new();
        for p in 0..ctx {
            for i in 0..half {
                let angle = p as f32 / 10_000f32.powf(2.0 * i as f32 / (2 * half) as f32);
                cos.push(angle.cos());
                sin.push(angle.sin());
            }
        }
        let device = candle_core::Device::Cpu;
        RopeTables {
            cos_t: Tensor::from_slice(&cos, (ctx, half), &device).unwrap(),
            sin_t: Tensor::from_slice(&sin, (ctx, half), &device).unwrap(),
            cos: cos.into(),
            sin: sin.into(),
            half,
        }
    }

    // The CPU kernels and the composed fallbacks (what CUDA runs) agree.

    #[test]
    fn rope_kernel_matches_composed_ops() {
        let tables = tables(64, 4);
        let op = RopeHeads {
            n_heads: 5,
            n_rope_heads: 4,
            head_dim: 8,
            pos: 9,
            tables: &tables,
        };
        let x = Tensor::randn(0f32, 1.0, (7, 40), &candle_core::Device::Cpu).unwrap();
        let fused = rope_heads(&x, &op).unwrap();
        let composed = rope_heads_composed(&x, &op).unwrap();
        assert_eq!(fused.dims(), &[5, 7, 8]);
        assert!(max_abs_diff(&fused, &composed) < 1e-6);
    }

    #[test]
    fn causal_softmax_kernel_matches_composed_ops() {
        // 2 KV heads, 3 query heads each, 5 new positions after 4 cached.
        let op = CausalSoftmax {
            seq: 5,
            offset: 4,
            scale: 0.35,
        };
        let att = Tensor::randn(0f32, 3.0, (2, 15, 9), &candle_core::Device::Cpu).unwrap();
        let composed = causal_softmax_composed(&att, &op).unwrap();
        let fused = causal_softmax(att.copy().unwrap(), &op).unwrap();
        assert!(max_abs_diff(&fused, &composed) < 1e-6);
        // Row 0 of each group is position 4: it sees keys 0..=4 only.
        let row: Vec<f32> = fused.get(1).unwrap().get(5).unwrap().to_vec1().unwrap();
        assert!(row[5..].iter().all(|&p| p == 0.0), "{row:?}");
    }

    #[test]
    fn swiglu_kernel_matches_composed_ops() {
        let x = Tensor::randn(0f32, 2.0, (6, 22), &candle_core::Device::Cpu).unwrap();
        let fused = swiglu(&x).unwrap();
        let composed = swiglu_composed(&x).unwrap();
        assert!(max_abs_diff(&fused, &composed) < 1e-5);
    }

    #[test]
    fn add_into_matches_add() {
        let a = Tensor::randn(0f32, 1.0, (5, 7), &candle_core::Device::Cpu).unwrap();
        let b = Tensor::randn(0f32, 1.0, (5, 7), &candle_core::Device::Cpu).unwrap();
        let expected = (&a + &b).unwrap();
        let sum = add_into(a.copy().unwrap(), &b).unwrap();
        assert_eq!(max_abs_diff(&sum, &expected), 0.0);
    }
}
