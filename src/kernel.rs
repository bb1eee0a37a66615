//! The dense matrix products of the simulator, on both cores and with the same bits whatever the
//! thread count: digital layers, momentum buffers, learners' backward products, and the
//! privileged transposed product of a crossbar (`bp-oracle`). They use no room of the crate, so
//! every room may use them.
//!
//! Transposed products `aᵀ·b` ([`par_tr_matmul`], [`lane_dot`]) keep the summation order of
//! nalgebra's `dot` — for each output, eight partial sums over i ≡ 0..7 (mod 8), combined as
//! ((s₀+s₄) + (s₁+s₅)) + (s₂+s₆) + (s₃+s₇), then the remaining terms in order — vectorised
//! across outputs instead of within one dot product, so they are bit-identical to
//! `a.tr_mul(b)` and, with no fused multiply-add, to each other on any x86-64 CPU.

use nalgebra::DMatrix;
use rayon::prelude::*;

/// `a · b` with the output's columns split into two fixed halves computed in parallel: both
/// cores for digital products, and the same bits whatever the thread count (the split does not
/// depend on it).
pub fn par_matmul(a: &DMatrix<f32>, b: &DMatrix<f32>) -> DMatrix<f32> {
    let mut out = DMatrix::zeros(a.nrows(), b.ncols());
    par_gemm(&mut out, 1.0, a, b, 0.0);
    out
}

/// `aᵀ · b` without forming aᵀ, bit-identical to nalgebra's `a.tr_mul(b)` (see the module
/// doc) and computed with [`lane_dot`] on both cores; the same bits whatever the thread count.
pub fn par_tr_matmul(a: &DMatrix<f32>, b: &DMatrix<f32>) -> DMatrix<f32> {
    assert_eq!(
        a.nrows(),
        b.nrows(),
        "par_tr_matmul: a has {} rows, b has {}",
        a.nrows(),
        b.nrows()
    );
    let (n, m, nb) = (a.nrows(), a.ncols(), b.ncols());
    if nb < LANE_BLOCK || a.len() < 4096 {
        // Too few outputs to vectorise across them: nalgebra's own dot (the same order).
        return a.tr_mul(b);
    }
    // The rows of b (across the batch) are the vectorised operand, a's columns the broadcast one.
    let bt = b.transpose();
    let rows: Vec<&[f32]> = bt.as_slice().chunks(nb).collect();
    let out = lane_dot(&rows, nb, 1.0, a.as_slice(), n, m);
    // `out` is nb × m column-major, i.e. (aᵀ·b)ᵀ.
    DMatrix::from_row_slice(m, nb, &out)
}

/// Widest block of outputs computed together by [`lane_dot`].
const LANE_BLOCK: usize = 16;

