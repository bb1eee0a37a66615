//! `sg`: synthetic gradients, label-conditioned (cDNI; Jaderberg et al., ICML 2017, arXiv
//! 1608.05343), with one linear module between every hidden layer and the rest of the network.
//!
//! For each hidden layer l a module M_l (n_l × (n_l + classes), with a digital bias) maps
//! u_l = [h_l ; onehot(label)] to a synthetic gradient. The module predicts the *per-sample*
//! gradient ∂ℓ_b/∂h_l, so that it does not depend on the batch size; the layer's teaching signal
//! is that prediction over the batch size, ĝ_l = M_l(u_l)/B (the gradient of the batch's mean
//! loss, like the output error e), and δ_l = ĝ_l ⊙ f′(a_l). The output layer gets the exact
//! gradient δ_L = e. All modules start at zero (programmed to 0, zero bias), so ĝ = 0 at the
//! start and the hidden layers do not move on the first step.
//!
//! Each module is trained toward the next layer's bootstrapped signal: g*_{L−1} = W_Lᵀ e and
//! g*_l = W_{l+1}ᵀ (ĝ_{l+1} ⊙ f′(a_{l+1})) = W_{l+1}ᵀ δ_{l+1}. Those products need the next
//! layer's transpose, which the chip cannot read: they go through the same physical transposed
//! copies as `bp-mirror` ([`super::bp_mirror::Mirrors`]: second arrays that follow the forward
//! pulses and are refreshed from `readout()` every K steps), all counted. The regression is MSE
//! on the per-sample scale, ½·mean_b ‖M_l(u_b) − B·g*_b‖², whose gradient step is the pulse update
//! `M_l.update(u_l, ĝ_l − g*_l, lr·factor)` ([`Options::sg_lr_factor`], default
//! [`DEFAULT_SG_LR_FACTOR`]).
//!
//! Modules live on tiles of the device, with its noise, drift and failures, or are digital when
//! [`Options::feedback_digital`] says so; the mirrors are always physical.
//!
//! An optional activity penalty ([`Options::activity_l2`]) joins each hidden layer's signal
//! before f′, as in `fa` and `dfa`: δ_l = (ĝ_l + λ·h_l/B) ⊙ f′(a_l). The modules still predict
//! the loss's gradient only; their targets bootstrap from the next layer's full δ.
//!
//! With [`Signal::Oracle`] the layers are taught with the true gradient instead of ĝ (the
//! targets computed top-down from true deltas, through the mirrors), which equals backprop on an
//! exact device (property 12 of the reference notes); the modules still learn.

use super::bp_mirror::Mirrors;
use super::{
    add_activity_penalty, check_regression_targets, output_error, Learner, Options, Targets,
};
use crate::device::Device;
use crate::net::{Activation, Chip, NetSpec, Role, TileId};
use crate::random::derive;
use nalgebra::{DMatrix, DVector};

/// Learning rate of the synthetic-gradient modules relative to the run's, when the options do
/// not say. The module regression (least mean squares on u = [h; y]) is stable only while
/// lr·factor·λ < 2, λ the top eigenvalue of the batch's second moment of u: ‖u‖² of a ReLU
/// layer of 100 units on MNIST is of order 10–30, but 500 units whose activity has grown reach
/// hundreds, and at lr 0.1 on `ecram` both modules diverged within 30 steps (lr 0.05 is stable
/// there; capping the step at 1/λ slowed the modules too much and was not kept).
pub const DEFAULT_SG_LR_FACTOR: f32 = 0.3;

/// Seed key of the modules' tiles (a key of our own, so no other stream is shared).
const MODULE_KEY: u64 = 0x53_474d_4f44; // "SGMOD"

/// What teaches the hidden layers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Signal {
    /// The modules' synthetic gradients ĝ_l (the rule).
    Synthetic,
    /// The true gradient, back-propagated through the mirrors (for tests: equals backprop on an
    /// exact device).
    Oracle,
}

/// Synthetic gradients with linear, label-conditioned modules.
#[derive(Debug, Clone)]
pub struct Sg {
    chip: Chip,
    modules: Vec<TileId>,
    mirrors: Mirrors,
    lr_factor: f32,
    activity_l2: f32,
    signal: Signal,
    classes: usize,
    last_targets: Vec<DMatrix<f32>>,
}

impl Sg {
    /// `spec` on `device`, initialised from `seed`, taught by the synthetic gradients.
    pub fn new(
        spec: &NetSpec,
        device: &Device,
        seed: u64,
        options: &Options,
    ) -> Result<Sg, String> {
        Sg::with_signal(spec, device, seed, options, Signal::Synthetic)
    }

