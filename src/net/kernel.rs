//! The digital matrix products of the periphery and of digital layers, on both cores and with
//! the same bits whatever the thread count. Layers, momentum buffers and learners use them; they
//! use nothing of the network.

use nalgebra::DMatrix;

/// `a · b` with the output's columns split into two fixed halves computed in parallel: both
/// cores for digital products, and the same bits whatever the thread count (the split does not
/// depend on it).
pub fn par_matmul(a: &DMatrix<f32>, b: &DMatrix<f32>) -> DMatrix<f32> {
    let mut out = DMatrix::zeros(a.nrows(), b.ncols());
    par_gemm(&mut out, 1.0, a, b, 0.0);
    out
}

/// `aᵀ · b` without forming aᵀ, with the output's columns split into two fixed halves computed in
/// parallel (see [`par_matmul`]).
pub fn par_tr_matmul(a: &DMatrix<f32>, b: &DMatrix<f32>) -> DMatrix<f32> {
    let n = b.ncols();
    if n < 16 || a.len() < 4096 {
        return a.tr_mul(b);
    }
    let half = n / 2;
    let (left, right) = rayon::join(
        || a.tr_mul(&b.columns(0, half)),
        || a.tr_mul(&b.columns(half, n - half)),
    );
    let mut out = DMatrix::zeros(a.ncols(), n);
    out.columns_mut(0, half).copy_from(&left);
    out.columns_mut(half, n - half).copy_from(&right);
    out
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