/// `(scale·R)ᵀ·B`, width × nq column-major, for R the n × width matrix `R[i][p] = rows[i][p]`
/// and B the n × nq matrix `B[i][q] = b[q·ldb + i]` (n = `rows.len()`): each output
/// `Σᵢ (R[i][p]·scale)·B[i][q]` summed in nalgebra's `dot` order (module doc), so that it equals
/// `(scale·R).tr_mul(&B)` bit for bit. The rows of R may live anywhere (a crossbar's tiles).
/// Blocks of outputs along p are computed in parallel, each on its own block, so the bits do
/// not depend on the thread count; on x86-64 the widest vector unit available is used, which
/// changes no bit (no fused multiply-add, no reassociation).
pub fn lane_dot(
    rows: &[&[f32]],
    width: usize,
    scale: f32,
    b: &[f32],
    ldb: usize,
    nq: usize,
) -> Vec<f32> {
    let n = rows.len();
    assert!(
        rows.iter().all(|r| r.len() >= width),
        "lane_dot: a row is shorter than width"
    );
    assert!(
        nq == 0 || b.len() >= (nq - 1) * ldb + n,
        "lane_dot: b holds {} values, needs {}",
        b.len(),
        (nq.max(1) - 1) * ldb + n
    );
    let mut out = vec![0f32; width * nq];
    if width == 0 || nq == 0 {
        return out;
    }
    if width * 4 <= nq {
        // B is the large operand (a weight matrix, R a transposed batch): chunks of its columns
        // in parallel, each loaded once and used for every output of R.
        const CHUNK: usize = 12;
        out.par_chunks_mut(width * CHUNK)
            .enumerate()
            .for_each(|(c, part)| {
                let q0 = c * CHUNK;
                let nqc = part.len() / width;
                lanes::segment(rows, 0, width, scale, &b[q0 * ldb..], ldb, nqc, part);
            });
        return out;
    }
    // Segments of whole blocks, a fixed partition (independent of the thread count).
    let segment = (LANE_BLOCK * 4).max(width.div_ceil(64).next_multiple_of(LANE_BLOCK));
    let starts: Vec<usize> = (0..width).step_by(segment).collect();
    let parts: Vec<Vec<f32>> = starts
        .par_iter()
        .map(|&p0| {
            let w = segment.min(width - p0);
            let mut part = vec![0f32; w * nq];
            lanes::segment(rows, p0, w, scale, b, ldb, nq, &mut part);
            part
        })
        .collect();
    for (&p0, part) in starts.iter().zip(&parts) {
        let w = part.len() / nq;
        for q in 0..nq {
            out[q * width + p0..q * width + p0 + w].copy_from_slice(&part[q * w..(q + 1) * w]);
        }
    }
    out
}

/// The blocks of [`lane_dot`], compiled for the widest vector unit the CPU has.
mod lanes {
    /// Computes outputs p0..p0+w (all q) into `part` (q-major, w per q).
    #[allow(clippy::too_many_arguments)]
    pub(super) fn segment(
        rows: &[&[f32]],
        p0: usize,
        w: usize,
        scale: f32,
        b: &[f32],
        ldb: usize,
        nq: usize,
        part: &mut [f32],
    ) {
        #[cfg(target_arch = "x86_64")]
        {
            if std::arch::is_x86_feature_detected!("avx512f") {
                // SAFETY: the CPU has the feature enabled for this function.
                unsafe { segment_avx512(rows, p0, w, scale, b, ldb, nq, part) };
                return;
            }
            if std::arch::is_x86_feature_detected!("avx2") {
                // SAFETY: as above.
                unsafe { segment_avx2(rows, p0, w, scale, b, ldb, nq, part) };
                return;
            }
        }
        segment_generic::<8, 1>(rows, p0, w, scale, b, ldb, nq, part);
    }

    /// `segment_generic` compiled with a target feature (W outputs per vector, Q columns of b
    /// per load).
    macro_rules! segment_with {
        ($name:ident, $feature:literal, $w:literal, $q:literal) => {
            #[cfg(target_arch = "x86_64")]
            #[target_feature(enable = $feature)]
            #[allow(clippy::too_many_arguments)]
            unsafe fn $name(
                rows: &[&[f32]],
                p0: usize,
                w: usize,
                scale: f32,
                b: &[f32],
                ldb: usize,
                nq: usize,
                part: &mut [f32],
            ) {
                segment_generic::<$w, $q>(rows, p0, w, scale, b, ldb, nq, part);
            }
        };
    }
    segment_with!(segment_avx512, "avx512f", 16, 3);
    segment_with!(segment_avx2, "avx2", 8, 1);

    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn segment_generic<const W: usize, const Q: usize>(
        rows: &[&[f32]],
        p0: usize,
        w: usize,
        scale: f32,
        b: &[f32],
        ldb: usize,
        nq: usize,
        part: &mut [f32],
    ) {
        let mut p = 0;
        while p < w {
            if w - p >= W {
                if scale == 1.0 {
                    block::<W, Q, false>(rows, p0, p, scale, b, ldb, nq, part, w);
                } else {
                    block::<W, Q, true>(rows, p0, p, scale, b, ldb, nq, part, w);
                }
                p += W;
            } else {
                block::<1, 1, true>(rows, p0, p, scale, b, ldb, nq, part, w);
                p += 1;
            }
        }
    }

