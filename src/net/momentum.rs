//! Heavy-ball momentum of stochastic gradient descent, as `torch.optim.SGD` defines it: the
//! velocity starts as the first gradient, v₁ = g₁, then v_t = μ·v_{t−1} + (1 − τ)·g_t, and the
//! step is Δθ = −η·v_t (μ the momentum, τ the dampening). Hinton's Forward-Forward code smooths
//! its gradients as g ← 0.9·g + 0.1·∇, which is μ = 0.9, τ = 0.9; loeweX's FF and TinyDFA use
//! μ = 0.9, τ = 0.
//!
//! The velocity is a digital buffer of the full matrix (the chip has no place to keep it), so
//! the step −η·v is a full-matrix change, not the rank-1 outer product a crossbar applies in one
//! update cycle: on tiles it is written column by column ([`crate::crossbar::Crossbar::pulse_write`]),
//! one update cycle per input line, the way Tiki-Taka transfers a matrix. That traffic is the
//! honest price of momentum on a chip and it is counted.

use crate::kernel::{par_gemm, par_matmul};
use nalgebra::DMatrix;

/// Momentum μ and dampening τ (both 0 = plain SGD).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct Momentum {
    /// μ ∈ [0, 1).
    pub momentum: f32,
    /// τ ∈ [0, 1].
    pub dampening: f32,
}

impl Momentum {
    /// Whether this is plain SGD (μ = 0), which keeps no velocity.
    pub fn is_off(&self) -> bool {
        self.momentum == 0.0
    }

    /// Checks μ ∈ [0, 1) and τ ∈ [0, 1]; the error names the field.
    pub fn validate(&self) -> Result<(), (&'static str, String)> {
        if !(self.momentum.is_finite() && (0.0..1.0).contains(&self.momentum)) {
            return Err((
                "momentum",
                format!("momentum = {}: must be in [0, 1)", self.momentum),
            ));
        }
        if !(self.dampening.is_finite() && (0.0..=1.0).contains(&self.dampening)) {
            return Err((
                "dampening",
                format!("dampening = {}: must be in [0, 1]", self.dampening),
            ));
        }
        Ok(())
    }
}

/// The velocity buffer of one matrix (weights, or a bias as one column).
#[derive(Debug, Clone)]
pub struct Velocity {
    momentum: Momentum,
    v: Option<DMatrix<f32>>,
}

impl Velocity {
    /// An empty velocity: the first gradient folded in becomes the velocity.
    pub fn new(momentum: Momentum) -> Velocity {
        Velocity { momentum, v: None }
    }

    /// Folds gradient `g` in (v ← g the first time, then v ← μ·v + (1 − τ)·g) and returns v.
    pub fn fold(&mut self, g: DMatrix<f32>) -> &DMatrix<f32> {
        let Momentum {
            momentum: mu,
            dampening: tau,
        } = self.momentum;
        match &mut self.v {
            Some(v) => {
                assert_eq!(v.shape(), g.shape(), "Velocity::fold: shape changed");
                for (vi, gi) in v.as_mut_slice().iter_mut().zip(g.as_slice()) {
                    *vi = mu * *vi + (1.0 - tau) * gi;
                }
            }
            None => self.v = Some(g),
        }
        self.v.as_ref().expect("just set")
    }

    /// Folds the gradient G = a·bᵀ in without forming G: v ← a·bᵀ the first time, then
    /// v ← μ·v + (1 − τ)·a·bᵀ as one matrix product accumulated in place; returns v.
    pub fn fold_product(&mut self, a: &DMatrix<f32>, b: &DMatrix<f32>) -> &DMatrix<f32> {
        let Momentum {
            momentum: mu,
            dampening: tau,
        } = self.momentum;
        let bt = b.transpose();
        match &mut self.v {
            Some(v) => par_gemm(v, 1.0 - tau, a, &bt, mu),
            None => self.v = Some(par_matmul(a, &bt)),
        }
        self.v.as_ref().expect("just set")
    }

    /// The velocity, once a gradient has been folded in.
    pub fn get(&self) -> Option<&DMatrix<f32>> {
        self.v.as_ref()
    }

    /// Digital operations of one [`Velocity::fold`] of `len` elements (a multiply and a
    /// multiply-add each).
    pub fn fold_ops(len: usize) -> u64 {
        3 * len as u64
    }

    /// Forgets row `i` (a unit whose incoming weights were re-programmed starts at rest).
    pub fn reset_row(&mut self, i: usize) {
        if let Some(v) = &mut self.v {
            v.row_mut(i).fill(0.0);
        }
    }

    /// Forgets column `j` (an input whose weights were re-programmed starts at rest).
    pub fn reset_column(&mut self, j: usize) {
        if let Some(v) = &mut self.v {
            v.column_mut(j).fill(0.0);
        }
    }
}
