//! Plasticity metrics of a layer's weights or activations (Dohare et al., "Loss of plasticity
//! in deep continual learning", Nature 632:768–774, 2024, Methods; code in
//! shibhansh/loss-of-plasticity, `lop/utils/miscellaneous.py`): stable rank, effective rank,
//! the fraction of dead units and the mean weight magnitude.
//!
//! Singular values are computed by nalgebra's SVD in `f64` (the `f32` entries are widened
//! first). A matrix with a non-finite entry has no singular values: [`singular_values`] returns
//! an error, [`stable_rank`] gives 0 and [`effective_rank`] NaN. Nothing here panics.
//!
//! Cost: one SVD without singular vectors, O(m·n·min(m, n)) — about a second for a 1000 × 1000
//! matrix; the caller chooses how often to measure.

use nalgebra::DMatrix;

/// Fraction of Σσ that the [`stable_rank`] must reach (0.99 in Dohare et al.'s code).
pub const STABLE_RANK_FRACTION: f64 = 0.99;

/// The singular values of `m` in descending order (length `min(rows, cols)`; empty for an
/// empty matrix), computed in `f64`. Errors if an entry is NaN or infinite, or if the SVD does
/// not converge.
pub fn singular_values(m: &DMatrix<f32>) -> Result<Vec<f64>, String> {
    if m.is_empty() {
        return Ok(Vec::new());
    }
    if let Some(bad) = m.iter().find(|x| !x.is_finite()) {
        return Err(format!(
            "singular values of a {}×{} matrix with a non-finite entry ({bad})",
            m.nrows(),
            m.ncols()
        ));
    }
    let m64: DMatrix<f64> = m.map(f64::from);
    // A generous cap on the QR sweeps so that no input can loop forever.
    let max_iter = 1000 * m.nrows().max(m.ncols()).max(10);
    let svd = m64
        .try_svd_unordered(false, false, f64::EPSILON, max_iter)
        .ok_or_else(|| {
            format!(
                "the SVD of a {}×{} matrix did not converge in {max_iter} iterations",
                m.nrows(),
                m.ncols()
            )
        })?;
    let mut sv: Vec<f64> = svd.singular_values.iter().map(|s| s.abs()).collect();
    sv.sort_by(|a, b| b.total_cmp(a));
    Ok(sv)
}

/// Stable rank as defined in Dohare et al.'s code (`compute_abs_approximate_rank`, the
/// "approximate rank" of Yang et al. 2020, arXiv 1909.12255, on σ rather than σ²): the smallest
/// number k of the largest singular values whose sum reaches 99 % of Σσ,
/// Σ_{i<k} σ_i ≥ 0.99 Σ_i σ_i (the comparison allows a relative rounding of 1e-12, so that exact
/// ties such as I₁₀₀ → 99 are decided as in exact arithmetic). Unitless count in
/// `0..=min(rows, cols)`; 0 for an empty or all-zero matrix (the original code also returns 0
/// there) and for a matrix with a non-finite entry.
///
/// Because of the 99 % threshold, I_n has stable rank n only for n < 100 (⌈0.99 n⌉ in general).
pub fn stable_rank(m: &DMatrix<f32>) -> usize {
    let Ok(sv) = singular_values(m) else {
        return 0;
    };
    let total: f64 = sv.iter().sum();
    if total <= 0.0 {
        return 0;
    }
    let goal = STABLE_RANK_FRACTION * (1.0 - 1e-12);
    let mut cumulative = 0.0;
    for (k, s) in sv.iter().enumerate() {
        cumulative += s / total;
        if cumulative >= goal {
            return k + 1;
        }
    }
    sv.len()
}

/// Effective rank (Roy & Vetterli, "The effective rank: a measure of effective
/// dimensionality", EUSIPCO 2007; `compute_effective_rank` in Dohare et al.'s code):
/// exp(−Σ_k p_k ln p_k) with p_k = σ_k / Σσ and 0·ln 0 = 0. A real number between 1 and
/// min(rows, cols); equal to k for k equal non-zero singular values; invariant under scaling
/// the matrix. 0 for an empty or all-zero matrix (where the original code returns 1), NaN for a
/// matrix with a non-finite entry.
pub fn effective_rank(m: &DMatrix<f32>) -> f64 {
    let Ok(sv) = singular_values(m) else {
        return f64::NAN;
    };
    let total: f64 = sv.iter().sum();
    if total <= 0.0 {
        return 0.0;
    }
    let entropy: f64 = sv
        .iter()
        .map(|s| s / total)
        .filter(|&p| p > 0.0)
        .map(|p| -p * p.ln())
        .sum();
    entropy.exp()
}

/// Fraction of dead units (Dohare et al. 2024: a ReLU unit is dead when its activation is 0 on
/// every input of a sample — 2000 examples for permuted MNIST). `h` holds activations with one
/// row per unit and one column per sample (the layout of a batch's outputs); the result is the
/// fraction of rows whose entries are all exactly 0, in [0, 1]. NaN when `h` has no row or no
/// column (nothing to judge).
pub fn dead_fraction(h: &DMatrix<f32>) -> f64 {
    if h.nrows() == 0 || h.ncols() == 0 {
        return f64::NAN;
    }
    // Column by column (the storage order): a unit is live once any of its entries is not 0.
    let mut live = vec![false; h.nrows()];
    for column in h.column_iter() {
        for (l, &x) in live.iter_mut().zip(column.iter()) {
            *l |= x != 0.0;
        }
    }
    let dead = live.iter().filter(|&&l| !l).count();
    dead as f64 / h.nrows() as f64
}

/// Mean magnitude of the entries, (1/N) Σ|m_ij| in `f64` (Dohare et al.'s "average weight
/// magnitude"; in the units of the entries, e.g. weights). NaN for an empty matrix (as
/// `tensor.abs().mean()` in the original code); NaN or ∞ if an entry is.
pub fn mean_abs(m: &DMatrix<f32>) -> f64 {
    if m.is_empty() {
        return f64::NAN;
    }
    m.iter().map(|&x| f64::from(x.abs())).sum::<f64>() / m.len() as f64
}
