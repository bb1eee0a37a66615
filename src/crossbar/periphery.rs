//! The forward read chain of a tile (aihwkit `IOParameters`, reference notes §2.4):
//!
//! 1. noise management: each input vector is divided by α (its largest magnitude for `abs-max`,
//!    `nm_thres` for `constant`, 1 for `none`);
//! 2. DAC: clip to ±`inp_bound`, round to the step `2·inp_bound/(2^dac_bits − 2)`;
//! 3. one matrix product with the cells' apparent weights for the whole batch;
//! 4. read noise: y_i += σ·‖x‖·ξ (constant per cell) or √(Σ_j σ_ij² x_j²)·ξ (per-cell σ);
//! 5. output noise: y_i += `out_noise`·ξ;
//! 6. ADC: clip to ±`out_bound`, round to the step `2·out_bound/(2^adc_bits − 2)`;
//! 7. bound management (`iterative`): a vector whose output reached the bound is read again with
//!    its input halved, until nothing saturates or the reduction would pass `max_bm_factor` or
//!    `max_bm_res`/(DAC step relative to 2·inp_bound) (aihwkit's limits); a vector still saturated
//!    then is returned clipped and counted;
//! 8. the result is scaled back by α/s.
//!
//! With `perfect = true` only step 3 (and read noise, if the device has it) remains: the read is
//! the exact float product.

use crate::device::{Bits, BoundManagement, Device, NoiseManagement, ReadNoiseModel};
use crate::random::Normal;
use nalgebra::DMatrix;
use rand::Rng;

/// The read chain's settings, resolved from a device.
#[derive(Debug, Clone, Copy)]
pub struct Io {
    perfect: bool,
    inp_bound: f32,
    inp_step: Option<(f32, f32)>,
    out_bound: f32,
    out_step: Option<(f32, f32)>,
    out_noise: f32,
    nm: NoiseManagement,
    nm_thres: f32,
    bm: BoundManagement,
    max_bm_factor: f32,
    /// Largest reduction at which another halving is still allowed: max_bm_res/inp_res.
    bm_res_limit: f32,
    read_noise: ReadNoiseModel,
    read_noise_std: f32,
    normal: Normal,
}

/// What one batched read did.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ReadStats {
    /// Vectors read, including re-reads.
    pub vectors: u64,
    /// Re-reads by bound management.
    pub rereads: u64,
    /// Vectors returned with a saturated output (bound management off, or at its limit).
    pub saturated: u64,
    /// Digital operations (scaling in and out).
    pub digital_ops: u64,
}

/// `out = w · x` for row-major `w` (rows × cols) and column-major `x` (cols × n), out rows × n.
/// A large product is split into two fixed halves of x's columns computed in parallel: each
/// output column is computed exactly as without the split, so the bits do not depend on the
/// thread count.
pub fn matmul(w: &[f32], rows: usize, cols: usize, x: &[f32], n: usize, out: &mut [f32]) {
    assert_eq!(w.len(), rows * cols);
    assert_eq!(x.len(), cols * n);
    assert_eq!(out.len(), rows * n);
    if rows == 0 || n == 0 {
        return;
    }
    if cols == 0 {
        out.fill(0.0);
        return;
    }
    if n >= 16 && rows * cols * n >= 1 << 20 {
        let half = n / 2;
        let (x1, x2) = x.split_at(cols * half);
        let (o1, o2) = out.split_at_mut(rows * half);
        rayon::join(
            || sgemm_rows(w, rows, cols, x1, half, o1),
            || sgemm_rows(w, rows, cols, x2, n - half, o2),
        );
    } else {
        sgemm_rows(w, rows, cols, x, n, out);
    }
}

fn sgemm_rows(w: &[f32], rows: usize, cols: usize, x: &[f32], n: usize, out: &mut [f32]) {
    // SAFETY: the slices hold exactly the strided extents given (checked by the caller).
    unsafe {
        matrixmultiply::sgemm(
            rows,
            cols,
            n,
            1.0,
            w.as_ptr(),
            cols as isize,
            1,
            x.as_ptr(),
            1,
            cols as isize,
            0.0,
            out.as_mut_ptr(),
            1,
            rows as isize,
        );
    }
}

const ROUND_MAGIC: f32 = 12_582_912.0;

