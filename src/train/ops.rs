//! Fused CPU operations with explicit backward passes, for the training
//! forward pass.
//!
//! The same functions composed from plain candle ops (the reference path of
//! [`super::lora::TrainNet`], selected with `set_fused(false)`) spend most of
//! their time outside matrix products: candle's element-wise passes over the
//! `(heads, seq, seq)` attention matrices (scale, mask, max, exp, sum,
//! divide, and twice as many in the backward pass), the strided
//! `narrow`/`cat` of interleaved RoPE, and the gradient of every frozen
//! weight matrix, which candle's matmul backward computes although nothing
//! uses it. Each op here does one of those jobs in one pass, and the tests
//! check its values and gradients against the composed reference.

use std::sync::Arc;

use candle_core::backend::BackendStorage;
use candle_core::{CpuStorage, CustomOp1, CustomOp2, Layout, Result, Shape, Storage, Tensor};
use rayon::prelude::*;

use crate::model::kernels::{cpu_f32, softmax_row_dispatch};

/// `x · Wᵀ` for a frozen `W` `(out, in)`: the backward pass gives `x` its
/// gradient `g · W` and skips `W`'s.
struct FrozenLinear {
    w: Tensor,
}

impl CustomOp1 for FrozenLinear {
    fn name(&self) -> &'static str {
        "rca-frozen-linear"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let (m, k) = layout.shape().dims2()?;
        let (n, k2) = self.w.dims2()?;
        if k != k2 {
            candle_core::bail!("frozen-linear: x is ({m}, {k}) but W is ({n}, {k2})");
        }
        let (w_storage, w_layout) = self.w.storage_and_layout();
        let Storage::Cpu(w) = &*w_storage else {
            candle_core::bail!("frozen-linear: W is not on the CPU");
        };
        let out = storage.matmul(w, (1, m, n, k), layout, &w_layout.transpose(0, 1)?)?;
        Ok((out, Shape::from((m, n))))
    }

    fn bwd(&self, _arg: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        Ok(Some(grad.matmul(&self.w)?))
    }
}

/// `x · Wᵀ` with `W` `(out, in)` frozen; `x` is `(rows, in)`.
pub fn frozen_linear(x: &Tensor, w: &Tensor) -> Result<Tensor> {
    x.contiguous()?.apply_op1(FrozenLinear { w: w.clone() })
}

/// Scaled causal softmax over `(groups, rep · seq, seq)` attention scores:
/// row `r` is query position `r % seq` and sees keys `0..=r % seq`.
struct CausalSoftmax {
    seq: usize,
    scale: f32,
}

impl CustomOp1 for CausalSoftmax {
    fn name(&self) -> &'static str {
        "rca-train-causal-softmax"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let src = cpu_f32(storage, layout, self.name())?;
        let kv = layout.shape().dims().last().copied().unwrap_or(0);
        if kv != self.seq {
            candle_core::bail!("causal-softmax: rows of {kv}, expected {}", self.seq);
        }
        let mut dst = src.to_vec();
        dst.par_chunks_mut(kv)
            .enumerate()
            .for_each(|(row, values)| {
                softmax_row_dispatch(values, row % self.seq + 1, self.scale);
            });
        Ok((CpuStorage::F32(dst), layout.shape().clone()))
    }

    fn bwd(&self, _arg: &Tensor, res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let grad = grad.contiguous()?;
        Ok(Some(res.apply_op2_no_bwd(
            &grad,
            &SoftmaxGrad {
                seq: self.seq,
                scale: self.scale,
            },
        )?))
    }
}

/// `scale · P ⊙ (dP − Σ_row dP ⊙ P)`: the softmax's input gradient, from its
/// output `P` and output gradient `dP`, over the causal part of each row.
struct SoftmaxGrad {
    seq: usize,
    scale: f32,
}

