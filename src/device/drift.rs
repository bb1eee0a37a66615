//! Conductance drift: a power law from each cell's last programming.
//!
//! G(t) = G_prog·((t − t_prog + t₀)/t₀)^(−ν), acting on the conductance above g_min, i.e. on the
//! weight magnitude (both cells of a one-sided pair drift toward g_min; a bidirectional cell's
//! differential read drifts toward 0). ν is drawn per cell: `power-law` uses ν = |ν̄ + σ_ν ξ| once
//! at fabrication; `pcm` draws ν at each programming from the target conductance ĝ = G_T/g_max
//! with aihwkit's PCM statistics (Nandakumar et al., ICECS 2019; `inference/noise/pcm.py`):
//! μ_ν = clip(−0.0155 ln ĝ + 0.0244, 0.049, 0.1), σ_ν = clip(−0.0125 ln ĝ − 0.0059, 0.008, 0.045).

use super::{Device, DriftModel};
use crate::random::normal;
use rand::Rng;

/// The drift factor ((elapsed + t₀)/t₀)^(−ν) after `elapsed_s` seconds since programming.
#[inline]
pub fn factor(elapsed_s: f64, t0_s: f64, nu: f32) -> f32 {
    if nu == 0.0 || elapsed_s <= 0.0 {
        return 1.0;
    }
    (-(nu as f64) * ((elapsed_s + t0_s) / t0_s).ln()).exp() as f32
}

/// Mean and spread of the PCM drift exponent at normalised target conductance ĝ = G_T/g_max.
pub fn pcm_nu_stats(g_ratio: f64) -> (f64, f64) {
    let g = g_ratio.max(1e-9);
    let mean = (-0.0155 * g.ln() + 0.0244).clamp(0.049, 0.1);
    let std = (-0.0125 * g.ln() - 0.0059).clamp(0.008, 0.045);
    (mean, std)
}

/// Whether `dev` drifts at all.
pub fn enabled(dev: &Device) -> bool {
    dev.spec.drift.model != DriftModel::None
}

/// Draws a drift exponent for a cell: at fabrication (`g_ratio` = None) for the power-law model,
/// or at programming to target conductance ratio `g_ratio` for the PCM model. Returns `None` when
/// the model keeps the cell's current exponent.
pub fn draw_nu<R: Rng + ?Sized>(dev: &Device, g_ratio: Option<f64>, rng: &mut R) -> Option<f32> {
    let d = &dev.spec.drift;
    match (d.model, g_ratio) {
        (DriftModel::None, _) => Some(0.0).filter(|_| g_ratio.is_none()),
        (DriftModel::PowerLaw, None) => {
            let xi = normal(rng) as f64;
            Some((d.nu_mean + d.nu_std * xi).abs() as f32)
        }
        (DriftModel::PowerLaw, Some(_)) => None,
        (DriftModel::Pcm, g) => {
            let (m, s) = pcm_nu_stats(g.unwrap_or(1.0));
            let xi = normal(rng) as f64;
            Some((m + s * xi).abs() as f32)
        }
    }
}
