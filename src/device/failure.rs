//! Cell failure: stuck from fabrication, worn out after its endurance, or failed at random.
//!
//! Fabrication: each cell is independently stuck at its minimum conductance, its maximum, or a
//! random value (uniform in ±`stuck_random_range`, clipped to its bounds; aihwkit's corrupt
//! devices) with the configured probabilities. Endurance: each cell survives
//! N = median·exp(σ ξ) pulses (log-normal; programming pulses count too); the pulse after the
//! N-th finds it failed. Hazard: an alive cell fails in an interval Δt with probability
//! 1 − exp(−λΔt). A failed cell takes its [`FailedState`] and never changes again.

use super::{FailedState, FailureSection};
use crate::random::normal;
use rand::{Rng, RngExt};

/// A cell's condition at fabrication.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fabrication {
    /// Works.
    Healthy,
    /// Stuck at its lower bound.
    StuckMin,
    /// Stuck at its upper bound.
    StuckMax,
    /// Stuck at a random value.
    StuckRandom,
}

/// Draws a cell's fabrication condition.
pub fn draw_fabrication<R: Rng + ?Sized>(f: &FailureSection, rng: &mut R) -> Fabrication {
    let total = f.stuck_at_min_fraction + f.stuck_at_max_fraction + f.stuck_at_random_fraction;
    if total <= 0.0 {
        return Fabrication::Healthy;
    }
    let u: f64 = rng.random();
    if u < f.stuck_at_min_fraction {
        Fabrication::StuckMin
    } else if u < f.stuck_at_min_fraction + f.stuck_at_max_fraction {
        Fabrication::StuckMax
    } else if u < total {
        Fabrication::StuckRandom
    } else {
        Fabrication::Healthy
    }
}

/// Draws the number of pulses a cell survives (`u64::MAX` for no wear-out).
pub fn draw_endurance<R: Rng + ?Sized>(f: &FailureSection, rng: &mut R) -> u64 {
    if !f.endurance_median_pulses.is_finite() {
        return u64::MAX;
    }
    let n = if f.endurance_log_std > 0.0 {
        let xi = normal(rng) as f64;
        f.endurance_median_pulses * (f.endurance_log_std * xi).exp()
    } else {
        f.endurance_median_pulses
    };
    if n >= u64::MAX as f64 {
        u64::MAX
    } else {
        n.round().max(0.0) as u64
    }
}

/// Probability that an alive cell fails within `dt_s` seconds.
pub fn hazard_probability(rate_per_s: f64, dt_s: f64) -> f64 {
    if rate_per_s <= 0.0 || dt_s <= 0.0 {
        0.0
    } else {
        -(-rate_per_s * dt_s).exp_m1()
    }
}

/// The value a cell holding `current` takes when it fails into `state`.
pub fn failed_value<R: Rng + ?Sized>(
    state: FailedState,
    current: f32,
    b_min: f32,
    b_max: f32,
    random_range: f64,
    rng: &mut R,
) -> f32 {
    match state {
        FailedState::Current => current,
        FailedState::Min => b_min,
        FailedState::Max => b_max,
        FailedState::Random => {
            let lo = b_min.max(-random_range as f32);
            let hi = b_max.min(random_range as f32);
            if hi > lo {
                rng.random_range(lo..hi)
            } else {
                lo
            }
        }
    }
}
