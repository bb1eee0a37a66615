//! Read noise and programming noise of a cell, in weight units.
//!
//! Programming (write-and-verify) noise per attempt: `constant` σ, `relative` σ·|target|, or the
//! PCM polynomial of aihwkit's PCMLikeNoiseModel (Nandakumar et al., ICECS 2019):
//! σ_prog = c₀ + c₁ĝ + c₂ĝ² µS with ĝ = G_T/g_max and c = [0.26348, 1.9650, −1.1731] µS fitted at
//! g_max = 25 µS (rescaled by g_max/25), converted to weight units.
//!
//! Read noise, drawn anew at every read: `constant` σ per cell, `relative` σ·|w|, or PCM 1/f noise
//! accumulated since programming: σ = |w|·Q_s·√(ln((t + t_read)/(2 t_read))), t = time since
//! programming + t₀, Q_s = min(0.0088/ĝ^0.65, 0.2).

use super::{Device, ProgramNoiseModel, ReadNoiseModel};

/// aihwkit's PCM programming-noise polynomial, µS at g_max = 25 µS.
pub const PCM_PROG_COEFFS_US: [f64; 3] = [0.26348, 1.9650, -1.1731];

/// Standard deviation of one programming attempt to target weight magnitude `target` (weight units).
pub fn program_std(dev: &Device, target: f32) -> f32 {
    let p = &dev.spec.programming;
    match p.noise {
        ProgramNoiseModel::None => 0.0,
        ProgramNoiseModel::Constant => p.std as f32,
        ProgramNoiseModel::Relative => (p.std * target.abs() as f64) as f32,
        ProgramNoiseModel::Pcm => {
            let c = &dev.spec.conductance;
            let span = c.g_max_us - c.g_min_us;
            let g_ratio = dev.conductance_us(target as f64) / c.g_max_us;
            let [c0, c1, c2] = PCM_PROG_COEFFS_US;
            let sigma_us =
                (c0 + c1 * g_ratio + c2 * g_ratio * g_ratio).max(0.0) * c.g_max_us / 25.0;
            (sigma_us / span * dev.w_scale()) as f32
        }
    }
}

/// Standard deviation of one read of a cell holding `w`, `since_prog_s` seconds after its last
/// programming (weight units).
pub fn read_std(dev: &Device, w: f32, since_prog_s: f64) -> f32 {
    let r = &dev.spec.read_noise;
    match r.model {
        ReadNoiseModel::None => 0.0,
        ReadNoiseModel::Constant => r.std as f32,
        ReadNoiseModel::Relative => (r.std * w.abs() as f64) as f32,
        ReadNoiseModel::Pcm => {
            let g_ratio = dev.conductance_us(w as f64) / dev.spec.conductance.g_max_us;
            if g_ratio <= 0.0 {
                return 0.0;
            }
            let q_s = (0.0088 / g_ratio.powf(0.65)).min(0.2);
            let t = since_prog_s.max(0.0) + dev.spec.drift.t0_s;
            let tr = r.t_read_s;
            let l = ((t + tr) / (2.0 * tr)).ln().max(0.0);
            (w.abs() as f64 * q_s * l.sqrt()) as f32
        }
    }
}

/// Whether reads of `dev` carry per-cell noise that depends on the cell (needs a second product).
pub fn read_noise_per_cell(dev: &Device) -> bool {
    matches!(
        dev.spec.read_noise.model,
        ReadNoiseModel::Relative | ReadNoiseModel::Pcm
    )
}

/// Standard deviation (µS) of one open-loop programming of a device to target conductance
/// `g_us`, when one weight unit is `us_per_weight` µS (aihwkit's `PCMLikeNoiseModel.
/// apply_programming_noise_to_conductance`, `src/aihwkit/inference/noise/pcm.py`):
/// `pcm` σ = (c₀ + c₁ĝ + c₂ĝ²)·g_max/25 µS with ĝ = g_T/g_max; `constant` std weight units;
/// `relative` std·(g_T − g_min).
pub fn program_std_us(dev: &Device, g_us: f64, us_per_weight: f64) -> f64 {
    let p = &dev.spec.programming;
    let c = &dev.spec.conductance;
    match p.noise {
        ProgramNoiseModel::None => 0.0,
        ProgramNoiseModel::Constant => p.std * us_per_weight,
        ProgramNoiseModel::Relative => p.std * (g_us - c.g_min_us).abs(),
        ProgramNoiseModel::Pcm => {
            let g = g_us / c.g_max_us;
            let [c0, c1, c2] = PCM_PROG_COEFFS_US;
            (c0 + c1 * g + c2 * g * g) * c.g_max_us / 25.0
        }
    }
}

/// The relative 1/f read-noise amplitude of a PCM device after `t_s` seconds of drift time
/// (time since programming + t₀), as aihwkit's `PCMLikeNoiseModel.apply_drift_noise_to_conductance`
/// evaluates it once per inference time: Q_s·√(ln((t + t_read)/(2 t_read))) with
/// Q_s = min(0.0088/max(ĝ^0.65, 1e-3), 0.2), ĝ = |g_prog|/g_max.
pub fn pcm_read_noise_relative(g_prog_over_g_max: f64, t_s: f64, t_read_s: f64) -> f64 {
    let q_s = (0.0088 / g_prog_over_g_max.abs().powf(0.65).max(1e-3)).min(0.2);
    let l = ((t_s + t_read_s) / (2.0 * t_read_s)).ln().max(0.0);
    q_s * l.sqrt()
}
