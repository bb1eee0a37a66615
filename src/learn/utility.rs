//! Utility propagation: which units carry the network's function (the *backbone*) and which do
//! not yet (the *fringe*).
//!
//! This is Javed & Sutton's utility propagation (khurramjaved96/utility-propagation,
//! `UtilityPropagation::update_utility`; reference notes §7.2) specialised to layered nets with a
//! magnitude-based local utility, so that it needs no backprop and no transposed read: utility
//! flows back from the outputs along |w|, conserved at every unit.
//!
//! * Every output unit has utility U_i = 1/n_out.
//! * An edge e = (j → i) of layer l (weight w_ij, input j, unit i) has local utility
//!   L_e = |w_ij|·ā_j, with ā_j the mean |activity| of input j when it is known and 1 otherwise
//!   (then L_e = |w_ij|). Javed's code uses |f(a_i) − f(a_i − w_e h_j)|, the change of i's output
//!   if e were removed; |w_ij|·ā_j is its linear, activation-free version.
//! * The unit's utility is split among its incoming edges in proportion to their local utility:
//!   U_e = U_i·L_e / Σ_{e'∈in(i)} L_e'. When every incoming edge has L = 0 nothing is passed on
//!   (U_e = 0: the unit's utility stops there, as with the 1e-8 guard of Javed's code, which
//!   divides by Σ L + 1e-8; here the guard is exact).
//! * A unit's utility is the sum over its outgoing edges: U_j = Σ_{e∈out(j)} U_e.
//!
//! Hence Σ_{e∈in(i)} U_e = U_i for every non-input unit with an incoming edge of L > 0, and
//! Σ_j U_j = 1 over every layer as long as every unit with utility has such an edge (reference
//! §9 item 21); a unit whose outgoing weights are all zero gets U = 0. A hidden unit
//! of a layer of n units is *backbone* when U_j > threshold·(1/n) (above `threshold` times its
//! fair share), *fringe* otherwise (Sutton, "Dynamic deep learning", 2024; §7.1).

use nalgebra::{DMatrix, DVector};
use serde::{Deserialize, Serialize};

/// Settings of utility propagation (the `utility_propagation` table of
/// [`super::continual::ContinualConfig`]).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct UtilityPropagationConfig {
    /// Compute utilities and the backbone (default false).
    pub enabled: bool,
    /// A hidden unit of a layer of n units is backbone when U > `backbone_threshold`/n
    /// (default 1.0: above its fair share).
    pub backbone_threshold: f64,
    /// Step-size factor of backbone units, applied through the layer's per-unit step-size scale
    /// (`continual::UnitProbe::lr_scale` on the layer; default 1.0 = no protection).
    pub protect_backbone_lr_factor: f32,
    /// Steps between two propagations (default 100). The weights are those of the latest
    /// readout (`ContinualConfig::readout_every`).
    pub every: usize,
}

impl Default for UtilityPropagationConfig {
    fn default() -> UtilityPropagationConfig {
        UtilityPropagationConfig {
            enabled: false,
            backbone_threshold: 1.0,
            protect_backbone_lr_factor: 1.0,
            every: 100,
        }
    }
}

impl UtilityPropagationConfig {
    /// Checks every value; the error names the field.
    pub fn validate(&self) -> Result<(), String> {
        let t = self.backbone_threshold;
        if !(t.is_finite() && t >= 0.0) {
            return Err(format!(
                "continual.utility_propagation.backbone_threshold = {t} must be ≥ 0"
            ));
        }
        let f = self.protect_backbone_lr_factor;
        if !(f.is_finite() && f >= 0.0) {
            return Err(format!(
                "continual.utility_propagation.protect_backbone_lr_factor = {f} must be ≥ 0"
            ));
        }
        if self.every == 0 {
            return Err("continual.utility_propagation.every = 0 must be ≥ 1".into());
        }
        Ok(())
    }
}

/// The utilities of one propagation.
#[derive(Debug, Clone, PartialEq)]
pub struct Propagation {
    /// Unit utilities at every layer boundary, input side first: `units[k]` has one entry per
    /// input of `weights[k]`, and the last entry holds the outputs (1/n_out each).
    pub units: Vec<DVector<f64>>,
    /// Edge utilities U_e of every weight matrix (same shape as `weights[k]`).
    pub edges: Vec<DMatrix<f64>>,
}

/// Propagates utility from the outputs of `weights` (consecutive layers' matrices, input side
/// first, each outputs × inputs) back to the inputs of the first one. `activity[k]`, when
/// given, is the mean |activity| ā_j of the inputs of `weights[k]` (L_e = |w_ij|·ā_j); when
/// None, L_e = |w_ij|. See the module documentation for the equations.
pub fn propagate(weights: &[DMatrix<f32>], activity: &[Option<DVector<f32>>]) -> Propagation {
    assert!(!weights.is_empty(), "propagate: no layers");
    assert_eq!(
        weights.len(),
        activity.len(),
        "propagate: one activity entry per layer"
    );
    for k in 1..weights.len() {
        assert_eq!(
            weights[k].ncols(),
            weights[k - 1].nrows(),
            "propagate: layers {} and {k} do not chain",
            k - 1
        );
    }
    let n = weights.len();
    let n_out = weights[n - 1].nrows();
    let mut units = vec![DVector::zeros(0); n + 1];
    let mut edges = vec![DMatrix::zeros(0, 0); n];
    units[n] = DVector::from_element(n_out, 1.0 / n_out as f64);
    for k in (0..n).rev() {
        let w = &weights[k];
        let (rows, cols) = w.shape();
        if let Some(a) = &activity[k] {
            assert_eq!(a.len(), cols, "propagate: activity of layer {k}");
        }
        let mut e = DMatrix::zeros(rows, cols);
        let mut below = DVector::zeros(cols);
        for i in 0..rows {
            let ui = units[k + 1][i];
            if ui == 0.0 {
                continue;
            }
            let local = |j: usize| {
                let a = activity[k].as_ref().map_or(1.0, |a| a[j].abs() as f64);
                (w[(i, j)] as f64).abs() * a
            };
            let total: f64 = (0..cols).map(local).sum();
            if total <= 0.0 {
                continue;
            }
            for j in 0..cols {
                let ue = ui * local(j) / total;
                e[(i, j)] = ue;
                below[j] += ue;
            }
        }
        units[k] = below;
        edges[k] = e;
    }
    Propagation { units, edges }
}

/// Backbone units of a layer: U_j > `threshold`·(1/n) with n = the layer's width.
pub fn backbone(units: &DVector<f64>, threshold: f64) -> Vec<bool> {
    let fair = 1.0 / units.len().max(1) as f64;
    units.iter().map(|&u| u > threshold * fair).collect()
}