impl CustomOp2 for SoftmaxGrad {
    fn name(&self) -> &'static str {
        "rca-train-softmax-grad"
    }

    fn cpu_fwd(
        &self,
        p: &CpuStorage,
        p_layout: &Layout,
        g: &CpuStorage,
        g_layout: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let p = cpu_f32(p, p_layout, self.name())?;
        let g = cpu_f32(g, g_layout, self.name())?;
        let kv = self.seq;
        let mut dst = vec![0f32; p.len()];
        dst.par_chunks_mut(kv).enumerate().for_each(|(row, out)| {
            let valid = row % self.seq + 1;
            let p = &p[row * kv..row * kv + valid];
            let g = &g[row * kv..row * kv + valid];
            let dot: f32 = p.iter().zip(g).map(|(a, b)| a * b).sum();
            for ((o, &pi), &gi) in out.iter_mut().zip(p).zip(g) {
                *o = self.scale * pi * (gi - dot);
            }
        });
        Ok((CpuStorage::F32(dst), p_layout.shape().clone()))
    }
}

/// `softmax(scale · att + causal mask)` over the last dimension of
/// `(groups, rep · seq, seq)` scores.
pub fn causal_softmax(att: &Tensor, seq: usize, scale: f32) -> Result<Tensor> {
    att.contiguous()?.apply_op1(CausalSoftmax { seq, scale })
}

/// Interleaved RoPE (pairs `2i, 2i+1`) on `(heads, seq, hd)` at positions
/// `0..seq`; its backward pass is the inverse rotation.
struct Rope {
    cos: Arc<[f32]>,
    sin: Arc<[f32]>,
    half: usize,
    inverse: bool,
}

impl CustomOp1 for Rope {
    fn name(&self) -> &'static str {
        "rca-train-rope"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let src = cpu_f32(storage, layout, self.name())?;
        let (_, seq, hd) = layout.shape().dims3()?;
        let half = self.half;
        if hd != 2 * half || seq * half > self.cos.len() {
            candle_core::bail!("rope: bad shape {:?}", layout.shape());
        }
        let sign = if self.inverse { -1.0f32 } else { 1.0 };
        let mut dst = vec![0f32; src.len()];
        dst.par_chunks_mut(seq * hd)
            .zip(src.par_chunks(seq * hd))
            .for_each(|(out, x)| {
                for t in 0..seq {
                    let cos = &self.cos[t * half..(t + 1) * half];
                    let sin = &self.sin[t * half..(t + 1) * half];
                    let x = &x[t * hd..(t + 1) * hd];
                    let y = &mut out[t * hd..(t + 1) * hd];
                    for i in 0..half {
                        let (a, b) = (x[2 * i], x[2 * i + 1]);
                        let s = sign * sin[i];
                        y[2 * i] = a * cos[i] - b * s;
                        y[2 * i + 1] = a * s + b * cos[i];
                    }
                }
            });
        Ok((CpuStorage::F32(dst), layout.shape().clone()))
    }

    fn bwd(&self, _arg: &Tensor, _res: &Tensor, grad: &Tensor) -> Result<Option<Tensor>> {
        let inverse = Rope {
            cos: self.cos.clone(),
            sin: self.sin.clone(),
            half: self.half,
            inverse: !self.inverse,
        };
        Ok(Some(grad.contiguous()?.apply_op1_no_bwd(&inverse)?))
    }
}

