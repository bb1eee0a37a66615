//! Stochastic pulse trains and update management (aihwkit `sparse_bit_line_maker`, §2.5 of the
//! reference notes).
//!
//! For one vector pair (x, d) and learning rate lr on a device of granularity g = dw_min:
//! BL = desired_bl, or min(⌈lr·x_max·d_max/g⌉, desired_bl) with bit-length management; the
//! column (x) and row (d) probabilities are p_j = B|x_j| and p_i = A|d_i| with
//! A = B = √(lr/(g·BL)), balanced by update management to A·√(x_max/d_max), B·√(d_max/x_max).
//! Each slot of a train fires independently; a cell changes once per slot where its row and its
//! column both fire, so E(coincidences) = BL·p_i·p_j = lr|x_j d_i|/g and the expected change is
//! lr|x_j d_i| in direction −sign(x_j d_i). Probabilities above 1 are clipped (the update
//! saturates).

use crate::device::UpdateSection;
use rand::Rng;

/// How one vector pair is turned into pulse trains.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct TrainPlan {
    /// Number of pulse slots.
    pub bl: u32,
    /// Row (d) probability per unit |d|.
    pub a: f32,
    /// Column (x) probability per unit |x|.
    pub b: f32,
}

impl TrainPlan {
    /// The plan for a pair with largest magnitudes `x_max`, `d_max`; `None` when either is 0
    /// (nothing to update).
    pub fn new(
        u: &UpdateSection,
        lr: f32,
        dw_min: f32,
        x_max: f32,
        d_max: f32,
    ) -> Option<TrainPlan> {
        if !(x_max > 0.0 && d_max > 0.0 && lr > 0.0) {
            return None;
        }
        let k = lr as f64 * x_max as f64 * d_max as f64 / dw_min as f64;
        let bl = if u.update_bl_management {
            (k.ceil() as u32).clamp(1, u.desired_bl)
        } else {
            u.desired_bl
        };
        let base = (lr as f64 / (dw_min as f64 * bl as f64)).sqrt();
        // aihwkit turns update management on whenever bit-length management is on.
        let (a, b) = if u.update_management || u.update_bl_management {
            let r = (x_max as f64 / d_max as f64).sqrt();
            (base * r, base / r)
        } else {
            (base, base)
        };
        Some(TrainPlan {
            bl,
            a: a as f32,
            b: b as f32,
        })
    }
}

/// A train of `bl` slots (bit k set ⇔ a pulse in slot k), each firing with probability `p`.
#[inline]
pub fn train<R: Rng + ?Sized>(p: f32, bl: u32, rng: &mut R) -> u32 {
    let full = if bl >= 32 { u32::MAX } else { (1u32 << bl) - 1 };
    if p.is_nan() || p <= 0.0 {
        return 0;
    }
    if p >= 1.0 {
        return full;
    }
    // Compare 32-bit uniforms with p·2³²: exact to 2⁻³², two slots per 64-bit draw.
    let thr = (p as f64 * 4_294_967_296.0) as u64;
    let mut mask = 0u32;
    let mut k = 0;
    while k < bl {
        let r = rng.next_u64();
        if (r & 0xFFFF_FFFF) < thr {
            mask |= 1 << k;
        }
        if k + 1 < bl && (r >> 32) < thr {
            mask |= 1 << (k + 1);
        }
        k += 2;
    }
    mask
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn train_rate_matches_probability() {
        let mut rng = crate::random::stream(9, &[1]);
        let (p, bl, n) = (0.3f32, 31u32, 20_000);
        let ones: u32 = (0..n).map(|_| train(p, bl, &mut rng).count_ones()).sum();
        let mean = ones as f64 / (n as f64 * bl as f64);
        // Binomial: σ of the mean = √(p(1−p)/(n·BL)) ≈ 5.8e-4; allow 5σ.
        assert!((mean - 0.3).abs() < 3e-3, "{mean}");
        assert_eq!(train(1.0, 31, &mut rng), (1 << 31) - 1);
        assert_eq!(train(0.0, 31, &mut rng), 0);
        assert_eq!(train(1.0, 32, &mut rng), u32::MAX);
    }
}
