//! `dtp`: difference target propagation (Lee, Zhang, Fischer & Bengio, ECML-PKDD 2015, arXiv
//! 1412.7525), with the simplified top target of Bartunov et al. (NeurIPS 2018, arXiv
//! 1807.04587), so that no transposed weight is needed anywhere.
//!
//! Every layer j ≥ 1 (0-based; layer j maps h_{j−1} to h_j, h_{−1} = x) has a learned
//! approximate inverse g_j(h) = f_{j−1}(V_j h + c_j) on tiles of its own ([`Role::Module`]),
//! with V_j (n_{j−1} × n_j) and the activation of layer j − 1. Targets, not errors, travel down:
//!
//! * top: ĥ_L = h_L − η̂·∂ℓ_b/∂a_L, the per-sample output gradient e·B (η̂ = [`DtpConfig::top_step`]);
//! * difference correction: ĥ_{j−1} = h_{j−1} + g_j(ĥ_j) − g_j(h_j), two forward reads of the
//!   inverse tiles, so that an unchanged target stays the current activity (ĥ_j = h_j ⇒
//!   ĥ_{j−1} = h_{j−1}) even when g_j is not an exact inverse;
//! * local update of every hidden layer toward its target, the gradient of
//!   ½·mean_b ‖h_j − ĥ_j‖²: δ_j = (h_j − ĥ_j) ⊙ f′(a_j) / B. The output layer gets the exact
//!   gradient δ_L = e.
//!
//! Each inverse is trained first, [`DtpConfig::inverse_steps`] times per step, as a denoising
//! auto-encoder of the layer below: with corruption ε ~ N(0, σ²) (σ = [`DtpConfig::noise_sd`],
//! drawn in digital and counted), the forward tile reads f_j(h_{j−1} + ε) and the inverse is
//! pulsed toward h_{j−1} + ε on ½·mean_b ‖g_j(f_j(h_{j−1} + ε)) − (h_{j−1} + ε)‖², at the
//! run's learning rate times [`DtpConfig::inverse_lr_factor`].
//!
//! With an exact linear inverse (g_j = f_j⁻¹ of an invertible linear network) the targets are
//! the Gauss-Newton targets ĥ_{j−1} − h_{j−1} = W_j⁻¹ ⋯ W_L⁻¹ (ĥ_L − h_L); with orthogonal
//! weights W⁻¹ = Wᵀ and, at η̂ = 1, every δ_j equals backprop's.
//!
//! On a noisy chip the two reads g_j(ĥ_j) and g_j(h_j) carry independent read noise, which the
//! difference does not cancel: DTP pays for its inverses in noise as well as in reads.

use super::registry::{BuildArgs, Entry, Recommended};
use super::{apply_updates, check_regression_targets, output_error, Learner, Targets};
use crate::device::Device;
use crate::net::{Chip, NetSpec, Role, TileId};
use crate::random::{derive, stream, Normal};
use nalgebra::{DMatrix, DVector};
use serde::Deserialize;

/// Seed key of the inverses' tiles and the corruption noise (a key of our own).
const DTP_KEY: u64 = 0x4454_5049_4e56; // "DTPINV"

/// DTP's own options (`[learner.dtp.options.rule]` of an experiment file).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct DtpConfig {
    /// η̂, the step of the top target ĥ_L = h_L − η̂·∂ℓ_b/∂a_L (default 1: with orthogonal
    /// weights and exact inverses the hidden layers then move exactly as under backprop).
    pub top_step: f32,
    /// Learning rate of the inverses relative to the run's (default 0.5; Lee et al.'s code
    /// trains them at 0.34× the forward rate with RMSprop).
    pub inverse_lr_factor: f32,
    /// σ of the Gaussian corruption of the inverses' training inputs (default 0.359830, Lee et
    /// al.'s `c` in `conti_dtp.py`).
    pub noise_sd: f32,
    /// Training steps of the inverses per step of the network (default 1).
    pub inverse_steps: usize,
}

impl Default for DtpConfig {
    fn default() -> Self {
        DtpConfig {
            top_step: 1.0,
            inverse_lr_factor: 0.5,
            noise_sd: 0.359_830,
            inverse_steps: 1,
        }
    }
}

impl DtpConfig {
    /// The options of a `rule` table, checked, or (field, message).
    pub fn parse(rule: &toml::Table) -> Result<DtpConfig, (String, String)> {
        let c: DtpConfig = toml::Value::Table(rule.clone())
            .try_into()
            .map_err(|e: toml::de::Error| (String::new(), e.message().trim().to_string()))?;
        c.validate()?;
        Ok(c)
    }

