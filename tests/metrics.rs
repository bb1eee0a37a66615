//! Plasticity metrics (reference notes §6.3 and §9 item 24): stable rank, effective rank, dead
//! fraction and mean |w|, on matrices whose answers are known exactly.

use mortalsim::net::metrics::{
    dead_fraction, effective_rank, mean_abs, singular_values, stable_rank,
};
use mortalsim::random::{normal, stream};
use nalgebra::DMatrix;
use proptest::prelude::*;

/// A `rows × k` matrix with orthonormal columns: the Q of a Gaussian matrix's QR.
fn orthonormal(rows: usize, k: usize, seed: u64) -> DMatrix<f64> {
    let mut rng = stream(seed, &[rows as u64, k as u64]);
    let g = DMatrix::from_fn(rows, k, |_, _| f64::from(normal(&mut rng)));
    g.qr().q()
}

/// U·diag(s)·Vᵀ with random orthonormal U (`rows × k`) and V (`cols × k`), `k = s.len()`.
fn with_singular_values(rows: usize, cols: usize, s: &[f64], seed: u64) -> DMatrix<f32> {
    let k = s.len();
    let u = orthonormal(rows, k, seed);
    let v = orthonormal(cols, k, seed + 1);
    let m = u * DMatrix::from_diagonal(&nalgebra::DVector::from_column_slice(s)) * v.transpose();
    m.map(|x| x as f32)
}

#[test]
fn stable_rank_of_the_identity() {
    // Σσ = n, each σ = 1: the 99 % threshold is reached at k = ⌈0.99 n⌉, which is n for n < 100.
    for n in [1, 2, 3, 5, 10, 37, 64, 99] {
        assert_eq!(stable_rank(&DMatrix::identity(n, n)), n, "I_{n}");
    }
    assert_eq!(stable_rank(&DMatrix::identity(100, 100)), 99);
    assert_eq!(stable_rank(&DMatrix::identity(200, 200)), 198);
    // Scaling and rectangular padding change nothing.
    assert_eq!(stable_rank(&(DMatrix::identity(7, 7) * 3.5)), 7);
    assert_eq!(stable_rank(&DMatrix::identity(12, 7)), 7);
}

#[test]
fn effective_rank_of_k_equal_singular_values_is_k() {
    // Tolerance 1e-4: the f32 rounding of U·diag·Vᵀ leaves spurious σ of order 1e-7·σ, whose
    // entropy terms are a few 1e-6 at most.
    for (rows, cols, k, value) in [
        (30, 20, 1, 1.0),
        (30, 20, 3, 2.5),
        (20, 30, 7, 0.01),
        (25, 25, 25, 4.0),
        (64, 16, 16, 1.0),
    ] {
        let m = with_singular_values(rows, cols, &vec![value; k], 7 + k as u64);
        let e = effective_rank(&m);
        assert!((e - k as f64).abs() < 1e-4, "{rows}×{cols}, k = {k}: {e}");
        assert_eq!(stable_rank(&m), k, "{rows}×{cols}, k = {k}");
    }
    for n in [1, 4, 150] {
        let e = effective_rank(&DMatrix::identity(n, n));
        assert!((e - n as f64).abs() < 1e-9 * n as f64, "I_{n}: {e}");
    }
}

#[test]
fn ranks_follow_the_spectrum() {
    // σ = (3, 1): p = (¾, ¼), erank = exp(H(¾, ¼)); stable rank 2 (¾ < 0.99).
    let m = with_singular_values(5, 4, &[3.0, 1.0], 3);
    let h: f64 = -(0.75f64 * 0.75f64.ln() + 0.25 * 0.25f64.ln());
    assert!((effective_rank(&m) - h.exp()).abs() < 1e-5);
    assert_eq!(stable_rank(&m), 2);
    // One dominant σ: 1000 against nine 1s → 1000/1009 ≈ 0.991 ≥ 0.99, stable rank 1.
    let mut s = vec![1000.0];
    s.extend([1.0; 9]);
    assert_eq!(stable_rank(&with_singular_values(12, 10, &s, 5)), 1);
    let sv = singular_values(&with_singular_values(6, 6, &[5.0, 2.0, 1.0], 9)).unwrap();
    assert_eq!(sv.len(), 6);
    for (got, want) in sv.iter().zip([5.0, 2.0, 1.0, 0.0, 0.0, 0.0]) {
        assert!((got - want).abs() < 1e-5, "{sv:?}");
    }
}