    /// As [`Sg::new`], with the hidden layers taught by `signal`.
    pub fn with_signal(
        spec: &NetSpec,
        device: &Device,
        seed: u64,
        options: &Options,
        signal: Signal,
    ) -> Result<Sg, String> {
        let lr_factor = options.sg_lr_factor.unwrap_or(DEFAULT_SG_LR_FACTOR);
        if !(lr_factor.is_finite() && lr_factor >= 0.0) {
            return Err(format!(
                "sg: module learning-rate factor {lr_factor} must be finite and ≥ 0"
            ));
        }
        let w = &spec.widths;
        let classes = *w.last().expect("a network has an output width");
        let mut chip = Chip::new(spec, Some(device), seed);
        let modules = (1..w.len() - 1)
            .map(|l| {
                let (rows, cols) = (w[l], w[l] + classes);
                let id = chip.allocate(
                    Role::Module,
                    &DMatrix::zeros(rows, cols),
                    DVector::zeros(rows),
                    Activation::Identity,
                    derive(seed, &[MODULE_KEY, l as u64]),
                    options.feedback_digital,
                );
                chip.tile(id).set_momentum(options.momentum());
                id
            })
            .collect();
        let mirrors = Mirrors::new(&mut chip, spec, seed, options);
        Ok(Sg {
            chip,
            modules,
            mirrors,
            lr_factor,
            activity_l2: options.activity_l2,
            signal,
            classes,
            last_targets: Vec::new(),
        })
    }

    /// The modules' regression targets g*_l of the last step, one per hidden layer (n_l ×
    /// batch), on the scale of the gradient of the batch's mean loss (∂L/∂h_l): the last one is
    /// W_Lᵀe through the mirror of the output layer.
    pub fn last_targets(&self) -> &[DMatrix<f32>] {
        &self.last_targets
    }

    /// A measurement, not a learning signal (see
    /// [`super::bp_mirror::BpMirror::mirror_mismatch`]): per mirrored layer, ‖mirror − Wᵀ‖_F /
    /// ‖W‖_F from counted readouts.
    pub fn mirror_mismatch(&mut self) -> Vec<f32> {
        self.mirrors.measure_mismatch(&mut self.chip)
    }

    /// The synthetic-gradient module of hidden layer `l` (0-based), an array of role
    /// [`Role::Module`] on the chip.
    pub fn module(&mut self, l: usize) -> &mut crate::net::Layer {
        self.chip.tile(self.modules[l])
    }

    /// [h; y] of a batch, y the one-hot labels or the regression targets
    /// ([`Targets::as_matrix`]): what Jaderberg et al.'s modules condition on.
    fn module_input(&self, h: &DMatrix<f32>, head: Targets<'_>) -> DMatrix<f32> {
        let n = h.nrows();
        let mut u = DMatrix::zeros(n + self.classes, h.ncols());
        u.rows_mut(0, n).copy_from(h);
        u.rows_mut(n, self.classes)
            .copy_from(&head.as_matrix(self.classes));
        u
    }
}

impl Sg {
    /// One step toward `targets` (either head), the rule's whole step.
    fn train_on(&mut self, x: &DMatrix<f32>, head: Targets<'_>, lr: f32) -> f32 {
        let fwd = self.chip.net.forward(x);
        let n = self.chip.net.layers.len();
        let batch = x.ncols() as f32;
        let (loss, e) = output_error(&mut self.chip.net, &fwd[n - 1].h, head);
        // Synthetic gradients of every hidden layer, on the mean-loss scale.
        let inputs: Vec<DMatrix<f32>> = (0..n - 1)
            .map(|l| self.module_input(&fwd[l].h, head))
            .collect();
        let chip = &mut self.chip;
        let mut g_hat: Vec<DMatrix<f32>> = Vec::with_capacity(n - 1);
        for (l, u) in inputs.iter().enumerate() {
            let module = chip.tile(self.modules[l]);
            let s = module.preactivation(u);
            module.count_digital_ops(s.len() as u64);
            g_hat.push(s / batch);
        }
        let mut deltas = vec![DMatrix::zeros(0, 0); n];
        deltas[n - 1] = e;
        let mut targets = vec![DMatrix::zeros(0, 0); n - 1];
        match self.signal {
            Signal::Synthetic => {
                // Every hidden layer is taught by its module at once (no backward locking)...
                for l in 0..n - 1 {
                    let mut g = g_hat[l].clone();
                    let layer = &mut chip.net.layers[l];
                    add_activity_penalty(&mut g, &fwd[l].h, self.activity_l2, layer);
                    deltas[l] = layer.gate(&g, &fwd[l]);
                }
                // ...and each module's target bootstraps from the next layer's signal.
                for l in 0..n - 1 {
                    targets[l] = self.mirrors.backward(chip, l + 1, &deltas[l + 1]);
                }
            }
            Signal::Oracle => {
                for l in (0..n - 1).rev() {
                    targets[l] = self.mirrors.backward(chip, l + 1, &deltas[l + 1]);
                    let mut g = targets[l].clone();
                    let layer = &mut chip.net.layers[l];
                    add_activity_penalty(&mut g, &fwd[l].h, self.activity_l2, layer);
                    deltas[l] = layer.gate(&g, &fwd[l]);
                }
            }
        }
        for l in 0..n - 1 {
            let err = &g_hat[l] - &targets[l];
            let module = chip.tile(self.modules[l]);
            module.count_digital_ops(err.len() as u64);
            module.update(&inputs[l], &err, lr * self.lr_factor);
        }
        super::apply_updates(&mut chip.net, x, &fwd, &deltas, lr);
        let hs: Vec<&DMatrix<f32>> = fwd[..n - 1].iter().map(|f| &f.h).collect();
        self.mirrors.after_step(chip, &hs, &deltas, lr);
        self.last_targets = targets;
        loss
    }
}

impl Learner for Sg {
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