    /// Checks the ranges: every rate and σ finite and ≥ 0.
    pub fn validate(&self) -> Result<(), (String, String)> {
        for (field, v) in [
            ("top_step", self.top_step),
            ("inverse_lr_factor", self.inverse_lr_factor),
            ("noise_sd", self.noise_sd),
        ] {
            if !(v.is_finite() && v >= 0.0) {
                return Err((field.into(), format!("{v}: must be a finite number ≥ 0")));
            }
        }
        Ok(())
    }
}

/// The registry entry of `dtp`.
pub(crate) const ENTRY: Entry = Entry {
    name: "dtp",
    summary: "difference target propagation: targets through learned inverse tiles",
    recommended: Recommended {
        lr: 0.05,
        batch: 32,
    },
    check: |rule| DtpConfig::parse(rule).map(|_| ()),
    build: |a: &BuildArgs| {
        let config = DtpConfig::parse(&a.options.rule)?;
        let rule = Dtp::new(
            a.spec,
            a.device,
            a.seed,
            &config,
            a.options.feedback_digital,
        );
        Ok(Box::new(rule.map_err(|m| (String::new(), m))?))
    },
};

/// Difference target propagation with learned inverses on the chip.
#[derive(Debug, Clone)]
pub struct Dtp {
    chip: Chip,
    /// `inverses[j − 1]` is g_j, for layers j = 1..L.
    inverses: Vec<TileId>,
    config: DtpConfig,
    seed: u64,
    steps: u64,
    last_targets: Vec<DMatrix<f32>>,
}

impl Dtp {
    /// `spec` on `device`, the inverses initialised like forward layers (PyTorch's default) on
    /// tiles of the device, or digital when `inverses_digital`.
    pub fn new(
        spec: &NetSpec,
        device: &Device,
        seed: u64,
        config: &DtpConfig,
        inverses_digital: bool,
    ) -> Result<Dtp, String> {
        let w = &spec.widths;
        let init = (1..w.len() - 1)
            .map(|j| {
                crate::net::torch_default_init(w[j], w[j + 1], derive(seed, &[DTP_KEY, j as u64]))
            })
            .collect();
        Dtp::with_inverses(spec, device, seed, config, init, inverses_digital)
    }

    /// As [`Dtp::new`], with the inverses' initial (V_j, c_j) given, for j = 1..L (V_j:
    /// n_{j−1} × n_j): for tests and experiments (e.g. exact inverses).
    pub fn with_inverses(
        spec: &NetSpec,
        device: &Device,
        seed: u64,
        config: &DtpConfig,
        init: Vec<(DMatrix<f32>, DVector<f32>)>,
        inverses_digital: bool,
    ) -> Result<Dtp, String> {
        config.validate().map_err(|(f, m)| format!("{f}: {m}"))?;
        let w = &spec.widths;
        if w.len() < 3 {
            return Err(format!(
                "dtp needs a hidden layer: the network {w:?} has none to send a target to"
            ));
        }
        if init.len() != w.len() - 2 {
            return Err(format!(
                "{} inverses given, {} needed",
                init.len(),
                w.len() - 2
            ));
        }
        let mut chip = Chip::new(spec, Some(device), seed);
        let mut inverses = Vec::with_capacity(init.len());
        for (k, (v, c)) in init.into_iter().enumerate() {
            let j = k + 1;
            if v.shape() != (w[j], w[j + 1]) || c.len() != w[j] {
                return Err(format!(
                    "inverse of layer {j} is {:?} with {} biases, needs ({}, {}) with {}",
                    v.shape(),
                    c.len(),
                    w[j],
                    w[j + 1],
                    w[j]
                ));
            }
            let activation = chip.network().layers()[j - 1].activation();
            let seed_j = derive(seed, &[DTP_KEY, j as u64, 1]);
            inverses.push(chip.allocate(Role::Module, &v, c, activation, seed_j, inverses_digital));
        }
        Ok(Dtp {
            chip,
            inverses,
            config: config.clone(),
            seed,
            steps: 0,
            last_targets: Vec::new(),
        })
    }

    /// The targets ĥ_j of the hidden layers at the last step (n_j × batch, input side first).
    pub fn last_targets(&self) -> &[DMatrix<f32>] {
        &self.last_targets
    }

    /// The inverse g_j of layer `j` (1 ≤ j < depth), an array of role [`Role::Module`].
    pub fn inverse(&mut self, j: usize) -> &mut crate::net::Layer {
        self.chip.tile(self.inverses[j - 1])
    }