/// Interleaved RoPE on `(heads, seq, hd)` at positions `0..seq`, with
/// tables `(positions, hd / 2)` as flat slices.
pub fn rope(x: &Tensor, cos: &Arc<[f32]>, sin: &Arc<[f32]>, half: usize) -> Result<Tensor> {
    x.contiguous()?.apply_op1(Rope {
        cos: cos.clone(),
        sin: sin.clone(),
        half,
        inverse: false,
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::kernels::tests::max_abs_diff;
    use candle_core::{Device, Var, D};

    fn random(shape: &[usize], seed: u64) -> Tensor {
        let mut rng = crate::train::Rng::new(seed);
        let n: usize = shape.iter().product();
        let v: Vec<f32> = (0..n)
            .map(|_| (rng.next_f64() * 2.0 - 1.0) as f32)
            .collect();
        Tensor::from_vec(v, shape, &Device::Cpu).unwrap()
    }

    /// Value and input gradient (against a fixed random output weighting)
    /// of `f` at `x`.
    fn value_and_grad(x: &Tensor, f: impl Fn(&Tensor) -> Tensor) -> (Tensor, Tensor) {
        let var = Var::from_tensor(x).unwrap();
        let y = f(var.as_tensor());
        let weights = random(y.dims(), 99);
        let grads = (&y * &weights)
            .unwrap()
            .sum_all()
            .unwrap()
            .backward()
            .unwrap();
        (y.detach(), grads.get(var.as_tensor()).unwrap().clone())
    }

    #[test]
    fn frozen_linear_matches_matmul_and_its_input_gradient() {
        let x = random(&[7, 12], 1);
        let w = random(&[5, 12], 2);
        let (y1, g1) = value_and_grad(&x, |x| frozen_linear(x, &w).unwrap());
        let (y2, g2) = value_and_grad(&x, |x| x.matmul(&w.t().unwrap()).unwrap());
        assert!(max_abs_diff(&y1, &y2) < 1e-5);
        assert!(max_abs_diff(&g1, &g2) < 1e-5);
    }

    #[test]
    fn causal_softmax_matches_composed_ops_and_gradient() {
        let (groups, rep, seq) = (2, 3, 9);
        let att = random(&[groups, rep * seq, seq], 3);
        let scale = 0.37f32;
        let (y1, g1) = value_and_grad(&att, |a| causal_softmax(a, seq, scale).unwrap());
        let (y2, g2) = value_and_grad(&att, |a| {
            let mask: Vec<f32> = (0..seq)
                .flat_map(|i| (0..seq).map(move |j| if j <= i { 0.0 } else { -1e9 }))
                .collect();
            let mask = Tensor::from_vec(mask, (1, 1, seq, seq), &Device::Cpu).unwrap();
            let a = (a * scale as f64)
                .unwrap()
                .reshape((groups, rep, seq, seq))
                .unwrap()
                .broadcast_add(&mask)
                .unwrap();
            let max = a.max_keepdim(D::Minus1).unwrap().detach();
            let e = a.broadcast_sub(&max).unwrap().exp().unwrap();
            e.broadcast_div(&e.sum_keepdim(D::Minus1).unwrap())
                .unwrap()
                .reshape((groups, rep * seq, seq))
                .unwrap()
        });
        assert!(max_abs_diff(&y1, &y2) < 1e-5, "{}", max_abs_diff(&y1, &y2));
        assert!(max_abs_diff(&g1, &g2) < 1e-5, "{}", max_abs_diff(&g1, &g2));
    }

    #[test]
    fn rope_matches_composed_ops_and_gradient() {
        let (heads, seq, hd) = (3, 5, 8);
        let half = hd / 2;
        let angles: Vec<f64> = (0..seq)
            .flat_map(|p| (0..half).map(move |i| p as f64 * 0.3f64.powi(i as i32)))
            .collect();
        let cos: Arc<[f32]> = angles.iter().map(|a| a.cos() as f32).collect();
        let sin: Arc<[f32]> = angles.iter().map(|a| a.sin() as f32).collect();
        let cos_t = Tensor::from_slice(&cos, (1, seq, half, 1), &Device::Cpu).unwrap();
        let sin_t = Tensor::from_slice(&sin, (1, seq, half, 1), &Device::Cpu).unwrap();
        let x = random(&[heads, seq, hd], 4);
        let (y1, g1) = value_and_grad(&x, |x| rope(x, &cos, &sin, half).unwrap());
        let (y2, g2) = value_and_grad(&x, |x| {
            let pairs = x.reshape((heads, seq, half, 2)).unwrap();
            let a = pairs.narrow(3, 0, 1).unwrap();
            let b = pairs.narrow(3, 1, 1).unwrap();
            let ya = (a.broadcast_mul(&cos_t).unwrap() - b.broadcast_mul(&sin_t).unwrap()).unwrap();
            let yb = (a.broadcast_mul(&sin_t).unwrap() + b.broadcast_mul(&cos_t).unwrap()).unwrap();
            Tensor::cat(&[ya, yb], 3)
                .unwrap()
                .reshape((heads, seq, hd))
                .unwrap()
        });
        assert!(max_abs_diff(&y1, &y2) < 1e-5);
        assert!(max_abs_diff(&g1, &g2) < 1e-5);
    }
}