/// Clips to ±bound and rounds to the nearest multiple of `step` (ties to even);
/// `inv` is 1/step.
#[inline]
fn quantize(v: f32, step: Option<(f32, f32)>, bound: f32) -> f32 {
    let c = v.clamp(-bound, bound);
    match step {
        // Adding and removing 1.5·2²³ rounds to the nearest integer (ties to even) in plain float
        // arithmetic, which vectorises; exact while |c/s| < 2²² (converters have ≤ 16 bits).
        Some((s, inv)) => ((c * inv + ROUND_MAGIC - ROUND_MAGIC) * s).clamp(-bound, bound),
        None => c,
    }
}

/// Reusable buffers of a tile's reads, so that a read allocates only its result.
#[derive(Debug, Clone, Default)]
pub struct Scratch {
    xq: Vec<f32>,
    ys: Vec<f32>,
}

impl Io {
    /// The chain of `dev` for forward products.
    pub fn new(dev: &Device) -> Io {
        let p = &dev.spec.periphery;
        Io::with_converter(dev, p.adc_bits, p.out_bound, p.out_noise)
    }

    /// The chain of `dev` in its readout mode (`[readout]`): the readout's ADC bits and output
    /// bound, and the output noise of an integration over k read cycles, `out_noise`/√k (see
    /// [`crate::device::ReadoutSection`]). With the section's defaults it equals [`Io::new`].
    pub fn readout(dev: &Device) -> Io {
        let p = &dev.spec.periphery;
        let ro = &dev.spec.readout;
        Io::with_converter(
            dev,
            ro.adc_bits.unwrap_or(p.adc_bits),
            ro.out_bound.unwrap_or(p.out_bound),
            // √1 = 1 exactly: the default divides by 1 and keeps the forward noise bit for bit.
            p.out_noise / ro.integration_cycles.sqrt(),
        )
    }

    /// The chain of `dev` with the ADC `adc_bits` over ±`out_bound` and output noise
    /// `out_noise` (the rest from the periphery).
    fn with_converter(dev: &Device, adc_bits: Bits, out_bound: f64, out_noise: f64) -> Io {
        let p = &dev.spec.periphery;
        let inp_bound = p.inp_bound as f32;
        let out_bound = out_bound as f32;
        Io {
            perfect: p.perfect,
            inp_bound,
            inp_step: p
                .dac_bits
                .relative_step()
                .map(|s| s * 2.0 * inp_bound)
                .filter(|s| s.is_finite())
                .map(|s| (s, 1.0 / s)),
            out_bound,
            out_step: adc_bits
                .relative_step()
                .map(|s| s * 2.0 * out_bound)
                .filter(|s| s.is_finite())
                .map(|s| (s, 1.0 / s)),
            out_noise: out_noise as f32,
            nm: p.noise_management,
            nm_thres: p.nm_thres as f32,
            bm: p.bound_management,
            max_bm_factor: p.max_bm_factor as f32,
            bm_res_limit: match p.dac_bits.relative_step() {
                Some(r) => (p.max_bm_res / (2.0 * r as f64)) as f32,
                None => f32::INFINITY,
            },
            read_noise: dev.spec.read_noise.model,
            read_noise_std: dev.spec.read_noise.std as f32,
            normal: Normal::default(),
        }
    }

    /// DAC step (None when unquantised or perfect).
    pub fn input_step(&self) -> Option<f32> {
        self.inp_step.filter(|_| !self.perfect).map(|s| s.0)
    }

    /// ADC step (None when unquantised or perfect).
    pub fn output_step(&self) -> Option<f32> {
        self.out_step.filter(|_| !self.perfect).map(|s| s.0)
    }

    /// Adds read noise to `y` (rows × n, column-major) for inputs `xq` (cols × n).
    #[allow(clippy::too_many_arguments)]
    fn add_read_noise<R: Rng + ?Sized>(
        &self,
        read_var: &[f32],
        rows: usize,
        cols: usize,
        xq: &[f32],
        n: usize,
        y: &mut [f32],
        rng: &mut R,
    ) {
        match self.read_noise {
            ReadNoiseModel::None => {}
            ReadNoiseModel::Constant => {
                if self.read_noise_std > 0.0 {
                    for q in 0..n {
                        let norm = xq[q * cols..(q + 1) * cols]
                            .iter()
                            .map(|v| v * v)
                            .sum::<f32>()
                            .sqrt();
                        for v in &mut y[q * rows..(q + 1) * rows] {
                            *v += self.read_noise_std * norm * self.normal.sample(rng);
                        }
                    }
                }
            }
            ReadNoiseModel::Relative | ReadNoiseModel::Pcm => {
                if read_var.is_empty() {
                    return;
                }
                let x2: Vec<f32> = xq.iter().map(|v| v * v).collect();
                let mut var = vec![0f32; rows * n];
                matmul(read_var, rows, cols, &x2, n, &mut var);
                for (v, s2) in y.iter_mut().zip(&var) {
                    *v += s2.max(0.0).sqrt() * self.normal.sample(rng);
                }
            }
        }
    }

