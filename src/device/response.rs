//! What one pulse does to one cell: aihwkit's "update once" equations, and the device-to-device
//! parameters drawn for each cell at fabrication.
//!
//! Weights are in normalised units. For direction d = +1 (up) or −1 (down), ξ ~ N(0, 1):
//!
//! | model | update once |
//! | --- | --- |
//! | constant-step | w ← w + d·Δw_d(1 + σ ξ) |
//! | linear-step | w ← w + d·Δw_d(γ_d w + 1)(1 + σ ξ), γ⁺ = −\|γ_up + γ_dtod ξ\|/w_max, γ⁻ = −\|γ_down + γ_dtod ξ\|/w_min (additive noise: (γ_d w + 1 + σ ξ)) |
//! | soft-bounds | linear-step with γ⁺ = −1/b_max, γ⁻ = −1/b_min of the cell's own bounds |
//! | exp-step | z = 2a·w/(b_max − b_min) + b; up: w += max(1 − A_up e^{γ_up z}, 0)·Δw⁺(1 + σξ); down: w −= max(1 − A_down e^{−γ_down z}, 0)·Δw⁻(1 + σξ) |
//! | pow-step | ω = (b_max − w)/(b_max − b_min); up: Δw⁺ ω^{γ⁺}(1 + σξ); down: −Δw⁻(1 − ω)^{γ⁻}(1 + σξ) |
//! | piecewise | w ← w + d·Δw_d·v_d(w)(1 + σξ), v_d linearly interpolated between nodes over [b_min, b_max] |
//!
//! and then w is clipped to the cell's bounds [b_min, b_max]. Device-to-device draws (aihwkit
//! `PulsedDevice`): Δw = dw_min(1 + dw_min_dtod ξ) (or dw_min·exp(dw_min_dtod ξ) when log-normal),
//! β = up_down + up_down_dtod ξ, Δw⁺ = Δw(1 + β), Δw⁻ = Δw(1 − β), b_max = w_max(1 + w_max_dtod ξ),
//! b_min = w_min(1 + w_min_dtod ξ). Source: IBM aihwkit 1.1.0, `rpu_*_device.cpp` and
//! `configs/devices.py`; see `reference/analog-simulators.md` §2.2.

use super::{Device, Shape};
use crate::random::{normal as gauss, Normal};
use rand::Rng;

/// A cell's fabrication-time parameters (device-to-device variation drawn once).
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub struct CellParams {
    /// Up step Δw⁺, weight units.
    pub step_up: f32,
    /// Down step Δw⁻ (positive number), weight units.
    pub step_down: f32,
    /// Lower bound.
    pub b_min: f32,
    /// Upper bound.
    pub b_max: f32,
    /// Model-specific shape parameter of the up direction (γ⁺ slope or pow exponent).
    pub shape_up: f32,
    /// Model-specific shape parameter of the down direction.
    pub shape_down: f32,
    /// Reset value.
    pub reset: f32,
}

/// The update-once kernel of one device kind, with the constants of its model.
#[derive(Debug, Clone)]
pub struct Response {
    shape: Shape,
    c2c: f32,
    write_noise: f32,
    normal: Normal,
}

impl Response {
    /// The kernel of `dev`.
    pub fn new(dev: &Device) -> Response {
        let r = &dev.spec.response;
        Response {
            shape: dev.shape.clone(),
            c2c: r.dw_min_std as f32,
            write_noise: (r.write_noise_std * r.dw_min) as f32,
            normal: Normal::default(),
        }
    }

    /// Standard deviation of the write noise on the apparent weight, weight units.
    pub fn write_noise_std(&self) -> f32 {
        self.write_noise
    }

    /// Draws one cell's fabrication-time parameters.
    pub fn draw_cell<R: Rng + ?Sized>(&self, dev: &Device, rng: &mut R) -> CellParams {
        let r = &dev.spec.response;
        if matches!(self.shape, Shape::Ideal) {
            return CellParams {
                step_up: 0.0,
                step_down: 0.0,
                b_min: f32::NEG_INFINITY,
                b_max: f32::INFINITY,
                shape_up: 0.0,
                shape_down: 0.0,
                reset: r.reset as f32,
            };
        }
        let dw = if r.dw_min_dtod_log_normal {
            r.dw_min * (r.dw_min_dtod * gauss(rng) as f64).exp()
        } else {
            (r.dw_min * (1.0 + r.dw_min_dtod * gauss(rng) as f64)).abs()
        };
        let beta = r.up_down + r.up_down_dtod * gauss(rng) as f64;
        let mut b_max = r.w_max * (1.0 + r.w_max_dtod * gauss(rng) as f64);
        let mut b_min = r.w_min * (1.0 + r.w_min_dtod * gauss(rng) as f64);
        // aihwkit's enforce_consistency: a bidirectional cell's range keeps 0 inside it.
        if !r.one_sided {
            b_max = b_max.max(0.0);
            b_min = b_min.min(0.0);
        } else {
            b_min = b_min.max(0.0);
            b_max = b_max.max(b_min);
        }
        let (shape_up, shape_down) = match &self.shape {
            Shape::LinearStep {
                gamma_up,
                gamma_down,
                gamma_dtod,
                ..
            } => {
                let gu = (gamma_up + gamma_dtod * gauss(rng) as f64).abs();
                let gd = (gamma_down + gamma_dtod * gauss(rng) as f64).abs();
                // aihwkit's mean_bound_reference: slopes scale with the nominal bounds.
                let su = if r.w_max != 0.0 { -gu / r.w_max } else { 0.0 };
                let sd = if r.w_min != 0.0 { -gd / r.w_min } else { 0.0 };
                (su, sd)
            }
            Shape::SoftBounds { .. } => {
                let su = if b_max != 0.0 { -1.0 / b_max } else { 0.0 };
                let sd = if b_min != 0.0 { -1.0 / b_min } else { 0.0 };
                (su, sd)
            }
            Shape::PowStep {
                gamma,
                gamma_dtod,
                up_down,
                up_down_dtod,
            } => {
                let b = up_down + up_down_dtod * gauss(rng) as f64;
                let spread = gamma_dtod * gauss(rng) as f64;
                (
                    (gamma * (1.0 + b + spread)).max(0.0),
                    (gamma * (1.0 - b + spread)).max(0.0),
                )
            }
            _ => (0.0, 0.0),
        };
        let reset = (r.reset + r.reset_dtod * gauss(rng) as f64).clamp(b_min, b_max);
        CellParams {
            step_up: (dw * (1.0 + beta)).max(0.0) as f32,
            step_down: (dw * (1.0 - beta)).max(0.0) as f32,
            b_min: b_min as f32,
            b_max: b_max as f32,
            shape_up: shape_up as f32,
            shape_down: shape_down as f32,
            reset: reset as f32,
        }
    }