    /// W outputs p0+p..p0+p+W for every q, written at `out[q·ldo + p..]`: eight partial sums per
    /// output over i ≡ l (mod 8), then ((s₀+s₄) + (s₁+s₅)) + (s₂+s₆) + (s₃+s₇) and the tail, as
    /// nalgebra's `dot` does. Q columns of b at a time share each load of R.
    #[inline(always)]
    #[allow(clippy::too_many_arguments)]
    fn block<const W: usize, const Q: usize, const SCALED: bool>(
        rows: &[&[f32]],
        p0: usize,
        p: usize,
        scale: f32,
        b: &[f32],
        ldb: usize,
        nq: usize,
        out: &mut [f32],
        ldo: usize,
    ) {
        let mut q = 0;
        while q < nq {
            if nq - q >= Q {
                block_q::<W, Q, SCALED>(rows, p0 + p, scale, b, ldb, q, out, ldo, p);
                q += Q;
            } else {
                block_q::<W, 1, SCALED>(rows, p0 + p, scale, b, ldb, q, out, ldo, p);
                q += 1;
            }
        }
    }

    #[inline(always)]
    #[allow(clippy::needless_range_loop, clippy::too_many_arguments)] // mirrors nalgebra's loop
    fn block_q<const W: usize, const Q: usize, const SCALED: bool>(
        rows: &[&[f32]],
        p0: usize,
        scale: f32,
        b: &[f32],
        ldb: usize,
        q0: usize,
        out: &mut [f32],
        ldo: usize,
        off: usize,
    ) {
        let n = rows.len();
        let load = |i: usize| -> [f32; W] {
            let r: &[f32; W] = rows[i][p0..p0 + W].try_into().expect("W values");
            let mut v = *r;
            if SCALED {
                for x in &mut v {
                    *x *= scale;
                }
            }
            v
        };
        let bq: [&[f32]; Q] = std::array::from_fn(|k| &b[(q0 + k) * ldb..(q0 + k) * ldb + n]);
        let mut acc = [[[0f32; W]; 8]; Q];
        let mut i = 0;
        while n - i >= 8 {
            for l in 0..8 {
                let r = load(i + l);
                for k in 0..Q {
                    let bv = bq[k][i + l];
                    for t in 0..W {
                        acc[k][l][t] += r[t] * bv;
                    }
                }
            }
            i += 8;
        }
        for k in 0..Q {
            let a = &acc[k];
            let mut res = [0f32; W];
            for t in 0..W {
                res[t] += a[0][t] + a[4][t];
                res[t] += a[1][t] + a[5][t];
                res[t] += a[2][t] + a[6][t];
                res[t] += a[3][t] + a[7][t];
            }
            for m in i..n {
                let r = load(m);
                for t in 0..W {
                    res[t] += r[t] * bq[k][m];
                }
            }
            out[(q0 + k) * ldo + off..(q0 + k) * ldo + off + W].copy_from_slice(&res);
        }
    }
}

/// `c ← alpha·a·b + beta·c` in place, with c's columns split into two fixed halves computed in
/// parallel (see [`par_matmul`]).
pub fn par_gemm(c: &mut DMatrix<f32>, alpha: f32, a: &DMatrix<f32>, b: &DMatrix<f32>, beta: f32) {
    let (rows, n) = (c.nrows(), c.ncols());
    if n < 16 || a.len() < 4096 {
        c.gemm(alpha, a, b, beta);
        return;
    }
    let half = n / 2;
    let (left, right) = c.as_mut_slice().split_at_mut(rows * half);
    rayon::join(
        || {
            let mut l = nalgebra::DMatrixViewMut::from_slice(left, rows, half);
            l.gemm(alpha, a, &b.columns(0, half), beta);
        },
        || {
            let mut r = nalgebra::DMatrixViewMut::from_slice(right, rows, n - half);
            r.gemm(alpha, a, &b.columns(half, n - half), beta);
        },
    );
}