    /// Reads batch `x` (cols × batch) through the chain with apparent weights `w` (row-major).
    #[allow(clippy::too_many_arguments)]
    pub fn read<R: Rng + ?Sized>(
        &self,
        scratch: &mut Scratch,
        w: &[f32],
        read_var: &[f32],
        rows: usize,
        cols: usize,
        x: &DMatrix<f32>,
        rng: &mut R,
    ) -> (DMatrix<f32>, ReadStats) {
        let batch = x.ncols();
        let mut y = DMatrix::<f32>::zeros(rows, batch);
        let mut stats = ReadStats {
            vectors: batch as u64,
            ..Default::default()
        };
        if self.perfect {
            matmul(w, rows, cols, x.as_slice(), batch, y.as_mut_slice());
            self.add_read_noise(
                read_var,
                rows,
                cols,
                x.as_slice(),
                batch,
                y.as_mut_slice(),
                rng,
            );
            return (y, stats);
        }
        let xs = x.as_slice();
        let alpha: Vec<f32> = (0..batch)
            .map(|b| match self.nm {
                NoiseManagement::AbsMax => xs[b * cols..(b + 1) * cols]
                    .iter()
                    .fold(0f32, |m, v| m.max(v.abs())),
                NoiseManagement::Constant => self.nm_thres,
                NoiseManagement::None => 1.0,
            })
            .collect();
        let mut scale = vec![1f32; batch];
        // Vectors with α = 0 read nothing: their scaled-back output is 0.
        let mut pending: Vec<usize> = (0..batch).filter(|&b| alpha[b] > 0.0).collect();
        let mut first = true;
        while !pending.is_empty() {
            let m = pending.len();
            if !first {
                stats.vectors += m as u64;
                stats.rereads += m as u64;
            }
            first = false;
            let xq = &mut scratch.xq;
            xq.resize(cols * m, 0.0);
            for (q, &b) in pending.iter().enumerate() {
                let s = scale[b] / alpha[b];
                let src = &xs[b * cols..(b + 1) * cols];
                let dst = &mut xq[q * cols..(q + 1) * cols];
                if s.is_finite() {
                    for (d, v) in dst.iter_mut().zip(src) {
                        *d = quantize(v * s, self.inp_step, self.inp_bound);
                    }
                } else {
                    // A subnormal α (e.g. a saturated softmax's error, ~1e-40) overflows 1/α;
                    // v/α stays within [−1, 1] (0·∞ would be NaN and poison every output).
                    for (d, v) in dst.iter_mut().zip(src) {
                        *d = quantize(v / alpha[b] * scale[b], self.inp_step, self.inp_bound);
                    }
                }
            }
            let ys = &mut scratch.ys;
            ys.resize(rows * m, 0.0);
            matmul(w, rows, cols, xq, m, ys);
            self.add_read_noise(read_var, rows, cols, xq, m, ys, rng);
            stats.digital_ops += (m * (2 * cols + rows)) as u64;
            if self.out_noise > 0.0 {
                self.normal.add_scaled(ys, self.out_noise, rng);
            }
            let mut again = Vec::new();
            let yd = y.as_mut_slice();
            for (q, &b) in pending.iter().enumerate() {
                let col = &ys[q * rows..(q + 1) * rows];
                let saturated = col
                    .iter()
                    .fold(false, |s, v| s | (v.abs() >= self.out_bound));
                let back = alpha[b] / scale[b];
                for (d, v) in yd[b * rows..(b + 1) * rows].iter_mut().zip(col) {
                    *d = quantize(*v, self.out_step, self.out_bound) * back;
                }
                if saturated {
                    // As aihwkit: halve again while the reduction so far is below max_bm_factor
                    // and at most max_bm_res/inp_res.
                    let reduction = 1.0 / scale[b];
                    if self.bm == BoundManagement::Iterative
                        && reduction < self.max_bm_factor
                        && reduction <= self.bm_res_limit
                    {
                        scale[b] *= 0.5;
                        again.push(b);
                    } else {
                        stats.saturated += 1;
                    }
                }
            }
            pending = again;
        }
        (y, stats)
    }
}
