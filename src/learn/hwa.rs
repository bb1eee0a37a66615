//! Hardware-aware training of a digital network (`bp-digital` with `options.hwa`), as aihwkit's
//! `InferenceRPUConfig` trains for inference: once per mini-batch the weights used in the
//! forward and backward pass are a *modified* copy W′ = modifier(W) of the hidden reference
//! weights W, and the update computed with W′ is applied to W; after every update W is clipped;
//! the forward pass adds Gaussian output noise to each layer's pre-activations.
//!
//! Modifiers (aihwkit 1.1.0 `src/rpucuda/weight_modifier.cpp`, `WeightModifier<T>::apply`;
//! parameters `src/aihwkit/simulator/parameters/inference.py`, `WeightModifierParameter`),
//! with a = max|W| of the layer when `rel_to_actual_wmax` (aihwkit's default; 1 if W = 0),
//! else `assumed_wmax`:
//! - `add-normal`: w′ = w + σ·a·ξ;
//! - `mult-normal`: w′ = w + w·σ·a·ξ (aihwkit's code multiplies by a as well);
//! - `discretize`: w′ = a·round(w/a / res)·res;
//! - `discretize-add-normal`: discretize, then + σ·a·ξ;
//! - `poly`: w′ = w + a·σ·(c₀ + c₁|w|/a + c₂(|w|/a)² …)·ξ;
//! - `prog-noise` (PCM-like programming noise keeping the sign): s = σ/g_max,
//!   w′ = sign(w)·|w + a·s·(c₀ + c₁|w|/a + …)·ξ|;
//! - `drop-connect` (or `pdrop` > 0 with any modifier): each weight is 0 with probability pdrop.
//!
//! Clipping (aihwkit `WeightClipParameter`, `WeightClipType`): `fixed` clips W to
//! ±`clip_fixed_value`; `layer-gaussian` to ±`clip_sigma`·s.d.(W) of the layer.

use crate::random::{normal, stream};
use nalgebra::DMatrix;
use rand::RngExt;
use serde::{Deserialize, Serialize};

/// The weight modifier type (aihwkit's `WeightModifierType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Modifier {
    /// No modification (drop-connect still applies when pdrop > 0).
    #[default]
    None,
    /// Additive Gaussian noise.
    AddNormal,
    /// Multiplicative Gaussian noise.
    MultNormal,
    /// Quantisation to `res`.
    Discretize,
    /// Quantisation, then additive Gaussian noise.
    DiscretizeAddNormal,
    /// Polynomial (in |w|/a) Gaussian noise.
    Poly,
    /// PCM-like programming noise keeping the weight's sign.
    ProgNoise,
    /// Drop-connect only.
    DropConnect,
}

/// Weight clipping after each update (aihwkit's `WeightClipType`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Clip {
    /// No clipping.
    #[default]
    None,
    /// Clip to ±`clip_fixed_value`.
    Fixed,
    /// Clip to ±`clip_sigma` × the layer's weight s.d.
    LayerGaussian,
}

/// `options.hwa`: hardware-aware training settings (all off by default).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct HwaConfig {
    /// The weight modifier (default `none`).
    pub modifier: Modifier,
    /// σ of the modifier's noise, relative to a (default 0).
    pub std_dev: f32,
    /// Resolution of `discretize` on the scale of a (default 0: none).
    pub res: f32,
    /// Drop-connect probability (default 0).
    pub pdrop: f32,
    /// a = max|W| of the layer (default true), else `assumed_wmax`.
    pub rel_to_actual_wmax: bool,
    /// a when `rel_to_actual_wmax` is false (default 1).
    pub assumed_wmax: f32,
    /// Coefficients of `poly` and `prog-noise` (default aihwkit's [0.0105392, 0.0768, −0.046925]).
    pub coeffs: Vec<f32>,
    /// g_max of `prog-noise`, µS (default 25).
    pub g_max_us: f32,
    /// Clipping after each update (default `none`).
    pub clip: Clip,
    /// Bound of `fixed` clipping (default 1).
    pub clip_fixed_value: f32,
    /// Width of `layer-gaussian` clipping in s.d. (default 2.5, aihwkit's `sigma`).
    pub clip_sigma: f32,
    /// Gaussian noise added to every layer's pre-activations in the training forward pass, as
    /// aihwkit's forward `out_noise` (default 0).
    pub out_noise: f32,
}

impl Default for HwaConfig {
    fn default() -> Self {
        HwaConfig {
            modifier: Modifier::None,
            std_dev: 0.0,
            res: 0.0,
            pdrop: 0.0,
            rel_to_actual_wmax: true,
            assumed_wmax: 1.0,
            coeffs: vec![0.0105392, 0.0768, -0.046925],
            g_max_us: 25.0,
            clip: Clip::None,
            clip_fixed_value: 1.0,
            clip_sigma: 2.5,
            out_noise: 0.0,
        }
    }
}