#[test]
fn degenerate_matrices_give_documented_values_not_panics() {
    let zero = DMatrix::<f32>::zeros(4, 3);
    assert_eq!(stable_rank(&zero), 0);
    assert_eq!(effective_rank(&zero), 0.0);
    let empty = DMatrix::<f32>::zeros(0, 3);
    assert_eq!(stable_rank(&empty), 0);
    assert_eq!(effective_rank(&empty), 0.0);
    assert!(singular_values(&empty).unwrap().is_empty());
    assert!(mean_abs(&empty).is_nan());
    assert!(dead_fraction(&empty).is_nan());
    assert!(dead_fraction(&DMatrix::<f32>::zeros(3, 0)).is_nan());
    let mut bad = DMatrix::<f32>::identity(3, 3);
    bad[(1, 2)] = f32::NAN;
    assert!(singular_values(&bad).unwrap_err().contains("non-finite"));
    assert_eq!(stable_rank(&bad), 0);
    assert!(effective_rank(&bad).is_nan());
    bad[(1, 2)] = f32::INFINITY;
    assert!(singular_values(&bad).is_err());
}

#[test]
fn dead_fraction_counts_rows_that_are_zero_on_every_sample() {
    for n in [1, 2, 7, 100] {
        let h = DMatrix::<f32>::zeros(n, 50);
        assert_eq!(dead_fraction(&h), 1.0, "all zero, {n} units");
        let mut one_live = h.clone();
        one_live[(n / 2, 49)] = 0.25;
        assert_eq!(dead_fraction(&one_live), (n - 1) as f64 / n as f64);
    }
    // Negative activations are live (only exact zeros count), and −0.0 is zero.
    let mut h = DMatrix::<f32>::zeros(4, 3);
    h[(0, 0)] = -1.0;
    h[(1, 1)] = -0.0;
    h[(2, 2)] = 1e-30;
    assert_eq!(dead_fraction(&h), 0.5);
}

#[test]
fn mean_abs_is_the_mean_magnitude() {
    let m = DMatrix::from_row_slice(2, 3, &[1.0f32, -2.0, 3.0, -4.0, 0.0, 0.5]);
    assert_eq!(mean_abs(&m), 10.5 / 6.0);
    assert_eq!(mean_abs(&DMatrix::<f32>::zeros(3, 3)), 0.0);
}

fn matrix() -> impl Strategy<Value = DMatrix<f32>> {
    (1usize..10, 1usize..10).prop_flat_map(|(r, c)| {
        proptest::collection::vec(-10.0f32..10.0, r * c)
            .prop_map(move |v| DMatrix::from_vec(r, c, v))
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]

    #[test]
    fn stable_rank_is_at_most_the_smaller_dimension(m in matrix()) {
        let k = stable_rank(&m);
        prop_assert!(k <= m.nrows().min(m.ncols()));
        prop_assert!(k >= 1 || m.iter().all(|&x| x == 0.0));
    }

    #[test]
    fn effective_rank_is_scale_invariant(m in matrix(), scale in 1e-3f32..1e3) {
        // Scaling in f32 rounds each entry by ≤ 6e-8 relatively; erank moves by ≪ 1e-4.
        let e = effective_rank(&m);
        let s = effective_rank(&(m.clone() * scale));
        prop_assert!((e - s).abs() <= 1e-4 * e.max(1.0), "{e} vs {s} at ×{scale}");
        prop_assert!(e <= m.nrows().min(m.ncols()) as f64 + 1e-9);
        prop_assert!(e >= 1.0 - 1e-9 || m.iter().all(|&x| x == 0.0));
        prop_assert_eq!(stable_rank(&m), stable_rank(&(m.clone() * 2.0)));
    }
}