    /// Mean squared reconstruction error ‖g_j(f_j(h)) − h‖² per sample of every inverse on the
    /// activities `fwd` of a batch `x` (a measurement: forward reads, counted).
    pub fn reconstruction_error(&mut self, x: &DMatrix<f32>) -> Vec<f32> {
        let fwd = self.chip.net.forward(x);
        (1..fwd.len())
            .map(|j| {
                let r = self.chip.tile(self.inverses[j - 1]).forward(&fwd[j].h).h;
                (r - &fwd[j - 1].h).norm_squared() / x.ncols() as f32
            })
            .collect()
    }

    /// One denoising step of every inverse on the activities `hs` (h_0 … h_{L−1}).
    fn train_inverses(&mut self, hs: &[&DMatrix<f32>], lr: f32) {
        let sigma = self.config.noise_sd;
        let rate = lr * self.config.inverse_lr_factor;
        let mut rng = stream(self.seed, &[DTP_KEY, self.steps]);
        for j in 1..=hs.len() {
            let mut corrupted = hs[j - 1].clone();
            Normal::default().add_scaled(corrupted.as_mut_slice(), sigma, &mut rng);
            let (net, inverse) = self.chip.network_and_tile(self.inverses[j - 1]);
            let layer = net.layer(j);
            layer.count_digital_ops(corrupted.len() as u64);
            let code = layer.forward(&corrupted).h;
            let r = inverse.forward(&code);
            let err = (&r.h - &corrupted) / corrupted.ncols() as f32;
            inverse.count_digital_ops(2 * err.len() as u64);
            let delta = inverse.gate(&err, &r);
            inverse.update(&code, &delta, rate);
        }
    }
}

impl Dtp {
    /// One step toward `targets` (either head), the rule's whole step.
    fn train_on(&mut self, x: &DMatrix<f32>, targets: Targets<'_>, lr: f32) -> f32 {
        let fwd = self.chip.net.forward(x);
        let n = fwd.len();
        let batch = x.ncols() as f32;
        let (loss, e) = output_error(&mut self.chip.net, &fwd[n - 1].h, targets);
        {
            let hs: Vec<&DMatrix<f32>> = fwd[..n - 1].iter().map(|f| &f.h).collect();
            for _ in 0..self.config.inverse_steps {
                self.train_inverses(&hs, lr);
                self.steps += 1;
            }
        }
        // Targets top-down: ĥ_L from the per-sample output gradient, then the difference
        // correction through each inverse.
        let mut target = &fwd[n - 1].h - &e * (self.config.top_step * batch);
        self.chip
            .net
            .layer(n - 1)
            .count_digital_ops(2 * e.len() as u64);
        let mut targets = vec![DMatrix::zeros(0, 0); n - 1];
        for j in (1..n).rev() {
            let inverse = self.chip.tile(self.inverses[j - 1]);
            let moved = inverse.forward(&target).h;
            let here = inverse.forward(&fwd[j].h).h;
            inverse.count_digital_ops(2 * moved.len() as u64);
            // The difference first, so that ĥ_j = h_j gives ĥ_{j−1} = h_{j−1} to the bit.
            target = &fwd[j - 1].h + (moved - here);
            targets[j - 1] = target.clone();
        }
        let mut deltas = vec![DMatrix::zeros(0, 0); n];
        for j in 0..n - 1 {
            let layer = self.chip.net.layer(j);
            let g = (&fwd[j].h - &targets[j]) / batch;
            layer.count_digital_ops(2 * g.len() as u64);
            deltas[j] = layer.gate(&g, &fwd[j]);
        }
        deltas[n - 1] = e;
        apply_updates(&mut self.chip.net, x, &fwd, &deltas, lr);
        self.last_targets = targets;
        loss
    }
}

impl Learner for Dtp {
    fn step(&mut self, x: &DMatrix<f32>, labels: &[usize], lr: f32) -> f32 {
        self.train_on(x, Targets::Classes(labels), lr)
    }

    fn step_regression(
        &mut self,
        x: &DMatrix<f32>,
        y: &DMatrix<f32>,
        lr: f32,
    ) -> Result<f32, String> {
        check_regression_targets(self.chip.network(), x, y)?;
        Ok(self.train_on(x, Targets::Values(y), lr))
    }

    fn chip(&self) -> &Chip {
        &self.chip
    }

    fn chip_mut(&mut self) -> &mut Chip {
        &mut self.chip
    }
}