impl HwaConfig {
    /// Whether every setting is the default (hardware-aware training off).
    pub fn is_default(&self) -> bool {
        *self == HwaConfig::default()
    }

    /// Whether the weights are modified for the forward and backward passes.
    pub fn modifies(&self) -> bool {
        self.modifier != Modifier::None || self.pdrop > 0.0
    }

    /// Range checks: (field under `hwa.`, message).
    pub fn validate(&self) -> Result<(), (String, String)> {
        let bad = |f: &str, m: &str| Err((format!("hwa.{f}"), m.to_string()));
        for (f, v) in [
            ("std_dev", self.std_dev),
            ("res", self.res),
            ("out_noise", self.out_noise),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return bad(f, "must be a finite number ≥ 0");
            }
        }
        if !(0.0..1.0).contains(&self.pdrop) {
            return bad("pdrop", "must be in [0, 1)");
        }
        for (f, v) in [
            ("assumed_wmax", self.assumed_wmax),
            ("g_max_us", self.g_max_us),
            ("clip_fixed_value", self.clip_fixed_value),
            ("clip_sigma", self.clip_sigma),
        ] {
            if !(v.is_finite() && v > 0.0) {
                return bad(f, "must be a positive number");
            }
        }
        if self.coeffs.is_empty() || self.coeffs.iter().any(|c| !c.is_finite()) {
            return bad("coeffs", "give at least one finite coefficient");
        }
        if matches!(
            self.modifier,
            Modifier::Discretize | Modifier::DiscretizeAddNormal
        ) && self.res == 0.0
            && self.modifier == Modifier::Discretize
        {
            return bad("res", "discretize needs a resolution res > 0");
        }
        Ok(())
    }

    /// The modified weights W′ of `w` for one mini-batch; `seed` keys the draw.
    pub fn modify(&self, w: &DMatrix<f32>, seed: u64) -> DMatrix<f32> {
        let mut rng = stream(seed, &[0]);
        let a = if self.rel_to_actual_wmax {
            let m = w.amax();
            if m > 0.0 {
                m
            } else {
                1.0
            }
        } else {
            self.assumed_wmax
        };
        let disc = |v: f32| {
            if self.res > 0.0 {
                a * ((v / a / self.res).round() * self.res)
            } else {
                v
            }
        };
        let poly = |v: f32| {
            let aw = v.abs() / a;
            let mut p = 1.0;
            let mut s = self.coeffs[0];
            for c in &self.coeffs[1..] {
                p *= aw;
                s += c * p;
            }
            s
        };
        let sd = self.std_dev * a;
        let mut out = w.clone();
        match self.modifier {
            Modifier::None | Modifier::DropConnect => {}
            Modifier::AddNormal => out.iter_mut().for_each(|v| *v += sd * normal(&mut rng)),
            Modifier::MultNormal => out
                .iter_mut()
                .for_each(|v| *v += *v * sd * normal(&mut rng)),
            Modifier::Discretize => out.iter_mut().for_each(|v| *v = disc(*v)),
            Modifier::DiscretizeAddNormal => out
                .iter_mut()
                .for_each(|v| *v = disc(*v) + sd * normal(&mut rng)),
            Modifier::Poly => out
                .iter_mut()
                .for_each(|v| *v += a * self.std_dev * poly(*v) * normal(&mut rng)),
            Modifier::ProgNoise => {
                let s = self.std_dev / self.g_max_us;
                out.iter_mut().for_each(|v| {
                    let n = (*v + a * s * poly(*v) * normal(&mut rng)).abs();
                    *v = if *v < 0.0 { -n } else { n };
                })
            }
        }
        if self.pdrop > 0.0 {
            for v in out.iter_mut() {
                if rng.random::<f32>() < self.pdrop {
                    *v = 0.0;
                }
            }
        }
        out
    }

    /// Clips `w` in place as `clip` says.
    pub fn clip(&self, w: &mut DMatrix<f32>) {
        let bound = match self.clip {
            Clip::None => return,
            Clip::Fixed => self.clip_fixed_value,
            Clip::LayerGaussian => {
                let n = w.len().max(1) as f64;
                let mean = w.iter().map(|&v| v as f64).sum::<f64>() / n;
                let var = w.iter().map(|&v| (v as f64 - mean).powi(2)).sum::<f64>() / n;
                (self.clip_sigma as f64 * var.sqrt()) as f32
            }
        };
        w.iter_mut().for_each(|v| *v = v.clamp(-bound, bound));
    }
}