    /// One pulse in direction `up` (true) or down applied to weight `w` of cell `p`; returns the
    /// new weight, clipped to the cell's bounds.
    #[inline]
    pub fn update_once<R: Rng + ?Sized>(
        &self,
        w: f32,
        up: bool,
        p: &CellParams,
        rng: &mut R,
    ) -> f32 {
        let n = if self.c2c > 0.0 {
            self.c2c * self.normal.sample(rng)
        } else {
            0.0
        };
        let next = match &self.shape {
            Shape::Ideal => w,
            Shape::ConstantStep => {
                if up {
                    w + p.step_up * (1.0 + n)
                } else {
                    w - p.step_down * (1.0 + n)
                }
            }
            Shape::LinearStep { mult_noise, .. } | Shape::SoftBounds { mult_noise } => {
                let (step, slope, sign) = if up {
                    (p.step_up, p.shape_up, 1.0)
                } else {
                    (p.step_down, p.shape_down, -1.0)
                };
                let f = slope * w + 1.0;
                if *mult_noise {
                    w + sign * step * f * (1.0 + n)
                } else {
                    w + sign * step * (f + n)
                }
            }
            Shape::ExpStep {
                a,
                b,
                a_up,
                a_down,
                gamma_up,
                gamma_down,
                std_add,
                std_slope,
            } => {
                let span = p.b_max - p.b_min;
                if span <= 0.0 {
                    return w;
                }
                let z = 2.0 * w / span * (*a as f32) + *b as f32;
                let dw = if up {
                    let y = (1.0 - *a_up as f32 * (*gamma_up as f32 * z).exp()).max(0.0);
                    y * p.step_up
                } else {
                    let y = (1.0 - *a_down as f32 * (-(*gamma_down as f32) * z).exp()).max(0.0);
                    -y * p.step_down
                };
                if *std_add > 0.0 || *std_slope > 0.0 {
                    // aihwkit's "complex noise": σ = dw_min_std(|Δw| + add + slope|w|).
                    let sd = dw.abs() + *std_add as f32 + *std_slope as f32 * w.abs();
                    w + dw + sd * n
                } else {
                    w + dw * (1.0 + n)
                }
            }
            Shape::PowStep { .. } => {
                let span = p.b_max - p.b_min;
                if span <= 0.0 {
                    return w;
                }
                let omega = ((p.b_max - w) / span).clamp(0.0, 1.0);
                if up {
                    w + p.step_up * omega.powf(p.shape_up) * (1.0 + n)
                } else {
                    w - p.step_down * (1.0 - omega).powf(p.shape_down) * (1.0 + n)
                }
            }
            Shape::Piecewise { up: vu, down: vd } => {
                let nodes = if up { vu } else { vd };
                let v = if nodes.len() == 1 {
                    nodes[0] as f32
                } else {
                    let span = p.b_max - p.b_min;
                    let q = if span > 0.0 {
                        ((w - p.b_min) / span).clamp(0.0, 1.0) * (nodes.len() - 1) as f32
                    } else {
                        0.0
                    };
                    let i = (q.floor() as usize).min(nodes.len() - 2);
                    let f = q - i as f32;
                    (1.0 - f) * nodes[i] as f32 + f * nodes[i + 1] as f32
                };
                if up {
                    w + p.step_up * v * (1.0 + n)
                } else {
                    w - p.step_down * v * (1.0 + n)
                }
            }
        };
        next.clamp(p.b_min, p.b_max)
    }

    /// Symmetry point of a soft-bounds cell: the weight where up and down steps are equal,
    /// w* = (Δw⁺ − Δw⁻)/(Δw⁺/b_max − Δw⁻/b_min).
    pub fn symmetry_point(p: &CellParams) -> f32 {
        let den = p.step_up / p.b_max - p.step_down / p.b_min;
        if den.abs() < f32::EPSILON || !den.is_finite() {
            0.0
        } else {
            ((p.step_up - p.step_down) / den).clamp(p.b_min, p.b_max)
        }
    }

    /// A draw of the write noise added to the apparent weight of a cell just written.
    #[inline]
    pub fn draw_write_noise<R: Rng + ?Sized>(&self, rng: &mut R) -> f32 {
        if self.write_noise > 0.0 {
            self.write_noise * self.normal.sample(rng)
        } else {
            0.0
        }
    }
}
