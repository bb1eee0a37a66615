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
